/* Access rules of a room (dataplane/acl.c) without DPDK: what a rule set
 * may hold (each refusal with its reason), the first-match verdict against
 * a deliberately naive model over random rules and packets, the inner
 * header parse, the per-worker flow cache (a reply passes, in the worker
 * that owns the destination, until the flow goes idle), and the rule set
 * published on the room through the real tables (replaced whole, kept on a
 * refused upsert, carried by a resync). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "dp_tables.h"
#include "session_table.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define SEC	       1000000000ull

static char err[256];

static struct rv_st_room room(uint32_t id, const struct rv_st_rule *rules, uint32_t n)
{
	return (struct rv_st_room){.room_id = id,
				   .subnet = IP(10, 77, 0, 0),
				   .prefix_len = 24,
				   .n_rules = n,
				   .rules = rules};
}

static struct rv_st_rule any_rule(bool deny)
{
	return (struct rv_st_rule){.port_hi = 65535, .deny = deny};
}

static void test_refusals(void **state)
{
	(void)state;
	struct {
		struct rv_st_rule r;
		const char *why;
	} bad[] = {
	    {{.src_plen = 33, .port_hi = 65535}, "prefix length"},
	    {{.src = IP(10, 77, 0, 1), .src_plen = 24, .port_hi = 65535}, "host bits"},
	    {{.dst = IP(10, 77, 0, 1), .dst_plen = 0, .port_hi = 65535}, "host bits"},
	    {{.proto = 6, .port_lo = 80, .port_hi = 79}, "port range is empty"},
	    {{.proto = 1, .port_lo = 80, .port_hi = 80}, "ports with a protocol"},
	};
	struct rv_dp_acl *a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rv_st_rule rules[2] = {any_rule(false), bad[i].r};
		struct rv_st_room r = room(1, rules, 2);
		assert_int_equal(rv_dp_acl_build(&r, &a, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].why) || !strstr(err, "rule 2"))
			fail_msg("case %zu: '%s' lacks 'rule 2' or '%s'", i, err, bad[i].why);
		assert_null(a);
	}
	struct rv_st_room too_many = room(1, NULL, RV_ST_RULES_MAX + 1);
	assert_int_equal(rv_dp_acl_build(&too_many, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most"));
	struct rv_st_room none = room(1, NULL, 0);
	assert_int_equal(rv_dp_acl_build(&none, &a, err, sizeof(err)), 0);
	assert_null(a); /* no rules: nothing to evaluate, allow all */
}

/* The naive model: bit by bit prefixes, ports as "any" only when 0..65535. */
static bool naive_prefix(uint32_t addr, uint32_t net, unsigned plen)
{
	for (unsigned b = 0; b < plen; b++)
		if (((addr >> (31 - b)) & 1) != ((net >> (31 - b)) & 1))
			return false;
	return true;
}

static bool naive_allows(const struct rv_st_rule *rules, unsigned n, const struct rv_acl_pkt *p)
{
	for (unsigned i = 0; i < n; i++) {
		const struct rv_st_rule *r = &rules[i];
		if (!naive_prefix(p->src, r->src, r->src_plen) ||
		    !naive_prefix(p->dst, r->dst, r->dst_plen))
			continue;
		if (r->proto != 0 && r->proto != p->proto)
			continue;
		bool all_ports = r->port_lo == 0 && r->port_hi == 65535;
		if (!all_ports) {
			bool l4 = p->proto == 6 || p->proto == 17;
			if (!l4 || !p->has_ports || p->dport < r->port_lo || p->dport > r->port_hi)
				continue;
		}
		return !r->deny;
	}
	return true;
}

static uint32_t rand_addr(void)
{
	/* a small space, so that rules and packets meet */
	return IP(10, 77, 0, 0) | ((uint32_t)rand() & 0x0F) | (rand() % 4 == 0 ? 0x100 : 0);
}

static struct rv_st_rule rand_rule(void)
{
	static const uint8_t protos[] = {0, 0, 1, 6, 6, 17};
	struct rv_st_rule r = {.proto = protos[rand() % 6], .deny = rand() % 2};
	r.src_plen = (uint8_t)(rand() % 3 == 0 ? 0 : 23 + rand() % 10);
	r.dst_plen = (uint8_t)(rand() % 3 == 0 ? 0 : 23 + rand() % 10);
	uint32_t sm = r.src_plen ? ~0u << (32 - r.src_plen) : 0;
	uint32_t dm = r.dst_plen ? ~0u << (32 - r.dst_plen) : 0;
	r.src = rand_addr() & sm;
	r.dst = rand_addr() & dm;
	if (r.proto == 1 || rand() % 3 == 0) {
		r.port_hi = 65535;
	} else {
		r.port_lo = (uint16_t)(rand() % 30);
		r.port_hi = (uint16_t)(r.port_lo + rand() % 10);
	}
	return r;
}

