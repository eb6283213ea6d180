/* Failed-login limiter: at most N failures per user and M per source
 * address within a window; then logins are refused until the window ends. */
#ifndef RV_RATELIMIT_H
#define RV_RATELIMIT_H

#include <stdint.h>

#include "control.h"

struct rv_ratelimit *rv_ratelimit_new(const struct rv_control_config *cfg);
void rv_ratelimit_free(struct rv_ratelimit *rl);
/* 0 if a login for @user from @addr may proceed, else the ns until it may
 * (and *which is "user" or "address"). */
uint64_t rv_ratelimit_check(struct rv_ratelimit *rl, const char *user, const char *addr,
			    uint64_t now_ns, const char **which);
void rv_ratelimit_failed(struct rv_ratelimit *rl, const char *user, const char *addr,
			 uint64_t now_ns);
/* A successful login clears the user's failures (not the address's). */
void rv_ratelimit_succeeded(struct rv_ratelimit *rl, const char *user);
/* "ipv4:1.2.3.4:555" -> "1.2.3.4"; "ipv6:[::1]:5" -> "::1". */
void rv_ratelimit_addr_of_peer(const char *peer, char *out, size_t outlen);

#endif
