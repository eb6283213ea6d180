/* roomvpn-dpctl: command-line client of the data-plane agent protocol
 * (docs/dataplane-agent.md). One request per run. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "static_key.h"
#include "version.h"

#include "dpctl.h"

static const char usage_text[] =
    "usage: roomvpn-dpctl [--socket PATH] [--json] [--timeout S] [--fence N] COMMAND [ARGS]\n"
    "\n"
    "Talks to the agent of roomvpn-dataplane over its unix socket\n"
    "(default " DEFAULT_SOCKET "); --timeout bounds the wait for each\n"
    "reply (default 60 s). --fence sends that fencing token with the\n"
    "request (default 0): once a control replica on etcd drove the data\n"
    "plane, a change needs a fence at least the one `stats` shows.\n"
    "\n"
    "commands:\n"
    "  room add ID --subnet A.B.C.D/N [--prefix6 IPV6/N]\n"
    "                                      create or update a room (--prefix6:\n"
    "                                      IPv6 inside the tunnel, /48../120)\n"
    "  room del ID                         delete a room and its sessions\n"
    "  rooms                               list rooms\n"
    "  session add --peer-id N --room ID --vip A.B.C.D --cipher NAME --key FILE\n"
    "              [--key-id N] [--key-direction 0|1|none] [--outer A.B.C.D:PORT|[IPV6]:PORT]\n"
    "              [--vip6 IPV6]           (--vip6: inside the room's prefix6)\n"
    "                                      create or update a session; FILE is an\n"
    "                                      OpenVPN static key (256 bytes); the key\n"
    "                                      direction is the data plane's (default 1)\n"
    "  session del --peer-id N             delete a session (also: session del N)\n"
    "  key install --peer-id N --key FILE --key-id N [--key-direction 0|1|none]\n"
    "              [--cipher NAME] [--grace-ms MS] [--seal-after-use 0|1]\n"
    "                                      install the next key (re-key); with\n"
    "                                      --seal-after-use 1 it seals only from\n"
    "                                      the member's first packet under it\n"
    "  key retire --peer-id N --key-id N   wipe a key now\n"
    "  sessions                            list sessions with their counters\n"
    "  stats                               per-lcore and per-drop-reason counters\n"
    "  resync --file F                     replace every room and session by the\n"
    "                                      session file F (format in the docs)\n"
    "  trace start [--count N] [--peer-id P | --room R]\n"
    "                                      trace the next N packets (default 50,\n"
    "                                      at most 1000) through every stage\n"
    "  trace stop                          stop tracing new packets\n"
    "  trace show                          each traced packet's stages, decision\n"
    "                                      and drop reason\n"
    "\n"
    "ciphers: AES-256-GCM, CHACHA20-POLY1305, AES-256-CBC, none\n"
    "exit codes: 0 ok, 1 refused by the agent, 2 usage or input error,\n"
    "            3 cannot reach the agent\n";

int dpctl_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "roomvpn-dpctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(try roomvpn-dpctl --help)\n");
	return EXIT_USAGE;
}

int dpctl_parse_opts(int argc, char **argv, struct opt *opts, size_t n)
{
	for (int i = 0; i < argc; i++) {
		size_t k;
		for (k = 0; k < n; k++)
			if (strcmp(argv[i] + (argv[i][0] == '-' && argv[i][1] == '-' ? 2 : 0),
				   opts[k].name) == 0 &&
			    argv[i][0] == '-')
				break;
		if (k == n)
			return dpctl_usage_error("unexpected argument \"%s\"", argv[i]);
		if (i + 1 >= argc)
			return dpctl_usage_error("option %s needs a value", argv[i]);
		opts[k].value = argv[++i];
	}
	return 0;
}

const char *dpctl_opt_get(const struct opt *opts, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(opts[k].name, name) == 0)
			return opts[k].value;
	return NULL;
}

int dpctl_need(const struct opt *opts, size_t n, const char *name, const char **out)
{
	*out = dpctl_opt_get(opts, n, name);
	if (!*out)
		return dpctl_usage_error("missing --%s", name);
	return 0;
}

int dpctl_parse_num(const char *what, const char *v, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	/* decimal, or hex with 0x (no octal surprises from a leading 0) */
	int base = v[0] == '0' && (v[1] == 'x' || v[1] == 'X') ? 16 : 10;
	unsigned long n = strtoul(v, &end, base);
	if (errno || end == v || *end || v[0] == '-' || n > max) {
		fprintf(stderr, "roomvpn-dpctl: bad %s \"%s\" (0..%u)\n", what, v, max);
		return EXIT_USAGE;
	}
	*out = (uint32_t)n;
	return 0;
}

