/* Guess limiter unit tests (control/ratelimit.c): the (user, address) and
 * address buckets, concurrent guesses checked at most burst times (counted
 * by the limiter's own check counter), a right password refunds, another
 * address is never refused for the user, the in-flight cap, refill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "password.h"
#include "ratelimit.h"

#define S 1000000000ull

static char hash[RV_PASSWORD_ENCODED];

static struct rv_control_config config(void)
{
	struct rv_control_config c;
	rv_control_config_defaults(&c);
	c.login_fail_per_user = 5;
	c.login_fail_per_addr = 20;
	c.login_fail_window_ns = 300 * S;
	c.login_inflight_per_addr = 16;
	c.argon2_m_kib = 8;
	c.argon2_t = 1;
	return c;
}

static int setup(void **state)
{
	struct rv_control_config c = config();
	char err[128];
	(void)state;
	return rv_password_hash(&c, "right-password", hash, sizeof(hash), err, sizeof(err));
}

/* One guess through both steps: 0 right, 1 wrong, -1/-2 refused (step 2/1). */
static int guess(struct rv_ratelimit *rl, const char *user, const char *addr, const char *pw)
{
	char msg[160];
	if (rv_ratelimit_admit(rl, user, addr, "failed logins", "user", msg, sizeof(msg)) != 0)
		return -2;
	return rv_ratelimit_verify(rl, user, addr, hash, pw, "failed logins", "user", msg,
				   sizeof(msg));
}

static void test_pair_bucket_and_other_address(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(guess(rl, "alice", "10.0.0.1", "wrong"), 1);
	assert_int_equal(guess(rl, "alice", "10.0.0.1", "right-password"), -2);
	/* the right password from another address: never refused by the pair */
	assert_int_equal(guess(rl, "alice", "10.0.0.2", "right-password"), 0);
	/* another user from the attacking address still has its own pair */
	assert_int_equal(guess(rl, "bob", "10.0.0.1", "wrong"), 1);
	assert_int_equal(rv_ratelimit_checks(rl), 7);
	rv_ratelimit_free(rl);
}

static void test_address_bucket(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	char user[32];
	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		int r = guess(rl, user, "10.0.0.1", "wrong");
		assert_int_equal(r, i < 20 ? 1 : -2);
	}
	assert_int_equal(rv_ratelimit_checks(rl), 20);
	rv_ratelimit_free(rl);
}

static void test_right_password_refunds(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	(void)state;
	for (int i = 0; i < 50; i++)
		assert_int_equal(guess(rl, "alice", "10.0.0.1", "right-password"), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(guess(rl, "alice", "10.0.0.1", "wrong"), 1);
	assert_int_equal(guess(rl, "alice", "10.0.0.1", "wrong"), -2);
	rv_ratelimit_free(rl);
}

struct attacker {
	struct rv_ratelimit *rl;
	pthread_barrier_t *go;
	int checked;
};

static void *attack(void *arg)
{
	struct attacker *a = arg;
	pthread_barrier_wait(a->go);
	for (int i = 0; i < 25; i++)
		a->checked += guess(a->rl, "victim", "10.0.0.9", "wrong") == 1;
	return NULL;
}

static void test_concurrent_guesses_checked_at_most_burst(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	struct attacker a[8];
	pthread_t t[8];
	pthread_barrier_t go;
	int checked = 0;
	(void)state;
	pthread_barrier_init(&go, NULL, 8);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct attacker){rl, &go, 0};
		pthread_create(&t[i], NULL, attack, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		checked += a[i].checked;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(checked, 5);
	assert_int_equal(rv_ratelimit_checks(rl), 5);
	rv_ratelimit_free(rl);
}

static void test_inflight_cap(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	uint64_t wait;
	(void)state;
	for (int i = 0; i < 16; i++)
		assert_int_equal(rv_ratelimit_reserve(rl, "u", "10.0.0.1", S, &wait),
				 RV_RATELIMIT_OK);
	assert_int_equal(rv_ratelimit_reserve(rl, "u", "10.0.0.1", S, &wait), RV_RATELIMIT_BUSY);
	assert_true(wait > 0);
	/* other addresses have their own slots */
	assert_int_equal(rv_ratelimit_reserve(rl, "u", "10.0.0.2", S, &wait), RV_RATELIMIT_OK);
	rv_ratelimit_cancel(rl, "u", "10.0.0.1");
	assert_int_equal(rv_ratelimit_reserve(rl, "u", "10.0.0.1", S, &wait), RV_RATELIMIT_OK);
	rv_ratelimit_free(rl);
}

static void test_refill(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	uint64_t wait, now;
	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(guess(rl, "alice", "10.0.0.1", "wrong"), 1);
	now = rv_control_now_mono();
	assert_int_equal(rv_ratelimit_reserve(rl, "alice", "10.0.0.1", now, &wait),
			 RV_RATELIMIT_USER);
	assert_true(wait > 0 && wait <= 60 * S);
	/* one check back every window / burst = 60 s: backoff, not lockout */
	assert_int_equal(rv_ratelimit_reserve(rl, "alice", "10.0.0.1", now + 61 * S, &wait),
			 RV_RATELIMIT_OK);
	rv_ratelimit_free(rl);
}

static void test_bounded_and_peer_addresses(void **state)
{
	struct rv_control_config c = config();
	struct rv_ratelimit *rl = rv_ratelimit_new(&c);
	uint64_t wait;
	char addr[64];
	(void)state;
	/* many keys: the tables are fixed, entries are reused, nothing crashes */
	for (int i = 0; i < 100000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "user%d", i);
		if (rv_ratelimit_reserve(rl, k, k, S, &wait) == RV_RATELIMIT_OK)
			rv_ratelimit_cancel(rl, k, k);
	}
	rv_ratelimit_free(rl);
	rv_ratelimit_addr_of_peer("ipv4:127.0.0.1:5555", addr, sizeof(addr));
	assert_string_equal(addr, "127.0.0.1");
	rv_ratelimit_addr_of_peer("ipv6:[::1]:5555", addr, sizeof(addr));
	assert_string_equal(addr, "::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pair_bucket_and_other_address),
	    cmocka_unit_test(test_address_bucket),
	    cmocka_unit_test(test_right_password_refunds),
	    cmocka_unit_test(test_concurrent_guesses_checked_at_most_burst),
	    cmocka_unit_test(test_inflight_cap),
	    cmocka_unit_test(test_refill),
	    cmocka_unit_test(test_bounded_and_peer_addresses),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
