#!/usr/bin/env python3
"""Validates agentd's /openapi.yaml and walks every documented operation against a live agentd.

usage: openapi_check.py URL TOKEN
Each operation is called with example parameters; its status must be one the document lists
for it, and never a 5xx. Prints "openapi: N passed, M failed".
"""
import json
import sys
import urllib.error
import urllib.request

import yaml
from openapi_spec_validator import validate

url, token = sys.argv[1].rstrip("/"), sys.argv[2]
passed = failed = 0


def call(method, path, body=None, auth=True):
    req = urllib.request.Request(url + path, method=method.upper(), data=body)
    if auth:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", name, detail)


status, raw = call("get", "/openapi.yaml")
check("GET /openapi.yaml", status == 200, status)
doc = yaml.safe_load(raw)
try:
    validate(doc)
    check("document is valid OpenAPI 3.1", True)
except Exception as e:  # noqa: BLE001
    check("document is valid OpenAPI 3.1", False, e)

AGENT = "openapi-walk"
bodies = {
    "createAgent": json.dumps({"id": AGENT + "-2", "kind": "echo"}).encode(),
    "send": b"hello",
    "writeInbox": b"hello",
    "writeCtl": b"tick",
    "patchConfig": b'{"note":"walked"}',
    "putGoal": b'{"aim":"walk"}',
    "sign": b"data",
    "verify": json.dumps({"pubkey": "00" * 32, "data": "x", "sig": "00" * 64}).encode(),
    "submitJob": json.dumps({"prompt": "walk", "max_tokens": 1}).encode(),
    "writeJobCtl": b"cancel",
    "appendJobCtl": b"cancel",
    "patchComputePolicy": b'{"per_job":1000}',
    "putProvider": json.dumps({"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"],
                               "price": {"input": 1, "output": 1}}).encode(),
}
params = {"id": AGENT, "goal": "g1.json", "job": "j0", "name": "walk"}
status, _ = call("post", "/agents", json.dumps({"id": AGENT, "kind": "echo"}).encode())
check("setup: create agent", status == 201, status)


# Every watch (a GET whose response documents text/event-stream) streams events that match the
# schema the document gives them, with records flowing while it is read: a message sent to the
# agent moves its status, inbox, outbox and trace. (Schemathesis checks this too, but only when a
# fuzzed watch happens to see an event in its 2 s.)
def watch_events(path, poke):
    import http.client
    import threading
    from urllib.parse import urlsplit
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1.5)
    conn.request("GET", path + "?watch=1", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    if r.status != 200:
        conn.close()
        return r.status, []
    threading.Timer(0.2, poke).start()
    events, current, data = [], {}, []
    try:
        while len(events) < 3:
            line = r.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line == "":
                if data or current:
                    current["data"] = "\n".join(data)
                    current.setdefault("event", "message")
                    events.append(current)
                current, data = {}, []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                elif field == "retry":
                    current[field] = int(value)
                else:
                    current[field] = value
    except OSError:  # the read timed out: what came is what there is
        pass
    conn.close()
    return 200, events


def event_schema(op):
    content = op["responses"].get("200", {})
    if "$ref" in content:
        content = doc["components"]["responses"][content["$ref"].split("/")[-1]]
    media = content.get("content", {}).get("text/event-stream")
    if media is None:
        return None
    schema = media.get("itemSchema", media.get("schema"))
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


import jsonschema  # noqa: E402 (openapi-spec-validator's own dependency)

WATCHED = "openapi-watch"
status, _ = call("post", "/agents", json.dumps({"id": WATCHED, "kind": "echo"}).encode())
check("setup: create watched agent", status == 201, status)
seen = 0
for path, item in doc["paths"].items():
    op = item.get("get")
    schema = op and event_schema(op)
    if not schema or "{" in path.replace("{id}", ""):
        continue
    concrete = path.replace("{id}", WATCHED)
    code, events = watch_events(concrete, lambda: call("post", f"/agents/{WATCHED}/inbox", b"watched"))
    if code != 200:
        continue
    for e in events:
        try:
            jsonschema.validate(e, schema)
            check(f"GET {path}?watch=1 event matches its schema", True)
        except jsonschema.ValidationError as err:
            check(f"GET {path}?watch=1 event matches its schema", False, f"{e!r}: {err.message}")
    seen += len(events)
check("watches streamed events to check", seen >= 4, seen)
call("delete", "/agents/" + WATCHED)

order = {"delete": 2}  # deletes last, so the agent is there for everything else
ops = []
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method in ("get", "put", "post", "delete", "head"):
            ops.append((order.get(method, 1), path, method, op))
ops.sort(key=lambda o: (o[0], o[1] == "/agents/{id}"))
for _, path, method, op in ops:
    concrete = path
    for k, v in params.items():
        concrete = concrete.replace("{" + k + "}", v)
    if op["operationId"] == "putGoal" or method != "get":
        pass
    status, body = call(method, concrete, bodies.get(op["operationId"]) if method in ("put", "post") else None)
    documented = set(op.get("responses", {}).keys())
    name = f"{method.upper()} {path}"
    check(name + " status is documented", str(status) in documented, f"{status} not in {sorted(documented)}: {body[:200]!r}")
    check(name + " no 5xx", status < 500, status)
    if 200 <= status < 300 and body and method != "head":
        content = op["responses"].get(str(status), {})
        if "$ref" in content:
            content = doc["components"]["responses"][content["$ref"].split("/")[-1]]
        types = content.get("content", {}).keys()
        if list(types) == ["application/json"]:
            try:
                json.loads(body)
                check(name + " body is JSON", True)
            except ValueError:
                check(name + " body is JSON", False, body[:200])

# Every operation refuses a request with no token (but the runtime status).
for _, path, method, op in ops:
    concrete = path
    for k, v in params.items():
        concrete = concrete.replace("{" + k + "}", v)
    status, _ = call(method, concrete, b"x" if method in ("put", "post") else None, auth=False)
    expected = 200 if path == "/runtime/status" else 401
    check(f"{method.upper()} {path} without a token -> {expected}", status == expected, status)

call("delete", "/agents/" + AGENT + "-2")
print(f"openapi: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
