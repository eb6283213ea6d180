/* Access rules text (control/room_rules.c): what it compiles to (names and
 * tags to the members' addresses, one address rule per source x
 * destination, in order), and each kind of mistake refused with its line
 * number and the word at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room_rules.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const struct rv_rule_member members[] = {
    {"alice", IP(10, 88, 0, 2)},
    {"bob", IP(10, 88, 0, 3)},
    {"alice", IP(10, 88, 0, 4)}, /* alice's second device */
    {"carol", IP(10, 88, 0, 5)},
};

static void free_all(Roomvpn__V1__AclRuleRecord **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_compiles(void **state)
{
	(void)state;
	const char *text = "# team rules\n"
			   "tag admins = alice carol\n"
			   "\n"
			   "deny  tcp  from bob to alice port 22   # no ssh\n"
			   "allow tcp  from tag:admins to bob port 80-443\n"
			   "allow icmp from any to 10.88.0.0/24\n"
			   "deny  any  from any to any\n";
	Roomvpn__V1__AclRuleRecord **v;
	size_t n;
	char msg[256];
	assert_int_equal(rv_room_rules_compile(text, members, 4, true, &v, &n, msg, sizeof(msg)),
			 0);
	/* bob -> alice x2, admins (alice x2 + carol) -> bob, icmp, deny all */
	assert_int_equal(n, 2 + 3 + 1 + 1);
	assert_true(v[0]->deny);
	assert_int_equal(v[0]->proto, 6);
	assert_int_equal(v[0]->src, IP(10, 88, 0, 3));
	assert_int_equal(v[0]->src_prefix, 32);
	assert_int_equal(v[0]->dst, IP(10, 88, 0, 2));
	assert_int_equal(v[1]->dst, IP(10, 88, 0, 4));
	assert_int_equal(v[0]->port_lo, 22);
	assert_int_equal(v[0]->port_hi, 22);
	assert_false(v[2]->deny);
	assert_int_equal(v[4]->src, IP(10, 88, 0, 5));
	assert_int_equal(v[4]->port_lo, 80);
	assert_int_equal(v[4]->port_hi, 443);
	assert_int_equal(v[5]->proto, 1);
	assert_int_equal(v[5]->src_prefix, 0);
	assert_int_equal(v[5]->dst, IP(10, 88, 0, 0));
	assert_int_equal(v[5]->dst_prefix, 24);
	assert_int_equal(v[5]->port_hi, 65535);
	assert_true(v[6]->deny);
	assert_int_equal(v[6]->proto, 0);
	free_all(v, n);
	/* nothing at all: no rules */
	assert_int_equal(
	    rv_room_rules_compile("  # none\n\n", members, 4, true, &v, &n, msg, sizeof(msg)), 0);
	assert_int_equal(n, 0);
	free_all(v, n);
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"allow tcp from any to any\npermit tcp from any to any\n", "line 2: 'permit'"},
	    {"\n\nallow sctp from any to any\n", "line 3: 'sctp'"},
	    {"allow tcp from dave to any\n", "line 1: 'dave' is no member"},
	    {"# x\nallow tcp from tag:ops to any\n", "line 2: no tag 'ops'"},
	    {"allow icmp from any to any port 22\n", "line 1: ports need tcp or udp"},
	    {"allow tcp from any to any port 80-70\n", "line 1: '80-70'"},
	    {"allow tcp from any to any port 70000\n", "line 1: '70000'"},
	    {"allow tcp from 10.88.0.1/24 to any\n", "line 1: '10.88.0.1/24' has host bits"},
	    {"allow tcp from 10.88.0.0/33 to any\n", "line 1: '10.88.0.0/33': prefix length"},
	    {"allow tcp from 10.88.0.300 to any\n", "line 1: '10.88.0.300' is no IPv4"},
	    {"allow tcp to any\n", "line 1: allow: write"},
	    {"allow tcp from any towards any\n", "line 1: allow: write"},
	    {"allow tcp from any to any proto 80\n", "line 1: 'proto': only 'port"},
	    {"tag a = alice\ntag a = bob\n", "line 2: tag 'a' defined twice"},
	    {"tag a alice\n", "line 1: tag: write"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Roomvpn__V1__AclRuleRecord **v = (void *)1;
		size_t n = 99;
		char msg[256] = "";
		assert_int_equal(
		    rv_room_rules_compile(bad[i].text, members, 4, true, &v, &n, msg, sizeof(msg)),
		    -1);
		if (strncmp(msg, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("case %zu: '%s', want '%s...'", i, msg, bad[i].want);
		assert_null(v);
		assert_int_equal(n, 0);
	}
}

static void test_too_many(void **state)
{
	(void)state;
	/* 33 x 32 = 1056 address rules */
	struct rv_rule_member many[64];
	char names[64][8];
	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "%c%d", i < 33 ? 's' : 'd', i);
		many[i] = (struct rv_rule_member){names[i], IP(10, 88, 1, i)};
	}
	char text[2048] = "tag s =", *p = text + strlen(text);
	for (int i = 0; i < 33; i++)
		p += sprintf(p, " s%d", i);
	p += sprintf(p, "\ntag d =");
	for (int i = 33; i < 64; i++)
		p += sprintf(p, " d%d", i);
	sprintf(p, " s0\ndeny any from tag:s to tag:d\n");
	Roomvpn__V1__AclRuleRecord **v;
	size_t n;
	char msg[256];
	assert_int_equal(rv_room_rules_compile(text, many, 64, true, &v, &n, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "line 3: the rules come to more than 1024"));
}

/* A recompile after a member left: the departed name matches nothing, the
 * rest of the rules stand (strict, as SetRules compiles, it is an error). */
static void test_departed_name(void **state)
{
	(void)state;
	const char *text = "tag t = carol dave\n"
			   "deny tcp from dave to bob port 22\n"
			   "allow any from tag:t to any\n";
	Roomvpn__V1__AclRuleRecord **v;
	size_t n;
	char msg[256];
	assert_int_equal(rv_room_rules_compile(text, members, 4, true, &v, &n, msg, sizeof(msg)),
			 -1);
	assert_non_null(strstr(msg, "line 2: 'dave' is no member"));
	assert_int_equal(rv_room_rules_compile(text, members, 4, false, &v, &n, msg, sizeof(msg)),
			 0);
	assert_int_equal(n, 1); /* carol -> any only */
	assert_false(v[0]->deny);
	assert_int_equal(v[0]->src, IP(10, 88, 0, 5));
	free_all(v, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compiles),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_too_many),
	    cmocka_unit_test(test_departed_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
