/* Rooms' IPv6 prefixes (issue 17, docs/rooms.md "IPv6"): the server's
 * prefix (config ipv6_prefix, or a random ULA /48 made once and kept under
 * meta/ipv6_prefix), each room's prefix6 and its rs6/ index key (overlap
 * checks), the IPv6 address of a member, and the start-up pass that gives a
 * prefix to rooms stored before IPv6 (docs/store.md). With `ipv6 = off`
 * every function here answers "no IPv6". */
#ifndef RV_ROOM_PREFIX6_H
#define RV_ROOM_PREFIX6_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "ipam6.h"
#include "roomvpn/v1/room_store.pb-c.h"

struct rv_store;
struct rv_store_batch;

/* Reads cfg.ipv6/ipv6_prefix/ipv6_room_prefix, loads or makes (and
 * stores) the server's prefix, and gives every stored room without a
 * prefix6 one (one synced batch). 0, or -1 with a message. */
int rv_room_prefix6_init(struct rv_control *ctl, char *err, size_t errlen);
void rv_room_prefix6_fini(void);
/* The server's prefix into *out: false with IPv6 off. */
bool rv_room_prefix6_server(struct rv_cidr6 *out);

/* The prefix6 of a new room (catalog lock held): @want ("" = the lowest
 * free /ipv6_room_prefix of the server's prefix) checked against the other
 * rooms' (rs6/) and @subnet. OK and *out (out->prefix 0 with IPv6 off);
 * else INVALID_ARGUMENT, ALREADY_EXISTS or RESOURCE_EXHAUSTED with a
 * message. */
grpc_status_code rv_room_prefix6_choose(struct rv_store *s, const char *want,
					const struct rv_cidr *subnet, struct rv_cidr6 *out,
					char *msg, size_t msglen);
/* Only the syntax and the rules of @want (before any work): 0, or -1. */
int rv_room_prefix6_check(const char *want, const struct rv_cidr *subnet, char *msg, size_t msglen);
/* @c into @r (its bytes point into @c: keep @c alive while @r is used). */
void rv_room_prefix6_set(Roomvpn__V1__RoomRecord *r, struct rv_cidr6 *c);
/* The rs6/ key of @r put or deleted in @b (nothing if @r has no prefix6). */
void rv_room_prefix6_index_put(struct rv_store_batch *b, const Roomvpn__V1__RoomRecord *r);
void rv_room_prefix6_index_delete(struct rv_store_batch *b, const Roomvpn__V1__RoomRecord *r);

/* @r's prefix6 into *out: false when it has none (or IPv6 is off). */
bool rv_room_prefix6_of(const Roomvpn__V1__RoomRecord *r, struct rv_cidr6 *out);
/* The IPv6 address of the member at IPv4 @vip of @r (ipam6.h): false
 * when @r has no IPv6. */
bool rv_room_prefix6_vip6(const Roomvpn__V1__RoomRecord *r, uint32_t vip, uint8_t out[16]);
/* Text forms for answers: "" when @r has no IPv6. */
void rv_room_prefix6_text(const Roomvpn__V1__RoomRecord *r, uint32_t vip, char subnet6[64],
			  char vip6[46], char server6[46]);

#endif
