/* A session's keys: the readers' look-ups (which key opens, which seals),
 * and the writer's install / retire / expire with RCU-deferred wiping.
 * Split from session_table.c; same threading contract (session_table.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "dp_tables.h"
#include "session_keys.h"
#include "static_key.h"

static struct rv_st_params params;
static _Atomic uint32_t n_keys;
static _Atomic uint64_t pending_frees;
/* No key retires before this (writer only): rv_st_expire walks the table
 * only once one is due, not every second whatever it holds. */
static uint64_t earliest_retire_ns = UINT64_MAX;

void rv_dp_keys_init(const struct rv_st_params *p)
{
	params = *p;
}

uint32_t rv_dp_keys_live(void)
{
	return n_keys;
}

uint64_t rv_dp_keys_pending_frees(void)
{
	return pending_frees;
}

/* ---- reader look-ups ---- */

struct rv_dp_key *rv_dp_rx_key(struct rv_dp_session *s, uint8_t key_id, uint64_t now_ns)
{
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++) {
		struct rv_dp_key *k = rcu_dereference(s->slot[i]);
		if (!k || k->key_id != key_id)
			continue;
		uint64_t retire = atomic_load_explicit(&k->retire_at_ns, memory_order_relaxed);
		return (retire && now_ns >= retire) ? NULL : k;
	}
	return NULL;
}

struct rv_dp_key *rv_dp_tx_key(struct rv_dp_session *s)
{
	int i = atomic_load_explicit(&s->tx_slot, memory_order_acquire);
	return i < 0 ? NULL : rcu_dereference(s->slot[i]);
}

void rv_dp_key_used(struct rv_dp_session *s, struct rv_dp_key *k)
{
	if (!atomic_load_explicit(&k->pending_tx, memory_order_relaxed))
		return;
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++)
		if (rcu_dereference(s->slot[i]) == k) {
			atomic_store_explicit(&s->tx_slot, i, memory_order_release);
			atomic_store_explicit(&k->pending_tx, false, memory_order_relaxed);
		}
}

void rv_dp_key_free(struct rv_dp_key *k)
{
	rv_cipher_ctx_free(k->enc);
	rv_cipher_ctx_free(k->dec);
	rv_cipher_ctx_free(k->enc_none);
	rv_cipher_ctx_free(k->dec_none);
	rv_replay_free(&k->replay);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
	n_keys--;
}

static void key_free_rcu(struct rcu_head *h)
{
	rv_dp_key_free(caa_container_of(h, struct rv_dp_key, rcu));
	pending_frees--;
}

static void key_defer_free(struct rv_dp_key *k)
{
	pending_frees++;
	call_rcu(&k->rcu, key_free_rcu);
}

static bool cipher_ok(enum rv_cipher c)
{
	return c == RV_CIPHER_AES_256_GCM || c == RV_CIPHER_CHACHA20_POLY1305 ||
	       c == RV_CIPHER_AES_256_CBC_HMAC;
}

static void hint_set(const struct rv_cipher_ctx *ctx, struct rv_dp_ctx_hint *h)
{
	struct rv_cipher_lines l;
	rv_cipher_ctx_lines(ctx, &l);
	*h = (struct rv_dp_ctx_hint){
	    .evp = l.evp, .hot = l.hot, .evp_len = l.evp_len, .hot_len = l.hot_len};
}

struct rv_dp_key *rv_dp_key_new(uint8_t key_id, enum rv_cipher c, const struct rv_key_material *km,
				int dir, char *err, size_t errlen)
{
	if (key_id > 7 || !cipher_ok(c) || dir < RV_KEY_DIRECTION_NONE || dir > 1) {
		rv_dp_fail(err, errlen,
			   "invalid key: key-id %u (0..7), cipher %d, direction %d (-1..1)", key_id,
			   c, dir);
		return NULL;
	}
	struct rv_dp_key *k = aligned_alloc(64, sizeof(*k));
	if (!k) {
		rv_dp_fail(err, errlen, "out of memory");
		return NULL;
	}
	memset(k, 0, sizeof(*k));
	n_keys++;
	k->key_id = key_id;
	k->seal_key_id = key_id;
	k->suite = c;
	rv_static_key_dirs(km, dir, &k->tx_dir, &k->rx_dir);
	k->enc = rv_cipher_ctx_new(c, &k->tx_dir, true);
	k->dec = rv_cipher_ctx_new(c, &k->rx_dir, false);
	if (params.tcp) {
		k->enc_none = rv_cipher_ctx_new(RV_CIPHER_NONE, &k->tx_dir, true);
		k->dec_none = rv_cipher_ctx_new(RV_CIPHER_NONE, &k->rx_dir, false);
	}
	if (!k->enc || !k->dec || (params.tcp && (!k->enc_none || !k->dec_none)) ||
	    rv_replay_init(&k->replay, params.replay_window) < 0) {
		rv_dp_key_free(k);
		rv_dp_fail(err, errlen, "cannot set up cipher %s for key-id %u", rv_cipher_name(c),
			   key_id);
		return NULL;
	}
	hint_set(k->enc, &k->enc_hint);
	hint_set(k->dec, &k->dec_hint);
	return k;
}

