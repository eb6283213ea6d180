#include "tun.h"

#include "log.h"
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* TUNSETIFF on a fresh fd; with @vnet, IFF_VNET_HDR and the offloads. */
static int open_dev(const char *name, bool vnet, char ifname[IFNAMSIZ], char *err, size_t errlen)
{
	int hdr = sizeof(struct virtio_net_hdr);
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen,
			 "open /dev/net/tun: %s (is the tun module loaded, are you root?)",
			 strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	if (name)
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(err, errlen, "create TUN device '%s': %s", name ? name : "",
			 strerror(errno));
		goto err_close;
	}
	if (vnet && (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
		     ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)) {
		snprintf(err, errlen, "TUN offloads (checksum, TSO4, TSO6): %s", strerror(errno));
		goto err_close;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
err_close:
	close(fd);
	return -1;
}

static bool offload_disabled(void)
{
	const char *v = getenv("ROOMVPN_TUN_OFFLOAD");

	return v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no"));
}

int rv_tun_open(const char *name, bool plain, char ifname[IFNAMSIZ], char *err, size_t errlen)
{
	int fd;

	if (name && strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "interface name '%s' is longer than %d characters", name,
			 IFNAMSIZ - 1);
		return -1;
	}
	if (plain || offload_disabled())
		return open_dev(name, false, ifname, err, errlen);
	fd = open_dev(name, true, ifname, err, errlen);
	if (fd >= 0)
		return fd;
	/* an old kernel, or a device that exists without IFF_VNET_HDR */
	rv_log(RV_LOG_WARN, "%s; plain TUN mode instead (one packet per read and write)", err);
	return open_dev(name, false, ifname, err, errlen);
}

bool rv_tun_vnet_hdr(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR);
}

/* The IPv6 address, or (IPv6 disabled on this host) a warning and none:
 * the tunnel still carries IPv4. */
static void configure6(struct rv_nl *nl, unsigned idx, struct rv_tun_config *c, int gen_rc)
{
	int rc = gen_rc ? gen_rc : rv_nl_addr6_add(nl, idx, c->addr6, c->plen6);

	if (!rc)
		return;
	rv_log(RV_LOG_WARN,
	       "no IPv6 on this host (%s; net.ipv6.conf.*.disable_ipv6?): the tunnel "
	       "carries IPv4 only",
	       rv_nl_strerror(rc));
	c->plen6 = 0;
}

static int configure(struct rv_nl *nl, unsigned idx, struct rv_tun_config *c, char *err,
		     size_t errlen)
{
	/* before the link comes up, or the kernel adds fe80::/64 */
	int gen_rc = rv_nl_link_addr_gen_none(nl, idx), rc;

	if (gen_rc) /* IPv6 off in this kernel: nothing to prevent */
		rv_log(RV_LOG_DEBUG, "addr_gen_mode none: %s", rv_nl_strerror(gen_rc));
	rc = rv_nl_link_set(nl, idx, c->mtu, true);
	if (rc) {
		snprintf(err, errlen, "set MTU %u and bring the link up: %s", c->mtu,
			 rv_nl_strerror(rc));
		return -1;
	}
	rc = rv_nl_addr_add(nl, idx, c->addr, c->plen);
	if (rc) {
		snprintf(err, errlen, "add address: %s", rv_nl_strerror(rc));
		return -1;
	}
	if (c->plen6)
		configure6(nl, idx, c, gen_rc);
	for (unsigned i = 0; i < c->n_routes && i < RV_TUN_MAX_ROUTES; i++) {
		rc = rv_nl_route_add(nl, idx, c->route_dst[i], c->route_plen[i], 0);
		if (rc) {
			snprintf(err, errlen, "add route %u.%u.%u.%u/%u: %s", c->route_dst[i] >> 24,
				 (c->route_dst[i] >> 16) & 255, (c->route_dst[i] >> 8) & 255,
				 c->route_dst[i] & 255, c->route_plen[i], rv_nl_strerror(rc));
			return -1;
		}
	}
	return 0;
}

int rv_tun_setup(struct rv_tun_config *c, char ifname[IFNAMSIZ], char *err, size_t errlen)
{
	char why[200];
	struct rv_nl nl;
	int fd, rc;

	fd = rv_tun_open(c->name, c->plain, ifname, err, errlen);
	if (fd < 0)
		return -1;
	rc = rv_nl_open(&nl);
	if (rc) {
		snprintf(err, errlen, "netlink socket: %s", rv_nl_strerror(rc));
		goto err_close;
	}
	rc = configure(&nl, if_nametoindex(ifname), c, why, sizeof(why));
	rv_nl_close(&nl);
	if (rc) {
		snprintf(err, errlen, "configure %s: %s", ifname, why);
		goto err_close;
	}
	return fd;
err_close:
	close(fd);
	return -1;
}
