"""The data plane's health in the control plane's scrape, against a real
roomvpn-dataplane (dpharness.py, net_ring port, TCP fallback on loopback):
drops by reason (one series per entry of shared/drop_reasons.def), per-lcore,
per-port (NIC imissed/rx_nombuf) and TCP fallback counters, process metrics;
a drop and a TCP refusal provoked through the TCP fallback move their
counters; `promtool check metrics` passes on the scrape; every roomvpn_* or
process_* metric that deploy/grafana/roomvpn.json or
deploy/prometheus/alerts.yml queries is in the scrape."""
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

from dpharness import DataPlane
from harness import SOURCE_DIR, ControlServer, free_port
from test_metrics import PROMTOOL, TOKEN, parse, sample, scrape

METRIC = re.compile(r"\b((?:roomvpn|process)_[a-z0-9_]+)\b")


def drop_reasons():
    """The names in shared/drop_reasons.def, in order."""
    with open(os.path.join(SOURCE_DIR, "shared", "drop_reasons.def")) as f:
        return re.findall(r"^RV_DROP_REASON\(\w+,\s*(\w+),", f.read(), re.M)


def dashboard_exprs():
    """Every PromQL expression of the dashboard (panel targets, variables)."""
    with open(os.path.join(SOURCE_DIR, "deploy", "grafana", "roomvpn.json")) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        out.append(q.get("query", "") if isinstance(q, dict) else q or "")
    return out


def alert_exprs():
    """The expr: lines of deploy/prometheus/alerts.yml (no YAML module needed)."""
    with open(os.path.join(SOURCE_DIR, "deploy", "prometheus", "alerts.yml")) as f:
        text = f.read()
    exprs = re.findall(r"^\s+expr:\s*\|?\s*\n?((?:.*\n)*?)(?=^\s+(?:for|labels|annotations):)", text,
                       re.M)
    assert len(exprs) == text.count("- alert:"), "an alert's expr was not found"
    return exprs


def self_signed(d):
    crt, key = os.path.join(d, "tcp.crt"), os.path.join(d, "tcp.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=rv-dp-test"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def tcp_frame_unknown_peer(addr):
    """A P_DATA_V2 packet for peer-id 0x123456 (no such session) over a TLS
    TCP-fallback connection: the worker drops it as unknown_peer."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    pkt = bytes([9 << 3, 0x12, 0x34, 0x56]) + struct.pack(">I", 1) + os.urandom(36)
    with socket.create_connection(addr, timeout=10) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack(">H", len(pkt)) + pkt)
        s.settimeout(0.5)
        try:
            s.recv(1)  # nothing comes back; only lets the frame leave before the close
        except (socket.timeout, ssl.SSLError, OSError):
            pass


def tcp_not_tls(addr):
    """Plain bytes where a TLS ClientHello belongs: tls_failed."""
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass


class DataplaneMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rv-dpmetrics-")
        crt, key = self_signed(cls.tmp)
        cls.tcp = ("127.0.0.1", free_port())
        cls.dp = DataPlane().start(extra=["--set", "tcp=true", "--set", "tcp-listen=%s:%d" % cls.tcp,
                                          "--set", "tcp-cert=" + crt, "--set", "tcp-key=" + key])
        cls.srv = ControlServer(config={"dataplane_agent": cls.dp.sock})
        path = os.path.join(cls.srv.tmp, "metrics.token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        cls.srv.config["metrics_token_file"] = path
        cls.srv._write_config()
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dp.stop()

    def get(self):
        return scrape(self.srv.metrics_url(), self.srv.cert_path(), token=TOKEN)[2]

    def wait_scrape(self, cond, what, timeout=30.0):
        """Scrapes until cond(samples) holds; the sync thread reads the data
        plane once a second. Returns (text, samples)."""
        deadline = time.time() + timeout
        while True:
            text = self.get()
            s = parse(text)
            if cond(s):
                return text, s
            if time.time() > deadline:
                raise AssertionError("%s: not within %.0f s; scrape:\n%s" % (what, timeout, text[-6000:]))
            time.sleep(0.2)

    def test_dataplane_series(self):
        self.srv.admin_token()  # a login and an RPC: the control plane's own series
        self.wait_scrape(lambda s: sample(s, "roomvpn_dataplane_up") == 1, "data plane up")
        tcp_frame_unknown_peer(self.tcp)
        tcp_not_tls(self.tcp)
        text, s = self.wait_scrape(
            lambda s: sample(s, "roomvpn_dataplane_drops_total", reason="unknown_peer") >= 1
            and sample(s, "roomvpn_dataplane_tcp_tls_failed_total") >= 1,
            "an unknown_peer drop and a failed TLS handshake counted")

        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode() + text[-4000:])

        # One drop series per reason of drop_reasons.def, no other.
        reasons = [dict(k[1])["reason"] for k in s if k[0] == "roomvpn_dataplane_drops_total"]
        self.assertEqual(sorted(reasons), sorted(drop_reasons()))
        self.assertEqual(text.count("# TYPE roomvpn_dataplane_drops_total counter"), 1)

        # The lcore that took the frame, the port (net_ring0 is port 0), the TCP fallback.
        lcores = {dict(k[1])["lcore"]: v for k, v in s.items() if k[0] == "roomvpn_dataplane_rx_packets_total"}
        self.assertTrue(lcores and sum(lcores.values()) >= 1, lcores)
        self.assertGreaterEqual(sum(v for k, v in s.items() if k[0] == "roomvpn_dataplane_lcore_drops_total"), 1)
        for name in ("imissed_total", "rx_nombuf_total", "rx_packets_total", "tx_errors_total"):
            self.assertIn(("roomvpn_dataplane_port_" + name, frozenset({("port", "0")})), s, name)
        self.assertGreaterEqual(sample(s, "roomvpn_dataplane_tcp_accepted_total"), 2)
        self.assertGreaterEqual(sample(s, "roomvpn_dataplane_tcp_frames_in_total"), 1)
        self.assertIn(("roomvpn_dataplane_tcp_shed_total", frozenset({("reason", "idle")})), s)
        self.assertGreater(sample(s, "roomvpn_dataplane_tcp_connections_max"), 0)
        self.assertEqual(sample(s, "roomvpn_dataplane_sessions"), 0)

        # Process metrics of the control plane itself.
        self.assertGreater(sample(s, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(sample(s, "process_open_fds"), 3)
        self.assertGreater(sample(s, "process_cpu_seconds_total"), 0)
        self.assertLess(abs(sample(s, "process_start_time_seconds") - time.time()), 600)

        # The dashboard and the alert rules query only what is scraped.
        names = {k[0] for k in s}
        for where, exprs in (("dashboard", dashboard_exprs()), ("alerts", alert_exprs())):
            self.assertTrue(exprs, where)
            for e in exprs:
                for m in METRIC.findall(e):
                    self.assertTrue(m in names, "%s queries %s, not in the scrape: %s" % (where, m, e))


if __name__ == "__main__":
    unittest.main()
