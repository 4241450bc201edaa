// Lis dashboard: reads the JSON routes of docs/DASHBOARD.md and draws them. No framework and
// nothing fetched from elsewhere: the binary embeds this file and serves it next to the API.
//
// SAFETY: volume, region and node names, and decision texts, come from the cluster; whoever can
// name a volume could otherwise inject markup or script. The page therefore builds its DOM with
// createElement / textContent / setAttribute only, and NEVER assigns innerHTML with data.
'use strict';

// Eight colours that stay apart on a dark background, given to regions in the order of
// overview.regions (then in the order they first appear elsewhere).
const PALETTE = ['#4e9af1', '#f5a623', '#3ecf8e', '#e5534b', '#b083f0', '#2ec4c4', '#e8d44d', '#f778ba'];
const BG = [13, 17, 23];             // the canvas background, also the colour of "nothing yet"
const LABEL_W = 190;                 // width of the row labels left of the canvas (CSS px)
const HEAT_HEIGHT = 560;             // rows share this height, within [ROW_MIN, ROW_MAX] px each
const ROW_MIN = 2, ROW_MAX = 16;
const DIM = 0.22;                    // brightness of a cell nobody wrote: shows where idle blocks live
const OPS = ['read', 'write', 'flush'];

const S = {
  token: null,
  overview: null, sim: false,
  heat: null, decisions: [], latency: null, usage: null,
  zoom: null,                        // {since_ms, until_ms, volume?, first?, last?}
  colours: new Map(),                // region name → '#rrggbb'
  errors: new Map(),                 // source → message, for the banner
  nowMs: null, nowAt: 0,             // the server's now and Date.now() when it arrived
  lastTick: 0, lastLive: 0, lastDecisions: 0, lastUsage: 0,
  busy: new Set(),                   // loads in flight, so ticks never pile requests up
  heatSeq: 0, latencySeq: 0,         // only the newest heat / latency answer is drawn
  events: null, drawn: 0,
  layout: null,                      // heat geometry of the last draw, for hover and zoom
  lastDecisionOf: new Map(),         // "vol:block" → decisions fetched for the tooltip
};

// ---------------------------------------------------------------- small helpers

const $ = (id) => document.getElementById(id);

/** Makes an element. attrs: class, text, title, style (object), data (object), or attributes. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);   // strings become text nodes
  return e;
}

const svg = (tag, attrs = {}) => {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
const pad2 = (n) => String(n).padStart(2, '0');

function colourOf(region) {
  if (!region) return '#555';           // unknown: grey, and not in the legend
  if (!S.colours.has(region)) S.colours.set(region, PALETTE[S.colours.size % PALETTE.length]);
  return S.colours.get(region);
}
const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** A time of the contract as text: UTC on a node, the virtual day and time in the simulator. */
function fmtTime(ms, seconds = true) {
  if (ms === null || ms === undefined) return '—';
  const hms = new Date(ms).toISOString().slice(11, seconds ? 19 : 16);
  if (S.sim) return `day ${Math.floor(ms / 86400000) + 1} ${hms}`;
  const day = new Date(ms).toISOString().slice(5, 10);
  const today = S.nowMs ? new Date(S.nowMs).toISOString().slice(5, 10) : day;
  return day === today ? hms : `${day} ${hms}`;
}

