"""Dual-stack rooms in the control plane (issue 17), black-box over TLS with
a fake data plane (fakeagent.py) recording what the control plane pushes:

- the server listens on [::1] and the client dials [::1];
- a room gets a /64 of the server's random ULA /48 (kept across restarts);
  two devices get distinct vip6 inside it, stable across rejoin, the same in
  Join, Bootstrap and ListMembers; the data plane is given the room's
  prefix6 and the session's vip6;
- IPv6 routes and DNS servers: validated, pushed as ConfigUpdate on the
  members' keepalive streams and as Room.routes6 to the data plane;
- an operator's own subnet6: validated, overlaps refused;
- a room stored before IPv6 gets a prefix6 at the next start (and its
  members a vip6); the server's prefix (ipv6_prefix) runs out with a clear
  message; a dual-stack listener ([::]) answers on both families."""
import ipaddress
import unittest

import grpc

from dpharness import Keepalive, bootstrap
from fakeagent import FakeAgent
from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
health = pb("health")
R = "/roomvpn.v1.RoomService/"
PW = "user-password-1"


def net6(s):
    return ipaddress.IPv6Network(s)


def addr6(s):
    return ipaddress.IPv6Address(s)


class Client:
    def __init__(self, srv):
        self.srv = srv

    def create(self, token, name, **kw):
        return self.srv.call(R + "Create", rooms.CreateRoomRequest(name=name, **kw), rooms.Room, token)

    def update(self, token, room, **kw):
        return self.srv.call(R + "Update", rooms.UpdateRoomRequest(room=room, **kw), rooms.Room, token)

    def get(self, token, room):
        return self.srv.call(R + "Get", rooms.GetRoomRequest(room=room), rooms.Room, token)

    def join(self, token, room):
        return self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, token)

    def members(self, token, room):
        return self.srv.call(R + "ListMembers", rooms.ListMembersRequest(room=room),
                             rooms.ListMembersResponse, token).members


class DualStackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = FakeAgent()
        cls.srv = ControlServer(config={"dataplane_agent": cls.agent.sock, "dns": "2001:db8::53",
                                        "dataplane_udp": "127.0.0.1:11940",
                                        "dataplane_tcp": "127.0.0.1:4430"})
        cls.srv.config["listen"] = "[::1]:%d" % cls.srv.port  # reached over IPv6 only
        cls.srv.dial_host = "[::1]"
        cls.srv._write_config()
        cls.srv.start()
        cls.c = Client(cls.srv)
        cls.alice = cls.srv.user_token("alice")
        cls.phone = cls.srv.login("alice", PW, "alice-phone").session_token

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.agent.stop()

    def test_room_members_and_data_plane_get_ipv6(self):
        c = self.c
        r = c.create(self.alice, "dual")
        p = net6(r.subnet6)
        self.assertEqual(p.prefixlen, 64)
        self.assertTrue(p.subnet_of(net6("fd00::/8")), r.subnet6)  # a ULA
        self.assertEqual(addr6(r.server_ip6), p.network_address + 1)
        j1, j2 = c.join(self.alice, "dual"), c.join(self.phone, "dual")
        v1, v2 = addr6(j1.virtual_ip6), addr6(j2.virtual_ip6)
        self.assertNotEqual(v1, v2)
        for j, v in ((j1, v1), (j2, v2)):
            self.assertEqual((j.subnet6, j.prefix6_len), (r.subnet6, 64))
            self.assertIn(v, p)
            self.assertNotIn(v, (p.network_address, p.network_address + 1))
        self.assertEqual(c.join(self.alice, "dual").virtual_ip6, j1.virtual_ip6)  # stable
        self.assertEqual(list(j1.dns_servers), ["2001:db8::53"])  # the server's `dns`, IPv6
        self.assertEqual(sorted(m.virtual_ip6 for m in c.members(self.alice, "dual")),
                         sorted([j1.virtual_ip6, j2.virtual_ip6]))
        # Bootstrap answers the same and the data plane gets prefix6 and vip6
        b = bootstrap(self.srv, self.phone, "dual")
        self.assertEqual((b.virtual_ip6, b.subnet6, b.prefix6_len), (j2.virtual_ip6, r.subnet6, 64))
        s = self.agent.wait_for(lambda a: a.session(b.peer_id), "the session on the data plane")
        self.assertEqual(addr6(bytes(s.vip6)), v2)
        room = self.agent.room(lambda x: x.room_id == s.room_id)
        self.assertEqual(net6("%s/%d" % (addr6(bytes(room.prefix6)), room.prefix6_len)), p)
        # the device's tunnel status names it too
        h = self.srv.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(),
                          health.HealthResponse, self.phone)
        self.assertIn(j2.virtual_ip6, [t.virtual_ip6 for t in h.tunnels if t.peer_id == b.peer_id])

    def test_ipv6_routes_and_dns_reach_members_and_data_plane(self):
        c = self.c
        r = c.create(self.alice, "dual-net")
        j = c.join(self.phone, "dual-net")
        b = bootstrap(self.srv, self.phone, "dual-net")
        ka = Keepalive(self.srv, self.phone).hello("dual-net", b.peer_id)
        try:
            ka.sync()
            route = rooms.Route(target="fd00:50::/64", via=j.virtual_ip6)
            dns6 = str(addr6(j.virtual_ip6))
            u = c.update(self.alice, "dual-net", routes=rooms.RouteList(routes=[route]),
                         dns=rooms.DnsSettings(servers=["10.1.2.3", dns6]))
            self.assertEqual([(x.target, x.via) for x in u.routes], [("fd00:50::/64", j.virtual_ip6)])
            self.assertEqual(list(u.dns_servers), ["10.1.2.3", dns6])
            evs = ka.sync()
            self.assertEqual([e.WhichOneof("body") for e in evs], ["config"])
            self.assertEqual(list(evs[0].config.dns_servers), ["10.1.2.3", dns6])
            self.assertEqual([(x.target, x.via) for x in evs[0].config.routes],
                             [("fd00:50::/64", j.virtual_ip6)])
        finally:
            ka.close()
        room = self.agent.wait_for(lambda a: a.room(lambda x: len(x.routes6) == 1
                                                     and net6("%s/%d" % (addr6(bytes(x.prefix6)), x.prefix6_len))
                                                     == net6(r.subnet6)),
                                   "the IPv6 route on the data plane")
        rt = room.routes6[0]
        self.assertEqual((addr6(bytes(rt.target)), rt.prefix_len, addr6(bytes(rt.via))),
                         (addr6("fd00:50::"), 64, addr6(j.virtual_ip6)))
        bad = [
            ([rooms.Route(target="fd00:50::1/64", via=j.virtual_ip6)], "host bits"),
            ([rooms.Route(target=r.subnet6, via=j.virtual_ip6)], "overlaps the room's subnet6"),
            ([rooms.Route(target="fd00:51::/64", via="fd00:51::5")], "inside the room's subnet6"),
            ([rooms.Route(target="2001:db8:%x::/48" % i, via=j.virtual_ip6) for i in range(17)],
             "at most 16 routes per room for IPv6"),
        ]
        for routes, words in bad:
            e = rpc_error(c.update, self.alice, "dual-net", routes=rooms.RouteList(routes=routes))
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, (words, e.details()))
            self.assertIn(words, e.details())
        e = rpc_error(c.update, self.alice, "dual-net", dns=rooms.DnsSettings(servers=["::1"]))
        self.assertIn("not a usable IPv6 address", e.details())

    def test_own_subnet6(self):
        c = self.c
        r = c.create(self.alice, "own6", subnet6="fd00:aaaa:0:7::/64")
        self.assertEqual(r.subnet6, "fd00:aaaa:0:7::/64")
        self.assertEqual(addr6(c.join(self.alice, "own6").virtual_ip6).exploded[:19], "fd00:aaaa:0000:0007")
        cases = [
            ("fd00:aaaa::/48", grpc.StatusCode.ALREADY_EXISTS, "overlaps fd00:aaaa:0:7::/64 of another room"),
            ("fd00:aaaa:0:8::1/64", grpc.StatusCode.INVALID_ARGUMENT, "host bits"),
            ("fd00:bbbb::/47", grpc.StatusCode.INVALID_ARGUMENT, "48..120"),
            ("fd00:bbbb::/121", grpc.StatusCode.INVALID_ARGUMENT, "48..120"),
            ("10.9.0.0/24", grpc.StatusCode.INVALID_ARGUMENT, "not an IPv6 address"),
        ]
        for want, code, words in cases:
            e = rpc_error(c.create, self.alice, "own6-bad", subnet6=want)
            self.assertEqual(e.code(), code, (want, e.details()))
            self.assertIn(words, e.details())

    def test_ula_kept_across_restart(self):
        first = net6(self.c.create(self.alice, "keep-1").subnet6)
        self.srv.stop()
        self.srv.restart()
        again = self.c.get(self.alice, "keep-1")
        second = net6(self.c.create(self.alice, "keep-2").subnet6)
        self.assertEqual(net6(again.subnet6), first)
        self.assertEqual(first.supernet(new_prefix=48), second.supernet(new_prefix=48))
        self.assertNotEqual(first, second)


