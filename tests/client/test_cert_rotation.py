"""Certificate rotation without breaking pinned clients: the real `roomvpn`
CLI against a real roomvpn-control (tests/control/harness.py).

prepare -> SIGHUP -> a client call learns the next pin (Refresh reply) ->
commit -> restart -> the client still connects; a client that never learnt
the pin is refused. Run with Debian's /usr/bin/python3.
Environment: RV_CLIENT_BIN, RV_CONTROL_BIN, RV_SOURCE_DIR.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "control"))
sys.path.insert(0, HERE)  # first: tests/control has a test_cli.py too
from harness import ControlServer, CONTROL_BIN  # noqa: E402
from test_cli import Client, fingerprint, EXIT_CONNECT  # noqa: E402


def pins(client):
    """The fingerprints pinned in the client's login.conf, in file order."""
    with open(os.path.join(client.dir, "login.conf")) as f:
        return [line.split("=", 1)[1].strip() for line in f
                if line.split("=", 1)[0].strip() == "fingerprint"]


class CertRotationTest(unittest.TestCase):
    def setUp(self):
        # A session shorter than the client's refresh margin (60 s): every
        # CLI call refreshes first, so the Refresh reply carries the pin.
        self.srv = ControlServer(config={"session_ttl": "30s"}).start()
        self.clients = []

    def tearDown(self):
        if self.srv.proc is not None:
            self.srv.stop()
        for c in self.clients:
            c.cleanup()

    def client(self):
        c = Client(self.srv)
        self.clients.append(c)
        r = c.login()
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return c

    def rotate(self, step):
        r = subprocess.run([CONTROL_BIN, "rotate-cert", step, "--config", self.srv.config_path],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout.decode()

    def wait_log(self, text, timeout=10.0):
        deadline = time.time() + timeout
        while text not in self.srv.read_log(tail=1 << 20):
            self.assertLess(time.time(), deadline, "no '%s' in the log:\n%s" % (text, self.srv.read_log()))
            time.sleep(0.05)

    def test_prepare_learn_commit(self):
        old_fp = fingerprint(self.srv.cert_path())
        learner, stay_away = self.client(), self.client()
        self.assertEqual(pins(learner), [old_fp])  # the single-pin file of older clients

        out = self.rotate("prepare")
        next_path = os.path.join(self.srv.state_dir, "tls", "next.crt")
        new_fp = fingerprint(next_path)
        self.assertIn(new_fp, out)
        self.assertEqual(oct(os.stat(os.path.join(self.srv.state_dir, "tls", "next.key")).st_mode & 0o777),
                         "0o600")
        self.srv.proc.send_signal(signal.SIGHUP)
        self.wait_log("announcing the next certificate")

        # Any call refreshes the session; the reply carries the next pin.
        r = learner.run("rooms", "list")
        self.assertEqual(r.returncode, 0, r.err)
        self.assertEqual(pins(learner), [old_fp, new_fp])

        self.assertIn(new_fp, self.rotate("commit"))
        self.assertEqual(fingerprint(self.srv.cert_path()), new_fp)
        self.assertFalse(os.path.exists(next_path))
        self.srv.stop()
        self.srv.restart()

        r = learner.run("rooms", "list")
        self.assertEqual(r.returncode, 0, "the learnt pin must match the new certificate: " + r.err)
        # After the commit nothing is announced: the set stays as it was.
        self.assertEqual(pins(learner), [old_fp, new_fp])

        r = stay_away.run("rooms", "list")
        self.assertEqual(r.returncode, EXIT_CONNECT, r.out + r.err)
        self.assertIn("fingerprint mismatch", r.err)
        self.assertIn(new_fp, r.err)

    def test_commit_without_prepare_refused(self):
        r = subprocess.run([CONTROL_BIN, "rotate-cert", "commit", "--config", self.srv.config_path],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"rotate-cert prepare", r.stderr)
        r = subprocess.run([CONTROL_BIN, "rotate-cert", "sideways", "--config", self.srv.config_path],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
