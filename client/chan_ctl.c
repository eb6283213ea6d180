/* The data channel's hand-over points for other threads (a new key, a new
 * session, the keepalive interval: posted, then applied by the loop) and
 * what it reports (state, stats JSON). */
#include "chan_loop.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

/* Install the session handed over by rvc_chan_replace_session(). */
void chan_apply_mbox(struct rvc_chan *c)
{
	uint32_t peer_id, grace_ms;
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_key_dir tx, rx;
	bool rekey;

	pthread_mutex_lock(&c->mbox_lock);
	rekey = c->mbox.rekey;
	grace_ms = c->mbox.grace_ms;
	peer_id = c->mbox.peer_id;
	key_id = c->mbox.key_id;
	suite = c->mbox.suite;
	tx = c->mbox.tx;
	rx = c->mbox.rx;
	OPENSSL_cleanse(&c->mbox, sizeof(c->mbox));
	atomic_store(&c->mbox_full, false);
	pthread_mutex_unlock(&c->mbox_lock);
	if (rekey) {
		if (rvc_chan_rekey(c, key_id, suite, &tx, &rx, grace_ms) < 0)
			rv_log(RV_LOG_ERROR, "data channel: cannot install key-id %u", key_id);
		else
			rv_log(RV_LOG_INFO, "data channel: re-keyed, key-id %u", key_id);
		goto out;
	}
	if (c->active == RVC_CHAN_TCP)
		chan_switch_to_udp(c, "new session"); /* a new connection binds the new one */
	rv_dc_session_destroy(&c->path[RVC_CHAN_UDP].sess);
	rv_dc_session_destroy(&c->path[RVC_CHAN_TCP].sess);
	if (rv_dc_session_init(&c->path[RVC_CHAN_UDP].sess, peer_id, c->p.replay_window) < 0 ||
	    rv_dc_session_init(&c->path[RVC_CHAN_TCP].sess, peer_id, c->p.replay_window) < 0 ||
	    chan_install(c, key_id, suite, &tx, &rx, 0) < 0)
		rv_log(RV_LOG_ERROR, "data channel: cannot install the new session");
	else
		rv_log(RV_LOG_INFO, "data channel: new session, peer-id %u, key-id %u", peer_id,
		       key_id);
	c->p.peer_id = peer_id;
	c->p.key_id = key_id;
	c->p.suite = suite;
	c->path[RVC_CHAN_UDP].unanswered_ns = c->path[RVC_CHAN_TCP].unanswered_ns = 0;
	c->next_probe_ns = c->now_ns; /* does the new session answer? */
	atomic_store(&c->last_reply_ns, c->now_ns);
	atomic_store(&c->unanswered_ns, 0);
out:
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
}

/* Hand a session or key to the loop (any thread). */
static int post(struct rvc_chan *c, bool rekey, uint32_t peer_id, uint8_t key_id,
		enum rv_cipher suite, const struct rv_key_dir *tx, const struct rv_key_dir *rx,
		uint32_t grace_ms)
{
	uint64_t one = 1;

	if (peer_id > 0xFFFFFE || key_id > 7)
		return -1;
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox.rekey = rekey;
	c->mbox.grace_ms = grace_ms;
	c->mbox.peer_id = peer_id;
	c->mbox.key_id = key_id;
	c->mbox.suite = suite;
	c->mbox.tx = *tx;
	c->mbox.rx = *rx;
	atomic_store(&c->mbox_full, true);
	pthread_mutex_unlock(&c->mbox_lock);
	if (write(c->wakefd, &one, sizeof(one)) < 0) {
		/* the loop sees mbox_full within one probe interval anyway */
	}
	return 0;
}

int rvc_chan_replace_session(struct rvc_chan *c, uint32_t peer_id, uint8_t key_id,
			     enum rv_cipher suite, const struct rv_key_dir *tx,
			     const struct rv_key_dir *rx)
{
	return post(c, false, peer_id, key_id, suite, tx, rx, 0);
}

int rvc_chan_rekey_async(struct rvc_chan *c, uint8_t key_id, enum rv_cipher suite,
			 const struct rv_key_dir *tx, const struct rv_key_dir *rx,
			 uint32_t grace_ms)
{
	return post(c, true, 0, key_id, suite, tx, rx, grace_ms);
}

int rvc_chan_set_keepalive(struct rvc_chan *c, uint32_t keepalive_ms)
{
	uint64_t one = 1;

	if (keepalive_ms < 1000 || keepalive_ms > 3600000u)
		return -1;
	atomic_store(&c->keepalive_ms, keepalive_ms);
	if (write(c->wakefd, &one, sizeof(one)) < 0) {
		/* the loop reads the new value on its next pass anyway */
	}
	return 0;
}

