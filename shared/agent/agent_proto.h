/* The agent protocol library rvagent (proto/dataplane.proto,
 * docs/dataplane-agent.md): every message is a 4-byte big-endian length
 * followed by a serialized protobuf-c message. Framing, size bounds and
 * client helpers in agent_frame.c, stateless request checks in
 * agent_check.c; no DPDK. Linked by the agent (dataplane/agent.c),
 * roomvpn-control (control/dpclient.c), roomvpn-dpctl and roomvpn-loadgen. */
#ifndef RV_AGENT_PROTO_H
#define RV_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.pb-c.h"

#define RV_AGENT_MSG_MAX (160u << 20) /* largest message body, bytes (any peer) */
/* The agent's own limit is sized to its table (rv_agent_msg_max()): a Resync
 * packs a session (with its 256-byte key and vip6) and at most one
 * dual-stack room (with 16 routes and 16 routes6) in under
 * RV_AGENT_MSG_PER_SESSION bytes (agent_unit checks it); a 100,000-session
 * resync of the control plane is ~33 MB IPv4-only, at most ~125 MB with
 * every room's IPv6 routes. */
#define RV_AGENT_MSG_PER_SESSION 1280u
#define RV_AGENT_MSG_MIN	 (4u << 20)
#define RV_AGENT_KEY_LEN	 256 /* key material bytes */
#define RV_AGENT_PEER_ID_MAX	 0xFFFFFEu

/* Incremental reader: bytes in any split, whole messages out. */
struct rv_agent_reader {
	uint8_t hdr[4];
	uint32_t hdr_have;
	uint32_t len;  /* body length once the header is complete */
	uint32_t have; /* body bytes buffered */
	uint32_t cap;  /* bytes allocated for the body: grows as bytes arrive */
	uint8_t *body; /* the body so far (a header alone allocates little) */
	uint32_t max;  /* largest body accepted; 0 = RV_AGENT_MSG_MAX (kept by _reset) */
};

enum rv_agent_feed {
	RV_AGENT_FEED_MORE = 0, /* all input consumed, no whole message yet */
	RV_AGENT_FEED_MSG,	/* a message is ready: body/len; call _reset after use */
	RV_AGENT_FEED_ERR,	/* bad length or no memory: close the stream */
};

void rv_agent_reader_init(struct rv_agent_reader *r);
/* True while a message is partly read (its deadline is the agent's). */
static inline bool rv_agent_reader_partial(const struct rv_agent_reader *r)
{
	return r->hdr_have > 0;
}
/* The agent's message limit for a table of @max_sessions (0 = no table
 * limit: RV_AGENT_MSG_MAX): RV_AGENT_MSG_MIN + RV_AGENT_MSG_PER_SESSION per
 * session, at most RV_AGENT_MSG_MAX. */
uint32_t rv_agent_msg_max(uint32_t max_sessions);
/* Consume at most @len bytes (*@used says how many); stops after one whole
 * message. On RV_AGENT_FEED_ERR a reason is written to @err. */
enum rv_agent_feed rv_agent_reader_feed(struct rv_agent_reader *r, const uint8_t *data, size_t len,
					size_t *used, char *err, size_t errlen);
/* Forget the current message (frees its body) and wait for the next one. */
void rv_agent_reader_reset(struct rv_agent_reader *r);

/* Serialize @msg with its length prefix into a new buffer (*@out, *@outlen).
 * Returns 0, or -1 if it is larger than RV_AGENT_MSG_MAX or out of memory. */
int rv_agent_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *outlen);

/* Blocking helpers for clients (dpctl, tests): write all of @buf (no
 * SIGPIPE); read one whole message into a malloc'd body. Return 0, or -1
 * with a reason. */
int rv_agent_write_all(int fd, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* Connect to the agent's unix socket at @path, with send and receive
 * timeouts of @timeout_s (a reply that never comes fails, EAGAIN; 0: no
 * timeout). Returns
 * a close-on-exec fd, or -1 with the reason (no path prefix) in @err. */
int rv_agent_dial(const char *path, unsigned timeout_s, char *err, size_t errlen);
int rv_agent_read_msg(int fd, uint8_t **body, uint32_t *len, char *err, size_t errlen);

/* Stateless checks of a decoded request: every field in range, key lengths,
 * cipher names, VIP inside its room's subnet where the room is in the same
 * message, no duplicate ids inside a Resync. Table-dependent checks (unknown
 * room or peer) belong to the agent. Returns a Status and a message. */
Roomvpn__Dataplane__V1__Status rv_agent_check_request(const Roomvpn__Dataplane__V1__Request *req,
						      char *err, size_t errlen);
Roomvpn__Dataplane__V1__Status rv_agent_check_room(const Roomvpn__Dataplane__V1__Room *room,
						   char *err, size_t errlen);
Roomvpn__Dataplane__V1__Status rv_agent_check_session(const Roomvpn__Dataplane__V1__Session *s,
						      char *err, size_t errlen);
Roomvpn__Dataplane__V1__Status rv_agent_check_key(const Roomvpn__Dataplane__V1__Key *k, char *err,
						  size_t errlen);
/* Table-size limit: a Resync of more than @max_sessions sessions, or an
 * UpsertSession of a new peer (@is_new) while @sessions_now >= @max_sessions,
 * is RESOURCE_EXHAUSTED with a message naming the limit. @max_sessions 0 =
 * no limit. */
Roomvpn__Dataplane__V1__Status rv_agent_check_size(const Roomvpn__Dataplane__V1__Request *req,
						   uint32_t max_sessions, uint32_t sessions_now,
						   bool is_new, char *err, size_t errlen);
/* The IPv6 fields alone (agent_check6.c; the functions above call them). */
Roomvpn__Dataplane__V1__Status rv_agent_check_room6(const Roomvpn__Dataplane__V1__Room *room,
						    char *err, size_t errlen);
Roomvpn__Dataplane__V1__Status rv_agent_check_session6(const Roomvpn__Dataplane__V1__Session *s,
						       char *err, size_t errlen);
Roomvpn__Dataplane__V1__Status rv_agent_check_resync6(const Roomvpn__Dataplane__V1__Resync *r,
						      char *err, size_t errlen);
/* True if @vip6 (16 bytes) is a host address of @room's prefix6. */
bool rv_agent_vip6_in_room(const Roomvpn__Dataplane__V1__Room *room, const uint8_t *vip6);
/* True if @vip is a host address of @room's subnet. */
bool rv_agent_vip_in_room(const Roomvpn__Dataplane__V1__Room *room, uint32_t vip);

const char *rv_agent_status_name(Roomvpn__Dataplane__V1__Status s);

#endif
