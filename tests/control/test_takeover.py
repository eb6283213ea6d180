"""Tunnel ownership against a REAL data plane (roomvpn-dataplane on a
net_ring port, read back with roomvpn-dpctl): a user cannot bind or re-key
another user's tunnel (Hello, Bootstrap's rekey_peer_id) and the victim's
data-plane session keeps its key; a room named like another room's id never
reaches that room's tunnels; peer-ids are the server's (random, unique,
never steered by a Hello); per-user tunnel quota; TunnelService.End; a
bootstrap without a keepalive stream ends after stream_deadline; Bootstrap
lists endpoints in the preferred transport's order (issues 15 and 16)."""
import unittest

import grpc

from dpharness import DataPlane, Keepalive, bootstrap, end
from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
R = "/roomvpn.v1.RoomService/"


def create(srv, token, name, **kw):
    return srv.call(R + "Create", rooms.CreateRoomRequest(name=name, **kw), rooms.Room, token)


def join(srv, token, room):
    return srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, token)


class TakeoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.srv = ControlServer(config={"dataplane_agent": cls.dp.sock, "stream_deadline": "5m",
                                        "max_tunnels_per_user": "3"}).start()
        cls.alice = cls.srv.user_token("alice")
        cls.mallory = cls.srv.user_token("mallory")
        cls.victim_room = create(cls.srv, cls.alice, "alice-lan")
        join(cls.srv, cls.alice, "alice-lan")
        cls.victim = bootstrap(cls.srv, cls.alice, "alice-lan")
        cls.victim_ka = Keepalive(cls.srv, cls.alice).hello("alice-lan", cls.victim.peer_id)
        cls.victim_ka.sync()
        create(cls.srv, cls.mallory, "mallory-lan")
        join(cls.srv, cls.mallory, "mallory-lan")

    @classmethod
    def tearDownClass(cls):
        cls.victim_ka.close()
        cls.srv.stop()
        cls.dp.stop()

    def victim_session(self):
        return self.dp.sessions().get(self.victim.peer_id)

    def assert_victim_untouched(self):
        s = self.victim_session()
        self.assertIsNotNone(s, "the victim's data-plane session is gone")
        self.assertEqual(s["key_id"], self.victim.key_id)
        self.assertEqual(s["vip"], self.victim.virtual_ip)
        self.assertEqual(self.victim_ka.sync(), [], "the victim's stream was disturbed")

    def test_hello_and_rekey_of_a_foreign_peer_id_refused(self):
        self.assert_victim_untouched()
        for room in ("mallory-lan", "alice-lan"):  # her own room, and the victim's
            ka = Keepalive(self.srv, self.mallory).hello(room, self.victim.peer_id)
            e = rpc_error(ka.sync)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, e.details())
            ka.close()
        # the re-key of the victim's peer-id from her own room, then the victim's
        for room in ("mallory-lan", "alice-lan"):
            e = rpc_error(bootstrap, self.srv, self.mallory, room, rekey_peer_id=self.victim.peer_id)
            self.assertIn(e.code(), (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION),
                          e.details())
        self.assert_victim_untouched()
        # End of the victim's tunnel by someone else: NOT_FOUND, nothing removed
        for room in ("mallory-lan", "alice-lan"):
            e = rpc_error(end, self.srv, self.mallory, room, self.victim.peer_id)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, e.details())
        self.assert_victim_untouched()
        self.assertIn("not its tunnel", self.srv.read_log(tail=1 << 20))

    def test_hello_does_not_steer_peer_ids(self):
        # Her stream is kept (it waits for her next bootstrap) but the
        # peer-id she names is not bound: no re-key, no End of it.
        for pid in (0xFFFFFE, 0xFFFFFF, 0x123456, self.victim.peer_id + 1):
            if pid in self.dp.sessions():
                continue
            ka = Keepalive(self.srv, self.mallory).hello("mallory-lan", pid)
            ka.sync()
            e = rpc_error(bootstrap, self.srv, self.mallory, "mallory-lan", rekey_peer_id=pid)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, e.details())
            self.assertEqual(rpc_error(end, self.srv, self.mallory, "mallory-lan", pid).code(),
                             grpc.StatusCode.NOT_FOUND)
            ka.close()
        ids = [bootstrap(self.srv, self.mallory, "mallory-lan").peer_id for _ in range(200)]
        self.assertEqual(len(set(ids)), 200, "peer-ids repeat")
        for pid in ids:
            self.assertTrue(1 <= pid <= 0xFFFFFE, "peer-id %#x out of range" % pid)
        steps = sum(1 for a, b in zip(ids, ids[1:]) if b == a + 1)
        self.assertLess(steps, 5, "peer-ids are sequential: %s" % ids[:10])
        # each bootstrap replaced the previous one: one session of hers is left
        sess = self.dp.sessions()
        self.assertIn(ids[-1], sess)
        for pid in ids[:-1]:
            self.assertNotIn(pid, sess)
        self.assert_victim_untouched()

    def test_room_named_like_an_id_never_reaches_that_room(self):
        vid = self.victim_room.id
        name = str(vid)
        create(self.srv, self.mallory, name)
        update = rooms.UpdateRoomRequest(room=name, mtu=1280, keepalive_s=7,
                                         dns=rooms.DnsSettings(servers=["203.0.113.66"], search="evil.example"),
                                         rotate_key=True)
        got = self.srv.call(R + "Update", update, rooms.Room, self.mallory)
        self.assertNotEqual(got.id, vid)
        # the victim's room and its running tunnel heard nothing of it
        self.assert_victim_untouched()
        mine = self.srv.call(R + "Get", rooms.GetRoomRequest(room="#%d" % vid), rooms.Room, self.alice)
        self.assertEqual((mine.name, mine.mtu, list(mine.dns_servers)),
                         ("alice-lan", self.victim_room.mtu, list(self.victim_room.dns_servers)))
        self.srv.call(R + "Delete", rooms.DeleteRoomRequest(room=name), pb("common").Empty, self.mallory)
        # gone: the name never falls back to the id
        e = rpc_error(self.srv.call, R + "Get", rooms.GetRoomRequest(room=name), rooms.Room, self.mallory)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        e = rpc_error(self.srv.call, R + "Update", rooms.UpdateRoomRequest(room=name, mtu=1280),
                      rooms.Room, self.mallory)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        self.assert_victim_untouched()

    def test_quota_and_end(self):
        tok = self.srv.user_token("quota")
        peers = []
        for i in range(4):
            create(self.srv, tok, "quota-%d" % i)
            join(self.srv, tok, "quota-%d" % i)
        for i in range(3):
            peers.append(bootstrap(self.srv, tok, "quota-%d" % i).peer_id)
        e = rpc_error(bootstrap, self.srv, tok, "quota-3")
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("max_tunnels_per_user", e.details())
        self.assertIn("at max_tunnels_per_user", self.srv.read_log(tail=1 << 20))
        # a new bootstrap in a room she runs a tunnel in replaces it: allowed
        peers[0] = bootstrap(self.srv, tok, "quota-0").peer_id
        # End: the data-plane session is gone when the answer comes
        self.assertIn(peers[1], self.dp.sessions())
        end(self.srv, tok, "quota-1", peers[1])
        self.assertNotIn(peers[1], self.dp.sessions())
        e = rpc_error(end, self.srv, tok, "quota-1", peers[1])
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        # the wrong room for a peer-id she owns: NOT_FOUND, nothing removed
        e = rpc_error(end, self.srv, tok, "quota-0", peers[2])
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn(peers[2], self.dp.sessions())
        # one freed: the fourth room now works
        bootstrap(self.srv, tok, "quota-3")
        self.assert_victim_untouched()

    def test_transport_order(self):
        tok = self.srv.user_token("transport")
        create(self.srv, tok, "tcp-room", transport=rooms.TRANSPORT_TCP)
        create(self.srv, tok, "udp-room")
        join(self.srv, tok, "tcp-room")
        join(self.srv, tok, "udp-room")

        def order(room, **kw):
            return [ep.transport for ep in bootstrap(self.srv, tok, room, **kw).endpoints]

        self.assertEqual(order("tcp-room"), [rooms.TRANSPORT_TCP, rooms.TRANSPORT_UDP])
        self.assertEqual(order("udp-room"), [rooms.TRANSPORT_UDP, rooms.TRANSPORT_TCP])
        self.assertEqual(order("tcp-room", transport=rooms.TRANSPORT_UDP),
                         [rooms.TRANSPORT_UDP, rooms.TRANSPORT_TCP])
        self.assertEqual(order("udp-room", transport=rooms.TRANSPORT_TCP),
                         [rooms.TRANSPORT_TCP, rooms.TRANSPORT_UDP])


