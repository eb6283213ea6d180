"""Two roomvpn-control replicas on one 3-member etcd cluster, Logins and
Joins spread over both at once (issue 12, part B: Join and Login in two
round trips): no virtual IP handed out twice (each replica allocates from
its own bitmap; the write batch expects the address absent and retries on
a conflict), no device id twice (id blocks by compare-and-swap), every
acknowledged Join present with the address it was told, users created on
both replicas at once all there with distinct ids."""
import ipaddress
import threading
import unittest

from etcd_cluster import EtcdCluster
from harness import ControlServer, pb

auth = pb("auth")
rooms = pb("rooms")
users = pb("users")
R = "/roomvpn.v1.RoomService/"
PER_REPLICA = 60  # devices joining through each replica
THREADS = 6       # callers per replica


class ReplicasJoinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster().start()
        cfg = {"log_level": "info", "login_fail_per_user": "100000",
               "login_fail_per_addr": "100000", "login_inflight_per_addr": "256"}
        cfg.update(cls.etcd.control_config())
        cls.a = ControlServer(config=cfg).start()
        cls.b = ControlServer(config=cfg).start(init=False)  # the admin is in etcd already

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            if s.proc is not None:
                s.stop()
        cls.etcd.stop()

    def on_both(self, fn, n):
        """fn(srv, i) for i in range(n) on each replica, THREADS callers each;
        returns {(replica, i): result} and raises the first error."""
        out, errors, lock = {}, [], threading.Lock()

        def worker(name, srv, idx):
            for i in idx:
                try:
                    r = fn(srv, i)
                except Exception as e:  # noqa: BLE001 (reported below)
                    with lock:
                        errors.append("%s %d: %s" % (name, i, e))
                    continue
                with lock:
                    out[(name, i)] = r

        ts = [threading.Thread(target=worker, args=(name, srv, range(t, n, THREADS)))
              for name, srv in (("a", self.a), ("b", self.b)) for t in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            self.fail("%d calls failed, first: %s\nreplica a's log:\n%s\nreplica b's log:\n%s" % (
                len(errors), errors[0], self.a.read_log(3000), self.b.read_log(3000)))
        return out

    def test_users_created_on_both_at_once(self):
        admin_a, admin_b = self.a.admin_token(), self.b.admin_token()
        tok = {"a": admin_a, "b": admin_b}

        def create(srv, i):
            name = "u-%s-%d" % ("a" if srv is self.a else "b", i)
            return srv.call("/roomvpn.v1.UserService/Create",
                            users.CreateUserRequest(username=name, password="user-password-1"),
                            users.User, tok["a" if srv is self.a else "b"]).id

        ids = self.on_both(create, 20)
        self.assertEqual(len(set(ids.values())), 40, "a user id handed out twice")

    def test_joins_on_both_replicas_never_share_an_address(self):
        admin = self.a.admin_token()
        # a /24: 253 addresses for 120 devices, so the replicas' allocations meet
        self.a.call(R + "Create", rooms.CreateRoomRequest(name="both", subnet="10.77.0.0/24"),
                    rooms.Room, admin)
        self.a.create_user("joiner", "user-password-1")

        def login_join(srv, i):
            s = srv.login("joiner", "user-password-1", "dev%d" % i)
            j = srv.call(R + "Join", rooms.JoinRoomRequest(room="both"), rooms.JoinRoomResponse,
                         s.session_token)
            again = srv.call(R + "Join", rooms.JoinRoomRequest(room="both"),
                             rooms.JoinRoomResponse, s.session_token)
            self.assertEqual(again.virtual_ip, j.virtual_ip)
            return s.device_id, j.virtual_ip

        got = self.on_both(login_join, PER_REPLICA)
        devices = [d for d, _ in got.values()]
        ips = [ip for _, ip in got.values()]
        self.assertEqual(len(set(devices)), 2 * PER_REPLICA, "a device id handed out twice")
        dup = sorted(ip for ip in set(ips) if ips.count(ip) > 1)
        self.assertEqual(dup, [], "virtual IPs handed out twice")
        net = ipaddress.ip_network("10.77.0.0/24")
        self.assertTrue(all(ipaddress.ip_address(ip) in net for ip in ips))
        # every acknowledged Join is a member with the address it was told,
        # as either replica reads it
        for srv in (self.a, self.b):
            ms = srv.call(R + "ListMembers", rooms.ListMembersRequest(room="both"),
                          rooms.ListMembersResponse, srv.admin_token()).members
            self.assertEqual(sorted((m.device_id, m.virtual_ip) for m in ms), sorted(got.values()))


if __name__ == "__main__":
    unittest.main()
