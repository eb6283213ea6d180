/* roomvpn-dpctl internals: transport and option helpers (dpctl.c), the
 * commands (dpctl_cmds.c) and their output (dpctl_show.c). */
#ifndef RV_DPCTL_H
#define RV_DPCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"

#define DEFAULT_SOCKET "/run/roomvpn/dataplane.sock"

/* Exit codes (docs/dataplane-agent.md). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the agent answered with an error status */
	EXIT_USAGE = 2,	  /* bad command line or input file */
	EXIT_CONNECT = 3, /* cannot reach the agent, or the connection failed */
};

typedef Roomvpn__Dataplane__V1__Request pb_request;
typedef Roomvpn__Dataplane__V1__Response pb_response;

struct ctl {
	const char *socket;
	bool json;
	unsigned timeout_s; /* bound on each send/receive */
	uint64_t fence;	    /* carried by every request (--fence) */
};

/* Options of a subcommand: "--name value" pairs. */
struct opt {
	const char *name;
	const char *value;
};

/* Prints "roomvpn-dpctl: <msg>" and a hint; returns EXIT_USAGE. */
int dpctl_usage_error(const char *fmt, const char *arg);
/* Fill @opts (names preset, values NULL) from argv; unknown options and stray
 * words are errors (EXIT_USAGE). */
int dpctl_parse_opts(int argc, char **argv, struct opt *opts, size_t n);
const char *dpctl_opt_get(const struct opt *opts, size_t n, const char *name);
int dpctl_need(const struct opt *opts, size_t n, const char *name, const char **out);
int dpctl_parse_num(const char *what, const char *v, uint32_t max, uint32_t *out);
int dpctl_parse_ip(const char *what, const char *v, uint32_t *out);
/* Key file -> Key message (material malloc'd, 256 bytes): free_key wipes it. */
int dpctl_load_key(const char *path, const char *key_id, const char *dir,
		   Roomvpn__Dataplane__V1__Key *k);
void dpctl_free_key(Roomvpn__Dataplane__V1__Key *k);

/* Send @req and wait for its response (*@resp, free with _free_unpacked;
 * also set when the agent refused). Returns an exit code. */
int dpctl_call(const struct ctl *ctl, pb_request *req, pb_response **resp);
/* For commands whose answer is only a status: prints ok / the error. */
int dpctl_call_simple(const struct ctl *ctl, pb_request *req);

int dpctl_run_command(const struct ctl *ctl, int argc, char **argv);
/* Print @o as one line of JSON (the client's scheme: dpctl_show.c) and
 * release it. */
struct json_object;
void dpctl_json_print(struct json_object *o);
/* Output of `sessions`, `rooms`, `stats` (text or JSON). */
void dpctl_show_sessions(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st);
void dpctl_show_rooms(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st);
void dpctl_show_stats(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st);
/* Output of `trace show`: per packet, one line per stage (like VPP's
 * show trace); @tr may be NULL (nothing recorded). */
void dpctl_show_trace(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Trace *tr);

#endif
