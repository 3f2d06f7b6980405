#!/usr/bin/env python3
"""containers/ under fire: escapes, limits, budgets, a crash, auth and the exit test, against a
real agentd on a real port with its real sandbox (bubblewrap), everything over HTTP.

Each check below fails if the guarantee it names breaks (a positive control beside each shows
the probe itself works: the marker scan finds live processes, /tmp and /work are writable, the
secret file really is in the other session, and so on).

Escapes through execs (a program inside a session tries, its output is searched):
  - agentd's token file and database, by their real host paths: absent inside, never read;
  - another session's file (same agent and another agent's), by /work/.., by its host path,
    through /proc/1/root, by `find /`: never read; the secret appears in no output;
  - /proc/1/root leads to the sandbox's own root (agentd's files are not there); the sandbox
    sees only its own few processes (its own PID namespace) and no agentd process;
  - no network: connects to agentd's own port, to 1.1.1.1:53 (TCP and UDP) and to 127.0.0.1
    fail, and the only interface is lo;
  - `mount`, `unshare` (user, mount, net namespaces) and ptrace of agentd fail; writes to
    /usr, /etc and / fail (nothing appears on the host) while /tmp and /work are writable;
  - `id -u` is not 0 and the effective capability set is empty;
  - nothing outlives an exec or its session: `setsid`, `nohup`, a double fork and a daemon
    (fork, setsid, fork, fds closed) each carry a unique marker in their argv; right after the
    exec's result (and after `ctl stop` of a session with one running), no host process has
    the marker in /proc/*/cmdline.
Escapes through files/ (HTTP requests on the session's work directory):
  - `..`, `%2e%2e`, `..%2f`, `//etc/passwd`, `%2fetc%2fpasswd`: 400 or 403, never the content,
    and a PUT on them creates nothing anywhere;
  - symlinks the sandboxed program made (`ln -s /etc/shadow x`, `ln -s / root`,
    `ln -s /proc/self/root r`, a relative one up to agentd's token, one to another session's
    work directory, one to a host canary file and one to its directory): GET, a range GET,
    a listing, PUT, POST (append) and DELETE through them answer 400 or 403; no target's
    content is ever answered and the canary is unchanged and still there;
  - a race: the program swaps a directory with a symlink to the canary's directory for 3 s
    while files/ GETs and PUTs through it: some reach the real directory (the control), none
    reads the canary or writes next to it.
Limits (each a separate exec, the result's `killed_by` checked):
  - 500 MB allocated under memory_bytes 64 MiB: killed_by memory;
  - a bounded fork loop (64 children) under pids 16: killed_by pids;
  - a busy loop under cpu_ms 500: killed_by cpu, within a few seconds;
  - `sleep 60` under timeout_ms 1000: killed_by timeout, the call answers within 5 s;
  - 100 MB of output under output_bytes 1 MiB: truncated, the output file at most 1.2 MiB,
    and agentd's VmRSS (sampled every 20 ms during the exec) grows by less than 30 MB;
  - the work directory filled past disk_bytes 8 MiB: killed_by disk; a PUT past the limit is
    402; agentd keeps serving (session status and /runtime/status answer).
Budgets: a policy where each exec reserves 1,000 micro-USD (cpu_ms 1000 at 1,000 a
  CPU-second) under a limit of 10,000; 32 execs (`sleep 3`) from 32 threads at once: between 1
  and 10 admitted, the rest refused 402 budget_exceeded; usage sampled every 20 ms during the
  run never shows spent + reserved above the limit; at the end reserved is 0 and spent is the
  sum of the execs' costs, each no more than it reserved.
kill -9 agentd with execs running (`sleep 30`, one with a setsid child) and one finished:
  no process of theirs is alive while agentd is down; after the restart the sessions are
  running with their files, the running execs are `killed` (the finished one keeps its
  result), usage reserved is 0 and spent is what it was; each exec produced exactly one
  notice (the echo agent's outbox); after a second restart nothing changed (reconciled once);
  a new exec in a recovered session reads its file. And kill -9 the moment the first of 8
  execs fired from threads has a process (the others being admitted, spawned, or setting up
  their namespaces): no process of theirs is alive 2 s later (bwrap's own command line
  carries the program's argv, so a half-started sandbox is seen too); after the restart every
  exec is killed, reserved is 0, one notice each.
Auth: an agent token lists its own sessions and reads them, gets 403 for another agent's
  sessions (and its exec/new), 404 for another agent's session id under its own path, cannot
  write containers/policy (PUT and POST: 403, unchanged); no token and a wrong token get 401.
The exit test, "generate code with /compute, test it in /containers": fake_openai.py's `code`
  model is the provider; a script holding the agent's own token (never the operator's) asks
  compute/new for the code, writes the two fenced blocks into a session's files, runs the test
  with exec wait, and sends the outcome to the agent's inbox: exit 0, stdout exactly
  "3 checks passed\\n", stderr empty, and the echo agent answers the outcome and the exec's notice.

Usage: containers.py --bin DIR
"""
import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from firelib import OP, Agentd, Report, call, describe, js, lines, short, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "support", "fake_openai.py")
R = Report()
RUN = secrets.token_hex(4)
SANDBOXES = "/var/lib/agentns/sandbox"  # agentd's default: one directory per data directory
SANDBOX = []  # [this agentd's sandbox root], found once it exists


def new_session(d, agent, body=None, token=OP):
    s, data = call(d, "POST", f"/agents/{agent}/containers/new", body or {}, token)
    return s, js(data)


def exec_call(d, agent, sid, argv, token=OP, timeout=90, **kw):
    """(status, answer) of exec/new; "wait": true unless told otherwise."""
    body = {"argv": argv, "wait": True}
    body.update(kw)
    s, data = call(d, "POST", f"/agents/{agent}/containers/sessions/{sid}/exec/new", body, token, timeout)
    return s, js(data)


def output_of(d, agent, sid, eid, token=OP):
    """(stdout, stderr, bytes of the output file) of an exec."""
    s, data = call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{eid}/output", token=token, timeout=60)
    if s != 200:
        return "", f"<output answered {s}: {short(data)}>", 0
    out = {"stdout": [], "stderr": []}
    for rec in lines(data):
        out.setdefault(rec.get("stream"), []).append(rec.get("data", ""))
    return "".join(out["stdout"]), "".join(out["stderr"]), len(data)


def sandboxed(d, agent, sid, script, **kw):
    """Runs `sh -c script` in the session and waits: (result, stdout, stderr)."""
    s, res = exec_call(d, agent, sid, ["sh", "-c", script], **kw)
    if s != 200 or "exec_id" not in res:
        return {"http": s, **res}, "", ""
    out, err, _ = output_of(d, agent, sid, res["exec_id"])
    return res, out, err


