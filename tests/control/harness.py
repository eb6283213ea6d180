"""Black-box harness for roomvpn-control, shared by every tests/control/test_*.py.

Runs with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf).
Environment (set by ctest, see tests/control/CMakeLists.txt):
  RV_CONTROL_BIN  path of roomvpn-control
  RV_SOURCE_DIR   repository root (proto/ is read from there)
  RV_PYPROTO_DIR  directory with the generated *_pb2.py (generated here if absent)

Typical use:
    from harness import ControlServer, pb, rpc_error
    class T(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.srv = ControlServer().start()
        @classmethod
        def tearDownClass(cls):
            cls.srv.stop()
        def test_x(self):
            users = pb("users")
            tok = self.srv.admin_token()
            resp = self.srv.call("/roomvpn.v1.UserService/Get",
                                 users.GetUserRequest(username="admin"), users.User, tok)

The server runs on a free loopback port with a temporary state directory,
cheap Argon2 cost (override with config={...}), and an admin created with
`roomvpn-control init`. Its stderr goes to <tmp>/control.log (printed when a
test fails to start it).
"""

import atexit
import glob
import importlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

_LIVE = []  # servers to kill and directories to remove when the test process exits


@atexit.register
def _cleanup():
    for srv in _LIVE:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if os.environ.get("RV_KEEP_TMP") != "1":
            shutil.rmtree(srv.tmp, ignore_errors=True)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RV_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
CONTROL_BIN = os.environ.get("RV_CONTROL_BIN", os.path.join(SOURCE_DIR, "build", "control", "roomvpn-control"))

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"

# Cheap Argon2 so that tests are fast; the benchmark uses the defaults.
TEST_CONFIG = {
    "argon2_memory_kib": "256",
    "argon2_iterations": "1",
    "argon2_parallelism": "1",
    "log_level": "debug",
}


def _ensure_pyproto():
    out = os.environ.get("RV_PYPROTO_DIR")
    if out and glob.glob(os.path.join(out, "roomvpn", "v1", "*_pb2.py")):
        return out
    out = tempfile.mkdtemp(prefix="rv-pyproto-")
    protos = sorted(glob.glob(os.path.join(SOURCE_DIR, "proto", "**", "*.proto"), recursive=True))
    subprocess.run(["protoc", "--proto_path=" + os.path.join(SOURCE_DIR, "proto"),
                    "--python_out=" + out] + protos, check=True)
    return out


PYPROTO_DIR = _ensure_pyproto()
sys.path.insert(0, PYPROTO_DIR)


def pb(name):
    """The generated module roomvpn.v1.<name>_pb2 ("auth", "users", "rooms", ...)."""
    return importlib.import_module("roomvpn.v1.%s_pb2" % name)


