#!/usr/bin/env python3
"""scout.py: keeps the agent's goal list up to date from the messages it gets, with a model.

    agentctl create scout --kind exec --program examples/scout.py
    agentctl send scout "Learn to juggle three balls."
    agentctl ls scout/goals/                 # learn-to-juggle-three-balls.json
    agentctl cat scout/outbox                # {"body":{"added":["learn to juggle three balls"],"done":[],"goals":[...]},"in_reply_to":...}
    agentctl send scout "I can juggle three balls now."   # the model says DONE: ..., and the goal goes

A message asks compute/ what it changes, with the goals as they stand (read from
/n/self/goals/); the job runs after this tick, so the message and its job id wait in `state`.
The job's notice (an envelope from "compute") wakes the agent again: it reads the answer from
/n/self/compute/jobs/<job>/result, turns its `ADD: <goal>` and `DONE: <goal>` lines into goal
effects and replies to the message with the new list. The model is compute/policy's (or
config "provider"/"model"); with `make run` that is the local SmolLM2. Python 3, stdlib only.
"""
import errno
import json
import os
import re
import sys

SELF = os.environ.get("AGENTNS_SELF", "/n/self")
# What the model is told, with examples: even a model as small as SmolLM2-135M then mostly
# answers in lines the program can read (any other line is ignored).
SYSTEM = ("You turn messages into to-do lists. Write each task of the message on its own line as 'ADD: task'. "
          "Write a task the message says is done as 'DONE: task'. The list now: {goals}.")
EXAMPLES = [("The car is washed.", "DONE: wash the car"),
            ("Please paint the fence and call the plumber.", "ADD: paint the fence\nADD: call the plumber"),
            ("We need a new roof by Monday.", "ADD: a new roof by Monday"), ("I have called the plumber.", "DONE: call the plumber"),
            ("Buy milk.", "ADD: buy milk")]


def effect(**kind):
    """One effect line on stdout; they are committed together when the program exits 0."""
    print(json.dumps(kind), flush=True)


def reply_later(asked, body):
    """Answers a message of an earlier tick (kept in state while the model worked): a reply
    names the envelope by id and, since it is not one of this tick's, its sender."""
    effect(reply={"to": asked["id"], "from": asked["from"], "body": body})


def call(path, request):
    """A call file: the write and the read of its answer on one open handle."""
    fd = os.open(os.path.join(SELF, path), os.O_RDWR)
    try:
        os.write(fd, json.dumps(request).encode())
        answer = b""
        while chunk := os.read(fd, 65536):
            answer += chunk
        return json.loads(answer)
    finally:
        os.close(fd)


def read_json(path):
    with open(os.path.join(SELF, path)) as f:
        return json.load(f)


def goals():
    """goal id -> goal, as the files in /n/self/goals/ say now."""
    found = {}
    for name in sorted(os.listdir(os.path.join(SELF, "goals"))):
        if name.endswith(".json"):
            found[name[:-5]] = read_json(f"goals/{name}")
    return found


def slug(text):
    """A goal id ([a-z0-9][a-z0-9._-]{0,62}) from its words."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "goal"


def words(text):
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def title(goal):
    return goal.get("goal", "") if isinstance(goal, dict) else str(goal)


def ask(envelope, pending, config):
    """Submits the message's job; a retried tick finds the same job (the envelope id is its key)."""
    text = envelope["body"] if isinstance(envelope["body"], str) else json.dumps(envelope["body"])
    now = "; ".join(title(g) for g in goals().values()) or "none"
    messages = [{"role": "system", "content": SYSTEM.format(goals=now)}]
    for asked, answered in EXAMPLES:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    request = {"messages": messages + [{"role": "user", "content": text}], "max_tokens": 128, "temperature": 0,
               "idempotency_key": envelope["id"]}
    request.update({k: config[k] for k in ("provider", "model") if k in config})
    try:
        job = call("compute/new", request)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EIO):
            raise  # too many jobs open, or agentd busy: the tick fails and is retried later
        # Over budget (EDQUOT) or refused: retrying cannot help, so say so.
        return effect(reply={"to": envelope["id"], "body": {"error": f"compute/new: {e.strerror}"}})
    pending[job["job_id"]] = {"id": envelope["id"], "from": envelope["from"]}
    effect(trace={"type": "scout_asked", "job": job["job_id"], "message": envelope["id"]})


def answer(job_id, asked):
    """The job has ended: its ADD/DONE lines become goal effects, the new list the reply."""
    status = read_json(f"compute/jobs/{job_id}/status")
    if status.get("state") != "succeeded":
        return reply_later(asked, {"error": f"the model did not answer: {status.get('error', status.get('state'))}"})
    text = read_json(f"compute/jobs/{job_id}/result").get("text", "")
    current = goals()
    added, done = [], []
    for line in text.splitlines():
        m = re.match(r"[\s*#>\d.)-]*(ADD|DONE)\s*:\s*(.+?)\s*$", line, re.I)
        if not m:
            continue
        verb, goal = m.group(1).upper(), m.group(2).strip(" .")[:120]
        if verb == "ADD" and slug(goal) not in current:
            current[slug(goal)] = {"goal": goal, "from": asked["from"], "message": asked["id"]}
            effect(goal={"id": slug(goal), "body": current[slug(goal)]})
            added.append(goal)
        elif verb == "DONE":  # the goal it names, or else those it shares most of their words with
            gone = [g for g in current if g == slug(goal)] or [
                g for g, body in current.items() if 2 * len(words(title(body)) & words(goal)) >= max(len(words(title(body))), 1)]
            for g in gone:
                effect(goal_remove=g)
                done.append(title(current.pop(g)))
    effect(trace={"type": "scout_goals", "job": job_id, "added": added, "done": done, "lines": len(text.splitlines())})
    reply_later(asked, {"goals": [title(g) for g in current.values()], "added": added, "done": done})


def main():
    tick = json.load(sys.stdin)
    state = tick.get("state") if isinstance(tick.get("state"), dict) else {}
    pending = state.setdefault("pending", {})
    for envelope in tick["envelopes"]:
        if envelope["from"] == "compute" and envelope.get("kind") == "job":
            asked = pending.pop(envelope["body"]["job_id"], None)
            if asked:
                answer(envelope["body"]["job_id"], asked)
        elif envelope["from"] != "containers":  # notices of other services are not messages
            ask(envelope, pending, tick.get("config") or {})
    effect(state=state)


if __name__ == "__main__":
    main()
