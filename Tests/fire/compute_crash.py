#!/usr/bin/env python3
"""Compute under a crash: jobs submitted from many threads, SIGKILL of agentd while they run.

One fake OpenAI server (Tests/support/fake_openai.py) is the provider for every round; one
data directory persists across the rounds. Each round, SUBMITTERS threads submit jobs to a few
echo agents over HTTP, a mix of `fixed`, `slow` (100 ms a token), `long` (200 deltas) and
`hang` (never answers), each with a unique idempotency_key that is also its prompt (so the
fake server counts the provider calls each key caused). A submit that times out, is refused
or answers queue_full is retried with the same key. At a random moment agentd gets SIGKILL
(the jobs queued, running and mid-stream at that moment are read from the database while it
is down, for the report); it is restarted on the same data and port, the submits that were in
flight are finished with their keys, and a sample of acknowledged keys is submitted again:
each must answer the same job id, and a key whose job had already ended must cause no
provider call.

After the last round, a liveness check: with 12 `hang` jobs open, a `fixed` job of another
agent must still succeed within 10 s (calls that never answer must not hold every connection to
the provider). Then the `hang` jobs still open are cancelled through their ctl, and once
every job has ended and every agent's inbox is drained:

  - every acknowledged job exists, with its key, and has ended: succeeded, cancelled, or
    failed with an error starting "interrupted"; no job is queued or running;
  - a succeeded job's cost is its usage at the provider's prices; any other job costs 0;
  - compute/usage: reserved is 0 and spent is the sum of the agent's jobs' costs;
  - the provider saw at most one call per key (exactly one for a succeeded job), and no call
    for a key no submit used;
  - every job produced exactly one notice: the echo agent answered exactly one envelope
    carrying its job_id;
  - PRAGMA integrity_check is ok after every kill and at the end.

Usage: compute_crash.py --bin DIR [--rounds 3] [--submitters 6] [--agents 3]
"""
import argparse
import http.client
import shutil
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from firelib import Agentd, Report, lines

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "support", "fake_openai.py")
# input: 1 micro-USD a token; output: 1,000 micro-USD a token (price is per million tokens).
PRICE = {"input": 1_000_000, "output": 1_000_000_000}
MIX = [("fixed", 3), ("slow", 3), ("long", 2), ("hang", 0.6)]
ENDED = ("succeeded", "failed", "cancelled")
R = Report()
NET = (OSError, http.client.HTTPException)


