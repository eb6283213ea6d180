/* Test helper: the agent and the session tables without DPDK, so that
 * roomvpn-dpctl can be tested end to end over the unix socket.
 * usage: agent_host SOCKET_PATH   (runs until SIGTERM/SIGINT) */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "agent.h"
#include "session_table.h"

int main(int argc, char **argv)
{
	struct rv_st_params p = {.max_sessions = 4096, .n_workers = 1};
	char err[256];
	sigset_t set;
	int sig;
	if (argc != 2) {
		fprintf(stderr, "usage: agent_host SOCKET_PATH\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the agent thread inherits it */
	struct rv_agent_params ap = {.socket_path = argv[1]};
	if (rv_st_init(&p, err, sizeof(err)) < 0 || rv_agent_start(&ap, err, sizeof(err)) < 0) {
		fprintf(stderr, "agent_host: %s\n", err);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	rv_agent_stop();
	rv_st_fini();
	return 0;
}
