/* Every store key, built in one place (the table in docs/store.md). Each
 * builder writes the key into @k (at least RV_KEY_MAX bytes) and returns
 * its length; a *_prefix builder returns the prefix that a scan of that
 * kind of key takes. Ids are 16 lower-case hex digits, IPv4 addresses 8. */
#ifndef RV_STORE_KEYS_H
#define RV_STORE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define RV_KEY_MAX 96

/* meta/next/<counter>: the next id of a counter ("user", "room", "device"). */
size_t rv_key_id_counter(char *k, const char *counter);

/* Users (users.c): u/<id>, un/<name>. */
size_t rv_key_user(char *k, uint64_t user);
size_t rv_key_user_by_name(char *k, const char *name);
#define RV_KEY_USER_BY_NAME_PREFIX "un/"

/* Devices (auth.c): d/<id>, du/<user>/<device>. */
size_t rv_key_device(char *k, uint64_t dev);
#define RV_KEY_DEVICE_PREFIX "d/"
size_t rv_key_user_device(char *k, uint64_t user, uint64_t dev);
size_t rv_key_user_device_prefix(char *k, uint64_t user);

/* Tokens (tokens.c): t/<sha256 hex of the token>. */
#define RV_KEY_TOKEN_PREFIX "t/"

/* Rooms (rooms.c): r/<id>, rn/<name>, rs/<network addr>. */
size_t rv_key_room_by_id(char *k, uint64_t room);
size_t rv_key_room_by_name(char *k, const char *name);
#define RV_KEY_ROOM_BY_ID_PREFIX   "r/" /* scan of every room record (fleet.c) */
#define RV_KEY_ROOM_BY_NAME_PREFIX "rn/"
size_t rv_key_room_subnet(char *k, uint32_t net_addr);
#define RV_KEY_ROOM_SUBNET_PREFIX "rs/"
/* Rooms' IPv6 prefixes (room_prefix6.c): rs6/<32 hex digits>, and the
 * server's prefix meta/ipv6_prefix. */
#define RV_KEY_ROOM_PREFIX6_PREFIX "rs6/"
#define RV_KEY_IPV6_PREFIX	   "meta/ipv6_prefix"

/* Members (members.c): m/<room>/<device>. */
size_t rv_key_member(char *k, uint64_t room, uint64_t dev);
size_t rv_key_member_prefix(char *k, uint64_t room);
#define RV_KEY_MEMBER_PREFIX "m/"
/* The (room, device) of a member key; 0, or -1 if @k is not one. */
int rv_key_member_parse(const void *k, size_t kl, uint64_t *room, uint64_t *dev);

/* Virtual IPs (room_addrs.c): ip/<room>/<addr>, ipd/<room>/<device>. */
size_t rv_key_addr(char *k, uint64_t room, uint32_t addr);
size_t rv_key_addr_prefix(char *k, uint64_t room);
/* The address at the end of an ip/ key; 0, or -1 if @k is not one. */
int rv_key_addr_parse(const void *k, size_t kl, uint32_t *addr);
size_t rv_key_device_addr(char *k, uint64_t room, uint64_t dev);
size_t rv_key_device_addr_prefix(char *k, uint64_t room);

/* Invitations (invites.c): inv/<room>/<invite id>, invh/<sha256 hex of the code>. */
size_t rv_key_invite(char *k, uint64_t room, uint64_t invite);
size_t rv_key_invite_prefix(char *k, uint64_t room);
size_t rv_key_invite_by_hash(char *k, const uint8_t hash[32]);

/* Bans (bans.c): ban/<room>/u<user id>, ban/<room>/d<device id>. */
size_t rv_key_ban_user(char *k, uint64_t room, uint64_t user);
size_t rv_key_ban_device(char *k, uint64_t room, uint64_t dev);
size_t rv_key_ban_prefix(char *k, uint64_t room);

/* Index values: a 16-hex-digit id or an 8-hex-digit address, into @v (at
 * least 17 bytes); return the length. Parsers: 0, or -1 if malformed. */
size_t rv_key_id_value(char *v, uint64_t id);
size_t rv_key_addr_value(char *v, uint32_t addr);
int rv_key_parse_id(const void *v, size_t len, uint64_t *id);
int rv_key_parse_addr(const void *v, size_t len, uint32_t *addr);

/* Tunnel records (replica_records.c, etcd only): tun/ + the peer-id as 4
 * bytes big-endian (binary: the only key that is not ASCII). */
size_t rv_key_tunnel(char *k, uint32_t peer_id);
#define RV_KEY_TUNNEL_PREFIX "tun/"
#define RV_KEY_TUNNEL_LEN    8

#endif
