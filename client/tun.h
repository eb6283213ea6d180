/* The client's TUN device: a layer-3 interface whose packets the data
 * channel reads and writes (no packet-info header). By default it is opened
 * with IFF_VNET_HDR and the offloads TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6:
 * every read and write starts with a struct virtio_net_hdr, reads may be
 * IPv4 or IPv6 TCP super-packets of up to 64 KB with a partial checksum
 * (client/tso.c cuts them), writes may be coalesced IPv4 TCP packets
 * (client/gro.c; IPv6 ones are written one by one). Where the kernel refuses that, or
 * with plain set (or ROOMVPN_TUN_OFFLOAD=0 in the environment), it falls back
 * to one packet per read/write without a header. The device disappears
 * with its addresses and routes when the last fd closes. */
#ifndef RV_CLIENT_TUN_H
#define RV_CLIENT_TUN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RV_TUN_MAX_ROUTES 16

/* Addresses in host byte order. */
struct rv_tun_config {
	const char *name;  /* NULL or "": the kernel picks "tunN" */
	uint32_t addr;	   /* the device's virtual IP */
	uint8_t plen;	   /* prefix of the room subnet */
	uint8_t addr6[16]; /* IPv6 virtual IP (issue 17), with plen6 */
	uint8_t plen6;	   /* prefix of the room's subnet6; 0: no IPv6 */
	uint32_t mtu;
	bool plain;	   /* no IFF_VNET_HDR offloads */
	unsigned n_routes; /* extra routes through the device */
	uint32_t route_dst[RV_TUN_MAX_ROUTES];
	uint8_t route_plen[RV_TUN_MAX_ROUTES];
};

/* Create (or attach to) TUN device @name ("" or NULL: the kernel picks
 * "tunN"), with the offloads unless @plain; the actual name is written to
 * @ifname. Returns a non-blocking, close-on-exec fd, or -1 with a message in
 * @err. */
int rv_tun_open(const char *name, bool plain, char ifname[IFNAMSIZ], char *err, size_t errlen);

/* Whether @fd was opened with IFF_VNET_HDR (reads and writes carry a
 * struct virtio_net_hdr). */
bool rv_tun_vnet_hdr(int fd);

/* rv_tun_open, then over rtnetlink: no IPv6 link-local address
 * (addr_gen_mode none: the TUN is point-to-point, neighbour discovery has
 * nothing to do and applications should not try fe80::), MTU, up, the
 * IPv4 address, the IPv6 one (plen6; a host without IPv6 gets a warning
 * and c->plen6 is set to 0: IPv4 only), routes. Returns the fd, or -1 with
 * a message in @err (the device is gone again). */
int rv_tun_setup(struct rv_tun_config *c, char ifname[IFNAMSIZ], char *err, size_t errlen);

#endif
