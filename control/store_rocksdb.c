/* The RocksDB store backend (store_backend.h) on RocksDB's C API. One
 * database, WAL on; thread-safe as RocksDB is (handlers call it from every
 * worker thread). Expectations (rv_store_batch_expect) are checked and the
 * batch written under the write side of a store-level rwlock; every other
 * write holds its read side, so writes still run concurrently and a check
 * and its write see no other write between them. Key layout and schema
 * version: docs/store.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_backend.h"

struct rocks {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_writeoptions_t *wnosync;
	pthread_rwlock_t expect_lock; /* write side: a batch with expectations */
};

static rocksdb_writeoptions_t *wopts(struct rocks *s, bool sync)
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

static void free_handles(struct rocks *s)
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

int rv_store_rocksdb_open(const char *dir, void **out, char *err, size_t errlen)
{
	struct rocks *s = calloc(1, sizeof(*s));
	char *rerr = NULL;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
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
		free_handles(s);
		return -1;
	}
	pthread_rwlock_init(&s->expect_lock, NULL);
	*out = s;
	return 0;
}

static void rocks_close(void *impl)
{
	struct rocks *s = impl;
	rocksdb_close(s->db);
	pthread_rwlock_destroy(&s->expect_lock);
	free_handles(s);
}

static int rocks_get(void *impl, const void *key, size_t klen, void **val, size_t *vlen)
{
	struct rocks *s = impl;
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

static int rocks_get_many(void *impl, struct rv_store_read *rd, size_t n)
{
	struct rocks *s = impl;
	const char **keys = calloc(n, sizeof(*keys));
	size_t *klens = calloc(n, sizeof(*klens)), *vlens = calloc(n, sizeof(*vlens));
	char **vals = calloc(n, sizeof(*vals)), **errs = calloc(n, sizeof(*errs));
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(s->db);
	int rc = keys && klens && vlens && vals && errs ? 0 : -1;

	rocksdb_readoptions_set_snapshot(ro, snap);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		keys[i] = rd[i].key;
		klens[i] = rd[i].klen;
	}
	if (rc == 0)
		rocksdb_multi_get(s->db, ro, n, keys, klens, vals, vlens, errs);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (errs[i]) {
			rc = rocks_err(errs[i], "multi get", NULL, 0);
			errs[i] = NULL;
		} else if (vals[i]) { /* our own allocator's copy: callers free() it */
			rd[i].val = malloc(vlens[i] ? vlens[i] : 1);
			rc = rd[i].val ? 0 : -1;
			if (rd[i].val)
				memcpy(rd[i].val, vals[i], vlens[i]);
			rd[i].vlen = vlens[i];
			rd[i].found = rd[i].val != NULL;
		}
	}
	for (size_t i = 0; vals && errs && i < n; i++) {
		rocksdb_free(vals[i]);
		rocksdb_free(errs[i]);
	}
	if (rc < 0)
		rv_store_reads_free(rd, n);
	rocksdb_release_snapshot(s->db, snap);
	rocksdb_readoptions_destroy(ro);
	free(keys), free(klens), free(vlens), free(vals), free(errs);
	return rc;
}

static int rocks_put(void *impl, const void *key, size_t klen, const void *val, size_t vlen,
		     bool sync)
{
	struct rocks *s = impl;
	char *rerr = NULL;
	pthread_rwlock_rdlock(&s->expect_lock);
	rocksdb_put(s->db, wopts(s, sync), key, klen, val, vlen, &rerr);
	pthread_rwlock_unlock(&s->expect_lock);
	return rerr ? rocks_err(rerr, "put", NULL, 0) : 0;
}

static int rocks_delete(void *impl, const void *key, size_t klen, bool sync)
{
	struct rocks *s = impl;
	char *rerr = NULL;
	pthread_rwlock_rdlock(&s->expect_lock);
	rocksdb_delete(s->db, wopts(s, sync), key, klen, &rerr);
	pthread_rwlock_unlock(&s->expect_lock);
	return rerr ? rocks_err(rerr, "delete", NULL, 0) : 0;
}

static int rocks_sync(void *impl)
{
	struct rocks *s = impl;
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

static int rocks_scan(void *impl, const void *prefix, size_t plen, const void *start_after,
		      size_t salen, rv_store_scan_cb cb, void *arg)
{
	struct rocks *s = impl;
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

static int rocks_count(void *impl, const void *prefix, size_t plen, uint64_t *n)
{
	struct rocks *s = impl;
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

/* Does every expectation of @b hold? 1 yes, 0 no, -1 on error. */
static int expectations_hold(struct rocks *s, const struct rv_store_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct rv_store_op *op = &b->ops[i];
		void *v = NULL;
		size_t vl = 0;
		if (op->kind != RV_STORE_OP_EXPECT)
			continue;
		int rc = rocks_get(s, op->key, op->klen, &v, &vl);
		if (rc < 0)
			return -1;
		bool ok = op->val ? rc == 0 && vl == op->vlen && !memcmp(v, op->val, vl) : rc == 1;
		free(v);
		if (!ok)
			return 0;
	}
	return 1;
}

static int rocks_commit(void *impl, const struct rv_store_batch *b, bool sync)
{
	struct rocks *s = impl;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *rerr = NULL;
	int rc = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct rv_store_op *op = &b->ops[i];
		if (op->kind == RV_STORE_OP_PUT)
			rocksdb_writebatch_put(wb, op->key, op->klen, op->val, op->vlen);
		else if (op->kind == RV_STORE_OP_DELETE)
			rocksdb_writebatch_delete(wb, op->key, op->klen);
	}
	if (b->n_expect)
		pthread_rwlock_wrlock(&s->expect_lock);
	else
		pthread_rwlock_rdlock(&s->expect_lock);
	if (b->n_expect) {
		int held = expectations_hold(s, b);
		rc = held < 0 ? -1 : held ? 0 : RV_STORE_CONFLICT;
	}
	if (rc == 0)
		rocksdb_write(s->db, wopts(s, sync), wb, &rerr);
	pthread_rwlock_unlock(&s->expect_lock);
	rocksdb_writebatch_destroy(wb);
	return rerr ? rocks_err(rerr, "batch commit", NULL, 0) : rc;
}

static int rocks_checkpoint(void *impl, const char *dir, char *err, size_t errlen)
{
	struct rocks *s = impl;
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

const struct rv_store_backend rv_store_rocksdb_backend = {
    .name = "rocksdb",
    .shared = false,
    .get = rocks_get,
    .get_many = rocks_get_many,
    .put = rocks_put,
    .del = rocks_delete,
    .sync = rocks_sync,
    .scan = rocks_scan,
    .count = rocks_count,
    .commit = rocks_commit,
    .checkpoint = rocks_checkpoint,
    .close = rocks_close,
};
