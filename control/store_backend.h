/* The table of operations a store backend implements (DPDK l3fwd-style
 * swappable engines): store_rocksdb.c and store_etcd.c each export one;
 * store.c calls through it. Not for other modules: they use store.h. */
#ifndef RV_STORE_BACKEND_H
#define RV_STORE_BACKEND_H

#include "store.h"

enum rv_store_op_kind { RV_STORE_OP_PUT, RV_STORE_OP_DELETE, RV_STORE_OP_EXPECT };

struct rv_store_op {
	enum rv_store_op_kind kind;
	void *key, *val; /* val: NULL for a delete, and an expectation of absence */
	size_t klen, vlen;
};

struct rv_store_batch {
	struct rv_store_op *ops;
	size_t n, cap;
	size_t n_expect;
	bool oom;
};

struct rv_store_backend {
	const char *name;
	bool shared; /* rv_store_shared */
	int (*get)(void *impl, const void *key, size_t klen, void **val, size_t *vlen);
	/* rv_store_get_many: 0 (each read filled) or -1 (none left allocated). */
	int (*get_many)(void *impl, struct rv_store_read *r, size_t n);
	int (*put)(void *impl, const void *key, size_t klen, const void *val, size_t vlen,
		   bool sync);
	int (*del)(void *impl, const void *key, size_t klen, bool sync);
	int (*sync)(void *impl);
	int (*scan)(void *impl, const void *prefix, size_t plen, const void *start_after,
		    size_t salen, rv_store_scan_cb cb, void *arg);
	int (*count)(void *impl, const void *prefix, size_t plen, uint64_t *n);
	/* 0, RV_STORE_CONFLICT or -1. */
	int (*commit)(void *impl, const struct rv_store_batch *b, bool sync);
	int (*checkpoint)(void *impl, const char *dir, char *err, size_t errlen);
	void (*close)(void *impl);
};

extern const struct rv_store_backend rv_store_rocksdb_backend;
extern const struct rv_store_backend rv_store_etcd_backend;

/* Opened backends (store_rocksdb.c, store_etcd.c): 0, or -1 with @err. */
int rv_store_rocksdb_open(const char *dir, void **impl, char *err, size_t errlen);
int rv_store_etcd_open(const char *endpoints, const struct rv_store_etcd_tls *tls, void **impl,
		       char *err, size_t errlen);

#endif