def ran(res):
    """The exec ran to an exit of its own (not refused, not killed)."""
    return res.get("state") == "exited" and res.get("exit_code") is not None


def host_procs(marker, program=b""):
    """Host pids whose command line carries `marker` (and starts with `program`); zombies have
    none and do not count. bwrap's own command line carries the program's argv too."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            if marker.encode() in cmd and cmd.startswith(program):
                found.append(int(p))
        except OSError:
            pass
    return found


def none_alive(marker, grace=1.0):
    """[] once no host process carries the marker (polled for `grace` s), else the pids left."""
    deadline = time.time() + grace
    while True:
        left = host_procs(marker)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


def sleeper(marker, seconds=300):
    """A python3 command line that sleeps, with the marker in its argv."""
    return f"python3 -c 'import time; time.sleep({seconds})' {marker}"


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def usage(d, agent, token=OP):
    return js(call(d, "GET", f"/agents/{agent}/containers/usage", token=token)[1])


def outbox_notices(d, agent):
    """exec id -> how many envelopes of the echo agent's outbox carry it as a notice's body."""
    _, data = call(d, "GET", f"/agents/{agent}/outbox")
    counts = {}
    for e in lines(data):
        body = e.get("body")
        if isinstance(body, dict) and "exec_id" in body:
            counts[body["exec_id"]] = counts.get(body["exec_id"], 0) + 1
    return counts


def drained(d, agent):
    return json.loads(call(d, "GET", f"/agents/{agent}/status")[1]).get("queue_depth") == 0


# --- escapes through execs ----------------------------------------------------------------


def escapes_exec(d, work, agent, s1, s2, other, o1):
    base = f"/agents/{agent}/containers/sessions"
    token_path, db_path = os.path.join(d.data, "token"), os.path.join(d.data, "agentd.sqlite")
    token = d.token

    res, out, err = sandboxed(d, agent, s1, f"test -e {token_path} && echo VISIBLE; test -e {d.data} && echo DATA-VISIBLE; cat {token_path}")
    R.check(f"escape: agentd's token file ({token_path}) does not exist inside and is not read",
            ran(res) and "VISIBLE" not in out and token not in out + err, f"result {res}, stdout {out[:200]!r}, stderr {err[:200]!r}")
    res, out, err = sandboxed(d, agent, s1, f"test -e {db_path} && echo VISIBLE; head -c 64 {db_path}")
    R.check(f"escape: agentd's database ({db_path}) does not exist inside and is not read",
            ran(res) and "VISIBLE" not in out and "SQLite format" not in out, f"result {res}, stdout {out[:200]!r}")

    # Another session's secret: the same agent's s2 and another agent's o1.
    name, secret = f"secret-{RUN}.txt", f"the-secret-{secrets.token_hex(8)}"
    for a, sid in ((agent, s2), (other, o1)):
        s, data = call(d, "PUT", f"/agents/{a}/containers/sessions/{sid}/files/{name}", secret)
        R.check(f"a secret file is written into {a}'s session {sid}", s in (200, 201, 204), f"{s} {short(data)}")
    hosts = sorted(r for r, _, fs in os.walk(SANDBOX[0]) for f in fs if f == name)
    R.check("the secret files are on the host in two work directories (the probe's control)", len(hosts) == 2, hosts)
    res, out, err = sandboxed(d, agent, s2, f"cat {name}")
    R.check("control: the secret's own session reads it", ran(res) and out == secret, f"{res} {out!r} {err[:200]!r}")
    probes = [f"cat /work/../{s2}/{name}", f"cat /work/../../{other}/{o1}/{name}"]
    for h in hosts:
        probes += [f"cat {h}/{name}", f"cat /proc/1/root{h}/{name}", f"cat /proc/self/root{h}/{name}", f"ls {h}"]
    probes += [f"find / -path /proc -prune -o -name {name} -print 2>/dev/null", "grep -rs the-secret- /work /tmp /run /var 2>/dev/null"]
    res, out, err = sandboxed(d, agent, s1, "; ".join(probes) + "; true")
    R.check(f"escape: another session's file (same agent and another agent) is not read ({len(probes)} paths: /work/.., host paths, "
            f"/proc/1/root, find /)", ran(res) and secret not in out + err and name not in out,
            f"result {res}, stdout {out[:300]!r}")

    # /proc/1/root and the PID namespace.
    host_root_only = "/work/main" if os.path.isdir("/work/main") else "/root"
    res, out, err = sandboxed(d, agent, s1, f"test -e /proc/1/root{token_path} && echo VISIBLE; test -e /proc/1/root{host_root_only} && echo HOSTROOT; "
                                            f"cat /proc/1/root{token_path}; ls /proc | grep -c '^[0-9]'; "
                                            f"for p in /proc/[0-9]*; do cat $p/comm; done 2>/dev/null | grep -x agentd && echo AGENTD-SEEN; true")
    counts = [int(l) for l in out.splitlines() if l.strip().isdigit()]
    R.check(f"escape: /proc/1/root is the sandbox's root (no token, no {host_root_only})",
            ran(res) and "VISIBLE" not in out and "HOSTROOT" not in out and token not in out + err, f"{res} {out[:300]!r}")
    R.check(f"escape: its own PID namespace ({counts[:1]} processes visible, no agentd among them)",
            ran(res) and counts and counts[0] <= 8 and "AGENTD-SEEN" not in out, f"{res} {out[:300]!r}")

    # The network.
    net = f"""
import json, socket
out = {{}}
for name, typ, addr in [("agentd", socket.SOCK_STREAM, ("127.0.0.1", {d.port})), ("dns-tcp", socket.SOCK_STREAM, ("1.1.1.1", 53)),
                        ("dns-udp", socket.SOCK_DGRAM, ("1.1.1.1", 53)), ("loopback-ssh", socket.SOCK_STREAM, ("127.0.0.1", 22)),
                        ("v6-agentd", socket.SOCK_STREAM, ("::1", {d.port}))]:
    try:
        s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, typ)
        s.settimeout(2)
        s.connect(addr)
        if typ == socket.SOCK_DGRAM:
            s.send(b"x")
            s.recv(1)
        out[name] = "connected"
    except OSError as e:
        out[name] = "refused: " + str(e)