static void test_first_match_random(void **state)
{
	(void)state;
	srand(18);
	static const uint8_t protos[] = {1, 6, 17, 47};
	struct rv_st_rule rules[64];
	for (int round = 0; round < 300; round++) {
		unsigned n = (unsigned)(rand() % 64);
		for (unsigned i = 0; i < n; i++)
			rules[i] = rand_rule();
		struct rv_st_room r = room(1, rules, n);
		struct rv_dp_acl *a;
		assert_int_equal(rv_dp_acl_build(&r, &a, err, sizeof(err)), 0);
		for (int k = 0; k < 300; k++) {
			struct rv_acl_pkt p = {.src = rand_addr(),
					       .dst = rand_addr(),
					       .proto = protos[rand() % 4],
					       .sport = (uint16_t)(rand() % 40),
					       .dport = (uint16_t)(rand() % 40)};
			p.has_ports = (p.proto == 6 || p.proto == 17) && rand() % 8 != 0;
			if (rv_dp_acl_allows(a, &p) != naive_allows(rules, n, &p))
				fail_msg(
				    "round %d packet %d: %08x->%08x proto %u dport %u ports %d",
				    round, k, p.src, p.dst, p.proto, p.dport, p.has_ports);
		}
		rv_dp_acl_free(a);
	}
}

/* An inner IPv4 header (+ 8 bytes of L4) into @b. */
static void ipv4(uint8_t *b, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
		 uint16_t dport, uint16_t frag)
{
	memset(b, 0, 28);
	b[0] = 0x45;
	b[6] = (uint8_t)(frag >> 8);
	b[7] = (uint8_t)frag;
	b[9] = proto;
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		b[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	b[20] = (uint8_t)(sport >> 8);
	b[21] = (uint8_t)sport;
	b[22] = (uint8_t)(dport >> 8);
	b[23] = (uint8_t)dport;
}

static void test_parse(void **state)
{
	(void)state;
	uint8_t b[28];
	struct rv_acl_pkt p;
	ipv4(b, 6, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 40000, 22, 0);
	rv_dp_acl_parse(b, 28, &p);
	assert_int_equal(p.src, IP(10, 77, 0, 2));
	assert_int_equal(p.dst, IP(10, 77, 0, 3));
	assert_int_equal(p.proto, 6);
	assert_true(p.has_ports);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 22);
	rv_dp_acl_parse(b, 22, &p); /* ports cut off */
	assert_false(p.has_ports);
	ipv4(b, 17, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 1, 53, 0x2000); /* MF, first */
	rv_dp_acl_parse(b, 28, &p);
	assert_true(p.has_ports);
	assert_int_equal(p.dport, 53);
	ipv4(b, 17, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 1, 53, 0x0010); /* later fragment */
	rv_dp_acl_parse(b, 28, &p);
	assert_false(p.has_ports);
	ipv4(b, 1, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 0x0800, 0, 0); /* echo request */
	b[24] = 0x12;
	b[25] = 0x34; /* id */
	rv_dp_acl_parse(b, 28, &p);
	assert_false(p.has_ports);
	assert_int_equal(p.sport, 0x1234);
	assert_int_equal(p.dport, 0x1234);
}

