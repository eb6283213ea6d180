/* Room records read from the store and their public view (room_records.h).
 * Keys: docs/store.md. */
#include "room_records.h"
#include "fleet.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"
#include "room_net.h"
#include "room_prefix6.h"
#include "room_state.h"
#include "roomvpn/v1/common.pb-c.h"
#include "store.h"
#include "name_cache.h"
#include "store_keys.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;

/* Packs @m into @b under @k. */
int rv_rooms_batch_put_msg(struct rv_store_batch *b, const char *k, size_t kl,
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

bool rv_rooms_key_exists(struct rv_store *s, const char *k, size_t kl)
{
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(s, k, kl, &v, &vl);
	free(v);
	return rc == 0;
}

static int load_by_id(struct rv_store *s, uint64_t id, RoomRecord **out)
{
	char k[RV_KEY_MAX];
	void *v;
	size_t vl;
	int rc = rv_store_get(s, k, rv_key_room_by_id(k, id), &v, &vl);
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

/* Room names looked up before (name_cache.h): a Join by name reads r/<id>
 * in its one read round trip, without the rn/ index. */
static struct rv_name_cache *names;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
	names = rv_name_cache_new(4096);
}

bool rv_rooms_id_hint(const char *room, uint64_t *id)
{
	if (room[0] == '#')
		return parse_id_ref(room, id) == 0;
	pthread_once(&names_once, names_init);
	return rv_name_cache_get(names, room, id);
}

bool rv_rooms_ref_matches(const RoomRecord *r, const char *room)
{
	uint64_t id;
	if (room[0] == '#')
		return parse_id_ref(room, &id) == 0 && id == r->id;
	return r->name && !strcmp(r->name, room);
}

int rv_rooms_load(struct rv_store *s, const char *room, RoomRecord **out)
{
	char k[RV_KEY_MAX];
	void *v;
	size_t vl;
	uint64_t id;

	if (!room || !room[0] || strlen(room) > RV_ROOM_NAME_MAX)
		return 1;
	if (room[0] == '#') /* no name starts with '#' (rv_rooms_valid_name) */
		return parse_id_ref(room, &id) == 0 ? load_by_id(s, id, out) : 1;
	int rc = rv_store_get(s, k, rv_key_room_by_name(k, room), &v, &vl);
	if (rc != 0)
		return rc;
	rc = rv_key_parse_id(v, vl, &id);
	free(v);
	rc = rc == 0 ? load_by_id(s, id, out) : -1;
	if (rc == 0) {
		pthread_once(&names_once, names_init);
		rv_name_cache_put(names, room, id);
	}
	return rc;
}

/* ---- replies --------------------------------------------------------------- */

char *rv_rooms_strdup(const char *s, bool *oom)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*oom = true;
	return d;
}

