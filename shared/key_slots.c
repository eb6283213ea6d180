/* A session's keys by key-id: install, grace period, retire, and the
 * seal/open entry points that pick the slot and run the replay check. */
#include <string.h>

#include <openssl/crypto.h>

#include "key_slots.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

uint8_t rv_key_id_next(uint8_t cur)
{
	uint8_t n = (cur + 1) & 7;

	return n ? n : 1;
}

int rv_dc_session_init(struct rv_dc_session *s, uint32_t peer_id, uint32_t replay_window)
{
	memset(s, 0, sizeof(*s));
	if (peer_id > 0xFFFFFF || replay_window > RV_REPLAY_MAX_WINDOW)
		return -1;
	s->peer_id = peer_id;
	s->replay_window = replay_window ? replay_window : RV_REPLAY_DEFAULT_WINDOW;
	s->tx_slot = -1;
	return 0;
}

static void key_wipe(struct rv_dc_key *k)
{
	rv_cipher_ctx_free(k->enc);
	rv_cipher_ctx_free(k->dec);
	rv_replay_free(&k->replay);
	OPENSSL_cleanse(k, sizeof(*k));
}

int rv_dc_session_install(struct rv_dc_session *s, uint8_t key_id, enum rv_cipher suite,
			  const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t now_ns,
			  uint64_t grace_ns)
{
	struct rv_dc_key k = {.in_use = true, .key_id = key_id, .suite = suite};
	int target = s->tx_slot < 0 ? 0 : 1 - s->tx_slot;

	if (key_id > 7 || (unsigned)suite >= RV_CIPHER__COUNT)
		return -1;
	if (s->tx_slot >= 0 && s->slot[s->tx_slot].key_id == key_id)
		return -1; /* the peer could not tell the keys apart */
	k.enc = rv_cipher_ctx_new(suite, tx, true);
	if (!k.enc)
		goto err;
	k.dec = rv_cipher_ctx_new(suite, rx, false);
	if (!k.dec)
		goto err_enc;
	if (rv_replay_init(&k.replay, s->replay_window) < 0)
		goto err_dec;

	key_wipe(&s->slot[target]);
	s->slot[target] = k;
	if (s->tx_slot >= 0) {
		struct rv_dc_key *old = &s->slot[s->tx_slot];
		if (grace_ns == 0)
			key_wipe(old);
		else
			old->retire_at_ns = now_ns + grace_ns;
	}
	s->tx_slot = target;
	return 0;
err_dec:
	rv_cipher_ctx_free(k.dec);
err_enc:
	rv_cipher_ctx_free(k.enc);
err:
	return -1;
}

void rv_dc_session_expire(struct rv_dc_session *s, uint64_t now_ns)
{
	for (int i = 0; i < RV_KEY_SLOTS; i++) {
		struct rv_dc_key *k = &s->slot[i];
		if (i != s->tx_slot && k->in_use && k->retire_at_ns && now_ns >= k->retire_at_ns)
			key_wipe(k);
	}
}

void rv_dc_session_destroy(struct rv_dc_session *s)
{
	for (int i = 0; i < RV_KEY_SLOTS; i++)
		key_wipe(&s->slot[i]);
	s->tx_slot = -1;
}

enum rv_drop rv_dc_session_seal(struct rv_dc_session *s, struct rv_pkt *p, uint32_t now_s)
{
	struct rv_dc_key *k;
	enum rv_drop r;

	if (unlikely(s->tx_slot < 0))
		return RV_DROP_UNKNOWN_KEY;
	k = &s->slot[s->tx_slot];
	if (unlikely(k->tx_pid == UINT32_MAX))
		return RV_DROP_PID_EXHAUSTED;
	r = rv_dc_seal(k->enc, k->key_id, s->peer_id, k->tx_pid + 1, now_s, p);
	if (r == RV_OK)
		k->tx_pid++;
	return r;
}

static struct rv_dc_key *find_key(struct rv_dc_session *s, uint8_t key_id, uint64_t now_ns)
{
	for (int i = 0; i < RV_KEY_SLOTS; i++) {
		struct rv_dc_key *k = &s->slot[i];
		if (k->in_use && k->key_id == key_id &&
		    (k->retire_at_ns == 0 || now_ns < k->retire_at_ns))
			return k;
	}
	return NULL;
}

/* OpenVPN's long-form rule: a newer time is a restarted sender (new
 * window), an older one a replay. */
static enum rv_drop static_epoch(struct rv_dc_key *k)
{
	uint32_t t = rv_dc_static_time(k->dec);

	if (t < k->rx_time)
		return RV_DROP_REPLAY;
	if (t > k->rx_time) {
		if (k->rx_time)
			rv_replay_reset(&k->replay);
		k->rx_time = t;
	}
	return RV_OK;
}

enum rv_drop rv_dc_session_open(struct rv_dc_session *s, struct rv_pkt *p, uint64_t now_ns)
{
	struct rv_dc_key *k;
	uint32_t pid, peer_id;
	uint8_t key_id;
	enum rv_drop r;

	if (s->tx_slot >= 0 && s->slot[s->tx_slot].suite == RV_CIPHER_STATIC_CBC_HMAC) {
		k = &s->slot[s->tx_slot];
	} else {
		r = rv_dc_peek(p->data, p->len, &key_id, &peer_id);
		if (unlikely(r != RV_OK))
			return r;
		if (unlikely(peer_id != s->peer_id))
			return RV_DROP_UNKNOWN_PEER;
		k = find_key(s, key_id, now_ns);
		if (unlikely(!k))
			return RV_DROP_UNKNOWN_KEY;
	}
	r = rv_dc_open(k->dec, p, &pid);
	if (unlikely(r != RV_OK))
		return r;
	if (k->suite == RV_CIPHER_STATIC_CBC_HMAC) {
		r = static_epoch(k);
		if (unlikely(r != RV_OK))
			return r;
	}
	return rv_replay_accept(&k->replay, pid);
}

bool rv_dc_session_rekey_due(const struct rv_dc_session *s)
{
	return s->tx_slot >= 0 && rv_pid_needs_rekey(s->slot[s->tx_slot].tx_pid);
}
