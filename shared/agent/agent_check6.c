/* Stateless checks of a request's IPv6 fields (agent_proto.h): a room's
 * prefix6 / prefix6_len / routes6, a session's vip6, and in a Resync each
 * vip6 inside its room's prefix6 and unique in the room. The data plane's
 * tables check the same again (session_table.h) with the table's state. */
#include "agent_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

typedef Roomvpn__Dataplane__V1__Status rv_status;
typedef Roomvpn__Dataplane__V1__Room rv_room;
typedef Roomvpn__Dataplane__V1__Session rv_session;

#define ST(x) ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x

/* Bit @i (0 = the first) of a 16-byte address. */
static unsigned bit(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

/* Do @a and @b agree on their first @plen bits? */
static bool same_prefix(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	for (unsigned i = 0; i < plen; i++)
		if (bit(a, i) != bit(b, i))
			return false;
	return true;
}

/* Any bit set from @plen on? */
static bool host_bits(const uint8_t *a, unsigned plen)
{
	for (unsigned i = plen; i < 128; i++)
		if (bit(a, i))
			return true;
	return false;
}

static rv_status bad(char *err, size_t errlen, const char *fmt, unsigned a, unsigned b)
{
	snprintf(err, errlen, fmt, a, b);
	return ST(INVALID_ARGUMENT);
}

bool rv_agent_vip6_in_room(const rv_room *room, const uint8_t *vip6)
{
	return room->prefix6.len == 16 && room->prefix6_len >= 48 && room->prefix6_len <= 120 &&
	       same_prefix(vip6, room->prefix6.data, room->prefix6_len) &&
	       host_bits(vip6, room->prefix6_len);
}

rv_status rv_agent_check_room6(const rv_room *room, char *err, size_t errlen)
{
	unsigned id = room->room_id, plen = room->prefix6_len;
	if (room->prefix6.len == 0 && plen == 0) {
		if (room->n_routes6)
			return bad(err, errlen, "room %u: %u routes6 but no prefix6", id,
				   (unsigned)room->n_routes6);
		return ST(OK);
	}
	if (room->prefix6.len != 16)
		return bad(err, errlen, "room %u: prefix6 is %u bytes, must be 16", id,
			   (unsigned)room->prefix6.len);
	if (plen < 48 || plen > 120)
		return bad(err, errlen, "room %u: prefix6_len %u out of range 48..120", id, plen);
	if (host_bits(room->prefix6.data, plen))
		return bad(err, errlen, "room %u: prefix6 has host bits set for /%u", id, plen);
	if (room->n_routes6 > 16)
		return bad(err, errlen, "room %u: %u routes6, at most 16", id,
			   (unsigned)room->n_routes6);
	for (size_t i = 0; i < room->n_routes6; i++) {
		const Roomvpn__Dataplane__V1__Route6 *r = room->routes6[i];
		unsigned n = (unsigned)i;
		if (r->target.len != 16 || r->via.len != 16)
			return bad(err, errlen,
				   "room %u: route6 %u: target and via must be 16 bytes", id, n);
		if (r->prefix_len < 1 || r->prefix_len > 128)
			return bad(err, errlen,
				   "room %u: route6 %u: prefix_len out of range 1..128", id, n);
		if (host_bits(r->target.data, r->prefix_len))
			return bad(err, errlen, "room %u: route6 %u: target has host bits set", id,
				   n);
		unsigned shorter = r->prefix_len < plen ? r->prefix_len : plen;
		if (same_prefix(r->target.data, room->prefix6.data, shorter))
			return bad(err, errlen, "room %u: route6 %u: target overlaps prefix6", id,
				   n);
		if (!same_prefix(r->via.data, room->prefix6.data, plen) ||
		    !host_bits(r->via.data, plen))
			return bad(err, errlen, "room %u: route6 %u: via is not a host of prefix6",
				   id, n);
	}
	return ST(OK);
}

rv_status rv_agent_check_session6(const rv_session *s, char *err, size_t errlen)
{
	if (s->vip6.len != 0 && s->vip6.len != 16)
		return bad(err, errlen, "session %u: vip6 is %u bytes, must be 16 (or empty)",
			   s->peer_id, (unsigned)s->vip6.len);
	return ST(OK);
}

struct vip6_key {
	uint32_t room, peer;
	uint8_t vip6[16];
};

static int cmp_vip6(const void *a, const void *b)
{
	const struct vip6_key *x = a, *y = b;
	if (x->room != y->room)
		return x->room < y->room ? -1 : 1;
	return memcmp(x->vip6, y->vip6, 16);
}

rv_status rv_agent_check_resync6(const Roomvpn__Dataplane__V1__Resync *r, char *err, size_t errlen)
{
	struct vip6_key *k = malloc((r->n_sessions ? r->n_sessions : 1) * sizeof(*k));
	size_t n = 0;
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return ST(RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < r->n_sessions; i++) {
		const rv_session *s = r->sessions[i];
		const rv_room *room = NULL;
		if (s->vip6.len != 16)
			continue;
		for (size_t j = 0; j < r->n_rooms && !room; j++)
			if (r->rooms[j]->room_id == s->room_id)
				room = r->rooms[j];
		if (room && !rv_agent_vip6_in_room(room, s->vip6.data)) {
			free(k);
			return bad(err, errlen,
				   "session %u: vip6 is not a host of room %u's prefix6",
				   s->peer_id, s->room_id);
		}
		k[n].room = s->room_id;
		k[n].peer = s->peer_id;
		memcpy(k[n].vip6, s->vip6.data, 16);
		n++;
	}
	qsort(k, n, sizeof(*k), cmp_vip6);
	for (size_t i = 1; i < n; i++)
		if (cmp_vip6(&k[i], &k[i - 1]) == 0) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, k[i].vip6, a, sizeof(a));
			snprintf(err, errlen, "room %u: vip6 %s used by two sessions", k[i].room,
				 a);
			free(k);
			return ST(INVALID_ARGUMENT);
		}
	free(k);
	return ST(OK);
}
