/* Tunnel registry against a fake data-plane agent (a Unix socket served by
 * a thread): a data plane without sessions gets one Resync of every tunnel
 * with key material (rooms once each, the exact key bytes); one that lacks
 * some gets upserts of just those; one that has them all gets nothing;
 * rv_session_status filters by user and carries the data plane's figures. */
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
#include "session.h"

#define SUBNET 0x0A580000u /* 10.88.0.0/24 */

static struct {
	pthread_mutex_t lock;
	int lfd;
	uint32_t present[4]; /* peer-ids the fake data plane reports */
	size_t n_present;
	unsigned resyncs, upserts; /* requests seen */
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

/* rv_session_poll reads at most once a second: wait past that. */
static void poll_now(struct rv_control *ctl)
{
	usleep(1100000);
	rv_session_poll(ctl);
}

/* Register (room, device) for @user; the fresh peer-id (0: refused). */
static uint32_t reg(struct rv_control *ctl, uint64_t room, uint64_t dev, uint64_t user,
		    uint32_t *old)
{
	char msg[256];
	uint32_t id = 0;

	if (rv_session_register(ctl, room, room == 7 ? "lan" : "other", dev, user, &id, old, msg,
				sizeof(msg)) != GRPC_STATUS_OK)
		return 0;
	return id;
}

static void test_repush(void **state)
{
	struct rv_control *ctl = *state;
	struct rv_key_material km;
	struct rv_session_keys k = {
	    .subnet = SUBNET, .prefix_len = 24, .suite = RV_CIPHER_AES_256_GCM, .km = &km};
	uint32_t old, a, b, c;

	memset(&km, 0xAB, sizeof(km));
	a = reg(ctl, 7, 100, 1, &old);
	k.vip = SUBNET + 2;
	rv_session_set_key(a, &k);
	b = reg(ctl, 7, 101, 2, &old);
	k.vip = SUBNET + 3;
	k.key_id = 1;
	rv_session_set_key(b, &k);
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

	rv_session_clear_key(b); /* forgotten: no longer pushed */
	poll_now(ctl);
	assert_int_equal(fake.upserts, 1);

	struct rv_tunnel_status *v;
	bool ok = false;
	int n = rv_session_status(ctl, false, 2, &v, &ok); /* user 2: b and c */
	assert_true(ok);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_int_equal(v[i].user_id, 2);
		assert_true(v[i].peer_id == b || v[i].peer_id == c);
		assert_false(v[i].on_dataplane); /* only a is on the data plane now */
	}
	free(v);
	n = rv_session_status(ctl, true, 0, &v, &ok);
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
	shutdown(fake.lfd, SHUT_RDWR);
	unlink(ctl->cfg.dp_agent);
	if (fake.last_resync)
		roomvpn__dataplane__v1__resync__free_unpacked(fake.last_resync, NULL);
	return 0;
}

/* Peer-ids are the server's: random in 1..0xFFFFFE, unique, not in
 * sequence; a tunnel is only ever its own device's in its own room. */
static void test_peer_ids_and_ownership(void **state)
{
	struct rv_control *ctl = *state;
	static uint32_t ids[200];
	uint32_t old;
	unsigned steps_of_one = 0;

	for (unsigned i = 0; i < 200; i++) {
		ids[i] = reg(ctl, 20 + i, 1000, 50, &old);
		assert_true(ids[i] >= 1 && ids[i] <= RV_SESSION_PEER_ID_MAX);
		assert_int_equal(old, 0);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
		if (i && ids[i] == ids[i - 1] + 1)
			steps_of_one++;
	}
	assert_true(steps_of_one < 5); /* sequential allocation would give 199 */

	assert_true(rv_session_owned_by(ids[0], 1000, 20));
	assert_false(rv_session_owned_by(ids[0], 1001, 20)); /* another device */
	assert_false(rv_session_owned_by(ids[0], 1000, 21)); /* another room */
	uint8_t kid;
	assert_int_equal(rv_session_rekey_begin(1001, 20, ids[0], &kid), -1);
	assert_int_equal(rv_session_rekey_begin(1000, 21, ids[0], &kid), -1);
	assert_int_equal(rv_session_rekey_begin(1000, 20, ids[0], &kid), 0);

	/* a new bootstrap of (room, device) replaces its tunnel */
	uint32_t again = reg(ctl, 20, 1000, 50, &old);
	assert_int_equal(old, ids[0]);
	assert_false(rv_session_owned_by(ids[0], 1000, 20));
	assert_true(rv_session_owned_by(again, 1000, 20));

	/* End: someone else's peer-id is NOT_FOUND and removes nothing */
	char msg[256];
	assert_int_equal(rv_session_end(ctl, 21, "r21", 1001, ids[1], msg, sizeof(msg)),
			 GRPC_STATUS_NOT_FOUND);
	assert_true(rv_session_owned_by(ids[1], 1000, 21));
	assert_int_equal(rv_session_end(ctl, 21, "r21", 1000, ids[1], msg, sizeof(msg)),
			 GRPC_STATUS_OK);
	assert_false(rv_session_owned_by(ids[1], 1000, 21));
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
	assert_int_equal(rv_session_register(ctl, 503, "r", 2000, 60, &id, &old, msg, sizeof(msg)),
			 GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "max_tunnels_per_user"));
	assert_int_not_equal(reg(ctl, 501, 2000, 60, &old), 0); /* a replacement */
	assert_int_not_equal(reg(ctl, 503, 2001, 61, &old), 0); /* another user */
	ctl->cfg.max_tunnels_per_user = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_repush),
	    cmocka_unit_test(test_peer_ids_and_ownership),
	    cmocka_unit_test(test_quota),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
