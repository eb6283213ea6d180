/* Tunnel registry against a fake data-plane agent (a Unix socket served by
 * a thread): a data plane without sessions gets one Resync of every tunnel
 * with key material (rooms once each, the exact key bytes); one that lacks
 * some gets upserts of just those; one that has them all gets nothing;
 * rv_tunnels_status filters by user and carries the data plane's figures;
 * the registry agrees with a naive model under random operations; a
 * heartbeat costs the same store reads with 10 and with 1,000 tunnels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dataplane.pb-c.h"
#include "dp_sync.h"
#include "dp_poll.h"
#include "fleet.h"
#include "events.h"
#include "timers.h"
#include "tunnels.h"
#include "keepalive.h"
#include "store.h"
#include "tmpdir.h"

#define SUBNET 0x0A580000u /* 10.88.0.0/24 */

static struct {
	pthread_mutex_t lock;
	int lfd;
	uint32_t present[4]; /* peer-ids the fake data plane reports */
	size_t n_present;
	unsigned resyncs, upserts;	  /* requests seen */
	unsigned full_reads, count_reads; /* ReadStats with / without sessions */
	Roomvpn__Dataplane__V1__Resync *last_resync;
	uint32_t upserted[8];
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int io_all(int fd, void *p, size_t len, int writing)
{
	uint8_t *b = p;
	while (len) {
		ssize_t n = writing ? write(fd, b, len) : read(fd, b, len);
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, uint64_t id, Roomvpn__Dataplane__V1__Stats *st)
{
	Roomvpn__Dataplane__V1__Response r = ROOMVPN__DATAPLANE__V1__RESPONSE__INIT;
	uint8_t buf[4096];
	size_t n;

	r.request_id = id;
	r.stats = st;
	n = roomvpn__dataplane__v1__response__pack(&r, buf + 4);
	buf[0] = 0, buf[1] = 0, buf[2] = (uint8_t)(n >> 8), buf[3] = (uint8_t)n;
	io_all(fd, buf, n + 4, 1);
}

static void stats_reply(int fd, uint64_t id)
{
	Roomvpn__Dataplane__V1__Stats st = ROOMVPN__DATAPLANE__V1__STATS__INIT;
	Roomvpn__Dataplane__V1__SessionStats ss[4], *sp[4];

	for (size_t i = 0; i < fake.n_present; i++) {
		roomvpn__dataplane__v1__session_stats__init(&ss[i]);
		ss[i].peer_id = fake.present[i];
		ss[i].room_id = 7;
		ss[i].bytes_in = 1000 + i;
		ss[i].last_rtt_us = 250;
		ss[i].transport = ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP;
		sp[i] = &ss[i];
	}
	st.n_session = fake.n_present;
	st.session = sp;
	st.sessions = (uint32_t)fake.n_present;
	reply(fd, id, &st);
}

static void serve_one(int fd)
{
	uint8_t hdr[4], *buf;
	for (;;) {
		if (io_all(fd, hdr, 4, 0) < 0)
			return;
		size_t len = (size_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
		buf = malloc(len ? len : 1);
		if (!buf || io_all(fd, buf, len, 0) < 0) {
			free(buf);
			return;
		}
		Roomvpn__Dataplane__V1__Request *rq =
		    roomvpn__dataplane__v1__request__unpack(NULL, len, buf);
		free(buf);
		if (!rq)
			return;
		pthread_mutex_lock(&fake.lock);
		if (rq->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS) {
			rq->read_stats->sessions ? fake.full_reads++ : fake.count_reads++;
			stats_reply(fd, rq->request_id);
		} else {
			if (rq->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC) {
				fake.resyncs++;
				if (fake.last_resync)
					roomvpn__dataplane__v1__resync__free_unpacked(
					    fake.last_resync, NULL);
				fake.last_resync = rq->resync;
				rq->resync = NULL; /* kept */
				rq->body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY__NOT_SET;
			} else if (rq->body_case ==
				   ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION) {
				fake.upserted[fake.upserts++ % 8] =
				    rq->upsert_session->session->peer_id;
			}
			reply(fd, rq->request_id, NULL);
		}
		pthread_mutex_unlock(&fake.lock);
		roomvpn__dataplane__v1__request__free_unpacked(rq, NULL);
	}
}

static void *agent(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(fake.lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		serve_one(fd);
		close(fd);
	}
}

static void set_present(const uint32_t *ids, size_t n)
{
	pthread_mutex_lock(&fake.lock);
	memcpy(fake.present, ids, n * sizeof(*ids));
	fake.n_present = n;
	pthread_mutex_unlock(&fake.lock);
}

static void poll_now(struct rv_control *ctl)
{
	rv_dp_sync_poll_now(ctl);
}

/* Register (room, device) for @user; the fresh peer-id (0: refused). */
static uint32_t reg(struct rv_control *ctl, uint64_t room, uint64_t dev, uint64_t user,
		    uint32_t *old)
{
	char msg[256];
	uint32_t id = 0;

	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	r.id = room;
	r.name = room == 7 ? "lan" : "other";
	r.subnet_addr = SUBNET;
	r.subnet_prefix = 24;
	if (rv_tunnels_register(ctl, &r, dev, user, &id, old, msg, sizeof(msg)) != GRPC_STATUS_OK)
		return 0;
	return id;
}

static void test_repush(void **state)
{
	struct rv_control *ctl = *state;
	struct rv_key_material km;
	struct rv_tunnel_keys k = {.suite = RV_CIPHER_AES_256_GCM, .km = &km};
	uint32_t old, a, b, c;

	memset(&km, 0xAB, sizeof(km));
	a = reg(ctl, 7, 100, 1, &old);
	k.vip = SUBNET + 2;
	rv_tunnels_set_key(a, &k);
	b = reg(ctl, 7, 101, 2, &old);
	k.vip = SUBNET + 3;
	k.key_id = 1;
	rv_tunnels_set_key(b, &k);
	c = reg(ctl, 9, 102, 2, &old); /* no key material */
	assert_int_not_equal(a, b);

	poll_now(ctl); /* empty data plane: one Resync of a and b */
	pthread_mutex_lock(&fake.lock);
	assert_int_equal(fake.resyncs, 1);
	Roomvpn__Dataplane__V1__Resync *rs = fake.last_resync;
	assert_int_equal(rs->n_sessions, 2);
	assert_int_equal(rs->n_rooms, 1);
	assert_int_equal(rs->rooms[0]->room_id, 7);
	assert_int_equal(rs->rooms[0]->subnet, SUBNET);
	assert_int_equal(rs->rooms[0]->prefix_len, 24);
	for (size_t i = 0; i < 2; i++) {
		Roomvpn__Dataplane__V1__Session *s = rs->sessions[i];
		assert_true(s->peer_id == a || s->peer_id == b);
		assert_int_equal(s->vip, s->peer_id == a ? SUBNET + 2 : SUBNET + 3);
		assert_int_equal(s->key->key_id, s->peer_id == a ? 0 : 1);
		assert_string_equal(s->cipher, "AES-256-GCM");
		assert_int_equal(s->key->material.len, sizeof(km));
		assert_memory_equal(s->key->material.data, &km, sizeof(km));
	}
	pthread_mutex_unlock(&fake.lock);

	set_present((uint32_t[]){a, b}, 2); /* all there: nothing is pushed */
	poll_now(ctl);
	assert_int_equal(fake.resyncs, 1);
	assert_int_equal(fake.upserts, 0);

	set_present((uint32_t[]){a}, 1); /* b missing: upserted alone */
	poll_now(ctl);
	assert_int_equal(fake.resyncs, 1);
	assert_int_equal(fake.upserts, 1);
	assert_int_equal(fake.upserted[0], b);

	rv_tunnels_clear_key(b); /* forgotten: no longer pushed */
	poll_now(ctl);
	assert_int_equal(fake.upserts, 1);

	struct rv_tunnel_status *v;
	bool ok = false;
	int n = rv_tunnels_status(false, 2, &v, &ok); /* user 2: b and c */
	assert_true(ok);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_int_equal(v[i].user_id, 2);
		assert_true(v[i].peer_id == b || v[i].peer_id == c);
		assert_false(v[i].on_dataplane); /* only a is on the data plane now */
	}
	free(v);
	n = rv_tunnels_status(true, 0, &v, &ok);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++) {
		if (v[i].peer_id != a)
			continue;
		assert_true(v[i].on_dataplane);
		assert_int_equal(v[i].bytes_in, 1000);
		assert_int_equal(v[i].rtt_us, 250);
		assert_string_equal(v[i].transport, "udp");
		assert_string_equal(v[i].room, "lan");
		assert_false(v[i].up); /* never seen */
	}
	free(v);
}

static int setup(void **state)
{
	static struct rv_control ctl;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static pthread_t th;

	snprintf(ctl.cfg.dp_agent, sizeof(ctl.cfg.dp_agent), "/tmp/rv-unit-session-%d.sock",
		 (int)getpid());
	memcpy(sa.sun_path, ctl.cfg.dp_agent, strlen(ctl.cfg.dp_agent) + 1); /* short */
	snprintf(ctl.cfg.dp_name, sizeof(ctl.cfg.dp_name), "local");	     /* one data plane */
	ctl.cfg.dp_down_after_ns = 3000000000ull;
	ctl.cfg.dp_move_grace_ns = 10000000000ull;
	char err[256];
	if (rv_fleet_init(&ctl, err, sizeof(err)) < 0)
		return -1;
	unlink(sa.sun_path);
	fake.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fake.lfd < 0 || bind(fake.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fake.lfd, 8) < 0 || pthread_create(&th, NULL, agent, NULL) != 0)
		return -1;
	*state = &ctl;
	return 0;
}

