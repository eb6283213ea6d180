/* roomvpn status / down: the tunnels that `roomvpn up` runs, read from
 * their pid and status files under the config directory's run/. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pbjson.h"
#include "roomvpn/v1/rooms.pb-c.h"

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

/* The members of @room from the server (name, device, virtual IP), or NULL
 * with @why set when the server cannot say (not logged in, unreachable). */
static Roomvpn__V1__ListMembersResponse *room_peers(struct cli *c, const char *room, char *why,
						    size_t len)
{
	Roomvpn__V1__ListMembersRequest req = ROOMVPN__V1__LIST_MEMBERS_REQUEST__INIT;
	struct rv_grpc_result res;
	ProtobufCMessage *resp = NULL;
	struct rv_api a;
	grpc_status_code st;

	if (rv_api_open(&a, c->dir, why, len) != RV_EXIT_OK)
		return NULL;
	req.room = (char *)room;
	st = rv_api_call(&a, "/roomvpn.v1.RoomService/ListMembers", &req.base,
			 &roomvpn__v1__list_members_response__descriptor, &resp, &res);
	rv_api_close(&a);
	if (st == GRPC_STATUS_OK)
		return (Roomvpn__V1__ListMembersResponse *)resp;
	snprintf(why, len, "%s", res.message[0] ? res.message : "the server did not answer");
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return NULL;
}

static void print_human(const char *room, const char *json, bool first,
			const Roomvpn__V1__ListMembersResponse *peers, const char *why)
{
	char a[64], b[64], d[64], e[64], f[64], g[64], ctl[320], cep[300], dp[64], ep[64];
	const char *vip = jfield(json, "virtual_ip", a, sizeof(a));

	if (first)
		printf("%-16s %-18s %-9s %-9s %-12s %-12s %s\n", "ROOM", "VIRTUAL-IP", "TRANSPORT",
		       "RTT(ms)", "TX-BYTES", "RX-BYTES", "KEY-ID");
	printf("%-16s %-18s %-9s %-9.2f %-12s %-12s %s\n", room, vip,
	       jfield(json, "transport", b, sizeof(b)),
	       atof(jfield(json, "rtt_us", d, sizeof(d))) / 1000.0,
	       jfield(json, "tx_bytes", e, sizeof(e)), jfield(json, "rx_bytes", f, sizeof(f)),
	       jfield(json, "key_id", g, sizeof(g)));
	const char *on = jstring(json, "control_endpoint", cep, sizeof(cep));
	printf("  control: %s%s%s\n", jstring(json, "control", ctl, sizeof(ctl)),
	       on[0] ? " to " : "", on);
	const char *dpn = jstring(json, "dataplane", dp, sizeof(dp));
	printf("  data plane: %s (%s)\n", dpn[0] ? dpn : "-",
	       jstring(json, "dataplane_endpoint", ep, sizeof(ep)));
	if (!peers) {
		printf("  peers: unknown (%s)\n", why);
		return;
	}
	printf("  %-20s %-8s %-15s %-8s %-9s %s\n", "PEER", "DEVICE", "VIRTUAL-IP", "STATE",
	       "RTT(ms)", "LAST-SEEN");
	for (size_t i = 0; i < peers->n_members; i++) {
		const Roomvpn__V1__Member *m = peers->members[i];
		char rtt[16], seen[32];
		rv_cli_member_presence(m, rtt, sizeof(rtt), seen, sizeof(seen));
		printf("  %-20s %-8" PRIu64 " %-15s %-8s %-9s %s%s\n", m->username, m->device_id,
		       m->virtual_ip, m->online ? "online" : "offline", rtt, seen,
		       strcmp(m->virtual_ip, vip) ? "" : " (this device)");
	}
}

