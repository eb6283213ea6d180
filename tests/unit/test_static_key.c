/* Static key files: a file written by `openvpn --genkey secret`, format
 * round trip, key-direction, and every parse error with its line. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "static_key.h"
#include "test_util.h"

/* Written by `openvpn --genkey secret f` (OpenVPN 2.6.3, Debian 12). */
static const char ovpn_key[] = "#\n"
			       "# 2048 bit OpenVPN static key\n"
			       "#\n"
			       "-----BEGIN OpenVPN Static key V1-----\n"
			       "ec6ea99777433606ced2b24cce3acbe9\n"
			       "028516518eb9c92332cf4f9da3615ab3\n"
			       "049f6a0435bfd8ede7de9405e482586f\n"
			       "d3fe3858bf97fe522439599de3f65590\n"
			       "bdeafc6a112831777176ba924310ae3e\n"
			       "ac3b9d32d6b9016fca53bcb201ebf515\n"
			       "b7db9bbfdbaf4c9fc6c70def4368a018\n"
			       "57e74b8610d1edf2ae8fc4d5fa2c13f7\n"
			       "9ee1679e6c4ec81caa4335338a36e01f\n"
			       "c46c7f1d0e1c7611837fa426bede8e0e\n"
			       "660346490cf62f1680ae67942924b906\n"
			       "3f9bb9e1d6be1d747831d7874eadc544\n"
			       "752f1aebaf3f75f84fb90d838b2d8a48\n"
			       "bf67906ada711e79afbf0a3efa22a3aa\n"
			       "e68be645c60432df76c05f2102c25e55\n"
			       "789485433f674b2a2bd8ab8aedc6f5c9\n"
			       "-----END OpenVPN Static key V1-----\n";

static void test_openvpn_file(void **state)
{
	struct rv_key_material k;
	char err[256], out[2048];
	(void)state;

	assert_int_equal(rv_static_key_parse(ovpn_key, strlen(ovpn_key), &k, err, sizeof(err)), 0);
	/* offsets 0, 64, 128, 192 start lines 1, 5, 9, 13 of the hex */
	assert_int_equal(k.dir[0].cipher[0], 0xec);
	assert_int_equal(k.dir[0].cipher[63], 0x90);
	assert_int_equal(k.dir[0].hmac[0], 0xbd);
	assert_int_equal(k.dir[1].cipher[0], 0x9e);
	assert_int_equal(k.dir[1].hmac[0], 0x75);
	assert_int_equal(k.dir[1].hmac[63], 0xc9);
	/* formatting gives back openvpn's exact text */
	int n = rv_static_key_format(&k, out, sizeof(out));
	assert_int_equal(n, (int)strlen(ovpn_key));
	assert_memory_equal(out, ovpn_key, (size_t)n);
	assert_int_equal(rv_static_key_format(&k, out, 100), -1);
}

/* If the openvpn binary is installed, a freshly generated key loads too. */
static void test_openvpn_genkey(void **state)
{
	char path[] = "/tmp/rv-unit-key-XXXXXX", cmd[256], err[256];
	struct rv_key_material k;
	(void)state;

	if (access("/usr/sbin/openvpn", X_OK) != 0)
		skip();
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/sbin/openvpn --genkey secret %s >/dev/null 2>&1", path);
	assert_int_equal(system(cmd), 0);
	int rc = rv_static_key_load(path, &k, err, sizeof(err));
	unlink(path);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(rv_static_key_load("/nonexistent/key", &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/key: No such file"));
}

static void expect_error(const char *text, const char *want)
{
	struct rv_key_material k;
	char err[256] = "";

	assert_int_equal(rv_static_key_parse(text, strlen(text), &k, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_errors(void **state)
{
	char buf[4096];
	(void)state;

	expect_error("", "line 0: missing -----BEGIN OpenVPN Static key V1-----");
	expect_error("#\n# only comments\n", "line 2: missing -----BEGIN");
	expect_error("hello\n", "line 1: unexpected text before -----BEGIN");
	/* cut after 3 hex lines: no END */
	const char *cut = strstr(ovpn_key, "d3fe3858");
	snprintf(buf, sizeof(buf), "%.*s", (int)(cut - ovpn_key), ovpn_key);
	expect_error(buf, "line 7: missing -----END OpenVPN Static key V1-----");
	/* a bad hex character on the 5th line of the file */
	strcpy(buf, ovpn_key);
	*strstr(buf, "ec6e") = 'x';
	expect_error(buf, "line 5: bad hex character 'x'");
	/* one line of hex missing: 240 bytes */
	strcpy(buf, ovpn_key);
	char *l = strstr(buf, "660346");
	memmove(l, l + 33, strlen(l + 33) + 1);
	expect_error(buf, "line 20: key has 240 bytes, expected 256");
	/* an odd number of hex digits */
	strcpy(buf, ovpn_key);
	l = strstr(buf, "660346");
	memmove(l, l + 1, strlen(l + 1) + 1);
	expect_error(buf, "line 21: key has 255.5 bytes");
	/* one line too many */
	strcpy(buf, ovpn_key);
	l = strstr(buf, "-----END");
	memmove(l + 33, l, strlen(l) + 1);
	memcpy(l, "00112233445566778899aabbccddeeff\n", 33);
	expect_error(buf, "line 21: key longer than 256 bytes");
}

static void test_directions(void **state)
{
	struct rv_key_material k;
	struct rv_key_dir tx, rx;
	char err[128];
	(void)state;

	assert_int_equal(rv_static_key_parse(ovpn_key, strlen(ovpn_key), &k, err, sizeof(err)), 0);
	rv_static_key_dirs(&k, RV_KEY_DIRECTION_NONE, &tx, &rx);
	assert_memory_equal(&tx, &k.dir[0], sizeof(tx));
	assert_memory_equal(&rx, &k.dir[0], sizeof(rx));
	rv_static_key_dirs(&k, 0, &tx, &rx);
	assert_memory_equal(&tx, &k.dir[0], sizeof(tx));
	assert_memory_equal(&rx, &k.dir[1], sizeof(rx));
	rv_static_key_dirs(&k, 1, &tx, &rx);
	assert_memory_equal(&tx, &k.dir[1], sizeof(tx));
	assert_memory_equal(&rx, &k.dir[0], sizeof(rx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openvpn_file),
	    cmocka_unit_test(test_openvpn_genkey),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_directions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
