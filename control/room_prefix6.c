/* Rooms' IPv6 prefixes (room_prefix6.h). Keys: meta/ipv6_prefix -> the
 * server's prefix as text; rs6/<32 hex digits of the network address> ->
 * "<length>/<room id hex>" (docs/store.md). */
#include "room_prefix6.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_keys.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;

static bool enabled;
static struct rv_ipam6 server;

static size_t index_key(char *k, const uint8_t a[16])
{
	size_t n = (size_t)sprintf(k, "%s", RV_KEY_ROOM_PREFIX6_PREFIX);
	for (int i = 0; i < 16; i++)
		n += (size_t)sprintf(k + n, "%02x", a[i]);
	return n;
}

bool rv_room_prefix6_server(struct rv_cidr6 *out)
{
	if (enabled)
		*out = server.pool;
	return enabled;
}

bool rv_room_prefix6_of(const RoomRecord *r, struct rv_cidr6 *out)
{
	if (!enabled || r->prefix6.len != 16 || !r->prefix6_len || r->prefix6_len > 128)
		return false;
	memcpy(out->addr, r->prefix6.data, 16);
	out->prefix = (uint8_t)r->prefix6_len;
	return true;
}

bool rv_room_prefix6_vip6(const RoomRecord *r, uint32_t vip, uint8_t out[16])
{
	struct rv_cidr6 p;
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	return rv_room_prefix6_of(r, &p) && rv_ipam6_host(&p, &net, vip, out) == 0;
}

void rv_room_prefix6_text(const RoomRecord *r, uint32_t vip, char subnet6[64], char vip6[46],
			  char server6[46])
{
	struct rv_cidr6 p;
	uint8_t a[16];
	subnet6[0] = vip6[0] = server6[0] = '\0';
	if (!rv_room_prefix6_of(r, &p))
		return;
	rv_ipam6_format_cidr(&p, subnet6, 64);
	rv_ipam6_server_addr(&p, a);
	rv_ipam6_format_addr(a, server6, 46);
	if (vip && rv_room_prefix6_vip6(r, vip, a))
		rv_ipam6_format_addr(a, vip6, 46);
}

void rv_room_prefix6_set(RoomRecord *r, struct rv_cidr6 *c)
{
	r->prefix6.data = c->prefix ? c->addr : NULL;
	r->prefix6.len = c->prefix ? 16 : 0;
	r->prefix6_len = c->prefix;
}

void rv_room_prefix6_index_put(struct rv_store_batch *b, const RoomRecord *r)
{
	char k[RV_KEY_MAX], v[40];
	if (r->prefix6.len != 16)
		return;
	int vl = snprintf(v, sizeof(v), "%u/%016" PRIx64, r->prefix6_len, r->id);
	rv_store_batch_put(b, k, index_key(k, r->prefix6.data), v, (size_t)vl);
}

void rv_room_prefix6_index_delete(struct rv_store_batch *b, const RoomRecord *r)
{
	char k[RV_KEY_MAX];
	if (r->prefix6.len == 16)
		rv_store_batch_delete(b, k, index_key(k, r->prefix6.data));
}

/* ---- the prefixes in use (rs6/) ---------------------------------------- */

struct used {
	struct rv_cidr6 *v;
	size_t n, cap;
	bool oom;
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool used_add(struct used *u, const struct rv_cidr6 *c)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		struct rv_cidr6 *p = realloc(u->v, cap * sizeof(*p));
		if (!p) {
			u->oom = true;
			return false;
		}
		u->v = p;
		u->cap = cap;
	}
	u->v[u->n++] = *c;
	return true;
}

static int used_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	const size_t pl = sizeof(RV_KEY_ROOM_PREFIX6_PREFIX) - 1;
	const char *hex = (const char *)k + pl;
	struct rv_cidr6 c;
	char val[40];
	if (kl != pl + 32 || vl >= sizeof(val))
		return 0;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		c.addr[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(val, v, vl);
	val[vl] = '\0';
	c.prefix = (uint8_t)atoi(val);
	return used_add(arg, &c) ? 0 : 1;
}

