"""Issue 18, presence and device revoke against a REAL data plane
(roomvpn-dataplane on a net_ring port, read back with roomvpn-dpctl):
Presence events (JOINED, ONLINE, OFFLINE, LEFT) reach the OTHER members'
keepalive streams of the room, never another room's, coalesced per room
into PresenceBatch messages (presence.c); revoking a device
(AuthService.RevokeDevice) ends its tunnel: its data-plane session goes."""
import time
import unittest

from dpharness import DataPlane, Keepalive, bootstrap, end
from harness import ControlServer, pb

rooms = pb("rooms")
auth = pb("auth")
session = pb("session")
R = "/roomvpn.v1.RoomService/"
P = session.Presence


def changes(events):
    out = []
    for e in events:
        kind = e.WhichOneof("body")
        out += [e.presence] if kind == "presence" else \
            list(e.presence_batch.changes) if kind == "presence_batch" else []
    return out


def presences(events):
    return [(p.room, p.username, p.device_id, p.state) for p in changes(events)]


def await_changes(ka, n):
    """Changes come coalesced (presence_interval): heartbeat round trips
    until @n arrived or 10 s passed; then one more (nothing else pending)."""
    got, deadline = [], time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        got += changes(ka.sync())
    return got + changes(ka.sync())


def drain(ka):
    """Whatever the earlier steps left pending: presence_interval (50 ms)
    passes three times while heartbeats go round."""
    end = time.monotonic() + 0.15
    while time.monotonic() < end:
        ka.sync()
    ka.sync()


def await_presences(ka, n):
    return [(p.room, p.username, p.device_id, p.state) for p in await_changes(ka, n)]


class OnADataPlane(unittest.TestCase):
    """A control plane (CONFIG added to its settings) driving a real data
    plane; the keepalive streams in cls.streams are closed at the end."""
    CONFIG = {}

    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.srv = ControlServer(config=dict({"dataplane_agent": cls.dp.sock,
                                             "stream_deadline": "5m",
                                             "presence_interval": "50ms"}, **cls.CONFIG)).start()
        cls.streams = []

    @classmethod
    def tearDownClass(cls):
        for ka in cls.streams:
            ka.close()
        cls.srv.stop()
        cls.dp.stop()


