/* Agent messages built from the tunnel registry (see dp_msgs.h). */
#include "dp_msgs.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

rv_dp_request *rv_dp_msgs_req(struct rv_dp_msgs *m, int body_case)
{
	rv_dp_request *r = &m->rq[m->n_rq++];
	roomvpn__dataplane__v1__request__init(r);
	r->request_id = m->n_rq; /* an all-default Response would pack to 0 bytes */
	r->body_case = body_case;
	return r;
}

/* The room's prefix6 and IPv6 routes (copied: sent without the lock). */
static void room_v6(struct rv_dp_msgs *m, const struct rv_tunnel_room *room)
{
	if (!room->prefix6_len)
		return;
	memcpy(m->v6[0], room->prefix6, 16);
	m->room.prefix6.data = m->v6[0];
	m->room.prefix6.len = 16;
	m->room.prefix6_len = room->prefix6_len;
	for (size_t i = 0; i < room->n_routes6; i++) {
		roomvpn__dataplane__v1__route6__init(&m->rt6[i]);
		memcpy(m->v6[1 + 2 * i], room->routes6[i].target, 16);
		memcpy(m->v6[2 + 2 * i], room->routes6[i].via, 16);
		m->rt6[i].target = (ProtobufCBinaryData){16, m->v6[1 + 2 * i]};
		m->rt6[i].via = (ProtobufCBinaryData){16, m->v6[2 + 2 * i]};
		m->rt6[i].prefix_len = room->routes6[i].prefix_len;
		m->rt6p[i] = &m->rt6[i];
	}
	m->room.n_routes6 = room->n_routes6;
	m->room.routes6 = m->rt6p;
}

void rv_dp_msgs_room(struct rv_dp_msgs *m, const struct rv_tunnel_room *room)
{
	roomvpn__dataplane__v1__room__init(&m->room);
	m->room.room_id = (uint32_t)room->id;
	m->room.subnet = room->subnet;
	m->room.prefix_len = room->prefix_len;
	for (size_t i = 0; i < room->n_routes; i++) {
		m->rt[i] = room->routes[i];
		m->rtp[i] = &m->rt[i];
	}
	m->room.n_routes = room->n_routes;
	m->room.routes = m->rtp;
	room_v6(m, room);
	/* the access rules, copied (sent without the lock); out of memory:
	 * deny everything rather than nothing */
	m->rules = NULL;
	m->rulep = NULL;
	if (!room->n_rules)
		return;
	m->rules = malloc(room->n_rules * sizeof(*m->rules));
	m->rulep = malloc(room->n_rules * sizeof(*m->rulep));
	if (!m->rules || !m->rulep) {
		free(m->rules), free(m->rulep);
		m->rules = NULL;
		m->rulep = NULL;
		roomvpn__dataplane__v1__rule__init(&m->deny_all);
		m->deny_all.deny = true;
		m->deny_allp = &m->deny_all;
		m->room.n_rules = 1;
		m->room.rules = &m->deny_allp;
		return;
	}
	for (size_t i = 0; i < room->n_rules; i++) {
		m->rules[i] = room->rules[i];
		m->rulep[i] = &m->rules[i];
	}
	m->room.n_rules = room->n_rules;
	m->room.rules = m->rulep;
}

void rv_dp_msgs_done(struct rv_dp_msgs *m)
{
	free(m->rules), free(m->rulep);
	m->rules = NULL;
	m->rulep = NULL;
	OPENSSL_cleanse(&m->km, sizeof(m->km));
}

void rv_dp_msgs_key(struct rv_dp_msgs *m, uint8_t key_id)
{
	roomvpn__dataplane__v1__key__init(&m->k);
	m->k.key_id = key_id;
	m->k.material.data = (uint8_t *)&m->km;
	m->k.material.len = sizeof(m->km);
	m->k.direction = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
}

void rv_dp_msgs_session(struct rv_dp_msgs *m, const struct rv_tunnel *t)
{
	rv_dp_msgs_room(m, t->room);
	memcpy(&m->km, &t->km, sizeof(m->km));
	rv_dp_msgs_key(m, t->push_key_id);
	roomvpn__dataplane__v1__session__init(&m->s);
	m->s.peer_id = t->peer_id;
	m->s.room_id = m->room.room_id;
	m->s.vip = t->vip;
	if (t->has_vip6 && m->room.prefix6_len) {
		memcpy(m->vip6, t->vip6, 16);
		m->s.vip6 = (ProtobufCBinaryData){16, m->vip6};
	}
	m->s.cipher = (char *)rv_cipher_name(t->suite);
	m->s.key = &m->k;
}

void rv_dp_msgs_upsert_room(struct rv_dp_msgs *m)
{
	roomvpn__dataplane__v1__upsert_room__init(&m->ur);
	m->ur.room = &m->room;
	rv_dp_msgs_req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM)->upsert_room = &m->ur;
}

void rv_dp_msgs_upsert(struct rv_dp_msgs *m)
{
	rv_dp_msgs_upsert_room(m);
	roomvpn__dataplane__v1__upsert_session__init(&m->us);
	m->us.session = &m->s;
	rv_dp_msgs_req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION)->upsert_session =
	    &m->us;
}

void rv_dp_msgs_delete(struct rv_dp_msgs *m, uint32_t peer_id)
{
	roomvpn__dataplane__v1__delete_session__init(&m->ds);
	m->ds.peer_id = peer_id;
	rv_dp_msgs_req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_SESSION)->delete_session =
	    &m->ds;
}
