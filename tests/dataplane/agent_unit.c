/* Agent protocol unit tests: framing, validation, request handling against
 * the real session tables (no DPDK needed), session files, and the agent's
 * unix-socket server in-process. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "agent_proto.h"
#include "drop.h"
#include "inet.h"
#include "session_file.h"
#include "session_table.h"
#include "static_key.h"

typedef Roomvpn__Dataplane__V1__Request pb_request;
typedef Roomvpn__Dataplane__V1__Response pb_response;
#define ST(x)	       ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x
#define REQ(x)	       ROOMVPN__DATAPLANE__V1__REQUEST__BODY_##x
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static uint8_t key_bytes[256];

/* ---- request builders (static storage: one request at a time) ---- */

struct sess_msg {
	Roomvpn__Dataplane__V1__Session s;
	Roomvpn__Dataplane__V1__Key k;
};

static void sess_init(struct sess_msg *m, uint32_t peer, uint32_t room, uint32_t vip)
{
	roomvpn__dataplane__v1__session__init(&m->s);
	roomvpn__dataplane__v1__key__init(&m->k);
	m->s.peer_id = peer;
	m->s.room_id = room;
	m->s.vip = vip;
	m->s.cipher = "AES-256-GCM";
	m->k.material.data = key_bytes;
	m->k.material.len = sizeof(key_bytes);
	m->s.key = &m->k;
}

/* Run one request through rv_agent_process; returns the decoded response. */
static pb_response *process(pb_request *req)
{
	size_t n = protobuf_c_message_get_packed_size(&req->base);
	uint8_t *body = malloc(n ? n : 1), *out;
	size_t outlen;
	protobuf_c_message_pack(&req->base, body);
	assert_int_equal(rv_agent_process(body, n, &out, &outlen), 0);
	free(body);
	assert_true(outlen >= 4);
	assert_int_equal(rv_get_be32(out), outlen - 4);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, outlen - 4, out + 4);
	free(out);
	assert_non_null(r);
	return r;
}

static int status_of(pb_request *req)
{
	pb_response *r = process(req);
	int st = r->status;
	if (st != ST(OK)) {
		assert_true(r->message && r->message[0]); /* errors always say why */
		print_message("  (agent: %s)\n", r->message);
	}
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return st;
}

static int upsert_room(uint32_t id, uint32_t subnet, uint32_t plen)
{
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__UpsertRoom up = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	room.room_id = id;
	room.subnet = subnet;
	room.prefix_len = plen;
	up.room = &room;
	req.body_case = REQ(UPSERT_ROOM);
	req.upsert_room = &up;
	return status_of(&req);
}

static int upsert_session(struct sess_msg *m)
{
	Roomvpn__Dataplane__V1__UpsertSession up = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	up.session = &m->s;
	req.body_case = REQ(UPSERT_SESSION);
	req.upsert_session = &up;
	return status_of(&req);
}

static int add_session(uint32_t peer, uint32_t room, uint32_t vip)
{
	struct sess_msg m;
	sess_init(&m, peer, room, vip);
	return upsert_session(&m);
}

static int delete_session(uint32_t peer)
{
	Roomvpn__Dataplane__V1__DeleteSession d = ROOMVPN__DATAPLANE__V1__DELETE_SESSION__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	d.peer_id = peer;
	req.body_case = REQ(DELETE_SESSION);
	req.delete_session = &d;
	return status_of(&req);
}

static int delete_room(uint32_t id)
{
	Roomvpn__Dataplane__V1__DeleteRoom d = ROOMVPN__DATAPLANE__V1__DELETE_ROOM__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	d.room_id = id;
	req.body_case = REQ(DELETE_ROOM);
	req.delete_room = &d;
	return status_of(&req);
}

static void count_session(void *arg, const struct rv_st_session_info *s)
{
	(void)s;
	if (arg)
		(*(unsigned *)arg)++;
}

/* The walk-free count and the paged read (peer-id index) agree with a walk
 * of the table: every session once, the ranges split anywhere. */
static void expect_paged(uint32_t sessions)
{
	unsigned seen = 0, wide = 0;
	assert_int_equal(rv_st_session_count(), sessions);
	for (uint32_t from = 0; from < 70000; from += 997)
		assert_int_equal(
		    rv_st_session_foreach_range(from, from + 997, count_session, &seen), sessions);
	assert_int_equal(rv_st_session_foreach_range(70000, 0, count_session, &wide), sessions);
	assert_int_equal(seen + wide, sessions);
}

static void count_room(void *arg, const struct rv_st_room_info *r)
{
	(void)arg;
	(void)r;
}

/* What the tables hold (rv_st_counts also counts objects awaiting call_rcu). */
static void counts(uint32_t *rooms, uint32_t *sessions)
{
	*rooms = rv_st_room_foreach(count_room, NULL);
	*sessions = rv_st_session_foreach(count_session, NULL);
}

static void expect_counts(uint32_t rooms, uint32_t sessions)
{
	uint32_t r, s;
	counts(&r, &s);
	assert_int_equal(r, rooms);
	assert_int_equal(s, sessions);
	expect_paged(sessions);
}

/* ---- framing ---- */

static void test_reader_byte_at_a_time(void **state)
{
	(void)state;
	uint8_t wire[4 + 5 + 4 + 1] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 1, 'x'};
	struct rv_agent_reader r;
	char err[128];
	int msgs = 0;
	rv_agent_reader_init(&r);
	for (size_t i = 0; i < sizeof(wire); i++) {
		size_t used;
		enum rv_agent_feed f =
		    rv_agent_reader_feed(&r, wire + i, 1, &used, err, sizeof(err));
		assert_int_equal(used, 1);
		assert_int_not_equal(f, RV_AGENT_FEED_ERR);
		if (f == RV_AGENT_FEED_MSG) {
			assert_memory_equal(r.body, msgs == 0 ? "hello" : "x", r.len);
			msgs++;
			rv_agent_reader_reset(&r);
		}
	}
	assert_int_equal(msgs, 2);
}

