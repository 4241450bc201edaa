#!/usr/bin/env python3
"""Checks the dashboard in headless Chromium as a person would look at it and use it.

Usage: dashboard_browser.py --url http://127.0.0.1:PORT/ [--token TOKEN]
           [--expect-moved VOLUME:BLOCK=REGION ...] [--move VOLUME:FIRST-LAST=REGION]
           --screenshot PATH [--timeout 30]

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and
python3-selenium (or selenium from PyPI). Window 1600x1200 at device pixel ratio 1, so one CSS
pixel of the heat map canvas is one pixel of the screenshot.

Checks, each printed as "ok: …"; the first failure prints "FAIL: …" and exits 1:
* the page loads (the token goes in the URL fragment, #token=…, and leaves the address bar),
  draws the heat map, shows no error banner and no token form;
* per --expect-moved: the heat-map row holding the block (.heat-row with data-volume,
  data-first ≤ BLOCK ≤ data-last) has data-holder = REGION; in the screenshot, the row's cell
  in the newest column drawn (canvas data-newest-column) has REGION's legend colour; the
  decision log (#log, filtered by the page's own filter inputs if needed) has a `moved` entry
  for the block with a reason text;
  When the block shares a row with blocks before it (rows merged to fit 1500), the check first
  zooms as a person would: a drag across the whole width over those rows;
* with --move: fills the move form, clicks Move, and within --timeout the rows of those blocks
  show holder REGION and the log an operator move of each block that was elsewhere; the
  moved blocks' newest cells are then checked for REGION's colour as above;
* the browser console has no SEVERE entry (JavaScript errors, failed requests).
Screenshots: PATH (after loading) and PATH with "-after" before the extension (after the move).

The colour rule. The page draws a cell as its holder's legend colour L scaled by a brightness
k (0.22 for a cell nobody wrote, up to 1 for the hottest), so a cell's pixel p is k·L. For each
legend colour, k is fitted by least squares (k = p·L / L·L, kept in [0, 1.1]) and the residual
is the largest channel difference |p − k·L|. A pixel is REGION's if REGION's legend colour has
the smallest residual, that residual is ≤ 24 (of 255) and k ≥ 0.12. Pixels of the white move
tick and of the background are skipped; most of the remaining pixels of the cell must be REGION's.
"""
import argparse
import pathlib
import re
import struct
import sys
import time
import zlib

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

BG = (13, 17, 23)           # the canvas background (BG in dashboard.js)
MAX_RESIDUAL, MIN_K = 24, 0.12


class Failure(Exception):
    pass


def ok(msg):
    print(f"ok: {msg}", flush=True)


# ---------------------------------------------------------------- PNG, without PIL

