/* Session table API (dataplane/session_table.h) without DPDK: validation
 * errors change nothing, look-ups by peer-id and (room, vip), re-key slots,
 * retire rules, room delete, resync carry-over, deferred frees. The calling
 * thread is the writer; readers' look-ups (dp_tables.h) run on it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "dp_tables.h"
#include "session_table.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static struct rv_key_material key_a, key_b;
static char err[256];

static struct rv_st_session sess(uint32_t peer, uint32_t room, uint32_t vip)
{
	return (struct rv_st_session){.peer_id = peer,
				      .room_id = room,
				      .vip = vip,
				      .cipher = RV_CIPHER_AES_256_GCM,
				      .key_id = 0,
				      .key = key_a,
				      .key_direction = 1};
}

static void settle(void)
{
	struct rv_st_counts c;
	rv_st_writer_idle();
	for (int i = 0; i < 5000; i++) {
		rv_st_counts(&c);
		if (!c.pending_frees)
			return;
		usleep(1000);
	}
	fail_msg("deferred frees never ran");
}

static int setup(void **state)
{
	(void)state;
	memset(&key_a, 0xA5, sizeof(key_a));
	memset(&key_b, 0x5A, sizeof(key_b));
	struct rv_st_params p = {.max_sessions = 64, .n_workers = 2, .default_grace_ns = 1000};
	assert_int_equal(rv_st_init(&p, err, sizeof(err)), 0);
	assert_int_equal(rv_st_writer_register(), 0);
	struct rv_st_room r = {.room_id = 1, .subnet = IP(10, 77, 0, 0), .prefix_len = 24};
	assert_int_equal(rv_st_room_upsert(&r, err, sizeof(err)), 0);
	r.room_id = 2;
	assert_int_equal(rv_st_room_upsert(&r, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	settle();
	rv_st_writer_unregister();
	rv_st_fini();
	struct rv_st_counts c;
	rv_st_counts(&c);
	assert_int_equal(c.sessions + c.rooms + c.keys, 0);
	return 0;
}

static void test_refusals_change_nothing(void **state)
{
	(void)state;
	struct rv_st_session s = sess(1, 1, IP(10, 77, 0, 11));
	assert_int_equal(rv_st_session_upsert(&s, err, sizeof(err)), 0);
	struct rv_st_session bad[] = {
	    sess(2, 9, IP(10, 77, 0, 12)),	   /* no such room */
	    sess(2, 1, IP(10, 78, 0, 12)),	   /* outside the subnet */
	    sess(2, 1, IP(10, 77, 0, 255)),	   /* broadcast */
	    sess(2, 1, IP(10, 77, 0, 11)),	   /* vip of peer 1 */
	    sess(0x1000000, 1, IP(10, 77, 0, 12)), /* peer-id > 24 bits */
	};
	bad[4].peer_id = 0x1000000;
	struct rv_st_session badkey = sess(2, 1, IP(10, 77, 0, 12));
	badkey.key_id = 8;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(rv_st_session_upsert(&bad[i], err, sizeof(err)), -1);
		assert_true(err[0] != 0);
	}
	assert_int_equal(rv_st_session_upsert(&badkey, err, sizeof(err)), -1);
	struct rv_st_counts c;
	rv_st_counts(&c);
	assert_int_equal(c.sessions, 1);
	assert_int_equal(c.keys, 1);
	struct rv_st_room shrink = {.room_id = 1, .subnet = IP(10, 77, 1, 0), .prefix_len = 24};
	assert_int_equal(rv_st_room_upsert(&shrink, err, sizeof(err)), -1);
	assert_int_equal(rv_st_session_delete(1, err, sizeof(err)), 0);
	assert_int_equal(rv_st_session_delete(1, err, sizeof(err)), -1);
}

