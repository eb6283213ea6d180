/* roomvpn-dataplane: EAL, configuration, lcore launch, control loop (ARP),
 * agent start, clean stop on SIGINT/SIGTERM, log-level re-read on SIGHUP. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "heap.h"
#include "cipher.h"
#include "config.h"
#include "dp.h"
#include "engine_cryptodev.h"
#include "inet.h"
#include "log.h"
#include "notify.h"
#include "replay.h"
#include "session_table.h"
#include "version.h"
#include "agent.h"
#include "agent_remote.h"
#include "session_file.h"
#include "tcp_fallback.h"

struct options {
	struct rv_dp_config dp;
	struct rv_st_params st;
	const char *agent_socket;
	uint32_t agent_msg_timeout_ms;
	const char *sessions_file;
	const char *stats_file;
	const char *config_path; /* --config, re-read on SIGHUP */
	char paths[3][512];
	struct rv_tcp_fallback_params tcp;    /* H6: tcp-* keys */
	struct rv_agent_remote_params remote; /* control, name, agent-cert... */
	bool cdev;			      /* crypto_engine = cryptodev: started in run() */
	char cdev_name[64];		      /* crypto_dev */
	uint32_t cdev_sessions;		      /* crypto_sessions */
};

static volatile sig_atomic_t got_signal, got_usr1, got_hup;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: roomvpn-dataplane [EAL options] -- [options]\n"
	    "\n"
	    "EAL options pick lcores and ports, e.g. on a machine without hugepages:\n"
	    "  -l 0-2 --no-huge -m 256 --no-pci --file-prefix dp1 \\\n"
	    "  --vdev net_af_packet0,iface=veth0,qpairs=2\n"
	    "The main lcore runs ARP/control; each worker needs one more lcore (and the\n"
	    "pipeline mode's RX lcore one more).\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE     read key = value lines (keys below)\n"
	    "  -s, --set KEY=VALUE   override one key (repeatable, after --config)\n"
	    "  -h, --help            this text\n"
	    "      --version         print the version (first argument only)\n"
	    "      --check-config    check the options after -- and exit (0, or 2 with\n"
	    "                        file:line); EAL is not started, except with\n"
	    "                        crypto_engine = cryptodev (to check crypto_dev)\n"
	    "\n"
	    "keys (snake_case; the old kebab-case spelling is accepted with a warning):\n"
	    "  ip = A.B.C.D/LEN      our IPv4 address and on-link prefix (required)\n"
	    "  gateway = A.B.C.D     next hop for members off the link (default none)\n"
	    "  ip6 = ADDR/LEN        our IPv6 address and on-link prefix (default none:\n"
	    "                        IPv4 only outside); answers neighbour solicitation\n"
	    "  gateway6 = ADDR       IPv6 next hop for members off the link (default none)\n"
	    "  udp_port = N          data-channel UDP port (default 1194)\n"
	    "  port = N              DPDK port id (default 0)\n"
	    "  workers = N           worker lcores, 1..%d (default 1)\n"
	    "  mode = rss|pipeline   run-to-completion with RSS, or RX lcore + rings\n"
	    "  arp_timeout = DUR     ARP cache entry lifetime (default 300s)\n"
	    "  mbufs = N             packet buffers (default 16383)\n"
	    "  max_sessions = N      session table size (default 65536): a resync or new\n"
	    "                        session beyond it is refused; the agent's message limit\n"
	    "                        is 4 MiB + 640 bytes per session (at most 64 MiB)\n"
	    "  replay_window = N     packets (default %u)\n"
	    "  key_grace = DUR       old key accepted after a re-key (default 60s)\n"
	    "  crypto_engine = openssl|ipsec-mb|cryptodev|auto  engine of AES-256-GCM and\n"
	    "                        ChaCha20-Poly1305 (default openssl; auto = ipsec-mb\n"
	    "                        when built with it and the CPU has AES-NI; cryptodev =\n"
	    "                        asynchronous, on the DPDK crypto device crypto_dev)\n"
	    "  crypto_dev = NAME     cryptodev of crypto_engine = cryptodev: one the EAL\n"
	    "                        probed, or a vdev given as an EAL option, e.g.\n"
	    "                        --vdev crypto_aesni_gcm0; needs AES-256-GCM and\n"
	    "                        workers + 1 queue pairs (ChaCha20-Poly1305 stays on\n"
	    "                        openssl where the device lacks it)\n"
	    "  crypto_sessions = N   device sessions, one per key and direction (default\n"
	    "                        4 x max_sessions + 64, at most 2^22); a key beyond\n"
	    "                        them is refused\n"
	    "  agent_socket = PATH   agent unix socket (default /run/roomvpn/dataplane.sock)\n"
	    "  agent_msg_timeout = DUR  a partial agent message must be complete by then\n"
	    "                        (default 10s)\n"
	    "  sessions = FILE       rooms/sessions loaded at start (session file format)\n"
	    "  tcp = true|false      TCP fallback: hand-off rings + TLS listener (default false)\n"
	    "  stats_file = PATH     write counters as JSON here on SIGUSR1 and at exit\n"
	    "  idle_sleep_us = N     longest nap of an idle lcore in us: naps grow from 1 us\n"
	    "                        to N, the most latency an idle lcore adds (default %u;\n"
	    "                        0 = busy-poll, for dedicated cores)\n"
	    "  wake_rt_priority = N  SCHED_FIFO priority (1-99) of an lcore while it naps\n"
	    "                        and for short bursts, so that its wake-up preempts\n"
	    "                        busy programs at once; SCHED_OTHER once busy\n"
	    "                        (default %u: never; needs CAP_SYS_NICE; docs/dataplane.md)\n"
	    "  log_level = error|warn|notice|info|debug\n",
	    RV_DP_MAX_WORKERS, RV_REPLAY_DEFAULT_WINDOW, RV_DP_IDLE_SLEEP_US_DEFAULT,
	    RV_DP_WAKE_RT_PRIORITY_DEFAULT);
	fputs(RV_TCP_FALLBACK_CONFIG_HELP, f);
	fputs(RV_AGENT_REMOTE_CONFIG_HELP, f);
	fputs(
	    "\nenvironment:\n"
	    "  RV_NO_THP_HEAP=1      do not re-execute with GLIBC_TUNABLES=glibc.malloc.hugetlb=1\n"
	    "                        (by default the session tables go on transparent huge "
	    "pages)\n",
	    f);
}

