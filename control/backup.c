/* Online backup (RocksDB checkpoint + the TLS files clients pin) taken by
 * the running server on request over a local socket, and restore into a
 * fresh state directory. Layout and the reasons: backup.h. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"
#include "tls.h"

#define SOCK_NAME "backup.sock"

static struct {
	struct rv_control *ctl;
	int fd, stop_pipe[2];
	pthread_t thread;
	bool running;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} srv = {.fd = -1, .stop_pipe = {-1, -1}};

static int sock_path(const struct rv_control_config *cfg, struct sockaddr_un *sa, char *err,
		     size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", cfg->state_dir,
			     SOCK_NAME) >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "state_dir %s: too long for a unix socket path",
			 cfg->state_dir);
		return -1;
	}
	return 0;
}

static int copy_file(const char *from, const char *to, mode_t mode, char *err, size_t errlen)
{
	char buf[65536];
	ssize_t n = 0;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (out < 0 || n < 0 || fsync(out) != 0) {
		snprintf(err, errlen, "copy %s -> %s: %s", from, to, strerror(errno));
		n = -1;
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return n < 0 ? -1 : 0;
}

static void tls_paths(const struct rv_control_config *cfg, char *cert, char *key, size_t len)
{
	rv_tls_default_paths(cfg->state_dir, cert, key, len);
	if (cfg->tls_cert[0]) {
		snprintf(cert, len, "%s", cfg->tls_cert);
		snprintf(key, len, "%s", cfg->tls_key);
	}
}

int rv_backup_take(struct rv_store *store, const struct rv_control_config *cfg, const char *dir,
		   char *err, size_t errlen)
{
	char db[600], tls[600], cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32], to[700];

	if (mkdir(dir, 0700) != 0) {
		snprintf(err, errlen, "backup directory %s: %s (it must not exist yet)", dir,
			 strerror(errno));
		return -1;
	}
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	if (rv_store_checkpoint(store, db, err, errlen) < 0)
		return -1;
	if (mkdir(tls, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", tls, strerror(errno));
		return -1;
	}
	tls_paths(cfg, cert, key, sizeof(cert));
	snprintf(to, sizeof(to), "%s/server.crt", tls);
	if (copy_file(cert, to, 0644, err, errlen) < 0)
		return -1;
	snprintf(to, sizeof(to), "%s/server.key", tls);
	if (copy_file(key, to, 0600, err, errlen) < 0)
		return -1;
	snprintf(to, sizeof(to), "%s/BACKUP", dir);
	FILE *f = fopen(to, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		return -1;
	}
	fprintf(f, "roomvpn-control backup\nschema_version = %d\ntaken = %lld\nstate_dir = %s\n",
		rv_store_schema_version(), (long long)time(NULL), cfg->state_dir);
	return fclose(f) == 0 ? 0 : -1;
}

/* One request: the backup directory on a line; the answer "ok" or
 * "error: ...". Only our own user (or root) may ask. */
static void serve_one(int fd)
{
	char dir[RV_CTL_PATH + 2] = "", err[600] = "", reply[700];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	ssize_t n = 0, got = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    (cred.uid != 0 && cred.uid != getuid())) {
		snprintf(err, sizeof(err), "not allowed for uid %u", (unsigned)cred.uid);
		goto answer;
	}
	while ((size_t)got < sizeof(dir) - 1 &&
	       (n = read(fd, dir + got, sizeof(dir) - 1 - got)) > 0) {
		got += n;
		if (memchr(dir, '\n', (size_t)got))
			break;
	}
	dir[got] = 0;
	if (!strchr(dir, '\n') || dir[0] != '/') {
		snprintf(err, sizeof(err), "expected an absolute directory and a newline");
		goto answer;
	}
	dir[strcspn(dir, "\n")] = 0;
	if (rv_backup_take(srv.ctl->store, &srv.ctl->cfg, dir, err, sizeof(err)) == 0)
		rv_log(RV_LOG_INFO, "backup written to %s", dir);
	else
		rv_log(RV_LOG_ERROR, "backup into %s failed: %s", dir, err);
answer:
	n = snprintf(reply, sizeof(reply), err[0] ? "error: %s\n" : "ok\n", err);
	if (write(fd, reply, (size_t)n) != n)
		rv_log(RV_LOG_WARN, "backup: the requester went away");
}