static int teardown(void **state)
{
	struct rv_control *ctl = *state;
	rv_dp_sync_stop();
	rv_fleet_fini();
	shutdown(fake.lfd, SHUT_RDWR);
	unlink(ctl->cfg.dp_agent);
	if (fake.last_resync)
		roomvpn__dataplane__v1__resync__free_unpacked(fake.last_resync, NULL);
	return 0;
}

/* Peer-ids are the server's: random in 1..0xFFFFFE, unique, not in
 * sequence; a tunnel is only ever its own device's in its own room. */
/* The sync thread's pass reads every session's stats at most once a
 * second (more rarely past 50,000 sessions): passes in between read the
 * counts alone, and the last full read stays in the cache. */
static void test_poll_reads_counts_between_full_reads(void **state)
{
	struct rv_control *ctl = *state;
	rv_dp_poll_all(ctl); /* the first read of a data plane: in full */
	pthread_mutex_lock(&fake.lock);
	unsigned full = fake.full_reads, counts = fake.count_reads;
	pthread_mutex_unlock(&fake.lock);
	rv_dp_poll_all(ctl);
	rv_dp_poll_all(ctl);
	pthread_mutex_lock(&fake.lock);
	assert_int_equal(fake.full_reads, full);
	assert_int_equal(fake.count_reads, counts + 2);
	pthread_mutex_unlock(&fake.lock);
	rv_dp_sync_poll_now(ctl); /* tests: always in full */
	pthread_mutex_lock(&fake.lock);
	assert_int_equal(fake.full_reads, full + 1);
	pthread_mutex_unlock(&fake.lock);
}

