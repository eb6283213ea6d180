/* RoomService: rooms, members and their virtual IPs (rooms.h). Keys:
 * docs/store.md. Handlers validate cheaply first; anything needing Argon2
 * (a room password) continues on the password pool and answers with
 * rv_rpc_complete(). */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"
#include "password.h"
#include "ratelimit.h"
#include "room_net.h"
#include "roomvpn/v1/common.pb-c.h"
#include "rooms.h"
#include "store.h"
#include "tunnels.h"
#include "users.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     1000

static pthread_mutex_t rooms_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rv_ipam rooms_ipam;

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__MemberRecord MemberRecord;

/* ---- keys and records ---------------------------------------------------- */

#define KEY_MAX 96

static size_t key_room(char *k, uint64_t id)
{
	return (size_t)snprintf(k, KEY_MAX, "r/%016" PRIx64, id);
}

static size_t key_name(char *k, const char *name)
{
	return (size_t)snprintf(k, KEY_MAX, "rn/%s", name);
}

static size_t key_subnet(char *k, uint32_t addr)
{
	return (size_t)snprintf(k, KEY_MAX, "rs/%08" PRIx32, addr);
}

static size_t key_member(char *k, uint64_t room, uint64_t dev)
{
	return (size_t)snprintf(k, KEY_MAX, "m/%016" PRIx64 "/%016" PRIx64, room, dev);
}

static size_t key_ip(char *k, uint64_t room, uint32_t addr)
{
	return (size_t)snprintf(k, KEY_MAX, "ip/%016" PRIx64 "/%08" PRIx32, room, addr);
}

static size_t key_ipd(char *k, uint64_t room, uint64_t dev)
{
	return (size_t)snprintf(k, KEY_MAX, "ipd/%016" PRIx64 "/%016" PRIx64, room, dev);
}

static uint64_t parse_hex64(const void *v, size_t len)
{
	char buf[20];
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return strtoull(buf, NULL, 16);
}

/* Packs @m into @b under @k. */
static int batch_put_msg(struct rv_store_batch *b, const char *k, size_t kl,
			 const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -1;
	protobuf_c_message_pack(m, buf);
	rv_store_batch_put(b, k, kl, buf, len);
	free(buf);
	return 0;
}

static bool key_exists(struct rv_store *s, const char *k, size_t kl)
{
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(s, k, kl, &v, &vl);
	free(v);
	return rc == 0;
}

static int load_by_id(struct rv_store *s, uint64_t id, RoomRecord **out)
{
	char k[KEY_MAX];
	void *v;
	size_t vl;
	int rc = rv_store_get(s, k, key_room(k, id), &v, &vl);
	if (rc != 0)
		return rc;
	*out = roomvpn__v1__room_record__unpack(NULL, vl, v);
	free(v);
	return *out ? 0 : -1;
}

int rv_rooms_load_id(struct rv_store *s, uint64_t id, RoomRecord **out)
{
	return id ? load_by_id(s, id, out) : 1;
}

/* "#<decimal id>": 0 and the id, -1 if @ref is not of that form. */
static int parse_id_ref(const char *ref, uint64_t *id)
{
	char *end;

	if (ref[0] != '#' || !isdigit((unsigned char)ref[1]))
		return -1;
	unsigned long long v = strtoull(ref + 1, &end, 10);
	if (*end || v == 0)
		return -1;
	*id = v;
	return 0;
}

int rv_rooms_load(struct rv_store *s, const char *room, RoomRecord **out)
{
	char k[KEY_MAX];
	void *v;
	size_t vl;
	uint64_t id;

	if (!room || !room[0] || strlen(room) > RV_ROOM_NAME_MAX)
		return 1;
	if (room[0] == '#') /* no name starts with '#' (rv_rooms_valid_name) */
		return parse_id_ref(room, &id) == 0 ? load_by_id(s, id, out) : 1;
	int rc = rv_store_get(s, k, key_name(k, room), &v, &vl);
	if (rc != 0)
		return rc;
	id = parse_hex64(v, vl);
	free(v);
	return load_by_id(s, id, out);
}

bool rv_rooms_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > RV_ROOM_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

const char *rv_rooms_room_of(const ProtobufCMessage *req)
{
	/* Every room request but Create and List carries `string room = 1`. */
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "room");
	if (!f || f->type != PROTOBUF_C_TYPE_STRING)
		return NULL;
	return *(const char *const *)((const char *)req + f->offset);
}

/* ---- replies --------------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*oom = true;
	return d;
}

static uint32_t member_count(struct rv_store *s, uint64_t room)
{
	char p[KEY_MAX];
	uint64_t n = 0;
	int pl = snprintf(p, sizeof(p), "m/%016" PRIx64 "/", room);
	rv_store_count_prefix(s, p, (size_t)pl, &n);
	return (uint32_t)n;
}

static bool is_member(struct rv_store *s, uint64_t room, uint64_t dev)
{
	char k[KEY_MAX];
	return dev && key_exists(s, k, key_member(k, room, dev));
}

/* The public view of a room; the key only for its owner, admins, members. */
static Roomvpn__V1__Room *room_msg(struct rv_rpc_ctx *ctx, const RoomRecord *r)
{
	struct rv_store *s = ctx->ctl->store;
	Roomvpn__V1__Room *m = malloc(sizeof(*m));
	bool oom = !m;
	char buf[32];
	if (!m)
		return NULL;
	roomvpn__v1__room__init(m);
	m->id = r->id;
	m->name = dup_or_null(r->name, &oom);
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	rv_ipam_format_cidr(&net, buf, sizeof(buf));
	m->subnet = dup_or_null(buf, &oom);
	rv_ipam_format_addr(rv_ipam_server_addr(&net), buf, sizeof(buf));
	m->server_ip = dup_or_null(buf, &oom);
	m->transport = (Roomvpn__V1__Transport)r->transport;
	m->mtu = r->mtu;
	m->keepalive_s = r->keepalive_s;
	m->owner = dup_or_null(r->owner, &oom);
	m->owner_id = r->owner_id;
	m->has_password = r->password_hash && r->password_hash[0];
	m->members = member_count(s, r->id);
	m->created_unix = r->created_ns / 1000000000ull;
	struct rv_room_net net_set;
	if (rv_room_net_export(r, NULL, &net_set) == 0)
		rv_room_net_move(&net_set, &m->n_dns_servers, &m->dns_servers, &m->dns_search,
				 &m->n_routes, &m->routes);
	else
		oom = true;
	bool privileged = ctx->who.admin || ctx->who.user_id == r->owner_id ||
			  is_member(s, r->id, ctx->who.device_id);
	if (privileged && r->room_key.len) {
		m->room_key.data = malloc(r->room_key.len);
		if (m->room_key.data) {
			memcpy(m->room_key.data, r->room_key.data, r->room_key.len);
			m->room_key.len = r->room_key.len;
		} else {
			oom = true;
		}
	}
	if (oom) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return NULL;
	}
	return m;
}

