/* Fuzz the opener of every suite: byte 0 picks the suite and the API
 * (rv_dc_open or rv_dc_session_open), the rest is the wire packet. Then the
 * same bytes are sealed as a payload and must open back unchanged. */
#include <stdlib.h>
#include <string.h>

#include "dc_frame.h"
#include "key_slots.h"

static struct rv_cipher_ctx *enc[RV_CIPHER__COUNT], *dec[RV_CIPHER__COUNT];
static struct rv_dc_session sess[RV_CIPHER__COUNT];
static uint32_t next_pid = 1;

static void setup(void)
{
	struct rv_key_dir k;

	for (int i = 0; i < 64; i++) {
		k.cipher[i] = (uint8_t)i;
		k.hmac[i] = (uint8_t)(0x40 + i);
	}
	for (int s = 0; s < RV_CIPHER__COUNT; s++) {
		enc[s] = rv_cipher_ctx_new((enum rv_cipher)s, &k, true);
		dec[s] = rv_cipher_ctx_new((enum rv_cipher)s, &k, false);
		if (!enc[s] || !dec[s] || rv_dc_session_init(&sess[s], 0x0A0B0C, 64) < 0 ||
		    rv_dc_session_install(&sess[s], 5, (enum rv_cipher)s, &k, &k, 0, 0) < 0)
			abort();
	}
}

static uint8_t buf[RV_DC_HEADROOM + 70000 + RV_DC_TAILROOM];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct rv_pkt p;
	uint32_t pid;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size > 65000)
		return 0;
	int suite = data[0] % RV_CIPHER__COUNT, use_session = data[0] & 0x80;
	data++, size--;

	/* open the input as a wire packet */
	memcpy(buf, data, size);
	p = (struct rv_pkt){.data = buf, .len = (uint32_t)size, .tailroom = sizeof(buf) - size};
	enum rv_drop r = use_session ? rv_dc_session_open(&sess[suite], &p, 0)
				     : rv_dc_open(dec[suite], &p, &pid);
	if (r == RV_OK && (p.data < buf || p.data + p.len > buf + size))
		abort(); /* the payload must lie inside the packet */

	/* seal the input as a payload: it must open back unchanged */
	p = (struct rv_pkt){.data = buf + RV_DC_HEADROOM,
			    .len = (uint32_t)size,
			    .headroom = RV_DC_HEADROOM,
			    .tailroom = (uint32_t)(sizeof(buf) - RV_DC_HEADROOM - size)};
	memcpy(p.data, data, size);
	if (rv_dc_seal(enc[suite], 5, 0x0A0B0C, next_pid, 1, &p) != RV_OK)
		abort();
	if (rv_dc_open(dec[suite], &p, &pid) != RV_OK || pid != next_pid || p.len != size ||
	    memcmp(p.data, data, size) != 0)
		abort();
	next_pid = next_pid == UINT32_MAX ? 1 : next_pid + 1;
	return 0;
}