class PresenceTest(OnADataPlane):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # bob watches room "lan"; carol sits in room "other"
        cls.bob = cls.srv.user_token("bob")
        cls.call(cls.bob, "Create", rooms.CreateRoomRequest(name="lan"), rooms.Room)
        cls.bob_ka = cls.online(cls.bob, "lan")
        cls.carol = cls.srv.user_token("carol")
        cls.call(cls.carol, "Create", rooms.CreateRoomRequest(name="other"), rooms.Room)
        cls.carol_ka = cls.online(cls.carol, "other")

    @classmethod
    def call(cls, token, method, req, resp_cls):
        return cls.srv.call(R + method, req, resp_cls, token)

    @classmethod
    def online(cls, token, room):
        """Joins @room, bootstraps a tunnel and binds a keepalive stream."""
        cls.call(token, "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse)
        tun = bootstrap(cls.srv, token, room)
        ka = Keepalive(cls.srv, token).hello(room, tun.peer_id)
        cls.streams.append(ka)
        ka.sync()  # the Hello was handled
        return ka

    def test_member_joins_comes_up_goes_down_and_leaves(self):
        self.srv.user_token("alice")
        dev = self.srv.login("alice", "user-password-1", "alice-laptop")
        alice, alice_dev = dev.session_token, dev.device_id
        drain(self.bob_ka)
        drain(self.carol_ka)

        self.call(alice, "Join", rooms.JoinRoomRequest(room="lan"), rooms.JoinRoomResponse)
        self.assertEqual(await_presences(self.bob_ka, 1), [("lan", "alice", alice_dev, P.JOINED)])

        tun = bootstrap(self.srv, alice, "lan")
        ka = Keepalive(self.srv, alice).hello("lan", tun.peer_id)
        self.streams.append(ka)
        self.assertEqual(await_presences(self.bob_ka, 1), [("lan", "alice", alice_dev, P.ONLINE)])
        self.assertEqual(presences(ka.sync()), [], "a member is not told about itself")

        end(self.srv, alice, "lan", tun.peer_id)
        self.assertEqual(await_presences(self.bob_ka, 1), [("lan", "alice", alice_dev, P.OFFLINE)])

        self.call(alice, "Leave", rooms.LeaveRoomRequest(room="lan"), pb("common").Empty)
        got = await_changes(self.bob_ka, 1)
        self.assertEqual([(p.room, p.username, p.device_id, p.state) for p in got],
                         [("lan", "alice", alice_dev, P.LEFT)])
        self.assertGreater(got[0].time_unix_ms, 0)

        self.assertEqual(presences(self.carol_ka.sync()), [], "another room's member was told")

    def test_device_revoke_ends_its_tunnel(self):
        self.srv.user_token("dave")
        phone = self.srv.login("dave", "user-password-1", "dave-phone")
        laptop = self.srv.login("dave", "user-password-1", "dave-laptop")
        self.call(phone.session_token, "Join", rooms.JoinRoomRequest(room="lan"), rooms.JoinRoomResponse)
        tun = bootstrap(self.srv, phone.session_token, "lan")
        self.dp.wait_for(lambda s: tun.peer_id in s, "the phone's session on the data plane")
        drain(self.bob_ka)

        self.srv.call("/roomvpn.v1.AuthService/RevokeDevice",
                      auth.RevokeDeviceRequest(device_id=phone.device_id), pb("common").Empty,
                      laptop.session_token)
        self.dp.wait_for(lambda s: tun.peer_id not in s, "the revoked phone's session gone")
        self.assertEqual(await_presences(self.bob_ka, 1),
                         [("lan", "dave", phone.device_id, P.LEFT)])


class BudgetTest(OnADataPlane):
    """presence_budget bounds the fan-out (messages a second over all
    rooms): past it, rooms wait for a later flush, oldest first, and are
    counted; no change is lost and none goes to another room."""

    CONFIG = {"presence_budget": 1, "metrics_allow": "127.0.0.1"}

    def online(self, token, room):
        self.srv.call(R + "Create", rooms.CreateRoomRequest(name=room), rooms.Room, token)
        self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, token)

    def metrics(self):
        return self.srv.metrics()

    def test_rooms_past_the_budget_wait_and_nothing_is_lost(self):
        # a watcher alone in each of three rooms: its own changes tell nobody
        watchers = []
        for i in range(3):
            token = self.srv.user_token("w%d" % i)
            room = "room%d" % i
            self.online(token, room)
            tun = bootstrap(self.srv, token, room)
            ka = Keepalive(self.srv, token).hello(room, tun.peer_id)
            self.streams.append(ka)
            watchers.append((room, ka))
        for _, ka in watchers:
            drain(ka)
        deferred0 = self.metrics()["roomvpn_control_presence_deferred_total"]

        self.srv.user_token("alice")
        dev = self.srv.login("alice", "user-password-1", "alice-laptop")
        for room, _ in watchers:  # three changes, three rooms, one message each
            self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse,
                          dev.session_token)
        for room, ka in watchers:  # one a second: each in turn, none lost or misrouted
            # (a watcher's own changes, held back with alice's, may come along)
            self.assertEqual([p for p in await_presences(ka, 1) if p[1] == "alice"],
                             [(room, "alice", dev.device_id, P.JOINED)])
        m = self.metrics()
        self.assertGreaterEqual(m["roomvpn_control_presence_deferred_total"] - deferred0, 1,
                                "with a budget of 1 message a second, rooms had to wait")
        self.assertEqual(m["roomvpn_control_presence_dropped_total"], 0)

    def test_a_burst_past_a_full_batch_is_counted_not_lost(self):
        watcher = self.srv.user_token("w9")
        self.online(watcher, "burst")
        wtun = bootstrap(self.srv, watcher, "burst")
        wka = Keepalive(self.srv, watcher).hello("burst", wtun.peer_id)
        self.streams.append(wka)
        self.srv.user_token("bursty")
        dev = self.srv.login("bursty", "user-password-1", "bursty-laptop")
        self.srv.call(R + "Join", rooms.JoinRoomRequest(room="burst"), rooms.JoinRoomResponse,
                      dev.session_token)
        tun = bootstrap(self.srv, dev.session_token, "burst")
        kas = [Keepalive(self.srv, dev.session_token) for _ in range(2)]
        self.streams += kas
        drain(wka)
        omitted0 = self.metrics()["roomvpn_control_presence_omitted_total"]
        # 200 changes: each Hello on the other stream brings the tunnel ONLINE
        # again; however the flushes cut them, one batch holds more than 64;
        # then the tunnel ends: OFFLINE, the newest change, is never the one left out
        for i in range(200):
            kas[i % 2].hello("burst", tun.peer_id).sync()
        end(self.srv, dev.session_token, "burst", tun.peer_id)
        got, omitted, deadline = [], 0, time.monotonic() + 20
        while len(got) + omitted < 201 and time.monotonic() < deadline:
            for e in wka.sync():
                if e.WhichOneof("body") == "presence_batch":
                    b = e.presence_batch
                    self.assertLessEqual(len(b.changes), 64)
                    self.assertTrue(all((c.room, c.username) == ("burst", "bursty")
                                        for c in b.changes))
                    got += [c.state for c in b.changes]
                    omitted += b.omitted
        self.assertEqual(len(got) + omitted, 201, "every change listed or counted")
        self.assertGreater(omitted, 0)
        self.assertEqual(got[-1], P.OFFLINE, "the newest change was left out")
        self.assertEqual(set(got[:-1]), {P.ONLINE})
        self.assertEqual(self.metrics()["roomvpn_control_presence_omitted_total"] - omitted0, omitted)


if __name__ == "__main__":
    unittest.main()
