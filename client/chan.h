/* The client's data channel ("chan"; rvc_ = the client, rv_dc_ stays the
 * library's framing): moves packets between the TUN device and the server.
 * UDP first (batched with recvmmsg/sendmmsg); when no echo reply comes back
 * over UDP within the fallback time it switches to TLS over TCP (2-byte
 * length framing; the first frame on a connection is sealed with the real
 * suite, which binds the session to it on the server, then suite "none",
 * packet-ids kept) and keeps probing UDP to move back. The transports are
 * back-ends behind chan_transport.h (chan_udp.c, chan_tcp.c); the loop in
 * chan.c owns sessions, probes and fallback. Single-threaded: everything runs
 * in rvc_chan_run()'s epoll loop; the other functions are for the same
 * thread unless noted. */
#ifndef RV_CLIENT_CHAN_H
#define RV_CLIENT_CHAN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan_addr.h"
#include "cipher.h"
#include "drop.h"

struct json_object;

enum rvc_chan_transport { RVC_CHAN_UDP = 0, RVC_CHAN_TCP = 1 };

struct rvc_chan_params {
	/* UDP: the preferred server (IPv6 when the data plane has both) and
	 * the other family's (unset: none); with both, chan_udp.c races them
	 * (RFC 8305 flavour) and keeps the first that answers authenticated */
	union rvc_addr udp_server, udp_server_alt;
	union rvc_addr tcp_server; /* unset: no TCP fallback */
	enum rv_cipher suite;
	uint8_t key_id;
	uint32_t peer_id;
	struct rv_key_dir tx, rx; /* client->server and server->client keys */
	uint32_t replay_window;	  /* 0: default */
	/* TLS server check for the TCP fallback: a SHA-256 pin of the
	 * certificate, or a CA file; with neither, TCP fallback is off. */
	bool tls_pin_set;
	uint8_t tls_pin[32];
	const char *tls_ca_file;
	uint32_t keepalive_ms; /* OpenVPN ping when nothing was sent; 0: 10000 */
	/* echo request (RTT probe) interval; 0: the keepalive interval (also
	 * as changed by rvc_chan_set_keepalive). Whatever the interval, a channel
	 * that sent traffic and heard nothing for 1 s probes once a second. */
	uint32_t probe_ms;
	/* the transport to start on (the room's preference); TCP: stay there
	 * (no UDP probes), UDP only while TCP fails */
	enum rvc_chan_transport start;
	uint32_t fallback_ms; /* no UDP echo reply for this long: TCP; 0: 3000 */
	uint32_t udp_sockbuf; /* UDP SO_RCVBUF/SO_SNDBUF bytes; 0: 4 MiB */
	uint32_t first_pid;   /* tests: the first key's packet-ids start after it (0) */
};

struct rvc_chan_stats {
	uint64_t tx_packets, tx_bytes; /* IP packets from the TUN sent to the server */
	uint64_t rx_packets, rx_bytes; /* IP packets from the server written to the TUN */
	uint64_t pings_tx, pings_rx;
	uint64_t echo_tx, echo_rx, echo_replies_tx;
	uint64_t rtt_ns; /* last echo round trip over the active transport */
	uint64_t to_tcp, to_udp, tcp_connect_failures;
	uint64_t moves;		 /* moves to another data plane's endpoints */
	uint64_t old_rx_packets; /* delivered from the old path while moving */
	uint64_t tun_errors, tx_errors;
	uint64_t drops[RV_DROP__COUNT];
};

/* A data plane's endpoints for this channel, as a Bootstrap answers them. */
struct rvc_chan_servers {
	union rvc_addr udp_server, udp_server_alt; /* as in rvc_chan_params */
	union rvc_addr tcp_server;		   /* unset: no TCP fallback */
	enum rvc_chan_transport start;		   /* the room's preferred transport */
};

struct rvc_chan;

/* Set up sockets and keys around an open, non-blocking TUN fd (not owned).
 * Returns 0, or -1 with a message in @err. */
int rvc_chan_create(const struct rvc_chan_params *p, int tun_fd, struct rvc_chan **out, char *err,
		    size_t errlen);
void rvc_chan_destroy(struct rvc_chan *dc);