function fmtMs(v) {
  if (v === null || v === undefined) return '—';
  return v < 1 ? `${v.toFixed(2)} ms` : v < 100 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

function fmtCount(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(n);
}

const blockRange = (first, last) => (first === last ? `${first}` : `${first}–${last}`);

// ---------------------------------------------------------------- access and requests

/** A token in the fragment (#token=…) is kept for the tab and taken out of the address bar. */
function loadToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('lis.token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  S.token = sessionStorage.getItem('lis.token');
}

class AuthError extends Error {}

async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  if (S.token) headers.set('Authorization', `Bearer ${S.token}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  const route = path.split('?')[0];
  let res;
  try {
    res = await fetch(path, { ...init, headers, cache: 'no-store', signal: AbortSignal.timeout(15000) });
  } catch (e) {
    throw new Error(e.name === 'TimeoutError' ? 'no answer in 15 s' : 'cannot reach the node');
  }
  if (res.status === 401) {
    showTokenForm();
    throw new AuthError('a token is needed');
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON: reported below if !ok */ }
  if (!res.ok) throw new Error(body && body.error ? String(body.error) : `${route} answered HTTP ${res.status}`);
  return body;
}

/** Runs one load; a failure becomes the banner's line (never a blank page), success clears it. */
async function load(source, fn, force = false) {
  if (S.busy.has(source) && !force) return;   // a tick while the last load runs: skip it
  S.busy.add(source);
  try {
    await fn();
    S.errors.delete(source);
  } catch (e) {
    if (!(e instanceof AuthError)) S.errors.set(source, e.message || String(e));
    if (!(e instanceof AuthError)) console.warn(source, e);   // a warning: not a page error
  } finally {
    S.busy.delete(source);
    showBanner();
  }
}

function showBanner() {
  const b = $('banner');
  const first = S.errors.entries().next();
  b.hidden = first.done;
  b.textContent = first.done ? '' : `${first.value[0]}: ${first.value[1]}` +
    (S.errors.size > 1 ? ` (and ${S.errors.size - 1} more)` : '');
}

function showTokenForm() {
  $('token-form').hidden = false;
  $('token-input').focus();
}

// ---------------------------------------------------------------- loading

function heatQuery(extra = {}) {
  const q = new URLSearchParams();
  const plotW = $('heat-scroll').clientWidth - LABEL_W;
  q.set('columns', clamp(Math.floor(plotW / 8), 24, 400));   // about 8 px per column
  for (const [k, v] of Object.entries({ ...(S.zoom || {}), ...extra })) if (v !== undefined) q.set(k, v);
  return q;
}

const loadOverview = () => load('overview', async () => {
  S.overview = await api('/v1/overview');
  S.sim = S.overview.kind === 'simulation';
  setNow(S.overview.now_ms);
  // Colours follow the order of overview.regions; a region seen only elsewhere comes after.
  const known = [...S.colours.keys()];
  S.colours.clear();
  for (const name of [...S.overview.regions.map((r) => r.name), ...known]) colourOf(name);
  renderHeader(); renderRegions(); renderVolumes(); renderControls(); renderFilters(); renderLegend();
});

/** force: the view changed (zoom, resize), so load even if a load runs, and only the newest draws. */
const loadHeat = (force = false) => load('heat', async () => {
  const seq = ++S.heatSeq;
  const heat = await api(`/v1/heat?${heatQuery()}`);
  if (seq !== S.heatSeq) return;
  S.heat = heat;
  for (const r of S.heat.regions) colourOf(r);
  renderLegend(); drawHeat();
}, force);

const loadLatency = (force = false) => load('latency', async () => {
  const q = heatQuery();
  q.delete('volume'); q.delete('first'); q.delete('last');   // latency is per region, not per block
  const seq = ++S.latencySeq;
  const latency = await api(`/v1/latency?${q}`);
  if (seq !== S.latencySeq) return;
  S.latency = latency;
  renderLatency();
}, force);

const loadUsage = () => load('usage', async () => {
  S.usage = await api('/v1/usage');
  S.lastUsage = Date.now();
  renderUsage();
});

function decisionFilters() {
  const f = { volume: $('f-volume').value, block: $('f-block').value.trim(),
              region: $('f-region').value, kind: $('f-kind').value };
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== ''));
}

const loadDecisions = () => load('decisions', async () => {
  const q = new URLSearchParams({ ...decisionFilters(), limit: 200 });
  S.decisions = await api(`/v1/decisions?${q}`);
  S.lastDecisions = Date.now();
  renderLog();
});

function refreshAll() {
  // The overview first: it orders the region colours everything else uses (a failure is in the banner).
  loadOverview().then(() => { loadHeat(); loadLatency(); loadDecisions(); loadUsage(); });
}

/** The live part (on ticks, at most every 2 s): overview, heat, latency; slower things less often. */
function refreshLive() {
  if (Date.now() - S.lastLive < 2000) return;
  S.lastLive = Date.now();
  loadOverview(); loadHeat(); loadLatency();
  if (Date.now() - S.lastDecisions > 10000) loadDecisions();   // declines are not pushed
  if (Date.now() - S.lastUsage > 60000) loadUsage();
}

let heatSoon = null;
/** A decision arrived: redraw the heat map about a second later, once for a burst of them. */
function refreshHeatSoon() {
  clearTimeout(heatSoon);
  heatSoon = setTimeout(() => { S.lastLive = Date.now(); loadHeat(true); loadOverview(); }, 1000);
}

// ---------------------------------------------------------------- live updates

function connectEvents() {
  if (S.events) S.events.close();
  const url = '/v1/events' + (S.token ? `?token=${encodeURIComponent(S.token)}` : '');
  const es = new EventSource(url);
  S.events = es;
  setConn('connecting…', 'warn');
  let down = null;
  es.onopen = () => { clearTimeout(down); setConn('live', 'ok'); };
  es.onerror = () => {
    // The node ends each response after a while and the browser reconnects at once: only a
    // stream still down 3 s later is shown as lost.
    clearTimeout(down);
    down = setTimeout(() => { if (es.readyState !== EventSource.OPEN) setConn('disconnected, retrying', 'bad'); }, 3000);
    // EventSource retries by itself unless the answer was not a stream (e.g. 401): then we do.
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (S.events === es) connectEvents(); }, 5000);
  };
  es.addEventListener('tick', (ev) => {
    const t = safeParse(ev.data);
    if (t && typeof t.now_ms === 'number') setNow(t.now_ms);
    S.lastTick = Date.now();
    refreshLive();
  });
  es.addEventListener('decision', (ev) => {
    const d = safeParse(ev.data);
    if (!d) return;
    if (matchesFilters(d)) {
      S.decisions = [d, ...S.decisions].slice(0, 200);
      $('log').prepend(logRow(d, true));
      while ($('log').children.length > 200) $('log').lastChild.remove();
    }
    refreshHeatSoon();
  });
}

function safeParse(text) {
  try { return JSON.parse(text); } catch (e) { return null; }
}

function matchesFilters(d) {
  const f = decisionFilters();
  return (!f.volume || d.volume === f.volume) && (!f.block || String(d.block) === f.block) &&
    (!f.kind || d.kind === f.kind) && (!f.region || d.region === f.region || d.to === f.region);
}

function setConn(text, cls) {
  const c = $('conn');
  c.textContent = text;
  c.className = `badge ${cls}`;
}

// ---------------------------------------------------------------- header

function setNow(ms) {
  S.nowMs = ms;
  S.nowAt = Date.now();
  renderNow();
}

function renderNow() {
  if (S.nowMs === null) return;
  // A node's clock is the wall clock: run it on between ticks. A simulation's is shown as told.
  const ms = S.sim ? S.nowMs : S.nowMs + (Date.now() - S.nowAt);
  $('now').textContent = S.sim ? fmtTime(ms) : `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function renderHeader() {
  const o = S.overview;
  $('title').textContent = o.title || 'Lis';
  document.title = `Lis · ${o.title || ''}`;
  $('kind').textContent = o.kind;
  $('policy').textContent = `policy ${o.policy}${o.paused ? ' · paused' : ''}`;
  $('policy').className = `badge ${o.paused ? 'warn' : ''}`;
  const h = o.hive || {};
  $('hive').textContent = h.ok ? `Hive ${h.engine} ok · ${fmtMs(h.rtt_ms)}` : `Hive ${h.engine || ''}: ${h.error || 'unreachable'}`;
  $('hive').className = `badge ${h.ok ? 'ok' : 'bad'}`;
}

function renderLegend() {
  const box = $('legend');
  box.replaceChildren(...[...S.colours].map(([name, c]) =>
    el('span', { class: 'legend-item', data: { region: name, color: c } },
      el('span', { class: 'swatch', style: { background: c } }), name)));
}

// ---------------------------------------------------------------- heat map

/** Draws S.heat on the canvas, 1:1 in CSS pixels, and lays out one label element per row. */
function drawHeat() {
  const h = S.heat;
  const canvas = $('heat-canvas');
  const rows = h.rows || [];
  const plotW = Math.max(100, $('heat-scroll').clientWidth - LABEL_W);
  const colW = Math.max(1, Math.floor(plotW / Math.max(1, h.columns)));
  const rowH = clamp(Math.floor(HEAT_HEIGHT / Math.max(1, rows.length)), ROW_MIN, ROW_MAX);
  const W = colW * h.columns, H = Math.max(rowH * rows.length, 20);
  // The newest column that has begun; later ones (a window reaching past now) stay empty.
  const newest = Math.min(h.columns - 1, Math.floor((h.now_ms - h.start_ms) / h.column_ms));
  const maxW = Math.max(1, ...rows.map((r) => r.max_writes || 0));
  const logMax = Math.log1p(maxW);
  const palette = h.regions.map((name) => rgbOf(colourOf(name)));

  canvas.width = W; canvas.height = H;
  canvas.style.width = `${W}px`; canvas.style.height = `${H}px`;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(W, H);
  const px = img.data;
  for (let i = 0; i < px.length; i += 4) { px[i] = BG[0]; px[i + 1] = BG[1]; px[i + 2] = BG[2]; px[i + 3] = 255; }

  const writes = new Float64Array(h.columns);
  rows.forEach((row, r) => {
    writes.fill(0);
    for (const [c, w] of row.cells || []) if (c >= 0 && c < h.columns) writes[c] += w;
    const segs = [...(row.segments || [])].sort((a, b) => a[0] - b[0]);
    let s = -1;
    for (let c = 0; c <= newest; c++) {
      while (s + 1 < segs.length && segs[s + 1][0] <= c) s++;
      if (s < 0 || !palette[segs[s][1]]) continue;        // holder not known yet in this column
      const base = palette[segs[s][1]];
      const f = writes[c] > 0 ? 0.35 + 0.65 * Math.log1p(writes[c]) / logMax : DIM;
      const rgb = base.map((v) => Math.round(v * f));
      for (let y = r * rowH; y < (r + 1) * rowH; y++) {
        let i = (y * W + c * colW) * 4;
        for (let x = 0; x < colW; x++, i += 4) { px[i] = rgb[0]; px[i + 1] = rgb[1]; px[i + 2] = rgb[2]; }
      }
    }
  });
  ctx.putImageData(img, 0, 0);

  // A thin gap between volumes, at the top of a row only so that row centres keep their colour.
  ctx.fillStyle = `rgb(${BG.join(',')})`;
  rows.forEach((row, r) => {
    if (r > 0 && rows[r - 1].volume !== row.volume && rowH >= 6) ctx.fillRect(0, r * rowH, W, 1);
  });

  // Moves: a white tick at the left edge of the move's cell.
  const rowIndex = indexRows(rows);
  ctx.fillStyle = '#ffffff';
  for (const m of h.moves || []) {
    const r = rowIndex(m.volume, m.block);
    if (r < 0 || m.column < 0 || m.column >= h.columns) continue;
    const inset = rowH >= 6 ? 1 : 0;
    ctx.fillRect(m.column * colW, r * rowH + inset, Math.min(2, colW), rowH - 2 * inset);
  }

  Object.assign(canvas.dataset, { columns: h.columns, columnWidth: colW, rowHeight: rowH,
    newestColumn: newest, startMs: h.start_ms, columnMs: h.column_ms, drawn: ++S.drawn });
  S.layout = { colW, rowH, rows, newest, rowIndex };
  renderRowLabels(rows, rowH, H, h.regions);
  renderAxis(h, colW);
  const z = S.zoom;
  $('heat-window').textContent = `${fmtTime(h.start_ms, false)} – ${fmtTime(h.start_ms + h.columns * h.column_ms, false)}` +
    ` · ${Math.round(h.column_ms / 1000)} s per column · ${rows.length} rows` +
    (z && z.volume ? ` · ${z.volume} ${blockRange(z.first, z.last)}` : '') +
    // Members whose activity could not be read: their clients are missing from the map.
    (h.missing && h.missing.length ? ` · without ${h.missing.join(', ')}` : '');
  $('zoom-reset').hidden = !z;
}

/** (volume, block) → the index of the row that holds the block, or -1. */
function indexRows(rows) {
  const byVolume = new Map();
  rows.forEach((r, i) => {
    if (!byVolume.has(r.volume)) byVolume.set(r.volume, []);
    byVolume.get(r.volume).push(i);
  });
  return (volume, block) => {
    const list = byVolume.get(volume) || [];
    let lo = 0, hi = list.length - 1;                  // rows go block by block: binary search
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, row = rows[list[mid]];
      if (block < row.first) hi = mid - 1;
      else if (block > row.last) lo = mid + 1;
      else return list[mid];
    }
    return -1;
  };
}

/** One element per row (the hooks the browser check reads), and a name per volume band. */
function renderRowLabels(rows, rowH, H, regions) {
  const box = $('heat-rows');
  box.style.height = `${H}px`;
  const out = [];
  let bandStart = 0, labelled = -Infinity;
  rows.forEach((row, r) => {
    // Rows too thin for text get a block number every ~16 px instead (not a row element).
    if (rowH < 10 && (r * rowH - labelled >= 16 || r === bandStart)) {
      out.push(el('div', { class: 'heat-label', text: row.first, style: { top: `${r * rowH}px` } }));
      labelled = r * rowH;
    }
    const holder = regions[row.holder] ?? '';
    out.push(el('div', {
      class: 'heat-row', title: `${row.volume} ${blockRange(row.first, row.last)} · held by ${holder}`,
      style: { top: `${r * rowH}px`, height: `${rowH}px`, borderRightColor: colourOf(holder),
               fontSize: `${clamp(rowH - 2, 8, 11)}px` },
      data: { volume: row.volume, first: row.first, last: row.last, holder, y: r * rowH + Math.floor(rowH / 2) },
    }, rowH >= 10 ? blockRange(row.first, row.last) : ''));
    if (r === rows.length - 1 || rows[r + 1].volume !== row.volume) {
      out.push(el('div', { class: 'heat-volume', text: row.volume,
        style: { top: `${bandStart * rowH}px`, height: `${(r + 1 - bandStart) * rowH}px` } }));
      bandStart = r + 1;
    }
  });
  box.replaceChildren(...out);
}

function renderAxis(h, colW) {
  const marks = [];
  const every = Math.max(1, Math.ceil(110 / colW));   // a label every ~110 px
  for (let c = 0; c < h.columns - every / 2; c += every) {   // none hanging past the right edge
    marks.push(el('span', { class: 'tick', text: fmtTime(h.start_ms + c * h.column_ms, every * h.column_ms < 60000),
      style: { left: `${LABEL_W + c * colW}px` } }));
  }
  $('heat-axis').replaceChildren(...marks);
}

/** The cell under a mouse event, or null. */
function cellAt(ev) {
  const L = S.layout, h = S.heat;
  if (!L || !h) return null;
  const rect = $('heat-canvas').getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  const r = Math.floor(y / L.rowH), c = Math.floor(x / L.colW);
  if (r < 0 || r >= L.rows.length || c < 0 || c >= h.columns) return null;
  return { r, c, row: L.rows[r], x, y };
}

function holderAt(row, c) {
  let holder = null;
  for (const [col, region] of [...(row.segments || [])].sort((a, b) => a[0] - b[0])) if (col <= c) holder = region;
  return holder === null ? null : S.heat.regions[holder];
}

function showTooltip(ev) {
  const tip = $('tooltip');
  const at = cellAt(ev);
  if (!at || drag) { tip.hidden = true; return; }
  const h = S.heat, { row, c } = at;
  const cell = (row.cells || []).find((x) => x[0] === c);
  const t0 = h.start_ms + c * h.column_ms;
  const lines = [
    el('b', { text: `${row.volume} ${row.first === row.last ? 'block' : 'blocks'} ${blockRange(row.first, row.last)}` }),
    el('div', { text: `${fmtTime(t0)} – ${fmtTime(t0 + h.column_ms)}` }),
    el('div', { text: cell ? `${cell[1]} writes, ${cell[2]} reads, mostly from ${h.regions[cell[3]] ?? '?'}` : 'no operations' }),
    el('div', { text: `holder then: ${holderAt(row, c) ?? 'unknown'} · now: ${h.regions[row.holder] ?? '?'}` }),
    el('div', { class: 'muted', text: lastDecisionText(row.volume, row.first) }),
  ];
  tip.replaceChildren(...lines);
  tip.hidden = false;
  const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = ev.clientY + 14 + tip.offsetHeight > window.innerHeight ? ev.clientY - tip.offsetHeight - 10 : ev.clientY + 14;
  tip.style.left = `${x}px`; tip.style.top = `${y}px`;
}

/** The block's last decision: from the loaded log if there, else fetched once (and cached). */
function lastDecisionText(volume, block) {
  const key = `${volume}:${block}`;
  let d = S.decisions.find((x) => x.volume === volume && x.block === block);
  if (!d && S.lastDecisionOf.has(key)) d = S.lastDecisionOf.get(key)[0];
  else if (!d && !S.lastDecisionOf.has(key)) {
    S.lastDecisionOf.set(key, []);
    api(`/v1/decisions?${new URLSearchParams({ volume, block, limit: 5 })}`)
      .then((list) => S.lastDecisionOf.set(key, list || []))
      .catch(() => S.lastDecisionOf.delete(key));
    return 'last decision: loading…';
  }
  if (!d) return 'no decision recorded';
  const where = d.from_region ? `${d.from_region} → ${d.to}` : d.to ? `→ ${d.to}` : '';
  return `last decision: ${d.kind} ${where} at ${fmtTime(d.at_ms)}${d.text ? ` — ${d.text}` : ''}`;
}

// Zoom: drag a rectangle; its columns become the time window, its rows (if of one volume) the range.
// A rectangle across the whole width keeps the time window as it is (live if it was): rows only.
let drag = null;

function startDrag(ev) {
  if (ev.button !== 0 || !S.layout) return;
  const at = cellAt(ev);
  if (!at) return;
  drag = { x0: at.x, y0: at.y, x1: at.x, y1: at.y };
  ev.preventDefault();
}

function moveDrag(ev) {
  if (!drag) return;
  const rect = $('heat-canvas').getBoundingClientRect();
  drag.x1 = clamp(ev.clientX - rect.left, 0, rect.width - 1);
  drag.y1 = clamp(ev.clientY - rect.top, 0, rect.height - 1);
  const sel = $('heat-select');
  Object.assign(sel.style, { left: `${Math.min(drag.x0, drag.x1)}px`, top: `${Math.min(drag.y0, drag.y1)}px`,
    width: `${Math.abs(drag.x1 - drag.x0)}px`, height: `${Math.abs(drag.y1 - drag.y0)}px` });
  sel.hidden = false;
}

function endDrag() {
  if (!drag) return;
  const d = drag, L = S.layout, h = S.heat;
  drag = null;
  $('heat-select').hidden = true;
  if (Math.abs(d.x1 - d.x0) < 4 && Math.abs(d.y1 - d.y0) < 4) return;   // a click, not a rectangle
  const c0 = Math.floor(Math.min(d.x0, d.x1) / L.colW), c1 = Math.floor(Math.max(d.x0, d.x1) / L.colW);
  const r0 = Math.floor(Math.min(d.y0, d.y1) / L.rowH), r1 = Math.floor(Math.max(d.y0, d.y1) / L.rowH);
  const fullWidth = c0 === 0 && c1 >= h.columns - 1;
  const zoom = fullWidth ? { since_ms: S.zoom?.since_ms, until_ms: S.zoom?.until_ms }
    : { since_ms: h.start_ms + c0 * h.column_ms, until_ms: h.start_ms + (c1 + 1) * h.column_ms };
  const a = L.rows[r0], b = L.rows[Math.min(r1, L.rows.length - 1)];
  if (a && b && a.volume === b.volume) Object.assign(zoom, { volume: a.volume, first: a.first, last: b.last });
  if (Object.values(zoom).every((v) => v === undefined)) return;   // nothing narrower than now
  S.zoom = zoom;
  loadHeat(true); loadLatency(true);
}

// ---------------------------------------------------------------- decision log

function logRow(d, fresh = false) {
  const from = d.from_region || d.from || '';   // a decline has no "from": it stays where it is
  const to = d.to || '';
  const move = el('span', {});
  if (from) move.append(el('span', { class: 'dot', style: { background: colourOf(d.from_region) } }), from, ' ');
  if (to) move.append('→ ', el('span', { class: 'dot', style: { background: colourOf(to) } }), to);
  return el('tr', { class: `log-entry kind-${d.kind}${fresh ? ' fresh' : ''}`,
                    data: { kind: d.kind, volume: d.volume, block: d.block, cause: d.cause || '' } },
    el('td', { class: 'nowrap', text: fmtTime(d.at_ms) }),
    el('td', { class: 'nowrap', text: d.node || '' }),
    el('td', { class: 'nowrap', text: `${d.volume}:${d.block}` }),
    el('td', {}, el('span', { class: `kind ${d.kind}`, text: d.kind })),
    el('td', { class: 'nowrap' }, move),
    el('td', { text: d.cause || '' }),
    el('td', { class: 'num', text: d.steal_ms !== undefined && d.steal_ms !== null ? fmtMs(d.steal_ms) : '' }),
    el('td', { class: 'log-text', text: d.text || '' }));
}

function renderLog() {
  const rows = S.decisions.map((d) => logRow(d));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 8, class: 'muted', text: 'no decisions match' })));
  $('log').replaceChildren(...rows);
  $('log').dataset.loads = Number($('log').dataset.loads || 0) + 1;   // lets a check see a reload
}

