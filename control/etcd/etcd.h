/* An etcd v3 client over the grpc core C API: unary calls with a deadline
 * and failover across the cluster's endpoints (client.c), leases with a
 * keep-alive thread (lease.c) and watches on a bidirectional stream
 * (watch.c). Mutual TLS: a CA to check the servers and a client key pair.
 * Thread-safe: any thread may call; each call has its own completion queue.
 * docs/etcd.md. */
#ifndef RV_ETCD_H
#define RV_ETCD_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/rpc.pb-c.h"

#define RV_ETCD_MAX_ENDPOINTS 16

struct rv_etcd;

struct rv_etcd_config {
	const char *endpoints; /* "https://h1:2379,https://h2:2379" */
	const char *ca;	       /* PEM file: the CA that signed the servers */
	const char *cert;      /* PEM file: our client certificate */
	const char *key;       /* PEM file: its key */
	uint32_t timeout_ms;   /* per call attempt; 0: 5,000 */
};

/* Connects to every endpoint and checks that one answers (Maintenance
 * Status) within the timeout: a clear error when none does or the
 * certificates are refused. Returns 0, or -1 with a message in @err. */
int rv_etcd_open(const struct rv_etcd_config *cfg, struct rv_etcd **out, char *err, size_t errlen);
void rv_etcd_close(struct rv_etcd *e);
/* Before stopping the threads that use @e: every call in flight is
 * cancelled (it returns CANCELLED at once instead of riding out a dead
 * member or a frozen cluster for up to 15 s), and later calls get one
 * attempt of at most 1 s (a best-effort lease revoke on the way out). */
void rv_etcd_shutdown(struct rv_etcd *e);

/* One unary call (@path like "/etcdserverpb.KV/Put"). On UNAVAILABLE (a
 * member down, no leader, the leader changed) the call moves to the next
 * endpoint and is retried until it succeeds or about 10 s have passed.
 * Returns GRPC_STATUS_OK with *resp set (free with
 * protobuf_c_message_free_unpacked), or the status with a message in @err. */
grpc_status_code rv_etcd_call(struct rv_etcd *e, const char *path, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			      char *err, size_t errlen);

/* The Maintenance Status of the member at endpoint @i (no failover):
 * member id, leader id. Returns 0 or -1. */
int rv_etcd_status(struct rv_etcd *e, unsigned i, uint64_t *member, uint64_t *leader, char *err,
		   size_t errlen);
unsigned rv_etcd_endpoint_count(const struct rv_etcd *e);

/* ---- leases (lease.c) ---- */

/* Grants a lease of @ttl_s seconds into *id. 0 or -1. */
int rv_etcd_lease_grant(struct rv_etcd *e, int64_t ttl_s, int64_t *id, char *err, size_t errlen);
/* Revokes @id: every key attached to it is deleted. 0 or -1. */
int rv_etcd_lease_revoke(struct rv_etcd *e, int64_t id, char *err, size_t errlen);
/* One keep-alive: *ttl_s is the remaining TTL, 0 when the lease is gone. */
int rv_etcd_lease_keepalive_once(struct rv_etcd *e, int64_t id, int64_t *ttl_s, char *err,
				 size_t errlen);

/* A thread that renews lease @id every @interval_ms; @on_lost (may be NULL)
 * is called once, from that thread, when the lease is found expired or
 * cannot be renewed for longer than @ttl_s; the thread then ends. */
struct rv_etcd_keepalive;
typedef void (*rv_etcd_lease_lost_cb)(void *arg, int64_t id);
struct rv_etcd_keepalive *rv_etcd_keepalive_start(struct rv_etcd *e, int64_t id, int64_t ttl_s,
						  uint32_t interval_ms,
						  rv_etcd_lease_lost_cb on_lost, void *arg);
/* Renewals that succeeded so far. */
uint64_t rv_etcd_keepalive_renewals(struct rv_etcd_keepalive *k);
/* Waits until @n renewals have succeeded, up to @timeout_ms; true if so. */
bool rv_etcd_keepalive_wait(struct rv_etcd_keepalive *k, uint64_t n, uint32_t timeout_ms);
void rv_etcd_keepalive_stop(struct rv_etcd_keepalive *k);

/* ---- watches (watch.c) ---- */

enum rv_etcd_event_type { RV_ETCD_PUT, RV_ETCD_DELETE };
/* Called from the watch's thread, one event at a time, in revision order. */
typedef void (*rv_etcd_watch_cb)(void *arg, enum rv_etcd_event_type type, const void *key,
				 size_t klen, const void *val, size_t vlen, int64_t revision);
struct rv_etcd_watch;
/* Watches every key starting with @prefix, from @start_revision (0: now).
 * A broken stream is reopened on the next endpoint from the revision after
 * the last event delivered, so no event is lost or repeated. If etcd
 * cancels the watch (its revision was compacted) the watch ends with a
 * message on stderr: the caller must re-read and watch again. Returns NULL
 * with a message in @err when the first stream cannot be created. */
struct rv_etcd_watch *rv_etcd_watch_start(struct rv_etcd *e, const void *prefix, size_t plen,
					  int64_t start_revision, rv_etcd_watch_cb cb, void *arg,
					  char *err, size_t errlen);
void rv_etcd_watch_stop(struct rv_etcd_watch *w);

/* The end of the range of keys starting with @prefix (etcd's range_end):
 * @prefix with its last byte below 0xff incremented; "\0" (all keys) when
 * there is none. Writes into @out (size >= plen, or 1) and returns the length. */
size_t rv_etcd_prefix_end(const void *prefix, size_t plen, uint8_t *out);

#endif
