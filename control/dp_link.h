/* One data plane's agent connection, whatever carries it: the local unix
 * socket (dataplane_agent, one connection per exchange, as dpctl uses it)
 * or a mutual-TLS TCP connection a remote data plane dialled in on
 * (dp_link_tls.c). The sync code (dp_sync.c) and the fleet (fleet.c) talk
 * to every data plane through this interface only. A link is reference
 * counted: whoever keeps the pointer holds a reference.
 *
 * Exchange contract (as rv_dpclient_exchange_each): @n Requests, one
 * Response each, in order; @ok[i] is each Response's verdict; -1 with a
 * message only when the exchange itself failed (peer gone, broken
 * connection, timeout). Calls on one link are serialized by the link. */
#ifndef RV_DP_LINK_H
#define RV_DP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.pb-c.h"

#define RV_DP_NAME_MAX 64

/* What a data plane announces (Register) or the config says of it. */
struct rv_dp_info {
	char name[RV_DP_NAME_MAX];	/* unique in the fleet, [A-Za-z0-9._-] */
	char udp_endpoint[128];		/* "host:port" clients are told */
	char tcp_endpoint[128];		/* "host:port" of the TCP fallback */
	uint32_t workers, max_sessions; /* capacity */
	char labels[256];		/* "k=v,k=v", e.g. "site=fra1" */
	char version[32];
};

struct rv_dp_link;

struct rv_dp_link_ops {
	int (*exchange_each)(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			     size_t n, bool *ok, char *err, size_t errlen);
	/* ReadStats @ask carrying @fence (free the answer with
	 * ..._response__free_unpacked) */
	Roomvpn__Dataplane__V1__Response *(*stats)(struct rv_dp_link *l,
						   const Roomvpn__Dataplane__V1__ReadStats *ask,
						   uint64_t fence, char *err, size_t errlen);
	void (*close)(struct rv_dp_link *l); /* break the connection (revocation) */
	void (*free)(struct rv_dp_link *l);
};

struct rv_dp_link {
	const struct rv_dp_link_ops *ops;
	_Atomic int refs;
	char describe[160]; /* "unix:/run/roomvpn/dataplane.sock", "tls:10.0.0.2:40022 (fra1)" */
	void *impl;
};

/* The local unix-socket link (dp_link.c). NULL only when out of memory. */
struct rv_dp_link *rv_dp_link_local(const char *sock_path);

void rv_dp_link_ref(struct rv_dp_link *l);
void rv_dp_link_unref(struct rv_dp_link *l);

/* Thin wrappers over ops, and the one gate of data-plane ownership
 * (dp_owner.h): while this replica is not the owner nothing is sent (-1 or
 * NULL, saying who is); the owner's requests carry its fence. */
int rv_dp_link_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			     size_t n, bool *ok, char *err, size_t errlen);
/* Every Response must say STATUS_OK: else -1 naming the first refusal. */
int rv_dp_link_exchange(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			size_t n, char *err, size_t errlen);
Roomvpn__Dataplane__V1__Response *rv_dp_link_stats(struct rv_dp_link *l, bool sessions, char *err,
						   size_t errlen);
/* Every session's stats read in pages of peer-id ranges, sized for about
 * @expect sessions (the link is free for other exchanges between pages),
 * merged into one Response; NULL with a message if a page failed. */
Roomvpn__Dataplane__V1__Response *rv_dp_link_stats_paged(struct rv_dp_link *l, uint32_t expect,
							 char *err, size_t errlen);
void rv_dp_link_close(struct rv_dp_link *l);

#endif
