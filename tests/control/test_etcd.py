"""roomvpn-control on etcd (store = etcd:...): a 3-member TLS cluster
(etcd_cluster.py) under a control plane that serves login / create room /
join and keeps them across kill -9; clear start-up errors when etcd is
unreachable or the certificates are wrong; and `store copy` RocksDB -> etcd
-> RocksDB with identical counts and checksums, the copy serving again."""
import os
import re
import subprocess
import unittest

from etcd_cluster import EtcdCluster
from harness import CONTROL_BIN, ControlServer, pb

rooms = pb("rooms")
R = "/roomvpn.v1.RoomService/"
DP = {"dataplane_udp": "127.0.0.1:11940", "dataplane_tcp": "127.0.0.1:4430"}


def join(srv, token, room):
    return srv.call(R + "Join", rooms.JoinRoomRequest(room=room), rooms.JoinRoomResponse, token)


def members(srv, token, room):
    return srv.call(R + "ListMembers", rooms.ListMembersRequest(room=room),
                    rooms.ListMembersResponse, token).members


def copy(config, src, dst, force=False):
    r = subprocess.run([CONTROL_BIN, "store", "copy", "--from", src, "--to", dst, "--config", config]
                       + (["--force"] if force else []), capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def summary(out):
    """(count, sha256) of the source and of the destination, as printed."""
    got = re.findall(r"(\d+) records sha256 ([0-9a-f]{64})", out)
    if len(got) != 2:
        raise AssertionError("no count/sha256 lines in:\n" + out)
    return got


class EtcdStoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster().start()
        cfg = dict(DP)
        cfg.update(cls.etcd.control_config())
        cls.srv = ControlServer(config=cfg).start()

    @classmethod
    def tearDownClass(cls):
        if cls.srv.proc is not None:
            cls.srv.stop()
        cls.etcd.stop()

    def test_1_serves_on_etcd_and_keeps_state(self):
        srv = self.srv
        self.assertFalse(os.path.exists(os.path.join(srv.state_dir, "db")),
                         "a RocksDB store was created although store = etcd:...")
        alice = srv.user_token("alice")
        room = srv.call(R + "Create", rooms.CreateRoomRequest(name="etcd-room", subnet="10.77.0.0/24"),
                        rooms.Room, alice)
        bob = srv.user_token("bob")
        s1 = srv.login("bob", "user-password-1", "bob-laptop")
        j1 = join(srv, s1.session_token, "etcd-room")
        j2 = join(srv, bob, "etcd-room")
        self.assertNotEqual(j1.virtual_ip, j2.virtual_ip)
        self.assertEqual(len(members(srv, alice, "etcd-room")), 2)

        srv.kill9()
        srv.restart()
        alice = srv.login("alice", "user-password-1").session_token
        got = srv.call(R + "Get", rooms.GetRoomRequest(room="etcd-room"), rooms.Room, alice)
        self.assertEqual((got.room_key, got.members), (room.room_key, 2))
        self.assertEqual(join(srv, s1.session_token, "etcd-room").virtual_ip, j1.virtual_ip)

    def test_2_start_up_errors(self):
        base = dict(self.srv.config)
        cases = [
            ({"store": "etcd:https://127.0.0.1:1"}, "no endpoint of https://127.0.0.1:1 answered"),
            ({"etcd_cert": self.etcd.path("bad-client.crt"), "etcd_key": self.etcd.path("bad-client.key")},
             "check that etcd runs and that etcd_ca, etcd_cert and etcd_key match"),
            ({"etcd_ca": self.etcd.path("bad-ca.crt")}, "match its certificates"),
            ({"etcd_key": ""}, "needs etcd_ca, etcd_cert and etcd_key"),
        ]
        for change, want in cases:
            cfg = dict(base)
            cfg.update(change)
            path = os.path.join(self.srv.tmp, "bad.conf")
            with open(path, "w") as f:
                f.write("".join("%s = %s\n" % kv for kv in cfg.items()))
            r = subprocess.run([CONTROL_BIN, "serve", "--config", path], capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, change)
            self.assertIn(want, r.stderr, change)

    def test_3_copy_round_trip(self):
        # A RocksDB control plane with users, a room and members.
        local = ControlServer(config=dict(DP)).start()
        tok = local.user_token("carol")
        local.call(R + "Create", rooms.CreateRoomRequest(name="copied", subnet="10.78.0.0/24"), rooms.Room, tok)
        j = join(local, local.user_token("dave"), "copied")
        local.stop()
        self.srv.stop()
        conf = self.srv.config_path  # etcd_ca, etcd_cert, etcd_key
        etcd = "etcd:" + self.etcd.endpoints
        src = "rocksdb:" + local.state_dir

        rc, out = copy(conf, src, etcd)
        self.assertNotEqual(rc, 0)
        self.assertIn("not empty", out)  # test_1's records are there
        rc, out = copy(conf, src, etcd, force=True)
        self.assertEqual(rc, 0, out)
        first = summary(out)
        self.assertEqual(first[0], first[1])
        self.assertGreater(int(first[0][0]), 5)

        back = os.path.join(local.tmp, "back")
        rc, out = copy(conf, etcd, "rocksdb:" + back)
        self.assertEqual(rc, 0, out)
        self.assertEqual(summary(out), first)  # RocksDB -> etcd -> RocksDB: identical
        rc, out = copy(conf, "rocksdb:" + back, "rocksdb:" + os.path.join(local.tmp, "again"))
        self.assertEqual(rc, 0, out)
        self.assertEqual(summary(out), first)

        # The copy serves: same users, room and address (TLS files copied too).
        os.rename(os.path.join(local.state_dir, "db"), os.path.join(local.tmp, "db.orig"))
        os.rename(os.path.join(back, "db"), os.path.join(local.state_dir, "db"))
        local.restart()
        carol = local.login("carol", "user-password-1").session_token
        self.assertEqual([(m.device_id, m.virtual_ip) for m in members(local, carol, "copied")],
                         [(j.device_id, j.virtual_ip)])
        local.stop()


if __name__ == "__main__":
    unittest.main()
