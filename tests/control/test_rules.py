"""Room access rules through the real server (issue 18 item 6): the owner
sets and reads them, members and outsiders are refused, mistakes carry their
line number, and the names are resolved again whenever the membership
changes (a member who leaves matches nothing, one who joins is matched)."""
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


if __name__ == "__main__":
    unittest.main()