static grpc_status_code oom_status(char *msg, size_t msglen)
{
	snprintf(msg, msglen, "out of memory");
	return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

static grpc_status_code store_status(char *msg, size_t msglen)
{
	snprintf(msg, msglen, "store error (see the server log)");
	return GRPC_STATUS_INTERNAL;
}

static grpc_status_code empty_reply(ProtobufCMessage **resp, char *msg, size_t msglen)
{
	Roomvpn__V1__Empty *e = malloc(sizeof(*e));
	if (!e)
		return oom_status(msg, msglen);
	roomvpn__v1__empty__init(e);
	*resp = &e->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code not_found(const char *room, char *msg, size_t msglen)
{
	snprintf(msg, msglen, "room '%s' not found", room);
	return GRPC_STATUS_NOT_FOUND;
}

/* Looks @room up; OK and *out, or NOT_FOUND / INTERNAL with a message. */
static grpc_status_code find_room(struct rv_rpc_ctx *ctx, const char *room, RoomRecord **out,
				  char *msg, size_t msglen)
{
	snprintf(ctx->target, sizeof(ctx->target), "%s", room);
	if (!room[0]) {
		snprintf(msg, msglen, "room is required (a room name, or #<id>)");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = rv_rooms_load(ctx->ctl->store, room, out);
	if (rc < 0)
		return store_status(msg, msglen);
	if (rc == 1)
		return not_found(room, msg, msglen);
	return GRPC_STATUS_OK;
}

/* ---- password work on the Argon2 pool ---------------------------------------- */

typedef grpc_status_code (*pw_step_fn)(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       const char *pw_hash, ProtobufCMessage **resp, char *msg,
				       size_t msglen);

enum pw_kind { PW_HASH, PW_VERIFY };

struct pw_job {
	struct rv_rpc_ctx *ctx;
	ProtobufCMessage *req; /* a deep copy: the server frees the original */
	enum pw_kind kind;
	char password[RV_PASSWORD_MAX + 1];
	char encoded[RV_PASSWORD_ENCODED]; /* PW_VERIFY: the stored hash */
	pw_step_fn next;
};

static ProtobufCMessage *msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return c;
}

/* Hash (into @hash) or verify @password; OK, or an error with a message. */
static grpc_status_code pw_compute(const struct rv_control_config *cfg, enum pw_kind kind,
				   const char *password, const char *encoded, char *hash,
				   size_t hashlen, char *msg, size_t msglen)
{
	if (kind == PW_HASH)
		return rv_password_hash(cfg, password, hash, hashlen, msg, msglen) < 0
			   ? GRPC_STATUS_INTERNAL
			   : GRPC_STATUS_OK;
	if (rv_password_verify(encoded, password) != 0) {
		snprintf(msg, msglen, "wrong room password");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	return GRPC_STATUS_OK;
}

/* Room-password guesses are limited like logins (ratelimit.c), per user and
 * room ("room/<name>/<user>": names have no '/') and per source address. */
static void limiter_key(const struct rv_rpc_ctx *ctx, char *key, size_t len, char *addr,
			size_t addrlen)
{
	snprintf(key, len, "room/%.63s/%.63s", ctx->target, ctx->who.username);
	rv_ratelimit_addr_of_peer(ctx->peer ? ctx->peer : "", addr, addrlen);
}

static grpc_status_code pw_check(struct rv_rpc_ctx *ctx, enum pw_kind kind, const char *password,
				 const char *encoded, char *hash, size_t hashlen, char *msg,
				 size_t msglen)
{
	struct rv_ratelimit *rl = ctx->ctl->ratelimit;
	if (kind != PW_VERIFY || !rl)
		return pw_compute(&ctx->ctl->cfg, kind, password, encoded, hash, hashlen, msg,
				  msglen);
	char key[140], addr[64];
	limiter_key(ctx, key, sizeof(key), addr, sizeof(addr));
	int v = rv_ratelimit_verify(rl, key, addr, encoded, password, "wrong room passwords",
				    "user and room", msg, msglen);
	if (v > 0)
		snprintf(msg, msglen, "wrong room password");
	return v < 0 ? GRPC_STATUS_RESOURCE_EXHAUSTED
		     : v > 0 ? GRPC_STATUS_PERMISSION_DENIED : GRPC_STATUS_OK;
}

/* Admits one guess (a reservation that pw_check ends) before it is queued,
 * or RESOURCE_EXHAUSTED while this user/address has guessed wrong too often. */
static grpc_status_code pw_limited(struct rv_rpc_ctx *ctx, char *msg, size_t msglen)
{
	char key[140], addr[64];
	limiter_key(ctx, key, sizeof(key), addr, sizeof(addr));
	return rv_ratelimit_admit(ctx->ctl->ratelimit, key, addr, "wrong room passwords",
				  "user and room", msg, msglen);
}

/* Ends pw_limited's reservation of a guess that will never be checked
 * (its job could not be queued). */
static void pw_unadmit(struct rv_rpc_ctx *ctx, enum pw_kind kind)
{
	char key[140], addr[64];
	if (kind != PW_VERIFY || !ctx->ctl->ratelimit)
		return;
	limiter_key(ctx, key, sizeof(key), addr, sizeof(addr));
	rv_ratelimit_cancel(ctx->ctl->ratelimit, key, addr);
}

static void pw_job_free(struct pw_job *j)
{
	OPENSSL_cleanse(j->password, sizeof(j->password));
	if (j->req)
		protobuf_c_message_free_unpacked(j->req, NULL);
	free(j);
}

static void pw_job_main(void *arg)
{
	struct pw_job *j = arg;
	struct rv_rpc_ctx *ctx = j->ctx;
	ProtobufCMessage *resp = NULL;
	char msg[256] = "", hash[RV_PASSWORD_ENCODED] = "";
	grpc_status_code st =
	    pw_check(ctx, j->kind, j->password, j->encoded, hash, sizeof(hash), msg, sizeof(msg));
	if (st == GRPC_STATUS_OK)
		st = j->next(ctx, j->req, hash, &resp, msg, sizeof(msg));
	OPENSSL_cleanse(hash, sizeof(hash));
	if (st != GRPC_STATUS_OK && resp) {
		protobuf_c_message_free_unpacked(resp, NULL);
		resp = NULL;
	}
	pw_job_free(j);
	rv_rpc_complete(ctx, st, resp, msg);
}

/* Runs @next after hashing/verifying @password: on the pool when there is
 * one (the call then answers later: RV_RPC_PENDING), inline otherwise. */
static grpc_status_code with_password(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				      enum pw_kind kind, const char *password, const char *encoded,
				      pw_step_fn next, ProtobufCMessage **resp, char *msg,
				      size_t msglen)
{
	if (!ctx->ctl->pwpool) {
		char hash[RV_PASSWORD_ENCODED] = "";
		grpc_status_code st =
		    pw_check(ctx, kind, password, encoded, hash, sizeof(hash), msg, msglen);
		return st == GRPC_STATUS_OK ? next(ctx, req, hash, resp, msg, msglen) : st;
	}
	struct pw_job *j = calloc(1, sizeof(*j));
	if (!j) {
		pw_unadmit(ctx, kind);
		return oom_status(msg, msglen);
	}
	j->ctx = ctx;
	j->kind = kind;
	j->next = next;
	snprintf(j->password, sizeof(j->password), "%s", password);
	snprintf(j->encoded, sizeof(j->encoded), "%s", encoded ? encoded : "");
	j->req = msg_copy(req);
	if (!j->req) {
		pw_job_free(j);
		pw_unadmit(ctx, kind);
		return oom_status(msg, msglen);
	}
	if (rv_pwpool_submit(ctx->ctl->pwpool, pw_job_main, j) < 0) {
		pw_job_free(j);
		pw_unadmit(ctx, kind);
		snprintf(msg, msglen, "server is shutting down");
		return GRPC_STATUS_UNAVAILABLE;
	}
	return RV_RPC_PENDING;
}

static bool password_ok(const char *pw, char *msg, size_t msglen)
{
	size_t n = strlen(pw);
	if (n && (n < RV_PASSWORD_MIN || n > 256)) {
		snprintf(msg, msglen, "room password must be %d..256 bytes (or empty for none)",
			 RV_PASSWORD_MIN);
		return false;
	}
	return true;
}

static bool settings_ok(uint32_t transport, uint32_t mtu, bool mtu_set, uint32_t keepalive,
			bool keepalive_set, char *msg, size_t msglen)
{
	if (transport > ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP) {
		snprintf(msg, msglen, "transport %u is not UDP (1) or TCP (2)", transport);
		return false;
	}
	if (mtu_set && (mtu < RV_ROOM_MTU_MIN || mtu > RV_ROOM_MTU_MAX)) {
		snprintf(msg, msglen, "mtu %u is outside %d..%d", mtu, RV_ROOM_MTU_MIN,
			 RV_ROOM_MTU_MAX);
		return false;
	}
	if (keepalive_set && (keepalive < 1 || keepalive > RV_ROOM_KEEPALIVE_MAX)) {
		snprintf(msg, msglen, "keepalive_s %u is outside 1..%d", keepalive,
			 RV_ROOM_KEEPALIVE_MAX);
		return false;
	}
	return true;
}

/* DNS settings and routes into @r (rooms lock held for the routes: they
 * are checked against the room's subnet). */
static grpc_status_code set_net(RoomRecord *r, bool dns_set, char *const *servers, size_t n_servers,
				const char *search, bool routes_set,
				Roomvpn__V1__Route *const *routes, size_t n_routes, char *msg,
				size_t msglen)
{
	int rc = dns_set ? rv_room_net_set_dns(r, servers, n_servers, search, msg, msglen) : 0;
	if (rc == 0 && routes_set)
		rc = rv_room_net_set_routes(r, routes, n_routes, msg, msglen);
	if (rc == -1)
		return GRPC_STATUS_INVALID_ARGUMENT;
	return rc ? oom_status(msg, msglen) : GRPC_STATUS_OK;
}

/* The DNS settings alone (no room needed): checked before any work. */
static bool dns_ok(char *const *servers, size_t n, const char *search, char *msg, size_t msglen)
{
	RoomRecord tmp = ROOMVPN__V1__ROOM_RECORD__INIT;
	int rc = rv_room_net_set_dns(&tmp, servers, n, search, msg, msglen);
	rv_room_net_clear(&tmp);
	return rc != -1;
}

/* ---- Create ---------------------------------------------------------------- */

struct subnets {
	struct rv_cidr *v;
	size_t n, cap;
	bool oom;
};

/* rs/<addr hex> -> "<prefix>/<room id hex>" */
static int subnets_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct subnets *ss = arg;
	char val[40];
	if (kl != 3 + 8 || vl >= sizeof(val))
		return 0;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;
		struct rv_cidr *p = realloc(ss->v, cap * sizeof(*p));
		if (!p) {
			ss->oom = true;
			return 1;
		}
		ss->v = p;
		ss->cap = cap;
	}
	memcpy(val, v, vl);
	val[vl] = '\0';
	ss->v[ss->n].addr = (uint32_t)parse_hex64((const char *)k + 3, 8);
	ss->v[ss->n].prefix = (uint8_t)atoi(val);
	ss->n++;
	return 0;
}

/* Picks or checks the subnet of a new room (rooms lock held). */
static grpc_status_code choose_subnet(struct rv_store *s, const char *want, struct rv_cidr *out,
				      char *msg, size_t msglen)
{
	struct subnets ss = {0};
	grpc_status_code st = GRPC_STATUS_OK;
	char a[24], b[24];
	if (rv_store_scan_prefix(s, "rs/", 3, NULL, 0, subnets_cb, &ss) < 0 || ss.oom) {
		free(ss.v);
		return store_status(msg, msglen);
	}
	if (want[0]) {
		char err[160];
		rv_ipam_parse_cidr(want, out, err, sizeof(err)); /* checked by the caller */
		for (size_t i = 0; i < ss.n; i++) {
			if (rv_ipam_overlaps(out, &ss.v[i])) {
				rv_ipam_format_cidr(out, a, sizeof(a));
				rv_ipam_format_cidr(&ss.v[i], b, sizeof(b));
				snprintf(msg, msglen, "subnet %s overlaps %s of another room", a,
					 b);
				st = GRPC_STATUS_ALREADY_EXISTS;
				break;
			}
		}
	} else if (rv_ipam_pool_pick(&rooms_ipam, ss.v, ss.n, out) < 0) {
		rv_ipam_format_cidr(&rooms_ipam.pool, a, sizeof(a));
		snprintf(msg, msglen, "the room address pool %s has no free /%u left", a,
			 rooms_ipam.room_prefix);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	free(ss.v);
	return st;
}

/* Writes a new room (rooms lock held): r/, rn/, rs/ and the id counter. */
static grpc_status_code store_new_room(struct rv_store *s, RoomRecord *r, char *msg, size_t msglen)
{
	char k[KEY_MAX], v[40];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return oom_status(msg, msglen);
	rv_id_lock();
	grpc_status_code st = GRPC_STATUS_OK;
	if (rv_id_alloc(s, b, "room", &r->id) < 0) {
		st = store_status(msg, msglen);
		goto out;
	}
	snprintf(v, sizeof(v), "%016" PRIx64, r->id);
	rv_store_batch_put(b, k, key_name(k, r->name), v, 16);
	int vl = snprintf(v, sizeof(v), "%u/%016" PRIx64, r->subnet_prefix, r->id);
	rv_store_batch_put(b, k, key_subnet(k, r->subnet_addr), v, (size_t)vl);
	if (batch_put_msg(b, k, key_room(k, r->id), &r->base) < 0) {
		st = oom_status(msg, msglen);
		goto out;
	}
	if (rv_store_batch_commit(s, b, true) < 0)
		st = store_status(msg, msglen);
out:
	rv_id_unlock();
	rv_store_batch_free(b);
	return st;
}

static grpc_status_code create_step(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    const char *pw_hash, ProtobufCMessage **resp, char *msg,
				    size_t msglen)
{
	const Roomvpn__V1__CreateRoomRequest *q = (const void *)req;
	const struct rv_control_config *cfg = &ctx->ctl->cfg;
	struct rv_store *s = ctx->ctl->store;
	RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	uint8_t key[RV_ROOM_KEY_LEN];
	struct rv_cidr net;
	char k[KEY_MAX];

	if (RAND_bytes(key, sizeof(key)) != 1)
		return store_status(msg, msglen);
	pthread_mutex_lock(&rooms_mu);
	grpc_status_code st = GRPC_STATUS_OK;
	if (key_exists(s, k, key_name(k, q->name))) {
		snprintf(msg, msglen, "room '%s' already exists", q->name);
		st = GRPC_STATUS_ALREADY_EXISTS;
		goto out;
	}
	st = choose_subnet(s, q->subnet, &net, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	r.name = q->name;
	r.subnet_addr = net.addr;
	r.subnet_prefix = net.prefix;
	r.transport = q->transport ? (uint32_t)q->transport : ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP;
	r.mtu = q->mtu ? q->mtu : (cfg->default_mtu ? cfg->default_mtu : 1400);
	r.keepalive_s = q->keepalive_s ? q->keepalive_s
				       : (cfg->default_keepalive_s ? cfg->default_keepalive_s : 10);
	r.room_key.data = key;
	r.room_key.len = sizeof(key);
	r.owner_id = ctx->who.user_id;
	r.owner = ctx->who.username;
	r.password_hash = (char *)pw_hash;
	r.created_ns = rv_control_now_real();
	st = set_net(&r, true, q->dns_servers, q->n_dns_servers, q->dns_search, true, q->routes,
		     q->n_routes, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = store_new_room(s, &r, msg, msglen);
out:
	pthread_mutex_unlock(&rooms_mu);
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__Room *m = room_msg(ctx, &r);
		st = m ? GRPC_STATUS_OK : oom_status(msg, msglen);
		if (m)
			*resp = &m->base;
		rv_log(RV_LOG_INFO, "rooms: '%s' created by %s (id %" PRIu64 ")", r.name,
		       ctx->who.username, r.id);
	}
	rv_room_net_clear(&r);
	OPENSSL_cleanse(key, sizeof(key));
	return st;
}

static bool name_ok(const char *name, char *msg, size_t msglen)
{
	if (rv_rooms_valid_name(name))
		return true;
	snprintf(msg, msglen,
		 "room name '%.64s' is invalid: 1-%d characters of A-Z a-z 0-9 . _ -, "
		 "starting with a letter or digit",
		 name, RV_ROOM_NAME_MAX);
	return false;
}

grpc_status_code rv_rooms_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__CreateRoomRequest *q = (const void *)req;
	struct rv_cidr net;
	char err[160];

	snprintf(ctx->target, sizeof(ctx->target), "%s", q->name);
	if (!name_ok(q->name, msg, msglen) ||
	    !settings_ok((uint32_t)q->transport, q->mtu, q->mtu != 0, q->keepalive_s,
			 q->keepalive_s != 0, msg, msglen) ||
	    !password_ok(q->password, msg, msglen) ||
	    !dns_ok(q->dns_servers, q->n_dns_servers, q->dns_search, msg, msglen))
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (q->subnet[0] && (rv_ipam_parse_cidr(q->subnet, &net, err, sizeof(err)) < 0 ||
			     rv_ipam_check_room_subnet(&net, err, sizeof(err)) < 0)) {
		snprintf(msg, msglen, "%s", err);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (q->password[0])
		return with_password(ctx, req, PW_HASH, q->password, NULL, create_step, resp, msg,
				     msglen);
	return create_step(ctx, req, "", resp, msg, msglen);
}

/* ---- Update / Delete / Get / List ---------------------------------------------- */

static int put_room(struct rv_store *s, const RoomRecord *r)
{
	char k[KEY_MAX];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return -1;
	int rc = batch_put_msg(b, k, key_room(k, r->id), &r->base);
	if (rc == 0)
		rc = rv_store_batch_commit(s, b, true);
	rv_store_batch_free(b);
	return rc;
}

static int replace_str(char **field, const char *v)
{
	char *d = strdup(v);
	if (!d)
		return -1;
	if (*field && (*field)[0])
		free(*field);
	*field = d;
	return 0;
}

/* Applies the set fields of @q to @r. 0 or -1 (out of memory / no randomness). */
static int apply_update(RoomRecord *r, const Roomvpn__V1__UpdateRoomRequest *q, const char *pw_hash)
{
	if (q->transport_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__TRANSPORT_SET_TRANSPORT)
		r->transport =
		    q->transport ? (uint32_t)q->transport : ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP;
	if (q->mtu_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__MTU_SET_MTU)
		r->mtu = q->mtu;
	if (q->keepalive_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__KEEPALIVE_SET_KEEPALIVE_S)
		r->keepalive_s = q->keepalive_s;
	if (q->password_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__PASSWORD_SET_PASSWORD &&
	    replace_str(&r->password_hash, q->password[0] ? pw_hash : "") < 0)
		return -1;
	if (q->rotate_key) {
		uint8_t *key = malloc(RV_ROOM_KEY_LEN);
		if (!key || RAND_bytes(key, RV_ROOM_KEY_LEN) != 1) {
			free(key);
			return -1;
		}
		if (r->room_key.data) {
			OPENSSL_cleanse(r->room_key.data, r->room_key.len);
			free(r->room_key.data);
		}
		r->room_key.data = key;
		r->room_key.len = RV_ROOM_KEY_LEN;
	}
	return 0;
}

static grpc_status_code update_step(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    const char *pw_hash, ProtobufCMessage **resp, char *msg,
				    size_t msglen)
{
	const Roomvpn__V1__UpdateRoomRequest *q = (const void *)req;
	RoomRecord *r = NULL;

	pthread_mutex_lock(&rooms_mu);
	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK && apply_update(r, q, pw_hash) < 0)
		st = oom_status(msg, msglen);
	if (st == GRPC_STATUS_OK) {
		bool dns_set = q->dns_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__DNS_SET_DNS;
		bool routes_set =
		    q->routes_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__ROUTES_SET_ROUTES;
		const Roomvpn__V1__DnsSettings *d = dns_set ? q->dns : NULL;
		const Roomvpn__V1__RouteList *rl = routes_set ? q->routes : NULL;
		st = set_net(r, d != NULL, d ? d->servers : NULL, d ? d->n_servers : 0,
			     d ? d->search : "", rl != NULL, rl ? rl->routes : NULL,
			     rl ? rl->n_routes : 0, msg, msglen);
	}
	if (st == GRPC_STATUS_OK && put_room(ctx->ctl->store, r) < 0)
		st = store_status(msg, msglen);
	pthread_mutex_unlock(&rooms_mu);
	if (st == GRPC_STATUS_OK)
		rv_tunnels_room_changed(ctx->ctl, r); /* its tunnels hear of it */
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__Room *m = room_msg(ctx, r);
		st = m ? GRPC_STATUS_OK : oom_status(msg, msglen);
		if (m)
			*resp = &m->base;
	}
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

grpc_status_code rv_rooms_update_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__UpdateRoomRequest *q = (const void *)req;
	bool pw_set =
	    q->password_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__PASSWORD_SET_PASSWORD;

	snprintf(ctx->target, sizeof(ctx->target), "%s", q->room);
	if (!settings_ok(q->transport_set_case ? (uint32_t)q->transport : 0, q->mtu,
			 q->mtu_set_case != 0, q->keepalive_s, q->keepalive_set_case != 0, msg,
			 msglen) ||
	    (pw_set && !password_ok(q->password, msg, msglen)))
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (q->dns_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__DNS_SET_DNS && q->dns &&
	    !dns_ok(q->dns->servers, q->dns->n_servers, q->dns->search, msg, msglen))
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (pw_set && q->password[0])
		return with_password(ctx, req, PW_HASH, q->password, NULL, update_step, resp, msg,
				     msglen);
	return update_step(ctx, req, "", resp, msg, msglen);
}

/* (room, device) memberships that a change removed, reported through
 * ctl->on_member_removed once the change is stored and the lock released. */
struct removed {
	uint64_t (*v)[2];
	size_t n, cap;
};

/* Records the member key "m/<room>/<device>". */
static void removed_add(struct removed *rm, const void *k, size_t kl)
{
	if (kl != 2 + 16 + 1 + 16)
		return;
	if (rm->n == rm->cap) {
		size_t cap = rm->cap ? rm->cap * 2 : 16;
		void *p = realloc(rm->v, cap * sizeof(*rm->v));
		if (!p) {
			rv_log(RV_LOG_WARN,
			       "rooms: out of memory: a removed member's tunnel stays");
			return;
		}
		rm->v = p;
		rm->cap = cap;
	}
	rm->v[rm->n][0] = parse_hex64((const char *)k + 2, 16);
	rm->v[rm->n][1] = parse_hex64((const char *)k + 19, 16);
	rm->n++;
}

static void removed_report(struct rv_control *ctl, struct removed *rm)
{
	for (size_t i = 0; ctl->on_member_removed && i < rm->n; i++)
		ctl->on_member_removed(ctl, rm->v[i][0], rm->v[i][1]);
	free(rm->v);
	*rm = (struct removed){0};
}

struct del_scan {
	struct rv_store_batch *b;
	struct removed *rm; /* member keys go here too (NULL: not members) */
};

static int batch_delete_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct del_scan *d = arg;
	(void)v;
	(void)vl;
	rv_store_batch_delete(d->b, k, kl);
	if (d->rm)
		removed_add(d->rm, k, kl);
	return 0;
}

