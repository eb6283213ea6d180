"""Bootstrap waits for the data plane without parking a server thread
(issue 10): with ONE completion-queue thread, a Bootstrap whose data-plane
delta is held unanswered must not keep another call (ListRooms) from being
answered, and it is answered itself (OK) once the data plane answers.

Between roomvpn-control and a REAL roomvpn-dataplane sits a Unix-socket
relay that forwards both ways, notes when an UpsertSession goes by, and can
hold the data plane's answers while the test looks. No timing: the test
orders on what the relay saw and on which call finished first."""
import os
import socket
import struct
import tempfile
import threading
import unittest

from dpharness import DataPlane, bootstrap
from harness import ControlServer, pb

import dataplane_pb2  # generated next to the roomvpn.v1 modules (harness.PYPROTO_DIR)

rooms = pb("rooms")
R = "/roomvpn.v1.RoomService/"


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


class Relay:
    """Agent-socket relay: self.path for the control plane, upstream the
    data plane's socket. answers (an Event) open: answers flow; cleared: the
    data plane's answers wait. upsert_seen is set once an UpsertSession
    request passed towards the data plane."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.path = os.path.join(tempfile.mkdtemp(prefix="rv-relay-"), "relay.sock")
        self.answers = threading.Event()
        self.answers.set()
        self.upsert_seen = threading.Event()
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.path)
        self.lsock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.connect(self.upstream)
            threading.Thread(target=self._requests, args=(c, u), daemon=True).start()
            threading.Thread(target=self._answers, args=(u, c), daemon=True).start()

    def _requests(self, c, u):
        while True:
            hdr = read_exact(c, 4)
            body = hdr and read_exact(c, struct.unpack(">I", hdr)[0])
            if body is None:
                u.close()
                return
            rq = dataplane_pb2.Request.FromString(body)
            if rq.WhichOneof("body") == "upsert_session":
                self.upsert_seen.set()
            u.sendall(hdr + body)

    def _answers(self, u, c):
        while True:
            try:
                data = u.recv(65536)
            except OSError:
                data = b""
            if not data:
                c.close()
                return
            self.answers.wait()
            try:
                c.sendall(data)
            except OSError:  # the control plane gave up on this exchange
                u.close()
                return

    def close(self):
        self.answers.set()
        self.lsock.close()


class BootstrapAsyncTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.relay = Relay(cls.dp.sock)
        cls.srv = ControlServer(config={"dataplane_agent": cls.relay.path, "cq_threads": "1",
                                        "cq_count": "1", "stream_deadline": "5m"}).start()
        cls.alice = cls.srv.user_token("alice")
        cls.srv.call(R + "Create", rooms.CreateRoomRequest(name="lan"), rooms.Room, cls.alice)
        cls.srv.call(R + "Join", rooms.JoinRoomRequest(room="lan"), rooms.JoinRoomResponse,
                     cls.alice)

    @classmethod
    def tearDownClass(cls):
        cls.relay.close()
        cls.srv.stop()
        cls.dp.stop()

    def test_other_calls_answered_while_bootstrap_waits_for_the_data_plane(self):
        result, done = {}, threading.Event()

        def run():
            try:
                result["resp"] = bootstrap(self.srv, self.alice, "lan")
            except Exception as e:  # grpc.RpcError: reported below
                result["error"] = e
            done.set()

        self.relay.answers.clear()  # the data plane's answers wait in the relay
        self.relay.upsert_seen.clear()
        threading.Thread(target=run, daemon=True).start()
        self.assertTrue(self.relay.upsert_seen.wait(60), "no UpsertSession reached the data plane")
        # the Bootstrap's delta is at the data plane, its answer held: the
        # one server thread must still be free for this call
        listed = self.srv.call(R + "List", rooms.ListRoomsRequest(), rooms.ListRoomsResponse,
                               self.alice)
        self.assertFalse(done.is_set(),
                         "ListRooms was answered only after the Bootstrap (%s): a server thread "
                         "waited for the data plane" % result)
        self.assertIn("lan", [r.name for r in listed.rooms])
        self.relay.answers.set()
        self.assertTrue(done.wait(60), "the Bootstrap was not answered")
        self.assertNotIn("error", result)
        peer = result["resp"].peer_id
        self.assertIn(peer, self.dp.sessions(), "answered before the data plane had the session")


if __name__ == "__main__":
    unittest.main()
