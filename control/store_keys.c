/* Store key builders (store_keys.h; docs/store.md). */
#include "store_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define KEY(fmt, ...) (size_t) snprintf(k, RV_KEY_MAX, fmt, __VA_ARGS__)

size_t rv_key_id_counter(char *k, const char *counter)
{
	return KEY("meta/next/%s", counter);
}

size_t rv_key_user(char *k, uint64_t user)
{
	return KEY("u/%016" PRIx64, user);
}

size_t rv_key_user_by_name(char *k, const char *name)
{
	return KEY("un/%s", name);
}

size_t rv_key_device(char *k, uint64_t dev)
{
	return KEY("d/%016" PRIx64, dev);
}

size_t rv_key_user_device(char *k, uint64_t user, uint64_t dev)
{
	return KEY("du/%016" PRIx64 "/%016" PRIx64, user, dev);
}

size_t rv_key_user_device_prefix(char *k, uint64_t user)
{
	return KEY("du/%016" PRIx64 "/", user);
}

size_t rv_key_room_by_id(char *k, uint64_t room)
{
	return KEY("r/%016" PRIx64, room);
}

size_t rv_key_room_by_name(char *k, const char *name)
{
	return KEY("rn/%s", name);
}

size_t rv_key_room_subnet(char *k, uint32_t net_addr)
{
	return KEY("rs/%08" PRIx32, net_addr);
}

size_t rv_key_member(char *k, uint64_t room, uint64_t dev)
{
	return KEY("m/%016" PRIx64 "/%016" PRIx64, room, dev);
}

size_t rv_key_member_prefix(char *k, uint64_t room)
{
	return KEY("m/%016" PRIx64 "/", room);
}

int rv_key_member_parse(const void *k, size_t kl, uint64_t *room, uint64_t *dev)
{
	const char *c = k;
	if (kl != 2 + 16 + 1 + 16 || memcmp(c, "m/", 2) != 0 || c[18] != '/')
		return -1;
	return rv_key_parse_id(c + 2, 16, room) == 0 && rv_key_parse_id(c + 19, 16, dev) == 0 ? 0
											      : -1;
}

size_t rv_key_addr(char *k, uint64_t room, uint32_t addr)
{
	return KEY("ip/%016" PRIx64 "/%08" PRIx32, room, addr);
}

size_t rv_key_addr_prefix(char *k, uint64_t room)
{
	return KEY("ip/%016" PRIx64 "/", room);
}

int rv_key_addr_parse(const void *k, size_t kl, uint32_t *addr)
{
	if (kl != 3 + 16 + 1 + 8 || memcmp(k, "ip/", 3) != 0)
		return -1;
	return rv_key_parse_addr((const char *)k + kl - 8, 8, addr);
}

size_t rv_key_device_addr(char *k, uint64_t room, uint64_t dev)
{
	return KEY("ipd/%016" PRIx64 "/%016" PRIx64, room, dev);
}

size_t rv_key_device_addr_prefix(char *k, uint64_t room)
{
	return KEY("ipd/%016" PRIx64 "/", room);
}

size_t rv_key_invite(char *k, uint64_t room, uint64_t invite)
{
	return KEY("inv/%016" PRIx64 "/%016" PRIx64, room, invite);
}

size_t rv_key_invite_prefix(char *k, uint64_t room)
{
	return KEY("inv/%016" PRIx64 "/", room);
}

size_t rv_key_invite_by_hash(char *k, const uint8_t hash[32])
{
	size_t n = KEY("%s", "invh/");
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(k + n, RV_KEY_MAX - n, "%02x", hash[i]);
	return n;
}

size_t rv_key_ban_user(char *k, uint64_t room, uint64_t user)
{
	return KEY("ban/%016" PRIx64 "/u%016" PRIx64, room, user);
}

size_t rv_key_ban_device(char *k, uint64_t room, uint64_t dev)
{
	return KEY("ban/%016" PRIx64 "/d%016" PRIx64, room, dev);
}

size_t rv_key_ban_prefix(char *k, uint64_t room)
{
	return KEY("ban/%016" PRIx64 "/", room);
}

size_t rv_key_id_value(char *v, uint64_t id)
{
	return (size_t)snprintf(v, 17, "%016" PRIx64, id);
}

size_t rv_key_addr_value(char *v, uint32_t addr)
{
	return (size_t)snprintf(v, 9, "%08" PRIx32, addr);
}

/* Up to @max hex digits, all of them hex. */
static int parse_hex(const void *v, size_t len, size_t max, uint64_t *out)
{
	const char *c = v;
	uint64_t x = 0;
	if (len == 0 || len > max)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (c[i] >= '0' && c[i] <= '9')
			d = (unsigned)(c[i] - '0');
		else if (c[i] >= 'a' && c[i] <= 'f')
			d = (unsigned)(c[i] - 'a' + 10);
		else
			return -1;
		x = x << 4 | d;
	}
	*out = x;
	return 0;
}

int rv_key_parse_id(const void *v, size_t len, uint64_t *id)
{
	return parse_hex(v, len, 16, id);
}

int rv_key_parse_addr(const void *v, size_t len, uint32_t *addr)
{
	uint64_t x;
	if (parse_hex(v, len, 8, &x) < 0)
		return -1;
	*addr = (uint32_t)x;
	return 0;
}

size_t rv_key_tunnel(char *k, uint32_t peer_id)
{
	memcpy(k, RV_KEY_TUNNEL_PREFIX, 4);
	k[4] = (char)(peer_id >> 24);
	k[5] = (char)(peer_id >> 16);
	k[6] = (char)(peer_id >> 8);
	k[7] = (char)peer_id;
	return RV_KEY_TUNNEL_LEN;
}