static void test_reader_stops_after_one_message(void **state)
{
	(void)state;
	uint8_t wire[] = {0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'};
	struct rv_agent_reader r;
	char err[128];
	size_t used;
	rv_agent_reader_init(&r);
	assert_int_equal(rv_agent_reader_feed(&r, wire, sizeof(wire), &used, err, sizeof(err)),
			 RV_AGENT_FEED_MSG);
	assert_int_equal(used, 6);
	rv_agent_reader_reset(&r);
	assert_int_equal(
	    rv_agent_reader_feed(&r, wire + used, sizeof(wire) - used, &used, err, sizeof(err)),
	    RV_AGENT_FEED_MSG);
	assert_memory_equal(r.body, "c", 1);
	rv_agent_reader_reset(&r);
}

static void test_reader_lengths(void **state)
{
	(void)state;
	uint8_t zero[4] = {0, 0, 0, 0};
	uint8_t big[4];
	struct rv_agent_reader r;
	char err[128];
	size_t used;
	rv_put_be32(big, RV_AGENT_MSG_MAX + 1);
	rv_agent_reader_init(&r);
	/* an empty message (every field at its default) is a message */
	assert_int_equal(rv_agent_reader_feed(&r, zero, 4, &used, err, sizeof(err)),
			 RV_AGENT_FEED_MSG);
	assert_int_equal(r.len, 0);
	rv_agent_reader_reset(&r);
	assert_int_equal(rv_agent_reader_feed(&r, big, 4, &used, err, sizeof(err)),
			 RV_AGENT_FEED_ERR);
	assert_non_null(strstr(err, "refused (the limit is"));
	rv_agent_reader_reset(&r);
	rv_put_be32(big, RV_AGENT_MSG_MAX); /* the largest allowed length is fine */
	assert_int_equal(rv_agent_reader_feed(&r, big, 4, &used, err, sizeof(err)),
			 RV_AGENT_FEED_MORE);
	/* and a header alone costs little: the body grows as bytes arrive */
	assert_true(r.cap <= 4096);
	assert_int_equal(rv_agent_reader_feed(&r, key_bytes, 100, &used, err, sizeof(err)),
			 RV_AGENT_FEED_MORE);
	assert_true(r.cap <= 4096 && r.have == 100);
	rv_agent_reader_reset(&r);
	/* a reader's own limit, kept across messages */
	r.max = 1000;
	rv_put_be32(big, 1001);
	assert_int_equal(rv_agent_reader_feed(&r, big, 4, &used, err, sizeof(err)),
			 RV_AGENT_FEED_ERR);
	rv_agent_reader_reset(&r);
	assert_int_equal(r.max, 1000);
	rv_put_be32(big, 1000);
	assert_int_equal(rv_agent_reader_feed(&r, big, 4, &used, err, sizeof(err)),
			 RV_AGENT_FEED_MORE);
	rv_agent_reader_reset(&r);
}

/* The agent's message limit for a table of N sessions holds a Resync of N
 * sessions, each in its own dual-stack room with 16 routes and 16 routes6,
 * every field at its largest (the control
 * plane sends one Resync after a data-plane restart: 100,000 sessions). */
static void test_resync_fits_limit(void **state)
{
	(void)state;
	enum { N = 100000 };
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct sess_msg *sm = calloc(N, sizeof(*sm));
	Roomvpn__Dataplane__V1__Session **sp = calloc(N, sizeof(*sp));
	Roomvpn__Dataplane__V1__Room *rooms = calloc(N, sizeof(*rooms));
	Roomvpn__Dataplane__V1__Room **rp = calloc(N, sizeof(*rp));
	Roomvpn__Dataplane__V1__Endpoint *outer = calloc(N, sizeof(*outer));
	Roomvpn__Dataplane__V1__Route routes[16], *routep[16];
	Roomvpn__Dataplane__V1__Route6 routes6[16], *route6p[16];
	static uint8_t ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const ProtobufCBinaryData a6 = {16, ff};
	assert_true(sm && sp && rooms && rp && outer);
	for (int i = 0; i < 16; i++) {
		roomvpn__dataplane__v1__route6__init(&routes6[i]);
		routes6[i].target = routes6[i].via = a6;
		routes6[i].prefix_len = 128;
		route6p[i] = &routes6[i];
	}
	for (int i = 0; i < 16; i++) {
		roomvpn__dataplane__v1__route__init(&routes[i]);
		routes[i].target = 0xFFFFFF00u;
		routes[i].prefix_len = 32;
		routes[i].via = 0xFFFFFFF0u;
		routep[i] = &routes[i];
	}
	for (uint32_t i = 0; i < N; i++) {
		sess_init(&sm[i], 0xFFFFF0u - i, 0xFFFFFFF0u - i, 0xFFFFFFF0u - i);
		sm[i].s.cipher = "CHACHA20-POLY1305";
		sm[i].k.key_id = 7;
		sm[i].k.direction =
		    ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_BIDIRECTIONAL;
		roomvpn__dataplane__v1__endpoint__init(&outer[i]);
		outer[i].addr = 0xFFFFFFF0u;
		outer[i].port = 65535;
		sm[i].s.outer = &outer[i];
		sm[i].s.vip6 = a6;
		sp[i] = &sm[i].s;
		roomvpn__dataplane__v1__room__init(&rooms[i]);
		rooms[i].room_id = 0xFFFFFFF0u - i;
		rooms[i].subnet = 0xFFFFFF00u;
		rooms[i].prefix_len = 30;
		rooms[i].n_routes = 16; /* the most a room has */
		rooms[i].routes = routep;
		rooms[i].prefix6 = a6;
		rooms[i].prefix6_len = 120;
		rooms[i].n_routes6 = 16;
		rooms[i].routes6 = route6p;
		rp[i] = &rooms[i];
	}
	rs.n_sessions = rs.n_rooms = N;
	rs.sessions = sp;
	rs.rooms = rp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	req.request_id = 0xFFFFFFFFu;
	size_t n = protobuf_c_message_get_packed_size(&req.base);
	printf("a %d-session resync packs in %zu bytes; the limit is %u\n", N, n,
	       rv_agent_msg_max(N));
	assert_true(n <= rv_agent_msg_max(N));
	free(sm), free(sp), free(rooms), free(rp), free(outer);
}

/* ---- validation ---- */

static void test_vip_in_room(void **state)
{
	(void)state;
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	room.subnet = IP(10, 77, 0, 0);
	room.prefix_len = 24;
	assert_true(rv_agent_vip_in_room(&room, IP(10, 77, 0, 1)));
	assert_true(rv_agent_vip_in_room(&room, IP(10, 77, 0, 254)));
	assert_false(rv_agent_vip_in_room(&room, IP(10, 77, 0, 0)));
	assert_false(rv_agent_vip_in_room(&room, IP(10, 77, 0, 255)));
	assert_false(rv_agent_vip_in_room(&room, IP(10, 77, 1, 1)));
}

static void test_check_session_fields(void **state)
{
	(void)state;
	struct sess_msg m;
	char err[256];
	uint8_t short_key[255] = {0};
	sess_init(&m, 1, 1, IP(10, 0, 0, 2));
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(OK));
	m.s.cipher = "ROT13";
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
	assert_non_null(strstr(err, "unknown cipher"));
	m.s.cipher = "static";
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
	sess_init(&m, 1, 1, IP(10, 0, 0, 2));
	m.k.material.data = short_key;
	m.k.material.len = sizeof(short_key);
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
	assert_non_null(strstr(err, "255 bytes"));
	sess_init(&m, 0xFFFFFF, 1, IP(10, 0, 0, 2));
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
	sess_init(&m, 1, 1, IP(10, 0, 0, 2));
	m.k.key_id = 8;
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
	sess_init(&m, 1, 1, IP(10, 0, 0, 2));
	m.s.key = NULL;
	assert_int_equal(rv_agent_check_session(&m.s, err, sizeof(err)), ST(INVALID_ARGUMENT));
}

