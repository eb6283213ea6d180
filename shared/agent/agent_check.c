/* Stateless checks of decoded agent requests (docs/dataplane-agent.md):
 * every field in range, key lengths, cipher names, VIPs inside their room's
 * subnet, no duplicate ids inside a Resync, the table-size limit. Checks
 * that need the data plane's tables stay in dataplane/agent_apply.c. */
#include "agent_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cipher.h"

typedef Roomvpn__Dataplane__V1__Status rv_status;
typedef Roomvpn__Dataplane__V1__Request rv_request;
typedef Roomvpn__Dataplane__V1__Room rv_room;
typedef Roomvpn__Dataplane__V1__Session rv_session;
typedef Roomvpn__Dataplane__V1__Key rv_key;

#define ST(x) ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x

bool rv_agent_vip_in_room(const rv_room *room, uint32_t vip)
{
	uint32_t host_bits = 32 - room->prefix_len;
	uint32_t mask = host_bits >= 32 ? 0 : ~0u << host_bits;
	uint32_t host = vip & ~mask;
	return (vip & mask) == (room->subnet & mask) && host != 0 && host != ~mask;
}

rv_status rv_agent_check_room(const rv_room *room, char *err, size_t errlen)
{
	if (!room) {
		snprintf(err, errlen, "room missing");
		return ST(INVALID_ARGUMENT);
	}
	if (room->room_id == 0) {
		snprintf(err, errlen, "room_id 0 is reserved");
		return ST(INVALID_ARGUMENT);
	}
	if (room->prefix_len < 8 || room->prefix_len > 30) {
		snprintf(err, errlen, "room %u: prefix_len %u out of range 8..30", room->room_id,
			 room->prefix_len);
		return ST(INVALID_ARGUMENT);
	}
	uint32_t mask = ~0u << (32 - room->prefix_len);
	if (room->subnet & ~mask) {
		snprintf(err, errlen, "room %u: subnet has host bits set for /%u", room->room_id,
			 room->prefix_len);
		return ST(INVALID_ARGUMENT);
	}
	return rv_agent_check_room6(room, err, errlen);
}

rv_status rv_agent_check_key(const rv_key *k, char *err, size_t errlen)
{
	if (!k) {
		snprintf(err, errlen, "key missing");
		return ST(INVALID_ARGUMENT);
	}
	if (k->key_id > 7) {
		snprintf(err, errlen, "key_id %u out of range 0..7", k->key_id);
		return ST(INVALID_ARGUMENT);
	}
	if (k->material.len != RV_AGENT_KEY_LEN) {
		snprintf(err, errlen, "key material is %zu bytes, must be %d", k->material.len,
			 RV_AGENT_KEY_LEN);
		return ST(INVALID_ARGUMENT);
	}
	switch (k->direction) {
	case ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER:
	case ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_CLIENT:
	case ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_BIDIRECTIONAL:
		return ST(OK);
	default:
		snprintf(err, errlen, "unknown key direction %d", (int)k->direction);
		return ST(INVALID_ARGUMENT);
	}
}

static rv_status check_cipher(const char *name, char *err, size_t errlen)
{
	enum rv_cipher c;
	if (!name || rv_cipher_parse(name, &c) != 0) {
		snprintf(err, errlen, "unknown cipher \"%s\"", name ? name : "");
		return ST(INVALID_ARGUMENT);
	}
	if (c == RV_CIPHER_STATIC_CBC_HMAC) {
		snprintf(err, errlen,
			 "cipher \"%s\" has no peer-id; the data plane needs P_DATA_V2", name);
		return ST(INVALID_ARGUMENT);
	}
	return ST(OK);
}

