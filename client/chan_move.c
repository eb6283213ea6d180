/* Moving the data channel to another data plane (a drain or a failover
 * gave the room a new home; the owner bootstrapped again and hands over
 * the new session with its endpoints): make before break. New transports
 * to the new endpoints carry everything sent from the move on; the path
 * left behind (its transport and session) is only read from, so packets
 * the old data plane still relays (members not moved yet) reach the TUN,
 * and it is closed as soon as the new path delivers an authenticated
 * packet, or after RVC_CHAN_OLD_KEEP_MS. The TUN device, its address and
 * routes are not touched. All on the loop's thread. */
#include "chan_loop.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"
#include "payload.h"

bool chan_servers_differ(const struct rvc_chan *c, const struct rvc_chan_servers *to)
{
	return !rvc_addr_same(&c->p.udp_server, &to->udp_server) ||
	       !rvc_addr_same(&c->p.udp_server_alt, &to->udp_server_alt) ||
	       !rvc_addr_same(&c->p.tcp_server, &to->tcp_server);
}

void rvc_chan_endpoint(const struct rvc_chan *c, char *out, size_t len)
{
	char a[64];
	union rvc_addr udp;
	const struct rvc_transport *t = c->path[RVC_CHAN_UDP].t;

	if (c->active == RVC_CHAN_TCP) {
		rvc_addr_str(&c->p.tcp_server, a, sizeof(a));
	} else {
		udp = c->p.udp_server;
		if (t)
			rvc_chan_udp_server(t, &udp); /* the candidate in use */
		rvc_addr_str(&udp, a, sizeof(a));
	}
	snprintf(out, len, "%s %s", rvc_chan_transport_name(c->active), a);
}

void chan_old_close(struct rvc_chan *c, const char *why)
{
	struct rvc_transport *t = c->old.t;

	if (!t)
		return;
	epoll_ctl(c->ep, EPOLL_CTL_DEL, t->ops->fd(t), NULL);
	t->ops->destroy(t);
	rv_dc_session_destroy(&c->old.sess);
	c->old.t = NULL;
	rv_log(RV_LOG_INFO, "data channel: the old data plane's path is closed (%s)", why);
}

/* A packet from the old data plane: only IP packets matter now (its echo
 * replies and pings say nothing about the new path). */
static bool deliver_old(void *arg, struct rv_pkt *p)
{
	struct rvc_chan *c = arg;
	enum rv_drop rc = rv_dc_session_open(&c->old.sess, p, c->now_ns);

	if (rc != RV_OK) {
		c->st.drops[rc]++;
		return false;
	}
	if (rv_payload_classify(p->data, p->len) == RV_PAYLOAD_IPV4) {
		c->st.old_rx_packets++;
		chan_tun_put(c, p);
	}
	return true;
}

void chan_old_rx(struct rvc_chan *c)
{
	struct rvc_transport *t = c->old.t;

	if (!t)
		return;
	int rc = t->ops->on_readable(t, deliver_old, c, c->st.drops);
	chan_tun_flush(c);
	if (rc < 0)
		chan_old_close(c, "its connection ended");
}

/* The new path's UDP transport, on its epoll slot. Returns it, or NULL
 * (nothing changed) with a message. */
static struct rvc_transport *new_udp(struct rvc_chan *c, const struct rvc_chan_servers *to,
				     char *err, size_t errlen)
{
	struct rvc_chan_params np = c->p; /* the UDP transport copies the address */
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_UDP};
	struct rvc_transport *udp = NULL;

	np.udp_server = to->udp_server;
	np.udp_server_alt = to->udp_server_alt;
	if (rvc_chan_udp_create(&np, &udp, err, errlen) < 0)
		return NULL;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, udp->ops->fd(udp), &ev) < 0) {
		snprintf(err, errlen, "epoll: %m");
		udp->ops->destroy(udp);
		return NULL;
	}
	return udp;
}

/* The TCP transport for the new endpoints (c->p set): one with a port
 * and a TLS check, none otherwise. A closed one reads c->p at its next
 * open, so it stays. */
static void new_tcp(struct rvc_chan *c)
{
	bool want = rvc_addr_set(&c->p.tcp_server) && (c->p.tls_pin_set || c->p.tls_ca_file);
	struct rvc_transport **tcp = &c->path[RVC_CHAN_TCP].t;
	char err[256];

	if (*tcp && !want) {
		(*tcp)->ops->destroy(*tcp);
		*tcp = NULL;
	}
	if (want && !*tcp && rvc_chan_tcp_create(&c->p, tcp, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "data channel: no TCP fallback to the new data plane: %s", err);
		*tcp = NULL;
	}
}

int chan_move_begin(struct rvc_chan *c, const struct rvc_chan_servers *to)
{
	enum rvc_chan_transport kind = c->active;
	struct chan_path *from = &c->path[kind];
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_OLD};
	char err[256], a[64], b[64];
	struct rvc_transport *udp;

	chan_old_close(c, "moving again");
	udp = new_udp(c, to, err, sizeof(err));
	if (!udp) { /* stay where we are: the new session goes on the old endpoints */
		rv_log(RV_LOG_ERROR, "data channel: cannot open the new data plane's path: %s",
		       err);
		return -1;
	}
	/* the active path stays, for reading only, with the old session */
	if (epoll_ctl(c->ep, EPOLL_CTL_MOD, from->t->ops->fd(from->t), &ev) < 0) {
		rv_log(RV_LOG_WARN, "data channel: the old path cannot be kept (epoll: %m)");
		epoll_ctl(c->ep, EPOLL_CTL_DEL, from->t->ops->fd(from->t), NULL);
		from->t->ops->destroy(from->t);
		rv_dc_session_destroy(&from->sess);
	} else {
		c->old.t = from->t;
		c->old.sess = from->sess; /* its keys go with it */
		c->old.kind = kind;
		c->old.since_ns = c->now_ns;
	}
	from->t = NULL;
	rv_dc_session_init(&from->sess, c->p.peer_id, c->p.replay_window);
	if (c->path[RVC_CHAN_UDP].t) /* TCP was active: the idle UDP one goes */
		c->path[RVC_CHAN_UDP].t->ops->destroy(c->path[RVC_CHAN_UDP].t);
	c->path[RVC_CHAN_UDP].t = udp;
	rvc_addr_str(&c->p.udp_server, a, sizeof(a));
	rvc_addr_str(&to->udp_server, b, sizeof(b));
	c->p.udp_server = to->udp_server;
	c->p.udp_server_alt = to->udp_server_alt;
	c->p.tcp_server = to->tcp_server;
	c->p.start = to->start;
	new_tcp(c);
	/* start on UDP; a TCP-preferred room switches to TCP on the next pass */
	c->active = RVC_CHAN_UDP;
	c->prefer_tcp = to->start == RVC_CHAN_TCP && c->path[RVC_CHAN_TCP].t;
	c->next_tcp_try_ns = c->now_ns;
	c->tcp_retry_ms = c->p.fallback_ms;
	c->st.moves++;
	rv_log(RV_LOG_INFO, "data channel: moving from %s to %s (the old path kept for receiving)",
	       a, b);
	return 0;
}
