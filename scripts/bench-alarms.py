#!/usr/bin/env python3
"""Agents that are awake (issue 14, item 4): N counter agents, each with an alarm every second,
on a real release agentd, and how late their ticks start.

  python3 scripts/bench-alarms.py --bin <release bin> [--agents 10000] [--seconds 60]

The agents are created 100 per request, the requests paced over one second, so that their
alarms fall due in about 100 phases across the second, as a fleet made over time would. With
--one-phase they are echo agents whose config alarm has one `at` for all (3 s after the start,
then every second): every alarm due in the same millisecond, the worst case. After a
warm-up, for --seconds: ticks/s (the sum of tick_count), agentd's CPU (user + system, in cores),
and the tick lag of every alarm tick of --sample agents: `late_ms` of their `tick_start` trace
records (tick started minus the earliest alarm it answers fell due), p50, p99 and max. Goal:
p99 <= 100 ms at 10,000 agents.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import fresh_agentd, log  # noqa: E402


def get(d, path):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    c.request("GET", path, headers={"Authorization": f"Bearer {d.token()}"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"GET {path}: {r.status} {data[:200]!r}")
    return data


def total_ticks(d):
    return sum(a["tick_count"] for a in json.loads(get(d, "/agents")))


def iso_ms(s):
    # 2026-12-03T19:01:02.345Z
    from datetime import datetime, timezone
    return datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc).timestamp() * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory with a release agentd")
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=60, help="the measured window")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--sample", type=int, default=2000, help="agents whose traces are read for the lag")
    ap.add_argument("--one-phase", action="store_true", help="every alarm due in the same millisecond")
    ap.add_argument("--port", type=int, default=5691)
    a = ap.parse_args()
    work, d = fresh_agentd(a.bin, a.port, "agentns-alarms.")
    try:
        d.start()
        token = d.token()
        ids = [f"t{i:06d}" for i in range(a.agents)]
        per = a.agents if a.one_phase else max(1, a.agents // 100)
        chunks = [ids[i:i + per] for i in range(0, len(ids), per)]
        log(f"creating {a.agents:,} agents (1 s alarms), {len(chunks)} requests" + ("" if a.one_phase else " paced over 1 s"))
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
        t0 = time.monotonic()
        phase = int(time.time() * 1000) + 3000
        one = {"alarms": [{"id": "beat", "at": phase, "every_ms": 1000}]}
        for k, chunk in enumerate(chunks):
            for part in range(0, len(chunk), 1000):  # a request takes at most 1,000
                body = json.dumps([{"id": i, "kind": "echo", "config": one} if a.one_phase else {"id": i, "kind": "counter"}
                                   for i in chunk[part:part + 1000]])
                c.request("POST", "/agents", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                r = c.getresponse()
                out = r.read()
                if r.status != 201:
                    sys.exit(f"create: {r.status} {out[:300]!r}")
            wait = t0 + (k + 1) / len(chunks) - time.monotonic()
            if wait > 0 and not a.one_phase:
                time.sleep(wait)
        made = time.monotonic() - t0
        log(f"created in {made:.2f} s; warm-up {a.warmup} s")
        time.sleep(a.warmup)
        ticks0, cpu0, w0 = total_ticks(d), d.cpu_seconds(), time.time() * 1000
        log(f"measuring {a.seconds} s")
        time.sleep(a.seconds)
        ticks1, cpu1, w1 = total_ticks(d), d.cpu_seconds(), time.time() * 1000
        rss = d.rss_mb()
        window = (w1 - w0) / 1000
        lags = []
        step = max(1, a.agents // a.sample)
        for i in ids[::step][:a.sample]:
            for line in get(d, f"/agents/{i}/logs/trace").splitlines():
                r = json.loads(line)
                if r.get("type") == "tick_start" and "late_ms" in r and w0 <= iso_ms(r["at"]) <= w1:
                    lags.append(r["late_ms"])
        lags.sort()
        if not lags:
            sys.exit("no alarm ticks in the window: nothing to measure (is late_ms in tick_start?)")
        rate = (ticks1 - ticks0) / window
        print(f"== {a.agents:,} {'echo' if a.one_phase else 'counter'} agents, an alarm each every 1 s ({'one phase' if a.one_phase else f'{len(chunks)} phases'}), "
              f"release agentd, {window:.0f} s measured")
        print(f"ticks: {rate:,.0f}/s (due: {a.agents:,}/s; {rate / a.agents:.2f} of them), agentd CPU {(cpu1 - cpu0) / window:.2f} cores "
              f"({(cpu1 - cpu0) / max(1, ticks1 - ticks0) * 1e6:.0f} us per tick), RSS {rss:.0f} MB")
        print(f"tick lag (due -> started), {len(lags):,} alarm ticks of {len(ids[::step][:a.sample]):,} agents: "
              f"p50 {lags[len(lags) // 2]} ms, p99 {lags[int(len(lags) * 0.99)]} ms, max {lags[-1]} ms (goal p99 <= 100)")
    finally:
        d.stop()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
