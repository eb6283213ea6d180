/* client/netcfg.c without a tunnel: the server's strings parsed, and the
 * resolv.conf life cycle on temporary files (apply keeps the first
 * original, restore puts it back once, a file replaced by another program
 * is left alone, a symbolic link is refused, no servers = restore; not
 * root: refused). Needs root (the DNS writer refuses otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netcfg.h"

static char dir[64], resolv[128], backup[128], err[512];

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static char *get(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct rv_netcfg cfg(const char *a, const char *b, const char *search)
{
	struct rv_netcfg c;
	char *dns[2] = {(char *)a, (char *)b};
	assert_int_equal(rv_netcfg_parse(&c, dns,
					 b   ? 2
					 : a ? 1
					     : 0,
					 search, NULL, 0, err, sizeof(err)),
			 0);
	return c;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rv-netcfg.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
	snprintf(backup, sizeof(backup), "%s/lan.dns-backup", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(resolv);
	unlink(backup);
	snprintf(err, sizeof(err), "%s/target", dir);
	unlink(err);
	rmdir(dir);
	return 0;
}

static void test_parse(void **state)
{
	(void)state;
	struct rv_netcfg c;
	Roomvpn__V1__Route r = ROOMVPN__V1__ROUTE__INIT, *rp = &r;
	char *dns[1] = {"10.88.0.53"};
	r.target = "192.168.77.0/24";
	r.via = "10.88.0.5";
	assert_int_equal(rv_netcfg_parse(&c, dns, 1, "lan", &rp, 1, err, sizeof(err)), 0);
	assert_int_equal(c.dns[0], 0x0A580035u);
	assert_int_equal(c.routes[0].dst, 0xC0A84D00u);
	assert_int_equal(c.routes[0].plen, 24);
	assert_int_equal(c.routes[0].via, 0x0A580005u);
	r.via = "nowhere";
	assert_int_equal(rv_netcfg_parse(&c, dns, 1, "", &rp, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad route '192.168.77.0/24' via 'nowhere'"));
	dns[0] = "10.88.0.300";
	assert_int_equal(rv_netcfg_parse(&c, dns, 1, "", NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad DNS server"));
}

static void test_resolv_cycle(void **state)
{
	(void)state;
	const char *orig = "# the host's\nnameserver 192.0.2.1\n";
	put(resolv, orig);
	struct rv_netcfg c = cfg("10.88.0.53", "1.1.1.1", "corp.example");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err)), 0);
	char *now = get(resolv);
	assert_non_null(strstr(now, "# Written by roomvpn for room lan"));
	assert_non_null(
	    strstr(now, "nameserver 10.88.0.53\nnameserver 1.1.1.1\nsearch corp.example\n"));
	assert_null(strstr(now, "192.0.2.1"));
	assert_string_equal(get(backup), orig);

	/* a change while up: the backup keeps the original */
	c = cfg("9.9.9.9", NULL, "");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err)), 0);
	assert_non_null(strstr(get(resolv), "nameserver 9.9.9.9\n"));
	assert_null(strstr(get(resolv), "10.88.0.53"));
	assert_string_equal(get(backup), orig);

	/* no servers any more = restore; a second restore has nothing to do */
	c = cfg(NULL, NULL, "");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err)), 0);
	assert_string_equal(get(resolv), orig);
	assert_null(get(backup));
	assert_int_equal(rv_netcfg_dns_restore(resolv, backup, err, sizeof(err)), 1);
}

static void test_replaced_meanwhile(void **state)
{
	(void)state;
	put(resolv, "nameserver 192.0.2.1\n");
	struct rv_netcfg c = cfg("10.88.0.53", NULL, "");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err)), 0);
	put(resolv, "nameserver 192.0.2.99\n"); /* e.g. a DHCP client */
	assert_int_equal(rv_netcfg_dns_restore(resolv, backup, err, sizeof(err)), 2);
	assert_string_equal(get(resolv), "nameserver 192.0.2.99\n");
	assert_null(get(backup));
}

