/* The logged-in client: the login state from the config directory, the
 * gRPC channel it names, and calls that refresh the session token by
 * themselves (before it expires, and once more on UNAUTHENTICATED) and
 * store the rotated device token. Also the exit codes of the CLI. */
#ifndef RV_CLIENT_API_H
#define RV_CLIENT_API_H

#include "grpc_client.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "state.h"

/* Exit codes of `roomvpn` (documented in docs/client.md and --help). */
enum rv_exit {
	RV_EXIT_OK = 0,
	RV_EXIT_ERROR = 1,     /* anything else (server error, local I/O) */
	RV_EXIT_USAGE = 2,     /* bad command line or input the server refused as invalid */
	RV_EXIT_AUTH = 3,      /* not logged in, wrong password, session over */
	RV_EXIT_DENIED = 4,    /* logged in, but not allowed */
	RV_EXIT_NOT_FOUND = 5, /* no such user, room, member */
	RV_EXIT_CONNECT = 6,   /* server unreachable, TLS or fingerprint failure */
	RV_EXIT_CONFLICT = 7,  /* already exists / wrong state */
};

int rv_exit_of_status(grpc_status_code st);

struct rv_api {
	char dir[RV_STATE_PATH];
	struct rv_login login;
	struct rv_grpc *g;
};

/* Build a grpc target from a login (pin or CA). Returns 0, or -1 if the
 * stored fingerprint is malformed. */
int rv_api_target(const struct rv_login *l, struct rv_grpc_target *t);

/* Load the login from @dir and open the channel. Returns RV_EXIT_OK or an
 * exit code with a message in @err (RV_EXIT_AUTH when not logged in). */
int rv_api_open(struct rv_api *a, const char *dir, char *err, size_t errlen);
void rv_api_close(struct rv_api *a);

/* Replace the channel with a fresh one (a new TCP + TLS connection, the pin
 * checked again), for a client whose server went away: grpc's own
 * reconnects of an old channel are not relied on. Calls on the new channel
 * time out after RV_API_RECONNECT_MS. Returns 0, or -1 with a message. */
#define RV_API_RECONNECT_MS 3000
int rv_api_reconnect(struct rv_api *a, char *err, size_t errlen);

/* Copy a Login/Refresh reply into @l (tokens, expiry, ids). */
void rv_login_apply(struct rv_login *l, const Roomvpn__V1__Session *s);

/* Refresh the session token now if it is within a minute of expiring.
 * Returns GRPC_STATUS_OK or the refresh's failure. */
grpc_status_code rv_api_fresh(struct rv_api *a, struct rv_grpc_result *res);

/* A call with the session token; refreshes as described above. */
grpc_status_code rv_api_call(struct rv_api *a, const char *path, const ProtobufCMessage *req,
			     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			     struct rv_grpc_result *res);

#endif
