/* rvpeer's data-channel session: OpenVPN static-key mode (two cipher
 * contexts and a replay window) or P_DATA_V2 key slots (rv_dc_session), with
 * an optional next key for a re-key in the middle of the traffic. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "rvpeer.h"
#include "static_key.h"

static int load_dirs(const char *path, int direction, struct rv_key_dir *tx, struct rv_key_dir *rx,
		     char *err, size_t errlen)
{
	struct rv_key_material km;
	char why[256];

	if (!path) { /* cipher none: the key is not used */
		memset(tx, 0, sizeof(*tx));
		memset(rx, 0, sizeof(*rx));
		return 0;
	}
	if (rv_static_key_load(path, &km, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "key: %s", why);
		return -1;
	}
	rv_static_key_dirs(&km, direction, tx, rx);
	OPENSSL_cleanse(&km, sizeof(km));
	return 0;
}

static int init_static(struct peer_channel *c, const struct peer_opts *o, uint64_t now_ns,
		       char *err, size_t errlen)
{
	struct rv_key_dir tx, rx;

	if (load_dirs(o->key_file, o->key_direction, &tx, &rx, err, errlen))
		return -1;
	c->st_enc = rv_cipher_ctx_new(RV_CIPHER_STATIC_CBC_HMAC, &tx, true);
	c->st_dec = rv_cipher_ctx_new(RV_CIPHER_STATIC_CBC_HMAC, &rx, false);
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	if (!c->st_enc || !c->st_dec) {
		snprintf(err, errlen, "cannot set up the static-key cipher contexts");
		goto err_ctx;
	}
	if (rv_replay_init(&c->st_replay, o->replay_window) != 0) {
		snprintf(err, errlen, "replay window %u: too large or out of memory",
			 o->replay_window);
		goto err_ctx;
	}
	/* Like OpenVPN: the long-form packet-id carries the start time. */
	c->st_time = (uint32_t)(now_ns / 1000000000ull);
	return 0;
err_ctx:
	rv_cipher_ctx_free(c->st_enc);
	rv_cipher_ctx_free(c->st_dec);
	return -1;
}

/* Load --next-key into a session of its own until it becomes current. */
static int init_pending(struct peer_channel *c, const struct peer_opts *o, uint64_t now_ns,
			char *err, size_t errlen)
{
	if (load_dirs(o->next_key_file, o->key_direction, &c->pend_tx, &c->pend_rx, err, errlen))
		return -1;
	c->pend_key_id = rv_key_id_next(o->key_id);
	if (rv_dc_session_init(&c->pend, o->peer_id, o->replay_window) != 0 ||
	    rv_dc_session_install(&c->pend, c->pend_key_id, c->suite, &c->pend_tx, &c->pend_rx,
				  now_ns, 0) != 0) {
		snprintf(err, errlen, "cannot install the next key from %s", o->next_key_file);
		rv_dc_session_destroy(&c->pend);
		return -1;
	}
	c->pending = true;
	return 0;
}

static int init_v2(struct peer_channel *c, const struct peer_opts *o, uint64_t now_ns, char *err,
		   size_t errlen)
{
	struct rv_key_dir tx, rx;
	int rc;

	c->suite = o->cipher;
	c->grace_ns = o->grace_ns;
	if (rv_dc_session_init(&c->sess, o->peer_id, o->replay_window) != 0) {
		snprintf(err, errlen, "replay window %u: too large or out of memory",
			 o->replay_window);
		return -1;
	}
	if (load_dirs(o->key_file, o->key_direction, &tx, &rx, err, errlen))
		goto err_sess;
	rc = rv_dc_session_install(&c->sess, o->key_id, c->suite, &tx, &rx, now_ns, 0);
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	if (rc != 0) {
		snprintf(err, errlen, "cannot install key-id %u for %s", o->key_id,
			 rv_cipher_name(c->suite));
		goto err_sess;
	}
	if (o->next_key_file && init_pending(c, o, now_ns, err, errlen))
		goto err_sess;
	return 0;
err_sess:
	rv_dc_session_destroy(&c->sess);
	return -1;
}

