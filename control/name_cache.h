/* A small fixed-size cache of name -> id (room names, usernames) that lets
 * a lookup by name skip the name-index read: one round trip instead of two
 * on etcd. A hint only: the caller checks the record it reads under the id
 * still carries the name (a rename or a delete makes it miss) and falls
 * back to the index. Direct-mapped; thread-safe. */
#ifndef RV_NAME_CACHE_H
#define RV_NAME_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#define RV_NAME_CACHE_NAME_MAX 63 /* longer names are not cached */

struct rv_name_cache;

/* A process-wide cache of about @slots entries (rounded up to a power of
 * two); NULL when out of memory (then every lookup misses). */
struct rv_name_cache *rv_name_cache_new(unsigned slots);
void rv_name_cache_free(struct rv_name_cache *c);
/* true and *id if @name was learned (NULL @c: false). */
bool rv_name_cache_get(struct rv_name_cache *c, const char *name, uint64_t *id);
void rv_name_cache_put(struct rv_name_cache *c, const char *name, uint64_t id);
void rv_name_cache_forget(struct rv_name_cache *c, const char *name);

#endif
