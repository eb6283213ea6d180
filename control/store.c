/* The store interface (store.h) over a backend table (store_backend.h):
 * opening by URI, the schema version and its migrations, the write batch
 * (a list of operations the backend commits at once) and the operation
 * counters. Backends: store_rocksdb.c, store_etcd.c. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_backend.h"

#define SCHEMA_KEY     "meta/schema"
#define SCHEMA_VERSION 1

struct rv_store {
	const struct rv_store_backend *be;
	void *impl;
	char name[600]; /* "store /var/lib/roomvpn/db", "etcd https://..." for errors */
	atomic_uint_fast64_t n_gets, n_scans, n_writes; /* rv_store_ops */
	bool trace; /* RV_STORE_TRACE=1: every operation and its key on stderr */
};

/* The round trips of an RPC, key by key (docs/etcd.md uses it). */
static void trace(struct rv_store *s, const char *op, const void *key, size_t klen)
{
	if (s->trace)
		fprintf(stderr, "store %s %.*s\n", op, (int)klen, (const char *)key);
}

static int first_key_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	*(bool *)arg = true;
	return 1;
}

static int store_is_empty(struct rv_store *s, bool *empty)
{
	bool any = false;
	if (s->be->scan(s->impl, "", 0, NULL, 0, first_key_cb, &any) < 0)
		return -1;
	*empty = !any;
	return 0;
}

/* Schema migrations: migrations[i] brings a store from version i + 1 to
 * i + 2, each in one batch with the new version number, so that a crash
 * leaves the store at one version or the next. Version 1 is the first
 * (every store written so far); none is needed yet. */
typedef int (*migration_fn)(struct rv_store *s, struct rv_store_batch *b, char *err, size_t errlen);
static const migration_fn migrations[SCHEMA_VERSION] = {NULL};

static int migrate(struct rv_store *s, int from, char *err, size_t errlen)
{
	for (int v = from; v < SCHEMA_VERSION; v++) {
		struct rv_store_batch *b = rv_store_batch_new();
		char num[16];
		int n = snprintf(num, sizeof(num), "%d", v + 1);
		if (!b || !migrations[v - 1] || migrations[v - 1](s, b, err, errlen) < 0) {
			rv_store_batch_free(b);
			return -1;
		}
		rv_store_batch_put(b, SCHEMA_KEY, strlen(SCHEMA_KEY), num, (size_t)n);
		int rc = rv_store_batch_commit(s, b, true);
		rv_store_batch_free(b);
		if (rc < 0) {
			snprintf(err, errlen, "%s: migration to version %d failed", s->name, v + 1);
			return -1;
		}
		fprintf(stderr, "roomvpn-control: %s migrated to schema version %d\n", s->name,
			v + 1);
	}
	return 0;
}

/* A new database gets the current version; an existing one must carry it
 * (an older one is migrated, a newer one refused). */
static int check_schema(struct rv_store *s, char *err, size_t errlen)
{
	void *val;
	size_t vlen;
	int rc = rv_store_get(s, SCHEMA_KEY, strlen(SCHEMA_KEY), &val, &vlen);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read the schema version", s->name);
		return -1;
	}
	if (rc == 1) {
		bool empty;
		if (store_is_empty(s, &empty) < 0) {
			snprintf(err, errlen, "%s: cannot read", s->name);
			return -1;
		}
		if (!empty) {
			snprintf(err, errlen,
				 "%s has data but no schema version key (%s): not a "
				 "roomvpn-control database?",
				 s->name, SCHEMA_KEY);
			return -1;
		}
		char v[16];
		int n = snprintf(v, sizeof(v), "%d", SCHEMA_VERSION);
		if (rv_store_put(s, SCHEMA_KEY, strlen(SCHEMA_KEY), v, (size_t)n, true) < 0) {
			snprintf(err, errlen, "%s: cannot write the schema version", s->name);
			return -1;
		}
		return 0;
	}
	char v[16] = {0};
	memcpy(v, val, vlen < sizeof(v) - 1 ? vlen : sizeof(v) - 1);
	free(val);
	char *end;
	long got = strtol(v, &end, 10);
	if (end == v || *end != '\0' || got < 1) {
		snprintf(err, errlen, "%s: schema version '%s' is not a number", s->name, v);
		return -1;
	}
	if (got > SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s has schema version '%s', written by a newer roomvpn-control; "
			 "this one understands version %d and older: run the newer version, or "
			 "restore the backup taken before the upgrade (docs/operations.md)",
			 s->name, v, SCHEMA_VERSION);
		return -1;
	}
	return migrate(s, (int)got, err, errlen);
}

