/* rv-control-load: plays N devices against roomvpn-control and prints
 * figures as JSON on stdout (progress on stderr). Each device logs in (its
 * own device), joins a room, bootstraps a tunnel and holds a keepalive
 * stream with heartbeats at the room's interval; many streams share one of
 * --connections TLS connections. Steps, in order:
 *   provision  admin login; --users users and the rooms (ALREADY_EXISTS is
 *              fine: a re-run reuses them)
 *   list0      --list-calls ListRooms one after another, no tunnel held
 *              (again once every member joined, and with the tunnels held)
 *   login, join, bootstrap   --concurrency callers each (Join/s, Bootstrap/s)
 *   up         every tunnel's first heartbeat acknowledged (or refused)
 *   steady     --duration s: heartbeat->ack latency, server CPU and RSS
 *   listN      ListRooms again, every tunnel held and heartbeating; then
 *              once more with the heartbeats paused (those in flight acked);
 *              ListRooms is timed by a process of its own (admin_cli.c)
 *   kick       --kicks devices kicked one by one, each timed until the data
 *              plane's session count (ReadStats over --dp-socket) drops
 *   resync     --dp-restart CMD restarts the data plane; timed until every
 *              session is back
 * Exit 0 when every tunnel came up (its first heartbeat acknowledged) and
 * no stream ended before the kicks, 2
 * when some did not (the JSON says how many and why), 1 on a usage or
 * setup error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "load.h"
#include "phase.h"
#include "report.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "roomvpn/v1/common.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"
#include "roomvpn/v1/tunnel.pb-c.h"
#include "roomvpn/v1/users.pb-c.h"

struct opts {
	const char *server, *ca, *tls_name, *admin, *admin_password, *password, *prefix;
	const char *dp_socket, *dp_restart;
	uint32_t tunnels, users, per_room, connections, threads, concurrency, keepalive_s;
	uint32_t duration_s, kicks, up_timeout_s, list_calls;
	int server_pid;
	bool stop_after_join;
};

static struct opts o = {
    .server = "127.0.0.1:7443",
    .tls_name = "localhost",
    .admin = "admin",
    .password = "load-password-1",
    .prefix = "load",
    .tunnels = 1000,
    .users = 100,
    .per_room = 1000,
    .connections = 16,
    .threads = 32,
    .concurrency = 64,
    .keepalive_s = 10,
    .duration_s = 20,
    .kicks = 10,
    .up_timeout_s = 120,
    .list_calls = 500,
};

static struct rv_dev *devs;
static uint32_t n_rooms;
static grpc_slice admin_bearer;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: rv-control-load --ca FILE --admin-password-file FILE [options]\n"
	    "  --server HOST:PORT[,...]  roomvpn-control (default 127.0.0.1:7443); several\n"
	    "                            (replicas on one etcd): connections spread over them\n"
	    "  --ca FILE                 PEM the server's certificate is checked against\n"
	    "  --tls-name NAME           name checked in it (default localhost)\n"
	    "  --admin NAME              admin user (default admin)\n"
	    "  --admin-password-file F   its password (first line)\n"
	    "  --tunnels N               devices, one tunnel each (default 1000)\n"
	    "  --users U                 accounts the devices log in as (default 100)\n"
	    "  --per-room M              tunnels per room, rooms are /16 (default 1000)\n"
	    "  --prefix P                names: P-u<i>, P-r<i>, P-d<i> (default load)\n"
	    "  --connections C           TLS connections the streams share (default 16); the\n"
	    "                            admin's kicks have their own; ListRooms is timed by a\n"
	    "                            process of its own (the operator's CLI, one connection)\n"
	    "  --threads T               completion queues, 1..256 (default 32; callback queues: "
	    "no\n"
	    "                            thread of their own, two grpc poller threads run them)\n"
	    "  --concurrency K           callers of login/join/bootstrap (default 64)\n"
	    "  --keepalive S             rooms' keepalive interval, s (default 10)\n"
	    "  --duration S              measured steady window, s (default 20)\n"
	    "  --up-timeout S            wait for every tunnel's first ack (default 120)\n"
	    "  --server-pid PID          read the server's RSS and CPU from /proc\n"
	    "  --dp-socket PATH          the data plane's agent socket, for kick and resync\n"
	    "  --kicks K                 kicks timed to the session's removal (default 10)\n"
	    "  --list-calls L            ListRooms timed without and with the tunnels held\n"
	    "                            (with their heartbeats running, then paused)\n"
	    "                            (default 500, 0: none)\n"
	    "  --dp-restart CMD          shell command restarting the data plane (resync)\n"
	    "  --stop-after-join         only provision, login and join: prints their rates\n"
	    "                            ({\"login_per_s\", \"join_per_s\", ...}), no data plane\n"
	    "JSON on stdout, progress on stderr. Exit 0: every tunnel up and acked;\n"
	    "2: some were not (e.g. RESOURCE_EXHAUSTED from the server); 1: error.\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {{"server", 1, 0, 's'},
					   {"ca", 1, 0, 'c'},
					   {"tls-name", 1, 0, 'n'},
					   {"admin", 1, 0, 'a'},
					   {"admin-password-file", 1, 0, 'A'},
					   {"tunnels", 1, 0, 'N'},
					   {"users", 1, 0, 'U'},
					   {"per-room", 1, 0, 'R'},
					   {"prefix", 1, 0, 'P'},
					   {"connections", 1, 0, 'C'},
					   {"threads", 1, 0, 'T'},
					   {"concurrency", 1, 0, 'K'},
					   {"keepalive", 1, 0, 'k'},
					   {"duration", 1, 0, 'd'},
					   {"up-timeout", 1, 0, 'u'},
					   {"server-pid", 1, 0, 'p'},
					   {"list-calls", 1, 0, 'L'},
					   {"dp-socket", 1, 0, 'S'},
					   {"kicks", 1, 0, 'x'},
					   {"dp-restart", 1, 0, 'r'},
					   {"stop-after-join", 0, 0, 'J'},
					   {"help", 0, 0, 'h'},
					   {0, 0, 0, 0}};
	static char pw[512];
	const char *pwfile = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		uint32_t v = optarg ? (uint32_t)strtoul(optarg, NULL, 10) : 0;
		switch (c) {
		case 's':
			o.server = optarg;
			break;
		case 'c':
			o.ca = optarg;
			break;
		case 'n':
			o.tls_name = optarg;
			break;
		case 'a':
			o.admin = optarg;
			break;
		case 'A':
			pwfile = optarg;
			break;
		case 'N':
			o.tunnels = v;
			break;
		case 'U':
			o.users = v;
			break;
		case 'R':
			o.per_room = v;
			break;
		case 'P':
			o.prefix = optarg;
			break;
		case 'C':
			o.connections = v;
			break;
		case 'T':
			o.threads = v;
			break;
		case 'K':
			o.concurrency = v;
			break;
		case 'k':
			o.keepalive_s = v;
			break;
		case 'd':
			o.duration_s = v;
			break;
		case 'u':
			o.up_timeout_s = v;
			break;
		case 'p':
			o.server_pid = (int)v;
			break;
		case 'L':
			o.list_calls = v;
			break;
		case 'S':
			o.dp_socket = optarg;
			break;
		case 'x':
			o.kicks = v;
			break;
		case 'r':
			o.dp_restart = optarg;
			break;
		case 'J':
			o.stop_after_join = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !o.ca || !pwfile) {
		usage(stderr);
		return -1;
	}
	FILE *f = fopen(pwfile, "r");
	if (!f || !fgets(pw, sizeof(pw), f)) {
		fprintf(stderr, "cannot read the admin password from %s\n", pwfile);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	o.admin_password = pw;
	if (!o.tunnels || !o.users || !o.per_room || o.per_room > 65000 || !o.concurrency ||
	    !o.keepalive_s) {
		fprintf(stderr, "--tunnels, --users, --concurrency, --keepalive must be > 0 and "
				"--per-room 1..65000\n");
		return -1;
	}
	n_rooms = (o.tunnels + o.per_room - 1) / o.per_room;
	if (n_rooms > 160) {
		fprintf(stderr,
			"%u rooms of /16 do not fit in 10.64.0.0-10.223.255.255: raise "
			"--per-room\n",
			n_rooms);
		return -1;
	}
	return 0;
}

static grpc_slice bearer_of(const char *token)
{
	char b[600];

	snprintf(b, sizeof(b), "Bearer %s", token);
	return grpc_slice_from_copied_string(b);
}

static void room_name(uint32_t r, char *out, size_t len)
{
	snprintf(out, len, "%s-r%u", o.prefix, r);
}

/* ---- provisioning and setup phases ---- */