/* Every key of room @r into @b: record, indexes, members (also listed in
 * @rm), addresses. */
static int delete_room_keys(struct rv_store *s, const RoomRecord *r, struct rv_store_batch *b,
			    struct removed *rm)
{
	char k[KEY_MAX];
	const char *fmt[] = {"m/%016" PRIx64 "/", "ip/%016" PRIx64 "/", "ipd/%016" PRIx64 "/"};
	rv_store_batch_delete(b, k, key_room(k, r->id));
	rv_store_batch_delete(b, k, key_name(k, r->name));
	rv_store_batch_delete(b, k, key_subnet(k, r->subnet_addr));
	for (size_t i = 0; i < 3; i++) {
		struct del_scan d = {b, i == 0 ? rm : NULL};
		int pl = snprintf(k, sizeof(k), fmt[i], r->id);
		if (rv_store_scan_prefix(s, k, (size_t)pl, NULL, 0, batch_delete_cb, &d) < 0)
			return -1;
	}
	return 0;
}

grpc_status_code rv_rooms_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__DeleteRoomRequest *q = (const void *)req;
	struct rv_store *s = ctx->ctl->store;
	RoomRecord *r = NULL;
	struct removed rm = {0};

	pthread_mutex_lock(&rooms_mu);
	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK) {
		struct rv_store_batch *b = rv_store_batch_new();
		if (!b || delete_room_keys(s, r, b, &rm) < 0 ||
		    rv_store_batch_commit(s, b, true) < 0) {
			st = store_status(msg, msglen);
			rm.n = 0; /* nothing was removed */
		}
		rv_store_batch_free(b);
	}
	pthread_mutex_unlock(&rooms_mu);
	if (st == GRPC_STATUS_OK)
		rv_tunnels_room_deleted(ctx->ctl, r->id); /* its tunnels end */
	removed_report(ctx->ctl, &rm);
	if (st == GRPC_STATUS_OK)
		rv_log(RV_LOG_INFO, "rooms: '%s' deleted by %s", r->name, ctx->who.username);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st == GRPC_STATUS_OK ? empty_reply(resp, msg, msglen) : st;
}

