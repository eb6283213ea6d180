/* A running tunnel follows its session and its room (the keepalive
 * thread's callbacks for `roomvpn up`, keepalive.h): re-keys, the room's
 * settings as pushed, and new sessions from a fresh Bootstrap when the data
 * channel went dead (data plane restarted or gone) or the room moved to
 * another data plane (Move: drain, failover) -- one path for all of them,
 * rebootstrap(). */
#include <arpa/inet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "chan.h"
#include "keepalive.h"
#include "log.h"
#include "netlink.h"
#include "up.h"

/* The data plane's name and endpoints after a bootstrap; returns true when
 * they changed (a move), logging it once with old -> new. */
bool rvc_up_note_dataplane(struct up *u, const char *reason)
{
	struct rvc_chan_servers to = {u->dp.udp_server, u->dp.udp_server_alt, u->dp.tcp_server,
				      u->dp.start};
	char from[64], a[64], b[64];
	bool moved, first;

	pthread_mutex_lock(&u->dp_lock);
	first = !rvc_addr_set(&u->servers.udp_server);
	moved = !first && (strcmp(u->dataplane, u->answer_dataplane) ||
			   !rvc_addr_same(&u->servers.udp_server, &to.udp_server) ||
			   !rvc_addr_same(&u->servers.udp_server_alt, &to.udp_server_alt) ||
			   !rvc_addr_same(&u->servers.tcp_server, &to.tcp_server) ||
			   u->servers.start != to.start);
	snprintf(from, sizeof(from), "%s", u->dataplane[0] ? u->dataplane : "-");
	rvc_addr_str(&u->servers.udp_server, a, sizeof(a));
	rvc_addr_str(&to.udp_server, b, sizeof(b));
	if (first)
		rv_log(RV_LOG_INFO, "room %s: data plane %s (%s)", u->room,
		       u->answer_dataplane[0] ? u->answer_dataplane : "-", b);
	else if (moved)
		rv_log(RV_LOG_NOTICE, "room %s: data plane %s (%s) -> %s (%s) (%s)", u->room, from,
		       a, u->answer_dataplane[0] ? u->answer_dataplane : "-", b, reason);
	snprintf(u->dataplane, sizeof(u->dataplane), "%s", u->answer_dataplane);
	u->servers = to;
	pthread_mutex_unlock(&u->dp_lock);
	return moved;
}

/* Keepalive thread: a new session for the same room (same virtual IP: the
 * server keeps it per membership) from a fresh Bootstrap, handed to the
 * running data channel with the endpoints it returned. One path for a
 * data plane that lost the session (restart), one that died (failover)
 * and a room moved away from its data plane (Move: drain, failover): the
 * channel moves when the endpoints differ (chan_move.c); the TUN device,
 * its address, routes and DNS stay as they are. */
static void rebootstrap(struct up *u, struct rv_api *a, const char *reason)
{
	struct rvc_chan_servers to;

	u->last_bootstrap = time(NULL);
	if (rvc_up_bootstrap(u, a, 0) != RV_EXIT_OK)
		return; /* the next check or Move tries again */
	rvc_up_note_dataplane(u, reason);
	to = (struct rvc_chan_servers){u->dp.udp_server, u->dp.udp_server_alt, u->dp.tcp_server,
				       u->dp.start};
	if (rvc_chan_replace_session(u->dc, u->dp.peer_id, u->dp.key_id, u->dp.suite, &u->dp.tx,
				     &u->dp.rx, &to) < 0)
		rv_log(RV_LOG_ERROR, "cannot hand the new session to the data channel");
	rvc_chan_set_keepalive(u->dc, u->dp.keepalive_ms); /* the room's, as of now */
	rv_keepalive_set_peer_id(u->ka, u->peer_id);	   /* the next Hello names it */
	OPENSSL_cleanse(&u->dp.tx, sizeof(u->dp.tx));
	OPENSSL_cleanse(&u->dp.rx, sizeof(u->dp.rx));
}

/* Keepalive thread, once a second: a data channel whose echo probes have
 * gone unanswered for a while although the control plane answers has most
 * likely lost its session (data plane restarted) or its data plane (gone:
 * the room is re-placed): bootstrap a new one, even if no Move came. */
#define DEAD_MS		  6000
#define REBOOTSTRAP_GAP_S 10

#define KEY_GRACE_MS  30000
#define REKEY_RETRY_S 5

/* The server asked for a re-key: a fresh exchange for the next key-id of
 * the same session, installed beside the current key. */
