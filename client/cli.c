/* `roomvpn` argument handling, dispatch, help and shared CLI helpers. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "pbjson.h"

static const char exit_codes[] =
    "Exit codes:\n"
    "  0 success                     4 permission denied\n"
    "  1 other error                 5 not found (user, room, member)\n"
    "  2 bad usage or invalid input  6 server unreachable, TLS or fingerprint failure\n"
    "  3 not logged in / wrong password / session over\n"
    "                                7 already exists or wrong state\n";

static const struct cli_cmd *const tables[] = {cli_auth_cmds,	 cli_rooms_cmds, cli_invites_cmds,
					       cli_rules_cmds,	 cli_up_cmds,	 cli_tunnel_cmds,
					       cli_devices_cmds, cli_fleet_cmds, cli_admin_cmds};

void cli_error(const struct cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c && c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(msg));
		rv_json_print(stdout, o);
	}
	fprintf(stderr, "roomvpn: %s\n", msg);
}

int cli_rpc_error(const struct cli *c, const char *what, grpc_status_code st,
		  const struct rv_grpc_result *res)
{
	int code = rv_exit_of_status(st);

	if (st == GRPC_STATUS_UNAVAILABLE)
		cli_error(c, "%s: server unavailable: %s", what, res->message);
	else
		cli_error(c, "%s: %s", what, res->message[0] ? res->message : "failed");
	return code;
}

int cli_api(struct cli *c, struct rv_api *a)
{
	char err[512];
	int rc = rv_api_open(a, c->dir, err, sizeof(err));

	if (rc != RV_EXIT_OK)
		cli_error(c, "%s", err);
	return rc;
}

int cli_call(struct cli *c, const char *what, const char *path, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, cli_print_fn human)
{
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	struct rv_api a;
	grpc_status_code st;
	int rc = cli_api(c, &a);

	if (rc != RV_EXIT_OK)
		return rc;
	st = rv_api_call(&a, path, req, resp_desc, &resp, &res);
	rv_api_close(&a);
	if (st != GRPC_STATUS_OK)
		return cli_rpc_error(c, what, st, &res);
	if (c->json) {
		rv_pbjson_print(stdout, resp);
	} else if (human) {
		human(resp);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return RV_EXIT_OK;
}

int cli_page_apply(const struct cli *c, const struct cli_page *p, uint32_t *page_size,
		   char **page_token)
{
	char err[128];

	if (p->size && rv_parse_u32(p->size, 1, 1000, page_size, err, sizeof(err)) < 0) {
		cli_error(c, "--page-size: %s", err);
		return -1;
	}
	if (p->token)
		*page_token = (char *)p->token;
	return 0;
}

static int read_tty_password(const char *prompt, char *buf, size_t len)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, noecho;
	int rc = -1;

	if (!tty)
		return -1;
	fprintf(tty, "%s", prompt);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
		rc = fgets(buf, (int)len, tty) ? 0 : -1;
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputc('\n', tty);
	}
	fclose(tty);
	return rc;
}

int cli_password(const struct cli *c, const char *prompt, bool from_stdin, char *buf, size_t len)
{
	size_t n;

	if (from_stdin) {
		if (!fgets(buf, (int)len, stdin)) {
			cli_error(c, "--password-stdin: nothing on standard input");
			return -1;
		}
	} else if (read_tty_password(prompt, buf, len) < 0) {
		cli_error(c, "no terminal to ask for the password: use --password-stdin");
		return -1;
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0) {
		cli_error(c, "empty password");
		return -1;
	}
	return 0;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name, size_t len)
{
	for (; opts && opts->name; opts++)
		if (strlen(opts->name) == len && !strncmp(opts->name, name, len))
			return opts;
	return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, const char **pos,
	      int min_pos, int max_pos)
{
	int npos = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		const struct cli_opt *o;
		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			if (npos == max_pos) {
				fprintf(stderr,
					"roomvpn %s: unexpected argument '%s' (see --help)\n", cmd,
					a);
				return -1;
			}
			pos[npos++] = a;
			continue;
		}
		eq = strchr(a, '=');
		o = find_opt(opts, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		if (!o) {
			fprintf(stderr, "roomvpn %s: unknown option '%s' (see --help)\n", cmd, a);
			return -1;
		}
		if (o->flag) {
			*o->flag = true;
			continue;
		}
		if (!eq && i + 1 >= argc) {
			fprintf(stderr, "roomvpn %s: option --%s needs a value\n", cmd, o->name);
			return -1;
		}
		*o->value = eq ? eq + 1 : argv[++i];
	}
	if (npos < min_pos) {
		fprintf(stderr, "roomvpn %s: missing argument (see --help)\n", cmd);
		return -1;
	}
	return npos;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: roomvpn [--config-dir DIR] [--json] COMMAND [ARGS]\n"
		   "(the global options may also follow the command)\n\nCommands:\n");
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct cli_cmd *c = tables[t]; c->path; c++)
			fprintf(f, "  %-22s %s\n", c->path, c->args);
	fprintf(f,
		"\n'roomvpn COMMAND --help' describes a command.\n"
		"The login state lives in $XDG_CONFIG_HOME/roomvpn (else ~/.config/roomvpn).\n\n%s",
		exit_codes);
}

static void cmd_help(const struct cli_cmd *c)
{
	printf("usage: roomvpn [--json] %s %s\n\n%s\n%s", c->path, c->args, c->help, exit_codes);
}

/* How many of @argv's first words spell @path ("rooms list" = 2). */
static int match(const char *path, int argc, char **argv)
{
	int words = 0;

	while (*path) {
		size_t n = strcspn(path, " ");
		if (words >= argc || strlen(argv[words]) != n || strncmp(argv[words], path, n))
			return 0;
		words++;
		path += n;
		path += *path == ' ';
	}
	return words;
}

