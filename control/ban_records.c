/* Ban records (ban_records.h): the reads Join needs and a room Delete's
 * removal, below members.c; the handlers are bans.c's. */
#include "ban_records.h"

#include <stdlib.h>

#include "store_keys.h"

int rv_ban_records_check(struct rv_store *s, uint64_t room, uint64_t user, uint64_t dev)
{
	char k[RV_KEY_MAX];
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(s, k, rv_key_ban_user(k, room, user), &v, &vl);
	free(v);
	v = NULL;
	if (rc == 1 && dev) {
		rc = rv_store_get(s, k, rv_key_ban_device(k, room, dev), &v, &vl);
		free(v);
	}
	return rc < 0 ? -1 : rc == 0;
}

static int delete_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	rv_store_batch_delete(arg, k, kl);
	return 0;
}

int rv_ban_records_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b)
{
	char p[RV_KEY_MAX];
	return rv_store_scan_prefix(s, p, rv_key_ban_prefix(p, room), NULL, 0, delete_cb, b);
}