out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
print(json.dumps(out))
"""
    s, res = exec_call(d, agent, s1, ["python3", "-c", net], timeout_ms=20000)
    out, err, _ = output_of(d, agent, s1, res.get("exec_id", "-")) if s == 200 else ("", "", 0)
    got = js(out.encode()) if out else {}
    connected = [k for k, v in got.items() if v == "connected"]
    R.check(f"escape: no network (agentd's port {d.port}, 1.1.1.1:53 tcp and udp, 127.0.0.1:22, ::1 all refused)",
            s == 200 and ran(res) and len(got) == 6 and not connected, f"{s} {res} {got or (out + err)[:300]}")
    R.check("escape: the only network interface is lo", got.get("interfaces") in (["lo"], []), got.get("interfaces"))

    # mount, unshare, ptrace, writes outside /work and /tmp.
    res, out, err = sandboxed(d, agent, s1, "mount -t tmpfs none /tmp && echo MOUNTED; mount --bind /work /usr && echo MOUNTED; "
                                            "mount -o remount,rw / && echo MOUNTED; mount -o remount,rw /usr && echo MOUNTED; true")
    R.check("escape: mount (tmpfs, bind over /usr, remount / and /usr rw) fails", ran(res) and "MOUNTED" not in out, f"{res} {out!r} {err[:200]!r}")
    res, out, err = sandboxed(d, agent, s1, "unshare -U true && echo UNSHARED-user; unshare -r -m true && echo UNSHARED-root-mount; "
                                            "unshare -n true && echo UNSHARED-net; unshare -m true && echo UNSHARED-mount; true")
    R.check("escape: unshare (user, root+mount, net, mount namespaces) fails", ran(res) and "UNSHARED" not in out,
            f"{res} stdout {out!r} stderr {err[:300]!r}")
    ptrace = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, {d.proc.pid}, 0, 0)  # PTRACE_ATTACH agentd's host pid
print("ATTACHED" if r == 0 else "refused errno %d" % ctypes.get_errno())
"""
    s, res = exec_call(d, agent, s1, ["python3", "-c", ptrace])
    out, err, _ = output_of(d, agent, s1, res.get("exec_id", "-")) if s == 200 else ("", "", 0)
    R.check(f"escape: ptrace(PTRACE_ATTACH) of agentd's pid {d.proc.pid} fails", s == 200 and ran(res) and "refused" in out and "ATTACHED" not in out,
            f"{s} {res} {out!r} {err[:200]!r}")
    probe = f"agentns-write-{RUN}"
    res, out, err = sandboxed(d, agent, s1, f"touch /usr/{probe} && echo WROTE-usr; echo x >> /etc/passwd && echo WROTE-etc; "
                                            f"mkdir /{probe} && echo WROTE-root; touch /usr/bin/{probe} && echo WROTE-bin; "
                                            "touch /tmp/ok && echo TMP-OK; touch /work/ok && echo WORK-OK; rm -f /work/ok; true")
    on_host = [p for p in (f"/usr/{probe}", f"/{probe}", f"/usr/bin/{probe}") if os.path.exists(p)]
    R.check("escape: writing to /usr, /usr/bin, /etc/passwd and / fails (and nothing appeared on the host)",
            ran(res) and "WROTE" not in out and not on_host, f"{res} {out!r} on the host: {on_host}")
    R.check("control: /tmp and /work are writable inside", "TMP-OK" in out and "WORK-OK" in out, out)
    res, out, err = sandboxed(d, agent, s1, "id -u; grep ^CapEff /proc/self/status")
    uid = out.split()[0] if out.split() else "?"
    R.check(f"escape: the program is not root (id -u {uid}) and has no capabilities", ran(res) and uid.isdigit() and uid != "0"
            and "CapEff:\t0000000000000000" in out, f"{res} {out!r}")


def outliving(d, agent, s1, s3):
    """Processes left running after the exec ends, and after the session stops."""
    variants = {
        "setsid": "setsid {P} >/dev/null 2>&1 < /dev/null &",
        "setsid, holding stdout": "setsid {P} &",
        "nohup": "nohup {P} >/dev/null 2>&1 &",
        "double fork": "( ( {P} >/dev/null 2>&1 & ) & ); sleep 0.2",
        "daemon (fork, setsid, fork, fds closed)": "python3 -c 'import os,sys,time\n"
        "if os.fork(): sys.exit(0)\nos.setsid()\nif os.fork(): sys.exit(0)\n"
        "[os.close(f) for f in (0, 1, 2)]\nos.execvp(\"python3\", [\"python3\", \"-c\", \"import time; time.sleep(300)\", \"{M}\"])'",
    }
    for label, template in variants.items():
        marker = f"agentns-outlive-{RUN}-{len(label)}-{secrets.token_hex(3)}"
        script = template.replace("{P}", sleeper(marker)).replace("{M}", marker) + "\nsleep 0.3; echo started"
        t0 = time.time()
        res, out, err = sandboxed(d, agent, s1, script, timeout_ms=10000)
        took = time.time() - t0
        left = none_alive(marker)
        R.check(f"escape: nothing outlives the exec: {label} ({res.get('state')}, {took:.1f} s)",
                res.get("state") in ("exited", "killed") and "started" in out and not left,
                f"result {res} stdout {out!r}; alive: {describe(left)}")
    # A session stopped with a running exec that has a setsid child.
    marker = f"agentns-outlive-{RUN}-stop-{secrets.token_hex(3)}"
    s, res = exec_call(d, agent, s3, ["sh", "-c", f"setsid {sleeper(marker)} >/dev/null 2>&1 & {sleeper(marker + '-fg')}"], wait=False)
    eid = res.get("exec_id")
    seen = wait_for(lambda: len(host_procs(marker)) >= 2, 5)
    R.check("control: the marker scan sees the running exec's processes", bool(seen), f"{s} {res}")
    s, data = call(d, "POST", f"/agents/{agent}/containers/sessions/{s3}/ctl", "stop")
    R.check("ctl stop of a session with a running exec", s in (200, 204), f"{s} {short(data)}")
    left = none_alive(marker, grace=2)
    R.check("escape: nothing outlives the session (its exec and a setsid child are gone after ctl stop)", not left, describe(left))
    st = js(call(d, "GET", f"/agents/{agent}/containers/sessions/{s3}/exec/{eid}/status")[1])
    R.check("the stopped session's running exec ended killed", st.get("state") == "killed", st)
    st = js(call(d, "GET", f"/agents/{agent}/containers/sessions/{s3}/status")[1])
    R.check("the stopped session says stopped", st.get("state") == "stopped", st)


# --- escapes through files/ ---------------------------------------------------------------


