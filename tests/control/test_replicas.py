"""Two roomvpn-control replicas on one 3-member etcd cluster (issue 12,
part B; docs/etcd.md "Replicas"), both pushing to one fake data plane:

1. 2,000 logins, joins and bootstraps spread over both replicas at once
   (each device joins on one replica and bootstraps on the other): no
   duplicate virtual IP, vip6 or peer-id; every acknowledged join listed by
   both replicas; every tunnel in both registries (Health), each published
   once in etcd (tun/<peer-id>) by the replica that registered it.
2. A Kick on replica A of a member whose keepalive stream is on replica B:
   the stream on B gets its Kick (through B's watch of the membership
   keys); a member of another room hears nothing.
3. kill -9 of the replica holding a client's stream: the client says Hello
   on the other, which takes the tunnel over with the same peer-id and keys
   (its record now names it, under its lease); once the dead replica's lease
   has expired the tunnel is still there and its data-plane session was
   never deleted."""
import concurrent.futures
import os
import queue
import threading
import time
import unittest

import grpc

from dpharness import Keepalive, bootstrap, end
from etcd_cluster import EtcdCluster
from fakeagent import FakeAgent
from harness import ControlServer, pb

import etcd.rpc_pb2 as etcdpb  # generated into the same directory as pb()'s

rooms = pb("rooms")
health = pb("health")
fleet = pb("fleet")
store = pb("room_store")
R = "/roomvpn.v1.RoomService/"
F = "/roomvpn.v1.FleetService/"
DEVICES = 2000
USERS = 20
THREADS = 32
TUN = b"tun/"


class Etcd:
    """Reads of the cluster's keys over its client TLS (Range, lease TTL)."""

    def __init__(self, cluster):
        def read(name):
            with open(cluster.path(name), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(read("ca.crt"), read("client.key"), read("client.crt"))
        self.ch = grpc.secure_channel(cluster.endpoint(0)[len("https://"):], creds)
        self.range = self.ch.unary_unary("/etcdserverpb.KV/Range",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=etcdpb.RangeResponse.FromString)

    def tunnels(self):
        """{peer-id: (TunnelRecord, lease)} of every tun/ key."""
        r = self.range(etcdpb.RangeRequest(key=TUN, range_end=b"tun0"), timeout=30)
        out = {}
        for kv in r.kvs:
            out[int.from_bytes(kv.key[4:], "big")] = (store.TunnelRecord.FromString(kv.value), kv.lease)
        return out

    def revoke(self, lease):
        self.ch.unary_unary("/etcdserverpb.Lease/LeaseRevoke",
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=etcdpb.LeaseRevokeResponse.FromString)(
            etcdpb.LeaseRevokeRequest(ID=lease), timeout=30)

    def close(self):
        self.ch.close()


def heard(ka):
    """The events a keepalive stream got before its next heartbeat reply,
    re-key requests aside: the fake data plane reports no sessions, so every
    replica that drives it re-pushes the keyed tunnels and asks them to
    re-key ("the data plane restarted")."""
    return [e for e in ka.sync() if e.WhichOneof("body") != "rekey"]


def wait_until(fn, what, timeout=60.0):
    """Polls @fn (a read of the servers' state) until it returns a true value."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s" % (what, timeout))
        time.sleep(0.1)


class Events:
    """A keepalive stream's events read on a thread, so that a missing one
    fails the test instead of blocking it."""

    def __init__(self, ka):
        self.q = queue.Queue()
        threading.Thread(target=self._read, args=(ka,), daemon=True).start()

    def _read(self, ka):
        try:
            for ev in ka.call:
                self.q.put(ev)
        except grpc.RpcError as e:
            self.q.put(e)
        self.q.put(None)

    def next(self, timeout=20.0):
        """The next event other than a re-key request (see heard())."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no keepalive event within %.0f s" % timeout)
            if isinstance(ev, Exception) or ev is None or ev.WhichOneof("body") != "rekey":
                return ev


class ReplicasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster().start()
        cls.agent = FakeAgent()
        cfg = {"dataplane_udp": "127.0.0.1:11940", "dataplane_tcp": "127.0.0.1:4430",
               "dataplane_agent": cls.agent.sock, "max_tunnels_per_user": "0",
               "stream_deadline": "0", "log_level": "info"}
        cfg.update(cls.etcd.control_config())
        cls.a = ControlServer(config=dict(cfg, replica_id="replica-a")).start()
        cls.b = ControlServer(config=dict(cfg, replica_id="replica-b")).start(init=False)
        cls.kv = Etcd(cls.etcd)

    @classmethod
    def tearDownClass(cls):
        cls.kv.close()
        for srv in (cls.a, cls.b):
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
        cls.agent.stop()
        cls.etcd.stop()

    def admin_health(self, srv):
        return srv.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(), health.HealthResponse,
                        srv.admin_token())

    def member(self, login_on, join_on, user, room, device):
        """Login, Join and Bootstrap; (session token, join, bootstrap)."""
        tok = login_on.login(user, "user-password-1", device).session_token
        j = join_on.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, tok)
        return tok, j, bootstrap(login_on, tok, room)

    def test_1_joins_over_both_replicas(self):
        a, b = self.a, self.b
        self.assertEqual(self.admin_health(a).replica_id, "replica-a")
        self.assertEqual(self.admin_health(b).replica_id, "replica-b")
        owner = a.user_token("big-owner")
        a.call(R + "Create", rooms.CreateRoomRequest(name="big", subnet="10.90.0.0/20"), rooms.Room,
               owner)
        users = ["u%02d" % i for i in range(USERS)]
        for u in users:
            a.create_user(u, "user-password-1")

        def one(i):  # device i joins on one replica and bootstraps on the other
            first, second = (a, b) if i % 2 else (b, a)
            tok = first.login(users[i % USERS], "user-password-1", "dev%d" % i).session_token
            j = first.call(R + "Join", rooms.JoinRoomRequest(room="big"), rooms.JoinRoomResponse, tok)
            t = bootstrap(second, tok, "big")
            return j.device_id, j.virtual_ip, j.virtual_ip6, t.peer_id, t.virtual_ip

        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            got = list(pool.map(one, range(DEVICES)))
        ReplicasTest.joined = got
        devices = {g[0] for g in got}
        self.assertEqual(len({g[3] for g in got}), DEVICES, "duplicate peer-id")
        self.assertEqual([g[1] for g in got], [g[4] for g in got])  # Bootstrap's = Join's
        for srv in (a, b):
            listed = srv.call(R + "ListMembers", rooms.ListMembersRequest(room="big"),
                              rooms.ListMembersResponse, owner).members
            self.assertTrue(devices <= {m.device_id for m in listed})

        peers = {g[3] for g in got}
        for srv in (a, b):  # each registry holds the whole cluster's tunnels
            wait_until(lambda: peers <= {t.peer_id for t in self.admin_health(srv).tunnels},
                       "every tunnel in replica %s's registry" % srv.config["replica_id"])
        recs = wait_until(lambda: (lambda r: r if peers <= set(r) and all(
            r[p][0].key for p in peers) else None)(self.kv.tunnels()), "every record keyed")
        for i, g in enumerate(got):
            rec = recs[g[3]][0]
            self.assertEqual((rec.device, rec.replica), (g[0], "replica-a" if i % 2 == 0 else "replica-b"))

    # No virtual IP (or vip6) twice across the two replicas: each Join's
    # address is a compare-and-swap in its batch (members_join.c).
    def test_1b_no_duplicate_address(self):
        got = getattr(ReplicasTest, "joined", None)
        self.assertIsNotNone(got, "test_1 did not run")
        for what, col in (("virtual IP", 1), ("vip6", 2)):
            self.assertEqual(len({g[col] for g in got}), DEVICES, "duplicate %s among %d joins" % (what, DEVICES))

    def test_2_kick_reaches_the_stream_on_the_other_replica(self):
        a, b = self.a, self.b
        owner = a.user_token("kick-owner")
        for name in ("kick-room", "quiet-room"):
            a.call(R + "Create", rooms.CreateRoomRequest(name=name), rooms.Room, owner)
        a.create_user("victim", "user-password-1")
        a.create_user("bystander", "user-password-1")
        vtok, vj, vt = self.member(b, b, "victim", "kick-room", "victim-laptop")
        btok, _, bt = self.member(b, b, "bystander", "quiet-room", "bystander-laptop")
        victim = Keepalive(b, vtok).hello("kick-room", vt.peer_id)
        bystander = Keepalive(b, btok).hello("quiet-room", bt.peer_id)
        self.assertEqual(heard(victim), [])
        self.assertEqual(heard(bystander), [])
        wait_until(lambda: vt.peer_id in {t.peer_id for t in self.admin_health(a).tunnels},
                   "the victim's tunnel mirrored on replica A")
        events = Events(victim)

        a.call(R + "Kick", rooms.KickRequest(room="kick-room", device_id=vj.device_id), pb("common").Empty,
               owner)
        ev = events.next()
        self.assertNotIsInstance(ev, Exception, ev)
        self.assertIsNotNone(ev, "the victim's stream ended without a Kick")
        self.assertEqual(ev.WhichOneof("body"), "kick", ev)
        self.assertEqual(ev.kick.room, "kick-room")
        self.assertEqual(heard(bystander), [])  # another room: nothing
        for srv in (a, b):
            wait_until(lambda: vt.peer_id not in {t.peer_id for t in self.admin_health(srv).tunnels},
                       "the kicked tunnel gone from %s" % srv.config["replica_id"])
        bystander.close()

    def test_2b_lost_lease_regranted_and_records_published_again(self):
        a, b = self.a, self.b
        owner = a.user_token("lease-owner")
        a.call(R + "Create", rooms.CreateRoomRequest(name="lease-room"), rooms.Room, owner)
        a.create_user("leaser", "user-password-1")
        tok, _, t = self.member(a, a, "leaser", "lease-room", "leaser-laptop")
        ka = Keepalive(a, tok).hello("lease-room", t.peer_id)
        self.assertEqual(heard(ka), [])
        before, lease = wait_until(lambda: (lambda r: r if r and r[0].key else None)(
            self.kv.tunnels().get(t.peer_id)), "the record")

        self.kv.revoke(lease)  # as if replica A had been cut from etcd for a whole TTL
        after, new_lease = wait_until(lambda: (lambda r: r if r and r[1] != lease else None)(
            self.kv.tunnels().get(t.peer_id)), "the record published again under a new lease")
        self.assertEqual((after.replica, after.key), ("replica-a", before.key))
        wait_until(lambda: t.peer_id in {x.peer_id for x in self.admin_health(b).tunnels},
                   "the tunnel mirrored on B again")
        self.assertEqual(heard(ka), [])  # the stream on A never noticed
        ka.close()

    def test_2c_bootstrap_again_on_the_other_replica_then_end(self):
        a, b = self.a, self.b
        owner = a.user_token("again-owner")
        a.call(R + "Create", rooms.CreateRoomRequest(name="again-room"), rooms.Room, owner)
        a.create_user("again", "user-password-1")
        tok, _, first = self.member(a, a, "again", "again-room", "again-laptop")
        wait_until(lambda: first.peer_id in {x.peer_id for x in self.admin_health(b).tunnels},
                   "the first tunnel mirrored on B")
        second = bootstrap(b, tok, "again-room")  # replaces it, on the other replica
        for srv in (a, b):
            wait_until(lambda: (lambda p: second.peer_id in p and first.peer_id not in p)(
                {x.peer_id for x in self.admin_health(srv).tunnels}),
                "the tunnel replaced on %s" % srv.config["replica_id"])
        recs = wait_until(lambda: (lambda r: r if first.peer_id not in r else None)(self.kv.tunnels()),
                          "the first record deleted")
        self.assertEqual(recs[second.peer_id][0].replica, "replica-b")

        end(a, tok, "again-room", second.peer_id)  # ended on the replica that does not hold it
        wait_until(lambda: second.peer_id not in self.kv.tunnels(), "its record deleted")
        for srv in (a, b):
            wait_until(lambda: second.peer_id not in {x.peer_id for x in self.admin_health(srv).tunnels},
                       "the tunnel gone from %s" % srv.config["replica_id"])

    def test_3_stream_moves_when_its_replica_dies(self):
        a, b = self.a, self.b
        owner = a.user_token("move-owner")
        a.call(R + "Create", rooms.CreateRoomRequest(name="move-room"), rooms.Room, owner)
        a.create_user("mover", "user-password-1")
        tok, _, t = self.member(a, a, "mover", "move-room", "mover-laptop")
        _, _, stayer = self.member(a, a, "mover", "move-room", "mover-desktop")  # stays away
        ka = Keepalive(a, tok).hello("move-room", t.peer_id)
        self.assertEqual(heard(ka), [])
        before, lease_a = wait_until(lambda: self.kv.tunnels().get(t.peer_id), "the record")
        self.assertEqual(before.replica, "replica-a")
        wait_until(lambda: t.peer_id in {x.peer_id for x in self.admin_health(b).tunnels},
                   "the tunnel mirrored on replica B")
        with self.agent.cv:
            since = len(self.agent.requests)

        a.kill9()
        moved = Keepalive(b, tok).hello("move-room", t.peer_id)
        self.assertEqual(heard(moved), [])  # a refused Hello ends the stream: sync raises
        after, lease_b = wait_until(lambda: (lambda r: r if r and r[0].replica == "replica-b" else None)(
            self.kv.tunnels().get(t.peer_id)), "the record re-published by replica B")
        self.assertNotEqual(lease_b, lease_a)
        self.assertEqual((after.peer_id, after.device, after.key_id, after.key),
                         (before.peer_id, before.device, before.key_id, before.key))
        # replica A's lease runs out: its tunnel that nobody took over goes
        # (record, registries, session), the one now B's stays
        wait_until(lambda: stayer.peer_id not in self.kv.tunnels(), "replica A's lease expired",
                   timeout=30)
        self.assertIn(t.peer_id, self.kv.tunnels())
        wait_until(lambda: stayer.peer_id not in {x.peer_id for x in self.admin_health(b).tunnels},
                   "replica A's other tunnel gone from B")
        wait_until(lambda: self.told(stayer.peer_id, since)[-1:] == ["gone"],
                   "replica A's other tunnel's session removed")
        mine = b.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(), health.HealthResponse, tok)
        self.assertEqual([x.peer_id for x in mine.tunnels], [t.peer_id])
        self.assertEqual(heard(moved), [])
        self.assertNotIn("gone", self.told(t.peer_id, since), "the session was removed")
        moved.close()

    def told(self, peer_id, since):
        """What the data plane was told of @peer_id's session by the requests
        after the first @since, in order: "up" (an upsert, or a Resync that
        holds it), "gone" (a delete, or a Resync without it)."""
        out = []
        with self.agent.cv:
            reqs = self.agent.requests[since:]
        for r in reqs:
            body = r.WhichOneof("body")
            if body == "upsert_session" and r.upsert_session.session.peer_id == peer_id:
                out.append("up")
            elif body == "delete_session" and r.delete_session.peer_id == peer_id:
                out.append("gone")
            elif body == "resync":
                out.append("up" if any(x.peer_id == peer_id for x in r.resync.sessions) else "gone")
        return out


