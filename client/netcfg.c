/* Managed routes and DNS of a room on this host (netcfg.h). */
#include "netcfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inet.h"
#include "log.h"
#include "netlink.h"

#define MARK	 "# Written by roomvpn"
#define FILE_MAX 65536

static int parse_addr(const char *s, uint32_t *out)
{
	struct in_addr in;
	if (!s || inet_pton(AF_INET, s, &in) != 1)
		return -1;
	*out = ntohl(in.s_addr);
	return 0;
}

static bool is_v6(const char *s)
{
	return s && strchr(s, ':');
}

/* "addr/len" (IPv6): 0 or -1. */
static int parse_cidr6(const char *s, uint8_t dst[16], uint8_t *plen)
{
	char a[INET6_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end;
	if (!slash || (size_t)(slash - s) >= sizeof(a))
		return -1;
	snprintf(a, sizeof(a), "%.*s", (int)(slash - s), s);
	long p = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end || p < 0 || p > 128 || inet_pton(AF_INET6, a, dst) != 1)
		return -1;
	*plen = (uint8_t)p;
	return 0;
}

static int parse_route(struct rv_netcfg *out, const Roomvpn__V1__Route *in)
{
	if (is_v6(in->target)) {
		if (out->n_routes6 == RV_NETCFG_ROUTES_MAX)
			return -1;
		struct rv_netcfg_route6 *r = &out->routes6[out->n_routes6++];
		return parse_cidr6(in->target, r->dst, &r->plen) < 0 || !in->via ||
			       inet_pton(AF_INET6, in->via, r->via) != 1
			   ? -1
			   : 0;
	}
	if (out->n_routes == RV_NETCFG_ROUTES_MAX)
		return -1;
	struct rv_netcfg_route *r = &out->routes[out->n_routes++];
	return rv_parse_cidr(in->target, &r->dst, &r->plen) < 0 || parse_addr(in->via, &r->via) < 0
		   ? -1
		   : 0;
}

int rv_netcfg_parse(struct rv_netcfg *out, char *const *dns, size_t n_dns, const char *search,
		    Roomvpn__V1__Route *const *routes, size_t n_routes, char *err, size_t errlen)
{
	*out = (struct rv_netcfg){0};
	if (n_dns > RV_NETCFG_DNS_MAX || n_routes > 2 * RV_NETCFG_ROUTES_MAX ||
	    strlen(search ? search : "") >= RV_NETCFG_SEARCH_MAX) {
		snprintf(err, errlen, "too many DNS servers (%zu) or routes (%zu)", n_dns,
			 n_routes);
		return -1;
	}
	for (size_t i = 0; i < n_dns; i++) {
		int rc = is_v6(dns[i]) ? inet_pton(AF_INET6, dns[i], out->dns6[out->n_dns6++]) == 1
				       : parse_addr(dns[i], &out->dns[out->n_dns++]) == 0;
		if (!rc) {
			snprintf(err, errlen, "bad DNS server '%.46s' from the server", dns[i]);
			return -1;
		}
	}
	snprintf(out->search, sizeof(out->search), "%s", search ? search : "");
	for (size_t i = 0; i < n_routes; i++) {
		if (parse_route(out, routes[i]) < 0) {
			snprintf(err, errlen,
				 "bad route '%.46s' via '%.46s' from the server (or more "
				 "than %d of a family)",
				 routes[i]->target, routes[i]->via, RV_NETCFG_ROUTES_MAX);
			return -1;
		}
	}
	return 0;
}

/* ---- routes ---- */

static bool has_route(const struct rv_netcfg *c, const struct rv_netcfg_route *r)
{
	for (unsigned i = 0; i < c->n_routes; i++)
		if (c->routes[i].dst == r->dst && c->routes[i].plen == r->plen)
			return true;
	return false;
}

static void note_failure(char *err, size_t errlen, size_t *used, const char *what,
			 const struct rv_netcfg_route *r, int rc)
{
	if (*used >= errlen)
		return;
	int n = snprintf(err + *used, errlen - *used, "%s%s %u.%u.%u.%u/%u: %s", *used ? "; " : "",
			 what, r->dst >> 24, (r->dst >> 16) & 255, (r->dst >> 8) & 255,
			 r->dst & 255, r->plen, rv_nl_strerror(rc));
	if (n > 0)
		*used += (size_t)n;
}

/* ---- IPv6 routes: the same two steps ---- */

static bool same6(const struct rv_netcfg_route6 *a, const struct rv_netcfg_route6 *b)
{
	return a->plen == b->plen && !memcmp(a->dst, b->dst, 16);
}

