/* Run-time state of roomvpn-loadgen shared by its modules. The main lcore
 * transmits; a second lcore, when the EAL gives one, receives (and, in
 * --reflect mode, relays); with one lcore the main one does everything. */
#ifndef RV_LOADGEN_ENGINE_H
#define RV_LOADGEN_ENGINE_H

#include <signal.h>
#include <stdatomic.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "cipher.h"
#include "loadgen.h"

#define LG_BURST 32

/* Set by SIGINT/SIGTERM: trials end early, results so far are reported. */
extern volatile sig_atomic_t lg_stop;

struct lg_client {
	uint32_t peer_id, room_id;
	uint32_t outer_ip; /* host order */
	uint16_t outer_port;
	uint32_t vip;
	uint8_t vip6[16]; /* --inner6: room's prefix6 + host number (vip - subnet) */
	uint32_t dst;	  /* index of the member this client's flow sends to */
	struct rv_key_material km;
	struct rv_cipher_ctx *enc;		 /* client side: seals with dir[0] */
	struct rv_cipher_ctx *dec;		 /* client side: opens with dir[1] */
	struct rv_cipher_ctx *srv_dec, *srv_enc; /* --reflect: the relay's side */
	uint32_t tx_pid, srv_tx_pid;
	uint32_t tx_seq;      /* next sequence number of this client's flow */
	uint32_t rx_next_seq; /* flow from this client: highest seq seen + 1 */
};

struct lg_room {
	uint32_t room_id;
	uint32_t subnet;
	uint8_t plen;
	uint8_t prefix6[16];   /* --inner6: a /64 */
	unsigned first, count; /* clients [first, first + count) */
};

struct lg_engine {
	struct lg_opts *o;
	struct rte_mempool *pool;
	struct rte_ether_addr mac;    /* our port's MAC (rx port) */
	struct rte_ether_addr dp_mac; /* where we send */
	struct lg_client *clients;
	struct lg_room *rooms;
	uint64_t tsc_hz;
	uint32_t trial_id;
	unsigned next_flow; /* round robin over flows */
	unsigned size_pos;  /* position in the size pattern */
	const struct lg_size *size;
	struct lg_counts c; /* current trial (RX fields merged in at its end) */
	struct lg_totals tot;
	/* Receive side: written only by whoever receives (rx.c). */
	struct lg_counts rxc;	      /* since the last collect */
	uint64_t reflected_total;     /* --reflect: packets relayed, for corrupt_every */
	uint32_t rx_trial;	      /* trial the receiver counts as current */
	_Atomic uint64_t rx_answered; /* rxc.received + decrypt_errors + payload_errors, live */
	/* RX lcore and its handshake with the sender (rx.c). */
	unsigned rx_lcore;	 /* RTE_MAX_LCORE: receive inline */
	struct rte_ring *txq;	 /* RX lcore -> sender: ARP replies, relayed */
	_Atomic uint32_t rx_cmd; /* bumped by the sender: collect (or quit) */
	_Atomic uint32_t rx_ack; /* the command the RX lcore has done */
	_Atomic bool rx_quit;
	uint32_t rx_next_trial;	  /* with a collect: the trial from then on */
	struct lg_counts rx_snap; /* a collect's result */
};

/* port.c */
int lg_port_init(struct lg_engine *e);
void lg_port_close(struct lg_engine *e);
/* Resolve the data plane's MAC with ARP (answering ARP meanwhile).
 * Returns 0, or -1 after the timeout with the error printed. */
int lg_port_resolve_dp(struct lg_engine *e);
/* Answer an ARP request for one of our clients (or, in reflect mode, the data
 * plane): turns @m into the reply and returns true; false if not ours. */
bool lg_arp_answer(struct lg_engine *e, struct rte_mbuf *m);
/* Send everything in @pkts on @port, retrying briefly; frees what is left.
 * Returns the number sent. */
unsigned lg_port_tx(uint16_t port, struct rte_mbuf **pkts, unsigned n);

/* clients.c */
int lg_clients_init(struct lg_engine *e);
void lg_clients_free(struct lg_engine *e);
/* Index of the client with this outer address, or -1. */
long lg_client_by_outer(const struct lg_engine *e, uint32_t ip, uint16_t port);
/* Index of the client with this virtual IP in @room_idx's subnet, or -1. */
long lg_client_by_vip(const struct lg_engine *e, uint32_t vip);
/* The client whose vip6 is @vip6 (--inner6), or -1. */
long lg_client_by_vip6(const struct lg_engine *e, const uint8_t *vip6);

/* traffic.c */
/* Build and seal one packet of flow @f with inner length @len into @m. */
int lg_traffic_build(struct lg_engine *e, unsigned f, uint16_t len, struct rte_mbuf *m);
/* Process received packets: count, answer ARP, relay in reflect mode. */
void lg_traffic_rx(struct lg_engine *e, struct rte_mbuf **pkts, unsigned n);
/* Poll the RX port once; returns packets handled. */
unsigned lg_traffic_poll(struct lg_engine *e);

/* rx.c */
/* Start receiving on the second EAL lcore if there is one. */
int lg_rx_start(struct lg_engine *e);
void lg_rx_stop(struct lg_engine *e);
/* RX counters since the last collect into @out (then reset); from now on
 * the receiver counts packets of @trial as current, others as late. */
void lg_rx_collect(struct lg_engine *e, uint32_t trial, struct lg_counts *out);
/* The sender's share of receiving, once per loop pass: poll the port
 * (inline mode) or transmit what the RX lcore queued. */
void lg_rx_service(struct lg_engine *e);

/* trial.c */
/* One trial at @rate_pps of e->size; fills @t. */
void lg_trial_run(struct lg_engine *e, double rate_pps, struct lg_trial *t, bool progress);
/* Send a few packets and wait until one comes back: -1 (printed) if none. */
int lg_trial_probe(struct lg_engine *e);
/* After the last trial: receive until the port is quiet (stragglers count as
 * late), so that totals match the data plane's counters. */
void lg_trial_final_drain(struct lg_engine *e);

/* search.c */
void lg_search_size(struct lg_engine *e, const struct lg_size *size, struct lg_result *r);

/* provision.c */
int lg_provision_agent(struct lg_engine *e);
int lg_unprovision_agent(struct lg_engine *e);
int lg_provision_file(struct lg_engine *e);

/* report.c */
void lg_report_table(const struct lg_opts *o, const struct lg_result *r, unsigned n, FILE *f);
int lg_report_json(const struct lg_opts *o, const struct lg_result *r, unsigned n,
		   const struct lg_totals *tot, const char *path);
int lg_report_plot(const struct lg_opts *o, const struct lg_result *r, unsigned n,
		   const char *path);

#endif