grpc_status_code rv_rooms_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__GetRoomRequest *q = (const void *)req;
	RoomRecord *r = NULL;
	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	Roomvpn__V1__Room *m = room_msg(ctx, r);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (!m)
		return oom_status(msg, msglen);
	*resp = &m->base;
	return GRPC_STATUS_OK;
}

struct list_page {
	struct rv_rpc_ctx *ctx;
	Roomvpn__V1__ListRoomsResponse *resp;
	size_t want;
	bool more, oom;
};

/* rn/<name> -> id: load each room of the page. */
static int list_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct list_page *p = arg;
	RoomRecord *r;
	(void)k;
	(void)kl;
	if (p->resp->n_rooms == p->want) {
		p->more = true;
		return 1;
	}
	if (load_by_id(p->ctx->ctl->store, parse_hex64(v, vl), &r) != 0)
		return 0; /* index without a record: skip */
	Roomvpn__V1__Room *m = room_msg(p->ctx, r);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (!m) {
		p->oom = true;
		return 1;
	}
	p->resp->rooms[p->resp->n_rooms++] = m;
	return 0;
}

grpc_status_code rv_rooms_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListRoomsRequest *q = (const void *)req;
	struct list_page p = {.ctx = ctx};
	char start[KEY_MAX];
	size_t sl = 0;

	if (q->page_token[0]) {
		if (!rv_rooms_valid_name(q->page_token)) {
			snprintf(msg, msglen, "page_token is not one this server handed out");
			return GRPC_STATUS_INVALID_ARGUMENT;
		}
		sl = key_name(start, q->page_token);
	}
	p.want = q->page_size == 0	   ? PAGE_DEFAULT
		 : q->page_size > PAGE_MAX ? PAGE_MAX
					   : q->page_size;
	p.resp = malloc(sizeof(*p.resp));
	if (!p.resp)
		return oom_status(msg, msglen);
	roomvpn__v1__list_rooms_response__init(p.resp);
	p.resp->rooms = calloc(p.want, sizeof(*p.resp->rooms));
	*resp = &p.resp->base; /* the server frees it on any status */
	if (!p.resp->rooms)
		return oom_status(msg, msglen);
	if (rv_store_scan_prefix(ctx->ctl->store, "rn/", 3, sl ? start : NULL, sl, list_cb, &p) < 0)
		return store_status(msg, msglen);
	if (p.oom)
		return oom_status(msg, msglen);
	if (!p.resp->n_rooms) {
		free(p.resp->rooms);
		p.resp->rooms = NULL;
	}
	if (p.more && p.resp->n_rooms) {
		p.resp->next_page_token = strdup(p.resp->rooms[p.resp->n_rooms - 1]->name);
		if (!p.resp->next_page_token)
			return oom_status(msg, msglen);
	}
	return GRPC_STATUS_OK;
}