def free_ports(n):
    """n distinct free loopback ports: every socket is held until all are
    picked (one after another, a closed port can be handed out again: the
    listener and the metrics port once got the same one)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_port():
    return free_ports(1)[0]


def rpc_error(fn, *args, **kwargs):
    """Runs fn, expecting a grpc.RpcError; returns it (fails if none)."""
    try:
        fn(*args, **kwargs)
    except grpc.RpcError as e:
        return e
    raise AssertionError("expected an RPC error, the call succeeded")


class ControlServer:
    def __init__(self, config=None, admin=ADMIN, password=ADMIN_PASSWORD, metrics=True):
        self.tmp = tempfile.mkdtemp(prefix="rv-control-test-")
        self.state_dir = os.path.join(self.tmp, "state")
        self.port, metrics_port = free_ports(2)
        self.dial_host = "127.0.0.1"  # "[::1]" for a server listening on IPv6
        self.metrics_port = metrics_port if metrics else None
        self.admin = admin
        self.password = password
        self.config = dict(TEST_CONFIG)
        self.config["state_dir"] = self.state_dir
        self.config["listen"] = "127.0.0.1:%d" % self.port
        if metrics:
            self.config["metrics_listen"] = "127.0.0.1:%d" % self.metrics_port
        self.config.update(config or {})
        self.config_path = os.path.join(self.tmp, "control.conf")
        self.log_path = os.path.join(self.tmp, "control.log")
        self.proc = None
        self._channel = None
        self._admin_token = None
        self._write_config()
        _LIVE.append(self)

    # ---- lifecycle -------------------------------------------------------
    def _write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# written by tests/control/harness.py\n")
            for k, v in self.config.items():
                f.write("%s = %s\n" % (k, v))

    def init(self):
        """roomvpn-control init with the admin password on stdin."""
        r = subprocess.run([CONTROL_BIN, "init", "--config", self.config_path,
                            "--state-dir", self.state_dir, "--admin", self.admin],
                           input=(self.password + "\n").encode(), capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("init failed (%d): %s" % (r.returncode, r.stderr.decode()))
        return r

    def start(self, init=True, wait=True, extra_args=()):
        if init and not os.path.exists(os.path.join(self.state_dir, "db")):
            self.init()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CONTROL_BIN, "serve", "--config", self.config_path] + list(extra_args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("roomvpn-control exited with %d:\n%s" % (self.proc.returncode, self.read_log()))
            if os.path.exists(self.cert_path()):
                # a fresh channel per probe: a failed connect must not leave
                # the probe waiting out a reconnect backoff
                ch = self.new_channel()
                try:
                    h = health()
                    ch.unary_unary("/grpc.health.v1.Health/Check",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=h.HealthCheckResponse.FromString)(
                        h.HealthCheckRequest(), timeout=2.0)
                    return
                except grpc.RpcError:
                    pass
                finally:
                    ch.close()
            time.sleep(0.1)
        raise RuntimeError("roomvpn-control not ready after %.0fs:\n%s" % (timeout, self.read_log()))

    def stop(self):
        """SIGTERM and wait (graceful shutdown); returns the exit code. Fails
        if the server, running until now, does not exit cleanly (code 0, no
        sanitizer report); a server that had already exited just gives its code."""
        self._close_channel()
        if self.proc is None:
            return None
        signalled = self.proc.poll() is None
        if signalled:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        self.check_log()
        if signalled and rc != 0:
            raise AssertionError("roomvpn-control exited with %s after SIGTERM:\n%s" % (rc, self.read_log()))
        return rc

    def check_log(self):
        """Fails if a sanitizer (ASan/UBSan builds) reported anything."""
        log = self.read_log(tail=1 << 30)
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if mark in log:
                raise AssertionError("sanitizer report in the server log:\n" + log[log.index(mark) - 200:][:8000])

    def kill9(self):
        self._close_channel()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log.close()
        self.check_log()

    def restart(self):
        self.start(init=False)
        self._admin_token = None
        return self

    def read_log(self, tail=8000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    # ---- TLS / channel ----------------------------------------------------
    def cert_path(self):
        return self.config.get("tls_cert") or os.path.join(self.state_dir, "tls", "server.crt")

    def _close_channel(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def new_channel(self, options=()):
        with open(self.cert_path(), "rb") as f:
            root = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=root)
        opts = [("grpc.ssl_target_name_override", "localhost"),
                ("grpc.max_send_message_length", 16 * 1024 * 1024),
                # a restarted server must be reachable at once: no shared
                # subchannel (with its reconnect backoff) from before the restart
                ("grpc.use_local_subchannel_pool", 1),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 500)] + list(options)
        return grpc.secure_channel("%s:%d" % (self.dial_host, self.port), creds, options=opts)

    def channel(self):
        if self._channel is None:
            self._channel = self.new_channel()
        return self._channel

    # ---- calls --------------------------------------------------------------
    @staticmethod
    def _md(token, metadata):
        md = list(metadata or [])
        if token:
            md.append(("authorization", "Bearer " + token))
        return md

    def call(self, path, request, response_cls, token=None, metadata=None, timeout=30.0,
             with_call=False):
        """Unary call; returns the response (and the grpc.Call with with_call=True)."""
        fn = self.channel().unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response_cls.FromString)
        # wait_for_ready: a connection that is still being (re)established
        # delays the call instead of failing it (tests check the server, not
        # the client's connect timing)
        if with_call:
            return fn.with_call(request, metadata=self._md(token, metadata), timeout=timeout,
                                wait_for_ready=True)
        return fn(request, metadata=self._md(token, metadata), timeout=timeout, wait_for_ready=True)

    def call_raw(self, path, data, token=None, metadata=None, timeout=30.0):
        """Unary call with raw request bytes; returns the raw response bytes."""
        fn = self.channel().unary_unary(path, request_serializer=None, response_deserializer=None)
        return fn(data, metadata=self._md(token, metadata), timeout=timeout, wait_for_ready=True)

    def stream(self, path, request, response_cls, token=None, timeout=30.0):
        """Server-streaming call; returns the response iterator."""
        fn = self.channel().unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=response_cls.FromString)
        return fn(request, metadata=self._md(token, None), timeout=timeout, wait_for_ready=True)

    def health_check(self, service="", timeout=5.0):
        h = health()
        return self.call("/grpc.health.v1.Health/Check", h.HealthCheckRequest(service=service),
                         h.HealthCheckResponse, timeout=timeout)

    def login(self, username, password, device="test-device"):
        auth = pb("auth")
        return self.call("/roomvpn.v1.AuthService/Login",
                         auth.LoginRequest(username=username, password=password, device_name=device),
                         auth.Session)

    def admin_token(self):
        if self._admin_token is None:
            self._admin_token = self.login(self.admin, self.password, "admin-device").session_token
        return self._admin_token

    def create_user(self, username, password, admin=False):
        users = pb("users")
        return self.call("/roomvpn.v1.UserService/Create",
                         users.CreateUserRequest(username=username, password=password, admin=admin),
                         users.User, self.admin_token())

    def user_token(self, username, password="user-password-1", admin=False):
        """Creates the user if needed and logs in; returns the session token."""
        try:
            self.create_user(username, password, admin)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        return self.login(username, password).session_token

    def metrics_url(self):
        return "https://127.0.0.1:%d/metrics" % self.metrics_port

    def metrics(self):
        """The /metrics page as {series: value} (needs metrics_allow for 127.0.0.1)."""
        ctx = ssl.create_default_context(cafile=self.cert_path())
        ctx.check_hostname = False
        with urllib.request.urlopen(self.metrics_url(), context=ctx, timeout=20) as r:
            text = r.read().decode()
        return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1])
                for l in text.splitlines() if l and not l.startswith("#")}


# The generated grpc/health/v1/health_pb2.py is shadowed by the grpc package
# itself, so it is loaded from its file.
_HEALTH = None


def _health_mod():
    global _HEALTH
    if _HEALTH is None:
        import importlib.util
        path = os.path.join(PYPROTO_DIR, "grpc", "health", "v1", "health_pb2.py")
        spec = importlib.util.spec_from_file_location("rv_grpc_health_v1_pb2", path)
        _HEALTH = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_HEALTH)
    return _HEALTH


def health():
    """The generated grpc.health.v1 messages (HealthCheckRequest, HealthCheckResponse)."""
    return _health_mod()
