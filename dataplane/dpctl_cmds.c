/* roomvpn-dpctl commands: each builds one Request from its arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "cipher.h"
#include "dpctl.h"
#include "inet.h"
#include "session_file.h"
#include "static_key.h"

#define N(a)	  (sizeof(a) / sizeof((a)[0]))
#define REQ(name) ROOMVPN__DATAPLANE__V1__REQUEST__BODY_##name

/* "fd00:77::/64" into @buf (16 bytes) and @plen; -1 if it is not. */
static int parse_cidr6(const char *v, uint8_t buf[16], uint32_t *plen)
{
	char a[64];
	const char *slash = strchr(v, '/');
	char *end;
	if (!slash || (size_t)(slash - v) >= sizeof(a))
		return -1;
	memcpy(a, v, (size_t)(slash - v));
	a[slash - v] = 0;
	unsigned long n = strtoul(slash + 1, &end, 10);
	if (*end || end == slash + 1 || n > 128 || inet_pton(AF_INET6, a, buf) != 1)
		return -1;
	*plen = (uint32_t)n;
	return 0;
}

static int cmd_room_add(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__UpsertRoom up = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"subnet", NULL}, {"prefix6", NULL}};
	const char *subnet, *p6;
	uint8_t plen, prefix6[16];
	if (argc < 1)
		return dpctl_usage_error("%s", "room add needs an ID");
	if (dpctl_parse_num("room ID", argv[0], UINT32_MAX, &room.room_id) ||
	    dpctl_parse_opts(argc - 1, argv + 1, o, N(o)) || dpctl_need(o, N(o), "subnet", &subnet))
		return EXIT_USAGE;
	if (rv_parse_cidr(subnet, &room.subnet, &plen) < 0)
		return dpctl_usage_error("bad --subnet \"%s\" (expected A.B.C.D/N)", subnet);
	room.prefix_len = plen;
	if ((p6 = dpctl_opt_get(o, N(o), "prefix6"))) {
		if (parse_cidr6(p6, prefix6, &room.prefix6_len) < 0)
			return dpctl_usage_error("bad --prefix6 \"%s\" (expected IPV6/N)", p6);
		room.prefix6 = (ProtobufCBinaryData){16, prefix6};
	}
	up.room = &room;
	req.body_case = REQ(UPSERT_ROOM);
	req.upsert_room = &up;
	return dpctl_call_simple(ctl, &req);
}

static int cmd_room_del(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__DeleteRoom del = ROOMVPN__DATAPLANE__V1__DELETE_ROOM__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	if (argc != 1)
		return dpctl_usage_error("%s", "usage: room del ID");
	if (dpctl_parse_num("room ID", argv[0], UINT32_MAX, &del.room_id))
		return EXIT_USAGE;
	req.body_case = REQ(DELETE_ROOM);
	req.delete_room = &del;
	return dpctl_call_simple(ctl, &req);
}

/* A.B.C.D:PORT or [IPV6]:PORT (the IPv6 bytes in @a6, owned by the caller). */
static int parse_outer(const char *v, Roomvpn__Dataplane__V1__Endpoint *ep, uint8_t a6[16])
{
	uint32_t addr;
	uint16_t port;
	if (rv_parse_hostport6(v, a6, &port) == 0 && port) {
		ep->addr6 = (ProtobufCBinaryData){.len = 16, .data = a6};
		ep->port = port;
		return 0;
	}
	if (rv_parse_hostport(v, &addr, &port) < 0 || port == 0)
		return dpctl_usage_error(
		    "bad --outer \"%s\" (expected A.B.C.D:PORT or [IPV6]:PORT)", v);
	ep->addr = addr;
	ep->port = port;
	return 0;
}

