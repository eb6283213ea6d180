/* Password-guess limiter for logins and room passwords, in two steps:
 *  1. when the RPC arrives, before its job is queued: rv_ratelimit_admit
 *     takes one of the address's in-flight slots (refused at once when
 *     they are all taken or a bucket below is already empty);
 *  2. on the password pool, right before Argon2: rv_ratelimit_verify takes
 *     the guess's tokens atomically under the limiter's lock, checks, gives
 *     them back if the password was right, and frees the slot.
 * Tokens are taken in step 2 rather than 1 so that a user's own concurrent
 * right-password logins never refuse each other (tokens held by unsettled
 * checks); at most argon2_workers checks are unsettled at once, so N
 * concurrent wrong guesses still get at most the bucket's checks.
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

/* Step 1 at @now_ns: OK with an in-flight slot held, or a refusal with the
 * ns until a retry can succeed in *wait_ns. */
enum rv_ratelimit_verdict rv_ratelimit_reserve(struct rv_ratelimit *rl, const char *user,
					       const char *addr, uint64_t now_ns,
					       uint64_t *wait_ns);
/* rv_ratelimit_reserve for an RPC: GRPC_STATUS_OK, or RESOURCE_EXHAUSTED with
 * "too many <what> for this <who> from this address: retry in N s" (or the
 * in-flight message) in @msg. @rl NULL: always OK. */
grpc_status_code rv_ratelimit_admit(struct rv_ratelimit *rl, const char *user, const char *addr,
				    const char *what, const char *who, char *msg, size_t msglen);
/* Step 2, ending the reservation: 0 if @password matches @encoded, 1 if not
 * (or @encoded is malformed), -1 if refused by a bucket without checking
 * (the message, worded as for rv_ratelimit_admit, in @msg). @rl NULL: an
 * unlimited check. */
int rv_ratelimit_verify(struct rv_ratelimit *rl, const char *user, const char *addr,
			const char *encoded, const char *password, const char *what,
			const char *who, char *msg, size_t msglen);
/* Ends a reservation whose password was never checked. */
void rv_ratelimit_cancel(struct rv_ratelimit *rl, const char *user, const char *addr);

/* Checks done (Argon2 verifications admitted by step 2) since start. */
uint64_t rv_ratelimit_checks(struct rv_ratelimit *rl);

/* "ipv4:1.2.3.4:555" -> "1.2.3.4"; "ipv6:[::1]:5" -> "::1". */
void rv_ratelimit_addr_of_peer(const char *peer, char *out, size_t outlen);

#endif
