#!/usr/bin/env python3
"""Faults against a live agentd (needs root: it mounts small tmpfs file systems):

  - the disk fills: writes are refused with 503 unavailable (JSON, Retry-After), reads keep
    working, nothing is half-written, and writes work again when space returns;
  - another process holds the database's write lock: the same (after agentd's 5 s busy
    timeout), and it recovers when the lock is released;
  - a tick whose commit meets that lock (and whose failure cannot be recorded either) is tried
    again by agentd itself once the lock is gone: the backlog drains with no further request;
  - a watcher that never reads: agentd's memory stays bounded, ticks go on, and once its
    socket has been full for --stall-timeout the connection is closed.

Usage: faults.py --bin DIR   (prints ok/FAIL lines; exits 1 on any failure)
"""
import argparse
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import time

from firelib import Agentd, Report

R = Report()
ok, fail = R.ok, R.fail


def refused_cleanly(what, result):
    status, body, headers = result
    retry = headers.get("Retry-After")
    try:
        code = json.loads(body)["error"]["code"]
    except Exception:
        code = None
    if status == 503 and code == "unavailable":
        ok(f"{what}: 503 unavailable" + (f", Retry-After {retry}" if retry else ""))
    else:
        fail(what, f"status {status} body {body[:150]!r}")


def fault_cycle(bin_dir, root, name, break_it, fix_it):
    """Runs agentd on a small tmpfs, breaks the file system, checks, repairs, checks."""
    mnt = os.path.join(root, name)
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    d = Agentd(bin_dir, os.path.join(mnt, "data"))
    try:
        d.start()
        d.create("a", config={"inbox": {"max_depth": 1000000}})
        d.request("PUT", "/agents/a/ctl", b"pause")
        for i in range(20):
            d.request("POST", "/agents/a/inbox", json.dumps({"id": f"before-{i}", "body": "x" * 100}).encode())
        depth_before = json.loads(d.request("GET", "/agents/a/status")[1])["queue_depth"]
        break_it(mnt)
        # Writes until one is refused (a full disk may take a few); every refusal must be clean.
        refusal, sent = None, 0
        for i in range(5000):
            r = d.request("POST", "/agents/a/inbox", json.dumps({"id": f"during-{i}", "body": "y" * 2000}).encode())
            if r[0] >= 300:
                refusal = r
                break
            sent += 1
        if refusal is None:
            fail(f"{name}: a write is refused", "5000 writes accepted")
        else:
            refused_cleanly(f"{name}: write refused", refusal)
            small = d.request("PUT", "/agents/a/goals/g.json", b'{"aim":"x"}')
            if small[0] < 300:
                ok(f"{name}: a small goal write still fit ({small[0]})")
            else:
                refused_cleanly(f"{name}: goal write refused", small)
        st = d.request("GET", "/agents/a/status")
        if st[0] == 200:
            depth = json.loads(st[1])["queue_depth"]
            ok(f"{name}: reads keep working (queue_depth {depth}, {sent} accepted before the refusal)")
            if depth != depth_before + sent:
                fail(f"{name}: acknowledged writes are all there", f"depth {depth}, expected {depth_before + sent}")
        else:
            fail(f"{name}: reads keep working", st)
        inbox = d.request("GET", "/agents/a/inbox")
        ok(f"{name}: inbox readable") if inbox[0] == 200 else fail(f"{name}: inbox readable", inbox[0])
        fix_it(mnt)
        time.sleep(0.2)
        r = d.request("POST", "/agents/a/inbox", json.dumps({"id": "after", "body": "z"}).encode())
        R.check(f"{name}: writes work again once repaired", r[0] == 202, r[:2])
        if d.proc.poll() is not None:
            fail(f"{name}: agentd still running", f"exit {d.proc.returncode}")
        d.stop()
        conn = sqlite3.connect(os.path.join(d.data, "agentd.sqlite"))
        ic = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ids = {row[0] for row in conn.execute("SELECT env_id FROM inbox")}
        conn.close()
        ok(f"{name}: integrity_check ok") if ic == "ok" else fail(f"{name}: integrity_check", ic)
        if "after" in ids:
            ok(f"{name}: the write after repair is stored")
        else:
            fail(f"{name}: the write after repair is stored", "missing")
    finally:
        try:
            d.proc.kill()
        except Exception:
            pass
        subprocess.run(["umount", "-l", mnt])