class Fake:
    """fake_openai.py on a free port, killed by its pid at the end."""

    def __init__(self, log):
        # Its stderr (tracebacks of connections agentd's kill cut) goes to a file, not the report.
        self.proc = subprocess.Popen([sys.executable, FAKE, "--port", "0"], stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)
        first = self.proc.stdout.readline().split()
        if first[:1] != ["PORT"]:
            raise SystemExit(f"fake_openai.py did not start: {first}")
        self.port = int(first[1])

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path)
        data = json.loads(c.getresponse().read())
        c.close()
        return data

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Ledger:
    """What the client was told, shared by the submitters."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # key -> (agent, job id, model)
        self.uncertain = []  # (agent, key, body): in flight at the kill, never answered
        self.attempted = set()  # every key a submit carried
        self.retries = self.queue_full = 0


def submit(d, agent, body, timeout=3):
    """(status, answer) of one POST compute/new; raises on a network failure."""
    status, data, _ = d.request("POST", f"/agents/{agent}/compute/new", json.dumps(body).encode(), timeout=timeout)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, {"raw": data[:200].decode(errors="replace")}


def job_body(key, model):
    return {"model": model, "prompt": key, "max_tokens": 300 if model == "long" else 16, "idempotency_key": key}


class Submitter(threading.Thread):
    def __init__(self, d, agents, name, stop, ledger):
        super().__init__(daemon=True)
        self.d, self.agents, self.name_, self.stop, self.ledger = d, agents, name, stop, ledger

    def run(self):
        models, weights = zip(*MIX)
        n = 0
        while not self.stop.is_set():
            n += 1
            agent, model = random.choice(self.agents), random.choices(models, weights)[0]
            key = f"{self.name_}n{n}-{model}"
            body = job_body(key, model)
            with self.ledger.lock:
                self.ledger.attempted.add(key)
            while True:
                if self.stop.is_set():
                    with self.ledger.lock:
                        self.ledger.uncertain.append((agent, key, body))
                    return
                try:
                    status, answer = submit(self.d, agent, body)
                except NET:
                    with self.ledger.lock:
                        self.ledger.retries += 1
                    time.sleep(0.05)
                    continue
                if status == 200 and answer.get("job_id"):
                    with self.ledger.lock:
                        self.ledger.acked[key] = (agent, answer["job_id"], model)
                    break
                if status == 429:
                    with self.ledger.lock:
                        self.ledger.queue_full += 1
                    time.sleep(0.2)
                    continue
                R.fail(f"submit {key}", f"status {status}: {answer}")
                return


def db_path(d):
    return os.path.join(d.data, "agentd.sqlite")


def integrity(d):
    conn = sqlite3.connect(db_path(d))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def open_at_kill(d):
    """Jobs queued, running and running with streamed deltas, read from the stopped database
    (for the report only: the schema is agentd's own, so a change just blanks the figures)."""
    conn = sqlite3.connect(db_path(d))
    try:
        queued = conn.execute("SELECT count(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
        running = conn.execute("SELECT count(*) FROM jobs WHERE state = 'running'").fetchone()[0]
        streaming = conn.execute("SELECT count(*) FROM jobs WHERE state = 'running' AND stream_bytes > 0").fetchone()[0]
        return {"queued": queued, "running": running, "streaming": streaming}
    except sqlite3.Error as e:
        return {"unknown": str(e)}
    finally:
        conn.close()


def status_of(d, agent, job):
    s, data, _ = d.request("GET", f"/agents/{agent}/compute/jobs/{job}/status")
    return json.loads(data) if s == 200 else None


def all_jobs(d, agent):
    s, data, _ = d.request("GET", f"/agents/{agent}/compute/jobs/")
    return [e["name"] for e in json.loads(data)] if s == 200 else []


def finish_uncertain(d, ledger, killed_at):
    """The submits the kill interrupted, finished with their own keys. Returns how many were
    answered, and how many of those with a job made before the kill (its answer was lost)."""
    done = lost = 0
    for agent, key, body in ledger.uncertain:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, answer = submit(d, agent, body)
            except NET:
                time.sleep(0.1)
                continue
            if status == 200 and answer.get("job_id"):
                ledger.acked[key] = (agent, answer["job_id"], body["model"])
                done += 1
                st = status_of(d, agent, answer["job_id"]) or {}
                lost += bool(st.get("created_at")) and iso_seconds(st["created_at"]) < killed_at
                break
            if status == 429:
                time.sleep(0.3)
                continue
            R.fail(f"finishing the interrupted submit {key}", f"status {status}: {answer}")
            break
    ledger.uncertain = []
    return done, lost


def iso_seconds(text):
    """Seconds since the epoch of agentd's 2026-12-02T06:49:18.203Z."""
    from datetime import datetime, timezone
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc).timestamp()


def resubmit_sample(d, fake, ledger, n):
    """Acknowledged keys submitted again: the same job id; no provider call for an ended job."""
    sample = random.sample(sorted(ledger.acked), min(n, len(ledger.acked)))
    before = {k: status_of(d, ledger.acked[k][0], ledger.acked[k][1]) for k in sample}
    calls_before = fake.get("/calls/by_key")
    same, problems = 0, []
    for key in sample:
        agent, job, model = ledger.acked[key]
        try:
            status, answer = submit(d, agent, job_body(key, model))
        except NET as e:
            problems.append(f"resubmit {key}: {e!r}")
            continue
        if status == 200 and answer.get("job_id") == job:
            same += 1
        else:
            problems.append(f"resubmit {key} answered {status} {answer}, first answer was {job}")
    time.sleep(0.5)  # a second call, if one were made, reaches the fake by now
    calls_after = fake.get("/calls/by_key")
    ended = [k for k in sample if before[k] and before[k]["state"] in ENDED]
    extra = [k for k in ended if calls_after.get(k, 0) != calls_before.get(k, 0)]
    if extra:
        problems.append(f"{len(extra)} resubmits of ended jobs called the provider, e.g. {extra[:3]}")
    return len(sample), same, len(ended), problems


def settle(d, agents, ledger, timeout=60):
    """Waits for every job to end (cancelling open `hang` jobs) and the inboxes to drain."""
    deadline = time.time() + timeout
    cancelled = 0
    while time.time() < deadline:
        open_jobs = []
        for a in agents:
            for j in all_jobs(d, a):
                st = status_of(d, a, j)
                if st and st["state"] not in ENDED:
                    open_jobs.append((a, j, st["model"]))
        for a, j, model in open_jobs:
            if model == "hang":
                s, _, _ = d.request("POST", f"/agents/{a}/compute/jobs/{j}/ctl", b"cancel")
                cancelled += s in (200, 201, 202, 204)
        if not open_jobs:
            break
        time.sleep(0.5)
    while time.time() < deadline:
        depths = [json.loads(d.request("GET", f"/agents/{a}/status")[1])["queue_depth"] for a in agents]
        if not any(depths):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # a tick that took the last envelope commits its reply
    return cancelled


def liveness(d, fake, agents, other, ledger, hangs=12):
    """Provider calls that never answer stop no other job: with HANGS `hang` jobs open, a
    `fixed` job of another agent (default policy) succeeds within 10 s."""
    for i in range(hangs):
        key = f"live-hang{i}"
        ledger.attempted.add(key)
        status, answer = submit(d, agents[i % len(agents)], job_body(key, "hang"))
        if status == 200:
            ledger.acked[key] = (agents[i % len(agents)], answer["job_id"], "hang")
        else:
            R.fail(f"submit {key}", f"{status} {answer}")
    deadline = time.time() + 5
    while time.time() < deadline and sum(n for k, n in fake.get("/calls/by_key").items() if k.startswith("live-hang")) < hangs:
        time.sleep(0.1)
    held = sum(n for k, n in fake.get("/calls/by_key").items() if k.startswith("live-hang"))
    key = "live-fixed"
    ledger.attempted.add(key)
    start = time.time()
    status, answer = submit(d, other, job_body(key, "fixed"))
    if status != 200:
        return R.fail("liveness: submit", f"{status} {answer}")
    ledger.acked[key] = (other, answer["job_id"], "fixed")
    st = None
    while time.time() < start + 10:
        st = status_of(d, other, answer["job_id"])
        if st and st["state"] in ENDED:
            break
        time.sleep(0.1)
    R.check(f"with {hangs} hang jobs open (the provider holds {held} of them) a fixed job of another agent succeeds "
            f"({time.time() - start:.1f} s)", st is not None and st["state"] == "succeeded",
            f"after 10 s it is {st and st['state']}; the provider saw {fake.get('/calls/by_key').get(key, 0)} calls for it "
            f"and holds {held} of the {hangs} hang calls")


def final_checks(d, fake, agents, ledger):
    calls = fake.get("/calls/by_key")
    states, jobs_by_agent, keys_seen = {}, {}, {}
    for a in agents:
        jobs_by_agent[a] = {}
        for j in all_jobs(d, a):
            st = status_of(d, a, j)
            jobs_by_agent[a][j] = st
            states[st["state"]] = states.get(st["state"], 0) + 1
            if st.get("idempotency_key"):
                keys_seen[st["idempotency_key"]] = (a, j)
    total = sum(len(v) for v in jobs_by_agent.values())

    missing = [(k, v) for k, v in ledger.acked.items() if v[1] not in jobs_by_agent.get(v[0], {})]
    R.check(f"every acknowledged job exists ({len(ledger.acked)} acknowledged, {total} jobs in all)", not missing,
            f"{len(missing)} missing, e.g. {missing[:3]}")
    wrong_key = [k for k, (a, j, _) in ledger.acked.items() if j in jobs_by_agent[a] and jobs_by_agent[a][j].get("idempotency_key") != k]
    R.check("every acknowledged job carries the key it was submitted with", not wrong_key, wrong_key[:3])
    phantom = [k for k in keys_seen if k not in ledger.attempted]
    R.check("no job has a key no submit used", not phantom, phantom[:3])
    unkeyed = [j for a in agents for j, st in jobs_by_agent[a].items() if not st.get("idempotency_key")]
    R.check("every job has its key", not unkeyed, unkeyed[:3])

    not_ended = [(a, j, st["state"]) for a in agents for j, st in jobs_by_agent[a].items() if st["state"] not in ENDED]
    R.check("no job is still queued or running", not not_ended, not_ended[:5])
    bad_fail = [(j, st.get("error")) for a in agents for j, st in jobs_by_agent[a].items()
                if st["state"] == "failed" and not str(st.get("error", "")).startswith("interrupted")]
    R.check("every failed job failed with 'interrupted'", not bad_fail, bad_fail[:5])
    bad_cancel = [j for a in agents for j, st in jobs_by_agent[a].items() if st["state"] == "cancelled" and st["model"] != "hang"]
    R.check("only hang jobs were cancelled", not bad_cancel, bad_cancel[:5])

    def expected_cost(st):
        if st["state"] != "succeeded":
            return 0
        u = st.get("usage") or {}
        return (u.get("prompt_tokens", 0) * PRICE["input"] + u.get("completion_tokens", 0) * PRICE["output"]) // 1_000_000
    wrong_cost = [(j, st["state"], st.get("cost"), expected_cost(st)) for a in agents for j, st in jobs_by_agent[a].items()
                  if st.get("cost") != expected_cost(st)]
    R.check("a succeeded job costs its usage at the provider's prices; any other costs 0", not wrong_cost, wrong_cost[:5])
    over = [(j, st["cost"], st["reserved"]) for a in agents for j, st in jobs_by_agent[a].items() if (st.get("cost") or 0) > st["reserved"]]
    R.check("no job cost more than it reserved", not over, over[:5])

    for a in agents:
        _, data, _ = d.request("GET", f"/agents/{a}/compute/usage")
        u = json.loads(data)
        spent = sum(st.get("cost") or 0 for st in jobs_by_agent[a].values())
        R.check(f"{a}: compute/usage reserved 0 and spent {u.get('spent')} = the sum of its {len(jobs_by_agent[a])} jobs' costs",
                u.get("reserved") == 0 and u.get("spent") == spent and (u.get("per_day") or {}).get("reserved") == 0,
                f"usage {u}, sum of costs {spent}")

    twice = {k: n for k, n in calls.items() if n > 1}
    R.check(f"the provider saw at most one call per key ({sum(calls.values())} calls for {len(calls)} keys)", not twice,
            f"{len(twice)} keys called more than once, e.g. {list(twice.items())[:5]}")
    stray = [k for k in calls if k not in ledger.attempted]
    R.check("the provider saw no call for a key no submit used", not stray, stray[:5])
    uncalled = [k for k, (a, j) in keys_seen.items() if jobs_by_agent[a][j]["state"] == "succeeded" and calls.get(k, 0) != 1]
    R.check("every succeeded job's key was called exactly once", not uncalled, uncalled[:5])

    notices = {}
    for a in agents:
        _, outbox, _ = d.request("GET", f"/agents/{a}/outbox")
        for e in lines(outbox):
            body = e.get("body")
            if isinstance(body, dict) and "job_id" in body:
                notices[body["job_id"]] = notices.get(body["job_id"], 0) + 1
    wrong_notices = [(j, notices.get(j, 0)) for a in agents for j in jobs_by_agent[a] if notices.get(j, 0) != 1]
    R.check(f"every job produced exactly one notice ({sum(notices.values())} answered notices for {total} jobs)",
            not wrong_notices, f"{len(wrong_notices)} jobs with another count, e.g. {wrong_notices[:5]}")
    return states, total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--submitters", type=int, default=6)
    p.add_argument("--agents", type=int, default=3)
    p.add_argument("--min-run", type=float, default=1.5, help="seconds of load before the kill, at least")
    p.add_argument("--max-run", type=float, default=3.5)
    p.add_argument("--resubmit", type=int, default=30, help="acknowledged keys submitted again after each restart")
    args = p.parse_args()
    started = time.time()
    work = tempfile.mkdtemp(prefix="agentns-compute-crash.")
    fake = Fake(os.path.join(work, "fake.log"))
    d = Agentd(args.bin, os.path.join(work, "data")).start()
    agents = [f"c{i}" for i in range(args.agents)]
    ledger = Ledger()
    try:
        provider = {"kind": "openai", "base_url": f"http://127.0.0.1:{fake.port}/v1", "api_key": "sk-crash",
                    "models": [m for m, _ in MIX], "price": PRICE}
        s, data, _ = d.request("PUT", "/runtime/providers/fake.json", json.dumps(provider).encode())
        R.check("the fake server is registered as provider", s in (200, 201, 204), f"{s} {data[:200]!r}")
        for a in agents:
            d.create(a, config={"inbox": {"max_depth": 100000}})
            s, data, _ = d.request("PUT", f"/agents/{a}/compute/policy", b'{"max_running": 64}')
            R.check(f"{a}: policy max_running 64", s in (200, 204), f"{s} {data[:200]!r}")
        other = "live"  # default policy; only the liveness check uses it
        d.create(other)
        for r in range(1, args.rounds + 1):
            acked_before, retries_before, full_before = len(ledger.acked), ledger.retries, ledger.queue_full
            stop = threading.Event()
            subs = [Submitter(d, agents, f"r{r}t{t}", stop, ledger) for t in range(args.submitters)]
            for t in subs:
                t.start()
            time.sleep(random.uniform(args.min_run, args.max_run))
            d.kill()  # SIGKILL while jobs are queued, running and streaming
            killed_at = time.time()
            stop.set()
            for t in subs:
                t.join(timeout=15)
            at_kill = open_at_kill(d)
            ok = integrity(d)
            R.check(f"round {r}: integrity_check after the kill", ok == "ok", ok)
            d.start()
            in_flight = len(ledger.uncertain)
            finished, lost = finish_uncertain(d, ledger, killed_at)
            time.sleep(1.0)  # recovery reports the interrupted jobs
            n, same, ended, problems = resubmit_sample(d, fake, ledger, args.resubmit)
            for pr in problems:
                R.fail(f"round {r}: resubmit", pr)
            interrupted = 0
            for key, (a, j, _) in list(ledger.acked.items()):
                if key.startswith(f"r{r}t"):
                    st = status_of(d, a, j)
                    interrupted += bool(st and str(st.get("error", "")).startswith("interrupted"))
            figures = ", ".join(f"{k} {v}" for k, v in at_kill.items())
            print(f"round {r}: acknowledged {len(ledger.acked) - acked_before} (in flight at the kill {in_flight}, finished {finished}, "
                  f"{lost} of them with the job made before the kill), "
                  f"retries {ledger.retries - retries_before}, queue_full {ledger.queue_full - full_before}; at the kill: {figures}; "
                  f"interrupted {interrupted}; resubmits {same}/{n} same id ({ended} of ended jobs); integrity {ok}", flush=True)
        liveness(d, fake, agents, other, ledger)
        agents.append(other)
        cancelled = settle(d, agents, ledger)
        print(f"settled: cancelled {cancelled} hang jobs", flush=True)
        states, total = final_checks(d, fake, agents, ledger)
        print(f"jobs: {total} ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); "
              f"provider calls {fake.get('/calls').get('chat')}", flush=True)
        d.stop()
        ok = integrity(d)
        R.check("integrity_check at the end", ok == "ok", ok)
    finally:
        try:
            d.stop()
        except Exception:
            d.kill()
        fake.stop()
    print(f"{args.rounds} rounds in {time.time() - started:.1f} s", flush=True)
    if not R.failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work} (agentd's log: {d.log})", flush=True)
    R.finish("compute crash")


if __name__ == "__main__":
    main()
