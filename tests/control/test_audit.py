"""AuditService black-box over TLS (harness.py): logins (ok and failed) and
mutating RPCs are recorded with actor, source, action, target and result;
paging walks every record once in order; actor/action/time filters; admin
only; records survive kill -9."""
import time
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

audit = pb("audit")
rooms = pb("rooms")

LIST = "/roomvpn.v1.AuditService/List"


class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer(config={"login_fail_per_addr": "1000"}).start()
        cls.admin = cls.srv.admin_token()
        cls.alice = cls.srv.user_token("alice")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def list(self, token=None, **kw):
        return self.srv.call(LIST, audit.ListAuditRequest(**kw), audit.ListAuditResponse,
                             token or self.admin)

    def walk(self, page_size, **filters):
        out, token = [], ""
        for _ in range(1000):
            resp = self.list(page_size=page_size, page_token=token, **filters)
            self.assertLessEqual(len(resp.records), page_size)
            if resp.next_page_token:
                self.assertEqual(len(resp.records), page_size)
            out += resp.records
            token = resp.next_page_token
            if not token:
                return out
        self.fail("paging did not end")

    def create_room(self, token, name, **kw):
        return self.srv.call("/roomvpn.v1.RoomService/Create", rooms.CreateRoomRequest(name=name, **kw),
                             rooms.Room, token)

    def test_logins_recorded(self):
        rpc_error(self.srv.login, "alice", "not-her-password")
        self.srv.login("alice", "user-password-1", "audit-dev")
        recs = self.walk(1000, actor="alice", action="auth.login")
        results = [r.status for r in recs]
        self.assertIn(0, results)
        self.assertIn(grpc.StatusCode.UNAUTHENTICATED.value[0], results)
        failed = [r for r in recs if r.status != 0][-1]
        self.assertIn("invalid username or password", failed.detail)
        self.assertTrue(failed.source.startswith("ipv4:127.0.0.1:"), failed.source)
        ok = [r for r in recs if r.status == 0][-1]
        self.assertEqual(ok.detail, "")
        self.assertLessEqual(abs(ok.time_unix_ns / 1e9 - time.time()), 300)

    def test_mutations_recorded_reads_not(self):
        before = len(self.walk(1000))
        self.create_room(self.alice, "aud-room-1")
        e = rpc_error(self.create_room, self.alice, "bad name!")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.srv.call("/roomvpn.v1.RoomService/Get", rooms.GetRoomRequest(room="aud-room-1"), rooms.Room,
                      self.alice)
        self.srv.call("/roomvpn.v1.RoomService/List", rooms.ListRoomsRequest(), rooms.ListRoomsResponse,
                      self.alice)
        after = self.walk(1000)
        new = after[before:]
        self.assertEqual([(r.actor, r.action, r.target, r.status) for r in new],
                         [("alice", "rooms.create", "aud-room-1", 0),
                          ("alice", "rooms.create", "bad name!", grpc.StatusCode.INVALID_ARGUMENT.value[0])])
        self.assertIn("room name", new[1].detail)

    def test_paging_and_filters(self):
        t0 = time.time_ns()
        for i in range(23):
            self.create_room(self.alice if i % 2 else self.admin, "aud-page-%02d" % i)
        t1 = time.time_ns()
        everything = self.walk(1000)
        for size in (1, 5, 7, 100):
            recs = self.walk(size)
            self.assertEqual([(r.time_unix_ns, r.action, r.target) for r in recs],
                             [(r.time_unix_ns, r.action, r.target) for r in everything])
        times = [r.time_unix_ns for r in everything]
        self.assertEqual(times, sorted(times))

        in_range = self.walk(4, since_unix_ns=t0, until_unix_ns=t1)
        self.assertEqual([r.target for r in in_range], ["aud-page-%02d" % i for i in range(23)])
        by_alice = self.walk(3, actor="alice", since_unix_ns=t0, until_unix_ns=t1)
        self.assertEqual([r.target for r in by_alice], ["aud-page-%02d" % i for i in range(1, 23, 2)])
        # Exact action and "prefix." forms.
        self.assertTrue(all(r.action == "rooms.create" for r in self.walk(6, action="rooms.create")))
        prefixed = self.walk(50, action="rooms.")
        self.assertGreaterEqual(len(prefixed), 23)
        self.assertTrue(all(r.action.startswith("rooms.") for r in prefixed))
        self.assertEqual(self.walk(10, action="rooms"), [])
        self.assertEqual(self.walk(10, actor="nobody"), [])
        # A range in the future is empty.
        self.assertEqual(self.walk(10, since_unix_ns=t1 + 3600 * 10**9), [])

    def test_errors(self):
        e = rpc_error(self.list, self.alice)
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        e = rpc_error(self.srv.call, LIST, audit.ListAuditRequest(), audit.ListAuditResponse)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        e = rpc_error(self.list, page_token="not-a-token")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("page_token", e.details())
        e = rpc_error(self.list, since_unix_ns=200, until_unix_ns=100)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        # page_size is capped, 0 means the default.
        self.assertLessEqual(len(self.list(page_size=0).records), 100)


class AuditPersistenceTest(unittest.TestCase):
    def test_kill9_keeps_records(self):
        srv = ControlServer().start()
        try:
            admin = srv.admin_token()
            srv.call("/roomvpn.v1.RoomService/Create", rooms.CreateRoomRequest(name="aud-keep"), rooms.Room,
                     admin)
            srv.kill9()
            srv.restart()
            resp = srv.call(LIST, audit.ListAuditRequest(action="rooms.create"), audit.ListAuditResponse,
                            srv.admin_token())
            self.assertEqual([(r.actor, r.target, r.status) for r in resp.records], [("admin", "aud-keep", 0)])
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
