/* TCP fallback: one kernel-socket thread (epoll) that terminates TLS over
 * TCP for members that cannot use UDP. It decodes 2-byte-length-prefixed
 * frames (tcp_frame.h) and hands each to the workers with its connection id
 * (tcp_io.h); it drains the ring of frames the workers send to TCP-attached
 * members and writes them with their length prefix. It never blocks the
 * workers: a connection whose reader is slow gets frames dropped (counted)
 * once its output buffer is full. A bad frame length closes the connection.
 * Connection ids come from a counter and are not reused for 2^32 - 1
 * connections (0 is never used).
 *
 * Limits against a peer that holds connections open (docs/dataplane.md):
 * - TLS must be up within the handshake timeout (shed_handshake);
 * - a connection is AUTHENTICATED once the workers send it a frame: they
 *   only address a connection a session is bound to, and only a frame
 *   sealed with the session's key binds one (tcp_io.h). Until then its
 *   frames are limited to preauth_frame_max (an MTU-sized data packet; a
 *   longer one closes it, oversize) and it counts as idle from its accept;
 * - an established connection that receives nothing (unauthenticated: that
 *   does not authenticate) for the idle timeout is closed (shed_idle);
 * - at max_conns the oldest unauthenticated connection makes room for a new
 *   one (shed_unauth); when every one is authenticated the new one is
 *   refused (refused_full);
 * - max_conns is capped below the process's descriptor limit so the agent
 *   socket and the rest of the process always have descriptors, and a
 *   reserve descriptor lets accept() shed a connection at EMFILE instead of
 *   spinning on a listener that stays readable (refused_fds). */
#ifndef RV_DP_TCP_FALLBACK_H
#define RV_DP_TCP_FALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "tcp_io.h"

#define RV_TCP_DEFAULT_MAX_CONNS    1024
#define RV_TCP_DEFAULT_OUT_MAX	    (256u << 10) /* pending output bytes per connection */
#define RV_TCP_DEFAULT_HANDSHAKE_MS 10000u
#define RV_TCP_DEFAULT_IDLE_MS	    60000u
/* An IPv4 packet of MTU 1500 with the data channel's header (8 bytes) and
 * the largest cipher overhead (CBC IV 16 + padding 16 + HMAC 32), rounded. */
#define RV_TCP_DEFAULT_PREAUTH_MAX 1628u
/* Descriptors kept free for everything else (agent socket and its clients,
 * EAL, logs) when max_conns is capped to the descriptor limit. */
#define RV_TCP_FD_RESERVE 64u

struct rv_tcp_fallback_params {
	uint32_t listen_ip;	       /* host order; 0 = any */
	uint16_t listen_port;	       /* host order; 0 = any free port (see _port()) */
	bool has_listen6;	       /* also listen on IPv6 (a separate socket) */
	uint8_t listen6_ip[16];	       /* network order; :: = any */
	uint16_t listen6_port;	       /* host order; 0 = the IPv4 listener's port */
	const char *cert_file;	       /* PEM certificate chain */
	const char *key_file;	       /* PEM private key */
	unsigned max_conns;	       /* 0 = RV_TCP_DEFAULT_MAX_CONNS */
	uint32_t out_max;	       /* 0 = RV_TCP_DEFAULT_OUT_MAX */
	uint32_t handshake_timeout_ms; /* TLS must be up by then; 0 = default (10 s) */
	uint32_t idle_timeout_ms;      /* see above; 0 = default (60 s) */
	uint32_t preauth_frame_max;    /* 0 = RV_TCP_DEFAULT_PREAUTH_MAX */
};

/* The hand-off to the workers: tcp_io.h's functions (rv_tcp_fallback_io_ops())
 * in the data plane; tests plug in their own. rx and tx_ring are required. */
struct rv_tcp_fallback_ops {
	int (*rx)(uint32_t conn_id, const uint8_t *frame, uint32_t len);
	struct rte_ring *(*tx_ring)(void);
	int (*tx_wakefd)(void); /* NULL or -1: the thread polls the ring every 1 ms */
	void (*tx_wake_ack)(void);
};

