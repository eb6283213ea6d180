/* Command line of roomvpn-loadgen (everything after the EAL's "--"). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "inet.h"
#include "loadgen.h"

enum {
	OPT_DP = 256,
	OPT_DP_MAC,
	OPT_GATEWAY,
	OPT_CLIENTS,
	OPT_ROOMS,
	OPT_FLOWS,
	OPT_CIPHER,
	OPT_SIZES,
	OPT_CLIENT_NET,
	OPT_CLIENT_PORT,
	OPT_VIP_NET,
	OPT_INNER6,
	OPT_VIP6_NET,
	OPT_PEER_ID_BASE,
	OPT_ROOM_ID_BASE,
	OPT_KEY_ID,
	OPT_SEED,
	OPT_AGENT,
	OPT_SESSION_FILE,
	OPT_WRITE_ONLY,
	OPT_KEEP,
	OPT_REFLECT,
	OPT_RATE,
	OPT_MAX_RATE,
	OPT_TRIAL,
	OPT_DRAIN,
	OPT_PDR,
	OPT_RESOLUTION,
	OPT_MAX_TRIALS,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_PLOT,
	OPT_LABEL,
	OPT_QUIET,
	OPT_TX_PORT,
	OPT_RX_PORT,
	OPT_CORRUPT,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"dp", required_argument, NULL, OPT_DP},
    {"dp-mac", required_argument, NULL, OPT_DP_MAC},
    {"gateway", required_argument, NULL, OPT_GATEWAY},
    {"clients", required_argument, NULL, OPT_CLIENTS},
    {"rooms", required_argument, NULL, OPT_ROOMS},
    {"flows", required_argument, NULL, OPT_FLOWS},
    {"cipher", required_argument, NULL, OPT_CIPHER},
    {"sizes", required_argument, NULL, OPT_SIZES},
    {"client-net", required_argument, NULL, OPT_CLIENT_NET},
    {"client-port", required_argument, NULL, OPT_CLIENT_PORT},
    {"vip-net", required_argument, NULL, OPT_VIP_NET},
    {"inner6", no_argument, NULL, OPT_INNER6},
    {"vip6-net", required_argument, NULL, OPT_VIP6_NET},
    {"peer-id-base", required_argument, NULL, OPT_PEER_ID_BASE},
    {"room-id-base", required_argument, NULL, OPT_ROOM_ID_BASE},
    {"key-id", required_argument, NULL, OPT_KEY_ID},
    {"seed", required_argument, NULL, OPT_SEED},
    {"agent", required_argument, NULL, OPT_AGENT},
    {"session-file", required_argument, NULL, OPT_SESSION_FILE},
    {"write-only", no_argument, NULL, OPT_WRITE_ONLY},
    {"keep-sessions", no_argument, NULL, OPT_KEEP},
    {"reflect", no_argument, NULL, OPT_REFLECT},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max-rate", required_argument, NULL, OPT_MAX_RATE},
    {"trial-time", required_argument, NULL, OPT_TRIAL},
    {"drain-time", required_argument, NULL, OPT_DRAIN},
    {"pdr-loss", required_argument, NULL, OPT_PDR},
    {"resolution", required_argument, NULL, OPT_RESOLUTION},
    {"max-trials", required_argument, NULL, OPT_MAX_TRIALS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json-out", required_argument, NULL, OPT_JSON},
    {"plot-out", required_argument, NULL, OPT_PLOT},
    {"label", required_argument, NULL, OPT_LABEL},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"tx-port", required_argument, NULL, OPT_TX_PORT},
    {"rx-port", required_argument, NULL, OPT_RX_PORT},
    {"test-corrupt-payload", required_argument, NULL, OPT_CORRUPT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void lg_args_usage(FILE *f, const char *prog)
{
	fprintf(
	    f,
	    "usage: %s [EAL options] -- [options]\n"
	    "Plays N clients in M rooms against a roomvpn data plane and measures\n"
	    "NDR/PDR (RFC 2544-style binary search), loss, reordering and latency.\n"
	    "\n"
	    "Provisioning (exactly one):\n"
	    "  --agent PATH            upsert rooms/sessions through the agent socket\n"
	    "  --session-file PATH     write a session file (+ key files beside it) for\n"
	    "                          `roomvpn-dpctl resync --file`; needs --seed N\n"
	    "  --write-only            with --session-file: write it and exit (load it,\n"
	    "                          then run again with the same options)\n"
	    "  --keep-sessions         with --agent: leave the sessions on the data plane\n"
	    "  --reflect               self-test: the loadgen relays its own packets\n"
	    "                          (loopback port, e.g. --vdev net_ring0)\n"
	    "  --test-corrupt-payload N  with --reflect: change the payload of every Nth\n"
	    "                          relayed packet (shows the payload check failing)\n"
	    "Addresses:\n"
	    "  --dp A.B.C.D:PORT       data plane address (required unless --reflect)\n"
	    "  --dp-mac XX:..:XX       data plane MAC (default: resolved with ARP)\n"
	    "  --gateway A.B.C.D       the data plane's gateway: the loadgen answers ARP\n"
	    "                          for it (clients off the data plane's link)\n"
	    "  --client-net CIDR       clients' outer addresses (198.18.0.0/15)\n"
	    "  --client-port N         the clients' UDP port (40000)\n"
	    "  --vip-net A.B.C.D       rooms' subnets are carved from here (10.128.0.0)\n"
	    "  --inner6                inner IPv6/UDP packets between the clients' vip6s\n"
	    "                          (dual-stack rooms; with --agent or --reflect)\n"
	    "  --vip6-net IPV6         a /48: room r's prefix6 is its /64 number r, a\n"
	    "                          client's vip6 its host number (fd00:80::)\n"
	    "  --tx-port N --rx-port N DPDK port ids (0, 0)\n"
	    "Sessions:\n"
	    "  --clients N             simulated clients = sessions (2)\n"
	    "  --rooms M               rooms, clients spread evenly (1)\n"
	    "  --flows F               sending clients, each to the next member (clients)\n"
	    "  --cipher NAME           AES-256-GCM | CHACHA20-POLY1305 | AES-256-CBC\n"
	    "  --peer-id-base N        first peer-id (1000); --room-id-base N (100)\n"
	    "  --key-id N              key-id 0..7 (0); --seed N key seed (random)\n"
	    "Search:\n"
	    "  --sizes LIST            inner IPv4 sizes 52..1440 and/or imix (64,512,1400,imix);\n"
	    "                          --inner6: IPv6 sizes 72..1440 (72,512,1400)\n"
	    "  --rate PPS              one trial per size at this rate (no search)\n"
	    "  --max-rate PPS          search upper bound (1000000)\n"
	    "  --trial-time S          seconds per trial (1; RFC 2544 asks 60)\n"
	    "  --drain-time S          wait for stragglers after each trial (0.3)\n"
	    "  --pdr-loss PCT          loss allowed for PDR (0.1)\n"
	    "  --resolution PCT        stop when the bounds are this close (2)\n"
	    "  --max-trials N          per size and search (10)\n"
	    "  --timeout S             agent reply / first packet back (3)\n"
	    "Output:\n"
	    "  --json-out PATH         results as JSON\n"
	    "  --plot-out PATH.png|svg throughput and latency vs size (gnuplot)\n"
	    "  --label TEXT            name of the run in JSON and plot\n"
	    "  --quiet                 no progress line\n",
	    prog);
}

static int bad(const char *prog, const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "%s: invalid %s '%s': %s (see --help)\n", prog, opt, val, why);
	return -1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s == '-' || *s == '\0')
		return -1;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
	uint8_t plen;
	char buf[40];
	if (strchr(s, '/') || strlen(s) > 15)
		return -1;
	snprintf(buf, sizeof(buf), "%s/32", s);
	return rv_parse_cidr(buf, out, &plen);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* "imix" = 7 x 64, 4 x 576, 1 x 1400 (the classic 7:4:1 mix with the large
 * size kept under a 1500-byte outer MTU), interleaved; else one size. */