/* ---- request handling on the real tables ---- */

static int tables_setup(void **state)
{
	(void)state;
	struct rv_st_params p = {.max_sessions = 1024, .n_workers = 1};
	char err[256];
	if (rv_st_init(&p, err, sizeof(err)) < 0 || rv_st_writer_register() < 0)
		return -1;
	return 0;
}

/* Old table sets are freed by a reaper thread after a grace period: let it
 * finish before rv_st_fini, so that ASan sees no leak at exit. */
static void wait_pending_frees(void)
{
	struct rv_st_counts c;
	for (int i = 0; i < 500; i++) {
		rv_st_counts(&c);
		if (c.pending_frees == 0)
			return;
		usleep(10000);
	}
	print_message("pending frees still %llu\n", (unsigned long long)c.pending_frees);
}

static int tables_teardown(void **state)
{
	(void)state;
	rv_st_writer_unregister();
	wait_pending_frees();
	rv_st_fini();
	return 0;
}

static void test_rooms_and_sessions(void **state)
{
	(void)state;
	struct rv_st_session_info info;
	assert_int_equal(upsert_room(1, IP(10, 1, 0, 0), 24), ST(OK));
	assert_int_equal(upsert_room(2, IP(10, 2, 0, 0), 24), ST(OK));
	assert_int_equal(add_session(100, 1, IP(10, 1, 0, 2)), ST(OK));
	assert_int_equal(add_session(101, 1, IP(10, 1, 0, 3)), ST(OK));
	assert_int_equal(add_session(200, 2, IP(10, 2, 0, 2)), ST(OK));
	expect_counts(2, 3);
	assert_int_equal(rv_st_session_get(101, &info), 0);
	assert_int_equal(info.room_id, 1);
	assert_int_equal(info.vip, IP(10, 1, 0, 3));
	assert_int_equal(info.cipher, RV_CIPHER_AES_256_GCM);
	assert_int_equal(delete_session(101), ST(OK));
	assert_int_equal(delete_session(101), ST(NOT_FOUND));
	expect_counts(2, 2);
	assert_int_equal(delete_room(2), ST(OK)); /* takes session 200 with it */
	assert_int_equal(delete_room(2), ST(NOT_FOUND));
	expect_counts(1, 1);
	assert_int_equal(delete_room(1), ST(OK));
	expect_counts(0, 0);
}

static void test_bad_requests_change_nothing(void **state)
{
	(void)state;
	struct sess_msg m;
	uint8_t garbage[64];
	uint8_t *out;
	size_t outlen;
	assert_int_equal(upsert_room(1, IP(10, 1, 0, 0), 24), ST(OK));
	assert_int_equal(add_session(100, 1, IP(10, 1, 0, 2)), ST(OK));
	/* unknown room, vip outside the room, vip taken, bad key, bad room */
	assert_int_equal(add_session(101, 9, IP(10, 1, 0, 3)), ST(NOT_FOUND));
	assert_int_not_equal(add_session(101, 1, IP(10, 9, 0, 3)), ST(OK));
	assert_int_not_equal(add_session(101, 1, IP(10, 1, 0, 2)), ST(OK));
	sess_init(&m, 101, 1, IP(10, 1, 0, 3));
	m.k.material.len = 128;
	assert_int_equal(upsert_session(&m), ST(INVALID_ARGUMENT));
	assert_int_equal(upsert_room(3, IP(10, 3, 0, 1), 24), ST(INVALID_ARGUMENT));
	assert_int_equal(upsert_room(3, IP(10, 3, 0, 0), 31), ST(INVALID_ARGUMENT));
	/* garbage and an empty request */
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(0xff - i * 7);
	assert_int_equal(rv_agent_process(garbage, sizeof(garbage), &out, &outlen), 0);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, outlen - 4, out + 4);
	free(out);
	assert_non_null(r);
	assert_int_equal(r->status, ST(MALFORMED));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	pb_request empty = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	assert_int_equal(status_of(&empty), ST(MALFORMED));
	expect_counts(1, 1);
	assert_int_equal(delete_room(1), ST(OK));
}

