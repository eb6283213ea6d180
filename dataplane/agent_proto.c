/* Framing and stateless validation of the agent protocol. */
#include "agent_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cipher.h"
#include "inet.h"

typedef Roomvpn__Dataplane__V1__Status rv_status;
typedef Roomvpn__Dataplane__V1__Request rv_request;
typedef Roomvpn__Dataplane__V1__Room rv_room;
typedef Roomvpn__Dataplane__V1__Session rv_session;
typedef Roomvpn__Dataplane__V1__Key rv_key;

#define ST(x) ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x

void rv_agent_reader_init(struct rv_agent_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void rv_agent_reader_reset(struct rv_agent_reader *r)
{
	uint32_t max = r->max;
	free(r->body);
	rv_agent_reader_init(r);
	r->max = max;
}

uint32_t rv_agent_msg_max(uint32_t max_sessions)
{
	uint64_t n = RV_AGENT_MSG_MIN + (uint64_t)RV_AGENT_MSG_PER_SESSION * max_sessions;
	return max_sessions == 0 || n > RV_AGENT_MSG_MAX ? RV_AGENT_MSG_MAX : (uint32_t)n;
}

/* Room for @want body bytes: doubles, so a header that announces a large
 * message costs only what has actually been sent. */
static int body_reserve(struct rv_agent_reader *r, uint32_t want)
{
	if (want <= r->cap)
		return 0;
	uint64_t cap = r->cap ? r->cap : 4096;
	while (cap < want)
		cap *= 2;
	if (cap > r->len)
		cap = r->len;
	/* not realloc: the old copy may hold key material, wiped before free */
	uint8_t *p = malloc(cap ? cap : 1);
	if (!p)
		return -1;
	if (r->body) {
		memcpy(p, r->body, r->have);
		OPENSSL_cleanse(r->body, r->have);
		free(r->body);
	}
	r->body = p;
	r->cap = (uint32_t)cap;
	return 0;
}

/* Take header bytes; once complete, check the length and allocate the body. */
static enum rv_agent_feed feed_header(struct rv_agent_reader *r, const uint8_t *data, size_t len,
				      size_t *used, char *err, size_t errlen)
{
	size_t n = 4 - r->hdr_have;
	if (n > len)
		n = len;
	memcpy(r->hdr + r->hdr_have, data, n);
	r->hdr_have += n;
	*used = n;
	if (r->hdr_have < 4)
		return RV_AGENT_FEED_MORE;
	r->len = rv_get_be32(r->hdr);
	uint32_t max = r->max ? r->max : RV_AGENT_MSG_MAX;
	if (r->len > max) {
		snprintf(err, errlen, "message of %u bytes refused (the limit is %u)", r->len, max);
		return RV_AGENT_FEED_ERR;
	}
	/* 0 is a valid length: a message with every field at its default. */
	if (body_reserve(r, r->len < 4096 ? r->len : 4096) < 0) {
		snprintf(err, errlen, "out of memory for a %u-byte message", r->len);
		return RV_AGENT_FEED_ERR;
	}
	return RV_AGENT_FEED_MORE;
}

enum rv_agent_feed rv_agent_reader_feed(struct rv_agent_reader *r, const uint8_t *data, size_t len,
					size_t *used, char *err, size_t errlen)
{
	size_t hdr_used = 0;
	*used = 0;
	if (r->hdr_have < 4) {
		enum rv_agent_feed f = feed_header(r, data, len, &hdr_used, err, errlen);
		*used = hdr_used;
		if (f == RV_AGENT_FEED_ERR || r->hdr_have < 4)
			return f;
		if (r->len == 0)
			return RV_AGENT_FEED_MSG;
		data += hdr_used;
		len -= hdr_used;
	}
	size_t n = r->len - r->have;
	if (n > len)
		n = len;
	if (body_reserve(r, r->have + (uint32_t)n) < 0) {
		snprintf(err, errlen, "out of memory for a %u-byte message", r->len);
		return RV_AGENT_FEED_ERR;
	}
	memcpy(r->body + r->have, data, n);
	r->have += n;
	*used = hdr_used + n;
	return r->have == r->len ? RV_AGENT_FEED_MSG : RV_AGENT_FEED_MORE;
}

int rv_agent_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *outlen)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > RV_AGENT_MSG_MAX)
		return -1;
	uint8_t *buf = malloc(4 + n);
	if (!buf)
		return -1;
	rv_put_be32(buf, (uint32_t)n);
	protobuf_c_message_pack(msg, buf + 4);
	*out = buf;
	*outlen = 4 + n;
	return 0;
}

int rv_agent_dial(const char *path, unsigned timeout_s, char *err, size_t errlen)
{
	struct timeval tv = {.tv_sec = timeout_s};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int rv_agent_write_all(int fd, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: an agent that closed the connection is an error
		 * message, not a SIGPIPE that kills the client. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "write: %s", n < 0 ? strerror(errno) : "closed");
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int rv_agent_read_msg(int fd, uint8_t **body, uint32_t *len, char *err, size_t errlen)
{
	struct rv_agent_reader r;
	uint8_t byte[4096];
	rv_agent_reader_init(&r);
	for (;;) {
		/* Never read past the message: the next one stays in the socket. */
		size_t want = r.hdr_have < 4 ? 4 - r.hdr_have : r.len - r.have;
		if (want > sizeof(byte))
			want = sizeof(byte);
		ssize_t n = read(fd, byte, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s",
				 n < 0 ? strerror(errno) : "connection closed by the agent");
			rv_agent_reader_reset(&r);
			return -1;
		}
		size_t used;
		enum rv_agent_feed f =
		    rv_agent_reader_feed(&r, byte, (size_t)n, &used, err, errlen);
		if (f == RV_AGENT_FEED_ERR) {
			rv_agent_reader_reset(&r);
			return -1;
		}
		if (f == RV_AGENT_FEED_MSG) {
			*body = r.body;
			*len = r.len;
			return 0;
		}
	}
}

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
	return ST(OK);
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
	if (s->outer && s->outer->addr != 0 && (s->outer->port == 0 || s->outer->port > 65535)) {
		snprintf(err, errlen, "session %u: outer port %u out of range 1..65535", s->peer_id,
			 s->outer->port);
		return ST(INVALID_ARGUMENT);
	}
	return ST(OK);
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
	default:
		return "unknown";
	}
}