int lg_size_parse(const char *s, struct lg_size *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(s, "imix") == 0 || strcmp(s, "IMIX") == 0) {
		static const uint16_t pat[12] = {64,   576, 64,	 64, 576, 64,
						 1400, 64,  576, 64, 64,  576};
		snprintf(out->name, sizeof(out->name), "IMIX");
		out->n = 12;
		memcpy(out->len, pat, sizeof(pat));
		return 0;
	}
	uint64_t v;
	if (parse_u64(s, LG_MIN_INNER, LG_MAX_INNER, &v))
		return -1;
	snprintf(out->name, sizeof(out->name), "%u", (unsigned)v);
	out->n = 1;
	out->len[0] = (uint16_t)v;
	return 0;
}

static int parse_sizes(struct lg_opts *o, const char *arg)
{
	char buf[256];
	char *save = NULL;
	if (strlen(arg) >= sizeof(buf))
		return bad(o->prog, "--sizes", arg, "too long");
	snprintf(buf, sizeof(buf), "%s", arg);
	o->nsizes = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == LG_MAX_SIZES)
			return bad(o->prog, "--sizes", arg, "at most 8 sizes");
		if (lg_size_parse(t, &o->sizes[o->nsizes]))
			return bad(o->prog, "--sizes", t, "expected 52..1440 or imix");
		o->nsizes++;
	}
	if (o->nsizes == 0)
		return bad(o->prog, "--sizes", arg, "empty list");
	return 0;
}