static bool ok_or_exists(struct rv_phase *ph, uint32_t i, grpc_status_code st, const char *d,
			 ProtobufCMessage *resp)
{
	(void)ph, (void)i, (void)d, (void)resp;
	return st == GRPC_STATUS_OK || st == GRPC_STATUS_ALREADY_EXISTS;
}

static int start_user(struct rv_phase *ph, uint32_t i)
{
	Roomvpn__V1__CreateUserRequest r = ROOMVPN__V1__CREATE_USER_REQUEST__INIT;
	char name[64];

	snprintf(name, sizeof(name), "%s-u%u", o.prefix, i);
	r.username = name;
	r.password = (char *)o.password;
	return rv_phase_call(ph, i, i, "/roomvpn.v1.UserService/Create", admin_bearer, &r.base,
			     &roomvpn__v1__user__descriptor);
}

static int start_room(struct rv_phase *ph, uint32_t i)
{
	Roomvpn__V1__CreateRoomRequest r = ROOMVPN__V1__CREATE_ROOM_REQUEST__INIT;
	char name[64], subnet[32];

	room_name(i, name, sizeof(name));
	snprintf(subnet, sizeof(subnet), "10.%u.0.0/16", 64 + i);
	r.name = name;
	r.subnet = subnet;
	r.keepalive_s = o.keepalive_s;
	return rv_phase_call(ph, i, i, "/roomvpn.v1.RoomService/Create", admin_bearer, &r.base,
			     &roomvpn__v1__room__descriptor);
}