static int cmd_session_add(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__UpsertSession up = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	Roomvpn__Dataplane__V1__Session s = ROOMVPN__DATAPLANE__V1__SESSION__INIT;
	Roomvpn__Dataplane__V1__Key key = ROOMVPN__DATAPLANE__V1__KEY__INIT;
	Roomvpn__Dataplane__V1__Endpoint outer = ROOMVPN__DATAPLANE__V1__ENDPOINT__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"peer-id", NULL},	   {"room", NULL},  {"vip", NULL},
			  {"cipher", NULL},	   {"key", NULL},   {"key-id", NULL},
			  {"key-direction", NULL}, {"outer", NULL}, {"vip6", NULL}};
	const char *peer, *room, *vip, *cipher, *keyfile, *outer_s, *vip6_s;
	uint8_t vip6[16];
	if (dpctl_parse_opts(argc, argv, o, N(o)) || dpctl_need(o, N(o), "peer-id", &peer) ||
	    dpctl_need(o, N(o), "room", &room) || dpctl_need(o, N(o), "vip", &vip) ||
	    dpctl_need(o, N(o), "cipher", &cipher) || dpctl_need(o, N(o), "key", &keyfile))
		return EXIT_USAGE;
	if (dpctl_parse_num("--peer-id", peer, RV_AGENT_PEER_ID_MAX, &s.peer_id) ||
	    dpctl_parse_num("--room", room, UINT32_MAX, &s.room_id) ||
	    dpctl_parse_ip("--vip", vip, &s.vip))
		return EXIT_USAGE;
	uint8_t a6[16];
	if ((outer_s = dpctl_opt_get(o, N(o), "outer")) && parse_outer(outer_s, &outer, a6))
		return EXIT_USAGE;
	if ((vip6_s = dpctl_opt_get(o, N(o), "vip6"))) {
		if (inet_pton(AF_INET6, vip6_s, vip6) != 1)
			return dpctl_usage_error("bad --vip6 \"%s\" (expected an IPv6 address)",
						 vip6_s);
		s.vip6 = (ProtobufCBinaryData){16, vip6};
	}
	if (dpctl_load_key(keyfile, dpctl_opt_get(o, N(o), "key-id"),
			   dpctl_opt_get(o, N(o), "key-direction"), &key)) {
		dpctl_free_key(&key);
		return EXIT_USAGE;
	}
	s.cipher = (char *)cipher; /* the agent checks the name */
	s.key = &key;
	s.outer = outer_s ? &outer : NULL;
	up.session = &s;
	req.body_case = REQ(UPSERT_SESSION);
	req.upsert_session = &up;
	int rc = dpctl_call_simple(ctl, &req);
	dpctl_free_key(&key);
	return rc;
}

static int cmd_session_del(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__DeleteSession del = ROOMVPN__DATAPLANE__V1__DELETE_SESSION__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"peer-id", NULL}};
	const char *peer;
	if (argc == 1 && argv[0][0] != '-') /* also "session del N" */
		peer = argv[0];
	else if (dpctl_parse_opts(argc, argv, o, N(o)) || dpctl_need(o, N(o), "peer-id", &peer))
		return EXIT_USAGE;
	if (dpctl_parse_num("peer-id", peer, RV_AGENT_PEER_ID_MAX, &del.peer_id))
		return EXIT_USAGE;
	req.body_case = REQ(DELETE_SESSION);
	req.delete_session = &del;
	return dpctl_call_simple(ctl, &req);
}

static int cmd_key_install(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__InstallKey ik = ROOMVPN__DATAPLANE__V1__INSTALL_KEY__INIT;
	Roomvpn__Dataplane__V1__Key key = ROOMVPN__DATAPLANE__V1__KEY__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"peer-id", NULL},	   {"key", NULL},    {"key-id", NULL},
			  {"key-direction", NULL}, {"cipher", NULL}, {"grace-ms", NULL},
			  {"seal-after-use", NULL}};
	const char *peer, *keyfile, *key_id, *grace, *sau;
	uint32_t after_use = 0;
	if (dpctl_parse_opts(argc, argv, o, N(o)) || dpctl_need(o, N(o), "peer-id", &peer) ||
	    dpctl_need(o, N(o), "key", &keyfile) || dpctl_need(o, N(o), "key-id", &key_id) ||
	    dpctl_parse_num("--peer-id", peer, RV_AGENT_PEER_ID_MAX, &ik.peer_id))
		return EXIT_USAGE;
	if ((grace = dpctl_opt_get(o, N(o), "grace-ms")) &&
	    dpctl_parse_num("--grace-ms", grace, UINT32_MAX, &ik.grace_ms))
		return EXIT_USAGE;
	if ((sau = dpctl_opt_get(o, N(o), "seal-after-use")) &&
	    dpctl_parse_num("--seal-after-use", sau, 1, &after_use))
		return EXIT_USAGE;
	ik.seal_after_use = after_use == 1;
	if (dpctl_load_key(keyfile, key_id, dpctl_opt_get(o, N(o), "key-direction"), &key)) {
		dpctl_free_key(&key);
		return EXIT_USAGE;
	}
	ik.cipher =
	    (char *)(dpctl_opt_get(o, N(o), "cipher") ? dpctl_opt_get(o, N(o), "cipher") : "");
	ik.key = &key;
	req.body_case = REQ(INSTALL_KEY);
	req.install_key = &ik;
	int rc = dpctl_call_simple(ctl, &req);
	dpctl_free_key(&key);
	return rc;
}

