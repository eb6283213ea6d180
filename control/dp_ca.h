/* The fleet CA: a small certificate authority in `dataplane_ca_dir`
 * (default <state_dir>/fleet, mode 0700) that signs the certificates of
 * remote data planes (client certificates, CN = the data plane's name) and
 * the control plane's own certificate for the agent listener
 * (dp_link_tls.c). Files in the directory:
 *   ca.crt, ca.key          EC P-256, 10 years, created on first use
 *   server.crt, server.key  the agent listener's certificate (re-issued when
 *                           it does not cover the wanted names)
 *   revoked                 one revoked data-plane name a line
 * `roomvpn-control dataplane-cert NAME` and `dataplane-revoke NAME`. */
#ifndef RV_DP_CA_H
#define RV_DP_CA_H

#include <stdbool.h>
#include <stddef.h>

#include "control.h"

#define RV_DP_CA_CLIENT_DAYS 365
#define RV_DP_CA_DAYS	     3650

/* The CA directory of @cfg: dataplane_ca_dir, or <state_dir>/fleet. */
void rv_dp_ca_dir(const struct rv_control_config *cfg, char *out, size_t outlen);

/* Create @dir (0700) and ca.crt/ca.key unless present. 0 or -1 with a message. */
int rv_dp_ca_ensure(const char *dir, char *err, size_t errlen);

/* True if @name is a valid data-plane name: 1..63 of [A-Za-z0-9._-]. */
bool rv_dp_ca_name_valid(const char *name);

/* Issue a client certificate for data plane @name (CN=@name, 1 year) into
 * @out_dir: NAME.crt, NAME.key (0600) and a copy of ca.crt. Refuses a
 * revoked name. 0 or -1 with a message. */
int rv_dp_ca_issue_client(const char *dir, const char *name, const char *out_dir, char *err,
			  size_t errlen);

/* The agent listener's certificate: <dir>/server.{crt,key}, signed by the
 * CA, CN the first of @names (comma-separated host names / IP literals, each
 * also a SAN). Issued afresh when missing or not covering every name.
 * Paths written to @crt/@key (@len bytes each). 0 or -1 with a message. */
int rv_dp_ca_server_cert(const char *dir, const char *names, char *crt, char *key, size_t len,
			 char *err, size_t errlen);

/* Add @name to <dir>/revoked (once). 0 or -1 with a message. */
int rv_dp_ca_revoke(const char *dir, const char *name, char *err, size_t errlen);
/* True if <dir>/revoked lists @name (a missing file lists nothing). */
bool rv_dp_ca_is_revoked(const char *dir, const char *name);

#endif
