/* Data-channel framing, in place: headers go into the headroom in front of
 * the payload, CBC padding into the tailroom behind it. Byte layouts are in
 * docs/protocol.md; each suite has one seal and one open function below. */
#include <string.h>

#include <openssl/crypto.h>

#include "cipher_ctx.h"
#include "dc_frame.h"
#include "inet.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define AEAD_HDR     (RV_DC_V2_HDR_LEN + 4 + RV_AEAD_TAG_LEN)		  /* 24 */
#define CBC_FRONT    (RV_DC_V2_HDR_LEN + RV_HMAC_LEN + RV_CBC_IV_LEN + 4) /* 56 */
#define STATIC_FRONT (RV_HMAC_LEN + RV_CBC_IV_LEN + 8)			  /* 56 */
#define NONE_HDR     (RV_DC_V2_HDR_LEN + 4)				  /* 8 */
#define MAX_WIRE     (RV_DC_MAX_PAYLOAD + 128)

uint32_t rv_dc_overhead(enum rv_cipher c)
{
	switch (c) {
	case RV_CIPHER_NONE:
		return NONE_HDR;
	case RV_CIPHER_AES_256_GCM:
	case RV_CIPHER_CHACHA20_POLY1305:
		return AEAD_HDR;
	case RV_CIPHER_AES_256_CBC_HMAC:
		return CBC_FRONT + RV_CBC_BLOCK;
	case RV_CIPHER_STATIC_CBC_HMAC:
		return STATIC_FRONT + RV_CBC_BLOCK;
	default:
		return 0;
	}
}

static void put_v2_header(uint8_t *h, uint8_t key_id, uint32_t peer_id)
{
	h[0] = (uint8_t)(RV_OP_DATA_V2 << 3 | (key_id & 7));
	h[1] = (peer_id >> 16) & 0xff;
	h[2] = (peer_id >> 8) & 0xff;
	h[3] = peer_id & 0xff;
}

/* Move p->data back by @n bytes of header. */
static void grow_front(struct rv_pkt *p, uint32_t n)
{
	p->data -= n;
	p->len += n;
	p->headroom -= n;
}

static void shrink_front(struct rv_pkt *p, uint32_t n)
{
	p->data += n;
	p->len -= n;
	p->headroom += n;
}

static enum rv_drop seal_none(uint8_t key_id, uint32_t peer_id, uint32_t pid, struct rv_pkt *p)
{
	if (unlikely(p->headroom < NONE_HDR))
		return RV_DROP_TOO_BIG;
	grow_front(p, NONE_HDR);
	put_v2_header(p->data, key_id, peer_id);
	rv_put_be32(p->data + 4, pid);
	return RV_OK;
}

static enum rv_drop seal_aead(struct rv_cipher_ctx *ctx, uint8_t key_id, uint32_t peer_id,
			      uint32_t pid, struct rv_pkt *p)
{
	uint8_t *h;

	if (unlikely(p->headroom < AEAD_HDR))
		return RV_DROP_TOO_BIG;
	h = p->data - AEAD_HDR;
	put_v2_header(h, key_id, peer_id);
	rv_put_be32(h + 4, pid);
	memcpy(ctx->nonce, h + 4, 4); /* nonce = pid || implicit IV */
	if (unlikely(rv_cipher_aead_seal(ctx, ctx->nonce, h, 8, p->data, p->len, h + 8) < 0))
		return RV_DROP_MALFORMED;
	grow_front(p, AEAD_HDR);
	return RV_OK;
}

/* CBC + HMAC common part. @pt is where the plaintext (pid [time] payload)
 * starts; the IV goes right before it and the HMAC before the IV. */
static enum rv_drop seal_cbc(struct rv_cipher_ctx *ctx, uint8_t *pt, struct rv_pkt *p)
{
	uint32_t pt_len = (uint32_t)(p->data + p->len - pt);
	uint32_t pad = RV_CBC_BLOCK - pt_len % RV_CBC_BLOCK;
	uint8_t *iv = pt - RV_CBC_IV_LEN, *mac = iv - RV_HMAC_LEN;

	if (unlikely(p->tailroom < pad))
		return RV_DROP_TOO_BIG;
	memset(p->data + p->len, (int)pad, pad); /* PKCS#7 */
	pt_len += pad;
	if (unlikely(rv_cipher_next_iv(ctx, iv) < 0 || rv_cipher_cbc(ctx, iv, pt, pt_len) < 0))
		return RV_DROP_MALFORMED;
	if (unlikely(rv_cipher_hmac(ctx, iv, RV_CBC_IV_LEN + pt_len, mac) < 0))
		return RV_DROP_MALFORMED;
	p->len += pad;
	p->tailroom -= pad;
	return RV_OK;
}