/* ---- Join / Leave / Kick / ListMembers -------------------------------------------- */

struct addr_scan {
	struct rv_store *s;
	struct rv_ipam_hosts *hosts;
	uint64_t room;
	bool reclaim;	 /* second pass: look for a reservation of a non-member */
	uint32_t victim; /* reclaimable address (0: none) */
	uint64_t victim_dev;
};

/* ip/<room>/<addr hex> -> device id hex */
static int addr_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct addr_scan *a = arg;
	if (kl < 8)
		return 0;
	uint32_t addr = (uint32_t)parse_hex64((const char *)k + kl - 8, 8);
	if (!a->reclaim) {
		rv_ipam_hosts_take(a->hosts, addr);
		return 0;
	}
	uint64_t dev = parse_hex64(v, vl);
	if (is_member(a->s, a->room, dev))
		return 0;
	a->victim = addr;
	a->victim_dev = dev;
	return 1;
}

/* A new address for a device of room @r, into @b: the lowest free one, or
 * else the lowest one reserved for a device that left. 0, 1 if every
 * address belongs to a member, -1 on error. Rooms lock held. */
static int alloc_addr(struct rv_store *s, const RoomRecord *r, struct rv_store_batch *b,
		      uint32_t *addr)
{
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	struct rv_ipam_hosts hosts;
	struct addr_scan a = {.s = s, .hosts = &hosts, .room = r->id};
	char p[KEY_MAX], k[KEY_MAX];
	int pl = snprintf(p, sizeof(p), "ip/%016" PRIx64 "/", r->id);

	if (rv_ipam_hosts_init(&hosts, &net) < 0)
		return -1;
	int rc = rv_store_scan_prefix(s, p, (size_t)pl, NULL, 0, addr_cb, &a);
	if (rc == 0 && rv_ipam_hosts_alloc(&hosts, addr) < 0) {
		a.reclaim = true;
		rc = rv_store_scan_prefix(s, p, (size_t)pl, NULL, 0, addr_cb, &a);
		if (rc == 0 && !a.victim)
			rc = 1;
		if (rc == 0) {
			*addr = a.victim;
			rv_store_batch_delete(b, k, key_ipd(k, r->id, a.victim_dev));
		}
	}
	rv_ipam_hosts_fini(&hosts);
	return rc;
}