static int cmd_key_retire(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__RetireKey rk = ROOMVPN__DATAPLANE__V1__RETIRE_KEY__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"peer-id", NULL}, {"key-id", NULL}};
	const char *peer, *key_id;
	if (dpctl_parse_opts(argc, argv, o, N(o)) || dpctl_need(o, N(o), "peer-id", &peer) ||
	    dpctl_need(o, N(o), "key-id", &key_id) ||
	    dpctl_parse_num("--peer-id", peer, RV_AGENT_PEER_ID_MAX, &rk.peer_id) ||
	    dpctl_parse_num("--key-id", key_id, 7, &rk.key_id))
		return EXIT_USAGE;
	req.body_case = REQ(RETIRE_KEY);
	req.retire_key = &rk;
	return dpctl_call_simple(ctl, &req);
}

/* sessions / rooms / stats: one ReadStats, three views. */
static int cmd_read(const struct ctl *ctl, int argc, const char *what)
{
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	pb_response *resp = NULL;
	if (argc != 0)
		return dpctl_usage_error("%s takes no arguments", what);
	rs.sessions = strcmp(what, "sessions") == 0;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rs;
	int rc = dpctl_call(ctl, &req, &resp);
	if (rc == EXIT_OK && resp->stats) {
		if (strcmp(what, "sessions") == 0)
			dpctl_show_sessions(ctl, resp->stats);
		else if (strcmp(what, "rooms") == 0)
			dpctl_show_rooms(ctl, resp->stats);
		else
			dpctl_show_stats(ctl, resp->stats);
	}
	if (resp)
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return rc;
}

/* trace start [--count N] [--peer-id P | --room R] | stop | show */
static int cmd_trace(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__TraceStart start = ROOMVPN__DATAPLANE__V1__TRACE_START__INIT;
	Roomvpn__Dataplane__V1__TraceStop stop = ROOMVPN__DATAPLANE__V1__TRACE_STOP__INIT;
	Roomvpn__Dataplane__V1__TraceShow show = ROOMVPN__DATAPLANE__V1__TRACE_SHOW__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	const char *sub = argc > 0 ? argv[0] : "";
	if (strcmp(sub, "start") == 0) {
		struct opt o[] = {{"count", NULL}, {"peer-id", NULL}, {"room", NULL}};
		const char *v;
		if (dpctl_parse_opts(argc - 1, argv + 1, o, N(o)))
			return EXIT_USAGE;
		if ((v = dpctl_opt_get(o, N(o), "count")) &&
		    dpctl_parse_num("--count", v, 1000, &start.count))
			return EXIT_USAGE;
		if ((v = dpctl_opt_get(o, N(o), "peer-id"))) {
			if (dpctl_parse_num("--peer-id", v, 0xFFFFFE, &start.peer_id))
				return EXIT_USAGE;
			start.by_peer = true;
		}
		if ((v = dpctl_opt_get(o, N(o), "room"))) {
			if (start.by_peer)
				return dpctl_usage_error("%s",
							 "--peer-id and --room exclude each other");
			if (dpctl_parse_num("--room", v, UINT32_MAX, &start.room_id) ||
			    start.room_id == 0)
				return dpctl_usage_error("%s", "--room needs a room ID (not 0)");
		}
		req.body_case = REQ(TRACE_START);
		req.trace_start = &start;
		return dpctl_call_simple(ctl, &req);
	}
	if (strcmp(sub, "stop") == 0 && argc == 1) {
		req.body_case = REQ(TRACE_STOP);
		req.trace_stop = &stop;
		return dpctl_call_simple(ctl, &req);
	}
	if (strcmp(sub, "show") != 0 || argc != 1)
		return dpctl_usage_error(
		    "%s", "usage: trace start [--count N] [--peer-id P | --room R] | "
			  "trace stop | trace show");
	pb_response *resp = NULL;
	req.body_case = REQ(TRACE_SHOW);
	req.trace_show = &show;
	int rc = dpctl_call(ctl, &req, &resp);
	if (rc == EXIT_OK)
		dpctl_show_trace(ctl, resp->trace);
	if (resp)
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return rc;
}

/* ---- resync: session file -> Resync ---- */

struct resync_mem {
	Roomvpn__Dataplane__V1__Room *rooms, **room_ptrs;
	Roomvpn__Dataplane__V1__Session *sess, **sess_ptrs;
	Roomvpn__Dataplane__V1__Key *keys;
	Roomvpn__Dataplane__V1__Endpoint *outers;
};

static void resync_mem_free(struct resync_mem *m)
{
	free(m->rooms);
	free(m->room_ptrs);
	free(m->sess);
	free(m->sess_ptrs);
	free(m->keys);
	free(m->outers);
}

static Roomvpn__Dataplane__V1__KeyDirection direction_pb(int d)
{
	if (d == 0)
		return ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_CLIENT;
	if (d == RV_KEY_DIRECTION_NONE)
		return ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_BIDIRECTIONAL;
	return ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
}

