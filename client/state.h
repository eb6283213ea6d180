/* The client's files, under its config directory ($XDG_CONFIG_HOME/roomvpn,
 * else ~/.config/roomvpn, or --config-dir), mode 0700:
 *   login.conf    server, TLS pins or CA, username, session and device
 *                 tokens ("key = value", mode 0600, replaced atomically);
 *                 one "fingerprint = FP" line per pin (older clients wrote
 *                 exactly one)
 *   run/ROOM.pid  pid of the `roomvpn up ROOM` process
 *   run/ROOM.json its status (transport, RTT, counters), rewritten each second */
#ifndef RV_CLIENT_STATE_H
#define RV_CLIENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls_pin.h"

#define RV_STATE_PATH 512

struct rv_login {
	char server[256];
	struct rv_pinset pins; /* empty when a CA file is used */
	char ca_file[RV_STATE_PATH];
	char tls_name[256];
	char username[64];
	char session_token[256];
	char device_token[256];
	uint64_t session_expires; /* unix seconds */
	uint64_t device_expires;
	uint64_t user_id, device_id;
	bool admin;
};

/* Resolve the config directory (@override, else XDG, else HOME) into @out
 * and create it (0700) if needed. Returns 0, or -1 with a message. */
int rv_state_dir(const char *override, char *out, size_t len, char *err, size_t errlen);

/* Returns 0, 1 if there is no login file, or -1 with a message. */
int rv_login_load(const char *dir, struct rv_login *l, char *err, size_t errlen);
/* Write login.conf (0600) atomically. Returns 0, or -1 with a message. */
int rv_login_save(const char *dir, const struct rv_login *l, char *err, size_t errlen);
/* A next certificate fingerprint the server announced (@fp "AB:CD:..." or
 * ""): added to the pins of a pinned login. Returns true if the set changed
 * (save the login then). */
bool rv_login_learn_pin(struct rv_login *l, const char *fp);
/* Remove login.conf. Returns 0, or -1 with a message. */
int rv_login_remove(const char *dir, char *err, size_t errlen);

/* "DIR/run/ROOM.EXT"; creates DIR/run. Returns 0, or -1 (bad room name). */
int rv_run_path(const char *dir, const char *room, const char *ext, char *out, size_t len);

#endif
