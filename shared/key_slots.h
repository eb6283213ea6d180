/* A session's keys, by the 3-bit key-id: the current key seals; the previous
 * one is still accepted for a grace period after a re-key, then wiped. */
#ifndef RV_KEY_SLOTS_H
#define RV_KEY_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cipher.h"
#include "dc_frame.h"
#include "replay.h"

#define RV_KEY_SLOTS 2

struct rv_dc_key {
	bool in_use;
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_cipher_ctx *enc;
	struct rv_cipher_ctx *dec;
	uint32_t tx_pid;       /* last packet-id sent with this key */
	uint64_t retire_at_ns; /* 0 while current; else when it is wiped */
	uint32_t rx_time;      /* static suite: peer's long-form time epoch */
	struct rv_replay replay;
};

/* Both ends of a session use the same peer-id: it is written into every
 * sealed P_DATA_V2 header and opened packets must carry it. */
struct rv_dc_session {
	uint32_t peer_id; /* written into every sealed P_DATA_V2 header */
	uint32_t replay_window;
	int tx_slot; /* slot that seals, -1 before the first key */
	struct rv_dc_key slot[RV_KEY_SLOTS];
};

/* Next key-id after @cur: (cur + 1) & 7, skipping 0. */
uint8_t rv_key_id_next(uint8_t cur);

/* @replay_window 0 means RV_REPLAY_DEFAULT_WINDOW. Returns 0, or -1 if
 * @peer_id > 0xFFFFFF or the window exceeds RV_REPLAY_MAX_WINDOW. */
int rv_dc_session_init(struct rv_dc_session *s, uint32_t peer_id, uint32_t replay_window);
/* Install a key: it becomes the sealing key; the one before it stays valid
 * for opening until now + @grace_ns. Returns 0, or -1 (bad suite/key-id,
 * OpenSSL error) leaving the session unchanged. Not for the packet path. */
int rv_dc_session_install(struct rv_dc_session *s, uint8_t key_id, enum rv_cipher suite,
			  const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t now_ns,
			  uint64_t grace_ns);
/* Wipe keys whose grace period has passed. */
void rv_dc_session_expire(struct rv_dc_session *s, uint64_t now_ns);
/* Wipe every key. */
void rv_dc_session_destroy(struct rv_dc_session *s);

enum rv_drop rv_dc_session_seal(struct rv_dc_session *s, struct rv_pkt *p, uint32_t now_s);
/* Open with the slot named by the packet's key-id, then replay-check.
 * Drops: MALFORMED/BAD_OPCODE (header), UNKNOWN_PEER (peer-id is not
 * s->peer_id), UNKNOWN_KEY (no live key with that id), AUTH, REPLAY.
 * The static suite has no header: the sealing key opens, and a newer
 * long-form time from the peer (it restarted) resets the replay window. */
enum rv_drop rv_dc_session_open(struct rv_dc_session *s, struct rv_pkt *p, uint64_t now_ns);
/* True once the sealing key's packet-id has reached RV_PID_REKEY_THRESHOLD. */
bool rv_dc_session_rekey_due(const struct rv_dc_session *s);

#endif
