#!/usr/bin/env python3
"""How many agents one node holds (issue 14, item 4), measured on a real agentd.

  python3 scripts/bench-scale.py --bin <release bin> [--agents 10000000] [--clients 2]

1. Creates N agents over HTTP, 1,000 per `POST /agents` (one transaction each), from a few
   keep-alive connections, and reports the rate with progress on stderr.
2. Stops agentd and measures the database: bytes per agent, and per table and index (dbstat).
3. Starts agentd again: time from exec to its first HTTP answer, and its RSS then.
4. Cold status: reads of agents never read since the start (none in agentd's caches), p50 and
   p99, with the OS page cache warm; then the same after `echo 3 > /proc/sys/vm/drop_caches`
   and a restart (root only), where every read may go to the disk.
Prints each figure with its goal. Bounded: creates stop with an error on the first refusal.
"""
import argparse
import http.client
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import fresh_agentd, log  # noqa: E402


def agent_id(i):
    return f"a{i:08d}"


def create(d, n, clients, kind):
    token = d.token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    batches = list(range(0, n, 1000))
    lock = threading.Lock()
    done = [0]
    failure = []
    t0 = time.monotonic()
    last = [t0]

    def worker(mine):
        try:
            work(mine)
        except Exception as e:  # a dropped connection or a timeout: the run is refused, not reported
            failure.append(f"{type(e).__name__}: {e}")

    def work(mine):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
        for start in mine:
            if failure:
                return
            body = "[" + ",".join(f'{{"id":"{agent_id(i)}","kind":"{kind}"}}' for i in range(start, min(start + 1000, n))) + "]"
            c.request("POST", "/agents", body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            if r.status != 201:
                failure.append(f"batch at {start}: {r.status} {data[:300]!r}")
                return
            with lock:
                done[0] += min(1000, n - start)
                now = time.monotonic()
                if now - last[0] >= 10:
                    last[0] = now
                    log(f"  created {done[0]:,} of {n:,} ({done[0] / (now - t0):,.0f}/s, RSS {d.rss_mb():.0f} MB)")

    threads = [threading.Thread(target=worker, args=(batches[k::clients],)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failure:
        sys.exit("create refused: " + failure[0])
    if done[0] != n:
        sys.exit(f"created {done[0]:,} of {n:,}: the run is refused")
    return time.monotonic() - t0


def cold_reads(d, n, samples, seed):
    token = d.token()
    rng = random.Random(seed)
    ids = [agent_id(i) for i in rng.sample(range(n), min(samples, n))]
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    times = []
    for a in ids:
        t0 = time.perf_counter()
        c.request("GET", f"/agents/{a}/status", headers={"Authorization": f"Bearer {token}"})
        r = c.getresponse()
        r.read()
        times.append(time.perf_counter() - t0)
        if r.status != 200:
            sys.exit(f"GET /agents/{a}/status: {r.status}")
    times.sort()
    return times[len(times) // 2] * 1000, times[min(len(times) - 1, int(len(times) * 0.99))] * 1000


def warm_reads(d, samples):
    """The same agent read again and again: the row cached, what a read costs beyond the store."""
    token = d.token()
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        c.request("GET", f"/agents/{agent_id(0)}/status", headers={"Authorization": f"Bearer {token}"})
        c.getresponse().read()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def table_bytes(db):
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    c.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory with a release agentd")
    ap.add_argument("--agents", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=2, help="connections creating in parallel")
    ap.add_argument("--kind", default="echo")
    ap.add_argument("--samples", type=int, default=2000, help="cold status reads")
    ap.add_argument("--port", type=int, default=5690)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args()
    work, d = fresh_agentd(a.bin, a.port, "agentns-scale.")
    data = d.data
    try:
        d.start()
        log(f"creating {a.agents:,} {a.kind} agents, 1,000 per request, {a.clients} connections (data in {work})")
        secs = create(d, a.agents, a.clients, a.kind)
        rss_after_create = d.rss_mb()
        d.stop()
        db = os.path.join(data, "agentd.sqlite")
        files = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("agentd.sqlite"))
        tables = table_bytes(db)

        startup = d.start()
        rss_start = d.rss_mb()
        p50, p99 = cold_reads(d, a.agents, a.samples, 1)
        w50, w99 = warm_reads(d, a.samples)
        rss_reads = d.rss_mb()
        d.stop()

        disk = None
        try:
            subprocess.run(["sync"], check=True)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            disk_start = d.start()
            disk = (disk_start, *cold_reads(d, a.agents, a.samples, 2), d.rss_mb())
            d.stop()
        except OSError as e:
            log(f"(no reads with the page cache dropped: {e})")

        n = a.agents
        print(f"== {n:,} agents ({a.kind}) on one agentd, release build")
        print(f"create, 1,000 per POST /agents, {a.clients} connections: {n / secs:,.0f} agents/s ({secs:.1f} s), RSS after {rss_after_create:.0f} MB")
        print(f"database: {files / 1e6:,.1f} MB, {files / n:.0f} bytes per agent (goal <= 250)")
        for name, size in tables[:12]:
            print(f"  {name:<28} {size / 1e6:10,.1f} MB  {size / n:7.1f} B/agent")
        print(f"restart: {startup * 1000:.0f} ms to the first answer (goal <= 1000), RSS {rss_start:.1f} MB (goal <= 100)")
        print(f"cold status, {a.samples:,} agents never read since the start, page cache warm: p50 {p50:.3f} ms, p99 {p99:.3f} ms (goal p99 <= 1)")
        print(f"warm status, one agent {a.samples:,} times (the same run's floor): p50 {w50:.3f} ms, p99 {w99:.3f} ms; RSS after the reads {rss_reads:.1f} MB")
        if disk:
            print(f"after drop_caches: restart {disk[0] * 1000:.0f} ms, cold status p50 {disk[1]:.3f} ms, p99 {disk[2]:.3f} ms, RSS {disk[3]:.1f} MB")
    finally:
        d.stop()
        if not a.keep:
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
