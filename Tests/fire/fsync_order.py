#!/usr/bin/env python3
"""When agentd flushes, against what it tells clients: a real agentd on a disk whose flush the
test holds or fails (scripts/fsync-delay.c preloaded, FSYNC_HOLD / FSYNC_FAIL / FSYNC_LOG).

kill -9 cannot see this: the OS keeps a commit that was never flushed, so a crash test passes
whether agentd waits for the flush or not. Holding the flush can: while the disk's flush of the
database's log does not return,
- no send is acknowledged and no watcher is told of it (a send's 202 and its watch event come
  only after the flush that covers it: power loss cannot take back what a client was told);
- the flush that is being waited for is of the write-ahead log (agentd.sqlite-wal);
- reads are still answered (a stalled disk does not stop GET);
- once the flush returns, every held send is acknowledged and every watcher gets each one once.
Then a flush that fails (EIO): the writes it covered are refused with `unavailable`, and so is
every later write until agentd restarts (after a failed flush the kernel may have dropped the
pages, and a later flush that succeeds proves nothing); reads go on; after a restart on a good
disk, writes work and a retried envelope id is not enqueued twice.

Usage: fsync_order.py --bin DIR  (prints ok/FAIL lines; exits 1 on any failure)
"""
import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

from firelib import Agentd, Report, call, short, wait_for

R = Report()
ok, fail, check = R.ok, R.fail, R.check


class Stream:
    """One SSE connection's `record` event ids, read on its own thread."""

    def __init__(self, d, path):
        self.ids, self.raw = [], b""
        self.sock = socket.create_connection(("127.0.0.1", d.port))
        self.sock.sendall(f"GET {path}?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {d.token}\r\n\r\n".encode())
        self.lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.raw += data

    def bodies(self):
        """The `data:` payloads of record events seen so far (chunk framing ignored: the test's
        records are short and each arrives in one chunk)."""
        with self.lock:
            text = self.raw.decode(errors="replace")
        out = []
        for block in text.split("\n\n"):
            if "event: record" in block:
                out += [l[len("data: "):] for l in block.splitlines() if l.startswith("data: ")]
        return out

    def close(self):
        self.sock.close()


def send(d, agent, body, results, i):
    try:
        results[i] = call(d, "POST", f"/agents/{agent}/inbox", body, timeout=30)
    except Exception as e:  # noqa: BLE001 - the test reports what happened
        results[i] = (0, str(e).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-fsync-")
    shim = os.path.join(work, "fsync-delay.so")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(root, "scripts/fsync-delay.c"), "-ldl"], check=True)
    log, hold, failing = (os.path.join(work, n) for n in ("flushes.log", "hold", "fail"))
    data = os.path.join(work, "data")
    d = Agentd(args.bin, data)
    d.env = dict(os.environ, LD_PRELOAD=shim, FSYNC_DELAY_US="0", FSYNC_LOG=log, FSYNC_HOLD=hold, FSYNC_FAIL=failing)
    d.start()
    try:
        st, body, _ = d.create("a", "echo", {"inbox": {"max_depth": 10000}})
        check("create an agent", st in (200, 201), short(body))
        # Pause it: its ticks would be more writes to hold; this test is about the sends.
        st, body = call(d, "POST", "/agents/a/ctl", "pause")
        check("pause it", st in (200, 202, 204), short(body))
        watch = Stream(d, "/agents/a/inbox")
        time.sleep(0.3)

        # 1. A held flush: nothing acknowledged, nothing published, reads answered.
        open(log, "w").close()
        open(hold, "w").close()
        n = 8
        results = [None] * n
        senders = [threading.Thread(target=send, args=(d, "a", json.dumps({"id": f"held-{i}", "body": f"m{i}"}), results, i)) for i in range(n)]
        for t in senders:
            t.start()
        held = wait_for(lambda: [l for l in open(log).read().splitlines() if l.startswith("held ")], 10)
        check("a send waits on a flush", bool(held), f"no flush was held in 10 s; flushes: {open(log).read()[-500:]!r}")
        if held:
            target = held[0][len("held "):]
            check("the flush waited for is of the write-ahead log", target.endswith("/agentd.sqlite-wal"), target)
        time.sleep(0.7)
        answered = [r for r in results if r is not None]
        check("no send is acknowledged while its flush is held", not answered, f"{len(answered)} answered: {answered[:2]}")
        seen = [b for b in watch.bodies() if "held-" in b]
        check("no watcher is told of a send while its flush is held", not seen, f"{len(seen)} seen: {seen[:2]}")
        t0 = time.time()
        try:
            st, body = call(d, "GET", "/agents/a/status", timeout=5)
            check("reads are answered while a flush is held", st == 200 and time.time() - t0 < 5, f"{st} {short(body)}")
        except OSError as e:
            fail("reads are answered while a flush is held", str(e))
        os.unlink(hold)
        for t in senders:
            t.join(15)
        statuses = [r[0] if r else None for r in results]
        check("every held send is acknowledged once the flush returns", statuses == [202] * n, str(statuses))
        got = wait_for(lambda: len([b for b in watch.bodies() if "held-" in b]) >= n, 10)
        mine = [json.loads(b)["id"] for b in watch.bodies() if "held-" in b]
        check("the watcher gets each held send once", got and sorted(mine) == sorted(f"held-{i}" for i in range(n)), str(mine))

        # 2. A failed flush: the writes it covered and every later write are refused.
        open(failing, "w").close()
        st, body = call(d, "POST", "/agents/a/inbox", json.dumps({"id": "lost-1", "body": "x"}))
        check("a write whose flush fails is refused with unavailable", st == 503 and "unavailable" in short(body, 2000), f"{st} {short(body)}")
        check("the refusal says what to do", "restart" in short(body, 2000), short(body))
        os.unlink(failing)
        st, body = call(d, "POST", "/agents/a/inbox", json.dumps({"id": "later-1", "body": "y"}))
        check("every later write is refused until a restart", st == 503, f"{st} {short(body)}")
        st, body = call(d, "GET", "/agents/a/status")
        check("reads go on after a failed flush", st == 200, f"{st} {short(body)}")
        watch.close()

        # 3. A restart on a good disk: writes work, and a retried id is not enqueued twice.
        d.stop()
        d.start()
        st, body = call(d, "POST", "/agents/a/inbox", json.dumps({"id": "lost-1", "body": "x"}))
        check("after a restart a retried write is acknowledged", st == 202, f"{st} {short(body)}")
        st, body = call(d, "POST", "/agents/a/inbox", json.dumps({"id": "after-1", "body": "z"}))
        check("after a restart new writes are acknowledged", st == 202, f"{st} {short(body)}")
        st, body = call(d, "GET", "/agents/a/inbox")
        ids = [json.loads(l)["id"] for l in body.decode().splitlines() if l.strip()]
        check("the retried envelope is in the inbox once", ids.count("lost-1") == 1, str(ids))
        check("the held sends are all in the inbox", all(f"held-{i}" in ids for i in range(n)), str(ids))
    finally:
        d.stop()
    R.finish("fsync_order")


if __name__ == "__main__":
    main()
