/* The control plane's key-value store interface. RocksDB today
 * (store_rocksdb.c); a replicated backend (etcd, ...) can be added as a
 * sibling file implementing the same functions. Key layout: docs/store.md. */
#ifndef RV_STORE_H
#define RV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rv_store;
struct rv_store_batch;

/* Open (creating if needed) the store in @dir; checks the schema version.
 * Sets the process umask to 077 and the store's files to 0600, its
 * directories to 0700 (RocksDB has no file-mode option). Returns 0, or -1
 * with a message in @err. */
int rv_store_open(const char *dir, struct rv_store **out, char *err, size_t errlen);
void rv_store_close(struct rv_store *s);

/* Returns 0 and a malloc'd copy in *val (caller frees), 1 if absent, -1 on error. */
int rv_store_get(struct rv_store *s, const void *key, size_t klen, void **val, size_t *vlen);
/* @sync: fsync the WAL before returning (anything a client is told succeeded). */
int rv_store_put(struct rv_store *s, const void *key, size_t klen, const void *val, size_t vlen,
		 bool sync);
int rv_store_delete(struct rv_store *s, const void *key, size_t klen, bool sync);
/* fsync the WAL: every write before it is on disk (for writes made without
 * @sync that must become durable soon). 0 or -1. */
int rv_store_sync(struct rv_store *s);

/* Visit keys starting with @prefix in order, beginning after @start_after
 * (NULL: from the first). @cb returns 0 to go on, 1 to stop. Returns 0 or -1. */
typedef int (*rv_store_scan_cb)(void *arg, const void *key, size_t klen, const void *val,
				size_t vlen);
int rv_store_scan_prefix(struct rv_store *s, const void *prefix, size_t plen,
			 const void *start_after, size_t salen, rv_store_scan_cb cb, void *arg);

/* Number of keys starting with @prefix into *n. Returns 0 or -1. */
int rv_store_count_prefix(struct rv_store *s, const void *prefix, size_t plen, uint64_t *n);

/* Atomic multi-key change. */
struct rv_store_batch *rv_store_batch_new(void);
void rv_store_batch_put(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			size_t vlen);
void rv_store_batch_delete(struct rv_store_batch *b, const void *key, size_t klen);
int rv_store_batch_commit(struct rv_store *s, struct rv_store_batch *b, bool sync);
void rv_store_batch_free(struct rv_store_batch *b);

/* A consistent copy of the store, taken online, into @dir (which must not
 * exist; its parent must: hard links on the same file system, copies across
 * file systems). Returns 0 or -1 with a message in @err. */
int rv_store_checkpoint(struct rv_store *s, const char *dir, char *err, size_t errlen);
/* The schema version this build writes and understands (docs/store.md). */
int rv_store_schema_version(void);

/* Operations since open, for tests and figures: point reads, prefix scans
 * and counts, writes (a put, a delete or a batch commit each count one). */
struct rv_store_ops {
	uint64_t gets, scans, writes;
};
void rv_store_ops(struct rv_store *s, struct rv_store_ops *out);

#endif
