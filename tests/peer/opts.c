/* rvpeer command line: every option checked, errors name the option. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvpeer.h"
#include "static_key.h"

static const char usage[] =
    "usage: rvpeer --tun NAME [--local ADDR:PORT] [--remote ADDR:PORT] MODE [options]\n"
    "\n"
    "A minimal VPN endpoint on libroomvpn: TUN device <-> data channel <-> UDP\n"
    "(or TLS over TCP). Configure the TUN address and routes with `ip`.\n"
    "\n"
    "modes:\n"
    "  --mode static --secret FILE [--key-direction 0|1]\n"
    "      OpenVPN static-key mode (AES-256-CBC + HMAC-SHA256), talks to\n"
    "      `openvpn --secret FILE --cipher AES-256-CBC --auth SHA256`.\n"
    "  --mode v2 --cipher NAME --key FILE [--key-direction 0|1] [--peer-id N] [--key-id N]\n"
    "      P_DATA_V2; NAME is AES-256-GCM, CHACHA20-POLY1305, AES-256-CBC or none.\n"
    "      FILE is an OpenVPN static key file (256 bytes of key material);\n"
    "      peer-id 0..0xFFFFFF (default 0xFFFFFF), key-id 0..7 (default 0).\n"
    "\n"
    "options:\n"
    "  --tun NAME           create/attach TUN device NAME (IFF_TUN|IFF_NO_PI)\n"
    "  --local ADDR:PORT    bind the UDP socket (TCP server: listen address)\n"
    "  --move-to ADDR:PORT  UDP: on SIGRTMIN, send from a new socket (of that\n"
    "                       address's family) to ADDR:PORT, keys and packet-ids kept\n"
    "                       (a member moving, e.g. from IPv4 to IPv6)\n"
    "  (ADDR: IPv4, or [IPv6] for UDP)\n"
    "  --remote ADDR:PORT   where to send (UDP) / connect to (TCP); without it\n"
    "                       a UDP peer answers the last authenticated sender\n"
    "  --next-key FILE      v2: next key; installed with the next key-id on\n"
    "                       SIGUSR2, or when the other side starts using it\n"
    "  --grace SECONDS      v2: how long the old key still opens (default 30)\n"
    "  --replay-window N    replay window in packets (default 2048)\n"
    "  --tcp                v2: TLS over TCP to --remote, 2-byte length framing,\n"
    "                       cipher none unless --cipher is given\n"
    "  --ca FILE            --tcp: verify the server certificate against FILE\n"
    "  --tcp-listen         v2: accept TLS over TCP on --local (needs --cert, --cert-key)\n"
    "  --cert FILE, --cert-key FILE   --tcp-listen: PEM certificate and key\n"
    "  --ping SECONDS       send OpenVPN keepalive pings every SECONDS\n"
    "  --echo SECONDS       send echo requests every SECONDS and print the RTT\n"
    "  --stats-file PATH    also write the counters JSON to PATH\n"
    "  --duplicate-every N  test aid: send every Nth sealed packet twice (the\n"
    "                       copy must be dropped by the receiver's replay window)\n"
    "  --verbose            debug logging\n"
    "  --help               this text\n"
    "\n"
    "signals: SIGUSR1 prints the counters as one JSON line (also on exit),\n"
    "SIGUSR2 re-keys (--next-key), SIGINT/SIGTERM exit cleanly.\n";

enum {
	OPT_TUN = 256,
	OPT_LOCAL,
	OPT_REMOTE,
	OPT_MODE,
	OPT_SECRET,
	OPT_KEY,
	OPT_NEXT_KEY,
	OPT_KEY_DIRECTION,
	OPT_CIPHER,
	OPT_PEER_ID,
	OPT_KEY_ID,
	OPT_GRACE,
	OPT_REPLAY_WINDOW,
	OPT_TCP,
	OPT_TCP_LISTEN,
	OPT_CA,
	OPT_CERT,
	OPT_CERT_KEY,
	OPT_PING,
	OPT_ECHO,
	OPT_STATS_FILE,
	OPT_DUPLICATE_EVERY,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_MOVE_TO,
};

static const struct option longopts[] = {
    {"tun", required_argument, NULL, OPT_TUN},
    {"local", required_argument, NULL, OPT_LOCAL},
    {"remote", required_argument, NULL, OPT_REMOTE},
    {"move-to", required_argument, NULL, OPT_MOVE_TO},
    {"mode", required_argument, NULL, OPT_MODE},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"key", required_argument, NULL, OPT_KEY},
    {"next-key", required_argument, NULL, OPT_NEXT_KEY},
    {"key-direction", required_argument, NULL, OPT_KEY_DIRECTION},
    {"cipher", required_argument, NULL, OPT_CIPHER},
    {"peer-id", required_argument, NULL, OPT_PEER_ID},
    {"key-id", required_argument, NULL, OPT_KEY_ID},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"replay-window", required_argument, NULL, OPT_REPLAY_WINDOW},
    {"tcp", no_argument, NULL, OPT_TCP},
    {"tcp-listen", no_argument, NULL, OPT_TCP_LISTEN},
    {"ca", required_argument, NULL, OPT_CA},
    {"cert", required_argument, NULL, OPT_CERT},
    {"cert-key", required_argument, NULL, OPT_CERT_KEY},
    {"ping", required_argument, NULL, OPT_PING},
    {"echo", required_argument, NULL, OPT_ECHO},
    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
    {"duplicate-every", required_argument, NULL, OPT_DUPLICATE_EVERY},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "rvpeer: --%s %s: %s (see --help)\n", opt, val, why);
	return -1;
}

/* IPv4-ADDRESS:PORT (into @out and @any) or [IPv6-ADDRESS]:PORT (into
 * @any only: UDP over IPv6; TCP stays IPv4). */
