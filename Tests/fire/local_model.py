#!/usr/bin/env python3
"""The local model end to end: a real llama-server (SmolLM2-135M, scripts/local-model.sh) behind
agentd's compute/ and an llm agent.

  - scripts/local-model.sh setup (builds llama.cpp once, about 15-20 minutes, then cached), and the
    server started on a free port answers /health, /v1/models and chat completions (plain and
    streamed, with usage) in the OpenAI shapes agentd relies on;
  - agentd on a free port gets the provider (PUT /runtime/providers/local.json), an llm agent is
    created, and a message to it is answered: a `reply` in its outbox whose in_reply_to is the
    envelope id and whose body is a non-empty string; its job is listed in compute/jobs/, streamed
    ({"delta"} lines), succeeded with completion tokens, and traced (compute_submit,
    compute_first_token, compute_finish).

Only shapes are checked, never what the model says (it is tiny). With --bench it also measures
tokens/s for one prompt (temperature 0, max_tokens 128, 5 runs, median), straight from
llama-server and through agentd (compute/new, then jobs/<j>/status), and prints both and the ratio.

Usage: local_model.py --bin DIR [--bench]   (prints ok/FAIL lines; exits 1 on any failure)
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import datetime

from firelib import Agentd, Report, lines

R = Report()
ok, fail, check = R.ok, R.fail, R.check
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "local-model.sh")
AGENT = "assistant"
AGENT_CONFIG = {"provider": "local", "model": "smollm2", "system": "You are a helpful assistant. Answer briefly.",
                "max_tokens": 64, "memory": 4}
BENCH_MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "Write a short story about a robot who learns to paint."}]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_json(port, method, path, body=None, timeout=120):
    """(status, parsed JSON or raw bytes) of one request to 127.0.0.1:port."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def as_json(data):
    try:
        return json.loads(data)
    except (ValueError, TypeError):
        return None


class Model:
    """llama-server through scripts/local-model.sh, with its pid file and log under `model_dir`."""

    def __init__(self, model_dir):
        self.env = dict(os.environ, MODEL_DIR=model_dir)
        self.port = None

    def setup(self):
        t0 = time.time()
        r = subprocess.run([SCRIPT, "setup"], env=self.env, stdout=subprocess.PIPE, text=True)
        print(r.stdout, end="", flush=True)
        if r.returncode != 0:
            raise SystemExit(f"FAIL scripts/local-model.sh setup exited {r.returncode} (see above)")
        paths = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l and l.split("=")[0] in ("server", "model"))
        check("setup: llama-server and the model are installed",
              os.access(paths.get("server", ""), os.X_OK) and os.path.isfile(paths.get("model", "")), f"paths {paths}")
        return time.time() - t0

    def start(self, port):
        t0 = time.time()
        r = subprocess.run([SCRIPT, "start", "--port", str(port)], env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"FAIL scripts/local-model.sh start: {r.stderr.strip()[-2000:]}")
        self.port = port
        url = r.stdout.strip().splitlines()[-1]
        check("start prints the base URL", url == f"http://127.0.0.1:{port}/v1", repr(url))
        return url, time.time() - t0

    def status(self):
        return subprocess.run([SCRIPT, "status"], env=self.env, capture_output=True, text=True)

    def rss_mb(self):
        pid = int(open(os.path.join(self.env["MODEL_DIR"], "llama-server.pid")).read())
        return int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))) / 1024

    def stop(self):
        subprocess.run([SCRIPT, "stop"], env=self.env, capture_output=True)


def direct_checks(port):
    """The OpenAI shapes agentd relies on, straight from llama-server."""
    status, health = http_json(port, "GET", "/health")
    check("llama-server /health is ok", status == 200 and isinstance(health, dict) and health.get("status") == "ok", f"{status} {health!r}")
    status, models = http_json(port, "GET", "/v1/models")
    ids = [m.get("id") for m in models.get("data", [])] if isinstance(models, dict) else []
    check("/v1/models lists smollm2", status == 200 and "smollm2" in ids, f"{status} {models!r:.300}")

    req = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16, "temperature": 0}
    status, r = http_json(port, "POST", "/v1/chat/completions", req)
    try:
        content, usage = r["choices"][0]["message"]["content"], r["usage"]
        good = status == 200 and isinstance(content, str) and usage["completion_tokens"] >= 1 and usage["prompt_tokens"] >= 1
    except (KeyError, IndexError, TypeError):
        good = False
    check("chat completion: a message and usage", good, f"{status} {r!r:.300}")

    # Streamed, with the final usage chunk, ending with [DONE].
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/chat/completions", json.dumps(dict(req, stream=True, stream_options={"include_usage": True})).encode(),
              headers={"Content-Type": "application/json"})
    resp = c.getresponse()
    events = [l[len(b"data: "):].strip() for l in resp.read().splitlines() if l.startswith(b"data: ")]
    c.close()
    chunks = [json.loads(e) for e in events if e != b"[DONE]"]
    deltas = [ch["choices"][0]["delta"].get("content") for ch in chunks if ch.get("choices")]
    usage = [ch["usage"] for ch in chunks if ch.get("usage")]
    check("streamed: content deltas, a usage chunk, then [DONE]",
          resp.status == 200 and any(isinstance(d, str) and d for d in deltas) and usage and usage[-1].get("completion_tokens", 0) >= 1
          and events and events[-1] == b"[DONE]", f"{resp.status}, {len(chunks)} chunks, last {events[-1:]!r}")


