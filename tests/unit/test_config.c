/* Config files, overrides and value parsers: values and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "test_util.h"

struct seen {
	int n;
	char keys[8][32], values[8][64];
};

static int cb(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	struct seen *s = arg;
	if (strcmp(key, "port") == 0) {
		uint32_t v;
		if (rv_parse_u32(value, 1, 65535, &v, err, errlen) < 0)
			return -1;
	} else if (strcmp(key, "unknown") == 0) {
		snprintf(err, errlen, "unknown key");
		return -1;
	}
	if (s->n < 8) {
		snprintf(s->keys[s->n], 32, "%s", key);
		snprintf(s->values[s->n], 64, "%s", value);
	}
	s->n++;
	return 0;
}

static char *write_tmp(const char *text, char *path)
{
	strcpy(path, "/tmp/rv-unit-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void load_expect_error(const char *text, const char *want_suffix)
{
	char path[64], err[256], want[320];
	struct seen s = {0};

	write_tmp(text, path);
	assert_int_equal(rv_config_load(path, cb, &s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:%s", path, want_suffix);
	unlink(path);
	assert_string_equal(err, want);
}

static void test_load(void **state)
{
	char path[64], err[256];
	struct seen s = {0};
	(void)state;

	write_tmp("# comment\n\n  name = my room  \nport=1194 # trailing comment\n"
		  "secret = a#b\n\tempty =\n",
		  path);
	assert_int_equal(rv_config_load(path, cb, &s, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.keys[0], "name");
	assert_string_equal(s.values[0], "my room");
	assert_string_equal(s.keys[1], "port");
	assert_string_equal(s.values[1], "1194");
	assert_string_equal(s.values[2], "a#b"); /* '#' only starts a comment after space */
	assert_string_equal(s.keys[3], "empty");
	assert_string_equal(s.values[3], "");
}

static void test_load_errors(void **state)
{
	char err[256];
	struct seen s = {0};
	(void)state;

	load_expect_error("a = 1\nport = 70000\n", "2: port: 70000 is out of range [1, 65535]");
	load_expect_error("a = 1\n\njust words\n", "3: expected 'key = value', got 'just words'");
	load_expect_error(" = 5\n", "1: missing key before '='");
	load_expect_error("a b = 5\n", "1: invalid key 'a b' (letters, digits, '_', '-', '.')");
	load_expect_error("unknown = 1\n", "1: unknown: unknown key");
	load_expect_error("port = abc\n", "1: port: 'abc' is not a number");
	assert_int_equal(rv_config_load("/nonexistent/x.conf", cb, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/x.conf: No such file or directory");
}

static void test_override(void **state)
{
	char err[256];
	struct seen s = {0};
	(void)state;

	assert_int_equal(rv_config_apply_override("port=443", cb, &s, err, sizeof(err)), 0);
	assert_string_equal(s.values[0], "443");
	assert_int_equal(rv_config_apply_override("port", cb, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "override 'port': expected key=value");
	assert_int_equal(rv_config_apply_override("port=0", cb, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "override: port: 0 is out of range [1, 65535]");
}

static void test_parsers(void **state)
{
	char err[128];
	uint32_t u;
	uint64_t ns;
	bool b;
	(void)state;

	assert_int_equal(rv_parse_u32("4294967295", 0, UINT32_MAX, &u, err, sizeof(err)), 0);
	assert_int_equal(u, UINT32_MAX);
	assert_int_equal(rv_parse_u32("4294967296", 0, UINT32_MAX, &u, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_u32("-1", 0, 10, &u, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_u32("12x", 0, 100, &u, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_u32("", 0, 100, &u, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_bool("Yes", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(rv_parse_bool("off", &b, err, sizeof(err)), 0);
	assert_false(b);
	assert_int_equal(rv_parse_bool("maybe", &b, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_duration_ns("30s", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns, 30000000000ull);
	assert_int_equal(rv_parse_duration_ns("5m", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns, 300000000000ull);
	assert_int_equal(rv_parse_duration_ns("2h", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns, 7200000000000ull);
	assert_int_equal(rv_parse_duration_ns("1500ms", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns, 1500000000ull);
	assert_int_equal(rv_parse_duration_ns("7", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns, 7000000000ull);
	assert_int_equal(rv_parse_duration_ns("5d", &ns, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_duration_ns("h", &ns, err, sizeof(err)), -1);
	assert_int_equal(rv_parse_duration_ns("99999999999999999999h", &ns, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_override),
	    cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
