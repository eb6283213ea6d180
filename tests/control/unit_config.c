/* Config keys, values, errors naming key and line; the failed-login limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"

static int load_text(const char *text, struct rv_control_config *c, char *err, size_t errlen)
{
	char path[] = "/tmp/rv-unit-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rv_control_config_defaults(c);
	int rc = rv_config_load(path, rv_control_config_set, c, err, errlen);
	unlink(path);
	return rc;
}

static void test_good_file(void **state)
{
	struct rv_control_config c;
	char err[512];
	(void)state;

	assert_int_equal(load_text("# comment\nstate_dir = /tmp/x\nlisten = 0.0.0.0:9000\n"
				   "argon2_memory_kib = 65536\nsession_ttl = 15m\n"
				   "log_level = debug\ncq_threads = 4\n",
				   &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.state_dir, "/tmp/x");
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_int_equal(c.argon2_m_kib, 65536);
	assert_int_equal(c.session_ttl_ns, 15ull * 60 * 1000000000ull);
	assert_int_equal(c.log_level, RV_LOG_DEBUG);
	assert_int_equal(c.cq_threads, 4);
	assert_int_equal(c.argon2_t, 2); /* untouched default */
	assert_int_equal(rv_control_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(
	    rv_config_apply_override("cq_threads=8", rv_control_config_set, &c, err, sizeof(err)),
	    0);
	assert_int_equal(c.cq_threads, 8);
}

static void test_errors_name_key_and_line(void **state)
{
	struct rv_control_config c;
	char err[512];
	(void)state;

	assert_int_equal(load_text("listen = a:1\nbogus_key = 1\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2:"));
	assert_non_null(strstr(err, "bogus_key"));
	assert_non_null(strstr(err, "unknown key"));
	assert_int_equal(load_text("\n\ncq_threads = 0\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3:"));
	assert_non_null(strstr(err, "cq_threads"));
	assert_int_equal(load_text("session_ttl = soon\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "session_ttl"));
	assert_int_equal(load_text("log_level = loud\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "log_level"));
	assert_int_equal(rv_config_apply_override("argon2_iterations=x", rv_control_config_set, &c,
						  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "argon2_iterations"));
	rv_control_config_defaults(&c);
	snprintf(c.tls_cert, sizeof(c.tls_cert), "/x.crt");
	assert_int_equal(rv_control_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls_key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_file),
	    cmocka_unit_test(test_errors_name_key_and_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
