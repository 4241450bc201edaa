#!/usr/bin/env python3
"""A stand-in for a Lis node's dashboard routes (docs/DASHBOARD.md), stdlib only.

Usage: dashboard_fixture.py [--port 7791] [--token TOKEN] [--simulation] [--big]

Serves Sources/LisHTTP/Dashboard/{index.html,dashboard.js,dashboard.css} and made-up but
self-consistent JSON for every GET route of the contract: regions nyc/london/sydney, volumes
vm1 (256 blocks, home nyc) and db1 (160 blocks, home london), a few hot block ranges, past moves
(vm1 0-15 to sydney, db1 5-6 to nyc, vm1 200 to london hours ago), declines, latency and usage.
`/v1/events` is a real event stream: a tick every 2 s and a decision for every move.
`POST /v1/blocks/move` answers 202 and, 0.8 s later, moves the blocks (cause "operator").
`PUT /v1/clock` sets the virtual clock with --simulation (a node answers 409, as the real one).
--token makes every /v1 route answer 401 without `Authorization: Bearer TOKEN` (or ?token=).
It is for developing the page and for testing dashboard_browser.py, not a model of Lis.
"""
import argparse
import json
import math
import pathlib
import random
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DASH = pathlib.Path(__file__).resolve().parents[2] / "Sources/LisHTTP/Dashboard"
STATIC = {"/": ("index.html", "text/html"), "/index.html": ("index.html", "text/html"),
          "/dashboard.js": ("dashboard.js", "text/javascript"), "/dashboard.css": ("dashboard.css", "text/css")}
