#!/usr/bin/env python3
"""kill -9 of agentd while an exec agent's program runs its tick, ROUNDS times, against a real
agentd with its real sandbox (bubblewrap, as root).

Each round sends one message to an exec agent whose program sleeps (with a unique marker in
its argv) and then replies. While the program runs (seen in /proc), agentd is killed with
SIGKILL. Checked each round:
  - the program's whole tree dies with agentd (no process with the marker is left);
  - after the restart the tick runs again (at least once) and the reply is committed exactly
    once: one reply in the outbox for the envelope, one successful tick for it in
    logs/trajectory, and the program's own append through /n/self (a message to itself) did
    not make a second reply;
  - nothing was committed by the killed tick: no reply before the restart.
And: a program blocked in a /n/self call past its timeout_ms is answered and dies (the tick
fails in seconds; a DELETE meanwhile is answered at once and ends the exec it waited for); a
graceful stop mid-tick is no failed attempt (the tick runs again and commits once); a host
process (root, or the sandbox user outside a sandbox) is refused the self mount.

    python3 Tests/fire/exec_crash.py --bin .build/debug [--rounds 3]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from firelib import Agentd, Report, lines  # noqa: E402

PROGRAM = r"""#!/bin/sh
# Replies to each message after sleeping MARKER seconds (the marker makes the run findable).
input=$(cat)
ids=$(printf '%s' "$input" | python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)["envelopes"]))')
[ -z "$ids" ] && exit 0
sleep MARKER
for id in $ids; do printf '{"reply":{"to":"%s","body":"done"}}\n' "$id"; done
"""


STUCK = r"""#!/usr/bin/env python3
# Waits, through /n/self, for a containers exec that outlasts the tick's timeout_ms.
import json, os, sys
t = json.load(sys.stdin)
if not any(e["from"] != "containers" for e in t["envelopes"]):
    sys.exit(0)


def call(path, req):
    fd = os.open("/n/self/" + path, os.O_RDWR)
    os.write(fd, json.dumps(req).encode())
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    os.close(fd)
    return json.loads(out)


s = call("containers/new", {})["session_id"]
call(f"containers/sessions/{s}/exec/new", {"argv": ["sleep", "MARKER"], "wait": True, "timeout_ms": 20000})
print(json.dumps({"emit": "never"}))
"""


def marked():
    """Pids of processes whose argv has the marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if MARK.encode() in argv:
            found.append(int(pid))
    return found


def self_mount_path(data):
    """This data directory's self mount (agentd's default sandbox root:
    /var/lib/agentns/sandbox/<FNV-1a of the data directory's real path, hex>/.self)."""
    h = 0xcbf29ce484222325
    for byte in os.path.realpath(data).encode():
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"/var/lib/agentns/sandbox/{h:x}/.self"


def self_mounts(data):
    """How many mounts are at the data directory's self mount."""
    return sum(1 for l in open("/proc/mounts") if l.split()[1] == self_mount_path(data))


