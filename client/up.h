/* `roomvpn up`'s tunnel state, shared by up.c (join, bootstrap, TUN, the
 * run and teardown) and up_follow.c (what the keepalive thread does to the
 * running tunnel). Internal to the client. */
#ifndef RV_CLIENT_UP_H
#define RV_CLIENT_UP_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "chan.h"
#include "cli.h"
#include "keepalive.h"
#include "netcfg.h"
#include "roomvpn/v1/session.pb-c.h"
#include "tun.h"

struct up {
	struct cli *c;
	const char *room;
	const char *ifname_opt;
	char ifname[IFNAMSIZ];
	char vip[16];
	char vip6[46]; /* "" when the room has no IPv6 */
	uint32_t peer_id;
	char pid_path[RV_STATE_PATH + 80], json_path[RV_STATE_PATH + 80];
	char log_path[RV_STATE_PATH + 80];
	struct rv_tun_config tun;
	struct rvc_chan_params dp;
	uint8_t room_key[64];
	size_t room_key_len;
	struct rv_keepalive *ka;
	struct rvc_chan *dc;	       /* the running data channel (set before the keepalive
					  thread starts, cleared after it stopped) */
	enum rvc_chan_transport start; /* the room's preferred transport */
	time_t last_bootstrap;
	/* the data plane serving the room (BootstrapResponse.dataplane) and its
	 * endpoints: written by whoever bootstraps (main, then the keepalive
	 * thread), read by the status writer (the data channel's thread) */
	pthread_mutex_t dp_lock;
	char dataplane[64];
	struct rvc_chan_servers servers;
	time_t last_rekey_try; /* re-key for packet-id exhaustion */
	/* the room's DNS and managed routes: wanted (Join, ConfigUpdate) and
	 * installed; DNS goes into RESOLV_CONF unless --no-dns */
	bool no_dns;
	char dns_backup[RV_STATE_PATH + 80];
	struct rv_netcfg want, have;
	char answer_dataplane[64]; /* of the last Bootstrap answer */
};

/* up.c */
/* The room key (members only) for the key derivation. An exit code. */
int rvc_up_room_key(struct up *u, struct rv_api *a);
/* TunnelService.Bootstrap for u->room (@rekey_peer_id: the next key of that
 * session; 0: a new session): keys, endpoints, peer-id, data plane into
 * u->dp / u->answer_dataplane. An exit code. */
int rvc_up_bootstrap(struct up *u, struct rv_api *a, uint32_t rekey_peer_id);
/* Install u->want (routes on the TUN, DNS). -1 if something failed. */
int rvc_up_apply_netcfg(struct up *u);

/* up_follow.c */
/* Record the last Bootstrap's data plane and endpoints (status); true when
 * they changed, which is logged once with old -> new and @reason. */
bool rvc_up_note_dataplane(struct up *u, const char *reason);
/* The keepalive callbacks (keepalive.h), @arg the struct up. */
void rvc_up_check(void *arg, struct rv_api *a, bool rekey_asked);
void rvc_up_on_move(void *arg, struct rv_api *a, const Roomvpn__V1__Move *m);
int rvc_up_on_config(void *arg, const Roomvpn__V1__ConfigUpdate *cu);
uint32_t rvc_up_rtt_us(void *arg);

#endif
