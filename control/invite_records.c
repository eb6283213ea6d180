/* Invite records (invite_records.h): a room Delete's removal, below
 * members.c; the handlers are invites.c's. */
#include "invite_records.h"

#include "roomvpn/v1/room_store.pb-c.h"
#include "store_keys.h"

static int delete_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct rv_store_batch *b = arg;
	char hk[RV_KEY_MAX];
	rv_store_batch_delete(b, k, kl);
	Roomvpn__V1__InviteRecord *ir = roomvpn__v1__invite_record__unpack(NULL, vl, v);
	if (ir && ir->code_hash.len == 32)
		rv_store_batch_delete(b, hk, rv_key_invite_by_hash(hk, ir->code_hash.data));
	if (ir)
		roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	return 0;
}

int rv_invite_records_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b)
{
	char p[RV_KEY_MAX];
	return rv_store_scan_prefix(s, p, rv_key_invite_prefix(p, room), NULL, 0, delete_cb, b);
}