static int parse_addr(const char *opt, const char *s, struct sockaddr_in *out,
		      struct sockaddr_storage *any)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	bool v6 = s[0] == '[';

	if (!colon || (size_t)(colon - s) >= sizeof(host) || (v6 && colon[-1] != ']'))
		return bad(opt, s, "expected IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT");
	memcpy(host, s + v6, (size_t)(colon - s) - 2 * v6);
	host[colon - s - 2 * v6] = '\0';
	memset(out, 0, sizeof(*out));
	memset(any, 0, sizeof(*any));
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port > 65535)
		return bad(opt, s, "port must be 0..65535");
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)any;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return bad(opt, s, "not an IPv6 address");
		return 0;
	}
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return bad(opt, s, "not an IPv4 address");
	out->sin_port = htons((uint16_t)port);
	memcpy(any, out, sizeof(*out));
	return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned long max, uint32_t *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || *end || *s == '\0' || *s == '-' || v > max) {
		char why[64];
		snprintf(why, sizeof(why), "expected an integer 0..%lu", max);
		return bad(opt, s, why);
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_seconds(const char *opt, const char *s, bool zero_ok, uint64_t *out_ns)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || *s == '\0' || !isfinite(v) || v < 0 || v > 86400 ||
	    (!zero_ok && v == 0))
		return bad(opt, s,
			   zero_ok ? "expected seconds, 0..86400"
				   : "expected seconds, >0 and <= 86400");
	*out_ns = (uint64_t)(v * 1e9);
	if (!zero_ok && *out_ns < 1000000)
		return bad(opt, s, "must be at least 0.001");
	return 0;
}

