/* The data channel's hand-over points for other threads (a new key, a new
 * session, the keepalive interval: posted, then applied by the loop) and
 * what it reports (state, stats JSON). */
#include "chan_loop.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "log.h"

/* Install the session handed over by rvc_chan_replace_session(). */
void chan_apply_mbox(struct rvc_chan *c)
{
	uint32_t peer_id, grace_ms;
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_key_dir tx, rx;
	struct rvc_chan_servers to;
	bool rekey, move;

	pthread_mutex_lock(&c->mbox_lock);
	rekey = c->mbox.rekey;
	grace_ms = c->mbox.grace_ms;
	peer_id = c->mbox.peer_id;
	key_id = c->mbox.key_id;
	suite = c->mbox.suite;
	tx = c->mbox.tx;
	rx = c->mbox.rx;
	move = c->mbox.move;
	to = c->mbox.to;
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
	if (move && chan_servers_differ(c, &to) && chan_move_begin(c, &to) == 0) {
		/* new transports to the new data plane; the old path keeps its session */
	} else if (c->active == RVC_CHAN_TCP) {
		chan_switch_to_udp(c, "new session"); /* a new connection binds the new one */
	}
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
		uint32_t grace_ms, const struct rvc_chan_servers *to)
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
	c->mbox.move = to != NULL;
	if (to)
		c->mbox.to = *to;
	atomic_store(&c->mbox_full, true);
	pthread_mutex_unlock(&c->mbox_lock);
	if (write(c->wakefd, &one, sizeof(one)) < 0) {
		/* the loop sees mbox_full within one probe interval anyway */
	}
	return 0;
}

int rvc_chan_replace_session(struct rvc_chan *c, uint32_t peer_id, uint8_t key_id,
			     enum rv_cipher suite, const struct rv_key_dir *tx,
			     const struct rv_key_dir *rx, const struct rvc_chan_servers *to)
{
	return post(c, false, peer_id, key_id, suite, tx, rx, 0, to);
}

int rvc_chan_rekey_async(struct rvc_chan *c, uint8_t key_id, enum rv_cipher suite,
			 const struct rv_key_dir *tx, const struct rv_key_dir *rx,
			 uint32_t grace_ms)
{
	return post(c, true, 0, key_id, suite, tx, rx, grace_ms, NULL);
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

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

struct json_object *rvc_chan_stats_json(const struct rvc_chan *c)
{
	const struct rvc_chan_stats *s = &c->st;
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();

	if (!o || !d) {
		json_object_put(o);
		json_object_put(d);
		return NULL;
	}
	char ep[64];

	json_object_object_add(o, "transport",
			       json_object_new_string(rvc_chan_transport_name(c->active)));
	rvc_chan_endpoint(c, ep, sizeof(ep));
	json_object_object_add(o, "endpoint", json_object_new_string(ep));
	add_u64(o, "key_id", c->p.key_id);
	json_object_object_add(o, "cipher", json_object_new_string(rv_cipher_name(c->p.suite)));
	add_u64(o, "rtt_us", s->rtt_ns / 1000);
	add_u64(o, "tx_packets", s->tx_packets);
	add_u64(o, "tx_bytes", s->tx_bytes);
	add_u64(o, "rx_packets", s->rx_packets);
	add_u64(o, "rx_bytes", s->rx_bytes);
	add_u64(o, "pings_tx", s->pings_tx);
	add_u64(o, "pings_rx", s->pings_rx);
	add_u64(o, "echo_tx", s->echo_tx);
	add_u64(o, "echo_rx", s->echo_rx);
	add_u64(o, "to_tcp", s->to_tcp);
	add_u64(o, "to_udp", s->to_udp);
	add_u64(o, "tcp_connect_failures", s->tcp_connect_failures);
	add_u64(o, "moves", s->moves);
	add_u64(o, "old_rx_packets", s->old_rx_packets);
	add_u64(o, "tun_errors", s->tun_errors);
	add_u64(o, "tx_errors", s->tx_errors);
	add_u64(o, "keepalive_ms", rvc_chan_keepalive_ms(c));
	json_object_object_add(o, "rekey_due", json_object_new_boolean(atomic_load(&c->rekey_due)));
	for (int r = 1; r < RV_DROP__COUNT; r++)
		add_u64(d, rv_drop_name((enum rv_drop)r), s->drops[r]);
	json_object_object_add(o, "drops", d);
	return o;
}
