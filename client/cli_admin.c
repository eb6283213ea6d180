/* roomvpn admin users list|create|update|delete, admin audit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "pbjson.h"
#include "config.h"
#include "roomvpn/v1/audit.pb-c.h"
#include "roomvpn/v1/common.pb-c.h"
#include "roomvpn/v1/users.pb-c.h"

#define US "/roomvpn.v1.UserService/"

static void fmt_time(uint64_t unix_s, char *out, size_t len)
{
	time_t t = (time_t)unix_s;

	strftime(out, len, "%Y-%m-%d %H:%M:%S", gmtime(&t));
}

static void print_user(const ProtobufCMessage *m)
{
	const Roomvpn__V1__User *u = (const Roomvpn__V1__User *)m;
	char when[32];

	fmt_time(u->created_unix, when, sizeof(when));
	printf("User %s (id %" PRIu64 ")\n  admin     %s\n  disabled  %s\n  created   %s UTC\n",
	       u->username, u->id, u->admin ? "yes" : "no", u->disabled ? "yes" : "no", when);
}

static void print_users(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListUsersResponse *l = (const Roomvpn__V1__ListUsersResponse *)m;

	printf("%-6s %-24s %-6s %-9s %s\n", "ID", "USERNAME", "ADMIN", "DISABLED", "CREATED (UTC)");
	for (size_t i = 0; i < l->n_users; i++) {
		const Roomvpn__V1__User *u = l->users[i];
		char when[32];
		fmt_time(u->created_unix, when, sizeof(when));
		printf("%-6" PRIu64 " %-24s %-6s %-9s %s\n", u->id, u->username,
		       u->admin ? "yes" : "no", u->disabled ? "yes" : "no", when);
	}
	if (l->next_page_token[0])
		printf("(more: --page-token %s)\n", l->next_page_token);
}

static int cmd_users_list(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListUsersRequest req = ROOMVPN__V1__LIST_USERS_REQUEST__INIT;
	struct cli_page pg = {0};
	const struct cli_opt opts[] = {CLI_PAGE_OPTS(pg), {NULL, NULL, NULL}};

	if (cli_parse("admin users list", argc, argv, opts, NULL, 0, 0) < 0 ||
	    cli_page_apply(c, &pg, &req.page_size, &req.page_token) < 0)
		return RV_EXIT_USAGE;
	return cli_call(c, "admin users list", US "List", &req.base,
			&roomvpn__v1__list_users_response__descriptor, print_users);
}

static int cmd_users_create(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__CreateUserRequest req = ROOMVPN__V1__CREATE_USER_REQUEST__INIT;
	bool admin = false, pw_stdin = false;
	const struct cli_opt opts[] = {
	    {"admin", NULL, &admin}, {"password-stdin", NULL, &pw_stdin}, {NULL, NULL, NULL}};
	char password[512];
	const char *pos[1];
	int rc;

	if (cli_parse("admin users create", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	if (cli_password(c, "New user's password: ", pw_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	req.username = (char *)pos[0];
	req.password = password;
	req.admin = admin;
	rc = cli_call(c, "admin users create", US "Create", &req.base,
		      &roomvpn__v1__user__descriptor, print_user);
	OPENSSL_cleanse(password, sizeof(password));
	return rc;
}

static int bool_opt(const struct cli *c, const char *name, const char *v, protobuf_c_boolean *out)
{
	char err[128];
	bool b;

	if (rv_parse_bool(v, &b, err, sizeof(err)) < 0) {
		cli_error(c, "--%s: %s", name, err);
		return -1;
	}
	*out = b;
	return 0;
}

static int cmd_users_update(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__UpdateUserRequest req = ROOMVPN__V1__UPDATE_USER_REQUEST__INIT;
	const char *admin = NULL, *disabled = NULL, *pos[1];
	bool pw_stdin = false, pw_prompt = false;
	const struct cli_opt opts[] = {{"admin", &admin, NULL},
				       {"disabled", &disabled, NULL},
				       {"password", NULL, &pw_prompt},
				       {"password-stdin", NULL, &pw_stdin},
				       {NULL, NULL, NULL}};
	char password[512];
	int rc;

	if (cli_parse("admin users update", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.username = (char *)pos[0];
	if (admin) {
		if (bool_opt(c, "admin", admin, &req.admin) < 0)
			return RV_EXIT_USAGE;
		req.admin_set_case = ROOMVPN__V1__UPDATE_USER_REQUEST__ADMIN_SET_ADMIN;
	}
	if (disabled) {
		if (bool_opt(c, "disabled", disabled, &req.disabled) < 0)
			return RV_EXIT_USAGE;
		req.disabled_set_case = ROOMVPN__V1__UPDATE_USER_REQUEST__DISABLED_SET_DISABLED;
	}
	if (pw_stdin || pw_prompt) {
		if (cli_password(c, "New password: ", pw_stdin, password, sizeof(password)) < 0)
			return RV_EXIT_USAGE;
		req.password = password;
		req.password_set_case = ROOMVPN__V1__UPDATE_USER_REQUEST__PASSWORD_SET_PASSWORD;
	}
	rc = cli_call(c, "admin users update", US "Update", &req.base,
		      &roomvpn__v1__user__descriptor, print_user);
	OPENSSL_cleanse(password, sizeof(password));
	return rc;
}

static int cmd_users_delete(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__DeleteUserRequest req = ROOMVPN__V1__DELETE_USER_REQUEST__INIT;
	const char *pos[1];
	int rc;

	if (cli_parse("admin users delete", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.username = (char *)pos[0];
	rc = cli_call(c, "admin users delete", US "Delete", &req.base,
		      &roomvpn__v1__empty__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("User %s deleted.\n", pos[0]);
	return rc;
}

static void print_audit(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListAuditResponse *l = (const Roomvpn__V1__ListAuditResponse *)m;

	printf("%-19s %-16s %-22s %-20s %-17s %s\n", "TIME (UTC)", "ACTOR", "ACTION", "TARGET",
	       "STATUS", "DETAIL");
	for (size_t i = 0; i < l->n_records; i++) {
		const Roomvpn__V1__AuditRecord *r = l->records[i];
		char when[32], code[32];
		fmt_time(r->time_unix_ns / 1000000000ull, when, sizeof(when));
		printf("%-19s %-16s %-22s %-20s %-17s %s\n", when, r->actor[0] ? r->actor : "-",
		       r->action, r->target[0] ? r->target : "-",
		       rv_grpc_status_name(r->status, code, sizeof(code)), r->detail);
	}
	if (l->next_page_token[0])
		printf("(more: --page-token %s)\n", l->next_page_token);
}

static int cmd_audit(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListAuditRequest req = ROOMVPN__V1__LIST_AUDIT_REQUEST__INIT;
	const char *actor = NULL, *action = NULL;
	struct cli_page pg = {0};
	const struct cli_opt opts[] = {CLI_PAGE_OPTS(pg),
				       {"actor", &actor, NULL},
				       {"action", &action, NULL},
				       {NULL, NULL, NULL}};

	if (cli_parse("admin audit", argc, argv, opts, NULL, 0, 0) < 0 ||
	    cli_page_apply(c, &pg, &req.page_size, &req.page_token) < 0)
		return RV_EXIT_USAGE;
	if (actor)
		req.actor = (char *)actor;
	if (action)
		req.action = (char *)action;
	return cli_call(c, "admin audit", "/roomvpn.v1.AuditService/List", &req.base,
			&roomvpn__v1__list_audit_response__descriptor, print_audit);
}

const struct cli_cmd cli_admin_cmds[] = {
    {"admin users list", "[--page-size N] [--page-token T]", "List user accounts (admins only).\n",
     cmd_users_list},
    {"admin users create", "NAME [--admin] [--password-stdin]",
     "Create a user account (admins only); the password is asked for without echo.\n\n"
     "Options:\n"
     "  --admin              the new user is an administrator\n"
     "  --password-stdin     read the password from standard input\n",
     cmd_users_create},
    {"admin users update",
     "NAME [--admin true|false] [--disabled true|false] [--password | --password-stdin]",
     "Change a user account (admins only); options left out are not changed.\n"
     "Disabling a user ends their sessions at once.\n",
     cmd_users_update},
    {"admin users delete", "NAME", "Delete a user account (admins only).\n", cmd_users_delete},
    {"admin audit", "[--actor USER] [--action A] [--page-size N] [--page-token T]",
     "Show the audit log (admins only), oldest first.\n\n"
     "Options:\n"
     "  --actor USER         only actions of this user\n"
     "  --action A           only this action, or a prefix ending in '.' (\"rooms.\")\n"
     "  --page-size N        records per page (default 100)\n"
     "  --page-token T       the page after a previous listing\n",
     cmd_audit},
    {NULL, NULL, NULL, NULL},
};