/* The device's address in the room: kept from an earlier Join, or new. */
static int device_addr(struct rv_store *s, const RoomRecord *r, uint64_t dev,
		       struct rv_store_batch *b, uint32_t *addr)
{
	char k[KEY_MAX], v[20];
	void *val;
	size_t vl;
	int rc = rv_store_get(s, k, key_ipd(k, r->id, dev), &val, &vl);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*addr = (uint32_t)parse_hex64(val, vl);
		free(val);
		/* Still ours? (a reclaim may have handed it to another device) */
		char k2[KEY_MAX];
		rc = rv_store_get(s, k2, key_ip(k2, r->id, *addr), &val, &vl);
		if (rc < 0)
			return -1;
		bool ours = rc == 0 && parse_hex64(val, vl) == dev;
		if (rc == 0)
			free(val);
		if (ours)
			return 0;
	}
	rc = alloc_addr(s, r, b, addr);
	if (rc != 0)
		return rc;
	snprintf(v, sizeof(v), "%08" PRIx32, *addr);
	rv_store_batch_put(b, k, key_ipd(k, r->id, dev), v, 8);
	snprintf(v, sizeof(v), "%016" PRIx64, dev);
	rv_store_batch_put(b, k, key_ip(k, r->id, *addr), v, 16);
	return 0;
}

static Roomvpn__V1__Endpoint *endpoint(Roomvpn__V1__Transport t, const char *addr, bool *oom)
{
	Roomvpn__V1__Endpoint *e = malloc(sizeof(*e));
	if (!e) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__endpoint__init(e);
	e->transport = t;
	e->address = dup_or_null(addr, oom);
	return e;
}

