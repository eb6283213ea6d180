"""Error paths of the whole RPC surface: every method without a token,
garbage and oversize requests, unknown methods, the standard health check.
Methods are enumerated from the generated descriptors, so RPCs added later
are covered too."""
import glob
import importlib
import os
import time
import unittest

import grpc
from google.protobuf import descriptor_pb2

from harness import PYPROTO_DIR, ControlServer, health, pb, rpc_error

PUBLIC = {"/roomvpn.v1.AuthService/Login", "/roomvpn.v1.AuthService/Refresh",
          "/roomvpn.v1.AuthService/RegisterWithInvite",
          "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}


def all_methods():
    """(path, request class, response class, server_streaming) of every roomvpn.v1 RPC."""
    out = []
    for f in sorted(glob.glob(os.path.join(PYPROTO_DIR, "roomvpn", "v1", "*_pb2.py"))):
        mod = importlib.import_module("roomvpn.v1." + os.path.basename(f)[:-3])
        fdp = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(fdp)
        for sp in fdp.service:
            svc = mod.DESCRIPTOR.services_by_name[sp.name]
            for mp in sp.method:
                md = svc.methods_by_name[mp.name]
                req = _cls(md.input_type)
                resp = _cls(md.output_type)
                kind = ("bidi" if mp.client_streaming else "server") if mp.server_streaming else \
                    ("client" if mp.client_streaming else "")
                out.append(("/%s/%s" % (svc.full_name, mp.name), req, resp, kind))
    return out


def _cls(desc):
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass") \
        else message_factory.MessageFactory().GetPrototype(desc)


class ErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer().start()
        cls.methods = all_methods()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_enumeration_sees_every_service(self):
        paths = {m[0] for m in self.methods}
        for p in ("/roomvpn.v1.AuthService/Login", "/roomvpn.v1.UserService/List",
                  "/roomvpn.v1.HealthService/Get"):
            self.assertIn(p, paths)

    def test_every_private_rpc_needs_a_token(self):
        n = 0
        for path, req, resp, streaming in self.methods:
            if path in PUBLIC or streaming:
                continue
            e = rpc_error(self.srv.call, path, req(), resp)
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, path)
            self.assertIn("token", e.details(), path)
            e = rpc_error(self.srv.call, path, req(), resp, token="rvs_forged-token")
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, path)
            n += 1
        self.assertGreaterEqual(n, 7)

    def open_stream(self, path, kind, payload, token=None):
        """Sends one raw message on a streaming method; returns the first reply or raises."""
        ch = self.srv.channel()
        md = [("authorization", "Bearer " + token)] if token else []
        if kind == "server":
            return next(ch.unary_stream(path)(payload, metadata=md, timeout=10))
        return next(ch.stream_stream(path)(iter([payload]), metadata=md, timeout=10))

    def test_streams_need_a_token_and_valid_messages(self):
        n = 0
        for path, req, resp, kind in self.methods:
            if not kind or path in PUBLIC:
                continue
            self.assertIn(kind, ("server", "bidi"), path)
            e = rpc_error(self.open_stream, path, kind, req().SerializeToString())
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, path)
            e = rpc_error(self.open_stream, path, kind, b"\xff\xff\xff", self.srv.admin_token())
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, path)
            self.assertIn("malformed", e.details())
            n += 1
        print("streaming methods checked: %d" % n)

    def test_plain_user_denied_admin_services(self):
        tok = self.srv.user_token("plain-errors")
        n = 0
        for path, req, resp, kind in self.methods:
            if kind or not path.startswith(("/roomvpn.v1.UserService/", "/roomvpn.v1.AuditService/")):
                continue
            e = rpc_error(self.srv.call, path, req(), resp, token=tok)
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED, path)
            n += 1
        self.assertGreaterEqual(n, 5)

    def test_garbage_request_bytes(self):
        tok = self.srv.admin_token()
        for path, req, resp, streaming in self.methods:
            if streaming:
                continue
            for junk in (b"\xff\xff\xff\xff", b"\x0a\x05ab"):  # bad tag; truncated string
                e = rpc_error(self.srv.call_raw, path, junk, token=tok)
                self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, path)
                self.assertIn("malformed", e.details())

    def test_token_checked_before_the_request_is_parsed(self):
        n = 0
        for path, req, resp, kind in self.methods:
            if path in PUBLIC:
                continue
            for token in (None, "rvs_forged-token"):
                if kind:
                    e = rpc_error(self.open_stream, path, kind, b"\xff\xff\xff", token)
                else:
                    e = rpc_error(self.srv.call_raw, path, b"\xff\xff\xff\xff", token=token)
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:  # in the protocol, not served yet
                    break
                self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, (path, e.details()))
                self.assertNotIn("malformed", e.details(), path)
            n += 1
        self.assertGreaterEqual(n, 10)

    def test_one_error_for_every_invalid_token(self):
        rooms, auth = pb("rooms"), pb("auth")
        path = "/roomvpn.v1.RoomService/List"
        # revoked: the second device of a user whose first session logged out everywhere
        self.srv.user_token("tok-victim")
        first = self.srv.login("tok-victim", "user-password-1", "first").session_token
        revoked = self.srv.login("tok-victim", "user-password-1", "second").session_token
        self.srv.call("/roomvpn.v1.AuthService/Logout", auth.LogoutRequest(all_devices=True),
                      pb("common").Empty, first)
        answers = {}
        for name, token in (("missing", None), ("fake", "rvs_forged-token"),
                            ("logged out", first), ("revoked", revoked)):
            e = rpc_error(self.srv.call, path, rooms.ListRoomsRequest(), rooms.ListRoomsResponse, token)
            answers[name] = (e.code(), e.details())
        self.assertEqual(len(set(answers.values())), 1, answers)
        self.assertEqual(answers["fake"][0], grpc.StatusCode.UNAUTHENTICATED)
        self.expired_answer_is(answers["fake"])

    def expired_answer_is(self, expected):
        srv = ControlServer(config={"session_ttl": "1s"}, metrics=False).start()
        try:
            tok = srv.login(srv.admin, srv.password).session_token
            rooms = pb("rooms")
            call = lambda: srv.call("/roomvpn.v1.RoomService/List", rooms.ListRoomsRequest(),
                                    rooms.ListRoomsResponse, tok)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until the session has expired
                try:
                    call()
                except grpc.RpcError as e:
                    self.assertEqual((e.code(), e.details()), expected)
                    return
                time.sleep(0.1)
            self.fail("the 1s session never expired")
        finally:
            srv.stop()

    def test_oversize_request_refused(self):
        e = rpc_error(self.srv.call_raw, "/roomvpn.v1.AuthService/Login", b"\x0a" + b"\x80\x80\x08" + b"a" * 131072)
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        # the server is fine afterwards
        self.srv.health_check()

    def test_unary_without_request_message(self):
        fn = self.srv.channel().stream_unary("/roomvpn.v1.HealthService/Get")
        e = rpc_error(fn, iter([]), timeout=10, wait_for_ready=True)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("no request message", e.details())

    def test_unknown_method(self):
        e = rpc_error(self.srv.call_raw, "/roomvpn.v1.Nope/Nothing", b"")
        self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("/roomvpn.v1.Nope/Nothing", e.details())

    def test_standard_health_check(self):
        h = health()
        self.assertEqual(self.srv.health_check().status, h.HealthCheckResponse.SERVING)
        self.assertEqual(self.srv.health_check("roomvpn.v1.AuthService").status, h.HealthCheckResponse.SERVING)
        e = rpc_error(self.srv.health_check, "no.such.Service")
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)

    def test_health_watch_stream(self):
        h = health()
        it = self.srv.stream("/grpc.health.v1.Health/Watch", h.HealthCheckRequest(), h.HealthCheckResponse)
        first = next(it)
        self.assertEqual(first.status, h.HealthCheckResponse.SERVING)
        it.cancel()
        # many streams open at once do not block unary calls
        streams = [self.srv.stream("/grpc.health.v1.Health/Watch", h.HealthCheckRequest(), h.HealthCheckResponse)
                   for _ in range(20)]
        for s in streams:
            self.assertEqual(next(s).status, h.HealthCheckResponse.SERVING)
        self.srv.health_check()
        for s in streams:
            s.cancel()

    def test_many_concurrent_calls(self):
        """Hundreds of calls in flight at once, logins among them: all answered."""
        hp = pb("health")
        auth = pb("auth")
        tok = self.srv.admin_token()
        get = self.srv.channel().unary_unary("/roomvpn.v1.HealthService/Get",
                                             request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=hp.HealthResponse.FromString)
        login = self.srv.channel().unary_unary("/roomvpn.v1.AuthService/Login",
                                               request_serializer=lambda m: m.SerializeToString(),
                                               response_deserializer=auth.Session.FromString)
        md = [("authorization", "Bearer " + tok)]
        logins = [login.future(auth.LoginRequest(username="admin", password=self.srv.password), timeout=60)
                  for _ in range(16)]
        gets = [get.future(hp.HealthRequest(), metadata=md, timeout=60) for _ in range(400)]
        self.assertTrue(all(f.result().status == "serving" for f in gets))
        sessions = {f.result().session_token for f in logins}
        self.assertEqual(len(sessions), 16)

    def test_plain_tls_only(self):
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.srv.port)
        fn = ch.unary_unary("/grpc.health.v1.Health/Check")
        with self.assertRaises(grpc.RpcError) as cm:
            fn(b"", timeout=3)
        self.assertIn(cm.exception.code(), (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED))
        ch.close()


if __name__ == "__main__":
    unittest.main()
