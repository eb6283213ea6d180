/* RoomService Get and List: rooms as the caller may see them (rv_rooms_view),
 * List paged by name through the rn/ index (docs/store.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room_records.h"
#include "rooms.h"
#include "store.h"
#include "store_keys.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     1000

typedef Roomvpn__V1__RoomRecord RoomRecord;

grpc_status_code rv_rooms_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__GetRoomRequest *q = (const void *)req;
	RoomRecord *r = NULL;
	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	Roomvpn__V1__Room *m = rv_rooms_view(ctx, r);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (!m)
		return rv_rooms_oom(msg, msglen);
	*resp = &m->base;
	return GRPC_STATUS_OK;
}

struct list_page {
	struct rv_rpc_ctx *ctx;
	Roomvpn__V1__ListRoomsResponse *resp;
	size_t want;
	bool more, oom;
};

/* rn/<name> -> id: load each room of the page. */
static int list_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct list_page *p = arg;
	RoomRecord *r;
	(void)k;
	(void)kl;
	if (p->resp->n_rooms == p->want) {
		p->more = true;
		return 1;
	}
	uint64_t id;
	if (rv_key_parse_id(v, vl, &id) < 0 || rv_rooms_load_id(p->ctx->ctl->store, id, &r) != 0)
		return 0; /* index without a record: skip */
	Roomvpn__V1__Room *m = rv_rooms_view(p->ctx, r);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (!m) {
		p->oom = true;
		return 1;
	}
	p->resp->rooms[p->resp->n_rooms++] = m;
	return 0;
}

grpc_status_code rv_rooms_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListRoomsRequest *q = (const void *)req;
	struct list_page p = {.ctx = ctx};
	char start[RV_KEY_MAX];
	size_t sl = 0;

	if (q->page_token[0]) {
		if (!rv_rooms_valid_name(q->page_token)) {
			snprintf(msg, msglen, "page_token is not one this server handed out");
			return GRPC_STATUS_INVALID_ARGUMENT;
		}
		sl = rv_key_room_by_name(start, q->page_token);
	}
	p.want = q->page_size == 0	   ? PAGE_DEFAULT
		 : q->page_size > PAGE_MAX ? PAGE_MAX
					   : q->page_size;
	p.resp = malloc(sizeof(*p.resp));
	if (!p.resp)
		return rv_rooms_oom(msg, msglen);
	roomvpn__v1__list_rooms_response__init(p.resp);
	p.resp->rooms = calloc(p.want, sizeof(*p.resp->rooms));
	*resp = &p.resp->base; /* the server frees it on any status */
	if (!p.resp->rooms)
		return rv_rooms_oom(msg, msglen);
	if (rv_store_scan_prefix(ctx->ctl->store, RV_KEY_ROOM_BY_NAME_PREFIX, 3, sl ? start : NULL,
				 sl, list_cb, &p) < 0)
		return rv_rooms_store_error(msg, msglen);
	if (p.oom)
		return rv_rooms_oom(msg, msglen);
	if (!p.resp->n_rooms) {
		free(p.resp->rooms);
		p.resp->rooms = NULL;
	}
	if (p.more && p.resp->n_rooms) {
		p.resp->next_page_token = strdup(p.resp->rooms[p.resp->n_rooms - 1]->name);
		if (!p.resp->next_page_token)
			return rv_rooms_oom(msg, msglen);
	}
	return GRPC_STATUS_OK;
}