static void set_defaults(struct lg_opts *o)
{
	uint8_t plen;
	o->clients = 2;
	o->rooms = 1;
	o->suite = RV_CIPHER_AES_256_GCM;
	rv_parse_cidr("198.18.0.0/15", &o->client_net, &o->client_plen);
	rv_parse_cidr("10.128.0.0/9", &o->vip_net, &plen);
	inet_pton(AF_INET6, "fd00:80::", o->vip6_net);
	o->client_port_base = 40000;
	o->peer_id_base = 1000;
	o->room_id_base = 100;
	o->max_rate_pps = 1e6;
	o->trial_s = 1.0;
	o->drain_s = 0.3;
	o->pdr_loss = 0.001;
	o->resolution = 0.02;
	o->max_trials = 10;
	o->reply_timeout_s = 3.0;
	o->label = "roomvpn-loadgen";
	o->mode = (enum lg_mode) - 1;
	parse_sizes(o, "64,512,1400,imix");
}

static int set_mode(struct lg_opts *o, enum lg_mode m, const char *opt)
{
	if ((int)o->mode != -1 && o->mode != m) {
		fprintf(stderr, "%s: %s: choose one of --agent, --session-file, --reflect\n",
			o->prog, opt);
		return -1;
	}
	o->mode = m;
	return 0;
}

/* Options that set one number: integer fields by size, or doubles (percent
 * options are stored as fractions). */
struct num_opt {
	int id;
	const char *name, *expect;
	size_t off;
	unsigned size; /* 1, 2, 4, 8 bytes: integer; 0: double */
	double min, max, scale;
};

#define INT_OPT(id, name, field, min, max, expect)                                                 \
	{                                                                                          \
		id, name, expect, offsetof(struct lg_opts, field),                                 \
		    sizeof(((struct lg_opts *)0)->field), min, max, 1                              \
	}
#define DBL_OPT(id, name, field, min, max, scale, expect)                                          \
	{                                                                                          \
		id, name, expect, offsetof(struct lg_opts, field), 0, min, max, scale              \
	}

