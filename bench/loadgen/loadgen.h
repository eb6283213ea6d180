/* roomvpn-loadgen: a DPDK traffic generator that speaks the data channel.
 *
 * It plays N simulated clients in M rooms. Client i has peer-id (base + i), an
 * outer address (client net + 1 + i, port base + i % 1000) and a virtual IP in
 * its room's subnet. Flow f sends from client f to the next member of its
 * room: P_DATA_V2 packets, sealed with the client->server key (dir[0]),
 * carrying an inner IPv4/UDP packet (IPv6/UDP with --inner6: vip6s from
 * --vip6-net) whose payload starts with a loadgen
 * header (trial, flow, sequence number, TX timestamp) and a pattern derived
 * from flow and sequence number after it. The data plane relays
 * each one to the destination member's outer address, sealed with that
 * member's server->client key (dir[1]); the loadgen opens it with that key,
 * checks header and pattern, and counts it. */
#ifndef RV_LOADGEN_H
#define RV_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cipher.h"

#define LG_MAX_SIZES	  8
#define LG_MAGIC	  0x524c4731u /* "RLG1" */
#define LG_HDR_LEN	  24	      /* magic 4 | trial 4 | flow 4 | seq 4 | tsc 8 */
#define LG_MIN_INNER	  52	      /* IPv4 20 + UDP 8 + loadgen header 24 */
#define LG_MIN_INNER6	  72	      /* IPv6 40 + UDP 8 + loadgen header 24 */
#define LG_MAX_INNER	  1440
#define LG_INNER_UDP_PORT 9 /* discard */

enum lg_mode {
	LG_MODE_AGENT,	 /* provision through the agent socket */
	LG_MODE_FILE,	 /* sessions already loaded from --session-file */
	LG_MODE_REFLECT, /* self-test: the loadgen relays its own packets */
};

/* One offered packet size: fixed, or a mix (IMIX 7:4:1). */
struct lg_size {
	char name[16];
	unsigned n;	  /* entries in the repeating pattern */
	uint16_t len[16]; /* inner IPv4 packet lengths, in sending order */
};

struct lg_opts {
	/* EAL / ports */
	const char *prog;
	char **eal_argv;
	int eal_argc;
	uint16_t tx_port, rx_port;
	/* addresses */
	uint32_t dp_ip; /* data plane (host order) */
	uint16_t dp_port;
	uint8_t dp_mac[6];
	bool dp_mac_set;
	uint32_t gateway;    /* answered in ARP too; 0 = none */
	uint32_t client_net; /* first outer address is client_net + 1 */
	uint8_t client_plen;
	uint16_t client_port_base;
	uint32_t vip_net;     /* rooms' subnets are carved from here */
	bool inner6;	      /* inner IPv6/UDP packets between vip6s */
	uint8_t vip6_net[16]; /* a /48: room r's prefix6 is its /64 number r */
	bool sizes_given;
	/* sessions */
	unsigned clients, rooms, flows;
	uint32_t peer_id_base;
	uint32_t room_id_base;
	uint8_t key_id;
	enum rv_cipher suite;
	uint64_t seed;
	/* provisioning */
	enum lg_mode mode;
	const char *agent_path;
	const char *session_file; /* written (and, with --write-only, nothing else) */
	bool write_only;
	bool keep_sessions;
	/* search */
	unsigned nsizes;
	struct lg_size sizes[LG_MAX_SIZES];
	double max_rate_pps;   /* upper bound of the search */
	double fixed_rate_pps; /* >0: one trial per size at this rate, no search */
	double trial_s;
	double drain_s;
	double pdr_loss;   /* fraction, e.g. 0.001 */
	double resolution; /* stop when (hi - lo) / hi < this */
	unsigned max_trials;
	double reply_timeout_s; /* no packet back within this: unreachable */
	/* output */
	const char *json_out;
	const char *plot_out;
	const char *label;
	bool quiet;
	unsigned corrupt_every; /* test, --reflect: corrupt every Nth relayed payload */
};

/* Why a trial's achieved rate fell short of the offered one (limit.c). */
#define LG_LIMIT_FRACTION 0.97 /* achieved below this share of offered: limited */
enum lg_limit {
	LG_LIMIT_NONE,
	LG_LIMIT_GENERATOR,  /* the loadgen's own loop: due packets skipped */
	LG_LIMIT_DATA_PLANE, /* sends refused: port/ring/memif full, buffers in flight */
};
enum lg_limit lg_limit_of(double offered_pps, double tx_pps, uint64_t refused, uint64_t skipped);
const char *lg_limit_name(enum lg_limit l);

/* args.c */
/* Parse argv after the EAL's "--". Returns 0, 1 for --help (printed), or -1
 * with the error already printed to stderr. */
int lg_args_parse(struct lg_opts *o, int argc, char **argv);
void lg_args_usage(FILE *f, const char *prog);
int lg_size_parse(const char *s, struct lg_size *out);

/* Latency histogram (ns), log-linear buckets: 32 per power of two. */
#define LG_HIST_SUB 32
#define LG_HIST_POW 40
struct lg_hist {
	uint64_t count;
	uint64_t max_ns;
	uint64_t b[LG_HIST_POW * LG_HIST_SUB];
};
void lg_hist_reset(struct lg_hist *h);
void lg_hist_add(struct lg_hist *h, uint64_t ns);
uint64_t lg_hist_percentile(const struct lg_hist *h, double p);

/* One trial's counters. */
struct lg_counts {
	uint64_t sent, sent_bytes;   /* packets handed to the port; inner bytes */
	uint64_t sent_wire_bytes;    /* Ethernet frame bytes (no FCS) */
	uint64_t tx_full;	     /* port refused: not counted as sent */
	uint64_t no_mbuf;	     /* every buffer still in flight: not counted as sent */
	uint64_t skipped;	     /* due while the generator had no CPU: not offered */
	uint64_t received, rx_bytes; /* this trial's packets back, authenticated */
	uint64_t out_of_order;
	uint64_t decrypt_errors; /* bad tag / unknown peer / malformed */
	uint64_t payload_errors; /* authenticated, header right, payload after it not */
	uint64_t late;		 /* earlier trials' packets */
	uint64_t foreign;	 /* not for a simulated client */
	uint64_t arp_replies;
	uint64_t reflected; /* --reflect mode only */
	double elapsed_s;   /* TX phase */
	struct lg_hist lat;
};

/* Result of one trial and of one size's search. */
struct lg_trial {
	double offered_pps;
	double tx_pps; /* achieved */
	double loss;   /* fraction lost of those the port took or refused */
	struct lg_counts c;
};

struct lg_point {
	double pps, mbps_inner, mbps_wire;
	double loss;
	uint64_t sent, received, ooo, decrypt_errors, payload_errors;
	uint64_t tx_refused, skipped; /* sends the port refused; due but not tried */
	uint64_t p50_ns, p99_ns, p999_ns, max_ns;
	bool found;
	enum lg_limit limit; /* what held the achieved rate below the offered one */
	bool gen_limited;    /* limit == LG_LIMIT_GENERATOR */
};

/* Whole-run counters (every trial, the probe and the final drain). */
struct lg_totals {
	uint64_t sent, received, late, decrypt_errors, payload_errors;
	uint64_t arp_replies; /* ARP requests for our addresses answered */
};

struct lg_result {
	struct lg_size size;
	double avg_inner_len, avg_wire_len;
	struct lg_point ndr, pdr;
	struct lg_point low; /* latency trial at 10% of the NDR (found = run) */
	unsigned trials;
	struct lg_totals tot; /* this size's trials */
};

#endif
