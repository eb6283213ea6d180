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


class PresenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.srv = ControlServer(config={"dataplane_agent": cls.dp.sock, "stream_deadline": "5m",
                                         "presence_interval": "50ms"}).start()
        cls.streams = []
        # bob watches room "lan"; carol sits in room "other"
        cls.bob = cls.srv.user_token("bob")
        cls.call(cls.bob, "Create", rooms.CreateRoomRequest(name="lan"), rooms.Room)
        cls.bob_ka = cls.online(cls.bob, "lan")
        cls.carol = cls.srv.user_token("carol")
        cls.call(cls.carol, "Create", rooms.CreateRoomRequest(name="other"), rooms.Room)
        cls.carol_ka = cls.online(cls.carol, "other")

    @classmethod
    def tearDownClass(cls):
        for ka in cls.streams:
            ka.close()
        cls.srv.stop()
        cls.dp.stop()

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


if __name__ == "__main__":
    unittest.main()