static int resync(struct sess_msg *sessions, size_t ns, Roomvpn__Dataplane__V1__Room *rooms,
		  size_t nr)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__Room *rp[8];
	Roomvpn__Dataplane__V1__Session *sp[8];
	for (size_t i = 0; i < nr; i++)
		rp[i] = &rooms[i];
	for (size_t i = 0; i < ns; i++)
		sp[i] = &sessions[i].s;
	rs.n_rooms = nr;
	rs.rooms = rp;
	rs.n_sessions = ns;
	rs.sessions = sp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	return status_of(&req);
}

/* A dual-stack room through the agent: malformed IPv6 fields are
 * INVALID_ARGUMENT with a message naming the field; a vip6 outside the
 * room's prefix6 is the table's FAILED_PRECONDITION; ReadStats reports
 * vip6, prefix6 and routes6; a Resync with one vip6 twice is refused. */
static void test_ipv6_fields(void **state)
{
	(void)state;
	static uint8_t p6[16] = {0xfd, 0, 0, 0x77}, host[16] = {0xfd, 0, 0, 0x77, [15] = 5},
		       lan[16] = {0x20, 0x01, 0x0d, 0xb8}, far[16] = {0xfd, 0, 0, 0x78, [15] = 5};
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__UpsertRoom up = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	Roomvpn__Dataplane__V1__Route6 r6 = ROOMVPN__DATAPLANE__V1__ROUTE6__INIT, *r6p = &r6;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	char err[256];
	room.room_id = 6;
	room.subnet = IP(10, 6, 0, 0);
	room.prefix_len = 24;
	room.n_routes6 = 1;
	room.routes6 = &r6p;
	r6.target = (ProtobufCBinaryData){16, lan};
	r6.prefix_len = 32;
	up.room = &room;
	req.body_case = REQ(UPSERT_ROOM);
	req.upsert_room = &up;
	struct {
		size_t len;
		uint8_t *prefix;
		uint32_t plen;
		uint8_t *via;
		const char *why;
	} bad[] = {{15, p6, 64, host, "must be 16"},
		   {16, p6, 40, host, "out of range 48..120"},
		   {16, host, 120, host, "host bits"},
		   {16, p6, 64, far, "via is not a host of prefix6"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		room.prefix6 = (ProtobufCBinaryData){bad[i].len, bad[i].prefix};
		room.prefix6_len = bad[i].plen;
		r6.via = (ProtobufCBinaryData){16, bad[i].via};
		assert_int_equal(rv_agent_check_request(&req, err, sizeof(err)),
				 ST(INVALID_ARGUMENT));
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
		assert_int_equal(status_of(&req), ST(INVALID_ARGUMENT));
	}
	room.prefix6 = (ProtobufCBinaryData){16, p6};
	room.prefix6_len = 64;
	r6.via = (ProtobufCBinaryData){16, host};
	assert_int_equal(status_of(&req), ST(OK));

	struct sess_msg m;
	sess_init(&m, 60, 6, IP(10, 6, 0, 2));
	m.s.vip6 = (ProtobufCBinaryData){15, host};
	assert_int_equal(upsert_session(&m), ST(INVALID_ARGUMENT));
	m.s.vip6 = (ProtobufCBinaryData){16, far};
	assert_int_equal(upsert_session(&m), ST(FAILED_PRECONDITION));
	m.s.vip6 = (ProtobufCBinaryData){16, host};
	assert_int_equal(upsert_session(&m), ST(OK));

	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request sreq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	rs.sessions = true;
	sreq.body_case = REQ(READ_STATS);
	sreq.read_stats = &rs;
	pb_response *r = process(&sreq);
	assert_non_null(r->stats);
	bool seen_s = false, seen_r = false;
	for (size_t i = 0; i < r->stats->n_session; i++)
		if (r->stats->session[i]->peer_id == 60) {
			assert_int_equal(r->stats->session[i]->vip6.len, 16);
			assert_memory_equal(r->stats->session[i]->vip6.data, host, 16);
			seen_s = true;
		}
	for (size_t i = 0; i < r->stats->n_room; i++) {
		const Roomvpn__Dataplane__V1__Room *x = r->stats->room[i]->room;
		if (x && x->room_id == 6) {
			assert_int_equal(x->prefix6.len, 16);
			assert_memory_equal(x->prefix6.data, p6, 16);
			assert_int_equal(x->prefix6_len, 64);
			assert_int_equal(x->n_routes6, 1);
			assert_memory_equal(x->routes6[0]->via.data, host, 16);
			seen_r = true;
		}
	}
	assert_true(seen_s && seen_r);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);

	/* a resync with one vip6 twice in a room */
	struct sess_msg two[2];
	sess_init(&two[0], 61, 6, IP(10, 6, 0, 3));
	sess_init(&two[1], 62, 6, IP(10, 6, 0, 4));
	two[0].s.vip6 = two[1].s.vip6 = (ProtobufCBinaryData){16, host};
	assert_int_equal(resync(two, 2, &room, 1), ST(INVALID_ARGUMENT));
	Roomvpn__Dataplane__V1__DeleteRoom del = ROOMVPN__DATAPLANE__V1__DELETE_ROOM__INIT;
	del.room_id = 6;
	req.body_case = REQ(DELETE_ROOM);
	req.delete_room = &del;
	assert_int_equal(status_of(&req), ST(OK));
}

