/* The data channel's transports: UDP (chan_udp.c) and TLS over TCP
 * (chan_tcp.c) behind one small table of functions, like the data plane's
 * port back-ends. A transport moves sealed wire packets and owns its socket,
 * buffers and (TCP) TLS state; sessions, probes and the choice of transport
 * belong to the loop (chan.c). Internal to the data channel; called from the
 * loop's thread only. */
#ifndef RV_CLIENT_CHAN_TRANSPORT_H
#define RV_CLIENT_CHAN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "dc_frame.h"
#include "drop.h"

#define CHAN_BATCH   64	  /* a 64 KB TSO packet is 48 segments at MTU 1400 */
#define CHAN_MAX_PKT 2048 /* largest inner packet; the TUN MTU stays below it */
#define CHAN_PREFIX  2	  /* room for the TCP length prefix */
#define CHAN_OFF     (CHAN_PREFIX + RV_DC_HEADROOM)
#define CHAN_BUF     (CHAN_OFF + CHAN_MAX_PKT + RV_DC_TAILROOM)

/* One packet buffer: CHAN_OFF bytes in front of the packet, so that it can
 * be sealed (and framed for TCP) in place. */
struct rvc_buf {
	uint8_t b[CHAN_BUF];
};

static inline struct rv_pkt rvc_pkt_at(struct rvc_buf *b, uint32_t len)
{
	return (struct rv_pkt){.data = b->b + CHAN_OFF,
			       .len = len,
			       .headroom = RV_DC_HEADROOM,
			       .tailroom = CHAN_BUF - CHAN_OFF - len};
}

/* One wire packet received from the server, in place in an rvc_buf (so that
 * an echo request can be answered in place). Returns true when it
 * authenticated (the UDP transport keeps the candidate that answered). */
typedef bool (*rvc_rx_fn)(void *arg, struct rv_pkt *p);

struct rvc_transport;

struct rvc_transport_ops {
	const char *name; /* "udp", "tcp", as rvc_chan_transport_name() */
	/* Make the transport usable (TCP: connect and handshake within
	 * @timeout_ms; UDP: always open). Returns 0, or -1 with a message. */
	int (*open)(struct rvc_transport *t, int timeout_ms, char *err, size_t errlen);
	void (*close)(struct rvc_transport *t);
	/* The fd for the loop's epoll set; -1 while closed. */
	int (*fd)(const struct rvc_transport *t);
	/* Send one sealed packet (CHAN_PREFIX writable bytes in front of
	 * p->data). Returns 0 or -1. */
	int (*send)(struct rvc_transport *t, struct rv_pkt *p);
	/* Send @n sealed packets; returns how many could not be sent. */
	unsigned (*send_batch)(struct rvc_transport *t, struct rv_pkt *pk, unsigned n);
	/* Read what the fd has, @rx per packet; packets the transport itself
	 * rejects are counted in @drops. Returns 0, 1 when data is still
	 * buffered (call again without waiting), or -1 when the connection is
	 * lost (the caller closes). */
	int (*on_readable)(struct rvc_transport *t, rvc_rx_fn rx, void *arg, uint64_t *drops);
	void (*destroy)(struct rvc_transport *t);
};

struct rvc_transport {
	const struct rvc_transport_ops *ops;
};

/* Create a transport to the server in @p. UDP copies the server address;
 * TCP keeps @p by reference (it must outlive the transport) and reads its
 * server and TLS check at each open. Returns 0, or -1 with a message in
 * @err. */
int rvc_chan_udp_create(const struct rvc_chan_params *p, struct rvc_transport **out, char *err,
			size_t errlen);
/* The UDP transport's server: the candidate that answered, else the
 * preferred one. */
void rvc_chan_udp_server(const struct rvc_transport *t, union rvc_addr *out);
/* Needs p->tcp_server and a pin or CA file. Sets SIGPIPE to be ignored
 * (process-wide). */
int rvc_chan_tcp_create(const struct rvc_chan_params *p, struct rvc_transport **out, char *err,
			size_t errlen);

#endif
