#!/usr/bin/python3
"""Send COUNT garbage UDP datagrams to DST:PORT (bounded, stdlib only).

usage: udp_flood.py DST PORT COUNT PEER_ID

Mix: random bytes of random length, and P_DATA_V2 headers carrying a real
peer-id (PEER_ID) followed by random bytes (they fail authentication)."""
import os
import random
import socket
import struct
import sys


def main():
    dst, port, count, peer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(4242)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(count):
        if i % 4 == 0:
            hdr = struct.pack("!I", (9 << 27) | (peer & 0xFFFFFF))
            pkt = hdr + os.urandom(rnd.randint(24, 300))
        else:
            pkt = os.urandom(rnd.randint(1, 200))
        try:
            s.sendto(pkt, (dst, port))
            sent += 1
        except OSError:
            pass
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
