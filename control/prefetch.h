/* Reads a handler needs, made in the same round trip as its caller's token
 * check (docs/etcd.md, "Join and Login in two round trips"). A method's row
 * (rpc.h) may name a prefetch function: given the request and the caller's
 * ids, it adds the keys the handler will read; the token check reads them
 * with the caller's device and user records in one rv_store_get_many, and
 * the handler finds them in ctx->pre. A prefetched value is as fresh as a
 * read at the start of the handler: one snapshot with the token check. */
#ifndef RV_PREFETCH_H
#define RV_PREFETCH_H

#include "rpc.h"
#include "store.h"
#include "store_keys.h"

#define RV_PREFETCH_MAX 10

struct rv_prefetch {
	size_t n;
	char keys[RV_PREFETCH_MAX][RV_KEY_MAX];
	struct rv_store_read r[RV_PREFETCH_MAX];
	/* Something the prefetch function took before the reads (members.c:
	 * the claim of the caller's device in the room, so that nothing of it
	 * changes between the reads and the handler); @unhold gives it back
	 * in rv_prefetch_free unless the handler took it (set @hold NULL). */
	void *hold;
	void (*unhold)(void *hold);
};

/* Adds @key (ignored once full): its index, or -1. */
int rv_prefetch_add(struct rv_prefetch *p, const char *key, size_t klen);
/* Reads @r's keys: values @p holds (NULL @p: none) are copied, the others
 * read in one rv_store_get_many (none: no store call). 0, or -1 on a store
 * error or out of memory (nothing left to free). */
int rv_prefetch_read(struct rv_store *s, const struct rv_prefetch *p, struct rv_store_read *r,
		     size_t n);
/* Frees the values, gives back @p->hold, frees @p. */
void rv_prefetch_free(struct rv_prefetch *p);

#endif