static void test_resync_replaces_everything(void **state)
{
	(void)state;
	Roomvpn__Dataplane__V1__Room rooms[2];
	struct sess_msg s[3];
	struct rv_st_session_info info;
	assert_int_equal(upsert_room(1, IP(10, 1, 0, 0), 24), ST(OK));
	assert_int_equal(add_session(100, 1, IP(10, 1, 0, 2)), ST(OK));
	for (int i = 0; i < 2; i++) {
		roomvpn__dataplane__v1__room__init(&rooms[i]);
		rooms[i].room_id = 5 + i;
		rooms[i].subnet = IP(10, 5 + i, 0, 0);
		rooms[i].prefix_len = 16;
	}
	sess_init(&s[0], 500, 5, IP(10, 5, 0, 2));
	sess_init(&s[1], 501, 5, IP(10, 5, 0, 3));
	sess_init(&s[2], 600, 6, IP(10, 6, 1, 2));
	/* invalid resyncs first: each must leave the old tables */
	s[1].s.room_id = 7; /* room not in the resync */
	assert_int_equal(resync(s, 3, rooms, 2), ST(NOT_FOUND));
	s[1].s.room_id = 5;
	s[1].s.vip = IP(10, 5, 0, 2); /* same vip twice */
	assert_int_equal(resync(s, 3, rooms, 2), ST(INVALID_ARGUMENT));
	s[1].s.vip = IP(10, 5, 0, 3);
	s[2].s.peer_id = 500; /* same peer twice */
	assert_int_equal(resync(s, 3, rooms, 2), ST(INVALID_ARGUMENT));
	s[2].s.peer_id = 600;
	s[2].k.material.len = 0;
	assert_int_equal(resync(s, 3, rooms, 2), ST(INVALID_ARGUMENT));
	s[2].k.material.len = 256;
	expect_counts(1, 1);
	assert_int_equal(rv_st_session_get(100, &info), 0);
	/* the good one */
	assert_int_equal(resync(s, 3, rooms, 2), ST(OK));
	expect_counts(2, 3);
	assert_int_equal(rv_st_session_get(100, &info), -1);
	assert_int_equal(rv_st_session_get(600, &info), 0);
	assert_int_equal(info.room_id, 6);
	/* an empty resync clears everything */
	assert_int_equal(resync(s, 0, rooms, 0), ST(OK));
	expect_counts(0, 0);
}

static void test_keys_and_stats(void **state)
{
	(void)state;
	Roomvpn__Dataplane__V1__InstallKey ik = ROOMVPN__DATAPLANE__V1__INSTALL_KEY__INIT;
	Roomvpn__Dataplane__V1__RetireKey rk = ROOMVPN__DATAPLANE__V1__RETIRE_KEY__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	Roomvpn__Dataplane__V1__Key k = ROOMVPN__DATAPLANE__V1__KEY__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct rv_st_session_info info;
	assert_int_equal(upsert_room(1, IP(10, 1, 0, 0), 24), ST(OK));
	assert_int_equal(add_session(100, 1, IP(10, 1, 0, 2)), ST(OK));
	k.key_id = 1;
	k.material.data = key_bytes;
	k.material.len = 256;
	ik.peer_id = 100;
	ik.key = &k;
	req.body_case = REQ(INSTALL_KEY);
	req.install_key = &ik;
	assert_int_equal(status_of(&req), ST(OK));
	assert_int_equal(rv_st_session_get(100, &info), 0);
	assert_int_equal(info.tx_key_id, 1);
	assert_int_equal(info.n_keys, 2);
	ik.peer_id = 999;
	assert_int_equal(status_of(&req), ST(NOT_FOUND));
	rk.peer_id = 100;
	rk.key_id = 0;
	req.body_case = REQ(RETIRE_KEY);
	req.retire_key = &rk;
	assert_int_equal(status_of(&req), ST(OK));
	assert_int_equal(rv_st_session_get(100, &info), 0);
	assert_int_equal(info.n_keys, 1);
	rk.key_id = 1; /* the only (sealing) key: refused */
	assert_int_not_equal(status_of(&req), ST(OK));
	/* stats: rooms, sessions, one entry per drop reason */
	rs.sessions = true;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	pb_response *r = process(&req);
	assert_int_equal(r->status, ST(OK));
	assert_non_null(r->stats);
	assert_int_equal(r->stats->sessions, 1);
	assert_int_equal(r->stats->n_session, 1);
	assert_int_equal(r->stats->session[0]->peer_id, 100);
	assert_string_equal(r->stats->session[0]->cipher, "AES-256-GCM");
	assert_int_equal(r->stats->n_room, 1);
	assert_int_equal(r->stats->room[0]->members, 1);
	assert_int_equal(r->stats->n_drop, RV_DROP__COUNT - 1);
	assert_string_equal(r->stats->drop[RV_DROP_REPLAY - 1]->reason,
			    rv_drop_name(RV_DROP_REPLAY));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	assert_int_equal(delete_room(1), ST(OK));
}

/* Endpoint.addr6: an IPv6 outer address is taken by UpsertSession and
 * reported by ReadStats (transport UDP, addr 0); a wrong length, or addr6
 * beside addr, is refused. */
