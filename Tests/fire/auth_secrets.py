#!/usr/bin/env python3
"""The auth matrix over every documented route, and a scan for secrets.

Two compute providers are registered with api keys "sk-scan-<random>": the fake OpenAI server
(Tests/support/fake_openai.py) and an unreachable base_url; both agents run jobs on them, some
succeeding and some failing (the fake's `badkey` answers 401 repeating the Authorization
header, `always500`, `drop`, and the unreachable provider). Then every operation of
/openapi.yaml (path parameters filled with the real agent, goal, job and provider) is sent
with no token, a wrong token, and an agent token for another agent: all refused (401, 401,
403) with nothing changed. An agent's own token is refused where its mount table says so
(config read-only, identity sign-only, a disabled mount, compute/policy and providers the
operator's, its program read-only: agent a is an exec agent, so /agents/{id}/program is a real
program in the matrix). Then every readable file of every agent, every error body seen, /metrics, the
provider files (whose api_key must read "***") and agentd's log (at trace level) are searched
for the agents' private keys (read from the database), every token value and the api keys:
none may appear. (The api keys are in the database by design; it is not scanned for them.)
Usage: auth_secrets.py --bin DIR
"""
import argparse
import http.client
import json
import os
import secrets as randomness
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import yaml

from firelib import Agentd, Report

R = Report()
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "fake_openai.py")
ENDED = ("succeeded", "failed", "cancelled")
PROGRAM = b"#!/bin/sh\ncat >/dev/null\n"  # agent a's: reads its tick, does nothing


