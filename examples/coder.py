#!/usr/bin/env python3
"""coder.py: asks a model for code, runs it in a sandbox and replies with what it printed.

    agentctl create coder --kind exec --program examples/coder.py
    agentctl send coder "Write a Python program that prints the first ten square numbers."
    agentctl logs coder --follow      # coder_asked, then coder_ran with the exit code
    agentctl cat coder/outbox         # {"body":{"exit_code":0,"stdout":"1\n4\n9...","ran":"main.py",...},"in_reply_to":...}

A message asks compute/ for a program (the job's key is the envelope id, so a retried tick
never calls the model twice); the job runs after this tick, so the message waits in `state`.
The job's notice (an envelope from "compute") wakes the agent again: it reads the answer from
/n/self/compute/jobs/<job>/result, makes a session through /n/self/containers/new, writes
each ```python block of the answer into the session's files/ (a block whose first line is
`# name.py` under that name), runs the last one with python3 (exec/new with "wait": true),
replies with its exit code, stdout and stderr, and stops the session. The notice containers/
sends for the exec is not a message and gets no answer. The model is compute/policy's (or
config "provider"/"model"); with `make run` that is the local SmolLM2. Python 3, stdlib only.
"""
import errno
import json
import os
import re
import sys

SELF = os.environ.get("AGENTNS_SELF", "/n/self")
SYSTEM = ("You write small Python 3 programs. Answer with the whole program in one ```python block; "
          "it must print its result.")
SHOWN = 4000  # characters of stdout and stderr in a reply


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


def read(path):
    with open(os.path.join(SELF, path)) as f:
        return f.read()


def write(path, text):
    with open(os.path.join(SELF, path), "w") as f:
        f.write(text)


def ask(envelope, pending, config):
    task = envelope["body"] if isinstance(envelope["body"], str) else json.dumps(envelope["body"])
    request = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}],
               "max_tokens": 400, "temperature": 0, "idempotency_key": envelope["id"]}
    request.update({k: config[k] for k in ("provider", "model") if k in config})
    try:
        job = call("compute/new", request)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EIO):
            raise  # too many jobs open, or agentd busy: the tick fails and is retried later
        # Over budget (EDQUOT) or refused: retrying cannot help, so say so.
        return effect(reply={"to": envelope["id"], "body": {"error": f"compute/new: {e.strerror}"}})
    pending[job["job_id"]] = {"id": envelope["id"], "from": envelope["from"]}
    effect(trace={"type": "coder_asked", "job": job["job_id"], "message": envelope["id"]})


def files_of(text):
    """name -> code for each ```python block, in order."""
    files = {}
    for code in re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", text, re.S):
        named = re.match(r"#\s*([\w.-]+\.py)\s*\n", code)
        files[named.group(1) if named else f"main{len(files) or ''}.py"] = code
    return files


def run(job_id, asked):
    status = json.loads(read(f"compute/jobs/{job_id}/status"))
    if status.get("state") != "succeeded":
        return reply_later(asked, {"error": f"the model did not answer: {status.get('error', status.get('state'))}"})
    text = json.loads(read(f"compute/jobs/{job_id}/result")).get("text", "")
    files = files_of(text)
    if not files:
        return reply_later(asked, {"error": "the model's answer has no ```python block", "answer": text[:SHOWN]})
    session = call("containers/new", {})["session_id"]
    box = f"containers/sessions/{session}"
    try:
        for name, code in files.items():
            write(f"{box}/files/{name}", code)
        main = list(files)[-1]
        result = call(f"{box}/exec/new", {"argv": ["python3", main], "wait": True, "timeout_ms": 10000})
        out = {"stdout": "", "stderr": ""}
        for line in read(f"{box}/exec/{result['exec_id']}/output").splitlines():
            record = json.loads(line)
            out[record["stream"]] = out.get(record["stream"], "") + record["data"]
    finally:
        write(f"{box}/ctl", "stop")
    effect(trace={"type": "coder_ran", "job": job_id, "session": session, "exit_code": result.get("exit_code")})
    body = {"exit_code": result.get("exit_code"), "ran": main, "files": list(files), "stdout": out["stdout"][:SHOWN],
            "stderr": out["stderr"][:SHOWN], "job_id": job_id}
    if result.get("killed_by"):
        body["killed_by"] = result["killed_by"]  # timeout, memory, pids, cpu, disk
    reply_later(asked, body)


def main():
    tick = json.load(sys.stdin)
    state = tick.get("state") if isinstance(tick.get("state"), dict) else {}
    pending = state.setdefault("pending", {})
    for envelope in tick["envelopes"]:
        if envelope["from"] == "compute" and envelope.get("kind") == "job":
            asked = pending.pop(envelope["body"]["job_id"], None)
            if asked:
                run(envelope["body"]["job_id"], asked)
        elif envelope["from"] != "containers":  # the exec's notice, not a message
            ask(envelope, pending, tick.get("config") or {})
    effect(state=state)


if __name__ == "__main__":
    main()
