"""Connection exhaustion of the control plane: under a 1,024-descriptor limit
(set with prlimit, hard and soft, so the server cannot raise it), 1,100 idle
TCP connections neither stop the listener (grpc core stops accepting for
good after EMFILE) nor push out a connection that has carried an
authenticated call; a real TLS login works during the flood and after it."""
import os
import resource
import socket
import tempfile
import unittest

import grpc

import harness
from harness import ControlServer, pb

LIMIT = 1024
IDLE = 1100
LIST = "/roomvpn.v1.RoomService/List"


def limited_binary(tmp):
    """A wrapper that runs roomvpn-control with RLIMIT_NOFILE LIMIT:LIMIT."""
    path = os.path.join(tmp, "control-nofile-%d" % LIMIT)
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec prlimit --nofile=%d:%d "%s" "$@"\n' % (LIMIT, LIMIT, harness.CONTROL_BIN))
    os.chmod(path, 0o755)
    return path


class ConnectionFloodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
            raise unittest.SkipTest("this test needs %d descriptors; the hard limit is %d" % (IDLE + 200, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        cls.tmp = tempfile.mkdtemp(prefix="rv-conns-")
        real, harness.CONTROL_BIN = harness.CONTROL_BIN, limited_binary(cls.tmp)
        try:
            cls.srv = ControlServer(metrics=False).start()
        finally:
            harness.CONTROL_BIN = real

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def login_on_new_channel(self):
        """A login over a fresh TLS connection; returns the session."""
        auth = pb("auth")
        ch = self.srv.new_channel()
        try:
            fn = ch.unary_unary("/roomvpn.v1.AuthService/Login",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=auth.Session.FromString)
            return fn(auth.LoginRequest(username=self.srv.admin, password=self.srv.password,
                                        device_name="flood-test"), timeout=20, wait_for_ready=True)
        finally:
            ch.close()

    def test_keeps_accepting_past_the_descriptor_limit(self):
        with open("/proc/%d/limits" % self.srv.proc.pid) as f:
            self.assertRegex(f.read(), r"Max open files\s+%d\s+%d" % (LIMIT, LIMIT))
        rooms = pb("rooms")
        tok = self.srv.admin_token()
        # this connection carries an authenticated call: it must outlive the flood
        self.srv.call(LIST, rooms.ListRoomsRequest(), rooms.ListRoomsResponse, tok)
        states = []
        self.srv.channel().subscribe(states.append)
        idle = []
        try:
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", self.srv.port), timeout=10))
            s = self.login_on_new_channel()
            self.assertTrue(s.session_token.startswith("rvs_"))
            self.srv.call(LIST, rooms.ListRoomsRequest(), rooms.ListRoomsResponse, tok)
        finally:
            for sock in idle:
                sock.close()
        self.assertTrue(self.login_on_new_channel().session_token.startswith("rvs_"))
        self.assertEqual(set(states), {grpc.ChannelConnectivity.READY},
                         "the authenticated connection was dropped: %s" % states)
        self.assertIsNone(self.srv.proc.poll())


if __name__ == "__main__":
    unittest.main()
