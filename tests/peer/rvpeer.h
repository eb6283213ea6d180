/* rvpeer: a minimal VPN endpoint on libroomvpn, for interop and data-plane
 * tests. One TUN device, one transport (kernel UDP socket, or TLS over TCP),
 * one data-channel session (OpenVPN static-key mode or P_DATA_V2).
 * Single-threaded: everything runs from the epoll loop in loop.c. */
#ifndef RVPEER_H
#define RVPEER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cipher.h"
#include "dc_frame.h"
#include "drop.h"
#include "key_slots.h"
#include "replay.h"
#include "tcp_frame.h"

/* Largest payload read from the TUN or the network. */
#define PEER_MAX_PAYLOAD 65535u
/* Buffer: [tcp prefix 2][headroom][payload][tailroom]. */
#define PEER_PREFIX_ROOM 2u
#define PEER_BUF_SIZE	 (PEER_PREFIX_ROOM + RV_DC_HEADROOM + PEER_MAX_PAYLOAD + RV_DC_TAILROOM)

enum peer_mode { PEER_MODE_STATIC, PEER_MODE_V2 };
enum peer_transport { PEER_UDP, PEER_TCP_CLIENT, PEER_TCP_SERVER };

struct peer_opts {
	const char *tun_name;
	bool has_local, has_remote;
	struct sockaddr_in local, remote; /* IPv4 (TCP; UDP when IPv4) */
	/* UDP: the same addresses whatever the family, and --move-to */
	struct sockaddr_storage ulocal, uremote, umove;
	bool has_move;
	enum peer_mode mode;
	enum peer_transport transport;
	const char *key_file; /* --secret (static) or --key (v2) */
	const char *next_key_file;
	int key_direction; /* RV_KEY_DIRECTION_NONE, 0 or 1 */
	enum rv_cipher cipher;
	bool cipher_set;
	uint32_t peer_id;
	uint8_t key_id;
	uint32_t replay_window;
	uint64_t grace_ns;
	uint64_t ping_ns, echo_ns; /* 0 = off */
	const char *ca_file, *cert_file, *cert_key_file;
	const char *stats_file;
	uint32_t duplicate_every; /* test aid: send every Nth packet twice (0 = off) */
	bool verbose;
};

/* Returns 0, 1 after --help (exit 0), or -1 after printing an error. */
int peer_opts_parse(struct peer_opts *o, int argc, char **argv);

struct peer_stats {
	uint64_t packets_in, bytes_in;	 /* authenticated packets from the network */
	uint64_t packets_out, bytes_out; /* packets sent to the network */
	uint64_t tun_in, tun_out;	 /* packets read from / written to the TUN */
	uint64_t pings_in, pings_out;
	uint64_t echo_req_in, echo_req_out, echo_rep_in, echo_rep_out;
	uint64_t rtt_last_ns, rtt_min_ns, rtt_max_ns;
	uint64_t rekeys;
	uint64_t tx_errors, tun_errors, tcp_connects;
	uint64_t duplicates_out; /* --duplicate-every copies sent */
	uint64_t drops[RV_DROP__COUNT];
};

/* One JSON line with every counter (no trailing newline); returns length or -1. */
int peer_stats_json(const struct peer_stats *s, const char *mode, int key_id, char *buf,
		    size_t cap);
/* Print to stdout and, if @path, replace @path atomically. */
void peer_stats_report(const struct peer_stats *s, const char *mode, int key_id, const char *path);

/* The data-channel session: static key or P_DATA_V2 key slots, plus an
 * optional pending next key (--next-key) installed on SIGUSR2 or as soon as
 * the other side starts sealing with it. */
struct peer_channel {
	enum peer_mode mode;
	/* static-key mode */
	struct rv_cipher_ctx *st_enc, *st_dec;
	struct rv_replay st_replay;
	uint32_t st_tx_pid, st_time;
	/* P_DATA_V2 mode */
	enum rv_cipher suite;
	uint64_t grace_ns;
	struct rv_dc_session sess;
	bool pending;
	uint8_t pend_key_id;
	struct rv_key_dir pend_tx, pend_rx;
	struct rv_dc_session pend; /* the next key alone, to authenticate with it */
};

int peer_channel_init(struct peer_channel *c, const struct peer_opts *o, uint64_t now_ns, char *err,
		      size_t errlen);
void peer_channel_destroy(struct peer_channel *c);
enum rv_drop peer_channel_seal(struct peer_channel *c, struct rv_pkt *p, uint32_t now_s);
/* Authenticate, decrypt and replay-check in place; *rekeyed is set when the
 * packet carried the pending next key, which is now installed. */
enum rv_drop peer_channel_open(struct peer_channel *c, struct rv_pkt *p, uint64_t now_ns,
			       bool *rekeyed);
/* Make the pending next key the sealing key. Returns 0, or -1 if none. */
int peer_channel_rekey(struct peer_channel *c, uint64_t now_ns);
void peer_channel_tick(struct peer_channel *c, uint64_t now_ns);
/* Key-id that seals (0 in static mode). */
int peer_channel_tx_key_id(const struct peer_channel *c);

/* TUN device (IFF_TUN | IFF_NO_PI), non-blocking fd or -1 with @err. */
int peer_tun_open(const char *name, char *err, size_t errlen);

/* TLS over TCP with 2-byte length framing (tcp_frame.h). */
struct peer_tls;
typedef void (*peer_frame_cb)(void *arg, const uint8_t *frame, uint32_t len);
struct peer_tls *peer_tls_new(const struct peer_opts *o, char *err, size_t errlen);
void peer_tls_free(struct peer_tls *t);
/* fd to poll for input: the connection, or the listener while unconnected
 * (server), or -1 (client not connected). */
int peer_tls_fd(const struct peer_tls *t);
bool peer_tls_connected(const struct peer_tls *t);
/* Client: connect and handshake (blocking, bounded). Server: accept one
 * pending connection and handshake. Returns 0 or -1 (logged). */
int peer_tls_connect(struct peer_tls *t);
/* Send one frame; @frame must have 2 writable bytes in front of it.
 * Returns 0, or -1 (connection closed, logged). */
int peer_tls_send(struct peer_tls *t, uint8_t *frame, uint32_t len);
/* Read what is available; @cb runs per frame. Returns 0, or -1 when the
 * connection closed (it is then reset; the caller re-polls peer_tls_fd). */
int peer_tls_recv(struct peer_tls *t, peer_frame_cb cb, void *arg);

uint64_t peer_now_ns(void);

/* Run the peer until SIGINT/SIGTERM. Returns the exit status. */
int peer_run(const struct peer_opts *o);

#endif
