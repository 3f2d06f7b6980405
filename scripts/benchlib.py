"""What the benchmark scripts share: a release agentd started and stopped for real."""
import http.client
import os
import signal
import subprocess
import sys
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Agentd:
    def __init__(self, bin_dir, data, port):
        self.bin, self.data, self.port, self.proc = bin_dir, data, port, None

    def start(self):
        """Starts agentd; returns seconds from exec to the first answered request."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen([os.path.join(self.bin, "agentd"), "--data", self.data, "--listen", f"127.0.0.1:{self.port}",
                                      "--log-level", "warning", "--no-sandbox"],
                                     stdout=open(os.path.join(self.data + ".log"), "a"), stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"agentd exited at start ({self.proc.returncode}); its log: {self.data}.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/openapi.yaml")
                c.getresponse().read()
                return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.002)

    def token(self):
        return open(os.path.join(self.data, "token")).read().strip()

    def rss_mb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu_seconds(self):
        """User + system CPU time agentd has used so far."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_agentd(bin_dir, port, prefix):
    """A new data directory under /var/tmp and an agentd (not yet started) over it: (work, agentd)."""
    import tempfile
    work = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    data = os.path.join(work, "data")
    os.makedirs(data)
    return work, Agentd(bin_dir, data, port)
