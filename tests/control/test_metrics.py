"""Prometheus metrics over HTTPS (harness.py starts the server with
metrics_listen on loopback): `promtool check metrics` passes on the scrape,
counters and gauges move as RPCs happen, plain HTTP and other paths are
refused; nobody scrapes without credentials: a client certificate from
metrics_client_ca (mTLS), the bearer token of metrics_token_file, or a source
address in metrics_allow; idle connections cannot starve a scrape."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc

from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "unparsable line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(url, cafile, cert=None, token=None, timeout=10):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(*cert)
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


TOKEN = "metrics-test-token-0123456789abcdef"


def token_server(config=None):
    """A server whose metrics take the bearer token TOKEN (file in its tmp dir)."""
    srv = ControlServer(config=config)
    path = os.path.join(srv.tmp, "metrics.token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    srv.config["metrics_token_file"] = path
    srv._write_config()
    return srv.start()


def refused(fn, *args, **kwargs):
    """The HTTP status of a refused scrape (fails if it succeeds)."""
    try:
        fn(*args, **kwargs)
    except urllib.error.HTTPError as e:
        return e.code
    raise AssertionError("the scrape succeeded")


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = token_server(config={"login_fail_per_addr": "1000"})
        cls.admin = cls.srv.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self):
        status, ctype, text = scrape(self.srv.metrics_url(), self.srv.cert_path(), token=TOKEN)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return text

    def test_promtool_accepts_the_scrape(self):
        self.srv.call("/roomvpn.v1.RoomService/List", rooms.ListRoomsRequest(), rooms.ListRoomsResponse,
                      self.admin)
        text = self.get()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode() + text[:2000])
        for name in ("roomvpn_control_rpcs_total", "roomvpn_control_rpc_duration_seconds",
                     "roomvpn_control_logins_total", "roomvpn_control_users", "roomvpn_control_rooms",
                     "roomvpn_control_room_members", "roomvpn_control_open_streams"):
            self.assertIn("# TYPE %s " % name, text)

    def test_counters_move(self):
        create = "/roomvpn.v1.RoomService/Create"
        before = parse(self.get())
        user = self.srv.user_token("mel")  # users.create + one ok login
        rpc_error(self.srv.login, "mel", "wrong-password")
        self.srv.call(create, rooms.CreateRoomRequest(name="met-1"), rooms.Room, user)
        self.srv.call(create, rooms.CreateRoomRequest(name="met-2"), rooms.Room, user)
        rpc_error(self.srv.call, create, rooms.CreateRoomRequest(name="bad name"), rooms.Room, user)
        self.srv.call("/roomvpn.v1.RoomService/Join", rooms.JoinRoomRequest(room="met-1"),
                      rooms.JoinRoomResponse, user)
        after = parse(self.get())

        def delta(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)

        self.assertEqual(delta("roomvpn_control_rpcs_total", method=create, code="OK"), 2)
        self.assertEqual(delta("roomvpn_control_rpcs_total", method=create, code="INVALID_ARGUMENT"), 1)
        self.assertEqual(delta("roomvpn_control_rpc_duration_seconds_count", method=create), 3)
        self.assertEqual(delta("roomvpn_control_rpc_duration_seconds_bucket", method=create, le="+Inf"), 3)
        self.assertGreater(delta("roomvpn_control_rpc_duration_seconds_sum", method=create), 0)
        self.assertEqual(delta("roomvpn_control_logins_total", result="ok"), 1)
        self.assertEqual(delta("roomvpn_control_logins_total", result="failed"), 1)
        self.assertEqual(delta("roomvpn_control_users"), 1)
        self.assertEqual(delta("roomvpn_control_rooms"), 2)
        self.assertEqual(delta("roomvpn_control_room_members"), 1)
        self.assertEqual(sample(after, "roomvpn_control_open_streams"), 0)
        # Histogram buckets are cumulative.
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                         if k[0] == "roomvpn_control_rpc_duration_seconds_bucket"
                         and dict(k[1]).get("method") == create)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))

    def test_refuses_plain_http_and_other_paths(self):
        with self.assertRaises(urllib.error.HTTPError) as cm:
            scrape(self.srv.metrics_url().replace("/metrics", "/other"), self.srv.cert_path(),
                   token=TOKEN)
        self.assertEqual(cm.exception.code, 404)
        s = socket.create_connection(("127.0.0.1", self.srv.metrics_port), timeout=5)
        try:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            reply = s.recv(4096)
        except OSError:
            reply = b""
        finally:
            s.close()
        self.assertNotIn(b"roomvpn_control", reply)
        # The server's own certificate is what it serves: an unrelated CA fails.
        other = tempfile.mkdtemp(prefix="rv-metrics-ca-")
        try:
            ca = make_ca(other, "other")
            with self.assertRaises((ssl.SSLError, urllib.error.URLError)):
                scrape(self.srv.metrics_url(), ca[0], token=TOKEN)
        finally:
            shutil.rmtree(other, ignore_errors=True)

    def test_no_scrape_without_credentials(self):
        url, ca = self.srv.metrics_url(), self.srv.cert_path()
        self.assertEqual(refused(scrape, url, ca), 403)
        self.assertEqual(refused(scrape, url, ca, token=TOKEN[:-1] + "X"), 403)
        self.assertEqual(refused(scrape, url, ca, token=TOKEN + "X"), 403)
        self.assertEqual(refused(scrape, url.replace("/metrics", "/other"), ca), 403)
        self.assertEqual(scrape(url, ca, token=TOKEN)[0], 200)

    def test_idle_connections_do_not_starve_scrapes(self):
        idle = []
        try:
            for _ in range(40):  # more than the old limit of 32, all silent
                idle.append(socket.create_connection(("127.0.0.1", self.srv.metrics_port), timeout=5))
            # answered now, not when the idle ones time out (10 s before the fix)
            for _ in range(3):
                status, _, text = scrape(self.srv.metrics_url(), self.srv.cert_path(), token=TOKEN,
                                         timeout=5)
                self.assertEqual(status, 200)
                self.assertEqual(text.count("# TYPE roomvpn_control_users "), 1)
        finally:
            for s in idle:
                s.close()


class MetricsAllowTest(unittest.TestCase):
    """metrics_allow admits source addresses without credentials, others not."""

    def check(self, allow, ok):
        srv = ControlServer(config={"metrics_allow": allow}).start()
        try:
            if ok:
                self.assertEqual(scrape(srv.metrics_url(), srv.cert_path())[0], 200)
            else:
                self.assertEqual(refused(scrape, srv.metrics_url(), srv.cert_path()), 403)
        finally:
            srv.stop()

    def test_loopback_allowed(self):
        self.check("10.0.0.0/8, 127.0.0.0/8", True)

    def test_other_prefix_refused(self):
        self.check("10.0.0.0/8 ::1", False)

    def test_bad_prefix_refused_at_start(self):
        srv = ControlServer(config={"metrics_allow": "127.0.0.1/40"})
        try:
            srv.start(wait=False)
            self.assertNotEqual(srv.proc.wait(timeout=30), 0)
            self.assertIn("metrics_allow", srv.read_log())
        finally:
            srv.stop()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    crt, key = os.path.join(d, name + "-ca.crt"), os.path.join(d, name + "-ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=%s test CA" % name)
    return crt, key


def make_client(d, ca, name):
    crt, key, csr = (os.path.join(d, name + ext) for ext in (".crt", ".key", ".csr"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=%s" % name)
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", crt,
            "-days", "2")
    return crt, key


class MetricsMtlsTest(unittest.TestCase):
    def test_client_certificate_required(self):
        d = tempfile.mkdtemp(prefix="rv-metrics-mtls-")
        try:
            ca = make_ca(d, "scrape")
            good = make_client(d, ca, "prometheus")
            rogue_ca = make_ca(d, "rogue")
            rogue = make_client(d, rogue_ca, "intruder")
            srv = ControlServer(config={"metrics_client_ca": ca[0]}).start()
            try:
                status, _, text = scrape(srv.metrics_url(), srv.cert_path(), cert=good)
                self.assertEqual(status, 200)
                self.assertIn("roomvpn_control_users 1", text)
                for cert in (None, rogue):
                    try:
                        scrape(srv.metrics_url(), srv.cert_path(), cert=cert)
                        self.fail("scrape without a valid client certificate succeeded")
                    except urllib.error.HTTPError as e:
                        self.assertEqual(e.code, 403)
                    except (ssl.SSLError, urllib.error.URLError, ConnectionError):
                        pass  # refused during the handshake: also fine
            finally:
                srv.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
