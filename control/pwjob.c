/* Password work on the Argon2 pool (pwjob.h). */
#include "pwjob.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

static ProtobufCMessage *msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return c;
}

static void job_free(struct rv_pwjob *j)
{
	OPENSSL_cleanse(j->password, sizeof(j->password));
	OPENSSL_cleanse(j->hash, sizeof(j->hash));
	if (j->req)
		protobuf_c_message_free_unpacked(j->req, NULL);
	if (j->arg && j->free_arg)
		j->free_arg(j->arg);
	free(j);
}

/* The limiter's reservation of a guess that will never be checked. */
static void job_cancel(struct rv_pwjob *j)
{
	if (j->limited)
		rv_ratelimit_cancel(j->ctx->ctl->ratelimit, j->limit_user, j->limit_addr);
}

/* Hash or check, then the step. */
static grpc_status_code job_run(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				size_t msglen)
{
	struct rv_pwpool *pool = j->ctx->ctl->pwpool;
	if (pool)
		rv_pwpool_cpu_begin(pool); /* the step after it may wait on the disk */
	if (j->kind == RV_PWJOB_HASH) {
		if (rv_password_hash(&j->ctx->ctl->cfg, j->password, j->hash, sizeof(j->hash), msg,
				     msglen) != 0) {
			if (pool)
				rv_pwpool_cpu_end(pool);
			return GRPC_STATUS_INTERNAL;
		}
	} else if (j->limited) {
		j->verdict = rv_ratelimit_verify(j->ctx->ctl->ratelimit, j->limit_user,
						 j->limit_addr, j->encoded, j->password,
						 j->limit_what, j->limit_who, msg, msglen);
	} else {
		j->verdict = rv_password_verify(j->encoded, j->password) == 0 ? 0 : 1;
	}
	if (pool)
		rv_pwpool_cpu_end(pool);
	OPENSSL_cleanse(j->password, sizeof(j->password));
	return j->step(j, resp, msg, msglen);
}

static void job_main(void *arg)
{
	struct rv_pwjob *j = arg;
	struct rv_rpc_ctx *ctx = j->ctx;
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";
	grpc_status_code st;

	if (rv_rpc_abandoned(ctx)) {
		job_cancel(j);
		st = GRPC_STATUS_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "server shutting down");
	} else {
		st = job_run(j, &resp, msg, sizeof(msg));
	}
	if (st != GRPC_STATUS_OK && resp) {
		protobuf_c_message_free_unpacked(resp, NULL);
		resp = NULL;
	}
	job_free(j);
	rv_rpc_complete(ctx, st, resp, msg);
}

grpc_status_code rv_pwjob_start(struct rv_rpc_ctx *ctx, const struct rv_pwjob_args *a,
				ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_pwjob *j = calloc(1, sizeof(*j));
	if (!j) {
		if (a->limit_user)
			rv_ratelimit_cancel(ctx->ctl->ratelimit, a->limit_user, a->limit_addr);
		if (a->arg && a->free_arg)
			a->free_arg(a->arg);
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	j->ctx = ctx;
	j->kind = a->kind;
	j->step = a->step;
	j->arg = a->arg;
	j->free_arg = a->free_arg;
	snprintf(j->password, sizeof(j->password), "%s", a->password);
	snprintf(j->encoded, sizeof(j->encoded), "%s", a->encoded ? a->encoded : "");
	if (a->kind == RV_PWJOB_VERIFY && a->limit_user) {
		j->limited = true;
		snprintf(j->limit_user, sizeof(j->limit_user), "%s", a->limit_user);
		snprintf(j->limit_addr, sizeof(j->limit_addr), "%s", a->limit_addr);
		j->limit_what = a->limit_what;
		j->limit_who = a->limit_who;
	}
	if (a->req && !(j->req = msg_copy(a->req))) {
		job_cancel(j);
		job_free(j);
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	if (!ctx->ctl->pwpool) { /* no pool (unit tests): inline */
		grpc_status_code st = job_run(j, resp, msg, msglen);
		job_free(j);
		return st;
	}
	if (rv_pwpool_submit(ctx->ctl->pwpool, job_main, j) != 0) {
		job_cancel(j);
		job_free(j);
		snprintf(msg, msglen, "server is shutting down");
		return GRPC_STATUS_UNAVAILABLE;
	}
	return RV_RPC_PENDING;
}
