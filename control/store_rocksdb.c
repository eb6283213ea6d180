/* The store interface (store.h) on RocksDB's C API. One database, WAL on;
 * thread-safe as RocksDB is (handlers call it from every worker thread).
 * Key layout and schema version: docs/store.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define SCHEMA_KEY     "meta/schema"
#define SCHEMA_VERSION 1

struct rv_store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_writeoptions_t *wnosync;
	char dir[512];
	atomic_uint_fast64_t n_gets, n_scans, n_writes; /* rv_store_ops */
};

struct rv_store_batch {
	rocksdb_writebatch_t *wb;
};

static rocksdb_writeoptions_t *wopts(struct rv_store *s, bool sync)
{
	return sync ? s->wsync : s->wnosync;
}

/* Takes ownership of a RocksDB error string: copies it to @err and frees it. */
static int rocks_err(char *rerr, const char *what, char *err, size_t errlen)
{
	if (err)
		snprintf(err, errlen, "%s: %s", what, rerr ? rerr : "unknown error");
	rocksdb_free(rerr);
	return -1;
}

static bool db_is_empty(struct rv_store *s)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ropts);
	rocksdb_iter_seek_to_first(it);
	bool empty = !rocksdb_iter_valid(it);
	rocksdb_iter_destroy(it);
	return empty;
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
			snprintf(err, errlen, "store %s: migration to version %d failed", s->dir,
				 v + 1);
			return -1;
		}
		fprintf(stderr, "roomvpn-control: store %s migrated to schema version %d\n", s->dir,
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
		snprintf(err, errlen, "store %s: cannot read the schema version", s->dir);
		return -1;
	}
	if (rc == 1) {
		if (!db_is_empty(s)) {
			snprintf(err, errlen,
				 "store %s has data but no schema version key (%s): not a "
				 "roomvpn-control database?",
				 s->dir, SCHEMA_KEY);
			return -1;
		}
		char v[16];
		int n = snprintf(v, sizeof(v), "%d", SCHEMA_VERSION);
		if (rv_store_put(s, SCHEMA_KEY, strlen(SCHEMA_KEY), v, (size_t)n, true) < 0) {
			snprintf(err, errlen, "store %s: cannot write the schema version", s->dir);
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
		snprintf(err, errlen, "store %s: schema version '%s' is not a number", s->dir, v);
		return -1;
	}
	if (got > SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "store %s has schema version '%s', written by a newer roomvpn-control; "
			 "this one understands version %d and older: run the newer version, or "
			 "restore the backup taken before the upgrade (docs/operations.md)",
			 s->dir, v, SCHEMA_VERSION);
		return -1;
	}
	return migrate(s, (int)got, err, errlen);
}

static void free_handles(struct rv_store *s)
{
	if (s->wnosync)
		rocksdb_writeoptions_destroy(s->wnosync);
	if (s->wsync)
		rocksdb_writeoptions_destroy(s->wsync);
	if (s->ropts)
		rocksdb_readoptions_destroy(s->ropts);
	if (s->opts)
		rocksdb_options_destroy(s->opts);
	free(s);
}

/* RocksDB creates its files (SSTs, WAL, MANIFEST, LOG, from background
 * threads too) with 0666 & ~umask and has no option for the mode, so the
 * process's umask is set to 077 for good: every file created from here on is
 * 0600 and every directory 0700. What already exists (a store created by an
 * older version under umask 022) is brought to those modes explicitly. */
static int private_modes(const char *dir, char *err, size_t errlen)
{
	umask(077);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot open store %s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		snprintf(err, errlen, "cannot open store %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	int rc = fchmod(dfd, 0700);
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    S_ISLNK(st.st_mode))
			continue;
		rc = fchmodat(dfd, e->d_name, S_ISDIR(st.st_mode) ? 0700 : 0600, 0);
	}
	if (rc != 0)
		snprintf(err, errlen, "cannot open store %s: chmod 0600/0700: %s", dir,
			 strerror(errno));
	closedir(d);
	return rc;
}

int rv_store_open(const char *dir, struct rv_store **out, char *err, size_t errlen)
{
	struct rv_store *s = calloc(1, sizeof(*s));
	char *rerr = NULL;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if (private_modes(dir, err, errlen) != 0) {
		free(s);
		return -1;
	}
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_paranoid_checks(s->opts, 1);
	rocksdb_options_set_keep_log_file_num(s->opts, 4);
	rocksdb_options_set_max_open_files(s->opts, 256);
	s->ropts = rocksdb_readoptions_create();
	s->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wsync, 1);
	s->wnosync = rocksdb_writeoptions_create();

	s->db = rocksdb_open(s->opts, dir, &rerr);
	if (!s->db) {
		char what[600];
		snprintf(what, sizeof(what), "cannot open store %s", dir);
		rocks_err(rerr, what, err, errlen);
		goto err_handles;
	}
	if (check_schema(s, err, errlen) < 0)
		goto err_db;
	*out = s;
	return 0;

err_db:
	rocksdb_close(s->db);
err_handles:
	free_handles(s);
	return -1;
}