bool rv_dp_key_same(const struct rv_dp_key *a, const struct rv_dp_key *b)
{
	return a->key_id == b->key_id && a->suite == b->suite &&
	       CRYPTO_memcmp(&a->tx_dir, &b->tx_dir, sizeof(a->tx_dir)) == 0 &&
	       CRYPTO_memcmp(&a->rx_dir, &b->rx_dir, sizeof(a->rx_dir)) == 0;
}

/* ---- writer ---- */

/* @s holds @key_id as its sealing key or as a pending one. */
bool rv_dp_key_held(struct rv_dp_session *s, uint8_t key_id)
{
	int cur = atomic_load(&s->tx_slot);
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++)
		if (s->slot[i] && s->slot[i]->key_id == key_id &&
		    (i == cur || s->slot[i]->pending_tx))
			return true;
	return false;
}

int rv_st_key_install(uint32_t peer_id, uint8_t key_id, enum rv_cipher cipher,
		      const struct rv_key_material *key, int key_direction, uint64_t grace_ns,
		      bool seal_after_use, char *err, size_t errlen)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	int rc = -1;
	struct rv_dp_session *s = rv_dp_find_peer(rv_dp_root, peer_id);
	if (!s) {
		rv_dp_fail(err, errlen, "session %u does not exist", peer_id);
		goto out;
	}
	int cur = atomic_load(&s->tx_slot);
	struct rv_dp_key *old = cur >= 0 ? s->slot[cur] : NULL;
	if (rv_dp_key_held(s, key_id)) {
		rv_dp_fail(err, errlen, "session %u: key-id %u is already installed", peer_id,
			   key_id);
		goto out;
	}
	struct rv_dp_key *k = rv_dp_key_new(key_id, cipher, key, key_direction, err, errlen);
	if (!k)
		goto out;
	int next = cur < 0 ? 0 : 1 - cur;
	struct rv_dp_key *evicted = s->slot[next];
	if (old) {
		uint64_t at = rv_clock_mono_ns() + (grace_ns ? grace_ns : params.default_grace_ns);
		atomic_store(&old->retire_at_ns, at);
		if (at < earliest_retire_ns)
			earliest_retire_ns = at;
	}
	k->pending_tx = old && seal_after_use;
	rcu_assign_pointer(s->slot[next], k);
	if (!k->pending_tx)
		atomic_store_explicit(&s->tx_slot, next, memory_order_release);
	if (evicted)
		key_defer_free(evicted);
	rc = 0;
out:
	rcu_read_unlock();
	return rc;
}

static void retire_slot(struct rv_dp_session *s, int i)
{
	struct rv_dp_key *k = s->slot[i];
	rcu_assign_pointer(s->slot[i], NULL);
	key_defer_free(k);
}

int rv_st_key_retire(uint32_t peer_id, uint8_t key_id, char *err, size_t errlen)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	int rc = -1;
	struct rv_dp_session *s = rv_dp_find_peer(rv_dp_root, peer_id);
	if (!s) {
		rv_dp_fail(err, errlen, "session %u does not exist", peer_id);
		goto out;
	}
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++) {
		if (!s->slot[i] || s->slot[i]->key_id != key_id)
			continue;
		if (i == atomic_load(&s->tx_slot)) {
			rv_dp_fail(err, errlen, "session %u: key-id %u is the sealing key", peer_id,
				   key_id);
			goto out;
		}
		retire_slot(s, i);
		/* the re-key was called off: the sealing key is alone again and
		 * keeps working (its grace period ended with its successor) */
		struct rv_dp_key *tx = rv_dp_tx_key(s);
		if (tx)
			atomic_store(&tx->retire_at_ns, 0);
		rc = 0;
		goto out;
	}
	rv_dp_fail(err, errlen, "session %u has no key-id %u", peer_id, key_id);
out:
	rcu_read_unlock();
	return rc;
}

unsigned rv_st_expire(uint64_t now_ns)
{
	rv_dp_writer_enter();
	if (now_ns < earliest_retire_ns)
		return 0;
	unsigned n = 0;
	uint64_t next = UINT64_MAX;
	struct cds_lfht_iter it;
	struct rv_dp_session *s;
	rcu_read_lock();
	cds_lfht_for_each_entry(rv_dp_root->by_peer, &it, s, by_peer)
	{
		for (int i = 0; i < RV_DP_KEY_SLOTS; i++) {
			struct rv_dp_key *k = s->slot[i];
			if (k && k->retire_at_ns > now_ns && k->retire_at_ns < next)
				next = k->retire_at_ns; /* not yet */
			if (k && k->retire_at_ns && k->retire_at_ns <= now_ns) {
				bool sealing = i == atomic_load(&s->tx_slot);
				if (sealing && !s->slot[1 - i]) {
					/* never the only key: a session keeps one */
					atomic_store(&k->retire_at_ns, 0);
					continue;
				}
				/* a pending key the member never used: it seals now */
				if (sealing) {
					atomic_store(&s->slot[1 - i]->pending_tx, false);
					atomic_store(&s->tx_slot, 1 - i);
				}
				retire_slot(s, i);
				n++;
			}
		}
	}
	rcu_read_unlock();
	earliest_retire_ns = next;
	return n;
}