uint32_t rvc_chan_keepalive_ms(const struct rvc_chan *c)
{
	return atomic_load(&c->keepalive_ms);
}

bool rvc_chan_rekey_due(const struct rvc_chan *c)
{
	return atomic_load(&c->rekey_due);
}

uint32_t rvc_chan_rtt_us(const struct rvc_chan *c)
{
	return atomic_load_explicit(&c->rtt_us, memory_order_relaxed);
}

uint64_t rvc_chan_reply_age_ms(const struct rvc_chan *c)
{
	return (chan_mono_ns() - atomic_load(&c->last_reply_ns)) / NS_PER_MS;
}

uint64_t rvc_chan_unanswered_ms(const struct rvc_chan *c)
{
	uint64_t since = atomic_load(&c->unanswered_ns);

	return since ? (chan_mono_ns() - since) / NS_PER_MS : 0;
}

int chan_install(struct rvc_chan *c, uint8_t key_id, enum rv_cipher suite,
		 const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t grace_ns)
{
	uint64_t now = chan_mono_ns();

	if (rv_dc_session_install(&c->path[RVC_CHAN_UDP].sess, key_id, suite, tx, rx, now,
				  grace_ns) < 0)
		return -1;
	if (rv_dc_session_install(&c->path[RVC_CHAN_TCP].sess, key_id, RV_CIPHER_NONE, tx, rx, now,
				  grace_ns) < 0)
		return -1;
	return 0;
}

int rvc_chan_rekey(struct rvc_chan *c, uint8_t key_id, enum rv_cipher suite,
		   const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint32_t grace_ms)
{
	c->p.suite = suite;
	c->p.key_id = key_id;
	return chan_install(c, key_id, suite, tx, rx, grace_ms * NS_PER_MS);
}

void rvc_chan_set_tick(struct rvc_chan *c, rvc_chan_tick_fn fn, void *arg)
{
	c->tick = fn;
	c->tick_arg = arg;
}

enum rvc_chan_transport rvc_chan_transport(const struct rvc_chan *c)
{
	return c->active;
}

const char *rvc_chan_transport_name(enum rvc_chan_transport t)
{
	return t == RVC_CHAN_TCP ? "tcp" : "udp"; /* also when TCP is off */
}

uint8_t rvc_chan_key_id(const struct rvc_chan *c)
{
	return c->p.key_id;
}

const struct rvc_chan_stats *rvc_chan_stats(const struct rvc_chan *c)
{
	return &c->st;
}

int rvc_chan_stats_json(const struct rvc_chan *c, char *buf, size_t cap)
{
	const struct rvc_chan_stats *s = &c->st;
	size_t n;
	int w;

	w = snprintf(buf, cap,
		     "{\"transport\":\"%s\",\"key_id\":%u,\"cipher\":\"%s\",\"rtt_us\":%" PRIu64
		     ",\"tx_packets\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64
		     ",\"rx_bytes\":%" PRIu64 ",\"pings_tx\":%" PRIu64 ",\"pings_rx\":%" PRIu64
		     ",\"echo_tx\":%" PRIu64 ",\"echo_rx\":%" PRIu64 ",\"to_tcp\":%" PRIu64
		     ",\"to_udp\":%" PRIu64 ",\"tcp_connect_failures\":%" PRIu64
		     ",\"tun_errors\":%" PRIu64 ",\"tx_errors\":%" PRIu64
		     ",\"keepalive_ms\":%u,\"rekey_due\":%s,\"drops\":{",
		     rvc_chan_transport_name(c->active), c->p.key_id, rv_cipher_name(c->p.suite),
		     s->rtt_ns / 1000, s->tx_packets, s->tx_bytes, s->rx_packets, s->rx_bytes,
		     s->pings_tx, s->pings_rx, s->echo_tx, s->echo_rx, s->to_tcp, s->to_udp,
		     s->tcp_connect_failures, s->tun_errors, s->tx_errors, rvc_chan_keepalive_ms(c),
		     atomic_load(&c->rekey_due) ? "true" : "false");
	if (w < 0 || (size_t)w >= cap)
		return -1;
	n = (size_t)w;
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		w = snprintf(buf + n, cap - n, "%s\"%s\":%" PRIu64, r > 1 ? "," : "",
			     rv_drop_name((enum rv_drop)r), s->drops[r]);
		if (w < 0 || (size_t)w >= cap - n)
			return -1;
		n += (size_t)w;
	}
	if (cap - n < 3)
		return -1;
	memcpy(buf + n, "}}", 3);
	return (int)n + 2;
}