def wait_for(what, timeout, probe, interval=0.2):
    """probe() until it returns something truthy; that, or None after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(interval)
    fail(what, f"nothing after {timeout} s")
    return None


def agentd_checks(d, base_url):
    """The provider, an llm agent, one message answered, and its job's files and trace."""
    provider = {"kind": "openai", "base_url": base_url, "models": ["smollm2"], "price": {"input": 0, "output": 0}}
    status, body, _ = d.request("PUT", "/runtime/providers/local.json", json.dumps(provider).encode())
    if status not in (200, 201, 204):
        fail("PUT /runtime/providers/local.json", f"{status} {body[:300]!r}")
        return None
    ok("provider 'local' registered")
    status, body, _ = d.create(AGENT, kind="llm", config=AGENT_CONFIG)
    if status not in (200, 201):
        fail("create an llm agent", f"{status} {body[:300]!r}")
        return None
    ok("llm agent created")
    status, body, _ = d.request("GET", f"/agents/{AGENT}/compute/providers/local/info")
    info = as_json(body)
    check("compute/providers/local/info shows kind and models, no secret",
          status == 200 and isinstance(info, dict) and info.get("kind") == "openai" and "smollm2" in info.get("models", [])
          and "api_key" not in info, f"{status} {body[:300]!r}")

    env_id = f"local-model-{os.getpid()}"
    status, body, _ = d.request("POST", f"/agents/{AGENT}/inbox", json.dumps({"id": env_id, "body": "Say hello."}).encode())
    check("message accepted", status in (200, 201, 202), f"{status} {body[:300]!r}")

    def reply():
        status, body, _ = d.request("GET", f"/agents/{AGENT}/outbox")
        if status != 200:
            return None
        return next((r for r in lines(body) if r.get("type") == "reply" and r.get("in_reply_to") == env_id), None)

    t0 = time.time()
    rec = wait_for("a reply in the outbox", 120, reply)
    if rec is None:
        _, trace, _ = d.request("GET", f"/agents/{AGENT}/logs/trace")
        print(f"     the trace: {trace[-1500:].decode(errors='replace')}")
        return None
    check(f"reply in the outbox after {time.time() - t0:.1f} s, in_reply_to the envelope, a non-empty string body",
          isinstance(rec.get("body"), str) and rec["body"].strip() != "", f"{rec!r:.300}")

    status, body, _ = d.request("GET", f"/agents/{AGENT}/compute/jobs/", headers={"Accept": "application/json"})
    listing = as_json(body)
    names = [e["name"].rstrip("/") for e in listing] if status == 200 and isinstance(listing, list) else []
    check("compute/jobs/ lists the job", len(names) >= 1, f"{status} {body[:300]!r}")
    if not names:
        return None
    job, st = None, None
    for name in names:
        s, b, _ = d.request("GET", f"/agents/{AGENT}/compute/jobs/{name}/status")
        js = as_json(b)
        if s == 200 and isinstance(js, dict) and (job is None or env_id in str(js.get("idempotency_key"))):
            job, st = name, js
    check("jobs/<j>/status: succeeded, provider local, model smollm2, completion_tokens >= 1, timestamps",
          isinstance(st, dict) and st.get("state") == "succeeded" and st.get("provider") == "local" and st.get("model") == "smollm2"
          and (st.get("usage") or {}).get("completion_tokens", 0) >= 1 and st.get("started_at") and st.get("finished_at"),
          f"{st!r:.400}")

    status, body, _ = d.request("GET", f"/agents/{AGENT}/compute/jobs/{job}/stream")
    try:
        deltas = [r for r in lines(body) if isinstance(r.get("delta"), str)] if status == 200 else []
    except ValueError:
        deltas = []
    check(f"jobs/<j>/stream: {len(deltas)} {{\"delta\"}} lines", len(deltas) >= 1, f"{status} {body[:300]!r}")

    status, body, _ = d.request("GET", f"/agents/{AGENT}/compute/jobs/{job}/result")
    result = as_json(body)
    check("jobs/<j>/result: text, finish_reason, usage",
          status == 200 and isinstance(result, dict) and isinstance(result.get("text"), str) and "finish_reason" in result
          and isinstance(result.get("usage"), dict), f"{status} {body[:300]!r}")

    status, body, _ = d.request("GET", f"/agents/{AGENT}/logs/trace")
    trace = lines(body) if status == 200 else []
    for kind in ("compute_submit", "compute_first_token", "compute_finish"):
        hits = [r for r in trace if r.get("type") == kind and job in json.dumps(r)]
        check(f"logs/trace has {kind} for the job", hits, f"types seen: {sorted({r.get('type') for r in trace})}")
    return job


