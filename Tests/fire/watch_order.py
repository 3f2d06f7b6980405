#!/usr/bin/env python3
"""Watchers over real HTTP SSE against a real agentd, under concurrent writers.

N writer threads x M watcher connections on every feed kind (inbox, outbox, logs/trace,
logs/trajectory, status, config, state, goals/, deadletter/): every acknowledged record is seen by
every watcher exactly once, in id order, with no gap and no reset; documents' `modified` events
never go backwards and the last one is the file. Then: Last-Event-ID across a restart and from
the future gets `reset`; deleting an agent ends its streams; `agentctl logs --follow` under a
steady writer prints every trace line exactly once.

Usage: watch_order.py --bin DIR [--writers 16] [--per-writer 200] [--watchers 4]
(prints ok/FAIL lines; exits 1 on any failure)
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

from firelib import Agentd, Report

R = Report()
ok, fail, check = R.ok, R.fail, R.check


class Watcher:
    """One SSE connection read on its own thread: (id, event, data) per event, in arrival order."""

    def __init__(self, d, path, last_id=None):
        self.events, self.closed = [], False
        self.sock = socket.create_connection(("127.0.0.1", d.port))
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
        self.sock.sendall(f"GET {path}?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {d.token}\r\n{extra}\r\n".encode())
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise SystemExit(f"no SSE stream for {path}")

    def run(self):
        buf = b""
        header_done = False
        chunked = False
        raw = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            raw += data
            if not header_done:
                if b"\r\n\r\n" not in raw:
                    continue
                head, raw = raw.split(b"\r\n\r\n", 1)
                chunked = b"chunked" in head.lower()
                header_done = True
            # De-chunk what is complete.
            if chunked:
                while True:
                    nl = raw.find(b"\r\n")
                    if nl < 0:
                        break
                    size = int(raw[:nl].split(b";")[0], 16)
                    if size == 0:
                        raw = b""
                        self.closed = True
                        break
                    if len(raw) < nl + 2 + size + 2:
                        break
                    buf += raw[nl + 2:nl + 2 + size]
                    raw = raw[nl + 2 + size + 2:]
            else:
                buf, raw = buf + raw, b""
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                ev = {"data": []}
                for line in frame.decode().split("\n"):
                    if line.startswith(":"):
                        self.ready.set()
                        continue
                    k, _, v = line.partition(": ")
                    if k == "data":
                        ev["data"].append(v)
                    else:
                        ev[k] = v
                if "id" in ev:
                    self.events.append((int(ev["id"]), ev.get("event", "message"), "\n".join(ev["data"])))
            if self.closed:
                break
        self.closed = True
        self.ready.set()

    def wait(self, n, seconds=60):
        deadline = time.time() + seconds
        while len(self.events) < n and time.time() < deadline and not self.closed:
            time.sleep(0.02)
        time.sleep(0.2)  # a duplicate would arrive too
        return len(self.events) >= n

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Client:
    """One keep-alive connection per writer thread."""

    def __init__(self, d):
        self.d = d
        self.c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)

    def req(self, method, path, body=None):
        self.c.request(method, path, body=body, headers={"Authorization": f"Bearer {self.d.token}"})
        r = self.c.getresponse()
        return r.status, r.read()


def run_writers(d, n, body):
    """Runs body(client, writer_index) on n threads; returns their results."""
    results = [None] * n

    def one(w):
        results[w] = body(Client(d), w)

    threads = [threading.Thread(target=one, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def file_lines(d, path):
    return d.request("GET", path)[1].decode().splitlines()


def exact(what, watchers, expected):
    """Every watcher saw exactly `expected` (data, in order), ids rising, no reset."""
    for i, w in enumerate(watchers):
        got = [e[2] for e in w.events]
        ids = [e[0] for e in w.events]
        resets = sum(1 for e in w.events if e[1] == "reset")
        if got == expected and resets == 0 and all(a < b for a, b in zip(ids, ids[1:])):
            continue
        missing = len(set(expected) - set(got))
        fail(f"{what}: watcher {i} saw every record once, in order",
             f"{len(got)} events for {len(expected)} records, {missing} missing, {resets} resets, "
             f"ids rising: {all(a < b for a, b in zip(ids, ids[1:]))}")
        return
    ok(f"{what}: {len(watchers)} watchers each saw all {len(expected)} records once, in id order, no reset")


def never_backwards(what, watchers, current, key):
    for i, w in enumerate(watchers):
        deadline = time.time() + 20
        while (not w.events or w.events[-1][2] != current) and time.time() < deadline:
            time.sleep(0.05)
        vals = [json.loads(e[2]).get(key, -1) if key else None for e in w.events]
        if not w.events or w.events[-1][2] != current:
            fail(f"{what}: watcher {i}'s last modified is the file", f"last {w.events[-1][2][:120] if w.events else None!r}")
            return
        if key and any(a > b for a, b in zip(vals, vals[1:])):
            fail(f"{what}: watcher {i}: {key} never goes backwards", vals)
            return
    ok(f"{what}: {len(watchers)} watchers' last modified is the file" + (f"; {key} never went backwards" if key else ""))


def inbox(d, a):
    d.create("p", config={"inbox": {"max_depth": 1000000}})
    d.request("PUT", "/agents/p/ctl", b"pause")
    ws = [Watcher(d, "/agents/p/inbox") for _ in range(a.watchers)]
    status = [Watcher(d, "/agents/p/status") for _ in range(a.watchers)]

    def send(c, w):
        n = 0
        for i in range(a.per_writer):
            s, body = c.req("POST", "/agents/p/inbox", json.dumps({"id": f"w{w}-{i}", "body": "x"}).encode())
            n += s == 202 and json.loads(body)["status"] == "queued"
        return n

    accepted = sum(run_writers(d, a.writers, send))
    check(f"inbox: {a.writers} x {a.per_writer} sends accepted", accepted == a.writers * a.per_writer, accepted)
    expected = file_lines(d, "/agents/p/inbox")
    for w in ws:
        w.wait(len(expected))
    exact(f"inbox ({a.writers} writers x {a.per_writer})", ws, expected)
    never_backwards("status (inbox sends)", status, d.request("GET", "/agents/p/status")[1].decode().strip(), "queue_depth")
    for w in ws + status:
        w.stop()


def trace_and_config(d, a):
    d.create("c")
    before = len(file_lines(d, "/agents/c/logs/trace"))
    trace = [Watcher(d, "/agents/c/logs/trace") for _ in range(a.watchers)]
    config = [Watcher(d, "/agents/c/config") for _ in range(a.watchers)]
    per = max(10, a.per_writer // 5)

    def patch(c, w):
        for i in range(1, per + 1):
            c.req("PUT", "/agents/c/config", json.dumps({f"w{w}": i}).encode())

    run_writers(d, a.writers, patch)
    expected = file_lines(d, "/agents/c/logs/trace")[before:]
    check("trace: one config_change per patch", len(expected) == a.writers * per, len(expected))
    for w in trace:
        w.wait(len(expected))
    exact(f"logs/trace ({a.writers} writers x {per} config patches)", trace, expected)
    current = d.request("GET", "/agents/c/config")[1].decode().strip()
    never_backwards("config", config, current, None)
    # (Whether each writer's key only rises depends on merge-patches not losing writes: item 7.)
    for i, w in enumerate(config):
        ids, datas = [e[0] for e in w.events], [e[2] for e in w.events]
        if not all(a < b for a, b in zip(ids, ids[1:])) or any(a == b for a, b in zip(datas, datas[1:])):
            fail(f"config: watcher {i}: ids rise and no content repeats", ids[:20])
    for w in trace + config:
        w.stop()


def ticking(d, a):
    d.create("e", config={"inbox": {"max_depth": 1000000}})
    files = ["outbox", "logs/trace", "logs/trajectory"]
    before = {f: len(file_lines(d, f"/agents/e/{f}")) for f in files}
    logs = {f: [Watcher(d, f"/agents/e/{f}") for _ in range(a.watchers)] for f in files}
    status = [Watcher(d, "/agents/e/status") for _ in range(a.watchers)]
    state = [Watcher(d, "/agents/e/state") for _ in range(a.watchers)]
    per = max(5, a.per_writer // 10)

    def send(c, w):
        for i in range(per):
            c.req("POST", "/agents/e/inbox", json.dumps({"id": f"w{w}-{i}", "body": "m"}).encode())

    run_writers(d, a.writers, send)
    deadline = time.time() + 120
    while time.time() < deadline and json.loads(d.request("GET", "/agents/e/status")[1])["queue_depth"] > 0:
        time.sleep(0.1)
    for f in files:
        expected = file_lines(d, f"/agents/e/{f}")[before[f]:]
        for w in logs[f]:
            w.wait(len(expected))
        exact(f"{f} ({a.writers} writers x {per} sends, ticks)", logs[f], expected)
    never_backwards("status", status, d.request("GET", "/agents/e/status")[1].decode().strip(), "tick_count")
    never_backwards("state", state, d.request("GET", "/agents/e/state")[1].decode().strip(), "messages")
    for w in status + state + [w for ws in logs.values() for w in ws]:
        w.stop()


def goals(d, a):
    d.create("g")
    ws = [Watcher(d, "/agents/g/goals/") for _ in range(a.watchers)]
    per = max(9, a.per_writer // 10)

    def work(c, w):
        for i in range(per):
            if i % 3 == 2:
                c.req("DELETE", f"/agents/g/goals/w{w}.json")
            else:
                c.req("PUT", f"/agents/g/goals/w{w}.json", json.dumps({"i": i}).encode())

    run_writers(d, a.writers, work)
    want = ["deleted" if i % 3 == 2 else ("created" if i % 3 == 0 else "modified") for i in range(per)]
    total = a.writers * per
    bad = None
    for i, w in enumerate(ws):
        w.wait(total)
        ids = [e[0] for e in w.events]
        if len(w.events) != total or not all(x < y for x, y in zip(ids, ids[1:])):
            bad = f"watcher {i}: {len(w.events)} events for {total} operations"
            break
        for g in range(a.writers):
            mine = [e[1] for e in w.events if e[2] == f"w{g}.json"]
            if mine != want:
                bad = f"watcher {i}, goal w{g}: {mine}"
                break
        if bad:
            break
    check(f"goals/ ({a.writers} writers x {per} puts and removes): every watcher saw each goal's events in order", bad is None, bad)
    for w in ws:
        w.stop()


def deadletters(d, a):
    d.create("x", config={"inbox": {"max_depth": 1, "overflow": "dead_letter"}})
    d.request("PUT", "/agents/x/ctl", b"pause")
    ws = [Watcher(d, "/agents/x/deadletter/") for _ in range(a.watchers)]
    per = max(5, a.per_writer // 10)

    def send(c, w):
        dead = []
        for i in range(per):
            s, body = c.req("POST", "/agents/x/inbox", json.dumps({"id": f"w{w}-{i}", "body": "x"}).encode())
            if s == 202 and json.loads(body)["status"] == "dead_lettered":
                dead.append(f"w{w}-{i}")
        return dead

    dead = [i for ds in run_writers(d, a.writers, send) for i in ds]

    def discard(c, w):
        for i in dead:
            if i.startswith(f"w{w}-"):
                c.req("DELETE", f"/agents/x/deadletter/{i}")

    run_writers(d, a.writers, discard)
    bad = None
    for i, w in enumerate(ws):
        w.wait(2 * len(dead))
        ids = [e[0] for e in w.events]
        if len(w.events) != 2 * len(dead) or not all(x < y for x, y in zip(ids, ids[1:])):
            bad = f"watcher {i}: {len(w.events)} events for {2 * len(dead)}"
            break
        order = {}
        for _, ev, data in w.events:
            order.setdefault(data, []).append(ev)
        if any(order.get(x) != ["created", "deleted"] for x in dead):
            bad = f"watcher {i}: an id's events are not created, deleted"
            break
    check(f"deadletter/ ({len(dead)} dead-lettered by {a.writers} writers, then discarded): every watcher saw created then deleted, once each",
          bad is None, bad)
    for w in ws:
        w.stop()


def first_event(d, path, last_id, then):
    w = Watcher(d, path, last_id)
    then()
    w.wait(1, seconds=5)
    w.stop()
    return w.events[0] if w.events else None


def resume_and_end(d, a):
    d.create("s", config={"inbox": {"max_depth": 1, "overflow": "dead_letter"}})
    d.request("PUT", "/agents/s/ctl", b"pause")
    docs = ["status", "config", "state", "goals/", "deadletter/"]
    cursors = {}

    def changes(n):
        def go():
            d.request("PUT", "/agents/s/config", json.dumps({"n": n}).encode())
            d.request("PUT", "/agents/s/goals/g.json", json.dumps({"n": n}).encode())
            d.request("POST", "/agents/s/inbox", json.dumps({"id": f"a{n}", "body": "x"}).encode())
            d.request("POST", "/agents/s/inbox", json.dumps({"id": f"b{n}", "body": "x"}).encode())
            d.request("PUT", "/agents/s/ctl", b"tick")
        return go

    for k, doc in enumerate(docs):
        e = first_event(d, f"/agents/s/{doc}", None, changes(k))
        cursors[doc] = e[0] if e else None
    d.stop()
    d.start()
    for k, doc in enumerate(docs):
        e = first_event(d, f"/agents/s/{doc}", cursors[doc], changes(100 + k))
        check(f"{doc}: a Last-Event-ID from before a restart gets reset", e is not None and e[1] == "reset", e)
    for f in ["status", "inbox", "outbox", "logs/trace", "logs/trajectory", "goals/", "deadletter/"]:
        e = first_event(d, f"/agents/s/{f}", 1 << 60, lambda: None)
        check(f"{f}: a Last-Event-ID newer than anything published gets reset", e is not None and e[1] == "reset", e)
    # Deleting the agent ends every stream of it, with an `end` event, and closes it.
    files = ["status", "config", "state", "goals/", "deadletter/", "inbox", "outbox", "logs/trace", "logs/trajectory"]
    ws = [Watcher(d, f"/agents/s/{f}") for f in files]
    d.request("DELETE", "/agents/s")
    deadline = time.time() + 10
    while time.time() < deadline and not all(w.closed for w in ws):
        time.sleep(0.05)
    ended = [f for f, w in zip(files, ws) if w.closed and w.events and w.events[-1][1] == "end"]
    check("deleting an agent ends each of its 9 streams with `end` and closes it", len(ended) == len(files),
          f"ended: {ended}")
    for w in ws:
        w.stop()


def follow(d, a):
    """agentctl logs --follow while a writer keeps appending: every line exactly once."""
    d.create("f")
    stop = threading.Event()

    def write():
        c = Client(d)
        i = 0
        while not stop.is_set():
            c.req("PUT", "/agents/f/config", json.dumps({"i": i}).encode())
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.5)
    out = tempfile.TemporaryFile()
    env = dict(os.environ, AGENTD_URL=d.url, AGENTD_TOKEN=d.token)
    proc = subprocess.Popen([f"{a.bin}/agentctl", "logs", "f", "--follow"], stdout=out, stderr=subprocess.DEVNULL, env=env)
    time.sleep(1.5)
    stop.set()
    writer.join()
    expected = file_lines(d, "/agents/f/logs/trace")
    deadline = time.time() + 10
    got = []
    while time.time() < deadline:
        out.seek(0)
        got = out.read().decode().splitlines()
        if len(got) >= len(expected):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    proc.terminate()
    proc.wait()
    out.seek(0)
    got = out.read().decode().splitlines()
    check(f"agentctl logs --follow under a steady writer printed all {len(expected)} trace lines exactly once, in order",
          got == expected, f"{len(got)} lines printed, {len(set(expected) - set(got))} missing, {len(got) - len(set(got))} repeated")
    # The header itself: records written between the read and the watch come exactly once.
    status, body, headers = d.request("GET", "/agents/f/logs/trace")
    last = headers.get("X-Last-Event-ID")
    for i in range(20):
        d.request("PUT", "/agents/f/config", json.dumps({"j": i}).encode())
    w = Watcher(d, "/agents/f/logs/trace", last)
    after = file_lines(d, "/agents/f/logs/trace")[len(body.decode().splitlines()):]
    w.wait(len(after), seconds=10)
    w.stop()
    exact("GET logs/trace then watch from its X-Last-Event-ID", [w], after)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--writers", type=int, default=16)
    p.add_argument("--per-writer", type=int, default=200)
    p.add_argument("--watchers", type=int, default=4)
    a = p.parse_args()
    root = tempfile.mkdtemp(prefix="watch-order-")
    d = Agentd(a.bin, os.path.join(root, "data"))
    d.start()
    try:
        for scenario in [inbox, trace_and_config, ticking, goals, deadletters, follow, resume_and_end]:
            scenario(d, a)
    finally:
        d.stop()
    R.finish("watch_order")


if __name__ == "__main__":
    main()