static void test_lookups_are_per_room(void **state)
{
	(void)state;
	struct rv_st_session a = sess(10, 1, IP(10, 77, 0, 20));
	struct rv_st_session b = sess(11, 2, IP(10, 77, 0, 20)); /* same vip, other room */
	assert_int_equal(rv_st_session_upsert(&a, err, sizeof(err)), 0);
	assert_int_equal(rv_st_session_upsert(&b, err, sizeof(err)), 0);
	rcu_read_lock();
	assert_int_equal(rv_dp_find_vip(rv_dp_root, 1, IP(10, 77, 0, 20))->peer_id, 10);
	assert_int_equal(rv_dp_find_vip(rv_dp_root, 2, IP(10, 77, 0, 20))->peer_id, 11);
	assert_null(rv_dp_find_vip(rv_dp_root, 1, IP(10, 77, 0, 21)));
	assert_int_equal(rv_dp_find_peer(rv_dp_root, 11)->room_id, 2);
	rcu_read_unlock();
	/* moving a session to another vip replaces it: old vip gone */
	a.vip = IP(10, 77, 0, 21);
	assert_int_equal(rv_st_session_upsert(&a, err, sizeof(err)), 0);
	rcu_read_lock();
	assert_null(rv_dp_find_vip(rv_dp_root, 1, IP(10, 77, 0, 20)));
	assert_int_equal(rv_dp_find_vip(rv_dp_root, 1, IP(10, 77, 0, 21))->peer_id, 10);
	rcu_read_unlock();
	/* deleting room 2 deletes its session */
	assert_int_equal(rv_st_room_delete(2, err, sizeof(err)), 0);
	struct rv_st_session_info info;
	assert_int_equal(rv_st_session_get(11, &info), -1);
	assert_int_equal(rv_st_session_get(10, &info), 0);
	assert_int_equal(rv_st_session_delete(10, err, sizeof(err)), 0);
}

/* The packet path's flat indexes (peer-id array, per-room host arrays) must
 * always agree with the hash tables: after random upserts, moves and
 * deletes, a subnet change, a room too big for a host array, and a resync. */
static struct rv_dp_room *room_of(uint32_t room_id)
{
	struct rv_dp_session *s;
	struct cds_lfht_iter it;
	cds_lfht_for_each_entry(rv_dp_root->by_peer, &it, s,
				by_peer) if (s->room_id == room_id) return s->room;
	return NULL;
}

static void check_indexes(const uint32_t *room_of_peer, const uint32_t *vip_of_peer, unsigned n)
{
	rcu_read_lock();
	for (uint32_t p = 1; p < n; p++) {
		struct rv_dp_session *s = rv_dp_find_peer(rv_dp_root, p);
		if (!room_of_peer[p]) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_int_equal(s->vip, vip_of_peer[p]);
		struct rv_dp_room *r = room_of(room_of_peer[p]);
		assert_ptr_equal(rv_dp_find_member(rv_dp_root, r, vip_of_peer[p]), s);
		assert_ptr_equal(rv_dp_find_vip(rv_dp_root, s->room_id, s->vip), s);
		/* a neighbour address: member or not, both look-ups agree */
		assert_ptr_equal(rv_dp_find_member(rv_dp_root, r, s->vip + 1),
				 rv_dp_find_vip(rv_dp_root, s->room_id, s->vip + 1));
	}
	assert_null(rv_dp_find_peer(rv_dp_root, RV_ST_PEER_ID_MAX + 1));
	rcu_read_unlock();
}

static void test_flat_indexes_match_tables(void **state)
{
	(void)state;
	enum { N = 64 };
	uint32_t room_of_peer[N] = {0}, vip_of_peer[N] = {0};
	struct rv_st_room big = {.room_id = 3, .subnet = IP(10, 96, 0, 0), .prefix_len = 12};
	assert_int_equal(rv_st_room_upsert(&big, err, sizeof(err)), 0);
	unsigned seed = 7;
	for (int step = 0; step < 400; step++) {
		seed = seed * 1103515245u + 12345u;
		uint32_t p = 1 + (seed >> 8) % (N - 1), room = 1 + (seed >> 16) % 3;
		uint32_t vip = room == 3 ? IP(10, 96, 1, 1 + (seed >> 20) % 40)
					 : IP(10, 77, 0, 1 + (seed >> 20) % 40);
		if ((seed >> 4) % 4 == 0) {
			int rc = rv_st_session_delete(p, err, sizeof(err));
			assert_int_equal(rc, room_of_peer[p] ? 0 : -1);
			room_of_peer[p] = 0;
		} else {
			struct rv_st_session c = sess(p, room, vip);
			bool taken = false;
			for (uint32_t q = 1; q < N; q++)
				taken |= q != p && room_of_peer[q] == room && vip_of_peer[q] == vip;
			assert_int_equal(rv_st_session_upsert(&c, err, sizeof(err)),
					 taken ? -1 : 0);
			if (!taken) {
				room_of_peer[p] = room;
				vip_of_peer[p] = vip;
			}
		}
		check_indexes(room_of_peer, vip_of_peer, N);
	}
	/* room 1 grows to a /23: same members, new host array */
	struct rv_st_room grow = {.room_id = 1, .subnet = IP(10, 77, 0, 0), .prefix_len = 23};
	assert_int_equal(rv_st_room_upsert(&grow, err, sizeof(err)), 0);
	check_indexes(room_of_peer, vip_of_peer, N);
	/* resync with the same content: a new table set, same answers */
	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	assert_non_null(b);
	struct rv_st_room rooms[] = {
	    grow, {.room_id = 2, .subnet = IP(10, 77, 0, 0), .prefix_len = 24}, big};
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(rv_st_batch_room(b, &rooms[i], err, sizeof(err)), 0);
	for (uint32_t p = 1; p < N; p++)
		if (room_of_peer[p]) {
			struct rv_st_session c = sess(p, room_of_peer[p], vip_of_peer[p]);
			assert_int_equal(rv_st_batch_session(b, &c, err, sizeof(err)), 0);
		}
	assert_int_equal(rv_st_batch_commit(b, err, sizeof(err)), 0);
	check_indexes(room_of_peer, vip_of_peer, N);
	for (uint32_t p = 1; p < N; p++)
		if (room_of_peer[p])
			assert_int_equal(rv_st_session_delete(p, err, sizeof(err)), 0);
	assert_int_equal(rv_st_room_delete(3, err, sizeof(err)), 0);
}

