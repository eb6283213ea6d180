"""roomvpn-control command line: help, init (password from file/stdin only),
config errors naming key and line, TLS certificate handling and the printed
fingerprint."""
import os
import subprocess
import tempfile
import unittest

from harness import CONTROL_BIN, ControlServer


def run(args, stdin=b"", timeout=60):
    return subprocess.run([CONTROL_BIN] + args, input=stdin, capture_output=True, timeout=timeout)


def cert_fingerprint(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("=", 1)[1]


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="rv-cli-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def conf(self, text):
        p = os.path.join(self.dir, "c.conf")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_help(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"init --state-dir", r.stdout)
        self.assertIn(b"serve --config", r.stdout)
        self.assertEqual(run([]).returncode, 2)
        r = run(["frobnicate"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown command", r.stderr)

    def test_init_password_sources(self):
        state = os.path.join(self.dir, "s")
        cheap = ["--set", "argon2_memory_kib=64", "--set", "argon2_iterations=1"]
        pwf = os.path.join(self.dir, "pw")
        with open(pwf, "w") as f:
            f.write("from-a-file-1\n")
        r = run(["init", "--state-dir", state, "--admin", "root", "--password-file", pwf] + cheap)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"created admin root", r.stdout)
        # the same admin again: refused
        r = run(["init", "--state-dir", state, "--admin", "root", "--password-file", pwf] + cheap)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"already exists", r.stderr)
        # stdin; too short; no password at all
        r = run(["init", "--state-dir", state, "--admin", "second"] + cheap, stdin=b"from-stdin-22\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["init", "--state-dir", state, "--admin", "third"] + cheap, stdin=b"short\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"8 to", r.stderr)
        r = run(["init", "--state-dir", state, "--admin", "fourth"] + cheap, stdin=b"")
        self.assertEqual(r.returncode, 2)
        # there is no option taking a password on the command line
        r = run(["init", "--state-dir", state, "--password", "x"] + cheap)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown option --password", r.stderr)
        r = run(["init", "--state-dir", state, "--admin", "bad name"] + cheap, stdin=b"long-enough-1\n")
        self.assertEqual(r.returncode, 2)

    def test_config_errors_name_key_and_line(self):
        p = self.conf("state_dir = %s\n# fine\nbogus_key = 1\n" % self.dir)
        r = run(["serve", "--config", p])
        self.assertEqual(r.returncode, 2)
        self.assertIn(("%s:3: bogus_key: unknown key" % p).encode(), r.stderr)
        p = self.conf("state_dir = %s\ncq_threads = 0\n" % self.dir)
        r = run(["serve", "--config", p])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b":2: cq_threads:", r.stderr)
        p = self.conf("state_dir = %s\n" % self.dir)
        r = run(["serve", "--config", p, "--set", "session_ttl=later"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"session_ttl", r.stderr)
        r = run(["serve", "--config", os.path.join(self.dir, "missing.conf")])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"missing.conf", r.stderr)
        r = run(["serve"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--config is required", r.stderr)

    def test_self_signed_fingerprint_printed(self):
        srv = ControlServer(metrics=False).start()
        try:
            fp = cert_fingerprint(srv.cert_path())
            log = srv.read_log()
            self.assertIn("TLS SHA-256 fingerprint " + fp, log)
            self.assertEqual(oct(os.stat(os.path.join(srv.state_dir, "tls", "server.key")).st_mode & 0o777), "0o600")
            san = subprocess.run(["openssl", "x509", "-in", srv.cert_path(), "-noout", "-ext", "subjectAltName"],
                                 capture_output=True).stdout.decode()
            self.assertIn("DNS:localhost", san)
            self.assertIn("IP Address:127.0.0.1", san)
        finally:
            srv.stop()

    def test_configured_certificate(self):
        key = os.path.join(self.dir, "k.pem")
        crt = os.path.join(self.dir, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                       capture_output=True, check=True)
        srv = ControlServer(config={"tls_cert": crt, "tls_key": key}, metrics=False).start()
        try:
            self.assertIn("TLS SHA-256 fingerprint " + cert_fingerprint(crt), srv.read_log())
            self.assertFalse(os.path.exists(os.path.join(srv.state_dir, "tls", "server.crt")))
            srv.admin_token()
        finally:
            srv.stop()
        p = self.conf("state_dir = %s\ntls_cert = %s\n" % (self.dir, crt))
        r = run(["serve", "--config", p])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"tls_key", r.stderr)

    def test_port_in_use(self):
        srv = ControlServer(metrics=False).start()
        try:
            other = ControlServer(config={"listen": "127.0.0.1:%d" % srv.port}, metrics=False)
            other.init()
            r = run(["serve", "--config", other.config_path], timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"cannot listen on 127.0.0.1:%d" % srv.port, r.stderr)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
