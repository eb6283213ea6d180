/* Argon2id hashing/verification and the worker pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "password.h"

static void test_hash_verify(void **state)
{
	struct rv_control_config c;
	char h1[RV_PASSWORD_ENCODED], h2[RV_PASSWORD_ENCODED], err[128];
	(void)state;

	rv_control_config_defaults(&c);
	c.argon2_m_kib = 1024;
	c.argon2_t = 2;
	assert_int_equal(rv_password_hash(&c, "correct horse", h1, sizeof(h1), err, sizeof(err)),
			 0);
	assert_int_equal(rv_password_hash(&c, "correct horse", h2, sizeof(h2), err, sizeof(err)),
			 0);
	assert_non_null(strstr(h1, "$argon2id$v=19$m=1024,t=2,p=1$"));
	assert_string_not_equal(h1, h2); /* random salt */
	assert_int_equal(rv_password_verify(h1, "correct horse"), 0);
	assert_int_equal(rv_password_verify(h2, "correct horse"), 0);
	assert_int_equal(rv_password_verify(h1, "correct horsE"), 1);
	assert_int_equal(rv_password_verify(h1, ""), 1);
	assert_int_equal(rv_password_verify("$argon2id$garbage", "x"), -1);
	assert_int_equal(rv_password_verify("", "x"), -1);
}

static void test_defaults_meet_owasp(void **state)
{
	struct rv_control_config c;
	(void)state;
	rv_control_config_defaults(&c);
	assert_true(c.argon2_m_kib >= 19 * 1024);
	assert_true(c.argon2_t >= 2);
	assert_true(c.argon2_p >= 1);
}

static atomic_int ran;

static void job(void *arg)
{
	atomic_fetch_add(&ran, *(int *)arg);
}

static void test_pool_runs_every_job(void **state)
{
	struct rv_pwpool *p;
	static int one = 1;
	(void)state;

	assert_int_equal(rv_pwpool_start(3, &p), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(rv_pwpool_submit(p, job, &one), 0);
	rv_pwpool_stop(p); /* drains the queue before joining */
	assert_int_equal(atomic_load(&ran), 1000);
	assert_int_equal(rv_pwpool_start(0, &p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_verify),
	    cmocka_unit_test(test_defaults_meet_owasp),
	    cmocka_unit_test(test_pool_runs_every_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
