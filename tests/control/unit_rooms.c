/* RoomService handlers called directly (no server): the store keys they
 * leave behind (docs/store.md), address reservation and reclaim, and the
 * on_member_removed hook after Leave, Kick, room Delete and user removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "rooms.h"
#include "store.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	struct rv_control ctl;
	uint64_t removed[32][2];
	int n_removed;
};

static struct fixture *current;

static void on_removed(struct rv_control *ctl, uint64_t room, uint64_t dev)
{
	(void)ctl;
	assert_true(current->n_removed < 32);
	current->removed[current->n_removed][0] = room;
	current->removed[current->n_removed][1] = dev;
	current->n_removed++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-rooms-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rv_control_config_defaults(&f->ctl.cfg);
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	assert_int_equal(rv_rooms_init(&f->ctl, err, sizeof(err)), 0);
	assert_non_null(f->ctl.room_owner);
	f->ctl.on_member_removed = on_removed;
	current = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rv_rooms_fini(&f->ctl);
	rv_store_close(f->ctl.store);
	rv_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* A call context for user @uid on device @dev. */
static struct rv_rpc_ctx ctx_of(struct fixture *f, uint64_t uid, uint64_t dev)
{
	struct rv_rpc_ctx c;
	memset(&c, 0, sizeof(c));
	c.ctl = &f->ctl;
	c.peer = "ipv4:127.0.0.1:5000";
	c.who.authenticated = true;
	c.who.user_id = uid;
	c.who.device_id = dev;
	snprintf(c.who.username, sizeof(c.who.username), "user%" PRIu64, uid);
	return c;
}

static uint64_t create(struct fixture *f, const char *name, const char *subnet)
{
	Roomvpn__V1__CreateRoomRequest q = ROOMVPN__V1__CREATE_ROOM_REQUEST__INIT;
	struct rv_rpc_ctx c = ctx_of(f, 1, 100);
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";
	q.name = (char *)name;
	q.subnet = (char *)subnet;
	assert_int_equal(rv_rooms_create_rpc(&c, &q.base, &resp, msg, sizeof(msg)), GRPC_STATUS_OK);
	uint64_t id = ((Roomvpn__V1__Room *)resp)->id;
	assert_string_equal(c.target, name);
	protobuf_c_message_free_unpacked(resp, NULL);
	return id;
}

