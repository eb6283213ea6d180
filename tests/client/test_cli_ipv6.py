"""The `roomvpn` CLI and dual-stack rooms (issue 17) against a real
roomvpn-control that listens on IPv6 only ([::1]): login with
`[::1]:PORT`, `rooms create --subnet6`, IPv6 routes and DNS servers, and
the IPv6 addresses shown by `join`, `rooms show` and `rooms members`.
Environment as test_cli.py."""
import ipaddress
import unittest

from test_cli import Client, ControlServer, fingerprint, ADMIN, ADMIN_PASSWORD


class CliIpv6Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer()
        cls.srv.config["listen"] = "[::1]:%d" % cls.srv.port
        cls.srv.dial_host = "[::1]"
        cls.srv._write_config()
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.c = Client(self.srv)

    def tearDown(self):
        self.c.cleanup()

    def ok(self, r):
        self.assertEqual(r.returncode, 0, "stdout: %s\nstderr: %s" % (r.out, r.err))
        return r

    def test_login_over_ipv6_and_dual_stack_room(self):
        self.ok(self.c.run("login", "[::1]:%d" % self.srv.port, "--username", ADMIN,
                           "--fingerprint", fingerprint(self.srv.cert_path()), "--password-stdin",
                           stdin=ADMIN_PASSWORD + "\n"))
        r = self.ok(self.c.run("rooms", "create", "v6cli", "--subnet6", "fd00:cafe:0:1::/64",
                               json_out=True)).json
        self.assertEqual((r["subnet6"], r["server_ip6"]), ("fd00:cafe:0:1::/64", "fd00:cafe:0:1::1"))
        self.assertIn("subnet6    fd00:cafe:0:1::/64 (server fd00:cafe:0:1::1)",
                      self.ok(self.c.run("rooms", "show", "v6cli")).out)
        j = self.ok(self.c.run("join", "v6cli", json_out=True)).json
        v6 = ipaddress.IPv6Address(j["virtual_ip6"])
        self.assertIn(v6, ipaddress.IPv6Network("fd00:cafe:0:1::/64"))
        self.assertIn("virtual IPv6 %s/64" % j["virtual_ip6"], self.ok(self.c.run("join", "v6cli")).out)
        out = self.ok(self.c.run("rooms", "members", "v6cli")).out
        self.assertRegex(out, r"LAST-SEEN +VIRTUAL-IP6")
        self.assertIn(" " + j["virtual_ip6"], out)
        # IPv6 routes and DNS servers beside IPv4 ones
        u = self.ok(self.c.run("rooms", "update", "v6cli", "--routes",
                               "fd00:50::/64=%s,192.168.50.0/24=%s" % (j["virtual_ip6"], j["virtual_ip"]),
                               "--dns", "2001:db8::53,10.1.2.3", json_out=True)).json
        self.assertEqual(sorted((x["target"], x["via"]) for x in u["routes"]),
                         [("192.168.50.0/24", j["virtual_ip"]), ("fd00:50::/64", j["virtual_ip6"])])
        self.assertEqual(u["dns_servers"], ["10.1.2.3", "2001:db8::53"])
        bad = self.c.run("rooms", "create", "v6clash", "--subnet6", "fd00:cafe::/48")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("overlaps fd00:cafe:0:1::/64 of another room", bad.err)


if __name__ == "__main__":
    unittest.main()
