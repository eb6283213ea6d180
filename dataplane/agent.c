/* The agent thread: a unix-socket server (poll) for the agent protocol.
 * Requests are handled in agent_apply.c; this file owns the socket, the
 * clients, their buffers, and the periodic key expiry. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent_proto.h"
#include "fd_reserve.h"
#include "log.h"
#include "session_table.h"

#define POLL_MS		200
#define EXPIRE_EVERY_NS 1000000000ull
#define READ_CHUNK	65536
/* Stop reading from a client that does not read its replies. */
#define OUT_PENDING_MAX (2ull * RV_AGENT_MSG_MAX)

struct client {
	int fd;
	unsigned id;
	struct rv_agent_reader rd;
	uint8_t *out; /* pending reply bytes: out[out_off..out_len) */
	size_t out_len, out_off;
	bool eof;	       /* the client shut down its side: close once replies are out */
	uint64_t msg_start_ns; /* first byte of the partial message */
};

static struct {
	bool running;
	pthread_t thread;
	int listen_fd;
	int stop_fd; /* eventfd: rv_agent_stop() wakes the poll */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned max_clients;
	unsigned next_client_id;
	uint32_t max_sessions, msg_max;
	uint64_t msg_timeout_ns;
	int reserve_fd;		/* /dev/null, given up to accept and shed at EMFILE */
	struct client *clients; /* max_clients entries, fd -1 = free */
	struct pollfd *pfd;	/* 2 + max_clients */
	sem_t started;		/* the thread posts once it knows start_rc */
	int start_rc;
} ag = {.listen_fd = -1, .stop_fd = -1, .reserve_fd = -1};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void client_close(struct client *c, const char *why)
{
	if (why)
		rv_log_ratelimited(RV_LOG_WARN, "agent: client %u closed: %s", c->id, why);
	close(c->fd);
	if (c->rd.body)
		OPENSSL_cleanse(c->rd.body, c->rd.have);
	rv_agent_reader_reset(&c->rd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Append a packed reply; compacts the buffer first. */
static int client_queue(struct client *c, uint8_t *msg, size_t len)
{
	size_t pending = c->out_len - c->out_off;
	if (pending == 0) {
		free(c->out);
		c->out = msg;
		c->out_len = len;
		c->out_off = 0;
		return 0;
	}
	memmove(c->out, c->out + c->out_off, pending);
	uint8_t *p = realloc(c->out, pending + len);
	if (!p) {
		free(msg);
		return -1;
	}
	memcpy(p + pending, msg, len);
	free(msg);
	c->out = p;
	c->out_len = pending + len;
	c->out_off = 0;
	return 0;
}

/* Non-blocking write of what is pending. -1: the client is gone. */
static int client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		c->out_off += (size_t)n;
	}
	return 0;
}

static int client_message(struct client *c)
{
	uint8_t *reply;
	size_t reply_len;
	int rc = rv_agent_process(c->rd.body, c->rd.len, &reply, &reply_len);
	OPENSSL_cleanse(c->rd.body, c->rd.len); /* may hold key material */
	rv_agent_reader_reset(&c->rd);
	if (rc < 0)
		return -1;
	return client_queue(c, reply, reply_len);
}

/* Read what is there, handle every whole message. -1 closes the client. */
static int client_read(struct client *c)
{
	static uint8_t buf[READ_CHUNK];
	char err[160];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n == 0 && c->out_off < c->out_len) {
		c->eof = true; /* half-closed: finish sending the replies first */
		return 0;
	}
	if (n <= 0) {
		client_close(c, n < 0 ? strerror(errno) : NULL);
		return -1;
	}
	if (!rv_agent_reader_partial(&c->rd))
		c->msg_start_ns = mono_ns();
	size_t off = 0;
	while (off < (size_t)n) {
		size_t used;
		enum rv_agent_feed f = rv_agent_reader_feed(&c->rd, buf + off, (size_t)n - off,
							    &used, err, sizeof(err));
		off += used;
		if (f == RV_AGENT_FEED_ERR) {
			OPENSSL_cleanse(buf, sizeof(buf));
			client_close(c, err);
			return -1;
		}
		if (f == RV_AGENT_FEED_MSG && client_message(c) < 0) {
			OPENSSL_cleanse(buf, sizeof(buf));
			client_close(c, "out of memory for a reply");
			return -1;
		}
		if (f == RV_AGENT_FEED_MSG) /* the next message starts here */
			c->msg_start_ns = mono_ns();
	}
	OPENSSL_cleanse(buf, (size_t)n);
	if (client_flush(c) < 0) {
		client_close(c, strerror(errno));
		return -1;
	}
	return 0;
}

