#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <time.h>

int rv_nl_open(struct rv_nl *nl)
{
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int rc = -errno;
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return rc;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

void rv_nl_close(struct rv_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

const char *rv_nl_strerror(int rc)
{
	return strerror(rc < 0 ? -rc : rc);
}

/* Send one request with NLM_F_ACK and wait for its ack (or error). */
static int transact(struct rv_nl *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;
	int rc;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, NULL, NULL);
		if (rc == MNL_CB_ERROR)
			return -errno;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

int rv_nl_link_set(struct rv_nl *nl, unsigned ifindex, uint32_t mtu, bool up)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return transact(nl, nlh);
}

static int addr_msg(struct rv_nl *nl, uint16_t type, uint16_t flags, unsigned ifindex,
		    uint32_t addr, uint8_t plen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	uint32_t a = htonl(addr);

	if (plen > 32)
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, a);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, a);
	return transact(nl, nlh);
}

int rv_nl_addr_add(struct rv_nl *nl, unsigned ifindex, uint32_t addr, uint8_t plen)
{
	return addr_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr, plen);
}

int rv_nl_addr_del(struct rv_nl *nl, unsigned ifindex, uint32_t addr, uint8_t plen)
{
	return addr_msg(nl, RTM_DELADDR, 0, ifindex, addr, plen);
}

static int route_msg(struct rv_nl *nl, uint16_t type, uint16_t flags, unsigned ifindex,
		     uint32_t dst, uint8_t plen, uint32_t metric)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	if (plen > 32)
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = plen;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	/* Mask host bits so the kernel does not refuse "10.1.2.3/16". */
	mnl_attr_put_u32(nlh, RTA_DST, htonl(plen ? dst & (~0u << (32 - plen)) : 0));
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	if (metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	return transact(nl, nlh);
}

int rv_nl_route_add(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen, uint32_t metric)
{
	return route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifindex, dst, plen,
			 metric);
}

int rv_nl_route_add_new(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen,
			uint32_t metric)
{
	return route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, dst, plen, metric);
}

int rv_nl_route_del(struct rv_nl *nl, unsigned ifindex, uint32_t dst, uint8_t plen)
{
	return route_msg(nl, RTM_DELROUTE, 0, ifindex, dst, plen, 0);
}

/* ---- IPv6 ---- */

int rv_nl_link_addr_gen_none(struct rv_nl *nl, unsigned ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *spec, *inet6;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	inet6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, inet6);
	mnl_attr_nest_end(nlh, spec);
	return transact(nl, nlh);
}

static int addr6_msg(struct rv_nl *nl, uint16_t type, uint16_t flags, unsigned ifindex,
		     const uint8_t addr[16], uint8_t plen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;

	if (plen > 128)
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_flags = IFA_F_NODAD; /* a point-to-point TUN has no neighbours */
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, 16, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, 16, addr);
	return transact(nl, nlh);
}

int rv_nl_addr6_add(struct rv_nl *nl, unsigned ifindex, const uint8_t addr[16], uint8_t plen)
{
	return addr6_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr, plen);
}

int rv_nl_addr6_del(struct rv_nl *nl, unsigned ifindex, const uint8_t addr[16], uint8_t plen)
{
	return addr6_msg(nl, RTM_DELADDR, 0, ifindex, addr, plen);
}

static int route6_msg(struct rv_nl *nl, uint16_t type, uint16_t flags, unsigned ifindex,
		      const uint8_t dst[16], uint8_t plen, uint32_t metric)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	uint8_t net[16];

	if (plen > 128)
		return -EINVAL;
	/* Mask host bits, as for IPv4. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
		net[i] = dst[i] & (uint8_t)(0xff00u >> keep);
	}
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = plen;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, 16, net);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	if (metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	return transact(nl, nlh);
}

int rv_nl_route6_add_new(struct rv_nl *nl, unsigned ifindex, const uint8_t dst[16], uint8_t plen,
			 uint32_t metric)
{
	return route6_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, dst, plen, metric);
}

int rv_nl_route6_del(struct rv_nl *nl, unsigned ifindex, const uint8_t dst[16], uint8_t plen)
{
	return route6_msg(nl, RTM_DELROUTE, 0, ifindex, dst, plen, 0);
}
