/* Users: records in the store (u/<id>, un/<name>) and the admin-only
 * UserService handlers. */
#ifndef RV_USERS_H
#define RV_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/auth_store.pb-c.h"
#include "store.h"

#define RV_USERNAME_MAX 63

/* 1-63 chars of [A-Za-z0-9._-]. */
bool rv_users_valid_name(const char *name);
/* 0 and the record (free with rv_users_free), 1 absent, -1 error. */
int rv_users_get_by_name(struct rv_store *s, const char *name, Roomvpn__V1__UserRecord **out);
int rv_users_get_by_id(struct rv_store *s, uint64_t id, Roomvpn__V1__UserRecord **out);
void rv_users_free(Roomvpn__V1__UserRecord *u);
/* Creates a user with an already-encoded password hash (synced write).
 * 0 and *id, 1 if the name is taken, -1 with a message in @err. */
int rv_users_create(struct rv_store *s, const char *name, const char *pw_hash, bool admin,
		    uint64_t *id, char *err, size_t errlen);
/* Number of users (kept in memory; counted from the store at start). */
uint64_t rv_users_count(void);
int rv_users_load_count(struct rv_store *s);

/* Allocates the next id of counter meta/next/<name> into @b; the caller
 * holds rv_id_lock() until the batch is committed. 0 or -1. */
int rv_id_alloc(struct rv_store *s, struct rv_store_batch *b, const char *name, uint64_t *id);
void rv_id_lock(void);
void rv_id_unlock(void);
/* The next id of counter meta/next/<name> from @blk, which reserves
 * RV_ID_BLOCK ids at a time with one synced write (under rv_id_lock): no
 * lock is held across the caller's batch, ids stay unique across restarts
 * (the ones of a block left unused are skipped). 0 or -1 (store error). */
#define RV_ID_BLOCK 1024
int rv_id_next(struct rv_store *s, struct rv_id_block *blk, const char *name, uint64_t *id);

/* A new account's name and password, checked as UserService.Create does:
 * OK, or INVALID_ARGUMENT with the reason. */
grpc_status_code rv_users_check_new(const char *name, const char *password, char *msg,
				    size_t msglen);
grpc_status_code rv_users_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_users_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_users_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_users_update_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_users_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