static enum rv_drop seal_cbc_v2(struct rv_cipher_ctx *ctx, uint8_t key_id, uint32_t peer_id,
				uint32_t pid, struct rv_pkt *p)
{
	enum rv_drop r;

	if (unlikely(p->headroom < CBC_FRONT))
		return RV_DROP_TOO_BIG;
	rv_put_be32(p->data - 4, pid);
	r = seal_cbc(ctx, p->data - 4, p);
	if (r != RV_OK)
		return r;
	grow_front(p, CBC_FRONT);
	put_v2_header(p->data, key_id, peer_id);
	return RV_OK;
}

static enum rv_drop seal_static(struct rv_cipher_ctx *ctx, uint32_t pid, uint32_t now_s,
				struct rv_pkt *p)
{
	enum rv_drop r;

	if (unlikely(p->headroom < STATIC_FRONT))
		return RV_DROP_TOO_BIG;
	/* OpenVPN keeps the time of its first packet for the whole key */
	if (ctx->static_time == 0)
		ctx->static_time = now_s;
	rv_put_be32(p->data - 8, pid);
	rv_put_be32(p->data - 4, ctx->static_time);
	r = seal_cbc(ctx, p->data - 8, p);
	if (r != RV_OK)
		return r;
	grow_front(p, STATIC_FRONT);
	return RV_OK;
}

enum rv_drop rv_dc_seal(struct rv_cipher_ctx *ctx, uint8_t key_id, uint32_t peer_id,
			uint32_t packet_id, uint32_t now_s, struct rv_pkt *p)
{
	if (unlikely(!ctx || !ctx->encrypt || key_id > 7 || peer_id > 0xFFFFFF))
		return RV_DROP_MALFORMED;
	if (unlikely(packet_id == 0))
		return RV_DROP_PID_EXHAUSTED;
	if (unlikely(p->len > RV_DC_MAX_PAYLOAD))
		return RV_DROP_TOO_BIG;
	switch (ctx->suite) {
	case RV_CIPHER_AES_256_GCM:
	case RV_CIPHER_CHACHA20_POLY1305:
		return seal_aead(ctx, key_id, peer_id, packet_id, p);
	case RV_CIPHER_AES_256_CBC_HMAC:
		return seal_cbc_v2(ctx, key_id, peer_id, packet_id, p);
	case RV_CIPHER_STATIC_CBC_HMAC:
		return seal_static(ctx, packet_id, now_s, p);
	case RV_CIPHER_NONE:
		return seal_none(key_id, peer_id, packet_id, p);
	default:
		return RV_DROP_MALFORMED;
	}
}

enum rv_drop rv_dc_peek(const uint8_t *data, uint32_t len, uint8_t *key_id, uint32_t *peer_id)
{
	if (unlikely(len < RV_DC_V2_HDR_LEN))
		return RV_DROP_MALFORMED;
	if (unlikely(data[0] >> 3 != RV_OP_DATA_V2))
		return RV_DROP_BAD_OPCODE;
	if (key_id)
		*key_id = data[0] & 7;
	if (peer_id)
		*peer_id = (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
	return RV_OK;
}

static enum rv_drop open_none(struct rv_pkt *p, uint32_t *pid)
{
	if (unlikely(p->len < NONE_HDR))
		return RV_DROP_MALFORMED;
	*pid = rv_get_be32(p->data + 4);
	shrink_front(p, NONE_HDR);
	return RV_OK;
}

static enum rv_drop open_aead(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint32_t *pid)
{
	uint8_t *h = p->data;

