/* The dispatch table and the scope check: every method has a scope, the
 * public ones are exactly Login, Refresh and grpc.health; the check gives
 * UNAUTHENTICATED / PERMISSION_DENIED as it should. */
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
#include "methods.h"
#include "roomvpn/v1/users.pb-c.h"
#include "scope.h"
#include "store.h"
#include "users.h"
#include "tmpdir.h"

static bool is_public(const char *path)
{
	static const char *pub[] = {"/roomvpn.v1.AuthService/Login",
				    "/roomvpn.v1.AuthService/Refresh",
				    "/roomvpn.v1.AuthService/RegisterWithInvite",
				    "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"};
	for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
		if (!strcmp(path, pub[i]))
			return true;
	return false;
}

static void test_table(void **state)
{
	size_t n_public = 0;
	(void)state;

	assert_true(rv_methods_count >= 11);
	for (size_t i = 0; i < rv_methods_count; i++) {
		const struct rv_method *m = &rv_methods[i];
		print_message("%-40s %s\n", m->path, rv_scope_name(m->scope));
		assert_true(m->path[0] == '/' && strchr(m->path + 1, '/'));
		assert_true(m->scope >= RV_SCOPE_PUBLIC && m->scope <= RV_SCOPE_ADMIN);
		assert_non_null(m->req_desc);
		assert_true((m->handler != NULL) != (m->stream != NULL));
		if (m->scope == RV_SCOPE_ROOM_OWNER)
			assert_non_null(m->room_of);
		assert_int_equal(m->scope == RV_SCOPE_PUBLIC, is_public(m->path));
		n_public += m->scope == RV_SCOPE_PUBLIC;
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(rv_methods[j].path, m->path);
		/* every UserService and AuditService method is admin-only */
		if (!strncmp(m->path, "/roomvpn.v1.UserService/", 24) ||
		    !strncmp(m->path, "/roomvpn.v1.AuditService/", 25))
			assert_int_equal(m->scope, RV_SCOPE_ADMIN);
	}
	assert_int_equal(n_public, 5);
}

struct fx {
	char dir[64];
	struct rv_control ctl;
	char admin_tok[128], user_tok[128];
	uint64_t user_id;
};

static void login(struct fx *f, const char *name, bool admin, char *tok, uint64_t *id_out)
{
	Roomvpn__V1__Session s = ROOMVPN__V1__SESSION__INIT;
	uint64_t id;
	char err[128];
	assert_int_equal(rv_users_create(f->ctl.store, name, "h", admin, &id, err, sizeof(err)), 0);
	assert_int_equal(rv_auth_issue(&f->ctl, id, name, admin, "d", &s), 0);
	snprintf(tok, 128, "Bearer %s", s.session_token);
	free(s.session_token);
	free(s.device_token);
	free(s.username);
	if (id_out)
		*id_out = id;
}

static int owner_hook(struct rv_control *ctl, const char *room, uint64_t *owner)
{
	struct fx *f = (struct fx *)((char *)ctl - offsetof(struct fx, ctl));
	if (!strcmp(room, "mine")) {
		*owner = f->user_id;
		return 0;
	}
	if (!strcmp(room, "theirs")) {
		*owner = 999;
		return 0;
	}
	return 1;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-scope-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rv_control_config_defaults(&f->ctl.cfg);
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	login(f, "root", true, f->admin_tok, NULL);
	login(f, "joe", false, f->user_tok, &f->user_id);
	f->ctl.room_owner = owner_hook;
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

static grpc_status_code check(struct fx *f, enum rv_scope scope, const char *hdr)
{
	struct rv_method m = {.path = "/t.T/M", .scope = scope};
	struct rv_rpc_ctx ctx = {.ctl = &f->ctl};
	char msg[256] = "";
	grpc_status_code st = rv_scope_check(&ctx, &m, hdr, NULL, msg, sizeof(msg));
	if (st != GRPC_STATUS_OK)
		assert_true(msg[0] != '\0'); /* every refusal says why */
	return st;
}

static const char *room_name;
static const char *room_of(const ProtobufCMessage *req)
{
	(void)req;
	return room_name;
}

static grpc_status_code check_room(struct fx *f, const char *hdr, const char *room)
{
	struct rv_method m = {.path = "/t.T/M", .scope = RV_SCOPE_ROOM_OWNER, .room_of = room_of};
	struct rv_rpc_ctx ctx = {.ctl = &f->ctl};
	char msg[256] = "";
	room_name = room;
	return rv_scope_check(&ctx, &m, hdr, NULL, msg, sizeof(msg));
}

static void test_check(void **state)
{
	struct fx *f = *state;

	assert_int_equal(check(f, RV_SCOPE_PUBLIC, NULL), GRPC_STATUS_OK);
	for (enum rv_scope s = RV_SCOPE_USER; s <= RV_SCOPE_ADMIN; s++) {
		assert_int_equal(check(f, s, NULL), GRPC_STATUS_UNAUTHENTICATED);
		assert_int_equal(check(f, s, ""), GRPC_STATUS_UNAUTHENTICATED);
		assert_int_equal(check(f, s, "Bearer rvs_forged"), GRPC_STATUS_UNAUTHENTICATED);
		assert_int_equal(check(f, s, f->user_tok + 7), GRPC_STATUS_UNAUTHENTICATED);
	}
	assert_int_equal(check(f, RV_SCOPE_USER, f->user_tok), GRPC_STATUS_OK);
	assert_int_equal(check(f, RV_SCOPE_USER, f->admin_tok), GRPC_STATUS_OK);
	assert_int_equal(check(f, RV_SCOPE_ADMIN, f->admin_tok), GRPC_STATUS_OK);
	assert_int_equal(check(f, RV_SCOPE_ADMIN, f->user_tok), GRPC_STATUS_PERMISSION_DENIED);
	/* room owner: the owner or an admin */
	assert_int_equal(check_room(f, f->user_tok, "mine"), GRPC_STATUS_OK);
	assert_int_equal(check_room(f, f->user_tok, "theirs"), GRPC_STATUS_PERMISSION_DENIED);
	assert_int_equal(check_room(f, f->user_tok, "nowhere"), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(check_room(f, f->admin_tok, "theirs"), GRPC_STATUS_OK);
	assert_int_equal(check_room(f, f->user_tok, ""), GRPC_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
