/* The tunnel-records queue (replica_queue.h): the peer-ids in FIFO order,
 * and their ops in an open-addressing table by peer-id (linear probing,
 * deletion by moving back the rest of the probe run: no tombstones), so
 * that a newer op finds the queued one of its peer-id and merges into it.
 * The queue thus holds one op per tunnel (or per gone tunnel whose delete
 * waits), whatever the rate of changes while etcd is unreachable. */
#include "replica_queue.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "control.h"
#include "log.h"

/* A full queue is logged at most once per interval. */
#define DROP_LOG_NS (10ull * 1000000000ull)

void rv_replica_queue_op_free(struct rv_record_op *op)
{
	if (op->val) {
		OPENSSL_cleanse(op->val, op->vlen);
		free(op->val);
		op->val = NULL;
	}
}

static size_t slot_hash(const struct rv_replica_queue *q, uint32_t peer_id)
{
	return (size_t)(((uint64_t)peer_id * 0x9E3779B97F4A7C15ull) >> 32) & (q->tab_size - 1);
}

/* The slot of @peer_id's op, or the empty slot where it would go. */
static struct rv_record_op *slot(struct rv_replica_queue *q, uint32_t peer_id)
{
	size_t i = slot_hash(q, peer_id);
	while (q->tab[i].kind != RV_RECORD_NONE && q->tab[i].peer_id != peer_id)
		i = (i + 1) & (q->tab_size - 1);
	return &q->tab[i];
}

/* Room for one more op: the table at most half full. */
static bool tab_reserve(struct rv_replica_queue *q)
{
	if (q->tab_size && 2 * (q->count + 1) <= q->tab_size)
		return true;
	struct rv_record_op *old = q->tab;
	size_t old_size = q->tab_size, size = old_size ? old_size * 2 : 1024;
	struct rv_record_op *tab = calloc(size, sizeof(*tab));
	if (!tab)
		return false;
	q->tab = tab;
	q->tab_size = size;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].kind != RV_RECORD_NONE)
			*slot(q, old[i].peer_id) = old[i];
	free(old);
	return true;
}

/* Empties @s, moving back the ops of its probe run (no tombstones). */
static void tab_remove(struct rv_replica_queue *q, struct rv_record_op *s)
{
	size_t mask = q->tab_size - 1, i = (size_t)(s - q->tab), j = i;

	s->kind = RV_RECORD_NONE;
	q->count--;
	for (;;) {
		j = (j + 1) & mask;
		if (q->tab[j].kind == RV_RECORD_NONE)
			return;
		size_t home = slot_hash(q, q->tab[j].peer_id);
		/* q->tab[j] may move to i unless its home lies in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		q->tab[i] = q->tab[j];
		q->tab[j].kind = RV_RECORD_NONE;
		i = j;
	}
}

static bool fifo_push(struct rv_replica_queue *q, uint32_t peer_id)
{
	if (q->head && q->head == q->n)
		q->head = q->n = 0;
	if (q->n == q->cap) {
		if (q->head) { /* reuse the consumed front */
			memmove(q->fifo, q->fifo + q->head, (q->n - q->head) * sizeof(*q->fifo));
			q->n -= q->head;
			q->head = 0;
		}
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 1024;
			uint32_t *fifo = realloc(q->fifo, cap * sizeof(*fifo));
			if (!fifo)
				return false;
			q->fifo = fifo;
			q->cap = cap;
		}
	}
	q->fifo[q->n++] = peer_id;
	return true;
}

/* The one op with the effect of @first then @then (same peer-id; the
 * other's value freed). false: two claims, @then is refused. A claim
 * absorbs what follows it (it writes the tunnel as it is then, under the
 * lease of then) and replaces what precedes it. */
static bool combine(struct rv_record_op *first, struct rv_record_op *then, struct rv_record_op *out)
{
	struct rv_record_op keep = *then;

	if (first->kind == RV_RECORD_CLAIM && then->kind == RV_RECORD_CLAIM)
		return false;
	if (first->kind == RV_RECORD_CLAIM) {
		keep = *first;
		rv_replica_queue_op_free(then);
	} else if (then->kind == RV_RECORD_CLAIM || then->kind == RV_RECORD_FORCE ||
		   (first->kind == RV_RECORD_CHANGED && then->kind == RV_RECORD_CHANGED)) {
		rv_replica_queue_op_free(first);
	} else if (then->kind == RV_RECORD_FORCE_NOW) { /* its record is the newer */
		rv_replica_queue_op_free(first);
	} else { /* a FORCE or FORCE_NOW, then a CHANGED: the FORCE's record kept */
		keep = *first;
		keep.kind = RV_RECORD_FORCE_NOW;
		rv_replica_queue_op_free(then);
	}
	*out = keep;
	return true;
}

void rv_replica_queue_refuse(struct rv_replica_queue *q, struct rv_record_op *op, const char *why)
{
	uint64_t now = rv_control_now_mono();

	q->dropped++;
	if (op->w) {
		op->w->rc = -1;
		op->w->done = true;
	}
	rv_replica_queue_op_free(op);
	if (q->logged_ns && now - q->logged_ns < DROP_LOG_NS)
		return;
	rv_log(RV_LOG_WARN,
	       "tunnel records: %s (%zu pending, at most %zu): %llu record change(s) refused "
	       "since the last report (roomvpn_control_replica_records_dropped_total); "
	       "after a new lease every tunnel is published again",
	       why, q->count, q->max, (unsigned long long)(q->dropped - q->dropped_logged));
	q->logged_ns = now;
	q->dropped_logged = q->dropped;
}

bool rv_replica_queue_push(struct rv_replica_queue *q, struct rv_record_op op, bool again)
{
	struct rv_record_op *s = q->tab_size ? slot(q, op.peer_id) : NULL;

	if (s && s->kind != RV_RECORD_NONE) {
		bool ok = again ? combine(&op, s, s) : combine(s, &op, s);
		if (!ok)
			rv_replica_queue_refuse(q, &op, "a second claim of a queued peer-id");
		return ok;
	}
	if (!again && q->count >= q->max) {
		rv_replica_queue_refuse(q, &op, "queue full, etcd unreachable or slow");
		return false;
	}
	if (!tab_reserve(q) || !fifo_push(q, op.peer_id)) {
		rv_replica_queue_refuse(q, &op, "out of memory");
		return false;
	}
	*slot(q, op.peer_id) = op;
	q->count++;
	return true;
}

size_t rv_replica_queue_take(struct rv_replica_queue *q, struct rv_record_op *out, size_t max)
{
	size_t k = 0;

	while (q->head < q->n && k < max) {
		struct rv_record_op *s = slot(q, q->fifo[q->head++]);
		out[k++] = *s;
		tab_remove(q, s);
	}
	return k;
}

void rv_replica_queue_clear(struct rv_replica_queue *q)
{
	while (q->head < q->n) {
		struct rv_record_op *s = slot(q, q->fifo[q->head++]);
		if (s->w) {
			s->w->rc = -1;
			s->w->done = true;
		}
		rv_replica_queue_op_free(s);
		tab_remove(q, s);
	}
	free(q->fifo);
	free(q->tab);
	q->fifo = NULL;
	q->tab = NULL;
	q->head = q->n = q->cap = q->tab_size = q->count = 0;
}
