"""Config validation: a table of bad values per key, each written into a
config file and checked with `roomvpn-control check-config` and
`roomvpn-dataplane --check-config` (no EAL). Every bad value must exit 2
with "file:line: key:" in the message; the good example configs (deploy/
examples/*.conf, when present) and the defaults must pass.

Environment: RV_CONTROL_BIN, RV_DATAPLANE_BIN (the data-plane cases are
skipped without it), RV_SOURCE_DIR."""

import glob
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RV_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
CONTROL_BIN = os.environ.get("RV_CONTROL_BIN", os.path.join(SOURCE_DIR, "build", "control", "roomvpn-control"))
DATAPLANE_BIN = os.environ.get("RV_DATAPLANE_BIN")

CONTROL_BAD = [
    ("listen", "127.0.0.1:99999"),
    ("listen", "127.0.0.1:0"),
    ("listen", "127.0.0.1"),
    ("listen", "1.2.3.999:7443"),
    ("listen", "[::1:7443"),
    ("listen", "host name:7443"),
    ("dataplane_udp", "foo:bar"),
    ("dataplane_udp", "192.0.2.1:0"),
    ("dataplane_udp", "192.0.2.1:70000"),
    ("dataplane_tcp", "example.org:443"),
    ("dataplane_tcp", "192.0.2.1"),
    ("dns", "1.2.3.999"),
    ("dns", "dns.example"),
    ("ipam_pool", "10.0.0.0"),
    ("ipam_pool", "10.0.0.0/33"),
    ("ipv6", "maybe"),
    ("replica_lease_s", "1"),
    ("ipv6_prefix", "fd00::1/48"),
    ("ipv6_prefix", "10.0.0.0/8"),
    ("ipv6_room_prefix", "47"),
    ("metrics_listen", "0.0.0.0:65536"),
    ("cq_threads", "0"),
    ("default_mtu", "100"),
    ("idle_timeout", "5 minutes"),
    ("session_ttl", "-1"),
    ("log_level", "loud"),
    ("no_such_key", "1"),
]

CONTROL_GOOD = [
    ("listen", "0.0.0.0:8443"),
    ("listen", "[::]:8443"),
    ("listen", "[::1]:8443"),
    ("ipv6", "off"),
    ("ipv6_prefix", "2001:db8:1::/48"),
    ("listen", "localhost:8443"),
    ("dataplane_udp", "192.0.2.1:1194"),
    ("dns", "192.0.2.53"),
    ("dns", "2001:db8::53"),
    ("dns", ""),
    ("idle_timeout", "5m"),
    ("dataplane-udp", "192.0.2.1:1194"),  # the old spelling, with a warning
]

DATAPLANE_BAD = [
    ("ip", "10.0.0.1"),
    ("ip", "10.0.0.300/24"),
    ("gateway", "10.0.0.999"),
    ("gateway", "10.0.0.1/24"),
    ("udp_port", "0"),
    ("udp_port", "65536"),
    ("port", "x"),
    ("workers", "0"),
    ("mode", "fast"),
    ("arp_timeout", "soon"),
    ("key_grace", "2h"),
    ("agent_msg_timeout", "0"),
    ("agent_socket", "/" + "x" * 120),
    ("tcp", "maybe"),
    ("idle_sleep_us", "1000001"),
    ("log_level", "loud"),
    ("no_such_key", "1"),
]


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


class Table(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="rv-config-table-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, lines):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write("# config table test\n" + "".join("%s = %s\n" % kv for kv in lines))
        return path

    def control(self, path):
        return run([CONTROL_BIN, "check-config", "--config", path])

    def dataplane(self, path):
        return run([DATAPLANE_BIN, "--check-config", "--", "--config", path])

    def check_bad(self, runner, base, key, value):
        path = self.write("bad.conf", base + [(key, value)])
        line = len(base) + 2
        r = runner(path)
        self.assertEqual(r.returncode, 2, "%s = %s accepted:\n%s%s" % (key, value, r.stdout, r.stderr))
        want = "%s:%d: %s" % (path, line, key)
        self.assertIn(want, r.stderr, "%s = %s: no '%s' in:\n%s" % (key, value, want, r.stderr))

    def test_control_bad_values(self):
        for key, value in CONTROL_BAD:
            with self.subTest(key=key, value=value):
                self.check_bad(self.control, [("state_dir", "/var/lib/roomvpn")], key, value)

    def test_control_good_values(self):
        for key, value in CONTROL_GOOD:
            with self.subTest(key=key, value=value):
                r = self.control(self.write("good.conf", [(key, value)]))
                self.assertEqual(r.returncode, 0, r.stderr)
        r = self.control(self.write("old.conf", [("dataplane-udp", "192.0.2.1:1194")]))
        self.assertIn(":2: key 'dataplane-udp' is deprecated, write 'dataplane_udp'", r.stderr)

    def test_control_loopback_endpoints_warned(self):
        r = self.control(self.write("pub.conf", [("listen", "0.0.0.0:8443")]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("loopback", r.stderr)
        r = self.control(self.write("pub2.conf", [("listen", "0.0.0.0:8443"),
                                                  ("dataplane_udp", "192.0.2.1:1194"),
                                                  ("dataplane_tcp", "192.0.2.1:443")]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("loopback", r.stderr)

    def test_control_missing_file(self):
        r = self.control(self.write("tls.conf", [("tls_cert", "/nonexistent/c.pem"),
                                                 ("tls_key", "/nonexistent/k.pem")]))
        self.assertEqual(r.returncode, 2)
        self.assertIn("tls_cert: /nonexistent/c.pem cannot be read", r.stderr)

    @unittest.skipUnless(DATAPLANE_BIN, "RV_DATAPLANE_BIN not set (built without the data plane)")
    def test_dataplane_bad_values(self):
        for key, value in DATAPLANE_BAD:
            with self.subTest(key=key, value=value):
                self.check_bad(self.dataplane, [("ip", "10.0.0.1/24")], key, value)

    @unittest.skipUnless(DATAPLANE_BIN, "RV_DATAPLANE_BIN not set (built without the data plane)")
    def test_dataplane_good_and_old_spelling(self):
        r = self.dataplane(self.write("dp.conf", [("ip", "10.0.0.1/24"), ("udp_port", "1194"),
                                                  ("key_grace", "60s")]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        r = self.dataplane(self.write("old.conf", [("ip", "10.0.0.1/24"), ("udp-port", "1194")]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(":3: key 'udp-port' is deprecated, write 'udp_port'", r.stderr)
        r = self.dataplane(self.write("noip.conf", [("udp_port", "1194")]))
        self.assertEqual(r.returncode, 2)
        self.assertIn("'ip' is required", r.stderr)

    def test_example_configs(self):
        examples = sorted(glob.glob(os.path.join(SOURCE_DIR, "deploy", "examples", "*.conf")))
        if not examples:
            self.skipTest("no deploy/examples/*.conf in this tree")
        for path in examples:
            with self.subTest(path=path):
                name = os.path.basename(path)
                if name.startswith("control"):
                    r = self.control(path)
                elif name.startswith("dataplane") and DATAPLANE_BIN:
                    r = self.dataplane(path)
                else:
                    continue
                self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
