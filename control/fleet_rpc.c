/* FleetService (see fleet_rpc.h). */
#include "fleet_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "roomvpn/v1/fleet.pb-c.h"

static char *dup(const char *s, bool *oom)
{
	char *d = strdup(s);
	*oom |= !d;
	return d;
}

/* The "k=v,k=v" labels as the map's entries. */
static void labels(Roomvpn__V1__Dataplane *m, const char *text, bool *oom)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '=';
	m->labels = calloc(n + 1, sizeof(*m->labels));
	if (!m->labels) {
		*oom = true;
		return;
	}
	for (const char *p = text; *p && !*oom;) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		Roomvpn__V1__Dataplane__LabelsEntry *e = malloc(sizeof(*e));
		if (!e || !eq) {
			free(e);
			*oom |= !e;
			break;
		}
		roomvpn__v1__dataplane__labels_entry__init(e);
		e->key = strndup(p, (size_t)(eq - p));
		e->value = strndup(eq + 1, len - (size_t)(eq - p) - 1);
		*oom |= !e->key || !e->value;
		m->labels[m->n_labels++] = e;
		p += len + (p[len] == ',');
	}
}

static Roomvpn__V1__Dataplane *dp_msg(const struct rv_fleet_view *v, bool *oom)
{
	Roomvpn__V1__Dataplane *m = malloc(sizeof(*m));
	if (!m) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__dataplane__init(m);
	m->name = dup(v->info.name, oom);
	m->state = (Roomvpn__V1__DataplaneState)v->state;
	m->udp_endpoint = dup(v->info.udp_endpoint, oom);
	m->tcp_endpoint = dup(v->info.tcp_endpoint, oom);
	labels(m, v->info.labels, oom);
	m->workers = v->info.workers;
	m->max_sessions = v->info.max_sessions;
	m->version = dup(v->info.version, oom);
	m->link = dup(v->link, oom);
	m->last_heard_unix_ms = (int64_t)v->last_heard_unix_ms;
	m->sessions = v->sessions;
	m->rooms = v->rooms;
	m->drops = v->drops;
	return m;
}

static grpc_status_code oom_status(ProtobufCMessage *m, char *msg, size_t msglen)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	snprintf(msg, msglen, "out of memory");
	return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

grpc_status_code rv_fleet_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_fleet_view v[RV_FLEET_MAX];
	size_t n = rv_fleet_list(v, RV_FLEET_MAX);
	Roomvpn__V1__ListDataplanesResponse *r = malloc(sizeof(*r));
	bool oom = !r;

	(void)ctx, (void)req;
	if (!r)
		return oom_status(NULL, msg, msglen);
	roomvpn__v1__list_dataplanes_response__init(r);
	r->dataplanes = calloc(n + 1, sizeof(*r->dataplanes));
	oom |= !r->dataplanes;
	for (size_t i = 0; !oom && i < n; i++)
		if ((r->dataplanes[r->n_dataplanes] = dp_msg(&v[i], &oom)))
			r->n_dataplanes++;
	if (oom)
		return oom_status(&r->base, msg, msglen);
	*resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code set_drain(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen, bool drain)
{
	const Roomvpn__V1__DrainDataplaneRequest *q = (const void *)req;
	struct rv_fleet_view v;
	bool oom = false;

	snprintf(ctx->target, sizeof(ctx->target), "%s", q->name);
	if (rv_fleet_set_drain(q->name, drain, &v) != 0) {
		snprintf(msg, msglen,
			 "no data plane named '%s' (roomvpn admin dataplanes lists them)", q->name);
		return GRPC_STATUS_NOT_FOUND;
	}
	rv_fleet_wake(); /* the moves start now, on the sync thread */
	Roomvpn__V1__Dataplane *m = dp_msg(&v, &oom);
	if (oom)
		return oom_status(m ? &m->base : NULL, msg, msglen);
	*resp = &m->base;
	return GRPC_STATUS_OK;
}

grpc_status_code rv_fleet_drain_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen)
{
	return set_drain(ctx, req, resp, msg, msglen, true);
}

grpc_status_code rv_fleet_undrain_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				      ProtobufCMessage **resp, char *msg, size_t msglen)
{
	return set_drain(ctx, req, resp, msg, msglen, false);
}
