#include "api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define REFRESH_MARGIN_S 60

int rv_exit_of_status(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK:
		return RV_EXIT_OK;
	case GRPC_STATUS_INVALID_ARGUMENT:
	case GRPC_STATUS_OUT_OF_RANGE:
		return RV_EXIT_USAGE;
	case GRPC_STATUS_UNAUTHENTICATED:
		return RV_EXIT_AUTH;
	case GRPC_STATUS_PERMISSION_DENIED:
		return RV_EXIT_DENIED;
	case GRPC_STATUS_NOT_FOUND:
		return RV_EXIT_NOT_FOUND;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return RV_EXIT_CONNECT;
	case GRPC_STATUS_ALREADY_EXISTS:
	case GRPC_STATUS_FAILED_PRECONDITION:
	case GRPC_STATUS_ABORTED:
		return RV_EXIT_CONFLICT;
	default:
		return RV_EXIT_ERROR;
	}
}

int rv_api_target(const struct rv_login *l, struct rv_grpc_target *t)
{
	memset(t, 0, sizeof(*t));
	t->server = l->server;
	t->pins = l->pins;
	if (t->pins.n == 0)
		t->ca_file = l->ca_file;
	t->tls_name = l->tls_name[0] ? l->tls_name : NULL;
	return 0;
}

int rv_api_open(struct rv_api *a, const char *dir, char *err, size_t errlen)
{
	struct rv_grpc_target t;
	int rc;

	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	rc = rv_login_load(dir, &a->login, err, errlen);
	if (rc == 1 || (rc == 0 && !a->login.device_token[0])) {
		snprintf(err, errlen, "not logged in: run 'roomvpn login SERVER ...' first");
		return RV_EXIT_AUTH;
	}
	if (rc < 0)
		return RV_EXIT_ERROR;
	if (rv_api_target(&a->login, &t) < 0) {
		snprintf(err, errlen, "%s/login.conf: bad fingerprint; log in again", dir);
		return RV_EXIT_ERROR;
	}
	if (rv_grpc_open(&t, &a->g, err, errlen) < 0)
		return RV_EXIT_CONNECT;
	return RV_EXIT_OK;
}

int rv_api_reconnect(struct rv_api *a, char *err, size_t errlen)
{
	struct rv_grpc_target t;
	struct rv_grpc *g;

	if (rv_api_target(&a->login, &t) < 0) {
		snprintf(err, errlen, "bad fingerprint in the login");
		return -1;
	}
	t.timeout_ms = RV_API_RECONNECT_MS;
	if (rv_grpc_open(&t, &g, err, errlen) < 0)
		return -1;
	rv_grpc_close(a->g); /* after the open: grpc stays initialised */
	a->g = g;
	return 0;
}

void rv_api_close(struct rv_api *a)
{
	rv_grpc_close(a->g);
	a->g = NULL;
	OPENSSL_cleanse(&a->login, sizeof(a->login));
}

void rv_login_apply(struct rv_login *l, const Roomvpn__V1__Session *s)
{
	snprintf(l->session_token, sizeof(l->session_token), "%s", s->session_token);
	snprintf(l->device_token, sizeof(l->device_token), "%s", s->device_token);
	snprintf(l->username, sizeof(l->username), "%s", s->username);
	l->session_expires = s->session_expires_unix;
	l->device_expires = s->device_expires_unix;
	l->user_id = s->user_id;
	l->device_id = s->device_id;
	l->admin = s->admin;
	rv_login_learn_pin(l, s->next_tls_fingerprint); /* saved with the tokens */
}

/* Trade the device token for a new session (the device token rotates). */
static grpc_status_code refresh(struct rv_api *a, struct rv_grpc_result *res)
{
	Roomvpn__V1__RefreshRequest req = ROOMVPN__V1__REFRESH_REQUEST__INIT;
	ProtobufCMessage *resp;
	char err[256];
	grpc_status_code st;

	req.device_token = a->login.device_token;
	st = rv_grpc_call(a->g, "/roomvpn.v1.AuthService/Refresh", &req.base,
			  &roomvpn__v1__session__descriptor, &resp, NULL, res);
	if (st != GRPC_STATUS_OK) {
		if (st == GRPC_STATUS_UNAUTHENTICATED)
			snprintf(res->message, sizeof(res->message),
				 "the device login has expired or was revoked: run 'roomvpn login' "
				 "again");
		return st;
	}
	rv_login_apply(&a->login, (Roomvpn__V1__Session *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (rv_login_save(a->dir, &a->login, err, sizeof(err)) < 0) {
		snprintf(res->message, sizeof(res->message), "%s", err);
		return GRPC_STATUS_INTERNAL;
	}
	return GRPC_STATUS_OK;
}

grpc_status_code rv_api_fresh(struct rv_api *a, struct rv_grpc_result *res)
{
	memset(res, 0, sizeof(*res));
	if ((uint64_t)time(NULL) + REFRESH_MARGIN_S >= a->login.session_expires)
		return refresh(a, res);
	return GRPC_STATUS_OK;
}

grpc_status_code rv_api_call(struct rv_api *a, const char *path, const ProtobufCMessage *req,
			     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			     struct rv_grpc_result *res)
{
	grpc_status_code st;

	*resp = NULL;
	st = rv_api_fresh(a, res);
	if (st != GRPC_STATUS_OK)
		return st;
	st = rv_grpc_call(a->g, path, req, resp_desc, resp, a->login.session_token, res);
	if (st != GRPC_STATUS_UNAUTHENTICATED)
		return st;
	/* The session may have been ended on the server side: refresh once. */
	if (refresh(a, res) != GRPC_STATUS_OK)
		return GRPC_STATUS_UNAUTHENTICATED;
	return rv_grpc_call(a->g, path, req, resp_desc, resp, a->login.session_token, res);
}
