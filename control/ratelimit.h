/* Password-guess limiter for logins and room passwords. A check is admitted
 * BEFORE its Argon2 job is queued, by a reservation taken atomically under
 * the limiter's lock; the job ends it with rv_ratelimit_release.
 *
 * Policy (docs/control.md, "Password guessing"):
 *  - per (user, address) pair: a token bucket of login_fail_per_user checks,
 *    refilled evenly over login_fail_window;
 *  - per address: a token bucket of login_fail_per_addr checks over the same
 *    window, shared by every user name (and room) tried from it;
 *  - per address: at most login_inflight_per_addr checks queued or running
 *    on the password pool at once.
 * A right password gives its tokens back, so only wrong guesses use them up.
 * There is no limit per user alone: guesses from one address never refuse
 * the same user logging in from another. */
#ifndef RV_RATELIMIT_H
#define RV_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"

enum rv_ratelimit_verdict {
	RV_RATELIMIT_OK,   /* admitted: a reservation is held */
	RV_RATELIMIT_USER, /* the (user, address) pair's bucket is empty */
	RV_RATELIMIT_ADDR, /* the address's bucket is empty */
	RV_RATELIMIT_BUSY, /* the address has too many checks in flight */
};

struct rv_ratelimit *rv_ratelimit_new(const struct rv_control_config *cfg);
void rv_ratelimit_free(struct rv_ratelimit *rl);

/* Reserves one password check of @user from @addr at @now_ns. OK, or a
 * refusal with the ns until a retry can succeed in *wait_ns. */
enum rv_ratelimit_verdict rv_ratelimit_reserve(struct rv_ratelimit *rl, const char *user,
					       const char *addr, uint64_t now_ns,
					       uint64_t *wait_ns);
/* Ends a reservation. @refund (the password was right, or it was never
 * checked) gives its tokens back. */
void rv_ratelimit_release(struct rv_ratelimit *rl, const char *user, const char *addr, bool refund);

/* rv_ratelimit_reserve for an RPC: GRPC_STATUS_OK, or RESOURCE_EXHAUSTED with
 * "too many <what> for this <who> from this address: retry in N s" (or the
 * in-flight message) in @msg. @rl NULL: always OK. */
grpc_status_code rv_ratelimit_admit(struct rv_ratelimit *rl, const char *user, const char *addr,
				    const char *what, const char *who, char *msg, size_t msglen);

/* "ipv4:1.2.3.4:555" -> "1.2.3.4"; "ipv6:[::1]:5" -> "::1". */
void rv_ratelimit_addr_of_peer(const char *peer, char *out, size_t outlen);

#endif