static void note_failure6(char *err, size_t errlen, size_t *used, const char *what,
			  const struct rv_netcfg_route6 *r, int rc)
{
	char a[INET6_ADDRSTRLEN];
	if (*used >= errlen)
		return;
	inet_ntop(AF_INET6, r->dst, a, sizeof(a));
	int n = snprintf(err + *used, errlen - *used, "%s%s %s/%u: %s", *used ? "; " : "", what, a,
			 r->plen, rv_nl_strerror(rc));
	if (n > 0)
		*used += (size_t)n;
}

static void routes6_sync(struct rv_nl *nl, unsigned ifindex, const uint8_t *self6,
			 const struct rv_netcfg *want, struct rv_netcfg *have, char *err,
			 size_t errlen, size_t *used)
{
	struct rv_netcfg_route6 now[RV_NETCFG_ROUTES_MAX];
	unsigned n_now = 0;
	int rc;
	for (unsigned i = 0; i < have->n_routes6; i++) {
		const struct rv_netcfg_route6 *r = &have->routes6[i];
		bool keep = false;
		for (unsigned j = 0; j < want->n_routes6; j++)
			keep |= same6(&want->routes6[j], r) &&
				!(self6 && !memcmp(want->routes6[j].via, self6, 16));
		rc = keep ? 0 : rv_nl_route6_del(nl, ifindex, r->dst, r->plen);
		if (rc && rc != -ESRCH)
			note_failure6(err, errlen, used, "remove route", r, rc);
		if (keep)
			now[n_now++] = *r;
	}
	for (unsigned j = 0; j < want->n_routes6; j++) {
		const struct rv_netcfg_route6 *r = &want->routes6[j];
		bool have_it = false;
		for (unsigned i = 0; i < n_now; i++)
			have_it |= same6(&now[i], r);
		if ((self6 && !memcmp(r->via, self6, 16)) || have_it)
			continue;
		rc = rv_nl_route6_add_new(nl, ifindex, r->dst, r->plen, RV_NETCFG_ROUTE_METRIC);
		if (rc == -EEXIST) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, r->dst, a, sizeof(a));
			rv_log(
			    RV_LOG_WARN,
			    "managed route %s/%u: this host has its own route there (metric %u): "
			    "left alone",
			    a, r->plen, RV_NETCFG_ROUTE_METRIC);
		} else if (rc)
			note_failure6(err, errlen, used, "add route", r, rc);
		else
			now[n_now++] = *r;
	}
	have->n_routes6 = n_now;
	memcpy(have->routes6, now, sizeof(now));
}

int rv_netcfg_routes_sync(unsigned ifindex, uint32_t self, const uint8_t *self6,
			  const struct rv_netcfg *want, struct rv_netcfg *have, char *err,
			  size_t errlen)
{
	struct rv_netcfg now = {0};
	struct rv_nl nl;
	size_t used = 0;
	int rc = rv_nl_open(&nl);

	if (rc) {
		snprintf(err, errlen, "netlink socket: %s", rv_nl_strerror(rc));
		return -1;
	}
	/* step 1: routes no longer wanted (or now via this device) go */
	for (unsigned i = 0; i < have->n_routes; i++) {
		const struct rv_netcfg_route *r = &have->routes[i];
		bool keep = false;
		for (unsigned j = 0; j < want->n_routes; j++)
			keep |= want->routes[j].dst == r->dst && want->routes[j].plen == r->plen &&
				want->routes[j].via != self;
		rc = keep ? 0 : rv_nl_route_del(&nl, ifindex, r->dst, r->plen);
		if (rc && rc != -ESRCH)
			note_failure(err, errlen, &used, "remove route", r, rc);
		if (keep)
			now.routes[now.n_routes++] = *r;
	}
	/* step 2: the new ones come (replacing a route to the same target) */
	for (unsigned j = 0; j < want->n_routes; j++) {
		const struct rv_netcfg_route *r = &want->routes[j];
		if (r->via == self || has_route(&now, r))
			continue;
		rc = rv_nl_route_add_new(&nl, ifindex, r->dst, r->plen, RV_NETCFG_ROUTE_METRIC);
		if (rc == -EEXIST)
			rv_log(RV_LOG_WARN,
			       "managed route %u.%u.%u.%u/%u: this host has its own route there "
			       "(metric %u): left alone",
			       r->dst >> 24, (r->dst >> 16) & 255, (r->dst >> 8) & 255,
			       r->dst & 255, r->plen, RV_NETCFG_ROUTE_METRIC);
		else if (rc)
			note_failure(err, errlen, &used, "add route", r, rc);
		else
			now.routes[now.n_routes++] = *r;
	}
	routes6_sync(&nl, ifindex, self6, want, have, err, errlen, &used);
	rv_nl_close(&nl);
	have->n_routes = now.n_routes;
	memcpy(have->routes, now.routes, sizeof(now.routes));
	return used ? -1 : 0;
}

