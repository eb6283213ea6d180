/* DNS settings and managed routes of a room (room_net.h). */
#include "room_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"
#include "ipam6.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__RouteRecord RouteRecord;
typedef Roomvpn__V1__Route6Record Route6Record;

static bool is_v6(const char *s)
{
	return s && strchr(s, ':');
}

/* A DNS server must be a unicast address a resolver can be sent to: not
 * ::, ::1, multicast or link-local (which needs an interface). */
static bool usable_server6(const uint8_t a[16])
{
	static const uint8_t zero[16], one[16] = {[15] = 1};
	return memcmp(a, zero, 16) && memcmp(a, one, 16) && a[0] != 0xff &&
	       !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

static int parse_addr(const char *s, uint32_t *out)
{
	struct in_addr in;
	if (!s || inet_pton(AF_INET, s, &in) != 1)
		return -1;
	*out = ntohl(in.s_addr);
	return 0;
}

/* A DNS server must be a unicast address a resolver can be sent to. */
static bool usable_server(uint32_t a)
{
	return a != 0 && a != 0xFFFFFFFFu && (a & 0xF0000000u) != 0xE0000000u && (a >> 24) != 0 &&
	       (a >> 24) != 127;
}

/* RFC 1035 host name syntax: labels of 1-63 [A-Za-z0-9-], not starting or
 * ending with '-', separated by single dots, 253 characters at most. */
static bool valid_domain(const char *d)
{
	size_t n = strlen(d), label = 0;
	if (n == 0 || n > RV_ROOM_SEARCH_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

/* An IPv6 server: into @a6[*n6] unless listed before. 0 or -1. */
static int check_dns6(const char *s, uint8_t (*a6)[16], size_t *n6, char *msg, size_t msglen)
{
	if (rv_ipam6_parse_addr(s, a6[*n6]) < 0 || !usable_server6(a6[*n6])) {
		snprintf(msg, msglen,
			 "DNS server '%.64s' is not a usable IPv6 address (unicast, not ::, ::1 or "
			 "link-local)",
			 s);
		return -1;
	}
	for (size_t j = 0; j < *n6; j++) {
		if (!memcmp(a6[j], a6[*n6], 16)) {
			snprintf(msg, msglen, "DNS server %.64s is listed twice", s);
			return -1;
		}
	}
	(*n6)++;
	return 0;
}

static int check_dns(char *const *servers, size_t n_all, const char *search, uint32_t *addrs,
		     size_t *n4, uint8_t (*a6)[16], size_t *n6, char *msg, size_t msglen)
{
	size_t n = 0;
	*n6 = 0;
	if (n_all > RV_ROOM_DNS_MAX) {
		snprintf(msg, msglen, "at most %d DNS servers (got %zu)", RV_ROOM_DNS_MAX, n_all);
		return -1;
	}
	for (size_t k = 0; k < n_all; k++) {
		if (is_v6(servers[k])) {
			if (check_dns6(servers[k], a6, n6, msg, msglen) < 0)
				return -1;
			continue;
		}
		const size_t i = n++;
		if (parse_addr(servers[k], &addrs[i]) < 0 || !usable_server(addrs[i])) {
			snprintf(
			    msg, msglen,
			    "DNS server '%.64s' is not a usable IPv4 address (a.b.c.d, unicast, "
			    "not 0.x or 127.x)",
			    servers[k] ? servers[k] : "");
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (addrs[j] == addrs[i]) {
				snprintf(msg, msglen, "DNS server %.64s is listed twice",
					 servers[k]);
				return -1;
			}
		}
	}
	*n4 = n;
	n = n_all;
	if (search && search[0] && !valid_domain(search)) {
		snprintf(msg, msglen,
			 "DNS search domain '%.80s' is not a domain name (labels of letters, "
			 "digits and '-', separated by dots, at most %d characters)",
			 search, RV_ROOM_SEARCH_MAX);
		return -1;
	}
	if (search && search[0] && n == 0) {
		snprintf(msg, msglen, "a DNS search domain needs at least one DNS server");
		return -1;
	}
	return 0;
}

static void free_bytes(ProtobufCBinaryData *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].data);
	free(v);
}

/* @n6 IPv6 servers as the record's repeated bytes (NULL, n6 0: none). */
static ProtobufCBinaryData *bytes_of(uint8_t (*a6)[16], size_t n6, bool *oom)
{
	ProtobufCBinaryData *v = n6 ? calloc(n6, sizeof(*v)) : NULL;
	*oom = n6 && !v;
	for (size_t i = 0; v && i < n6; i++) {
		if (!(v[i].data = malloc(16))) {
			free_bytes(v, n6);
			*oom = true;
			return NULL;
		}
		memcpy(v[i].data, a6[i], 16);
		v[i].len = 16;
	}
	return v;
}

int rv_room_net_set_dns(RoomRecord *r, char *const *servers, size_t n_all, const char *search,
			char *msg, size_t msglen)
{
	uint32_t addrs[RV_ROOM_DNS_MAX];
	uint8_t a6[RV_ROOM_DNS_MAX][16];
	size_t n = 0, n6 = 0;
	bool oom6;
	if (check_dns(servers, n_all, search, addrs, &n, a6, &n6, msg, msglen) < 0)
		return -1;
	uint32_t *v = n ? malloc(n * sizeof(*v)) : NULL;
	ProtobufCBinaryData *v6 = bytes_of(a6, n6, &oom6);
	char *s = strdup(search ? search : "");
	if ((n && !v) || oom6 || !s) {
		free(v);
		free_bytes(v6, n6);
		free(s);
		return -2;
	}
	free_bytes(r->dns_servers6, r->n_dns_servers6);
	r->dns_servers6 = v6;
	r->n_dns_servers6 = n6;
	if (n)
		memcpy(v, addrs, n * sizeof(*v));
	free(r->dns_servers);
	r->dns_servers = v;
	r->n_dns_servers = n;
	if (r->dns_search && r->dns_search != protobuf_c_empty_string)
		free(r->dns_search);
	r->dns_search = s;
	return 0;
}

/* One route against the room @net and the routes before it. */
static int check_route(const Roomvpn__V1__Route *in, const struct rv_cidr *net,
		       const RouteRecord *before, size_t n_before, RouteRecord *out, char *msg,
		       size_t msglen)
{
	struct rv_cidr t;
	char err[160], sn[24];
	const char *target = in->target ? in->target : "";
	rv_ipam_format_cidr(net, sn, sizeof(sn));
	if (rv_ipam_parse_cidr(target, &t, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "route target: %s", err);
		return -1;
	}
	if (t.prefix < 8 || !rv_ipam_is_private(&t)) {
		snprintf(msg, msglen,
			 "route target %s must be private (inside 10.0.0.0/8, 172.16.0.0/12, "
			 "192.168.0.0/16 or 100.64.0.0/10) with a prefix of 8..32",
			 target);
		return -1;
	}
	if (rv_ipam_overlaps(&t, net)) {
		snprintf(msg, msglen, "route target %s overlaps the room's subnet %s", target, sn);
		return -1;
	}
	uint32_t via;
	if (parse_addr(in->via, &via) < 0 || !rv_ipam_contains(net, via) || via == net->addr ||
	    via == rv_ipam_broadcast(net) || via == rv_ipam_server_addr(net)) {
		snprintf(msg, msglen,
			 "route %s: via '%.40s' must be a device address inside the room's subnet "
			 "%s (not its network, broadcast or server address)",
			 target, in->via ? in->via : "", sn);
		return -1;
	}
	for (size_t i = 0; i < n_before; i++) {
		if (before[i].target_addr == t.addr && before[i].target_prefix == t.prefix) {
			snprintf(msg, msglen, "route target %s is listed twice", target);
			return -1;
		}
	}
	roomvpn__v1__route_record__init(out);
	out->target_addr = t.addr;
	out->target_prefix = t.prefix;
	out->via = via;
	return 0;
}

/* One IPv6 route against the room's prefix6 and the routes before it. */
static int check_route6(const Roomvpn__V1__Route *in, const RoomRecord *r,
			const Route6Record *before, size_t n_before, uint8_t target[16],
			uint8_t *plen, uint8_t via[16], char *msg, size_t msglen)
{
	struct rv_cidr6 t, px;
	char err[160], sn[64];
	const char *target_s = in->target ? in->target : "";
	if (r->prefix6.len != 16) {
		snprintf(msg, msglen, "route %s: the room has no IPv6 prefix (subnet6)", target_s);
		return -1;
	}
	memcpy(px.addr, r->prefix6.data, 16);
	px.prefix = (uint8_t)r->prefix6_len;
	rv_ipam6_format_cidr(&px, sn, sizeof(sn));
	if (rv_ipam6_parse_cidr(target_s, &t, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "route target: %s", err);
		return -1;
	}
	static const uint8_t loop[16] = {[15] = 1};
	if (t.prefix < 16 || t.addr[0] == 0xff ||
	    (t.addr[0] == 0xfe && (t.addr[1] & 0xc0) == 0x80) || !memcmp(t.addr, loop, 16)) {
		snprintf(msg, msglen,
			 "route target %s must have a prefix of 16..128 and not be multicast, "
			 "link-local or loopback",
			 target_s);
		return -1;
	}
	if (rv_ipam6_overlaps(&t, &px)) {
		snprintf(msg, msglen, "route target %s overlaps the room's subnet6 %s", target_s,
			 sn);
		return -1;
	}
	uint8_t srv[16];
	rv_ipam6_server_addr(&px, srv);
	if (!in->via || rv_ipam6_parse_addr(in->via, via) < 0 || !rv_ipam6_contains(&px, via) ||
	    !memcmp(via, px.addr, 16) || !memcmp(via, srv, 16)) {
		snprintf(msg, msglen,
			 "route %s: via '%.46s' must be a device address inside the room's subnet6 "
			 "%s (not its ::0 or the server's ::1)",
			 target_s, in->via ? in->via : "", sn);
		return -1;
	}
	for (size_t i = 0; i < n_before; i++) {
		if (!memcmp(before[i].target.data, t.addr, 16) &&
		    before[i].target_prefix == t.prefix) {
			snprintf(msg, msglen, "route target %s is listed twice", target_s);
			return -1;
		}
	}
	memcpy(target, t.addr, 16);
	*plen = t.prefix;
	return 0;
}

static void free_routes6(Route6Record **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i])
			protobuf_c_message_free_unpacked(&v[i]->base, NULL);
	free(v);
}

