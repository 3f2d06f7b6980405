#!/usr/bin/env python3
"""Crash under load: concurrent senders, continuous ticks, SIGKILL of agentd at a random moment.

Each round creates fresh echo agents, starts SENDERS threads that each send numbered envelopes
(own sender id, own sequence) over HTTP, or through an agentfs mount with --via fuse, retrying
the same envelope id after a timeout or a refused connection, and now and then resending an
acknowledged one on purpose. A ticker thread posts manual ticks. At a random moment agentd gets
SIGKILL; it is restarted on the same data and port, the round's agents are paused, and then:

  - every acknowledged envelope is pending in the inbox, answered in the outbox, or
    dead-lettered: none missing;
  - no envelope was answered twice;
  - each sender's envelopes were answered in the order they were acknowledged;
  - PRAGMA integrity_check is ok (checked while agentd is down);
  - each agent's tick_count equals the lines of its logs/trajectory.

Prints one line of counts per round; exits 1 on any violation.
Usage: crash_load.py --bin DIR [--rounds 5] [--senders 64] [--agents 16] [--via http|fuse]
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from firelib import Agentd, lines


class Sender(threading.Thread):
    """Sends envelopes {id, from, body} until told to stop; records what was acknowledged."""

    def __init__(self, d, agent, sender, stop, via, mount):
        super().__init__(daemon=True)
        self.d, self.agent, self.sender, self.stop, self.via, self.mount = d, agent, sender, stop, via, mount
        self.acked = []  # envelope ids, in the order they were acknowledged
        self.retries = self.duplicates = 0

    def send(self, envelope):
        body = json.dumps(envelope).encode()
        if self.via == "fuse":
            fd = os.open(f"{self.mount}/agents/{self.agent}/inbox", os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, body)
            finally:
                os.close(fd)  # the commit; its error is the close's
            return True
        status, _, _ = self.d.request("POST", f"/agents/{self.agent}/inbox", body, timeout=2)
        return status in (200, 201, 202)

    def run(self):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            envelope = {"id": f"{self.sender}-{seq}", "from": self.sender, "body": str(seq)}
            while not self.stop.is_set():
                try:
                    if self.send(envelope):
                        self.acked.append(envelope["id"])
                        break
                except OSError:
                    self.retries += 1  # timeout, refused, EIO: retry the same id
                    time.sleep(0.05)
            else:
                return
            if random.random() < 0.05:  # a deliberate resend of an acknowledged envelope
                try:
                    self.send(envelope)
                    self.duplicates += 1
                except OSError:
                    pass


def check_round(d, agents, senders, round_no):
    problems = []
    answered, pending, dead = {}, set(), set()
    order = {}  # sender -> answered sequence numbers in outbox order
    for a in agents:
        d.request("PUT", f"/agents/{a}/ctl", b"pause")
    time.sleep(0.3)  # a tick already running finishes; paused agents start no new ones
    for a in agents:
        _, inbox, _ = d.request("GET", f"/agents/{a}/inbox")
        pending |= {e["id"] for e in lines(inbox)}
        _, outbox, _ = d.request("GET", f"/agents/{a}/outbox")
        for e in lines(outbox):
            rid = e.get("in_reply_to")
            if rid is None:
                continue
            answered[rid] = answered.get(rid, 0) + 1
            sender, seq = rid.rsplit("-", 1)
            order.setdefault(sender, []).append(int(seq))
        status, listing, _ = d.request("GET", f"/agents/{a}/deadletter/list")
        if status == 200:
            for e in lines(listing):
                dead.add(e.get("id") or e.get("envelope", {}).get("id"))
        _, st, _ = d.request("GET", f"/agents/{a}/status")
        ticks = json.loads(st)["tick_count"]
        _, traj, _ = d.request("GET", f"/agents/{a}/logs/trajectory")
        if ticks != len(lines(traj)):
            problems.append(f"{a}: tick_count {ticks} but {len(lines(traj))} trajectory lines")
    acked = [i for s in senders for i in s.acked]
    missing = [i for i in acked if i not in answered and i not in pending and i not in dead]
    twice = [i for i, n in answered.items() if n > 1]
    disorder = [s for s, seqs in order.items() if seqs != sorted(seqs)]
    if missing:
        problems.append(f"{len(missing)} acknowledged envelopes missing, e.g. {missing[:5]}")
    if twice:
        problems.append(f"{len(twice)} envelopes answered twice, e.g. {twice[:5]}")
    if disorder:
        problems.append(f"per-sender order broken for {disorder[:5]}")
    counts = dict(acknowledged=len(acked), answered=len(answered), pending=len(pending), dead_lettered=len(dead),
                  retries=sum(s.retries for s in senders), deliberate_resends=sum(s.duplicates for s in senders))
    return counts, problems


def integrity(path):
    conn = sqlite3.connect(path)
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--senders", type=int, default=64)
    p.add_argument("--agents", type=int, default=16)
    p.add_argument("--via", choices=["http", "fuse"], default="http")
    p.add_argument("--min-run", type=float, default=1.0, help="seconds of load before the kill, at least")
    p.add_argument("--max-run", type=float, default=3.0)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-crash.")
    d = Agentd(args.bin, os.path.join(work, "data"))
    d.start()
    mount, mounter = os.path.join(work, "mnt"), None
    if args.via == "fuse":
        os.makedirs(mount)
        subprocess.run([f"{args.bin}/agentfs", "mount", f"http://127.0.0.1:{d.port}", mount, "--token", d.token,
                        "--timeout", "2"], check=True, stdout=subprocess.DEVNULL)
    failed = 0
    totals = {}
    try:
        for r in range(1, args.rounds + 1):
            agents = [f"r{r}a{i}" for i in range(args.agents)]
            for a in agents:
                d.create(a, config={"inbox": {"max_depth": 100000}})
            stop = threading.Event()
            senders = [Sender(d, agents[k % len(agents)], f"r{r}s{k}", stop, args.via, mount) for k in range(args.senders)]
            for s in senders:
                s.start()

            def ticker():
                while not stop.is_set():
                    try:
                        d.request("POST", f"/agents/{random.choice(agents)}/tick", timeout=1)
                    except OSError:
                        time.sleep(0.05)
            t = threading.Thread(target=ticker, daemon=True)
            t.start()
            time.sleep(random.uniform(args.min_run, args.max_run))
            d.kill()  # SIGKILL mid-load
            time.sleep(0.2)
            stop.set()
            for s in senders:
                s.join(timeout=10)
            t.join(timeout=5)
            ok = integrity(os.path.join(d.data, "agentd.sqlite"))
            d.start()
            counts, problems = check_round(d, agents, senders, r)
            if ok != "ok":
                problems.append(f"integrity_check: {ok}")
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            line = ", ".join(f"{k} {v}" for k, v in counts.items())
            print(f"round {r} ({args.via}): {line}, integrity {ok}, violations {len(problems)}", flush=True)
            for pr in problems:
                print(f"  VIOLATION {pr}", flush=True)
            failed += len(problems)
    finally:
        if mounter is None and args.via == "fuse":
            subprocess.run([f"{args.bin}/agentfs", "unmount", mount], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            d.stop()
        except Exception:
            d.kill()
    print(f"total ({args.rounds} rounds, {args.via}): " + ", ".join(f"{k} {v}" for k, v in totals.items()) + f", violations {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
