#!/usr/bin/python3
"""Holds connections open to the TCP fallback, for tests/dataplane/tcp_attack.sh.

--tls N connections complete TLS and then send nothing; --raw N connect and
never start TLS. With --refill, a connection the server closes is opened
again (the attacker keeps the pressure on). Writes "ready <open>" to
--ready once the first round is open, then runs until killed (or --oneshot:
exit at once). --oversize BYTES: one TLS connection sends a frame of that
length; exit 0 if the server closes it.
"""
import argparse
import os
import resource
import selectors
import socket
import ssl
import sys
import time


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_raw(addr):
    s = socket.create_connection(addr, timeout=3)
    s.setblocking(False)
    return s


def open_tls(addr, ctx):
    s = ctx.wrap_socket(socket.create_connection(addr, timeout=3))
    s.setblocking(False)
    return s


def oversize(addr, n):
    s = tls_ctx().wrap_socket(socket.create_connection(addr, timeout=10))
    s.sendall(n.to_bytes(2, "big") + b"\x48" * n)
    try:
        closed = s.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        closed = True
    except socket.timeout:
        closed = False
    print("closed by the server" if closed else "still open")
    return 0 if closed else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--tls", type=int, default=0)
    ap.add_argument("--raw", type=int, default=0)
    ap.add_argument("--refill", action="store_true")
    ap.add_argument("--ready")
    ap.add_argument("--oversize", type=int)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    addr = (host, int(port))
    if a.oversize:
        return oversize(addr, a.oversize)
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    ctx = tls_ctx()
    sel = selectors.DefaultSelector()
    opened = failed = 0

    def add(kind):
        nonlocal opened, failed
        try:
            s = open_tls(addr, ctx) if kind == "tls" else open_raw(addr)
        except (OSError, ssl.SSLError):
            failed += 1
            return
        opened += 1
        sel.register(s, selectors.EVENT_READ, kind)

    for _ in range(a.tls):
        add("tls")
    for _ in range(a.raw):
        add("raw")
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write(f"ready {len(sel.get_map())} open, {failed} failed\n")
        os.rename(a.ready + ".tmp", a.ready)
    while True:
        for key, _ in sel.select(timeout=1):
            s, kind = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if data:
                continue
            sel.unregister(s)
            s.close()
            if a.refill:
                add(kind)


if __name__ == "__main__":
    sys.exit(main())