static int parse_one(struct peer_opts *o, int c, const char *a, const char **mode)
{
	uint32_t v;

	switch (c) {
	case OPT_TUN:
		if (strlen(a) == 0 || strlen(a) >= 16)
			return bad("tun", a, "interface names are 1..15 characters");
		o->tun_name = a;
		return 0;
	case OPT_LOCAL:
		o->has_local = true;
		return parse_addr("local", a, &o->local, &o->ulocal);
	case OPT_REMOTE:
		o->has_remote = true;
		return parse_addr("remote", a, &o->remote, &o->uremote);
	case OPT_MOVE_TO: {
		struct sockaddr_in unused;
		o->has_move = true;
		return parse_addr("move-to", a, &unused, &o->umove);
	}
	case OPT_MODE:
		*mode = a;
		if (strcmp(a, "static") == 0)
			o->mode = PEER_MODE_STATIC;
		else if (strcmp(a, "v2") == 0)
			o->mode = PEER_MODE_V2;
		else
			return bad("mode", a, "expected static or v2");
		return 0;
	case OPT_SECRET:
	case OPT_KEY:
		o->key_file = a;
		return 0;
	case OPT_NEXT_KEY:
		o->next_key_file = a;
		return 0;
	case OPT_KEY_DIRECTION:
		if (strcmp(a, "0") != 0 && strcmp(a, "1") != 0)
			return bad("key-direction", a, "expected 0 or 1");
		o->key_direction = a[0] - '0';
		return 0;
	case OPT_CIPHER:
		o->cipher_set = true;
		if (rv_cipher_parse(a, &o->cipher) != 0 || o->cipher == RV_CIPHER_STATIC_CBC_HMAC)
			return bad("cipher", a,
				   "expected AES-256-GCM, CHACHA20-POLY1305, AES-256-CBC or none");
		return 0;
	case OPT_PEER_ID:
		if (parse_uint("peer-id", a, 0xFFFFFF, &o->peer_id))
			return -1;
		return 0;
	case OPT_KEY_ID:
		if (parse_uint("key-id", a, 7, &v))
			return -1;
		o->key_id = (uint8_t)v;
		return 0;
	case OPT_GRACE:
		return parse_seconds("grace", a, true, &o->grace_ns);
	case OPT_REPLAY_WINDOW:
		return parse_uint("replay-window", a, RV_REPLAY_MAX_WINDOW, &o->replay_window);
	case OPT_TCP:
		o->transport = PEER_TCP_CLIENT;
		return 0;
	case OPT_TCP_LISTEN:
		o->transport = PEER_TCP_SERVER;
		return 0;
	case OPT_CA:
		o->ca_file = a;
		return 0;
	case OPT_CERT:
		o->cert_file = a;
		return 0;
	case OPT_CERT_KEY:
		o->cert_key_file = a;
		return 0;
	case OPT_PING:
		return parse_seconds("ping", a, false, &o->ping_ns);
	case OPT_ECHO:
		return parse_seconds("echo", a, false, &o->echo_ns);
	case OPT_STATS_FILE:
		o->stats_file = a;
		return 0;
	case OPT_DUPLICATE_EVERY:
		return parse_uint("duplicate-every", a, UINT32_MAX, &o->duplicate_every);
	case OPT_VERBOSE:
		o->verbose = true;
		return 0;
	}
	fprintf(stderr, "rvpeer: unknown option (see --help)\n");
	return -1;
}

static int need(bool ok, const char *msg)
{
	if (!ok)
		fprintf(stderr, "rvpeer: %s (see --help)\n", msg);
	return ok ? 0 : -1;
}

/* Cross-option checks once everything is parsed. */
static int check(struct peer_opts *o, const char *mode)
{
	bool tcp = o->transport != PEER_UDP;

	if (need(o->tun_name, "--tun NAME is required") || need(mode, "--mode is required"))
		return -1;
	if (o->mode == PEER_MODE_STATIC)
		return need(o->key_file, "--mode static needs --secret FILE") ||
		       need(!o->cipher_set, "--cipher is fixed in static mode (AES-256-CBC)") ||
		       need(!o->next_key_file, "--next-key needs --mode v2") ||
		       need(!tcp, "--tcp/--tcp-listen need --mode v2") ||
		       need(o->has_local || o->has_remote, "give --local and/or --remote");
	if (!o->cipher_set && tcp)
		o->cipher = RV_CIPHER_NONE;
	else if (need(o->cipher_set, "--mode v2 needs --cipher NAME"))
		return -1;
	if (need(o->key_file || o->cipher == RV_CIPHER_NONE, "--mode v2 needs --key FILE"))
		return -1;
	if (o->transport == PEER_TCP_CLIENT)
		return need(o->has_remote, "--tcp needs --remote ADDR:PORT");
	if (o->transport == PEER_TCP_SERVER)
		return need(o->has_local, "--tcp-listen needs --local ADDR:PORT") ||
		       need(o->cert_file && o->cert_key_file,
			    "--tcp-listen needs --cert FILE and --cert-key FILE");
	return need(o->has_local || o->has_remote, "give --local and/or --remote");
}

int peer_opts_parse(struct peer_opts *o, int argc, char **argv)
{
	const char *mode = NULL;
	int c;

	memset(o, 0, sizeof(*o));
	o->key_direction = RV_KEY_DIRECTION_NONE;
	o->grace_ns = 30ull * 1000000000ull;
	o->peer_id = RV_PEER_ID_NONE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(usage, stdout);
			return 1;
		}
		if (c == '?') {
			fprintf(stderr,
				"rvpeer: unknown option or missing argument: %s (see --help)\n",
				argv[optind - 1]);
			return -1;
		}
		if (parse_one(o, c, optarg, &mode))
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "rvpeer: unexpected argument: %s (see --help)\n", argv[optind]);
		return -1;
	}
	return check(o, mode) ? -1 : 0;
}
