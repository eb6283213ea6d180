/* Client of the data plane's agent socket (proto/dataplane.proto,
 * docs/dataplane-agent.md; framing from rvagent, shared/agent/): 4-byte
 * big-endian length + a serialized Request; one Response per Request, in
 * order. One connection per exchange, so a restarted data plane is simply
 * reached again on the next exchange. Only dp_sync.c's thread calls it. */
#ifndef RV_DPCLIENT_H
#define RV_DPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.pb-c.h"

/* Send @n requests on one connection to @sock_path, every Response's
 * verdict in @ok[i]: -1 only when the exchange itself failed (no data
 * plane, connection broken), with a message. */
int rv_dpclient_exchange_each(const char *sock_path, Roomvpn__Dataplane__V1__Request *const *reqs,
			      size_t n, bool *ok, char *err, size_t errlen);

/* ReadStats, with per-session stats when @sessions (large: ~300 bytes a
 * session). Returns the Response (free with
 * roomvpn__dataplane__v1__response__free_unpacked), or NULL with a message. */
Roomvpn__Dataplane__V1__Response *rv_dpclient_stats(const char *sock_path, bool sessions, char *err,
						    size_t errlen);
/* The same for any ReadStats @ask (e.g. a peer-id range), carrying @fence
 * (dp_owner.h; 0: none). */
Roomvpn__Dataplane__V1__Response *
rv_dpclient_read_stats(const char *sock_path, const Roomvpn__Dataplane__V1__ReadStats *ask,
		       uint64_t fence, char *err, size_t errlen);

#endif
