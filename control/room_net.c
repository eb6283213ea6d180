/* DNS settings and managed routes of a room (room_net.h). */
#include "room_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__RouteRecord RouteRecord;

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

static int check_dns(char *const *servers, size_t n, const char *search, uint32_t *addrs, char *msg,
		     size_t msglen)
{
	if (n > RV_ROOM_DNS_MAX) {
		snprintf(msg, msglen, "at most %d DNS servers (got %zu)", RV_ROOM_DNS_MAX, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_addr(servers[i], &addrs[i]) < 0 || !usable_server(addrs[i])) {
			snprintf(
			    msg, msglen,
			    "DNS server '%.64s' is not a usable IPv4 address (a.b.c.d, unicast, "
			    "not 0.x or 127.x)",
			    servers[i] ? servers[i] : "");
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (addrs[j] == addrs[i]) {
				snprintf(msg, msglen, "DNS server %.64s is listed twice",
					 servers[i]);
				return -1;
			}
		}
	}
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

int rv_room_net_set_dns(RoomRecord *r, char *const *servers, size_t n, const char *search,
			char *msg, size_t msglen)
{
	uint32_t addrs[RV_ROOM_DNS_MAX];
	if (check_dns(servers, n, search, addrs, msg, msglen) < 0)
		return -1;
	uint32_t *v = n ? malloc(n * sizeof(*v)) : NULL;
	char *s = strdup(search ? search : "");
	if ((n && !v) || !s) {
		free(v);
		free(s);
		return -2;
	}
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

static void free_routes(RouteRecord **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int rv_room_net_set_routes(RoomRecord *r, Roomvpn__V1__Route *const *routes, size_t n, char *msg,
			   size_t msglen)
{
	RouteRecord tmp[RV_ROOM_ROUTES_MAX];
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	if (n > RV_ROOM_ROUTES_MAX) {
		snprintf(msg, msglen, "at most %d routes per room (got %zu)", RV_ROOM_ROUTES_MAX,
			 n);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (check_route(routes[i], &net, tmp, i, &tmp[i], msg, msglen) < 0)
			return -1;
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
}

static char *addr_str(uint32_t a)
{
	char buf[20];
	rv_ipam_format_addr(a, buf, sizeof(buf));
	return strdup(buf);
}

static Roomvpn__V1__Route *route_msg(const RouteRecord *rr)
{
	Roomvpn__V1__Route *m = malloc(sizeof(*m));
	struct rv_cidr t = {rr->target_addr, (uint8_t)rr->target_prefix};
	char buf[24];
	if (!m)
		return NULL;
	roomvpn__v1__route__init(m);
	rv_ipam_format_cidr(&t, buf, sizeof(buf));
	m->target = strdup(buf);
	m->via = addr_str(rr->via);
	if (!m->target || !m->via) {
		free(m->target);
		free(m->via);
		free(m);
		return NULL;
	}
	return m;
}

int rv_room_net_export(const RoomRecord *r, const char *fallback_dns, struct rv_room_net *out)
{
	bool fallback = !r->n_dns_servers && fallback_dns && fallback_dns[0];
	*out = (struct rv_room_net){0};
	out->search = strdup(r->dns_search ? r->dns_search : "");
	out->dns = calloc(RV_ROOM_DNS_MAX, sizeof(*out->dns));
	out->routes = calloc(RV_ROOM_ROUTES_MAX, sizeof(*out->routes));
	if (!out->search || !out->dns || !out->routes)
		goto err;
	if (fallback && !(out->dns[out->n_dns++] = strdup(fallback_dns)))
		goto err;
	for (size_t i = 0; i < r->n_dns_servers && i < RV_ROOM_DNS_MAX; i++)
		if (!(out->dns[out->n_dns++] = addr_str(r->dns_servers[i])))
			goto err;
	for (size_t i = 0; i < r->n_routes && i < RV_ROOM_ROUTES_MAX; i++)
		if (!(out->routes[out->n_routes++] = route_msg(r->routes[i])))
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
	return fnv(h, &r->n_routes, sizeof(r->n_routes));
}

uint64_t rv_room_net_tag(const RoomRecord *r)
{
	uint64_t h = rv_room_net_routes_tag(r);
	h = fnv(h, r->dns_servers, r->n_dns_servers * sizeof(*r->dns_servers));
	h = fnv(h, &r->n_dns_servers, sizeof(r->n_dns_servers));
	return fnv(h, r->dns_search ? r->dns_search : "",
		   r->dns_search ? strlen(r->dns_search) : 0);
}
