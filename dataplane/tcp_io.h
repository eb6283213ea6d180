/* Hand-off between the TCP fallback thread (tcp_fallback.c, kernel sockets +
 * TLS) and the DPDK workers. No locks: rte_rings of mbufs.
 *
 * TCP -> workers (received frames):
 *   The TCP thread decodes a 2-byte-length-prefixed frame (tcp_frame.h),
 *   then calls rv_tcp_io_rx(conn_id, frame, len). It copies the frame into an
 *   mbuf from the data plane's pool (leaving RV_DC_HEADROOM in front), stores
 *   conn_id in the mbuf (m->hash.usr, see rv_tcp_io_conn()) and enqueues it
 *   on a worker's multi-producer job ring (chosen by peer-id; the worker may
 *   pass it on to the session's owner worker). Returns 0, or -1 if the frame
 *   was refused (bad header, no mbuf, ring full): counted, nothing to free.
 *   The TCP thread does not touch the session tables and needs no RCU.
 *
 * Frame format on TCP: the data channel with cipher "none" (no second cipher:
 *   TLS protects it), packet-id kept: [op|kid][peer-id 3][pid 4][payload],
 *   or the session's own cipher (the same packets as over UDP).
 *   A "none" frame carries no authentication of its own, so a connection is
 *   BOUND to a session only by a frame sealed with the session's real cipher
 *   (e.g. the member's first ping after connecting): it authenticates, and
 *   the session's address moves to (TCP, conn_id). On the bound connection a
 *   frame is opened as "none" when it reads as a well-formed payload of that
 *   member (ping, echo, or IPv4 from its virtual IP with matching length),
 *   else with the session cipher; either way it is replay-checked. "none"
 *   frames on an unbound connection fail authentication (RV_DROP_AUTH).
 *   Frames to a TCP member use the format it used last. A member moves back
 *   to UDP by sending an authenticated UDP packet.
 *
 * Workers -> TCP (frames for a TCP-attached member):
 *   Workers enqueue mbufs on one multi-producer/single-consumer ring,
 *   rv_tcp_io_tx_ring(). Each mbuf holds exactly one frame (no length prefix,
 *   contiguous: one segment) and its conn_id in rv_tcp_io_conn(m). The TCP
 *   thread dequeues, writes prefix + frame to that connection (or drops it if
 *   the connection is gone) and frees the mbuf with rte_pktmbuf_free().
 *   rv_tcp_io_tx_wakefd() is an eventfd the workers signal (at most once per
 *   burst) when they enqueued, so the TCP thread can poll() on it beside its
 *   sockets instead of spinning.
 *
 * Closing: rv_tcp_io_conn_closed(conn_id) tells the workers nothing; frames
 * for a closed conn are simply dropped by the TCP thread until the member
 * reconnects and re-binds (or moves to UDP). Conn ids must not be reused for
 * 2^32 connections (a counter). */
#ifndef RV_DP_TCP_IO_H
#define RV_DP_TCP_IO_H

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

/* The conn id travels in the mbuf's hash.usr field. */
static inline uint32_t rv_tcp_io_conn(const struct rte_mbuf *m)
{
	return m->hash.usr;
}
static inline void rv_tcp_io_set_conn(struct rte_mbuf *m, uint32_t conn_id)
{
	m->hash.usr = conn_id;
}

/* TCP thread -> workers: see above. Safe from any non-EAL thread. */
int rv_tcp_io_rx(uint32_t conn_id, const uint8_t *frame, uint32_t len);
/* Workers -> TCP thread. NULL until the data plane started with TCP enabled. */
struct rte_ring *rv_tcp_io_tx_ring(void);
int rv_tcp_io_tx_wakefd(void);
/* Drain helper for the TCP thread: read the eventfd counter (non-blocking). */
void rv_tcp_io_tx_wake_ack(void);

#endif