/* A malloc'd route record (every part its own block, as unpack makes it). */
static Route6Record *route6_new(const uint8_t target[16], uint8_t plen, const uint8_t via[16])
{
	Route6Record *m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	roomvpn__v1__route6_record__init(m);
	m->target.data = malloc(16);
	m->via.data = malloc(16);
	if (!m->target.data || !m->via.data) {
		free(m->target.data);
		free(m->via.data);
		free(m);
		return NULL;
	}
	memcpy(m->target.data, target, 16);
	memcpy(m->via.data, via, 16);
	m->target.len = m->via.len = 16;
	m->target_prefix = plen;
	return m;
}

/* The IPv6 ones of @routes into @r (checked). 0, -1 with a message, -2. */
static int set_routes6(RoomRecord *r, Roomvpn__V1__Route *const *routes, size_t n_all, char *msg,
		       size_t msglen)
{
	Route6Record *v[RV_ROOM_ROUTES_MAX] = {0};
	uint8_t target[16], via[16], plen;
	size_t n = 0;
	int rc = 0;
	for (size_t k = 0; k < n_all && rc == 0; k++) {
		if (!is_v6(routes[k]->target))
			continue;
		if (n == RV_ROOM_ROUTES_MAX) {
			snprintf(msg, msglen, "at most %d routes per room for IPv6",
				 RV_ROOM_ROUTES_MAX);
			rc = -1;
		} else if (check_route6(routes[k], r, NULL, 0, target, &plen, via, msg, msglen) <
			   0) {
			rc = -1;
		} else {
			for (size_t i = 0; i < n && rc == 0; i++)
				if (!memcmp(v[i]->target.data, target, 16) &&
				    v[i]->target_prefix == plen) {
					snprintf(msg, msglen, "route target %s is listed twice",
						 routes[k]->target);
					rc = -1;
				}
			if (rc == 0 && !(v[n++] = route6_new(target, plen, via)))
				rc = -2;
		}
	}
	Route6Record **a = rc == 0 && n ? malloc(n * sizeof(*a)) : NULL;
	if (rc == 0 && n && !a)
		rc = -2;
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			if (v[i])
				protobuf_c_message_free_unpacked(&v[i]->base, NULL);
		return rc;
	}
	if (n)
		memcpy(a, v, n * sizeof(*a));
	free_routes6(r->routes6, r->n_routes6);
	r->routes6 = a;
	r->n_routes6 = n;
	return 0;
}