static int start_login(struct rv_phase *ph, uint32_t i)
{
	Roomvpn__V1__LoginRequest r = ROOMVPN__V1__LOGIN_REQUEST__INIT;
	char user[64], dev[64];

	snprintf(user, sizeof(user), "%s-u%u", o.prefix, i % o.users);
	snprintf(dev, sizeof(dev), "%s-d%u", o.prefix, i);
	r.username = user;
	r.password = (char *)o.password;
	r.device_name = dev;
	return rv_phase_call(ph, i, i, "/roomvpn.v1.AuthService/Login", grpc_empty_slice(), &r.base,
			     &roomvpn__v1__session__descriptor);
}

static bool login_done(struct rv_phase *ph, uint32_t i, grpc_status_code st, const char *d,
		       ProtobufCMessage *resp)
{
	const Roomvpn__V1__Session *s = (const void *)resp;

	(void)ph, (void)d;
	if (st != GRPC_STATUS_OK)
		return false;
	devs[i].bearer = bearer_of(s->session_token);
	devs[i].device_id = s->device_id;
	atomic_store(&devs[i].state, DEV_LOGGED_IN);
	return true;
}

static int start_join(struct rv_phase *ph, uint32_t i)
{
	Roomvpn__V1__JoinRoomRequest r = ROOMVPN__V1__JOIN_ROOM_REQUEST__INIT;
	char room[64];

	if (atomic_load(&devs[i].state) != DEV_LOGGED_IN)
		return 1;
	room_name(devs[i].room, room, sizeof(room));
	r.room = room;
	return rv_phase_call(ph, i, i, "/roomvpn.v1.RoomService/Join", devs[i].bearer, &r.base,
			     &roomvpn__v1__join_room_response__descriptor);
}

