"""Helpers of test_fleetlink.py: the link test host (dp_link_host, a real
rv_dp_links_start with callbacks that print) and real data planes that dial
it (roomvpn-dataplane with control = ..., net_ring port, --no-huge, own
--file-prefix). Environment (set by ctest): RV_CONTROL_BIN, RV_DATAPLANE_BIN,
RV_DP_LINK_HOST_BIN."""
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time

SOURCE_DIR = os.environ.get("RV_SOURCE_DIR", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.join(SOURCE_DIR, "build")
CONTROL_BIN = os.environ.get("RV_CONTROL_BIN", os.path.join(BUILD, "control", "roomvpn-control"))
DATAPLANE_BIN = os.environ.get("RV_DATAPLANE_BIN",
                               os.path.join(BUILD, "dataplane", "roomvpn-dataplane"))
HOST_BIN = os.environ.get("RV_DP_LINK_HOST_BIN",
                          os.path.join(BUILD, "tests", "control", "dp_link_host"))


def issue_cert(ca_dir, name, out_dir):
    """roomvpn-control dataplane-cert NAME --out DIR with the CA in ca_dir."""
    return subprocess.run([CONTROL_BIN, "dataplane-cert", name, "--out", out_dir,
                           "--state-dir", os.path.dirname(ca_dir),
                           "--set", "dataplane_ca_dir=" + ca_dir],
                          capture_output=True, text=True, timeout=30)


def revoke(ca_dir, name):
    return subprocess.run([CONTROL_BIN, "dataplane-revoke", name,
                           "--state-dir", os.path.dirname(ca_dir),
                           "--set", "dataplane_ca_dir=" + ca_dir],
                          capture_output=True, text=True, timeout=30)


class Host:
    """dp_link_host: lines of stdout in a queue, its log (stderr) in a file."""

    def __init__(self, ca_dir, log_path, port=0, extra=()):
        self.log_path = log_path
        self.log_file = open(log_path, "a")
        self.proc = subprocess.Popen(
            [HOST_BIN, "--listen", "127.0.0.1:%d" % port, "--ca-dir", ca_dir,
             "--names", "127.0.0.1"] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_file,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.expect(r"^listening (\d+)$", 30).group(1))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern, timeout=30.0, avoid=None):
        """The first line matching pattern (earlier lines are skipped;
        a line matching avoid fails at once)."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError("dp_link_host exited waiting for %r" % pattern)
            if avoid and re.search(avoid, line):
                raise AssertionError("unexpected line %r waiting for %r" % (line, pattern))
            m = re.search(pattern, line)
            if m:
                return m
            if time.time() > deadline:
                raise AssertionError("no line matching %r within %.0f s" % (pattern, timeout))

    def none_within(self, pattern, seconds):
        """No line matching pattern arrives for `seconds` (a negative check:
        the positive evidence is checked separately, in the log)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=deadline - time.time())
            except queue.Empty:
                return
            if line is not None and re.search(pattern, line):
                raise AssertionError("unexpected line %r" % line)

    def cmd(self, line, pattern, timeout=60.0):
        self.proc.stdin.write(line + "\n")
        return self.expect(pattern + "|^err ", timeout)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=30.0):
        deadline = time.time() + timeout
        while not re.search(pattern, self.log()):
            if time.time() > deadline:
                raise AssertionError("host log has no %r:\n%s" % (pattern, self.log()[-3000:]))
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.log_file.close()


class RemoteDataPlane:
    """A real roomvpn-dataplane dialling the host with the given files."""
    _n = 0

    def __init__(self, tmp, port, name, cert_dir, cert_name=None, ca=None,
                 control_host="127.0.0.1", max_sessions=65536, more_ports=()):
        RemoteDataPlane._n += 1
        self.dir = tempfile.mkdtemp(prefix="dp-", dir=tmp)
        self.log_path = os.path.join(self.dir, "dp.log")
        self.log_file = open(self.log_path, "w")
        cert_name = cert_name or name
        self.proc = subprocess.Popen(
            [DATAPLANE_BIN, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
             "--file-prefix", "rv-fl-%d-%d" % (os.getpid(), RemoteDataPlane._n),
             "--vdev", "net_ring0", "--log-level=lib.eal:error", "--",
             "--set", "ip=10.99.0.1/24", "--set", "idle_sleep_us=1000",
             "--set", "agent_socket=" + os.path.join(self.dir, "agent.sock"),
             "--set", "control=" + ",".join("%s:%d" % (control_host, p)
                                             for p in (port,) + tuple(more_ports)),
             "--set", "name=" + name,
             "--set", "labels=site=test", "--set", "max_sessions=%d" % max_sessions, "--set", "public_udp=192.0.2.1:1194",
             "--set", "agent_cert=%s/%s.crt" % (cert_dir, cert_name),
             "--set", "agent_key=%s/%s.key" % (cert_dir, cert_name),
             "--set", "agent_ca=" + (ca or os.path.join(cert_dir, "ca.crt"))],
            stdout=self.log_file, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=30.0):
        deadline = time.time() + timeout
        while not re.search(pattern, self.log()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("data plane log has no %r:\n%s" % (pattern, self.log()[-3000:]))
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)
