#!/usr/bin/env python3
"""The auth matrix over every documented route, and a scan for secrets.

Every operation of /openapi.yaml is sent with no token, a wrong token, and an agent token for
another agent: all refused (401, 401, 403) with nothing changed. An agent's own token is
refused where its mount table says so (config read-only, identity sign-only, a disabled
mount). Then every readable file of every agent, every error body seen, /metrics and
agentd's log (at trace level) are searched for the agents' private keys (read from the
database) and for every token value: none may appear.
Usage: auth_secrets.py --bin DIR
"""
import argparse
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile

import yaml

from firelib import Agentd, Report

R = Report()


def call(d, method, path, token, body=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-auth.")
    d = Agentd(args.bin, os.path.join(work, "data"), "--log-level", "trace").start()
    seen = []  # every body received, scanned for secrets at the end
    try:
        d.create("a", config={"access": {"/goals": "disabled"}})
        d.create("b")
        d.request("PUT", "/agents/a/goals/g.json", b'{"aim":"x"}')
        d.request("POST", "/agents/a/inbox", b"hello")
        tok_a = json.loads(d.request("POST", "/agents/a/tokens")[1])["token"]
        tok_b = json.loads(d.request("POST", "/agents/b/tokens")[1])["token"]
        doc = yaml.safe_load(d.request("GET", "/openapi.yaml")[1])
        before = d.request("GET", "/agents/a/status")[1], d.request("GET", "/agents/a/config")[1], d.request("GET", "/agents")[1]

        # 1. Every documented operation, on agent a, with no token, a wrong one, b's token.
        refused, total = 0, 0
        for path, item in doc["paths"].items():
            for method in [m for m in item if m in ("get", "put", "post", "delete", "head")]:
                concrete = path.replace("{id}", "a").replace("{goal}", "g.json")
                public = concrete == "/runtime/status"
                body = b'{"id":"zz","kind":"echo"}' if concrete == "/agents" else b"x"
                for label, token, want in [("no token", None, 401), ("wrong token", "op_wrong", 401), ("another agent's token", tok_b, 403)]:
                    if public:
                        continue
                    if label == "another agent's token" and not concrete.startswith("/agents/a"):
                        want = 403 if method != "get" or concrete in ("/metrics",) else None  # b may list /agents (itself only)
                    status, data = call(d, method.upper(), concrete, token, body if method in ("put", "post") else None)
                    seen.append(data)
                    total += 1
                    if want is None or status == want:
                        refused += 1
                    else:
                        R.fail(f"{method.upper()} {concrete} with {label}", f"status {status}, want {want}: {data[:100]!r}")
        R.ok(f"auth matrix: {refused} of {total} requests refused as they should be")
        after = d.request("GET", "/agents/a/status")[1], d.request("GET", "/agents/a/config")[1], d.request("GET", "/agents")[1]
        R.check("nothing changed by refused requests", before == after, f"{before} -> {after}")
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
        ]:
            status, data = call(d, method, path, tok_a, body)
            seen.append(data)
            R.check(f"agent token: {why} ({method} {path} -> {want})", status == want, f"got {status}: {data[:100]!r}")

        # 3. Secrets: private keys from the database, every token value.
        conn = sqlite3.connect(os.path.join(d.data, "agentd.sqlite"))
        keys = [bytes(row[0]).hex() for row in conn.execute("SELECT secret FROM identity")]
        conn.close()
        R.check("the test knows the private keys it looks for", len(keys) == 2, keys)
        secrets = keys + [k.upper() for k in keys] + [d.token, tok_a, tok_b]

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
        seen.append(call(d, "GET", "/metrics", d.token)[1])
        seen.append(call(d, "GET", "/runtime/status", None)[1])
        d.stop()
        seen.append(open(d.log, "rb").read())
        leaks = [s[:12] for s in secrets for blob in seen if s.encode() in blob]
        R.check(f"no private key or token in {len(seen)} bodies, files, metrics and the trace-level log", not leaks,
                f"found {sorted(set(leaks))}")
    finally:
        d.stop()
    secrets_at_rest(args.bin, work)
    R.finish("auth and secrets")


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