class ReplicaMoveTest(unittest.TestCase):
    """A room moved by one replica (a drain of its data plane) reaches the
    streams on the other: its watch of the room records follows the move
    (its fleet view, and a Move on each of the room's streams)."""

    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster().start()
        cls.agents = {n: FakeAgent() for n in ("a", "b")}
        cfg = {"stream_deadline": "0", "log_level": "info"}
        cfg.update(cls.etcd.control_config())
        cls.one = ControlServer(config=dict(cfg, replica_id="replica-1"))
        cls.two = ControlServer(config=dict(cfg, replica_id="replica-2"))
        for srv in (cls.one, cls.two):
            with open(srv.config_path, "a") as f:  # the repeatable key
                for i, (name, agent) in enumerate(sorted(cls.agents.items())):
                    f.write("dataplane = %s unix:%s udp=127.0.0.1:%d tcp=127.0.0.1:%d\n"
                            % (name, agent.sock, 21194 + i, 20443 + i))
        cls.one.start()
        cls.two.start(init=False)

    @classmethod
    def tearDownClass(cls):
        for srv in (cls.one, cls.two):
            srv.stop()
        for agent in cls.agents.values():
            agent.stop()
        cls.etcd.stop()

    def test_move_reaches_the_other_replicas_streams(self):
        one, two = self.one, self.two
        admin = one.admin_token()
        for srv in (one, two):
            wait_until(lambda: all(d.state == fleet.DATAPLANE_STATE_UP for d in srv.call(
                F + "List", fleet.ListDataplanesRequest(), fleet.ListDataplanesResponse,
                srv.admin_token()).dataplanes), "both data planes up on " + srv.config["replica_id"])
        room = one.call(R + "Create", rooms.CreateRoomRequest(name="wander"), rooms.Room, admin)
        target = "b" if room.dataplane == "a" else "a"
        tok = two.user_token("wanderer")
        two.call(R + "Join", rooms.JoinRoomRequest(room="wander"), rooms.JoinRoomResponse, tok)
        t = bootstrap(two, tok, "wander")
        self.assertEqual(t.dataplane, room.dataplane)
        ka = Keepalive(two, tok).hello("wander", t.peer_id)
        self.assertEqual(heard(ka), [])  # bound before the drain
        events = Events(ka)

        one.call(F + "Drain", fleet.DrainDataplaneRequest(name=room.dataplane), fleet.Dataplane, admin)
        while True:  # the stream on replica 2 hears of the move made by replica 1
            ev = events.next()
            self.assertNotIsInstance(ev, Exception, ev)
            self.assertIsNotNone(ev, "the stream ended without a Move")
            if ev.WhichOneof("body") == "move":
                break
        self.assertEqual(ev.move.dataplane, target)
        self.assertEqual(bootstrap(two, tok, "wander").dataplane, target)


if __name__ == "__main__":
    unittest.main()
