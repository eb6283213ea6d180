"""RoomService black-box over TLS (harness.py): room lifecycle, validation,
owner/admin scope, joins with stable virtual IPs, full rooms, room passwords,
and kill -9 + restart keeping every acknowledged room and member."""
import ipaddress
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
auth = pb("auth")
common = pb("common")

R = "/roomvpn.v1.RoomService/"
UDP = rooms.TRANSPORT_UDP
TCP = rooms.TRANSPORT_TCP


class RoomClient:
    """Thin wrappers so that tests read like the API."""

    def __init__(self, srv):
        self.srv = srv

    def create(self, token, name, **kw):
        return self.srv.call(R + "Create", rooms.CreateRoomRequest(name=name, **kw), rooms.Room, token)

    def update(self, token, room, **kw):
        return self.srv.call(R + "Update", rooms.UpdateRoomRequest(room=room, **kw), rooms.Room, token)

    def delete(self, token, room):
        return self.srv.call(R + "Delete", rooms.DeleteRoomRequest(room=room), common.Empty, token)

    def get(self, token, room):
        return self.srv.call(R + "Get", rooms.GetRoomRequest(room=room), rooms.Room, token)

    def list(self, token, page_size=0, page_token=""):
        return self.srv.call(R + "List", rooms.ListRoomsRequest(page_size=page_size, page_token=page_token),
                             rooms.ListRoomsResponse, token)

    def join(self, token, room, password=""):
        return self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room, password=password),
                             rooms.JoinRoomResponse, token)

    def leave(self, token, room):
        return self.srv.call(R + "Leave", rooms.LeaveRoomRequest(room=room), common.Empty, token)

    def members(self, token, room):
        return self.srv.call(R + "ListMembers", rooms.ListMembersRequest(room=room),
                             rooms.ListMembersResponse, token).members

    def kick(self, token, room, device_id):
        return self.srv.call(R + "Kick", rooms.KickRequest(room=room, device_id=device_id), common.Empty, token)


def code_of(fn, *args, **kw):
    return rpc_error(fn, *args, **kw).code()


class RoomsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"dns": "10.88.255.53", "dataplane_udp": "127.0.0.1:11940",
                                        "dataplane_tcp": "127.0.0.1:4430",
                                        "login_fail_per_addr": "1000", "login_fail_per_user": "3"}).start()
        cls.rc = RoomClient(cls.srv)
        cls.admin = cls.srv.admin_token()
        cls.alice = cls.srv.user_token("alice")
        cls.bob = cls.srv.user_token("bob")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def login(self, user, device):
        return self.srv.login(user, "user-password-1", device)

    # ---- lifecycle ---------------------------------------------------------
    def test_lifecycle(self):
        rc = self.rc
        r = rc.create(self.alice, "life-1")
        net = ipaddress.ip_network(r.subnet)
        self.assertTrue(net.subnet_of(ipaddress.ip_network("10.88.0.0/16")))
        self.assertEqual(net.prefixlen, 24)
        self.assertEqual(r.transport, UDP)
        self.assertEqual(r.mtu, 1400)
        self.assertEqual(r.keepalive_s, 10)
        self.assertEqual(len(r.room_key), 32)
        self.assertEqual(r.owner, "alice")
        self.assertEqual(r.server_ip, str(net.network_address + 1))
        self.assertFalse(r.has_password)
        self.assertGreater(r.id, 0)

        by_name, by_id = rc.get(self.alice, "life-1"), rc.get(self.alice, "#%d" % r.id)
        self.assertEqual(by_name, by_id)
        self.assertEqual(by_name.room_key, r.room_key)
        self.assertIn("life-1", [x.name for x in rc.list(self.bob, page_size=1000).rooms])

        u = rc.update(self.alice, "life-1", mtu=1300, transport=TCP, keepalive_s=25, rotate_key=True)
        self.assertEqual((u.mtu, u.transport, u.keepalive_s, u.subnet), (1300, TCP, 25, r.subnet))
        self.assertEqual(len(u.room_key), 32)
        self.assertNotEqual(u.room_key, r.room_key)
        # Unset fields are left alone.
        u2 = rc.update(self.alice, "life-1", mtu=1280)
        self.assertEqual((u2.mtu, u2.transport, u2.keepalive_s, u2.room_key), (1280, TCP, 25, u.room_key))

        rc.delete(self.alice, "life-1")
        self.assertEqual(code_of(rc.get, self.alice, "life-1"), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(code_of(rc.delete, self.alice, "life-1"), grpc.StatusCode.NOT_FOUND)
        # The name and the subnet are free again.
        again = rc.create(self.alice, "life-1", subnet=r.subnet)
        self.assertEqual(again.subnet, r.subnet)
        self.assertNotEqual(again.id, r.id)
        rc.delete(self.alice, "life-1")

    def test_create_options(self):
        r = self.rc.create(self.alice, "opts-1", subnet="192.168.77.0/26", transport=TCP, mtu=9000,
                           keepalive_s=3600)
        self.assertEqual((r.subnet, r.transport, r.mtu, r.keepalive_s), ("192.168.77.0/26", TCP, 9000, 3600))
        r = self.rc.create(self.alice, "opts-2", subnet="172.16.0.0/16", mtu=576, keepalive_s=1)
        self.assertEqual((r.subnet, r.mtu, r.keepalive_s), ("172.16.0.0/16", 576, 1))
        self.rc.delete(self.admin, "opts-1")
        self.rc.delete(self.admin, "opts-2")

    def test_pool_subnets_are_disjoint(self):
        nets = [ipaddress.ip_network(self.rc.create(self.bob, "pool-%d" % i).subnet) for i in range(5)]
        for i, a in enumerate(nets):
            for b in nets[i + 1:]:
                self.assertFalse(a.overlaps(b), (a, b))
        for i in range(5):
            self.rc.delete(self.bob, "pool-%d" % i)

    def test_list_paging(self):
        for i in range(7):
            self.rc.create(self.bob, "page-%02d" % i)
        seen, token = [], ""
        for _ in range(20):
            resp = self.rc.list(self.alice, page_size=3, page_token=token)
            self.assertLessEqual(len(resp.rooms), 3)
            seen += [r.name for r in resp.rooms]
            token = resp.next_page_token
            if not token:
                break
        mine = [n for n in seen if n.startswith("page-")]
        self.assertEqual(mine, ["page-%02d" % i for i in range(7)])
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(seen), len(set(seen)))
        # Other users see rooms but not their keys.
        self.assertTrue(all(r.room_key == b"" for r in self.rc.list(self.alice, page_size=1000).rooms
                            if r.owner == "bob"))
        e = rpc_error(self.rc.list, self.alice, 3, "no/such token")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        for i in range(7):
            self.rc.delete(self.bob, "page-%02d" % i)

    # ---- validation ------------------------------------------------------------
    def test_validation(self):
        rc, t = self.rc, self.alice
        bad = [
            (dict(name=""), "room name"),
            (dict(name="-dash-first"), "room name"),
            (dict(name="has space"), "room name"),
            (dict(name="slash/no"), "room name"),
            (dict(name="x" * 64), "room name"),
            (dict(name="ok", mtu=575), "mtu 575"),
            (dict(name="ok", mtu=9001), "mtu 9001"),
            (dict(name="ok", keepalive_s=3601), "keepalive_s"),
            (dict(name="ok", transport=7), "transport 7"),
            (dict(name="ok", subnet="8.8.8.0/24"), "not private"),
            (dict(name="ok", subnet="10.1.0.0/31"), "prefix length"),
            (dict(name="ok", subnet="10.0.0.0/15"), "prefix length"),
            (dict(name="ok", subnet="10.1.0.1/24"), "host bits"),
            (dict(name="ok", subnet="banana"), "not a subnet"),
            (dict(name="ok", password="short"), "password"),
        ]
        for kw, words in bad:
            name = kw.pop("name")
            e = rpc_error(rc.create, t, name, **kw)
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, (name, kw, e.details()))
            self.assertIn(words, e.details())
        self.assertEqual(code_of(rc.get, t, "ok"), grpc.StatusCode.NOT_FOUND)
        # The longest valid name works.
        rc.create(t, "n" * 63)
        rc.delete(t, "n" * 63)

        rc.create(t, "val-dup", subnet="10.200.0.0/16")
        e = rpc_error(rc.create, t, "val-dup")
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        self.assertIn("already exists", e.details())
        e = rpc_error(rc.create, t, "val-overlap", subnet="10.200.5.0/24")
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        self.assertIn("overlaps 10.200.0.0/16", e.details())
        e = rpc_error(rc.update, t, "val-dup", mtu=100)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        e = rpc_error(rc.get, t, "no-such-room")
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("no-such-room", e.details())
        self.assertEqual(code_of(rc.join, t, "no-such-room"), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(code_of(rc.get, t, ""), grpc.StatusCode.INVALID_ARGUMENT)
        rc.delete(t, "val-dup")

    # ---- DNS settings and managed routes --------------------------------------
    def test_dns_and_routes(self):
        rc, t = self.rc, self.alice
        R1 = rooms.Route(target="192.168.50.0/24", via="10.67.0.5")
        r = rc.create(t, "net-1", subnet="10.67.0.0/24", dns_servers=["10.67.0.53", "1.1.1.1"],
                      dns_search="corp.example", routes=[R1])
        self.assertEqual((list(r.dns_servers), r.dns_search), (["10.67.0.53", "1.1.1.1"], "corp.example"))
        self.assertEqual([(x.target, x.via) for x in r.routes], [("192.168.50.0/24", "10.67.0.5")])
        # Join: the room's own servers (not the server's default), dns = the first one
        j = rc.join(self.bob, "net-1")
        self.assertEqual((j.dns, list(j.dns_servers), j.dns_search), ("10.67.0.53", ["10.67.0.53", "1.1.1.1"],
                                                                       "corp.example"))
        self.assertEqual([(x.target, x.via) for x in j.routes], [("192.168.50.0/24", "10.67.0.5")])
        # Update replaces each set as a whole; left out, it stays
        R2 = rooms.Route(target="10.20.0.0/16", via="10.67.0.6")
        u = rc.update(t, "net-1", routes=rooms.RouteList(routes=[R2, R1]))
        self.assertEqual([x.target for x in u.routes], ["10.20.0.0/16", "192.168.50.0/24"])
        self.assertEqual(list(u.dns_servers), ["10.67.0.53", "1.1.1.1"])
        u = rc.update(t, "net-1", dns=rooms.DnsSettings(servers=["9.9.9.9"]), mtu=1300)
        self.assertEqual((list(u.dns_servers), u.dns_search, u.mtu, len(u.routes)), (["9.9.9.9"], "", 1300, 2))
        # Cleared: no routes; no DNS of its own -> Join falls back to the server's
        u = rc.update(t, "net-1", dns=rooms.DnsSettings(), routes=rooms.RouteList())
        self.assertEqual((list(u.dns_servers), list(u.routes)), ([], []))
        j = rc.join(self.bob, "net-1")
        self.assertEqual((j.dns, list(j.dns_servers), list(j.routes)), ("10.88.255.53", ["10.88.255.53"], []))
        # Only the owner or an admin
        e = rpc_error(rc.update, self.bob, "net-1", routes=rooms.RouteList(routes=[R1]))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(len(rc.update(self.admin, "net-1", routes=rooms.RouteList(routes=[R1])).routes), 1)

        bad_routes = [
            ([rooms.Route(target="8.8.8.0/24", via="10.67.0.5")], "must be private"),
            ([rooms.Route(target="192.168.50.1/24", via="10.67.0.5")], "host bits"),
            ([rooms.Route(target="10.67.0.128/25", via="10.67.0.5")], "overlaps the room's subnet 10.67.0.0/24"),
            ([rooms.Route(target="192.168.9.0/24", via="10.68.0.5")], "inside the room's subnet"),
            ([rooms.Route(target="192.168.9.0/24", via="10.67.0.1")], "server address"),
            ([R1, R1], "listed twice"),
            ([rooms.Route(target="172.16.%d.0/24" % i, via="10.67.0.5") for i in range(17)], "at most 16 routes"),
        ]
        for routes, words in bad_routes:
            e = rpc_error(rc.update, t, "net-1", routes=rooms.RouteList(routes=routes))
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, (words, e.details()))
            self.assertIn(words, e.details())
        bad_dns = [
            (dict(servers=["10.67.0.300"]), "is not a usable IPv4 address"),
            (dict(servers=["127.0.0.1"]), "is not a usable IPv4 address"),
            (dict(servers=["9.9.9.%d" % i for i in range(1, 6)]), "at most 4 DNS servers"),
            (dict(servers=["9.9.9.9"], search="no_underscores"), "search domain"),
            (dict(search="corp.example"), "needs at least one DNS server"),
        ]
        for kw, words in bad_dns:
            e = rpc_error(rc.update, t, "net-1", dns=rooms.DnsSettings(**kw))
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, (words, e.details()))
            self.assertIn(words, e.details())
            e = rpc_error(rc.create, t, "net-2", dns_servers=kw.get("servers", []), dns_search=kw.get("search", ""))
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        e = rpc_error(rc.create, t, "net-2", subnet="10.68.0.0/24", routes=[R1])
        self.assertIn("inside the room's subnet 10.68.0.0/24", e.details())
        self.assertEqual(code_of(rc.get, t, "net-2"), grpc.StatusCode.NOT_FOUND)
        # Nothing of the refused updates stuck
        g = rc.get(t, "net-1")
        self.assertEqual(([(x.target, x.via) for x in g.routes], list(g.dns_servers)),
                         ([("192.168.50.0/24", "10.67.0.5")], []))
        rc.delete(t, "net-1")

    def test_unauthenticated(self):
        for call in (lambda: self.rc.create(None, "x"), lambda: self.rc.list(None),
                     lambda: self.rc.join(None, "x"), lambda: self.rc.delete(None, "x"),
                     lambda: self.rc.members(None, "x")):
            self.assertEqual(code_of(call), grpc.StatusCode.UNAUTHENTICATED)

    # ---- owner / admin scope -----------------------------------------------------
    def test_owner_scope(self):
        rc = self.rc
        rc.create(self.alice, "scope-1")
        bob_dev = self.login("bob", "bob-phone")
        j = rc.join(bob_dev.session_token, "scope-1")
        for fn in (lambda t: rc.update(t, "scope-1", mtu=1300),
                   lambda t: rc.kick(t, "scope-1", j.device_id), lambda t: rc.delete(t, "scope-1")):
            e = rpc_error(fn, self.bob)
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn("owner of room scope-1", e.details())
        self.assertEqual(rc.update(self.alice, "scope-1", mtu=1300).mtu, 1300)
        self.assertEqual(rc.update(self.admin, "scope-1", mtu=1310).mtu, 1310)
        self.assertEqual([m.username for m in rc.members(self.admin, "scope-1")], ["bob"])
        rc.kick(self.alice, "scope-1", j.device_id)
        self.assertEqual(list(rc.members(self.alice, "scope-1")), [])
        self.assertEqual(code_of(rc.kick, self.alice, "scope-1", j.device_id), grpc.StatusCode.NOT_FOUND)
        # Owner scope on a room that doesn't exist: NOT_FOUND, not a leak of anything.
        self.assertEqual(code_of(rc.update, self.bob, "scope-none", mtu=1300), grpc.StatusCode.NOT_FOUND)
        rc.delete(self.admin, "scope-1")

    def test_members_listed_by_members_only(self):
        """ListMembers: the owner, an admin or a device in the room; an
        outsider (another device, even of a member's user) is refused."""
        rc = self.rc
        rc.create(self.alice, "mlist-1")
        bob_dev = self.login("bob", "bob-tablet")
        j = rc.join(bob_dev.session_token, "mlist-1")
        self.assertEqual([m.device_id for m in rc.members(bob_dev.session_token, "mlist-1")],
                         [j.device_id])
        self.assertEqual([m.device_id for m in rc.members(self.alice, "mlist-1")], [j.device_id])
        self.assertEqual(len(rc.members(self.admin, "mlist-1")), 1)
        # presence (online, RTT, last seen) comes from the tunnel registry: no
        # tunnel here, so offline and never seen (client/e2e_test.sh: online)
        m = rc.members(self.alice, "mlist-1")[0]
        self.assertEqual((m.online, m.rtt_us, m.last_seen_unix_ms), (False, 0, 0))
        e = rpc_error(rc.members, self.bob, "mlist-1")
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("member", e.details())
        rc.leave(bob_dev.session_token, "mlist-1")
        self.assertEqual(code_of(rc.members, bob_dev.session_token, "mlist-1"),
                         grpc.StatusCode.PERMISSION_DENIED)
        rc.delete(self.alice, "mlist-1")

    # ---- join / leave ----------------------------------------------------------------
    def test_join_and_stable_ip(self):
        rc = self.rc
        r = rc.create(self.alice, "join-1", subnet="10.66.0.0/24", mtu=1350, keepalive_s=15)
        s1 = self.login("bob", "bob-laptop")
        s2 = self.login("bob", "bob-desktop")
        j1 = rc.join(s1.session_token, "join-1")
        net = ipaddress.ip_network("10.66.0.0/24")
        ip1 = ipaddress.ip_address(j1.virtual_ip)
        self.assertIn(ip1, net)
        self.assertNotIn(ip1, (net.network_address, net.network_address + 1, net.broadcast_address))
        self.assertEqual((j1.subnet, j1.prefix_len, j1.mtu, j1.keepalive_s), ("10.66.0.0/24", 24, 1350, 15))
        self.assertEqual(j1.server_ip, "10.66.0.1")
        self.assertEqual(j1.dns, "10.88.255.53")
        self.assertEqual(j1.device_id, s1.device_id)
        self.assertEqual([(e.transport, e.address) for e in j1.endpoints],
                         [(UDP, "127.0.0.1:11940"), (TCP, "127.0.0.1:4430")])
        self.assertEqual(j1.room.room_key, r.room_key)  # members get the key

        j2 = rc.join(s2.session_token, "join-1")
        self.assertNotEqual(j2.virtual_ip, j1.virtual_ip)
        # Joining again while in the room: same answer.
        self.assertEqual(rc.join(s1.session_token, "join-1").virtual_ip, j1.virtual_ip)
        ms = rc.members(self.alice, "join-1")
        self.assertEqual(sorted((m.device_id, m.virtual_ip) for m in ms),
                         sorted([(s1.device_id, j1.virtual_ip), (s2.device_id, j2.virtual_ip)]))
        self.assertEqual(rc.get(self.alice, "join-1").members, 2)

        # Leave and rejoin (also through a refreshed session): same address.
        rc.leave(s1.session_token, "join-1")
        self.assertEqual(code_of(rc.leave, s1.session_token, "join-1"), grpc.StatusCode.NOT_FOUND)
        s3 = self.login("bob", "bob-tablet")
        j3 = rc.join(s3.session_token, "join-1")  # a third device doesn't take s1's address
        self.assertNotIn(j3.virtual_ip, (j1.virtual_ip, j2.virtual_ip))
        fresh = self.srv.call("/roomvpn.v1.AuthService/Refresh",
                              auth.RefreshRequest(device_token=s1.device_token), auth.Session)
        self.assertEqual(fresh.device_id, s1.device_id)
        self.assertEqual(rc.join(fresh.session_token, "join-1").virtual_ip, j1.virtual_ip)
        # Kicked devices keep their address too.
        rc.kick(self.alice, "join-1", s2.device_id)
        self.assertEqual(rc.join(s2.session_token, "join-1").virtual_ip, j2.virtual_ip)
        rc.delete(self.alice, "join-1")

    def test_names_are_never_ids(self):
        """A room named like another room's id acts on itself only, for
        every method; a bare number is a name, never an id ("#<id>" is)."""
        rc = self.rc
        victim = rc.create(self.alice, "id-victim", mtu=1400)
        vdev = rc.join(self.alice, "id-victim").device_id
        name = str(victim.id)
        e = rpc_error(rc.get, self.bob, name)  # no room of that name yet
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(rc.get(self.bob, "#%d" % victim.id).name, "id-victim")
        mine = rc.create(self.bob, name)
        self.assertEqual(rc.get(self.bob, name).id, mine.id)
        self.assertEqual(rc.join(self.bob, name).room.id, mine.id)
        self.assertEqual(rc.update(self.bob, name, mtu=1280).id, mine.id)
        self.assertEqual([m.device_id for m in rc.members(self.bob, name)],
                         [m.device_id for m in rc.members(self.bob, "#%d" % mine.id)])
        self.assertEqual(code_of(rc.kick, self.bob, name, vdev), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(code_of(rc.members, self.bob, "#%d" % victim.id),
                         grpc.StatusCode.PERMISSION_DENIED)
        rc.delete(self.bob, name)
        for fn, args in ((rc.get, ()), (rc.update, ()), (rc.delete, ()), (rc.members, ()),
                         (rc.join, ()), (rc.kick, (vdev,))):
            kw = {"mtu": 1280} if fn == rc.update else {}
            self.assertEqual(code_of(fn, self.bob, name, *args, **kw), grpc.StatusCode.NOT_FOUND,
                             fn.__name__)
        v = rc.get(self.alice, "id-victim")
        self.assertEqual((v.id, v.mtu), (victim.id, 1400))
        self.assertIn(vdev, [m.device_id for m in rc.members(self.alice, "id-victim")])
        for bad in ("#", "#0", "#x", "#1x", "# 1"):
            self.assertEqual(code_of(rc.get, self.bob, bad), grpc.StatusCode.NOT_FOUND, bad)
        self.assertEqual(code_of(rc.create, self.bob, "#5"), grpc.StatusCode.INVALID_ARGUMENT)
        rc.delete(self.alice, "id-victim")

    def test_tcp_room_lists_tcp_first(self):
        self.rc.create(self.alice, "join-tcp", transport=TCP)
        j = self.rc.join(self.bob, "join-tcp")
        self.assertEqual([e.transport for e in j.endpoints], [TCP, UDP])
        self.rc.delete(self.alice, "join-tcp")

    def test_full_room(self):
        rc = self.rc
        rc.create(self.alice, "full-1", subnet="10.99.0.0/29")  # 8 addresses, 5 for devices
        sess = [self.login("bob", "full-dev-%d" % i) for i in range(6)]
        ips = [rc.join(s.session_token, "full-1").virtual_ip for s in sess[:5]]
        self.assertEqual(sorted(ips), ["10.99.0.%d" % i for i in range(2, 7)])
        e = rpc_error(rc.join, sess[5].session_token, "full-1")
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("full", e.details())
        # A device leaves: the newcomer gets the freed address; the leaver can't come back.
        rc.leave(sess[0].session_token, "full-1")
        self.assertEqual(rc.join(sess[5].session_token, "full-1").virtual_ip, ips[0])
        self.assertEqual(code_of(rc.join, sess[0].session_token, "full-1"), grpc.StatusCode.RESOURCE_EXHAUSTED)
        rc.delete(self.alice, "full-1")

        rc.create(self.alice, "full-30", subnet="10.99.1.0/30")  # exactly one device
        self.assertEqual(rc.join(sess[0].session_token, "full-30").virtual_ip, "10.99.1.2")
        self.assertEqual(code_of(rc.join, sess[1].session_token, "full-30"), grpc.StatusCode.RESOURCE_EXHAUSTED)
        rc.delete(self.alice, "full-30")

    def test_room_password(self):
        rc = self.rc
        r = rc.create(self.alice, "pw-1", password="sesame-open-1")
        self.assertTrue(r.has_password)
        e = rpc_error(rc.join, self.bob, "pw-1")
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("needs a password", e.details())
        e = rpc_error(rc.join, self.bob, "pw-1", "wrong-password")
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("wrong room password", e.details())
        rc.join(self.bob, "pw-1", "sesame-open-1")
        rc.leave(self.bob, "pw-1")
        # Changing and removing the password.
        self.assertTrue(rc.update(self.alice, "pw-1", password="another-secret").has_password)
        self.assertEqual(code_of(rc.join, self.bob, "pw-1", "sesame-open-1"), grpc.StatusCode.PERMISSION_DENIED)
        rc.join(self.bob, "pw-1", "another-secret")
        rc.leave(self.bob, "pw-1")
        self.assertFalse(rc.update(self.alice, "pw-1", password="").has_password)
        rc.join(self.bob, "pw-1")
        rc.delete(self.alice, "pw-1")

    def test_room_password_guesses_are_limited(self):
        rc = self.rc
        r = rc.create(self.alice, "pw-guess", password="right-password")
        self.srv.user_token("gus")
        gus = self.login("gus", "gus-laptop")
        # login_fail_per_user is 3 in this class: 3 wrong guesses, then refused.
        for _ in range(3):
            self.assertEqual(code_of(rc.join, gus.session_token, "pw-guess", "wrong-guess"),
                             grpc.StatusCode.PERMISSION_DENIED)
        for room in ("pw-guess", "#%d" % r.id):  # by id counts the same
            e = rpc_error(rc.join, gus.session_token, room, "right-password")
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("too many wrong room passwords", e.details())
        # Other users of the same room are not locked out.
        rc.join(self.bob, "pw-guess", "right-password")
        rc.delete(self.alice, "pw-guess")

    def test_delete_frees_members_and_addresses(self):
        rc = self.rc
        rc.create(self.alice, "del-1", subnet="10.98.0.0/30")
        rc.join(self.bob, "del-1")
        rc.delete(self.alice, "del-1")
        rc.create(self.alice, "del-1", subnet="10.98.0.0/30")
        self.assertEqual(list(rc.members(self.alice, "del-1")), [])
        # The old member's reservation went with the old room: a new device fits.
        self.assertEqual(rc.join(self.alice, "del-1").virtual_ip, "10.98.0.2")
        rc.delete(self.alice, "del-1")

    def test_deleted_user_leaves_rooms(self):
        rc = self.rc
        users = pb("users")
        rc.create(self.alice, "gone-1")
        self.srv.user_token("carl")
        carl = self.login("carl", "carl-laptop")
        rc.join(carl.session_token, "gone-1")
        rc.join(self.bob, "gone-1")
        self.assertEqual(sorted(m.username for m in rc.members(self.alice, "gone-1")), ["bob", "carl"])
        self.srv.call("/roomvpn.v1.UserService/Delete", users.DeleteUserRequest(username="carl"),
                      common.Empty, self.admin)
        self.assertEqual([m.username for m in rc.members(self.alice, "gone-1")], ["bob"])
        rc.delete(self.alice, "gone-1")

    def test_concurrent_joins_and_creates(self):
        from concurrent.futures import ThreadPoolExecutor
        rc = self.rc
        rc.create(self.alice, "race-1", subnet="10.97.0.0/29")  # 5 device addresses
        sess = [self.login("bob", "race-dev-%d" % i) for i in range(8)]

        def join(s):
            try:
                return rc.join(s.session_token, "race-1").virtual_ip
            except grpc.RpcError as e:
                return e.code()

        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(join, sess))
        ips = [g for g in got if isinstance(g, str)]
        self.assertEqual(len(ips), 5, got)
        self.assertEqual(len(set(ips)), 5)
        self.assertEqual([g for g in got if not isinstance(g, str)], [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3)
        self.assertEqual(len(rc.members(self.alice, "race-1")), 5)

        def create(i):
            try:
                return rc.create(self.bob, "race-same", subnet="10.97.1.0/24" if i % 2 else "").name
            except grpc.RpcError as e:
                return e.code()

        with ThreadPoolExecutor(6) as ex:
            got = list(ex.map(create, range(6)))
        self.assertEqual(got.count("race-same"), 1, got)
        self.assertEqual(got.count(grpc.StatusCode.ALREADY_EXISTS), 5, got)
        rc.delete(self.alice, "race-1")
        rc.delete(self.bob, "race-same")


class RoomsPoolTest(unittest.TestCase):
    def test_configured_pool(self):
        srv = ControlServer(config={"ipam_pool": "10.123.0.0/22", "ipam_room_prefix": "24"}).start()
        try:
            rc, admin = RoomClient(srv), srv.admin_token()
            rc.create(admin, "own", subnet="10.123.2.0/25")  # inside the pool: takes that /24's room
            got = [rc.create(admin, "pool-%d" % i).subnet for i in range(3)]
            self.assertEqual(got, ["10.123.0.0/24", "10.123.1.0/24", "10.123.3.0/24"])
            e = rpc_error(rc.create, admin, "pool-3")
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("pool 10.123.0.0/22 has no free /24", e.details())
            # Outside the pool, chosen subnets still work.
            self.assertEqual(rc.create(admin, "outside", subnet="10.124.0.0/24").subnet, "10.124.0.0/24")
            rc.delete(admin, "pool-1")
            self.assertEqual(rc.create(admin, "pool-3").subnet, "10.123.1.0/24")
        finally:
            srv.stop()

    def test_bad_pool_is_refused_at_start(self):
        for pool, words in (("8.8.0.0/16", "not private"), ("10.0.0.1/16", "host bits")):
            srv = ControlServer(config={"ipam_pool": pool})
            try:
                with self.assertRaises(RuntimeError) as cm:
                    srv.start()
                self.assertIn("ipam_pool", str(cm.exception))
                self.assertIn(words, str(cm.exception))
            finally:
                srv.stop()


class RoomsPersistenceTest(unittest.TestCase):
    def test_kill9_keeps_rooms_and_members(self):
        srv = ControlServer(config={"login_fail_per_addr": "1000"}).start()
        try:
            rc = RoomClient(srv)
            alice = srv.user_token("alice")
            dev = srv.login("alice", "user-password-1", "alice-laptop")
            created = [rc.create(alice, "keep-%d" % i) for i in range(3)]
            joined = rc.join(dev.session_token, "keep-1")
            via = str(ipaddress.ip_network(created[2].subnet).network_address + 5)
            rc.update(alice, "keep-2", mtu=1234, dns=rooms.DnsSettings(servers=["10.9.9.53"], search="lan"),
                      routes=rooms.RouteList(routes=[rooms.Route(target="192.168.77.0/24", via=via)]))
            rc.delete(alice, "keep-0")
            srv.kill9()
            srv.restart()
            admin = srv.admin_token()
            self.assertEqual(code_of(rc.get, admin, "keep-0"), grpc.StatusCode.NOT_FOUND)
            k1 = rc.get(admin, "keep-1")
            self.assertEqual((k1.subnet, k1.room_key, k1.members), (created[1].subnet, created[1].room_key, 1))
            k2 = rc.get(admin, "keep-2")
            self.assertEqual((k2.mtu, list(k2.dns_servers), k2.dns_search), (1234, ["10.9.9.53"], "lan"))
            self.assertEqual([(x.target, x.via) for x in k2.routes], [("192.168.77.0/24", via)])
            ms = rc.members(admin, "keep-1")
            self.assertEqual([(m.device_id, m.virtual_ip) for m in ms], [(dev.device_id, joined.virtual_ip)])
            # The device's address survives too.
            fresh = srv.call("/roomvpn.v1.AuthService/Refresh",
                             auth.RefreshRequest(device_token=dev.device_token), auth.Session)
            rc.leave(fresh.session_token, "keep-1")
            self.assertEqual(rc.join(fresh.session_token, "keep-1").virtual_ip, joined.virtual_ip)
            # A new room doesn't reuse a live room's subnet.
            new = rc.create(admin, "keep-new")
            self.assertNotIn(new.subnet, (created[1].subnet, created[2].subnet))
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
