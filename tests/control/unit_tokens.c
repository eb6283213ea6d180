/* Token lifecycle against a real store: issue, resolve, refresh with
 * rotation, reuse of a rotated token revoking the device, expiry, disabled
 * and deleted users. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "control.h"
#include "password.h"
#include "store.h"
#include "tokens.h"
#include "users.h"
#include "tmpdir.h"

struct fx {
	char dir[64];
	struct rv_control ctl;
	uint64_t uid;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-tokens-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rv_control_config_defaults(&f->ctl.cfg);
	f->ctl.cfg.argon2_m_kib = 64;
	f->ctl.cfg.argon2_t = 1;
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	assert_int_equal(
	    rv_users_create(f->ctl.store, "alice", "$argon2id$x", false, &f->uid, err, sizeof(err)),
	    0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rv_store_close(f->ctl.store);
	rv_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void free_session(Roomvpn__V1__Session *s)
{
	free(s->session_token);
	free(s->device_token);
	free(s->username);
	memset(s, 0, sizeof(*s));
}

static grpc_status_code resolve(struct fx *f, const char *tok, struct rv_principal *who)
{
	char msg[256];
	memset(who, 0, sizeof(*who));
	return rv_auth_resolve(&f->ctl, tok, who, msg, sizeof(msg));
}

static void test_token_format(void **state)
{
	char a[RV_TOKEN_STR], b[RV_TOKEN_STR], key[RV_TOKEN_KEY];
	uint8_t h[32];
	(void)state;

	assert_int_equal(rv_token_new("rvs_", a), 0);
	assert_int_equal(rv_token_new("rvs_", b), 0);
	assert_int_equal(strlen(a), 4 + 43);
	assert_string_not_equal(a, b);
	for (const char *p = a + 4; *p; p++)
		assert_non_null(
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	rv_token_hash("abc", h); /* SHA-256("abc") starts ba7816bf */
	assert_int_equal(rv_token_key(h, key), 66);
	assert_memory_equal(key, "t/ba7816bf", 10);
}