static const struct num_opt num_opts[] = {
    INT_OPT(OPT_CLIENTS, "--clients", clients, 2, 1000000, "expected 2..1000000"),
    INT_OPT(OPT_ROOMS, "--rooms", rooms, 1, 500000, "expected 1..500000"),
    INT_OPT(OPT_FLOWS, "--flows", flows, 1, 1000000, "expected 1..1000000"),
    INT_OPT(OPT_CLIENT_PORT, "--client-port", client_port_base, 1024, 64535,
	    "expected 1024..64535"),
    INT_OPT(OPT_PEER_ID_BASE, "--peer-id-base", peer_id_base, 0, 0xFFFFFE, "expected 0..16777214"),
    INT_OPT(OPT_ROOM_ID_BASE, "--room-id-base", room_id_base, 1, 0xFFFFFFFFu,
	    "expected a non-zero 32-bit id"),
    INT_OPT(OPT_KEY_ID, "--key-id", key_id, 0, 7, "expected 0..7"),
    INT_OPT(OPT_SEED, "--seed", seed, 0, 1.8e19, "expected a number"),
    INT_OPT(OPT_MAX_TRIALS, "--max-trials", max_trials, 1, 100, "expected 1..100"),
    INT_OPT(OPT_TX_PORT, "--tx-port", tx_port, 0, 1023, "expected a port id 0..1023"),
    INT_OPT(OPT_RX_PORT, "--rx-port", rx_port, 0, 1023, "expected a port id 0..1023"),
    INT_OPT(OPT_CORRUPT, "--test-corrupt-payload", corrupt_every, 1, 1000000000,
	    "expected 1..1000000000"),
    DBL_OPT(OPT_RATE, "--rate", fixed_rate_pps, 1, 1e9, 1, "expected packets/s, 1..1e9"),
    DBL_OPT(OPT_MAX_RATE, "--max-rate", max_rate_pps, 10, 1e9, 1, "expected packets/s, 10..1e9"),
    DBL_OPT(OPT_TRIAL, "--trial-time", trial_s, 0.05, 3600, 1, "expected seconds, 0.05..3600"),
    DBL_OPT(OPT_DRAIN, "--drain-time", drain_s, 0.01, 60, 1, "expected seconds, 0.01..60"),
    DBL_OPT(OPT_PDR, "--pdr-loss", pdr_loss, 0.0001, 50, 0.01, "expected percent, 0.0001..50"),
    DBL_OPT(OPT_RESOLUTION, "--resolution", resolution, 0.01, 50, 0.01,
	    "expected percent, 0.01..50"),
    DBL_OPT(OPT_TIMEOUT, "--timeout", reply_timeout_s, 0.05, 600, 1, "expected seconds, 0.05..600"),
};

static void store_int(void *field, unsigned size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	switch (size) {
	case 1:
		memcpy(field, &u8, 1);
		break;
	case 2:
		memcpy(field, &u16, 2);
		break;
	case 4:
		memcpy(field, &u32, 4);
		break;
	default:
		memcpy(field, &v, 8);
	}
}

static int parse_number(struct lg_opts *o, int c, const char *a)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		const struct num_opt *n = &num_opts[i];
		if (n->id != c)
			continue;
		void *field = (char *)o + n->off;
		if (n->size == 0) {
			double d;
			if (parse_double(a, n->min, n->max, &d))
				return bad(o->prog, n->name, a, n->expect);
			d *= n->scale;
			memcpy(field, &d, sizeof(d));
			return 0;
		}
		uint64_t v;
		uint64_t max = n->max >= 1.8e19 ? UINT64_MAX : (uint64_t)n->max;
		if (parse_u64(a, (uint64_t)n->min, max, &v))
			return bad(o->prog, n->name, a, n->expect);
		store_int(field, n->size, v);
		return 0;
	}
	return -1;
}

