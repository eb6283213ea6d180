/* The `roomvpn` command line: global options, the command table, help.
 * Commands live in cli_*.c; each returns an exit code (enum rv_exit). */
#ifndef RV_CLIENT_CLI_H
#define RV_CLIENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct cli {
	const char *config_dir_opt;
	char dir[RV_STATE_PATH];
	bool json;
};

struct cli_cmd {
	const char *path; /* "rooms list" */
	const char *args; /* "[--all]" */
	const char *help; /* what it does, then its options, one per line */
	int (*run)(struct cli *c, int argc, char **argv);
};

/* Option table for cli_parse(): "--name VALUE" / "--name=VALUE" or a flag. */
struct cli_opt {
	const char *name;   /* without the dashes */
	const char **value; /* non-NULL: takes a value */
	bool *flag;	    /* non-NULL: a flag */
};

/* Parse @argv (after the command words) into @opts and up to @max_pos
 * positionals (at least @min_pos). Returns the number of positionals, or
 * -1 after printing a clear error. */
int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, const char **pos,
	      int min_pos, int max_pos);

/* --page-size N / --page-token T of the listing commands. */
struct cli_page {
	const char *size, *token;
};
#define CLI_PAGE_OPTS(p)                                                                           \
	{"page-size", &(p).size, NULL},                                                            \
	{                                                                                          \
		"page-token", &(p).token, NULL                                                     \
	}
/* Copy the options into a request. Returns 0, or -1 after printing an error. */
int cli_page_apply(const struct cli *c, const struct cli_page *p, uint32_t *page_size,
		   char **page_token);

/* Print an error as "roomvpn: ..." (or {"error": ...} with --json). */
void cli_error(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a failed call; returns its exit code. */
int cli_rpc_error(const struct cli *c, const char *what, grpc_status_code st,
		  const struct rv_grpc_result *res);
/* Open the logged-in API; on failure prints and returns the exit code. */
int cli_api(struct cli *c, struct rv_api *a);
/* Open the API, make one call and print the reply: JSON with --json, else
 * through @human (NULL: nothing). Returns the exit code. */
typedef void (*cli_print_fn)(const ProtobufCMessage *resp);
int cli_call(struct cli *c, const char *what, const char *path, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, cli_print_fn human);
/* Read a password from stdin (@from_stdin) or from the terminal without
 * echo. Returns 0, or -1 after printing an error. */
int cli_password(const struct cli *c, const char *prompt, bool from_stdin, char *buf, size_t len);

/* Command tables of the modules. */
/* `join-invite CODE --username U` (cli_auth.c): AuthService.RegisterWithInvite
 * against @o->server with @code; the login is stored as `login` stores it. */
struct cli_register_opts {
	const char *server, *fingerprint, *ca, *tls_name, *username, *device, *code;
	bool password_stdin;
};
int cli_auth_register(struct cli *c, const struct cli_register_opts *o);
extern const struct cli_cmd cli_auth_cmds[];
extern const struct cli_cmd cli_rooms_cmds[];
extern const struct cli_cmd cli_rules_cmds[];
extern const struct cli_cmd cli_admin_cmds[];
extern const struct cli_cmd cli_tunnel_cmds[];
extern const struct cli_cmd cli_up_cmds[];
extern const struct cli_cmd cli_invites_cmds[];
extern const struct cli_cmd cli_devices_cmds[];
extern const struct cli_cmd cli_fleet_cmds[];

/* `--placement key=value[,key=value]` of `rooms create|update` (only data
 * planes with all these labels take the room): keys and values of letters,
 * digits, '.', '_', '-', '/', no key twice, at most RV_CLI_PLACEMENT_MAX.
 * Returns 0, or -1 with the reason in @err. */
#define RV_CLI_PLACEMENT_MAX 16
int rv_cli_placement_check(const char *s, char *err, size_t errlen);

/* True while a live `roomvpn up ROOM` process owns run/ROOM.pid. */
bool rv_cli_tunnel_running(const struct cli *c, const char *room);
/* SIGTERM the running tunnel of @room and wait (5 s at most) for it to end;
 * its teardown ends the tunnel on the server. An exit code. */
int rv_cli_tunnel_stop(struct cli *c, const char *room);
/* A member's RTT in ms ("-": unknown) and last seen in RFC 3339 UTC
 * ("never") for the tables of `rooms members` and `status`. */
struct Roomvpn__V1__Member;
void rv_cli_member_presence(const struct Roomvpn__V1__Member *m, char *rtt, size_t rttlen,
			    char *seen, size_t seenlen);

int rv_cli_main(int argc, char **argv);

#endif