def call(d, method, path, token, body=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def free_port():
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compute_setup(d, work, tok_a, tok_b, seen):
    """Providers with secret keys and jobs on them that succeed and fail. Returns (the api
    keys, a job id of agent a, the fake server's process)."""
    key, dead_key = f"sk-scan-{randomness.token_hex(12)}", f"sk-scan-dead-{randomness.token_hex(12)}"
    bad_put_key = f"sk-scan-badput-{randomness.token_hex(12)}"
    fake = subprocess.Popen([sys.executable, FAKE, "--port", "0"], stdout=subprocess.PIPE, stderr=open(os.path.join(work, "fake.log"), "a"),
                            text=True)
    fake_port = int(fake.stdout.readline().split()[1])
    price = {"input": 1000000, "output": 1000000000}
    for name, url, k, models in [("p", f"http://127.0.0.1:{fake_port}/v1", key, ["fixed", "badkey", "always500", "drop", "slow"]),
                                 ("dead", f"http://127.0.0.1:{free_port()}/v1", dead_key, ["fixed"])]:
        body = json.dumps({"kind": "openai", "base_url": url, "api_key": k, "models": models, "price": price, "max_retries": 1}).encode()
        status, data, _ = d.request("PUT", f"/runtime/providers/{name}.json", body)
        seen.append(data)
        R.check(f"provider {name} registered with an api key", status in (200, 201, 204), f"{status} {data[:200]!r}")
    # A refused provider write must not echo the key it carried.
    status, data, _ = d.request("PUT", "/runtime/providers/q.json", json.dumps({"base_url": "nope", "api_key": bad_put_key}).encode())
    seen.append(data)
    R.check("an invalid provider file is refused (400)", status == 400, f"{status} {data[:200]!r}")
    jobs = []
    for agent, token, provider, model in [("a", tok_a, "p", "fixed"), ("a", tok_a, "p", "badkey"), ("a", tok_a, "p", "always500"),
                                          ("a", tok_a, "p", "drop"), ("a", tok_a, "dead", "fixed"), ("a", d.token, "p", "slow"),
                                          ("b", tok_b, "p", "fixed"), ("b", tok_b, "p", "badkey"), ("b", tok_b, "dead", "fixed")]:
        status, data = call(d, "POST", f"/agents/{agent}/compute/new", token,
                            json.dumps({"provider": provider, "model": model, "prompt": f"scan {model}"}).encode())
        seen.append(data)
        if status == 200:
            jobs.append((agent, json.loads(data)["job_id"], provider, model))
        else:
            R.fail(f"submit {model} on {provider} as {agent}", f"{status} {data[:200]!r}")
    # A refused submit (no such provider) is an error body too.
    seen.append(call(d, "POST", "/agents/a/compute/new", tok_a, b'{"provider":"zz","prompt":"x"}')[1])
    states, deadline = {}, time.time() + 30
    while time.time() < deadline:
        for agent, job, provider, model in jobs:
            status, data = call(d, "GET", f"/agents/{agent}/compute/jobs/{job}/status", d.token)
            states[job] = json.loads(data).get("state") if status == 200 else None
        if all(st in ENDED for st in states.values()):
            break
        time.sleep(0.2)
    want = {("p", "fixed"): "succeeded", ("p", "slow"): "succeeded", ("p", "badkey"): "failed", ("p", "always500"): "failed",
            ("p", "drop"): "failed", ("dead", "fixed"): "failed"}
    wrong = [(model, provider, states.get(job)) for agent, job, provider, model in jobs if states.get(job) != want[(provider, model)]]
    R.check(f"{len(jobs)} jobs ended: the fake's answers succeeded, badkey/always500/drop and the unreachable provider failed",
            not wrong, wrong)
    for agent, job, provider, model in jobs:
        if model == "badkey":
            status, data = call(d, "GET", f"/agents/{agent}/compute/jobs/{job}/status", d.token)
            seen.append(data)
            R.check(f"the badkey job's error says 401 ({agent})", "401" in json.loads(data).get("error", ""), data[:300])
    with urllib_open(f"http://127.0.0.1:{fake_port}/last_auth") as r:
        auth = json.loads(r.read()).get("authorization") or ""
    R.check("the fake server received the api key (so the scan looks for a key that was in use)", key in auth, "")
    # The notices tick the agents: wait for both inboxes to drain before the matrix's snapshot.
    deadline = time.time() + 10
    while time.time() < deadline and any(json.loads(d.request("GET", f"/agents/{a}/status")[1])["queue_depth"] for a in ("a", "b")):
        time.sleep(0.1)
    time.sleep(0.3)
    return [key, dead_key, bad_put_key], next(job for agent, job, _, _ in jobs if agent == "a"), fake


def urllib_open(url):
    import urllib.request
    return urllib.request.urlopen(url, timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-auth.")
    d = Agentd(args.bin, os.path.join(work, "data"), "--log-level", "trace").start()
    seen = []  # every body received, scanned for secrets at the end
    fake = None
    try:
        # a is an exec agent (its program consumes what it is sent), so the matrix reaches a real program.
        status, data, _ = d.request("POST", "/agents", json.dumps({"id": "a", "kind": "exec", "config": {"access": {"/goals": "disabled"}},
                                                                   "program": PROGRAM.decode()}).encode())
        R.check("agent a: an exec agent with a program", status == 201, f"{status} {data[:200]!r}")
        d.create("b")
        d.request("PUT", "/agents/a/goals/g.json", b'{"aim":"x"}')
        d.request("POST", "/agents/a/inbox", b"hello")
        tok_a = json.loads(d.request("POST", "/agents/a/tokens")[1])["token"]
        tok_b = json.loads(d.request("POST", "/agents/b/tokens")[1])["token"]
        api_keys, job_a, fake = compute_setup(d, work, tok_a, tok_b, seen)
        # A container session of a's with a file and a finished exec, for the containers/ routes.
        status, data, _ = d.request("POST", "/agents/a/containers/new", b'{"files": {"f.txt": "kept"}}')
        R.check("a container session for the matrix", status == 200, f"{status} {data[:200]!r}")
        sess_a = json.loads(data)["session_id"] if status == 200 else "s0"
        status, data, _ = d.request("POST", f"/agents/a/containers/sessions/{sess_a}/exec/new", b'{"argv": ["echo", "hi"], "wait": true}')
        R.check("an exec in it for the matrix", status == 200, f"{status} {data[:200]!r}")
        exec_a = json.loads(data)["exec_id"] if status == 200 else "e0"
        doc = yaml.safe_load(d.request("GET", "/openapi.yaml")[1])

        def snapshot():
            return [d.request("GET", path)[1] for path in ("/agents/a/status", "/agents/a/config", "/agents/a/program", "/agents", "/runtime/providers/",
                                                           "/runtime/providers/p.json", "/agents/a/compute/policy",
                                                           "/agents/a/compute/usage", "/agents/a/compute/jobs/",
                                                           f"/agents/a/compute/jobs/{job_a}/status", "/agents/a/containers/policy",
                                                           f"/agents/a/containers/sessions/{sess_a}/status",
                                                           f"/agents/a/containers/sessions/{sess_a}/files/f.txt",
                                                           f"/agents/a/containers/sessions/{sess_a}/exec/{exec_a}/result")]
        before = snapshot()

        # 1. Every documented operation, on agent a, with no token, a wrong one, b's token.
        refused, total, compute_routes, program_routes = 0, 0, 0, 0
        for path, item in doc["paths"].items():
            for method in [m for m in item if m in ("get", "put", "post", "delete", "head")]:
                concrete = path.replace("{id}", "a").replace("{goal}", "g.json").replace("{job}", job_a).replace("{name}", "p")
                concrete = concrete.replace("{session}", sess_a).replace("{exec}", exec_a).replace("{file}", "f.txt")
                if "{" in concrete:
                    R.fail(f"{method.upper()} {path}", "a path parameter the matrix does not fill")
                    continue
                compute_routes += "/compute/" in concrete or concrete.startswith("/runtime/providers")
                program_routes += concrete == "/agents/a/program"
                public = concrete == "/runtime/status"
                body = b'{"id":"zz","kind":"echo"}' if concrete == "/agents" else b"x"
                for label, token, want in [("no token", None, 401), ("wrong token", "op_wrong", 401), ("another agent's token", tok_b, 403)]:
                    if public:
                        continue
                    if label == "another agent's token" and concrete.startswith("/runtime/providers"):
                        want = 403  # the providers are the operator's
                    elif label == "another agent's token" and not concrete.startswith("/agents/a"):
                        want = 403 if method != "get" or concrete in ("/metrics",) else None  # b may list /agents (itself only)
                    status, data = call(d, method.upper(), concrete, token, body if method in ("put", "post") else None)
                    seen.append(data)
                    total += 1
                    if want is None or status == want:
                        refused += 1
                    else:
                        R.fail(f"{method.upper()} {concrete} with {label}", f"status {status}, want {want}: {data[:100]!r}")
        R.ok(f"auth matrix: {refused} of {total} requests refused as they should be")
        R.check(f"the matrix covers the compute routes ({compute_routes} operations of compute/ and /runtime/providers)",
                compute_routes >= 15, compute_routes)
        R.check(f"the matrix covers /agents/{{id}}/program ({program_routes} operations: GET and PUT)", program_routes >= 2, program_routes)
        for method, token, label, want in [("GET", tok_b, "agent b's token", 403), ("PUT", tok_b, "agent b's token", 403),
                                           ("GET", None, "no token", 401), ("PUT", None, "no token", 401)]:
            status, data = call(d, method, "/agents/a/program", token, b"#!/bin/sh\necho owned\n" if method == "PUT" else None)
            seen.append(data)
            R.check(f"{method} agent a's program with {label} -> {want}", status == want, f"got {status}: {data[:100]!r}")
        after = snapshot()
        R.check("nothing changed by refused requests (agent, config, program, providers, policy, usage, jobs)", before == after,
                [(b[:150], a[:150]) for b, a in zip(before, after) if b != a])
        status, data = call(d, "GET", "/agents", tok_b)
        R.check("another agent's token lists only its own agent", status == 200 and [x["id"] for x in json.loads(data)] == ["b"], data[:100])
        status, data = call(d, "GET", "/metrics", tok_a)
        R.check("metrics are for the operator only", status == 403, status)
        status, data = call(d, "POST", "/agents/a/tokens", tok_a)
        R.check("an agent cannot issue tokens", status == 403, status)

        # 2. Agent a's own token under its mount table.
        for method, path, body, want, why in [
            ("GET", "/agents/a/status", None, 200, "status readable"),
            ("PUT", "/agents/a/config", b"{}", 403, "config is read-only for agents"),
            ("PUT", "/agents/a/status", b"{}", 403, "status is read-only"),
            ("GET", "/agents/a/identity/pubkey", None, 200, "pubkey readable (sign-only)"),
            ("POST", "/agents/a/identity/sign", b"data", 200, "sign allowed (sign-only)"),
            ("GET", "/agents/a/goals/", None, 403, "goals disabled by config.access"),
            ("GET", "/agents/a/goals/g.json", None, 403, "a goal under a disabled mount"),
            ("PUT", "/agents/a/goals/h.json", b'{"aim":1}', 403, "writing under a disabled mount"),
            ("DELETE", "/agents/a", None, 403, "an agent cannot delete itself"),
            ("GET", "/agents/a/compute/policy", None, 200, "compute/policy readable"),
            ("PUT", "/agents/a/compute/policy", b'{"limit":999999999}', 403, "compute/policy is the operator's"),
            ("GET", "/agents/a/compute/usage", None, 200, "compute/usage readable"),
            ("GET", f"/agents/a/compute/jobs/{job_a}/status", None, 200, "its own job readable"),
            ("GET", "/agents/a/compute/providers/p/info", None, 200, "provider info readable"),
            ("GET", "/runtime/providers/", None, 403, "the providers' list is the operator's"),
            ("GET", "/runtime/providers/p.json", None, 403, "a provider file is the operator's"),
            ("PUT", "/runtime/providers/evil.json", b'{"base_url":"http://127.0.0.1:9/v1"}', 403, "an agent cannot add a provider"),
            ("DELETE", "/runtime/providers/p.json", None, 403, "an agent cannot remove a provider"),
            ("GET", "/agents/a/program", None, 200, "its own program readable"),
            ("PUT", "/agents/a/program", b"#!/bin/sh\necho owned\n", 403, "its program is the operator's"),
            ("GET", "/agents/b/program", None, 403, "another agent's program is not readable"),
        ]:
            status, data = call(d, method, path, tok_a, body)
            seen.append(data)
            R.check(f"agent token: {why} ({method} {path} -> {want})", status == want, f"got {status}: {data[:100]!r}")

        status, data, _ = d.request("GET", "/agents/a/program")
        program_info = json.loads(d.request("GET", "/agents/a/status")[1]).get("program") or {}
        R.check("agent a's program unchanged by every refused write (its bytes, version 1)",
                status == 200 and data == PROGRAM and program_info.get("version") == 1 and program_info.get("bytes") == len(PROGRAM),
                f"{status} {data[:100]!r} {program_info}")

        # 3. Secrets: the agents' private keys (derived, so told only by an export that asks for
        # them), the node secret they are derived from, every token value.
        keys = []
        for agent in ("a", "b"):
            status, data = call(d, "GET", f"/agents/{agent}?export=1&private_key=1", d.token)
            keys.append(json.loads(data)["identity"]["secret"] if status == 200 else None)
        conn = sqlite3.connect(os.path.join(d.data, "agentd.sqlite"))
        keys += [bytes(row[0]).hex() for row in conn.execute("SELECT value FROM secrets")]
        conn.close()
        R.check("the test knows the private keys and the node secret it looks for",
                len(keys) == 3 and all(k and len(k) == 64 for k in keys), keys)
        secrets = keys + [k.upper() for k in keys] + [d.token, tok_a, tok_b] + api_keys + [k.rsplit("-", 1)[1] for k in api_keys]

        def walk(path):
            status, data = call(d, "GET", path + "/", d.token)
            if status != 200:
                return
            for e in json.loads(data):
                child = f"{path}/{e['name']}"
                if e["type"] == "dir":
                    walk(child)
                else:
                    seen.append(call(d, "GET", child, d.token)[1])
        for agent in ("a", "b"):
            walk(f"/agents/{agent}")
        shown = {}
        for name in ("p", "dead"):
            status, data = call(d, "GET", f"/runtime/providers/{name}.json", d.token)
            seen.append(data)
            shown[name] = json.loads(data).get("api_key") if status == 200 else status
        R.check("/runtime/providers/<name>.json shows each api_key as \"***\"", shown == {"p": "***", "dead": "***"}, shown)
        walk("/runtime/providers")
        for agent in ("a", "b"):  # the stream of a job as a watcher gets it
            status, data = call(d, "GET", f"/agents/{agent}/compute/jobs/", d.token)
            for e in json.loads(data):
                seen.append(sse_head(d, f"/agents/{agent}/compute/jobs/{e['name']}/stream"))
        seen.append(call(d, "GET", "/metrics", d.token)[1])
        seen.append(call(d, "GET", "/runtime/status", None)[1])
        d.stop()
        seen.append(open(d.log, "rb").read())
        leaks = [s[:12] for s in secrets for blob in seen if s.encode() in blob]
        R.check(f"no private key, token or api key in {len(seen)} bodies, files, metrics and the trace-level log", not leaks,
                f"found {sorted(set(leaks))}")
    finally:
        d.stop()
        if fake:
            fake.terminate()
            fake.wait(timeout=10)
    secrets_at_rest(args.bin, work)
    R.finish("auth and secrets")


def sse_head(d, path, seconds=1.0):
    """What a watcher of `path` receives from the start within `seconds`."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=seconds)
    c.request("GET", path + "?watch=1", headers={"Authorization": f"Bearer {d.token}", "Accept": "text/event-stream",
                                                 "Last-Event-ID": "0"})
    r = c.getresponse()
    out = b""
    try:
        while True:
            part = r.read1(65536)
            if not part:
                break
            out += part
    except OSError:
        pass
    c.close()
    return out


def mode(path):
    return oct(os.stat(path).st_mode & 0o777)


def secrets_at_rest(bin_dir, work):
    """The data directory holds every private key and the operator token: never readable by
    others, whatever the umask, and loosened files are tightened (or refused) at start."""
    data = os.path.join(work, "rest", "data")
    os.makedirs(os.path.dirname(data))
    old = os.umask(0)
    try:
        d = Agentd(bin_dir, data).start()
        d.create("k")
        d.request("PUT", "/agents/k/goals/g.json", b'{"aim":"x"}')
        files = {name: mode(os.path.join(data, name)) for name in os.listdir(data)}
        R.check("umask 000: the data directory is created 0700", mode(data) == "0o700", mode(data))
        R.check("umask 000: token, database, WAL, shm and lock are 0600",
                {"token", "agentd.sqlite", "agentd.sqlite-wal", "agentd.sqlite-shm", "agentd.lock"} <= set(files)
                and all(m == "0o600" for m in files.values()), files)
        # Own agent token: export and import are the operator's.
        tok = json.loads(d.request("POST", "/agents/k/tokens")[1])["token"]
        R.check("an agent token cannot export its agent (it would read its private key)",
                call(d, "GET", "/agents/k?export=1&private_key=1", tok)[0] == 403)
        R.check("an agent token cannot import", call(d, "POST", "/agents?import=1", tok, b"{}")[0] == 403)
        d.stop()
        # Loosened by hand (or an older agentd): tightened at the next start, and said so.
        os.chmod(data, 0o755)
        for name in ("token", "agentd.sqlite"):
            os.chmod(os.path.join(data, name), 0o644)
        d.start()
        R.check("a data directory readable by others is tightened to 0700 at start", mode(data) == "0o700", mode(data))
        R.check("a token and database readable by others are tightened to 0600",
                mode(os.path.join(data, "token")) == mode(os.path.join(data, "agentd.sqlite")) == "0o600")
        d.stop()
        R.check("the tightening is logged", "tightened" in open(d.log).read(), open(d.log).read()[-500:])
        # Another user's loose directory is refused, not used (agentd run as uid 65534).
        other = os.path.join(work, "rest", "foreign")
        os.makedirs(other)
        os.chmod(other, 0o777)
        os.chmod(os.path.join(work), 0o755)
        os.chmod(os.path.join(work, "rest"), 0o755)
        copy = os.path.join(work, "rest", "agentd")
        subprocess.run(["cp", os.path.join(bin_dir, "agentd"), copy], check=True)
        os.chmod(copy, 0o755)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copy, "--data", other,
                            "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        R.check("a data directory of another user is refused with what to do",
                r.returncode == 1 and "not to agentd's user" in r.stderr and not os.path.exists(os.path.join(other, "token")),
                f"exit {r.returncode}: {r.stderr.strip()[:300]}")
        # Even tight (0700) and even for root: another user's directory, with a token they chose, is refused.
        planted = os.path.join(work, "rest", "planted")
        os.makedirs(planted)
        with open(os.path.join(planted, "token"), "w") as f:
            f.write("op_known_to_the_planter\n")
        os.chmod(os.path.join(planted, "token"), 0o600)
        os.chmod(planted, 0o700)
        os.chown(planted, 65534, 65534)
        os.chown(os.path.join(planted, "token"), 65534, 65534)
        try:
            r = subprocess.run([copy, "--data", planted, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess([], 0, "", "agentd started (and was killed after 30 s)")
        R.check("root refuses a 0700 data directory (and token) that another user owns",
                r.returncode == 1 and "not to agentd's user" in r.stderr, f"exit {r.returncode}: {r.stderr.strip()[:300]}")
        # A link where the database belongs could send every private key elsewhere: refused.
        linked = os.path.join(work, "rest", "linked")
        os.makedirs(linked, mode=0o700)
        os.symlink("/tmp/elsewhere.sqlite", os.path.join(linked, "agentd.sqlite"))
        r = subprocess.run([copy, "--data", linked, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        R.check("a symbolic link named agentd.sqlite in the data directory is refused",
                r.returncode == 1 and "not a regular file" in r.stderr and not os.path.exists("/tmp/elsewhere.sqlite"),
                f"exit {r.returncode}: {r.stderr.strip()[:300]}")
    finally:
        os.umask(old)


if __name__ == "__main__":
    main()