def escapes_files(d, work, agent, s1, s2):
    base = f"/agents/{agent}/containers/sessions/{s1}/files"
    token = d.token
    passwd = open("/etc/passwd").read().splitlines()[0]
    shadow = (open("/etc/shadow").read().splitlines() or [""])[0] if os.path.exists("/etc/shadow") else ""
    canary_dir = os.path.join(work, "canary")
    os.makedirs(canary_dir, exist_ok=True)
    os.chmod(canary_dir, 0o755)
    canary = os.path.join(canary_dir, "canary.txt")
    with open(canary, "w") as f:
        f.write("canary-original")
    os.chmod(canary, 0o666)  # even a world-writable target is never written through a link

    def bad(status):
        return status in (400, 403)

    def leaked(data):
        text = data.decode(errors="replace")
        return any(x and x in text for x in (token, passwd, shadow, "canary-original", "SQLite format"))

    for path in ["../../../token", "..%2f..%2f..%2ftoken", "%2e%2e/%2e%2e/%2e%2e/token", "%2e%2e%2f%2e%2e%2ftoken", "/../../token",
                 "/etc/passwd", "%2fetc%2fpasswd", "a/../../../../token", "%2E%2E/%2E%2E/token", "."]:
        s, data = call(d, "GET", f"{base}/{path}")
        R.check(f"escape: GET files/{path} is refused ({s})", bad(s) and not leaked(data), f"{s} {short(data)}")
        if path == ".":
            continue  # ".-pwned" is an ordinary name inside the work directory
        s, data = call(d, "PUT", f"{base}/{path}-pwned-{RUN}", "pwned")
        R.check(f"escape: PUT files/{path}-pwned is refused ({s})", bad(s), f"{s} {short(data)}")
    made = [os.path.join(r, f) for r, _, fs in os.walk(work) for f in fs if f"pwned-{RUN}" in f]
    made += [p for p in (f"/token-pwned-{RUN}", f"/etc/passwd-pwned-{RUN}") if os.path.exists(p)]
    R.check("the refused PUTs created nothing anywhere", not made, made)

    # Symlinks made inside the sandbox, each pointing out.
    hosts = [r for r, _, fs in os.walk(SANDBOX[0]) for f in fs if f.startswith("secret-")]
    own = [r for r, _, _ in os.walk(SANDBOX[0]) if s1 in r.split("/")]
    rel_token = os.path.relpath(os.path.join(d.data, "token"), own[-1]) if own else "../../../token"
    victim = [h for h in hosts if s2 in h.split("/")]
    links = {"x": "/etc/shadow", "pw": "/etc/passwd", "root": "/", "r": "/proc/self/root", "up": rel_token, "c": canary,
             "cd": canary_dir, "b": victim[0] if victim else "/nonexistent", "t": os.path.join(d.data, "token")}
    script = "mkdir -p d && ln -s /etc d/e && " + " && ".join(f"ln -s '{t}' {n}" for n, t in links.items()) + " && ls -l | wc -l"
    res, out, err = sandboxed(d, agent, s1, script)
    R.check("the sandboxed program made its symlinks (ln -s /etc/shadow x, / root, /proc/self/root r, ...)", ran(res) and res.get("exit_code") == 0,
            f"{res} {err[:300]!r}")
    reads = ["x", "pw", "root/etc/passwd", "root/etc/shadow", "root/", "r/etc/passwd", "r/", "up", "c", "cd/canary.txt", "cd/",
             f"b/secret-{RUN}.txt", "b/", "t", "d/e/passwd", "root" + canary, "c?offset=0&count=6", "up?offset=0&count=8"]
    for p in reads:
        s, data = call(d, "GET", f"{base}/{p}")
        R.check(f"escape: GET files/{p} through a symlink made inside is refused ({s})", bad(s) and not leaked(data) and b"the-secret-" not in data,
                f"{s} {short(data)}")
    writes = [("PUT", "c"), ("POST", "c"), ("PUT", "cd/canary.txt"), ("POST", "cd/canary.txt"), ("PUT", "cd/new.txt"),
              ("PUT", "root" + canary), ("PUT", "r" + canary), ("PUT", "pw"), ("PUT", "x"), ("PUT", "d/e/pwned"), ("PUT", "b/planted")]
    for method, p in writes:
        s, data = call(d, method, f"{base}/{p}", "pwned")
        R.check(f"escape: {method} files/{p} through a symlink made inside is refused ({s})", bad(s), f"{s} {short(data)}")
    for p in ["cd/canary.txt", "root" + canary, "d/e/hostname"]:
        s, data = call(d, "DELETE", f"{base}/{p}")
        R.check(f"escape: DELETE files/{p} through a symlink made inside is refused ({s})", bad(s), f"{s} {short(data)}")
    s, data = call(d, "DELETE", f"{base}/c")
    R.check(f"DELETE files/c removes the link itself or is refused ({s})", s in (200, 204, 400, 403), f"{s} {short(data)}")
    R.check("the canary is unchanged and still there (never written, appended or removed through a link)",
            os.path.exists(canary) and open(canary).read() == "canary-original" and not os.path.exists(os.path.join(canary_dir, "new.txt")),
            open(canary).read() if os.path.exists(canary) else "gone")
    R.check("/etc/passwd and the other session's files are unchanged", open("/etc/passwd").read().splitlines()[0] == passwd
            and not (victim and os.path.exists(os.path.join(victim[0], "planted"))))
    s, data = call(d, "GET", f"{base}/")
    R.check("files/ still lists the work directory (200)", s == 200, f"{s} {short(data)}")

    # A race: the program swaps d between a directory and a link to the canary's directory
    # while files/d/... is read and written over HTTP for 3 s.
    swap = (f"end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do "
            f"rm -rf d; mkdir d; echo inside > d/canary.txt; rm -rf d; ln -s '{canary_dir}' d; done; rm -rf d")
    s, res = exec_call(d, agent, s1, ["sh", "-c", swap], wait=False, timeout_ms=10000)
    counts, leaks, t_end = {}, [], time.time() + 3
    n = 0
    while time.time() < t_end:
        n += 1
        st, data = call(d, "GET", f"{base}/d/canary.txt")
        counts[f"GET {st}"] = counts.get(f"GET {st}", 0) + 1
        if b"canary-original" in data:
            leaks.append(("GET", st))
        st, data = call(d, "PUT", f"{base}/d/planted-{n}", "pwned")
        counts[f"PUT {st}"] = counts.get(f"PUT {st}", 0) + 1
        st, data = call(d, "PUT", f"{base}/d/canary.txt", "pwned")
        counts[f"PUT {st}"] = counts.get(f"PUT {st}", 0) + 1
    planted = [f for f in os.listdir(canary_dir) if f != "canary.txt"]
    R.check(f"escape: a directory swapped with a symlink while files/ reads and writes through it ({n} rounds: "
            f"{', '.join(f'{k} x{v}' for k, v in sorted(counts.items()))}) never reaches the target",
            s == 200 and not leaks and not planted and open(canary).read() == "canary-original" and any(k.startswith("GET 200") for k in counts),
            f"exec {s} {res}; leaks {leaks[:3]}; planted {planted[:3]}; canary {open(canary).read()!r}")


