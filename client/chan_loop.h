/* The data channel's loop state, shared by its files: chan.c (the loop,
 * probes and the choice of transport), chan_tun.c (TUN I/O and sealing) and
 * chan_ctl.c (keys, sessions and settings handed over from other threads,
 * stats). Internal; everything here runs on the loop's thread unless a
 * field says otherwise. */
#ifndef RV_CLIENT_CHAN_LOOP_H
#define RV_CLIENT_CHAN_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "chan_transport.h"
#include "gro.h"
#include "key_slots.h"

#define NS_PER_MS 1000000ull

/* One transport and what the loop knows about it. */
struct chan_path {
	struct rvc_transport *t; /* NULL: TCP fallback off */
	/* UDP seals with the real suite, TCP (after its first frame) with
	 * "none"; both share one packet-id sequence (chan_sync_pid) */
	struct rv_dc_session sess;
	uint64_t unanswered_ns; /* the first echo request since its last reply, 0: none */
};

struct rvc_chan {
	struct rvc_chan_params p;
	int tun, ep, stopfd, wakefd;
	atomic_bool stop;
	/* a key or session from another thread (rvc_chan_replace_session,
	 * rvc_chan_rekey_async) */
	pthread_mutex_t mbox_lock;
	atomic_bool mbox_full;
	struct {
		bool rekey; /* true: next key of this session; false: a new session */
		uint32_t peer_id, grace_ms;
		uint8_t key_id;
		enum rv_cipher suite;
		struct rv_key_dir tx, rx;
		bool move; /* a new session for the endpoints in `to` */
		struct rvc_chan_servers to;
	} mbox;
	/* while moving to another data plane: the path left behind, read
	 * from but never sent on (chan_move.c); t NULL when none */
	struct {
		struct rvc_transport *t;
		struct rv_dc_session sess;
		enum rvc_chan_transport kind;
		uint64_t since_ns;
	} old;
	_Atomic uint64_t last_reply_ns; /* any echo reply, either transport */
	/* the first echo request since the last reply (either transport), 0:
	 * none unanswered (rvc_chan_unanswered_ms) */
	_Atomic uint64_t unanswered_ns;
	_Atomic uint32_t rtt_us; /* st.rtt_ns for other threads (rvc_chan_rtt_us) */
	/* the ping interval in use: set by any thread (rvc_chan_set_keepalive),
	 * read by the loop's timers on every pass */
	_Atomic uint32_t keepalive_ms;
	_Atomic bool rekey_due;	  /* see rvc_chan_rekey_due */
	struct chan_path path[2]; /* by enum rvc_chan_transport */
	enum rvc_chan_transport active;
	bool prefer_tcp; /* the room prefers TCP: start there, no UDP probes on it */
	uint64_t last_tx_ns, next_probe_ns, next_tick_ns, next_tcp_try_ns;
	uint64_t last_rx_ns;	  /* any authenticated packet from the server */
	uint64_t last_data_tx_ns; /* an IP packet from the TUN sent */
	uint64_t last_probe_ns;
	uint32_t tcp_retry_ms;
	uint32_t echo_seq;
	rvc_chan_tick_fn tick;
	void *tick_arg;
	struct rvc_chan_stats st;
	struct rvc_buf *bufs;	/* CHAN_BATCH buffers for packets from the TUN */
	struct rvc_buf scratch; /* one ping or echo request */
	bool vnet;		/* TUN with IFF_VNET_HDR: TSO reads, GRO writes */
	uint8_t *tun_in;	/* virtio_net_hdr + RV_GRO_MAX: one read from the TUN */
	struct rv_gro gro;	/* pending coalesced write to the TUN */
	uint64_t now_ns;	/* of the current loop pass */
};

/* epoll data: which fd woke the loop */
enum { EV_TUN, EV_UDP, EV_STOP, EV_TCP, EV_WAKE, EV_OLD };

uint64_t chan_mono_ns(void);

/* chan.c */
/* The UDP and TCP sessions share one packet-id sequence (the server checks
 * both against one replay window): before sealing with @to, catch up with
 * the other. */
void chan_sync_pid(struct rvc_chan *c, struct rv_dc_session *to);
void chan_switch_to_udp(struct rvc_chan *c, const char *why);

/* chan_tun.c */
/* Read from the TUN (a bounded number of reads), seal and send over the
 * active transport. */
void chan_tun_rx(struct rvc_chan *c);
/* One IPv4 packet from the server to the TUN (maybe held to coalesce). */
void chan_tun_put(struct rvc_chan *c, const struct rv_pkt *p);
/* Write what chan_tun_put() holds back; after every receive burst. */
void chan_tun_flush(struct rvc_chan *c);

/* chan_ctl.c */
/* Install what another thread posted (the loop, when mbox_full). */
void chan_apply_mbox(struct rvc_chan *c);
/* chan_move.c */
/* Move to @to's endpoints: the active path becomes c->old (receive only),
 * new transports go to @to. Returns 0, or -1 (nothing changed) after
 * logging. Before the new session is installed. */
int chan_move_begin(struct rvc_chan *c, const struct rvc_chan_servers *to);
/* The old path's fd is readable. */
void chan_old_rx(struct rvc_chan *c);
/* Close the old path (if any), saying why. */
void chan_old_close(struct rvc_chan *c, const char *why);
/* True if @to names other endpoints than the channel uses now. */
bool chan_servers_differ(const struct rvc_chan *c, const struct rvc_chan_servers *to);

/* Install a key into both sessions. 0 or -1. */
int chan_install(struct rvc_chan *c, uint8_t key_id, enum rv_cipher suite,
		 const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t grace_ns);

#endif
