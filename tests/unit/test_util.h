/* Helpers shared by the unit tests. */
#ifndef RV_TEST_UTIL_H
#define RV_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cipher.h"
#include "dc_frame.h"

#define ALL_SUITES                                                                                 \
	{                                                                                          \
		RV_CIPHER_NONE, RV_CIPHER_AES_256_GCM, RV_CIPHER_CHACHA20_POLY1305,                \
		    RV_CIPHER_AES_256_CBC_HMAC, RV_CIPHER_STATIC_CBC_HMAC                          \
	}
#define N_SUITES 5

/* A buffer with RV_DC_HEADROOM in front of the payload. */
struct test_buf {
	uint8_t mem[RV_DC_HEADROOM + 2048 + RV_DC_TAILROOM];
	struct rv_pkt pkt;
};

static inline struct rv_pkt *test_buf_set(struct test_buf *b, const uint8_t *payload, uint32_t len)
{
	b->pkt.data = b->mem + RV_DC_HEADROOM;
	b->pkt.len = len;
	b->pkt.headroom = RV_DC_HEADROOM;
	b->pkt.tailroom = (uint32_t)(sizeof(b->mem) - RV_DC_HEADROOM - len);
	if (len)
		memcpy(b->pkt.data, payload, len);
	return &b->pkt;
}

/* A wire packet at the start of the buffer, to be opened. */
static inline struct rv_pkt *test_buf_wire(struct test_buf *b, const uint8_t *wire, uint32_t len)
{
	b->pkt.data = b->mem;
	b->pkt.len = len;
	b->pkt.headroom = 0;
	b->pkt.tailroom = (uint32_t)(sizeof(b->mem) - len);
	memcpy(b->mem, wire, len);
	return &b->pkt;
}

/* Deterministic key slices: cipher = base..base+63, hmac = base+64... */
static inline void test_key_dir(struct rv_key_dir *k, uint8_t base)
{
	for (int i = 0; i < 64; i++) {
		k->cipher[i] = (uint8_t)(base + i);
		k->hmac[i] = (uint8_t)(base + 64 + i);
	}
}

/* xorshift64*, deterministic per seed */
static inline uint64_t test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

#endif
