#!/usr/bin/env python3
"""exec agents under fire: the examples, the effects contract, /n/self confinement and 100
agents at once, against a real agentd on a real port with its real sandbox (bubblewrap, as
root), everything over HTTP; Tests/support/fake_openai.py is the model provider.

The examples, unchanged from examples/ (each created with its program in POST /agents):
  - echo.sh answers a message (text and a JSON body) with its body, in_reply_to the message;
  - scout.py (model `echo`, from its compute/policy; it answers with the message itself):
    "ADD: ..." lines become goals (goals/<id>.json), "DONE: ..." removes one; each message gets
    one reply with the list, and the job notices from compute get none;
  - coder.py (model `code`, named in its config: a function and its test in two fenced blocks):
    the reply carries the test's output from a containers session ("3 checks passed\\n", exit
    0) and the session is stopped; neither the job's notice nor the exec's notice is answered.
The program file: PUT replaces it (operator), GET returns the bytes, the agent's own token
  reads it and cannot write it (403).
Effects (each program prints effects before it fails; state, outbox and goals are compared
  before and after):
  - exit 1: nothing committed, the trace has an `error` per attempt and the program's stderr;
    after retry.max_attempts (3) attempts the envelope is in deadletter/;
  - a malformed effect line: nothing committed, the error names the line number;
  - a program sleeping past config.timeout_ms: nothing committed, the error says timeout, and
    no process with the program's marker in its command line is left (the scan sees them while
    the tick runs: the control);
  - with max_attempts 1 the malformed and the timed-out envelopes are dead-lettered at once.
/n/self from inside a program (it reports what it found as `emit` effects; the test judges):
  - `cat /n/self/status` is its own status; `ls /n/self/..` shows `self` and no other agent;
    `/n/self/../<other>` (and variants) fails; no file anywhere in the sandbox is named after
    the other agent or holds its secret goal;
  - writing /n/self/config fails with EACCES (Permission denied) and config is unchanged;
  - identity/sign answers a signature that identity/verify accepts; no 64-hex string readable
    anywhere in /n/self, /work, /tmp, /run, /var, /etc or the environment is the private key
    (compared by SHA-256; the public key is found that way: the control), nor the operator token;
  - a write to /n/self/inbox is an ordinary send: the envelope, from the agent itself, arrives
    in a later tick;
  - `echo tick > /n/self/ctl` inside a tick returns within 3 s, the tick ends within 5 s, and a
    manual tick follows (no deadlock);
  - agentd's data directory and token file are absent inside; connecting to agentd's port (and
    the model's) fails; stderr lines reach the trace as `stderr` records.
Escapes (the containers corpus, from a program): not root, no capabilities; mount, unshare
  (user, mount, net), a remount of /usr, signalling agentd and writes to /usr, /etc and / fail
  while /tmp and /work are writable; only its own processes are visible; after the tick no
  process it started (setsid, nohup, a double-forked daemon) is alive.
Load: 100 exec agents running examples/echo.sh, 10 messages each, sent from 16 threads (one
  thread sends one agent's messages in order) while the agents are paused, then all resumed at
  once so that they tick together: every message answered exactly once, in order; then `DELETE /agents/<id>` of all of them: no process of theirs (AGENT_ID in
  /proc/*/environ, echo.sh's awk text in /proc/*/cmdline), no mount under the sandbox root but
  agentd's own self mount and no work directory of theirs with anything in it; after agentd
  stops, no process and no mount at all.

Usage: exec_agents.py --bin DIR [--only PHASE,...]
"""
import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from firelib import OP, Agentd, Report, call, describe, js, lines, short, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FAKE = os.path.join(ROOT, "Tests", "support", "fake_openai.py")
EXAMPLES = os.path.join(ROOT, "examples")
R = Report()
RUN = secrets.token_hex(4)
# echo.sh runs as awk with its program text in argv: this piece of it marks its processes.
ECHO_MARK = b"function items(t, k, v,"


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def create_exec(d, agent, program, config=None):
    s, data = call(d, "POST", "/agents", {"id": agent, "kind": "exec", "config": config or {}, "program": program})
    if s not in (200, 201):
        R.fail(f"create exec agent {agent}", f"{s} {short(data)}")
    return s


def send(d, agent, body, eid=None):
    """The envelope id of one message to agent (an explicit id when given)."""
    env = {"body": body}
    if eid:
        env["id"] = eid
    s, data = call(d, "POST", f"/agents/{agent}/inbox", env)
    return js(data).get("id") if s in (200, 201, 202) else None


def records(d, agent, log):
    s, data = call(d, "GET", f"/agents/{agent}/{log}")
    return lines(data) if s == 200 else []


def replies(d, agent):
    return [r for r in records(d, agent, "outbox") if r.get("type") == "reply"]


def emitted(d, agent, probe):
    return [r for r in records(d, agent, "outbox") if r.get("probe") == probe]


def errors(d, agent):
    return [r for r in records(d, agent, "logs/trace") if r.get("type") == "error"]


def status(d, agent):
    return js(call(d, "GET", f"/agents/{agent}/status")[1])


