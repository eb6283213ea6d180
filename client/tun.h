/* The client's TUN device: a layer-3 interface whose packets the data
 * channel reads and writes (no packet-info header). The device disappears
 * with its addresses and routes when the last fd closes. */
#ifndef RV_CLIENT_TUN_H
#define RV_CLIENT_TUN_H

#include <net/if.h>
#include <stddef.h>

/* Create (or attach to) TUN device @name ("" or NULL: the kernel picks
 * "tunN"); the actual name is written to @ifname. Returns a non-blocking,
 * close-on-exec fd, or -1 with a message in @err. */
int rv_tun_open(const char *name, char ifname[IFNAMSIZ], char *err, size_t errlen);

#endif
