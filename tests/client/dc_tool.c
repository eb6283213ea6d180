/* Test tool for client/dc.c: brings up a TUN device and runs the client's
 * data channel against a server given on the command line (keys from an
 * OpenVPN static-key file), writing the counters as JSON to --status once a
 * second. Stops on SIGINT/SIGTERM. With --move-udp (and --move-tcp,
 * --move-peer-id; up to MOVES_MAX times), each SIGUSR1 hands the channel a
 * new session for the next of those endpoints, as `roomvpn up` does when its
 * room moves to another data plane (same keys: the test servers share the
 * static key). */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "chan.h"
#include "inet.h"
#include "pbjson.h"
#include "static_key.h"
#include "tls_pin.h"
#include "tun.h"

static struct rvc_chan *g_dc;
static const char *g_status;
#define MOVES_MAX 4
static struct rvc_chan_servers g_move[MOVES_MAX];
static uint32_t g_move_peer_id[MOVES_MAX];
static int g_moves, g_moved; /* given, done */
static struct rv_key_dir g_tx, g_rx;
static enum rv_cipher g_suite;
static volatile sig_atomic_t g_move_asked;

static void on_usr1(int sig)
{
	(void)sig;
	g_move_asked = 1;
}

static void on_signal(int sig)
{
	(void)sig;
	if (g_dc)
		rvc_chan_stop(g_dc);
}

static void write_status(struct rvc_chan *dc, void *arg)
{
	char tmp[512];
	FILE *f;

	(void)arg;
	if (g_move_asked && g_moved < g_moves) { /* the loop applies it on its next pass */
		g_move_asked = 0;
		g_moved++;
		if (rvc_chan_replace_session(dc, g_move_peer_id[g_moved - 1], 0, g_suite, &g_tx,
					     &g_rx, &g_move[g_moved - 1]) < 0)
			fprintf(stderr, "move: cannot hand over the new session\n");
	}
	if (!g_status)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", g_status);
	f = fopen(tmp, "w");
	if (!f)
		return;
	rv_json_print(f, rvc_chan_stats_json(dc));
	fclose(f);
	rename(tmp, g_status);
}