static int set_path(struct options *o, int idx, const char **dst, const char *v)
{
	snprintf(o->paths[idx], sizeof(o->paths[idx]), "%s", v);
	*dst = o->paths[idx];
	return 0;
}

static int parse_mode(const char *v, enum rv_dp_mode *m, char *err, size_t errlen)
{
	if (!strcmp(v, "rss"))
		*m = RV_DP_MODE_RSS;
	else if (!strcmp(v, "pipeline"))
		*m = RV_DP_MODE_PIPELINE;
	else {
		snprintf(err, errlen, "mode must be rss or pipeline, not '%s'", v);
		return -1;
	}
	return 0;
}

static bool has_ip6(const struct rv_dp_config *c)
{
	static const uint8_t zero[16];
	return memcmp(c->ip6, zero, 16) != 0;
}

/* ip6 = ADDR/LEN (@plen set) or gateway6 = ADDR: a unicast IPv6 address. */
static int parse_ip6(const char *v, bool with_len, uint8_t out[16], uint8_t *plen, char *err,
		     size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	snprintf(buf, sizeof(buf), "%s", v);
	char *slash = strchr(buf, '/');
	uint32_t len = 128;
	if ((slash != NULL) != with_len)
		goto bad;
	if (slash) {
		*slash = 0;
		char e2[64];
		if (rv_parse_u32(slash + 1, 1, 128, &len, e2, sizeof(e2)) < 0)
			goto bad;
	}
	if (inet_pton(AF_INET6, buf, out) != 1 || out[0] == 0xff)
		goto bad;
	if (plen)
		*plen = (uint8_t)len;
	return 0;
bad:
	snprintf(err, errlen, "%s: expected a unicast IPv6 address%s, got '%s'",
		 with_len ? "ip6" : "gateway6", with_len ? "/LEN" : " (no /LEN)", v);
	return -1;
}

/* Keys are snake_case like the control plane's (udp_port); the kebab-case
 * spelling (udp-port) is accepted with a deprecation warning. Matched below
 * in kebab-case, the tcp_fallback.c keys too. */