static void free_routes(RouteRecord **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int rv_room_net_set_routes(RoomRecord *r, Roomvpn__V1__Route *const *routes, size_t n_all,
			   char *msg, size_t msglen)
{
	RouteRecord tmp[RV_ROOM_ROUTES_MAX];
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	size_t n = 0;
	for (size_t k = 0; k < n_all; k++) {
		if (is_v6(routes[k]->target))
			continue;
		if (n == RV_ROOM_ROUTES_MAX) {
			snprintf(msg, msglen, "at most %d routes per room for IPv4",
				 RV_ROOM_ROUTES_MAX);
			return -1;
		}
		if (check_route(routes[k], &net, tmp, n, &tmp[n], msg, msglen) < 0)
			return -1;
		n++;
	}
	int rc6 = set_routes6(r, routes, n_all, msg, msglen);
	if (rc6 < 0)
		return rc6;
	RouteRecord **v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return -2;
	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(sizeof(*v[i]));
		if (!v[i]) {
			free_routes(v, n);
			return -2;
		}
		*v[i] = tmp[i];
	}
	/* records from the store hold unpacked routes: free them that way */
	for (size_t i = 0; i < r->n_routes; i++)
		protobuf_c_message_free_unpacked(&r->routes[i]->base, NULL);
	free(r->routes);
	r->routes = v;
	r->n_routes = n;
	return 0;
}

