/* Fuzz the TCP decoder: the input is fed whole and again in splits chosen
 * by the input itself; both must yield the same frames and the same verdict. */
#include <stdlib.h>
#include <string.h>

#include "tcp_frame.h"

struct digest {
	uint32_t n;
	uint64_t h;
};

static void on_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct digest *d = arg;
	d->n++;
	d->h = d->h * 1000003u ^ len;
	for (uint32_t i = 0; i < len; i++)
		d->h = d->h * 31 + frame[i];
}

static struct rv_tcp_decoder dec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest whole = {0}, split = {0};
	uint32_t max = size ? (uint32_t)data[0] * 8 : 0; /* 0 = default max */
	int rc1, rc2 = 0;

	rv_tcp_decoder_init(&dec, max);
	rc1 = rv_tcp_decoder_feed(&dec, data, size, on_frame, &whole);
	rv_tcp_decoder_init(&dec, max);
	for (size_t pos = 0; pos < size && rc2 == 0;) {
		size_t n = (data[pos] % 7) + 1;
		if (n > size - pos)
			n = size - pos;
		rc2 = rv_tcp_decoder_feed(&dec, data + pos, n, on_frame, &split);
		pos += n;
	}
	if (rc1 != rc2 || whole.n != split.n || whole.h != split.h)
		abort();
	return 0;
}
