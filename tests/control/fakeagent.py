"""A fake data plane for control-plane tests: it listens on a unix socket
where the control plane expects a data plane's agent (config
dataplane_agent = agent.sock), answers every agent Request with STATUS_OK
(ReadStats with empty Stats) and records the requests, so that a test can
check what the control plane pushes (rooms, sessions) without DPDK.

    agent = FakeAgent()
    srv = ControlServer(config={"dataplane_agent": agent.sock})
    ...
    s = agent.wait_for(lambda a: a.session(peer_id), "the session pushed")
"""
import atexit
import os
import shutil
import socket
import struct
import tempfile
import threading

from harness import pb  # noqa: F401 (puts the generated modules on sys.path)
import dataplane_pb2 as dp

_LIVE = []


@atexit.register
def _cleanup():
    for a in _LIVE:
        a.stop()


def _read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class FakeAgent:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="rv-fakeagent-")
        self.sock = os.path.join(self.tmp, "agent.sock")
        self.requests = []
        self.cv = threading.Condition()
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.sock)
        self.lsock.listen(8)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()
        _LIVE.append(self)

    def _accept(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        while True:
            try:
                hdr = _read_exact(conn, 4)
                body = hdr and _read_exact(conn, struct.unpack(">I", hdr)[0])
            except OSError:
                return
            if body is None:
                return
            req = dp.Request.FromString(body)
            resp = dp.Response(request_id=req.request_id, status=dp.STATUS_OK)
            if req.WhichOneof("body") == "read_stats":
                resp.stats.CopyFrom(dp.Stats())
            with self.cv:
                self.requests.append(req)
                self.cv.notify_all()
            out = resp.SerializeToString()
            try:
                conn.sendall(struct.pack(">I", len(out)) + out)
            except OSError:
                return

    def stop(self):
        for c in [self.lsock] + self.conns:
            try:
                c.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- what was pushed ------------------------------------------------------
    def _all(self, kind):
        """Every Room or Session pushed, oldest first (upserts and resyncs)."""
        out = []
        for r in self.requests:
            b = r.WhichOneof("body")
            if kind == "room" and b == "upsert_room":
                out.append(r.upsert_room.room)
            elif kind == "session" and b == "upsert_session":
                out.append(r.upsert_session.session)
            elif b == "resync":
                out.extend(r.resync.rooms if kind == "room" else r.resync.sessions)
        return out

    def session(self, peer_id):
        """The last Session pushed for peer_id, or None."""
        s = [x for x in self._all("session") if x.peer_id == peer_id]
        return s[-1] if s else None

    def room(self, pred=lambda r: True):
        """The last Room pushed matching pred, or None."""
        s = [x for x in self._all("room") if pred(x)]
        return s[-1] if s else None

    def wait_for(self, fn, what, timeout=30.0):
        """Waits (on the arrival of requests) until fn(self) is true; returns it."""
        with self.cv:
            got = self.cv.wait_for(lambda: fn(self), timeout=timeout)
        if not got:
            raise AssertionError("%s: not within %.0f s; %d requests seen" % (what, timeout, len(self.requests)))
        return got