void rv_room_net_clear(RoomRecord *r)
{
	free(r->dns_servers);
	r->dns_servers = NULL;
	r->n_dns_servers = 0;
	if (r->dns_search && r->dns_search != protobuf_c_empty_string)
		free(r->dns_search);
	r->dns_search = (char *)protobuf_c_empty_string;
	free_routes(r->routes, r->n_routes);
	r->routes = NULL;
	r->n_routes = 0;
	free_bytes(r->dns_servers6, r->n_dns_servers6);
	r->dns_servers6 = NULL;
	r->n_dns_servers6 = 0;
	free_routes6(r->routes6, r->n_routes6);
	r->routes6 = NULL;
	r->n_routes6 = 0;
}

static char *addr_str(uint32_t a)
{
	char buf[20];
	rv_ipam_format_addr(a, buf, sizeof(buf));
	return strdup(buf);
}

/* A Route message of @target and @via (texts), or NULL (out of memory). */
static Roomvpn__V1__Route *route_new(const char *target, const char *via)
{
	Roomvpn__V1__Route *m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	roomvpn__v1__route__init(m);
	m->target = strdup(target);
	m->via = strdup(via);
	if (!m->target || !m->via) {
		free(m->target);
		free(m->via);
		free(m);
		return NULL;
	}
	return m;
}

static Roomvpn__V1__Route *route_msg(const RouteRecord *rr)
{
	struct rv_cidr t = {rr->target_addr, (uint8_t)rr->target_prefix};
	char target[24], via[20];
	rv_ipam_format_cidr(&t, target, sizeof(target));
	rv_ipam_format_addr(rr->via, via, sizeof(via));
	return route_new(target, via);
}

static Roomvpn__V1__Route *route6_msg(const Route6Record *rr)
{
	struct rv_cidr6 t = {.prefix = (uint8_t)rr->target_prefix};
	char target[64], via[64];
	memcpy(t.addr, rr->target.data, rr->target.len == 16 ? 16 : 0);
	rv_ipam6_format_cidr(&t, target, sizeof(target));
	rv_ipam6_format_addr(rr->via.len == 16 ? rr->via.data : t.addr, via, sizeof(via));
	return route_new(target, via);
}

static char *addr6_str(const ProtobufCBinaryData *a)
{
	char buf[64];
	static const uint8_t zero[16];
	rv_ipam6_format_addr(a->len == 16 ? a->data : zero, buf, sizeof(buf));
	return strdup(buf);
}

int rv_room_net_export(const RoomRecord *r, const char *fallback_dns, struct rv_room_net *out)
{
	bool fallback = !r->n_dns_servers && !r->n_dns_servers6 && fallback_dns && fallback_dns[0];
	*out = (struct rv_room_net){0};
	out->search = strdup(r->dns_search ? r->dns_search : "");
	out->dns = calloc(RV_ROOM_DNS_MAX, sizeof(*out->dns));
	out->routes = calloc(2 * RV_ROOM_ROUTES_MAX, sizeof(*out->routes));
	if (!out->search || !out->dns || !out->routes)
		goto err;
	if (fallback && !(out->dns[out->n_dns++] = strdup(fallback_dns)))
		goto err;
	for (size_t i = 0; i < r->n_dns_servers && i < RV_ROOM_DNS_MAX; i++)
		if (!(out->dns[out->n_dns++] = addr_str(r->dns_servers[i])))
			goto err;
	for (size_t i = 0; i < r->n_dns_servers6 && out->n_dns < RV_ROOM_DNS_MAX; i++)
		if (!(out->dns[out->n_dns++] = addr6_str(&r->dns_servers6[i])))
			goto err;
	for (size_t i = 0; i < r->n_routes && i < RV_ROOM_ROUTES_MAX; i++)
		if (!(out->routes[out->n_routes++] = route_msg(r->routes[i])))
			goto err;
	for (size_t i = 0; i < r->n_routes6 && i < RV_ROOM_ROUTES_MAX; i++)
		if (!(out->routes[out->n_routes++] = route6_msg(r->routes6[i])))
			goto err;
	return 0;
err:
	rv_room_net_release(out);
	return -1;
}

