#!/usr/bin/env python3
"""Every log at and past retention, through a real agentd started with a small --log-retain.

For outbox, logs/trace and logs/trajectory, at retention and well past it: the HTTP whole read,
HTTP reads by offset in chunks of several sizes reassembled (each chunk goes on from its
X-Offset), and `cat`, `wc -l` and `grep -c ''` on the in-process mount (agentd --mount) and on
the remote mount (agentfs) must all give the store's retained records, each once, in order.
Then `tail -f` on both mounts follows outbox and trajectory while more messages prune the logs
under it: each new record once, in order. Regression: `cat logs/trace` on a mount repeated the
retained tail once the log had been pruned.
Usage: log_retention.py --bin DIR [--retain N] [--messages N]
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

from firelib import Agentd, Report

R = Report()
LOGS = ["outbox", "logs/trace", "logs/trajectory"]


def http_lines(d, path):
    status, body, _ = d.request("GET", f"/agents/p/{path}")
    assert status == 200, (path, status, body[:200])
    return body


def chunked(d, path, chunk):
    out, offset = b"", 0
    while True:
        status, body, headers = d.request("GET", f"/agents/p/{path}?offset={offset}&count={chunk}")
        if status != 200:
            raise AssertionError(f"{path} offset={offset}: {status} {body[:200]!r}")
        if not body:
            return out
        begins = int(headers["X-Offset"])
        if begins < offset:
            raise AssertionError(f"{path}: X-Offset {begins} below the offset asked for, {offset}")
        out += body
        offset = begins + len(body)


def drained(d, want_ticks=None, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        s = json.loads(d.request("GET", "/agents/p/status")[1])
        if s["queue_depth"] == 0:
            return True
        time.sleep(0.05)
    return False


def send(d, texts):
    for t in texts:
        status, body, _ = d.request("POST", "/agents/p/send", t.encode())
        assert status == 202, (status, body)


def shell(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, timeout=60).stdout


def check_reads(d, mounts, round_name, sent, pruned):
    for log in LOGS:
        whole = http_lines(d, log)
        lines = whole.decode().splitlines()
        R.check(f"[{round_name}] {log}: no duplicate records over HTTP", len(set(lines)) == len(lines), f"{len(lines) - len(set(lines))} duplicates")
        if pruned:
            R.check(f"[{round_name}] {log}: pruned ({len(lines)} records kept)", len(lines) < sent * (1 if log != "logs/trace" else 3), len(lines))
        for chunk in [13, 333, 4096, 65536]:
            got = chunked(d, log, chunk)
            R.check(f"[{round_name}] {log}: HTTP offsets in chunks of {chunk} reassemble the whole read", got == whole,
                     f"{len(got.splitlines())} lines, want {len(lines)}")
        for name, mnt in mounts:
            path = f"{mnt}/agents/p/{log}"
            cat = shell(f"cat '{path}'")
            R.check(f"[{round_name}] {log}: cat on the {name} mount equals HTTP", cat == whole,
                    f"{len(cat.splitlines())} lines ({len(cat.splitlines()) - len(set(cat.splitlines()))} duplicated), want {len(lines)}")
            wc = shell(f"wc -l < '{path}'").strip()
            R.check(f"[{round_name}] {log}: wc -l on the {name} mount", wc == str(len(lines)).encode(), f"{wc!r} want {len(lines)}")
            grep = shell(f"grep -c '' '{path}'").strip()
            R.check(f"[{round_name}] {log}: grep -c on the {name} mount", grep == str(len(lines)).encode(), f"{grep!r} want {len(lines)}")
            grep_r = shell(f"grep -r -c '' '{mnt}/agents/p/logs'").decode()
            if log == "logs/trace":
                want_line = f"{mnt}/agents/p/logs/trace:{len(lines)}"
                R.check(f"[{round_name}] grep -r on the {name} mount counts the retained trace", want_line in grep_r.splitlines(), grep_r)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--retain", type=int, default=20)
    p.add_argument("--messages", type=int, default=600)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-retention.")
    inproc, remote = f"{work}/in", f"{work}/remote"
    os.makedirs(inproc)
    os.makedirs(remote)
    d = Agentd(args.bin, f"{work}/data", "--log-retain", str(args.retain), "--mount", inproc)
    tails = []
    try:
        d.start()
        subprocess.run([f"{args.bin}/agentfs", "mount", d.url, remote, "--token", d.token], check=True, capture_output=True, timeout=30)
        mounts = [("in-process", inproc), ("remote", remote)]
        status, body, _ = d.create("p")
        R.check("create the agent", status == 201, body)
        send(d, [f"m{i}" for i in range(args.retain)])
        R.check("drained at retention", drained(d))
        check_reads(d, mounts, "at retention", args.retain, pruned=False)
        send(d, [f"m{i}" for i in range(args.retain, args.messages)])
        R.check("drained past retention", drained(d))
        check_reads(d, mounts, "past retention", args.messages, pruned=True)
        bodies = [json.loads(l)["body"] for l in http_lines(d, "outbox").decode().splitlines()]
        numbers = [int(b[1:]) for b in bodies]
        R.check("the outbox keeps a run of the newest replies", numbers == list(range(args.messages - len(numbers), args.messages)), numbers[:5])

        # tail -f on both mounts while more messages prune the logs under it.
        for name, mnt in mounts:
            for log in ["outbox", "logs/trajectory"]:
                out = open(f"{work}/tail-{name}-{log.replace('/', '-')}", "wb")
                tails.append((name, log, out.name, subprocess.Popen(["tail", "-s", "0.2", "-f", f"{mnt}/agents/p/{log}"], stdout=out, stderr=subprocess.STDOUT)))
        time.sleep(1.5)
        before = {log: http_lines(d, log).decode().splitlines() for log in ["outbox", "logs/trajectory"]}
        # Paced so that tail (polling every 0.2 s) stays within the retention: a follower that
        # falls further behind than --log-retain records loses what was pruned, as it must.
        # 5 records a second against a retention of 20 leaves a follower 4 s of slack, so a
        # loaded CI machine does not make tail fall out of the window (0.25 s pacing did).
        extra = 60
        for start in range(0, extra, 5):
            send(d, [f"t{i}" for i in range(start, start + 5)])
            time.sleep(1.0)
        R.check("drained while followed", drained(d))
        time.sleep(2)
        for name, log, path, proc in tails:
            proc.terminate()
            proc.wait()
            seen = open(path).read().splitlines()
            R.check(f"tail -f {log} on the {name} mount: no duplicates", len(set(seen)) == len(seen), f"{len(seen) - len(set(seen))} duplicated")
            first = before[log][-10:]
            R.check(f"tail -f {log} on the {name} mount starts with the last 10 records", seen[:10] == first, seen[:3])
            new = seen[10:]
            if log == "outbox":
                got = [json.loads(l)["body"] for l in new]
                R.check(f"tail -f outbox on the {name} mount follows every new reply once, in order", got == [f"t{i}" for i in range(extra)],
                        f"{len(got)} lines, first {got[:3]}")
            else:
                def tick(line):  # the tick number: `tick` (or `id`, should trajectory lines be renamed)
                    record = json.loads(line)
                    return record.get("tick", record.get("id"))
                ticks = [tick(l) for l in new]
                start = tick(first[-1]) + 1
                R.check(f"tail -f trajectory on the {name} mount follows every new tick once, in order",
                        ticks == list(range(start, start + len(ticks))) and len(ticks) > 0, f"{len(ticks)} ticks from {ticks[:3]}")
        status, body, _ = d.request("GET", "/agents/p/status")
        R.check("agentd still serving", status == 200, status)
    finally:
        for _, _, _, proc in tails:
            if proc.poll() is None:
                proc.kill()
        subprocess.run([f"{args.bin}/agentfs", "unmount", remote], capture_output=True, timeout=30)
        d.stop()
        for m in (remote, inproc):
            if any(l.split()[1] == m for l in open("/proc/mounts")):
                subprocess.run(["umount", "-l", m])
        shutil.rmtree(work, ignore_errors=True)
    R.finish("log_retention")


if __name__ == "__main__":
    main()