/* Join as device @dev; returns the status and the address in @ip. */
static grpc_status_code join(struct fixture *f, const char *room, uint64_t dev, char *ip)
{
	Roomvpn__V1__JoinRoomRequest q = ROOMVPN__V1__JOIN_ROOM_REQUEST__INIT;
	struct rv_rpc_ctx c = ctx_of(f, 2, dev);
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";
	q.room = (char *)room;
	grpc_status_code st = rv_rooms_join_rpc(&c, &q.base, &resp, msg, sizeof(msg));
	if (st == GRPC_STATUS_OK) {
		snprintf(ip, 16, "%s", ((Roomvpn__V1__JoinRoomResponse *)resp)->virtual_ip);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return st;
}

static grpc_status_code leave(struct fixture *f, const char *room, uint64_t dev)
{
	Roomvpn__V1__LeaveRoomRequest q = ROOMVPN__V1__LEAVE_ROOM_REQUEST__INIT;
	struct rv_rpc_ctx c = ctx_of(f, 2, dev);
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";
	q.room = (char *)room;
	grpc_status_code st = rv_rooms_leave_rpc(&c, &q.base, &resp, msg, sizeof(msg));
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return st;
}

static bool has_key(struct fixture *f, const char *k)
{
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(f->ctl.store, k, strlen(k), &v, &vl);
	free(v);
	return rc == 0;
}

static uint64_t count(struct fixture *f, const char *prefix)
{
	uint64_t n = 0;
	assert_int_equal(rv_store_count_prefix(f->ctl.store, prefix, strlen(prefix), &n), 0);
	return n;
}

static void test_keys_and_owner(void **state)
{
	struct fixture *f = *state;
	uint64_t id = create(f, "lab", "10.50.0.0/24");
	char k[64];
	snprintf(k, sizeof(k), "r/%016" PRIx64, id);
	assert_true(has_key(f, k));
	assert_true(has_key(f, "rn/lab"));
	assert_true(has_key(f, "rs/0a320000"));
	uint64_t owner = 0;
	assert_int_equal(f->ctl.room_owner(&f->ctl, "lab", &owner), 0);
	assert_int_equal(owner, 1);
	snprintf(k, sizeof(k), "#%" PRIu64, id);
	assert_int_equal(f->ctl.room_owner(&f->ctl, k, &owner), 0); /* by id */
	snprintf(k, sizeof(k), "%" PRIu64, id);
	assert_int_equal(f->ctl.room_owner(&f->ctl, k, &owner), 1); /* a name, not an id */
	assert_int_equal(f->ctl.room_owner(&f->ctl, "nope", &owner), 1);

	/* a room named like lab's id is that name's room; ids load apart */
	uint64_t twin = create(f, k, "10.50.1.0/24");
	Roomvpn__V1__RoomRecord *r = NULL;
	assert_int_equal(rv_rooms_load(f->ctl.store, k, &r), 0);
	assert_int_equal(r->id, twin);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	assert_int_equal(rv_rooms_load_id(f->ctl.store, id, &r), 0);
	assert_string_equal(r->name, "lab");
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	assert_int_equal(rv_rooms_load(f->ctl.store, "#0", &r), 1);
	assert_int_equal(rv_rooms_load(f->ctl.store, "#12x", &r), 1);
	assert_int_equal(rv_rooms_load_id(f->ctl.store, 0, &r), 1);

	char ip[16];
	assert_int_equal(join(f, "lab", 7, ip), GRPC_STATUS_OK);
	assert_string_equal(ip, "10.50.0.2");
	snprintf(k, sizeof(k), "m/%016" PRIx64 "/%016" PRIx64, id, (uint64_t)7);
	assert_true(has_key(f, k));
	snprintf(k, sizeof(k), "ip/%016" PRIx64 "/0a320002", id);
	assert_true(has_key(f, k));
	snprintf(k, sizeof(k), "ipd/%016" PRIx64 "/%016" PRIx64, id, (uint64_t)7);
	assert_true(has_key(f, k));
}

static void test_reserve_and_reclaim(void **state)
{
	struct fixture *f = *state;
	char ip[16];
	create(f, "tiny", "10.51.0.0/29"); /* .2 .. .6 */
	for (uint64_t dev = 1; dev <= 5; dev++)
		assert_int_equal(join(f, "tiny", dev, ip), GRPC_STATUS_OK);
	assert_int_equal(join(f, "tiny", 6, ip), GRPC_STATUS_RESOURCE_EXHAUSTED);
	/* Devices 2 and 4 leave: their addresses stay reserved... */
	assert_int_equal(leave(f, "tiny", 4), GRPC_STATUS_OK);
	assert_int_equal(leave(f, "tiny", 2), GRPC_STATUS_OK);
	assert_int_equal(leave(f, "tiny", 2), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(count(f, "m/"), 3);
	assert_int_equal(count(f, "ip/"), 5);
	/* ... and come back to the same ones. */
	assert_int_equal(join(f, "tiny", 4, ip), GRPC_STATUS_OK);
	assert_string_equal(ip, "10.51.0.5");
	/* A newcomer reclaims the lowest reservation of a non-member (dev 2's). */
	assert_int_equal(join(f, "tiny", 6, ip), GRPC_STATUS_OK);
	assert_string_equal(ip, "10.51.0.3");
	assert_int_equal(count(f, "ipd/"), 5);
	assert_int_equal(join(f, "tiny", 2, ip), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_int_equal(join(f, "tiny", 7, ip), GRPC_STATUS_RESOURCE_EXHAUSTED);
}

/* Store operations of one Join (docs/store.md): a newcomer reads the room
 * record, its membership, its address reservation and its bans in one
 * get_many (the room name's id is remembered after the first Join) and
 * writes one batch; a member's repeated Join makes the same read and
 * writes nothing; neither scans (the room's address bitmap and member count
 * are kept in memory after the first Join). Without a server there is no
 * token check to read with, nor an audit record. */
static void test_join_store_ops(void **state)
{
	struct fixture *f = *state;
	struct rv_store_ops a, b;
	char ip[16];
	create(f, "busy", "10.52.0.0/16");
	assert_int_equal(join(f, "busy", 1, ip), GRPC_STATUS_OK); /* warms the room up */
	for (uint64_t dev = 2; dev <= 50; dev++) {
		rv_store_ops(f->ctl.store, &a);
		assert_int_equal(join(f, "busy", dev, ip), GRPC_STATUS_OK);
		rv_store_ops(f->ctl.store, &b);
		assert_int_equal(b.gets - a.gets, 1);
		assert_int_equal(b.scans - a.scans, 0);
		assert_int_equal(b.writes - a.writes, 1);
	}
	rv_store_ops(f->ctl.store, &a);
	assert_int_equal(join(f, "busy", 7, ip), GRPC_STATUS_OK);
	rv_store_ops(f->ctl.store, &b);
	assert_int_equal(b.gets - a.gets, 1);
	assert_int_equal(b.scans - a.scans, 0);
	assert_int_equal(b.writes - a.writes, 0);
	/* The count kept in memory is the store's. */
	assert_int_equal(leave(f, "busy", 7), GRPC_STATUS_OK);
	assert_int_equal(count(f, "m/"), 49);
	Roomvpn__V1__GetRoomRequest q = ROOMVPN__V1__GET_ROOM_REQUEST__INIT;
	struct rv_rpc_ctx c = ctx_of(f, 1, 100);
	ProtobufCMessage *resp = NULL;
	char msg[256];
	q.room = "busy";
	assert_int_equal(rv_rooms_get_rpc(&c, &q.base, &resp, msg, sizeof(msg)), GRPC_STATUS_OK);
	assert_int_equal(((Roomvpn__V1__Room *)resp)->members, 49);
	protobuf_c_message_free_unpacked(resp, NULL);
}

struct joiner {
	struct fixture *f;
	uint64_t first, n; /* devices first .. first+n-1 */
	char ip[40][16];
	int failed;
};

static void *joiner_main(void *arg)
{
	struct joiner *j = arg;
	for (uint64_t i = 0; i < j->n; i++)
		if (join(j->f, "crowd", j->first + i, j->ip[i]) != GRPC_STATUS_OK)
			j->failed++;
	return NULL;
}

/* Joins of different devices run at once (no rooms lock): every device
 * still gets its own address, and the same device joining from several
 * threads at once gets one. */
static void test_concurrent_joins(void **state)
{
	struct fixture *f = *state;
	struct joiner j[8];
	pthread_t t[8];
	create(f, "crowd", "10.53.0.0/24");
	for (int i = 0; i < 8; i++) {
		j[i] = (struct joiner){.f = f, .first = 1000 + (uint64_t)i * 25, .n = 25};
		assert_int_equal(pthread_create(&t[i], NULL, joiner_main, &j[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(j[i].failed, 0);
	}
	for (int a = 0; a < 200; a++)
		for (int b = a + 1; b < 200; b++)
			assert_string_not_equal(j[a / 25].ip[a % 25], j[b / 25].ip[b % 25]);
	assert_int_equal(count(f, "m/"), 200);
	assert_int_equal(count(f, "ip/"), 200);
	/* one device, 8 threads */
	for (int i = 0; i < 8; i++) {
		j[i] = (struct joiner){.f = f, .first = 5000, .n = 1};
		assert_int_equal(pthread_create(&t[i], NULL, joiner_main, &j[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(j[i].failed, 0);
		assert_string_equal(j[i].ip[0], j[0].ip[0]);
	}
	assert_int_equal(count(f, "ip/"), 201);
	assert_int_equal(count(f, "ipd/"), 201);
}

static void test_removed_hook(void **state)
{
	struct fixture *f = *state;
	char ip[16], msg[256];
	uint64_t a = create(f, "hook-a", ""), b = create(f, "hook-b", "");
	assert_int_equal(join(f, "hook-a", 10, ip), GRPC_STATUS_OK);
	assert_int_equal(join(f, "hook-a", 11, ip), GRPC_STATUS_OK);
	assert_int_equal(join(f, "hook-b", 12, ip), GRPC_STATUS_OK);
	assert_int_equal(join(f, "hook-b", 13, ip), GRPC_STATUS_OK);

	/* Leave */
	assert_int_equal(leave(f, "hook-a", 11), GRPC_STATUS_OK);
	assert_int_equal(f->n_removed, 1);
	assert_true(f->removed[0][0] == a && f->removed[0][1] == 11);

	/* Kick */
	Roomvpn__V1__KickRequest kq = ROOMVPN__V1__KICK_REQUEST__INIT;
	struct rv_rpc_ctx c = ctx_of(f, 1, 100);
	ProtobufCMessage *resp = NULL;
	kq.room = "hook-b";
	kq.device_id = 13;
	assert_int_equal(rv_rooms_kick_rpc(&c, &kq.base, &resp, msg, sizeof(msg)), GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(resp, NULL);
	assert_int_equal(f->n_removed, 2);
	assert_true(f->removed[1][0] == b && f->removed[1][1] == 13);
	assert_string_equal(c.target, "hook-b/device/13");

	/* The user of every joined device (user 2) is removed: 10 and 12. */
	f->ctl.on_user_removed(&f->ctl, 2);
	assert_int_equal(f->n_removed, 4);
	assert_int_equal(count(f, "m/"), 0);

	/* Delete a room with a member: reported too; every key of the room goes. */
	assert_int_equal(join(f, "hook-a", 14, ip), GRPC_STATUS_OK);
	Roomvpn__V1__DeleteRoomRequest dq = ROOMVPN__V1__DELETE_ROOM_REQUEST__INIT;
	dq.room = "hook-a";
	resp = NULL;
	assert_int_equal(rv_rooms_delete_rpc(&c, &dq.base, &resp, msg, sizeof(msg)),
			 GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(resp, NULL);
	assert_int_equal(f->n_removed, 5);
	assert_true(f->removed[4][0] == a && f->removed[4][1] == 14);
	char p[64];
	snprintf(p, sizeof(p), "ip/%016" PRIx64 "/", a);
	assert_int_equal(count(f, p), 0);
	snprintf(p, sizeof(p), "ipd/%016" PRIx64 "/", a);
	assert_int_equal(count(f, p), 0);
	assert_false(has_key(f, "rn/hook-a"));
	assert_int_equal(count(f, "rs/"), 1);
	assert_int_equal(count(f, "r/"), 1);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(rv_rooms_valid_name("a"));
	assert_true(rv_rooms_valid_name("Lab-2.west_1"));
	assert_false(rv_rooms_valid_name(""));
	assert_false(rv_rooms_valid_name(".hidden"));
	assert_false(rv_rooms_valid_name("a/b"));
	assert_false(rv_rooms_valid_name("caf\xc3\xa9"));
	char long_name[80];
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_false(rv_rooms_valid_name(long_name));
	long_name[63] = '\0';
	assert_true(rv_rooms_valid_name(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keys_and_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reserve_and_reclaim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_hook, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_join_store_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_joins, setup, teardown),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("rooms", tests, NULL, NULL);
}
