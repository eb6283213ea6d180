/* roomvpn up ROOM: join, bootstrap the tunnel (TunnelService.Bootstrap,
 * X25519 + HKDF with the room key), bring up the TUN device over netlink
 * and run the data channel until SIGINT/SIGTERM (or `roomvpn down`). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "chan.h"
#include "inet.h"
#include "kdf.h"
#include "keepalive.h"
#include "log.h"
#include "netcfg.h"
#include "netlink.h"
#include "pbjson.h"
#include "roomvpn/v1/rooms.pb-c.h"
#include "roomvpn/v1/tunnel.pb-c.h"
#include "tun.h"
#include "up.h"

#define RESOLV_CONF "/etc/resolv.conf"

static struct rvc_chan *g_dc;

static void on_signal(int sig)
{
	(void)sig;
	if (g_dc)
		rvc_chan_stop(g_dc);
}

/* The room's DNS settings and routes from the Join answer (a server from
 * before dns_servers sends `dns` alone). */
static int join_netcfg(struct up *u, const Roomvpn__V1__JoinRoomResponse *j)
{
	char err[200], *one[1] = {j->dns};
	bool only_dns = !j->n_dns_servers && j->dns[0];

	if (rv_netcfg_parse(&u->want, only_dns ? one : j->dns_servers,
			    only_dns ? 1 : j->n_dns_servers, j->dns_search, j->routes, j->n_routes,
			    err, sizeof(err)) < 0) {
		cli_error(u->c, "%s", err);
		return -1;
	}
	return 0;
}

/* Install u->want (routes on the TUN, DNS into RESOLV_CONF) and say what
 * could not be; the tunnel works without them. -1 if something failed. */
int rvc_up_apply_netcfg(struct up *u)
{
	char err[512];
	int rc = 0;

	if (!u->tun.plen6) /* no IPv6 here (room or host): nothing IPv6 to apply */
		u->want.n_routes6 = u->want.n_dns6 = 0;
	if (rv_netcfg_routes_sync(if_nametoindex(u->ifname), u->tun.addr,
				  u->tun.plen6 ? u->tun.addr6 : NULL, &u->want, &u->have, err,
				  sizeof(err)) < 0) {
		rv_log(RV_LOG_ERROR, "managed routes on %s: %s", u->ifname, err);
		rc = -1;
	}
	if (u->no_dns) {
		if (u->want.n_dns || u->want.n_dns6)
			rv_log(RV_LOG_INFO, "--no-dns: the room's DNS servers are not used");
		return rc;
	}
	if (rv_netcfg_dns_apply(RESOLV_CONF, u->dns_backup, u->room, &u->want, err, sizeof(err)) <
	    0) {
		rv_log(RV_LOG_WARN, "DNS: %s", err);
		/* not root or not ours to change: a choice, not a failure */
		if (geteuid() == 0 && !strstr(err, "symbolic link"))
			rc = -1;
	}
	return rc;
}

/* The tunnel goes down: its DNS settings go too. */
static void restore_dns(struct up *u)
{
	char err[256];
	int rc = rv_netcfg_dns_restore(RESOLV_CONF, u->dns_backup, err, sizeof(err));

	if (rc < 0)
		rv_log(RV_LOG_ERROR, "DNS: %s", err);
	else if (rc == 2)
		rv_log(RV_LOG_WARN,
		       "DNS: %s was changed by another program meanwhile: left as it is",
		       RESOLV_CONF);
}