function renderFilters() {
  const o = S.overview;
  fillSelect($('f-volume'), ['', ...o.volumes.map((v) => v.name)], (v) => v || 'all volumes');
  fillSelect($('f-region'), ['', ...o.regions.map((r) => r.name)], (v) => v || 'all regions');
}

/** Replaces a select's options when they changed, keeping the choice. */
function fillSelect(sel, values, label = (v) => v) {
  const now = [...sel.options].map((o) => o.value);
  if (now.length === values.length && now.every((v, i) => v === values[i])) return;
  const keep = sel.value;
  sel.replaceChildren(...values.map((v) => el('option', { value: v, text: label(v) })));
  if (values.includes(keep)) sel.value = keep;
}

// ---------------------------------------------------------------- regions, volumes

function renderRegions() {
  const regions = S.overview.regions;
  const head = el('tr', {}, el('th', { text: 'from \\ to' }),
    ...regions.map((r) => el('th', {}, el('span', { class: 'dot', style: { background: colourOf(r.name) } }), r.name)));
  const body = regions.map((a) => el('tr', {},
    el('th', { title: (a.nodes || []).join(', ') },
      el('span', { class: 'dot', style: { background: colourOf(a.name) } }), a.name,
      el('span', { class: 'muted', text: ` ${(a.nodes || []).length} node${(a.nodes || []).length === 1 ? '' : 's'}` })),
    ...regions.map((b) => {
      if (a.name === b.name) return el('td', { class: 'num muted', text: '·' });
      const v = (a.rtt_ms || {})[b.name];
      return el('td', { class: 'num', text: v === null || v === undefined ? 'not yet' : fmtMs(v) });
    })));
  $('rtt').replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
}