/* At EMFILE the listener stays readable and poll() would return at once,
 * forever: give up the reserve descriptor, accept and close, take it back. */
static void shed_at_fd_limit(void)
{
	rv_log_ratelimited(RV_LOG_WARN, "agent: accept: %s: refusing a client", strerror(errno));
	rv_fd_reserve_shed(ag.listen_fd, &ag.reserve_fd);
}

static void accept_client(void)
{
	int fd = accept4(ag.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			shed_at_fd_limit();
		else if (errno != EAGAIN && errno != EINTR)
			rv_log_ratelimited(RV_LOG_WARN, "agent: accept: %s", strerror(errno));
		return;
	}
	for (unsigned i = 0; i < ag.max_clients; i++) {
		struct client *c = &ag.clients[i];
		if (c->fd >= 0)
			continue;
		rv_agent_reader_init(&c->rd);
		c->rd.max = ag.msg_max;
		c->fd = fd;
		c->id = ++ag.next_client_id;
		rv_log(RV_LOG_DEBUG, "agent: client %u connected", c->id);
		return;
	}
	rv_log_ratelimited(RV_LOG_WARN, "agent: refusing a client: %u clients already connected",
			   ag.max_clients);
	close(fd);
}

/* pfd[0] stop, pfd[1] listen, pfd[2 + i] client i (fd -1 if free). */
static void build_pollset(struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){.fd = ag.stop_fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = ag.listen_fd, .events = POLLIN};
	for (unsigned i = 0; i < ag.max_clients; i++) {
		struct client *c = &ag.clients[i];
		short ev = 0;
		if (!c->eof && c->out_len - c->out_off < OUT_PENDING_MAX)
			ev |= POLLIN; /* back-pressure: a client that doesn't read waits */
		if (c->out_off < c->out_len)
			ev |= POLLOUT;
		pfd[2 + i] = (struct pollfd){.fd = c->fd, .events = ev};
	}
}