int dpctl_parse_ip(const char *what, const char *v, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, v, &a) != 1) {
		fprintf(stderr, "roomvpn-dpctl: bad %s \"%s\" (expected A.B.C.D)\n", what, v);
		return EXIT_USAGE;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_direction(const char *v, Roomvpn__Dataplane__V1__KeyDirection *out)
{
	if (!v || strcmp(v, "1") == 0)
		*out = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
	else if (strcmp(v, "0") == 0)
		*out = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_CLIENT;
	else if (strcmp(v, "none") == 0)
		*out = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_BIDIRECTIONAL;
	else
		return dpctl_usage_error("bad --key-direction \"%s\" (0, 1 or none)", v);
	return 0;
}

int dpctl_load_key(const char *path, const char *key_id, const char *dir,
		   Roomvpn__Dataplane__V1__Key *k)
{
	char err[256];
	struct rv_key_material *km = malloc(sizeof(*km));
	uint32_t id = 0;
	if (!km)
		return EXIT_USAGE;
	if (rv_static_key_load(path, km, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dpctl: key file: %s\n", err);
		free(km);
		return EXIT_USAGE;
	}
	k->material.data = (uint8_t *)km;
	k->material.len = sizeof(*km);
	if ((key_id && dpctl_parse_num("--key-id", key_id, 7, &id)) ||
	    parse_direction(dir, &k->direction))
		return EXIT_USAGE;
	k->key_id = id;
	return 0;
}

void dpctl_free_key(Roomvpn__Dataplane__V1__Key *k)
{
	if (k->material.data)
		OPENSSL_cleanse(k->material.data, k->material.len);
	free(k->material.data);
	k->material.data = NULL;
}

/* ---- talking to the agent ---- */

static int connect_agent(const char *path, unsigned timeout_s)
{
	char err[256];
	int fd = rv_agent_dial(path, timeout_s, err, sizeof(err));
	if (fd < 0)
		fprintf(stderr, "cannot connect to data plane agent at %s: %s\n", path, err);
	return fd;
}

int dpctl_call(const struct ctl *ctl, pb_request *req, pb_response **resp)
{
	uint8_t *buf, *body = NULL;
	size_t len;
	uint32_t blen;
	char err[256];
	int fd = connect_agent(ctl->socket, ctl->timeout_s);
	if (fd < 0)
		return EXIT_CONNECT;
	req->request_id = (uint64_t)getpid();
	req->fence = ctl->fence;
	if (rv_agent_pack(&req->base, &buf, &len) < 0) {
		fprintf(stderr, "roomvpn-dpctl: request too large (limit %u bytes)\n",
			RV_AGENT_MSG_MAX);
		close(fd);
		return EXIT_USAGE;
	}
	int rc = rv_agent_write_all(fd, buf, len, err, sizeof(err));
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (rc == 0)
		rc = rv_agent_read_msg(fd, &body, &blen, err, sizeof(err));
	if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		snprintf(err, sizeof(err), "no reply within %u s (--timeout)", ctl->timeout_s);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "roomvpn-dpctl: data plane agent at %s: %s\n", ctl->socket, err);
		return EXIT_CONNECT;
	}
	*resp = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	if (!*resp) {
		fprintf(stderr, "roomvpn-dpctl: undecodable response from the agent\n");
		return EXIT_CONNECT;
	}
	if ((*resp)->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK) {
		fprintf(stderr, "roomvpn-dpctl: refused: %s: %s\n",
			rv_agent_status_name((*resp)->status), (*resp)->message);
		return EXIT_REFUSED;
	}
	return EXIT_OK;
}

int dpctl_call_simple(const struct ctl *ctl, pb_request *req)
{
	pb_response *resp = NULL;
	int rc = dpctl_call(ctl, req, &resp);
	if ((rc == EXIT_OK || rc == EXIT_REFUSED) && ctl->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(rc == EXIT_OK));
		if (rc == EXIT_REFUSED) {
			json_object_object_add(
			    o, "status",
			    json_object_new_string(rv_agent_status_name(resp->status)));
			json_object_object_add(o, "message", json_object_new_string(resp->message));
		}
		dpctl_json_print(o);
	} else if (rc == EXIT_OK)
		printf("ok\n");
	if (resp)
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.socket = DEFAULT_SOCKET, .timeout_s = 60};
	int i = 1;
	if (rv_version_asked(argc, argv, "roomvpn-dpctl"))
		return EXIT_OK;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			ctl.json = true;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			ctl.socket = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			uint32_t t;
			if (dpctl_parse_num("--timeout", argv[++i], 86400, &t) || t == 0)
				return dpctl_usage_error("%s",
							 "--timeout must be 1..86400 seconds");
			ctl.timeout_s = t;
		} else if (strcmp(argv[i], "--fence") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			ctl.fence = strtoull(argv[++i], &end, 10);
			if (errno || *end || !argv[i][0] || argv[i][0] == '-')
				return dpctl_usage_error("%s", "--fence must be a number");
		} else {
			return dpctl_usage_error("unknown option \"%s\"", argv[i]);
		}
	}
	if (i >= argc)
		return dpctl_usage_error("%s", "missing command");
	/* --json anywhere, as the client has it (`dpctl sessions --json`) */
	int n = i;
	for (int j = i; j < argc; j++) {
		if (strcmp(argv[j], "--json") == 0)
			ctl.json = true;
		else
			argv[n++] = argv[j];
	}
	argc = n;
	return dpctl_run_command(&ctl, argc - i, argv + i);
}