static void test_peer_ids_and_ownership(void **state)
{
	struct rv_control *ctl = *state;
	static uint32_t ids[200];

	rv_dp_sync_start(ctl); /* End waits for the data plane's answer */
	uint32_t old;
	unsigned steps_of_one = 0;

	for (unsigned i = 0; i < 200; i++) {
		ids[i] = reg(ctl, 20 + i, 1000, 50, &old);
		assert_true(ids[i] >= 1 && ids[i] <= RV_TUNNELS_PEER_ID_MAX);
		assert_int_equal(old, 0);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
		if (i && ids[i] == ids[i - 1] + 1)
			steps_of_one++;
	}
	assert_true(steps_of_one < 5); /* sequential allocation would give 199 */

	assert_true(rv_tunnels_owned_by(ids[0], 1000, 20));
	assert_false(rv_tunnels_owned_by(ids[0], 1001, 20)); /* another device */
	assert_false(rv_tunnels_owned_by(ids[0], 1000, 21)); /* another room */
	uint8_t kid;
	assert_int_equal(rv_tunnels_rekey_begin(1001, 20, ids[0], &kid), -1);
	assert_int_equal(rv_tunnels_rekey_begin(1000, 21, ids[0], &kid), -1);
	assert_int_equal(rv_tunnels_rekey_begin(1000, 20, ids[0], &kid), 0);

	/* a new bootstrap of (room, device) replaces its tunnel */
	uint32_t again = reg(ctl, 20, 1000, 50, &old);
	assert_int_equal(old, ids[0]);
	assert_false(rv_tunnels_owned_by(ids[0], 1000, 20));
	assert_true(rv_tunnels_owned_by(again, 1000, 20));

	/* End: someone else's peer-id is NOT_FOUND and removes nothing */
	char msg[256];
	assert_int_equal(rv_events_tunnel_end(ctl, 21, "r21", 1001, ids[1], msg, sizeof(msg)),
			 GRPC_STATUS_NOT_FOUND);
	assert_true(rv_tunnels_owned_by(ids[1], 1000, 21));
	assert_int_equal(rv_events_tunnel_end(ctl, 21, "r21", 1000, ids[1], msg, sizeof(msg)),
			 GRPC_STATUS_OK);
	assert_false(rv_tunnels_owned_by(ids[1], 1000, 21));
}

