"""Black-box tests of the `roomvpn` CLI against a real roomvpn-control
(started with tests/control/harness.py). Run with Debian's /usr/bin/python3.
Environment: RV_CLIENT_BIN (the roomvpn binary), RV_CONTROL_BIN, RV_SOURCE_DIR.
"""

import hashlib
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "control"))
from harness import ControlServer, ADMIN, ADMIN_PASSWORD  # noqa: E402

CLIENT = os.environ.get("RV_CLIENT_BIN", "roomvpn")

EXIT_USAGE, EXIT_AUTH, EXIT_DENIED, EXIT_NOT_FOUND, EXIT_CONNECT, EXIT_CONFLICT = 2, 3, 4, 5, 6, 7


def fingerprint(cert_path):
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, 64, 2))


class Client:
    """One device: its own config directory."""

    def __init__(self, srv):
        self.srv = srv
        self.dir = tempfile.mkdtemp(prefix="rv-client-test-")

    def run(self, *args, stdin=None, json_out=False):
        cmd = [CLIENT, "--config-dir", self.dir] + (["--json"] if json_out else []) + list(args)
        r = subprocess.run(cmd, input=(stdin or "").encode(), capture_output=True, timeout=60)
        r.out = r.stdout.decode()
        r.err = r.stderr.decode()
        if json_out and r.returncode == 0:
            r.json = json.loads(r.out)
        return r

    def login(self, user=ADMIN, password=ADMIN_PASSWORD, fp=None, extra=()):
        fp = fp or fingerprint(self.srv.cert_path())
        return self.run("login", "127.0.0.1:%d" % self.srv.port, "--username", user,
                        "--fingerprint", fp, "--password-stdin", *extra, stdin=password + "\n")

    def login_conf(self):
        conf = {}
        with open(os.path.join(self.dir, "login.conf")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    conf[k.strip()] = v.strip()
        return conf

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer().start()

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

    # ---- help and usage ------------------------------------------------------
    def test_help_for_every_command(self):
        r = self.ok(self.c.run("--help"))
        self.assertIn("Exit codes", r.out)
        cmds = [line.split("  ")[1].strip() for line in r.out.splitlines()
                if line.startswith("  ") and not line.strip()[0].isdigit()
                and line.split("  ")[1].strip()]
        cmds = [c for c in cmds if c[0].isalpha()]
        for want in ("login", "logout", "rooms list", "rooms create", "rooms update", "rooms delete",
                     "rooms members", "rooms kick", "join", "leave", "up", "status", "down",
                     "admin users list", "admin users create", "admin users update",
                     "admin users delete", "admin audit", "admin dataplanes list",
                     "admin dataplanes drain", "admin dataplanes undrain"):
            self.assertIn(want, [" ".join(c.split()[:len(want.split())]) for c in cmds])
            h = self.ok(self.c.run(*want.split(), "--help"))
            self.assertIn("usage: roomvpn", h.out, want)
            self.assertIn("Exit codes", h.out, want)

    def test_bad_usage(self):
        self.assertEqual(self.c.run("frobnicate").returncode, EXIT_USAGE)
        self.assertEqual(self.c.run("rooms").returncode, EXIT_USAGE)
        r = self.c.run("rooms", "create")
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("missing argument", r.err)
        r = self.c.run("rooms", "list", "--bogus")
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("unknown option '--bogus'", r.err)
        r = self.c.run("rooms", "create", "lan2", "--no-dns")
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("are for 'rooms update'", r.err)
        r = self.c.run("rooms", "update", "lan2", "--routes", "192.168.5.0/24")
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("is not TARGET=VIA", r.err)

    def test_fleet_usage(self):
        """--placement and `admin dataplanes` usage errors: exit 2 with the
        reason, before any call (not logged in here: a call would exit 3)."""
        for args, msg in ((("rooms", "create", "r", "--placement", "site"), "not key=value"),
                          (("rooms", "update", "r", "--placement", "a=b,a=c"), "given twice"),
                          (("rooms", "update", "r", "--placement", "a=b", "--no-placement"),
                           "choose one"),
                          (("admin", "dataplanes", "drain"), "missing argument"),
                          (("admin", "dataplanes", "undrain", "a", "b"), "unexpected argument"),
                          (("admin", "dataplanes", "list", "x"), "unexpected argument")):
            r = self.c.run(*args)
            self.assertEqual(r.returncode, EXIT_USAGE, args)
            self.assertIn(msg, r.err, args)
        r = self.c.run("admin", "dataplanes", "--json")
        self.assertEqual(r.returncode, EXIT_AUTH)
        self.assertIn("not logged in", json.loads(r.out)["error"])

    def test_not_logged_in(self):
        r = self.c.run("rooms", "list")
        self.assertEqual(r.returncode, EXIT_AUTH)
        self.assertIn("not logged in", r.err)

    # ---- conventions: global flags anywhere, one JSON scheme ---------------
    def test_global_flags_anywhere(self):
        before = self.ok(self.c.run("--json", "status"))
        after = self.ok(self.c.run("status", "--json"))
        self.assertEqual(json.loads(before.out), json.loads(after.out))
        r = self.c.run("rooms", "list", "--json")
        self.assertEqual(r.returncode, EXIT_AUTH)
        self.assertIn("error", json.loads(r.out))
        other = tempfile.mkdtemp(prefix="rv-client-test-")
        try:
            r = subprocess.run([CLIENT, "status", "--config-dir", other], capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"No tunnel is up", r.stdout)
        finally:
            shutil.rmtree(other, ignore_errors=True)
        self.assertEqual(self.c.run("status", "--config-dir").returncode, EXIT_USAGE)

    def test_json_ids_are_strings(self):
        r = self.ok(self.c.login(extra=("--json",)))
        j = json.loads(r.out)
        for k in ("user_id", "device_id", "session_expires_unix"):
            self.assertIsInstance(j[k], str, k)
            self.assertTrue(j[k].isdigit(), (k, j[k]))
        room = json.loads(self.ok(self.c.run("rooms", "create", "ids-room", "--json")).out)
        try:
            self.assertIsInstance(room["id"], str)
            self.assertIsInstance(room["created_unix"], str)
            self.assertIsInstance(room["mtu"], int)
            joined = json.loads(self.ok(self.c.run("join", "ids-room", "--json")).out)
            self.assertIsInstance(joined["device_id"], str)
            m = json.loads(self.ok(self.c.run("rooms", "members", "ids-room", "--json")).out)
            self.assertEqual(m["members"][0]["device_id"], joined["device_id"])
            self.assertIsInstance(m["members"][0]["joined_unix"], str)
        finally:
            self.ok(self.c.run("rooms", "delete", "ids-room"))
        # the audit status by name: a refused call and a good one
        self.assertEqual(self.c.run("rooms", "kick", "no-such-room", "1").returncode,
                         EXIT_NOT_FOUND)
        recs = json.loads(self.ok(self.c.run("admin", "audit", "--page-size", "1000",
                                             "--json")).out)["records"]
        statuses = {r["status"] for r in recs}
        self.assertIn("OK", statuses)
        self.assertTrue(all(isinstance(x, str) and x.isupper() for x in statuses), statuses)
        self.assertIsInstance(recs[0]["time_unix_ns"], str)
        self.assertIn(" OK ", self.ok(self.c.run("admin", "audit", "--page-size", "1000")).out)

    def test_token_file_mode_fixed(self):
        self.ok(self.c.login())
        path = os.path.join(self.c.dir, "login.conf")
        os.chmod(path, 0o644)
        r = self.ok(self.c.run("rooms", "list"))
        self.assertIn("mode 0644", r.err)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        r = self.ok(self.c.run("rooms", "list"))
        self.assertNotIn("warning", r.err)

    # ---- login ---------------------------------------------------------------
    def test_login_stores_token_0600(self):
        r = self.ok(self.c.login())
        self.assertIn("Logged in", r.out)
        path = os.path.join(self.c.dir, "login.conf")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        conf = self.c.login_conf()
        self.assertTrue(conf["device_token"].startswith("rvd_"))
        self.assertTrue(conf["session_token"].startswith("rvs_"))
        self.assertEqual(conf["fingerprint"], fingerprint(self.srv.cert_path()))
        with open(path) as f:
            self.assertNotIn(ADMIN_PASSWORD, f.read())

    def test_login_json(self):
        r = self.c.run("login", "127.0.0.1:%d" % self.srv.port, "--username", ADMIN,
                       "--fingerprint", fingerprint(self.srv.cert_path()).replace(":", "").lower(),
                       "--password-stdin", stdin=ADMIN_PASSWORD + "\n", json_out=True)
        self.ok(r)
        self.assertEqual(r.json["username"], ADMIN)
        self.assertTrue(r.json["admin"])

    def test_login_without_pin_shows_fingerprint(self):
        r = self.c.run("login", "127.0.0.1:%d" % self.srv.port, "--username", ADMIN,
                       "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        self.assertEqual(r.returncode, EXIT_CONNECT)
        self.assertIn(fingerprint(self.srv.cert_path()), r.err)
        self.assertFalse(os.path.exists(os.path.join(self.c.dir, "login.conf")))

    def test_login_with_ca_file(self):
        r = self.c.run("login", "127.0.0.1:%d" % self.srv.port, "--username", ADMIN,
                       "--ca", self.srv.cert_path(), "--password-stdin",
                       stdin=ADMIN_PASSWORD + "\n")
        self.ok(r)
        self.ok(self.c.run("rooms", "list"))

    def dead_port(self):
        """A loopback port nobody listens on (connections refused)."""
        import socket
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            return sk.getsockname()[1]

    def test_several_servers_ca_fails_over(self):
        """login to a replica list whose first entry is down: the Login call
        ends UNAVAILABLE there and is retried on the next; later calls go
        to the one that answered."""
        servers = "127.0.0.1:%d,127.0.0.1:%d" % (self.dead_port(), self.srv.port)
        r = self.c.run("login", servers, "--username", ADMIN, "--ca", self.srv.cert_path(),
                       "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        self.ok(r)
        self.assertEqual(self.c.login_conf()["server"], servers)
        self.ok(self.c.run("rooms", "list"))

    def test_several_servers_pinned(self):
        """Pinned replicas with keys of their own (--fingerprint FP1,FP2): the
        certificate is fetched from the first replica that answers and must
        match one pin of the set."""
        good = fingerprint(self.srv.cert_path())
        other = ("11" if good.startswith("00") else "00") + good[2:]
        servers = "127.0.0.1:%d,127.0.0.1:%d" % (self.dead_port(), self.srv.port)
        r = self.c.run("login", servers, "--username", ADMIN, "--fingerprint",
                       other + "," + good, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        self.ok(r)
        self.ok(self.c.run("rooms", "list"))
        # every replica down: one message naming each failure, exit 6
        both_dead = "127.0.0.1:%d,127.0.0.1:%d" % (self.dead_port(), self.dead_port())
        r = self.c.run("login", both_dead, "--username", ADMIN, "--fingerprint", good,
                       "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        self.assertEqual(r.returncode, EXIT_CONNECT)
        self.assertEqual(r.err.count("cannot connect"), 2, r.err)

    def test_bad_server_list(self):
        for bad, why in (("127.0.0.1:1,nonsense", "bad server address 'nonsense'"),
                         (",".join(["127.0.0.1:1"] * 9), "at most 8"),
                         ("127.0.0.1:1,", "bad server address ''")):
            r = self.c.run("login", bad, "--username", ADMIN, "--ca", self.srv.cert_path(),
                           "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
            self.assertEqual(r.returncode, EXIT_USAGE, (bad, r.err))
            self.assertIn(why, r.err)

    def test_wrong_password(self):
        r = self.c.login(password="not-the-password")
        self.assertEqual(r.returncode, EXIT_AUTH)
        self.assertIn("invalid username or password", r.err)
        self.assertFalse(os.path.exists(os.path.join(self.c.dir, "login.conf")))

    def test_fingerprint_mismatch(self):
        good = fingerprint(self.srv.cert_path())
        bad = ("11" if good.startswith("00") else "00") + good[2:]
        r = self.c.login(fp=bad)
        self.assertEqual(r.returncode, EXIT_CONNECT)
        self.assertIn("fingerprint mismatch", r.err)
        self.assertIn(good, r.err)
        self.assertFalse(os.path.exists(os.path.join(self.c.dir, "login.conf")))

    def test_malformed_fingerprint(self):
        r = self.c.login(fp="12:34")
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("not a SHA-256 fingerprint", r.err)

    def test_server_down(self):
        r = self.c.run("login", "127.0.0.1:1", "--username", ADMIN, "--fingerprint",
                       fingerprint(self.srv.cert_path()), "--password-stdin",
                       stdin=ADMIN_PASSWORD + "\n")
        self.assertEqual(r.returncode, EXIT_CONNECT)
        self.assertIn("cannot connect", r.err)

    def test_logout(self):
        self.ok(self.c.login())
        self.ok(self.c.run("logout"))
        self.assertFalse(os.path.exists(os.path.join(self.c.dir, "login.conf")))
        self.assertEqual(self.c.run("rooms", "list").returncode, EXIT_AUTH)

    # ---- rooms ---------------------------------------------------------------
    def test_rooms_create_list_join_members_leave_delete(self):
        self.ok(self.c.login())
        r = self.ok(self.c.run("rooms", "create", "cli-room", "--mtu", "1300",
                               "--transport", "tcp", json_out=True))
        self.assertEqual(r.json["name"], "cli-room")
        self.assertEqual(r.json["mtu"], 1300)
        self.assertEqual(r.json["transport"], "TRANSPORT_TCP")
        r = self.ok(self.c.run("rooms", "list", json_out=True))
        self.assertIn("cli-room", [x["name"] for x in r.json["rooms"]])
        self.assertIn("cli-room", self.ok(self.c.run("rooms", "list")).out)
        self.assertEqual(self.c.run("rooms", "create", "cli-room").returncode, EXIT_CONFLICT)

        j = self.ok(self.c.run("join", "cli-room", json_out=True)).json
        prefix = j["subnet"].rsplit(".", 1)[0]
        self.assertTrue(j["virtual_ip"].startswith(prefix + "."), j)
        self.assertEqual(j["mtu"], 1300)
        self.assertIn("virtual IP " + j["virtual_ip"], self.ok(self.c.run("join", "cli-room")).out)

        m = self.ok(self.c.run("rooms", "members", "cli-room", json_out=True)).json
        self.assertEqual([x["virtual_ip"] for x in m["members"]], [j["virtual_ip"]])
        # presence: no tunnel runs, so offline, no RTT, never seen (64-bit as a string)
        p = m["members"][0]
        self.assertEqual((p["online"], p["rtt_us"], p["last_seen_unix_ms"]), (False, 0, "0"), p)
        out = self.ok(self.c.run("rooms", "members", "cli-room")).out
        self.assertRegex(out, r"DEVICE +USER +VIRTUAL-IP +JOINED \(UTC\) +STATE +RTT\(ms\) +LAST-SEEN")
        self.assertRegex(out, re.escape(j["virtual_ip"]) + r" +[0-9-]+ [0-9:]+ +offline +- +never")
        u = self.ok(self.c.run("rooms", "update", "cli-room", "--mtu", "1280", "--keepalive",
                               "7", json_out=True)).json
        self.assertEqual((u["mtu"], u["keepalive_s"]), (1280, 7))
        self.assertEqual(self.c.run("rooms", "update", "cli-room", "--mtu", "99").returncode,
                         EXIT_USAGE)
        self.ok(self.c.run("leave", "cli-room"))
        m = self.ok(self.c.run("rooms", "members", "cli-room", json_out=True)).json
        self.assertEqual(m["members"], [])
        self.ok(self.c.run("rooms", "delete", "cli-room"))
        r = self.c.run("rooms", "show", "cli-room")
        self.assertEqual(r.returncode, EXIT_NOT_FOUND)

    def test_room_password_and_kick_rights(self):
        self.ok(self.c.login())
        self.ok(self.c.run("rooms", "create", "locked", "--password-stdin",
                           stdin="room-secret-1\n"))
        self.srv.create_user("carol", "carol-password-1")
        carol = Client(self.srv)
        try:
            self.ok(carol.login("carol", "carol-password-1"))
            r = carol.run("join", "locked")
            self.assertNotEqual(r.returncode, 0)
            j = self.ok(carol.run("join", "locked", "--password-stdin", stdin="room-secret-1\n",
                                  json_out=True)).json
            # carol is a member, not the owner: she may list the members, not kick
            m = self.ok(carol.run("rooms", "members", "locked", json_out=True)).json
            self.assertEqual([x["device_id"] for x in m["members"]], [j["device_id"]])
            self.assertEqual(carol.run("rooms", "kick", "locked", str(j["device_id"])).returncode,
                             EXIT_DENIED)
            # the owner kicks her device
            self.ok(self.c.run("rooms", "kick", "locked", str(j["device_id"])))
            m = self.ok(self.c.run("rooms", "members", "locked", json_out=True)).json
            self.assertEqual(m["members"], [])
            self.assertEqual(self.c.run("rooms", "kick", "locked", "x1").returncode, EXIT_USAGE)
        finally:
            carol.cleanup()
            self.ok(self.c.run("rooms", "delete", "locked"))

    # ---- admin ---------------------------------------------------------------
    def test_admin_users(self):
        self.ok(self.c.login())
        r = self.ok(self.c.run("admin", "users", "create", "dave", "--password-stdin",
                               stdin="dave-password-1\n", json_out=True))
        self.assertEqual(r.json["username"], "dave")
        self.assertFalse(r.json["admin"])
        users = self.ok(self.c.run("admin", "users", "list", json_out=True)).json["users"]
        self.assertIn("dave", [u["username"] for u in users])
        self.assertIn("dave", self.ok(self.c.run("admin", "users", "list")).out)

        dave = Client(self.srv)
        try:
            self.ok(dave.login("dave", "dave-password-1"))
            r = dave.run("admin", "users", "list")
            self.assertEqual(r.returncode, EXIT_DENIED)
            self.assertEqual(dave.run("admin", "audit").returncode, EXIT_DENIED)
            r = self.ok(self.c.run("admin", "users", "update", "dave", "--disabled", "true",
                                   json_out=True))
            self.assertTrue(r.json["disabled"])
            self.assertEqual(dave.run("rooms", "list").returncode, EXIT_AUTH)
            r = dave.login("dave", "dave-password-1")
            self.assertEqual(r.returncode, EXIT_DENIED)
            self.assertIn("user is disabled", r.err)
            self.assertEqual(self.c.run("admin", "users", "update", "dave", "--admin",
                                        "maybe").returncode, EXIT_USAGE)
        finally:
            dave.cleanup()
        self.ok(self.c.run("admin", "users", "delete", "dave"))
        r = self.c.run("admin", "users", "delete", "dave")
        self.assertEqual(r.returncode, EXIT_NOT_FOUND)
        self.assertIn("dave", r.err)

    def test_admin_audit(self):
        self.ok(self.c.login())
        self.ok(self.c.run("rooms", "create", "audited"))
        self.ok(self.c.run("rooms", "delete", "audited"))
        recs = self.ok(self.c.run("admin", "audit", "--action", "rooms.", "--page-size", "1000",
                                  json_out=True)).json["records"]
        actions = [(r["action"], r["target"]) for r in recs]
        self.assertIn("rooms.create", [a for a, _ in actions])
        self.assertIn("rooms.delete", [a for a, _ in actions])
        self.assertTrue(all(a.startswith("rooms.") for a, _ in actions))
        self.assertIn("rooms.create", self.ok(self.c.run("admin", "audit")).out)

    def test_up_without_data_plane(self):
        # The server confirms a tunnel only after the data plane took the
        # session: with no data plane agent, `up` fails cleanly (no TUN).
        self.ok(self.c.login())
        self.ok(self.c.run("rooms", "create", "no-dp"))
        try:
            r = self.c.run("up", "no-dp")
            self.assertEqual(r.returncode, EXIT_CONNECT, r.err)
            self.assertIn("cannot reach the data plane agent", r.err)
            self.assertIn("No tunnel is up", self.ok(self.c.run("status")).out)
            r = self.c.run("up", "no-such-room")
            self.assertEqual(r.returncode, EXIT_NOT_FOUND, r.err)
        finally:
            self.ok(self.c.run("rooms", "delete", "no-dp"))

    def test_status_without_tunnels(self):
        self.assertIn("No tunnel is up", self.ok(self.c.run("status")).out)
        self.assertEqual(self.ok(self.c.run("status", json_out=True)).json, {"tunnels": []})
        self.assertEqual(self.c.run("down", "nothing").returncode, EXIT_NOT_FOUND)


class RefreshTest(unittest.TestCase):
    """A session TTL below the client's refresh margin: every call refreshes
    the session first, and the device token rotates each time."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"session_ttl": "30s"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_token_refreshed_and_rotated(self):
        c = Client(self.srv)
        try:
            self.assertEqual(c.login().returncode, 0)
            first = c.login_conf()
            r = c.run("rooms", "list")
            self.assertEqual(r.returncode, 0, r.err)
            second = c.login_conf()
            self.assertNotEqual(first["device_token"], second["device_token"])
            self.assertNotEqual(first["session_token"], second["session_token"])
            self.assertEqual(c.run("rooms", "list").returncode, 0)
            self.assertNotEqual(second["device_token"], c.login_conf()["device_token"])
            path = os.path.join(c.dir, "login.conf")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        finally:
            c.cleanup()


class ExpiryTest(unittest.TestCase):
    """An expired device login: the command fails clearly (exit 3)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"session_ttl": "1s", "device_ttl": "2s"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_expired_device_token(self):
        c = Client(self.srv)
        try:
            self.assertEqual(c.login().returncode, 0)
            time.sleep(3)  # both tokens are past their expiry now
            r = c.run("rooms", "list")
            self.assertEqual(r.returncode, EXIT_AUTH, r.err)
            self.assertIn("run 'roomvpn login' again", r.err)
        finally:
            c.cleanup()


if __name__ == "__main__":
    unittest.main()
