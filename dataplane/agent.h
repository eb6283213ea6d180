/* The agent: the one thread of roomvpn-dataplane that writes the session
 * tables. It serves the agent protocol (proto/dataplane.proto,
 * docs/dataplane-agent.md) on a unix stream socket (mode 0600) to any number
 * of clients (poll), validates each message fully before applying it, and
 * retires expired keys once a second. It never blocks the workers: table
 * changes are RCU publications (session_table.h). */
#ifndef RV_DP_AGENT_H
#define RV_DP_AGENT_H

#include <stddef.h>
#include <stdint.h>

#define RV_AGENT_DEFAULT_MAX_CLIENTS	16
#define RV_AGENT_DEFAULT_MSG_TIMEOUT_MS 10000u

struct rv_agent_params {
	const char *socket_path; /* created (a stale socket is replaced), mode 0600 */
	unsigned max_clients;	 /* 0 = RV_AGENT_DEFAULT_MAX_CLIENTS */
	uint32_t max_sessions;	 /* table limit (resync/upsert refused beyond); 0 = none */
	uint32_t msg_max;	 /* largest message; 0 = rv_agent_msg_max(max_sessions) */
	uint32_t msg_timeout_ms; /* a partial message must be complete by then;
				    0 = RV_AGENT_DEFAULT_MSG_TIMEOUT_MS */
};

/* Main thread, after rv_st_init(): bind the socket and start the agent
 * thread. Returns 0, or -1 with a message (socket in use, path too long...). */
int rv_agent_start(const struct rv_agent_params *p, char *err, size_t errlen);
/* Stop the thread, close every client, remove the socket. Safe to call when
 * not started. */
void rv_agent_stop(void);

/* Process one request body (no length prefix) and return a packed response
 * with its length prefix in *@out (malloc'd). Must be called from the writer
 * thread (rv_st_writer_register()). Used by the agent thread and by tests.
 * Returns 0, or -1 only when out of memory. */
int rv_agent_process(const uint8_t *body, size_t len, uint8_t **out, size_t *outlen);
/* The running agent's max_sessions (0 when not started: no limit). */
uint32_t rv_agent_max_sessions(void);

#endif