	if (unlikely(p->len < AEAD_HDR))
		return RV_DROP_MALFORMED;
	memcpy(ctx->nonce, h + 4, 4);
	if (unlikely(rv_cipher_aead_open(ctx, ctx->nonce, h, 8, h + AEAD_HDR, p->len - AEAD_HDR,
					 h + 8) < 0))
		return RV_DROP_AUTH;
	*pid = rv_get_be32(h + 4);
	shrink_front(p, AEAD_HDR);
	return RV_OK;
}

/* CBC + HMAC common part: @mac points at the HMAC, followed by IV and
 * ciphertext up to the end of the packet. On RV_OK the plaintext (pid ...
 * payload, padding removed) is at mac + 48, *pt_len bytes. */
static enum rv_drop open_cbc(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint8_t *mac,
			     uint32_t min_pt, uint32_t *pt_len)
{
	uint8_t *iv = mac + RV_HMAC_LEN, *ct = iv + RV_CBC_IV_LEN, want[RV_HMAC_LEN];
	uint8_t *end = p->data + p->len;
	uint32_t ct_len, pad;

	if (unlikely(end < ct + RV_CBC_BLOCK))
		return RV_DROP_MALFORMED;
	ct_len = (uint32_t)(end - ct);
	if (unlikely(ct_len % RV_CBC_BLOCK))
		return RV_DROP_MALFORMED;
	/* authenticate before touching the ciphertext */
	if (unlikely(rv_cipher_hmac(ctx, iv, RV_CBC_IV_LEN + ct_len, want) < 0))
		return RV_DROP_AUTH;
	if (unlikely(CRYPTO_memcmp(want, mac, RV_HMAC_LEN) != 0))
		return RV_DROP_AUTH;
	if (unlikely(rv_cipher_cbc(ctx, iv, ct, ct_len) < 0))
		return RV_DROP_MALFORMED;
	pad = end[-1];
	if (unlikely(pad == 0 || pad > RV_CBC_BLOCK || ct_len < pad + min_pt))
		return RV_DROP_MALFORMED;
	for (uint32_t i = 2; i <= pad; i++)
		if (unlikely(end[-(int)i] != pad))
			return RV_DROP_MALFORMED;
	*pt_len = ct_len - pad;
	return RV_OK;
}

static enum rv_drop open_cbc_v2(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint32_t *pid)
{
	uint32_t pt_len;
	enum rv_drop r = open_cbc(ctx, p, p->data + RV_DC_V2_HDR_LEN, 4, &pt_len);

	if (r != RV_OK)
		return r;
	*pid = rv_get_be32(p->data + CBC_FRONT - 4);
	p->tailroom += p->len - CBC_FRONT - (pt_len - 4);
	p->len = CBC_FRONT + pt_len - 4;
	shrink_front(p, CBC_FRONT);
	return RV_OK;
}

static enum rv_drop open_static(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint32_t *pid)
{
	uint32_t pt_len;
	enum rv_drop r = open_cbc(ctx, p, p->data, 8, &pt_len);

	if (r != RV_OK)
		return r;
	*pid = rv_get_be32(p->data + STATIC_FRONT - 8);
	ctx->static_time = rv_get_be32(p->data + STATIC_FRONT - 4);
	p->tailroom += p->len - STATIC_FRONT - (pt_len - 8);
	p->len = STATIC_FRONT + pt_len - 8;
	shrink_front(p, STATIC_FRONT);
	return RV_OK;
}

enum rv_drop rv_dc_open(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint32_t *packet_id)
{
	uint32_t pid_unused;

	if (!packet_id)
		packet_id = &pid_unused;
	if (unlikely(!ctx || ctx->encrypt))
		return RV_DROP_UNKNOWN_KEY;
	if (unlikely(p->len > MAX_WIRE))
		return RV_DROP_MALFORMED;
	if (ctx->suite == RV_CIPHER_STATIC_CBC_HMAC)
		return open_static(ctx, p, packet_id);
	if (unlikely(p->len < RV_DC_V2_HDR_LEN))
		return RV_DROP_MALFORMED;
	if (unlikely(p->data[0] >> 3 != RV_OP_DATA_V2))
		return RV_DROP_BAD_OPCODE;
	switch (ctx->suite) {
	case RV_CIPHER_AES_256_GCM:
	case RV_CIPHER_CHACHA20_POLY1305:
		return open_aead(ctx, p, packet_id);
	case RV_CIPHER_AES_256_CBC_HMAC:
		return open_cbc_v2(ctx, p, packet_id);
	case RV_CIPHER_NONE:
		return open_none(p, packet_id);
	default:
		return RV_DROP_MALFORMED;
	}
}

uint32_t rv_dc_static_time(const struct rv_cipher_ctx *ctx)
{
	return ctx->static_time;
}

void rv_dc_seal_burst(struct rv_cipher_ctx *const ctx[], const uint8_t key_id[],
		      const uint32_t peer_id[], const uint32_t packet_id[], uint32_t now_s,
		      struct rv_pkt *const p[], enum rv_drop res[], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 < n)
			__builtin_prefetch(p[i + 1]->data);
		res[i] = rv_dc_seal(ctx[i], key_id[i], peer_id[i], packet_id[i], now_s, p[i]);
	}
}

void rv_dc_open_burst(struct rv_cipher_ctx *const ctx[], struct rv_pkt *const p[],
		      uint32_t packet_id[], enum rv_drop res[], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 < n)
			__builtin_prefetch(p[i + 1]->data);
		res[i] = rv_dc_open(ctx[i], p[i], &packet_id[i]);
	}
}