# --- limits -------------------------------------------------------------------------------


def limit_checks(d, agent):
    s, sess = new_session(d, agent)
    sid = sess.get("session_id")
    s, disk_sess = new_session(d, agent, {"limits": {"disk_bytes": 8 << 20}})
    dsid = disk_sess.get("session_id")
    if not sid or not dsid:
        return R.fail("limits: sessions", f"{sess} {disk_sess}")

    def run(label, argv, limits, want, max_s, timeout_ms=20000, extra=None):
        t0 = time.time()
        s, res = exec_call(d, agent, sid, argv, limits=limits, timeout_ms=timeout_ms)
        took = time.time() - t0
        ok = s == 200 and res.get("killed_by") == want and res.get("state") == "killed" and took < max_s
        R.check(f"limit: {label}: killed_by {res.get('killed_by')} in {took:.1f} s (cpu_ms {res.get('cpu_ms')}, "
                f"max_rss_kb {res.get('max_rss_kb')})", ok and (extra is None or extra(res)), f"{s} {res}")
        return res

    res = run("500 MB under memory_bytes 64 MiB", ["python3", "-c", "x = b'x' * (500 << 20); print(len(x))"],
              {"memory_bytes": 64 << 20}, "memory", 15)
    out, _, _ = output_of(d, agent, sid, res.get("exec_id", "-"))
    R.check("limit: the 500 MB allocation never completed", "524288000" not in out, out[:100])
    run("a fork loop of 64 under pids 16", ["sh", "-c", "i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done; wait"],
        {"pids": 16}, "pids", 15)
    run("a busy loop under cpu_ms 500", ["python3", "-c", "while True: pass"], {"cpu_ms": 500}, "cpu", 8,
        extra=lambda r: 300 <= (r.get("cpu_ms") or 0) <= 3000)
    run("sleep 60 under timeout_ms 1000", ["sleep", "60"], None, "timeout", 5, timeout_ms=1000,
        extra=lambda r: (r.get("duration_ms") or 0) < 5000)

    # 100 MB of output under a 1 MiB cap, agentd's RSS sampled throughout.
    before = rss_kb(d.proc.pid)
    peak, stop = [before], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(d.proc.pid))
            time.sleep(0.02)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.time()
    s, res = exec_call(d, agent, sid, ["python3", "-c", "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(100 * 1024): sys.stdout.write(line)"],
                       limits={"output_bytes": 1 << 20}, timeout_ms=60000)
    took = time.time() - t0
    stop.set()
    t.join()
    out, err, size = output_of(d, agent, sid, res.get("exec_id", "-"))
    grew = (peak[0] - before) / 1024
    R.check(f"limit: 100 MB of output under output_bytes 1 MiB: truncated, exit {res.get('exit_code')}, {took:.1f} s",
            s == 200 and res.get("truncated") is True, f"{s} {res}")
    R.check(f"limit: the output file is {size / 1048576:.2f} MiB (at most 1.2) and holds {len(out) / 1048576:.2f} MiB of stdout",
            0 < size <= 1.2 * 1048576 and len(out) <= 1048576, f"{size} bytes")
    R.check(f"limit: agentd's RSS grew {grew:.1f} MB during the 100 MB of output (< 30 MB; {before // 1024} → {peak[0] // 1024} MB)",
            grew < 30, f"{before} → {peak[0]} KB")

    # The work directory filled past its limit.
    t0 = time.time()
    s, res = exec_call(d, agent, dsid, ["sh", "-c", "dd if=/dev/zero of=/work/fill bs=1M count=64 2>&1; sync; sleep 5"], timeout_ms=30000)
    took = time.time() - t0
    R.check(f"limit: 64 MB written under disk_bytes 8 MiB: killed_by {res.get('killed_by')} in {took:.1f} s", s == 200 and res.get("killed_by") == "disk",
            f"{s} {res}")
    s1, data1 = call(d, "GET", f"/agents/{agent}/containers/sessions/{dsid}/status")
    s2, _ = call(d, "GET", "/runtime/status")
    R.check("limit: agentd keeps serving after the disk limit (session status, /runtime/status)", s1 == 200 and s2 == 200, f"{s1} {s2}")
    st = js(data1)
    disk = (st.get("usage") or {}).get("disk_bytes")
    R.check(f"limit: the session's disk usage stays near its limit ({disk} bytes ≤ 8 MiB + 1 MiB)", disk is not None and disk <= 9 << 20, st)
    s, data = call(d, "PUT", f"/agents/{agent}/containers/sessions/{dsid}/files/more.bin", b"y" * (512 << 10), timeout=60)  # the directory is full: 512 KiB more passes it
    R.check(f"limit: a PUT past disk_bytes is refused 402 ({s})", s == 402 and b"budget_exceeded" in data, f"{s} {short(data)}")
    s, res = exec_call(d, agent, sid, ["echo", "still here"])
    R.check("limit: the sandbox still runs execs afterwards", s == 200 and ran(res) and res.get("exit_code") == 0, f"{s} {res}")


# --- budgets ------------------------------------------------------------------------------


