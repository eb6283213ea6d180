"""Login/s and Join/s with concurrent callers: prints figures, asserts nothing.

  /usr/bin/python3 bench/control/bench_join.py [--bin build/control/roomvpn-control]
        [--devices 4000] [--callers 64] [--rooms 1] [--store rocksdb|etcd]
        [--set key=value ...]   (extra control.conf lines)

--callers threads log in --devices devices (cheap Argon2), then join them
into --rooms rooms (a /16 each) as fast as they can: first Joins (a new
member and address each) and then repeated Joins (already a member). One
grpcio channel per 8 callers. The client runs on the same machine.
--store etcd runs the control plane on a 3-member TLS etcd cluster started
for the run (tests/control/etcd_cluster.py) and also prints the etcd RPCs
each Login and Join made (etcd's grpc_server_handled_total, all members).
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
from etcd_cluster import EtcdCluster  # noqa: E402
from harness import ControlServer, pb  # noqa: E402

auth = pb("auth")
rooms = pb("rooms")

JOIN = "/roomvpn.v1.RoomService/Join"


def etcd_rpcs(cluster):
    """{method: calls handled} summed over the live members (their /metrics)."""
    import re
    import urllib.request
    total = {}
    for i in range(cluster.n):
        try:
            with urllib.request.urlopen(cluster.endpoint(i) + "/metrics", context=cluster._ssl(),
                                        timeout=5) as r:
                text = r.read().decode()
        except Exception:
            continue
        for m in re.finditer(r'grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\S+)', text):
            total[m.group(1)] = total.get(m.group(1), 0) + float(m.group(2))
    return total


def print_rpcs(cluster, before, n, label):
    if cluster is None:
        return
    after = etcd_rpcs(cluster)
    per = {k: (after.get(k, 0) - before.get(k, 0)) / n for k in after}
    shown = ", ".join("%s %.2f" % (k, v) for k, v in sorted(per.items()) if v >= 0.005)
    print("  etcd RPCs per %s: %s" % (label, shown), flush=True)


def run_logins(srv, n, callers):
    chans = [srv.new_channel() for _ in range((callers + 7) // 8)]
    for ch in chans:
        grpc.channel_ready_future(ch).result(timeout=60)
    nxt, tokens, lock = [0], [None] * n, threading.Lock()

    def worker(ch):
        stub = ch.unary_unary("/roomvpn.v1.AuthService/Login",
                              request_serializer=auth.LoginRequest.SerializeToString,
                              response_deserializer=auth.Session.FromString)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            tokens[i] = stub(auth.LoginRequest(username="joiner", password="bench-password",
                                               device_name="dev%05d" % i), timeout=60).session_token

    threads = [threading.Thread(target=worker, args=(chans[i // 8],)) for i in range(callers)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.time() - t0
    print("Logins: %d, %d callers: %.0f Logins/s (%.2f s)" % (n, callers, n / dt, dt), flush=True)
    for ch in chans:
        ch.close()
    return tokens


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
    ap.add_argument("--store", choices=("rocksdb", "etcd"), default="rocksdb")
    ap.add_argument("--set", action="append", default=[], help="key=value for control.conf")
    a = ap.parse_args()
    if a.bin:
        harness.CONTROL_BIN = os.path.abspath(a.bin)
    cfg = {"log_level": "warn", "ipam_pool": "10.64.0.0/10", "ipam_room_prefix": "16",
           "login_fail_per_user": "1000000", "login_fail_per_addr": "1000000",
           "login_inflight_per_addr": "1024"}
    cfg.update(kv.split("=", 1) for kv in a.set)
    cluster = None
    if a.store == "etcd":
        cluster = EtcdCluster().start()
        cfg.update(cluster.control_config())
    print("store: %s" % (cfg.get("store") or "rocksdb (state_dir)"), flush=True)
    srv = ControlServer(cfg, metrics=False)
    srv.start()
    try:
        tok = srv.admin_token()
        names = ["bench%d" % i for i in range(a.rooms)]
        for n in names:
            srv.call("/roomvpn.v1.RoomService/Create", rooms.CreateRoomRequest(name=n), rooms.Room, tok)
        srv.create_user("joiner", "bench-password")
        before = etcd_rpcs(cluster) if cluster else None
        tokens = run_logins(srv, a.devices, a.callers)
        print_rpcs(cluster, before, a.devices, "Login")
        for label in ("first Joins", "repeated Joins"):
            before = etcd_rpcs(cluster) if cluster else None
            run_joins(srv, tokens, names, a.callers, label)
            print_rpcs(cluster, before, a.devices, label[:-1])
    finally:
        srv.stop()
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
