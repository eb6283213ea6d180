/* Interface configuration over rtnetlink (libmnl): link MTU and state,
 * IPv4 and IPv6 addresses and routes. No shelling out to ip(8).
 * IPv4 addresses are in host byte order, IPv6 ones 16 bytes. Functions return 0 or a negative errno
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
/* The same as rv_nl_route_add but never replaces: -EEXIST when a route to
 * @dst/@plen with the same @metric exists already (on any device). */
int rv_nl_route_add_new(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen,
			uint32_t metric);

/* IPv6 (issue 17). addr_gen_none: IFLA_INET6_ADDR_GEN_MODE none, so that
 * the kernel adds no link-local address when the link comes up (call it
 * while the link is down). */
int rv_nl_link_addr_gen_none(struct rv_nl *nl, unsigned ifindex);
/* @addr/@plen, without duplicate address detection (the kernel adds the
 * prefix route). */
int rv_nl_addr6_add(struct rv_nl *nl, unsigned ifindex, const uint8_t addr[16], uint8_t plen);
int rv_nl_addr6_del(struct rv_nl *nl, unsigned ifindex, const uint8_t addr[16], uint8_t plen);
/* As rv_nl_route_add_new / rv_nl_route_del, for IPv6 (host bits masked). */
int rv_nl_route6_add_new(struct rv_nl *nl, unsigned ifindex, const uint8_t dst[16], uint8_t plen,
			 uint32_t metric);
int rv_nl_route6_del(struct rv_nl *nl, unsigned ifindex, const uint8_t dst[16], uint8_t plen);

const char *rv_nl_strerror(int rc);

#endif