static int parse_one(struct lg_opts *o, int c, const char *a)
{
	switch (c) {
	case OPT_DP:
		if (rv_parse_hostport(a, &o->dp_ip, &o->dp_port) || o->dp_port == 0)
			return bad(o->prog, "--dp", a, "expected A.B.C.D:PORT");
		return 0;
	case OPT_DP_MAC:
		if (parse_mac(a, o->dp_mac))
			return bad(o->prog, "--dp-mac", a, "expected XX:XX:XX:XX:XX:XX");
		o->dp_mac_set = true;
		return 0;
	case OPT_GATEWAY:
		if (parse_ipv4(a, &o->gateway) || o->gateway == 0)
			return bad(o->prog, "--gateway", a, "expected A.B.C.D");
		return 0;
	case OPT_CIPHER:
		if (rv_cipher_parse(a, &o->suite) ||
		    (o->suite != RV_CIPHER_AES_256_GCM && o->suite != RV_CIPHER_CHACHA20_POLY1305 &&
		     o->suite != RV_CIPHER_AES_256_CBC_HMAC))
			return bad(o->prog, "--cipher", a,
				   "expected AES-256-GCM, CHACHA20-POLY1305 or AES-256-CBC");
		return 0;
	case OPT_SIZES:
		o->sizes_given = true;
		return parse_sizes(o, a);
	case OPT_CLIENT_NET:
		if (rv_parse_cidr(a, &o->client_net, &o->client_plen) || o->client_plen > 30 ||
		    o->client_plen < 8)
			return bad(o->prog, "--client-net", a, "expected A.B.C.D/8..30");
		return 0;
	case OPT_INNER6:
		o->inner6 = true;
		return 0;
	case OPT_VIP6_NET: {
		static const uint8_t zero[10];
		if (inet_pton(AF_INET6, a, o->vip6_net) != 1 || memcmp(o->vip6_net + 6, zero, 10))
			return bad(o->prog, "--vip6-net", a,
				   "expected an IPv6 /48 network (e.g. fd00:80::)");
		return 0;
	}
	case OPT_VIP_NET:
		if (parse_ipv4(a, &o->vip_net))
			return bad(o->prog, "--vip-net", a, "expected A.B.C.D");
		return 0;
	case OPT_AGENT:
		o->agent_path = a;
		return set_mode(o, LG_MODE_AGENT, "--agent");
	case OPT_SESSION_FILE:
		o->session_file = a;
		return set_mode(o, LG_MODE_FILE, "--session-file");
	case OPT_WRITE_ONLY:
		o->write_only = true;
		return 0;
	case OPT_KEEP:
		o->keep_sessions = true;
		return 0;
	case OPT_REFLECT:
		return set_mode(o, LG_MODE_REFLECT, "--reflect");
	case OPT_JSON:
		o->json_out = a;
		return 0;
	case OPT_PLOT: {
		const char *dot = strrchr(a, '.');
		if (!dot || (strcmp(dot, ".png") && strcmp(dot, ".svg")))
			return bad(o->prog, "--plot-out", a, "must end in .png or .svg");
		o->plot_out = a;
		return 0;
	}
	case OPT_LABEL:
		o->label = a;
		return 0;
	case OPT_QUIET:
		o->quiet = true;
		return 0;
	}
	return parse_number(o, c, a);
}

/* --inner6: IPv6 sizes, rooms numbered in 16 bits, provisioning that
 * carries vip6 (session files do not). */
