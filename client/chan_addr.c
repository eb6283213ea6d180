/* Data-plane addresses of either family (see chan_addr.h). */
#include "chan_addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

socklen_t rvc_addr_len(const union rvc_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->v6) : sizeof(a->v4);
}

uint16_t rvc_addr_port(const union rvc_addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return ntohs(a->v6.sin6_port);
	return a->sa.sa_family == AF_INET ? ntohs(a->v4.sin_port) : 0;
}

bool rvc_addr_same(const union rvc_addr *a, const union rvc_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return a->v6.sin6_port == b->v6.sin6_port &&
		       !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof(a->v6.sin6_addr));
	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_port == b->v4.sin_port &&
		       a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
	return true;
}

void rvc_addr_str(const union rvc_addr *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6)
		snprintf(out, len, "[%s]:%u", inet_ntop(AF_INET6, &a->v6.sin6_addr, ip, sizeof(ip)),
			 ntohs(a->v6.sin6_port));
	else if (a->sa.sa_family == AF_INET)
		snprintf(out, len, "%s:%u", inet_ntop(AF_INET, &a->v4.sin_addr, ip, sizeof(ip)),
			 ntohs(a->v4.sin_port));
	else
		snprintf(out, len, "-");
}

void rvc_addr_mapped(const union rvc_addr *a, union rvc_addr *out)
{
	if (a->sa.sa_family != AF_INET) {
		*out = *a;
		return;
	}
	memset(out, 0, sizeof(*out));
	out->v6.sin6_family = AF_INET6;
	out->v6.sin6_port = a->v4.sin_port;
	out->v6.sin6_addr.s6_addr[10] = 0xff;
	out->v6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->v6.sin6_addr.s6_addr[12], &a->v4.sin_addr, 4);
}

int rvc_addr_resolve(const char *hostport, union rvc_addr *v6, union rvc_addr *v4, char *err,
		     size_t errlen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	const char *h = hostport;
	size_t hlen = colon ? (size_t)(colon - hostport) : 0;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;

	memset(v6, 0, sizeof(*v6));
	memset(v4, 0, sizeof(*v4));
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') { /* [v6]:port */
		h++;
		hlen -= 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	if (!colon || hlen == 0 || hlen >= sizeof(host) || !colon[1]) {
		snprintf(err, errlen, "bad endpoint '%s' (want HOST:PORT or [IPV6]:PORT)",
			 hostport);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = 0;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "endpoint '%s': %s", hostport, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		union rvc_addr *dst = ai->ai_family == AF_INET6	 ? v6
				      : ai->ai_family == AF_INET ? v4
								 : NULL;
		if (dst && !rvc_addr_set(dst) && ai->ai_addrlen <= sizeof(*dst))
			memcpy(dst, ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	if (!rvc_addr_set(v6) && !rvc_addr_set(v4)) {
		snprintf(err, errlen, "endpoint '%s': no IPv4 or IPv6 address", hostport);
		return -1;
	}
	return 0;
}
