"""Connection exhaustion of the control plane: under a 1,024-descriptor limit
(set with prlimit, hard and soft, so the server cannot raise it), 1,100 idle
TCP connections neither stop the listener (grpc core stops accepting for
good after EMFILE) nor push out a connection that has carried an
authenticated call; a real TLS login works during the flood and after it."""
import os
import resource
import socket
import tempfile
import threading
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
            cls.srv = ControlServer(config={"metrics_allow": "127.0.0.1"}).start()
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
        m = self.metrics()
        self.assertEqual(m["roomvpn_control_connections_max"], LIMIT * 3 // 4)
        self.assertLessEqual(m["roomvpn_control_connections"], LIMIT * 3 // 4)
        self.assertGreaterEqual(m['roomvpn_control_connections_closed_total{reason="evicted"}'],
                                IDLE - LIMIT * 3 // 4)

    def metrics(self):
        return self.srv.metrics()


class TimeoutTest(unittest.TestCase):
    """handshake_timeout closes a connection that never finishes TLS;
    idle_timeout closes one that carries no call (grpc's defaults: two
    minutes, and never)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"handshake_timeout": "1s", "idle_timeout": "1s"},
                                metrics=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_queue_threads_do_not_preempt_the_poller(self):
        """The completion-queue threads run as SCHED_BATCH (control/server.c:
        a thread grpc's poller wakes does not preempt it); the rest do not."""
        policies = {}
        task = "/proc/%d/task" % self.srv.proc.pid
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "stat")) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            policy = int(fields[38])  # field 41 of stat(5), SCHED_BATCH = 3
            policies[policy] = policies.get(policy, 0) + 1
        self.assertGreaterEqual(policies.get(3, 0), 64, policies)  # cq_threads' default
        self.assertGreater(policies.get(0, 0), 0, policies)  # main, grpc's own, workers

    def test_silent_connection_closed(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            self.assertEqual(s.recv(1), b"")  # closed by the server, well before 30 s
        finally:
            s.close()

    def test_idle_connection_closed(self):
        rooms = pb("rooms")
        ch = self.srv.new_channel()
        states, closed = [], threading.Event()

        def seen(st):
            states.append(st)
            if grpc.ChannelConnectivity.READY in states and st != grpc.ChannelConnectivity.READY:
                closed.set()  # was connected, is not any more

        ch.subscribe(seen)
        try:
            fn = ch.unary_unary(LIST, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=rooms.ListRoomsResponse.FromString)
            fn(rooms.ListRoomsRequest(), metadata=[("authorization", "Bearer " + self.srv.admin_token())],
               timeout=20, wait_for_ready=True)
            self.assertTrue(closed.wait(30), "the idle connection stayed open: %s" % states)
        finally:
            ch.close()


if __name__ == "__main__":
    unittest.main()