static Roomvpn__V1__JoinRoomResponse *join_msg(struct rv_rpc_ctx *ctx, const RoomRecord *r,
					       uint32_t addr)
{
	const struct rv_control_config *cfg = &ctx->ctl->cfg;
	Roomvpn__V1__JoinRoomResponse *m = malloc(sizeof(*m));
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	bool oom = false;
	char buf[32];
	if (!m)
		return NULL;
	roomvpn__v1__join_room_response__init(m);
	m->room = room_msg(ctx, r);
	oom = !m->room;
	rv_ipam_format_addr(addr, buf, sizeof(buf));
	m->virtual_ip = dup_or_null(buf, &oom);
	rv_ipam_format_cidr(&net, buf, sizeof(buf));
	m->subnet = dup_or_null(buf, &oom);
	rv_ipam_format_addr(rv_ipam_server_addr(&net), buf, sizeof(buf));
	m->server_ip = dup_or_null(buf, &oom);
	m->prefix_len = r->subnet_prefix;
	m->mtu = r->mtu;
	struct rv_room_net net_set;
	if (rv_room_net_export(r, cfg->dns, &net_set) == 0) {
		m->dns = dup_or_null(net_set.n_dns ? net_set.dns[0] : "", &oom);
		rv_room_net_move(&net_set, &m->n_dns_servers, &m->dns_servers, &m->dns_search,
				 &m->n_routes, &m->routes);
	} else {
		m->dns = dup_or_null("", &oom);
		oom = true;
	}
	m->keepalive_s = r->keepalive_s;
	m->device_id = ctx->who.device_id;
	m->endpoints = calloc(2, sizeof(*m->endpoints));
	oom |= !m->endpoints;
	if (m->endpoints) {
		bool tcp_first = r->transport == ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
		const char *udp = cfg->dp_udp_endpoint, *tcp = cfg->dp_tcp_endpoint;
		if (tcp_first && tcp[0])
			m->endpoints[m->n_endpoints++] =
			    endpoint(ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP, tcp, &oom);
		if (udp[0] && !oom)
			m->endpoints[m->n_endpoints++] =
			    endpoint(ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP, udp, &oom);
		if (!tcp_first && tcp[0] && !oom)
			m->endpoints[m->n_endpoints++] =
			    endpoint(ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP, tcp, &oom);
		if (oom && m->n_endpoints && !m->endpoints[m->n_endpoints - 1])
			m->n_endpoints--;
	}
	if (oom) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return NULL;
	}
	return m;
}

/* Member record + address in one synced batch (rooms lock held). */
static grpc_status_code add_member(struct rv_rpc_ctx *ctx, const RoomRecord *r, uint32_t *addr,
				   char *msg, size_t msglen)
{
	struct rv_store *s = ctx->ctl->store;
	MemberRecord mr = ROOMVPN__V1__MEMBER_RECORD__INIT;
	char k[KEY_MAX];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return oom_status(msg, msglen);
	grpc_status_code st = GRPC_STATUS_OK;
	int rc = device_addr(s, r, ctx->who.device_id, b, addr);
	if (rc == 1) {
		struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
		char sn[24];
		rv_ipam_format_cidr(&net, sn, sizeof(sn));
		snprintf(msg, msglen, "room '%s' is full: all %u device addresses of %s are in use",
			 r->name, rv_ipam_hosts_capacity(&net), sn);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
		goto out;
	}
	if (rc < 0) {
		st = store_status(msg, msglen);
		goto out;
	}
	mr.device_id = ctx->who.device_id;
	mr.user_id = ctx->who.user_id;
	mr.username = ctx->who.username;
	mr.virtual_ip = *addr;
	mr.joined_ns = rv_control_now_real();
	if (batch_put_msg(b, k, key_member(k, r->id, mr.device_id), &mr.base) < 0)
		st = oom_status(msg, msglen);
	else if (rv_store_batch_commit(s, b, true) < 0)
		st = store_status(msg, msglen);
out:
	rv_store_batch_free(b);
	return st;
}

static grpc_status_code join_step(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  const char *pw_hash, ProtobufCMessage **resp, char *msg,
				  size_t msglen)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)req;
	struct rv_store *s = ctx->ctl->store;
	RoomRecord *r = NULL;
	uint32_t addr = 0;
	char k[KEY_MAX];
	void *v;
	size_t vl;
	(void)pw_hash;

	pthread_mutex_lock(&rooms_mu);
	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	int rc = rv_store_get(s, k, key_member(k, r->id, ctx->who.device_id), &v, &vl);
	if (rc == 0) { /* already a member: the same answer again */
		MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, v);
		free(v);
		if (mr)
			addr = mr->virtual_ip;
		roomvpn__v1__member_record__free_unpacked(mr, NULL);
		if (!addr)
			st = store_status(msg, msglen);
	} else if (rc == 1) {
		st = add_member(ctx, r, &addr, msg, msglen);
	} else {
		st = store_status(msg, msglen);
	}
out:
	pthread_mutex_unlock(&rooms_mu);
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__JoinRoomResponse *m = join_msg(ctx, r, addr);
		st = m ? GRPC_STATUS_OK : oom_status(msg, msglen);
		if (m)
			*resp = &m->base;
	}
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

grpc_status_code rv_rooms_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)req;
	RoomRecord *r = NULL;

	if (!ctx->who.device_id) {
		snprintf(ctx->target, sizeof(ctx->target), "%s", q->room);
		snprintf(msg, msglen, "this session has no device: log in with a device name");
		return GRPC_STATUS_FAILED_PRECONDITION;
	}
	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	bool need_pw = r->password_hash && r->password_hash[0] &&
		       !is_member(ctx->ctl->store, r->id, ctx->who.device_id);
	if (need_pw && !q->password[0]) {
		snprintf(msg, msglen, "room '%s' needs a password", r->name);
		st = GRPC_STATUS_PERMISSION_DENIED;
	} else if (need_pw) {
		/* The canonical name keys the guess limiter (not "name" vs "id"). */
		snprintf(ctx->target, sizeof(ctx->target), "%s", r->name);
		st = pw_limited(ctx, msg, msglen);
		if (st == GRPC_STATUS_OK)
			st = with_password(ctx, req, PW_VERIFY, q->password, r->password_hash,
					   join_step, resp, msg, msglen);
	} else {
		st = join_step(ctx, req, "", resp, msg, msglen);
	}
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

