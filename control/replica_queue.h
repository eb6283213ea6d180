/* The tunnel-records thread's queue (replica_records.c; replica.h): at most
 * one pending op per peer-id, in FIFO order, bounded. Not locked: the
 * caller holds its own mutex around every call. */
#ifndef RV_REPLICA_QUEUE_H
#define RV_REPLICA_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a record op does (replica_records.c writes it):
 * CLAIM     a new tunnel: put if absent; a thread waits for the answer
 * CHANGED   put as the registry holds the tunnel then, if ours or absent;
 *           a gone tunnel: delete if ours
 * FORCE     put the record as it was when queued, unconditionally
 * FORCE_NOW a FORCE then a CHANGED, unconditionally: put as the registry
 *           holds the tunnel then; another replica's tunnel now: put the
 *           FORCE's record; a gone tunnel (a takeover then an End): put the
 *           FORCE's record, then a CHANGED (delete if ours) in the next
 *           write, so that the other replicas see the takeover first */
enum rv_record_kind {
	RV_RECORD_NONE, /* an empty slot */
	RV_RECORD_CLAIM,
	RV_RECORD_CHANGED,
	RV_RECORD_FORCE,
	RV_RECORD_FORCE_NOW
};

/* A claim's waiting thread: rc (0, RV_STORE_CONFLICT, -1) once done. */
struct rv_record_waiter {
	int rc;
	bool done;
};

struct rv_record_op {
	enum rv_record_kind kind;
	uint32_t peer_id;
	struct rv_record_waiter *w; /* CLAIM */
	uint8_t *val;		    /* FORCE, FORCE_NOW: the record as it was when queued */
	size_t vlen;
};

struct rv_replica_queue {
	uint32_t *fifo; /* the queued peer-ids in order: fifo[head..n) */
	size_t head, n, cap;
	struct rv_record_op *tab; /* their ops, open addressing by peer-id */
	size_t tab_size, count;
	size_t max; /* count at most (set by the owner) */
	uint64_t dropped, dropped_logged, logged_ns;
};

/* @op's record value wiped and freed. */
void rv_replica_queue_op_free(struct rv_record_op *op);
/* Queues @op, or merges it into the queued op of its peer-id, which keeps
 * its place (the last state wins, a tunnel's order is kept). @again: @op
 * is a failed write's, older than a queued op of its peer-id, and may pass
 * q->max (by the batch it came from). false: refused, as by
 * rv_replica_queue_refuse. */
bool rv_replica_queue_push(struct rv_replica_queue *q, struct rv_record_op op, bool again);
/* A refused @op: counted in q->dropped, logged at most every 10 s, its
 * waiter answered -1, its value freed. */
void rv_replica_queue_refuse(struct rv_replica_queue *q, struct rv_record_op *op, const char *why);
/* Up to @max ops from the front into @out (distinct peer-ids). */
size_t rv_replica_queue_take(struct rv_replica_queue *q, struct rv_record_op *out, size_t max);
/* Every queued op dropped (a claim answered -1) and the memory freed;
 * q->dropped is kept. */
void rv_replica_queue_clear(struct rv_replica_queue *q);

#endif