# As the node sends them (DashboardRoutes.addPage): the page must work under this policy.
PAGE_HEADERS = [("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
                ("X-Content-Type-Options", "nosniff")]
REGIONS = ["nyc", "london", "sydney"]
NODES = {"nyc": ["nyc-1", "nyc-2"], "london": ["london-1"], "sydney": ["sydney-1"]}
RTT = {("nyc", "london"): 70.2, ("nyc", "sydney"): 229.8, ("london", "sydney"): 262.5}
VOLUMES = [{"name": "vm1", "home": "nyc", "allowed_regions": None, "blocks": 256, "survive": "node"},
           {"name": "db1", "home": "london", "allowed_regions": ["london", "nyc"], "blocks": 160, "survive": "region"}]
# Hot ranges: (volume, first, last, origin region, writes/s per block, reads/s per block).
HOT = [("vm1", 0, 15, "sydney", 3.0, 1.0), ("vm1", 40, 70, "nyc", 0.6, 2.0), ("vm1", 100, 104, "london", 0.2, 0.1),
       ("db1", 0, 30, "london", 1.5, 4.0), ("db1", 5, 6, "nyc", 4.0, 0.5)]
MIN, HOUR = 60_000, 3_600_000


def rtt(a, b):
    return 0.1 if a == b else RTT.get((a, b)) or RTT[(b, a)]


def noise(*key):
    """A stable pseudo-random number in [0, 1) for a key, so refreshes agree with each other."""
    return (zlib.crc32(repr(key).encode()) % 10007) / 10007


class World:
    def __init__(self, simulation):
        self.sim, self.lock = simulation, threading.RLock()
        self.speed, self.paused, self.wall0, self.virt0 = 600.0, False, time.time(), 6 * HOUR
        self.cond, self.events = threading.Condition(), []  # the stream's backlog: (seq, name, data)
        t0 = self.now()
        self.decisions = []  # newest last
        rnd = random.Random(7)
        for b in range(16):  # the policy brought vm1's first blocks to their Sydney writers
            self.move("vm1", b, "sydney", t0 - (22 if b < 8 else 12) * MIN + b * 900, "placement", rnd, push=False)
        for b in (5, 6):
            self.move("db1", b, "nyc", t0 - 8 * MIN + b * 500, "placement", rnd, push=False)
        self.move("vm1", 200, "london", t0 - 3 * HOUR, "operator", rnd, push=False)
        for i, (v, b) in enumerate([("vm1", 40), ("vm1", 41), ("db1", 12), ("vm1", 101)]):
            self.decisions.append({"at_ms": t0 - (18 - 4 * i) * MIN, "node": "nyc-1", "region": "nyc", "volume": v,
                                   "block": b, "kind": "declined", "to": "london",
                                   "text": "saves too little: 0.4 ms/s expected, 35 ms to move", "reason": None})
        self.decisions.append({"at_ms": t0 - 15 * MIN, "node": "london-1", "region": "london", "volume": "db1",
                               "block": 20, "kind": "abandoned", "from": "nyc-2", "from_region": "nyc",
                               "to": "london", "cause": "recovery", "text": "steal abandoned: nyc-2 came back",
                               "reason": None})
        self.decisions.sort(key=lambda d: d["at_ms"])

    def now(self):
        if not self.sim:
            return int(time.time() * 1000)
        with self.lock:
            if self.paused:
                return int(self.virt0)
            return int(min(self.virt0 + (time.time() - self.wall0) * 1000 * self.speed, 24 * HOUR))

    def set_clock(self, speed, paused):
        with self.lock:
            self.virt0, self.wall0 = self.now(), time.time()
            self.speed, self.paused = speed, paused

    def volume(self, name):
        return next((v for v in VOLUMES if v["name"] == name), None)

    def holder(self, vol, block, at=None):
        """The block's region at `at` (now: None): its home, then each move's target."""
        region = self.volume(vol)["home"]
        for d in self.decisions:
            if d["kind"] == "moved" and d["volume"] == vol and d["block"] == block and (at is None or d["at_ms"] <= at):
                region = d["to"]
        return region

    def move(self, vol, block, to, at, cause, rnd, push=True):
        frm = self.holder(vol, block)
        steal = round(rtt(frm, to) * 2 + rnd.uniform(5, 40), 1)
        base = {"node": NODES[to][0], "region": to, "volume": vol, "block": block, "from": NODES[frm][0],
                "from_region": frm, "to": to, "cause": cause}
        text = {"placement": f"adaptive: {rtt(frm, to) + 1:.1f} ms there vs 0.1 ms here, most writes from {to}",
                "operator": f"operator: lis block move {vol}:{block} --to {to}"}[cause]
        started = dict(base, at_ms=int(at - steal), kind="steal_started", text=text, reason=None)
        moved = dict(base, at_ms=int(at), kind="moved", epoch=3, steal_ms=steal, text=text,
                     reason={"kind": cause, "from": frm, "to": to})
        with self.lock:
            self.decisions += [started, moved]
        if push:
            for d in (started, moved):
                self.push("decision", d)

    def push(self, name, data):
        with self.cond:
            self.events.append((len(self.events), name, data))
            self.cond.notify_all()

    # ---- activity: rates by block and time, summed per column ----
    def rates(self, vol, block, t):
        """(writes/s, reads/s, origin) of a block at time t; a slow wave keeps it from looking flat."""
        w = r = 0.0
        origin = None
        for v, a, b, reg, ws, rs in HOT:
            if v == vol and a <= block <= b:
                wave = 0.6 + 0.4 * math.sin(t / (7 * MIN) + block)
                w, r, origin = w + ws * wave, r + rs * wave, reg
        return w, r, origin

    def heat(self, q):
        now = self.now()
        until = int(q.get("until_ms", now))
        since = int(q.get("since_ms", 0 if self.sim else until - 30 * MIN))
        want = max(1, min(400, int(q.get("columns", 120))))
        col_ms = max(1000, math.ceil((until - since) / want / 1000) * 1000)
        start = since // col_ms * col_ms
        ncol = max(1, min(400, math.ceil((until - start) / col_ms)))
        max_rows = max(1, min(1500, int(q.get("rows", 1500))))
        rows = []
        for v in VOLUMES:
            if q.get("volume") not in (None, v["name"]):
                continue
            first, last = int(q.get("first", 0)), int(q.get("last", v["blocks"] - 1))
            moved = {d["block"] for d in self.decisions if d["kind"] == "moved" and d["volume"] == v["name"]}
            vrows = []
            for b in range(first, min(last, v["blocks"] - 1) + 1):
                cells = []
                for c in range(ncol):
                    t = start + c * col_ms
                    if t > now:
                        break
                    w, r, origin = self.rates(v["name"], b, t)
                    n = noise(v["name"], b, t // 10_000)
                    w, r = int(w * col_ms / 1000 * (0.3 + n)), int(r * col_ms / 1000 * (1.3 - n))
                    if w or r:
                        cells.append([c, w, r, REGIONS.index(origin)])
                if cells or b in moved or not vrows or vrows[-1]["own"]:
                    vrows.append({"volume": v["name"], "first": b, "last": b, "cells": cells,
                                  "own": bool(cells or b in moved)})
                else:  # an idle block joins the idle run before it
                    vrows[-1]["last"] = b
            rows += vrows
        factor = math.ceil(len(rows) / max_rows)
        if factor > 1:  # too many: merge neighbours of a volume, counts summed, first block's holder
            merged = []
            for r in rows:
                if merged and merged[-1]["volume"] == r["volume"] and merged[-1]["n"] < factor:
                    m = merged[-1]
                    m["last"], m["n"] = r["last"], m["n"] + 1
                    byc = {c[0]: c for c in m["cells"]}
                    for c in r["cells"]:
                        old = byc.get(c[0])
                        byc[c[0]] = [c[0], c[1] + old[1], c[2] + old[2], c[3]] if old else c
                    m["cells"] = sorted(byc.values())
                else:
                    merged.append(dict(r, n=1))
            rows = merged
        col_of = lambda t: (t - start) // col_ms
        for r in rows:
            segs = [[0, REGIONS.index(self.holder(r["volume"], r["first"], start))]]
            for d in self.decisions:
                if (d["kind"] == "moved" and d["volume"] == r["volume"] and d["block"] == r["first"]
                        and start <= d["at_ms"] < start + ncol * col_ms):
                    segs.append([col_of(d["at_ms"]), REGIONS.index(d["to"])])
            r.update(segments=segs, holder=REGIONS.index(self.holder(r["volume"], r["first"])),
                     max_writes=max([c[1] for c in r["cells"]], default=0))
            r.pop("own", None), r.pop("n", None)
        moves = [{"volume": d["volume"], "block": d["block"], "at_ms": d["at_ms"], "column": col_of(d["at_ms"]),
                  "from": REGIONS.index(d["from_region"]), "to": REGIONS.index(d["to"]), "cause": d["cause"],
                  "text": d["text"]}
                 for d in self.decisions if d["kind"] == "moved" and start <= d["at_ms"] < start + ncol * col_ms
                 and q.get("volume") in (None, d["volume"])]
        return {"now_ms": now, "start_ms": start, "column_ms": col_ms, "columns": ncol, "regions": REGIONS,
                "rows": rows, "moves": moves}

    def latency(self, q):
        h = self.heat(dict(q, volume="none"))  # the same column grid, no rows
        start, col_ms, now = h["start_ms"], h["column_ms"], h["now_ms"]
        sydney_moved = min(d["at_ms"] for d in self.decisions if d["kind"] == "moved" and d["to"] == "sydney")
        series = []
        for reg in REGIONS:
            for op in ("read", "write", "flush"):
                pts = []
                for c in range(h["columns"]):
                    t = start + c * col_ms
                    if t > now:
                        break
                    n = noise(reg, op, t // 10_000)
                    far = {"nyc": 0.0, "london": 70.0, "sydney": 230.0 if t < sydney_moved else 0.0}[reg]
                    p50 = round(0.08 + 0.1 * n + (0.02 if op == "read" else 0.05), 3)
                    p99 = round(max(p50 * 3, far * (0.9 + 0.2 * n)) + (1.5 if op == "flush" else 0.2), 2)
                    pts.append({"column": c, "count": int(200 + 800 * n), "p50_ms": p50,
                                "p90_ms": round((p50 + p99) / 3, 3), "p99_ms": p99})
                series.append({"region": reg, "node": NODES[reg][0], "op": op, "points": pts})
        return {"start_ms": start, "column_ms": col_ms, "series": series}

    def usage(self, q):
        now, out = self.now(), []
        for v in VOLUMES:
            if q.get("volume") not in (None, v["name"]):
                continue
            hours = []
            for i in range(6, -1, -1):
                hour = (now // HOUR - i) * HOUR
                if hour < 0:
                    continue
                ops = {reg: 0 for reg in REGIONS}
                for (vol, a, b, reg, ws, rs) in HOT:
                    if vol == v["name"]:
                        ops[reg] += int((b - a + 1) * (ws + rs) * 3600 * (0.5 + noise(vol, a, hour)))
                ops = {k: n for k, n in ops.items() if n}
                hours.append({"hour_ms": hour, "ops": ops, "bytes": {k: n * 4096 for k, n in ops.items()}})
            total = {}
            for hr in hours:
                for k, n in hr["ops"].items():
                    total[k] = total.get(k, 0) + n
            s = sum(total.values()) or 1
            out.append({"volume": v["name"], "share": {k: round(n / s, 3) for k, n in total.items()}, "hours": hours})
        return out

    def overview(self):
        vols = []
        for v in VOLUMES:
            held = {}
            for b in range(v["blocks"]):
                reg = self.holder(v["name"], b)
                held[reg] = held.get(reg, 0) + 1
            vols.append(dict(v, block_size_bytes=65536, held_by_region=held))
        return {"kind": "simulation" if self.sim else "node",
                "title": "fixture cluster, seen from nyc-1" if not self.sim else "fixture run: sydney office wakes up",
                "now_ms": self.now(), "policy": "adaptive", "paused": False,
                "regions": [{"name": r, "nodes": NODES[r], "rtt_ms": {o: (rtt(r, o) if o != "sydney" or r != "london"
                                                                         else None) for o in REGIONS if o != r}}
                            for r in REGIONS],
                "hive": {"engine": "etcd", "ok": True, "rtt_ms": 1.3, "error": None}, "volumes": vols,
                "clock": {"speed": self.speed, "paused": self.paused, "end_ms": 24 * HOUR} if self.sim else None}


class Handler(BaseHTTPRequestHandler):
    world: World = None
    token: str = None

    def log_message(self, fmt, *args):  # quiet: the browser check prints what matters
        pass

    def send(self, status, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/v1/") and self.token:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ") or q.get("token")
            if given != self.token:
                self.send(401, {"error": "this route needs Authorization: Bearer TOKEN"})
                return None, None
        return url.path, q

    def do_GET(self):
        path, q = self.route()
        w = self.world
        if path is None:
            return
        if path in STATIC:
            name, ctype = STATIC[path]
            self.send(200, (DASH / name).read_bytes(), ctype + "; charset=utf-8", headers=PAGE_HEADERS)
        elif path == "/v1/overview":
            self.send(200, w.overview())
        elif path == "/v1/heat":
            self.send(200, w.heat(q))
        elif path == "/v1/latency":
            self.send(200, w.latency(q))
        elif path == "/v1/usage":
            self.send(200, w.usage(q))
        elif path == "/v1/decisions":
            out = [d for d in reversed(w.decisions)
                   if q.get("volume") in (None, d["volume"]) and q.get("block") in (None, str(d["block"]))
                   and q.get("kind") in (None, d["kind"]) and q.get("region") in (None, d["region"], d.get("to"))]
            self.send(200, out[:min(2000, int(q.get("limit", 200)))])
        elif path == "/v1/events":
            self.stream()
        else:
            self.send(404, {"error": f"no route {path}"})

    def stream(self):
        """Server-sent events: everything pushed after the connection, and a tick every 2 s. Like
        the node's, a response lasts 30 s and the browser connects again (retry: 1000)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        w, seen, next_tick = self.world, len(self.world.events), time.time()
        end = time.time() + 30
        try:
            self.wfile.write(b"retry: 1000\n\n")
            while time.time() < end:
                with w.cond:
                    w.cond.wait(timeout=max(0.0, next_tick - time.time()))
                    fresh, seen = w.events[seen:], len(w.events)
                out = [(name, data) for _, name, data in fresh]
                if time.time() >= next_tick:
                    out.append(("tick", {"now_ms": w.now()}))
                    next_tick = time.time() + 2
                for name, data in out:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        path, q = self.route()
        if path is None:
            return
        body = self.body()
        w = self.world
        if path != "/v1/blocks/move":
            return self.send(404, {"error": f"no route {path}"})
        if w.sim:
            return self.send(409, {"error": "the simulator moves blocks by its scenario, not by hand"})
        try:
            vol, first, to = body["volume"], int(body["first"]), body["to"]
            last = int(body.get("last", first))
        except (KeyError, TypeError, ValueError):
            return self.send(400, {"error": 'expected {"volume": "vm", "first": 0, "last": 15 (optional), "to": "REGION"}'})
        v = w.volume(vol)
        if v is None:
            return self.send(404, {"error": f"no volume {vol}"})
        if to not in REGIONS:
            return self.send(400, {"error": f"no region {to}"})
        if not 0 <= first <= last < v["blocks"]:
            return self.send(400, {"error": f"blocks {first}-{last} outside {vol} (0-{v['blocks'] - 1})"})

        def later():
            rnd = random.Random()
            for b in range(first, last + 1):
                if w.holder(vol, b) != to:
                    w.move(vol, b, to, w.now(), "operator", rnd)
        threading.Timer(0.8, later).start()
        self.send(202, {"volume": vol, "first": first, "last": last, "to": to, "node": NODES[to][0]})

    def do_PUT(self):
        path, q = self.route()
        if path is None:
            return
        body, w = self.body(), self.world
        if path != "/v1/clock":
            return self.send(404, {"error": f"no route {path}"})
        if not w.sim:
            return self.send(409, {"error": "a node's clock is the wall clock"})
        speed = float(body.get("speed", w.speed))
        if not 1 <= speed <= 100000:
            return self.send(400, {"error": "speed must be 1…100000"})
        w.set_clock(speed, bool(body.get("paused", w.paused)))
        self.send(200, w.overview()["clock"])

    def body(self):
        try:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except ValueError:
            return {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=7791)
    ap.add_argument("--token", help="require Authorization: Bearer TOKEN on /v1 routes (401 without)")
    ap.add_argument("--simulation", action="store_true", help='kind "simulation": a virtual clock, no moves')
    ap.add_argument("--big", action="store_true", help="vm1 of 4096 blocks, 2000 of them hot: over 1500 rows")
    a = ap.parse_args()
    if a.big:
        VOLUMES[0]["blocks"] = 4096
        HOT.append(("vm1", 1000, 2999, "london", 0.3, 0.3))
    Handler.world, Handler.token = World(a.simulation), a.token
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print(f"dashboard fixture on http://127.0.0.1:{a.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
