"""Issue 18, self-registration by invite (AuthService.RegisterWithInvite,
public): with self_registration = true a caller without a token redeems an
invite code with a new username and password: the account is created, its
session works, it is a member of the invite's room; a bad code or a bad or
taken name creates nothing. With the default (false) it is PERMISSION_DENIED."""
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
auth = pb("auth")
R = "/roomvpn.v1.RoomService/"
REGISTER = "/roomvpn.v1.AuthService/RegisterWithInvite"
ST = grpc.StatusCode


def invite(srv, token, room):
    return srv.call(R + "CreateInvite", rooms.CreateInviteRequest(room=room), rooms.CreatedInvite,
                    token).code


def register(srv, code, username, password="new-password-1", device="laptop"):
    return srv.call(REGISTER, auth.RegisterWithInviteRequest(code=code, username=username,
                                                             password=password, device_name=device),
                    auth.RegisterWithInviteResponse)


class RegisterOnTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"self_registration": "true"}).start()
        cls.owner = cls.srv.user_token("club-owner")
        cls.srv.call(R + "Create", rooms.CreateRoomRequest(name="club", password="room-secret-1"),
                     rooms.Room, cls.owner)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_new_account_logged_in_and_joined(self):
        resp = register(self.srv, invite(self.srv, self.owner, "club"), "newbie")
        self.assertEqual(resp.room, "club")
        self.assertEqual(resp.session.username, "newbie")
        self.assertTrue(resp.session.session_token.startswith("rvs_"))
        self.assertNotEqual(resp.session.device_id, 0)
        members = self.srv.call(R + "ListMembers", rooms.ListMembersRequest(room="club"),
                                rooms.ListMembersResponse, resp.session.session_token)
        self.assertIn(("newbie", resp.session.device_id),
                      [(m.username, m.device_id) for m in members.members])
        # the password works for an ordinary login too
        self.assertEqual(self.srv.login("newbie", "new-password-1").username, "newbie")

    def test_bad_code_or_name_creates_nothing(self):
        e = rpc_error(register, self.srv, "rvi_" + "A" * 43, "ghost")
        self.assertEqual(e.code(), ST.NOT_FOUND, e.details())
        self.assertEqual(rpc_error(self.srv.login, "ghost", "new-password-1").code(),
                         ST.UNAUTHENTICATED)
        code = invite(self.srv, self.owner, "club")
        e = rpc_error(register, self.srv, code, "bad name!")
        self.assertEqual(e.code(), ST.INVALID_ARGUMENT, e.details())
        e = rpc_error(register, self.srv, code, "shorty", password="x")
        self.assertEqual(e.code(), ST.INVALID_ARGUMENT, e.details())
        e = rpc_error(register, self.srv, code, "club-owner")
        self.assertEqual(e.code(), ST.ALREADY_EXISTS, e.details())
        # the code was not used up by the refusals
        self.assertEqual(register(self.srv, code, "second").room, "club")


class RegisterOffTest(unittest.TestCase):
    def test_off_by_default(self):
        srv = ControlServer().start()
        try:
            owner = srv.user_token("owner")
            srv.call(R + "Create", rooms.CreateRoomRequest(name="lan"), rooms.Room, owner)
            e = rpc_error(register, srv, invite(srv, owner, "lan"), "walkin")
            self.assertEqual(e.code(), ST.PERMISSION_DENIED, e.details())
            self.assertIn("self-registration is off", e.details())
            self.assertEqual(rpc_error(srv.login, "walkin", "new-password-1").code(),
                             ST.UNAUTHENTICATED)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