static int check_inner6(struct lg_opts *o)
{
	if (o->mode == LG_MODE_FILE) {
		fprintf(stderr,
			"%s: --inner6 needs --agent or --reflect (session files carry no "
			"vip6)\n",
			o->prog);
		return -1;
	}
	if (o->rooms > 65536) {
		fprintf(stderr, "%s: --inner6: at most 65536 rooms (one /64 each in --vip6-net)\n",
			o->prog);
		return -1;
	}
	if (!o->sizes_given)
		parse_sizes(o, "72,512,1400");
	for (unsigned i = 0; i < o->nsizes; i++)
		for (unsigned k = 0; k < o->sizes[i].n; k++)
			if (o->sizes[i].len[k] < LG_MIN_INNER6) {
				fprintf(
				    stderr,
				    "%s: --inner6: size %s has %u-byte packets, below an IPv6/UDP "
				    "packet with the loadgen header (%u)\n",
				    o->prog, o->sizes[i].name, o->sizes[i].len[k], LG_MIN_INNER6);
				return -1;
			}
	return 0;
}

/* Cross-option checks once everything is read. */
static int check(struct lg_opts *o)
{
	if ((int)o->mode == -1) {
		fprintf(stderr,
			"%s: missing provisioning: give --agent PATH, --session-file PATH "
			"or --reflect (see --help)\n",
			o->prog);
		return -1;
	}
	if (o->mode != LG_MODE_REFLECT && !o->write_only && o->dp_port == 0) {
		fprintf(stderr, "%s: missing --dp A.B.C.D:PORT (the data plane's address)\n",
			o->prog);
		return -1;
	}
	if (o->mode == LG_MODE_FILE && o->seed == 0) {
		fprintf(stderr,
			"%s: --session-file needs --seed N (the run must use the same keys "
			"as the file loaded into the data plane)\n",
			o->prog);
		return -1;
	}
	if (o->corrupt_every && o->mode != LG_MODE_REFLECT) {
		fprintf(stderr, "%s: --test-corrupt-payload needs --reflect\n", o->prog);
		return -1;
	}
	if (o->write_only && o->mode != LG_MODE_FILE) {
		fprintf(stderr, "%s: --write-only needs --session-file\n", o->prog);
		return -1;
	}
	if (o->clients < 2 * o->rooms) {
		fprintf(stderr,
			"%s: --clients %u --rooms %u: every room needs at least 2 members\n",
			o->prog, o->clients, o->rooms);
		return -1;
	}
	if (o->flows == 0)
		o->flows = o->clients;
	if (o->flows > o->clients) {
		fprintf(stderr, "%s: --flows %u exceeds --clients %u\n", o->prog, o->flows,
			o->clients);
		return -1;
	}
	uint64_t hosts = (1ull << (32 - o->client_plen)) - 2;
	if (o->clients > hosts) {
		fprintf(stderr, "%s: --client-net /%u has room for %llu clients, not %u\n", o->prog,
			o->client_plen, (unsigned long long)hosts, o->clients);
		return -1;
	}
	if ((uint64_t)o->peer_id_base + o->clients - 1 > 0xFFFFFE) {
		fprintf(stderr, "%s: peer-ids %u.. overflow 24 bits with %u clients\n", o->prog,
			o->peer_id_base, o->clients);
		return -1;
	}
	if (o->inner6 && check_inner6(o))
		return -1;
	if (o->fixed_rate_pps > 0 && o->fixed_rate_pps > o->max_rate_pps)
		o->max_rate_pps = o->fixed_rate_pps;
	return 0;
}

int lg_args_parse(struct lg_opts *o, int argc, char **argv)
{
	const char *prog = o->prog;
	set_defaults(o);
	optind = 1;
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, "h", long_opts, NULL);
		if (c == -1)
			break;
		if (c == 'h' || c == OPT_HELP) {
			lg_args_usage(stdout, prog);
			return 1;
		}
		if (c == '?') {
			if (optopt)
				fprintf(stderr, "%s: option '-%c' is unknown (see --help)\n", prog,
					optopt);
			else
				fprintf(
				    stderr,
				    "%s: option '%s' is unknown or lacks its value (see --help)\n",
				    prog, argv[optind - 1]);
			return -1;
		}
		if (parse_one(o, c, optarg))
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, argv[optind]);
		return -1;
	}
	return check(o);
}
