/* The data channel's TUN side: packets read from the TUN (cut into segments
 * when the kernel hands over a TSO super-packet) sealed in batches and sent
 * over the active transport; packets from the server written to the TUN
 * (coalesced into one TCP packet where GRO allows). */
#include "chan_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"
#include "tso.h"
#include "tun.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define CHAN_TUN_READS 32 /* TUN reads per loop pass */
#define CHAN_VH	       sizeof(struct virtio_net_hdr)

void chan_tun_flush(struct rvc_chan *c)
{
	uint32_t n;

	if (!c->gro.len)
		return;
	n = rv_gro_finish(&c->gro);
	if (unlikely(write(c->tun, c->gro.buf, n) < 0))
		c->st.tun_errors++;
}

/* Plain, merged into the pending TCP packet, or (vnet) behind an all-zero
 * virtio_net_hdr. */
void chan_tun_put(struct rvc_chan *c, const struct rv_pkt *p)
{
	static const struct virtio_net_hdr none;
	struct iovec iov[2] = {{(void *)&none, CHAN_VH}, {p->data, p->len}};
	ssize_t rc = 0;

	c->st.rx_packets++;
	c->st.rx_bytes += p->len;
	if (!c->vnet) {
		rc = write(c->tun, p->data, p->len);
	} else if (!rv_gro_append(&c->gro, p->data, p->len)) {
		chan_tun_flush(c);
		if (!rv_gro_start(&c->gro, p->data, p->len))
			rc = writev(c->tun, iov, 2);
	}
	if (unlikely(rc < 0))
		c->st.tun_errors++;
}

/* Send the @n sealed packets of the batch over the active transport. */
static void flush(struct rvc_chan *c, struct rv_pkt *pk, unsigned n)
{
	struct rvc_transport *t = c->path[c->active].t;

	c->st.tx_errors += t->ops->send_batch(t, pk, n);
}

/* Seal IP packet @p (in c->bufs) into the batch @pk; send the batch when
 * it is full. */
static void batch_add(struct rvc_chan *c, struct rv_dc_session *s, struct rv_pkt *pk, unsigned *n,
		      struct rv_pkt *p, uint32_t now_s)
{
	uint32_t len = p->len;
	enum rv_payload_kind kind = rv_payload_classify(p->data, p->len);
	enum rv_drop rc;

	if (unlikely(kind != RV_PAYLOAD_IPV4 && kind != RV_PAYLOAD_IPV6)) {
		c->st.drops[RV_DROP_NOT_IP]++;
		return;
	}
	rc = rv_dc_session_seal(s, p, now_s);
	if (unlikely(rc != RV_OK)) {
		c->st.drops[rc]++;
		return;
	}
	c->st.tx_packets++;
	c->st.tx_bytes += len;
	pk[(*n)++] = *p;
	if (*n == CHAN_BATCH) {
		flush(c, pk, *n);
		*n = 0;
	}
}

/* One read from a vnet TUN: a packet (its checksum completed if the kernel
 * left it partial) or a TCP super-packet cut into segments, each into the
 * batch. */
static void tun_in_vnet(struct rvc_chan *c, struct rv_dc_session *s, struct rv_pkt *pk, unsigned *n,
			uint32_t len, uint32_t now_s)
{
	struct virtio_net_hdr vh;
	uint8_t *ip = c->tun_in + CHAN_VH;
	struct rv_tso t;
	enum rv_drop rc;
	struct rv_pkt p;

	memcpy(&vh, c->tun_in, CHAN_VH);
	len -= (uint32_t)CHAN_VH;
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		rc = len > CHAN_MAX_PKT ? RV_DROP_TOO_BIG : rv_tso_complete_csum(&vh, ip, len);
		if (unlikely(rc != RV_OK)) {
			c->st.drops[rc]++;
			return;
		}
		p = rvc_pkt_at(&c->bufs[*n], len);
		memcpy(p.data, ip, len);
		batch_add(c, s, pk, n, &p, now_s);
		return;
	}
	rc = rv_tso_prepare(&t, &vh, ip, len);
	if (rc == RV_OK && t.hlen + t.mss > CHAN_MAX_PKT)
		rc = RV_DROP_TOO_BIG;
	if (unlikely(rc != RV_OK)) {
		c->st.drops[rc]++;
		return;
	}
	for (uint32_t i = 0; i < t.nseg; i++) {
		p = rvc_pkt_at(&c->bufs[*n], 0);
		p.len = rv_tso_segment(&t, i, p.data);
		p.tailroom -= p.len;
		batch_add(c, s, pk, n, &p, now_s);
	}
}

void chan_tun_rx(struct rvc_chan *c)
{
	struct rv_dc_session *s = &c->path[c->active].sess;
	struct rv_pkt pk[CHAN_BATCH];
	uint32_t now_s = (uint32_t)time(NULL);
	uint64_t before = c->st.tx_packets;
	unsigned n = 0;

	chan_sync_pid(c, s);
	for (int reads = 0; reads < CHAN_TUN_READS; reads++) {
		ssize_t r = c->vnet ? read(c->tun, c->tun_in, CHAN_VH + RV_GRO_MAX)
				    : read(c->tun, c->bufs[n].b + CHAN_OFF, CHAN_MAX_PKT);
		struct rv_pkt p;
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN)
				c->st.tun_errors++;
			break;
		}
		if (c->vnet) {
			if (unlikely((size_t)r < CHAN_VH))
				c->st.drops[RV_DROP_MALFORMED]++;
			else
				tun_in_vnet(c, s, pk, &n, (uint32_t)r, now_s);
			continue;
		}
		p = rvc_pkt_at(&c->bufs[n], (uint32_t)r);
		batch_add(c, s, pk, &n, &p, now_s);
	}
	if (n)
		flush(c, pk, n);
	if (c->st.tx_packets != before)
		c->last_tx_ns = c->last_data_tx_ns = c->now_ns;
}
