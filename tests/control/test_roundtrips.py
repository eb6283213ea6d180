"""Store round trips per RPC (docs/etcd.md, "Join and Login in two round
trips"), counted by roomvpn_control_store_ops_total on RocksDB: a Login
and a Join each make at most two (one read of several keys at once, one
write batch with the audit record inside), a repeated Join too, and the
audit log still records each of them. On etcd each of these operations is
one round trip through the leader, so the counts are what the replicas'
Join/s rests on."""
import os
import unittest

from harness import ControlServer, pb
from test_metrics import TOKEN, parse, sample, scrape

auth = pb("auth")
rooms = pb("rooms")
audit = pb("audit")
R = "/roomvpn.v1.RoomService/"
OPS = ("get", "scan", "write")


class RoundTripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = ControlServer(config={"audit_retention_days": "0", "audit_max_records": "0"})  # no prune pass
        path = os.path.join(srv.tmp, "metrics.token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        srv.config["metrics_token_file"] = path
        srv._write_config()
        cls.srv = srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ops(self):
        _, _, text = scrape(self.srv.metrics_url(), self.srv.cert_path(), token=TOKEN)
        s = parse(text)
        return {op: sample(s, "roomvpn_control_store_ops_total", op=op) for op in OPS}

    def counted(self, fn):
        """Store operations of fn(), less a scrape's own (measured alike)."""
        a = self.ops()
        b = self.ops()
        fn()
        c = self.ops()
        return {op: (c[op] - b[op]) - (b[op] - a[op]) for op in OPS}

    def login(self, user, device):
        return self.srv.login(user, "user-password-1", device).session_token

    def join(self, token, room):
        return self.srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse,
                             token)

    def assert_two(self, ops, what):
        total = sum(ops.values())
        self.assertLessEqual(total, 2, "%s made %s store operations (at most 2: one read of "
                             "several keys, one write)" % (what, ops))
        self.assertEqual(ops["scan"], 0, "%s scanned: %s" % (what, ops))

    def test_login_and_join_two_round_trips_each(self):
        admin = self.srv.admin_token()
        self.srv.create_user("rt-user", "user-password-1")
        self.srv.call(R + "Create", rooms.CreateRoomRequest(name="rt-room"), rooms.Room, admin)
        # warm-up: the room's address bitmap and member count, the device id
        # block, the room and user names (read once per process)
        self.join(self.login("rt-user", "warm"), "rt-room")
        tokens = []
        for i in range(3):
            ops = self.counted(lambda: tokens.append(self.login("rt-user", "dev%d" % i)))
            self.assert_two(ops, "Login")
            self.assertEqual(ops["write"], 1, "Login: one batch with its audit record: %s" % ops)
        for i, tok in enumerate(tokens):
            answers = []
            ops = self.counted(lambda: answers.append(self.join(tok, "rt-room")))
            self.assert_two(ops, "first Join")
            self.assertEqual(ops["write"], 1, "first Join: one batch with its audit record: %s" % ops)
            ops = self.counted(lambda: answers.append(self.join(tok, "rt-room")))
            self.assert_two(ops, "repeated Join")
            self.assertEqual(answers[0].virtual_ip, answers[1].virtual_ip)
        # every one of them in the audit log, once
        recs = self.srv.call("/roomvpn.v1.AuditService/List",
                             audit.ListAuditRequest(actor="rt-user", page_size=1000),
                             audit.ListAuditResponse, admin).records
        actions = [r.action for r in recs]
        self.assertEqual(actions.count("auth.login"), 4, actions)
        self.assertEqual(actions.count("rooms.join"), 7, actions)
        self.assertTrue(all(r.status == 0 for r in recs))
        self.assertEqual(sorted(r.target for r in recs if r.action == "rooms.join"),
                         ["rt-room"] * 7)


if __name__ == "__main__":
    unittest.main()
