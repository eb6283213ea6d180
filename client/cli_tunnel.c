/* roomvpn status / down: the tunnels that `roomvpn up` runs, read from
 * their pid and status files under the config directory's run/. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pbjson.h"

/* Pid of the live `up` process of @room, or 0 (stale files are removed). */
static pid_t live_pid(const struct cli *c, const char *room)
{
	char path[RV_STATE_PATH + 80];
	long pid = 0;
	FILE *f;

	if (rv_run_path(c->dir, room, "pid", path, sizeof(path)) < 0)
		return 0;
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return (pid_t)pid;
	unlink(path);
	if (rv_run_path(c->dir, room, "json", path, sizeof(path)) == 0)
		unlink(path);
	return 0;
}

bool rv_cli_tunnel_running(const struct cli *c, const char *room)
{
	return live_pid(c, room) != 0;
}

static char *read_small(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return n ? buf : NULL;
}

/* Crude field lookup in the flat status JSON that `up` writes. */
static const char *jfield(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return "-";
	p += strlen(pat);
	if (*p == '"')
		p++;
	n = strcspn(p, "\",}");
	snprintf(out, len, "%.*s", (int)n, p);
	return out;
}

/* A string field of the status JSON (written without quotes inside). */
static const char *jstring(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	if (!p)
		return "-";
	p += strlen(pat);
	snprintf(out, len, "%.*s", (int)strcspn(p, "\""), p);
	return out;
}

static void print_one(const struct cli *c, const char *room, const char *json, bool *first)
{
	char a[64], b[64], d[64], e[64], f[64], g[64], ctl[320];

	if (c->json) {
		printf("%s{\"room\":", *first ? "" : ",");
		rv_json_string(stdout, room);
		printf(",\"status\":%s}", json);
	} else {
		if (*first)
			printf("%-16s %-18s %-9s %-9s %-12s %-12s %s\n", "ROOM", "VIRTUAL-IP",
			       "TRANSPORT", "RTT(ms)", "TX-BYTES", "RX-BYTES", "KEY-ID");
		printf("%-16s %-18s %-9s %-9.2f %-12s %-12s %s\n", room,
		       jfield(json, "virtual_ip", a, sizeof(a)),
		       jfield(json, "transport", b, sizeof(b)),
		       atof(jfield(json, "rtt_us", d, sizeof(d))) / 1000.0,
		       jfield(json, "tx_bytes", e, sizeof(e)),
		       jfield(json, "rx_bytes", f, sizeof(f)),
		       jfield(json, "key_id", g, sizeof(g)));
		printf("  control: %s\n", jstring(json, "control", ctl, sizeof(ctl)));
	}
	*first = false;
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
	char run[RV_STATE_PATH + 8], path[RV_STATE_PATH + 80];
	bool first = true;
	struct dirent *de;
	DIR *d;

	if (cli_parse("status", argc, argv, NULL, NULL, 0, 0) < 0)
		return RV_EXIT_USAGE;
	snprintf(run, sizeof(run), "%s/run", c->dir);
	d = opendir(run);
	if (c->json)
		printf("{\"tunnels\":[");
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char room[256], *json;
		if (n < 5 || strcmp(de->d_name + n - 4, ".pid"))
			continue;
		snprintf(room, sizeof(room), "%.*s", (int)(n - 4), de->d_name);
		if (!live_pid(c, room) || rv_run_path(c->dir, room, "json", path, sizeof(path)))
			continue;
		json = read_small(path);
		print_one(c, room, json ? json : "{}", &first);
	}
	if (d)
		closedir(d);
	if (c->json)
		printf("]}\n");
	else if (first)
		printf("No tunnel is up.\n");
	return RV_EXIT_OK;
}

int rv_cli_tunnel_stop(struct cli *c, const char *room)
{
	pid_t pid = live_pid(c, room);

	if (!pid) {
		cli_error(c, "no tunnel is up for room %s", room);
		return RV_EXIT_NOT_FOUND;
	}
	if (kill(pid, SIGTERM) < 0) {
		cli_error(c, "cannot stop the tunnel of room %s (pid %d): %s", room, (int)pid,
			  strerror(errno));
		return RV_EXIT_ERROR;
	}
	/* its teardown tells the server (TunnelService.End, at most 2 s) */
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(50000);
	return RV_EXIT_OK;
}

static int cmd_down(struct cli *c, int argc, char **argv)
{
	const char *pos[1];
	int rc;

	if (cli_parse("down", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	rc = rv_cli_tunnel_stop(c, pos[0]);
	if (rc != RV_EXIT_OK)
		return rc;
	if (c->json)
		printf("{\"down\":true}\n");
	else
		printf("Tunnel of room %s is down.\n", pos[0]);
	return RV_EXIT_OK;
}

const struct cli_cmd cli_tunnel_cmds[] = {
    {"status", "",
     "Show the tunnels this user runs: per room the virtual IP, the transport in use\n"
     "(udp or tcp), the last echo round trip, bytes each way and the key-id, and what\n"
     "the control connection is doing: connected, or e.g. \"reconnecting (attempt 4,\n"
     "next in 3.2 s): <last error>\" while the server is out of reach (the tunnel\n"
     "keeps forwarding meanwhile).\n",
     cmd_status},
    {"down", "ROOM",
     "Stop the tunnel of a room (started with 'roomvpn up'); the server removes its\n"
     "session at once (TunnelService.End).\n",
     cmd_down},
    {NULL, NULL, NULL, NULL},
};
