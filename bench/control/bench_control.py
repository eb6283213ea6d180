"""roomvpn-control benchmarks: prints figures, asserts nothing.

  /usr/bin/python3 bench/control/bench_control.py [--bin build/control/roomvpn-control]
        [--logins 40] [--calls 3000] [--users 10000] [--rooms 1000] [--skip-memory]

1. Login latency (sequential) and logins/s (8 clients) at the DEFAULT Argon2id
   cost (m=19 MiB, t=2, p=1; argon2_workers=2).
2. p50/p99 latency and calls/s of a cheap authenticated RPC (RoomService/List
   with one small page; HealthService/Get if rooms are not built), alone and
   while 8 logins are in flight at all times.
3. Resident memory (VmRSS, VmHWM) of roomvpn-control holding 10,000 users
   and 1,000 rooms: right after populating, and after a restart plus a full
   listing of both. (Population uses cheap Argon2 so it finishes in minutes;
   the cost does not change what is stored.)
The client is Python grpcio on the same 2-core machine: client overhead is
part of every figure.
"""
import argparse
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "control"))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import ControlServer, pb  # noqa: E402

auth = pb("auth")
users = pb("users")
health = pb("health")
try:
    rooms = pb("rooms")
except ImportError:
    rooms = None

DEFAULT_COST = {"argon2_memory_kib": "19456", "argon2_iterations": "2", "argon2_parallelism": "1"}
NO_LIMITS = {"login_fail_per_user": "1000000", "login_fail_per_addr": "1000000", "log_level": "warn",
             "ipam_pool": "10.64.0.0/10"}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def ms(x):
    return "%.2f ms" % (x * 1000.0)


def rss(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def cheap_call(srv, tok):
    if rooms is not None:
        return lambda: srv.call("/roomvpn.v1.RoomService/List", rooms.ListRoomsRequest(page_size=5),
                                rooms.ListRoomsResponse, tok)
    return lambda: srv.call("/roomvpn.v1.HealthService/Get", health.HealthRequest(), health.HealthResponse, tok)


def timed(fn, n):
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t)
    return lat, time.perf_counter() - t0


def bench_logins(srv, n):
    srv.admin_token()
    lat, _ = timed(lambda: srv.login(srv.admin, srv.password, "bench"), n)
    print("login latency, sequential, %d logins: p50 %s  p99 %s  mean %s" %
          (n, ms(pct(lat, 50)), ms(pct(lat, 99)), ms(statistics.mean(lat))))
    stop = time.time() + 8.0
    count = [0]
    lock = threading.Lock()

    def worker():
        ch = srv.new_channel()
        fn = ch.unary_unary("/roomvpn.v1.AuthService/Login", request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=auth.Session.FromString)
        req = auth.LoginRequest(username=srv.admin, password=srv.password, device_name="bench")
        while time.time() < stop:
            fn(req, timeout=60)
            with lock:
                count[0] += 1
        ch.close()

    t0 = time.time()
    with ThreadPoolExecutor(8) as ex:
        for f in [ex.submit(worker) for _ in range(8)]:
            f.result()
    dt = time.time() - t0
    print("logins/s with 8 concurrent clients: %.1f (%d logins in %.1f s)" % (count[0] / dt, count[0], dt))


