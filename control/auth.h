/* AuthService (Login, Refresh, Logout) and the token checks behind the
 * scope check. Tokens: tokens.h; passwords: password.h. */
#ifndef RV_AUTH_H
#define RV_AUTH_H

#include "control.h"
#include "roomvpn/v1/auth.pb-c.h"

#define RV_SESSION_HEADER "x-roomvpn-session"

/* Resolves a session token into @who: GRPC_STATUS_OK, or UNAUTHENTICATED
 * (unknown, expired, revoked device, deleted or disabled user) with a
 * message. */
grpc_status_code rv_auth_resolve(struct rv_control *ctl, const char *token,
				 struct rv_principal *who, char *msg, size_t msglen);
/* The same, reading with the caller's device and user records the keys
 * @fill adds from @req (prefetch.h) in one round trip; on OK *pre holds
 * them (the caller frees it with rv_prefetch_free). A session token read
 * once is remembered (token_cache.h). @fill NULL: no other keys. */
grpc_status_code rv_auth_resolve_with(struct rv_control *ctl, const char *token,
				      struct rv_principal *who, rv_prefetch_fn fill,
				      const ProtobufCMessage *req, struct rv_prefetch **pre,
				      char *msg, size_t msglen);
/* Issues a new device (named @device_name) and session for a user who just
 * proved their password. Fills @out (strings malloc'd). 0 or -1. */
int rv_auth_issue(struct rv_control *ctl, uint64_t user_id, const char *username, bool admin,
		  const char *device_name, Roomvpn__V1__Session *out);
/* Trades a device token for a new session and device token. */
grpc_status_code rv_auth_refresh(struct rv_control *ctl, const char *device_token,
				 Roomvpn__V1__Session *out, char *msg, size_t msglen);
/* Renames (@name non-NULL) or revokes (@revoke) device @dev of @user_id,
 * serialized with token rotation: 0, 1 if the user has no such device (or
 * it is revoked already), -1 on a store error. A revoked device's tokens
 * stop resolving at once; its tunnels are the caller's (devices.c). */
int rv_auth_device_update(struct rv_control *ctl, uint64_t user_id, uint64_t dev, const char *name,
			  bool revoke);
/* Prepares the password checks (a dummy hash for unknown users). 0 or -1. */
int rv_auth_init(struct rv_control *ctl, char *err, size_t errlen);

/* Deletes expired token records, and devices expired for longer than a
 * session lives (with their du/ index). Returns the number of keys deleted,
 * or -1 on a store error. */
long rv_auth_sweep(struct rv_control *ctl, uint64_t now_ns);
/* A thread running rv_auth_sweep every cfg.token_sweep_ns; stop joins it. */
int rv_auth_sweeper_start(struct rv_control *ctl);
void rv_auth_sweeper_stop(void);

grpc_status_code rv_auth_login_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_auth_refresh_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_auth_logout_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