/* A line per recent presence change ("presence" in the status file). */
static void print_presence(const char *json)
{
	struct json_object *o = json_tokener_parse(json), *a;

	if (o && json_object_object_get_ex(o, "presence", &a) && json_object_array_length(a)) {
		printf("  recent changes:\n");
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *e = json_object_array_get_idx(a, i), *v;
			time_t t = 0;
			char when[32] = "-";
			if (json_object_object_get_ex(e, "time", &v))
				t = (time_t)(json_object_get_int64(v) / 1000);
			struct tm tm;
			if (t && localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%H:%M:%S", &tm);
			json_object_object_get_ex(e, "username", &v);
			const char *who = json_object_get_string(v);
			json_object_object_get_ex(e, "device_id", &v);
			int64_t dev = json_object_get_int64(v);
			json_object_object_get_ex(e, "state", &v);
			printf("  %s %s (device %" PRId64 ") %s\n", when, who && who[0] ? who : "?",
			       dev, json_object_get_string(v));
		}
	}
	json_object_put(o);
}

/* One tunnel: {"room", "status" (what `up` writes), "peers" or "peers_error"}. */
static void show_one(struct cli *c, struct json_object *tunnels, const char *room, const char *json,
		     bool first)
{
	char why[512] = "";
	Roomvpn__V1__ListMembersResponse *peers = room_peers(c, room, why, sizeof(why));
	struct json_object *t, *st;

	if (!c->json) {
		print_human(room, json, first, peers, why);
		print_presence(json);
	} else {
		t = json_object_new_object();
		st = json_tokener_parse(json);
		json_object_object_add(t, "room", json_object_new_string(room));
		struct json_object *pr = NULL;
		if (st && json_object_object_get_ex(st, "presence", &pr))
			json_object_get(pr);
		json_object_object_add(t, "status", st ? st : json_object_new_object());
		json_object_object_add(t, "presence", pr ? pr : json_object_new_array());
		if (peers) {
			struct json_object *all = rv_pbjson_object(&peers->base);
			json_object_object_add(
			    t, "peers", json_object_get(json_object_object_get(all, "members")));
			json_object_put(all);
		} else
			json_object_object_add(t, "peers_error", json_object_new_string(why));
		json_object_array_add(tunnels, t);
	}
	if (peers)
		protobuf_c_message_free_unpacked(&peers->base, NULL);
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
	char run[RV_STATE_PATH + 8], path[RV_STATE_PATH + 80];
	struct json_object *tunnels = json_object_new_array();
	bool first = true;
	struct dirent *de;
	DIR *d;

	if (cli_parse("status", argc, argv, NULL, NULL, 0, 0) < 0) {
		json_object_put(tunnels);
		return RV_EXIT_USAGE;
	}
	snprintf(run, sizeof(run), "%s/run", c->dir);
	d = opendir(run);
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char room[256], *json;
		if (n < 5 || strcmp(de->d_name + n - 4, ".pid"))
			continue;
		snprintf(room, sizeof(room), "%.*s", (int)(n - 4), de->d_name);
		if (!live_pid(c, room) || rv_run_path(c->dir, room, "json", path, sizeof(path)))
			continue;
		json = read_small(path);
		show_one(c, tunnels, room, json ? json : "{}", first);
		first = false;
	}
	if (d)
		closedir(d);
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "tunnels", tunnels);
		rv_json_print(stdout, o);
		return RV_EXIT_OK;
	}
	json_object_put(tunnels);
	if (first)
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
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "down", json_object_new_boolean(true));
		rv_json_print(stdout, o);
	} else
		printf("Tunnel of room %s is down.\n", pos[0]);
	return RV_EXIT_OK;
}

const struct cli_cmd cli_tunnel_cmds[] = {
    {"status", "",
     "Show the tunnels this user runs: per room the virtual IP, the transport in use\n"
     "(udp or tcp), the last echo round trip, bytes each way and the key-id, and what\n"
     "the control connection is doing: connected, or e.g. \"reconnecting (attempt 4,\n"
     "next in 3.2 s): <last error>\" while the server is out of reach (the tunnel\n"
     "keeps forwarding meanwhile); then the room's peers as the server lists them\n"
     "(user, device, virtual IP, online or offline, RTT and when the data plane last\n"
     "saw a packet from it; \"peers: unknown\" when the server cannot be asked), and\n"
     "a line per recent presence change the server pushed (another member joined,\n"
     "left, came online or went offline; the last 16; --json: \"presence\").\n",
     cmd_status},
    {"down", "ROOM",
     "Stop the tunnel of a room (started with 'roomvpn up'); the server removes its\n"
     "session at once (TunnelService.End).\n",
     cmd_down},
    {NULL, NULL, NULL, NULL},
};
