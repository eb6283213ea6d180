#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int rv_tun_open(const char *name, char ifname[IFNAMSIZ], char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd;

	if (name && strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "interface name '%s' is longer than %d characters", name,
			 IFNAMSIZ - 1);
		return -1;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen,
			 "open /dev/net/tun: %s (is the tun module loaded, are you root?)",
			 strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (name)
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(err, errlen, "create TUN device '%s': %s", name ? name : "",
			 strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}
