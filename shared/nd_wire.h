/* IPv6 neighbour discovery on the wire (RFC 4861), as the data plane
 * (dataplane/nd.c) and the load generator (bench/loadgen/nd.c) both speak
 * it: the NS/NA body and the link-layer address option, the one option
 * either sends or reads. Multi-byte fields are big-endian. */
#ifndef RV_ND_WIRE_H
#define RV_ND_WIRE_H

#include <stdint.h>

#define RV_ND_NS	  135 /* ICMPv6 type: neighbour solicitation */
#define RV_ND_NA	  136 /* neighbour advertisement */
#define RV_ND_OPT_SRC_LL  1   /* option: source link-layer address (in an NS) */
#define RV_ND_OPT_TGT_LL  2   /* option: target link-layer address (in an NA) */
#define RV_ND_F_SOLICITED 0x40000000u
#define RV_ND_F_OVERRIDE  0x20000000u

/* An NS or NA body: type, code, checksum, flags/reserved, target. */
struct rv_nd_msg {
	uint8_t type, code;
	uint16_t cksum;
	uint32_t flags;
	uint8_t target[16];
} __attribute__((packed));

/* The link-layer address option. */
struct rv_nd_opt_ll {
	uint8_t type, len; /* len in units of 8 bytes: 1 */
	uint8_t mac[6];
} __attribute__((packed));

/* An NS or NA with one link-layer address option (what both send). */
struct rv_nd_msg_ll {
	struct rv_nd_msg m;
	struct rv_nd_opt_ll opt;
} __attribute__((packed));

#endif
