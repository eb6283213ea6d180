/* Agent messages built from the tunnel registry (dp_sync.c, dp_poll.c,
 * dp_move.c): one struct rv_dp_msgs holds the requests of one session
 * or room, pointing into itself, so a batch is an array of them. Filled
 * with the registry lock held (the copies make sending without it safe),
 * sent without it, then rv_dp_msgs_done. */
#ifndef RV_DP_MSGS_H
#define RV_DP_MSGS_H

#include <stdint.h>

#include "dataplane.pb-c.h"
#include "tunnels.h"

typedef Roomvpn__Dataplane__V1__Request rv_dp_request;

struct rv_dp_msgs {
	rv_dp_request rq[2];
	Roomvpn__Dataplane__V1__UpsertRoom ur;
	Roomvpn__Dataplane__V1__Room room;
	Roomvpn__Dataplane__V1__Route *rtp[RV_TUNNELS_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route rt[RV_TUNNELS_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route6 *rt6p[RV_TUNNELS_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route6 rt6[RV_TUNNELS_ROUTES_MAX];
	uint8_t v6[1 + 2 * RV_TUNNELS_ROUTES_MAX][16]; /* prefix6, routes6: copies */
	uint8_t vip6[16];
	Roomvpn__Dataplane__V1__Rule *rules, **rulep; /* copies, freed by rv_dp_msgs_done */
	Roomvpn__Dataplane__V1__Rule deny_all, *deny_allp;
	Roomvpn__Dataplane__V1__UpsertSession us;
	Roomvpn__Dataplane__V1__Session s;
	Roomvpn__Dataplane__V1__Key k;
	Roomvpn__Dataplane__V1__DeleteSession ds;
	Roomvpn__Dataplane__V1__InstallKey ik;
	struct rv_key_material km;
	unsigned n_rq;
};

/* A new request of @body_case in @m (its body is the caller's to set). */
rv_dp_request *rv_dp_msgs_req(struct rv_dp_msgs *m, int body_case);
/* Room @room's settings, routes and access rules (copied; lock held). */
void rv_dp_msgs_room(struct rv_dp_msgs *m, const struct rv_tunnel_room *room);
/* Room and session of keyed tunnel @t, copied (lock held); no request yet. */
void rv_dp_msgs_session(struct rv_dp_msgs *m, const struct rv_tunnel *t);
/* The key message of key-id @key_id over m->km. */
void rv_dp_msgs_key(struct rv_dp_msgs *m, uint8_t key_id);
/* UpsertRoom + UpsertSession of what rv_dp_msgs_session filled. */
void rv_dp_msgs_upsert(struct rv_dp_msgs *m);
/* UpsertRoom alone of what rv_dp_msgs_room filled. */
void rv_dp_msgs_upsert_room(struct rv_dp_msgs *m);
/* DeleteSession of @peer_id. */
void rv_dp_msgs_delete(struct rv_dp_msgs *m, uint32_t peer_id);
/* After sending: the copies freed, key material wiped. */
void rv_dp_msgs_done(struct rv_dp_msgs *m);

#endif