def drained(d, agent):
    """Nothing pending and no tick about to run (polled twice, 0.3 s apart)."""
    def idle():
        st = status(d, agent)
        return st.get("queue_depth") == 0
    if not wait_for(idle, 30):
        return False
    time.sleep(0.3)
    return idle()


def goal_names(d, agent):
    s, data = call(d, "GET", f"/agents/{agent}/goals/")
    return sorted(e["name"] for e in js(data)) if s == 200 and isinstance(js(data), list) else []


def snapshot(d, agent):
    """What a tick could commit: state, outbox, goals."""
    return (call(d, "GET", f"/agents/{agent}/state")[1], call(d, "GET", f"/agents/{agent}/outbox")[1], goal_names(d, agent))


def host_procs(marker=None, env=None):
    """Host pids whose command line carries `marker` or whose environment has `env`."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            if marker:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if marker in f.read():
                        found.append(int(p))
                        continue
            if env:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if any(v.startswith(env) for v in f.read().split(b"\0")):
                        found.append(int(p))
        except OSError:
            pass
    return found


def none_alive(grace=2.0, **kw):
    deadline = time.time() + grace
    while True:
        left = host_procs(**kw)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


def mounts_under(root):
    """Mount points at or under root, from /proc/mounts (octal escapes decoded)."""
    found = []
    for line in open("/proc/mounts"):
        point = line.split()[1].encode().decode("unicode_escape")
        if point == root or point.startswith(root.rstrip("/") + "/"):
            found.append(point)
    return found


# --- the examples ---------------------------------------------------------------------------


def examples(d):
    # echo.sh
    create_exec(d, "echo", example("echo.sh"))
    ids = [send(d, "echo", "hello", f"hello-{RUN}"), send(d, "echo", {"list": [1, {"x": "}]"}], "n": None}, f"json-{RUN}")]
    got = wait_for(lambda: len(replies(d, "echo")) >= 2 and replies(d, "echo"), 30)
    by = {r.get("in_reply_to"): r for r in got or []}
    R.check("echo.sh: 'hello' is answered 'hello', in_reply_to the message",
            by.get(ids[0], {}).get("body") == "hello", got)
    R.check("echo.sh: a JSON body comes back as it was", by.get(ids[1], {}).get("body") == {"list": [1, {"x": "}]"}], "n": None}, got)

    # scout.py with the `echo` model: the model's answer is the message itself.
    create_exec(d, "scout", example("scout.py"))
    call(d, "PUT", "/agents/scout/compute/policy", {"provider": "fake", "model": "echo"})
    m1 = send(d, "scout", "ADD: map the coast\nADD: find fresh water\nnothing to do with goals", f"scout1-{RUN}")
    want = ["find-fresh-water.json", "map-the-coast.json"]
    got = wait_for(lambda: [r for r in replies(d, "scout") if r.get("in_reply_to") == m1], 30)
    R.check(f"scout.py: a message's ADD lines become goals ({goal_names(d, 'scout')})", goal_names(d, "scout") == want, goal_names(d, "scout"))
    body = got[0].get("body", {}) if got else {}
    R.check("scout.py: the reply (in_reply_to the message) lists the goals", sorted(body.get("goals") or []) == ["find fresh water", "map the coast"],
            got)
    s, data = call(d, "GET", "/agents/scout/goals/map-the-coast.json")
    R.check("scout.py: a goal file says what and where from", s == 200 and js(data).get("goal") == "map the coast" and js(data).get("message") == m1,
            f"{s} {short(data)}")
    m2 = send(d, "scout", "DONE: find fresh water", f"scout2-{RUN}")
    got = wait_for(lambda: [r for r in replies(d, "scout") if r.get("in_reply_to") == m2], 30)
    body = got[0].get("body", {}) if got else {}
    R.check("scout.py: a DONE line removes its goal, and the reply says so",
            goal_names(d, "scout") == ["map-the-coast.json"] and body.get("done") == ["find fresh water"], f"{goal_names(d, 'scout')} {got}")
    drained(d, "scout")
    answered = sorted(r.get("in_reply_to") for r in replies(d, "scout"))
    R.check("scout.py: one reply per message, none to the job notices", answered == sorted([m1, m2]), answered)

    # coder.py with the `code` model: solution.py and test_solution.py.
    # The model from the agent's config this time (scout's came from its compute/policy).
    create_exec(d, "coder", example("coder.py"), {"provider": "fake", "model": "code"})
    m = send(d, "coder", "Write fizzbuzz(n) in Python and a test for it", f"coder-{RUN}")
    got = wait_for(lambda: [r for r in replies(d, "coder") if r.get("in_reply_to") == m], 60)
    body = got[0].get("body", {}) if got else {}
    R.check("coder.py: the reply carries the program's output from the sandbox (exit 0, '3 checks passed')",
            body.get("exit_code") == 0 and body.get("stdout") == "3 checks passed\n" and body.get("ran") == "test_solution.py", got)
    drained(d, "coder")
    ticks = [e for e in records(d, "coder", "logs/trace") if e.get("type") == "tick_start"]
    answered = [r.get("in_reply_to") for r in replies(d, "coder")]
    R.check(f"coder.py: one reply, none to the job's and the exec's notices ({len(ticks)} ticks)", answered == [m] and len(ticks) >= 3,
            f"replies to {answered}, {len(ticks)} ticks")
    sessions = [e["name"] for e in js(call(d, "GET", "/agents/coder/containers/sessions/")[1])]
    states = [js(call(d, "GET", f"/agents/coder/containers/sessions/{s}/status")[1]).get("state") for s in sessions]
    R.check("coder.py: its session is stopped after the run", states == ["stopped"], states)


def program_file(d):
    agent = f"prog-{RUN}"
    s, data = call(d, "POST", "/agents", {"id": agent, "kind": "exec"})
    R.check("an exec agent is created without a program", s in (200, 201), f"{s} {short(data)}")
    text = example("echo.sh").encode()
    s, data = call(d, "PUT", f"/agents/{agent}/program", text)
    R.check("PUT program with the raw bytes (operator)", s in (200, 201, 204), f"{s} {short(data)}")
    s, data = call(d, "GET", f"/agents/{agent}/program")
    R.check("GET program returns the bytes", s == 200 and data == text, f"{s} {len(data)} bytes")
    tok = js(call(d, "POST", f"/agents/{agent}/tokens")[1]).get("token")
    s, data = call(d, "GET", f"/agents/{agent}/program", token=tok)
    R.check("the agent's own token reads its program", s == 200 and data == text, f"{s} {short(data)}")
    for method in ("PUT", "POST"):
        s, data = call(d, method, f"/agents/{agent}/program", "#!/bin/sh\nexit 0\n", token=tok)
        R.check(f"the agent's own token cannot {method} its program ({s})", s == 403, f"{s} {short(data)}")
    R.check("the program is unchanged", call(d, "GET", f"/agents/{agent}/program")[1] == text)
    m = send(d, agent, "via put", f"put-{RUN}")
    got = wait_for(lambda: replies(d, agent), 20)
    R.check("the program written with PUT runs", got and got[0].get("in_reply_to") == m and got[0].get("body") == "via put", got)


# --- effects ------------------------------------------------------------------------------


FAILING = r"""#!/usr/bin/env python3
import json, sys
tick = json.load(sys.stdin)
for e in tick["envelopes"]:
    print(json.dumps({"reply": {"to": e["id"], "body": "never committed"}}))
