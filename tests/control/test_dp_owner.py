"""Data-plane ownership with two control replicas on one 3-member TLS etcd
(etcd_cluster.py) and one real roomvpn-dataplane (dpharness.py): exactly
one replica drives it (its fence is the data plane's, the other's tunnels
are not pushed); after kill -9 of the owner the other is elected, its
fence replaces the old one and it resyncs the data plane from its own
registry; a member kicked through the survivor right after the kill is
gone from the data plane; the deposed owner's fence is refused; an owner cut from etcd stops
sending on its own clock, before another can be elected. Times from
the kill to the takeover and from the kick to the session gone are printed
(figures, not asserted). docs/etcd.md "Data-plane ownership"."""
import json
import signal
import subprocess
import time
import unittest

from dpharness import DPCTL_BIN, DataPlane, bootstrap
from etcd_cluster import EtcdCluster
from harness import ControlServer, pb

rooms = pb("rooms")
R = "/roomvpn.v1.RoomService/"
TTL_S = 2


def dpctl(dp, *args, fence=None):
    """roomvpn-dpctl --json [--fence N] ARGS: (exit code, parsed output)."""
    cmd = [DPCTL_BIN, "--socket", dp.sock, "--json"] + (["--fence", str(fence)] if fence is not None else [])
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr}


def dp_stats(dp):
    rc, st = dpctl(dp, "stats")
    if rc != 0:
        raise AssertionError("dpctl stats failed: %s" % st)
    return st


def wait(cond, what, timeout=30.0):
    """Polls cond() until it returns something true (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s" % (what, timeout))
        time.sleep(0.05)


class Member:
    """A user's device in the room with a tunnel bootstrapped on @srv."""

    def __init__(self, srv, name, room):
        self.token = srv.user_token(name)
        self.join = srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse,
                             self.token)
        self.peer = bootstrap(srv, self.token, room).peer_id


class DataPlaneOwnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster().start()
        cls.dp = DataPlane().start()
        cfg = {"dataplane_agent": cls.dp.sock, "dp_owner_ttl_s": str(TTL_S),
               "stream_deadline": "5m", "dataplane_udp": "127.0.0.1:11941",
               "dataplane_tcp": "127.0.0.1:4431"}
        cfg.update(cls.etcd.control_config())
        cls.a = ControlServer(config=dict(cfg, replica_id="replica-a")).start()
        # a is alone: elected; its first request carries its fence
        cls.fence_a = wait(lambda: dp_stats(cls.dp)["fence"], "replica a drives the data plane")
        cls.b = ControlServer(config=dict(cfg, replica_id="replica-b")).start(init=False)

    @classmethod
    def tearDownClass(cls):
        failed = []
        for srv in (cls.a, cls.b):  # each stopped, whatever the other did
            try:
                if srv.proc is not None:
                    srv.stop()
            except AssertionError as e:
                failed.append(e)
        cls.dp.stop()
        cls.etcd.stop()
        if failed:
            raise failed[0]

    def test_1_one_owner_failover_and_fencing(self):
        dp, a, b = self.dp, self.a, self.b
        owner = a.user_token("owner")
        a.call(R + "Create", rooms.CreateRoomRequest(name="ha", subnet="10.79.0.0/24"), rooms.Room, owner)
        on_a = Member(a, "m-a", "ha")
        on_b, kicked_b = Member(b, "m-b", "ha"), Member(b, "m-b-kicked", "ha")

        # One driver: every tunnel is on the data plane, b's too, pushed by a
        # (b publishes its tunnels in etcd, a mirrors them), and b sends
        # nothing itself: any request of its own would carry no fence (or
        # none newer than a's) and be refused and counted.
        dp.wait_for(lambda s: all(m.peer in s for m in (on_a, on_b, kicked_b)),
                    "every tunnel on the data plane, through replica a")
        st = dp_stats(dp)
        self.assertEqual((st["fence"], st["fence_refused"]), (self.fence_a, 0))

        # kill -9 of the owner; a kick through the survivor right after it
        a.kill9()
        t_kill = time.monotonic()
        for m in (on_a, kicked_b):
            b.call_raw(R + "Kick", rooms.KickRequest(room="ha", device_id=m.join.device_id)
                       .SerializeToString(), owner)
        t_kick = time.monotonic()

        # b is elected (a newer fence reaches the data plane) and resyncs it
        # from its registry: its own tunnel, not the kicked ones
        fence_b = wait(lambda: (lambda f: f if f > self.fence_a else 0)(dp_stats(dp)["fence"]),
                       "replica b takes over", timeout=TTL_S + 20)
        t_takeover = time.monotonic()
        dp.wait_for(lambda s: on_b.peer in s and on_a.peer not in s, "replica b's resync")
        t_gone = time.monotonic()
        self.assertNotIn(kicked_b.peer, dp.sessions())
        print("\nkill -9 -> takeover (newer fence on the data plane): %.2f s (lease TTL %d s)"
              "\nkick -> kicked member's session gone: %.2f s" % (
                  t_takeover - t_kill, TTL_S, t_gone - t_kick))

        # b now drives it: a new tunnel through b is pushed at once
        later = Member(b, "m-b-later", "ha")
        self.assertIn(later.peer, dp.sessions())

        # the deposed owner (its old fence) is refused and counted; so is a
        # change without a fence; reads without one are served
        rc, out = dpctl(dp, "session", "del", str(on_b.peer), fence=self.fence_a)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["status"], "stale_fence")
        self.assertIn("stale fence %d" % self.fence_a, out["message"])
        self.assertIn("seen fence %d" % fence_b, out["message"])
        rc, out = dpctl(dp, "session", "del", str(on_b.peer))
        self.assertEqual((rc, out.get("status")), (1, "stale_fence"), out)
        self.assertIn(on_b.peer, dp.sessions())
        st = dp_stats(dp)
        self.assertEqual((st["fence"], st["fence_refused"]), (fence_b, 2))

    def test_2_owner_cut_from_etcd_sends_nothing(self):
        dp, a, b, etcd = self.dp, self.a, self.b, self.etcd
        if a.proc is None:
            a.restart()  # the replica killed by test 1, a standby now
        owner = b.user_token("owner")
        b.call(R + "Create", rooms.CreateRoomRequest(name="ha2", subnet="10.80.0.0/24"), rooms.Room, owner)
        member = Member(b, "m-cut", "ha2")
        self.assertIn(member.peer, dp.sessions())  # b drives the data plane
        fence_b = dp_stats(dp)["fence"]

        # etcd frozen: b cannot renew its lease, and no watch tells it
        # anything. Its term ends on its own clock (4/5 of the TTL); a
        # renewal that gives up (~10 s) comes long after.
        for p in etcd.procs:
            p.send_signal(signal.SIGSTOP)
        try:
            renewals = lambda: b.read_log(tail=1 << 20).count("data-plane owner: lease renewal")
            wait(lambda: renewals() >= 1, "b's first renewal gives up", timeout=40)
            # another owner, elected where etcd is still reachable, reaches
            # the data plane first (its fence is the next revision)
            rc, out = dpctl(dp, "stats", fence=fence_b + 1)
            self.assertEqual(rc, 0, out)
            refused = dp_stats(dp)["fence_refused"]
            # b, its stats pass due every second, must send nothing: not
            # even requests the data plane would refuse
            wait(lambda: renewals() >= 2, "b's second renewal gives up", timeout=40)
            st = dp_stats(dp)
        finally:
            for p in etcd.procs:
                p.send_signal(signal.SIGCONT)
        self.assertEqual((st["fence"], st["fence_refused"]), (fence_b + 1, refused),
                         "the owner cut from etcd kept sending:\n" + dp.read_log())
        etcd.wait_healthy(range(etcd.n))
        # etcd back: b learns that its lease is gone
        wait(lambda: "no longer the owner" in b.read_log(tail=1 << 20), "b steps down")


if __name__ == "__main__":
    unittest.main()