static void *listen_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-backup"); /* top -H, perf */
	(void)arg;
	for (;;) {
		struct pollfd p[2] = {{srv.fd, POLLIN, 0}, {srv.stop_pipe[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		struct timeval tv = {.tv_sec = 5};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		serve_one(c);
		close(c);
	}
	return NULL;
}

int rv_backup_listen_start(struct rv_control *ctl, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	if (sock_path(&ctl->cfg, &sa, err, errlen) < 0)
		return -1;
	srv.ctl = ctl;
	unlink(sa.sun_path); /* a stale socket of ours: the store lock says none runs */
	srv.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(sa.sun_path, 0600) != 0 || listen(srv.fd, 4) != 0 ||
	    pipe2(srv.stop_pipe, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "backup socket %s: %s", sa.sun_path, strerror(errno));
		goto err_fd;
	}
	snprintf(srv.path, sizeof(srv.path), "%s", sa.sun_path);
	if (pthread_create(&srv.thread, NULL, listen_thread, NULL) != 0) {
		snprintf(err, errlen, "backup socket: cannot start its thread");
		goto err_fd;
	}
	srv.running = true;
	return 0;

err_fd:
	for (int i = 0; i < 2; i++)
		if (srv.stop_pipe[i] >= 0)
			close(srv.stop_pipe[i]);
	if (srv.fd >= 0)
		close(srv.fd);
	srv.fd = srv.stop_pipe[0] = srv.stop_pipe[1] = -1;
	return -1;
}

void rv_backup_listen_stop(void)
{
	if (!srv.running)
		return;
	if (write(srv.stop_pipe[1], "x", 1) != 1)
		rv_log(RV_LOG_WARN, "backup socket: cannot wake its thread");
	pthread_join(srv.thread, NULL);
	unlink(srv.path);
	close(srv.fd);
	close(srv.stop_pipe[0]);
	close(srv.stop_pipe[1]);
	srv.running = false;
}

int rv_backup_request(const struct rv_control_config *cfg, const char *dir, char *err,
		      size_t errlen)
{
	struct sockaddr_un sa;
	char line[RV_CTL_PATH + 2], reply[700];
	ssize_t n, got = 0;

	if (sock_path(cfg, &sa, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return 1;
		snprintf(err, errlen, "%s: %s", sa.sun_path, strerror(e));
		return -1;
	}
	n = snprintf(line, sizeof(line), "%s\n", dir);
	if ((size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n) {
		snprintf(err, errlen, "%s: cannot send the request", sa.sun_path);
		close(fd);
		return -1;
	}
	while ((size_t)got < sizeof(reply) - 1 &&
	       (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += n;
	close(fd);
	reply[got] = 0;
	reply[strcspn(reply, "\n")] = 0;
	if (!strcmp(reply, "ok"))
		return 0;
	snprintf(err, errlen, "server: %s", got ? reply : "no answer");
	return -1;
}

/* Copies every regular file of @from into @to (created 0700). */
static int copy_dir(const char *from, const char *to, char *err, size_t errlen)
{
	char src[1200], dst[1200];

	if (mkdir(to, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		return -1;
	}
	int dfd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		snprintf(err, errlen, "%s: %s", from, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
		rc = copy_file(src, dst, st.st_mode & 0644, err, errlen);
	}
	closedir(d);
	return rc;
}

int rv_backup_restore(const struct rv_control_config *cfg, const char *dir, char *err,
		      size_t errlen)
{
	char from[1200], to[1200];
	struct stat st;
	struct rv_store *s;

	snprintf(from, sizeof(from), "%s/BACKUP", dir);
	if (stat(from, &st) != 0) {
		snprintf(err, errlen, "%s: not a roomvpn-control backup (no BACKUP file)", dir);
		return -1;
	}
	snprintf(to, sizeof(to), "%s/db", cfg->state_dir);
	if (stat(to, &st) == 0) {
		snprintf(err, errlen,
			 "%s already exists: restore only into a fresh state_dir (move the old "
			 "one away first)",
			 to);
		return -1;
	}
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: %s", cfg->state_dir, strerror(errno));
		return -1;
	}
	snprintf(from, sizeof(from), "%s/db", dir);
	if (copy_dir(from, to, err, errlen) < 0)
		return -1;
	snprintf(from, sizeof(from), "%s/tls", dir);
	snprintf(to, sizeof(to), "%s/tls", cfg->state_dir);
	if (stat(to, &st) == 0) {
		snprintf(err, errlen, "%s already exists: not overwritten", to);
		return -1;
	}
	if (copy_dir(from, to, err, errlen) < 0)
		return -1;
	snprintf(to, sizeof(to), "%s/db", cfg->state_dir);
	if (rv_store_open(to, &s, err, errlen) < 0)
		return -1;
	rv_store_close(s);
	return 0;
}
