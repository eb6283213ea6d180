/* The control plane's key-value store interface, with two backends behind
 * a small table of operations (store_backend.h): RocksDB in a local
 * directory (store_rocksdb.c) and an etcd cluster (store_etcd.c). store.c
 * holds what both share: the batch, the schema version, the counters.
 * Key layout: docs/store.md; etcd: docs/etcd.md. */
#ifndef RV_STORE_H
#define RV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rv_store;
struct rv_store_batch;

/* rv_store_batch_commit: an expectation (rv_store_batch_expect) did not
 * hold; nothing was written. */
#define RV_STORE_CONFLICT (-2)
/* The most operations (puts, deletes and expectations) one batch may carry
 * on etcd: its default --max-txn-ops. The etcd backend refuses a larger
 * batch (-1 and a message naming the limit) rather than split what must be
 * atomic; RocksDB has no limit. docs/store.md lists the callers concerned. */
#define RV_STORE_BATCH_MAX 128

/* Where the store lives: "rocksdb:DIR" (the database in DIR/db, DIR being
 * a state directory) or "etcd:https://h1:2379,https://h2:2379" with the
 * client certificate and CA for etcd (NULL for rocksdb). */
struct rv_store_etcd_tls {
	const char *ca, *cert, *key;
};
int rv_store_open_uri(const char *uri, const struct rv_store_etcd_tls *tls, struct rv_store **out,
		      char *err, size_t errlen);
/* "rocksdb" or "etcd". */
const char *rv_store_backend_name(const struct rv_store *s);

/* Open (creating if needed) the store in @dir; checks the schema version.
 * Sets the process umask to 077 and the store's files to 0600, its
 * directories to 0700 (RocksDB has no file-mode option). Returns 0, or -1
 * with a message in @err. */
int rv_store_open(const char *dir, struct rv_store **out, char *err, size_t errlen);
void rv_store_close(struct rv_store *s);

/* Returns 0 and a malloc'd copy in *val (caller frees), 1 if absent, -1 on error. */
int rv_store_get(struct rv_store *s, const void *key, size_t klen, void **val, size_t *vlen);
/* Several keys read at one point in time (one snapshot of the store): on
 * etcd one Txn of Range ops (one round trip), on RocksDB a MultiGet on a
 * snapshot. The caller fills each read's key; the store fills found (a
 * malloc'd copy in val, caller frees with rv_store_reads_free) or absent.
 * At most RV_STORE_BATCH_MAX keys. Counts as one get in rv_store_ops.
 * Returns 0, or -1 on error (then nothing is to be freed). */
struct rv_store_read {
	const void *key;
	size_t klen;
	bool found; /* out */
	void *val;  /* out: NULL when absent */
	size_t vlen;
};
int rv_store_get_many(struct rv_store *s, struct rv_store_read *r, size_t n);
void rv_store_reads_free(struct rv_store_read *r, size_t n);
/* Whether other processes may write the store at the same time (etcd, with
 * several control replicas): allocations then need expectations
 * (rv_store_batch_expect). RocksDB is opened by one process only. */
bool rv_store_shared(const struct rv_store *s);

/* @sync: fsync the WAL before returning (anything a client is told succeeded). */
int rv_store_put(struct rv_store *s, const void *key, size_t klen, const void *val, size_t vlen,
		 bool sync);
int rv_store_delete(struct rv_store *s, const void *key, size_t klen, bool sync);
/* fsync the WAL: every write before it is on disk (for writes made without
 * @sync that must become durable soon). 0 or -1. On etcd every write is
 * durable when it returns (committed by a quorum, each fsynced): @sync and
 * rv_store_sync do nothing more. */
int rv_store_sync(struct rv_store *s);

/* Visit keys starting with @prefix in order, beginning after @start_after
 * (NULL: from the first). @cb returns 0 to go on, 1 to stop. Returns 0 or -1. */
typedef int (*rv_store_scan_cb)(void *arg, const void *key, size_t klen, const void *val,
				size_t vlen);
int rv_store_scan_prefix(struct rv_store *s, const void *prefix, size_t plen,
			 const void *start_after, size_t salen, rv_store_scan_cb cb, void *arg);

/* Number of keys starting with @prefix into *n. Returns 0 or -1. */
int rv_store_count_prefix(struct rv_store *s, const void *prefix, size_t plen, uint64_t *n);

/* Atomic multi-key change: every operation or none. On etcd at most
 * RV_STORE_BATCH_MAX operations; a later operation on a key wins over an
 * earlier one in the same batch. */
struct rv_store_batch *rv_store_batch_new(void);
void rv_store_batch_put(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			size_t vlen);
void rv_store_batch_delete(struct rv_store_batch *b, const void *key, size_t klen);
/* Compare-and-swap: the batch commits only if @key holds exactly @val
 * (@val NULL: @key must be absent) at commit time, checked atomically with
 * the writes (an etcd Txn compare; on RocksDB under the store's lock). */
void rv_store_batch_expect(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			   size_t vlen);
/* 0; RV_STORE_CONFLICT when an expectation failed; -1 on error (too many
 * operations for etcd, out of memory, store error). */
int rv_store_batch_commit(struct rv_store *s, struct rv_store_batch *b, bool sync);
void rv_store_batch_free(struct rv_store_batch *b);

/* A consistent copy of the store, taken online, into @dir (which must not
 * exist; its parent must: hard links on the same file system, copies across
 * file systems). Returns 0 or -1 with a message in @err. RocksDB only (on
 * etcd: etcdctl snapshot save, docs/etcd.md). */
int rv_store_checkpoint(struct rv_store *s, const char *dir, char *err, size_t errlen);
/* The schema version this build writes and understands (docs/store.md). */
int rv_store_schema_version(void);

/* Operations since open, for tests and figures: point reads (a get_many
 * counts one: each is one round trip on etcd), prefix scans and counts,
 * writes (a put, a delete or a batch commit each count one). */
struct rv_store_ops {
	uint64_t gets, scans, writes;
};
void rv_store_ops(struct rv_store *s, struct rv_store_ops *out);

/* store copy (store_copy.c): every record of @from into @to, in batches
 * (the copy as a whole is not atomic), then both sides are read again and
 * compared: record count and a SHA-256 over every key and value in key
 * order. @to must be empty (its schema key aside) unless @force. Fills
 * @count and @sha256 (hex) of the source. Returns 0, or -1 with @err. */
int rv_store_copy(struct rv_store *from, struct rv_store *to, bool force, uint64_t *count,
		  char sha256[65], char *err, size_t errlen);
/* The record count and SHA-256 (hex) of a whole store. 0 or -1. */
int rv_store_checksum(struct rv_store *s, uint64_t *count, char sha256[65]);

#endif