/* max_tunnels_per_user: the next new tunnel is RESOURCE_EXHAUSTED; a
 * replacement of one the user runs is not a new one. */
static void test_quota(void **state)
{
	struct rv_control *ctl = *state;
	char msg[256];
	uint32_t id, old;

	ctl->cfg.max_tunnels_per_user = 3;
	for (unsigned i = 0; i < 3; i++)
		assert_int_not_equal(reg(ctl, 500 + i, 2000, 60, &old), 0);
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	r.id = 503;
	r.name = "r";
	assert_int_equal(rv_tunnels_register(ctl, &r, 2000, 60, &id, &old, msg, sizeof(msg)),
			 GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "max_tunnels_per_user"));
	assert_int_not_equal(reg(ctl, 501, 2000, 60, &old), 0); /* a replacement */
	assert_int_not_equal(reg(ctl, 503, 2001, 61, &old), 0); /* another user */
	ctl->cfg.max_tunnels_per_user = 0;
}

/* ---- The registry against a naive model ---------------------------------- */

struct model {
	uint64_t room, dev, user;
	uint32_t peer;
	uintptr_t stream;
	struct rv_tunnel *t;
};

static void check_model(const struct model *m, size_t n, size_t base)
{
	assert_int_equal(rv_tunnels_count(), base + n);
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(rv_tunnels_find(m[i].peer), m[i].t);
		assert_ptr_equal(rv_tunnels_find_owned(m[i].peer, m[i].dev, m[i].room), m[i].t);
		assert_null(rv_tunnels_find_owned(m[i].peer, m[i].dev + 1, m[i].room));
		assert_ptr_equal(rv_tunnels_find_rd(m[i].room, m[i].dev), m[i].t);
		if (m[i].stream)
			assert_ptr_equal(rv_tunnels_find_stream((void *)m[i].stream), m[i].t);
		unsigned per_user = 0, per_room = 0;
		for (size_t j = 0; j < n; j++) {
			per_user += m[j].user == m[i].user;
			per_room += m[j].room == m[i].room;
		}
		assert_int_equal(rv_tunnels_of_user(m[i].user), per_user);
		const struct rv_tunnel_room *r = rv_tunnels_room(m[i].room);
		assert_non_null(r);
		assert_int_equal(r->n, per_room);
		unsigned walked = 0; /* the room index lists exactly the room's tunnels */
		for (const struct rv_tunnel *t = r->head; t; t = t->room_next, walked++)
			assert_int_equal(t->room_id, m[i].room);
		assert_int_equal(walked, per_room);
	}
}

static void test_registry_model(void **state)
{
	(void)state;
	static struct model m[3000];
	size_t n = 0, base;
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	uint32_t next_peer = 5000000;

	srandom(7);
	rv_tunnels_lock();
	base = rv_tunnels_count();
	for (unsigned step = 0; step < 20000; step++) {
		unsigned op = (unsigned)random() % 10;
		if (op < 5 && n < 3000) { /* add a new (room, device) */
			uint64_t room = 9000 + (uint64_t)random() % 40,
				 dev = (uint64_t)random() % 500;
			if (rv_tunnels_find_rd(room, dev))
				continue;
			r.id = room;
			r.name = "model";
			m[n] = (struct model){room,	   dev, (uint64_t)random() % 30,
					      ++next_peer, 0,	NULL};
			m[n].t = rv_tunnels_add(&r, m[n].dev, m[n].user, m[n].peer);
			assert_non_null(m[n].t);
			n++;
		} else if (op < 8 && n) { /* remove */
			size_t i = (size_t)random() % n;
			rv_tunnels_remove(m[i].t);
			assert_null(rv_tunnels_find(m[i].peer));
			assert_null(rv_tunnels_find_rd(m[i].room, m[i].dev));
			m[i] = m[--n];
		} else if (op < 9 && n) { /* bind or unbind a stream */
			size_t i = (size_t)random() % n;
			uintptr_t s = random() % 2 ? 0x10000 + 16 * (uintptr_t)next_peer++ : 0;
			if (m[i].stream)
				assert_non_null(rv_tunnels_find_stream((void *)m[i].stream));
			rv_tunnels_bind(m[i].t, (void *)s);
			if (m[i].stream && m[i].stream != s)
				assert_null(rv_tunnels_find_stream((void *)m[i].stream));
			m[i].stream = s;
		} else if (n) { /* a new peer-id */
			size_t i = (size_t)random() % n;
			m[i].peer = ++next_peer;
			rv_tunnels_rename(m[i].t, m[i].peer);
		}
		if (step % 1000 == 0)
			check_model(m, n, base);
	}
	check_model(m, n, base);
	while (n)
		rv_tunnels_remove(m[--n].t);
	assert_int_equal(rv_tunnels_count(), base);
	assert_null(rv_tunnels_room(9000));
	rv_tunnels_unlock();
}