def tick_during_lock(bin_dir, root):
    """A backlog is being worked through when another process takes the write lock: the tick
    whose commit meets it fails after the busy timeout, and so does recording that failure. Once
    the lock is released agentd must retry by itself: nothing but GETs is sent afterwards."""
    d = Agentd(bin_dir, os.path.join(root, "tick-lock-data"))
    d.start()
    holder = None
    try:
        d.create("t", config={"inbox": {"max_depth": 100000}})
        d.request("PUT", "/agents/t/ctl", b"pause")
        n = 3000
        for i in range(n):
            d.request("POST", "/agents/t/inbox", json.dumps({"id": f"m{i}", "body": i}).encode())
        d.request("PUT", "/agents/t/ctl", b"resume")
        holder = sqlite3.connect(os.path.join(d.data, "agentd.sqlite"), isolation_level=None, timeout=10)
        holder.execute("BEGIN EXCLUSIVE")
        depth_at_lock = json.loads(d.request("GET", "/agents/t/status")[1])["queue_depth"]
        if depth_at_lock == 0:
            fail("tick during lock: the lock landed mid-backlog", "the backlog was already drained")
            return
        time.sleep(12)  # the tick's commit and its failure record both time out (5 s each)
        during = json.loads(d.request("GET", "/agents/t/status")[1])
        R.check("tick during lock: nothing commits while locked", during["queue_depth"] == depth_at_lock, during)
        holder.execute("ROLLBACK")
        holder.close()
        holder = None
        deadline = time.time() + 60
        status = during
        while time.time() < deadline:
            status = json.loads(d.request("GET", "/agents/t/status")[1])
            if status["queue_depth"] == 0:
                break
            time.sleep(0.2)
        R.check(f"tick during lock: retried by itself after the lock was released (backlog {depth_at_lock} drained)",
                status["queue_depth"] == 0, f"queue_depth {status['queue_depth']} 60 s after the release")
        outbox = d.request("GET", "/agents/t/outbox")[1].decode().splitlines()
        trajectory = d.request("GET", "/agents/t/logs/trajectory")[1].decode().splitlines()
        R.check("tick during lock: every envelope answered once", len(outbox) == n, f"{len(outbox)} outbox lines for {n} envelopes")
        R.check("tick during lock: tick_count equals the trajectory", status["tick_count"] == len(trajectory),
                f"tick_count {status['tick_count']}, {len(trajectory)} trajectory lines")
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        d.stop()


def never_reading_watcher(bin_dir, root):
    stall = 3
    d = Agentd(bin_dir, os.path.join(root, "watch-data"), "--stall-timeout", str(stall))
    d.start()
    try:
        d.create("w")
        s = socket.create_connection(("127.0.0.1", d.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # The inbox feed carries each envelope's body: 1,500 of 4 KB overfill the kernel's socket
        # buffers (4 MB) and then NIO's, which is when the stall deadline starts.
        s.sendall(f"GET /agents/w/inbox?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {d.token}\r\n\r\n".encode())
        time.sleep(0.5)
        rss = [d.proc_status()[0]]
        body = "p" * 4000
        for batch in range(5):
            for i in range(300):
                d.request("POST", "/agents/w/inbox", f"{body}{batch}-{i}".encode())
            time.sleep(0.5)
            rss.append(d.proc_status()[0])
        deadline = time.time() + 20
        ticks = 0
        while time.time() < deadline:
            ticks = json.loads(d.request("GET", "/agents/w/status")[1])["tick_count"]
            if ticks >= 1500:
                break
            time.sleep(0.2)
        ok(f"ticks unaffected by a watcher that never reads ({ticks} ticks)") if ticks >= 1500 else fail("ticks go on", ticks)
        growth = rss[-1] - rss[1]
        print(f"     RSS samples (KB): {rss}")
        if growth < 64 * 1024:
            ok(f"memory bounded with a never-reading watcher (RSS {rss[1] // 1024} -> {rss[-1] // 1024} MB)")
        else:
            fail("memory bounded", f"RSS grew {growth // 1024} MB")
        # Once the socket has been full for the stall deadline agentd closes it and ends the
        # watch (the client would see EOF only after the 4 MB the kernel still holds for it).
        def watchers():
            metrics = d.request("GET", "/metrics")[1].decode()
            return [float(l.split()[1]) for l in metrics.splitlines() if l.startswith("agentd_watchers ")]
        deadline = time.time() + stall + 15
        while time.time() < deadline and watchers() != [0.0]:
            time.sleep(0.5)
        ok(f"a watcher stalled over --stall-timeout {stall}s is let go (agentd_watchers 0)") if watchers() == [0.0] \
            else fail("stalled watcher let go", f"agentd_watchers {watchers()}")
        served = os.popen(f"ss -tnp state established '( sport = :{d.port} )'").read()
        ok("agentd holds no socket for it") if f"pid={d.proc.pid}" not in served else fail("socket released", served)
        s.close()
    finally:
        d.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="agentns-faults.")

    def fill(mnt):
        free = os.statvfs(mnt)
        with open(os.path.join(mnt, "filler"), "wb") as f:
            f.write(b"\0" * max(0, free.f_bavail * free.f_frsize - 64 * 1024))

    fault_cycle(args.bin, root, "disk-full", fill, lambda mnt: os.unlink(os.path.join(mnt, "filler")))
    holder = {}

    def lock(mnt):  # another process takes the database's write lock and keeps it
        conn = sqlite3.connect(os.path.join(mnt, "data", "agentd.sqlite"), isolation_level=None, timeout=10)
        conn.execute("BEGIN EXCLUSIVE")
        holder["conn"] = conn

    def unlock(mnt):
        holder["conn"].execute("ROLLBACK")
        holder["conn"].close()

    fault_cycle(args.bin, root, "locked", lock, unlock)
    tick_during_lock(args.bin, root)
    never_reading_watcher(args.bin, root)
    R.finish("faults")


if __name__ == "__main__":
    main()