static bool join_done(struct rv_phase *ph, uint32_t i, grpc_status_code st, const char *d,
		      ProtobufCMessage *resp)
{
	(void)ph, (void)d, (void)resp;
	if (st != GRPC_STATUS_OK)
		return false;
	atomic_store(&devs[i].state, DEV_JOINED);
	return true;
}

static int start_bootstrap(struct rv_phase *ph, uint32_t i)
{
	Roomvpn__V1__BootstrapRequest r = ROOMVPN__V1__BOOTSTRAP_REQUEST__INIT;
	char room[64], *ciphers[] = {"AES-256-GCM"};
	uint8_t pub[32];

	if (atomic_load(&devs[i].state) != DEV_JOINED)
		return 1;
	/* any 32 bytes: the server derives keys the bench never uses */
	RAND_bytes(pub, sizeof(pub));
	room_name(devs[i].room, room, sizeof(room));
	r.room = room;
	r.n_ciphers = 1;
	r.ciphers = ciphers;
	r.client_public.data = pub;
	r.client_public.len = sizeof(pub);
	return rv_phase_call(ph, i, i, "/roomvpn.v1.TunnelService/Bootstrap", devs[i].bearer,
			     &r.base, &roomvpn__v1__bootstrap_response__descriptor);
}

static _Atomic uint32_t keepalive_seen_s;

static bool bootstrap_done(struct rv_phase *ph, uint32_t i, grpc_status_code st, const char *d,
			   ProtobufCMessage *resp)
{
	const Roomvpn__V1__BootstrapResponse *b = (const void *)resp;
	char room[64];

	(void)ph, (void)d;
	if (st != GRPC_STATUS_OK) {
		atomic_store(&devs[i].state, DEV_FAILED);
		return false;
	}
	devs[i].peer_id = b->peer_id;
	atomic_store(&keepalive_seen_s, b->keepalive_s);
	atomic_store(&devs[i].state, DEV_BOOTSTRAPPED);
	room_name(devs[i].room, room, sizeof(room));
	rv_ka_open(&devs[i], room);
	return true;
}

static void phase_init(struct rv_phase *ph, const char *name, uint32_t total,
		       rv_phase_start_fn start, rv_phase_done_fn done)
{
	memset(ph, 0, sizeof(*ph));
	ph->name = name;
	ph->total = total;
	ph->concurrency = o.concurrency;
	ph->start = start;
	ph->done = done;
}

/* ---- measurements ---- */

static uint32_t count_state(int state)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < o.tunnels; i++)
		n += atomic_load(&devs[i].state) == state;
	return n;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Until every bootstrapped tunnel had its first ack or ended. */
static void wait_up(struct figures *f, uint64_t t0)
{
	uint64_t deadline = rv_now_ns() + (uint64_t)o.up_timeout_s * 1000000000ull, last = 0;

	while (count_state(DEV_BOOTSTRAPPED) && rv_now_ns() < deadline) {
		if (rv_now_ns() - last > 2000000000ull) {
			last = rv_now_ns();
			fprintf(stderr, "  up: %u up, %u waiting for their first ack\n",
				count_state(DEV_UP), count_state(DEV_BOOTSTRAPPED));
		}
		sleep_ms(20);
	}
	f->up_n = count_state(DEV_UP);
	f->up_s = (double)(rv_now_ns() - t0) / 1e9;
	fprintf(stderr, "up: %u of %u tunnels up (first heartbeat acked)\n", f->up_n, o.tunnels);
}