static inline struct rv_tcp_fallback_ops rv_tcp_fallback_io_ops(void)
{
	return (struct rv_tcp_fallback_ops){rv_tcp_io_rx, rv_tcp_io_tx_ring, rv_tcp_io_tx_wakefd,
					    rv_tcp_io_tx_wake_ack};
}

/* Counters (read from any thread; relaxed). */
struct rv_tcp_fallback_stats {
	uint64_t accepted, refused_full, closed, active;
	uint64_t refused_fds;	  /* accept() at the descriptor limit: closed at once */
	uint64_t tls_failed;	  /* handshake failed */
	uint64_t shed_handshake;  /* handshake not done within the timeout */
	uint64_t shed_idle;	  /* idle timeout */
	uint64_t shed_unauth;	  /* oldest unauthenticated, closed for a new one */
	uint64_t frames_oversize; /* unauthenticated frame of length 0 or > preauth max */
	uint64_t bad_length;	  /* connections closed for a frame length of 0 or > max */
	uint64_t max_conns;	  /* the cap in force (after the descriptor limit) */
	uint64_t frames_in, bytes_in;
	uint64_t frames_refused; /* rv_tcp_io_rx said no (no mbuf, ring full, bad header) */
	uint64_t frames_out, bytes_out;
	uint64_t out_dropped_slow; /* connection's output buffer full */
	uint64_t out_dropped_gone; /* connection closed or unknown */
};

/* roomvpn-dataplane config keys of the fallback: tcp-listen = A.B.C.D:PORT
 * (default 0.0.0.0:443), tcp-listen6 = [ADDR]:PORT, tcp-cert = FILE, tcp-key = FILE (PEM),
 * tcp-max-conns = N, tcp-out-max = BYTES, tcp-handshake-timeout = DUR,
 * tcp-idle-timeout = DUR, tcp-preauth-frame-max = BYTES. Returns 0 (taken), -1 (bad value,
 * message in @err) or -2 (not a tcp-* key). Strings are copied. */
int rv_tcp_fallback_config_key(struct rv_tcp_fallback_params *p, const char *key, const char *value,
			       char *err, size_t errlen);
#define RV_TCP_FALLBACK_CONFIG_HELP                                                                \
	"  tcp-listen = A.B.C.D:PORT  TCP fallback (TLS) address (default 0.0.0.0:443)\n"          \
	"  tcp-listen6 = [ADDR]:PORT  also listen on IPv6 ([::]:0 = any address, the\n"            \
	"                        IPv4 port; default: IPv4 only)\n"                                 \
	"  tcp-cert = FILE       TCP fallback certificate chain (PEM)\n"                           \
	"  tcp-key = FILE        TCP fallback private key (PEM)\n"                                 \
	"  tcp-max-conns = N     TCP fallback connections (default 1024; capped to the\n"          \
	"                        descriptor limit less 64)\n"                                      \
	"  tcp-out-max = BYTES   pending output per TCP connection (default 262144)\n"             \
	"  tcp-handshake-timeout = DUR  TLS handshake deadline (default 10s)\n"                    \
	"  tcp-idle-timeout = DUR  close a connection that receives nothing (default 60s;\n"       \
	"                        unauthenticated: that does not authenticate)\n"                   \
	"  tcp-preauth-frame-max = BYTES  frame limit before authentication (default 1628)\n"

/* Main thread: load the certificate, bind and listen, start the thread.
 * Returns 0, or -1 with a message (bad cert/key, port in use...). */
int rv_tcp_fallback_start(const struct rv_tcp_fallback_params *p,
			  const struct rv_tcp_fallback_ops *ops, char *err, size_t errlen);
/* Stop the thread and close every connection. Safe when not started. */
void rv_tcp_fallback_stop(void);
/* The bound port (host order), e.g. after listen_port 0. */
uint16_t rv_tcp_fallback_port(void);
void rv_tcp_fallback_read_stats(struct rv_tcp_fallback_stats *out);
/* True once rv_tcp_fallback_start() succeeded (and until _stop). */
int rv_tcp_fallback_running(void);

#endif