/* ---- /etc/resolv.conf ---- */

/* The whole file into a malloc'd, NUL-terminated buffer (NULL + errno). */
static char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = fd >= 0 ? malloc(FILE_MAX + 1) : NULL;
	ssize_t n = 0, got;

	if (!buf) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (n < FILE_MAX && (got = read(fd, buf + n, FILE_MAX - (size_t)n)) > 0)
		n += got;
	close(fd);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Replace the content of @path in place (it may be a bind mount, as under
 * `ip netns exec`: it can't be renamed over). */
static int write_all(const char *path, const char *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | flags, 0644);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	return fsync(fd) == 0 ? close(fd) : (close(fd), -1);
}

static int save_backup(const char *resolv, const char *backup, char *err, size_t errlen)
{
	size_t len = 0;
	char *old;

	if (access(backup, F_OK) == 0)
		return 0; /* ours from before: the original stays in it */
	old = read_all(resolv, &len);
	if (!old && errno != ENOENT) {
		snprintf(err, errlen, "read %s: %s", resolv, strerror(errno));
		return -1;
	}
	if (write_all(backup, old ? old : "", len, O_CREAT | O_EXCL) < 0) {
		snprintf(err, errlen, "back up %s to %s: %s", resolv, backup, strerror(errno));
		free(old);
		return -1;
	}
	free(old);
	return 0;
}

static int compose(char *buf, size_t cap, const char *room, const char *backup,
		   const struct rv_netcfg *c)
{
	int n = snprintf(buf, cap,
			 MARK " for room %s while its tunnel is up; the previous file\n"
			      "# comes back when it goes down (saved in %s).\n",
			 room, backup);
	for (unsigned i = 0; i < c->n_dns && n > 0 && (size_t)n < cap; i++)
		n += snprintf(buf + n, cap - (size_t)n, "nameserver %u.%u.%u.%u\n", c->dns[i] >> 24,
			      (c->dns[i] >> 16) & 255, (c->dns[i] >> 8) & 255, c->dns[i] & 255);
	for (unsigned i = 0; i < c->n_dns6 && n > 0 && (size_t)n < cap; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, c->dns6[i], a, sizeof(a));
		n += snprintf(buf + n, cap - (size_t)n, "nameserver %s\n", a);
	}
	if (c->search[0] && n > 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "search %s\n", c->search);
	return n > 0 && (size_t)n < cap ? n : -1;
}

int rv_netcfg_dns_apply(const char *resolv, const char *backup, const char *room,
			const struct rv_netcfg *c, char *err, size_t errlen)
{
	char buf[4096];
	struct stat st;
	int n;

	if (!c->n_dns && !c->n_dns6)
		return rv_netcfg_dns_restore(resolv, backup, err, errlen) < 0 ? -1 : 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "not running as root: %s left alone (DNS not applied)",
			 resolv);
		return -1;
	}
	if (lstat(resolv, &st) == 0 && S_ISLNK(st.st_mode)) {
		snprintf(err, errlen,
			 "%s is a symbolic link (another program such as systemd-resolved manages "
			 "it): DNS not applied",
			 resolv);
		return -1;
	}
	n = compose(buf, sizeof(buf), room, backup, c);
	if (n < 0 || save_backup(resolv, backup, err, errlen) < 0) {
		if (n < 0)
			snprintf(err, errlen, "DNS settings too long");
		return -1;
	}
	if (write_all(resolv, buf, (size_t)n, O_CREAT) < 0) {
		snprintf(err, errlen, "write %s: %s", resolv, strerror(errno));
		return -1;
	}
	return 0;
}

int rv_netcfg_dns_restore(const char *resolv, const char *backup, char *err, size_t errlen)
{
	size_t len = 0, cur_len = 0;
	char *old = read_all(backup, &len), *cur;
	int rc = 0;

	if (!old)
		return errno == ENOENT
			   ? 1
			   : (snprintf(err, errlen, "read %s: %s", backup, strerror(errno)), -1);
	cur = read_all(resolv, &cur_len);
	if (!cur || strncmp(cur, MARK, strlen(MARK)) != 0)
		rc = 2; /* someone else's file by now: theirs stays */
	else if (write_all(resolv, old, len, 0) < 0) {
		snprintf(err, errlen, "restore %s from %s: %s", resolv, backup, strerror(errno));
		rc = -1;
	}
	free(old);
	free(cur);
	if (rc >= 0)
		unlink(backup);
	return rc;
}