static void steady(struct figures *f)
{
	uint64_t a0, a1, t0, t1;

	fprintf(stderr, "steady: %u s of heartbeats every %u s\n", o.duration_s,
		atomic_load(&keepalive_seen_s));
	rv_hist_reset(&rv_ka.lat);
	a0 = atomic_load(&rv_ka.acked);
	for (uint32_t i = 0; i < o.tunnels; i++)
		devs[i].acks_before = atomic_load(&devs[i].acks);
	t0 = rv_now_ns();
	f->have_proc = o.server_pid && rv_proc_read(o.server_pid, &f->w0) == 0;
	for (uint32_t s = 0; s < o.duration_s; s++) {
		sleep_ms(1000);
		if (s % 5 == 4)
			fprintf(stderr, "  steady: %u s, %" PRIu64 " acks, p99 %.2f ms\n", s + 1,
				atomic_load(&rv_ka.acked) - a0,
				(double)rv_hist_pct(&rv_ka.lat, 99) / 1e6);
	}
	t1 = rv_now_ns();
	a1 = atomic_load(&rv_ka.acked);
	if (f->have_proc)
		f->have_proc = rv_proc_read(o.server_pid, &f->w1) == 0;
	f->window_s = (double)(t1 - t0) / 1e9;
	f->hb_per_s = (double)(a1 - a0) / f->window_s;
	f->hb_p50_ns = rv_hist_pct(&rv_ka.lat, 50);
	f->hb_p99_ns = rv_hist_pct(&rv_ka.lat, 99);
	f->hb_max_ns = rv_hist_pct(&rv_ka.lat, 100);
	if (f->have_proc)
		f->cpu_pct = 100.0 * (double)(f->w1.cpu_ticks - f->w0.cpu_ticks) /
			     (double)rv_proc_ticks_per_s() / f->window_s;
	for (uint32_t i = 0; i < o.tunnels; i++)
		f->acked_n += atomic_load(&devs[i].acks) > devs[i].acks_before;
}

/* Poll the data plane's session count until it is below @before (or 30 s):
 * the time since @t0, or 0. */
static uint64_t wait_gone(long before, uint64_t t0)
{
	while (rv_now_ns() - t0 < 30000000000ull) {
		long n = rv_dp_count();
		if (n >= 0 && n < before)
			return rv_now_ns() - t0;
		sleep_ms(1);
	}
	return 0;
}

static void kicks(struct figures *f)
{
	uint32_t peers[o.kicks];
	bool present[o.kicks];

	for (uint32_t k = 0; k < o.kicks; k++)
		peers[k] = devs[(uint64_t)k * o.tunnels / o.kicks].peer_id;
	if (rv_dp_present(peers, present, o.kicks) < 0) {
		fprintf(stderr, "kick: cannot read the data plane's sessions at %s\n", o.dp_socket);
		return;
	}
	for (uint32_t k = 0; k < o.kicks; k++) {
		struct rv_dev *d = &devs[(uint64_t)k * o.tunnels / o.kicks];
		Roomvpn__V1__KickRequest r = ROOMVPN__V1__KICK_REQUEST__INIT;
		char room[64], details[256];
		long before;

		if (atomic_load(&d->state) != DEV_UP || !present[k] || (before = rv_dp_count()) < 0)
			continue; /* not a running tunnel with a session to watch */
		room_name(d->room, room, sizeof(room));
		r.room = room;
		r.device_id = d->device_id;
		uint64_t t0 = rv_now_ns();
		grpc_status_code st = rv_rpc_call_sync("/roomvpn.v1.RoomService/Kick", admin_bearer,
						       &r.base, &roomvpn__v1__empty__descriptor,
						       NULL, details, sizeof(details));
		if (st != GRPC_STATUS_OK) {
			fprintf(stderr, "kick of device %" PRIu64 " refused: %d %s\n", d->device_id,
				(int)st, details);
			continue;
		}
		uint64_t ns = wait_gone(before, t0);
		if (ns) {
			rv_hist_add(&f->kick, ns);
			f->kicks_done++;
		} else {
			f->kicks_lost++;
		}
	}
	fprintf(stderr, "kick: %u timed (p50 %.1f ms, max %.1f ms), %u sessions not gone in 30 s\n",
		f->kicks_done, (double)rv_hist_pct(&f->kick, 50) / 1e6,
		(double)rv_hist_pct(&f->kick, 100) / 1e6, f->kicks_lost);
}

/* --list-calls ListRooms (a page of 50), one after another, by the
 * operator's CLI (admin_cli.c: a process of its own, as an operator's is). */
