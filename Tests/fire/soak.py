#!/usr/bin/env python3
"""Soak: mixed load on one agentd for a while, sampling its RSS, open descriptors and threads.

Load: HTTP senders, manual ticks, SSE watchers that come and go, reads through an agentfs
mount (cat, ls, stat), and agents created and deleted. Every SAMPLE seconds agentd's RSS,
file descriptors and threads are read from /proc. Passes when, after a warm-up of a quarter
of the run, the last third's mean RSS is within 5% of the first
third's (plus --slack-mb for caches still filling in a short run), descriptors and threads end where they were, and no request got a 5xx.
Usage: soak.py --bin DIR [--minutes 2] [--sample 10]
"""
import argparse
import json
import os
import random
import socket
import subprocess
import tempfile
import threading
import time

from firelib import Agentd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--minutes", type=float, default=2)
    p.add_argument("--sample", type=float, default=10)
    p.add_argument("--slack-mb", type=float, default=4, help="RSS growth allowed on top of 5%% (caches filling)")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-soak.")
    data, mnt = os.path.join(work, "data"), os.path.join(work, "mnt")
    os.makedirs(mnt)
    d = Agentd(args.bin, data).start()
    proc, port, token = d.proc, d.port, d.token
    subprocess.run([f"{args.bin}/agentfs", "mount", f"http://127.0.0.1:{port}", mnt, "--token", token], check=True,
                   stdout=subprocess.DEVNULL)
    errors, counts, lock = [], {}, threading.Lock()
    stop = threading.Event()

    def count(what):
        with lock:
            counts[what] = counts.get(what, 0) + 1

    def req(method, path, body=None):
        status = d.request(method, path, body)[0]
        if status >= 500:
            errors.append(f"{method} {path}: {status}")
        return status

    agents = [f"s{i}" for i in range(8)]
    for a in agents:
        req("POST", "/agents", json.dumps({"id": a, "kind": "echo"}).encode())

    def sender(k):
        seq = 0
        while not stop.is_set():
            seq += 1
            req("POST", f"/agents/{random.choice(agents)}/inbox", json.dumps({"from": f"soak{k}", "body": f"m{seq}"}).encode())
            count("sends")

    def ticker():
        while not stop.is_set():
            req("POST", f"/agents/{random.choice(agents)}/tick")
            count("ticks")
            time.sleep(0.02)

    def watcher():
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(f"GET /agents/{random.choice(agents)}/logs/trace?watch=1 HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n".encode())
            end = time.time() + random.uniform(1, 5)
            while time.time() < end and not stop.is_set():
                try:
                    s.recv(65536)
                except socket.timeout:
                    pass
            s.close()
            count("watches")

    def reader():
        while not stop.is_set():
            a = random.choice(agents)
            try:
                open(f"{mnt}/agents/{a}/status").read()
                os.listdir(f"{mnt}/agents/{a}")
                os.stat(f"{mnt}/agents/{a}/outbox")
                open(f"{mnt}/agents/{a}/outbox", "rb").read()
                count("fuse reads")
            except OSError as e:
                errors.append(f"FUSE read: {e}")
            time.sleep(0.01)

    def churn():
        n = 0
        while not stop.is_set():
            n += 1
            a = f"tmp{n}"
            req("POST", "/agents", json.dumps({"id": a, "kind": "echo"}).encode())
            req("POST", f"/agents/{a}/inbox", b"hello")
            req("DELETE", f"/agents/{a}")
            count("agents created and deleted")
            time.sleep(0.05)

    threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(4)]
    threads += [threading.Thread(target=f, daemon=True) for f in [ticker, watcher, watcher, watcher, reader, reader, churn]]
    for t in threads:
        t.start()

    def sample():
        rss, fds, threads = d.proc_status()
        return rss // 1024, fds, threads

    samples = []
    end = time.time() + args.minutes * 60
    while time.time() < end and proc.poll() is None:
        time.sleep(args.sample)
        samples.append(sample())
        print(f"  t={len(samples) * args.sample:5.0f}s  RSS {samples[-1][0]:4d} MB  fds {samples[-1][1]:4d}  threads {samples[-1][2]:3d}", flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    time.sleep(2)
    settled = sample() if proc.poll() is None else None
    subprocess.run([f"{args.bin}/agentfs", "unmount", mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    problems = []
    if proc.poll() is not None:
        problems.append(f"agentd exited with {proc.returncode}")
    else:
        proc.terminate()
        proc.wait(timeout=30)
    warm = samples[len(samples) // 4:]
    third = max(1, len(warm) // 3)
    first = sum(s[0] for s in warm[:third]) / third
    last = sum(s[0] for s in warm[-third:]) / third
    growth = (last - first) / first if first else 0
    if last > first * 1.05 + args.slack_mb:
        problems.append(f"RSS grew {growth * 100:.1f}% ({first:.0f} -> {last:.0f} MB)")
    # A run of an hour or more is also judged by halves: the mean RSS of the second half (the last
    # hour of a 2-hour soak) against the first half's, without the warm-up discount.
    half = len(samples) // 2
    if args.minutes >= 60 and half:
        h1 = sum(s[0] for s in samples[:half]) / half
        h2 = sum(s[0] for s in samples[half:]) / (len(samples) - half)
        print(f"RSS first half {h1:.1f} MB, second half {h2:.1f} MB ({(h2 - h1) / h1 * 100:+.1f}%), "
              f"max {max(s[0] for s in samples)} MB")
        if h2 > h1 * 1.05:
            problems.append(f"RSS of the second half {h2:.1f} MB > first half {h1:.1f} MB + 5%")
    if settled and settled[1] > samples[0][1] + 4:
        problems.append(f"file descriptors grew: {samples[0][1]} -> {settled[1]} after the load stopped")
    if settled and settled[2] > max(s[2] for s in samples):
        problems.append(f"threads grew: {settled[2]}")
    if errors:
        problems.append(f"{len(errors)} errors, e.g. {errors[:3]}")
    print(f"soak {args.minutes:g} min: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"RSS first third {first:.0f} MB, last third {last:.0f} MB ({growth * 100:+.1f}%), "
          f"fds {samples[0][1]} -> {settled[1] if settled else '?'} after the load, "
          f"threads {min(s[2] for s in samples)}..{max(s[2] for s in samples)}")
    for pr in problems:
        print(f"FAIL {pr}")
    print("passed: soak" if not problems else "FAILED: soak")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