/** A bar of shares coloured by region; `parts` is {region: amount}. */
function stackBar(parts, title = '') {
  const total = Object.values(parts).reduce((a, b) => a + b, 0) || 1;
  const bar = el('div', { class: 'stack' });
  for (const [region, n] of Object.entries(parts)) {
    if (!n) continue;
    bar.append(el('span', { title: `${region}: ${title ? fmtCount(n) + ' ' + title : Math.round(100 * n / total) + ' %'}`,
      style: { width: `${100 * n / total}%`, background: colourOf(region) }, data: { region } }));
  }
  return bar;
}

function renderVolumes() {
  const head = el('tr', {}, ...['volume', 'home', 'allowed', 'blocks', 'survives', 'where the blocks are']
    .map((t) => el('th', { text: t })));
  const body = S.overview.volumes.map((v) => {
    const held = v.held_by_region || {};
    const text = Object.entries(held).map(([r, n]) => `${r} ${n}`).join(' · ');
    return el('tr', { data: { volume: v.name } },
      el('td', { text: v.name }),
      el('td', { class: 'nowrap' }, el('span', { class: 'dot', style: { background: colourOf(v.home) } }), v.home),
      el('td', { text: v.allowed_regions ? v.allowed_regions.join(', ') : 'any' }),
      el('td', { class: 'num', text: `${v.blocks} × ${Math.round(v.block_size_bytes / 1024)} KiB` }),
      el('td', { text: v.survive || '' }),
      el('td', { class: 'wide' }, stackBar(held, 'blocks'), el('div', { class: 'muted small', text })));
  });
  $('volumes').replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
}

