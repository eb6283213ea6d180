"""Password guessing, black-box over TLS (harness.py): concurrent guesses are
admitted by the limiter before their Argon2 check is queued, so at most the
configured number are checked (a checked wrong guess answers UNAUTHENTICATED
or, for rooms, PERMISSION_DENIED; a refused one RESOURCE_EXHAUSTED); the
right password from another address works during the attack; refused logins
leave aggregated audit records.

The server listens on [::] so that 127.0.0.1 (the attacker) and ::1 (the
user) are two source addresses on one machine."""
import re
import threading
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

auth = pb("auth")
audit = pb("audit")
rooms = pb("rooms")

LOGIN = "/roomvpn.v1.AuthService/Login"
JOIN = "/roomvpn.v1.RoomService/Join"
PER_PAIR = 5
PER_ADDR = 20
GUESSES = 200

CONFIG = {
    "login_fail_per_user": str(PER_PAIR),
    "login_fail_per_addr": str(PER_ADDR),
    "login_fail_window": "10m",  # no refill while a test runs
    "audit_refused_interval": "1s",
}


def unary(channel, path, response_cls):
    return channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_cls.FromString)


def codes_of(futures):
    out = {}
    for f in futures:
        try:
            f.result()
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        out[code] = out.get(code, 0) + 1
    return out


class GuessingTest(unittest.TestCase):
    def setUp(self):
        self.srv = ControlServer(config=CONFIG)
        self.srv.config["listen"] = "[::]:%d" % self.srv.port
        self.srv._write_config()
        self.srv.start()
        self.srv.create_user("victim", "victim-password-1")

    def tearDown(self):
        self.srv.stop()

    def v6_channel(self):
        """A channel from ::1, another source address than the harness's 127.0.0.1."""
        with open(self.srv.cert_path(), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel("[::1]:%d" % self.srv.port, creds,
                                   options=[("grpc.ssl_target_name_override", "localhost")])

    def guess_all(self, users, password="wrong-guess-1"):
        login = unary(self.srv.channel(), LOGIN, auth.Session)
        futures = [login.future(auth.LoginRequest(username=users[i % len(users)], password=password),
                                timeout=60, wait_for_ready=True) for i in range(GUESSES)]
        return codes_of(futures)

    def test_concurrent_guesses_for_one_user_are_checked_at_most_burst_times(self):
        codes = self.guess_all(["victim"])
        checked = codes.get(grpc.StatusCode.UNAUTHENTICATED, 0)
        self.assertLessEqual(checked, PER_PAIR, codes)
        self.assertGreaterEqual(checked, 1, codes)
        self.assertEqual(codes.get(grpc.StatusCode.RESOURCE_EXHAUSTED, 0), GUESSES - checked, codes)
        # the pair stays refused, with a retry hint, even for the right password
        e = rpc_error(self.srv.login, "victim", "victim-password-1")
        self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertRegex(e.details(), r"too many (failed logins|password checks).*retry in \d+ s")

    def test_concurrent_guesses_over_many_users_are_checked_at_most_the_address_burst(self):
        codes = self.guess_all(["user-%d" % i for i in range(40)])
        checked = codes.get(grpc.StatusCode.UNAUTHENTICATED, 0)
        self.assertLessEqual(checked, PER_ADDR, codes)
        self.assertEqual(codes.get(grpc.StatusCode.RESOURCE_EXHAUSTED, 0), GUESSES - checked, codes)

    def test_right_password_from_another_address_works_during_the_attack(self):
        stop, refused = threading.Event(), threading.Event()
        login = unary(self.srv.channel(), LOGIN, auth.Session)

        def attack():
            while not stop.is_set():
                futures = [login.future(auth.LoginRequest(username="victim", password="wrong-guess-1"),
                                        timeout=60, wait_for_ready=True) for _ in range(20)]
                if codes_of(futures).get(grpc.StatusCode.RESOURCE_EXHAUSTED):
                    refused.set()

        threads = [threading.Thread(target=attack) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(refused.wait(60), "the attacker was never refused")
            ch = self.v6_channel()
            try:
                s = unary(ch, LOGIN, auth.Session)(
                    auth.LoginRequest(username="victim", password="victim-password-1", device_name="v6"),
                    timeout=60, wait_for_ready=True)
                self.assertEqual(s.username, "victim")
            finally:
                ch.close()
            # the attacker is still refused after the right login elsewhere
            e = rpc_error(self.srv.login, "victim", "victim-password-1")
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        finally:
            stop.set()
            for t in threads:
                t.join()

    def test_concurrent_room_password_guesses_are_checked_at_most_burst_times(self):
        owner = self.srv.user_token("owner")
        self.srv.call("/roomvpn.v1.RoomService/Create",
                      rooms.CreateRoomRequest(name="locked", password="room-password-1"), rooms.Room, owner)
        guesser = self.srv.user_token("guesser")
        join = unary(self.srv.channel(), JOIN, rooms.JoinRoomResponse)
        md = [("authorization", "Bearer " + guesser)]
        futures = [join.future(rooms.JoinRoomRequest(room="locked", password="wrong-guess-1"), metadata=md,
                               timeout=60, wait_for_ready=True) for _ in range(GUESSES)]
        codes = codes_of(futures)
        checked = codes.get(grpc.StatusCode.PERMISSION_DENIED, 0)
        self.assertLessEqual(checked, PER_PAIR, codes)
        self.assertEqual(codes.get(grpc.StatusCode.RESOURCE_EXHAUSTED, 0), GUESSES - checked, codes)

    def refused_login_records(self):
        out, token = [], ""
        while True:
            r = self.srv.call("/roomvpn.v1.AuditService/List",
                              audit.ListAuditRequest(action="auth.login", actor="victim", page_size=1000,
                                                     page_token=token),
                              audit.ListAuditResponse, self.srv.admin_token())
            out += [x for x in r.records if x.status != 0]
            token = r.next_page_token
            if not token:
                return out

    @staticmethod
    def attempts_of(record):
        m = re.match(r"(\d+) refused logins", record.detail)
        return int(m.group(1)) if m else 1

    def test_refused_logins_are_audited_in_aggregate(self):
        self.guess_all(["victim"])
        # the first refusal is recorded at once, the rest in one record per
        # interval carrying their count: wait until every attempt is counted
        for _ in range(600):
            recs = self.refused_login_records()
            if sum(self.attempts_of(r) for r in recs) >= GUESSES:
                break
            threading.Event().wait(0.1)
        self.assertEqual(sum(self.attempts_of(r) for r in recs), GUESSES, [r.detail for r in recs])
        self.assertLessEqual(len(recs), 4, [r.detail for r in recs])
        self.assertTrue(recs[0].source.startswith("ipv"), recs[0].source)


if __name__ == "__main__":
    unittest.main()
