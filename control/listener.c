/* Connection cap and EMFILE-proof accept for the gRPC listener (listener.h).
 *
 * The registry is one array of live connections, oldest first, under one
 * mutex; accepts and token checks are rare next to the work they start.
 * grpc closes its descriptors without telling us, so an entry is known by
 * descriptor and socket inode, and entries whose descriptor no longer holds
 * that inode are swept before the cap is checked. A connection is "shut"
 * once shutdown(2) was called on it: grpc then sees end-of-file, closes the
 * descriptor, and the next sweep forgets it. */
#include "listener.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define MAX_LISTENERS 4
#define PEER_LEN      64

struct conn {
	int fd;
	ino_t ino;
	bool authed, shut;
	char peer[PEER_LEN]; /* grpc's form of the remote address */
};

static struct {
	pthread_mutex_t mu;
	int lfd[MAX_LISTENERS];
	int n_lfd; /* 0: not watching */
	int reserve;
	unsigned cap;
	struct conn *c; /* oldest first */
	size_t n, size;
	uint64_t evicted, refused;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .reserve = -1};

static int sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	return (int)syscall(SYS_accept4, fd, sa, len, flags);
}

uint64_t rv_listener_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : (uint64_t)rl.rlim_cur;
}

unsigned rv_listener_default_cap(uint64_t nofile)
{
	uint64_t keep = nofile / 4 < 64 ? 64 : nofile / 4;
	uint64_t cap = nofile > keep + 16 ? nofile - keep : 16;
	return cap > 1000000 ? 1000000 : (unsigned)cap;
}

/* grpc's peer string for @sa: "ipv4:a.b.c.d:port" (v4-mapped too) or
 * "ipv6:[addr]:port". */
