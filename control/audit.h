/* The audit log: every mutating RPC and every login, stored under
 * "a/<time ns>/<seq>" (docs/store.md) and listed by AuditService.List;
 * refused logins in aggregate, old records pruned. */
#ifndef RV_AUDIT_H
#define RV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/audit.pb-c.h"

struct rv_store;

/* Creates the audit module over @ctl->store, sets ctl->audit and the
 * ctl->audit_record hook. 0, or -1 (out of memory). */
int rv_audit_init(struct rv_control *ctl);
void rv_audit_fini(struct rv_control *ctl);

/* Store one event (synced). Thread-safe. 0, or -1 on a store error. Refused
 * logins that come through ctl->audit_record are aggregated instead
 * (audit_refused.h, audit_refused_interval), unsynced. */
int rv_audit_record(struct rv_audit *a, const struct rv_audit_event *ev);

/* Adds the success record of the RPC of @ctx (its audit action, actor,
 * source and target as the server would record them) to @b, so that it is
 * written in the handler's own batch: one write round trip instead of two
 * on etcd. Once @b is committed the handler sets ctx->audited. Nothing is
 * added when the method is not audited or the audit log is off. 0, or -1
 * out of memory. */
struct rv_store_batch;
int rv_audit_batch_add(struct rv_rpc_ctx *ctx, struct rv_store_batch *b);

/* Deletes records older than @older_than_ns (0: none by age) and the oldest
 * beyond @max_records (0: no cap). The maintenance thread started by
 * rv_audit_init runs it with audit_retention_days / audit_max_records.
 * Returns the number deleted, or -1 on a store error. */
long rv_audit_prune(struct rv_audit *a, uint64_t older_than_ns, uint64_t max_records);

struct rv_audit_filter {
	const char *actor;  /* NULL/"": any */
	const char *action; /* NULL/"": any; "x." matches every "x.*" */
	uint64_t since_ns;  /* 0: no bound */
	uint64_t until_ns;  /* 0: no bound */
};

/* One page, oldest first. *out is a malloc'd array of @n records (free with
 * rv_audit_page_free); @next gets the token of the next page ("" if none).
 * Returns 0, -1 on a store error, -2 for a malformed page token. */
int rv_audit_list(struct rv_audit *a, const struct rv_audit_filter *f, uint32_t page_size,
		  const char *page_token, Roomvpn__V1__AuditRecord ***out, size_t *n, char *next,
		  size_t nextlen);
void rv_audit_page_free(Roomvpn__V1__AuditRecord **recs, size_t n);

/* AuditService.List (RV_SCOPE_ADMIN). */
grpc_status_code rv_audit_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