/* Join (idempotent) and keep the room key for the key derivation. */
static int join(struct up *u, struct rv_api *a)
{
	Roomvpn__V1__JoinRoomRequest req = ROOMVPN__V1__JOIN_ROOM_REQUEST__INIT;
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	grpc_status_code st;

	req.room = (char *)u->room;
	st = rv_api_call(a, "/roomvpn.v1.RoomService/Join", &req.base,
			 &roomvpn__v1__join_room_response__descriptor, &resp, &res);
	if (st != GRPC_STATUS_OK)
		return cli_rpc_error(u->c, "join", st, &res);
	if (join_netcfg(u, (const Roomvpn__V1__JoinRoomResponse *)resp) < 0) {
		protobuf_c_message_free_unpacked(resp, NULL);
		return RV_EXIT_ERROR;
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return rvc_up_room_key(u, a);
}

/* The room key (members only) for the key derivation. */
int rvc_up_room_key(struct up *u, struct rv_api *a)
{
	Roomvpn__V1__GetRoomRequest get = ROOMVPN__V1__GET_ROOM_REQUEST__INIT;
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	const Roomvpn__V1__Room *room;
	grpc_status_code st;

	get.room = (char *)u->room;
	st = rv_api_call(a, "/roomvpn.v1.RoomService/Get", &get.base,
			 &roomvpn__v1__room__descriptor, &resp, &res);
	if (st != GRPC_STATUS_OK)
		return cli_rpc_error(u->c, "room", st, &res);
	room = (const Roomvpn__V1__Room *)resp;
	u->room_key_len = room->room_key.len;
	if (u->room_key_len == 0 || u->room_key_len > sizeof(u->room_key)) {
		protobuf_c_message_free_unpacked(resp, NULL);
		cli_error(u->c, "the server sent no usable room key for %s", u->room);
		return RV_EXIT_ERROR;
	}
	memcpy(u->room_key, room->room_key.data, u->room_key_len);
	protobuf_c_message_free_unpacked(resp, NULL);
	return RV_EXIT_OK;
}

/* The data plane's endpoints: UDP ones give one address per family (IPv6
 * preferred, IPv4 raced after it: chan_udp.c), "A.B.C.D:PORT",
 * "[IPV6]:PORT" or a name; TCP: the first one's address, IPv4 preferred
 * (the fallback is the last resort: the most compatible family). */
static int endpoints(struct up *u, const Roomvpn__V1__BootstrapResponse *r)
{
	union rvc_addr v6 = {0}, v4 = {0}, tcp = {0};
	char err[256];

	for (size_t i = 0; i < r->n_endpoints; i++) {
		const Roomvpn__V1__Endpoint *e = r->endpoints[i];
		bool is_tcp = e->transport == ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
		union rvc_addr a6, a4;
		if (rvc_addr_resolve(e->address, &a6, &a4, err, sizeof(err)) < 0) {
			cli_error(u->c, "server sent a bad data-plane endpoint: %s", err);
			return -1;
		}
		if (is_tcp && !rvc_addr_set(&tcp))
			tcp = rvc_addr_set(&a4) ? a4 : a6;
		if (!is_tcp && !rvc_addr_set(&v6))
			v6 = a6;
		if (!is_tcp && !rvc_addr_set(&v4))
			v4 = a4;
	}
	u->dp.udp_server = rvc_addr_set(&v6) ? v6 : v4;
	memset(&u->dp.udp_server_alt, 0, sizeof(u->dp.udp_server_alt));
	if (rvc_addr_set(&v6))
		u->dp.udp_server_alt = v4;
	u->dp.tcp_server = tcp;
	if (!rvc_addr_set(&u->dp.udp_server)) {
		cli_error(u->c, "server sent no UDP data-plane endpoint");
		return -1;
	}
	/* the server lists the room's preferred transport first */
	u->dp.start =
	    r->n_endpoints && r->endpoints[0]->transport == ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP
		? RVC_CHAN_TCP
		: RVC_CHAN_UDP;
	return 0;
}

/* The IPv6 address of a dual-stack room into u->tun (plen6 0: none). */
static int answer_v6(struct up *u, const Roomvpn__V1__BootstrapResponse *r)
{
	u->tun.plen6 = 0;
	u->vip6[0] = '\0';
	if (!r->virtual_ip6 || !r->virtual_ip6[0])
		return 0;
	if (r->prefix6_len < 1 || r->prefix6_len > 128 ||
	    inet_pton(AF_INET6, r->virtual_ip6, u->tun.addr6) != 1)
		return -1;
	u->tun.plen6 = (uint8_t)r->prefix6_len;
	snprintf(u->vip6, sizeof(u->vip6), "%s", r->virtual_ip6);
	return 0;
}

/* Session parameters from the answer and the derived keys. */
static int apply_answer(struct up *u, const struct rv_x25519 *kp,
			const Roomvpn__V1__BootstrapResponse *r)
{
	uint8_t shared[RV_X25519_LEN];
	struct rv_key_material km;
	uint32_t vip;
	int rc = -1;

	if (r->server_public.len != RV_X25519_LEN || rv_cipher_parse(r->cipher, &u->dp.suite) < 0 ||
	    r->key_id > 7 || r->peer_id > 0xFFFFFE ||
	    rv_parse_cidr(r->subnet, &vip, &u->tun.plen) < 0 ||
	    inet_pton(AF_INET, r->virtual_ip, &vip) != 1 || answer_v6(u, r) < 0) {
		cli_error(u->c, "malformed bootstrap answer from the server");
		return -1;
	}
	if (endpoints(u, r) < 0)
		return -1;
	if (rv_x25519_shared(kp, r->server_public.data, shared) == 0 &&
	    rv_kdf_derive(shared, u->room_key, u->room_key_len, (uint8_t)r->key_id, kp->pub,
			  r->server_public.data, &km) == 0) {
		u->dp.tx = km.dir[0];
		u->dp.rx = km.dir[1];
		rc = 0;
	} else {
		cli_error(u->c, "key exchange failed (bad server key)");
	}
	u->tun.addr = ntohl(vip);
	u->tun.mtu = r->mtu;
	u->dp.peer_id = r->peer_id;
	u->dp.key_id = (uint8_t)r->key_id;
	snprintf(u->answer_dataplane, sizeof(u->answer_dataplane), "%s", r->dataplane);
	u->dp.keepalive_ms = r->keepalive_s * 1000;
	u->peer_id = r->peer_id;
	snprintf(u->vip, sizeof(u->vip), "%s", r->virtual_ip);
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(&km, sizeof(km));
	return rc;
}

int rvc_up_bootstrap(struct up *u, struct rv_api *a, uint32_t rekey_peer_id)
{
	static char *ciphers[] = {"AES-256-GCM", "CHACHA20-POLY1305", "AES-256-CBC"};
	Roomvpn__V1__BootstrapRequest req = ROOMVPN__V1__BOOTSTRAP_REQUEST__INIT;
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	struct rv_x25519 kp;
	grpc_status_code st;
	int rc;

	if (rv_x25519_generate(&kp) < 0) {
		cli_error(u->c, "cannot generate an X25519 key");
		return RV_EXIT_ERROR;
	}
	req.room = (char *)u->room;
	req.n_ciphers = 3;
	req.ciphers = ciphers;
	req.client_public.data = kp.pub;
	req.client_public.len = RV_X25519_LEN;
	req.rekey_peer_id = rekey_peer_id;
	st = rv_api_call(a, "/roomvpn.v1.TunnelService/Bootstrap", &req.base,
			 &roomvpn__v1__bootstrap_response__descriptor, &resp, &res);
	if (st != GRPC_STATUS_OK) {
		rv_x25519_wipe(&kp);
		return cli_rpc_error(u->c, "tunnel bootstrap", st, &res);
	}
	rc = apply_answer(u, &kp, (const Roomvpn__V1__BootstrapResponse *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	rv_x25519_wipe(&kp);
	return rc < 0 ? RV_EXIT_ERROR : RV_EXIT_OK;
}

/* The last presence changes of the room's other members (keepalive.h). */
static struct json_object *presence_json(struct rv_keepalive *ka)
{
	struct rv_presence_note p[RV_KEEPALIVE_PRESENCE_MAX];
	struct json_object *a = json_object_new_array();
	size_t n = rv_keepalive_presence(ka, p);

	for (size_t i = 0; a && i < n; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "room", json_object_new_string(p[i].room));
		json_object_object_add(e, "username", json_object_new_string(p[i].username));
		json_object_object_add(e, "device_id",
				       json_object_new_int64((int64_t)p[i].device_id));
		json_object_object_add(e, "state", json_object_new_string(p[i].state));
		json_object_object_add(e, "time",
				       json_object_new_int64((int64_t)p[i].time_unix_ms));
		json_object_array_add(a, e);
	}
	return a;
}

static void write_status(struct rvc_chan *dc, void *arg)
{
	struct up *u = arg;
	char tmp[RV_STATE_PATH + 96], control[320], control_ep[300], dataplane[64], endpoint[64];
	struct json_object *o, *stats;
	FILE *f;

	stats = rvc_chan_stats_json(dc);
	if (!stats)
		return;
	rv_keepalive_describe(u->ka, control, sizeof(control));
	rv_keepalive_endpoint(u->ka, control_ep, sizeof(control_ep));
	pthread_mutex_lock(&u->dp_lock);
	snprintf(dataplane, sizeof(dataplane), "%s", u->dataplane);
	pthread_mutex_unlock(&u->dp_lock);
	rvc_chan_endpoint(dc, endpoint, sizeof(endpoint));
	snprintf(tmp, sizeof(tmp), "%s.tmp", u->json_path);
	f = fopen(tmp, "w");
	if (!f) {
		json_object_put(stats);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "virtual_ip", json_object_new_string(u->vip));
	json_object_object_add(o, "virtual_ip6", json_object_new_string(u->vip6));
	json_object_object_add(o, "interface", json_object_new_string(u->ifname));
	json_object_object_add(o, "peer_id", json_object_new_int64(u->peer_id));
	json_object_object_add(
	    o, "keepalive",
	    json_object_new_string(rv_keepalive_connected(u->ka) ? "connected" : "connecting"));
	json_object_object_add(o, "keepalive_connects",
			       json_object_new_int64(rv_keepalive_connects(u->ka)));
	json_object_object_add(o, "control", json_object_new_string(control));
	json_object_object_add(o, "control_endpoint", json_object_new_string(control_ep));
	json_object_object_add(o, "dataplane", json_object_new_string(dataplane));
	json_object_object_add(o, "dataplane_endpoint", json_object_new_string(endpoint));
	json_object_object_add(o, "preferred_transport",
			       json_object_new_string(rvc_chan_transport_name(u->start)));
	json_object_object_add(o, "stats", stats);
	json_object_object_add(o, "presence", presence_json(u->ka));
	rv_json_print(f, o);
	if (fclose(f) == 0)
		rename(tmp, u->json_path);
}

static int write_pid(const struct up *u)
{
	FILE *f = fopen(u->pid_path, "w");

	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

static char g_kick_reason[256];
static atomic_bool g_kicked;

static void on_kick(void *arg, const char *reason)
{
	(void)arg;
	snprintf(g_kick_reason, sizeof(g_kick_reason), "%s", reason);
	atomic_store(&g_kicked, true);
	if (g_dc)
		rvc_chan_stop(g_dc);
}

static const struct rv_keepalive_ops ka_ops = {
    .on_kick = on_kick,
    .check = rvc_up_check,
    .on_config = rvc_up_on_config,
    .on_move = rvc_up_on_move,
    .rtt_us = rvc_up_rtt_us,
};

/* --daemon: fork before anything else (grpc does not survive a fork). The
 * parent waits for the child's "up" report on a pipe and exits with 0, or
 * with the child's exit code if it failed before the tunnel was up. */
static int daemon_fork(int *report_fd)
{
	char buf[512];
	ssize_t n, len = 0;
	int p[2], status;
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		setsid();
		*report_fd = p[1];
		return 0;
	}
	close(p[1]);
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	if (len > 0) {
		fputs(buf, stdout);
		exit(RV_EXIT_OK);
	}
	waitpid(pid, &status, 0);
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : RV_EXIT_ERROR);
}

/* The tunnel is up: tell the user (or the waiting parent). */
static void report_up(const struct up *u, int report_fd)
{
	char line[512];
	int fd;

	if (u->c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "room", json_object_new_string(u->room));
		json_object_object_add(o, "interface", json_object_new_string(u->ifname));
		json_object_object_add(o, "virtual_ip", json_object_new_string(u->vip));
		json_object_object_add(o, "virtual_ip6", json_object_new_string(u->vip6));
		json_object_object_add(o, "pid", json_object_new_int(getpid()));
		snprintf(line, sizeof(line), "%s\n",
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else
		snprintf(line, sizeof(line), "Tunnel of room %s is up on %s (%s%s%s)%s\n", u->room,
			 u->ifname, u->vip, u->vip6[0] ? ", " : "", u->vip6,
			 report_fd >= 0 ? ", in the background" : ". Ctrl-C to stop.");
	if (report_fd < 0) {
		fputs(line, stdout);
		fflush(stdout);
		return;
	}
	if (write(report_fd, line, strlen(line)) < 0) {
		/* the parent is gone: nobody to tell */
	}
	close(report_fd);
	fd = open(u->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	dup2(fd >= 0 ? fd : open("/dev/null", O_RDWR), 2);
	dup2(open("/dev/null", O_RDWR), 1);
	dup2(open("/dev/null", O_RDWR), 0);
	if (fd > 2)
		close(fd);
}

/* The tunnel goes down by the user's choice (down, leave, SIGINT/SIGTERM):
 * tell the server, which removes the data-plane session at once. A server
 * without TunnelService.End (UNIMPLEMENTED) or out of reach is told
 * nothing: its heartbeat timeout removes the session later. */
#define END_TIMEOUT_MS 2000

static void end_tunnel(struct up *u, struct rv_api *a)
{
	Roomvpn__V1__EndTunnelRequest req = ROOMVPN__V1__END_TUNNEL_REQUEST__INIT;
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	grpc_status_code st;

	req.room = (char *)u->room;
	req.peer_id = u->peer_id;
	rv_grpc_set_timeout(a->g, END_TIMEOUT_MS);
	st = rv_api_call(a, "/roomvpn.v1.TunnelService/End", &req.base,
			 &roomvpn__v1__end_tunnel_response__descriptor, &resp, &res);
	if (st == GRPC_STATUS_OK) {
		protobuf_c_message_free_unpacked(resp, NULL);
		rv_log(RV_LOG_INFO, "tunnel ended on the server (peer-id %u)", u->peer_id);
	} else if (st == GRPC_STATUS_UNIMPLEMENTED) {
		rv_log(RV_LOG_WARN, "the server has no TunnelService.End (UNIMPLEMENTED): its "
				    "heartbeat timeout removes the session");
	} else {
		rv_log(RV_LOG_WARN, "could not end the tunnel on the server (status %d): %s",
		       (int)st, res.message);
	}
}

/* TUN, data channel, keepalive stream, loop; teardown on the way out. */
static int run_tunnel(struct up *u, struct rv_api *a, int report_fd)
{
	char err[256];
	int tun, rc = RV_EXIT_OK;

	u->tun.name = u->ifname_opt ? u->ifname_opt : "rvpn%d";
	tun = rv_tun_setup(&u->tun, u->ifname, err, sizeof(err));
	if (tun < 0) {
		cli_error(u->c, "%s", err);
		return RV_EXIT_ERROR;
	}
	if (!u->tun.plen6) /* the room, or this host, has no IPv6 */
		u->vip6[0] = '\0';
	u->start = u->dp.start;
	if (rvc_chan_create(&u->dp, tun, &g_dc, err, sizeof(err)) < 0) {
		cli_error(u->c, "%s", err);
		close(tun);
		return RV_EXIT_ERROR;
	}
	u->dc = g_dc;
	OPENSSL_cleanse(&u->dp, sizeof(u->dp));
	rvc_up_apply_netcfg(u);
	write_pid(u);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rvc_chan_set_tick(g_dc, write_status, u);
	if (rv_keepalive_start(a, u->room, u->peer_id, &ka_ops, u, &u->ka) < 0)
		rv_log(RV_LOG_WARN,
		       "cannot start the keepalive stream; the tunnel runs without it");
	report_up(u, report_fd);
	if (rvc_chan_run(g_dc) < 0)
		rc = RV_EXIT_ERROR;
	rv_keepalive_stop(u->ka);
	u->ka = NULL;
	u->dc = NULL;
	if (!atomic_load(&g_kicked))
		end_tunnel(u, a);
	restore_dns(u); /* the routes go with the device */
	unlink(u->pid_path);
	unlink(u->json_path);
	rvc_chan_destroy(g_dc);
	g_dc = NULL;
	close(tun);
	if (atomic_load(&g_kicked)) {
		cli_error(u->c, "tunnel of room %s ended by the server: %s", u->room,
			  g_kick_reason);
		return RV_EXIT_DENIED;
	}
	if (report_fd < 0 && !u->c->json)
		printf("Tunnel of room %s is down.\n", u->room);
	return rc;
}

/* True if the effective capabilities include CAP_NET_ADMIN (bit 12). */
static bool have_net_admin(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long eff = 0;
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return eff >> 12 & 1;
}

/* What `up` needs, checked before it joins or bootstraps anything (a
 * failure later would leave a session on the server): root or
 * CAP_NET_ADMIN, and /dev/net/tun. */
static int check_local(struct cli *c)
{
	int fd;

	if (geteuid() != 0 && !have_net_admin()) {
		cli_error(c, "'up' needs root or CAP_NET_ADMIN (TUN device, addresses, routes)");
		return RV_EXIT_DENIED;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		cli_error(c, "cannot open /dev/net/tun: %s", strerror(errno));
		return errno == EACCES || errno == EPERM ? RV_EXIT_DENIED : RV_EXIT_ERROR;
	}
	close(fd);
	return RV_EXIT_OK;
}

static int cmd_up(struct cli *c, int argc, char **argv)
{
	struct up u = {.c = c};
	bool daemon = false;
	const struct cli_opt opts[] = {{"daemon", NULL, &daemon},
				       {"interface", &u.ifname_opt, NULL},
				       {"no-dns", NULL, &u.no_dns},
				       {NULL, NULL, NULL}};
	const char *pos[1];
	struct rv_api a;
	char err[256];
	int rc, report_fd = -1;

	if (cli_parse("up", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	u.room = pos[0];
	if (rv_run_path(c->dir, u.room, "pid", u.pid_path, sizeof(u.pid_path)) < 0 ||
	    rv_run_path(c->dir, u.room, "json", u.json_path, sizeof(u.json_path)) < 0 ||
	    rv_run_path(c->dir, u.room, "log", u.log_path, sizeof(u.log_path)) < 0 ||
	    rv_run_path(c->dir, u.room, "dns-backup", u.dns_backup, sizeof(u.dns_backup)) < 0) {
		cli_error(c, "bad room name '%s'", u.room);
		return RV_EXIT_USAGE;
	}
	if (rv_cli_tunnel_running(c, u.room)) {
		cli_error(c, "the tunnel of room %s is already up (see 'roomvpn status')", u.room);
		return RV_EXIT_CONFLICT;
	}
	rc = check_local(c);
	if (rc != RV_EXIT_OK)
		return rc;
	if (rv_netcfg_dns_restore(RESOLV_CONF, u.dns_backup, err, sizeof(err)) == 0)
		fprintf(stderr, "roomvpn: restored %s saved by an earlier tunnel of room %s\n",
			RESOLV_CONF, u.room); /* that one ended without its teardown */
	if (daemon && daemon_fork(&report_fd) < 0) {
		cli_error(c, "cannot start in the background: %s", strerror(errno));
		return RV_EXIT_ERROR;
	}
	rc = cli_api(c, &a);
	if (rc != RV_EXIT_OK)
		return rc;
	/* The data plane serves the control plane's certificate: the pin it
	 * matched (of the login's set) is the one the TCP fallback expects. */
	if (rv_grpc_pin(a.g, u.dp.tls_pin)) {
		u.dp.tls_pin_set = true;
	} else {
		u.dp.tls_ca_file = a.login.ca_file;
	}
	pthread_mutex_init(&u.dp_lock, NULL);
	rc = join(&u, &a);
	if (rc == RV_EXIT_OK)
		rc = rvc_up_bootstrap(&u, &a, 0);
	if (rc == RV_EXIT_OK)
		rvc_up_note_dataplane(&u, "up");
	u.last_bootstrap = time(NULL);
	if (rc == RV_EXIT_OK)
		rc = run_tunnel(&u, &a, report_fd);
	rv_api_close(&a);
	pthread_mutex_destroy(&u.dp_lock);
	OPENSSL_cleanse(u.room_key, sizeof(u.room_key)); /* kept for re-bootstraps */
	return rc;
}

const struct cli_cmd cli_up_cmds[] = {
    {"up", "ROOM [--daemon] [--interface NAME] [--no-dns]",
     "Bring up this device's tunnel into a room (joining it if needed): the server and\n"
     "the client exchange X25519 keys over TunnelService.Bootstrap, a TUN device gets\n"
     "the virtual IP, MTU and route of the room and the room's managed routes (netlink;\n"
     "not those via this device itself), the room's DNS servers go into /etc/resolv.conf\n"
     "(the previous file is saved under the config dir's run/ and put back when the\n"
     "tunnel goes down, or by the next 'up' of the room after a crash; only as root, and\n"
     "not when /etc/resolv.conf is a symbolic link), and the data channel runs\n"
     "over UDP, falling back to TLS over TCP when UDP gets no answer. Runs in the\n"
     "foreground until Ctrl-C / SIGTERM / 'roomvpn down ROOM'. A keepalive stream to the\n"
     "server (reconnecting by itself) ends the tunnel with a message when the device is\n"
     "removed from the room (exit 4); room changes (MTU, keepalive, DNS, routes) are\n"
     "applied as they come. Going down (Ctrl-C, SIGTERM, 'down', 'leave') ends the\n"
     "tunnel on the server too (TunnelService.End). Needs root or CAP_NET_ADMIN and\n"
     "/dev/net/tun, checked before anything is asked of the server (exit 4).\n\n"
     "Options:\n"
     "  --daemon             run in the background once the tunnel is up\n"
     "  --interface NAME     TUN device name (default rvpnN)\n"
     "  --no-dns             leave /etc/resolv.conf alone (the room's DNS is not used)\n",
     cmd_up},
    {NULL, NULL, NULL, NULL},
};
