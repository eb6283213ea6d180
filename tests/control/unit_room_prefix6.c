/* Rooms' IPv6 prefixes against a real store (control/room_prefix6.c): the
 * server's random ULA /48 kept across restarts, prefixes picked in order,
 * a freed one picked again, an operator's prefix refused when it overlaps,
 * the exhaustion message, and a room stored before IPv6 given a prefix at
 * the next start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room_prefix6.h"
#include "rooms.h"
#include "store.h"
#include "store_keys.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	struct rv_control ctl;
};

static void start(struct fixture *f)
{
	char err[256];
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	if (rv_room_prefix6_init(&f->ctl, err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

static void stop(struct fixture *f)
{
	rv_room_prefix6_fini();
	rv_store_close(f->ctl.store);
	f->ctl.store = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-prefix6-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rv_control_config_defaults(&f->ctl.cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->ctl.store)
		stop(f);
	rv_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static const struct rv_cidr v4 = {0x0a580000, 24};

/* A new room's prefix (@want "" = picked) stored with its index key; the
 * status, and the prefix as text in @out. */
static grpc_status_code add_room(struct fixture *f, uint64_t id, const char *want, char *out,
				 char *msg)
{
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	struct rv_cidr6 c;
	grpc_status_code st = rv_room_prefix6_choose(f->ctl.store, want, &v4, &c, msg, 300);
	if (st != GRPC_STATUS_OK)
		return st;
	r.id = id;
	rv_room_prefix6_set(&r, &c);
	struct rv_store_batch *b = rv_store_batch_new();
	rv_room_prefix6_index_put(b, &r);
	assert_int_equal(rv_store_batch_commit(f->ctl.store, b, true), 0);
	rv_store_batch_free(b);
	rv_ipam6_format_cidr(&c, out, 64);
	return st;
}

static void test_ula_kept_and_picked_in_order(void **state)
{
	struct fixture *f = *state;
	struct rv_cidr6 a, b;
	char p[64], msg[300], want[64];
	start(f);
	assert_true(rv_room_prefix6_server(&a));
	assert_int_equal(a.prefix, 48);
	assert_int_equal(a.addr[0], 0xfd);
	stop(f);
	start(f); /* a restart: the same /48 */
	assert_true(rv_room_prefix6_server(&b));
	assert_memory_equal(a.addr, b.addr, 16);

	/* /64s in order: ...:0::/64, ...:1::/64 */
	assert_int_equal(add_room(f, 1, "", p, msg), GRPC_STATUS_OK);
	b.prefix = 64;
	rv_ipam6_format_cidr(&b, want, sizeof(want));
	assert_string_equal(p, want);
	assert_int_equal(add_room(f, 2, "", p, msg), GRPC_STATUS_OK);
	b.addr[7] = 1;
	rv_ipam6_format_cidr(&b, want, sizeof(want));
	assert_string_equal(p, want);

	/* an operator's prefix overlapping room 1's: refused, named */
	b.addr[7] = 0;
	b.prefix = 56;
	rv_ipam6_format_cidr(&b, want, sizeof(want));
	assert_int_equal(add_room(f, 3, want, p, msg), GRPC_STATUS_ALREADY_EXISTS);
	assert_non_null(strstr(msg, "overlaps"));
	assert_non_null(strstr(msg, "of another room"));
	assert_int_equal(add_room(f, 3, "fd00:1:2:3::/64", p, msg), GRPC_STATUS_OK);
	assert_int_equal(add_room(f, 4, "fd00:1:2:3::/64", p, msg), GRPC_STATUS_ALREADY_EXISTS);
	assert_int_equal(add_room(f, 4, "fd00:1:2:4::1/64", p, msg), GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "host bits"));
}

static void test_exhaustion_and_reuse(void **state)
{
	struct fixture *f = *state;
	char p[64], msg[300];
	snprintf(f->ctl.cfg.ipv6_prefix, sizeof(f->ctl.cfg.ipv6_prefix), "2001:db8:7::/63");
	start(f);
	assert_int_equal(add_room(f, 1, "", p, msg), GRPC_STATUS_OK);
	assert_string_equal(p, "2001:db8:7::/64");
	assert_int_equal(add_room(f, 2, "", p, msg), GRPC_STATUS_OK);
	assert_string_equal(p, "2001:db8:7:1::/64");
	assert_int_equal(add_room(f, 3, "", p, msg), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "IPv6 prefix 2001:db8:7::/63 has no free /64 left"));
	/* room 1 deleted: its prefix is picked again */
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	struct rv_cidr6 c;
	char err[160];
	assert_int_equal(rv_ipam6_parse_cidr("2001:db8:7::/64", &c, err, sizeof(err)), 0);
	r.id = 1;
	rv_room_prefix6_set(&r, &c);
	struct rv_store_batch *b = rv_store_batch_new();
	rv_room_prefix6_index_delete(b, &r);
	assert_int_equal(rv_store_batch_commit(f->ctl.store, b, true), 0);
	rv_store_batch_free(b);
	assert_int_equal(add_room(f, 3, "", p, msg), GRPC_STATUS_OK);
	assert_string_equal(p, "2001:db8:7::/64");
}

/* A room record without prefix6 (stored before IPv6) gets one at start. */
static void test_old_room_gets_a_prefix(void **state)
{
	struct fixture *f = *state;
	char k[RV_KEY_MAX], err[256];
	uint8_t buf[256];
	f->ctl.cfg.ipv6 = false;
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	assert_int_equal(rv_room_prefix6_init(&f->ctl, err, sizeof(err)), 0);
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	r.id = 7;
	r.name = "old";
	r.subnet_addr = v4.addr;
	r.subnet_prefix = v4.prefix;
	size_t len = roomvpn__v1__room_record__pack(&r, buf);
	assert_int_equal(rv_store_put(f->ctl.store, k, rv_key_room_by_id(k, 7), buf, len, true), 0);
	stop(f);

	f->ctl.cfg.ipv6 = true;
	snprintf(f->ctl.cfg.ipv6_prefix, sizeof(f->ctl.cfg.ipv6_prefix), "fd00:77::/48");
	start(f);
	Roomvpn__V1__RoomRecord *got;
	assert_int_equal(rv_rooms_load_id(f->ctl.store, 7, &got), 0);
	char sub6[64], vip6[46], srv6[46];
	rv_room_prefix6_text(got, v4.addr + 9, sub6, vip6, srv6);
	assert_string_equal(sub6, "fd00:77::/64");
	assert_string_equal(vip6, "fd00:77::9");
	assert_string_equal(got->name, "old"); /* the rest kept */
	roomvpn__v1__room_record__free_unpacked(got, NULL);
	char p[64], msg[300]; /* its prefix is taken (rs6/ written) */
	assert_int_equal(add_room(f, 8, "", p, msg), GRPC_STATUS_OK);
	assert_string_equal(p, "fd00:77:0:1::/64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ula_kept_and_picked_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exhaustion_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_room_gets_a_prefix, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