/* The sliced walk (rv_tunnels_each_some, the re-push's): tunnels added
 * between slices (the table grows under the walk) and removed ones aside,
 * every tunnel present throughout is visited at least once. */
static unsigned walk_seen[4000];

static void walk_mark(struct rv_tunnel *t, void *arg)
{
	(void)arg;
	if (t->peer_id >= 8000000 && t->peer_id < 8000000 + 4000)
		walk_seen[t->peer_id - 8000000]++;
}

static void test_sliced_walk(void **state)
{
	(void)state;
	static struct rv_tunnel *t[4000];
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	size_t at = 0, slices = 0;

	r.name = "walk";
	rv_tunnels_lock();
	for (unsigned i = 0; i < 1000; i++) {
		r.id = 9500 + i % 10;
		t[i] = rv_tunnels_add(&r, 200000 + i, 90000 + i, 8000000 + i);
		assert_non_null(t[i]);
	}
	unsigned added = 1000;
	do {
		at = rv_tunnels_each_some(at, 16, walk_mark, NULL);
		slices++;
		for (unsigned k = 0; k < 8 && added < 4000; k++, added++) { /* the table grows */
			r.id = 9500 + added % 10;
			t[added] =
			    rv_tunnels_add(&r, 200000 + added, 90000 + added, 8000000 + added);
			assert_non_null(t[added]);
		}
		if (slices % 4 == 0 && t[slices]) { /* and loses some of the first ones */
			rv_tunnels_remove(t[slices]);
			t[slices] = NULL;
		}
	} while (at);
	assert_true(slices > 10);
	for (unsigned i = 0; i < 1000; i++)
		if (t[i])
			assert_true(walk_seen[i] >= 1);
	for (unsigned i = 0; i < added; i++)
		if (t[i])
			rv_tunnels_remove(t[i]);
	rv_tunnels_unlock();
}

/* ---- A heartbeat's cost does not grow with the number of tunnels ---------- */

static uint64_t reads_per_heartbeat(struct rv_control *ctl, unsigned n)
{
	static struct rv_tunnel *t[1000];
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;

	r.name = "hb";
	rv_tunnels_lock();
	for (unsigned i = 0; i < n; i++) {
		r.id = 7000 + i % 50;
		t[i] = rv_tunnels_add(&r, 100000 + i, 80000 + i, 6000000 + i);
		assert_non_null(t[i]);
		rv_tunnels_bind(t[i], (void *)(uintptr_t)(0x900000 + 16 * i));
	}
	rv_tunnels_unlock();
	struct rv_store_ops o0, o1;
	rv_store_ops(ctl->store, &o0);
	for (unsigned k = 0; k < 100; k++) /* 100 heartbeats on one tunnel's stream */
		assert_true(rv_keepalive_heartbeat_seen((void *)(uintptr_t)0x900000, 0));
	rv_store_ops(ctl->store, &o1);
	uint64_t reads = o1.gets + o1.scans - o0.gets - o0.scans;
	rv_tunnels_lock();
	for (unsigned i = 0; i < n; i++)
		rv_tunnels_remove(t[i]);
	rv_tunnels_unlock();
	return reads;
}

static void test_heartbeat_store_reads(void **state)
{
	struct rv_control *ctl = *state;
	char dir[] = "/tmp/rv-unit-tunnels-XXXXXX", err[256];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(rv_store_open(dir, &ctl->store, err, sizeof(err)), 0);
	uint64_t at10 = reads_per_heartbeat(ctl, 10), at1000 = reads_per_heartbeat(ctl, 1000);
	rv_store_close(ctl->store);
	ctl->store = NULL;
	rv_test_tmpdir_remove(dir);
	assert_int_equal(at10, at1000);
	assert_int_equal(at1000, 0); /* a heartbeat reads nothing from the store */
}