def wait(cond, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def main():
    global MARK
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    r = Report()
    if os.geteuid() != 0 or not shutil.which("bwrap"):
        print("skipped: exec agents need root and bubblewrap")
        return
    work = tempfile.mkdtemp(prefix="agentns-exec-crash.")
    os.chmod(work, 0o711)
    d = Agentd(os.path.abspath(args.bin), os.path.join(work, "data"))
    try:
        d.start()
        for n in range(args.rounds):
            MARK = f"3.{os.getpid()}{n:03d}"  # sleep's argument: seconds, and unique
            agent = f"crash{n}"
            body = {"id": agent, "kind": "exec", "program": PROGRAM.replace("MARKER", MARK),
                    "config": {"retry": {"backoff_ms": 100}, "timeout_ms": 60000}}
            s, b, _ = d.request("POST", "/agents", json.dumps(body).encode())
            r.check(f"round {n}: exec agent created", s == 201, (s, b[:300]))
            env = f"m{n}"
            s, _, _ = d.request("POST", f"/agents/{agent}/inbox", json.dumps({"id": env, "body": "go"}).encode())
            r.check(f"round {n}: message accepted", s in (200, 201, 202), s)
            running = wait(marked, 20)
            r.check(f"round {n}: the program is running its tick", bool(running), "no process with the marker")
            d.kill()
            left = wait(lambda: not marked(), 5)
            r.check(f"round {n}: kill -9 of agentd ended the program's tree", left, f"still running: {marked()}")
            d.start()
            _, out, _ = d.request("GET", f"/agents/{agent}/outbox")
            early = [x for x in lines(out) if x.get("in_reply_to") == env]
            r.check(f"round {n}: the killed tick committed nothing", not early, early)
            r.check(f"round {n}: one self mount after the restart (the stale one cleared)", self_mounts(d.data) == 1,
                    self_mounts(d.data))

            def replies():
                _, out, _ = d.request("GET", f"/agents/{agent}/outbox")
                return [x for x in lines(out) if x.get("in_reply_to") == env]
            got = wait(replies, 40)
            r.check(f"round {n}: after the restart the tick ran again and replied", len(got) >= 1, "no reply")
            time.sleep(0.5)
            got = replies()
            r.check(f"round {n}: exactly one reply for the envelope", len(got) == 1, got)
            _, traj, _ = d.request("GET", f"/agents/{agent}/logs/trajectory")
            ok_ticks = [t for t in lines(traj) if env in t.get("envelopes", []) and t.get("outcome") == "ok"]
            r.check(f"round {n}: one committed tick took the envelope", len(ok_ticks) == 1, ok_ticks)
            _, st, _ = d.request("GET", f"/agents/{agent}/status")
            r.check(f"round {n}: the inbox is empty", json.loads(st).get("queue_depth") == 0, st[:300])
        # A program blocked in a /n/self call (waiting for a 20 s exec) past its 1.5 s timeout:
        # its request is answered, so it dies, and the tick ends in seconds, not 20.
        MARK = f"19.{os.getpid()}901"
        body = {"id": "stuck", "kind": "exec", "program": STUCK.replace("MARKER", MARK),
                "config": {"timeout_ms": 1500, "retry": {"max_attempts": 1}}}
        s, b, _ = d.request("POST", "/agents", json.dumps(body).encode())
        r.check("stuck: exec agent created", s == 201, (s, b[:300]))
        t0 = time.time()
        d.request("POST", "/agents/stuck/inbox", json.dumps({"id": "s1", "body": "go"}).encode())
        r.check("stuck: the program is waiting for its exec", bool(wait(marked, 20)), "no exec with the marker")

        def failed():
            _, tr, _ = d.request("GET", "/agents/stuck/logs/trace")
            return [x for x in lines(tr) if x.get("type") == "error"]
        errs = wait(failed, 20)
        took = time.time() - t0
        r.check(f"stuck: the tick failed on its timeout in {took:.1f} s (the exec it waited for runs 20 s)", errs and took < 12,
                (took, errs[:1]))
        r.check("stuck: the error says timeout", errs and "timeout" in errs[0].get("error", ""), errs[:1])
        # Deleting the agent ends its exec too, at once.
        t0 = time.time()
        s, _, _ = d.request("DELETE", "/agents/stuck", timeout=30)
        r.check(f"stuck: DELETE answered in {time.time() - t0:.1f} s", s in (200, 204) and time.time() - t0 < 10, s)
        r.check("stuck: and nothing of the agent runs after it", wait(lambda: not marked(), 5), marked())

        # A program killed for its wall time while it holds a /n/self file open for writing (a
        # goal: written when closed): what it wrote is not committed when the kernel flushes the
        # dying process's files.
        MARK = f"99.{os.getpid()}904"
        half = ("#!/usr/bin/env python3\nimport os, sys\nsys.stdin.read()\n"
                "fd = os.open('/n/self/goals/half.json', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n"
                "os.set_inheritable(fd, True)  # kept open across the exec: flushed only as sleep dies\n"
                "os.write(fd, b'{\"half\": true}')\nos.execvp('sleep', ['sleep', '" + MARK + "'])\n")
        d.request("POST", "/agents", json.dumps({"id": "half", "kind": "exec", "program": half,
                                                  "config": {"timeout_ms": 1000, "retry": {"max_attempts": 1}}}).encode())
        d.request("POST", "/agents/half/inbox", json.dumps({"id": "h1", "body": "go"}).encode())
        r.check("half: the program runs", bool(wait(marked, 20)), "no process with the marker")
        r.check("half: and is killed for its timeout", wait(lambda: not marked(), 10), marked())
        time.sleep(1)
        s, g, _ = d.request("GET", "/agents/half/goals/half.json")
        _, goals, _ = d.request("GET", "/agents/half/goals/")
        r.check("half: the goal it held open unclosed was not committed", s == 404 and b"half.json" not in goals, (s, g[:200], goals[:200]))

        # The same program deleted while it waits: DELETE does not wait for the exec either.
        MARK = f"18.{os.getpid()}902"
        body["id"], body["program"], body["config"] = "stuck2", STUCK.replace("MARKER", MARK), {"timeout_ms": 60000}
        d.request("POST", "/agents", json.dumps(body).encode())
        d.request("POST", "/agents/stuck2/inbox", json.dumps({"id": "s2", "body": "go"}).encode())
        r.check("stuck2: the program is waiting for its exec", bool(wait(marked, 20)), "no exec with the marker")
        t0 = time.time()
        s, _, _ = d.request("DELETE", "/agents/stuck2", timeout=30)
        r.check(f"stuck2: DELETE while the program waits answered in {time.time() - t0:.1f} s", s in (200, 204) and time.time() - t0 < 10, s)
        r.check("stuck2: nothing of the agent runs after it", wait(lambda: not marked(), 5), marked())

        # A graceful stop (SIGTERM) mid-tick: the tick is neither committed nor a failed attempt;
        # it runs again after the restart and commits once.
        MARK = f"3.{os.getpid()}903"
        body = {"id": "term", "kind": "exec", "program": PROGRAM.replace("MARKER", MARK), "config": {"retry": {"max_attempts": 1}}}
        d.request("POST", "/agents", json.dumps(body).encode())
        d.request("POST", "/agents/term/inbox", json.dumps({"id": "t1", "body": "go"}).encode())
        r.check("term: the program is running its tick", bool(wait(marked, 20)), "no process with the marker")
        d.stop()
        r.check("term: agentd stopped and the program with it", wait(lambda: not marked(), 5), marked())
        d.start()

        def term_replies():
            _, out, _ = d.request("GET", "/agents/term/outbox")
            return [x for x in lines(out) if x.get("in_reply_to") == "t1"]
        r.check("term: after the restart the tick ran again and replied", bool(wait(term_replies, 40)), "no reply")
        _, tr, _ = d.request("GET", "/agents/term/logs/trace")
        errs = [x for x in lines(tr) if x.get("type") == "error"]
        _, dl, _ = d.request("GET", "/agents/term/deadletter/count")
        r.check("term: the stop was no failed attempt (no error, nothing dead-lettered with max_attempts 1)",
                not errs and dl.strip() in (b"0", b"0\n"), (errs, dl))

        # The self mount serves /<id> only to the processes of <id>'s running tick: a host
        # process gets EACCES, as root and as the sandbox user alike.
        path = self_mount_path(d.data) + "/crash0/status"
        for who, cmd in (("root", ["cat", path]), ("uid 65534", ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", path])):
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            r.check(f"a host process ({who}) is refused the self mount", p.returncode != 0 and "Permission denied" in p.stderr and not p.stdout,
                    (p.returncode, p.stdout[:200], p.stderr[:200]))
        d.stop()
        r.check("no program left after agentd stopped", not marked(), marked())
        r.check("no self mount left after agentd stopped", self_mounts(d.data) == 0, self_mounts(d.data))
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    r.finish("exec_crash")


MARK = ""
if __name__ == "__main__":
    main()