static int used_load(struct rv_store *s, struct used *u)
{
	const char *p = RV_KEY_ROOM_PREFIX6_PREFIX;
	if (rv_store_scan_prefix(s, p, strlen(p), NULL, 0, used_cb, u) < 0 || u->oom) {
		free(u->v);
		return -1;
	}
	return 0;
}

/* The lowest free prefix for a room of IPv4 @subnet: the configured room
 * length, or a shorter one when the room's subnet needs more addresses. */
static int pick(const struct used *u, const struct rv_cidr *subnet, struct rv_cidr6 *out)
{
	struct rv_ipam6 ip = server;
	unsigned need = 96u + subnet->prefix;
	if (ip.room_prefix > need)
		ip.room_prefix = (uint8_t)(need < ip.pool.prefix ? ip.pool.prefix : need);
	return rv_ipam6_pool_pick(&ip, u->v, u->n, out);
}

int rv_room_prefix6_check(const char *want, const struct rv_cidr *subnet, char *msg, size_t msglen)
{
	struct rv_cidr6 c;
	if (!want[0])
		return 0;
	if (!enabled) {
		snprintf(msg, msglen, "subnet6 '%s': IPv6 is off on this server (ipv6 = off)",
			 want);
		return -1;
	}
	if (rv_ipam6_parse_cidr(want, &c, msg, msglen) < 0)
		return -1;
	return rv_ipam6_check_room_prefix(&c, subnet, msg, msglen);
}

grpc_status_code rv_room_prefix6_choose(struct rv_store *s, const char *want,
					const struct rv_cidr *subnet, struct rv_cidr6 *out,
					char *msg, size_t msglen)
{
	struct used u = {0};
	grpc_status_code st = GRPC_STATUS_OK;
	char a[64], b[64];
	memset(out, 0, sizeof(*out));
	if (!enabled)
		return GRPC_STATUS_OK;
	if (rv_room_prefix6_check(want, subnet, msg, msglen) < 0)
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (used_load(s, &u) < 0) {
		snprintf(msg, msglen, "reading the rooms' IPv6 prefixes from the store failed");
		return GRPC_STATUS_INTERNAL;
	}
	if (want[0]) {
		rv_ipam6_parse_cidr(want, out, a, sizeof(a)); /* checked above */
		for (size_t i = 0; i < u.n; i++) {
			if (rv_ipam6_overlaps(out, &u.v[i])) {
				rv_ipam6_format_cidr(out, a, sizeof(a));
				rv_ipam6_format_cidr(&u.v[i], b, sizeof(b));
				snprintf(msg, msglen, "subnet6 %s overlaps %s of another room", a,
					 b);
				st = GRPC_STATUS_ALREADY_EXISTS;
				break;
			}
		}
	} else if (pick(&u, subnet, out) < 0) {
		rv_ipam6_format_cidr(&server.pool, a, sizeof(a));
		snprintf(msg, msglen,
			 "the server's IPv6 prefix %s has no free /%u left for a room (set "
			 "ipv6_prefix to a larger one, or give the room its own subnet6)",
			 a, server.room_prefix);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	free(u.v);
	return st;
}

/* ---- start-up ------------------------------------------------------------ */

/* The server's prefix: the configured one, else the stored ULA, else a new
 * ULA stored now (synced). */
static int server_prefix(struct rv_store *s, const char *cfg, struct rv_cidr6 *out, char *err,
			 size_t errlen)
{
	const char *key = RV_KEY_IPV6_PREFIX;
	char text[64], e[160];
	void *v;
	size_t vl;
	if (cfg[0])
		return rv_ipam6_parse_cidr(cfg, out, err, errlen);
	int rc = rv_store_get(s, key, strlen(key), &v, &vl);
	if (rc < 0) {
		snprintf(err, errlen, "reading %s from the store failed", key);
		return -1;
	}
	if (rc == 0) {
		snprintf(text, sizeof(text), "%.*s", (int)(vl < 63 ? vl : 63), (char *)v);
		free(v);
		if (rv_ipam6_parse_cidr(text, out, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "store key %s: %s", key, e);
			return -1;
		}
		return 0;
	}
	if (rv_ipam6_ula(out) < 0) {
		snprintf(err, errlen, "no random bytes for the ULA prefix");
		return -1;
	}
	rv_ipam6_format_cidr(out, text, sizeof(text));
	if (rv_store_put(s, key, strlen(key), text, strlen(text), true) < 0) {
		snprintf(err, errlen, "storing %s failed", key);
		return -1;
	}
	rv_log(RV_LOG_INFO, "rooms: the server's IPv6 prefix is %s (a new random ULA /48)", text);
	return 0;
}

struct migrate {
	struct rv_store_batch *b;
	struct used u;
	unsigned n;
	bool fail;
};

/* r/<id> -> a room without prefix6 gets one (into the batch). */
static int migrate_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct migrate *m = arg;
	RoomRecord *r = roomvpn__v1__room_record__unpack(NULL, vl, v);
	struct rv_cidr6 c;
	if (!r)
		return 0;
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	if (r->prefix6.len != 16 && pick(&m->u, &net, &c) == 0) {
		ProtobufCBinaryData old = r->prefix6;
		rv_room_prefix6_set(r, &c);
		size_t len = roomvpn__v1__room_record__get_packed_size(r);
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf || !used_add(&m->u, &c))
			m->fail = true;
		else
			rv_store_batch_put(m->b, k, kl, buf,
					   roomvpn__v1__room_record__pack(r, buf));
		free(buf);
		rv_room_prefix6_index_put(m->b, r);
		r->prefix6 = old; /* freed by free_unpacked */
		m->n++;
	} else if (r->prefix6.len != 16) {
		rv_log(RV_LOG_WARN, "rooms: room '%s' gets no IPv6 prefix: %s", r->name,
		       "the server's IPv6 prefix is full");
	}
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return m->fail;
}