/* Called about once a second from the loop (status files, control checks). */
typedef void (*rvc_chan_tick_fn)(struct rvc_chan *dc, void *arg);
void rvc_chan_set_tick(struct rvc_chan *dc, rvc_chan_tick_fn fn, void *arg);

/* Run the loop until rvc_chan_stop(). Returns 0, or -1 on a fatal error. */
int rvc_chan_run(struct rvc_chan *dc);
/* Ask the loop to return; async-signal-safe, callable from any thread. */
void rvc_chan_stop(struct rvc_chan *dc);

/* Install a new key (re-key): it seals from now on; the previous key still
 * opens for @grace_ms. Returns 0 or -1. */
int rvc_chan_rekey(struct rvc_chan *dc, uint8_t key_id, enum rv_cipher suite,
		   const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint32_t grace_ms);

/* Replace the whole session with one from a fresh bootstrap (new peer-id,
 * keys, key-id; replay windows start over), e.g. after the data plane lost
 * it or the room moved to another data plane. @to: the endpoints the
 * bootstrap returned (NULL: the same as now). When they differ the channel
 * moves (chan_move.c): new sockets to @to carry everything sent from now
 * on, while the old path stays open for receiving only, with the old
 * session, until the new one delivers an authenticated packet (or
 * RVC_CHAN_OLD_KEEP_MS passed). The TUN device is not touched. Callable
 * from any thread: the loop applies it on its next pass. Returns 0 or -1. */
#define RVC_CHAN_OLD_KEEP_MS 10000
int rvc_chan_replace_session(struct rvc_chan *dc, uint32_t peer_id, uint8_t key_id,
			     enum rv_cipher suite, const struct rv_key_dir *tx,
			     const struct rv_key_dir *rx, const struct rvc_chan_servers *to);
/* The active transport's server, "udp 10.0.0.1:1194" or "udp [::1]:1194"
 * (UDP: the candidate in use, see udp_server_alt) (the loop's thread: e.g.
 * from the tick). */
void rvc_chan_endpoint(const struct rvc_chan *dc, char *out, size_t len);
/* Re-key from another thread: install the next key (it seals from now on;
 * the previous one still opens for @grace_ms). Same mailbox as above. */
int rvc_chan_rekey_async(struct rvc_chan *dc, uint8_t key_id, enum rv_cipher suite,
			 const struct rv_key_dir *tx, const struct rv_key_dir *rx,
			 uint32_t grace_ms);
/* Change the keepalive (ping) interval of the running channel, from any
 * thread: the loop uses the new value from its next pass (the call wakes
 * it). 1000..3600000 ms, else -1. _keepalive_ms: the interval in use. */
int rvc_chan_set_keepalive(struct rvc_chan *dc, uint32_t keepalive_ms);
uint32_t rvc_chan_keepalive_ms(const struct rvc_chan *dc);
/* Milliseconds since the last echo reply over either transport (any
 * thread): a data channel that gets no answers at all is dead. */
uint64_t rvc_chan_reply_age_ms(const struct rvc_chan *dc);
/* The last echo probe's round-trip time on the active transport, in µs (0:
 * none yet). Any thread. */
uint32_t rvc_chan_rtt_us(const struct rvc_chan *dc);
/* Milliseconds since the first echo request that has had no reply over
 * either transport yet, 0 when all are answered (any thread). */
uint64_t rvc_chan_unanswered_ms(const struct rvc_chan *dc);
/* True once the sealing key's packet-id passed RV_PID_REKEY_THRESHOLD (the
 * key has 2^24 packets left): the owner should re-key. Any thread; updated
 * once a second by the loop. */
bool rvc_chan_rekey_due(const struct rvc_chan *dc);

enum rvc_chan_transport rvc_chan_transport(const struct rvc_chan *dc);
const char *rvc_chan_transport_name(enum rvc_chan_transport t);
uint8_t rvc_chan_key_id(const struct rvc_chan *dc);
const struct rvc_chan_stats *rvc_chan_stats(const struct rvc_chan *dc);
/* A new JSON object (json-c; the caller puts it) with the transport, key-id,
 * RTT and every counter as a number (drops by rv_drop_name); NULL when out
 * of memory. */
struct json_object *rvc_chan_stats_json(const struct rvc_chan *dc);

#endif
