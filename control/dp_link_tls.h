/* Remote data planes: the listener on `dataplane_listen` that data planes
 * dial with mutual TLS (OpenSSL; certificates from the fleet CA, dp_ca.h),
 * and the rv_dp_link each accepted one becomes (dp_link.h).
 *
 * A connection is accepted when the TLS handshake verifies the data plane's
 * client certificate against the fleet CA, its name (CN) is not revoked,
 * and its first message, a Register (proto/dataplane.proto), names the same
 * data plane; then the control plane sends Requests on it exactly as on the
 * unix socket. Everything else is refused with a reason in the log
 * (at most 10 lines a second) and the connection closed.
 *
 * Threads: one listener thread owns the connections: it accepts, runs the
 * handshakes (non-blocking, `dataplane_handshake_timeout`), notices broken
 * or revoked links and calls the callbacks. Exchanges run on the caller's
 * thread, one at a time per link (its mutex), bounded by
 * `dataplane_exchange_timeout`; an exchange that fails breaks the link
 * (a late answer would be taken for the next one's) and the listener then
 * reports it down. */
#ifndef RV_DP_LINK_TLS_H
#define RV_DP_LINK_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "dp_link.h"

/* A data plane registered. @link is borrowed: rv_dp_link_ref() it to keep
 * it beyond the call. Runs on the listener thread: do not block long, do
 * not call rv_dp_links_stop(). */
typedef void (*rv_dp_link_up_fn)(void *arg, struct rv_dp_link *link, const struct rv_dp_info *info);
/* @link (announced by on_up) is gone: exchanges on it fail from now on.
 * Called once per link, on the listener thread, @why says what happened
 * ("connection closed by the data plane", "certificate revoked", "replaced
 * by a new connection from ...", "control plane stopping", an exchange's
 * error). */
typedef void (*rv_dp_link_down_fn)(void *arg, struct rv_dp_link *link, const char *why);

/* Start the listener on ctl->cfg.dp_listen (empty: nothing to do, 0). The
 * fleet CA and the listener's certificate are created on first use.
 * Returns 0, or -1 with a message (bad address, port in use, CA files). */
int rv_dp_links_start(struct rv_control *ctl, rv_dp_link_up_fn on_up, rv_dp_link_down_fn on_down,
		      void *arg, char *err, size_t errlen);
/* The bound port (after a listen port 0), 0 when not listening. */
int rv_dp_links_port(void);
/* Close every connection (on_down "control plane stopping" for each link),
 * stop the thread. Safe when not started. */
void rv_dp_links_stop(void);

#endif

/* ----- for the listener (dp_links.c) ----- */
typedef struct ssl_st SSL;
/* A link over an accepted, registered connection (takes @ssl and @fd; one
 * reference). NULL when out of memory. */
struct rv_dp_link *rv_dp_link_tls_new(SSL *ssl, int fd, const char *name, const char *peer,
				      uint64_t timeout_ns);
/* Break the connection (any thread); the first reason is kept. */
void rv_dp_link_tls_break(struct rv_dp_link *l, const char *why);
bool rv_dp_link_tls_broken(struct rv_dp_link *l);
/* Listener thread: free the SSL and close the fd; @out gets the reason the
 * link went down (the first one given). Without @wait, -1 if an exchange
 * holds the link (it will fail soon: the connection is broken). */
int rv_dp_link_tls_teardown(struct rv_dp_link *l, const char *why, bool wait, char *out,
			    size_t len);
