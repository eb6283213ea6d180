/* The one "hash or verify a password on the worker pool" lifecycle of an
 * RPC: copy what the work needs, queue it on the Argon2 pool (or run it
 * inline when there is none), hash or verify (through the guess limiter
 * when asked), run the caller's step, answer with rv_rpc_complete, wipe
 * the password and free everything, on every path. */
#ifndef RV_PWJOB_H
#define RV_PWJOB_H

#include "password.h"
#include "rpc.h"

enum rv_pwjob_kind { RV_PWJOB_HASH, RV_PWJOB_VERIFY };

struct rv_pwjob;

/* Runs on the pool after the hash or check; its status and response are
 * the call's answer. */
typedef grpc_status_code (*rv_pwjob_step_fn)(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
					     size_t msglen);

struct rv_pwjob {
	struct rv_rpc_ctx *ctx;
	ProtobufCMessage *req;		/* the request's copy (NULL unless copy_req) */
	void *arg;			/* the caller's (freed with free_arg) */
	char hash[RV_PASSWORD_ENCODED]; /* RV_PWJOB_HASH: the new hash */
	/* RV_PWJOB_VERIFY: 0 matches, 1 does not (or a malformed hash), -1
	 * refused by the limiter unchecked (its message already in msg) */
	int verdict;
	/* private */
	enum rv_pwjob_kind kind;
	rv_pwjob_step_fn step;
	void (*free_arg)(void *arg);
	char password[RV_PASSWORD_MAX + 1];
	char encoded[RV_PASSWORD_ENCODED];
	char limit_user[160], limit_addr[64];
	const char *limit_what, *limit_who;
	bool limited;
};

struct rv_pwjob_args {
	enum rv_pwjob_kind kind;
	const char *password;
	const char *encoded;	     /* RV_PWJOB_VERIFY: the stored hash */
	const ProtobufCMessage *req; /* non-NULL: deep-copied into j->req */
	void *arg;		     /* taken over (freed with free_arg, may be NULL) */
	void (*free_arg)(void *arg);
	rv_pwjob_step_fn step;
	/* RV_PWJOB_VERIFY as a guess of the limiter (ratelimit.h), which the
	 * caller admitted with rv_ratelimit_admit(limit_user, limit_addr):
	 * the check ends that reservation, a job that never runs cancels it. */
	const char *limit_user, *limit_addr, *limit_what, *limit_who;
};

/* Starts the job. RV_RPC_PENDING (the pool answers later), the step's
 * status when run inline (no pool), or an error status with a message
 * (out of memory, shutting down). @a->arg is freed on every path. */
grpc_status_code rv_pwjob_start(struct rv_rpc_ctx *ctx, const struct rv_pwjob_args *a,
				ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
