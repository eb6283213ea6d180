/* The members' side of the relay harness (see member.h). Contexts live in a
 * direct-mapped cache: with 100,000 sessions a context per member on top of
 * the data plane's would double the memory the bench measures, and building
 * one (untimed) costs a few microseconds. */
#include "member.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dc_frame.h"
#include "harness.h"
#include "inet.h"
#include "static_key.h"

#define SLOTS 8192u

struct rh_member_cache {
	uint32_t id[SLOTS];
	struct rv_cipher_ctx *ctx[SLOTS];
};

static const char *const verdict_names[RH_VERDICT_COUNT] = {
    "ok", "not_member", "wrong_peer_id", "no_decrypt", "wrong_destination", "not_intact"};

const char *rh_verdict_name(enum rh_verdict v)
{
	return v < RH_VERDICT_COUNT ? verdict_names[v] : "?";
}

void rh_member_key(const struct rh *h, uint32_t i, struct rv_key_material *out)
{
	*out = h->key;
	if (!h->cfg.per_session_keys)
		return;
	for (int d = 0; d < 2; d++)
		for (int b = 0; b < 4; b++) {
			out->dir[d].cipher[b] ^= (uint8_t)((i + 1) >> (8 * b));
			out->dir[d].hmac[b] ^= (uint8_t)((i + 1) >> (8 * b));
		}
}

/* Member @i's context for @encrypt; the corrupted peer's receiving key has
 * one byte flipped (--corrupt-dest-key: its packets must not open). */
static struct rv_cipher_ctx *member_ctx(struct rh *h, uint32_t i, bool encrypt)
{
	struct rv_key_material km;
	struct rv_key_dir tx, rx;
	rh_member_key(h, i, &km);
	rv_static_key_dirs(&km, 0, &tx, &rx); /* the members' side */
	if (!encrypt && i == h->corrupt_peer)
		rx.cipher[0] ^= 0x80;
	struct rv_cipher_ctx *c = rv_cipher_ctx_new(h->cfg.cipher, encrypt ? &tx : &rx, encrypt);
	OPENSSL_cleanse(&km, sizeof(km));
	return c;
}

static struct rv_cipher_ctx *cached(struct rh *h, struct rh_member_cache **cp, uint32_t i,
				    bool encrypt)
{
	if (!*cp && !(*cp = calloc(1, sizeof(**cp))))
		return NULL;
	struct rh_member_cache *c = *cp;
	uint32_t s = i % SLOTS;
	if (c->ctx[s] && c->id[s] == i)
		return c->ctx[s];
	rv_cipher_ctx_free(c->ctx[s]);
	c->ctx[s] = member_ctx(h, i, encrypt);
	c->id[s] = i;
	return c->ctx[s];
}

struct rv_cipher_ctx *rh_member_enc(struct rh *h, uint32_t i)
{
	if (!h->cfg.per_session_keys)
		return h->member_enc;
	return cached(h, &h->enc_cache, i, true);
}

struct rv_cipher_ctx *rh_member_dec(struct rh *h, uint32_t i)
{
	return cached(h, &h->dec_cache, i, false);
}

static void flush(struct rh_member_cache *c)
{
	for (uint32_t s = 0; c && s < SLOTS; s++) {
		rv_cipher_ctx_free(c->ctx[s]);
		c->ctx[s] = NULL;
	}
}

void rh_member_flush(struct rh *h)
{
	flush(h->enc_cache);
	flush(h->dec_cache);
}

void rh_member_free(struct rh *h)
{
	rh_member_flush(h);
	free(h->enc_cache);
	free(h->dec_cache);
	h->enc_cache = h->dec_cache = NULL;
}

#define FIRST_HOST6 2u /* rh_vip6: host number of session 0's vip6 (harness.c) */

