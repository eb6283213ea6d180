/* Ban records (ban_records.h): a room Delete's removal, below members.c;
 * the handlers are bans.c's, Join reads the ban keys with its other reads
 * (members.c). */
#include "ban_records.h"

#include <stdlib.h>

#include "store_keys.h"

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
