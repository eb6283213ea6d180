/* The client's TUN device: a layer-3 interface whose packets the data
 * channel reads and writes (no packet-info header). The device disappears
 * with its addresses and routes when the last fd closes. */
#ifndef RV_CLIENT_TUN_H
#define RV_CLIENT_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#define RV_TUN_MAX_ROUTES 16

/* Addresses in host byte order. */
struct rv_tun_config {
	const char *name; /* NULL or "": the kernel picks "tunN" */
	uint32_t addr;	  /* the device's virtual IP */
	uint8_t plen;	  /* prefix of the room subnet */
	uint32_t mtu;
	unsigned n_routes; /* extra routes through the device */
	uint32_t route_dst[RV_TUN_MAX_ROUTES];
	uint8_t route_plen[RV_TUN_MAX_ROUTES];
};

/* Create (or attach to) TUN device @name ("" or NULL: the kernel picks
 * "tunN"); the actual name is written to @ifname. Returns a non-blocking,
 * close-on-exec fd, or -1 with a message in @err. */
int rv_tun_open(const char *name, char ifname[IFNAMSIZ], char *err, size_t errlen);

/* rv_tun_open, then over rtnetlink: MTU, up, address, routes. Returns the
 * fd, or -1 with a message in @err (the device is gone again). */
int rv_tun_setup(const struct rv_tun_config *c, char ifname[IFNAMSIZ], char *err, size_t errlen);

#endif