void rv_room_net_release(struct rv_room_net *n)
{
	for (size_t i = 0; n->dns && i < n->n_dns; i++)
		free(n->dns[i]);
	for (size_t i = 0; n->routes && i < n->n_routes; i++)
		if (n->routes[i])
			protobuf_c_message_free_unpacked(&n->routes[i]->base, NULL);
	free(n->dns);
	free(n->routes);
	free(n->search);
	*n = (struct rv_room_net){0};
}

void rv_room_net_move(struct rv_room_net *n, size_t *n_dns, char ***dns, char **search,
		      size_t *n_routes, Roomvpn__V1__Route ***routes)
{
	*n_dns = n->n_dns;
	*dns = n->dns;
	*search = n->search;
	*n_routes = n->n_routes;
	*routes = n->routes;
	*n = (struct rv_room_net){0};
}

size_t rv_room_net_dp_routes(const RoomRecord *r,
			     Roomvpn__Dataplane__V1__Route rt[RV_ROOM_ROUTES_MAX],
			     Roomvpn__Dataplane__V1__Route *ptrs[RV_ROOM_ROUTES_MAX])
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_routes && n < RV_ROOM_ROUTES_MAX; i++, n++) {
		roomvpn__dataplane__v1__route__init(&rt[n]);
		rt[n].target = r->routes[i]->target_addr;
		rt[n].prefix_len = r->routes[i]->target_prefix;
		rt[n].via = r->routes[i]->via;
		ptrs[n] = &rt[n];
	}
	return n;
}

size_t rv_room_net_dp_v6(const RoomRecord *r, uint8_t prefix6[16], uint8_t *len,
			 struct rv_room_net_route6 rt[RV_ROOM_ROUTES_MAX])
{
	size_t n = 0;
	*len = 0;
	memset(prefix6, 0, 16);
	if (r->prefix6.len != 16)
		return 0;
	memcpy(prefix6, r->prefix6.data, 16);
	*len = (uint8_t)r->prefix6_len;
	for (size_t i = 0; i < r->n_routes6 && n < RV_ROOM_ROUTES_MAX; i++) {
		const Route6Record *x = r->routes6[i];
		if (x->target.len != 16 || x->via.len != 16)
			continue;
		memcpy(rt[n].target, x->target.data, 16);
		memcpy(rt[n].via, x->via.data, 16);
		rt[n].prefix_len = (uint8_t)x->target_prefix;
		n++;
	}
	return n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

uint64_t rv_room_net_routes_tag(const RoomRecord *r)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < r->n_routes; i++) {
		uint32_t v[3] = {r->routes[i]->target_addr, r->routes[i]->target_prefix,
				 r->routes[i]->via};
		h = fnv(h, v, sizeof(v));
	}
	for (size_t i = 0; i < r->n_routes6; i++) {
		const Route6Record *x = r->routes6[i];
		h = fnv(h, x->target.data, x->target.len);
		h = fnv(h, &x->target_prefix, sizeof(x->target_prefix));
		h = fnv(h, x->via.data, x->via.len);
	}
	h = fnv(h, r->prefix6.data, r->prefix6.len);
	h = fnv(h, &r->n_routes6, sizeof(r->n_routes6));
	return fnv(h, &r->n_routes, sizeof(r->n_routes));
}

uint64_t rv_room_net_tag(const RoomRecord *r)
{
	uint64_t h = rv_room_net_routes_tag(r);
	h = fnv(h, r->dns_servers, r->n_dns_servers * sizeof(*r->dns_servers));
	h = fnv(h, &r->n_dns_servers, sizeof(r->n_dns_servers));
	for (size_t i = 0; i < r->n_dns_servers6; i++)
		h = fnv(h, r->dns_servers6[i].data, r->dns_servers6[i].len);
	h = fnv(h, &r->n_dns_servers6, sizeof(r->n_dns_servers6));
	return fnv(h, r->dns_search ? r->dns_search : "",
		   r->dns_search ? strlen(r->dns_search) : 0);
}