static void test_issue_resolve(void **state)
{
	struct fx *f = *state;
	Roomvpn__V1__Session s = ROOMVPN__V1__SESSION__INIT;
	struct rv_principal who;

	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "laptop", &s), 0);
	assert_int_equal(resolve(f, s.session_token, &who), GRPC_STATUS_OK);
	assert_true(who.authenticated);
	assert_int_equal(who.user_id, f->uid);
	assert_string_equal(who.username, "alice");
	assert_false(who.admin);
	assert_int_equal(who.device_id, s.device_id);
	/* a device token is not a session token, and vice versa */
	assert_int_equal(resolve(f, s.device_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(resolve(f, "rvs_unknown", &who), GRPC_STATUS_UNAUTHENTICATED);
	/* only the hash is stored: the raw token is no key */
	void *v;
	size_t vl;
	assert_int_equal(
	    rv_store_get(f->ctl.store, s.session_token, strlen(s.session_token), &v, &vl), 1);
	free_session(&s);
}

static void test_refresh_rotation_and_reuse(void **state)
{
	struct fx *f = *state;
	Roomvpn__V1__Session s1 = ROOMVPN__V1__SESSION__INIT, s2 = ROOMVPN__V1__SESSION__INIT,
			     s3 = ROOMVPN__V1__SESSION__INIT, other = ROOMVPN__V1__SESSION__INIT;
	struct rv_principal who;
	char msg[256];

	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "phone", &s1), 0);
	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "tablet", &other), 0);
	assert_int_equal(rv_auth_refresh(&f->ctl, s1.device_token, &s2, msg, sizeof(msg)),
			 GRPC_STATUS_OK);
	assert_string_not_equal(s1.device_token, s2.device_token);
	assert_int_equal(s2.device_id, s1.device_id);
	assert_int_equal(resolve(f, s2.session_token, &who), GRPC_STATUS_OK);
	/* reuse of the rotated token: refused, and the device is revoked */
	assert_int_equal(rv_auth_refresh(&f->ctl, s1.device_token, &s3, msg, sizeof(msg)),
			 GRPC_STATUS_UNAUTHENTICATED);
	assert_non_null(strstr(msg, "rotated"));
	assert_int_equal(resolve(f, s2.session_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(resolve(f, s1.session_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(rv_auth_refresh(&f->ctl, s2.device_token, &s3, msg, sizeof(msg)),
			 GRPC_STATUS_UNAUTHENTICATED);
	/* the user's other device is untouched */
	assert_int_equal(resolve(f, other.session_token, &who), GRPC_STATUS_OK);
	free_session(&s1);
	free_session(&s2);
	free_session(&other);
}

static void test_expiry(void **state)
{
	struct fx *f = *state;
	Roomvpn__V1__Session s = ROOMVPN__V1__SESSION__INIT, s2 = ROOMVPN__V1__SESSION__INIT;
	struct rv_principal who;
	char msg[256];

	f->ctl.cfg.session_ttl_ns = 1; /* expired as soon as issued */
	f->ctl.cfg.device_ttl_ns = 1;
	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "d", &s), 0);
	assert_int_equal(resolve(f, s.session_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(rv_auth_refresh(&f->ctl, s.device_token, &s2, msg, sizeof(msg)),
			 GRPC_STATUS_UNAUTHENTICATED);
	assert_non_null(strstr(msg, "expired"));
	free_session(&s);
}

static void set_disabled(struct fx *f, bool disabled)
{
	Roomvpn__V1__UserRecord *u;
	char key[24], hex[17];
	assert_int_equal(rv_users_get_by_id(f->ctl.store, f->uid, &u), 0);
	u->disabled = disabled;
	struct rv_store_batch *b = rv_store_batch_new();
	rv_id_hex(f->uid, hex);
	snprintf(key, sizeof(key), "u/%s", hex);
	rv_store_put_msg(b, key, &u->base);
	assert_int_equal(rv_store_batch_commit(f->ctl.store, b, true), 0);
	rv_store_batch_free(b);
	rv_users_free(u);
}

static void test_disabled_user(void **state)
{
	struct fx *f = *state;
	Roomvpn__V1__Session s = ROOMVPN__V1__SESSION__INIT, s2 = ROOMVPN__V1__SESSION__INIT;
	struct rv_principal who;
	char msg[256];

	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "d", &s), 0);
	set_disabled(f, true);
	assert_int_equal(resolve(f, s.session_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(rv_auth_refresh(&f->ctl, s.device_token, &s2, msg, sizeof(msg)),
			 GRPC_STATUS_UNAUTHENTICATED);
	set_disabled(f, false);
	assert_int_equal(resolve(f, s.session_token, &who), GRPC_STATUS_OK);
	free_session(&s);
}

static void test_ids_and_names(void **state)
{
	struct fx *f = *state;
	uint64_t id2, id;
	char err[128], hex[17];

	assert_int_equal(rv_users_create(f->ctl.store, "alice", "h", false, &id2, err, sizeof(err)),
			 1);
	assert_int_equal(rv_users_create(f->ctl.store, "bob", "h", true, &id2, err, sizeof(err)),
			 0);
	assert_true(id2 > f->uid);
	rv_id_hex(id2, hex);
	assert_int_equal(rv_id_parse(hex, 16, &id), 0);
	assert_int_equal(id, id2);
	assert_int_equal(rv_id_parse("xyz", 3, &id), -1);
	assert_true(rv_users_valid_name("a.b_c-9"));
	assert_false(rv_users_valid_name(""));
	assert_false(rv_users_valid_name("a/b"));
	assert_false(rv_users_valid_name("a b"));
}

static void test_sweep(void **state)
{
	struct fx *f = *state;
	Roomvpn__V1__Session old = ROOMVPN__V1__SESSION__INIT, live = ROOMVPN__V1__SESSION__INIT;
	struct rv_principal who;
	void *v;
	size_t vl;
	char dkey[24], hex[17];

	assert_int_equal(rv_auth_sweep(&f->ctl, rv_control_now_real()), 0); /* nothing yet */
	f->ctl.cfg.session_ttl_ns = 1;
	f->ctl.cfg.device_ttl_ns = 1;
	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "old", &old), 0);
	rv_control_config_defaults(&f->ctl.cfg);
	assert_int_equal(rv_auth_issue(&f->ctl, f->uid, "alice", false, "live", &live), 0);
	/* the 2 expired tokens; the expired device stays while a session of
	 * it could still live (session_ttl is 1 h again) */
	assert_int_equal(rv_auth_sweep(&f->ctl, rv_control_now_real()), 2);
	rv_id_hex(old.device_id, hex);
	snprintf(dkey, sizeof(dkey), "d/%s", hex);
	assert_int_equal(rv_store_get(f->ctl.store, dkey, strlen(dkey), &v, &vl), 0);
	free(v);
	assert_int_equal(resolve(f, live.session_token, &who), GRPC_STATUS_OK);
	assert_int_equal(rv_auth_sweep(&f->ctl, rv_control_now_real()), 0);
	/* much later: live's 2 tokens, and both devices with their du/ keys */
	assert_int_equal(
	    rv_auth_sweep(&f->ctl, rv_control_now_real() + 365ull * 86400 * 1000000000ull), 6);
	assert_int_equal(rv_store_get(f->ctl.store, dkey, strlen(dkey), &v, &vl), 1);
	assert_int_equal(resolve(f, live.session_token, &who), GRPC_STATUS_UNAUTHENTICATED);
	free_session(&old);
	free_session(&live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_format),
	    cmocka_unit_test_setup_teardown(test_issue_resolve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_rotation_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ids_and_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
