/* Small wire helpers shared by client, data plane and tools. */
#ifndef RV_INET_H
#define RV_INET_H

#include <stddef.h>
#include <stdint.h>

/* RFC 1071 Internet checksum over @len bytes (result in network order). */
uint16_t rv_inet_checksum(const void *data, size_t len);
/* Parse a dotted-quad IPv4 literal (each part 0..255) into host order. */
int rv_parse_ipv4(const char *s, uint32_t *addr);
/* Parse "a.b.c.d/len" into host-order address and prefix length. */
int rv_parse_cidr(const char *s, uint32_t *addr, uint8_t *plen);
/* Parse "host:port" (IPv4 literal; port 0..65535). Both return 0 or -1. */
int rv_parse_hostport(const char *s, uint32_t *addr, uint16_t *port);
/* Parse "[v6-literal]:port" (brackets required; port 0..65535) into a
 * 16-byte network-order address. 0 or -1. */
int rv_parse_hostport6(const char *s, uint8_t addr[16], uint16_t *port);
/* A data-plane endpoint as handed to clients: "A.B.C.D:PORT",
 * "[IPV6]:PORT", or one of each separated by a comma (a dual-stack data
 * plane; clients race them). Ports 1..65535. Returns the number of
 * addresses (1 or 2), or -1. */
int rv_check_endpoints(const char *s);
/* Split such a checked list into its addresses; returns how many (0..2). */
#define RV_ENDPOINT_MAX 64
unsigned rv_endpoints_split(const char *s, char out[2][RV_ENDPOINT_MAX]);

static inline uint16_t rv_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t rv_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void rv_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}
static inline void rv_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

#endif
