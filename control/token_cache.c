/* The session-token cache (token_cache.h): 16,384 slots indexed by the
 * token hash's first bytes (uniformly random: SHA-256 of 256 random bits),
 * each under one of 64 striped mutexes. The whole hash is compared, so a
 * slot taken over by another token is a miss, never a wrong answer. */
#include "token_cache.h"

#include <pthread.h>
#include <string.h>

#define SLOTS	16384
#define STRIPES 64

struct slot {
	uint8_t hash[32];
	bool used;
	struct rv_token_cache_entry e;
};

static struct slot slots[SLOTS];
static pthread_mutex_t mu[STRIPES] = {[0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static unsigned index_of(const uint8_t hash[32])
{
	return ((unsigned)hash[0] << 8 | hash[1]) % SLOTS;
}

bool rv_token_cache_get(const uint8_t hash[32], struct rv_token_cache_entry *e)
{
	unsigned i = index_of(hash);
	pthread_mutex_lock(&mu[i % STRIPES]);
	bool hit = slots[i].used && memcmp(slots[i].hash, hash, 32) == 0;
	if (hit)
		*e = slots[i].e;
	pthread_mutex_unlock(&mu[i % STRIPES]);
	return hit;
}

void rv_token_cache_put(const uint8_t hash[32], const struct rv_token_cache_entry *e)
{
	unsigned i = index_of(hash);
	pthread_mutex_lock(&mu[i % STRIPES]);
	memcpy(slots[i].hash, hash, 32);
	slots[i].e = *e;
	slots[i].used = true;
	pthread_mutex_unlock(&mu[i % STRIPES]);
}
