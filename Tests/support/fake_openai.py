#!/usr/bin/env python3
"""A fake OpenAI-compatible chat-completions server for tests (Python 3 stdlib only).

    python3 fake_openai.py --port 0     # prints "PORT <n>" first, then serves until killed

The request's model name picks the behaviour, so one server serves every test at once:

    fixed          "Hello from the fake." in 4 deltas; usage prompt=10*messages, completion=4
    fixed-nousage  the same, never any usage
    slow           the same, 100 ms before each delta
    r429, r500     the first call for a request (keyed on `user`, else the last message's
                   content) answers 429 (Retry-After: 1) or 500; later ones answer as fixed
    always500      always 500
    hang           reads the request and never answers; counts the client going away
    drop           two deltas, 300 ms, then the socket closes without a finish or [DONE]
    echo           the last user message's content as one delta
    long           200 deltas of "x ", 5 ms apart
    drip           10 deltas "d0 " ... "d9 ", 300 ms apart (slow enough to watch a stream grow)
    code           CODE (below): a Python function and its test, two fenced blocks, in 4 deltas
    nostream       always a non-stream JSON answer, even when a stream was asked for
    badkey         401 whose message repeats the Authorization header (as careless servers do)
    anything else  404 with OpenAI's error shape naming the model

Other endpoints: GET /v1/models, GET /health, GET /calls (counts), GET /calls/by_key (chat
calls per request key: `user` if given, else the last user message's content, so a test that
puts a unique key into its prompt can count the provider calls each key caused), POST /reset
(zeroes the counts), GET /last (the last chat request's body), GET /last_auth (its
Authorization header).
"""

import argparse
import json
import select
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = ["Hello", " from", " the", " fake."]
MODELS = ["fixed", "fixed-nousage", "slow", "r429", "r500", "always500", "hang", "drop", "echo", "long", "nostream", "badkey", "drip",
          "code"]
# The `code` model's answer: what a coding model writes when asked for a function and its test.
CODE = ("Here is the function:\n\n```python\n# solution.py\ndef fizzbuzz(n):\n"
        "    return [\"FizzBuzz\" if i % 15 == 0 else \"Fizz\" if i % 3 == 0 else \"Buzz\" if i % 5 == 0 else str(i)"
        " for i in range(1, n + 1)]\n```\n\nAnd its test:\n\n```python\n# test_solution.py\nfrom solution import fizzbuzz\n\n"
        "assert fizzbuzz(5) == [\"1\", \"2\", \"Fizz\", \"4\", \"Buzz\"]\nassert fizzbuzz(15)[-1] == \"FizzBuzz\"\n"
        "assert len(fizzbuzz(100)) == 100\nprint(\"3 checks passed\")\n```\n")

lock = threading.Lock()
counts = {"chat": 0, "models": 0, "health": 0, "disconnects": 0}
seen = set()  # (model, key) pairs that already had their failure
by_key = {}  # request key -> chat calls
last = {"body": None, "auth": None}


def bump(name):
    with lock:
        counts[name] += 1


def request_key(body):
    """`user` if given, else the last user message's content (str of it)."""
    if body.get("user"):
        return str(body["user"])
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1].get("content")) if users else ""


def first_time(model, body):
    """True the first time a request with this key is seen for this model."""
    messages = body.get("messages") or [{}]
    key = (model, body.get("user") or str(messages[-1].get("content")))
    with lock:
        if key in seen:
            return False
        seen.add(key)
        return True