static void serve_clients(const struct pollfd *pfd)
{
	for (unsigned i = 0; i < ag.max_clients; i++) {
		struct client *c = &ag.clients[i];
		short re = pfd[2 + i].revents;
		if (c->fd < 0 || !re)
			continue;
		if ((re & POLLOUT) && client_flush(c) < 0) {
			client_close(c, strerror(errno));
			continue;
		}
		if (c->eof && c->out_off == c->out_len) {
			client_close(c, NULL);
			continue;
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			client_read(c);
	}
}

/* A client that starts a message and never finishes it must not hold its
 * buffer and its slot. */
static void expire_partial(uint64_t now)
{
	for (unsigned i = 0; i < ag.max_clients; i++) {
		struct client *c = &ag.clients[i];
		if (c->fd >= 0 && rv_agent_reader_partial(&c->rd) &&
		    now - c->msg_start_ns > ag.msg_timeout_ns)
			client_close(c, "partial message timed out");
	}
}

static void *agent_main(void *arg)
{
	struct pollfd *pfd = ag.pfd;
	uint64_t next_expire = mono_ns() + EXPIRE_EVERY_NS;
	(void)arg;
	ag.start_rc = rv_st_writer_register();
	sem_post(&ag.started);
	if (ag.start_rc < 0)
		return NULL;
	for (;;) {
		build_pollset(pfd);
		rv_st_writer_idle(); /* QSBR: offline while blocked */
		int n = poll(pfd, 2 + ag.max_clients, POLL_MS);
		if (n < 0 && errno != EINTR) {
			rv_log(RV_LOG_ERROR, "agent: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		if (n > 0 && pfd[1].revents)
			accept_client();
		if (n > 0)
			serve_clients(pfd);
		uint64_t now = mono_ns();
		expire_partial(now);
		if (now >= next_expire) {
			rv_st_expire(now);
			next_expire = now + EXPIRE_EVERY_NS;
		}
	}
	rv_st_writer_unregister();
	return NULL;
}

/* Refuse to steal the socket of a running data plane; remove a stale one. */
static int claim_path(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat stt;
	if (lstat(sa->sun_path, &stt) < 0)
		return 0;
	if (!S_ISSOCK(stt.st_mode)) {
		snprintf(err, errlen, "agent socket %s exists and is not a socket", sa->sun_path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "agent socket %s is in use by another process", sa->sun_path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	unlink(sa->sun_path);
	return 0;
}

/* /run/roomvpn may not exist yet: create the last directory (0700). */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "agent socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "agent socket path must be 1..%zu bytes",
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (make_parent(path, err, errlen) < 0 || claim_path(&sa, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err_errno;
	/* No client can connect between bind and listen: chmod before listen.
	 * 0660: the group is the control plane's (the unit's Group=roomvpn). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto err_close;
	if (chmod(path, 0660) < 0 || listen(fd, 16) < 0)
		goto err_unlink;
	return fd;
err_unlink:
	unlink(path);
err_close:
	snprintf(err, errlen, "agent socket %s: %s", path, strerror(errno));
	close(fd);
	return -1;
err_errno:
	snprintf(err, errlen, "agent socket: %s", strerror(errno));
	return -1;
}

int rv_agent_start(const struct rv_agent_params *p, char *err, size_t errlen)
{
	if (ag.running) {
		snprintf(err, errlen, "agent already running");
		return -1;
	}
	ag.max_clients = p->max_clients ? p->max_clients : RV_AGENT_DEFAULT_MAX_CLIENTS;
	ag.max_sessions = p->max_sessions;
	ag.msg_max = p->msg_max ? p->msg_max : rv_agent_msg_max(p->max_sessions);
	ag.msg_timeout_ns =
	    (uint64_t)(p->msg_timeout_ms ? p->msg_timeout_ms : RV_AGENT_DEFAULT_MSG_TIMEOUT_MS) *
	    1000000ull;
	ag.clients = calloc(ag.max_clients, sizeof(*ag.clients));
	ag.pfd = calloc(2 + ag.max_clients, sizeof(*ag.pfd));
	if (!ag.clients || !ag.pfd) {
		snprintf(err, errlen, "agent: out of memory");
		goto err_free;
	}
	for (unsigned i = 0; i < ag.max_clients; i++)
		ag.clients[i].fd = -1;
	ag.listen_fd = open_socket(p->socket_path, err, errlen);
	if (ag.listen_fd < 0)
		goto err_free;
	snprintf(ag.path, sizeof(ag.path), "%s", p->socket_path);
	ag.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ag.reserve_fd = rv_fd_reserve_open();
	if (ag.stop_fd < 0 || ag.reserve_fd < 0) {
		snprintf(err, errlen, "agent: eventfd: %s", strerror(errno));
		goto err_socket;
	}
	sem_init(&ag.started, 0, 0);
	int rc = pthread_create(&ag.thread, NULL, agent_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "agent: pthread_create: %s", strerror(rc));
		goto err_sem;
	}
	pthread_setname_np(ag.thread, "rv-agent");
	while (sem_wait(&ag.started) < 0 && errno == EINTR)
		;
	if (ag.start_rc < 0) {
		pthread_join(ag.thread, NULL);
		snprintf(err, errlen, "agent: cannot become the table writer (one already exists)");
		goto err_sem;
	}
	ag.running = true;
	return 0;
err_sem:
	sem_destroy(&ag.started);
err_socket:
	if (ag.stop_fd >= 0)
		close(ag.stop_fd);
	if (ag.reserve_fd >= 0)
		close(ag.reserve_fd);
	ag.stop_fd = ag.reserve_fd = -1;
	close(ag.listen_fd);
	unlink(ag.path);
	ag.listen_fd = -1;
err_free:
	free(ag.pfd);
	free(ag.clients);
	ag.pfd = NULL;
	ag.clients = NULL;
	return -1;
}

void rv_agent_stop(void)
{
	if (!ag.running)
		return;
	uint64_t one = 1;
	if (write(ag.stop_fd, &one, sizeof(one)) < 0)
		rv_log(RV_LOG_ERROR, "agent: cannot signal stop: %s", strerror(errno));
	pthread_join(ag.thread, NULL);
	for (unsigned i = 0; i < ag.max_clients; i++)
		if (ag.clients[i].fd >= 0)
			client_close(&ag.clients[i], NULL);
	close(ag.listen_fd);
	close(ag.stop_fd);
	close(ag.reserve_fd);
	unlink(ag.path);
	sem_destroy(&ag.started);
	free(ag.clients);
	free(ag.pfd);
	ag.clients = NULL;
	ag.pfd = NULL;
	ag.listen_fd = ag.stop_fd = ag.reserve_fd = -1;
	ag.max_sessions = 0;
	ag.running = false;
}

uint32_t rv_agent_max_sessions(void)
{
	return ag.max_sessions;
}
