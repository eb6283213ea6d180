/* Interface configuration over rtnetlink (libmnl): link MTU and state,
 * IPv4 addresses and routes. No shelling out to ip(8).
 * Addresses are in host byte order. Functions return 0 or a negative errno
 * (the kernel's answer); rv_nl_strerror() turns it into a message. */
#ifndef RV_CLIENT_NETLINK_H
#define RV_CLIENT_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;

struct rv_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

int rv_nl_open(struct rv_nl *nl);
void rv_nl_close(struct rv_nl *nl);

/* RTM_NEWLINK: set the MTU (0: leave it) and bring the link up or down. */
int rv_nl_link_set(struct rv_nl *nl, unsigned ifindex, uint32_t mtu, bool up);
/* RTM_NEWADDR: add @addr/@plen (the kernel adds the prefix route). */
int rv_nl_addr_add(struct rv_nl *nl, unsigned ifindex, uint32_t addr, uint8_t plen);
int rv_nl_addr_del(struct rv_nl *nl, unsigned ifindex, uint32_t addr, uint8_t plen);
/* RTM_NEWROUTE / RTM_DELROUTE: @dst/@plen via the link (scope link, main
 * table). Adding replaces an existing route to the same destination. */
int rv_nl_route_add(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen,
		    uint32_t metric);
int rv_nl_route_del(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen);

const char *rv_nl_strerror(int rc);

#endif
