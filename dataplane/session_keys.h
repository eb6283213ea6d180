/* Internal to the session tables: key objects (session_keys.c), used by
 * session_table.c. Writer side only: must be called from the agent thread. */
#ifndef RV_DP_SESSION_KEYS_H
#define RV_DP_SESSION_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_tables.h"

/* Limits the keys follow (replay window, grace, TCP "none" contexts);
 * rv_st_init passes its checked copy. */
void rv_dp_keys_init(const struct rv_st_params *p);
/* session_table.c's writer check (the one writer, online). */
void rv_dp_writer_enter(void);

/* A key with both directions set up, or NULL with a message in @err. */
struct rv_dp_key *rv_dp_key_new(uint8_t key_id, enum rv_cipher c, const struct rv_key_material *km,
				int dir, char *err, size_t errlen);
/* Wipe and free now (no reader may still see @k). */
void rv_dp_key_free(struct rv_dp_key *k);
/* Same key-id, suite and material (resync keeps such a key's state). */
bool rv_dp_key_same(const struct rv_dp_key *a, const struct rv_dp_key *b);
/* @s holds @key_id as its sealing key or as a pending one. */
bool rv_dp_key_held(struct rv_dp_session *s, uint8_t key_id);

/* Live key objects and key frees waiting for a grace period. */
uint32_t rv_dp_keys_live(void);
uint64_t rv_dp_keys_pending_frees(void);

#endif