/* "A.B.C.D:PORT", "[IPV6]:PORT" or "NAME:PORT" into @sa (IPv6 preferred). */
static int endpoint(const char *s, union rvc_addr *sa)
{
	union rvc_addr v6, v4;
	char err[256];

	if (rvc_addr_resolve(s, &v6, &v4, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), -1;
	*sa = rvc_addr_set(&v6) ? v6 : v4;
	return 0;
}

static int load_key(const char *path, int dir, struct rvc_chan_params *p)
{
	struct rv_key_material km;
	char err[256];

	if (rv_static_key_load(path, &km, err, sizeof(err)) < 0)
		return fprintf(stderr, "key %s: %s\n", path, err), -1;
	rv_static_key_dirs(&km, dir, &p->tx, &p->rx);
	OPENSSL_cleanse(&km, sizeof(km));
	return 0;
}

static int parse(int argc, char **argv, struct rv_tun_config *t, struct rvc_chan_params *p)
{
	static const struct option opts[] = {
	    {"tun", 1, 0, 'n'},	      {"addr", 1, 0, 'a'},	   {"addr6", 1, 0, '6'},
	    {"mtu", 1, 0, 'm'},	      {"route", 1, 0, 'r'},	   {"udp", 1, 0, 'u'},
	    {"tcp", 1, 0, 't'},	      {"udp-alt", 1, 0, 'A'},	   {"pin", 1, 0, 'f'},
	    {"key", 1, 0, 'k'},	      {"cipher", 1, 0, 'c'},	   {"peer-id", 1, 0, 'p'},
	    {"status", 1, 0, 's'},    {"fallback-ms", 1, 0, 'F'},  {"probe-ms", 1, 0, 'P'},
	    {"first-pid", 1, 0, 'I'}, {"start", 1, 0, 'S'},	   {"move-udp", 1, 0, 'U'},
	    {"move-tcp", 1, 0, 'T'},  {"move-peer-id", 1, 0, 'M'}, {0, 0, 0, 0}};
	const char *key = NULL;
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			t->name = optarg;
			break;
		case 'a':
			bad |= rv_parse_cidr(optarg, &t->addr, &t->plen);
			break;
		case '6': { /* the TUN's IPv6 address, ADDR6/PLEN (issue 17) */
			char a[INET6_ADDRSTRLEN];
			const char *sl = strchr(optarg, '/');
			snprintf(a, sizeof(a), "%.*s", sl ? (int)(sl - optarg) : 0, optarg);
			t->plen6 = sl ? (uint8_t)atoi(sl + 1) : 0;
			bad |= !t->plen6 || inet_pton(AF_INET6, a, t->addr6) != 1;
			break;
		}
		case 'm':
			t->mtu = (uint32_t)atoi(optarg);
			break;
		case 'r':
			bad |= t->n_routes >= RV_TUN_MAX_ROUTES ||
			       rv_parse_cidr(optarg, &t->route_dst[t->n_routes],
					     &t->route_plen[t->n_routes]);
			t->n_routes++;
			break;
		case 'u':
			bad |= endpoint(optarg, &p->udp_server);
			break;
		case 't':
			bad |= endpoint(optarg, &p->tcp_server);
			break;
		case 'A': /* --udp-alt: the other family's UDP endpoint (raced) */
			bad |= endpoint(optarg, &p->udp_server_alt);
			break;
		case 'f':
			bad |= rv_fp_parse(optarg, p->tls_pin);
			p->tls_pin_set = true;
			break;
		case 'k':
			key = optarg;
			break;
		case 'c':
			bad |= rv_cipher_parse(optarg, &p->suite);
			break;
		case 'p':
			p->peer_id = (uint32_t)atoi(optarg);
			break;
		case 's':
			g_status = optarg;
			break;
		case 'F':
			p->fallback_ms = (uint32_t)atoi(optarg);
			break;
		case 'P':
			p->probe_ms = (uint32_t)atoi(optarg);
			break;
		case 'I':
			p->first_pid = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S': /* the transport to start on: udp or tcp */
			bad |= strcmp(optarg, "udp") && strcmp(optarg, "tcp");
			p->start = strcmp(optarg, "tcp") ? RVC_CHAN_UDP : RVC_CHAN_TCP;
			break;
		case 'U':
			/* --move-udp starts the next target */
			bad |=
			    g_moves == MOVES_MAX || endpoint(optarg, &g_move[g_moves++].udp_server);
			break;
		case 'T':
			bad |= !g_moves || endpoint(optarg, &g_move[g_moves - 1].tcp_server);
			break;
		case 'M':
			bad |= !g_moves;
			if (g_moves)
				g_move_peer_id[g_moves - 1] = (uint32_t)atoi(optarg);
			break;
		default:
			bad = 1;
		}
	}
	if (bad || !key || !t->addr)
		return fprintf(stderr,
			       "usage: rv_dc_tool --tun N --addr CIDR [--addr6 CIDR6] --mtu N "
			       "--udp IP:P "
			       "[--udp-alt IP:P] "
			       "[--tcp IP:P --pin FP] --key FILE --cipher C --peer-id N "
			       "[--route CIDR] [--status FILE] [--first-pid N] [--start udp|tcp] "
			       "[--move-udp IP:P [--move-tcp IP:P] --move-peer-id N]\n"),
		       -1;
	if (load_key(key, 0, p) < 0)
		return -1;
	g_tx = p->tx, g_rx = p->rx, g_suite = p->suite;
	return 0;
}

int main(int argc, char **argv)
{
	struct rv_tun_config t = {.mtu = 1400};
	struct rvc_chan_params p = {.suite = RV_CIPHER_AES_256_GCM};
	char ifname[IFNAMSIZ], err[256];
	int fd, rc;

	if (parse(argc, argv, &t, &p) < 0)
		return 2;
	fd = rv_tun_setup(&t, ifname, err, sizeof(err));
	if (fd < 0)
		return fprintf(stderr, "%s\n", err), 1;
	if (rvc_chan_create(&p, fd, &g_dc, err, sizeof(err)) < 0)
		return fprintf(stderr, "%s\n", err), 1;
	OPENSSL_cleanse(&p, sizeof(p));
	rvc_chan_set_tick(g_dc, write_status, NULL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_usr1);
	printf("ready %s\n", ifname);
	fflush(stdout);
	rc = rvc_chan_run(g_dc);
	write_status(g_dc, NULL);
	rvc_chan_destroy(g_dc);
	close(fd);
	return rc < 0 ? 1 : 0;
}