// ---------------------------------------------------------------- controls

function renderControls() {
  const o = S.overview;
  $('control-card').hidden = false;
  $('move-form').hidden = S.sim;
  $('clock-form').hidden = !S.sim;
  if (!S.sim) {
    fillSelect($('move-volume'), o.volumes.map((v) => v.name));
    fillSelect($('move-to'), o.regions.map((r) => r.name));
    return;
  }
  const clock = o.clock || {};
  const speed = $('clock-speed');
  if (clock.speed && ![...speed.options].some((x) => Number(x.value) === clock.speed)) {
    speed.append(el('option', { value: clock.speed, text: `${clock.speed} ×` }));
  }
  if (document.activeElement !== speed && clock.speed) speed.value = String(clock.speed);
  $('clock-pause').textContent = clock.paused ? 'resume' : 'pause';
  $('clock-state').textContent = `${clock.finished ? 'finished' : clock.paused ? 'paused' : 'running'}` +
    (clock.end_ms ? ` · ends ${fmtTime(clock.end_ms, false)}` : '');
}

async function submitMove(ev) {
  ev.preventDefault();
  const out = $('move-result');
  const first = Number($('move-first').value);
  const lastText = $('move-last').value.trim();
  const body = { volume: $('move-volume').value, first, last: lastText === '' ? first : Number(lastText),
                 to: $('move-to').value };
  if (!Number.isInteger(body.first) || !Number.isInteger(body.last) || body.first < 0 || body.last < body.first) {
    showResult(out, 'first and last must be block numbers, first ≤ last', true);
    return;
  }
  $('move-button').disabled = true;
  try {
    const a = await api('/v1/blocks/move', { method: 'POST', body: JSON.stringify(body) });
    showResult(out, `accepted: ${a.volume} ${blockRange(a.first, a.last)} → ${a.to}, stolen by ${a.node}`, false);
    setTimeout(() => { loadDecisions(); refreshHeatSoon(); }, 1500);   // in case the stream is down
  } catch (e) {
    showResult(out, e.message, true);
  } finally {
    $('move-button').disabled = false;
  }
}

