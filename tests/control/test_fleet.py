"""The fleet inside the control plane (issue 11 part B, docs/fleet.md) with
TWO real data planes on local unix sockets (net_ring ports, --no-huge,
distinct --file-prefix and agent sockets) and a real roomvpn-control
configured with two `dataplane = ...` lines:

- placement: two rooms land on different data planes; placement "site=b"
  lands on the data plane labelled site=b; a constraint nobody satisfies is
  FAILED_PRECONDITION, a malformed one INVALID_ARGUMENT;
- Bootstrap answers the endpoints and name of the room's data plane;
- Drain: the member's session (same peer-id) is on the target when the Move
  arrives on its stream; a member that bootstraps again keeps its VIP and
  its old session leaves the source at once; the one that does not is gone
  from the source after dataplane_move_grace; the drained data plane is
  DRAINED and takes no room; Undrain puts it back;
- kill -9 of a data plane: DOWN within a few seconds, its rooms re-placed
  with their sessions, Move (failover) pushed; restarted: resynced with no
  session of the moved rooms (only those of a room that could not move),
  and it takes a new room again;
- FleetService as non-admin: PERMISSION_DENIED; metrics per data plane;
  audit records for drain, undrain and failover.
"""
import os
import signal
import subprocess
import time
import unittest

import grpc

from dpharness import DATAPLANE_BIN, DataPlane, Keepalive, bootstrap
from harness import CONTROL_BIN, ControlServer, pb, rpc_error

rooms = pb("rooms")
fleet = pb("fleet")
audit = pb("audit")
R = "/roomvpn.v1.RoomService/"
F = "/roomvpn.v1.FleetService/"
UP, DRAINING, DRAINED, DOWN = 1, 2, 3, 4
GRACE = 3.0