rv_status rv_agent_check_session(const rv_session *s, char *err, size_t errlen)
{
	char sub[200];
	rv_status st;
	if (!s) {
		snprintf(err, errlen, "session missing");
		return ST(INVALID_ARGUMENT);
	}
	if (s->peer_id > RV_AGENT_PEER_ID_MAX) {
		snprintf(err, errlen, "peer_id %u out of range 0..%u", s->peer_id,
			 RV_AGENT_PEER_ID_MAX);
		return ST(INVALID_ARGUMENT);
	}
	if (s->room_id == 0) {
		snprintf(err, errlen, "session %u: room_id 0 is reserved", s->peer_id);
		return ST(INVALID_ARGUMENT);
	}
	if ((st = check_cipher(s->cipher, sub, sizeof(sub))) != ST(OK) ||
	    (st = rv_agent_check_key(s->key, sub, sizeof(sub))) != ST(OK)) {
		snprintf(err, errlen, "session %u: %s", s->peer_id, sub);
		return st;
	}
	if (s->outer && s->outer->addr6.len != 0 && (s->outer->addr6.len != 16 || s->outer->addr)) {
		snprintf(err, errlen,
			 "session %u: outer addr6 must be 16 bytes with addr 0 (got %zu bytes)",
			 s->peer_id, s->outer->addr6.len);
		return ST(INVALID_ARGUMENT);
	}
	if (s->outer && (s->outer->addr != 0 || s->outer->addr6.len) &&
	    (s->outer->port == 0 || s->outer->port > 65535)) {
		snprintf(err, errlen, "session %u: outer port %u out of range 1..65535", s->peer_id,
			 s->outer->port);
		return ST(INVALID_ARGUMENT);
	}
	return rv_agent_check_session6(s, err, errlen);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* First value that occurs twice in @v (sorted in place), or -1. */
static int64_t first_duplicate(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return v[i];
	return -1;
}

static const rv_room *find_room(rv_room *const *rooms, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (rooms[i]->room_id == id)
			return rooms[i];
	return NULL;
}

/* Duplicate room ids, peer-ids, and (room, vip) pairs; every session's room
 * must be in the message (a resync replaces everything). */
static rv_status check_resync_refs(const Roomvpn__Dataplane__V1__Resync *r, char *err,
				   size_t errlen)
{
	size_t n = r->n_rooms > r->n_sessions ? r->n_rooms : r->n_sessions;
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	int64_t dup;
	if (!ids) {
		snprintf(err, errlen, "out of memory");
		return ST(RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < r->n_rooms; i++)
		ids[i] = r->rooms[i]->room_id;
	if ((dup = first_duplicate(ids, r->n_rooms)) >= 0) {
		snprintf(err, errlen, "room %lld appears twice", (long long)dup);
		free(ids);
		return ST(INVALID_ARGUMENT);
	}
	for (size_t i = 0; i < r->n_sessions; i++)
		ids[i] = r->sessions[i]->peer_id;
	dup = first_duplicate(ids, r->n_sessions);
	free(ids);
	if (dup >= 0) {
		snprintf(err, errlen, "session %lld appears twice", (long long)dup);
		return ST(INVALID_ARGUMENT);
	}
	for (size_t i = 0; i < r->n_sessions; i++) {
		const rv_session *s = r->sessions[i];
		const rv_room *room = find_room(r->rooms, r->n_rooms, s->room_id);
		if (!room) {
			snprintf(err, errlen, "session %u: room %u is not in the resync",
				 s->peer_id, s->room_id);
			return ST(NOT_FOUND);
		}
		if (!rv_agent_vip_in_room(room, s->vip)) {
			snprintf(err, errlen, "session %u: vip is not a host of room %u's subnet",
				 s->peer_id, s->room_id);
			return ST(INVALID_ARGUMENT);
		}
	}
	return ST(OK);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Two sessions of one room with the same vip: sort (room, vip) keys, scan. */
static rv_status check_resync_vips(const Roomvpn__Dataplane__V1__Resync *r, char *err,
				   size_t errlen)
{
	size_t n = r->n_sessions;
	uint64_t *k = malloc((n ? n : 1) * sizeof(*k));
	rv_status st = ST(OK);
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return ST(RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (uint64_t)r->sessions[i]->room_id << 32 | r->sessions[i]->vip;
	qsort(k, n, sizeof(*k), cmp_u64);
	for (size_t i = 1; i < n && st == ST(OK); i++) {
		if (k[i] != k[i - 1])
			continue;
		uint32_t vip = (uint32_t)k[i];
		snprintf(err, errlen, "room %u: vip %u.%u.%u.%u used by two sessions",
			 (uint32_t)(k[i] >> 32), vip >> 24, (vip >> 16) & 255, (vip >> 8) & 255,
			 vip & 255);
		st = ST(INVALID_ARGUMENT);
	}
	free(k);
	return st;
}

static rv_status check_resync(const Roomvpn__Dataplane__V1__Resync *r, char *err, size_t errlen)
{
	rv_status st;
	for (size_t i = 0; i < r->n_rooms; i++)
		if ((st = rv_agent_check_room(r->rooms[i], err, errlen)) != ST(OK))
			return st;
	for (size_t i = 0; i < r->n_sessions; i++)
		if ((st = rv_agent_check_session(r->sessions[i], err, errlen)) != ST(OK))
			return st;
	if ((st = check_resync_refs(r, err, errlen)) != ST(OK))
		return st;
	if ((st = rv_agent_check_resync6(r, err, errlen)) != ST(OK))
		return st;
	return check_resync_vips(r, err, errlen);
}

static rv_status check_trace_start(const Roomvpn__Dataplane__V1__TraceStart *t, char *err,
				   size_t errlen)
{
	if (t->count > 1000) {
		snprintf(err, errlen, "trace count %u out of range 0..1000", t->count);
		return ST(INVALID_ARGUMENT);
	}
	if (t->by_peer && t->peer_id > 0xFFFFFEu) {
		snprintf(err, errlen, "peer_id %u out of range 0..0xFFFFFE", t->peer_id);
		return ST(INVALID_ARGUMENT);
	}
	if (t->by_peer && t->room_id) {
		snprintf(err, errlen, "trace by peer-id or by room, not both");
		return ST(INVALID_ARGUMENT);
	}
	return ST(OK);
}

rv_status rv_agent_check_request(const rv_request *req, char *err, size_t errlen)
{
	switch (req->body_case) {
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM:
		return rv_agent_check_room(req->upsert_room->room, err, errlen);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_ROOM:
		if (req->delete_room->room_id == 0) {
			snprintf(err, errlen, "room_id 0 is reserved");
			return ST(INVALID_ARGUMENT);
		}
		return ST(OK);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION:
		return rv_agent_check_session(req->upsert_session->session, err, errlen);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_SESSION:
		return ST(OK);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_INSTALL_KEY:
		if (req->install_key->cipher && req->install_key->cipher[0] &&
		    check_cipher(req->install_key->cipher, err, errlen) != ST(OK))
			return ST(INVALID_ARGUMENT);
		return rv_agent_check_key(req->install_key->key, err, errlen);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RETIRE_KEY:
		if (req->retire_key->key_id > 7) {
			snprintf(err, errlen, "key_id %u out of range 0..7",
				 req->retire_key->key_id);
			return ST(INVALID_ARGUMENT);
		}
		return ST(OK);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS:
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_TRACE_STOP:
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_TRACE_SHOW:
		return ST(OK);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_TRACE_START:
		return check_trace_start(req->trace_start, err, errlen);
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC:
		return check_resync(req->resync, err, errlen);
	default:
		snprintf(err, errlen, "request has no body");
		return ST(MALFORMED);
	}
}

rv_status rv_agent_check_size(const rv_request *req, uint32_t max_sessions, uint32_t sessions_now,
			      bool is_new, char *err, size_t errlen)
{
	if (max_sessions == 0)
		return ST(OK);
	if (req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC &&
	    req->resync->n_sessions > max_sessions) {
		snprintf(err, errlen, "resync of %zu sessions refused: max-sessions is %u",
			 req->resync->n_sessions, max_sessions);
		return ST(RESOURCE_EXHAUSTED);
	}
	if (req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION && is_new &&
	    sessions_now >= max_sessions) {
		snprintf(err, errlen, "session %u refused: the table holds max-sessions (%u)",
			 req->upsert_session->session->peer_id, max_sessions);
		return ST(RESOURCE_EXHAUSTED);
	}
	return ST(OK);
}

const char *rv_agent_status_name(rv_status s)
{
	switch (s) {
	case ST(OK):
		return "ok";
	case ST(MALFORMED):
		return "malformed";
	case ST(INVALID_ARGUMENT):
		return "invalid_argument";
	case ST(NOT_FOUND):
		return "not_found";
	case ST(FAILED_PRECONDITION):
		return "failed_precondition";
	case ST(RESOURCE_EXHAUSTED):
		return "resource_exhausted";
	case ST(INTERNAL):
		return "internal";
	case ST(STALE_FENCE):
		return "stale_fence";
	default:
		return "unknown";
	}
}
