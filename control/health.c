/* Health: the server's own state now; per-device tunnel status comes with
 * the tunnel streams. */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "grpc/health/v1/health.pb-c.h"
#include "roomvpn/v1/health.pb-c.h"
#include "users.h"

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
	*resp = (ProtobufCMessage *)r;
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
