/* Data-channel framing (OpenVPN-compatible), in place on a caller buffer.
 *
 * Layouts (see docs/protocol.md for every byte):
 *   AEAD (GCM, ChaCha20-Poly1305): [op|kid][peer-id 3][pid 4][tag 16][ciphertext]
 *   CBC+HMAC, P_DATA_V2 header:     [op|kid][peer-id 3][hmac 32][iv 16][CBC(pid 4 || payload)]
 *   static key (--secret):          [hmac 32][iv 16][CBC(pid 4 || time 4 || payload)]
 *   none (TCP fallback):            [op|kid][peer-id 3][pid 4][payload]
 *
 * No allocation: the header is written into the headroom in front of the
 * payload and CBC padding into the tailroom behind it. */
#ifndef RV_DC_FRAME_H
#define RV_DC_FRAME_H

#include <stdint.h>

#include "cipher.h"
#include "drop.h"

#define RV_OP_DATA_V1	 6
#define RV_OP_DATA_V2	 9
#define RV_PEER_ID_NONE	 0xFFFFFFu
#define RV_DC_HEADROOM	 64 /* bytes every caller leaves in front of a payload */
#define RV_DC_TAILROOM	 16 /* bytes every caller leaves behind a payload */
#define RV_DC_V2_HDR_LEN 4
/* The shortest packet any suite seals over UDP: an AEAD header (4), its
 * packet-id (4) and tag (16) with no payload. Cipher "none" (8 bytes) only
 * ever travels on a bound TCP connection. */
#define RV_DC_MIN_SEALED_LEN 24
#define RV_DC_MAX_PAYLOAD    65535u /* larger payloads are RV_DROP_TOO_BIG */

/* A packet in a caller-owned buffer. */
struct rv_pkt {
	uint8_t *data;	   /* first byte of the payload (seal) or wire packet (open) */
	uint32_t len;	   /* bytes at data */
	uint32_t headroom; /* writable bytes before data */
	uint32_t tailroom; /* writable bytes after data + len */
};

/* Worst-case bytes added by sealing with suite @c (header + padding). */
uint32_t rv_dc_overhead(enum rv_cipher c);

/* Seal payload @p in place into a wire packet: on RV_OK, p->data/len describe
 * the whole packet. @packet_id must be non-zero; @now_s is used only by the
 * static-key suite (its long-form packet-id carries time). */
enum rv_drop rv_dc_seal(struct rv_cipher_ctx *ctx, uint8_t key_id, uint32_t peer_id,
			uint32_t packet_id, uint32_t now_s, struct rv_pkt *p);

/* Read the P_DATA_V2 header without any crypto (for session look-up).
 * Returns RV_DROP_MALFORMED / RV_DROP_BAD_OPCODE on a bad header. */
enum rv_drop rv_dc_peek(const uint8_t *data, uint32_t len, uint8_t *key_id, uint32_t *peer_id);

/* Authenticate and decrypt @p in place: on RV_OK, p->data/len describe the
 * payload and *packet_id holds the packet-id. No replay check: the caller
 * runs it after this returns RV_OK. */
enum rv_drop rv_dc_open(struct rv_cipher_ctx *ctx, struct rv_pkt *p, uint32_t *packet_id);

/* Static-key suite: time field of the long-form packet-id. On an encrypting
 * context, the time sent (latched at the first seal, as OpenVPN does); on a
 * decrypting one, the time of the last packet rv_dc_open accepted. */
uint32_t rv_dc_static_time(const struct rv_cipher_ctx *ctx);

/* Batch forms: N packets per call, each with its own context (packets of one
 * burst may belong to different sessions). Results go to @res[i]. They fetch
 * each next packet's data ahead; callers with many keys fetch the contexts
 * themselves a step earlier (rv_cipher_ctx_lines + rv_cipher_prefetch), where
 * the context is known before the burst is built. */
void rv_dc_seal_burst(struct rv_cipher_ctx *const ctx[], const uint8_t key_id[],
		      const uint32_t peer_id[], const uint32_t packet_id[], uint32_t now_s,
		      struct rv_pkt *const p[], enum rv_drop res[], unsigned n);
void rv_dc_open_burst(struct rv_cipher_ctx *const ctx[], struct rv_pkt *const p[],
		      uint32_t packet_id[], enum rv_drop res[], unsigned n);

#endif