/* No fixed cap (the old registry held 4096): 5,000 tunnels register; the
 * configured max_tunnels refuses the next with RESOURCE_EXHAUSTED. */
static void test_no_cap(void **state)
{
	struct rv_control *ctl = *state;
	static uint32_t ids[5000];
	uint32_t old, id;
	char msg[256];

	for (unsigned i = 0; i < 5000; i++) {
		ids[i] = reg(ctl, 30000 + i % 100, 40000 + i, 70 + i % 50, &old);
		assert_int_not_equal(ids[i], 0);
	}
	ctl->cfg.max_tunnels = (uint32_t)rv_tunnels_count();
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	r.id = 31000;
	r.name = "full";
	assert_int_equal(rv_tunnels_register(ctl, &r, 99, 99, &id, &old, msg, sizeof(msg)),
			 GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "max_tunnels"));
	ctl->cfg.max_tunnels = 0;
	rv_tunnels_lock();
	for (unsigned i = 0; i < 5000; i++)
		rv_tunnels_remove(rv_tunnels_find(ids[i]));
	rv_tunnels_unlock();
}

/* Replicas on etcd (replica_records.c installs the record ops): a register
 * waits for its claim and, while another replica holds the peer-id, takes
 * another (the refused one's record "changed": its delete is guarded by our
 * lease); a local tunnel's removal changes its record, a foreign one's
 * (another replica's) writes nothing. */
static struct {
	uint32_t claimed[8], changed[8];
	unsigned n_claimed, n_changed;
	int refuse; /* claims to answer with a conflict */
} rec;

static void rec_changed(uint32_t peer_id)
{
	if (rec.n_changed < 8)
		rec.changed[rec.n_changed++] = peer_id;
}

static int rec_claim(uint32_t peer_id)
{
	if (rec.n_claimed < 8)
		rec.claimed[rec.n_claimed++] = peer_id;
	return rec.refuse-- > 0 ? RV_STORE_CONFLICT : 0;
}

static void rec_fetch(uint32_t peer_id)
{
	(void)peer_id;
}

static void rec_take_over(struct rv_tunnel *t)
{
	t->foreign = false;
}

static void test_record_hooks(void **state)
{
	static const struct rv_tunnels_record_ops ops = {.changed = rec_changed,
							 .claim = rec_claim,
							 .fetch = rec_fetch,
							 .take_over = rec_take_over};
	struct rv_control *ctl = *state;
	uint32_t old;

	rv_tunnels_set_record_ops(&ops);
	rec.refuse = 2;
	uint32_t id = reg(ctl, 50000, 1, 1, &old);
	assert_int_equal(rec.n_claimed, 3);
	assert_int_equal(id, rec.claimed[2]);
	assert_int_not_equal(rec.claimed[0], rec.claimed[1]);
	assert_int_not_equal(rec.claimed[1], rec.claimed[2]);
	assert_int_equal(rec.n_changed, 2);
	assert_int_equal(rec.changed[0], rec.claimed[0]);
	assert_int_equal(rec.changed[1], rec.claimed[1]);

	static const struct rv_key_material km;
	rv_tunnels_lock();
	struct rv_tunnel *f = rv_tunnels_add_to(50000, NULL, 2, 2, id ^ 1);
	assert_non_null(f);
	f->foreign = true;
	rv_tunnels_unlock();
	rv_tunnels_set_key(id ^ 1, &(struct rv_tunnel_keys){.km = &km});
	rv_tunnels_lock();
	rv_tunnels_remove(rv_tunnels_find(id ^ 1));
	assert_int_equal(rec.n_changed, 2); /* nothing of ours for a foreign tunnel */
	rv_tunnels_remove(rv_tunnels_find(id));
	assert_int_equal(rec.n_changed, 3);
	assert_int_equal(rec.changed[2], id);
	rv_tunnels_unlock();
	rv_tunnels_set_record_ops(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry_model),
	    cmocka_unit_test(test_sliced_walk),
	    cmocka_unit_test(test_heartbeat_store_reads),
	    cmocka_unit_test(test_repush),
	    cmocka_unit_test(test_poll_reads_counts_between_full_reads),
	    cmocka_unit_test(test_peer_ids_and_ownership),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_no_cap),
	    cmocka_unit_test(test_record_hooks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