int rv_room_prefix6_init(struct rv_control *ctl, char *err, size_t errlen)
{
	const struct rv_control_config *c = &ctl->cfg;
	struct rv_cidr6 pool;
	char e[200];
	enabled = false;
	if (!c->ipv6)
		return 0;
	if (server_prefix(ctl->store, c->ipv6_prefix, &pool, e, sizeof(e)) < 0 ||
	    rv_ipam6_init(&server, &pool, c->ipv6_room_prefix ? c->ipv6_room_prefix : 64, e,
			  sizeof(e)) < 0) {
		snprintf(err, errlen, "ipv6_prefix/ipv6_room_prefix: %s", e);
		return -1;
	}
	enabled = true;
	struct migrate m = {.b = rv_store_batch_new()};
	const char *rp = RV_KEY_ROOM_BY_ID_PREFIX;
	if (!m.b || used_load(ctl->store, &m.u) < 0) {
		rv_store_batch_free(m.b);
		snprintf(err, errlen, "reading room prefixes from the store failed");
		return -1;
	}
	int rc = rv_store_scan_prefix(ctl->store, rp, strlen(rp), NULL, 0, migrate_cb, &m);
	if (rc == 0 && !m.fail && m.n && rv_store_batch_commit(ctl->store, m.b, true) < 0)
		rc = -1;
	if (rc == 0 && !m.fail && m.n)
		rv_log(RV_LOG_INFO, "rooms: %u room(s) stored before IPv6 got an IPv6 prefix", m.n);
	free(m.u.v);
	rv_store_batch_free(m.b);
	if (rc < 0 || m.fail) {
		snprintf(err, errlen, "giving stored rooms an IPv6 prefix failed (store)");
		return -1;
	}
	return 0;
}

void rv_room_prefix6_fini(void)
{
	enabled = false;
}
