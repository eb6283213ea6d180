"""A real roomvpn-dataplane for control-plane tests, and tunnel helpers.

DataPlane() starts roomvpn-dataplane (EAL --no-huge -m 256 --no-pci, a
net_ring port, its own --file-prefix) with its agent socket in a temporary
directory; point the control plane at it with
config={"dataplane_agent": dp.sock}. sessions() reads `roomvpn-dpctl --json
sessions`. Environment (set by ctest): RV_DATAPLANE_BIN, RV_DPCTL_BIN.

Tunnel helpers over harness.ControlServer: bootstrap() (TunnelService.Bootstrap
with a random X25519 public key: the test never derives keys), Keepalive (a
SessionService.Keepalive stream fed from a queue).
"""
import atexit
import json
import os
import queue
import shutil
import subprocess
import tempfile
import time

from harness import SOURCE_DIR, pb

DATAPLANE_BIN = os.environ.get("RV_DATAPLANE_BIN",
                               os.path.join(SOURCE_DIR, "build", "dataplane", "roomvpn-dataplane"))
DPCTL_BIN = os.environ.get("RV_DPCTL_BIN", os.path.join(SOURCE_DIR, "build", "dataplane", "roomvpn-dpctl"))

_LIVE = []


@atexit.register
def _cleanup():
    for dp in _LIVE:
        dp.stop()


class DataPlane:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="rv-dp-test-")
        self.sock = os.path.join(self.tmp, "agent.sock")
        self.log_path = os.path.join(self.tmp, "dp.log")
        self.proc = None
        _LIVE.append(self)

    def start(self, timeout=60.0, extra=()):
        """extra: more `--set key=value` arguments (e.g. the TCP fallback's)."""
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [DATAPLANE_BIN, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
             "--file-prefix", "rv-ctltest-%d" % os.getpid(), "--vdev", "net_ring0",
             "--log-level=lib.eal:error", "--", "--set", "ip=10.99.0.1/24",
             "--set", "agent-socket=" + self.sock, "--set", "idle-sleep-us=1000"] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("roomvpn-dataplane did not start:\n" + self.read_log())
            time.sleep(0.1)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-8000:]
        except OSError:
            return ""

    def sessions(self):
        """{peer_id: session dict} from roomvpn-dpctl --json sessions."""
        out = subprocess.run([DPCTL_BIN, "--socket", self.sock, "--json", "sessions"],
                             check=True, capture_output=True, timeout=30).stdout
        return {s["peer_id"]: s for s in json.loads(out)["sessions"]}

    def wait_for(self, cond, what, timeout=30.0):
        """Polls sessions() until cond(sessions) holds (bounded)."""
        deadline = time.time() + timeout
        while True:
            s = self.sessions()
            if cond(s):
                return s
            if time.time() > deadline:
                raise AssertionError("%s: not within %.0f s; data plane has %s" % (what, timeout, s))
            time.sleep(0.1)


tunnel = pb("tunnel")
session = pb("session")
TUNNEL = "/roomvpn.v1.TunnelService/"


def bootstrap(srv, token, room, rekey_peer_id=0, transport=0):
    """One Bootstrap; the BootstrapResponse (raises grpc.RpcError on refusal)."""
    req = tunnel.BootstrapRequest(room=room, ciphers=["AES-256-GCM"], client_public=os.urandom(32),
                                  rekey_peer_id=rekey_peer_id, transport=transport)
    fn = srv.channel().stream_stream(TUNNEL + "Bootstrap", request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=tunnel.BootstrapResponse.FromString)
    return next(iter(fn(iter([req]), metadata=[("authorization", "Bearer " + token)], timeout=30,
                        wait_for_ready=True)))


def end(srv, token, room, peer_id):
    return srv.call(TUNNEL + "End", tunnel.EndTunnelRequest(room=room, peer_id=peer_id),
                    tunnel.EndTunnelResponse, token)


class Keepalive:
    """A SessionService.Keepalive stream: hello() sends the Hello, events are
    read with next_event(); sync() sends a heartbeat and returns every event
    that arrived before its reply (the server answers in order)."""

    def __init__(self, srv, token):
        self.q = queue.Queue()
        self.seq = 0
        fn = srv.channel().stream_stream("/roomvpn.v1.SessionService/Keepalive",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=session.KeepaliveEvent.FromString)
        self.call = fn(iter(self.q.get, None), metadata=[("authorization", "Bearer " + token)],
                       timeout=120, wait_for_ready=True)

    def hello(self, room, peer_id):
        self.q.put(session.KeepaliveRequest(hello=session.Hello(room=room, peer_id=peer_id)))
        return self

    def next_event(self):
        return next(self.call)

    def sync(self):
        """Heartbeat round trip; the events before the reply (raises RpcError
        if the server ended the stream, e.g. a refused Hello)."""
        self.seq += 1
        self.q.put(session.KeepaliveRequest(heartbeat=session.Heartbeat(seq=self.seq)))
        seen = []
        for ev in self.call:
            if ev.WhichOneof("body") == "heartbeat" and ev.heartbeat.seq == self.seq:
                return seen
            seen.append(ev)
        raise AssertionError("keepalive stream ended without an error before heartbeat %d" % self.seq)

    def close(self):
        self.q.put(None)
        self.call.cancel()