/* A group word alone ("rooms"): list its commands. */
static bool group_help(const char *word)
{
	size_t n = strlen(word);
	bool any = false;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct cli_cmd *c = tables[t]; c->path; c++)
			if (!strncmp(c->path, word, n) && c->path[n] == ' ') {
				if (!any)
					fprintf(stderr, "usage:\n");
				fprintf(stderr, "  roomvpn %s %s\n", c->path, c->args);
				any = true;
			}
	return any;
}

/* Take the global options out of @argv wherever they stand ("roomvpn
 * status --json" == "roomvpn --json status"), up to a bare "--"; what is
 * left (program name first) stays in order. Returns -1 to go on, or an
 * exit code. */
static int global_opts(struct cli *c, int *argc, char **argv)
{
	int out = 1, i;

	for (i = 1; i < *argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			c->json = true;
		} else if (!strcmp(a, "--config-dir")) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "roomvpn: option --config-dir needs a value\n");
				return RV_EXIT_USAGE;
			}
			c->config_dir_opt = argv[++i];
		} else if (!strncmp(a, "--config-dir=", 13)) {
			c->config_dir_opt = a + 13;
		} else if (out == 1 && a[0] == '-' && strcmp(a, "--help") && strcmp(a, "-h")) {
			fprintf(stderr, "roomvpn: unknown option '%s'\n", a);
			return RV_EXIT_USAGE;
		} else {
			argv[out++] = argv[i];
		}
	}
	while (i < *argc)
		argv[out++] = argv[i++];
	*argc = out;
	if (out > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return RV_EXIT_OK;
	}
	return -1;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

int rv_cli_main(int argc, char **argv)
{
	struct cli c = {0};
	char err[512];
	int i = 1, rc = global_opts(&c, &argc, argv);

	if (rc >= 0)
		return rc;
	if (i >= argc) {
		usage(stderr);
		return RV_EXIT_USAGE;
	}
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct cli_cmd *cmd = tables[t]; cmd->path; cmd++) {
			int words = match(cmd->path, argc - i, argv + i);
			if (!words)
				continue;
			if (wants_help(argc - i - words, argv + i + words)) {
				cmd_help(cmd);
				return RV_EXIT_OK;
			}
			if (rv_state_dir(c.config_dir_opt, c.dir, sizeof(c.dir), err,
					 sizeof(err))) {
				cli_error(&c, "%s", err);
				return RV_EXIT_ERROR;
			}
			return cmd->run(&c, argc - i - words, argv + i + words);
		}
	}
	if (!group_help(argv[i])) {
		fprintf(stderr, "roomvpn: unknown command '%s'\n", argv[i]);
		usage(stderr);
	}
	return RV_EXIT_USAGE;
}
