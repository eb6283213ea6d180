"""kill -9 and restart: every acknowledged change survives (synced writes)."""
import signal
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

users = pb("users")
auth = pb("auth")
common = pb("common")
S = "/roomvpn.v1.UserService/"


def read(path):
    with open(path, "rb") as f:
        return f.read()


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.srv = ControlServer().start()

    def tearDown(self):
        self.srv.stop()

    def test_kill9_keeps_acknowledged_changes(self):
        srv = self.srv
        tok = srv.admin_token()
        for i in range(30):
            srv.call(S + "Create", users.CreateUserRequest(username="p%02d" % i, password="persist-pw-1"),
                     users.User, tok)
        srv.call(S + "Update", users.UpdateUserRequest(username="p03", disabled=True), users.User, tok)
        srv.call(S + "Update", users.UpdateUserRequest(username="p04", admin=True), users.User, tok)
        srv.call(S + "Update", users.UpdateUserRequest(username="p05", password="changed-pw-2"), users.User, tok)
        srv.call(S + "Delete", users.DeleteUserRequest(username="p06"), common.Empty, tok)
        sess = srv.login("p07", "persist-pw-1", "kept-device")
        rotated = srv.call("/roomvpn.v1.AuthService/Refresh", auth.RefreshRequest(device_token=sess.device_token),
                           auth.Session)
        cert_before = read(srv.cert_path())

        srv.kill9()
        srv.restart()

        self.assertEqual(read(srv.cert_path()), cert_before, "certificate regenerated")
        tok = srv.admin_token()
        r = srv.call(S + "List", users.ListUsersRequest(page_size=1000), users.ListUsersResponse, tok)
        names = {u.username: u for u in r.users}
        for i in range(30):
            if i == 6:
                self.assertNotIn("p06", names)
            else:
                self.assertIn("p%02d" % i, names)
        self.assertTrue(names["p03"].disabled)
        self.assertTrue(names["p04"].admin)
        self.assertFalse(names["p05"].admin)
        srv.login("p05", "changed-pw-2")
        self.assertEqual(rpc_error(srv.login, "p05", "persist-pw-1").code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(rpc_error(srv.login, "p03", "persist-pw-1").code(), grpc.StatusCode.PERMISSION_DENIED)
        # tokens issued before the crash still work; the rotated one is still detected
        health = pb("health")
        srv.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(), health.HealthResponse,
                 rotated.session_token)
        e = rpc_error(srv.call, "/roomvpn.v1.AuthService/Refresh",
                      auth.RefreshRequest(device_token=sess.device_token), auth.Session)
        self.assertIn("rotated", e.details())
        # ids keep growing after the restart
        u = srv.call(S + "Create", users.CreateUserRequest(username="after", password="persist-pw-1"), users.User, tok)
        self.assertGreater(u.id, max(x.id for x in r.users))
        h = srv.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(), health.HealthResponse, tok)
        self.assertEqual(h.users, 31)  # admin + 30 - p06 + after

    def test_graceful_sigterm_exit_code(self):
        self.srv.admin_token()
        self.assertEqual(self.srv.stop(), 0)
        self.srv.restart()
        self.srv.admin_token()

    def test_sigterm_ends_open_streams(self):
        from harness import health
        h = health()
        ch = self.srv.new_channel()
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=h.HealthCheckResponse.FromString)
        streams = [watch(h.HealthCheckRequest()) for _ in range(3)]
        for s in streams:
            self.assertEqual(next(s).status, h.HealthCheckResponse.SERVING)
        self.assertEqual(self.srv.stop(), 0)
        for s in streams:
            with self.assertRaises(grpc.RpcError) as cm:
                next(s)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertIn("shutting down", cm.exception.details())
        ch.close()
        self.srv.restart()

    def test_sigterm_with_queued_logins(self):
        """Logins queued on the Argon2 pool at shutdown: every call is answered
        (a session, or UNAVAILABLE once the grace period is over), exit code 0."""
        self.srv.stop()
        srv = ControlServer(config={"argon2_memory_kib": "19456", "argon2_iterations": "2",
                                    "login_inflight_per_addr": "1000"}).start()  # all queued
        try:
            login = srv.channel().unary_unary("/roomvpn.v1.AuthService/Login",
                                              request_serializer=lambda m: m.SerializeToString(),
                                              response_deserializer=auth.Session.FromString)
            futures = [login.future(auth.LoginRequest(username="admin", password=srv.password), timeout=120)
                       for _ in range(150)]
            next(f for f in futures if f.result())  # the pool is busy now
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(timeout=120), 0, srv.read_log())
            codes = set()
            for f in futures:
                try:
                    f.result()
                    codes.add(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.add(e.code())
            self.assertTrue(codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED},
                            codes)
            self.assertNotIn("Sanitizer", srv.read_log())
        finally:
            srv.proc = None
            srv.log.close()


if __name__ == "__main__":
    unittest.main()
