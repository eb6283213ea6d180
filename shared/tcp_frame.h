/* TCP stream framing: every packet is prefixed with its length, 2 bytes
 * big-endian (not counting the prefix). The decoder takes bytes as they come
 * (any split, even one at a time) and yields whole frames. */
#ifndef RV_TCP_FRAME_H
#define RV_TCP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define RV_TCP_FRAME_MAX 65535u

struct rv_tcp_decoder {
	uint32_t max_len; /* frames longer than this (or of length 0) are bad */
	uint32_t have;	  /* bytes buffered, prefix included */
	uint8_t buf[2 + RV_TCP_FRAME_MAX];
};

typedef void (*rv_tcp_frame_cb)(void *arg, const uint8_t *frame, uint32_t len);

/* @max_len 0 means RV_TCP_FRAME_MAX. */
void rv_tcp_decoder_init(struct rv_tcp_decoder *d, uint32_t max_len);
/* Feed @len bytes; @cb runs once per complete frame. Returns 0, or -1 on a
 * bad length (0 or > max_len): the stream is corrupt and must be closed. */
int rv_tcp_decoder_feed(struct rv_tcp_decoder *d, const uint8_t *data, size_t len,
			rv_tcp_frame_cb cb, void *arg);
/* Write the 2-byte prefix for a frame of @len bytes; returns -1 if 0 or too long. */
int rv_tcp_frame_prefix(uint8_t dst[2], uint32_t len);

#endif