static void rekey(struct up *u, struct rv_api *a)
{
	/* the room key may have been rotated: fetch it again */
	if (rvc_up_room_key(u, a) != RV_EXIT_OK || rvc_up_bootstrap(u, a, u->peer_id) != RV_EXIT_OK)
		return; /* the server asks again */
	if (rvc_chan_rekey_async(u->dc, u->dp.key_id, u->dp.suite, &u->dp.tx, &u->dp.rx,
				 KEY_GRACE_MS) < 0)
		rv_log(RV_LOG_ERROR, "cannot hand the new key to the data channel");
	OPENSSL_cleanse(&u->dp.tx, sizeof(u->dp.tx));
	OPENSSL_cleanse(&u->dp.rx, sizeof(u->dp.rx));
}

void rvc_up_check(void *arg, struct rv_api *a, bool rekey_asked)
{
	struct up *u = arg;
	time_t now = time(NULL);

	if (rekey_asked && u->dc) {
		rekey(u, a);
		return;
	}
	if (u->dc && rvc_chan_rekey_due(u->dc) && now - u->last_rekey_try >= REKEY_RETRY_S) {
		/* the key's packet-ids run out: re-key without waiting for the server */
		u->last_rekey_try = now;
		rv_log(RV_LOG_WARN,
		       "data channel: packet-ids of key-id %u nearly used up: re-keying",
		       rvc_chan_key_id(u->dc));
		rekey(u, a);
		return;
	}
	if (!u->dc || rvc_chan_unanswered_ms(u->dc) < DEAD_MS ||
	    now - u->last_bootstrap < REBOOTSTRAP_GAP_S)
		return;
	rv_log(RV_LOG_WARN, "data channel: no answer for %u s: bootstrapping a new session",
	       DEAD_MS / 1000);
	rebootstrap(u, a, "data channel dead");
}

/* Keepalive thread: the room moved to another data plane. */
void rvc_up_on_move(void *arg, struct rv_api *a, const Roomvpn__V1__Move *m)
{
	struct up *u = arg;
	char reason[96];

	if (!u->dc)
		return;
	rv_log(RV_LOG_INFO, "room %s moves to data plane %s (%s): bootstrapping there", u->room,
	       m->dataplane, m->reason[0] ? m->reason : "no reason given");
	snprintf(reason, sizeof(reason), "%s", m->reason[0] ? m->reason : "move");
	rebootstrap(u, a, reason);
}

/* Keepalive thread: the room's settings changed. Everything is applied
 * (MTU on the device, keepalive on the running data channel) before the
 * server gets its Ack. */
int rvc_up_on_config(void *arg, const Roomvpn__V1__ConfigUpdate *cu)
{
	struct up *u = arg;
	struct rv_nl nl;
	int rc = rv_nl_open(&nl);

	if (rc == 0) {
		rc = rv_nl_link_set(&nl, if_nametoindex(u->ifname), cu->mtu, true);
		rv_nl_close(&nl);
	}
	if (rc) {
		rv_log(RV_LOG_ERROR, "cannot set MTU %u on %s: %s", cu->mtu, u->ifname,
		       rv_nl_strerror(rc));
		return -1;
	}
	if (cu->keepalive_s && rvc_chan_set_keepalive(u->dc, cu->keepalive_s * 1000) < 0) {
		rv_log(RV_LOG_ERROR, "cannot use keepalive interval %us", cu->keepalive_s);
		return -1;
	}
	if (cu->network) {
		struct rv_netcfg want;
		char err[200];
		if (rv_netcfg_parse(&want, cu->dns_servers, cu->n_dns_servers, cu->dns_search,
				    cu->routes, cu->n_routes, err, sizeof(err)) < 0) {
			rv_log(RV_LOG_ERROR, "room settings: %s", err);
			return -1;
		}
		u->want = want;
		if (rvc_up_apply_netcfg(u) < 0)
			return -1;
	}
	rv_log(RV_LOG_INFO,
	       "room settings changed: MTU %u on %s, keepalive %us, %u DNS server(s), %u managed "
	       "route(s) (%u on %s)",
	       cu->mtu, u->ifname, cu->keepalive_s, u->want.n_dns + u->want.n_dns6,
	       u->want.n_routes + u->want.n_routes6, u->have.n_routes + u->have.n_routes6,
	       u->ifname);
	return 0;
}

uint32_t rvc_up_rtt_us(void *arg)
{
	struct up *u = arg;

	return u->dc ? rvc_chan_rtt_us(u->dc) : 0;
}
