/* Connections of the gRPC listener: a cap on live connections (the oldest
 * connection that has not carried an authenticated call is shut down first
 * when a new one arrives at the cap), and an accept that survives EMFILE.
 *
 * grpc core 1.51 owns the listening socket and stops accepting for good
 * when accept4() fails with EMFILE (the listener is not re-armed), and
 * grpc_server_add_channel_from_fd() takes only insecure credentials, so the
 * accept cannot move out of grpc. Instead this module defines accept4():
 * libgrpc's call resolves to it (the executable's definition comes first),
 * and for the sockets named by rv_listener_watch() it admits each new
 * connection against the cap and turns EMFILE into "drop one pending
 * connection through a reserve descriptor" instead of an error. Every other
 * caller goes straight to the system call. */
#ifndef RV_LISTENER_H
#define RV_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft
 * limit (the old one if it cannot be raised). */
uint64_t rv_listener_raise_nofile(void);
/* The default connection cap for @nofile descriptors: a quarter (at least
 * 64) stays free for the store, the metrics server and the data plane. */
unsigned rv_listener_default_cap(uint64_t nofile);
/* Starts watching the listening sockets bound to TCP @port (found among
 * this process's descriptors) with at most @cap live connections.
 * 0, or -1 when no such socket exists or memory is short. */
int rv_listener_watch(int port, unsigned cap);
/* Stops watching (accepts pass straight through again). */
void rv_listener_unwatch(void);
/* grpc's peer string with its URI escapes undone: grpc writes an IPv6 peer
 * "ipv6:%5B::1%5D:5"; this gives "ipv6:[::1]:5", the form every user of a
 * call's peer reads (this module, the login limiter, audit, logs). */
void rv_listener_peer_text(const char *grpc_peer, char *out, size_t len);
/* A call from @peer (rv_listener_peer_text's form, "ipv4:1.2.3.4:5" / "ipv6:[::1]:5")
 * passed its token check: its connection is no longer the first to go. */
void rv_listener_authenticated(const char *peer);

struct rv_listener_stats {
	uint64_t live;	  /* connections counted against the cap */
	uint64_t cap;	  /* the cap (0: not watching) */
	uint64_t evicted; /* connections shut down to make room */
	uint64_t refused; /* new connections closed at once (cap full of
			     authenticated ones, or no descriptor left) */
};
void rv_listener_stats(struct rv_listener_stats *st);

#endif
