/* IP address management for room overlays: room subnets cut out of a pool,
 * and per-room host allocation. Pure bookkeeping (no store access, no
 * locks): rooms.c loads what the store holds, asks, and persists the answer.
 * Addresses are IPv4 in host byte order. */
#ifndef RV_IPAM_H
#define RV_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RV_IPAM_MIN_PREFIX 16 /* largest room subnet */
#define RV_IPAM_MAX_PREFIX 30 /* smallest: network, server, one device, broadcast */

struct rv_cidr {
	uint32_t addr; /* network address (no host bits set) */
	uint8_t prefix;
};

/* The pool rooms get their subnet from when they don't ask for one. */
struct rv_ipam {
	struct rv_cidr pool;
	uint8_t room_prefix;
};

/* Parse "a.b.c.d/n". Host bits must be zero. 0, or -1 with a message. */
int rv_ipam_parse_cidr(const char *s, struct rv_cidr *out, char *err, size_t errlen);
void rv_ipam_format_cidr(const struct rv_cidr *c, char *buf, size_t len);
void rv_ipam_format_addr(uint32_t addr, char *buf, size_t len);

uint64_t rv_ipam_size(const struct rv_cidr *c);
uint32_t rv_ipam_broadcast(const struct rv_cidr *c);
/* The server's own address in the overlay: the first host. */
uint32_t rv_ipam_server_addr(const struct rv_cidr *c);
bool rv_ipam_contains(const struct rv_cidr *c, uint32_t addr);
bool rv_ipam_overlaps(const struct rv_cidr *a, const struct rv_cidr *b);
/* Inside 10/8, 172.16/12 or 192.168/16 (RFC 1918) or 100.64/10 (RFC 6598). */
bool rv_ipam_is_private(const struct rv_cidr *c);

/* A room's subnet: private and prefix 16..30. 0, or -1 with a message. */
int rv_ipam_check_room_subnet(const struct rv_cidr *c, char *err, size_t errlen);

/* Pool configuration: "10.88.0.0/16" cut into /@room_prefix. */
int rv_ipam_init(struct rv_ipam *ip, const char *pool, unsigned room_prefix, char *err,
		 size_t errlen);
/* The lowest /room_prefix of the pool overlapping none of @used (any order).
 * 0, or -1 when the pool is exhausted. */
int rv_ipam_pool_pick(const struct rv_ipam *ip, const struct rv_cidr *used, size_t n_used,
		      struct rv_cidr *out);

/* Host allocation inside one room subnet: a bitmap of every address, with
 * network, server and broadcast permanently taken. */
struct rv_ipam_hosts {
	struct rv_cidr net;
	uint64_t *bits; /* 1: taken */
	uint32_t size;
	uint32_t n_free;
};

int rv_ipam_hosts_init(struct rv_ipam_hosts *h, const struct rv_cidr *net);
void rv_ipam_hosts_fini(struct rv_ipam_hosts *h);
/* Devices can have at most this many addresses in @net. */
uint32_t rv_ipam_hosts_capacity(const struct rv_cidr *net);
/* Take a given address: 0, or -1 if outside, reserved or already taken. */
int rv_ipam_hosts_take(struct rv_ipam_hosts *h, uint32_t addr);
/* Take the lowest free address: 0, or -1 when full. */
int rv_ipam_hosts_alloc(struct rv_ipam_hosts *h, uint32_t *addr);
/* The same, the first free address at or after the @from-th of the subnet
 * (wrapping round): replicas sharing a store start at different places so
 * that they seldom reach for the same address. */
int rv_ipam_hosts_alloc_from(struct rv_ipam_hosts *h, uint32_t from, uint32_t *addr);
/* Give back a taken address (reserved ones stay taken). */
void rv_ipam_hosts_release(struct rv_ipam_hosts *h, uint32_t addr);
bool rv_ipam_hosts_is_taken(const struct rv_ipam_hosts *h, uint32_t addr);

#endif
