/* TCP stream framing: 2-byte big-endian length prefix per packet. Whole
 * frames inside one read are handed out without copying; only a frame split
 * across reads is assembled in d->buf. */
#include <string.h>

#include "inet.h"
#include "tcp_frame.h"

void rv_tcp_decoder_init(struct rv_tcp_decoder *d, uint32_t max_len)
{
	d->max_len = (max_len == 0 || max_len > RV_TCP_FRAME_MAX) ? RV_TCP_FRAME_MAX : max_len;
	d->have = 0;
}

int rv_tcp_frame_prefix(uint8_t dst[2], uint32_t len)
{
	if (len == 0 || len > RV_TCP_FRAME_MAX)
		return -1;
	rv_put_be16(dst, (uint16_t)len);
	return 0;
}

static int frame_len(const struct rv_tcp_decoder *d, const uint8_t *prefix, uint32_t *len)
{
	*len = rv_get_be16(prefix);
	return (*len == 0 || *len > d->max_len) ? -1 : 0;
}

int rv_tcp_decoder_feed(struct rv_tcp_decoder *d, const uint8_t *data, size_t len,
			rv_tcp_frame_cb cb, void *arg)
{
	uint32_t flen;

	while (len > 0) {
		/* fast path: a whole frame at the start of the input */
		if (d->have == 0 && len >= 2) {
			if (frame_len(d, data, &flen) < 0)
				return -1;
			if (len >= 2 + (size_t)flen) {
				cb(arg, data + 2, flen);
				data += 2 + flen;
				len -= 2 + flen;
				continue;
			}
		}
		/* slow path: buffer the prefix, then the body */
		if (d->have < 2) {
			d->buf[d->have++] = *data++;
			len--;
			if (d->have == 2 && frame_len(d, d->buf, &flen) < 0)
				return -1;
			continue;
		}
		frame_len(d, d->buf, &flen);
		size_t take = 2 + flen - d->have;
		if (take > len)
			take = len;
		memcpy(d->buf + d->have, data, take);
		d->have += (uint32_t)take;
		data += take;
		len -= take;
		if (d->have == 2 + flen) {
			d->have = 0;
			cb(arg, d->buf + 2, flen);
		}
	}
	return 0;
}
