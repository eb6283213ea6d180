/* Room DNS settings and managed routes (control/room_net.c): what is
 * accepted, what is refused with which message, the stored form, the API
 * form, a record surviving a pack/unpack round trip (old records without
 * the fields read as "none"), and the change fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room_net.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;

/* A room on 10.88.0.0/24 (server 10.88.0.1). */
static void room_init(RoomRecord *r)
{
	roomvpn__v1__room_record__init(r);
	r->subnet_addr = 0x0A580000u;
	r->subnet_prefix = 24;
}

static int set_dns(RoomRecord *r, const char *a, const char *b, const char *search, char *msg)
{
	char *v[2] = {(char *)a, (char *)b};
	return rv_room_net_set_dns(r, v, b ? 2 : a ? 1 : 0, search, msg, 200);
}

static void test_dns(void **state)
{
	(void)state;
	RoomRecord r;
	char msg[200];
	room_init(&r);
	assert_int_equal(set_dns(&r, "10.88.0.53", "1.1.1.1", "corp.example", msg), 0);
	assert_int_equal(r.n_dns_servers, 2);
	assert_int_equal(r.dns_servers[0], 0x0A580035u);
	assert_string_equal(r.dns_search, "corp.example");

	/* refused, each with its reason; the record is left as it was */
	assert_int_equal(set_dns(&r, "10.88.0.300", NULL, "", msg), -1);
	assert_non_null(strstr(msg, "'10.88.0.300' is not a usable IPv4 address"));
	assert_int_equal(set_dns(&r, "dns.example", NULL, "", msg), -1);
	assert_int_equal(set_dns(&r, "127.0.0.53", NULL, "", msg), -1);
	assert_int_equal(set_dns(&r, "224.0.0.1", NULL, "", msg), -1);
	assert_int_equal(set_dns(&r, "0.0.0.0", NULL, "", msg), -1);
	assert_int_equal(set_dns(&r, "9.9.9.9", "9.9.9.9", "", msg), -1);
	assert_non_null(strstr(msg, "listed twice"));
	assert_int_equal(set_dns(&r, "9.9.9.9", NULL, "bad_domain", msg), -1);
	assert_non_null(strstr(msg, "search domain 'bad_domain'"));
	assert_int_equal(set_dns(&r, "9.9.9.9", NULL, "a..b", msg), -1);
	assert_int_equal(set_dns(&r, "9.9.9.9", NULL, "-a.b", msg), -1);
	assert_int_equal(set_dns(&r, NULL, NULL, "corp.example", msg), -1);
	assert_non_null(strstr(msg, "needs at least one DNS server"));
	char *five[5] = {"9.9.9.1", "9.9.9.2", "9.9.9.3", "9.9.9.4", "9.9.9.5"};
	assert_int_equal(rv_room_net_set_dns(&r, five, 5, "", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "at most 4 DNS servers"));
	assert_int_equal(r.n_dns_servers, 2);
	assert_int_equal(rv_room_net_set_dns(&r, five, 4, "", msg, sizeof(msg)), 0);
	assert_int_equal(r.n_dns_servers, 4);

	/* cleared */
	assert_int_equal(set_dns(&r, NULL, NULL, "", msg), 0);
	assert_int_equal(r.n_dns_servers, 0);
	assert_string_equal(r.dns_search, "");
	rv_room_net_clear(&r);
}

static Roomvpn__V1__Route route(const char *target, const char *via)
{
	Roomvpn__V1__Route rt = ROOMVPN__V1__ROUTE__INIT;
	rt.target = (char *)target;
	rt.via = (char *)via;
	return rt;
}

static int set_one(RoomRecord *r, const char *target, const char *via, char *msg)
{
	Roomvpn__V1__Route rt = route(target, via), *p = &rt;
	return rv_room_net_set_routes(r, &p, 1, msg, 200);
}