static void test_flow_cache(void **state)
{
	(void)state;
	uint64_t now = 1000 * SEC;
	/* room 7: A (.2) may reach B (.3) on TCP 80; everything else denied */
	struct rv_st_rule rules[2] = {{.src = IP(10, 77, 0, 2),
				       .src_plen = 32,
				       .dst = IP(10, 77, 0, 3),
				       .dst_plen = 32,
				       .proto = 6,
				       .port_lo = 80,
				       .port_hi = 80},
				      any_rule(true)};
	struct rv_st_room r = room(7, rules, 2);
	struct rv_dp_acl *a;
	assert_int_equal(rv_dp_acl_build(&r, &a, err, sizeof(err)), 0);
	uint8_t fwd[28], rev[28], other[28];
	ipv4(fwd, 6, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 40000, 80, 0);
	ipv4(rev, 6, IP(10, 77, 0, 3), IP(10, 77, 0, 2), 80, 40000, 0);
	ipv4(other, 6, IP(10, 77, 0, 3), IP(10, 77, 0, 2), 80, 40001, 0);
	/* B's reply before A opened anything: denied */
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 7, 1, 0, now), RV_DROP_ACL);
	/* A (worker 0) to B (owned by worker 1): allowed, opens in worker 1 */
	assert_int_equal(rv_dp_acl_check(a, fwd, 28, 7, 0, 1, now), RV_OK);
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 7, 1, 0, now), RV_OK);
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 7, 0, 1, now), RV_DROP_ACL); /* wrong cache */
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 8, 1, 0, now), RV_DROP_ACL); /* other room */
	assert_int_equal(rv_dp_acl_check(a, other, 28, 7, 1, 0, now), RV_DROP_ACL);
	/* still a reply near the idle limit, not after it */
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 7, 1, 0, now + (RV_ACL_IDLE_S - 5) * SEC),
			 RV_OK);
	assert_int_equal(rv_dp_acl_check(a, rev, 28, 7, 1, 0, now + (RV_ACL_IDLE_S + 10) * SEC),
			 RV_DROP_ACL);
	/* ICMP echo: the request opens, the reply with the same id passes */
	uint8_t req[28], rep[28];
	ipv4(req, 1, IP(10, 77, 0, 2), IP(10, 77, 0, 3), 0x0800, 0, 0);
	ipv4(rep, 1, IP(10, 77, 0, 3), IP(10, 77, 0, 2), 0x0000, 0, 0);
	req[24] = rep[24] = 0x55;
	struct rv_st_rule ping[2] = {
	    {.src = IP(10, 77, 0, 2), .src_plen = 32, .proto = 1, .port_hi = 65535},
	    any_rule(true)};
	struct rv_st_room pr = room(7, ping, 2);
	struct rv_dp_acl *pa;
	assert_int_equal(rv_dp_acl_build(&pr, &pa, err, sizeof(err)), 0);
	assert_int_equal(rv_dp_acl_check(pa, rep, 28, 7, 0, 0, now), RV_DROP_ACL);
	assert_int_equal(rv_dp_acl_check(pa, req, 28, 7, 0, 0, now), RV_OK);
	assert_int_equal(rv_dp_acl_check(pa, rep, 28, 7, 0, 0, now), RV_OK);
	/* no rules: everything passes */
	assert_int_equal(rv_dp_acl_check(NULL, rev, 28, 9, 0, 0, now), RV_OK);
	rv_dp_acl_free(a);
	rv_dp_acl_free(pa);
}

static int setup(void **state)
{
	(void)state;
	struct rv_st_params p = {.max_sessions = 64, .n_workers = 1, .default_grace_ns = 1000};
	assert_int_equal(rv_st_init(&p, err, sizeof(err)), 0);
	assert_int_equal(rv_st_writer_register(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct rv_st_counts c;
	rv_st_writer_idle();
	for (int i = 0; i < 5000; i++) {
		rv_st_counts(&c);
		if (!c.pending_frees)
			break;
		usleep(1000);
	}
	rv_st_writer_unregister();
	rv_st_fini();
	return 0;
}

static struct rv_dp_acl *acl_of(uint32_t room_id)
{
	struct cds_lfht_iter it;
	struct rv_dp_room *r;
	cds_lfht_for_each_entry(rv_dp_root->rooms, &it, r,
				node) if (r->cfg.room_id == room_id) return r->acl;
	fail_msg("room %u not found", room_id);
	return NULL;
}

static void test_published(void **state)
{
	(void)state;
	struct rv_st_rule deny_ssh[1] = {{.proto = 6, .port_lo = 22, .port_hi = 22, .deny = true}};
	struct rv_st_room r = room(1, deny_ssh, 1);
	assert_int_equal(rv_st_room_upsert(&r, err, sizeof(err)), 0);
	r.rules = NULL; /* the table keeps its own copy */
	struct rv_dp_acl *a = acl_of(1);
	assert_non_null(a);
	assert_int_equal(a->n, 1);
	assert_true(a->r[0].deny);
	/* refused: the old set stays */
	struct rv_st_rule bad[1] = {{.proto = 6, .port_lo = 9, .port_hi = 8}};
	struct rv_st_room br = room(1, bad, 1);
	assert_int_equal(rv_st_room_upsert(&br, err, sizeof(err)), -1);
	assert_ptr_equal(acl_of(1), a);
	/* a resync carries them */
	struct rv_st_room again = room(1, deny_ssh, 1);
	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(rv_st_batch_room(b, &again, err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_commit(b, err, sizeof(err)), 0);
	assert_non_null(acl_of(1));
	assert_int_equal(acl_of(1)->n, 1);
	/* none: allow all again */
	struct rv_st_room none = room(1, NULL, 0);
	assert_int_equal(rv_st_room_upsert(&none, err, sizeof(err)), 0);
	assert_null(acl_of(1));
	rv_st_room_delete(1, err, sizeof(err));
	rv_st_writer_idle();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_first_match_random),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_flow_cache),
	    cmocka_unit_test_setup_teardown(test_published, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