int peer_channel_init(struct peer_channel *c, const struct peer_opts *o, uint64_t now_ns, char *err,
		      size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->mode = o->mode;
	if (o->mode == PEER_MODE_STATIC)
		return init_static(c, o, now_ns, err, errlen);
	return init_v2(c, o, now_ns, err, errlen);
}

static void drop_pending(struct peer_channel *c)
{
	if (!c->pending)
		return;
	rv_dc_session_destroy(&c->pend);
	OPENSSL_cleanse(&c->pend_tx, sizeof(c->pend_tx));
	OPENSSL_cleanse(&c->pend_rx, sizeof(c->pend_rx));
	c->pending = false;
}

void peer_channel_destroy(struct peer_channel *c)
{
	if (c->mode == PEER_MODE_STATIC) {
		rv_cipher_ctx_free(c->st_enc);
		rv_cipher_ctx_free(c->st_dec);
		rv_replay_free(&c->st_replay);
	} else {
		drop_pending(c);
		rv_dc_session_destroy(&c->sess);
	}
	memset(c, 0, sizeof(*c));
}

enum rv_drop peer_channel_seal(struct peer_channel *c, struct rv_pkt *p, uint32_t now_s)
{
	if (c->mode == PEER_MODE_V2)
		return rv_dc_session_seal(&c->sess, p, now_s);
	if (c->st_tx_pid == UINT32_MAX)
		return RV_DROP_PID_EXHAUSTED;
	c->st_tx_pid++;
	return rv_dc_seal(c->st_enc, 0, RV_PEER_ID_NONE, c->st_tx_pid, c->st_time, p);
}

int peer_channel_rekey(struct peer_channel *c, uint64_t now_ns)
{
	if (!c->pending)
		return -1;
	if (rv_dc_session_install(&c->sess, c->pend_key_id, c->suite, &c->pend_tx, &c->pend_rx,
				  now_ns, c->grace_ns) != 0)
		return -1;
	drop_pending(c);
	return 0;
}

/* The other side sealed with the pending key: authenticate with it first,
 * and only then make it current (its replay window remembers this pid). */
static enum rv_drop open_pending(struct peer_channel *c, struct rv_pkt *p, uint64_t now_ns,
				 bool *rekeyed)
{
	enum rv_drop r = rv_dc_session_open(&c->pend, p, now_ns);
	uint32_t pid;

	if (r != RV_OK)
		return r;
	/* The pending session has accepted exactly this one packet. */
	pid = c->pend.slot[c->pend.tx_slot].replay.highest;
	if (peer_channel_rekey(c, now_ns) != 0)
		return RV_DROP_UNKNOWN_KEY;
	rv_replay_accept(&c->sess.slot[c->sess.tx_slot].replay, pid);
	*rekeyed = true;
	return RV_OK;
}

enum rv_drop peer_channel_open(struct peer_channel *c, struct rv_pkt *p, uint64_t now_ns,
			       bool *rekeyed)
{
	uint32_t pid, peer_id;
	uint8_t key_id;
	enum rv_drop r;

	*rekeyed = false;
	if (c->mode == PEER_MODE_STATIC) {
		r = rv_dc_open(c->st_dec, p, &pid);
		return r != RV_OK ? r : rv_replay_accept(&c->st_replay, pid);
	}
	r = rv_dc_peek(p->data, p->len, &key_id, &peer_id);
	if (r != RV_OK)
		return r;
	if (c->pending && key_id == c->pend_key_id)
		return open_pending(c, p, now_ns, rekeyed);
	return rv_dc_session_open(&c->sess, p, now_ns);
}

void peer_channel_tick(struct peer_channel *c, uint64_t now_ns)
{
	if (c->mode == PEER_MODE_V2)
		rv_dc_session_expire(&c->sess, now_ns);
}

const char *peer_channel_engine(const struct peer_channel *c)
{
	if (c->sess.tx_slot < 0 || !c->sess.slot[c->sess.tx_slot].enc)
		return "none";
	return rv_cipher_engine_name(rv_cipher_ctx_engine(c->sess.slot[c->sess.tx_slot].enc));
}

int peer_channel_tx_key_id(const struct peer_channel *c)
{
	if (c->mode == PEER_MODE_STATIC || c->sess.tx_slot < 0)
		return 0;
	return c->sess.slot[c->sess.tx_slot].key_id;
}