static void test_symlink_refused(void **state)
{
	(void)state;
	char target[128];
	snprintf(target, sizeof(target), "%s/target", dir);
	put(target, "nameserver 127.0.0.53\n");
	unlink(resolv);
	assert_int_equal(symlink(target, resolv), 0);
	struct rv_netcfg c = cfg("10.88.0.53", NULL, "");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_string_equal(get(target), "nameserver 127.0.0.53\n");
	assert_null(get(backup));
}

/* Not root: refused with a message, the file untouched (a child drops to
 * uid 65534 for the call). */
static void test_not_root_refused(void **state)
{
	(void)state;
	put(resolv, "nameserver 192.0.2.1\n");
	struct rv_netcfg c = cfg("10.88.0.53", NULL, "");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (seteuid(65534) != 0)
			_exit(2);
		int rc = rv_netcfg_dns_apply(resolv, backup, "lan", &c, err, sizeof(err));
		_exit(rc == -1 && strstr(err, "not running as root") ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(get(resolv), "nameserver 192.0.2.1\n");
	assert_null(get(backup));
}

/* IPv6 from the server's strings: DNS servers and routes of both families
 * sorted into their lists; resolv.conf lists IPv4 servers, then IPv6. */
static void test_ipv6(void **state)
{
	(void)state;
	struct rv_netcfg c;
	Roomvpn__V1__Route r[2] = {ROOMVPN__V1__ROUTE__INIT, ROOMVPN__V1__ROUTE__INIT};
	Roomvpn__V1__Route *rp[2] = {&r[0], &r[1]};
	char *dns[3] = {"10.88.0.53", "fd12:3456:789a:1::35", "2001:db8::53"};
	r[0].target = "fd00:50::/64";
	r[0].via = "fd12:3456:789a:1::5";
	r[1].target = "192.168.77.0/24";
	r[1].via = "10.88.0.5";
	assert_int_equal(rv_netcfg_parse(&c, dns, 3, "lan", rp, 2, err, sizeof(err)), 0);
	assert_int_equal(c.n_dns, 1);
	assert_int_equal(c.n_dns6, 2);
	assert_int_equal(c.dns6[0][0], 0xfd);
	assert_int_equal(c.dns6[1][15], 0x53);
	assert_int_equal(c.n_routes, 1);
	assert_int_equal(c.n_routes6, 1);
	assert_int_equal(c.routes6[0].plen, 64);
	assert_int_equal(c.routes6[0].dst[1], 0x00);
	assert_int_equal(c.routes6[0].dst[3], 0x50);
	assert_int_equal(c.routes6[0].via[15], 5);
	r[0].via = "10.88.0.5"; /* an IPv6 target needs an IPv6 via */
	assert_int_equal(rv_netcfg_parse(&c, dns, 3, "", rp, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad route 'fd00:50::/64'"));
	r[0].via = "fd12:3456:789a:1::5";
	r[0].target = "fd00:50::/129";
	assert_int_equal(rv_netcfg_parse(&c, dns, 3, "", rp, 2, err, sizeof(err)), -1);
	dns[1] = "fd12::zz";
	assert_int_equal(rv_netcfg_parse(&c, dns, 3, "", NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad DNS server 'fd12::zz'"));

	put(resolv, "nameserver 192.0.2.1\n");
	struct rv_netcfg only6 = cfg("2001:db8::53", NULL, "");
	assert_int_equal(only6.n_dns, 0);
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &only6, err, sizeof(err)), 0);
	assert_non_null(strstr(get(resolv), "\nnameserver 2001:db8::53\n"));
	struct rv_netcfg both = cfg("2001:db8::53", "10.88.0.53", "");
	assert_int_equal(rv_netcfg_dns_apply(resolv, backup, "lan", &both, err, sizeof(err)), 0);
	assert_non_null(strstr(get(resolv), "nameserver 10.88.0.53\nnameserver 2001:db8::53\n"));
	assert_int_equal(rv_netcfg_dns_restore(resolv, backup, err, sizeof(err)), 0);
	assert_string_equal(get(resolv), "nameserver 192.0.2.1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_resolv_cycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replaced_meanwhile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_root_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	};
	if (geteuid() != 0) {
		fprintf(stderr, "netcfg_test: needs root\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
