"""What the fire tests share: a real agentd process on a real port, and ok/FAIL reporting."""
import http.client
import json
import os
import signal
import subprocess
import time


class Report:
    """Prints `ok   what` or `FAIL what: why` lines and counts the failures."""

    def __init__(self):
        self.failures = 0

    def ok(self, what):
        print(f"ok   {what}", flush=True)

    def fail(self, what, why):
        self.failures += 1
        print(f"FAIL {what}: {why}", flush=True)

    def check(self, what, passed, why=""):
        self.ok(what) if passed else self.fail(what, why)

    def finish(self, name):
        print(f"{'FAILED' if self.failures else 'passed'}: {name} ({self.failures} failures)", flush=True)
        raise SystemExit(1 if self.failures else 0)


class Agentd:
    """agentd on DATA; port 0 the first time, the same port on every restart."""

    def __init__(self, bin_dir, data, *extra):
        self.bin_dir, self.data, self.extra, self.port, self.proc = bin_dir, data, list(extra), 0, None
        self.log = data + ".log"
        self.env = None  # the environment agentd runs with (None: this process's)

    def start(self):
        self.proc = subprocess.Popen(
            [f"{self.bin_dir}/agentd", "--data", self.data, "--listen", f"127.0.0.1:{self.port}", "--log-level", "warning", *self.extra],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if not self.port:
                marks = [l for l in open(self.log).read().splitlines() if "listening on http://127.0.0.1:" in l]
                if marks:
                    self.port = int(marks[-1].rsplit(":", 1)[1])
            if self.port and self.ready():
                self.token = open(os.path.join(self.data, "token")).read().strip()
                return self
            if self.proc.poll() is not None:
                raise SystemExit(f"agentd exited: {open(self.log).read()[-2000:]}")
            time.sleep(0.05)
        raise SystemExit("agentd did not start in 20 s")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ready(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("GET", "/runtime/status")
            return c.getresponse().status == 200
        except OSError:
            return False

    def request(self, method, path, body=None, timeout=10, headers=None):
        """(status, body, headers) of one request with the operator token."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, r.headers

    def create(self, agent, kind="echo", config=None):
        return self.request("POST", "/agents", json.dumps({"id": agent, "kind": kind, "config": config or {}}).encode())

    def proc_status(self):
        """VmRSS (KB), open descriptors and threads, from /proc."""
        fields = {l.split(":")[0]: l.split()[1] for l in open(f"/proc/{self.proc.pid}/status") if len(l.split()) > 1}
        return int(fields["VmRSS"]), len(os.listdir(f"/proc/{self.proc.pid}/fd")), int(fields["Threads"])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def lines(data):
    """JSON lines as objects."""
    return [json.loads(l) for l in data.decode().splitlines() if l.strip()]


OP = object()  # "the operator's token" (call's default)


def call(d, method, path, body=None, token=OP, timeout=30):
    """(status, raw body) of one request; token OP is the operator's, None sends none."""
    if token is OP:
        token = d.token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    c.request(method, path, body=body, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def js(data):
    try:
        return json.loads(data)
    except ValueError:
        return {"raw": data[:300].decode(errors="replace")}


def short(data, n=300):
    return data[:n].decode(errors="replace") if isinstance(data, bytes) else str(data)[:n]


def wait_for(fn, seconds, step=0.1):
    """fn()'s first truthy value within `seconds` (polled every `step`), else its last."""
    deadline = time.time() + seconds
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def describe(pids):
    """The first few pids with their command lines, for a failure's message."""
    out = []
    for p in pids[:5]:
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{p}: {cmd[:120]}")
        except OSError:
            out.append(str(p))
    return out
