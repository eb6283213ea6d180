/* Session files: a text list of rooms and sessions, read by roomvpn-dpctl
 * (`resync --file`) and roomvpn-loadgen. Format (docs/dataplane-agent.md):
 *
 *   # comment
 *   room <room-id> <subnet>/<prefix-len>
 *   session <peer-id> <room-id> <vip> <cipher> <key-file> [key-id=N]
 *           [key-direction=0|1|none] [outer=A.B.C.D:PORT|[IPV6]:PORT]
 *
 * One entry per line. <key-file> is an OpenVPN static key file (256 bytes);
 * a relative path is taken from the session file's directory. The default
 * key-id is 0 and the default key-direction is 1 (the data plane's side:
 * members use key-direction 0). */
#ifndef RV_DP_SESSION_FILE_H
#define RV_DP_SESSION_FILE_H

#include <stddef.h>

#include "session_table.h"

struct rv_session_file {
	struct rv_st_room *rooms;
	size_t n_rooms;
	struct rv_st_session *sessions; /* addr.kind is RV_ADDR_UDP if outer= was given */
	size_t n_sessions;
};

/* Returns 0, or -1 with "path:line: message" in @err (nothing to free). */
int rv_session_file_load(const char *path, struct rv_session_file *out, char *err, size_t errlen);
/* Parse text already in memory; @dir resolves relative key paths. */
int rv_session_file_parse(const char *text, const char *name, const char *dir,
			  struct rv_session_file *out, char *err, size_t errlen);
/* Frees and wipes the key material. */
void rv_session_file_free(struct rv_session_file *f);

#endif