static void test_outer_ipv6(void **state)
{
	(void)state;
	static uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x11};
	Roomvpn__Dataplane__V1__Endpoint ep = ROOMVPN__DATAPLANE__V1__ENDPOINT__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct rv_st_session_info info;
	struct sess_msg m;
	assert_int_equal(upsert_room(1, IP(10, 1, 0, 0), 24), ST(OK));
	sess_init(&m, 100, 1, IP(10, 1, 0, 2));
	ep.addr6 = (ProtobufCBinaryData){.len = 15, .data = a6};
	ep.port = 5000;
	m.s.outer = &ep;
	assert_int_equal(upsert_session(&m), ST(INVALID_ARGUMENT)); /* 15 bytes */
	ep.addr6.len = 16;
	ep.addr = IP(10, 9, 9, 9);
	assert_int_equal(upsert_session(&m), ST(INVALID_ARGUMENT)); /* both families */
	ep.addr = 0;
	assert_int_equal(upsert_session(&m), ST(OK));
	assert_int_equal(rv_st_session_get(100, &info), 0);
	assert_int_equal(info.addr.kind, RV_ADDR_UDP6);
	assert_int_equal(info.addr.port, 5000);
	assert_memory_equal(info.addr.ip6, a6, 16);
	rs.sessions = true;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	pb_response *r = process(&req);
	assert_int_equal(r->status, ST(OK));
	assert_int_equal(r->stats->n_session, 1);
	const Roomvpn__Dataplane__V1__SessionStats *st = r->stats->session[0];
	assert_int_equal(st->transport, ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP);
	assert_non_null(st->outer);
	assert_int_equal(st->outer->addr, 0);
	assert_int_equal(st->outer->port, 5000);
	assert_int_equal(st->outer->addr6.len, 16);
	assert_memory_equal(st->outer->addr6.data, a6, 16);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* back to IPv4 (a member moving families): no IPv6 half left over */
	ep.addr6.len = 0;
	ep.addr = IP(192, 0, 2, 7);
	assert_int_equal(upsert_session(&m), ST(OK));
	assert_int_equal(rv_st_session_get(100, &info), 0);
	assert_int_equal(info.addr.kind, RV_ADDR_UDP);
	assert_int_equal(info.addr.ip, IP(192, 0, 2, 7));
	assert_int_equal(delete_room(1), ST(OK));
}

/* Mutated and truncated requests (deterministic): every one gets a
 * decodable reply, nothing crashes, and a refused one changes nothing. */
static uint32_t lcg(uint32_t *st)
{
	*st = *st * 1103515245u + 12345u;
	return *st >> 8;
}

static void test_mutated_requests(void **state)
{
	(void)state;
	Roomvpn__Dataplane__V1__Room rooms[2];
	struct sess_msg sm[3];
	Roomvpn__Dataplane__V1__Room *rp[2] = {&rooms[0], &rooms[1]};
	Roomvpn__Dataplane__V1__Session *sp[3] = {&sm[0].s, &sm[1].s, &sm[2].s};
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	uint32_t seed = 12345, r0, s0, r1, s1;
	int refused = 0;
	for (int i = 0; i < 2; i++) {
		roomvpn__dataplane__v1__room__init(&rooms[i]);
		rooms[i].room_id = 1 + i;
		rooms[i].subnet = IP(10, 1 + i, 0, 0);
		rooms[i].prefix_len = 24;
	}
	for (int i = 0; i < 3; i++)
		sess_init(&sm[i], 10 + i, 1 + i % 2, IP(10, 1 + i % 2, 0, 2 + i));
	rs.n_rooms = 2;
	rs.rooms = rp;
	rs.n_sessions = 3;
	rs.sessions = sp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	size_t n = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *good = malloc(n), *bad = malloc(n);
	protobuf_c_message_pack(&req.base, good);
	for (int iter = 0; iter < 3000; iter++) {
		memcpy(bad, good, n);
		size_t len = n;
		if (iter % 4 == 0)
			len = lcg(&seed) % n; /* truncated */
		for (uint32_t k = 0, flips = 1 + lcg(&seed) % 4; k < flips && len; k++)
			bad[lcg(&seed) % len] ^= (uint8_t)(1u << (lcg(&seed) % 8));
		counts(&r0, &s0);
		uint8_t *out;
		size_t outlen;
		assert_int_equal(rv_agent_process(bad, len, &out, &outlen), 0);
		pb_response *r =
		    roomvpn__dataplane__v1__response__unpack(NULL, outlen - 4, out + 4);
		free(out);
		assert_non_null(r);
		counts(&r1, &s1);
		if (r->status != ST(OK)) {
			refused++;
			assert_int_equal(r0, r1);
			assert_int_equal(s0, s1);
		}
		roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	}
	print_message("mutated requests: %d of 3000 refused\n", refused);
	assert_true(refused > 0);
	free(good);
	free(bad);
	assert_int_equal(resync(sm, 0, rooms, 0), ST(OK));
}

/* ---- session files ---- */

static void test_session_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/rv-agent-unit-XXXXXX", path[256], kbuf[2048], err[512];
	struct rv_key_material km;
	struct rv_session_file f;
	assert_non_null(mkdtemp(dir));
	memcpy(&km, key_bytes, sizeof(km));
	int n = rv_static_key_format(&km, kbuf, sizeof(kbuf));
	assert_true(n > 0);
	snprintf(path, sizeof(path), "%s/k.key", dir);
	FILE *fp = fopen(path, "w");
	fwrite(kbuf, 1, (size_t)n, fp);
	fclose(fp);
	const char *good = "# test\n"
			   "room 7 10.7.0.0/16\n"
			   "\n"
			   "session 70 7 10.7.0.2 AES-256-GCM k.key\n"
			   "session 71 7 10.7.0.3 CHACHA20-POLY1305 k.key key-id=3 "
			   "key-direction=none outer=127.0.0.1:5000 # trailing comment\n";
	assert_int_equal(rv_session_file_parse(good, "t", dir, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n_rooms, 1);
	assert_int_equal(f.rooms[0].subnet, IP(10, 7, 0, 0));
	assert_int_equal(f.n_sessions, 2);
	assert_int_equal(f.sessions[0].key_direction, 1);
	assert_memory_equal(&f.sessions[0].key, key_bytes, 256);
	assert_int_equal(f.sessions[1].key_id, 3);
	assert_int_equal(f.sessions[1].key_direction, RV_KEY_DIRECTION_NONE);
	assert_int_equal(f.sessions[1].addr.kind, RV_ADDR_UDP);
	assert_int_equal(f.sessions[1].addr.port, 5000);
	rv_session_file_free(&f);
	const char *bad[] = {
	    "room 1 10.0.0.0/24\nroom x 10.1.0.0/24\n",		 "room 1 10.0.0.1/24\n",
	    "session 1 1 10.0.0.2 AES-256-GCM missing.key\n",	 "session 1 1 10.0.0.2 FOO k.key\n",
	    "session 1 1 10.0.0.2 AES-256-GCM k.key key-id=9\n", "sesion 1\n",
	};
	const char *where[] = {"t:2:", "t:1:", "t:1:", "t:1:", "t:1:", "t:1:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rv_session_file_parse(bad[i], "t", dir, &f, err, sizeof(err)), -1);
		assert_non_null(strstr(err, where[i]));
		assert_null(f.sessions);
	}
	unlink(path);
	rmdir(dir);
}

