/* Framing of the agent protocol (docs/dataplane-agent.md): the incremental
 * reader and its message-size bounds, packing, and the blocking client
 * helpers (dial, write, read one message). No DPDK: linked by the agent,
 * roomvpn-control, roomvpn-dpctl and roomvpn-loadgen. */
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

#include "inet.h"

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
