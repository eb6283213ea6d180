/* roomvpn-control store copy: every record of one store into another
 * (rocksdb -> etcd, etcd -> rocksdb, rocksdb -> rocksdb), then a check that
 * both hold the same records: their count and a SHA-256 over every key and
 * value in key order (each as an 8-byte big-endian length and the bytes).
 * The copy goes in batches of COPY_BATCH puts and is not atomic as a whole:
 * run it with the control plane stopped. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define COPY_BATCH 64

struct sum {
	EVP_MD_CTX *md;
	uint64_t n;
};

static void be64(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static int sum_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct sum *s = arg;
	uint8_t len[8];
	be64(len, kl);
	EVP_DigestUpdate(s->md, len, 8);
	EVP_DigestUpdate(s->md, k, kl);
	be64(len, vl);
	EVP_DigestUpdate(s->md, len, 8);
	EVP_DigestUpdate(s->md, v, vl);
	s->n++;
	return 0;
}

int rv_store_checksum(struct rv_store *st, uint64_t *count, char sha256[65])
{
	struct sum s = {EVP_MD_CTX_new(), 0};
	uint8_t d[32];
	unsigned dl = 0;
	int rc = -1;

	if (s.md && EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) == 1 &&
	    rv_store_scan_prefix(st, "", 0, NULL, 0, sum_cb, &s) == 0 &&
	    EVP_DigestFinal_ex(s.md, d, &dl) == 1) {
		for (unsigned i = 0; i < 32; i++)
			snprintf(sha256 + 2 * i, 3, "%02x", d[i]);
		*count = s.n;
		rc = 0;
	}
	EVP_MD_CTX_free(s.md);
	return rc;
}

/* Puts (or deletes) records into @to in batches. */
struct copier {
	struct rv_store *to;
	struct rv_store_batch *b;
	size_t in_batch;
	bool delete;
	bool failed;
	uint64_t n;
};

static int flush(struct copier *c)
{
	if (c->in_batch && rv_store_batch_commit(c->to, c->b, true) != 0)
		c->failed = true;
	rv_store_batch_free(c->b);
	c->b = NULL;
	c->in_batch = 0;
	return c->failed ? -1 : 0;
}

static int copy_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct copier *c = arg;
	if (!c->b && !(c->b = rv_store_batch_new())) {
		c->failed = true;
		return 1;
	}
	if (c->delete)
		rv_store_batch_delete(c->b, k, kl);
	else
		rv_store_batch_put(c->b, k, kl, v, vl);
	c->n++;
	if (++c->in_batch == COPY_BATCH && flush(c) < 0)
		return 1;
	return 0;
}

/* Visits @s's records into @c, then flushes. 0 or -1. */
static int run(struct rv_store *s, struct copier *c)
{
	int rc = rv_store_scan_prefix(s, "", 0, NULL, 0, copy_cb, c);
	if (c->b && flush(c) < 0)
		rc = -1;
	return rc == 0 && !c->failed ? 0 : -1;
}

int rv_store_copy(struct rv_store *from, struct rv_store *to, bool force, uint64_t *count,
		  char sha256[65], char *err, size_t errlen)
{
	uint64_t n_to = 0, n_check;
	char check[65];

	if (rv_store_count_prefix(to, "", 0, &n_to) != 0) {
		snprintf(err, errlen, "cannot count the destination's records");
		return -1;
	}
	if (n_to > 1 && !force) { /* its schema key aside */
		snprintf(err, errlen,
			 "the destination holds %llu records: refusing to copy into a store "
			 "that is not empty (--force deletes them first)",
			 (unsigned long long)n_to);
		return -1;
	}
	if (n_to > 1) {
		struct copier del = {.to = to, .delete = true};
		if (run(to, &del) < 0) {
			snprintf(err, errlen, "cannot empty the destination");
			return -1;
		}
	}
	struct copier c = {.to = to};
	if (run(from, &c) < 0) {
		snprintf(err, errlen,
			 "copy failed after %llu records (the destination is "
			 "incomplete: copy again with --force)",
			 (unsigned long long)c.n);
		return -1;
	}
	if (rv_store_checksum(from, count, sha256) != 0 ||
	    rv_store_checksum(to, &n_check, check) != 0) {
		snprintf(err, errlen, "cannot read the stores back to check the copy");
		return -1;
	}
	if (n_check != *count || strcmp(check, sha256) != 0) {
		snprintf(err, errlen,
			 "the copy differs from the source: %llu records sha256 %s, destination "
			 "%llu records sha256 %s",
			 (unsigned long long)*count, sha256, (unsigned long long)n_check, check);
		return -1;
	}
	return 0;
}
