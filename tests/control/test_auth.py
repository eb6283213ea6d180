"""AuthService and the scope check, black-box over TLS (harness.py)."""
import time
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

auth = pb("auth")
users = pb("users")
health = pb("health")
common = pb("common")

LOGIN = "/roomvpn.v1.AuthService/Login"
REFRESH = "/roomvpn.v1.AuthService/Refresh"
LOGOUT = "/roomvpn.v1.AuthService/Logout"
HEALTH = "/roomvpn.v1.HealthService/Get"


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"login_fail_per_user": "3", "login_fail_per_addr": "1000"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def health(self, token):
        return self.srv.call(HEALTH, health.HealthRequest(), health.HealthResponse, token)

    def test_login_returns_tokens_in_reply_and_header(self):
        resp, call = self.srv.call(LOGIN, auth.LoginRequest(username="admin", password=self.srv.password,
                                                            device_name="laptop"),
                                   auth.Session, with_call=True)
        self.assertTrue(resp.session_token.startswith("rvs_"))
        self.assertTrue(resp.device_token.startswith("rvd_"))
        self.assertEqual(len(resp.session_token), 4 + 43)
        self.assertTrue(resp.admin)
        self.assertEqual(resp.username, "admin")
        self.assertGreater(resp.session_expires_unix, time.time())
        self.assertGreater(resp.device_expires_unix, resp.session_expires_unix)
        md = dict(call.initial_metadata())
        self.assertEqual(md.get("x-roomvpn-session"), resp.session_token)
        h = self.health(resp.session_token)
        self.assertEqual(h.status, "serving")
        self.assertGreaterEqual(h.users, 1)
        self.assertEqual(len(h.tls_fingerprint), 95)

    def test_wrong_password_and_unknown_user(self):
        for user, pw in (("admin", "wrong-password"), ("nobody-here", "whatever-pass")):
            e = rpc_error(self.srv.login, user, pw)
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
            self.assertIn("invalid username or password", e.details())

    def test_missing_fields(self):
        e = rpc_error(self.srv.login, "", "")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_bad_tokens(self):
        for md in ([("authorization", "Bearer rvs_nonsense")], [("authorization", "Basic abc")],
                   [("authorization", "Bearer ")], []):
            e = rpc_error(self.srv.call, HEALTH, health.HealthRequest(), health.HealthResponse, metadata=md)
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, md)
            self.assertTrue(e.details())

    def test_refresh_rotates_and_reuse_revokes(self):
        self.srv.user_token("rot-user")
        s1 = self.srv.login("rot-user", "user-password-1", "phone")
        s2, call = self.srv.call(REFRESH, auth.RefreshRequest(device_token=s1.device_token), auth.Session,
                                 with_call=True)
        self.assertNotEqual(s2.device_token, s1.device_token)
        self.assertNotEqual(s2.session_token, s1.session_token)
        self.assertEqual(s2.device_id, s1.device_id)
        self.assertEqual(dict(call.initial_metadata()).get("x-roomvpn-session"), s2.session_token)
        self.health(s2.session_token)
        self.health(s1.session_token)  # the old session lives until it expires
        # presenting the rotated token again: theft -> device revoked
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=s1.device_token), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("rotated", e.details())
        for tok in (s1.session_token, s2.session_token):
            e = rpc_error(self.health, tok)
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=s2.device_token), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        # other devices of the same user are unaffected
        s3 = self.srv.login("rot-user", "user-password-1", "tablet")
        self.health(s3.session_token)

    def test_refresh_with_session_token_or_garbage(self):
        s = self.srv.login("admin", self.srv.password)
        for tok in (s.session_token, "rvd_garbage"):
            e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=tok), auth.Session)
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=""), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_logout(self):
        self.srv.user_token("logout-user")
        a = self.srv.login("logout-user", "user-password-1", "a")
        b = self.srv.login("logout-user", "user-password-1", "b")
        self.srv.call(LOGOUT, auth.LogoutRequest(), common.Empty, a.session_token)
        self.assertEqual(rpc_error(self.health, a.session_token).code(), grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=a.device_token), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.health(b.session_token)
        c = self.srv.login("logout-user", "user-password-1", "c")
        self.srv.call(LOGOUT, auth.LogoutRequest(all_devices=True), common.Empty, c.session_token)
        for s in (b, c):
            self.assertEqual(rpc_error(self.health, s.session_token).code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_disabled_user_is_locked_out_at_once(self):
        tok = self.srv.user_token("dis-user")
        dev = self.srv.login("dis-user", "user-password-1").device_token
        self.health(tok)
        self.srv.call("/roomvpn.v1.UserService/Update", users.UpdateUserRequest(username="dis-user", disabled=True),
                      users.User, self.srv.admin_token())
        self.assertEqual(rpc_error(self.health, tok).code(), grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.srv.login, "dis-user", "user-password-1")
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("disabled", e.details())
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=dev), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.srv.call("/roomvpn.v1.UserService/Update", users.UpdateUserRequest(username="dis-user", disabled=False),
                      users.User, self.srv.admin_token())
        self.health(self.srv.login("dis-user", "user-password-1").session_token)

    def test_failed_logins_rate_limited_per_user(self):
        self.srv.user_token("rl-user")
        for _ in range(3):
            e = rpc_error(self.srv.login, "rl-user", "bad-password")
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        # now even the right password is refused, with a clear message
        e = rpc_error(self.srv.login, "rl-user", "user-password-1")
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("too many failed logins", e.details())
        # other users are not affected
        self.srv.login("admin", self.srv.password)


class ExpiryTest(unittest.TestCase):
    """Short TTLs: sessions and device tokens expire."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"session_ttl": "1s", "device_ttl": "2s"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_expired_tokens(self):
        s = self.srv.login("admin", self.srv.password)
        time.sleep(2.2)
        e = rpc_error(self.srv.call, HEALTH, health.HealthRequest(), health.HealthResponse, s.session_token)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("expired", e.details())
        e = rpc_error(self.srv.call, REFRESH, auth.RefreshRequest(device_token=s.device_token), auth.Session)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("expired", e.details())


class AddressRateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"login_fail_per_user": "100", "login_fail_per_addr": "4"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_per_address(self):
        for i in range(4):
            self.assertEqual(rpc_error(self.srv.login, "ghost%d" % i, "bad-password").code(),
                             grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.srv.login, "admin", self.srv.password)
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("address", e.details())


class LoginsDoNotStallTest(unittest.TestCase):
    """Expensive Argon2 on one pool worker, more logins queued than there are
    completion-queue threads: cheap calls are still answered while logins
    are pending (they would wait for the logins if hashing ran on CQ threads)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"argon2_memory_kib": "65536", "argon2_iterations": "6",
                                        "argon2_workers": "1", "cq_threads": "2"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_cheap_calls_answered_while_logins_hash(self):
        tok = self.srv.admin_token()
        login = self.srv.channel().unary_unary("/roomvpn.v1.AuthService/Login",
                                               request_serializer=lambda m: m.SerializeToString(),
                                               response_deserializer=auth.Session.FromString)
        pending = [login.future(auth.LoginRequest(username="admin", password=self.srv.password), timeout=300)
                   for _ in range(6)]
        for _ in range(20):
            self.assertEqual(self.health(tok).status, "serving")
        self.assertFalse(all(f.done() for f in pending), "every login finished before 20 cheap calls")
        for f in pending:
            self.assertTrue(f.result().session_token)

    def health(self, token):
        return self.srv.call(HEALTH, health.HealthRequest(), health.HealthResponse, token)


if __name__ == "__main__":
    unittest.main()
