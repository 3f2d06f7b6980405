#!/usr/bin/env python3
"""Hostile input over HTTP against a live agentd: slow-loris clients, a traversal and
malformed-path corpus sent as raw bytes, malformed, huge and truncated bodies.

Every hostile request must be refused with a 4xx and a JSON error (never a 5xx, never a
200), change nothing, and never slow down well-behaved clients.
Usage: hostile_http.py --bin DIR     (prints ok/FAIL lines; exits 1 on any failure)
"""
import argparse
import json
import os
import socket
import tempfile
import threading
import time

from firelib import Agentd, Report

R = Report()
ok, fail = R.ok, R.fail


def raw(port, request, timeout=5):
    """Sends raw bytes, returns (status, body) of the first response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if _ and b"content-length:" in head.lower():
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            if len(rest) >= length:
                break
    s.close()
    if not data:
        return 0, b""
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-hostile.")
    d = Agentd(args.bin, os.path.join(work, "data"), "--head-timeout", "2", "--body-timeout", "3").start()
    port, token, proc = d.port, d.token, d.proc
    auth = f"Authorization: Bearer {token}\r\n".encode()

    def req(method, path, body=None, headers=None):
        status, data, _ = d.request(method, path, body, timeout=5, headers=headers)
        return status, data

    try:
        req("POST", "/agents", json.dumps({"id": "a", "kind": "echo"}).encode())
        req("PUT", "/agents/a/ctl", b"pause")
        before = {f: req("GET", f"/agents/a/{f}")[1] for f in ["config", "inbox", "state"]}
        before_goals = req("GET", "/agents/a/goals/")[1]
        before_agents = sorted(a["id"] for a in json.loads(req("GET", "/agents")[1]))

        # 1. Slow-loris: 40 clients dribbling a request head, 10 dribbling a body.
        slow = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", port))
            if i >= 40:
                s.sendall(b"POST /agents/a/inbox HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 100\r\n\r\n")
            slow.append(s)
        stop = threading.Event()

        def dribble():
            while not stop.is_set():
                for s in slow:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
                time.sleep(0.5)
        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        worst = 0.0
        for _ in range(20):
            t0 = time.time()
            status, _ = req("GET", "/agents/a/status")
            worst = max(worst, time.time() - t0)
            if status != 200:
                fail("well-behaved clients are served during a slow-loris", f"status {status}")
                break
        if worst < 1.0:
            ok(f"well-behaved clients served during a slow-loris (slowest {worst * 1000:.0f} ms)")
        else:
            fail("well-behaved clients served during a slow-loris", f"slowest {worst:.2f} s")
        time.sleep(4.5)
        closed = 0
        for s in slow:
            s.settimeout(0.5)
            try:
                s.send(b"x")
                closed += 1 if s.recv(1) == b"" else 0
            except OSError:
                closed += 1
        stop.set()
        if closed == len(slow):
            ok(f"all {closed} slow clients cut off by the head/body deadlines")
        else:
            fail("slow clients cut off", f"{closed} of {len(slow)} closed")
        for s in slow:
            s.close()

        # 1b. A response that ends before its request's body (401 before the body is read): once
        # the body is in, the connection waits for the next head like any other, and is cut off.
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /agents/a/inbox HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n")
        early = s.recv(4096)
        s.sendall(b"x")  # the body, after its answer; then nothing
        s.settimeout(0.2)
        t0, cut = time.time(), None
        while time.time() - t0 < 6 and cut is None:
            try:
                if s.recv(4096) == b"":
                    cut = time.time() - t0
            except socket.timeout:
                pass
            except OSError:
                cut = time.time() - t0
        s.close()
        if early.startswith(b"HTTP/1.1 401") and cut is not None and cut < 4:
            ok(f"an idle connection after an early 401 is cut off by the head deadline ({cut:.1f} s)")
        else:
            fail("idle connection after an early 401 cut off", f"answer {early[:40]!r}, cut {cut}")

        # 1c. Pipelined: a watch behind a read, sent together. The read's answer must not start
        # the head deadline while the watch is being answered: the stream outlives it.
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /agents/a/status HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                  b"GET /agents/a/logs/trace?watch=1 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
        got = b""
        s.settimeout(0.2)
        t0, closed_at = time.time(), None
        while time.time() - t0 < 4.0 and closed_at is None:
            try:
                chunk = s.recv(65536)
                if chunk == b"":
                    closed_at = time.time() - t0
                got += chunk
            except socket.timeout:
                pass
            except OSError:
                closed_at = time.time() - t0
        s.close()
        if got.count(b"HTTP/1.1 200") == 2 and b"text/event-stream" in got and closed_at is None:
            ok("a pipelined watch outlives the head deadline (open after 4 s)")
        else:
            fail("pipelined watch outlives the head deadline", f"closed after {closed_at} s, {got.count(b'HTTP/1.1 200')} answers")

        # 2. Traversal and malformed paths, as raw bytes, with GET and with PUT of a valid goal.
        corpus = [
            b"/agents/a/../a/status", b"/agents/a/%2e%2e/status", b"/agents/a/%2E%2e/%2e%2e/etc/passwd",
            b"/agents/a/goals/%2fetc.json", b"/agents/a/goals/..%2f..%2fx.json", b"/agents//a/status",
            b"/agents/a//status", b"/agents/a/goals/x%00.json", b"/agents/a/goals/x\x00.json"[:-6] + b"%00",
            b"/agents/a/goals/" + b"n" * 300 + b".json", b"/agents/a/" + b"d/" * 3000 + b"x",
            b"/agents/a/goals/%ff%fe.json", b"/agents/a/goals/\xff\xfe.json",
            b"/agents/a/goals/%EF%BC%8E%EF%BC%8E.json", b"/agents/a/goals/a%E2%88%95b.json",
            b"/agents/a/goals/%252e%252e.json", b"/agents/A%20B/status", b"/agents/-a/status",
            b"/agents/a%2fb/status", b"/agents/%2e%2e/status", b"/agents/a/goals/.json", b"/agents/a/goals/%09.json",
        ]
        refused = 0
        for path in corpus:
            for method, body in [(b"GET", b""), (b"PUT", b'{"aim":"x"}')]:
                request = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + \
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
                status, resp = raw(port, request)
                shown = path[:60].decode("latin-1")
                if status in (400, 404, 414, 431) and (status != 400 or b'"invalid_path"' in resp or b'"invalid_input"' in resp or not resp):
                    refused += 1
                else:
                    fail(f"refuse {method.decode()} {shown!r}", f"status {status} {resp[:120]!r}")
        ok(f"{refused} of {2 * len(corpus)} malformed-path requests refused with 400/404/414/431")

        # 3. Malformed, huge and truncated bodies.
        status, body = req("PUT", "/agents/a/config", b"{not json")
        if status == 400 and b'"invalid_input"' in body:
            ok("non-JSON to config: 400 invalid_input")
        else:
            fail("non-JSON to config", f"{status} {body[:100]!r}")
        status, _ = req("PUT", "/agents/a/goals/g.json", b"[1, 2")
        ok("non-JSON goal: 400") if status == 400 else fail("non-JSON goal", status)
        status, _ = req("POST", "/agents/a/inbox", b"x" * (2 << 20))
        ok("2 MiB body: 413") if status == 413 else fail("2 MiB body", status)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /agents/a/inbox HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 100\r\n\r\nonly ten b")
        s.close()  # truncated upload
        time.sleep(0.5)
        for chunked in [b"5\r\nhello\r\nZZ\r\n", b"fffffffffffffffffff\r\n"]:  # malformed chunked bodies
            raw(port, b"POST /agents/a/inbox HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n" + chunked, timeout=4)
        status, _ = req("GET", "/agents/a/status")
        ok("agentd still serves after truncated and malformed uploads") if status == 200 else fail("agentd alive", status)

        # Nothing changed.
        after = {f: req("GET", f"/agents/a/{f}")[1] for f in ["config", "inbox", "state"]}
        for f in before:
            ok(f"{f} unchanged") if after[f] == before[f] else fail(f"{f} unchanged", f"{before[f][:80]!r} -> {after[f][:80]!r}")
        ok("goals unchanged") if req("GET", "/agents/a/goals/")[1] == before_goals else fail("goals unchanged", "")
        now_agents = sorted(a["id"] for a in json.loads(req("GET", "/agents")[1]))
        ok("no agent created") if now_agents == before_agents else fail("no agent created", now_agents)
        if proc.poll() is None:
            ok("agentd never crashed")
        else:
            fail("agentd never crashed", f"exit {proc.returncode}")
        log = open(d.log).read()
        if "Fatal error" in log or "Stack dump" in log:
            fail("no stack traces in the log", log[-500:])
    finally:
        d.stop()
    R.finish("hostile HTTP input")


if __name__ == "__main__":
    main()