static void peer_string(const struct sockaddr_storage *sa, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	const struct sockaddr_in6 *v6 = (const void *)sa;
	const struct sockaddr_in *v4 = (const void *)sa;

	if (sa->ss_family == AF_INET) {
		inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
		snprintf(out, len, "ipv4:%s:%u", a, ntohs(v4->sin_port));
	} else if (sa->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
		inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], a, sizeof(a));
		snprintf(out, len, "ipv4:%s:%u", a, ntohs(v6->sin6_port));
	} else if (sa->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "ipv6:[%s]:%u", a, ntohs(v6->sin6_port));
	} else {
		snprintf(out, len, "?");
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

void rv_listener_peer_text(const char *grpc_peer, char *out, size_t len)
{
	size_t n = 0;
	for (const char *p = grpc_peer; *p && n + 1 < len; p++) {
		int hi = p[0] == '%' ? hex_digit(p[1]) : -1, lo = hi >= 0 ? hex_digit(p[2]) : -1;
		if (lo >= 0) {
			out[n++] = (char)(hi << 4 | lo);
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	if (len)
		out[n] = '\0';
}

static bool same_socket(const struct conn *c)
{
	struct stat st;
	return fstat(c->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == c->ino;
}

/* Under L.mu: forgets any entry for @fd (the kernel just handed that
 * number out again) and, with @all, every entry whose descriptor grpc
 * closed or reused. */
static void sweep(int fd, bool all)
{
	size_t j = 0;
	for (size_t i = 0; i < L.n; i++)
		if (L.c[i].fd != fd && (!all || same_socket(&L.c[i])))
			L.c[j++] = L.c[i];
	L.n = j;
}

static size_t live_count(void)
{
	size_t live = 0;
	for (size_t i = 0; i < L.n; i++)
		live += !L.c[i].shut;
	return live;
}

/* Under L.mu: shuts down the oldest live connection that has not carried
 * an authenticated call. false when every live one has. */
static bool evict_oldest(void)
{
	for (size_t i = 0; i < L.n; i++) {
		struct conn *c = &L.c[i];
		if (c->shut || c->authed)
			continue;
		c->shut = true;
		/* checked just before: the descriptor still holds this socket */
		if (same_socket(c))
			shutdown(c->fd, SHUT_RDWR);
		L.evicted++;
		rv_log(RV_LOG_DEBUG, "listener: at the cap of %u connections, closing %s", L.cap,
		       c->peer);
		return true;
	}
	return false;
}

/* Under L.mu: registers a new connection, making room first. false: no
 * room (every live connection is authenticated); the caller closes it. */
static bool admit(int fd, const struct sockaddr_storage *sa)
{
	struct stat st;

	sweep(fd, false);
	if (live_count() >= L.cap)
		sweep(-1, true);
	if (live_count() >= L.cap && !evict_oldest())
		return false;
	if (L.n == L.size)
		sweep(-1, true);
	if (L.n == L.size) {
		size_t size = L.size ? 2 * L.size : 256;
		struct conn *c = realloc(L.c, size * sizeof(*c));
		if (!c)
			return false;
		L.c = c;
		L.size = size;
	}
	struct conn *c = &L.c[L.n++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
	peer_string(sa, c->peer, sizeof(c->peer));
	return true;
}

/* Out of descriptors: take the pending connection with the reserve's
 * number and close it at once, so the listener's backlog keeps moving.
 * -1 with errno EAGAIN once the backlog is empty (or no reserve is left). */
static int drop_pending(int lfd)
{
	if (L.reserve < 0) {
		L.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
		errno = EAGAIN;
		return -1;
	}
	close(L.reserve);
	int fd = sys_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int saved = errno;
	if (fd >= 0) {
		close(fd);
		L.refused++;
	}
	L.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	errno = fd >= 0 ? 0 : saved;
	return fd >= 0 ? 0 : -1;
}

static bool watched(int fd)
{
	for (int i = 0; i < L.n_lfd; i++)
		if (L.lfd[i] == fd)
			return true;
	return false;
}

/* Called by grpc's tcp server (and anything else in the process);
 * glibc's declaration takes the address as a transparent union. */
int accept4(int lfd, __SOCKADDR_ARG addr_arg, socklen_t *addrlen, int flags)
{
	struct sockaddr *addr = addr_arg.__sockaddr__;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	pthread_mutex_lock(&L.mu);
	if (!watched(lfd)) {
		pthread_mutex_unlock(&L.mu);
		return sys_accept4(lfd, addr, addrlen, flags);
	}
	for (;;) {
		int fd = sys_accept4(lfd, (struct sockaddr *)&ss, &sslen, flags);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* room for later ones: the oldest unauthenticated goes */
			evict_oldest();
			if (drop_pending(lfd) == 0)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				errno = EAGAIN; /* never let grpc see it: it stops listening */
		}
		if (fd < 0) {
			int saved = errno;
			pthread_mutex_unlock(&L.mu);
			errno = saved;
			return -1;
		}
		if (!admit(fd, &ss)) {
			L.refused++;
			close(fd);
			sslen = sizeof(ss);
			continue;
		}
		pthread_mutex_unlock(&L.mu);
		if (addr && addrlen) {
			socklen_t n = *addrlen < sslen ? *addrlen : sslen;
			memcpy(addr, &ss, n);
			*addrlen = sslen;
		}
		return fd;
	}
}

/* A listening TCP socket bound to @port? */
static bool is_listener(int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int on = 0;
	socklen_t olen = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) != 0 || !on ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port;
	return false;
}

int rv_listener_watch(int port, unsigned cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int lfd[MAX_LISTENERS], n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) && n < MAX_LISTENERS) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && is_listener(fd, port))
			lfd[n++] = fd;
	}
	closedir(d);
	if (n == 0)
		return -1;
	pthread_mutex_lock(&L.mu);
	memcpy(L.lfd, lfd, sizeof(lfd));
	L.n_lfd = n;
	L.cap = cap;
	if (L.reserve < 0)
		L.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&L.mu);
	rv_log(RV_LOG_INFO, "listener: at most %u connections on port %d", cap, port);
	return 0;
}

void rv_listener_unwatch(void)
{
	pthread_mutex_lock(&L.mu);
	L.n_lfd = 0;
	free(L.c);
	L.c = NULL;
	L.n = L.size = 0;
	if (L.reserve >= 0)
		close(L.reserve);
	L.reserve = -1;
	pthread_mutex_unlock(&L.mu);
}

void rv_listener_authenticated(const char *peer)
{
	pthread_mutex_lock(&L.mu);
	for (size_t i = L.n; i-- > 0;) /* newest first: a reused address is the live one */
		if (strcmp(L.c[i].peer, peer) == 0) {
			L.c[i].authed = true;
			break;
		}
	pthread_mutex_unlock(&L.mu);
}

void rv_listener_stats(struct rv_listener_stats *st)
{
	pthread_mutex_lock(&L.mu);
	st->live = live_count();
	st->cap = L.n_lfd ? L.cap : 0;
	st->evicted = L.evicted;
	st->refused = L.refused;
	pthread_mutex_unlock(&L.mu);
}