/* ---- the socket server ---- */

static char sock_path[108];
/* The server's table limit: test_half_close_gets_whole_reply fills it. */
#define SERVER_MAX_SESSIONS 20000

static int server_setup(void **state)
{
	(void)state;
	struct rv_st_params p = {.max_sessions = SERVER_MAX_SESSIONS, .n_workers = 1};
	/* Room for clients the agent has not yet seen close. */
	struct rv_agent_params ap = {.socket_path = sock_path,
				     .max_clients = 8,
				     .max_sessions = p.max_sessions,
				     .msg_timeout_ms = 300}; /* test_socket_partial_times_out */
	char err[256];
	snprintf(sock_path, sizeof(sock_path), "/tmp/rv-agent-unit-%d.sock", getpid());
	if (rv_st_init(&p, err, sizeof(err)) < 0)
		return -1;
	if (rv_agent_start(&ap, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int server_teardown(void **state)
{
	(void)state;
	rv_agent_stop();
	wait_pending_frees();
	rv_st_fini();
	return 0;
}

static int dial(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static pb_response *roundtrip(int fd, pb_request *req)
{
	uint8_t *buf, *body;
	size_t len;
	uint32_t blen;
	char err[128];
	assert_int_equal(rv_agent_pack(&req->base, &buf, &len), 0);
	assert_int_equal(rv_agent_write_all(fd, buf, len, err, sizeof(err)), 0);
	free(buf);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), 0);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	assert_non_null(r);
	return r;
}

static void test_socket_mode_and_clients(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* two clients at once; answers carry the request id */
	int a = dial(), b = dial();
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	req.request_id = 42;
	pb_response *r = roundtrip(b, &req);
	assert_int_equal(r->request_id, 42);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	req.request_id = 43;
	r = roundtrip(a, &req);
	assert_int_equal(r->request_id, 43);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(a);
	close(b);
}

static void test_socket_bad_streams(void **state)
{
	(void)state;
	uint8_t *body;
	uint32_t blen;
	char err[128];
	/* garbage inside a good frame: an error reply, the connection stays */
	int fd = dial();
	uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	assert_int_equal(rv_agent_write_all(fd, junk, sizeof(junk), err, sizeof(err)), 0);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), 0);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	assert_non_null(r);
	assert_int_equal(r->status, ST(MALFORMED));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* an empty frame: an empty Request, which has no body */
	uint8_t empty[4] = {0, 0, 0, 0};
	assert_int_equal(rv_agent_write_all(fd, empty, 4, err, sizeof(err)), 0);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), 0);
	r = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	assert_non_null(r);
	assert_int_equal(r->status, ST(MALFORMED));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* oversize length: the agent closes the connection */
	uint8_t big[4];
	rv_put_be32(big, 0x7fffffff);
	assert_int_equal(rv_agent_write_all(fd, big, 4, err, sizeof(err)), 0);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), -1);
	close(fd);
	/* a truncated message then EOF: nothing applied, agent still serves */
	fd = dial();
	uint8_t part[] = {0, 0, 0, 100, 8, 1};
	assert_int_equal(rv_agent_write_all(fd, part, sizeof(part), err, sizeof(err)), 0);
	close(fd);
	fd = dial();
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	r = roundtrip(fd, &req);
	assert_int_equal(r->status, ST(OK));
	assert_int_equal(r->stats->sessions, 0);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(fd);
}

/* A length over the agent's limit (sized to max-sessions) closes the
 * connection at once; nothing is read or allocated for it. */
static void test_socket_message_limit(void **state)
{
	(void)state;
	uint8_t *body;
	uint32_t blen;
	char err[128];
	uint8_t hdr[4];
	int fd = dial();
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint32_t over = rv_agent_msg_max(SERVER_MAX_SESSIONS) + 1;
	assert_true(over < 60u << 20);
	rv_put_be32(hdr, over);
	assert_int_equal(rv_agent_write_all(fd, hdr, 4, err, sizeof(err)), 0);
	/* The whole body too: without the limit the agent would read it and
	 * answer (MALFORMED); with it the connection is gone (the write may
	 * fail part way). */
	uint8_t *zeros = calloc(1, over);
	assert_non_null(zeros);
	rv_agent_write_all(fd, zeros, over, err, sizeof(err));
	free(zeros);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), -1);
	assert_null(strstr(err, "temporarily unavailable")); /* closed, not a timeout */
	close(fd);
}

/* A message that is started and never finished is dropped with its
 * connection after the message timeout (300 ms here). */
static void test_socket_partial_times_out(void **state)
{
	(void)state;
	uint8_t *body;
	uint32_t blen;
	char err[128];
	uint8_t part[4 + 1000];
	int fd = dial();
	struct timeval tv = {.tv_sec = 10}; /* far above the timeout */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rv_put_be32(part, 1000000);
	memset(part + 4, 0, 1000);
	assert_int_equal(rv_agent_write_all(fd, part, sizeof(part), err, sizeof(err)), 0);
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), -1);
	assert_string_equal(err, "connection closed by the agent");
	close(fd);
}

static pb_response *resync_over(int fd, struct sess_msg *sm, Roomvpn__Dataplane__V1__Session **sp,
				size_t n, Roomvpn__Dataplane__V1__Room *room)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	for (size_t i = 0; i < n; i++) {
		sess_init(&sm[i], (uint32_t)i + 1, 1, IP(10, 1, 0, 0) + (uint32_t)i + 2);
		sp[i] = &sm[i].s;
	}
	rs.n_rooms = 1;
	rs.rooms = &room;
	rs.n_sessions = n;
	rs.sessions = sp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	return roundtrip(fd, &req);
}