static void test_rekey_slots(void **state)
{
	(void)state;
	struct rv_st_session s = sess(20, 1, IP(10, 77, 0, 30));
	assert_int_equal(rv_st_session_upsert(&s, err, sizeof(err)), 0);
	/* the current key-id again is refused; a new one (seal after use)
	 * opens at once and seals from the member's first packet under it */
	assert_int_equal(
	    rv_st_key_install(20, 0, RV_CIPHER_AES_256_GCM, &key_b, 1, 0, false, err, sizeof(err)),
	    -1);
	assert_int_equal(rv_st_key_install(20, 1, RV_CIPHER_AES_256_GCM, &key_b, 1,
					   3600000000000ull, true, err, sizeof(err)),
			 0);
	assert_int_equal(
	    rv_st_key_install(20, 1, RV_CIPHER_AES_256_GCM, &key_b, 1, 0, true, err, sizeof(err)),
	    -1); /* already pending */
	struct rv_st_session_info info;
	assert_int_equal(rv_st_session_get(20, &info), 0);
	assert_int_equal(info.tx_key_id, 0);
	assert_int_equal(info.n_keys, 2);
	struct rv_st_session again = s; /* a re-push with the pending key-id: left alone */
	again.key_id = 1;
	again.key = key_b;
	assert_int_equal(rv_st_session_upsert(&again, err, sizeof(err)), 0);
	rcu_read_lock();
	struct rv_dp_session *d = rv_dp_find_peer(rv_dp_root, 20);
	struct rv_dp_key *k1 = rv_dp_rx_key(d, 1, 1);
	assert_non_null(k1);
	rv_dp_key_used(d, rv_dp_rx_key(d, 0, 1)); /* the old key in use: no change */
	assert_int_equal(rv_dp_tx_key(d)->key_id, 0);
	rv_dp_key_used(d, k1); /* the member used key-id 1 */
	assert_ptr_equal(rv_dp_tx_key(d), k1);
	assert_non_null(rv_dp_rx_key(d, 0, 1));		 /* old key inside its grace period */
	assert_null(rv_dp_rx_key(d, 0, UINT64_MAX - 1)); /* ...and not after */
	rcu_read_unlock();
	/* the sealing key cannot be retired; the old one can */
	assert_int_equal(rv_st_key_retire(20, 1, err, sizeof(err)), -1);
	assert_int_equal(rv_st_key_retire(20, 0, err, sizeof(err)), 0);
	assert_int_equal(rv_st_key_retire(20, 0, err, sizeof(err)), -1);
	/* a key without seal-after-use seals at once */
	assert_int_equal(rv_st_key_install(20, 2, RV_CIPHER_CHACHA20_POLY1305, &key_a, 1, 1, false,
					   err, sizeof(err)),
			 0);
	assert_int_equal(rv_st_session_get(20, &info), 0);
	assert_int_equal(info.tx_key_id, 2);
	/* a third key evicts the oldest at once; expiry retires the previous,
	 * and a pending key nobody used seals when the sealing key retires */
	uint64_t before = rv_clock_mono_ns();
	assert_int_equal(
	    rv_st_key_install(20, 3, RV_CIPHER_AES_256_GCM, &key_b, 1, 1, true, err, sizeof(err)),
	    0);
	assert_int_equal(rv_st_session_get(20, &info), 0);
	assert_int_equal(info.n_keys, 2);
	assert_int_equal(info.tx_key_id, 2);
	/* not due yet (its grace, 1 ns, ends after @before): nothing retires,
	 * and the skipped walks (none before the earliest) lose nothing */
	assert_int_equal(rv_st_expire(before), 0);
	assert_int_equal(rv_st_expire(before), 0);
	assert_int_equal(rv_st_expire(UINT64_MAX - 1), 1);
	assert_int_equal(rv_st_session_get(20, &info), 0);
	assert_int_equal(info.n_keys, 1);
	assert_int_equal(info.tx_key_id, 3);
	settle();
	struct rv_st_counts c;
	rv_st_counts(&c);
	assert_int_equal(c.keys, 1);
	assert_int_equal(rv_st_session_delete(20, err, sizeof(err)), 0);
}