def decode_png(data, max_rows=None):
    """(width, height, rows) of an 8-bit RGB/RGBA PNG; rows[y] is bytes of 3 or 4 per pixel."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Failure("the screenshot is not a PNG")
    pos, idat, width = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise Failure(f"unexpected PNG format (depth {depth}, colour type {colour}, interlace {interlace})")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(min(height, max_rows or height)):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:      # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:    # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif f == 3:    # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:    # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def classify(pixel, legend):
    """(region, k, residual) of the legend colour that best explains pixel as k·colour."""
    best = None
    for region, colour in legend.items():
        k = sum(p * c for p, c in zip(pixel, colour)) / max(1, sum(c * c for c in colour))
        k = min(max(k, 0.0), 1.1)
        residual = max(abs(p - k * c) for p, c in zip(pixel, colour))
        if best is None or residual < best[2]:
            best = (region, k, residual)
    return best


# ---------------------------------------------------------------- the page

class Page:
    def __init__(self, args):
        self.args, self.timeout = args, args.timeout
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1600,1200", "--force-device-scale-factor=1", "--force-color-profile=srgb"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.driver.set_window_size(1600, 1200)
        self.console = []

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, what, fn, timeout=None):
        """Polls fn until it returns something true; fails naming `what` (and fn's last note)."""
        deadline, last = time.time() + (timeout or self.timeout), None
        while time.time() < deadline:
            try:
                last = fn()
            except WebDriverException:
                last = None     # e.g. an element replaced while read: try again
            if last:
                return last
            time.sleep(0.25)
        banner = self.js("const b = document.getElementById('banner'); return b && !b.hidden ? b.textContent : ''")
        raise Failure(f"{what}: not within {timeout or self.timeout} s" + (f" (page says: {banner})" if banner else ""))

    def check_banner(self):
        text = self.js("const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent")
        if text:
            raise Failure(f"the page shows an error: {text}")

    def check_console(self):
        for entry in self.driver.get_log("browser"):
            self.console.append(entry)
            if entry.get("level") == "SEVERE":
                raise Failure(f"browser console error: {entry.get('message')}")

    def screenshot(self):
        """The viewport as a PNG (bytes) and its pixel scale over CSS pixels (1 at DPR 1)."""
        png = self.driver.get_screenshot_as_png()
        inner = self.js("return window.innerWidth")
        width = struct.unpack(">I", png[16:20])[0]
        return png, width / inner

    def legend(self):
        items = self.js("""return [...document.querySelectorAll('#legend [data-region]')].map(e =>
            [e.dataset.region, e.dataset.color || getComputedStyle(e).color])""")
        out = {}
        for name, colour in items:
            m = re.fullmatch(r"#([0-9a-fA-F]{6})", colour or "")
            if not m:
                raise Failure(f"legend item {name!r} has no data-color=#rrggbb (got {colour!r})")
            out[name] = tuple(int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
        return out

    def row_of(self, volume, block):
        """The heat-map row element's data for a block, or None."""
        return self.js("""const [v, b] = arguments;
            const e = [...document.querySelectorAll('#heat-rows .heat-row')].find(e =>
                e.dataset.volume === v && +e.dataset.first <= b && b <= +e.dataset.last);
            return e ? {...e.dataset} : null""", volume, block)

    def drawn(self):
        return int(self.js("return +(document.getElementById('heat-canvas').dataset.drawn || 0)"))

    def check_cell_colour(self, volume, block, region, legend, attempts=3):
        """The block's row, newest drawn column, in the screenshot: REGION's colour (see the rule)."""
        if region not in legend:
            raise Failure(f"region {region!r} is not in the legend ({', '.join(legend)})")
        geo = self.js("""const [v, b] = arguments;
            const row = [...document.querySelectorAll('#heat-rows .heat-row')].find(e =>
                e.dataset.volume === v && +e.dataset.first <= b && b <= +e.dataset.last);
            if (!row) return null;
            row.scrollIntoView({block: 'center'});
            const c = document.getElementById('heat-canvas'), r = c.getBoundingClientRect();
            return {left: r.left, top: r.top, y: +row.dataset.y, col: +c.dataset.newestColumn,
                    colW: +c.dataset.columnWidth, rowH: +c.dataset.rowHeight, drawn: +c.dataset.drawn}""",
                      volume, block)
        if geo is None:
            raise Failure(f"no heat-map row for {volume}:{block}")
        if geo["col"] < 0:
            raise Failure("the heat map has no column up to now (canvas data-newest-column < 0)")
        png, scale = self.screenshot()
        if geo["drawn"] != self.drawn() and attempts > 1:   # redrawn meanwhile: the geometry may have changed
            return self.check_cell_colour(volume, block, region, legend, attempts - 1)
        half = max(0, geo["rowH"] // 2 - 1)
        ys = range(int((geo["top"] + geo["y"] - half) * scale), int((geo["top"] + geo["y"] + half) * scale) + 1)
        x0 = geo["left"] + geo["col"] * geo["colW"]
        xs = range(int(x0 * scale), int((x0 + geo["colW"]) * scale))
        width, height, rows, bpp = decode_png(png, max_rows=max(ys) + 1)
        votes, seen = {}, []
        for y in ys:
            for x in xs:
                p = tuple(rows[y][x * bpp:x * bpp + 3])
                if min(p) > 170 or max(abs(a - b) for a, b in zip(p, BG)) <= 6:
                    continue    # the white move tick, or background
                name, k, residual = classify(p, legend)
                good = residual <= MAX_RESIDUAL and k >= MIN_K
                votes[name if good else None] = votes.get(name if good else None, 0) + 1
                seen.append(p)
        total = sum(votes.values())
        if not total or votes.get(region, 0) * 2 <= total:
            sample = ", ".join("#%02x%02x%02x" % p for p in seen[:3]) or "only background/tick"
            raise Failure(f"{volume}:{block}: the newest cell (column {geo['col']}) is not drawn in {region}'s "
                          f"colour #%02x%02x%02x: pixels {sample}; votes {votes}" % legend[region])
        return png

    def zoom_rows(self, volume, first, last):
        """Zooms the heat map onto the rows holding first…last as a person would: a drag across
        the whole width over those rows (the page keeps the time window live for such a drag).
        Needed when a block shares a row with blocks before it that moved elsewhere: rows merged
        to fit 1500 rows show their first block's holder."""
        geo = self.js("""const [v, a, b] = arguments;
            const rows = [...document.querySelectorAll('#heat-rows .heat-row')].filter(e =>
                e.dataset.volume === v && +e.dataset.last >= a && +e.dataset.first <= b);
            if (!rows.length) return null;
            rows[0].scrollIntoView({block: 'center'});
            const c = document.getElementById('heat-canvas').getBoundingClientRect();
            return {left: c.left, right: c.right, top: c.top + +rows[0].dataset.y,
                    bottom: c.top + +rows[rows.length - 1].dataset.y}""", volume, first, last)
        if geo is None:
            raise Failure(f"no heat-map rows for {volume}:{first}-{last}")
        before = self.drawn()
        act = ActionBuilder(self.driver)
        act.pointer_action.move_to_location(int(geo["left"]) + 1, int(geo["top"])).pointer_down()
        act.pointer_action.move_to_location(int(geo["right"]) - 1, int(geo["bottom"])).pointer_up()
        act.perform()
        self.wait(f"the heat map zoomed to {volume}:{first}-{last}", lambda: self.drawn() > before and
                  self.js("return !document.getElementById('zoom-reset').hidden"))
        ok(f"zoomed the heat map onto {volume}:{first}-{last} (its row was shared with other blocks)")

    def reset_zoom(self):
        if self.js("return !document.getElementById('zoom-reset').hidden"):
            before = self.drawn()
            self.driver.find_element(By.ID, "zoom-reset").click()
            self.wait("the heat map unzoomed", lambda: self.drawn() > before)

    def log_has(self, volume, block, kind="moved", cause=None):
        """Text of the first matching #log entry with a reason text, or None."""
        return self.js("""const [v, b, kind, cause] = arguments;
            const e = [...document.querySelectorAll('#log .log-entry')].find(e =>
                e.dataset.kind === kind && e.dataset.volume === v && +e.dataset.block === b &&
                (!cause || e.dataset.cause === cause) &&
                (e.querySelector('.log-text')?.textContent.trim() || '') !== '');
            return e ? e.querySelector('.log-text').textContent.trim() : null""", volume, block, kind, cause)

    def set_filters(self, volume="", block=""):
        """Sets the log's filter inputs as a person would, and waits for the log to reload."""
        loads = self.js("return +(document.getElementById('log').dataset.loads || 0)")
        Select(self.driver.find_element(By.ID, "f-volume")).select_by_value(volume)
        box = self.driver.find_element(By.ID, "f-block")
        box.clear()
        if block != "":
            box.send_keys(str(block))
        box.send_keys("\n")    # Enter submits the filter form: the page reloads the log
        self.wait("the decision log reloaded",
                  lambda: self.js("return +(document.getElementById('log').dataset.loads || 0)") > loads)


def parse_target(text, ranged):
    m = re.fullmatch(r"([^:]+):(\d+)(?:-(\d+))?=(.+)", text)
    if not m or (m.group(3) and not ranged):
        raise Failure(f"cannot read {text!r}: expected VOLUME:{'FIRST-LAST' if ranged else 'BLOCK'}=REGION")
    first = int(m.group(2))
    return m.group(1), first, int(m.group(3) or first), m.group(4)


def after_path(path):
    p = pathlib.Path(path)
    return str(p.with_name(f"{p.stem}-after{p.suffix}"))


def run(args, page):
    d = page.driver
    url = args.url + (f"#token={args.token}" if args.token else "")
    d.get(url)
    def loaded():
        if page.js("return !document.getElementById('token-form').hidden"):
            raise Failure("the page asks for a token (a route answered 401): pass --token")
        return page.drawn() > 0 and page.js("return document.querySelectorAll('#heat-rows .heat-row').length") > 0
    page.wait("the heat map drawn", loaded)
    n_rows, n_cols = page.js("return [document.querySelectorAll('#heat-rows .heat-row').length,"
                             " document.getElementById('heat-canvas').dataset.columns]")
    ok(f"page loaded, heat map drawn: {n_rows} rows, {n_cols} columns")
    page.check_banner()
    if args.token:
        if "token=" in page.js("return location.href"):
            raise Failure("the token is still in the address bar")
        ok("the token was taken from the URL fragment and removed from the address bar")
    legend = page.legend()
    ok(f"legend: {', '.join(f'{n} #%02x%02x%02x' % c for n, c in legend.items())}")
    page.wait("the decision log filled", lambda: page.js("return document.querySelectorAll('#log tr').length") > 0)

    for target in args.expect_moved:
        volume, block, _, region = parse_target(target, ranged=False)
        row = page.row_of(volume, block)
        if row is None:
            raise Failure(f"no heat-map row holds {volume}:{block}")
        if row["holder"] != region and int(row["first"]) < block:   # another block's holder: look closer
            page.zoom_rows(volume, block, block)
            row = page.row_of(volume, block) or row
        if row["holder"] != region:
            raise Failure(f"{volume}:{block}: its row ({row['first']}–{row['last']}) shows holder "
                          f"{row['holder']!r}, expected {region!r}")
        ok(f"{volume}:{block} row ({row['first']}–{row['last']}) has holder {region}")
        page.check_cell_colour(volume, block, region, legend)
        ok(f"{volume}:{block} newest cell is drawn in {region}'s colour")
        text = page.log_has(volume, block)
        if text is None:    # not among the newest entries: ask the page's own filters
            page.set_filters(volume, block)
            text = page.wait(f"a moved entry for {volume}:{block} in the decision log",
                             lambda: page.log_has(volume, block))
            page.set_filters()
        ok(f"{volume}:{block} decision log has a moved entry: {text[:90]}")
        page.reset_zoom()

    page.js("window.scrollTo(0, 0); document.getElementById('heat-scroll').scrollTop = 0")
    time.sleep(0.3)
    d.save_screenshot(args.screenshot)
    ok(f"screenshot {args.screenshot}")

    if args.move:
        volume, first, last, region = parse_target(args.move, ranged=True)
        # A block in a merged row may show a neighbour's holder: then it is expected in the log
        # if it was not in REGION, and a block shown in REGION may simply not be logged.
        before = {b: (page.row_of(volume, b) or {}).get("holder") for b in range(first, last + 1)}
        moving = [b for b, h in before.items() if h != region]
        form = d.find_element(By.ID, "move-form")
        if not form.is_displayed():
            raise Failure("the move form is not shown (a simulation shows the clock instead)")
        Select(d.find_element(By.ID, "move-volume")).select_by_value(volume)
        for box, value in (("move-first", first), ("move-last", last)):
            d.find_element(By.ID, box).clear()
            d.find_element(By.ID, box).send_keys(str(value))
        Select(d.find_element(By.ID, "move-to")).select_by_value(region)
        d.find_element(By.ID, "move-button").click()
        result = page.wait("an answer to the move", lambda: d.find_element(By.ID, "move-result").text.strip())
        if "error" in d.find_element(By.ID, "move-result").get_attribute("class"):
            raise Failure(f"the move was refused: {result}")
        ok(f"move form: {result}")

        zoomed, asked = [], time.time()

        def moved():
            rows = [page.row_of(volume, b) for b in range(first, last + 1)]
            if all(r and r["holder"] == region for r in rows):
                return True
            # Moved blocks get rows of their own, unless rows were merged to fit: then, if the
            # page has had time to redraw since, look closer, once.
            if not zoomed and time.time() - asked > min(10, args.timeout / 3) and any(r and r["holder"] != region and int(r["first"]) < first for r in rows):
                zoomed.append(page.zoom_rows(volume, first, last))
            return False
        page.wait(f"rows of {volume}:{first}-{last} showing holder {region}", moved)
        ok(f"{volume}:{first}-{last} rows show holder {region}")
        for b in moving:
            text = page.wait(f"an operator move of {volume}:{b} in the decision log",
                             lambda: page.log_has(volume, b, cause="operator"))
            ok(f"{volume}:{b} decision log has an operator move: {text[:80]}")
        if not moving:
            ok(f"{volume}:{first}-{last} were all in {region} already: no move expected in the log")
        for b in range(first, last + 1):
            page.check_cell_colour(volume, b, region, legend)
        ok(f"{volume}:{first}-{last} newest cells drawn in {region}'s colour")
        # The page's top: the moved rows in the heat map, and below it the log and the form's answer.
        page.js("""window.scrollTo(0, 0);
            const row = [...document.querySelectorAll('#heat-rows .heat-row')].find(e =>
                e.dataset.volume === arguments[0] && +e.dataset.first <= arguments[1] && arguments[1] <= +e.dataset.last);
            const box = document.getElementById('heat-scroll');
            if (row) box.scrollTop = Math.max(0, row.offsetTop - box.clientHeight / 2);""", volume, first)
        d.save_screenshot(after_path(args.screenshot))
        ok(f"screenshot {after_path(args.screenshot)}")

    page.check_banner()
    page.check_console()
    ok(f"no errors in the browser console ({len(page.console)} entries)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token")
    ap.add_argument("--expect-moved", action="append", default=[], metavar="VOLUME:BLOCK=REGION")
    ap.add_argument("--move", metavar="VOLUME:FIRST-LAST=REGION")
    ap.add_argument("--screenshot", required=True, metavar="PATH")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    page = None
    try:
        page = Page(args)
        run(args, page)
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        if page:
            try:
                page.driver.save_screenshot(args.screenshot)
                print(f"(screenshot of the failure: {args.screenshot})")
                for entry in page.driver.get_log("browser"):
                    print(f"  console {entry.get('level')}: {entry.get('message')}")
            except WebDriverException:
                pass
        sys.exit(1)
    except WebDriverException as e:
        print(f"FAIL: browser: {str(e).splitlines()[0]}", flush=True)
        sys.exit(1)
    finally:
        if page:
            page.driver.quit()


if __name__ == "__main__":
    main()
