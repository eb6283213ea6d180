/* The server's TLS certificate: from tls_cert/tls_key in the config, or a
 * self-signed EC P-256 pair generated into <state_dir>/tls/ on first start
 * (SAN: localhost, 127.0.0.1, ::1 and tls_names).
 *
 * Rotation of the self-signed pair without breaking clients that pin it:
 * `rotate-cert prepare` generates tls/next.{crt,key}; the server announces
 * the next fingerprint (read at start and on SIGHUP) in every Login/Refresh
 * reply and keepalive heartbeat, and clients add it to their pin set;
 * `rotate-cert commit` moves next.* to server.* (the old pair to
 * previous.*), taken into use at the next start. */
#ifndef RV_TLS_H
#define RV_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "control.h"

/* Loads (generating if needed) the PEM cert chain and key; fills
 * ctl->tls_fingerprint (SHA-256 of the leaf, "AB:CD:...") and logs it.
 * Returns 0 with malloc'd strings (free the key with rv_tls_free_pem), or
 * -1 with a message in @err. */
int rv_tls_load(struct rv_control *ctl, char **cert_pem, char **key_pem, char *err, size_t errlen);
void rv_tls_free_pem(char *pem);
/* Paths of the self-signed pair in @state_dir. */
void rv_tls_default_paths(const char *state_dir, char *cert, char *key, size_t len);

/* Paths of the prepared next pair in @state_dir. */
void rv_tls_next_paths(const char *state_dir, char *cert, char *key, size_t len);

/* Read tls/next.crt (if any, and only for the self-signed pair) and make its
 * fingerprint the announced one; none clears it. Returns 1 if announcing. */
int rv_tls_load_next(const struct rv_control_config *cfg);
/* Copy the announced next fingerprint ("AB:CD:...") into @out; false (and
 * "") when no rotation is prepared. Any thread. */
bool rv_tls_next_pin(char *out, size_t len);

/* Generate tls/next.{crt,key} unless present; write its fingerprint into
 * @fp. Returns 0, or -1 with a message (also when tls_cert is configured). */
int rv_tls_rotate_prepare(const struct rv_control_config *cfg, char fp[96], char *err,
			  size_t errlen);
/* Make the prepared pair the current one (the old one kept as
 * tls/previous.*); @fp gets its fingerprint. Returns 0, or -1 with a message. */
int rv_tls_rotate_commit(const struct rv_control_config *cfg, char fp[96], char *err,
			 size_t errlen);

#endif
