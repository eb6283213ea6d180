"""`roomvpn join-invite CODE --username U --server HOST:PORT --pin FP
--password-stdin` (self-registration by invite) against a real
roomvpn-control with self_registration = true: the account is created, the
login stored (the next command works without `login`), the room joined.
Environment as test_cli.py."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "control"))
sys.path.insert(0, HERE)  # this test_cli.py, not tests/control/test_cli.py
from harness import ControlServer, pb  # noqa: E402
from test_cli import Client, fingerprint  # noqa: E402

rooms = pb("rooms")
R = "/roomvpn.v1.RoomService/"


class CliRegisterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"self_registration": "true"}).start()
        cls.owner = cls.srv.user_token("owner")
        cls.srv.call(R + "Create", rooms.CreateRoomRequest(name="games"), rooms.Room, cls.owner)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.c = Client(self.srv)

    def tearDown(self):
        self.c.cleanup()

    def test_join_invite_registers_and_logs_in(self):
        code = self.srv.call(R + "CreateInvite", rooms.CreateInviteRequest(room="games"),
                             rooms.CreatedInvite, self.owner).code
        server = "127.0.0.1:%d" % self.srv.port
        r = self.c.run("join-invite", code, "--username", "player1", "--server", server, "--pin",
                       fingerprint(self.srv.cert_path()), "--password-stdin",
                       stdin="player-password-1\n", json_out=True)
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual((r.json["username"], r.json["room"]), ("player1", "games"))
        self.assertEqual(self.c.login_conf()["username"], "player1")
        r = self.c.run("rooms", "members", "games", json_out=True)
        self.assertEqual(r.returncode, 0, r.err)
        self.assertIn("player1", r.out)

    def test_username_without_server_is_a_usage_error(self):
        r = self.c.run("join-invite", "rvi_x", "--username", "p2", "--password-stdin", stdin="x\n")
        self.assertEqual(r.returncode, 2, r.err)
        self.assertIn("--server", r.err)


if __name__ == "__main__":
    unittest.main()