def budgets(d, agent):
    LIMIT, EACH, N = 10_000, 1_000, 32
    policy = {"limit": LIMIT, "price_per_cpu_second": 1000, "max_running": 64, "defaults": {"cpu_ms": 1000}}
    s, data = call(d, "PUT", f"/agents/{agent}/containers/policy", policy)
    R.check("budget: policy (limit 10,000; 1,000 micro-USD a CPU-second; cpu_ms 1000; max_running 64)", s in (200, 204), f"{s} {short(data)}")
    sids = [new_session(d, agent)[1].get("session_id") for _ in range(4)]
    if not all(sids):
        return R.fail("budget: sessions", sids)
    results, samples, stop = [None] * N, [], threading.Event()
    barrier = threading.Barrier(N)

    def fire(i):
        barrier.wait()
        results[i] = exec_call(d, agent, sids[i % 4], ["sleep", "3"], timeout=60) + (sids[i % 4],)

    def sample():
        while not stop.is_set():
            u = usage(d, agent)
            samples.append((u.get("spent"), u.get("reserved")))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=fire, args=(i,)) for i in range(N)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - t0
    stop.set()
    sampler.join()
    admitted = [(r, sid) for s, r, sid in results if s == 200 and r.get("exec_id")]
    refused = [r for s, r, _ in results if s == 402]
    other = [(s, r) for s, r, _ in results if not (s == 200 and r.get("exec_id")) and s != 402]
    R.check(f"budget: {N} concurrent execs: {len(admitted)} admitted, {len(refused)} refused 402 ({took:.1f} s)",
            1 <= len(admitted) <= LIMIT // EACH and len(refused) == N - len(admitted) and not other, f"other answers: {other[:3]}")
    R.check("budget: every refusal says budget_exceeded", all((r.get("error") or {}).get("code") == "budget_exceeded" for r in refused),
            refused[:2])
    bad = [(sp, rs) for sp, rs in samples if sp is None or rs is None or sp + rs > LIMIT]
    peak = max((sp + rs for sp, rs in samples if sp is not None and rs is not None), default=None)
    R.check(f"budget: spent + reserved never above {LIMIT} in {len(samples)} samples of usage (peak {peak})",
            samples and not bad and peak is not None and peak > 0, bad[:5])
    u = usage(d, agent)
    costs = []
    for r, sid in admitted:
        st = js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{r['exec_id']}/status")[1])
        costs.append((st.get("cost"), st.get("reserved")))
    over = [c for c in costs if c[0] is None or c[0] > c[1]]
    R.check(f"budget: at the end reserved is 0 and spent {u.get('spent')} is the sum of the admitted execs' costs",
            u.get("reserved") == 0 and u.get("spent") == sum(c[0] or 0 for c in costs), f"usage {u}, costs {costs}")
    R.check("budget: no exec cost more than it reserved (1,000 each)", not over and all(c[1] == EACH for c in costs), costs)
    for sid in sids:
        call(d, "POST", f"/agents/{agent}/containers/sessions/{sid}/ctl", "stop")


# --- kill -9 ------------------------------------------------------------------------------


def crash(d, agent):
    sessions = {}
    for i in range(2):
        s, res = new_session(d, agent, {"files": {"keep.txt": f"kept-{i}-{RUN}", "sub/dir/deep.txt": f"deep-{i}"}})
        if s != 200:
            return R.fail("crash: sessions", f"{s} {res}")
        sessions[res["session_id"]] = f"kept-{i}-{RUN}"
    sids = list(sessions)
    s, done = exec_call(d, agent, sids[0], ["sh", "-c", "echo finished before the kill"])
    R.check("crash: an exec finished before the kill", s == 200 and ran(done), f"{s} {done}")
    marker = f"agentns-crash-{RUN}"
    running = {}
    for i, sid in enumerate(sids):
        for j in range(2):
            m = f"{marker}-{i}{j}"
            argv = ["sh", "-c", f"setsid {sleeper(m + '-bg', 30)} >/dev/null 2>&1 & exec {sleeper(m, 30)}"] if j else \
                ["python3", "-c", "import time; time.sleep(30)", m]
            s, res = exec_call(d, agent, sid, argv, wait=False)
            if s != 200:
                R.fail("crash: start a sleep 30", f"{s} {res}")
                continue
            running[res["exec_id"]] = sid
    # Every program runs (python3 itself, not only its bwrap): the kill comes mid-run.
    alive = wait_for(lambda: len(host_procs(marker, b"python3")) >= 6, 5)
    R.check(f"control: the {len(running)} running execs' programs (and a setsid child) are seen on the host "
            f"({len(host_procs(marker))} processes with the marker)", bool(alive), describe(host_procs(marker)))
    before = usage(d, agent)
    R.check(f"crash: the running execs hold reservations ({before.get('reserved')})", (before.get("reserved") or 0) > 0, before)
    d.kill()
    left = none_alive(marker, grace=2)
    R.check("crash: with agentd killed, no process of its execs is alive (setsid children included)", not left, describe(left))
    d.start()
    t0 = time.time()

    def all_ended():
        return all(js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{e}/status")[1]).get("state") not in ("running", None)
                   for e, sid in running.items())
    ended = wait_for(all_ended, 15)
    R.check(f"crash: recovery ended the running execs ({time.time() - t0:.1f} s after the restart)", bool(ended))

    def check_all(when):
        listed = [e["name"] for e in js(call(d, "GET", f"/agents/{agent}/containers/sessions/")[1])]
        R.check(f"crash ({when}): both sessions are listed and running", all(s in listed for s in sids) and all(
            js(call(d, "GET", f"/agents/{agent}/containers/sessions/{s}/status")[1]).get("state") == "running" for s in sids), listed)
        files = {s: call(d, "GET", f"/agents/{agent}/containers/sessions/{s}/files/keep.txt")[1].decode(errors="replace") for s in sids}
        deep = [call(d, "GET", f"/agents/{agent}/containers/sessions/{s}/files/sub/dir/deep.txt")[0] for s in sids]
        R.check(f"crash ({when}): the sessions' files are there", files == sessions and deep == [200, 200], f"{files} {deep}")
        states = {e: js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{e}/status")[1]) for e, sid in running.items()}
        R.check(f"crash ({when}): the {len(running)} execs running at the kill are killed", all(st.get("state") == "killed" for st in states.values()),
                [st.get("state") for st in states.values()])
        res = [js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{e}/result")[1]) for e, sid in running.items()]
        R.check(f"crash ({when}): their results say agentd stopped while they ran", all("agentd stopped" in str(r.get("error", "")) for r in res),
                res[:2])
        st = js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sids[0]}/exec/{done['exec_id']}/status")[1])
        R.check(f"crash ({when}): the exec that had finished keeps its end (exited 0)", st.get("state") == "exited" and st.get("exit_code") == 0, st)
        u = usage(d, agent)
        R.check(f"crash ({when}): usage reserved 0, spent unchanged ({u.get('spent')})", u.get("reserved") == 0 and u.get("spent") == before.get("spent"),
                f"{u} before the kill {before}")
        wait_for(lambda: drained(d, agent), 10)
        time.sleep(0.5)
        notices = outbox_notices(d, agent)
        wrong = {e: notices.get(e, 0) for e in list(running) + [done["exec_id"]] if notices.get(e, 0) != 1}
        R.check(f"crash ({when}): each of the {len(running) + 1} execs produced exactly one notice", not wrong, f"counts {wrong}")
    check_all("after the restart")
    d.stop()
    d.start()
    time.sleep(1.0)
    check_all("after a second restart")
    s, res = exec_call(d, agent, sids[1], ["cat", "keep.txt"])
    out, _, _ = output_of(d, agent, sids[1], res.get("exec_id", "-"))
    R.check("crash: a new exec in a recovered session reads its file", s == 200 and ran(res) and out == sessions[sids[1]], f"{s} {res} {out!r}")
    R.check("crash: nothing of the killed execs came back", not host_procs(marker), describe(host_procs(marker)))


def crash_starting(d, agent):
    """kill -9 while execs are starting (bwrap setting up): nothing survives either."""
    s, res = new_session(d, agent)
    sid = res.get("session_id")
    if not sid:
        return R.fail("crash while starting: a session", f"{s} {res}")
    marker = f"agentns-starting-{RUN}"
    answers = []

    def start(i):
        try:
            answers.append(exec_call(d, agent, sid, ["python3", "-c", "import time; time.sleep(30)", f"{marker}-{i}"], wait=False, timeout=5))
        except (OSError, http.client.HTTPException):
            pass  # agentd was killed under it
    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    # The kill comes as soon as the first sandbox process exists: the others are being
    # admitted, spawned, or are setting up their namespaces.
    first = wait_for(lambda: host_procs(marker), 5, step=0.001)
    at_kill = host_procs(marker)
    d.kill()
    for t in threads:
        t.join()
    left = none_alive(marker, grace=2)
    R.check(f"crash while starting: kill -9 with {len(at_kill)} sandbox processes just started "
            f"({len([a for a in answers if a[0] == 200])} admissions answered) leaves none alive",
            bool(first) and not left, f"alive: {describe(left)}")
    for p in left:  # so that they do not outlive the test either
        try:
            os.kill(p, 9)
        except OSError:
            pass
    d.start()
    execs = [e["name"] for e in js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/")[1]) if e["name"] != "new"]
    answered = [a[1]["exec_id"] for a in answers if a[0] == 200]
    R.check(f"crash while starting: every admission answered is an exec ({len(answered)} of {len(execs)})", set(answered) <= set(execs),
            f"{answered} vs {execs}")
    ended = wait_for(lambda: all(js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/exec/{e}/status")[1]).get("state") == "killed"
                                 for e in execs), 15)
    R.check(f"crash while starting: after the restart all {len(execs)} are killed", bool(ended) and execs)
    u = usage(d, agent)
    R.check("crash while starting: usage reserved 0", u.get("reserved") == 0, u)
    wait_for(lambda: drained(d, agent), 10)
    time.sleep(0.5)
    notices = outbox_notices(d, agent)
    wrong = {e: notices.get(e, 0) for e in execs if notices.get(e, 0) != 1}
    R.check(f"crash while starting: each of the {len(execs)} execs produced exactly one notice", not wrong, wrong)


# --- auth ---------------------------------------------------------------------------------


def auth(d, agent, sid, other, osid):
    tok = js(call(d, "POST", f"/agents/{agent}/tokens")[1]).get("token")
    if not tok:
        return R.fail("auth: an agent token", "none issued")
    s, data = call(d, "GET", f"/agents/{agent}/containers/sessions/", token=tok)
    mine = [e["name"] for e in js(data)] if s == 200 else []
    op = [e["name"] for e in js(call(d, "GET", f"/agents/{agent}/containers/sessions/")[1])]
    R.check(f"auth: an agent token lists its own sessions ({len(mine)}, as the operator sees them)", s == 200 and sorted(mine) == sorted(op) and sid in mine,
            f"{s} {short(data)}")
    s, data = call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/status", token=tok)
    R.check("auth: and reads their status", s == 200 and js(data).get("id") == sid, f"{s} {short(data)}")
    for method, path, body in [("GET", f"/agents/{other}/containers/sessions/", None), ("GET", f"/agents/{other}/containers/sessions/{osid}/status", None),
                               ("GET", f"/agents/{other}/containers/sessions/{osid}/files/", None),
                               ("POST", f"/agents/{other}/containers/sessions/{osid}/exec/new", {"argv": ["true"]}),
                               ("POST", f"/agents/{other}/containers/new", {}), ("GET", f"/agents/{other}/containers/usage", None)]:
        s, data = call(d, method, path, body, token=tok)
        R.check(f"auth: an agent token gets 403 for another agent's {method} {path.split('/containers/')[1] or 'containers'}", s == 403, f"{s} {short(data)}")
    for path in [f"/agents/{agent}/containers/sessions/{osid}/status", f"/agents/{agent}/containers/sessions/{osid}/files/"]:
        s, data = call(d, "GET", path, token=tok)
        R.check(f"auth: another agent's session id under its own path is 404 ({path.split('/containers/')[1]})", s == 404, f"{s} {short(data)}")
    execs = js(call(d, "GET", f"/agents/{other}/containers/sessions/{osid}/exec/")[1])
    R.check("auth: the refused exec/new made no exec", isinstance(execs, list) and [e["name"] for e in execs] == ["new"], execs)
    before = call(d, "GET", f"/agents/{agent}/containers/policy")[1]
    for method in ("PUT", "POST"):
        s, data = call(d, method, f"/agents/{agent}/containers/policy", {"limit": 999999999, "max_sessions": 1024}, token=tok)
        R.check(f"auth: an agent token cannot {method} containers/policy ({s})", s == 403, f"{s} {short(data)}")
    s, data = call(d, "GET", f"/agents/{agent}/containers/policy", token=tok)
    R.check("auth: the agent reads its containers/policy, unchanged", s == 200 and data == before, f"{s} {short(data)} vs {short(before)}")
    for label, t in (("no token", None), ("a wrong token", "op_wrong")):
        for method, path, body in [("GET", f"/agents/{agent}/containers/sessions/", None), ("POST", f"/agents/{agent}/containers/new", {}),
                                   ("GET", f"/agents/{agent}/containers/sessions/{sid}/files/", None)]:
            s, data = call(d, method, path, body, token=t)
            R.check(f"auth: {label}: {method} {path.split('/containers/')[1] or 'new'} is 401", s == 401, f"{s} {short(data)}")


# --- the exit test ------------------------------------------------------------------------


def exit_test(d, fake_port):
    agent = "coder"
    provider = {"kind": "openai", "base_url": f"http://127.0.0.1:{fake_port}/v1", "api_key": "sk-containers", "models": ["code"],
                "price": {"input": 1_000_000, "output": 1_000_000}}
    s, data = call(d, "PUT", "/runtime/providers/fake.json", provider)
    R.check("exit test: the fake server is registered as provider (operator)", s in (200, 201, 204), f"{s} {short(data)}")
    d.create(agent)
    tok = js(call(d, "POST", f"/agents/{agent}/tokens")[1]).get("token")
    # From here on only the agent's own token.
    t0 = time.time()
    s, data = call(d, "POST", f"/agents/{agent}/compute/new",
                   {"model": "code", "prompt": "Write fizzbuzz(n) in Python and a test for it, as two fenced blocks"}, token=tok)
    job = js(data)
    R.check("exit test: compute/new with the agent's token", s == 200 and job.get("job_id"), f"{s} {job}")
    jid = job.get("job_id", "-")

    def ended():
        x = js(call(d, "GET", f"/agents/{agent}/compute/jobs/{jid}/status", token=tok)[1])
        return x if x.get("state") in ("succeeded", "failed", "cancelled") else None
    st = wait_for(ended, 15)
    R.check("exit test: the job succeeded", st and st.get("state") == "succeeded", st)
    text = js(call(d, "GET", f"/agents/{agent}/compute/jobs/{jid}/result", token=tok)[1]).get("text", "")
    blocks = re.findall(r"```python\n# (\S+)\n(.*?)```", text, re.S)
    R.check(f"exit test: the answer has two files ({[n for n, _ in blocks]})", [n for n, _ in blocks] == ["solution.py", "test_solution.py"], text[:300])
    s, sess = new_session(d, agent, token=tok)
    sid = sess.get("session_id", "-")
    R.check("exit test: containers/new with the agent's token", s == 200 and sid != "-", f"{s} {sess}")
    for name, code in blocks:
        s, data = call(d, "PUT", f"/agents/{agent}/containers/sessions/{sid}/files/{name}", code, token=tok)
        R.check(f"exit test: PUT files/{name}", s in (200, 201, 204), f"{s} {short(data)}")
    listed = sorted(e["name"] for e in js(call(d, "GET", f"/agents/{agent}/containers/sessions/{sid}/files/", token=tok)[1]))
    R.check("exit test: files/ lists them", listed == ["solution.py", "test_solution.py"], listed)
    s, res = exec_call(d, agent, sid, ["python3", "test_solution.py"], token=tok)
    out, err, _ = output_of(d, agent, sid, res.get("exec_id", "-"), token=tok)
    R.check("exit test: the test ran in the sandbox: exit 0, stdout exactly '3 checks passed\\n', stderr empty",
            s == 200 and res.get("state") == "exited" and res.get("exit_code") == 0 and out == "3 checks passed\n" and err == "",
            f"{s} {res} stdout {out!r} stderr {err!r}")
    outcome = {"id": f"outcome-{RUN}", "kind": "test_outcome",
               "body": {"job_id": jid, "session_id": sid, "exec_id": res.get("exec_id"), "exit_code": res.get("exit_code"), "stdout": out}}
    s, data = call(d, "POST", f"/agents/{agent}/inbox", outcome, token=tok)
    R.check("exit test: the outcome is sent to the agent's inbox with its token", s in (200, 201, 202, 204), f"{s} {short(data)}")

    def answered():
        _, data = call(d, "GET", f"/agents/{agent}/outbox", token=tok)
        bodies = [e.get("body") for e in lines(data)]
        got_outcome = any(isinstance(b, dict) and b.get("stdout") == "3 checks passed\n" and b.get("exit_code") == 0 for b in bodies)
        notices = [b for b in bodies if isinstance(b, dict) and b.get("exec_id") == res.get("exec_id") and "stdout" not in b]
        return (got_outcome, notices) if got_outcome and notices else None
    got = wait_for(answered, 10)
    R.check(f"exit test: the agent answered the outcome and the exec's notice (exit_code 0) ({time.time() - t0:.1f} s end to end)",
            got and len(got[1]) == 1 and got[1][0].get("exit_code") == 0 and got[1][0].get("session_id") == sid, got)


# --- main ---------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    started = time.time()
    # Not under /tmp: the sandbox has a fresh /tmp of its own, which would hide agentd's files
    # from it whatever the provider binds.
    work = tempfile.mkdtemp(prefix="agentns-ctr.", dir="/var/tmp")
    before = set(os.listdir(SANDBOXES)) if os.path.isdir(SANDBOXES) else set()
    fake = subprocess.Popen([sys.executable, FAKE, "--port", "0"], stdout=subprocess.PIPE, stderr=open(os.path.join(work, "fake.log"), "a"), text=True)
    fake_port = int(fake.stdout.readline().split()[1])
    d = Agentd(args.bin, os.path.join(work, "data")).start()
    timings = {}

    def phase(name, fn, *a):
        t0 = time.time()
        try:
            fn(*a)
        except Exception as e:  # a crashed phase is a failure, the others still run
            import traceback
            R.fail(f"{name} raised", "".join(traceback.format_exception(e))[-1500:])
        timings[name] = time.time() - t0
        print(f"-- {name}: {timings[name]:.1f} s", flush=True)

    try:
        s, data = call(d, "GET", "/agents/x/containers/providers/")
        for a in ("esc", "other", "limits", "budget"):
            d.create(a)
        d.create("crash", config={"inbox": {"max_depth": 100000}})
        call(d, "PUT", "/agents/crash/containers/policy", {"max_running": 16})
        providers = [e["name"] for e in js(call(d, "GET", "/agents/esc/containers/providers/")[1])]
        R.check(f"agentd runs a sandbox provider ({providers})", providers != [], "containers/providers/ is empty")
        s, info = call(d, "GET", f"/agents/esc/containers/providers/{providers[0]}/info") if providers else (0, b"")
        print(f"provider info: {short(info, 400)}", flush=True)
        ids = {}
        for a, n in (("esc", 3), ("other", 1)):
            for i in range(n):
                s, res = new_session(d, a)
                if s != 200:
                    R.fail(f"containers/new for {a}", f"{s} {res}")
                    R.finish("containers")
                ids.setdefault(a, []).append(res["session_id"])
        s1, s2, s3 = ids["esc"]
        SANDBOX.extend(os.path.join(SANDBOXES, n) for n in sorted(set(os.listdir(SANDBOXES)) - before))
        if len(SANDBOX) != 1:
            R.fail(f"this agentd's sandbox root is one new directory in {SANDBOXES}", SANDBOX)
            R.finish("containers")
        print(f"sandbox root: {SANDBOX[0]}", flush=True)
        o1 = ids["other"][0]
        phase("escapes through execs", escapes_exec, d, work, "esc", s1, s2, "other", o1)
        phase("processes outliving execs and sessions", outliving, d, "esc", s1, s3)
        phase("escapes through files/", escapes_files, d, work, "esc", s1, s2)
        phase("limits", limit_checks, d, "limits")
        phase("budgets", budgets, d, "budget")
        phase("auth", auth, d, "esc", s1, "other", o1)
        phase("kill -9", crash, d, "crash")
        phase("kill -9 while execs start", crash_starting, d, "crash")
        phase("exit test", exit_test, d, fake_port)
    finally:
        try:
            d.stop()
        except Exception:
            d.kill()
        fake.terminate()
        fake.wait(timeout=10)
    print(f"containers fire test in {time.time() - started:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in timings.items())})", flush=True)
    if not R.failures:
        shutil.rmtree(work, ignore_errors=True)
        for root in SANDBOX:  # its sessions' work directories (agentd keeps them for a restart)
            shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"kept {work} (agentd's log: {d.log}) and the sandbox root {SANDBOX}", flush=True)
    R.finish("containers")


if __name__ == "__main__":
    main()
