"""Room access rules through the real server (issue 18 item 6): the owner
sets and reads them, members and outsiders are refused, mistakes carry their
line number, and the names are resolved again whenever the membership
changes (a member who leaves matches nothing, one who joins is matched)."""
import json
import os
import subprocess
import time
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
common = pb("common")
R = "/roomvpn.v1.RoomService/"
ST = grpc.StatusCode
RULES = "deny tcp from alice to bob port 22\nallow any from any to any\n"


class RulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer().start()
        cls.owner = cls.srv.user_token("owner", admin=True)
        cls.alice = cls.srv.user_token("alice")
        cls.bob = cls.srv.user_token("bob")
        cls.eve = cls.srv.user_token("eve")
        cls.srv.call(R + "Create", rooms.CreateRoomRequest(name="r"), rooms.Room, cls.owner)
        for t in (cls.alice, cls.bob):
            cls.join(t)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    @classmethod
    def join(cls, token):
        return cls.srv.call(R + "Join", rooms.JoinRoomRequest(room="r"),
                            rooms.JoinRoomResponse, token)

    def set(self, text, token=None):
        return self.srv.call(R + "SetRules", rooms.SetRoomRulesRequest(room="r", text=text),
                             rooms.RoomRules, token or self.owner)

    def get(self, token=None):
        return self.srv.call(R + "GetRules", rooms.GetRoomRulesRequest(room="r"),
                             rooms.RoomRules, token or self.owner)

    def test_owner_sets_others_refused(self):
        self.assertEqual(self.set(RULES).compiled, 2)
        got = self.get()
        self.assertEqual((got.text, got.compiled), (RULES, 2))
        for who in (self.alice, self.eve):  # a member, an outsider
            self.assertEqual(rpc_error(self.set, "allow any from any to any\n", who).code(),
                             ST.PERMISSION_DENIED)
            self.assertEqual(rpc_error(self.get, who).code(), ST.PERMISSION_DENIED)
        self.assertEqual(self.get().text, RULES)

    def test_mistakes_name_their_line(self):
        for text, want in (("allow any from any to any\nallow tcp from x to any\n",
                            "line 2: 'x' is no member"),
                           ("# c\n\ndeny tcp from any to any port 99999\n", "line 3: ")):
            e = rpc_error(self.set, text)
            self.assertEqual(e.code(), ST.INVALID_ARGUMENT)
            self.assertIn(want, e.details())

    def test_names_resolve_again_on_membership_change(self):
        self.set(RULES)
        self.srv.call(R + "Leave", rooms.LeaveRoomRequest(room="r"), common.Empty, self.bob)
        self.assertEqual(self.get().compiled, 1, "bob left: his rule matches nothing")
        dev = self.join(self.bob).device_id
        self.assertEqual(self.get().compiled, 2, "bob is back: matched again")
        self.srv.call(R + "Kick", rooms.KickRequest(room="r", device_id=dev), common.Empty,
                      self.owner)
        self.assertEqual(self.get().compiled, 1, "bob kicked: his rule matches nothing")
        self.join(self.bob)
        self.assertEqual(self.get().compiled, 2)
        self.assertEqual(self.get().text, RULES)


@unittest.skipUnless(os.environ.get("RV_DATAPLANE_BIN"), "no data plane built (RV_DATAPLANE_BIN)")
class RulesDataPlaneTest(unittest.TestCase):
    """The compiled rules reach the REAL data plane (dpctl rooms --json
    'rules'), at SetRules and again when the membership changes."""

    def setUp(self):
        from dpharness import DataPlane, bootstrap
        self.dp = DataPlane().start()
        self.addCleanup(self.dp.stop)
        self.srv = ControlServer(config={"dataplane_agent": self.dp.sock}).start()
        self.addCleanup(self.srv.stop)
        owner = self.srv.user_token("owner", admin=True)
        self.call = lambda m, req, resp, tok=owner: self.srv.call(R + m, req, resp, tok)
        self.call("Create", rooms.CreateRoomRequest(name="d"), rooms.Room)
        self.alice, self.bob = self.srv.user_token("alice"), self.srv.user_token("bob")
        for t in (self.alice, self.bob):
            self.call("Join", rooms.JoinRoomRequest(room="d"), rooms.JoinRoomResponse, t)
        bootstrap(self.srv, self.alice, "d")  # the room is on the data plane now

    def dp_rules(self):
        out = subprocess.run([os.environ["RV_DPCTL_BIN"], "--socket", self.dp.sock, "--json",
                              "rooms"], check=True, capture_output=True, timeout=30).stdout
        return [r["rules"] for r in json.loads(out)["rooms"]]

    def wait_rules(self, want, what):
        deadline = time.time() + 30
        while self.dp_rules() != [want]:
            if time.time() > deadline:
                raise AssertionError("%s: the data plane has %s rules, want [%d]"
                                     % (what, self.dp_rules(), want))
            time.sleep(0.05)

    def test_rules_reach_the_data_plane(self):
        self.wait_rules(0, "no rules set")
        self.call("SetRules", rooms.SetRoomRulesRequest(room="d", text=RULES), rooms.RoomRules)
        self.wait_rules(2, "after SetRules")
        self.call("Leave", rooms.LeaveRoomRequest(room="d"), common.Empty, self.bob)
        self.wait_rules(1, "bob left")
        self.call("Join", rooms.JoinRoomRequest(room="d"), rooms.JoinRoomResponse, self.bob)
        self.wait_rules(2, "bob joined again")


if __name__ == "__main__":
    unittest.main()
