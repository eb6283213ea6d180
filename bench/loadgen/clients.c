/* The simulated clients: addresses, rooms, flows and keys. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "inet.h"

/* splitmix64: reproducible keys when --seed is given. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int make_key(struct lg_engine *e, uint64_t *state, struct rv_key_material *km)
{
	if (e->o->seed == 0)
		return RAND_bytes((unsigned char *)km, sizeof(*km)) == 1 ? 0 : -1;
	uint8_t *p = (uint8_t *)km;
	for (size_t i = 0; i < sizeof(*km); i += 8) {
		uint64_t v = next_rand(state);
		memcpy(p + i, &v, 8);
	}
	return 0;
}

static int make_ctxs(struct lg_engine *e, struct lg_client *c)
{
	enum rv_cipher s = e->o->suite;
	c->enc = rv_cipher_ctx_new(s, &c->km.dir[0], true);
	c->dec = rv_cipher_ctx_new(s, &c->km.dir[1], false);
	if (!c->enc || !c->dec)
		return -1;
	if (e->o->mode != LG_MODE_REFLECT)
		return 0;
	c->srv_dec = rv_cipher_ctx_new(s, &c->km.dir[0], false);
	c->srv_enc = rv_cipher_ctx_new(s, &c->km.dir[1], true);
	return c->srv_dec && c->srv_enc ? 0 : -1;
}

/* Rooms get equal power-of-two subnets, big enough for the largest room
 * (network, server address, members from subnet + 2, broadcast). */
static int layout_rooms(struct lg_engine *e)
{
	const struct lg_opts *o = e->o;
	unsigned per = o->clients / o->rooms, extra = o->clients % o->rooms;
	unsigned biggest = per + (extra ? 1 : 0);
	uint8_t plen = 30;
	while (plen > 8 && (1u << (32 - plen)) < biggest + 3)
		plen--;
	uint64_t span = 1ull << (32 - plen);
	if ((uint64_t)o->vip_net + span * o->rooms > 0xFFFFFFFFull) {
		fprintf(stderr, "%s: %u rooms of /%u do not fit above --vip-net\n", o->prog,
			o->rooms, plen);
		return -1;
	}
	unsigned first = 0;
	for (unsigned r = 0; r < o->rooms; r++) {
		struct lg_room *rm = &e->rooms[r];
		rm->room_id = o->room_id_base + r;
		rm->subnet = (uint32_t)((o->vip_net & ~(uint32_t)(span - 1)) + span * r);
		rm->plen = plen;
		memcpy(rm->prefix6, o->vip6_net, 16);
		rv_put_be16(rm->prefix6 + 6, (uint16_t)r);
		rm->first = first;
		rm->count = per + (r < extra ? 1 : 0);
		first += rm->count;
	}
	return 0;
}

int lg_clients_init(struct lg_engine *e)
{
	const struct lg_opts *o = e->o;
	uint64_t state = o->seed;
	e->clients = calloc(o->clients, sizeof(*e->clients));
	e->rooms = calloc(o->rooms, sizeof(*e->rooms));
	if (!e->clients || !e->rooms)
		goto err_mem;
	if (layout_rooms(e))
		goto err;
	for (unsigned r = 0; r < o->rooms; r++) {
		const struct lg_room *rm = &e->rooms[r];
		for (unsigned k = 0; k < rm->count; k++) {
			unsigned i = rm->first + k;
			struct lg_client *c = &e->clients[i];
			c->peer_id = o->peer_id_base + i;
			c->room_id = rm->room_id;
			c->outer_ip = o->client_net + 1 + i;
			c->outer_port = o->client_port_base;
			/* subnet + 1 is the room's server address (the data plane
			 * answers it, dataplane/server_ip.c; the control plane's IPAM
			 * never gives it to a member) */
			c->vip = rm->subnet + 2 + k;
			memcpy(c->vip6, rm->prefix6, 16);
			rv_put_be32(c->vip6 + 12, 2 + k);
			c->dst = rm->first + (k + 1) % rm->count;
			if (make_key(e, &state, &c->km) || make_ctxs(e, c)) {
				fprintf(stderr, "%s: cannot set up %s keys for client %u\n",
					o->prog, rv_cipher_name(o->suite), i);
				goto err;
			}
		}
	}
	return 0;
err_mem:
	fprintf(stderr, "%s: out of memory for %u clients\n", o->prog, o->clients);
err:
	lg_clients_free(e);
	return -1;
}

void lg_clients_free(struct lg_engine *e)
{
	if (e->clients) {
		for (unsigned i = 0; i < e->o->clients; i++) {
			struct lg_client *c = &e->clients[i];
			rv_cipher_ctx_free(c->enc);
			rv_cipher_ctx_free(c->dec);
			rv_cipher_ctx_free(c->srv_dec);
			rv_cipher_ctx_free(c->srv_enc);
			OPENSSL_cleanse(&c->km, sizeof(c->km));
		}
	}
	free(e->clients);
	free(e->rooms);
	e->clients = NULL;
	e->rooms = NULL;
}

long lg_client_by_outer(const struct lg_engine *e, uint32_t ip, uint16_t port)
{
	uint32_t i = ip - e->o->client_net - 1;
	if (i >= e->o->clients || e->clients[i].outer_port != port)
		return -1;
	return i;
}

long lg_client_by_vip6(const struct lg_engine *e, const uint8_t *vip6)
{
	uint32_t r = rv_get_be16(vip6 + 6), k = rv_get_be32(vip6 + 12);
	if (r >= e->o->rooms || memcmp(vip6, e->rooms[r].prefix6, 8) != 0 ||
	    rv_get_be32(vip6 + 8) != 0 || k < 2 || k - 2 >= e->rooms[r].count)
		return -1;
	return e->rooms[r].first + k - 2;
}

long lg_client_by_vip(const struct lg_engine *e, uint32_t vip)
{
	const struct lg_room *r0 = &e->rooms[0];
	uint32_t span = 1u << (32 - r0->plen);
	uint32_t off = vip - r0->subnet;
	uint32_t r = off / span, k = off % span;
	if (r >= e->o->rooms || k < 2 || k - 2 >= e->rooms[r].count)
		return -1; /* network, server address, not a member */
	return e->rooms[r].first + k - 2;
}