def bench_cheap(srv, n):
    tok = srv.admin_token()
    fn = cheap_call(srv, tok)
    name = "RoomService/List" if rooms is not None else "HealthService/Get"
    for _ in range(100):
        fn()
    lat, dt = timed(fn, n)
    print("%s alone, %d sequential calls: p50 %s  p99 %s  %.0f calls/s" %
          (name, n, ms(pct(lat, 50)), ms(pct(lat, 99)), n / dt))

    # throughput with 8 client threads (each its own channel/connection)
    done = [0]
    lock = threading.Lock()
    deadline = time.time() + 5.0

    def client():
        ch = srv.new_channel()
        f = ch.unary_unary("/roomvpn.v1.RoomService/List" if rooms is not None else "/roomvpn.v1.HealthService/Get",
                           request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b)
        req = rooms.ListRoomsRequest(page_size=5) if rooms is not None else health.HealthRequest()
        md = [("authorization", "Bearer " + tok)]
        n = 0
        while time.time() < deadline:
            f(req, metadata=md, timeout=30)
            n += 1
        with lock:
            done[0] += n
        ch.close()

    t0 = time.time()
    with ThreadPoolExecutor(8) as ex:
        for fut in [ex.submit(client) for _ in range(8)]:
            fut.result()
    print("%s with 8 concurrent clients: %.0f calls/s" % (name, done[0] / (time.time() - t0)))

    stop = threading.Event()
    logins = [0]

    def login_loop():
        ch = srv.new_channel()
        f = ch.unary_unary("/roomvpn.v1.AuthService/Login", request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=auth.Session.FromString)
        req = auth.LoginRequest(username=srv.admin, password=srv.password, device_name="bench")
        while not stop.is_set():
            f(req, timeout=60)
            logins[0] += 1
        ch.close()

    threads = [threading.Thread(target=login_loop) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the pool fill up
    lat, dt = timed(fn, n)
    stop.set()
    for t in threads:
        t.join()
    print("%s with 8 logins in flight, %d sequential calls: p50 %s  p99 %s  %.0f calls/s (%d logins meanwhile)" %
          (name, n, ms(pct(lat, 50)), ms(pct(lat, 99)), n / dt, logins[0]))


def bench_memory(n_users, n_rooms):
    srv = ControlServer(config=dict(NO_LIMITS), metrics=False).start()
    try:
        base = rss(srv.proc.pid)
        tok = srv.admin_token()
        t0 = time.time()

        def mk_user(i):
            srv.call("/roomvpn.v1.UserService/Create",
                     users.CreateUserRequest(username="u%05d" % i, password="bench-password"), users.User, tok)

        def mk_room(i):
            srv.call("/roomvpn.v1.RoomService/Create", rooms.CreateRoomRequest(name="room%04d" % i),
                     rooms.Room, tok)

        with ThreadPoolExecutor(8) as ex:
            list(ex.map(mk_user, range(n_users)))
            if rooms is not None:
                list(ex.map(mk_room, range(n_rooms)))
        made = time.time() - t0
        hot = rss(srv.proc.pid)
        srv.stop()
        srv.restart()
        tok = srv.admin_token()
        n = 0
        page = ""
        while True:
            r = srv.call("/roomvpn.v1.UserService/List", users.ListUsersRequest(page_size=1000, page_token=page),
                         users.ListUsersResponse, tok)
            n += len(r.users)
            page = r.next_page_token
            if not page:
                break
        nr = 0
        if rooms is not None:
            page = ""
            while True:
                r = srv.call("/roomvpn.v1.RoomService/List", rooms.ListRoomsRequest(page_size=1000, page_token=page),
                             rooms.ListRoomsResponse, tok)
                nr += len(r.rooms)
                page = r.next_page_token
                if not page:
                    break
        cold = rss(srv.proc.pid)
        du = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(srv.state_dir) for f in fs)
        print("memory: empty server VmRSS %d KiB" % base["VmRSS"])
        print("memory: after creating %d users + %d rooms (%.1f s): VmRSS %d KiB, VmHWM %d KiB" %
              (n_users, n_rooms if rooms is not None else 0, made, hot["VmRSS"], hot["VmHWM"]))
        print("memory: restarted, listed %d users + %d rooms: VmRSS %d KiB, VmHWM %d KiB; state dir %.1f MiB" %
              (n, nr, cold["VmRSS"], cold["VmHWM"], du / 1048576.0))
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args()
    if a.bin:
        harness.CONTROL_BIN = os.path.abspath(a.bin)
    print("roomvpn-control benchmark (%s), %d CPUs" % (harness.CONTROL_BIN, os.cpu_count()))
    cfg = dict(DEFAULT_COST)
    cfg.update(NO_LIMITS)
    srv = ControlServer(config=cfg).start()
    try:
        bench_logins(srv, a.logins)
        bench_cheap(srv, a.calls)
    finally:
        srv.stop()
    if not a.skip_memory:
        bench_memory(a.users, a.rooms)


if __name__ == "__main__":
    main()