static int wrap(const struct rv_store_backend *be, void *impl, const char *name,
		struct rv_store **out, char *err, size_t errlen)
{
	struct rv_store *s = calloc(1, sizeof(*s));
	if (!s) {
		be->close(impl);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->be = be;
	s->impl = impl;
	s->trace = getenv("RV_STORE_TRACE") && !strcmp(getenv("RV_STORE_TRACE"), "1");
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (check_schema(s, err, errlen) < 0) {
		rv_store_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

int rv_store_open(const char *dir, struct rv_store **out, char *err, size_t errlen)
{
	void *impl;
	char name[600];

	if (rv_store_rocksdb_open(dir, &impl, err, errlen) < 0)
		return -1;
	snprintf(name, sizeof(name), "store %s", dir);
	return wrap(&rv_store_rocksdb_backend, impl, name, out, err, errlen);
}

int rv_store_open_uri(const char *uri, const struct rv_store_etcd_tls *tls, struct rv_store **out,
		      char *err, size_t errlen)
{
	void *impl;
	char name[600];

	if (!strncmp(uri, "rocksdb:", 8)) {
		char dir[560];
		if (!uri[8] || snprintf(dir, sizeof(dir), "%s/db", uri + 8) >= (int)sizeof(dir)) {
			snprintf(err, errlen, "store %s: want rocksdb:DIR", uri);
			return -1;
		}
		if (mkdir(uri + 8, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "store %s: mkdir %s: %s", uri, uri + 8,
				 strerror(errno));
			return -1;
		}
		return rv_store_open(dir, out, err, errlen);
	}
	if (!strncmp(uri, "etcd:", 5)) {
		static const struct rv_store_etcd_tls none = {0};
		if (rv_store_etcd_open(uri + 5, tls ? tls : &none, &impl, err, errlen) < 0)
			return -1;
		snprintf(name, sizeof(name), "etcd %s", uri + 5);
		return wrap(&rv_store_etcd_backend, impl, name, out, err, errlen);
	}
	snprintf(err, errlen, "store '%s': want rocksdb:DIR or etcd:https://host:port,...", uri);
	return -1;
}

void rv_store_close(struct rv_store *s)
{
	if (!s)
		return;
	s->be->close(s->impl);
	free(s);
}

const char *rv_store_backend_name(const struct rv_store *s)
{
	return s->be->name;
}

int rv_store_get(struct rv_store *s, const void *key, size_t klen, void **val, size_t *vlen)
{
	atomic_fetch_add_explicit(&s->n_gets, 1, memory_order_relaxed);
	trace(s, "get", key, klen);
	return s->be->get(s->impl, key, klen, val, vlen);
}

int rv_store_get_many(struct rv_store *s, struct rv_store_read *r, size_t n)
{
	atomic_fetch_add_explicit(&s->n_gets, 1, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		trace(s, "get-many", r[i].key, r[i].klen);
		r[i].found = false;
		r[i].val = NULL;
		r[i].vlen = 0;
	}
	if (n > RV_STORE_BATCH_MAX) {
		fprintf(stderr,
			"roomvpn-control: %s: a read of %zu keys at once refused (at most %d)\n",
			s->name, n, RV_STORE_BATCH_MAX);
		return -1;
	}
	return n ? s->be->get_many(s->impl, r, n) : 0;
}

void rv_store_reads_free(struct rv_store_read *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].val);
		r[i].val = NULL;
		r[i].found = false;
	}
}

bool rv_store_shared(const struct rv_store *s)
{
	return s->be->shared;
}

int rv_store_put(struct rv_store *s, const void *key, size_t klen, const void *val, size_t vlen,
		 bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	trace(s, "put", key, klen);
	return s->be->put(s->impl, key, klen, val, vlen, sync);
}