class NamedDataPlane(DataPlane):
    """A data plane with its own EAL file prefix (two run side by side)."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def start(self, timeout=60.0, extra=()):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [DATAPLANE_BIN, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
             "--file-prefix", "rv-fleet-%s-%d" % (self.name, os.getpid()), "--vdev", "net_ring0",
             "--log-level=lib.eal:error", "--", "--set", "ip=10.99.0.1/24",
             "--set", "agent-socket=" + self.sock, "--set", "idle-sleep-us=1000"] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("roomvpn-dataplane %s did not start:\n%s" % (self.name, self.read_log()))
            time.sleep(0.1)
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()


def wait(cond, what, timeout=15.0):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("%s: not within %.0f s" % (what, timeout))
        time.sleep(0.1)


class FleetTest(unittest.TestCase):
    EP = {"a": ("127.0.0.1:21194", "127.0.0.1:20443"), "b": ("127.0.0.1:31194", "127.0.0.1:30443")}

    @classmethod
    def setUpClass(cls):
        cls.dp = {n: NamedDataPlane(n).start() for n in ("a", "b")}
        cls.srv = ControlServer(config={"stream_deadline": "5m", "dataplane_down_after": "2s",
                                        "dataplane_move_grace": "%ds" % GRACE,
                                        "metrics_allow": "127.0.0.1"})
        with open(cls.srv.config_path, "a") as f:  # the repeatable key
            for n, dp in cls.dp.items():
                f.write("dataplane = %s unix:%s udp=%s tcp=%s labels=site=%s,tier=x\n"
                        % (n, dp.sock, cls.EP[n][0], cls.EP[n][1], n))
        cls.srv.start()
        cls.admin = cls.srv.user_token("owner", admin=True)
        wait(lambda: all(d.state == UP and d.last_heard_unix_ms for d in cls.list()), "both data planes UP")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        for dp in cls.dp.values():
            dp.stop()

    @classmethod
    def list(cls):
        return cls.srv.call(F + "List", fleet.ListDataplanesRequest(), fleet.ListDataplanesResponse,
                            cls.admin).dataplanes

    def one(self, name):
        return [d for d in self.list() if d.name == name][0]

    def create(self, name, placement=""):
        return self.srv.call(R + "Create", rooms.CreateRoomRequest(name=name, placement=placement),
                             rooms.Room, self.admin)

    def get(self, name):
        return self.srv.call(R + "Get", rooms.GetRoomRequest(room=name), rooms.Room, self.admin)

    def member(self, user, room):
        tok = self.srv.user_token(user)
        self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, tok)
        tun = bootstrap(self.srv, tok, room)
        ka = Keepalive(self.srv, tok).hello(room, tun.peer_id)
        ka.sync()
        return tok, tun, ka

    def next_move(self, ka):
        """The next Move on @ka's stream (other events skipped)."""
        while True:
            ev = ka.next_event()
            if ev.WhichOneof("body") == "move":
                return ev.move

    def test_fleet(self):
        self._placement()
        self._drain()
        self._failover()

    def _placement(self):
        d = {x.name: x for x in self.list()}
        self.assertEqual(set(d), {"a", "b"})
        self.assertEqual(d["a"].udp_endpoint, self.EP["a"][0])
        self.assertEqual(d["b"].tcp_endpoint, self.EP["b"][1])
        self.assertEqual(dict(d["b"].labels), {"site": "b", "tier": "x"})
        self.assertEqual(d["a"].link, "unix:" + self.dp["a"].sock)
        self.assertGreater(d["a"].last_heard_unix_ms, 0)
        # two rooms: one on each data plane
        r1, r2 = self.create("one"), self.create("two")
        self.assertEqual({r1.dataplane, r2.dataplane}, {"a", "b"})
        self.assertEqual(self.get("one").dataplane, r1.dataplane)
        # the label constraint
        rb = self.create("bee", placement="site=b")
        self.assertEqual((rb.dataplane, rb.placement), ("b", "site=b"))
        e = rpc_error(self.create, "nowhere", placement="site=zz")
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("site=zz", e.details())
        e = rpc_error(self.create, "bad", placement="site")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        up = lambda p: self.srv.call(R + "Update", rooms.UpdateRoomRequest(room="bee", placement=p),
                                     rooms.Room, self.admin)
        self.assertEqual(rpc_error(up, "site=").code(), grpc.StatusCode.INVALID_ARGUMENT)
        # a constraint is stored in the room's record: bounded on create and update
        huge = "site=" + "b" * 300
        e = rpc_error(self.create, "huge", placement=huge)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("at most 255", e.details())
        self.assertEqual(rpc_error(up, huge).code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(up("site=b,tier=x").placement, "site=b,tier=x")
        # FleetService is for admins
        user = self.srv.user_token("plain")
        for path, req, resp in ((F + "List", fleet.ListDataplanesRequest(), fleet.ListDataplanesResponse),
                                (F + "Drain", fleet.DrainDataplaneRequest(name="a"), fleet.Dataplane)):
            e = rpc_error(self.srv.call, path, req, resp, user)
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(rpc_error(self.srv.call, F + "Drain", fleet.DrainDataplaneRequest(name="zz"),
                                   fleet.Dataplane, self.admin).code(), grpc.StatusCode.NOT_FOUND)
        # Bootstrap: the room's data plane, by name and endpoints
        self.room_a = "one" if r1.dataplane == "a" else "two"
        tok, tun, ka = self.member("m1", self.room_a)
        self.assertEqual(tun.dataplane, "a")
        self.assertEqual(sorted(ep.address for ep in tun.endpoints), sorted(self.EP["a"]))
        self.assertIn(tun.peer_id, self.dp["a"].wait_for(lambda s: tun.peer_id in s, "m1 on a"))
        self.assertNotIn(tun.peer_id, self.dp["b"].sessions())
        self.m1 = (tok, tun, ka)
        self.m2 = self.member("m2", self.room_a)
        self.bee = self.member("m3", "bee")
        self.assertEqual(self.bee[1].dataplane, "b")

    def _drain(self):
        (tok1, t1, ka1), (tok2, t2, ka2) = self.m1, self.m2
        d = self.srv.call(F + "Drain", fleet.DrainDataplaneRequest(name="a"), fleet.Dataplane, self.admin)
        self.assertIn(d.state, (DRAINING, DRAINED))
        mv = self.next_move(ka1)
        # the member's session was installed on the target BEFORE the Move
        target = self.dp["b"].sessions()
        self.assertEqual((mv.dataplane, mv.reason), ("b", "drain"))
        self.assertIn(t1.peer_id, target)
        self.assertIn(t2.peer_id, target)
        self.assertEqual(target[t1.peer_id]["vip"], t1.virtual_ip)
        self.assertEqual(self.next_move(ka2).dataplane, "b")
        self.assertEqual(self.get(self.room_a).dataplane, "b")
        # m1 bootstraps again: the new data plane, same address; its old
        # session leaves the source at once
        n1 = bootstrap(self.srv, tok1, self.room_a)
        self.assertEqual((n1.dataplane, n1.virtual_ip), ("b", t1.virtual_ip))
        self.assertEqual(sorted(ep.address for ep in n1.endpoints), sorted(self.EP["b"]))
        ka1.close()
        self.m1 = (tok1, n1, Keepalive(self.srv, tok1).hello(self.room_a, n1.peer_id))
        self.dp["a"].wait_for(lambda s: t1.peer_id not in s, "m1's old session off a", timeout=GRACE - 1)
        # m2 did not: its session stays on b, leaves a after the grace
        self.dp["a"].wait_for(lambda s: not s, "no session left on a after the grace", timeout=GRACE + 5)
        self.assertIn(t2.peer_id, self.dp["b"].sessions())
        wait(lambda: self.one("a").state == DRAINED, "a DRAINED")
        self.assertEqual(self.one("a").rooms, 0)
        self.assertEqual(self.create("after-drain").dataplane, "b")
        # Undrain: back in placement (the emptier one gets the next room)
        d = self.srv.call(F + "Undrain", fleet.DrainDataplaneRequest(name="a"), fleet.Dataplane, self.admin)
        self.assertEqual(d.state, UP)
        self.assertEqual(self.create("after-undrain").dataplane, "a")

    def _failover(self):
        (tok1, t1, ka1), (tok2, t2, ka2) = self.m1, self.m2
        self.dp["b"].kill9()
        wait(lambda: self.one("b").state == DOWN, "b DOWN (dataplane_down_after 2s)", timeout=15)
        # the room without a constraint moves to a with its sessions
        mv = self.next_move(ka2)
        self.assertEqual((mv.dataplane, mv.reason), ("a", "failover"))
        on_a = self.dp["a"].sessions()
        self.assertIn(t2.peer_id, on_a)
        self.assertIn(t1.peer_id, on_a)
        self.assertEqual(self.next_move(ka1).dataplane, "a")
        self.assertEqual(self.get(self.room_a).dataplane, "a")
        self.assertEqual(self.get("bee").dataplane, "b")  # site=b: nowhere else to go
        scrape = self.metrics()
        self.assertRegex(scrape, r'roomvpn_fleet_dataplane_state\{dataplane="b",state="down"\} 1')
        self.assertRegex(scrape, r'roomvpn_fleet_dataplane_rooms\{dataplane="a"\} [1-9]')
        # back: resynced with what it should hold now (bee's member only)
        self.dp["b"].start()
        wait(lambda: self.one("b").state == UP, "b UP again")
        s = self.dp["b"].wait_for(lambda s: self.bee[1].peer_id in s, "bee's session resynced onto b")
        self.assertNotIn(t1.peer_id, s)
        self.assertNotIn(t2.peer_id, s)
        self.assertEqual({x["room_id"] for x in s.values()}, {self.get("bee").id})
        self.assertEqual(self.create("back-on-b", placement="site=b").dataplane, "b")
        self._hung(ka1, ka2, t1, t2)
        # audit: drain, undrain, failover
        recs = self.srv.call("/roomvpn.v1.AuditService/List", audit.ListAuditRequest(page_size=1000, action="fleet."),
                             audit.ListAuditResponse, self.admin).records
        actions = {r.action for r in recs}
        for a in ("fleet.drain", "fleet.undrain", "fleet.down", "fleet.failover", "fleet.move"):
            self.assertIn(a, actions)
        for k in (ka1, ka2, self.bee[2]):
            k.close()

    def test_config_lines_checked(self):
        """A bad `dataplane` line is refused at parse time with file:line."""
        path = os.path.join(self.srv.tmp, "bad.conf")
        for line, why in (("dataplane = x unix:/tmp/s udp=1.2.3.4:99999 tcp=1.2.3.4:1", "udp"),
                          ("dataplane = x unix:rel udp=1.2.3.4:1 tcp=1.2.3.4:2", "unix:/"),
                          ("dataplane = x unix:/s udp=1.2.3.4:1 tcp=1.2.3.4:2 labels=a", "labels"),
                          ("dataplane = x unix:/s udp=1.2.3.4:1", "required"),
                          ("dataplane = b@d unix:/s udp=1.2.3.4:1 tcp=1.2.3.4:2", "name")):
            with open(path, "w") as f:
                f.write("state_dir = /tmp/x\n\n" + line + "\n")
            r = subprocess.run([CONTROL_BIN, "check-config", "--config", path], capture_output=True,
                               timeout=30)
            self.assertEqual(r.returncode, 2, line)
            err = r.stderr.decode()
            self.assertIn(path + ":3", err)
            self.assertIn(why, err)

    def _hung(self, ka1, ka2, t1, t2):
        """a stops answering (SIGSTOP) past dataplane_down_after: DOWN, the
        room moves to b; continued, a still holds the moved room's
        sessions until its resync removes them."""
        a = self.dp["a"]
        self.assertIn(t2.peer_id, a.sessions())
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            wait(lambda: self.one("a").state == DOWN, "hung a DOWN", timeout=15)
            self.assertEqual(self.next_move(ka2).dataplane, "b")
            self.assertEqual(self.next_move(ka1).dataplane, "b")
            self.assertIn(t2.peer_id, self.dp["b"].sessions())
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        wait(lambda: self.one("a").state == UP, "a UP again")
        a.wait_for(lambda s: t2.peer_id not in s and t1.peer_id not in s,
                   "the moved room's sessions resynced away from a")

    def metrics(self):
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.srv.cert_path())
        ctx.check_hostname = False
        req = urllib.request.Request(self.srv.metrics_url())
        return urllib.request.urlopen(req, context=ctx, timeout=10).read().decode()


if __name__ == "__main__":
    unittest.main()