def answer(model, body):
    """The deltas and their spacing (seconds) for a model that answers."""
    if model == "echo":
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        return [str(users[-1].get("content", "")) if users else ""], 0
    if model == "long":
        return ["x "] * 200, 0.005
    if model == "slow":
        return TOKENS, 0.1
    if model == "drip":
        return [f"d{i} " for i in range(10)], 0.3
    if model == "code":
        quarter = len(CODE) // 4
        return [CODE[:quarter], CODE[quarter:2 * quarter], CODE[2 * quarter:3 * quarter], CODE[3 * quarter:]], 0
    return TOKENS, 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each delta leaves at once (and no request waits 40 ms on Nagle and delayed ACKs).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet
        pass

    # -- plumbing --

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, headers=()):
        self.send_json(status, {"error": {"message": message, "type": "fake_error", "code": status}}, headers)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def wait_for_disconnect(self):
        """Blocks until the client closes its side, then counts it."""
        sock = self.connection
        while True:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(4096):
                        break
                except OSError:
                    break
        bump("disconnects")
        self.close_connection = True

    # -- endpoints --

    def do_GET(self):
        if self.path == "/v1/models":
            bump("models")
            self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in MODELS]})
        elif self.path == "/health":
            bump("health")
            self.send_json(200, {"status": "ok"})
        elif self.path == "/calls":
            with lock:
                self.send_json(200, dict(counts))
        elif self.path == "/calls/by_key":
            with lock:
                self.send_json(200, dict(by_key))
        elif self.path == "/last":
            self.send_json(200, last["body"])
        elif self.path == "/last_auth":
            self.send_json(200, {"authorization": last["auth"]})
        else:
            self.error(404, "no route " + self.path)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/reset":
            with lock:
                for name in counts:
                    counts[name] = 0
                by_key.clear()
            self.send_json(200, {"ok": True})
        elif self.path == "/v1/chat/completions":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self.error(400, "the body is not JSON")
            bump("chat")
            with lock:
                if isinstance(body, dict):
                    key = request_key(body)
                    by_key[key] = by_key.get(key, 0) + 1
                last["body"] = body
                last["auth"] = self.headers.get("Authorization")
            try:
                self.chat(body)
            except (BrokenPipeError, ConnectionResetError):
                bump("disconnects")
                self.close_connection = True
        else:
            self.error(404, "no route " + self.path)

    def chat(self, body):
        model = str(body.get("model", ""))
        if model not in MODELS:
            return self.error(404, f"The model '{model}' does not exist")
        if model == "badkey":
            return self.error(401, f"Incorrect API key provided: {self.headers.get('Authorization')}")
        if model == "hang":
            return self.wait_for_disconnect()
        if model == "always500" or (model == "r500" and first_time(model, body)):
            return self.error(500, "the fake failed on purpose")
        if model == "r429" and first_time(model, body):
            return self.error(429, "rate limited, slow down", headers=[("Retry-After", "1")])
        deltas, gap = answer(model, body)
        usage = None if model == "fixed-nousage" else {
            "prompt_tokens": 10 * len(body.get("messages", [])),
            "completion_tokens": len(deltas),
            "total_tokens": 10 * len(body.get("messages", [])) + len(deltas),
        }
        if model == "drop":
            return self.drop()
        if body.get("stream") and model != "nostream":
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self.stream(model, deltas, gap, usage if include_usage else None)
        message = {"role": "assistant", "content": "".join(deltas)}
        reply = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                 "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        if usage:
            reply["usage"] = usage
        self.send_json(200, reply)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk_object(self, model, delta, finish=None, usage_field=False):
        obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage_field:
            obj["usage"] = None  # OpenAI sends "usage": null on every chunk but the last
        return obj

    def stream(self, model, deltas, gap, usage):
        self.start_stream()
        with_usage = usage is not None
        self.event(self.chunk_object(model, {"role": "assistant", "content": ""}, usage_field=with_usage))
        for text in deltas:
            if gap:
                time.sleep(gap)
            self.event(self.chunk_object(model, {"content": text}, usage_field=with_usage))
        self.chunk(b": a comment line, which clients ignore\n\n")
        self.event(self.chunk_object(model, {}, finish="stop", usage_field=with_usage))
        if with_usage:
            self.event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": model, "choices": [], "usage": usage})
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")

    def drop(self):
        self.start_stream()
        for text in TOKENS[:2]:
            self.event(self.chunk_object("drop", {"content": text}))
        # Let the client read the deltas before the close: bytes and the close arriving in one
        # read let the client's HTTP stack report the close before the bytes (seen on a loaded CI).
        time.sleep(0.3)
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # A parent's blocked signals are inherited (Foundation's Process passes them on): unblock
    # them, so SIGTERM and SIGINT stop the server.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # A deep accept queue: tests open many connections at once (the default of 5 drops SYNs).
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
