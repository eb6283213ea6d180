/* RoomService: room records (r/, rn/, rs/; docs/store.md) and the Create,
 * Update, Delete, Get and List handlers. Members and their addresses are
 * members.c's. Handlers validate cheaply first; a room password is hashed
 * on the Argon2 pool (pwjob.c). Create, Update and Delete hold the catalog
 * lock from their checks to their (synced) batch, so two Creates can't take
 * the same name or subnet; Join never takes it. */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ipam.h"
#include "room_prefix6.h"
#include "members.h"
#include "pwjob.h"
#include "room_records.h"
#include "room_net.h"
#include "room_state.h"
#include "roomvpn/v1/common.pb-c.h"
#include "rooms.h"
#include "fleet.h"
#include "placement.h"
#include "store.h"
#include "store_keys.h"
#include "events.h"
#include "users.h"

static struct rv_ipam *own_ipam; /* when main.c did not set ctl->ipam up */

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__MemberRecord MemberRecord;

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

Roomvpn__V1__Room *rv_rooms_view(struct rv_rpc_ctx *ctx, const RoomRecord *r)
{
	bool member = !ctx->who.admin && ctx->who.user_id != r->owner_id &&
		      rv_members_is_member(ctx->ctl->store, r->id, ctx->who.device_id) == 1;
	return rv_rooms_msg(ctx, r, member);
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

/* DNS settings and routes into @r (catalog lock held for the routes: they
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
	return rc ? rv_rooms_oom(msg, msglen) : GRPC_STATUS_OK;
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
	if (rv_key_parse_addr((const char *)k + 3, 8, &ss->v[ss->n].addr) < 0)
		return 0;
	ss->v[ss->n].prefix = (uint8_t)atoi(val);
	ss->n++;
	return 0;
}

/* Picks or checks the subnet of a new room (catalog lock held). */
static grpc_status_code choose_subnet(struct rv_store *s, const struct rv_ipam *ipam,
				      const char *want, struct rv_cidr *out, char *msg,
				      size_t msglen)
{
	struct subnets ss = {0};
	grpc_status_code st = GRPC_STATUS_OK;
	char a[24], b[24];
	if (rv_store_scan_prefix(s, RV_KEY_ROOM_SUBNET_PREFIX, 3, NULL, 0, subnets_cb, &ss) < 0 ||
	    ss.oom) {
		free(ss.v);
		return rv_rooms_store_error(msg, msglen);
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
	} else if (rv_ipam_pool_pick(ipam, ss.v, ss.n, out) < 0) {
		rv_ipam_format_cidr(&ipam->pool, a, sizeof(a));
		snprintf(msg, msglen, "the room address pool %s has no free /%u left", a,
			 ipam->room_prefix);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	free(ss.v);
	return st;
}

/* Writes a new room (catalog lock held): r/, rn/, rs/ and the id counter. */
static grpc_status_code store_new_room(struct rv_store *s, RoomRecord *r, char *msg, size_t msglen)
{
	char k[RV_KEY_MAX], v[40];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return rv_rooms_oom(msg, msglen);
	rv_id_lock();
	grpc_status_code st = GRPC_STATUS_OK;
	if (rv_id_alloc(s, b, "room", &r->id) < 0) {
		st = rv_rooms_store_error(msg, msglen);
		goto out;
	}
	rv_store_batch_put(b, k, rv_key_room_by_name(k, r->name), v, rv_key_id_value(v, r->id));
	int vl = snprintf(v, sizeof(v), "%u/%016" PRIx64, r->subnet_prefix, r->id);
	rv_store_batch_put(b, k, rv_key_room_subnet(k, r->subnet_addr), v, (size_t)vl);
	rv_room_prefix6_index_put(b, r);
	if (rv_rooms_batch_put_msg(b, k, rv_key_room_by_id(k, r->id), &r->base) < 0) {
		st = rv_rooms_oom(msg, msglen);
		goto out;
	}
	if (rv_store_batch_commit(s, b, true) < 0)
		st = rv_rooms_store_error(msg, msglen);
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
	struct rv_cidr6 net6;
	char k[RV_KEY_MAX];

	if (RAND_bytes(key, sizeof(key)) != 1)
		return rv_rooms_store_error(msg, msglen);
	rv_rooms_catalog_lock();
	grpc_status_code st = GRPC_STATUS_OK;
	if (rv_rooms_key_exists(s, k, rv_key_room_by_name(k, q->name))) {
		snprintf(msg, msglen, "room '%s' already exists", q->name);
		st = GRPC_STATUS_ALREADY_EXISTS;
		goto out;
	}
	st = choose_subnet(s, ctx->ctl->ipam, q->subnet, &net, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = rv_room_prefix6_choose(s, q->subnet6, &net, &net6, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	char dp[RV_DP_NAME_MAX]; /* the data plane it lives on (placement.h) */
	st = rv_placement_new(q->placement, dp, sizeof(dp), msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	r.placement = q->placement;
	r.dataplane = dp;
	r.name = q->name;
	r.subnet_addr = net.addr;
	r.subnet_prefix = net.prefix;
	rv_room_prefix6_set(&r, &net6);
	r.transport = q->transport ? (uint32_t)q->transport : ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP;
	r.mtu = q->mtu ? q->mtu : (cfg->default_mtu ? cfg->default_mtu : 1400);
	r.keepalive_s = q->keepalive_s ? q->keepalive_s
				       : (cfg->default_keepalive_s ? cfg->default_keepalive_s : 10);
	r.room_key.data = key;
	r.room_key.len = sizeof(key);
	r.owner_id = ctx->who.user_id;
	r.owner = ctx->who.username;
	r.password_hash = (char *)pw_hash;
	r.created_ns = rv_clock_real_ns();
	st = set_net(&r, true, q->dns_servers, q->n_dns_servers, q->dns_search, true, q->routes,
		     q->n_routes, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = store_new_room(s, &r, msg, msglen);
out:
	rv_rooms_catalog_unlock();
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__Room *m = rv_rooms_view(ctx, &r);
		st = m ? GRPC_STATUS_OK : rv_rooms_oom(msg, msglen);
		if (m)
			*resp = &m->base;
		rv_log(RV_LOG_INFO, "rooms: '%s' created by %s (id %" PRIu64 ") on data plane %s",
		       r.name, ctx->who.username, r.id, r.dataplane[0] ? r.dataplane : "(later)");
		rv_fleet_room_note(r.id, r.dataplane, -1);
	}
	rv_room_net_clear(&r);
	OPENSSL_cleanse(key, sizeof(key));
	return st;
}

static grpc_status_code create_pw_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				       size_t msglen)
{
	return create_step(j->ctx, j->req, j->hash, resp, msg, msglen);
}

/* Hashes @password on the pool, then runs @step with the request. */
static grpc_status_code with_hash(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  const char *password, rv_pwjob_step_fn step,
				  ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_pwjob_args a = {
	    .kind = RV_PWJOB_HASH, .password = password, .req = req, .step = step};
	return rv_pwjob_start(ctx, &a, resp, msg, msglen);
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
	if (!q->subnet[0]) /* the pool's room length, for the size check */
		net.prefix = ctx->ctl->ipam->room_prefix;
	if (rv_room_prefix6_check(q->subnet6, &net, msg, msglen) < 0)
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (q->password[0])
		return with_hash(ctx, req, q->password, create_pw_step, resp, msg, msglen);
	return create_step(ctx, req, "", resp, msg, msglen);
}

/* ---- Update / Delete / Get / List ---------------------------------------------- */

static int put_room(struct rv_store *s, const RoomRecord *r)
{
	char k[RV_KEY_MAX];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return -1;
	int rc = rv_rooms_batch_put_msg(b, k, rv_key_room_by_id(k, r->id), &r->base);
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

	rv_rooms_catalog_lock();
	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK &&
	    q->placement_set_case == ROOMVPN__V1__UPDATE_ROOM_REQUEST__PLACEMENT_SET_PLACEMENT)
		st = rv_placement_set(r, q->placement, msg, msglen);
	if (st == GRPC_STATUS_OK && apply_update(r, q, pw_hash) < 0)
		st = rv_rooms_oom(msg, msglen);
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
		st = rv_rooms_store_error(msg, msglen);
	rv_rooms_catalog_unlock();
	if (st == GRPC_STATUS_OK)
		rv_events_room_changed(ctx->ctl, r); /* its tunnels hear of it */
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__Room *m = rv_rooms_view(ctx, r);
		st = m ? GRPC_STATUS_OK : rv_rooms_oom(msg, msglen);
		if (m)
			*resp = &m->base;
	}
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

static grpc_status_code update_pw_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				       size_t msglen)
{
	return update_step(j->ctx, j->req, j->hash, resp, msg, msglen);
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
		return with_hash(ctx, req, q->password, update_pw_step, resp, msg, msglen);
	return update_step(ctx, req, "", resp, msg, msglen);
}

/* Every key of room @r into @b: record, indexes, members (listed in @rm),
 * addresses. */
static int delete_room_keys(struct rv_store *s, const RoomRecord *r, struct rv_store_batch *b,
			    struct rv_members_removed *rm)
{
	char k[RV_KEY_MAX];
	rv_store_batch_delete(b, k, rv_key_room_by_id(k, r->id));
	rv_store_batch_delete(b, k, rv_key_room_by_name(k, r->name));
	rv_store_batch_delete(b, k, rv_key_room_subnet(k, r->subnet_addr));
	rv_room_prefix6_index_delete(b, r);
	return rv_members_delete_room(s, r->id, b, rm);
}

grpc_status_code rv_rooms_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__DeleteRoomRequest *q = (const void *)req;
	struct rv_store *s = ctx->ctl->store;
	RoomRecord *r = NULL;
	struct rv_members_removed rm = {0};

	rv_rooms_catalog_lock();
	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK) {
		rv_room_state_retire(r->id); /* no member change of it from now on */
		struct rv_store_batch *b = rv_store_batch_new();
		if (!b || delete_room_keys(s, r, b, &rm) < 0 ||
		    rv_store_batch_commit(s, b, true) < 0) {
			st = rv_rooms_store_error(msg, msglen);
			rm.n = 0; /* nothing was removed */
			rv_room_state_revive(r->id);
		}
		rv_store_batch_free(b);
	}
	rv_rooms_catalog_unlock();
	if (st == GRPC_STATUS_OK)
		rv_events_room_deleted(ctx->ctl, r->id); /* its tunnels end */
	rv_members_removed_report(ctx->ctl, &rm);
	if (st == GRPC_STATUS_OK)
		rv_log(RV_LOG_INFO, "rooms: '%s' deleted by %s", r->name, ctx->who.username);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
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

int rv_rooms_init(struct rv_control *ctl, char *err, size_t errlen)
{
	const struct rv_control_config *c = &ctl->cfg;
	char e[200];
	const char *pool = c->ipam_pool[0] ? c->ipam_pool : "10.88.0.0/16";
	unsigned prefix = c->ipam_room_prefix ? c->ipam_room_prefix : 24;
	rv_room_state_reset();
	if (!ctl->ipam) { /* main.c sets it up; unit tests may not */
		own_ipam = malloc(sizeof(*own_ipam));
		if (!own_ipam || rv_ipam_init(own_ipam, pool, prefix, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "ipam_pool/ipam_room_prefix: %s",
				 own_ipam ? e : "out of memory");
			free(own_ipam);
			own_ipam = NULL;
			return -1;
		}
		ctl->ipam = own_ipam;
	}
	if (rv_room_prefix6_init(ctl, err, errlen) < 0)
		return -1;
	ctl->room_owner = hook_room_owner;
	rv_members_init(ctl);
	return 0;
}

void rv_rooms_fini(struct rv_control *ctl)
{
	ctl->room_owner = NULL;
	rv_members_fini(ctl);
	rv_room_prefix6_fini();
	if (ctl->ipam == own_ipam)
		ctl->ipam = NULL;
	free(own_ipam);
	own_ipam = NULL;
	rv_room_state_reset();
}