static int on_key_kebab(struct options *o, const char *k, const char *v, char *err, size_t errlen);

static int on_key(void *arg, const char *key, const char *v, char *err, size_t errlen)
{
	char k[64], snake[64];

	snprintf(k, sizeof(k), "%s", key);
	snprintf(snake, sizeof(snake), "%s", key);
	for (char *p = k; *p; p++)
		*p = *p == '_' ? '-' : *p;
	for (char *p = snake; *p; p++)
		*p = *p == '-' ? '_' : *p;
	if (strchr(key, '-'))
		fprintf(stderr,
			"roomvpn-dataplane: warning: %s: key '%s' is deprecated, write '%s'\n",
			rv_config_where(), key, snake);
	return on_key_kebab(arg, k, v, err, errlen);
}

static int on_key_kebab(struct options *o, const char *k, const char *v, char *err, size_t errlen)
{
	uint32_t u;
	uint64_t ns;
	if (!strcmp(k, "ip"))
		return rv_parse_cidr(v, &o->dp.ip, &o->dp.prefix_len) < 0 || o->dp.prefix_len < 1
			   ? (snprintf(err, errlen, "ip: expected A.B.C.D/LEN, got '%s'", v), -1)
			   : 0;
	if (!strcmp(k, "gateway")) {
		uint8_t plen;
		char buf[64];
		snprintf(buf, sizeof(buf), "%s/32", v);
		return strchr(v, '/') || rv_parse_cidr(buf, &o->dp.gateway, &plen) < 0
			   ? (snprintf(err, errlen, "gateway: bad IPv4 '%s'", v), -1)
			   : 0;
	}
	if (!strcmp(k, "ip6"))
		return parse_ip6(v, true, o->dp.ip6, &o->dp.prefix6_len, err, errlen);
	if (!strcmp(k, "gateway6"))
		return parse_ip6(v, false, o->dp.gateway6, NULL, err, errlen);
	if (!strcmp(k, "udp-port") || !strcmp(k, "port")) {
		if (rv_parse_u32(v, k[0] == 'u' ? 1 : 0, 65535, &u, err, errlen) < 0)
			return -1;
		*(k[0] == 'u' ? &o->dp.udp_port : &o->dp.port_id) = (uint16_t)u;
		return 0;
	}
	if (!strcmp(k, "workers"))
		return rv_parse_u32(v, 1, RV_DP_MAX_WORKERS, &o->dp.n_workers, err, errlen);
	if (!strcmp(k, "mode"))
		return parse_mode(v, &o->dp.mode, err, errlen);
	if (!strcmp(k, "arp-timeout")) {
		if (rv_parse_duration_ns(v, &ns, err, errlen) < 0)
			return -1;
		o->dp.arp_timeout_s = ns < 1000000000ull ? 1 : (uint32_t)(ns / 1000000000ull);
		return 0;
	}
	if (!strcmp(k, "mbufs"))
		return rv_parse_u32(v, 1023, 1u << 24, &o->dp.n_mbufs, err, errlen);
	if (!strcmp(k, "max-sessions"))
		return rv_parse_u32(v, 1, 1u << 24, &o->st.max_sessions, err, errlen);
	if (!strcmp(k, "replay-window"))
		return rv_parse_u32(v, 64, RV_REPLAY_MAX_WINDOW, &o->st.replay_window, err, errlen);
	if (!strcmp(k, "key-grace")) {
		if (rv_parse_duration_ns(v, &ns, err, errlen) < 0)
			return -1;
		if (ns > 3600ull * 1000000000ull) {
			snprintf(err, errlen, "key-grace: %s is longer than 1h", v);
			return -1;
		}
		o->st.default_grace_ns = ns;
		return 0;
	}
	if (!strcmp(k, "crypto-engine")) {
		enum rv_cipher_engine_id e;
		if (rv_cipher_engine_parse(v, &e) < 0) {
			snprintf(err, errlen,
				 "must be openssl, ipsec-mb, cryptodev or auto, not '%s'", v);
			return -1;
		}
		o->cdev = e == RV_ENGINE_CRYPTODEV; /* the device needs the EAL: run() */
		if (o->cdev)
			return 0;
		return rv_cipher_engine_select(e, err, errlen); /* before any key exists */
	}
	if (!strcmp(k, "crypto-dev")) {
		if (!v[0] || strlen(v) >= sizeof(o->cdev_name)) {
			snprintf(err, errlen, "crypto_dev: a device name of 1..%zu bytes",
				 sizeof(o->cdev_name) - 1);
			return -1;
		}
		snprintf(o->cdev_name, sizeof(o->cdev_name), "%s", v);
		return 0;
	}
	if (!strcmp(k, "crypto-sessions"))
		return rv_parse_u32(v, 16, 1u << 22, &o->cdev_sessions, err, errlen);
	if (!strcmp(k, "agent-socket")) {
		if (!v[0] || strlen(v) >= 108) {
			snprintf(err, errlen, "agent-socket: a unix socket path of 1..107 bytes");
			return -1;
		}
		return set_path(o, 0, &o->agent_socket, v);
	}
	if (!strcmp(k, "agent-msg-timeout")) {
		if (rv_parse_duration_ns(v, &ns, err, errlen) < 0)
			return -1;
		if (ns < 1000000ull || ns > 3600ull * 1000000000ull) {
			snprintf(err, errlen, "agent-msg-timeout: %s is outside 1ms..1h", v);
			return -1;
		}
		o->agent_msg_timeout_ms = (uint32_t)(ns / 1000000ull);
		return 0;
	}
	if (!strcmp(k, "sessions"))
		return set_path(o, 1, &o->sessions_file, v);
	if (!strcmp(k, "stats-file"))
		return set_path(o, 2, &o->stats_file, v);
	if (!strcmp(k, "tcp"))
		return rv_parse_bool(v, &o->dp.tcp_enabled, err, errlen);
	if (!strcmp(k, "idle-sleep-us"))
		return rv_parse_u32(v, 0, 100000, &rv_dp_idle_sleep_us, err, errlen);
	if (!strcmp(k, "wake-rt-priority"))
		return rv_parse_u32(v, 0, 99, &rv_dp_wake_rt_priority, err, errlen);
	if (!strcmp(k, "log-level")) {
		enum rv_log_level l;
		if (rv_log_parse_level(v, &l) < 0) {
			snprintf(err, errlen, "log-level: unknown level '%s'", v);
			return -1;
		}
		rv_log_set_level(l);
		rv_dp_log_drops = l == RV_LOG_DEBUG;
		return 0;
	}
	int tcp_rc = rv_tcp_fallback_config_key(&o->tcp, k, v, err, errlen);
	if (tcp_rc != -2)
		return tcp_rc;
	int remote_rc = rv_agent_remote_config_key(&o->remote, k, v, err, errlen);
	if (remote_rc != -2)
		return remote_rc;
	snprintf(err, errlen, "unknown key '%s' (see roomvpn-dataplane --help)", k);
	return -1;
}

