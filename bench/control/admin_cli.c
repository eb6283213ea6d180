/* The operator's CLI that times ListRooms: a process of its own, forked
 * before grpc starts, with its own connection and a sync client (the call
 * completes on a queue the calling thread polls), as `roomvpn` or grpcurl
 * run by an operator would be. Timed inside the load client, each call also
 * waited for that process's one grpc poller at a time, busy reading the
 * acks of 10,000 heartbeats a second for 100,000 devices: a cost of the
 * bench, not of the control plane.
 *
 * The parent asks over a pipe (calls, admin token); the child answers with
 * the latencies as a histogram and the number of failed calls. EOF on the
 * pipe (the parent done or gone) ends the child. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "load.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define LIST_PATH "/roomvpn.v1.RoomService/List"

struct cli_ask {
	uint32_t calls;
	char bearer[512]; /* "Bearer rvs_..." */
};

struct cli_answer {
	struct rv_hist h;
	uint32_t failed;
	char first_error[300];
};

static struct {
	pid_t pid;
	int to_child, from_child;
} cli = {.pid = -1, .to_child = -1, .from_child = -1};

static bool io_full(int fd, void *buf, size_t len, bool out)
{
	char *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void child_serve(const struct rv_rpc_opts *ro, int in, int out)
{
	struct rv_rpc_opts own = *ro;
	static struct cli_ask ask;
	static struct cli_answer ans;
	char err[256];
	bool started = false;

	own.connections = 1;
	own.threads = 0; /* no callback queues, no poller threads: sync calls only */
	while (io_full(in, &ask, sizeof(ask), false)) {
		Roomvpn__V1__ListRoomsRequest r = ROOMVPN__V1__LIST_ROOMS_REQUEST__INIT;
		memset(&ans, 0, sizeof(ans));
		ask.bearer[sizeof(ask.bearer) - 1] = '\0';
		if (!started && rv_rpc_start(&own, err, sizeof(err)) < 0) {
			ans.failed = ask.calls;
			snprintf(ans.first_error, sizeof(ans.first_error), "%s", err);
		} else {
			started = true;
			grpc_slice bearer = grpc_slice_from_copied_string(ask.bearer);
			for (uint32_t i = 0; i < ask.calls; i++) {
				char details[128];
				uint64_t t0 = rv_now_ns();
				grpc_status_code st =
				    rv_rpc_call_sync(LIST_PATH, bearer, &r.base,
						     &roomvpn__v1__list_rooms_response__descriptor,
						     NULL, details, sizeof(details));
				if (st == GRPC_STATUS_OK)
					rv_hist_add(&ans.h, rv_now_ns() - t0);
				else if (!ans.failed++)
					snprintf(ans.first_error, sizeof(ans.first_error),
						 "status %d: %s", (int)st, details);
			}
			grpc_slice_unref(bearer);
		}
		if (!io_full(out, &ans, sizeof(ans), true))
			break;
	}
	if (started)
		rv_rpc_stop();
}

int rv_cli_start(const struct rv_rpc_opts *ro)
{
	int down[2], up[2];

	if (pipe2(down, O_CLOEXEC) < 0) /* not into the data plane dp-restart starts */
		return -1;
	if (pipe2(up, O_CLOEXEC) < 0) {
		close(down[0]), close(down[1]);
		return -1;
	}
	fflush(NULL);
	cli.pid = fork();
	if (cli.pid < 0) {
		close(down[0]), close(down[1]), close(up[0]), close(up[1]);
		return -1;
	}
	if (cli.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the load client killed: go too */
		close(down[1]);
		close(up[0]);
		child_serve(ro, down[0], up[1]);
		_exit(0);
	}
	signal(SIGPIPE, SIG_IGN); /* the child gone: EPIPE, told as such, not death */
	close(down[0]);
	close(up[1]);
	cli.to_child = down[1];
	cli.from_child = up[0];
	return 0;
}

int rv_cli_list(struct rv_hist *h, grpc_slice bearer, uint32_t calls, uint32_t *failed,
		char *first_error, size_t errlen)
{
	static struct cli_ask ask;
	static struct cli_answer ans;
	size_t n = GRPC_SLICE_LENGTH(bearer);

	if (cli.pid <= 0 || n >= sizeof(ask.bearer)) {
		snprintf(first_error, errlen, "no CLI process (or the token is too long)");
		return -1;
	}
	memset(&ask, 0, sizeof(ask));
	ask.calls = calls;
	memcpy(ask.bearer, GRPC_SLICE_START_PTR(bearer), n);
	if (!io_full(cli.to_child, &ask, sizeof(ask), true) ||
	    !io_full(cli.from_child, &ans, sizeof(ans), false)) {
		snprintf(first_error, errlen, "the CLI process is gone");
		return -1;
	}
	memcpy(h, &ans.h, sizeof(*h)); /* (nothing adds to @h meanwhile) */
	*failed = ans.failed;
	snprintf(first_error, errlen, "%s", ans.first_error);
	return 0;
}

void rv_cli_stop(void)
{
	if (cli.pid <= 0)
		return;
	close(cli.to_child);
	close(cli.from_child);
	waitpid(cli.pid, NULL, 0);
	cli.pid = -1;
}