int rv_store_delete(struct rv_store *s, const void *key, size_t klen, bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	trace(s, "delete", key, klen);
	return s->be->del(s->impl, key, klen, sync);
}

int rv_store_sync(struct rv_store *s)
{
	return s->be->sync(s->impl);
}

int rv_store_scan_prefix(struct rv_store *s, const void *prefix, size_t plen,
			 const void *start_after, size_t salen, rv_store_scan_cb cb, void *arg)
{
	atomic_fetch_add_explicit(&s->n_scans, 1, memory_order_relaxed);
	trace(s, "scan", prefix, plen);
	return s->be->scan(s->impl, prefix, plen, start_after, salen, cb, arg);
}

int rv_store_count_prefix(struct rv_store *s, const void *prefix, size_t plen, uint64_t *n)
{
	atomic_fetch_add_explicit(&s->n_scans, 1, memory_order_relaxed);
	trace(s, "count", prefix, plen);
	return s->be->count(s->impl, prefix, plen, n);
}

struct rv_store_batch *rv_store_batch_new(void)
{
	return calloc(1, sizeof(struct rv_store_batch));
}

static void add_op(struct rv_store_batch *b, enum rv_store_op_kind kind, const void *key,
		   size_t klen, const void *val, size_t vlen)
{
	if (b->oom)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct rv_store_op *ops = realloc(b->ops, cap * sizeof(*ops));
		if (!ops) {
			b->oom = true;
			return;
		}
		b->ops = ops;
		b->cap = cap;
	}
	struct rv_store_op *op = &b->ops[b->n];
	op->kind = kind;
	op->klen = klen;
	op->vlen = val ? vlen : 0;
	op->key = malloc(klen ? klen : 1);
	op->val = val ? malloc(vlen ? vlen : 1) : NULL;
	if (!op->key || (val && !op->val)) {
		free(op->key);
		free(op->val);
		b->oom = true;
		return;
	}
	memcpy(op->key, key, klen);
	if (val)
		memcpy(op->val, val, vlen);
	b->n++;
	b->n_expect += kind == RV_STORE_OP_EXPECT;
}

void rv_store_batch_put(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			size_t vlen)
{
	add_op(b, RV_STORE_OP_PUT, key, klen, val ? val : "", val ? vlen : 0);
}

void rv_store_batch_delete(struct rv_store_batch *b, const void *key, size_t klen)
{
	add_op(b, RV_STORE_OP_DELETE, key, klen, NULL, 0);
}

void rv_store_batch_expect(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			   size_t vlen)
{
	add_op(b, RV_STORE_OP_EXPECT, key, klen, val, vlen);
}

int rv_store_batch_commit(struct rv_store *s, struct rv_store_batch *b, bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	if (b->oom)
		return -1;
	for (size_t i = 0; s->trace && i < b->n; i++)
		trace(s,
		      b->ops[i].kind == RV_STORE_OP_EXPECT ? "batch-expect"
		      : b->ops[i].kind == RV_STORE_OP_PUT  ? "batch-put"
							   : "batch-delete",
		      b->ops[i].key, b->ops[i].klen);
	return s->be->commit(s->impl, b, sync);
}

void rv_store_batch_free(struct rv_store_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->ops[i].key);
		free(b->ops[i].val);
	}
	free(b->ops);
	free(b);
}

void rv_store_ops(struct rv_store *s, struct rv_store_ops *out)
{
	out->gets = atomic_load_explicit(&s->n_gets, memory_order_relaxed);
	out->scans = atomic_load_explicit(&s->n_scans, memory_order_relaxed);
	out->writes = atomic_load_explicit(&s->n_writes, memory_order_relaxed);
}

int rv_store_schema_version(void)
{
	return SCHEMA_VERSION;
}

int rv_store_checkpoint(struct rv_store *s, const char *dir, char *err, size_t errlen)
{
	if (!s->be->checkpoint) {
		snprintf(err, errlen,
			 "%s: no checkpoint on the %s backend (take an etcd snapshot: etcdctl "
			 "snapshot save, docs/etcd.md)",
			 s->name, s->be->name);
		return -1;
	}
	return s->be->checkpoint(s->impl, dir, err, errlen);
}
