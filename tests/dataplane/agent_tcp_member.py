#!/usr/bin/python3
"""A room member attached over the TCP fallback, for tests/dataplane/tcp_member.sh.

Connects with TLS to the data plane, binds its session with one frame sealed
with the session's real cipher (AES-256-GCM: an OpenVPN keepalive ping), then
speaks the TCP data channel: cipher "none", packet-id kept, 2-byte length
prefix. It pings another member's virtual IP with hand-made ICMP echo requests
and waits for the replies the data plane relays back over the connection.
Finally (--then-udp) it sends one GCM-sealed ping over UDP to move back.

Exit 0 when at least --need replies arrived, 1 otherwise.
"""
import argparse
import socket
import ssl
import struct
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PING = bytes.fromhex("2a187bf3641eb4cb07ed2d0a981fc748")
OP_DATA_V2 = 9


def load_key(path):
    hexs, inside = "", False
    for line in open(path):
        line = line.strip()
        if line.startswith("-----BEGIN OpenVPN Static key"):
            inside = True
        elif line.startswith("-----END OpenVPN Static key"):
            inside = False
        elif inside:
            hexs += line
    key = bytes.fromhex(hexs)
    assert len(key) == 256, len(key)
    return key


class Channel:
    """Member side, key-direction 0: send with dir[0], receive with dir[1]."""

    def __init__(self, key, peer_id, key_id, pid_start):
        tx = key[0:128]
        self.aead = AESGCM(tx[0:32])
        self.iv = tx[64:72]  # implicit IV: first 8 bytes of the HMAC slice
        self.hdr = bytes([OP_DATA_V2 << 3 | key_id]) + peer_id.to_bytes(3, "big")
        self.pid = pid_start - 1

    def seal_gcm(self, payload):
        self.pid += 1
        pid = struct.pack(">I", self.pid)
        ct = self.aead.encrypt(pid + self.iv, payload, self.hdr + pid)
        return self.hdr + pid + ct[-16:] + ct[:-16]  # [hdr][pid][tag][ciphertext]

    def seal_none(self, payload):
        self.pid += 1
        return self.hdr + struct.pack(">I", self.pid) + payload


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_echo(src, dst, ident, seq):
    icmp = struct.pack(">BBHHH", 8, 0, 0, ident, seq) + b"roomvpn-tcp-member" * 2
    icmp = icmp[:2] + struct.pack(">H", checksum(icmp)) + icmp[4:]
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack(">H", checksum(hdr)) + hdr[12:]
    return hdr + icmp


def frame(data):
    return struct.pack(">H", len(data)) + data


class Reader:
    def __init__(self, tls):
        self.tls, self.buf = tls, b""

    def frames(self):
        try:
            chunk = self.tls.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return []
        if not chunk:
            raise EOFError("data plane closed the connection")
        self.buf += chunk
        out = []
        while len(self.buf) >= 2:
            n = struct.unpack(">H", self.buf[:2])[0]
            if len(self.buf) < 2 + n:
                break
            out.append(self.buf[2:2 + n])
            self.buf = self.buf[2 + n:]
        return out


def is_echo_reply(f, src, dst, ident):
    # none frame: [hdr 4][pid 4][IPv4 packet]
    ip = f[8:]
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 1:
        return False
    icmp = ip[(ip[0] & 15) * 4:]
    return (ip[12:16] == socket.inet_aton(src) and ip[16:20] == socket.inet_aton(dst)
            and icmp[0] == 0 and struct.unpack(">H", icmp[4:6])[0] == ident)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="A.B.C.D:PORT of the TCP fallback")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--peer-id", type=int, required=True)
    ap.add_argument("--key-id", type=int, default=0)
    ap.add_argument("--vip", required=True)
    ap.add_argument("--target", required=True, help="virtual IP to ping")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--need", type=int, default=3)
    ap.add_argument("--pid-start", type=int, default=1, help="first packet-id (a rerun needs a higher one)")
    ap.add_argument("--no-bind", action="store_true",
                    help="skip the real-cipher frame: only unauthenticated none frames")
    ap.add_argument("--then-udp", help="A.B.C.D:PORT: afterwards send one sealed ping over UDP")
    a = ap.parse_args()

    ch = Channel(load_key(a.key), a.peer_id, a.key_id, a.pid_start)
    host, port = a.server.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(a.ca)
    raw = socket.create_connection((host, int(port)), timeout=10)
    tls = ctx.wrap_socket(raw)
    tls.settimeout(0.2)
    rd = Reader(tls)
    # Bind the session to this connection: one frame with the real cipher.
    if not a.no_bind:
        tls.sendall(frame(ch.seal_gcm(PING)))
        time.sleep(0.3)
    replies, ident = 0, 0x4242
    for seq in range(1, a.count + 1):
        tls.sendall(frame(ch.seal_none(icmp_echo(a.vip, a.target, ident, seq))))
        deadline = time.time() + 2
        got = False
        while time.time() < deadline and not got:
            for f in rd.frames():
                if is_echo_reply(f, a.target, a.vip, ident):
                    got = True
        replies += got
        print(f"seq={seq} reply={'yes' if got else 'no'}", flush=True)
    if a.then_udp:
        uhost, uport = a.then_udp.rsplit(":", 1)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(ch.seal_gcm(PING), (uhost, int(uport)))
        u.close()
    tls.close()
    print(f"{replies}/{a.count} replies over TCP")
    if a.no_bind:  # an unbound connection must get nothing through
        return 0 if replies == 0 else 1
    return 0 if replies >= a.need else 1


if __name__ == "__main__":
    sys.exit(main())
