/* A data plane's address as the data channel uses it: IPv4 or IPv6, with
 * the helpers the transports need (length, port, text, comparison) and the
 * resolution of an endpoint string into one address of each family (the
 * candidates that chan_udp.c races, RFC 8305 style). */
#ifndef RV_CLIENT_CHAN_ADDR_H
#define RV_CLIENT_CHAN_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

union rvc_addr {
	struct sockaddr sa; /* sa_family: AF_INET, AF_INET6, or 0 = none */
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

static inline bool rvc_addr_set(const union rvc_addr *a)
{
	return a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6;
}
socklen_t rvc_addr_len(const union rvc_addr *a);
uint16_t rvc_addr_port(const union rvc_addr *a); /* host order; 0 when unset */
/* Same family, address and port (unset == unset). */
bool rvc_addr_same(const union rvc_addr *a, const union rvc_addr *b);
/* "1.2.3.4:5", "[2001:db8::1]:5" or "-". */
void rvc_addr_str(const union rvc_addr *a, char *out, size_t len);
/* @a as an AF_INET6 socket sees it: IPv4 as ::ffff:a.b.c.d (dual-stack). */
void rvc_addr_mapped(const union rvc_addr *a, union rvc_addr *out);
/* "A.B.C.D:PORT", "[IPV6]:PORT" or "NAME:PORT" (A and AAAA records, so
 * blocking: not for the data channel's loop) into the first address of
 * each family (@v6, @v4; unset when there is none). Returns 0 with at least
 * one set, or -1 with a message. */
int rvc_addr_resolve(const char *hostport, union rvc_addr *v6, union rvc_addr *v4, char *err,
		     size_t errlen);

#endif
