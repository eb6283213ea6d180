"""Smoke run of the load client bench/control/rv-control-load: 2,000
devices against a real control plane and data plane (net_ring). Every tunnel
must come up (its first heartbeat acknowledged), every heartbeat sent be
acknowledged, no stream end, and each tunnel own a data-plane session. Counts
only: the figures the client prints are not checked.

Environment (set by ctest): RV_LOAD_BIN, plus harness.py's and dpharness.py's.
"""
import json
import os
import subprocess
import unittest

from dpharness import DataPlane
from harness import SOURCE_DIR, ControlServer

LOAD_BIN = os.environ.get("RV_LOAD_BIN", os.path.join(SOURCE_DIR, "build", "bench", "control", "rv-control-load"))
TUNNELS = int(os.environ.get("RV_LOAD_TUNNELS", "2000"))


class LoadSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dp = DataPlane().start()
        cls.srv = ControlServer(config={
            "dataplane_agent": cls.dp.sock, "log_level": "warn", "max_tunnels_per_user": "0",
            "login_fail_per_user": "1000000", "login_fail_per_addr": "1000000",
            "login_inflight_per_addr": "1024"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dp.stop()

    def test_every_tunnel_up_and_acked(self):
        pw = os.path.join(self.srv.tmp, "admin.pw")
        with open(pw, "w") as f:
            f.write(self.srv.password + "\n")
        r = subprocess.run([LOAD_BIN, "--server", "127.0.0.1:%d" % self.srv.port, "--ca", self.srv.cert_path(),
                            "--admin-password-file", pw, "--tunnels", str(TUNNELS), "--users", "20",
                            "--connections", "8", "--keepalive", "20", "--duration", "2",
                            "--up-timeout", "40", "--kicks", "0", "--server-pid", str(self.srv.proc.pid)],
                           capture_output=True, timeout=150)
        err = r.stderr.decode(errors="replace")[-4000:]
        self.assertTrue(r.stdout, "no JSON from rv-control-load (exit %d):\n%s" % (r.returncode, err))
        out = json.loads(r.stdout)
        # one JSON document (json-c): counters as numbers, figures as numbers
        self.assertIsInstance(out["heartbeats"]["acked"], int)
        self.assertIsInstance(out["bootstrap"]["p99_ms"], (int, float))
        self.assertIsInstance(out["resync"]["run"], bool)
        err = "streams: %s\n%s" % (out["streams"], err)
        self.assertEqual(out["refused_resource_exhausted"], 0, out["first_refusal"])
        self.assertEqual(out["login"]["ok"], TUNNELS, err)
        self.assertEqual(out["join"]["ok"], TUNNELS, err)
        self.assertEqual(out["bootstrap"]["ok"], TUNNELS, err)
        self.assertEqual(out["tunnels_up"], TUNNELS, err)
        # the first heartbeat (sent right after the Hello) is what brings a
        # tunnel "up"; none ended, also not while the heartbeats were paused
        # for the last ListRooms series
        self.assertEqual(out["streams_ended_before_kicks"], 0, err)
        lr = out["list_rooms"]
        self.assertEqual(lr["calls"], 500, lr)
        for k in ("p99_ms_0", "p99_ms_joined", "p99_ms_held", "p99_ms_held_quiet"):
            self.assertGreater(lr[k], 0, lr)  # each series timed its calls
        self.assertGreaterEqual(out["heartbeats"]["acked"], TUNNELS)
        self.assertEqual(r.returncode, 0, err)
        # streams just closed: the sessions stay until heartbeat_timeout (30 s)
        self.assertEqual(len(self.dp.sessions()), TUNNELS)


if __name__ == "__main__":
    unittest.main()