static void test_routes(void **state)
{
	(void)state;
	RoomRecord r;
	char msg[200];
	room_init(&r);
	assert_int_equal(set_one(&r, "192.168.77.0/24", "10.88.0.5", msg), 0);
	assert_int_equal(r.n_routes, 1);
	assert_int_equal(r.routes[0]->target_addr, 0xC0A84D00u);
	assert_int_equal(r.routes[0]->target_prefix, 24);
	assert_int_equal(r.routes[0]->via, 0x0A580005u);

	struct {
		const char *target, *via, *why;
	} bad[] = {
	    {"8.8.8.0/24", "10.88.0.5", "must be private"},
	    {"10.0.0.0/7", "10.88.0.5", "must be private"},
	    {"192.168.77.1/24", "10.88.0.5", "host bits"},
	    {"192.168.77.0", "10.88.0.5", "not a subnet"},
	    {"10.88.0.0/16", "10.88.0.5", "overlaps the room's subnet 10.88.0.0/24"},
	    {"10.88.0.128/25", "10.88.0.5", "overlaps"},
	    {"192.168.77.0/24", "10.88.1.5", "inside the room's subnet"},
	    {"192.168.77.0/24", "10.88.0.1", "server address"},
	    {"192.168.77.0/24", "10.88.0.0", "network"},
	    {"192.168.77.0/24", "10.88.0.255", "broadcast"},
	    {"192.168.77.0/24", "gateway", "via 'gateway'"},
	    {"192.168.77.0/24", "", "via ''"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(set_one(&r, bad[i].target, bad[i].via, msg), -1);
		if (!strstr(msg, bad[i].why))
			fail_msg("%s via %s: '%s' lacks '%s'", bad[i].target, bad[i].via, msg,
				 bad[i].why);
	}
	assert_int_equal(r.n_routes, 1); /* unchanged by the refusals */

	/* overlapping targets are fine (longest prefix wins), the same twice not */
	Roomvpn__V1__Route two[2] = {route("192.168.0.0/16", "10.88.0.5"),
				     route("192.168.77.0/24", "10.88.0.6")};
	Roomvpn__V1__Route *p2[2] = {&two[0], &two[1]};
	assert_int_equal(rv_room_net_set_routes(&r, p2, 2, msg, sizeof(msg)), 0);
	two[1] = route("192.168.0.0/16", "10.88.0.6");
	assert_int_equal(rv_room_net_set_routes(&r, p2, 2, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "listed twice"));

	Roomvpn__V1__Route many[RV_ROOM_ROUTES_MAX + 1], *pm[RV_ROOM_ROUTES_MAX + 1];
	char targets[RV_ROOM_ROUTES_MAX + 1][24];
	for (int i = 0; i <= RV_ROOM_ROUTES_MAX; i++) {
		snprintf(targets[i], sizeof(targets[i]), "172.16.%d.0/24", i);
		many[i] = route(targets[i], "10.88.0.9");
		pm[i] = &many[i];
	}
	assert_int_equal(rv_room_net_set_routes(&r, pm, RV_ROOM_ROUTES_MAX + 1, msg, sizeof(msg)),
			 -1);
	assert_non_null(strstr(msg, "at most 16 routes"));
	assert_int_equal(rv_room_net_set_routes(&r, pm, RV_ROOM_ROUTES_MAX, msg, sizeof(msg)), 0);
	assert_int_equal(r.n_routes, RV_ROOM_ROUTES_MAX);
	assert_int_equal(rv_room_net_set_routes(&r, NULL, 0, msg, sizeof(msg)), 0);
	assert_int_equal(r.n_routes, 0);
	rv_room_net_clear(&r);
}

/* Stored, read back (as the store does), exported; an old record (no
 * fields 13-15) reads as no DNS and no routes; the fingerprints follow. */
static void test_round_trip(void **state)
{
	(void)state;
	RoomRecord r;
	char msg[200];
	room_init(&r);
	uint64_t empty_tag = rv_room_net_tag(&r), empty_routes = rv_room_net_routes_tag(&r);
	uint8_t buf[1024];
	size_t len = roomvpn__v1__room_record__pack(&r, buf);
	RoomRecord *old = roomvpn__v1__room_record__unpack(NULL, len, buf);
	assert_non_null(old);
	assert_int_equal(old->n_dns_servers + old->n_routes, 0);
	assert_true(rv_room_net_tag(old) == empty_tag);
	struct rv_room_net n;
	assert_int_equal(rv_room_net_export(old, "10.99.0.53", &n), 0);
	assert_int_equal(n.n_dns, 1); /* the server's default */
	assert_string_equal(n.dns[0], "10.99.0.53");
	rv_room_net_release(&n);

	/* changed in place, as Update does with a loaded record */
	assert_int_equal(set_dns(old, "10.88.0.53", NULL, "lan", msg), 0);
	assert_true(rv_room_net_tag(old) != empty_tag);
	assert_true(rv_room_net_routes_tag(old) == empty_routes);
	assert_int_equal(set_one(old, "192.168.77.0/24", "10.88.0.5", msg), 0);
	assert_true(rv_room_net_routes_tag(old) != empty_routes);
	len = roomvpn__v1__room_record__pack(old, buf);
	RoomRecord *back = roomvpn__v1__room_record__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_true(rv_room_net_tag(back) == rv_room_net_tag(old));
	assert_int_equal(rv_room_net_export(back, "10.99.0.53", &n), 0);
	assert_int_equal(n.n_dns, 1); /* the room's own, no default */
	assert_string_equal(n.dns[0], "10.88.0.53");
	assert_string_equal(n.search, "lan");
	assert_int_equal(n.n_routes, 1);
	assert_string_equal(n.routes[0]->target, "192.168.77.0/24");
	assert_string_equal(n.routes[0]->via, "10.88.0.5");
	rv_room_net_release(&n);

	Roomvpn__Dataplane__V1__Route rt[RV_ROOM_ROUTES_MAX], *rtp[RV_ROOM_ROUTES_MAX];
	assert_int_equal(rv_room_net_dp_routes(back, rt, rtp), 1);
	assert_int_equal(rtp[0]->target, 0xC0A84D00u);
	assert_int_equal(rtp[0]->prefix_len, 24);
	assert_int_equal(rtp[0]->via, 0x0A580005u);
	roomvpn__v1__room_record__free_unpacked(old, NULL);
	roomvpn__v1__room_record__free_unpacked(back, NULL);
}

/* A dual-stack room: 10.88.0.0/24 and fd12:3456:789a:1::/64. */
static const uint8_t prefix6[16] = {0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1};

static void room6_init(RoomRecord *r)
{
	room_init(r);
	r->prefix6.data = (uint8_t *)prefix6;
	r->prefix6.len = 16;
	r->prefix6_len = 64;
}

static void test_dns6(void **state)
{
	(void)state;
	RoomRecord r;
	char msg[200];
	room6_init(&r);
	char *mixed[4] = {"2001:4860:4860::8888", "10.88.0.53", "fd12:3456:789a:1::35", "1.1.1.1"};
	assert_int_equal(rv_room_net_set_dns(&r, mixed, 4, "lan", msg, sizeof(msg)), 0);
	assert_int_equal(r.n_dns_servers, 2);
	assert_int_equal(r.n_dns_servers6, 2);
	assert_int_equal(r.dns_servers6[0].len, 16);
	assert_int_equal(r.dns_servers6[0].data[0], 0x20);
	struct rv_room_net n;
	assert_int_equal(rv_room_net_export(&r, "10.99.0.53", &n), 0);
	assert_int_equal(n.n_dns, 4); /* IPv4 first, then IPv6; no default */
	assert_string_equal(n.dns[0], "10.88.0.53");
	assert_string_equal(n.dns[2], "2001:4860:4860::8888");
	assert_string_equal(n.dns[3], "fd12:3456:789a:1::35");
	rv_room_net_release(&n);

	struct {
		const char *a, *b, *why;
	} bad[] = {
	    {"::1", NULL, "not a usable IPv6 address"},
	    {"::", NULL, "not a usable IPv6 address"},
	    {"ff02::fb", NULL, "not a usable IPv6 address"},
	    {"fe80::1", NULL, "link-local"},
	    {"2001:db8::zz", NULL, "'2001:db8::zz'"},
	    {"2001:db8::53", "2001:db8:0::53", "listed twice"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(set_dns(&r, bad[i].a, bad[i].b, "", msg), -1);
		if (!strstr(msg, bad[i].why))
			fail_msg("%s: '%s' lacks '%s'", bad[i].a, msg, bad[i].why);
	}
	assert_int_equal(r.n_dns_servers6, 2); /* unchanged by the refusals */
	char *five[5] = {"2001:db8::1", "2001:db8::2", "9.9.9.9", "2001:db8::3", "2001:db8::4"};
	assert_int_equal(rv_room_net_set_dns(&r, five, 5, "", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "at most 4 DNS servers"));
	/* only IPv6 servers: the server's IPv4 default is not added */
	assert_int_equal(set_dns(&r, "2001:db8::1", NULL, "", msg), 0);
	assert_int_equal(r.n_dns_servers, 0);
	assert_int_equal(rv_room_net_export(&r, "10.99.0.53", &n), 0);
	assert_int_equal(n.n_dns, 1);
	assert_string_equal(n.dns[0], "2001:db8::1");
	rv_room_net_release(&n);
	rv_room_net_clear(&r);
}

static void test_routes6(void **state)
{
	(void)state;
	RoomRecord r;
	char msg[200];
	room6_init(&r);
	Roomvpn__V1__Route both[2] = {route("fd00:50::/64", "fd12:3456:789a:1::5"),
				      route("192.168.77.0/24", "10.88.0.5")};
	Roomvpn__V1__Route *pb[2] = {&both[0], &both[1]};
	assert_int_equal(rv_room_net_set_routes(&r, pb, 2, msg, sizeof(msg)), 0);
	assert_int_equal(r.n_routes, 1);
	assert_int_equal(r.n_routes6, 1);
	assert_int_equal(r.routes6[0]->target_prefix, 64);
	assert_int_equal(r.routes6[0]->via.data[15], 5);

	struct {
		const char *target, *via, *why;
	} bad[] = {
	    {"fd00:50::1/64", "fd12:3456:789a:1::5", "host bits"},
	    {"fd00::/8", "fd12:3456:789a:1::5", "prefix of 16..128"},
	    {"ff05::/16", "fd12:3456:789a:1::5", "multicast"},
	    {"fe80::/64", "fd12:3456:789a:1::5", "link-local"},
	    {"fd12:3456:789a::/48", "fd12:3456:789a:1::5", "overlaps the room's subnet6"},
	    {"fd12:3456:789a:1:8000::/65", "fd12:3456:789a:1::5", "overlaps"},
	    {"fd00:50::/64", "fd12:3456:789a:2::5", "inside the room's subnet6"},
	    {"fd00:50::/64", "fd12:3456:789a:1::", "::0"},
	    {"fd00:50::/64", "fd12:3456:789a:1::1", "server's ::1"},
	    {"fd00:50::/64", "10.88.0.5", "via '10.88.0.5'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(set_one(&r, bad[i].target, bad[i].via, msg), -1);
		if (!strstr(msg, bad[i].why))
			fail_msg("%s via %s: '%s' lacks '%s'", bad[i].target, bad[i].via, msg,
				 bad[i].why);
	}
	assert_int_equal(r.n_routes6, 1); /* unchanged by the refusals */
	assert_int_equal(r.n_routes, 1);

	/* 16 of each family together; a 17th IPv6 one refused */
	Roomvpn__V1__Route many[2 * RV_ROOM_ROUTES_MAX + 1], *pm[2 * RV_ROOM_ROUTES_MAX + 1];
	char targets[2 * RV_ROOM_ROUTES_MAX + 1][48];
	for (int i = 0; i <= 2 * RV_ROOM_ROUTES_MAX; i++) {
		bool v6 = i % 2 || i == 2 * RV_ROOM_ROUTES_MAX;
		if (v6)
			snprintf(targets[i], sizeof(targets[i]), "2001:db8:%x::/48", i);
		else
			snprintf(targets[i], sizeof(targets[i]), "172.16.%d.0/24", i);
		many[i] = route(targets[i], v6 ? "fd12:3456:789a:1::9" : "10.88.0.9");
		pm[i] = &many[i];
	}
	assert_int_equal(rv_room_net_set_routes(&r, pm, 2 * RV_ROOM_ROUTES_MAX, msg, sizeof(msg)),
			 0);
	assert_int_equal(r.n_routes, RV_ROOM_ROUTES_MAX);
	assert_int_equal(r.n_routes6, RV_ROOM_ROUTES_MAX);
	assert_int_equal(
	    rv_room_net_set_routes(&r, pm, 2 * RV_ROOM_ROUTES_MAX + 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "at most 16 routes per room for IPv6"));

	/* the data-plane form, and the fingerprint follows a change */
	uint64_t tag = rv_room_net_routes_tag(&r);
	assert_int_equal(set_one(&r, "2001:db8:77::/48", "fd12:3456:789a:1::7", msg), 0);
	assert_true(rv_room_net_routes_tag(&r) != tag);
	uint8_t px[16], plen;
	struct rv_room_net_route6 rt6[RV_ROOM_ROUTES_MAX];
	assert_int_equal(rv_room_net_dp_v6(&r, px, &plen, rt6), 1);
	assert_int_equal(plen, 64);
	assert_memory_equal(px, prefix6, 16);
	assert_int_equal(rt6[0].prefix_len, 48);
	assert_int_equal(rt6[0].via[15], 7);
	assert_int_equal(rt6[0].target[5], 0x77);
	struct rv_room_net n;
	assert_int_equal(rv_room_net_export(&r, NULL, &n), 0);
	assert_int_equal(n.n_routes, 1);
	assert_string_equal(n.routes[0]->target, "2001:db8:77::/48");
	assert_string_equal(n.routes[0]->via, "fd12:3456:789a:1::7");
	rv_room_net_release(&n);

	/* a room without a prefix6 takes no IPv6 route */
	RoomRecord v4only;
	room_init(&v4only);
	assert_int_equal(set_one(&v4only, "2001:db8:77::/48", "fd12:3456:789a:1::7", msg), -1);
	assert_non_null(strstr(msg, "has no IPv6 prefix"));
	assert_int_equal(rv_room_net_dp_v6(&v4only, px, &plen, rt6), 0);
	assert_int_equal(plen, 0);
	rv_room_net_clear(&r);
	rv_room_net_clear(&v4only);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns),	       cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_round_trip), cmocka_unit_test(test_dns6),
	    cmocka_unit_test(test_routes6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