/* A resync larger than max-sessions, or a new session when the table is
 * full, is refused with a message naming the limit. */
static void test_socket_max_sessions(void **state)
{
	(void)state;
	enum { MAX = SERVER_MAX_SESSIONS };
	struct sess_msg *sm = calloc(MAX + 1, sizeof(*sm));
	Roomvpn__Dataplane__V1__Session **sp = calloc(MAX + 1, sizeof(*sp));
	Roomvpn__Dataplane__V1__Room room;
	roomvpn__dataplane__v1__room__init(&room);
	room.room_id = 1;
	room.subnet = IP(10, 1, 0, 0);
	room.prefix_len = 16;
	int fd = dial();
	pb_response *r = resync_over(fd, sm, sp, MAX + 1, &room);
	assert_int_equal(r->status, ST(RESOURCE_EXHAUSTED));
	assert_non_null(strstr(r->message, "max-sessions is 20000"));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* exactly the limit is fine */
	r = resync_over(fd, sm, sp, MAX, &room);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* full: a new session is refused, an existing one may be replaced */
	Roomvpn__Dataplane__V1__UpsertSession us = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	sess_init(&sm[MAX], 50000, 1, IP(10, 1, 255, 1));
	us.session = &sm[MAX].s;
	req.body_case = REQ(UPSERT_SESSION);
	req.upsert_session = &us;
	r = roundtrip(fd, &req);
	assert_int_equal(r->status, ST(RESOURCE_EXHAUSTED));
	assert_non_null(strstr(r->message, "max-sessions (20000)"));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	us.session = &sm[0].s;
	r = roundtrip(fd, &req);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	/* leave the tables empty */
	r = resync_over(fd, sm, sp, 0, &room);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(fd);
	free(sm);
	free(sp);
}

/* A client that shuts down its sending side right after a request still gets
 * the whole reply, even one much larger than the socket buffer. */
static void test_half_close_gets_whole_reply(void **state)
{
	(void)state;
	enum { N = SERVER_MAX_SESSIONS };
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__Room *rp = &room;
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct sess_msg *sm = calloc(N, sizeof(*sm));
	Roomvpn__Dataplane__V1__Session **sp = calloc(N, sizeof(*sp));
	room.room_id = 1;
	room.subnet = IP(10, 0, 0, 0);
	room.prefix_len = 8;
	for (uint32_t i = 0; i < N; i++) {
		sess_init(&sm[i], i + 1, 1, IP(10, 0, 0, 0) + 2 + i);
		sp[i] = &sm[i].s;
	}
	rs.n_rooms = 1;
	rs.rooms = &rp;
	rs.n_sessions = N;
	rs.sessions = sp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	int fd = dial();
	pb_response *r = roundtrip(fd, &req);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(fd);
	/* ReadStats with every session, then half-close at once */
	Roomvpn__Dataplane__V1__ReadStats st = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	st.sessions = 1;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &st;
	uint8_t *buf, *body;
	size_t len;
	uint32_t blen;
	char err[128];
	fd = dial();
	assert_int_equal(rv_agent_pack(&req.base, &buf, &len), 0);
	assert_int_equal(rv_agent_write_all(fd, buf, len, err, sizeof(err)), 0);
	free(buf);
	shutdown(fd, SHUT_WR);
	usleep(100000); /* let the agent see the EOF while the reply is pending */
	assert_int_equal(rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)), 0);
	assert_true(blen > 400000); /* well above a unix socket's buffers */
	r = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	assert_non_null(r);
	assert_int_equal(r->stats->n_session, N);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(fd);
	/* back to empty */
	rs.n_rooms = 0;
	rs.n_sessions = 0;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	fd = dial();
	r = roundtrip(fd, &req);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	close(fd);
	free(sm);
	free(sp);
}

static void test_second_agent_refused(void **state)
{
	(void)state;
	struct rv_agent_params ap = {.socket_path = sock_path};
	char err[256];
	assert_int_equal(rv_agent_start(&ap, err, sizeof(err)), -1);
	/* the running agent still serves */
	int fd = dial();
	close(fd);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(key_bytes); i++)
		key_bytes[i] = (uint8_t)(i * 13 + 7);
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_reader_byte_at_a_time),
	    cmocka_unit_test(test_reader_stops_after_one_message),
	    cmocka_unit_test(test_reader_lengths),
	    cmocka_unit_test(test_resync_fits_limit),
	    cmocka_unit_test(test_vip_in_room),
	    cmocka_unit_test(test_check_session_fields),
	    cmocka_unit_test(test_session_file),
	};
	const struct CMUnitTest tables[] = {
	    cmocka_unit_test(test_rooms_and_sessions),
	    cmocka_unit_test(test_bad_requests_change_nothing),
	    cmocka_unit_test(test_ipv6_fields),
	    cmocka_unit_test(test_resync_replaces_everything),
	    cmocka_unit_test(test_keys_and_stats),
	    cmocka_unit_test(test_outer_ipv6),
	    cmocka_unit_test(test_mutated_requests),
	};
	const struct CMUnitTest server[] = {
	    cmocka_unit_test(test_socket_mode_and_clients),
	    cmocka_unit_test(test_socket_bad_streams),
	    cmocka_unit_test(test_socket_message_limit),
	    cmocka_unit_test(test_socket_partial_times_out),
	    cmocka_unit_test(test_socket_max_sessions),
	    cmocka_unit_test(test_half_close_gets_whole_reply),
	    cmocka_unit_test(test_second_agent_refused),
	};
	int rc = cmocka_run_group_tests_name("agent offline", offline, NULL, NULL);
	rc += cmocka_run_group_tests_name("agent tables", tables, tables_setup, tables_teardown);
	rc += cmocka_run_group_tests_name("agent server", server, server_setup, server_teardown);
	return rc ? 1 : 0;
}