class StreamDeadlineTest(unittest.TestCase):
    """A bootstrap whose client never opens its keepalive stream loses its
    data-plane session after stream_deadline; one with a stream keeps it."""

    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.srv = ControlServer(config={"dataplane_agent": cls.dp.sock, "stream_deadline": "1s"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dp.stop()

    def test_bootstrap_without_stream_is_removed(self):
        tok = self.srv.user_token("lazy")
        create(self.srv, tok, "lazy-lan")
        join(self.srv, tok, "lazy-lan")
        kept = bootstrap(self.srv, tok, "lazy-lan")
        ka = Keepalive(self.srv, tok).hello("lazy-lan", kept.peer_id)
        ka.sync()
        tok2 = self.srv.login("lazy", "user-password-1", "second-device").session_token
        join(self.srv, tok2, "lazy-lan")
        lost = bootstrap(self.srv, tok2, "lazy-lan")
        self.assertIn(lost.peer_id, self.dp.sessions())
        self.dp.wait_for(lambda s: lost.peer_id not in s, "the streamless session removed")
        self.assertIn("no keepalive stream within", self.srv.read_log(tail=1 << 20))
        ka.sync()
        self.assertIn(kept.peer_id, self.dp.sessions())
        ka.close()


if __name__ == "__main__":
    unittest.main()