Roomvpn__V1__Room *rv_rooms_msg(struct rv_rpc_ctx *ctx, const RoomRecord *r, bool caller_member)
{
	struct rv_store *s = ctx->ctl->store;
	Roomvpn__V1__Room *m = malloc(sizeof(*m));
	bool oom = !m;
	char buf[32];
	if (!m)
		return NULL;
	roomvpn__v1__room__init(m);
	m->id = r->id;
	m->name = rv_rooms_strdup(r->name, &oom);
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	rv_ipam_format_cidr(&net, buf, sizeof(buf));
	m->subnet = rv_rooms_strdup(buf, &oom);
	rv_ipam_format_addr(rv_ipam_server_addr(&net), buf, sizeof(buf));
	m->server_ip = rv_rooms_strdup(buf, &oom);
	char sub6[64], vip6[46], srv6[46];
	rv_room_prefix6_text(r, 0, sub6, vip6, srv6);
	m->subnet6 = rv_rooms_strdup(sub6, &oom);
	m->server_ip6 = rv_rooms_strdup(srv6, &oom);
	m->transport = (Roomvpn__V1__Transport)r->transport;
	m->mtu = r->mtu;
	m->keepalive_s = r->keepalive_s;
	m->owner = rv_rooms_strdup(r->owner, &oom);
	m->owner_id = r->owner_id;
	m->has_password = r->password_hash && r->password_hash[0];
	uint32_t members = 0;
	rv_room_state_members(s, r->id, &members); /* 0 on a store error */
	m->members = members;
	m->created_unix = r->created_ns / 1000000000ull;
	struct rv_room_net net_set;
	if (rv_room_net_export(r, NULL, &net_set) == 0)
		rv_room_net_move(&net_set, &m->n_dns_servers, &m->dns_servers, &m->dns_search,
				 &m->n_routes, &m->routes);
	else
		oom = true;
	bool privileged = ctx->who.admin || ctx->who.user_id == r->owner_id || caller_member;
	m->placement = rv_rooms_strdup(r->placement, &oom);
	/* where it lives: admins and its owner (docs/fleet.md) */
	bool sees_dp = ctx->who.admin || ctx->who.user_id == r->owner_id;
	m->dataplane = rv_rooms_strdup(sees_dp ? r->dataplane : "", &oom);
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

grpc_status_code rv_rooms_oom(char *msg, size_t msglen)
{
	snprintf(msg, msglen, "out of memory");
	return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

grpc_status_code rv_rooms_store_error(char *msg, size_t msglen)
{
	snprintf(msg, msglen, "store error (see the server log)");
	return GRPC_STATUS_INTERNAL;
}

grpc_status_code rv_rooms_empty_reply(ProtobufCMessage **resp, char *msg, size_t msglen)
{
	Roomvpn__V1__Empty *e = malloc(sizeof(*e));
	if (!e)
		return rv_rooms_oom(msg, msglen);
	roomvpn__v1__empty__init(e);
	*resp = &e->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code not_found(const char *room, char *msg, size_t msglen)
{
	snprintf(msg, msglen, "room '%s' not found", room);
	return GRPC_STATUS_NOT_FOUND;
}

static pthread_mutex_t catalog_mu = PTHREAD_MUTEX_INITIALIZER;

void rv_rooms_catalog_lock(void)
{
	pthread_mutex_lock(&catalog_mu);
}

void rv_rooms_catalog_unlock(void)
{
	pthread_mutex_unlock(&catalog_mu);
}

grpc_status_code rv_rooms_find(struct rv_rpc_ctx *ctx, const char *room, RoomRecord **out,
			       char *msg, size_t msglen)
{
	snprintf(ctx->target, sizeof(ctx->target), "%s", room);
	if (!room[0]) {
		snprintf(msg, msglen, "room is required (a room name, or #<id>)");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = rv_rooms_load(ctx->ctl->store, room, out);
	if (rc < 0)
		return rv_rooms_store_error(msg, msglen);
	if (rc == 1)
		return not_found(room, msg, msglen);
	return GRPC_STATUS_OK;
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
	e->address = rv_rooms_strdup(addr, oom);
	return e;
}

Roomvpn__V1__JoinRoomResponse *rv_rooms_join_msg(struct rv_rpc_ctx *ctx, const RoomRecord *r,
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
	m->room = rv_rooms_msg(ctx, r, true);
	oom = !m->room;
	rv_ipam_format_addr(addr, buf, sizeof(buf));
	m->virtual_ip = rv_rooms_strdup(buf, &oom);
	rv_ipam_format_cidr(&net, buf, sizeof(buf));
	m->subnet = rv_rooms_strdup(buf, &oom);
	rv_ipam_format_addr(rv_ipam_server_addr(&net), buf, sizeof(buf));
	m->server_ip = rv_rooms_strdup(buf, &oom);
	m->prefix_len = r->subnet_prefix;
	char sub6[64], vip6[46], srv6[46];
	rv_room_prefix6_text(r, addr, sub6, vip6, srv6);
	m->virtual_ip6 = rv_rooms_strdup(vip6, &oom);
	m->subnet6 = rv_rooms_strdup(sub6, &oom);
	m->prefix6_len = sub6[0] ? r->prefix6_len : 0;
	m->mtu = r->mtu;
	struct rv_room_net net_set;
	if (rv_room_net_export(r, cfg->dns, &net_set) == 0) {
		m->dns = rv_rooms_strdup(net_set.n_dns ? net_set.dns[0] : "", &oom);
		rv_room_net_move(&net_set, &m->n_dns_servers, &m->dns_servers, &m->dns_search,
				 &m->n_routes, &m->routes);
	} else {
		m->dns = rv_rooms_strdup("", &oom);
		oom = true;
	}
	m->keepalive_s = r->keepalive_s;
	m->device_id = ctx->who.device_id;
	m->endpoints = calloc(3, sizeof(*m->endpoints)); /* TCP, UDP per family */
	oom |= !m->endpoints;
	if (m->endpoints) {
		bool tcp_first = r->transport == ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
		const char *udp = cfg->dp_udp_endpoint, *tcp = cfg->dp_tcp_endpoint;
		char dp_udp[128], dp_tcp[128]; /* the room's data plane's, once placed */
		if (r->dataplane && r->dataplane[0] &&
		    rv_fleet_endpoints(r->dataplane, dp_udp, sizeof(dp_udp), dp_tcp,
				       sizeof(dp_tcp)))
			udp = dp_udp, tcp = dp_tcp;
		if (tcp_first && tcp[0])
			m->endpoints[m->n_endpoints++] =
			    endpoint(ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP, tcp, &oom);
		char each[2][RV_ENDPOINT_MAX];
		unsigned n_udp = rv_endpoints_split(udp, each); /* a dual-stack data plane: 2 */
		for (unsigned i = 0; i < n_udp && !oom; i++)
			m->endpoints[m->n_endpoints++] =
			    endpoint(ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP, each[i], &oom);
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