void rv_store_close(struct rv_store *s)
{
	if (!s)
		return;
	rocksdb_close(s->db);
	free_handles(s);
}

int rv_store_get(struct rv_store *s, const void *key, size_t klen, void **val, size_t *vlen)
{
	atomic_fetch_add_explicit(&s->n_gets, 1, memory_order_relaxed);
	char *rerr = NULL;
	size_t n = 0;
	char *v = rocksdb_get(s->db, s->ropts, key, klen, &n, &rerr);

	if (rerr)
		return rocks_err(rerr, "get", NULL, 0);
	if (!v)
		return 1;
	/* Hand back memory from our own allocator (callers free() it). */
	void *copy = malloc(n ? n : 1);
	if (!copy) {
		rocksdb_free(v);
		return -1;
	}
	memcpy(copy, v, n);
	rocksdb_free(v);
	*val = copy;
	*vlen = n;
	return 0;
}

int rv_store_put(struct rv_store *s, const void *key, size_t klen, const void *val, size_t vlen,
		 bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	char *rerr = NULL;
	rocksdb_put(s->db, wopts(s, sync), key, klen, val, vlen, &rerr);
	return rerr ? rocks_err(rerr, "put", NULL, 0) : 0;
}

int rv_store_delete(struct rv_store *s, const void *key, size_t klen, bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	char *rerr = NULL;
	rocksdb_delete(s->db, wopts(s, sync), key, klen, &rerr);
	return rerr ? rocks_err(rerr, "delete", NULL, 0) : 0;
}

int rv_store_sync(struct rv_store *s)
{
	char *rerr = NULL;
	rocksdb_flush_wal(s->db, 1, &rerr);
	return rerr ? rocks_err(rerr, "WAL sync", NULL, 0) : 0;
}

static int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int rv_store_scan_prefix(struct rv_store *s, const void *prefix, size_t plen,
			 const void *start_after, size_t salen, rv_store_scan_cb cb, void *arg)
{
	atomic_fetch_add_explicit(&s->n_scans, 1, memory_order_relaxed);
	rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ropts);
	int rc = 0;

	/* Start at the later of the prefix and start_after, skipping an exact
	 * match of start_after (the page token is the last key already seen). */
	if (start_after && bytes_cmp(start_after, salen, prefix, plen) > 0)
		rocksdb_iter_seek(it, start_after, salen);
	else
		rocksdb_iter_seek(it, prefix, plen);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		if (kl < plen || memcmp(k, prefix, plen) != 0)
			break;
		if (start_after && kl == salen && memcmp(k, start_after, salen) == 0)
			continue;
		const char *v = rocksdb_iter_value(it, &vl);
		if (cb(arg, k, kl, v, vl) != 0)
			break;
	}
	char *rerr = NULL;
	rocksdb_iter_get_error(it, &rerr);
	if (rerr)
		rc = rocks_err(rerr, "scan", NULL, 0);
	rocksdb_iter_destroy(it);
	return rc;
}

int rv_store_count_prefix(struct rv_store *s, const void *prefix, size_t plen, uint64_t *n)
{
	atomic_fetch_add_explicit(&s->n_scans, 1, memory_order_relaxed);
	rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ropts);
	uint64_t count = 0;

	for (rocksdb_iter_seek(it, prefix, plen); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);
		if (kl < plen || memcmp(k, prefix, plen) != 0)
			break;
		count++;
	}
	char *rerr = NULL;
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	if (rerr)
		return rocks_err(rerr, "count", NULL, 0);
	*n = count;
	return 0;
}

struct rv_store_batch *rv_store_batch_new(void)
{
	struct rv_store_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->wb = rocksdb_writebatch_create();
	return b;
}

void rv_store_batch_put(struct rv_store_batch *b, const void *key, size_t klen, const void *val,
			size_t vlen)
{
	rocksdb_writebatch_put(b->wb, key, klen, val, vlen);
}

void rv_store_batch_delete(struct rv_store_batch *b, const void *key, size_t klen)
{
	rocksdb_writebatch_delete(b->wb, key, klen);
}

int rv_store_batch_commit(struct rv_store *s, struct rv_store_batch *b, bool sync)
{
	atomic_fetch_add_explicit(&s->n_writes, 1, memory_order_relaxed);
	char *rerr = NULL;
	rocksdb_write(s->db, wopts(s, sync), b->wb, &rerr);
	return rerr ? rocks_err(rerr, "batch commit", NULL, 0) : 0;
}

void rv_store_batch_free(struct rv_store_batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
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
	char *rerr = NULL;
	rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(s->db, &rerr);

	if (!cp)
		return rocks_err(rerr, "checkpoint", err, errlen);
	/* 0: flush the memtable first, so the copy needs no WAL replay. */
	rocksdb_checkpoint_create(cp, dir, 0, &rerr);
	rocksdb_checkpoint_object_destroy(cp);
	if (rerr) {
		char what[600];
		snprintf(what, sizeof(what), "checkpoint into %s", dir);
		return rocks_err(rerr, what, err, errlen);
	}
	return 0;
}
