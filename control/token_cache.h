/* Session tokens already resolved: token hash -> (user, device, expiry).
 * A session token's record never changes once written (docs/store.md: it
 * is only ever deleted, by the sweep, once expired), so what it says can be
 * kept; what can change — the device revoked, the user disabled or gone —
 * is read again on every call (auth.c). Saves the t/ read of every RPC:
 * the caller's device and user then come in one round trip. Fixed size,
 * direct-mapped by the hash; thread-safe. */
#ifndef RV_TOKEN_CACHE_H
#define RV_TOKEN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct rv_token_cache_entry {
	uint64_t user_id, device_id, expires_ns;
};

/* true and *e if the session token of @hash was learned. */
bool rv_token_cache_get(const uint8_t hash[32], struct rv_token_cache_entry *e);
/* Learn a session token (issued here, or read from the store). */
void rv_token_cache_put(const uint8_t hash[32], const struct rv_token_cache_entry *e);

#endif