static void list_rooms(struct rv_hist *h, const char *when)
{
	char first[300];
	uint32_t failed = 0;

	if (!o.list_calls)
		return;
	if (rv_cli_list(h, admin_bearer, o.list_calls, &failed, first, sizeof(first)) < 0) {
		fprintf(stderr, "list rooms %s: %s\n", when, first);
		return;
	}
	fprintf(stderr, "list rooms %s: p50 %.2f ms, p99 %.2f ms, %u failed%s%s\n", when,
		(double)rv_hist_pct(h, 50) / 1e6, (double)rv_hist_pct(h, 99) / 1e6, failed,
		failed ? ", the first: " : "", failed ? first : "");
}

static void resync(struct figures *f)
{
	uint64_t t0, t1;
	int rc;

	f->resync_want = rv_dp_count();
	fprintf(stderr, "resync: restarting the data plane (%ld sessions)\n", f->resync_want);
	t0 = rv_now_ns();
	rc = system(o.dp_restart);
	t1 = rv_now_ns();
	if (rc != 0) {
		fprintf(stderr, "resync: '%s' failed (%d)\n", o.dp_restart, rc);
		return;
	}
	f->resync_run = true;
	while (rv_now_ns() - t1 < 300000000000ull) {
		f->resync_got = rv_dp_count();
		if (f->resync_got >= f->resync_want)
			break;
		sleep_ms(10);
	}
	f->resync_s = (double)(rv_now_ns() - t1) / 1e9;
	f->restart_s = (double)(t1 - t0) / 1e9;
	fprintf(stderr, "resync: %ld of %ld sessions back %.2f s after the restart\n",
		f->resync_got, f->resync_want, f->resync_s);
}

/* ---- report ---- */