/* Messages point into @f (keys are not copied). */
static int build_resync(struct rv_session_file *f, struct resync_mem *m,
			Roomvpn__Dataplane__V1__Resync *rs)
{
	size_t nr = f->n_rooms, ns = f->n_sessions;
	m->rooms = calloc(nr + 1, sizeof(*m->rooms));
	m->room_ptrs = calloc(nr + 1, sizeof(*m->room_ptrs));
	m->sess = calloc(ns + 1, sizeof(*m->sess));
	m->sess_ptrs = calloc(ns + 1, sizeof(*m->sess_ptrs));
	m->keys = calloc(ns + 1, sizeof(*m->keys));
	m->outers = calloc(ns + 1, sizeof(*m->outers));
	if (!m->rooms || !m->room_ptrs || !m->sess || !m->sess_ptrs || !m->keys || !m->outers)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		roomvpn__dataplane__v1__room__init(&m->rooms[i]);
		m->rooms[i].room_id = f->rooms[i].room_id;
		m->rooms[i].subnet = f->rooms[i].subnet;
		m->rooms[i].prefix_len = f->rooms[i].prefix_len;
		m->room_ptrs[i] = &m->rooms[i];
	}
	for (size_t i = 0; i < ns; i++) {
		struct rv_st_session *s = &f->sessions[i];
		Roomvpn__Dataplane__V1__Session *p = &m->sess[i];
		roomvpn__dataplane__v1__session__init(p);
		roomvpn__dataplane__v1__key__init(&m->keys[i]);
		roomvpn__dataplane__v1__endpoint__init(&m->outers[i]);
		p->peer_id = s->peer_id;
		p->room_id = s->room_id;
		p->vip = s->vip;
		p->cipher = (char *)rv_cipher_name(s->cipher);
		m->keys[i].key_id = s->key_id;
		m->keys[i].material.data = (uint8_t *)&s->key;
		m->keys[i].material.len = sizeof(s->key);
		m->keys[i].direction = direction_pb(s->key_direction);
		p->key = &m->keys[i];
		if (s->addr.kind == RV_ADDR_UDP) {
			m->outers[i].addr = s->addr.ip;
			m->outers[i].port = s->addr.port;
			p->outer = &m->outers[i];
		} else if (s->addr.kind == RV_ADDR_UDP6) { /* bytes stay in the file's session */
			m->outers[i].addr6 = (ProtobufCBinaryData){.len = 16, .data = s->addr.ip6};
			m->outers[i].port = s->addr.port;
			p->outer = &m->outers[i];
		}
		m->sess_ptrs[i] = p;
	}
	rs->n_rooms = nr;
	rs->rooms = m->room_ptrs;
	rs->n_sessions = ns;
	rs->sessions = m->sess_ptrs;
	return 0;
}

static int cmd_resync(const struct ctl *ctl, int argc, char **argv)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	struct opt o[] = {{"file", NULL}};
	struct rv_session_file f;
	struct resync_mem m = {0};
	const char *path;
	char err[512];
	int rc;
	if (dpctl_parse_opts(argc, argv, o, N(o)) || dpctl_need(o, N(o), "file", &path))
		return EXIT_USAGE;
	if (rv_session_file_load(path, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dpctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (build_resync(&f, &m, &rs) < 0) {
		fprintf(stderr, "roomvpn-dpctl: out of memory\n");
		rc = EXIT_USAGE;
	} else {
		req.body_case = REQ(RESYNC);
		req.resync = &rs;
		rc = dpctl_call_simple(ctl, &req);
	}
	resync_mem_free(&m);
	rv_session_file_free(&f);
	return rc;
}

int dpctl_run_command(const struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	if (strcmp(cmd, "room") == 0 && strcmp(sub, "add") == 0)
		return cmd_room_add(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "room") == 0 && strcmp(sub, "del") == 0)
		return cmd_room_del(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "session") == 0 && strcmp(sub, "add") == 0)
		return cmd_session_add(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "session") == 0 && strcmp(sub, "del") == 0)
		return cmd_session_del(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "key") == 0 && strcmp(sub, "install") == 0)
		return cmd_key_install(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "key") == 0 && strcmp(sub, "retire") == 0)
		return cmd_key_retire(ctl, argc - 2, argv + 2);
	if (strcmp(cmd, "sessions") == 0 || strcmp(cmd, "rooms") == 0 || strcmp(cmd, "stats") == 0)
		return cmd_read(ctl, argc - 1, cmd);
	if (strcmp(cmd, "resync") == 0)
		return cmd_resync(ctl, argc - 1, argv + 1);
	if (strcmp(cmd, "trace") == 0)
		return cmd_trace(ctl, argc - 1, argv + 1);
	if (strcmp(cmd, "room") == 0 || strcmp(cmd, "session") == 0 || strcmp(cmd, "key") == 0)
		return dpctl_usage_error("unknown subcommand \"%s\"", sub);
	return dpctl_usage_error("unknown command \"%s\"", cmd);
}
