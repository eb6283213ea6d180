/* Prefetched reads (prefetch.h). */
#include "prefetch.h"

#include <stdlib.h>
#include <string.h>

int rv_prefetch_add(struct rv_prefetch *p, const char *key, size_t klen)
{
	if (p->n == RV_PREFETCH_MAX || klen > RV_KEY_MAX)
		return -1;
	size_t i = p->n++;
	memcpy(p->keys[i], key, klen);
	p->r[i] = (struct rv_store_read){.key = p->keys[i], .klen = klen};
	return (int)i;
}

static const struct rv_store_read *find(const struct rv_prefetch *p, const void *key, size_t klen)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (p->r[i].klen == klen && !memcmp(p->r[i].key, key, klen))
			return &p->r[i];
	return NULL;
}

int rv_prefetch_read(struct rv_store *s, const struct rv_prefetch *p, struct rv_store_read *r,
		     size_t n)
{
	struct rv_store_read miss[RV_PREFETCH_MAX];
	size_t where[RV_PREFETCH_MAX], n_miss = 0;

	if (n > RV_PREFETCH_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct rv_store_read *got = find(p, r[i].key, r[i].klen);
		r[i].found = false;
		r[i].val = NULL;
		r[i].vlen = 0;
		if (!got) {
			miss[n_miss] = r[i];
			where[n_miss++] = i;
			continue;
		}
		if (!got->found)
			continue;
		r[i].val = malloc(got->vlen ? got->vlen : 1);
		if (!r[i].val) {
			rv_store_reads_free(r, n);
			return -1;
		}
		memcpy(r[i].val, got->val, got->vlen);
		r[i].vlen = got->vlen;
		r[i].found = true;
	}
	if (n_miss && rv_store_get_many(s, miss, n_miss) < 0) {
		rv_store_reads_free(r, n);
		return -1;
	}
	for (size_t j = 0; j < n_miss; j++)
		r[where[j]] = miss[j];
	return 0;
}

void rv_prefetch_free(struct rv_prefetch *p)
{
	if (!p)
		return;
	rv_store_reads_free(p->r, p->n);
	if (p->hold)
		p->unhold(p->hold);
	free(p);
}
