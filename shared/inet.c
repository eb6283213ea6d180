/* Wire helpers: Internet checksum, CIDR and host:port parsing. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"

uint16_t rv_inet_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t sum = 0;

	for (; len >= 2; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int parse_ipv4(const char *s, size_t len, uint32_t *addr)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr in;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	return 0;
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoul(s, &end, 10);
	return (*end || *out > max) ? -1 : 0;
}

int rv_parse_ipv4(const char *s, uint32_t *addr)
{
	return s ? parse_ipv4(s, strlen(s), addr) : -1;
}

int rv_parse_cidr(const char *s, uint32_t *addr, uint8_t *plen)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	unsigned long n;

	if (!slash || parse_ipv4(s, (size_t)(slash - s), addr) < 0)
		return -1;
	if (parse_num(slash + 1, 32, &n) < 0)
		return -1;
	*plen = (uint8_t)n;
	return 0;
}

int rv_parse_hostport(const char *s, uint32_t *addr, uint16_t *port)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	unsigned long n;

	if (!colon || parse_ipv4(s, (size_t)(colon - s), addr) < 0)
		return -1;
	if (parse_num(colon + 1, 65535, &n) < 0)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

int rv_parse_hostport6(const char *s, uint8_t addr[16], uint16_t *port)
{
	char buf[64];
	const char *close = s && s[0] == '[' ? strchr(s, ']') : NULL;
	unsigned long n;
	size_t len = close ? (size_t)(close - s - 1) : 0;
	if (!close || close[1] != ':' || len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s + 1, len);
	buf[len] = 0;
	if (inet_pton(AF_INET6, buf, addr) != 1 || parse_num(close + 2, 65535, &n) < 0)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

int rv_check_endpoints(const char *s)
{
	char one[80];
	int n = 0, fam[2] = {0, 0};
	while (s && *s) {
		size_t len = strcspn(s, ",");
		uint8_t a6[16];
		uint32_t a4;
		uint16_t port;
		if (n == 2 || len == 0 || len >= sizeof(one))
			return -1;
		memcpy(one, s, len);
		one[len] = 0;
		if (rv_parse_hostport6(one, a6, &port) == 0)
			fam[n] = 6;
		else if (rv_parse_hostport(one, &a4, &port) == 0)
			fam[n] = 4;
		else
			return -1;
		if (port == 0 || (n == 1 && fam[0] == fam[1]))
			return -1;
		n++;
		s += len;
		if (*s == ',' && !*++s)
			return -1; /* trailing comma */
	}
	return n ? n : -1;
}

unsigned rv_endpoints_split(const char *s, char out[2][RV_ENDPOINT_MAX])
{
	unsigned n = 0;
	while (s && *s && n < 2) {
		size_t len = strcspn(s, ",");
		snprintf(out[n++], RV_ENDPOINT_MAX, "%.*s", (int)len, s);
		s += len + (s[len] == ',');
	}
	return n;
}