/* The inner packet rh_packet() built: IPv4 header, then zeros. */
static enum rh_verdict check_inner(const struct rh *h, const struct rv_pkt *p, uint32_t dest,
				   uint32_t payload)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)p->data;
	if (p->len != payload || payload < sizeof(*ip) || ip->version_ihl != RTE_IPV4_VHL_DEF ||
	    rte_be_to_cpu_16(ip->total_length) != payload || ip->next_proto_id != IPPROTO_UDP)
		return RH_NOT_INTACT;
	if (rte_be_to_cpu_32(ip->dst_addr) != rh_vip(h, dest))
		return RH_WRONG_DEST;
	/* the sender: the session with this address in the destination's room */
	uint32_t host = rte_be_to_cpu_32(ip->src_addr) - rh_vip(h, 0);
	uint32_t src = host * h->n_rooms + dest % h->n_rooms;
	if (src >= h->n_sessions || rh_vip(h, src) != rte_be_to_cpu_32(ip->src_addr) ||
	    rh_partner(h, src) != dest)
		return RH_WRONG_DEST;
	for (uint32_t j = sizeof(*ip); j < payload; j++)
		if (p->data[j])
			return RH_NOT_INTACT;
	return RH_OK;
}

/* The inner packet rh_packet() built with h->inner6: IPv6, UDP, zeros. */
static enum rh_verdict check_inner6(const struct rh *h, const struct rv_pkt *p, uint32_t dest,
				    uint32_t payload)
{
	uint8_t want[16];
	const uint8_t *ip = p->data;
	if (p->len != payload || payload < 48 || ip[0] != 0x60 || ip[6] != IPPROTO_UDP ||
	    (uint32_t)(ip[4] << 8 | ip[5]) + 40 != payload)
		return RH_NOT_INTACT;
	rh_vip6(h, dest, want);
	if (memcmp(ip + 24, want, 16) != 0)
		return RH_WRONG_DEST;
	/* the sender: the session with this address in the destination's room */
	uint32_t host =
	    (uint32_t)ip[20] << 24 | (uint32_t)ip[21] << 16 | (uint32_t)ip[22] << 8 | ip[23];
	uint32_t src = (host - FIRST_HOST6) * h->n_rooms + dest % h->n_rooms;
	if (src >= h->n_sessions || rh_partner(h, src) != dest)
		return RH_WRONG_DEST;
	rh_vip6(h, src, want);
	if (memcmp(ip + 8, want, 16) != 0)
		return RH_WRONG_DEST;
	for (uint32_t j = 48; j < payload; j++)
		if (p->data[j])
			return RH_NOT_INTACT;
	return RH_OK;
}

enum rh_verdict rh_member_check(struct rh *h, struct rte_mbuf *m, uint32_t payload)
{
	static uint8_t copy[RTE_MBUF_DEFAULT_BUF_SIZE];
	const uint32_t outer =
	    sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr);
	uint32_t len = rte_pktmbuf_data_len(m), dest, peer, pid;
	uint8_t kid;
	if (len <= outer || len > sizeof(copy))
		return RH_NOT_MEMBER;
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eh + 1);
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
	if (eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ip->next_proto_id != IPPROTO_UDP ||
	    !rh_member_of(h, rte_be_to_cpu_32(ip->dst_addr), rte_be_to_cpu_16(udp->dst_port),
			  &dest))
		return RH_NOT_MEMBER;
	/* open a copy: the packet stays as the relay sent it */
	memcpy(copy, (const uint8_t *)(udp + 1), len - outer);
	struct rv_pkt p = {
	    .data = copy, .len = len - outer, .tailroom = sizeof(copy) - (len - outer)};
	if (rv_dc_peek(p.data, p.len, &kid, &peer) != RV_OK || peer != dest)
		return RH_WRONG_PEER;
	struct rv_cipher_ctx *dec = rh_member_dec(h, dest);
	if (!dec || rv_dc_open(dec, &p, &pid) != RV_OK)
		return RH_NO_DECRYPT;
	if (p.data[0] >> 4 == 6)
		return check_inner6(h, &p, dest, payload);
	return check_inner(h, &p, dest, payload);
}
