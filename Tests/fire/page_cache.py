#!/usr/bin/env python3
"""FUSE reads through the kernel's page cache stay fresh: an HTTP write, acknowledged, then a read
through a real mount, ROUNDS times, and the read must be the file as the write left it.

In process (agentd --mount): zero stale reads. Each round changes one of status (a tick),
config (a PUT whose size swings between a few bytes and a few KiB, so the file grows and shrinks)
or a goal, reads it through the mount at once, then reads it twice more unchanged (the reads the
page cache answers) and sometimes stats it (which renews the kernel's size). `--no-cache` runs the
same rounds on a mount that never caches, as the control.

Remote (agentfs over HTTP, fed by agentd's change stream): the time from an acknowledged write
to the first mount read that shows it, p50/p99 over the rounds; the p99 must be at most 100 ms.

Usage: page_cache.py --bin DIR [--rounds 10000] [--remote-rounds 500]
(prints ok/FAIL lines and figures; exits 1 on any failure)
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import tempfile
import time

from firelib import Agentd, Report

R = Report()
ok, fail, check = R.ok, R.fail, R.check


class Conn:
    """One keep-alive HTTP connection with the operator's token."""

    def __init__(self, d):
        self.d, self.c = d, http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)

    def __call__(self, method, path, body=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.c.request(method, path, body=body, headers={"Authorization": f"Bearer {self.d.token}"})
        r = self.c.getresponse()
        return r.status, r.read()


def fuse_read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        out = b""
        while True:
            chunk = os.read(fd, 1 << 17)
            if not chunk:
                return out
            out += chunk
    finally:
        os.close(fd)


def config_body(i):
    """A config of a size that swings: a few bytes to ~4 KiB."""
    return {"name": f"n{i}", "note": "x" * random.choice([0, 1, 17, 300, 4000, 4097, 9000])}


def change(http, agent, i):
    """One acknowledged write; returns (file, bytes the file must hold now)."""
    kind = i % 3
    if kind == 0:
        st, body = http("POST", f"/agents/{agent}/tick")
        assert st == 200, (st, body)
        return "status", None  # read back below: the answer is the status object, the file its line
    if kind == 1:
        st, body = http("PUT", f"/agents/{agent}/config", config_body(i))
        assert st in (200, 204), (st, body)
        return "config", None
    st, body = http("PUT", f"/agents/{agent}/goals/g.json", {"aim": i, "pad": "y" * random.choice([0, 50, 5000])})
    assert st == 204, (st, body)
    return "goals/g.json", None


def in_process(args, no_cache):
    label = "no-cache" if no_cache else "page cache"
    work = tempfile.mkdtemp(prefix="agentns-pagecache-")
    mnt = os.path.join(work, "m")
    os.mkdir(mnt)
    extra = ["--mount", mnt] + (["--no-cache"] if no_cache else [])
    d = Agentd(args.bin, os.path.join(work, "data"), *extra).start()
    try:
        http = Conn(d)
        d.create("a")
        base = os.path.join(mnt, "agents", "a")
        stale, reads = 0, 0
        examples = []
        started = time.time()
        rounds = args.rounds if not no_cache else max(1, args.rounds // 5)
        for i in range(rounds):
            name, _ = change(http, "a", i)
            # What the file is now, by HTTP (a read changes nothing).
            st, want = http("GET", f"/agents/a/{name}")
            assert st == 200, (st, want)
            for k in range(3):
                got = fuse_read(os.path.join(base, name))
                reads += 1
                if got != want:
                    stale += 1
                    if len(examples) < 3:
                        examples.append(f"round {i} read {k} of {name}: {len(got)} bytes {got[:80]!r}, want {len(want)} {want[:80]!r}")
                if k == 0 and i % 7 == 0:
                    os.stat(os.path.join(base, name))
        took = time.time() - started
        check(f"{label}: {rounds} rounds of HTTP write then FUSE read, {reads} reads, zero stale", stale == 0,
              f"{stale} stale: {examples}")
        print(f"     {label}: {rounds} rounds in {took:.1f} s", flush=True)
        # Unchanged reads: the same bytes every time, and a change after them is seen at once.
        st, want = http("GET", "/agents/a/status")
        same = all(fuse_read(os.path.join(base, "status")) == want for _ in range(200))
        check(f"{label}: 200 reads of an unchanged status are the status", same)
        http("POST", "/agents/a/tick")
        st, want = http("GET", "/agents/a/status")
        check(f"{label}: the next tick is seen by the next read", fuse_read(os.path.join(base, "status")) == want)
        # A file that grows is read whole (SPEC: size is never a lie), with its stat cached.
        os.stat(os.path.join(base, "config"))
        fuse_read(os.path.join(base, "config"))
        http("PUT", "/agents/a/config", {"note": "z" * 20000})
        st, want = http("GET", "/agents/a/config")
        got = fuse_read(os.path.join(base, "config"))
        check(f"{label}: a config that grew to {len(want)} bytes is read whole", got == want, f"{len(got)} bytes")
        sizes = [os.stat(os.path.join(base, "config")).st_size]
        time.sleep(1.1)  # the kernel keeps attributes for the attribute timeout (1 s)
        sizes.append(os.stat(os.path.join(base, "config")).st_size)
        check(f"{label}: its stat says so within the attribute timeout", sizes[-1] == len(want), f"{sizes} want {len(want)}")
        # Deleting the agent: its files are gone from the mount.
        http("DELETE", "/agents/a")
        d.create("a")
        st, want = http("GET", "/agents/a/status")
        check(f"{label}: an agent deleted and made again reads as the new one", fuse_read(os.path.join(base, "status")) == want)
    finally:
        d.stop()
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


def sse_events(d, token, seconds, during):
    """(event, data) pairs of GET /agents?watch=1 read for `seconds` while `during()` runs."""
    import socket
    import threading
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=seconds)
    sock.sendall(f"GET /agents?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    raw = b""
    threading.Timer(0.3, during).start()
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    sock.close()
    events, event = [], None
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            events.append((event, line[6:]))
            event = None
    return events


def change_stream(d):
    http = Conn(d)
    d.create("b")
    st, body = http("POST", "/agents/a/tokens")
    token = json.loads(body)["token"]

    def poke():
        for _ in range(3):
            http2 = Conn(d)
            http2("POST", "/agents/b/tick")
            http2("POST", "/agents/a/tick")
    op = sse_events(d, d.token, 1.5, poke)
    check("change stream: a reset first, then changed events", op[:1] == [("reset", "")] and ("changed", "a") in op and ("changed", "b") in op, op[:8])
    own = sse_events(d, token, 1.5, poke)
    check("change stream: an agent's token is told of its own agent only",
          own[:1] == [("reset", "")] and ("changed", "a") in own and all(e == ("changed", "a") for e in own[1:]), own[:8])


def remote(args):
    work = tempfile.mkdtemp(prefix="agentns-pagecache-remote-")
    mnt = os.path.join(work, "m")
    os.mkdir(mnt)
    d = Agentd(args.bin, os.path.join(work, "data")).start()
    try:
        http = Conn(d)
        d.create("a")
        subprocess.run([f"{args.bin}/agentfs", "mount", d.url, mnt, "--token", d.token], check=True, stdout=subprocess.DEVNULL)
        base = os.path.join(mnt, "agents", "a")
        lags, stale_after = [], 0
        for i in range(args.remote_rounds):
            name, _ = change(http, "a", i)
            acked = time.monotonic()
            st, want = http("GET", f"/agents/a/{name}")
            while True:
                got = fuse_read(os.path.join(base, name))
                if got == want:
                    lags.append(time.monotonic() - acked)
                    break
                if time.monotonic() - acked > 5:
                    stale_after += 1
                    break
            for _ in range(2):  # unchanged: cached or not, the same bytes
                if fuse_read(os.path.join(base, name)) != want:
                    stale_after += 1
        lags.sort()
        p50 = lags[len(lags) // 2] * 1000 if lags else float("inf")
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000 if lags else float("inf")
        print(f"     remote: {len(lags)} rounds, staleness after an acknowledged write p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
        check("remote: every write is seen within 5 s, and unchanged reads never go back", stale_after == 0, f"{stale_after} stale")
        check(f"remote: p99 staleness {p99:.1f} ms <= 100 ms", p99 <= 100)
        change_stream(d)
    finally:
        subprocess.run([f"{args.bin}/agentfs", "unmount", mnt], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        d.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--rounds", type=int, default=10000)
    p.add_argument("--remote-rounds", type=int, default=500)
    p.add_argument("--skip-remote", action="store_true")
    args = p.parse_args()
    random.seed(14)
    in_process(args, no_cache=False)
    in_process(args, no_cache=True)
    if not args.skip_remote:
        remote(args)
    R.finish("page_cache")


if __name__ == "__main__":
    main()
