#!/usr/bin/python3
"""Capture one data-channel packet a member sends and send it again N times.

usage: replay_udp.py IFACE SRC_IP DST_IP DST_PORT COUNT

Runs in the member's namespace: an AF_PACKET socket sees the member's own
outgoing UDP packets; the first one from SRC_IP to DST_IP:DST_PORT is
re-sent COUNT times from another local port (the payload is authentic, so
the data plane can only refuse it with its replay window). Stdlib only."""
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def capture(iface, src, dst, dport, timeout=5.0):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.5)
    end = time.time() + timeout
    while time.time() < end:
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        if len(frame) < 42 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0xF) * 4
        if ip[9] != 17 or ip[12:16] != src or ip[16:20] != dst:
            continue
        udp = ip[ihl:]
        if struct.unpack("!H", udp[2:4])[0] != dport:
            continue
        ulen = struct.unpack("!H", udp[4:6])[0]
        return udp[8:ulen]
    return None


def main():
    iface, src, dst, dport, count = sys.argv[1:6]
    payload = capture(iface, socket.inet_aton(src), socket.inet_aton(dst), int(dport))
    if payload is None:
        print("replay_udp: nothing captured", file=sys.stderr)
        return 1
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind((src, 0))
    for _ in range(int(count)):
        out.sendto(payload, (dst, int(dport)))
        time.sleep(0.01)
    print(int(count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