/* Removes device @dev from room @room_name (rooms lock taken here). */
static grpc_status_code remove_member(struct rv_rpc_ctx *ctx, const char *room_name, uint64_t dev,
				      const char *not_member_fmt, char *msg, size_t msglen)
{
	struct rv_store *s = ctx->ctl->store;
	RoomRecord *r = NULL;
	char k[KEY_MAX];

	pthread_mutex_lock(&rooms_mu);
	grpc_status_code st = find_room(ctx, room_name, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	size_t kl = key_member(k, r->id, dev);
	if (!key_exists(s, k, kl)) {
		snprintf(msg, msglen, not_member_fmt, (unsigned long long)dev, r->name);
		st = GRPC_STATUS_NOT_FOUND;
	} else if (rv_store_delete(s, k, kl, true) < 0) {
		st = store_status(msg, msglen);
	}
out:
	pthread_mutex_unlock(&rooms_mu);
	if (st == GRPC_STATUS_OK && ctx->ctl->on_member_removed)
		ctx->ctl->on_member_removed(ctx->ctl, r->id, dev);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

grpc_status_code rv_rooms_leave_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__LeaveRoomRequest *q = (const void *)req;
	grpc_status_code st = remove_member(ctx, q->room, ctx->who.device_id,
					    "this device (%llu) is not in room '%s'", msg, msglen);
	return st == GRPC_STATUS_OK ? empty_reply(resp, msg, msglen) : st;
}

grpc_status_code rv_rooms_kick_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__KickRequest *q = (const void *)req;
	grpc_status_code st = remove_member(ctx, q->room, q->device_id,
					    "device %llu is not in room '%s'", msg, msglen);
	snprintf(ctx->target, sizeof(ctx->target), "%.100s/device/%llu", q->room,
		 (unsigned long long)q->device_id);
	return st == GRPC_STATUS_OK ? empty_reply(resp, msg, msglen) : st;
}

struct members {
	Roomvpn__V1__ListMembersResponse *resp;
	size_t cap;
	bool oom;
};

static Roomvpn__V1__Member *member_msg(const MemberRecord *mr, bool *oom)
{
	Roomvpn__V1__Member *m = malloc(sizeof(*m));
	char buf[20];
	if (!m) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__member__init(m);
	m->device_id = mr->device_id;
	m->user_id = mr->user_id;
	m->username = dup_or_null(mr->username, oom);
	rv_ipam_format_addr(mr->virtual_ip, buf, sizeof(buf));
	m->virtual_ip = dup_or_null(buf, oom);
	m->joined_unix = mr->joined_ns / 1000000000ull;
	return m;
}

static int members_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct members *ms = arg;
	Roomvpn__V1__ListMembersResponse *r = ms->resp;
	(void)k;
	(void)kl;
	if (r->n_members == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 16;
		void *p = realloc(r->members, cap * sizeof(*r->members));
		if (!p) {
			ms->oom = true;
			return 1;
		}
		r->members = p;
		ms->cap = cap;
	}
	MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, v);
	if (!mr)
		return 0;
	Roomvpn__V1__Member *m = member_msg(mr, &ms->oom);
	roomvpn__v1__member_record__free_unpacked(mr, NULL);
	if (m)
		r->members[r->n_members++] = m;
	return ms->oom;
}

grpc_status_code rv_rooms_list_members_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListMembersRequest *q = (const void *)req;
	RoomRecord *r = NULL;
	char p[KEY_MAX];

	grpc_status_code st = find_room(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	int pl = snprintf(p, sizeof(p), "m/%016" PRIx64 "/", r->id);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	struct members ms = {.resp = malloc(sizeof(*ms.resp))};
	if (!ms.resp)
		return oom_status(msg, msglen);
	roomvpn__v1__list_members_response__init(ms.resp);
	*resp = &ms.resp->base; /* the server frees it on any status */
	if (rv_store_scan_prefix(ctx->ctl->store, p, (size_t)pl, NULL, 0, members_cb, &ms) < 0)
		return store_status(msg, msglen);
	return ms.oom ? oom_status(msg, msglen) : GRPC_STATUS_OK;
}

/* ---- hooks and setup ------------------------------------------------------------ */

static int hook_room_owner(struct rv_control *ctl, const char *room, uint64_t *owner_id)
{
	RoomRecord *r;
	int rc = rv_rooms_load(ctl->store, room, &r);
	if (rc != 0)
		return rc;
	*owner_id = r->owner_id;
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return 0;
}

struct user_members {
	struct rv_store_batch *b;
	uint64_t user_id;
	unsigned n;
	struct removed rm;
};

static int user_members_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct user_members *um = arg;
	MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, v);
	if (mr && mr->user_id == um->user_id) {
		rv_store_batch_delete(um->b, k, kl);
		removed_add(&um->rm, k, kl);
		um->n++;
	}
	if (mr)
		roomvpn__v1__member_record__free_unpacked(mr, NULL);
	return 0;
}

/* A deleted or disabled user's devices leave every room. */
static void hook_user_removed(struct rv_control *ctl, uint64_t user_id)
{
	struct user_members um = {.b = rv_store_batch_new(), .user_id = user_id};
	if (!um.b)
		return;
	pthread_mutex_lock(&rooms_mu);
	if (rv_store_scan_prefix(ctl->store, "m/", 2, NULL, 0, user_members_cb, &um) < 0 ||
	    (um.n && rv_store_batch_commit(ctl->store, um.b, true) < 0)) {
		rv_log(RV_LOG_ERROR, "rooms: cannot remove the memberships of user %" PRIu64,
		       user_id);
		um.rm.n = 0;
	}
	pthread_mutex_unlock(&rooms_mu);
	removed_report(ctl, &um.rm);
	rv_store_batch_free(um.b);
	if (um.n)
		rv_log(RV_LOG_INFO, "rooms: user %" PRIu64 " removed from %u room(s)", user_id,
		       um.n);
}

int rv_rooms_init(struct rv_control *ctl, char *err, size_t errlen)
{
	const struct rv_control_config *c = &ctl->cfg;
	char e[200];
	const char *pool = c->ipam_pool[0] ? c->ipam_pool : "10.88.0.0/16";
	unsigned prefix = c->ipam_room_prefix ? c->ipam_room_prefix : 24;
	if (ctl->ipam) { /* main.c set it up already */
		rooms_ipam = *ctl->ipam;
	} else if (rv_ipam_init(&rooms_ipam, pool, prefix, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "ipam_pool/ipam_room_prefix: %s", e);
		return -1;
	}
	if (!ctl->ipam)
		ctl->ipam = &rooms_ipam;
	ctl->room_owner = hook_room_owner;
	ctl->on_user_removed = hook_user_removed;
	return 0;
}

void rv_rooms_fini(struct rv_control *ctl)
{
	ctl->room_owner = NULL;
	ctl->on_user_removed = NULL;
	if (ctl->ipam == &rooms_ipam)
		ctl->ipam = NULL;
}
