/* The agent's fencing (docs/dataplane-agent.md "Fencing"), request by
 * request through rv_agent_process against the real session tables: the
 * highest fence seen wins, a lower one is refused whole and counted, and 0
 * is a table change only while no fence was ever seen. A process of its
 * own: the fence the agent keeps cannot be taken back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "agent_proto.h"
#include "session_table.h"

typedef Roomvpn__Dataplane__V1__Request pb_request;
typedef Roomvpn__Dataplane__V1__Response pb_response;
#define ST(x)	       ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x
#define REQ(x)	       ROOMVPN__DATAPLANE__V1__REQUEST__BODY_##x
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static uint8_t key_bytes[256];

/* One request through the agent; the decoded response. */
static pb_response *process(pb_request *req)
{
	size_t n = protobuf_c_message_get_packed_size(&req->base);
	uint8_t *body = malloc(n ? n : 1), *out;
	size_t outlen;
	protobuf_c_message_pack(&req->base, body);
	assert_int_equal(rv_agent_process(body, n, &out, &outlen), 0);
	free(body);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, outlen - 4, out + 4);
	free(out);
	assert_non_null(r);
	return r;
}

/* UpsertSession of peer @peer in room 1 with @fence: the status; the
 * refusal's message into @msg. */
static int upsert(uint32_t peer, uint64_t fence, char *msg, size_t len)
{
	Roomvpn__Dataplane__V1__Session s = ROOMVPN__DATAPLANE__V1__SESSION__INIT;
	Roomvpn__Dataplane__V1__Key k = ROOMVPN__DATAPLANE__V1__KEY__INIT;
	Roomvpn__Dataplane__V1__UpsertSession up = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	s.peer_id = peer;
	s.room_id = 1;
	s.vip = IP(10, 0, 0, 1 + peer);
	s.cipher = "AES-256-GCM";
	k.material = (ProtobufCBinaryData){sizeof(key_bytes), key_bytes};
	s.key = &k;
	up.session = &s;
	req.body_case = REQ(UPSERT_SESSION);
	req.upsert_session = &up;
	req.fence = fence;
	pb_response *r = process(&req);
	int st = r->status;
	snprintf(msg, len, "%s", r->message);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return st;
}

/* ReadStats with @fence: its status, and the fence and refusals it shows. */
static int read_stats(uint64_t fence, uint64_t *seen, uint64_t *refused, uint32_t *sessions)
{
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	req.fence = fence;
	pb_response *r = process(&req);
	int st = r->status;
	if (r->stats) {
		*seen = r->stats->fence;
		*refused = r->stats->fence_refused;
		*sessions = r->stats->sessions;
	}
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return st;
}

static void test_fencing(void **state)
{
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__UpsertRoom ur = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	uint64_t seen = 99, refused = 99;
	uint32_t sessions = 99;
	char msg[512];
	(void)state;

	/* no fence seen yet: 0 (one control plane, an older one) changes tables */
	room.room_id = 1;
	room.subnet = IP(10, 0, 0, 0);
	room.prefix_len = 24;
	ur.room = &room;
	req.body_case = REQ(UPSERT_ROOM);
	req.upsert_room = &ur;
	pb_response *r = process(&req);
	assert_int_equal(r->status, ST(OK));
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	assert_int_equal(upsert(1, 0, msg, sizeof(msg)), ST(OK));
	assert_int_equal(read_stats(0, &seen, &refused, &sessions), ST(OK));
	assert_true(seen == 0 && refused == 0 && sessions == 1);

	/* an owner with fence 5, then a deposed one with 3: refused, counted,
	 * nothing changed, and the message names both fences */
	assert_int_equal(upsert(2, 5, msg, sizeof(msg)), ST(OK));
	assert_int_equal(upsert(3, 3, msg, sizeof(msg)), ST(STALE_FENCE));
	print_message("  (agent: %s)\n", msg);
	assert_non_null(strstr(msg, "stale fence 3"));
	assert_non_null(strstr(msg, "seen fence 5"));
	assert_int_equal(read_stats(0, &seen, &refused, &sessions), ST(OK));
	assert_true(seen == 5 && refused == 1 && sessions == 2);

	/* 0 after a fence: a table change is refused (counted), a read is served */
	assert_int_equal(upsert(4, 0, msg, sizeof(msg)), ST(STALE_FENCE));
	print_message("  (agent: %s)\n", msg);
	assert_non_null(strstr(msg, "fence 5"));
	assert_int_equal(read_stats(0, &seen, &refused, &sessions), ST(OK));
	assert_true(seen == 5 && refused == 2 && sessions == 2);

	/* the deposed owner's reads are refused too (it learns it is deposed) */
	assert_int_equal(read_stats(3, &seen, &refused, &sessions), ST(STALE_FENCE));

	/* the same owner again, then a newer one: both accepted; the older
	 * one is now stale */
	assert_int_equal(upsert(5, 5, msg, sizeof(msg)), ST(OK));
	assert_int_equal(upsert(6, 9, msg, sizeof(msg)), ST(OK));
	assert_int_equal(upsert(7, 5, msg, sizeof(msg)), ST(STALE_FENCE));
	assert_int_equal(read_stats(9, &seen, &refused, &sessions), ST(OK));
	assert_true(seen == 9 && refused == 4 && sessions == 4);
}

static int tables_setup(void **state)
{
	(void)state;
	struct rv_st_params p = {.max_sessions = 1024, .n_workers = 1};
	char err[256];
	if (rv_st_init(&p, err, sizeof(err)) < 0 || rv_st_writer_register() < 0)
		return -1;
	memset(key_bytes, 0x5a, sizeof(key_bytes));
	return 0;
}

static int tables_teardown(void **state)
{
	struct rv_st_counts c;
	(void)state;
	rv_st_writer_unregister();
	for (int i = 0; i < 500; i++) { /* the reaper's frees, before rv_st_fini */
		rv_st_counts(&c);
		if (c.pending_frees == 0)
			break;
		usleep(10000);
	}
	rv_st_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_fencing)};
	return cmocka_run_group_tests_name("agent fencing", tests, tables_setup, tables_teardown);
}