def bench(d, model_port, runs=5):
    """tokens/s for one prompt, straight and through agentd, alternating (the machine's load drifts
    alike for both); medians and their ratio."""
    req = {"model": "smollm2", "messages": BENCH_MESSAGES, "max_tokens": 128, "temperature": 0}
    body = json.dumps({"messages": BENCH_MESSAGES, "max_tokens": 128, "temperature": 0}).encode()

    def direct():
        t0 = time.time()
        status, r = http_json(model_port, "POST", "/v1/chat/completions", req)
        wall = time.time() - t0
        if status != 200 or not isinstance(r, dict):
            fail("bench: direct request", f"{status} {r!r:.300}")
            return None
        timings = r.get("timings") if isinstance(r.get("timings"), dict) else {}
        return r["usage"]["completion_tokens"] / wall, timings.get("predicted_per_second")

    def through_agentd():
        t0 = time.time()
        status, data, _ = d.request("POST", f"/agents/{AGENT}/compute/new", body)
        answer = as_json(data)
        if status not in (200, 201, 202) or not isinstance(answer, dict) or "job_id" not in answer:
            fail("bench: compute/new", f"{status} {data[:300]!r}")
            return None
        job, st = answer["job_id"], None
        deadline = time.time() + 120
        while time.time() < deadline:
            s, b, _ = d.request("GET", f"/agents/{AGENT}/compute/jobs/{job}/status")
            st = as_json(b)
            if s == 200 and isinstance(st, dict) and st.get("state") in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.02)
        wall = time.time() - t0
        if not isinstance(st, dict) or st.get("state") != "succeeded":
            fail("bench: a job through agentd", f"{st!r:.300}")
            return None
        tokens = st["usage"]["completion_tokens"]
        span = parse_time(st["finished_at"]) - parse_time(st["started_at"])
        return (tokens / span if span > 0 else tokens / wall), tokens / wall

    http_json(model_port, "POST", "/v1/chat/completions", req)  # warm-up
    direct_runs, agentd_runs, agentd_ok = [], [], True
    for _ in range(runs):
        got = direct()
        if got is None:
            return
        direct_runs.append(got)
        if agentd_ok:
            got = through_agentd()
            agentd_ok = got is not None
            if got:
                agentd_runs.append(got)

    md = statistics.median(r[0] for r in direct_runs)
    gen = [r[1] for r in direct_runs if r[1]]
    print(f"bench: {runs} runs each, alternating, max_tokens 128, temperature 0, median tokens/s (completion tokens / time):")
    print(f"  llama-server direct (request wall time):            {md:6.1f}"
          + (f"   (its own generation rate: {statistics.median(gen):.1f})" if gen else ""))
    if agentd_ok:
        mt = statistics.median(r[0] for r in agentd_runs)
        print(f"  through agentd (job started_at -> finished_at):     {mt:6.1f}")
        print(f"  through agentd (submit -> status seen finished):    {statistics.median(r[1] for r in agentd_runs):6.1f}")
        print(f"  ratio agentd / direct:                              {mt / md:6.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--bench", action="store_true", help="also measure tokens/s, direct and through agentd")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="agentns-model.")
    model = Model(os.path.join(work, "model"))
    d = None
    try:
        took = model.setup()
        print(f"     setup took {took:.1f} s")
        model_port = free_port()
        base_url, took = model.start(model_port)
        print(f"     llama-server started in {took:.1f} s, RSS {model.rss_mb():.0f} MB")
        s = model.status()
        check("status says running", s.returncode == 0 and s.stdout.startswith("running"), s.stdout + s.stderr)
        direct_checks(model_port)

        d = Agentd(args.bin, os.path.join(work, "data")).start()
        job = agentd_checks(d, base_url)
        if args.bench and job:
            bench(d, model_port)
        model.stop()
        s = model.status()
        check("stop: not running afterwards", s.returncode == 3, s.stdout + s.stderr)
    finally:
        if d:
            d.stop()
        model.stop()
        shutil.rmtree(work, ignore_errors=True)
    R.finish("local_model")


if __name__ == "__main__":
    main()