class Ipv6PeerTest(unittest.TestCase):
    def test_failed_logins_limited_per_ipv6_address(self):
        """gRPC names an IPv6 peer "ipv6:%5B::1%5D:PORT": the limiter must
        still key it by address, not by connection (each attempt below comes
        on a new connection, from a new port)."""
        srv = ControlServer(config={"login_fail_per_addr": "3", "login_fail_per_user": "1000"})
        srv.config["listen"] = "[::1]:%d" % srv.port
        srv.dial_host = "[::1]"
        srv._write_config()
        srv.start()
        try:
            auth = pb("auth")
            codes = []
            for i in range(5):
                ch = srv.new_channel()
                try:
                    fn = ch.unary_unary("/roomvpn.v1.AuthService/Login",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=auth.Session.FromString)
                    e = rpc_error(fn, auth.LoginRequest(username="nobody%d" % i, password="wrong-password",
                                                        device_name="d"), timeout=30, wait_for_ready=True)
                    codes.append((e.code(), e.details()))
                finally:
                    ch.close()
            self.assertEqual([c for c, _ in codes[:3]], [grpc.StatusCode.UNAUTHENTICATED] * 3, codes)
            self.assertEqual(codes[3][0], grpc.StatusCode.RESOURCE_EXHAUSTED, codes)
            self.assertIn("from this address", codes[3][1])
            self.assertIn("from ipv6:[::1]:", srv.read_log(tail=1 << 20))
        finally:
            srv.stop()


class PrefixTest(unittest.TestCase):
    def test_old_rooms_get_a_prefix_and_the_prefix_runs_out(self):
        srv = ControlServer(config={"ipv6": "off"})
        srv.config["listen"] = "[::]:%d" % srv.port  # dual-stack
        srv._write_config()
        srv.start()
        try:
            c = Client(srv)
            bob = srv.user_token("bob")
            old = c.create(bob, "before-ipv6")
            j = c.join(bob, "before-ipv6")
            self.assertEqual((old.subnet6, j.virtual_ip6), ("", ""))
            e = rpc_error(c.create, bob, "no-v6", subnet6="fd00:1::/64")
            self.assertIn("IPv6 is off", e.details())
            srv.stop()
            srv.config.update({"ipv6": "on", "ipv6_prefix": "fd00:77::/62"})
            srv._write_config()
            srv.start(init=False)
            # the room stored before got the first /64, its member a vip6
            self.assertEqual(c.get(bob, "before-ipv6").subnet6, "fd00:77::/64")
            j2 = c.join(bob, "before-ipv6")
            self.assertEqual(j2.virtual_ip, j.virtual_ip)
            v4 = ipaddress.IPv4Address(j.virtual_ip)
            self.assertEqual(addr6(j2.virtual_ip6), addr6("fd00:77::") + (int(v4) & 0xff))
            self.assertEqual([m.virtual_ip6 for m in c.members(bob, "before-ipv6")], [j2.virtual_ip6])
            got = [c.create(bob, "more-%d" % i).subnet6 for i in range(3)]
            self.assertEqual(got, ["fd00:77:0:1::/64", "fd00:77:0:2::/64", "fd00:77:0:3::/64"])
            e = rpc_error(c.create, bob, "one-too-many")
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("IPv6 prefix fd00:77::/62 has no free /64", e.details())
            # [::] answers IPv4 and IPv6 clients
            srv.dial_host = "[::1]"
            srv._close_channel()
            self.assertEqual(c.get(bob, "more-0").subnet6, "fd00:77:0:1::/64")
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
