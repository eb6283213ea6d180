/* The server's TLS certificate: from tls_cert/tls_key in the config, or a
 * self-signed EC P-256 pair generated into <state_dir>/tls/ on first start
 * (SAN: localhost, 127.0.0.1, ::1 and tls_names). */
#ifndef RV_TLS_H
#define RV_TLS_H

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

#endif