static void defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->dp.udp_port = 1194;
	o->dp.n_workers = 1;
	o->dp.arp_timeout_s = 300;
	o->dp.n_mbufs = 16383;
	o->st.max_sessions = 65536;
	o->agent_socket = "/run/roomvpn/dataplane.sock";
}

/* Returns 0, 1 for --help, -1 on error (message printed). */
static int parse_args(struct options *o, int argc, char **argv)
{
	static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
					   {"set", required_argument, NULL, 's'},
					   {"help", no_argument, NULL, 'h'},
					   {"check-config", no_argument, NULL, 'C'},
					   {NULL, 0, NULL, 0}};
	char err[256];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:h", lo, NULL)) != -1) {
		int rc = 0;
		if (c == 'h') {
			usage(stdout);
			return 1;
		} else if (c == 'c') {
			o->config_path = optarg;
			rc = rv_config_load(optarg, on_key, o, err, sizeof(err));
		} else if (c == 's') {
			rc = rv_config_apply_override(optarg, on_key, o, err, sizeof(err));
		} else if (c == 'C') {
			continue;
		} else {
			usage(stderr);
			return -1;
		}
		if (rc < 0) {
			fprintf(stderr, "roomvpn-dataplane: %s\n", err);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "roomvpn-dataplane: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->dp.ip) {
		fprintf(stderr,
			"roomvpn-dataplane: 'ip' is required (e.g. --set ip=10.0.0.1/24)\n");
		return -1;
	}
	if (rv_agent_remote_check(&o->remote, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dataplane: %s\n", err);
		return -1;
	}
	if (o->cdev && !o->cdev_name[0]) {
		fprintf(stderr, "roomvpn-dataplane: crypto_engine = cryptodev needs crypto_dev = "
				"NAME (e.g. crypto_aesni_gcm0, given as --vdev)\n");
		return -1;
	}
	if (!o->cdev && o->cdev_name[0]) {
		fprintf(stderr, "roomvpn-dataplane: crypto_dev is set but crypto_engine is not "
				"cryptodev\n");
		return -1;
	}
	if (!o->cdev_sessions) {
		uint64_t n = 4ull * o->st.max_sessions + 64;
		o->cdev_sessions = n > (1u << 22) ? 1u << 22 : (uint32_t)n;
	}
	o->st.n_workers = o->dp.n_workers;
	return 0;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

/* The totals over all lcores, with the keys of `roomvpn-dpctl --json stats`
 * (counters as numbers), written to @path.tmp and renamed over @path. */
static void write_stats(const char *path)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();
	struct rv_lcore_stats t;
	char tmp[600];
	FILE *f;

	if (!o || !d)
		goto out;
	rv_stats_read_total(&t);
	add_u64(o, "rx_packets", t.rx_pkts);
	add_u64(o, "tx_packets", t.tx_pkts);
	add_u64(o, "rx_bytes", t.rx_bytes);
	add_u64(o, "tx_bytes", t.tx_bytes);
	add_u64(o, "relayed", t.relayed);
	add_u64(o, "broadcast_copies", t.broadcast_copies);
	add_u64(o, "echo_replies", t.echo_replies);
	add_u64(o, "pings", t.pings);
	add_u64(o, "handoffs", t.handoffs);
	add_u64(o, "arp_replies", t.arp_replies);
	add_u64(o, "server_ip_replies", t.server_ip_replies);
	for (int r = 1; r < RV_DROP__COUNT; r++)
		add_u64(d, rv_drop_name(r), t.drops[r]);
	json_object_object_add(o, "drops", d);
	d = NULL;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		goto out;
	fprintf(f, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (fclose(f) == 0)
		rename(tmp, path);
out:
	json_object_put(d);
	json_object_put(o);
}

/* Temporary start-up loader: applies a session file as the writer, then
 * hands the writer role to the agent thread. */
static int load_sessions(const char *path)
{
	struct rv_session_file sf;
	char err[256];
	if (rv_session_file_load(path, &sf, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dataplane: %s\n", err);
		return -1;
	}
	int rc = 0;
	rv_st_writer_register();
	for (size_t i = 0; i < sf.n_rooms && rc == 0; i++)
		rc = rv_st_room_upsert(&sf.rooms[i], err, sizeof(err));
	for (size_t i = 0; i < sf.n_sessions && rc == 0; i++)
		rc = rv_st_session_upsert(&sf.sessions[i], err, sizeof(err));
	rv_st_writer_unregister();
	rv_session_file_free(&sf);
	if (rc < 0)
		fprintf(stderr, "roomvpn-dataplane: %s: %s\n", path, err);
	return rc;
}

static int check_lcores(const struct options *o)
{
	unsigned need = o->dp.n_workers + (o->dp.mode == RV_DP_MODE_PIPELINE);
	if (rte_lcore_count() < need + 1) {
		fprintf(stderr,
			"roomvpn-dataplane: %u worker lcore(s) needed besides the main one, EAL "
			"has %u lcores (use -l 0-%u)\n",
			need, rte_lcore_count(), need);
		return -1;
	}
	return 0;
}

static void launch(const struct options *o, struct rv_dp_worker *rxw)
{
	unsigned lcore = rte_get_next_lcore(-1, 1, 0), i = 0;
	for (; i < o->dp.n_workers; i++, lcore = rte_get_next_lcore(lcore, 1, 0)) {
		rv_dp.w[i].lcore = lcore;
		rv_dp.w[i].st = rv_stats_lcore(lcore);
		rte_eal_remote_launch(rv_worker_main, &rv_dp.w[i], lcore);
	}
	if (o->dp.mode == RV_DP_MODE_PIPELINE) {
		rxw->lcore = lcore;
		rxw->st = rv_stats_lcore(lcore);
		rte_eal_remote_launch(rv_rx_lcore_main, rxw, lcore);
	}
}

/* What SIGHUP changes live: log_level (or the old log-level) from the
 * --config file. */
static int on_reload_key(void *o, const char *k, const char *v, char *err, size_t errlen)
{
	return strcmp(k, "log_level") && strcmp(k, "log-level") ? 0 : on_key(o, k, v, err, errlen);
}

static void reload(struct options *o)
{
	char err[256];

	rv_notify_reloading();
	if (o->config_path && rv_config_load(o->config_path, on_reload_key, o, err, sizeof(err)))
		rv_log(RV_LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
	else
		rv_log(RV_LOG_INFO, "SIGHUP: log-level re-read from the configuration");
	rv_notify_ready("relaying");
}

/* The port's link at notice: at start and on each change. Read without
 * waiting (rte_eth_link_get_nowait) from the main lcore's control loop,
 * about every 100 ms; never on the packet path. */
static void link_watch(uint16_t port, bool first)
{
	static struct rte_eth_link last;
	static uint64_t next_ns;
	struct rte_eth_link l;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (!first && now < next_ns)
		return;
	next_ns = now + 100000000u;
	if (rte_eth_link_get_nowait(port, &l) < 0)
		return;
	if (!first && l.link_status == last.link_status && l.link_speed == last.link_speed &&
	    l.link_duplex == last.link_duplex)
		return;
	last = l;
	if (l.link_status == RTE_ETH_LINK_DOWN)
		rv_log(RV_LOG_NOTICE, "port %u: link down", port);
	else
		rv_log(RV_LOG_NOTICE, "port %u: link up, %u Mbps, %s duplex", port, l.link_speed,
		       l.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full" : "half");
}

static void control_loop(struct options *o)
{
	while (!got_signal) {
		link_watch(o->dp.port_id, false);
		if (got_hup) {
			got_hup = 0;
			reload(o);
		}
		if (got_usr1 && o->stats_file) {
			got_usr1 = 0;
			write_stats(o->stats_file);
		}
		if (!rv_arp_poll())
			usleep(1000);
	}
}

/* The control link (agent_remote.c): what clients are told defaults to our
 * own address and ports. */
static int start_remote(struct options *o)
{
	struct rv_agent_remote_params *r = &o->remote;
	char ip[16], err[256];
	uint32_t a = o->dp.ip;
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	if (!r->public_udp[0] && has_ip6(&o->dp)) { /* dual-stack: both, clients race */
		char ip6[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, o->dp.ip6, ip6, sizeof(ip6));
		snprintf(r->public_udp, sizeof(r->public_udp), "%s:%u,[%s]:%u", ip, o->dp.udp_port,
			 ip6, o->dp.udp_port);
	}
	if (!r->public_udp[0])
		snprintf(r->public_udp, sizeof(r->public_udp), "%s:%u", ip, o->dp.udp_port);
	if (!r->public_tcp[0] && o->dp.tcp_enabled)
		snprintf(r->public_tcp, sizeof(r->public_tcp), "%s:%u", ip, rv_tcp_fallback_port());
	r->agent_socket = o->agent_socket;
	r->workers = o->dp.n_workers;
	r->max_sessions = o->st.max_sessions;
	if (rv_agent_remote_start(r, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dataplane: %s\n", err);
		return -1;
	}
	return 0;
}

static int run(struct options *o)
{
	char err[256];
	static struct rv_dp_worker rxw;
	int rc = 0;
	o->st.owner_by_peer_id = o->dp.mode == RV_DP_MODE_PIPELINE;
	o->st.tcp = o->dp.tcp_enabled;
	if (check_lcores(o) < 0)
		return 1;
	struct rv_cdev_config cc = {
	    .dev_name = o->cdev_name, .n_workers = o->dp.n_workers, .n_sessions = o->cdev_sessions};
	if (rv_dp_setup(&o->dp, err, sizeof(err)) < 0 ||
	    (o->cdev && rv_cdev_start(&cc, err, sizeof(err)) < 0) || /* before any key */
	    rv_st_init(&o->st, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dataplane: %s\n", err);
		return 1;
	}
	if (o->sessions_file && load_sessions(o->sessions_file) < 0)
		return 1;
	struct rv_agent_params ap = {.socket_path = o->agent_socket,
				     .max_sessions = o->st.max_sessions,
				     .msg_timeout_ms = o->agent_msg_timeout_ms};
	if (rv_agent_start(&ap, err, sizeof(err)) < 0) {
		fprintf(stderr, "roomvpn-dataplane: agent: %s\n", err);
		return 1;
	}
	launch(o, &rxw);
	if (o->dp.tcp_enabled) { /* H6: the TCP fallback thread */
		struct rv_tcp_fallback_ops ops = rv_tcp_fallback_io_ops();
		if (!o->tcp.listen_port)
			o->tcp.listen_port = 443;
		if (rv_tcp_fallback_start(&o->tcp, &ops, err, sizeof(err)) < 0) {
			fprintf(stderr, "roomvpn-dataplane: %s\n", err);
			got_signal = 1; /* stop the workers cleanly, exit 1 */
			rc = 1;
		}
	}
	if (!rc && start_remote(o) < 0) {
		got_signal = 1;
		rc = 1;
	}
	rv_log(RV_LOG_NOTICE,
	       "dataplane up: %u worker(s), %s mode, UDP port %u, crypto engine %s%s%s",
	       o->dp.n_workers, o->dp.mode == RV_DP_MODE_RSS ? "rss" : "pipeline", o->dp.udp_port,
	       rv_cipher_engine_name(rv_cipher_engine_current()), o->cdev ? " on " : "",
	       o->cdev ? rv_cdev_describe() : "");
	link_watch(o->dp.port_id, true);
	rv_notify_ready("relaying");
	control_loop(o);
	if (rc)
		rv_log(RV_LOG_NOTICE, "dataplane stopping: the TCP fallback did not start");
	else
		rv_log(RV_LOG_NOTICE, "dataplane stopping (%s)", strsignal(got_signal));
	rv_notify_stopping();
	atomic_store(&rv_dp.stop, true);
	rte_eal_mp_wait_lcore();
	rv_agent_remote_stop();
	rv_tcp_fallback_stop();
	rv_agent_stop();
	if (o->stats_file)
		write_stats(o->stats_file);
	rv_dp_teardown();
	rv_cdev_stop();
	rv_log(RV_LOG_NOTICE, "dataplane stopped");
	return rc;
}

/* --check-config with crypto_engine = cryptodev: the device exists only
 * once the EAL probed it, so the EAL starts with the options before "--"
 * (the --vdev that makes it) and the device is checked as run() would. */
static int check_crypto_dev(const struct options *o, char **argv, int first)
{
	char *eal[64], err[256];
	int n = 0;
	for (int i = 0; i < (first ? first : 1) && n < 63; i++)
		if (strcmp(argv[i], "--check-config"))
			eal[n++] = argv[i];
	eal[n] = NULL;
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "roomvpn-dataplane: crypto_dev: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	int rc = rv_cdev_probe(o->cdev_name, o->dp.n_workers, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "roomvpn-dataplane: %s\n", err);
	rte_eal_cleanup();
	return rc;
}

/* --check-config: the options after "--" (or all of them), without EAL
 * (except for crypto_engine = cryptodev: check_crypto_dev). */
static int check_config(int argc, char **argv)
{
	static struct options o;
	int first = 0;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			first = i;
			break;
		}
	defaults(&o);
	if (parse_args(&o, argc - first, argv + first) != 0)
		return 2;
	if (o.cdev && check_crypto_dev(&o, argv, first) < 0)
		return 2;
	printf("roomvpn-dataplane: configuration OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (rv_version_asked(argc, argv, "roomvpn-dataplane"))
		return 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--check-config"))
			return check_config(argc, argv);
	rv_heap_thp_reexec(argv); /* session state on huge pages (shared/heap.h) */
	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "roomvpn-dataplane: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	static struct options o;
	defaults(&o);
	int rc = parse_args(&o, argc - n, argv + n);
	if (rc != 0) {
		rte_eal_cleanup();
		return rc < 0 ? 2 : 0;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGHUP, on_signal);
	rc = run(&o);
	rte_eal_cleanup();
	return rc;
}