/* A re-key called off (the pending key retired) leaves the sealing key
 * alone: it must not expire with the grace period its successor started,
 * or the session would be left without any key (seen in rcu_stress). */
static void test_called_off_rekey_keeps_the_key(void **state)
{
	(void)state;
	struct rv_st_session s = sess(21, 1, IP(10, 77, 0, 31));
	assert_int_equal(rv_st_session_upsert(&s, err, sizeof(err)), 0);
	assert_int_equal(
	    rv_st_key_install(21, 1, RV_CIPHER_AES_256_GCM, &key_b, 1, 1, true, err, sizeof(err)),
	    0);
	assert_int_equal(rv_st_key_retire(21, 1, err, sizeof(err)), 0);
	assert_int_equal(rv_st_expire(UINT64_MAX - 1), 0);
	struct rv_st_session_info info;
	assert_int_equal(rv_st_session_get(21, &info), 0);
	assert_int_equal(info.n_keys, 1);
	assert_int_equal(info.tx_key_id, 0);
	rcu_read_lock();
	struct rv_dp_session *d = rv_dp_find_peer(rv_dp_root, 21);
	assert_non_null(rv_dp_rx_key(d, 0, UINT64_MAX - 1)); /* still opens */
	rcu_read_unlock();
	settle();
	struct rv_st_counts c;
	rv_st_counts(&c);
	assert_int_equal(c.keys, 1);
	assert_int_equal(rv_st_session_delete(21, err, sizeof(err)), 0);
}

static void test_resync_swaps_and_carries_over(void **state)
{
	(void)state;
	struct rv_st_session keep = sess(30, 1, IP(10, 77, 0, 40));
	struct rv_st_session drop = sess(31, 1, IP(10, 77, 0, 41));
	assert_int_equal(rv_st_session_upsert(&keep, err, sizeof(err)), 0);
	assert_int_equal(rv_st_session_upsert(&drop, err, sizeof(err)), 0);
	rcu_read_lock();
	struct rv_dp_session *k = rv_dp_find_peer(rv_dp_root, 30);
	atomic_store(&k->ctr.pkts_in, 7); /* as a worker would have counted */
	struct rv_dp_key *kk = rv_dp_tx_key(k);
	struct rv_dp_tables *old_root = rv_dp_root;
	rcu_read_unlock();

	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	assert_non_null(b);
	struct rv_st_room r = {.room_id = 1, .subnet = IP(10, 77, 0, 0), .prefix_len = 24};
	assert_int_equal(rv_st_batch_room(b, &r, err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_room(b, &r, err, sizeof(err)), -1); /* twice */
	assert_int_equal(rv_st_batch_session(b, &keep, err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_session(b, &keep, err, sizeof(err)), -1);
	struct rv_st_session fresh = sess(32, 1, IP(10, 77, 0, 42));
	assert_int_equal(rv_st_batch_session(b, &fresh, err, sizeof(err)), 0);
	/* nothing visible before the commit */
	struct rv_st_session_info info;
	assert_int_equal(rv_st_session_get(32, &info), -1);
	assert_int_equal(rv_st_batch_commit(b, err, sizeof(err)), 0);

	rcu_read_lock();
	assert_ptr_not_equal(rv_dp_root, old_root);
	assert_ptr_equal(rv_dp_tx_key(rv_dp_find_peer(rv_dp_root, 30)), kk); /* same key object */
	rcu_read_unlock();
	assert_int_equal(rv_st_session_get(30, &info), 0);
	assert_int_equal(info.pkts_in, 7);
	assert_int_equal(rv_st_session_get(31, &info), -1);
	assert_int_equal(rv_st_session_get(32, &info), 0);
	settle();
	struct rv_st_counts c;
	rv_st_counts(&c);
	assert_int_equal(c.sessions, 2);
	assert_int_equal(c.keys, 2);
	assert_int_equal(c.rooms, 1);			     /* room 2 was not in the batch */
	rv_st_batch_free(rv_st_batch_new(err, sizeof(err))); /* dropped batch: no leak */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lookups_are_per_room, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flat_indexes_match_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rekey_slots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_called_off_rekey_keeps_the_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resync_swaps_and_carries_over, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