static int admin_login(char *err, size_t errlen)
{
	Roomvpn__V1__LoginRequest r = ROOMVPN__V1__LOGIN_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	grpc_status_code st;

	r.username = (char *)o.admin;
	r.password = (char *)o.admin_password;
	r.device_name = "rv-control-load";
	st = rv_rpc_call_sync("/roomvpn.v1.AuthService/Login", grpc_empty_slice(), &r.base,
			      &roomvpn__v1__session__descriptor, &resp, err, errlen);
	if (st != GRPC_STATUS_OK || !resp) {
		fprintf(stderr, "admin login as %s failed (status %d): %s\n", o.admin, (int)st,
			err);
		return -1;
	}
	admin_bearer = bearer_of(((Roomvpn__V1__Session *)resp)->session_token);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* --stop-after-join: the Login and Join rates, one JSON object. 0 when
 * every call succeeded, 2 otherwise. */
static int print_rates(const struct rv_phase *login, const struct rv_phase *join)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "devices", json_object_new_int64(o.tunnels));
	json_object_object_add(j, "concurrency", json_object_new_int64(o.concurrency));
	json_object_object_add(j, "rooms", json_object_new_int64(n_rooms));
	json_object_object_add(j, "login_per_s", json_object_new_double(rv_phase_rate(login)));
	json_object_object_add(j, "join_per_s", json_object_new_double(rv_phase_rate(join)));
	json_object_object_add(j, "login_ok", json_object_new_int64(atomic_load(&login->ok)));
	json_object_object_add(j, "join_ok", json_object_new_int64(atomic_load(&join->ok)));
	json_object_object_add(j, "join_first_error", json_object_new_string(join->first_error));
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	bool all = atomic_load(&login->ok) == o.tunnels && atomic_load(&join->ok) == o.tunnels;
	json_object_put(j);
	rv_rpc_stop();
	return all ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct rv_rpc_opts ro;
	struct rv_phase ph[5];
	static struct figures f;
	char err[256];

	if (parse_args(argc, argv) < 0)
		return 1;
	ro = (struct rv_rpc_opts){o.server, o.ca, o.tls_name, o.connections, o.threads};
	if (!(devs = calloc(o.tunnels, sizeof(*devs)))) {
		fprintf(stderr, "out of memory for %u devices\n", o.tunnels);
		return 1;
	}
	for (uint32_t i = 0; i < o.tunnels; i++) {
		devs[i].idx = i;
		devs[i].room = i % n_rooms;
		devs[i].bearer = grpc_empty_slice();
	}
	if (o.list_calls && rv_cli_start(&ro) < 0) { /* before grpc starts here */
		fprintf(stderr, "cannot start the ListRooms process: %s\n", strerror(errno));
		return 1;
	}
	if (rv_rpc_start(&ro, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (admin_login(err, sizeof(err)) < 0)
		return 1;
	phase_init(&ph[0], "users", o.users, start_user, ok_or_exists);
	phase_init(&ph[1], "rooms", n_rooms, start_room, ok_or_exists);
	phase_init(&ph[2], "login", o.tunnels, start_login, login_done);
	phase_init(&ph[3], "join", o.tunnels, start_join, join_done);
	phase_init(&ph[4], "bootstrap", o.tunnels, start_bootstrap, bootstrap_done);
	for (int i = 0; i < 2; i++)
		rv_phase_run(&ph[i]);
	list_rooms(&f.list0, "with no tunnel");
	for (int i = 2; i < 4; i++)
		rv_phase_run(&ph[i]);
	if (o.stop_after_join)
		return print_rates(&ph[2], &ph[3]);
	/* the store as it will be (users, devices, members), no tunnel yet: the
	 * baseline for "while the tunnels are held" */
	list_rooms(&f.list_joined, "with every member joined, no tunnel");
	if (o.server_pid && rv_proc_read(o.server_pid, &f.before) < 0)
		fprintf(stderr, "cannot read /proc/%d: no server figures\n", o.server_pid);
	rv_ka_sched_start(devs, o.tunnels, o.keepalive_s * 1000);
	rv_phase_run(&ph[4]);
	if (atomic_load(&ph[4].exhausted))
		fprintf(stderr,
			"REFUSED: the server answered RESOURCE_EXHAUSTED to %u of %u Bootstraps "
			"(tunnel registry or per-user quota full): %s\n",
			atomic_load(&ph[4].exhausted), ph[4].total, ph[4].first_error);
	if (atomic_load(&keepalive_seen_s) && atomic_load(&keepalive_seen_s) != o.keepalive_s)
		fprintf(stderr,
			"note: the rooms' keepalive is %u s (existing rooms), heartbeats "
			"go every %u s\n",
			atomic_load(&keepalive_seen_s), o.keepalive_s);
	wait_up(&f, ph[4].t0_ns);
	if (o.server_pid)
		rv_proc_read(o.server_pid, &f.up);
	steady(&f);
	list_rooms(&f.list_n, "with the tunnels held");
	/* the same with the heartbeats paused (a second or so: each tunnel
	 * misses at most one): what the tunnels' state costs ListRooms, apart
	 * from the CPU their heartbeats take on the machine */
	if (o.list_calls && !rv_ka_sched_pause(true))
		fprintf(stderr, "heartbeats still unacked 5 s after the pause\n");
	list_rooms(&f.list_quiet, "with the tunnels held, heartbeats paused");
	rv_ka_sched_pause(false);
	f.ended_early = atomic_load(&rv_ka.ended);
	if (o.dp_socket)
		rv_dp_watch(o.dp_socket);
	if (o.dp_socket && o.kicks)
		kicks(&f);
	if (o.dp_socket && o.dp_restart)
		resync(&f);
	rv_ka_sched_stop();
	struct rv_report_run run = {o.tunnels,	   o.users,	  n_rooms,
				    o.connections, o.concurrency, atomic_load(&keepalive_seen_s),
				    o.list_calls};
	rv_report_print(ph, 5, &f, &run);
	fflush(stdout);
	rv_cli_stop();
	rv_ka_close_all(devs, o.tunnels);
	rv_rpc_stop();
	bool all = f.up_n == o.tunnels && !f.ended_early;
	if (!all)
		fprintf(stderr,
			"NOT ALL TUNNELS UP AND HELD: %u up of %u, %" PRIu64
			" streams ended before the kicks\n",
			f.up_n, o.tunnels, f.ended_early);
	return all ? 0 : 2;
}
