/* name -> id hints (name_cache.h): a power-of-two array of slots indexed by
 * a hash of the name, each slot under one of a few striped mutexes. */
#include "name_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 16

struct slot {
	char name[RV_NAME_CACHE_NAME_MAX + 1]; /* "": empty */
	uint64_t id;
};

struct rv_name_cache {
	pthread_mutex_t mu[STRIPES];
	unsigned mask;
	struct slot *slots;
};

/* FNV-1a */
static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

struct rv_name_cache *rv_name_cache_new(unsigned slots)
{
	struct rv_name_cache *c = calloc(1, sizeof(*c));
	unsigned n = 1;
	while (n < slots)
		n <<= 1;
	if (!c || !(c->slots = calloc(n, sizeof(*c->slots)))) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	return c;
}

void rv_name_cache_free(struct rv_name_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c->slots);
	free(c);
}

static bool cacheable(const struct rv_name_cache *c, const char *name)
{
	return c && name[0] && strlen(name) <= RV_NAME_CACHE_NAME_MAX;
}

bool rv_name_cache_get(struct rv_name_cache *c, const char *name, uint64_t *id)
{
	if (!cacheable(c, name))
		return false;
	uint32_t h = hash(name);
	struct slot *s = &c->slots[h & c->mask];
	pthread_mutex_lock(&c->mu[h % STRIPES]);
	bool hit = strcmp(s->name, name) == 0;
	if (hit)
		*id = s->id;
	pthread_mutex_unlock(&c->mu[h % STRIPES]);
	return hit;
}

void rv_name_cache_put(struct rv_name_cache *c, const char *name, uint64_t id)
{
	if (!cacheable(c, name))
		return;
	uint32_t h = hash(name);
	struct slot *s = &c->slots[h & c->mask];
	pthread_mutex_lock(&c->mu[h % STRIPES]);
	strcpy(s->name, name);
	s->id = id;
	pthread_mutex_unlock(&c->mu[h % STRIPES]);
}

void rv_name_cache_forget(struct rv_name_cache *c, const char *name)
{
	if (!cacheable(c, name))
		return;
	uint32_t h = hash(name);
	struct slot *s = &c->slots[h & c->mask];
	pthread_mutex_lock(&c->mu[h % STRIPES]);
	if (strcmp(s->name, name) == 0)
		s->name[0] = '\0';
	pthread_mutex_unlock(&c->mu[h % STRIPES]);
}
