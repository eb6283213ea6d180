/* Health: the server's own state and the status of the caller's tunnels
 * (an admin's: every tunnel), with the data plane's figures. */
#include "health.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "grpc/health/v1/health.pb-c.h"
#include "roomvpn/v1/health.pb-c.h"
#include "tunnels.h"
#include "users.h"

static Roomvpn__V1__TunnelStatus *tunnel_msg(const struct rv_tunnel_status *t)
{
	Roomvpn__V1__TunnelStatus *m = malloc(sizeof(*m));
	char vip[16];

	if (!m)
		return NULL;
	roomvpn__v1__tunnel_status__init(m);
	snprintf(vip, sizeof(vip), "%u.%u.%u.%u", t->vip >> 24, (t->vip >> 16) & 255,
		 (t->vip >> 8) & 255, t->vip & 255);
	m->device_id = t->device_id;
	m->user_id = t->user_id;
	m->state = strdup(t->up ? "up" : "down");
	m->room = strdup(t->room);
	m->peer_id = t->peer_id;
	m->virtual_ip = strdup(vip);
	if (t->has_vip6) {
		char vip6[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, t->vip6, vip6, sizeof(vip6));
		m->virtual_ip6 = strdup(vip6);
	}
	m->transport = strdup(t->transport);
	m->packets_in = t->packets_in;
	m->bytes_in = t->bytes_in;
	m->packets_out = t->packets_out;
	m->bytes_out = t->bytes_out;
	m->rtt_us = t->rtt_us;
	m->latency_us = t->rtt_us > UINT32_MAX ? UINT32_MAX : (uint32_t)t->rtt_us;
	m->last_seen_unix_ms = t->last_seen_unix_ms;
	m->last_seen_unix = t->last_seen_unix_ms / 1000;
	if (!m->state || !m->room || !m->virtual_ip || !m->virtual_ip6 || !m->transport) {
		roomvpn__v1__tunnel_status__free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

/* The caller's tunnels (an admin: all). 0, or -1 (out of memory). */
static int add_tunnels(struct rv_rpc_ctx *ctx, Roomvpn__V1__HealthResponse *r)
{
	struct rv_tunnel_status *v;
	bool dp_ok = false;
	int n = rv_tunnels_status(ctx->who.admin, ctx->who.user_id, &v, &dp_ok);

	r->dataplane_reachable = dp_ok;
	if (n < 0)
		return -1;
	if (n && !(r->tunnels = calloc((size_t)n, sizeof(*r->tunnels))))
		n = -1;
	for (int i = 0; i < n; i++) {
		if (!(r->tunnels[i] = tunnel_msg(&v[i]))) {
			n = -1;
			break;
		}
		r->n_tunnels++;
	}
	free(v);
	return n < 0 ? -1 : 0;
}

grpc_status_code rv_health_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_control *ctl = ctx->ctl;
	Roomvpn__V1__HealthResponse *r = malloc(sizeof(*r));
	(void)req, (void)msg, (void)msglen;

	if (!r)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	roomvpn__v1__health_response__init(r);
	r->status = strdup("serving");
	r->version = strdup(RV_CONTROL_VERSION);
	r->uptime_s = (rv_control_now_mono() - ctl->start_ns) / 1000000000ull;
	r->users = rv_users_count();
	r->tls_fingerprint = strdup(ctl->tls_fingerprint);
	r->replica_id = strdup(ctl->cfg.replica_id);
	*resp = (ProtobufCMessage *)r; /* freed by the server, also on errors */
	if (add_tunnels(ctx, r) < 0)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	return GRPC_STATUS_OK;
}

static Grpc__Health__V1__HealthCheckResponse *status_for(const char *service)
{
	Grpc__Health__V1__HealthCheckResponse *r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	grpc__health__v1__health_check_response__init(r);
	/* "" is the whole server; the named services are ours */
	bool known = !service[0] || strncmp(service, "roomvpn.v1.", 11) == 0;
	r->status = known
			? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
			: GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	return r;
}

grpc_status_code rv_health_check_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
	(void)ctx;

	if (r->service[0] && strncmp(r->service, "roomvpn.v1.", 11) != 0) {
		snprintf(msg, msglen, "unknown service %.100s", r->service);
		return GRPC_STATUS_NOT_FOUND;
	}
	*resp = (ProtobufCMessage *)status_for(r->service);
	return *resp ? GRPC_STATUS_OK : GRPC_STATUS_RESOURCE_EXHAUSTED;
}

static grpc_status_code watch_message(struct rv_rpc_ctx *ctx, struct rv_stream *s,
				      const ProtobufCMessage *req, char *msg, size_t msglen)
{
	const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
	(void)ctx, (void)msg, (void)msglen;

	if (!r)
		return GRPC_STATUS_OK;
	Grpc__Health__V1__HealthCheckResponse *st = status_for(r->service);
	if (!st)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	rv_stream_send(s, &st->base);
	grpc__health__v1__health_check_response__free_unpacked(st, NULL);
	return GRPC_STATUS_OK; /* stays open: a change would be sent here */
}

static void watch_end(struct rv_rpc_ctx *ctx, struct rv_stream *s, bool cancelled)
{
	(void)ctx, (void)s, (void)cancelled;
}

const struct rv_stream_ops rv_health_watch_ops = {
    .on_message = watch_message,
    .on_end = watch_end,
    .one_request = true,
};
