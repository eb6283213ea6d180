"""Join/s with concurrent callers: prints figures, asserts nothing.

  /usr/bin/python3 bench/control/bench_join.py [--bin build/control/roomvpn-control]
        [--devices 4000] [--callers 64] [--rooms 1]

Logs in --devices devices (cheap Argon2; not timed), then --callers threads
join them into --rooms rooms (a /16 each) as fast as they can: first Joins
(a new member and address each) and then repeated Joins (already a member).
One grpcio channel per 8 callers. The client runs on the same machine.
"""
import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "control"))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import ControlServer, pb  # noqa: E402

auth = pb("auth")
rooms = pb("rooms")

JOIN = "/roomvpn.v1.RoomService/Join"


def run_joins(srv, tokens, names, callers, label):
    chans = [srv.new_channel() for _ in range((callers + 7) // 8)]
    for ch in chans:  # connected (TLS) before the clock starts
        grpc.channel_ready_future(ch).result(timeout=60)
    nxt = [0]
    lock = threading.Lock()
    errors = [0]

    def worker(ch):
        stub = ch.unary_unary(JOIN, request_serializer=rooms.JoinRoomRequest.SerializeToString,
                              response_deserializer=rooms.JoinRoomResponse.FromString)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(tokens):
                return
            try:
                stub(rooms.JoinRoomRequest(room=names[i % len(names)]),
                     metadata=(("authorization", "Bearer " + tokens[i]),), timeout=60)
            except Exception as e:
                with lock:
                    errors[0] += 1
                    if errors[0] == 1:
                        print("first error: %s" % e, flush=True)

    threads = [threading.Thread(target=worker, args=(chans[i // 8],)) for i in range(callers)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.time() - t0
    print("%s: %d Joins, %d callers, %d room(s): %.0f Joins/s (%.2f s, %d errors)" %
          (label, len(tokens), callers, len(names), len(tokens) / dt, dt, errors[0]), flush=True)
    for ch in chans:
        ch.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--devices", type=int, default=4000)
    ap.add_argument("--callers", type=int, default=64)
    ap.add_argument("--rooms", type=int, default=1)
    a = ap.parse_args()
    if a.bin:
        harness.CONTROL_BIN = os.path.abspath(a.bin)
    srv = ControlServer({"log_level": "warn", "ipam_pool": "10.64.0.0/10", "ipam_room_prefix": "16",
                         "login_fail_per_user": "1000000", "login_fail_per_addr": "1000000"}, metrics=False)
    srv.start()
    try:
        tok = srv.admin_token()
        names = ["bench%d" % i for i in range(a.rooms)]
        for n in names:
            srv.call("/roomvpn.v1.RoomService/Create", rooms.CreateRoomRequest(name=n), rooms.Room, tok)
        srv.create_user("joiner", "bench-password")
        sys.stderr.write("logging in %d devices...\n" % a.devices)
        tokens = [srv.login("joiner", "bench-password", "dev%05d" % i).session_token for i in range(a.devices)]
        run_joins(srv, tokens, names, a.callers, "first Joins")
        run_joins(srv, tokens, names, a.callers, "repeated Joins")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