async function putClock(change) {
  const clock = (S.overview && S.overview.clock) || {};
  const body = { speed: Number($('clock-speed').value) || clock.speed || 600, paused: !!clock.paused, ...change };
  try {
    const c = await api('/v1/clock', { method: 'PUT', body: JSON.stringify(body) });
    if (S.overview) S.overview.clock = c;
    showResult($('clock-result'), `clock: ${c.speed} × ${c.paused ? 'paused' : 'running'}`, false);
    renderControls();
  } catch (e) {
    showResult($('clock-result'), e.message, true);
  }
}

function showResult(node, text, bad) {
  node.textContent = text;
  node.className = `result ${bad ? 'error' : 'ok'}`;
}

// ---------------------------------------------------------------- latency

function renderLatency() {
  const L = S.latency;
  const box = $('latency');
  if (!L || !L.series) { box.replaceChildren(); return; }
  const columns = Math.max(1, ...L.series.flatMap((s) => s.points.map((p) => p.column + 1)));
  box.replaceChildren(...OPS.filter((op) => L.series.some((s) => s.op === op))
    .map((op) => latencyChart(op, L.series.filter((s) => s.op === op), L, columns)));
}

/** One op's chart: p50 (solid) and p99 (dashed) per node, in its region's colour, log-scale ms. */
function latencyChart(op, series, L, columns) {
  const W = 460, H = 190, left = 46, right = 10, top = 18, bottom = 24;
  const values = series.flatMap((s) => s.points.flatMap((p) => [p.p50_ms, p.p99_ms])).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 0.1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1))));
  const x = (c) => left + (W - left - right) * (c + 0.5) / columns;
  const y = (v) => top + (H - top - bottom) * (1 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
  const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  const title = svg('text', { x: left, y: 12, class: 'chart-title' });
  title.textContent = `${op} latency (ms)`;
  root.append(title);
  for (let v = lo; v <= hi * 1.001; v *= 10) {                  // one grid line per decade
    root.append(svg('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'grid' }));
    const t = svg('text', { x: left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' });
    t.textContent = v >= 1 ? String(v) : v.toPrecision(1);
    root.append(t);
  }
  const every = Math.max(1, Math.ceil(columns / 4));
  for (let c = 0; c < columns; c += every) {
    const t = svg('text', { x: x(c), y: H - 6, class: 'axis', 'text-anchor': 'middle' });
    t.textContent = fmtTime(L.start_ms + c * L.column_ms, false);
    root.append(t);
  }
  for (const s of series) {
    for (const [key, dash] of [['p50_ms', ''], ['p99_ms', '4 3']]) {
      let d = '', prev = -2;
      for (const p of [...s.points].sort((a, b) => a.column - b.column)) {
        if (!(p[key] > 0)) continue;
        d += `${p.column === prev + 1 ? 'L' : 'M'}${x(p.column).toFixed(1)},${y(p[key]).toFixed(1)}`;
        prev = p.column;
      }
      const path = svg('path', { d: d || 'M0,0', stroke: colourOf(s.region), fill: 'none', 'stroke-width': 1.5,
                                 'stroke-dasharray': dash });
      const tip = svg('title');
      tip.textContent = `${s.region} (${s.node}) ${op} ${key.replace('_ms', '')}`;
      path.append(tip);
      root.append(path);
    }
    // A dot per p50 point: a column alone (no neighbour to join) would otherwise not show.
    for (const p of s.points) {
      if (p.p50_ms > 0) root.append(svg('circle', { cx: x(p.column), cy: y(p.p50_ms), r: 2, fill: colourOf(s.region) }));
    }
  }
  return root;
}

// ---------------------------------------------------------------- usage

function renderUsage() {
  const box = $('usage');
  box.replaceChildren(...(S.usage || []).map((u) => {
    const hours = [...(u.hours || [])].sort((a, b) => b.hour_ms - a.hour_ms).slice(0, 12);
    const max = Math.max(1, ...hours.map((h) => Object.values(h.ops || {}).reduce((a, b) => a + b, 0)));
    const shareText = Object.entries(u.share || {}).map(([r, s]) => `${r} ${Math.round(100 * s)} %`).join(' · ');
    return el('div', { class: 'usage', data: { volume: u.volume } },
      el('h3', { text: u.volume }),
      stackBar(u.share || {}),
      el('div', { class: 'muted small', text: shareText || 'no operations' }),
      el('table', { class: 'hours' }, el('tbody', {}, ...hours.map((h) => {
        const total = Object.values(h.ops || {}).reduce((a, b) => a + b, 0);
        const bar = stackBar(h.ops || {}, 'ops');
        bar.style.width = `${Math.max(1, 100 * total / max)}%`;
        return el('tr', {}, el('td', { class: 'nowrap', text: fmtTime(h.hour_ms, false) }),
          el('td', { class: 'wide' }, bar), el('td', { class: 'num', text: `${fmtCount(total)} ops` }));
      }))));
  }));
}

// ---------------------------------------------------------------- start

function start() {
  loadToken();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    if (!t) return;
    sessionStorage.setItem('lis.token', t);
    S.token = t;
    $('token-form').hidden = true;
    connectEvents(); refreshAll();
  });
  $('filters').addEventListener('change', loadDecisions);
  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadDecisions(); });
  $('move-form').addEventListener('submit', submitMove);
  $('clock-speed').addEventListener('change', () => putClock({ speed: Number($('clock-speed').value) }));
  $('clock-pause').addEventListener('click', () => putClock({ paused: !S.overview?.clock?.paused }));
  $('zoom-reset').addEventListener('click', () => { S.zoom = null; loadHeat(true); loadLatency(true); });
  const canvas = $('heat-canvas');
  canvas.addEventListener('mousedown', startDrag);
  canvas.addEventListener('mousemove', showTooltip);
  canvas.addEventListener('mouseleave', () => { $('tooltip').hidden = true; });
  window.addEventListener('mousemove', moveDrag);
  window.addEventListener('mouseup', endDrag);
  let resize = null;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => loadHeat(true), 300); });
  setInterval(renderNow, 1000);
  // Without ticks (stream down, or a proxy eating it) poll slowly instead.
  setInterval(() => { if (Date.now() - S.lastTick > 6000) refreshLive(); }, 5000);
  connectEvents();
  refreshAll();
}

start();
