"""UserService (admin CRUD, pagination) black-box over TLS."""
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

users = pb("users")
common = pb("common")
S = "/roomvpn.v1.UserService/"


class UsersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer().start()
        cls.tok = cls.srv.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def call(self, m, req, resp_cls, tok=None):
        return self.srv.call(S + m, req, resp_cls, tok or self.tok)

    def test_crud(self):
        u = self.call("Create", users.CreateUserRequest(username="carol", password="carol-pass-1"), users.User)
        self.assertEqual(u.username, "carol")
        self.assertFalse(u.admin)
        self.assertFalse(u.disabled)
        self.assertGreater(u.id, 1)
        self.assertGreater(u.created_unix, 0)
        g = self.call("Get", users.GetUserRequest(username="carol"), users.User)
        self.assertEqual(g, u)
        e = rpc_error(self.call, "Create", users.CreateUserRequest(username="carol", password="other-pass-1"),
                      users.User)
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        # admin flag and password change
        u2 = self.call("Update", users.UpdateUserRequest(username="carol", admin=True), users.User)
        self.assertTrue(u2.admin)
        self.call("Update", users.UpdateUserRequest(username="carol", password="carol-pass-2"), users.User)
        self.assertEqual(rpc_error(self.srv.login, "carol", "carol-pass-1").code(), grpc.StatusCode.UNAUTHENTICATED)
        s = self.srv.login("carol", "carol-pass-2")
        self.assertTrue(s.admin)
        # an update that sets nothing changes nothing
        u3 = self.call("Update", users.UpdateUserRequest(username="carol"), users.User)
        self.assertEqual(u3, u2)
        self.call("Delete", users.DeleteUserRequest(username="carol"), common.Empty)
        e = rpc_error(self.call, "Get", users.GetUserRequest(username="carol"), users.User)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        # the deleted user's session is dead
        e = rpc_error(self.call, "Get", users.GetUserRequest(username="admin"), users.User, s.session_token)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        # a new user with the same name is a different user
        u4 = self.call("Create", users.CreateUserRequest(username="carol", password="carol-pass-3"), users.User)
        self.assertNotEqual(u4.id, u.id)
        self.assertFalse(u4.admin)

    def test_validation(self):
        for name, pw, why in (("bad name", "long-enough-1", "username"), ("x" * 64, "long-enough-1", "username"),
                              ("", "long-enough-1", "username"), ("shortpw", "short", "password")):
            e = rpc_error(self.call, "Create", users.CreateUserRequest(username=name, password=pw), users.User)
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(why, e.details())
        for m, req in (("Get", users.GetUserRequest(username="ghost")),
                       ("Update", users.UpdateUserRequest(username="ghost", admin=True)),
                       ("Delete", users.DeleteUserRequest(username="ghost"))):
            e = rpc_error(self.call, m, req, users.User)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, m)

    def test_admin_cannot_lock_self_out(self):
        for req in (users.UpdateUserRequest(username="admin", disabled=True),
                    users.UpdateUserRequest(username="admin", admin=False)):
            e = rpc_error(self.call, "Update", req, users.User)
            self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        e = rpc_error(self.call, "Delete", users.DeleteUserRequest(username="admin"), common.Empty)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_plain_user_gets_permission_denied(self):
        tok = self.srv.user_token("plain")
        for m, req in (("Create", users.CreateUserRequest(username="zz", password="zz-pass-12")),
                       ("Get", users.GetUserRequest(username="admin")), ("List", users.ListUsersRequest()),
                       ("Update", users.UpdateUserRequest(username="plain", admin=True)),
                       ("Delete", users.DeleteUserRequest(username="admin"))):
            e = rpc_error(self.call, m, req, users.User, tok)
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED, m)
            self.assertIn("admin", e.details())

    def test_pagination(self):
        names = ["page%03d" % i for i in range(23)]
        for n in names:
            self.call("Create", users.CreateUserRequest(username=n, password="page-pass-1"), users.User)
        seen, token, pages = [], "", 0
        while True:
            r = self.call("List", users.ListUsersRequest(page_size=5, page_token=token), users.ListUsersResponse)
            self.assertLessEqual(len(r.users), 5)
            seen += [u.username for u in r.users]
            pages += 1
            if not r.next_page_token:
                break
            self.assertEqual(len(r.users), 5)
            token = r.next_page_token
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(seen), len(set(seen)))
        for n in names + ["admin"]:
            self.assertIn(n, seen)
        self.assertGreaterEqual(pages, 5)
        full = self.call("List", users.ListUsersRequest(page_size=1000), users.ListUsersResponse)
        self.assertEqual([u.username for u in full.users], seen)
        self.assertEqual(full.next_page_token, "")
        e = rpc_error(self.call, "List", users.ListUsersRequest(page_size=1001), users.ListUsersResponse)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        e = rpc_error(self.call, "List", users.ListUsersRequest(page_token="not a token!"), users.ListUsersResponse)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    unittest.main()
