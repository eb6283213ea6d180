"""Online backup and restore (roomvpn-control backup/restore, control/backup.c).

A backup is taken while a client keeps creating users and rooms over gRPC;
it is restored into a fresh state directory and served: every write that
was acknowledged before the backup began is there, and the restored server
presents the same certificate (clients keep their pin). Also: offline
backup, refusals (existing backup directory, non-fresh restore target)."""

import os
import subprocess
import threading
import unittest

import grpc

from harness import CONTROL_BIN, ControlServer, pb


def ctl(*args):
    return subprocess.run([CONTROL_BIN] + list(args), capture_output=True, text=True, timeout=60)


class Writer(threading.Thread):
    """Creates users and rooms until stopped; `acked` lists what the server
    acknowledged, in order."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.acked, self.error = srv, [], None
        self.stop = threading.Event()
        self.progress = threading.Condition()

    def run(self):
        users, rooms = pb("users"), pb("rooms")
        tok = self.srv.admin_token()
        i = 0
        try:
            while not self.stop.is_set():
                if i % 2 == 0:
                    self.srv.call("/roomvpn.v1.UserService/Create",
                                  users.CreateUserRequest(username="bu%04d" % i, password="backup-pass-1"),
                                  users.User, tok)
                    rec = ("user", "bu%04d" % i)
                else:
                    self.srv.call("/roomvpn.v1.RoomService/Create",
                                  rooms.CreateRoomRequest(name="br%04d" % i), rooms.Room, tok)
                    rec = ("room", "br%04d" % i)
                with self.progress:
                    self.acked.append(rec)
                    self.progress.notify_all()
                i += 1
        except grpc.RpcError as e:
            self.error = e

    def wait_for(self, n):
        with self.progress:
            self.progress.wait_for(lambda: len(self.acked) >= n or self.error, timeout=60)
        if self.error:
            raise self.error


def present(srv, rec):
    users, rooms = pb("users"), pb("rooms")
    kind, name = rec
    try:
        if kind == "user":
            srv.call("/roomvpn.v1.UserService/Get", users.GetUserRequest(username=name), users.User,
                     srv.admin_token())
        else:
            srv.call("/roomvpn.v1.RoomService/Get", rooms.GetRoomRequest(room=name), rooms.Room,
                     srv.admin_token())
        return True
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise


class Backup(unittest.TestCase):
    def test_online_backup_while_writing_then_restore(self):
        srv = ControlServer(metrics=False).start()
        self.addCleanup(srv.stop)
        backup = os.path.join(srv.tmp, "backup")
        w = Writer(srv)
        w.start()
        w.wait_for(20)
        with w.progress:
            before = list(w.acked)  # acknowledged before the backup began
        r = ctl("backup", backup, "--config", srv.config_path)
        n_during = len(w.acked)
        w.wait_for(n_during + 10)  # the server went on writing after it
        w.stop.set()
        w.join(30)
        self.assertIsNone(w.error)
        self.assertEqual(r.returncode, 0, r.stderr + srv.read_log())
        self.assertIn("backup written to %s" % backup, srv.read_log())  # the server took it
        for f in ("BACKUP", "db/CURRENT", "tls/server.crt", "tls/server.key"):
            self.assertTrue(os.path.exists(os.path.join(backup, f)), f)
        self.assertEqual(os.stat(os.path.join(backup, "tls", "server.key")).st_mode & 0o777, 0o600)
        after = w.acked[len(before):]

        # Restore into a fresh state directory and serve it.
        new = ControlServer(metrics=False)
        self.addCleanup(new.stop)
        r = ctl("restore", backup, "--config", new.config_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        new.start(init=False)
        missing = [rec for rec in before if not present(new, rec)]
        self.assertEqual(missing, [], "acknowledged before the backup, missing after restore")
        # Written after the backup finished: not in it (the backup is a point in time).
        self.assertFalse(present(new, after[-1]))
        with open(srv.cert_path(), "rb") as a, open(new.cert_path(), "rb") as b:
            self.assertEqual(a.read(), b.read(), "restored server presents another certificate")

        # A restore target that holds a store is refused; so is an existing backup dir.
        r = ctl("restore", backup, "--config", new.config_path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("restore only into a fresh state_dir", r.stderr)
        r = ctl("backup", backup, "--config", srv.config_path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("must not exist yet", r.stderr)

    def test_offline_backup(self):
        srv = ControlServer(metrics=False).start()
        srv.create_user("offline1", "offline-pass-1")
        srv.stop()
        backup = os.path.join(srv.tmp, "offline-backup")
        r = ctl("backup", backup, "--config", srv.config_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        new = ControlServer(metrics=False)
        self.addCleanup(new.stop)
        self.assertEqual(ctl("restore", backup, "--state-dir", new.state_dir).returncode, 0)
        new.start(init=False)
        self.assertTrue(present(new, ("user", "offline1")))


if __name__ == "__main__":
    unittest.main()