print(json.dumps({"state": {"touched": True}}))
print(json.dumps({"goal": {"id": "never-committed", "body": {}}}))
print(json.dumps({"emit": {"type": "never-committed"}}))
print("failing on purpose MARK", file=sys.stderr)
sys.exit(1)
"""

MALFORMED = r"""#!/bin/sh
cat > /dev/null
echo '{"state": {"touched": true}}'
echo
echo 'this line is not JSON'
echo '{"goal": {"id": "never-committed", "body": {}}}'
"""

SLEEPER = r"""#!/bin/sh
cat > /dev/null
echo '{"state": {"touched": true}}'
echo '{"goal": {"id": "never-committed", "body": {}}}'
python3 -c 'import time; time.sleep(300)' MARK-child &
exec python3 -c 'import time; time.sleep(300)' MARK-main
"""


def effects(d):
    # exit 1, retried, then dead-lettered.
    agent = f"fail-{RUN}"
    create_exec(d, agent, FAILING.replace("MARK", RUN), {"retry": {"max_attempts": 3, "backoff_ms": 200}})
    before = snapshot(d, agent)
    m = send(d, agent, "fail please", f"fail-{RUN}")
    errs = wait_for(lambda: len(errors(d, agent)) >= 3 and errors(d, agent), 30)
    R.check(f"exit 1: the trace has an error for each of 3 attempts ({[e.get('attempt') for e in errs or []]})",
            errs and [e.get("attempt") for e in errs] == [1, 2, 3], errs)
    R.check("exit 1: the error says how the program ended", errs and "status 1" in errs[0].get("error", ""), errs[:1])
    stderr = [e.get("line") for e in records(d, agent, "logs/trace") if e.get("type") == "stderr"]
    R.check("exit 1: the program's stderr is in the trace", f"failing on purpose {RUN}" in stderr, stderr)
    dl = wait_for(lambda: call(d, "GET", f"/agents/{agent}/deadletter/{m}")[0] == 200, 10)
    R.check("exit 1: after max_attempts the envelope is in deadletter/", dl, call(d, "GET", f"/agents/{agent}/deadletter/")[1][:300])
    R.check("exit 1: state, outbox and goals are as before (nothing committed)", snapshot(d, agent) == before, f"{snapshot(d, agent)} vs {before}")

    # A malformed effect line.
    agent = f"malformed-{RUN}"
    create_exec(d, agent, MALFORMED, {"retry": {"max_attempts": 1}})
    before = snapshot(d, agent)
    send(d, agent, "go", f"malformed-{RUN}")
    errs = wait_for(lambda: errors(d, agent), 20)
    msg = errs[0].get("error", "") if errs else ""
    R.check(f"malformed effect: the error names the line ({msg[:120]!r})", "line 3" in msg, errs)
    R.check("malformed effect: nothing committed", snapshot(d, agent) == before, f"{snapshot(d, agent)} vs {before}")
    R.check("malformed effect: after its one attempt (max_attempts 1) the envelope is in deadletter/",
            wait_for(lambda: call(d, "GET", f"/agents/{agent}/deadletter/malformed-{RUN}")[0] == 200, 10))

    # Past config.timeout_ms.
    agent = f"sleeper-{RUN}"
    marker = f"agentns-sleeper-{RUN}"
    create_exec(d, agent, SLEEPER.replace("MARK", marker), {"timeout_ms": 1500, "retry": {"max_attempts": 1}})
    before = snapshot(d, agent)
    t0 = time.time()
    send(d, agent, "sleep", f"sleeper-{RUN}")
    seen = wait_for(lambda: len(host_procs(marker.encode())) >= 2 and host_procs(marker.encode()), 10, step=0.02)
    R.check(f"control: the marker scan sees the sleeping program and its child ({len(seen or [])} processes)", bool(seen))
    errs = wait_for(lambda: errors(d, agent), 20)
    took = time.time() - t0
    left = none_alive(marker=marker.encode(), grace=2)
    msg = errs[0].get("error", "") if errs else ""
    R.check(f"timeout: the tick fails ({took:.1f} s after the send, timeout_ms 1500) and says why ({msg[:80]!r})",
            errs and "timeout" in msg and took < 10, errs)
    R.check("timeout: no process of the program is left", not left, describe(left))
    R.check("timeout: nothing committed", snapshot(d, agent) == before, f"{snapshot(d, agent)} vs {before}")
    R.check("timeout: after its one attempt (max_attempts 1) the envelope is in deadletter/",
            wait_for(lambda: call(d, "GET", f"/agents/{agent}/deadletter/sleeper-{RUN}")[0] == 200, 10))


# --- /n/self from inside ------------------------------------------------------------------


PROBE = r'''#!/usr/bin/env python3
"""Reports what it finds inside its sandbox as emit effects; the test judges."""
import hashlib, json, os, re, socket, stat, subprocess, sys, time
tick = json.load(sys.stdin)
SELF = os.environ.get("AGENTNS_SELF", "/n/self")


def emit(**kw):
    print(json.dumps({"emit": dict(kw, tick=tick["tick"])}), flush=True)


def sh(cmd):
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=20)
    return {"rc": p.returncode, "out": p.stdout[-4000:], "err": p.stderr[-2000:]}


def call(path, data):
    fd = os.open(os.path.join(SELF, path), os.O_RDWR)
    try:
        os.write(fd, data)
        out = b""
        while chunk := os.read(fd, 65536):
            out += chunk
        return out.decode()
    finally:
        os.close(fd)


def errno_of(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def confine(body):
    other = body["other"]
    emit(probe="status", **sh(f"cat {SELF}/status"))
    emit(probe="natural", goals=sh(f"ls {SELF}/goals"), cat=sh(f"cat {SELF}/goals/*.json"), tail=sh(f"tail -n 2 {SELF}/logs/trace"),
         mounts=sh(f"cat {SELF}/mounts"))
    emit(probe="ls", parent=sh(f"ls -a {SELF}/.."), n=sorted(os.listdir("/n")), root=sorted(os.listdir(SELF)))
    tries = {}
    for p in [f"{SELF}/../{other}", f"{SELF}/../{other}/status", f"/n/{other}/status", f"{SELF}/./../{other}/status",
              f"{SELF}/../../n/{other}/status", f"{SELF}/%2e%2e/{other}/status", f"{SELF}/agents/{other}/status",
              f"{SELF}/../.self/{other}/status", f"{SELF}/{other}/status"]:
        r = sh(f"cat '{p}'")
        tries[p] = {"rc": r["rc"], "out": r["out"][:200]}
    emit(probe="other", tries=tries, mountinfo=[l for l in open("/proc/self/mountinfo").read().splitlines() if "/n" in l])
    named, leaks, hexes, read = [], [], set(), 0
    texts = [json.dumps(dict(os.environ)).encode()]
    for dirpath, dirs, files in os.walk("/"):
        if dirpath in ("/proc", "/sys", "/dev"):
            dirs[:] = []
            continue
        for name in dirs + files:
            if other in name:
                named.append(os.path.join(dirpath, name))
        if dirpath.startswith(("/usr", "/lib", "/bin", "/sbin")):
            continue  # the host's programs: names only
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode) or name in ("new", "sign", "verify"):
                    continue
                with open(path, "rb") as f:
                    data = f.read(1 << 16)
            except OSError:
                continue
            read += 1
            if b"other" + b"-secret-" in data:  # spelled apart: this program's own text is read too
                leaks.append(path)
            texts.append(data)
    for p in os.listdir("/proc"):
        if p.isdigit():
            for what in ("cmdline", "environ"):
                try:
                    texts.append(open(f"/proc/{p}/{what}", "rb").read())
                except OSError:
                    pass
    for text in texts:
        for run in re.findall(rb"[0-9a-f]{48,}", text):
            for n in (48, 64):
                for i in range(len(run) - n + 1):
                    hexes.add(hashlib.sha256(run[i:i + n]).hexdigest())
    emit(probe="scan", named=named, leaks=leaks, files_read=read, hashes=sorted(hexes))
    emit(probe="config", errno=errno_of(lambda: write(f"{SELF}/config", '{"retry": {"max_attempts": 99}}')),
         sh=sh(f"echo '{{}}' > {SELF}/config"))
    pub = open(f"{SELF}/identity/pubkey").read().strip()
    sig = call("identity/sign", b"probe-data").strip()
    ok = call("identity/verify", json.dumps({"pubkey": pub, "data": "probe-data", "sig": sig}).encode()).strip()
    emit(probe="identity", pubkey=pub, sig=sig, verify=ok, ls=sorted(os.listdir(f"{SELF}/identity")))
    data = body["data"]
    emit(probe="token", **sh(f"test -e {data} && echo DATA-VISIBLE; test -e {data}/token && echo TOKEN-VISIBLE; cat {data}/token"))
    net = {}
    for name, host, port in [("agentd", "127.0.0.1", body["port"]), ("model", "127.0.0.1", body["model_port"]), ("agentd-v6", "::1", body["port"])]:
        try:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect((host, port))
            net[name] = "connected"
        except OSError as e:
            net[name] = "refused: " + str(e)
    emit(probe="net", **net)
    print("probe: confine done", file=sys.stderr)


emit(probe="tick", cause=tick["cause"], envelopes=[e["id"] for e in tick["envelopes"]])
for e in tick["envelopes"]:
    emit(probe="seen", id=e["id"], sender=e["from"], body=e["body"])
    body = e["body"] if isinstance(e["body"], dict) else {}
    if body.get("probe") == "confine":
        confine(body)
    elif body.get("probe") == "inbox":
        emit(probe="inbox", errno=errno_of(lambda: write(f"{SELF}/inbox", json.dumps({"id": body["id"], "body": "from myself"}))))
    elif body.get("probe") == "escape":
        mark = body["mark"]
        got = {"uid": os.getuid(), "euid": os.geteuid(),
               "capeff": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]}
        for name, cmd in [("mount", "mount -t tmpfs none /tmp"), ("unshare-user", "unshare -U true"), ("unshare-mount", "unshare -m true"),
                          ("unshare-net", "unshare -n true"), ("remount-usr", "mount -o remount,rw /usr"),
                          ("kill-agentd", f"kill -0 {body['agentd_pid']}"), ("write-usr", "touch /usr/escape"), ("write-etc", "touch /etc/escape"),
                          ("write-root", "touch /escape"), ("write-tmp", "touch /tmp/ok"), ("write-work", "touch /work/ok")]:
            got[name] = sh(cmd)["rc"]
        got["procs"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        # Things that try to outlive the tick, each with the marker in its argv (sleep's seconds).
        subprocess.Popen(["setsid", "sleep", mark], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen(["nohup", "sleep", mark], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:  # a daemon: fork, setsid, fork, descriptors closed
            os.setsid()
            if os.fork() == 0:
                os.closerange(0, 256)
                os.execvp("sleep", ["sleep", mark])
            os._exit(0)
        time.sleep(0.3)
        alive = 0
        for p in os.listdir("/proc"):
            try:
                alive += p.isdigit() and mark.encode() in open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:
                pass
        emit(probe="escape", started=alive, **got)
    elif body.get("probe") == "ctl":
        t0 = time.time()
        r = sh(f"echo tick > {SELF}/ctl")
        emit(probe="ctl", ms=int((time.time() - t0) * 1000), **r)
'''


def confinement(d, fake_port):
    agent, other = f"probe-{RUN}", f"other-{RUN}"
    d.create(other)
    secret = f"other-secret-{secrets.token_hex(8)}"
    call(d, "PUT", f"/agents/{other}/goals/secret.json", {"secret": secret})
    call(d, "POST", f"/agents/{other}/inbox", {"body": secret})
    create_exec(d, agent, PROBE, {"timeout_ms": 60000})
    call(d, "PUT", f"/agents/{agent}/goals/mine.json", {"title": f"own-goal-{RUN}"})
    config_before = call(d, "GET", f"/agents/{agent}/config")[1]
    send(d, agent, {"probe": "confine", "other": other, "data": d.data, "port": d.port, "model_port": fake_port}, f"confine-{RUN}")
    got = wait_for(lambda: emitted(d, agent, "net"), 60, step=0.3)
    if not got:
        return R.fail("/n/self: the probe ran", f"trace: {records(d, agent, 'logs/trace')[-6:]}")
    one = {p: (emitted(d, agent, p) or [{}])[0] for p in ("status", "ls", "other", "scan", "config", "identity", "token", "net", "natural")}
    nat = one["natural"]
    R.check("/n/self: ls /n/self/goals and cat /n/self/goals/*.json show its goal",
            "mine.json" in nat.get("goals", {}).get("out", "") and f"own-goal-{RUN}" in nat.get("cat", {}).get("out", ""), nat)
    tail = [l for l in nat.get("tail", {}).get("out", "").splitlines() if l.strip()]
    R.check(f"/n/self: tail -n 2 /n/self/logs/trace gives its last trace lines ({len(tail)})",
            len(tail) == 2 and all(js(l.encode()).get("type") for l in tail), nat.get("tail"))
    R.check("/n/self: mounts lists its mount table", "/compute" in nat.get("mounts", {}).get("out", ""), nat.get("mounts"))

    st = one["status"]
    R.check("/n/self: cat /n/self/status is the agent's own status", st.get("rc") == 0 and js(st.get("out", "").encode()).get("id") == agent, st)
    ls = one["ls"]
    R.check(f"/n/self: ls /n/self/.. shows only self ({ls.get('n')})", ls.get("n") == ["self"] and other not in ls.get("parent", {}).get("out", ""), ls)
    R.check("/n/self: its root lists the agent's files and no other agent", "status" in (ls.get("root") or []) and other not in (ls.get("root") or []),
            ls.get("root"))
    tries = one["other"].get("tries", {})
    opened = {p: t for p, t in tries.items() if t.get("rc") == 0 or t.get("out")}
    R.check(f"/n/self: {len(tries)} paths to the other agent (/n/self/../{other} ...) all fail", tries and not opened, opened or one["other"])
    scan = one["scan"]
    R.check(f"/n/self: no file in the sandbox is named after the other agent ({scan.get('files_read')} files read)",
            scan.get("files_read", 0) > 20 and not scan.get("named"), scan.get("named"))
    R.check("/n/self: the other agent's secret (its goal, its inbox) is in no file", not scan.get("leaks"), scan.get("leaks"))

    cfg = one["config"]
    R.check(f"/n/self: writing config fails with EACCES (errno {cfg.get('errno')})", cfg.get("errno") == 13, cfg)
    R.check("/n/self: the shell says Permission denied", "Permission denied" in cfg.get("sh", {}).get("err", ""), cfg.get("sh"))
    R.check("/n/self: config is unchanged", call(d, "GET", f"/agents/{agent}/config")[1] == config_before)

    ident = one["identity"]
    pub = short(call(d, "GET", f"/agents/{agent}/identity/pubkey")[1]).strip()
    R.check("/n/self: identity/sign answers a signature that identity/verify accepts",
            ident.get("pubkey") == pub and len(ident.get("sig", "")) == 128 and ident.get("verify") == "true", ident)
    bundle = js(call(d, "GET", f"/agents/{agent}?export=1&private_key=1")[1])
    key = (bundle.get("identity") or {}).get("secret", "")
    hashes = set(scan.get("hashes") or [])
    R.check("control: the public key is found by the key scan", hashlib.sha256(pub.encode()).hexdigest() in hashes, f"{len(hashes)} hashes")
    R.check("/n/self: the private key appears nowhere the program can read (/n/self, /work, /tmp, /etc, env, /proc)",
            len(key) == 64 and hashlib.sha256(key.encode()).hexdigest() not in hashes, f"key of {len(key)} chars")
    optoken = d.token.split("_", 1)[-1]
    R.check("/n/self: nor the operator token", hashlib.sha256(optoken.encode()).hexdigest() not in hashes)

    tok = one["token"]
    R.check(f"/n/self: agentd's data directory and token file are absent inside ({d.data})",
            "VISIBLE" not in tok.get("out", "") and tok.get("rc") != 0 and d.token not in tok.get("out", "") + tok.get("err", ""), tok)
    net = one["net"]
    connected = [k for k, v in net.items() if v == "connected"]
    R.check(f"/n/self: no network (agentd's port {d.port}, the model's, ::1)", "agentd" in net and not connected, net)
    stderr = [e.get("line") for e in records(d, agent, "logs/trace") if e.get("type") == "stderr"]
    R.check("/n/self: stderr lines reach the trace as stderr records", "probe: confine done" in stderr, stderr[-5:])

    # A write to its own inbox is an ordinary send.
    sid = f"self-{RUN}"
    send(d, agent, {"probe": "inbox", "id": sid}, f"inbox-{RUN}")
    seen = wait_for(lambda: [r for r in emitted(d, agent, "seen") if r.get("id") == sid], 30)
    wrote = emitted(d, agent, "inbox")
    R.check("/n/self: a write to /n/self/inbox succeeds", wrote and wrote[0].get("errno") == 0, wrote)
    R.check("/n/self: ... and is an ordinary send: the envelope, from the agent itself, arrives in a later tick",
            seen and wrote and seen[0].get("sender") == agent and seen[0].get("body") == "from myself" and seen[0]["tick"] > wrote[0]["tick"],
            f"{seen} after {wrote}")

    # echo tick > ctl from inside a tick.
    send(d, agent, {"probe": "ctl"}, f"ctl-{RUN}")
    ctl = wait_for(lambda: emitted(d, agent, "ctl"), 30)
    ctl = ctl[0] if ctl else {}
    R.check(f"/n/self: echo tick > /n/self/ctl returns at once ({ctl.get('ms')} ms, rc {ctl.get('rc')})",
            ctl.get("rc") == 0 and ctl.get("ms", 99999) < 3000, ctl)
    follow = wait_for(lambda: [t for t in emitted(d, agent, "tick") if t.get("tick", 0) > ctl.get("tick", 1 << 60) and t.get("cause") == "manual"], 15)
    R.check("/n/self: ... and a manual tick follows", bool(follow), emitted(d, agent, "tick")[-3:])
    traj = [t for t in records(d, agent, "logs/trajectory") if t.get("id") == ctl.get("tick")]
    R.check(f"/n/self: the tick that wrote ctl ended in {traj[0].get('duration_ms') if traj else '?'} ms (no deadlock)",
            traj and traj[0].get("outcome") == "ok" and traj[0].get("duration_ms", 1e9) < 5000, traj)


# --- 100 agents x 10 messages -------------------------------------------------------------


def escape(d):
    """The containers escape corpus, from an exec agent's program: no root, no capabilities,
    no mounts or namespaces, agentd invisible, the system read-only, and nothing outlives the
    tick (setsid, nohup and a double-forked daemon, each with a marker in its argv)."""
    agent = f"escape-{RUN}"
    mark = f"300.{int.from_bytes(secrets.token_bytes(4), 'big')}"
    create_exec(d, agent, PROBE, {"timeout_ms": 60000})
    send(d, agent, {"probe": "escape", "mark": mark, "agentd_pid": d.proc.pid}, f"escape-{RUN}")
    got = wait_for(lambda: emitted(d, agent, "escape"), 60, step=0.2)
    if not got:
        return R.fail("escape: the probe ran", f"trace: {records(d, agent, 'logs/trace')[-6:]}")
    e = got[0]
    R.check(f"escape: the program is not root (uid {e.get('uid')}) and has no capabilities (CapEff {e.get('capeff')})",
            e.get("uid") != 0 and e.get("euid") != 0 and int(e.get("capeff", "1"), 16) == 0, e)
    for name in ("mount", "unshare-user", "unshare-mount", "unshare-net", "remount-usr", "kill-agentd", "write-usr", "write-etc", "write-root"):
        R.check(f"escape: {name} fails", e.get(name) not in (0, None), e.get(name))
    R.check("escape: /tmp and /work are writable (the control)", e.get("write-tmp") == 0 and e.get("write-work") == 0, e)
    R.check(f"escape: the sandbox sees only its own processes ({len(e.get('procs', []))})", len(e.get("procs", [])) < 20 and d.proc.pid not in e.get("procs", []),
            e.get("procs"))
    R.check("escape: nothing was written to the host's /usr, /etc or /", not any(os.path.exists(p) for p in ("/usr/escape", "/etc/escape", "/escape")))
    R.check(f"control: the three were running when the program ended ({e.get('started')})", e.get("started") == 3, e.get("started"))
    left = none_alive(grace=3, marker=mark.encode())
    R.check("escape: after the tick, nothing it started is alive (setsid, nohup, a daemon)", not left, describe(left))


def load(d, sandbox_root, agents=100, per=10):
    names = [f"b{RUN}-{i:03d}" for i in range(agents)]
    program = example("echo.sh")
    t0 = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda a: create_exec(d, a, program), names))
    created = time.time() - t0
    env = b"AGENT_ID=b" + RUN.encode() + b"-"
    stop, seen = threading.Event(), {"max": 0}

    def sample():  # the control: the scan sees the programs while they run
        while not stop.is_set():
            seen["max"] = max(seen["max"], len(host_procs(marker=ECHO_MARK, env=env)))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()
    failed = []

    def send_all(agent):
        for k in range(per):
            if send(d, agent, {"seq": k}, f"{agent}-m{k}") != f"{agent}-m{k}":
                failed.append(f"{agent}-m{k}")
    # Paused while the messages go in, then resumed at once: all of them tick together.
    with ThreadPoolExecutor(16) as pool:
        paused = list(pool.map(lambda a: call(d, "POST", f"/agents/{a}/ctl", "pause")[0], names))
    R.check(f"load: {agents} agents paused", all(s in (200, 204) for s in paused), sorted(set(paused)))
    t0 = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send_all, names))
    sent = time.time() - t0
    R.check(f"load: {agents * per} messages accepted from 16 threads ({sent:.1f} s)", not failed, failed[:5])
    t1 = time.time()
    with ThreadPoolExecutor(16) as pool:
        resumed = list(pool.map(lambda a: call(d, "POST", f"/agents/{a}/ctl", "resume")[0], names))
    R.check("load: and resumed", all(s in (200, 204) for s in resumed), sorted(set(resumed)))
    pending = set(names)
    answers = {}
    deadline = time.time() + 150
    while pending and time.time() < deadline:
        for a in sorted(pending):
            got = replies(d, a)
            if len(got) >= per:
                answers[a] = got
                pending.discard(a)
        time.sleep(0.5)
    took = time.time() - t1
    stop.set()
    sampler.join()
    wrong = {}
    for a in names:
        got = answers.get(a) or replies(d, a)
        want = [f"{a}-m{k}" for k in range(per)]
        if [r.get("in_reply_to") for r in got] != want or [r.get("body") for r in got] != [{"seq": k} for k in range(per)]:
            wrong[a] = [r.get("in_reply_to") for r in got]
    R.check(f"load: {agents} exec agents x {per} messages: every message answered exactly once, in order "
            f"({took:.1f} s after the resume, {agents * per / max(took, 0.001):.0f} ticks/s; created in {created:.1f} s)", not wrong and not pending,
            f"{len(pending)} agents unfinished, wrong: {dict(list(wrong.items())[:3])}")
    R.check(f"control: the process scan saw the programs run (at most {seen['max']} at once)", seen["max"] > 0)
    self_mounts = mounts_under(sandbox_root)
    print(f"mounts under the sandbox root while agentd runs: {self_mounts}", flush=True)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda a: call(d, "DELETE", f"/agents/{a}")[0], names))
    R.check("load: DELETE /agents/<id> of all of them", all(s in (200, 204) for s in statuses), sorted(set(statuses)))
    left = none_alive(grace=5, marker=ECHO_MARK, env=env)
    R.check("load: after the deletes no process of theirs is left", not left, describe(left))
    extra = [m for m in mounts_under(sandbox_root) if m not in self_mounts or names_in(m, names)]
    R.check(f"load: after the deletes no mount of theirs is under the sandbox root (agentd's own: {self_mounts})", not extra, extra)
    theirs = [os.path.join(sandbox_root, n) for n in sorted(os.listdir(sandbox_root)) if n in names] if os.path.isdir(sandbox_root) else []
    R.check("load: and no directory of theirs is left in the sandbox root", not theirs, theirs[:5])
    return env


def names_in(path, names):
    return any(n in path for n in names)


# --- main ---------------------------------------------------------------------------------


PHASES = ["examples", "program", "effects", "confinement", "escape", "load"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--only", default=",".join(PHASES), help="comma-separated phases: " + ", ".join(PHASES))
    args = p.parse_args()
    only = args.only.split(",")
    started = time.time()
    # Not under /tmp (the sandbox has a fresh /tmp of its own); the sandbox user passes
    # through the work directory to the sandbox root inside it.
    work = tempfile.mkdtemp(prefix="agentns-exec.", dir="/var/tmp")
    os.chmod(work, 0o711)
    sandbox_root = os.path.join(work, "sandbox")
    fake = subprocess.Popen([sys.executable, FAKE, "--port", "0"], stdout=subprocess.PIPE, stderr=open(os.path.join(work, "fake.log"), "a"), text=True)
    fake_port = int(fake.stdout.readline().split()[1])
    d = Agentd(args.bin, os.path.join(work, "data"), "--sandbox-root", sandbox_root).start()
    timings = {}
    env = None

    def phase(name, fn, *a):
        if name not in only:
            return None
        t0 = time.time()
        try:
            return fn(*a)
        except Exception as e:  # a crashed phase is a failure, the others still run
            import traceback
            R.fail(f"{name} raised", "".join(traceback.format_exception(e))[-1500:])
        finally:
            timings[name] = time.time() - t0
            print(f"-- {name}: {timings[name]:.1f} s", flush=True)

    try:
        provider = {"kind": "openai", "base_url": f"http://127.0.0.1:{fake_port}/v1", "api_key": "sk-exec", "models": ["echo", "code", "fixed"],
                    "price": {"input": 1, "output": 1}}
        s, data = call(d, "PUT", "/runtime/providers/fake.json", provider)
        R.check("the fake model server is registered as provider 'fake'", s in (200, 201, 204), f"{s} {short(data)}")
        phase("examples", examples, d)
        phase("program", program_file, d)
        phase("effects", effects, d)
        phase("confinement", confinement, d, fake_port)
        phase("escape", escape, d)
        env = phase("load", load, d, sandbox_root)
    finally:
        try:
            d.stop()
        except Exception:
            d.kill()
        fake.terminate()
        fake.wait(timeout=10)
    left = none_alive(grace=5, marker=ECHO_MARK, env=env or (b"AGENT_ID=b" + RUN.encode()))
    R.check("after agentd stops: no process of the exec agents is left", not left, describe(left))
    R.check("after agentd stops: no mount is left under the sandbox root", not mounts_under(sandbox_root), mounts_under(sandbox_root))
    R.check("after agentd stops: no mount is left under the test's directory", not mounts_under(work), mounts_under(work))
    print(f"exec agents fire test in {time.time() - started:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in timings.items())})", flush=True)
    if not R.failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work} (agentd's log: {d.log})", flush=True)
    R.finish("exec agents")


if __name__ == "__main__":
    main()
