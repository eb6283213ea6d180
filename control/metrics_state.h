/* The metrics registry's state, shared by metrics.c (registry and
 * rendering) and metrics_http.c (the HTTPS endpoint). Private to those two. */
#ifndef RV_METRICS_STATE_H
#define RV_METRICS_STATE_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

#define N_SLOTS	     64
#define N_ALLOW	     16 /* metrics_allow prefixes */
#define CONN_LIMIT   64 /* libmicrohttpd refuses connections past this */
#define CONN_CAP     48 /* at this many, the oldest unanswered one is closed */
#define CONN_TIMEOUT 5	/* seconds a connection may sit without progress */
#define N_CODES	     17 /* grpc status codes 0..16 */
#define NAME_MAX_LEN 96

#define N_BUCKETS 14 /* bucket_le in metrics.c */

enum slot_state { SLOT_FREE, SLOT_CLAIMED, SLOT_READY };

struct method_slot {
	atomic_int state;
	char name[NAME_MAX_LEN];
	atomic_uint_fast64_t by_code[N_CODES];
	atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; summed on render */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

struct rv_metrics {
	struct method_slot slots[N_SLOTS]; /* the last one is "other" */
	atomic_uint_fast64_t logins_ok, logins_failed;
	atomic_int_fast64_t open_streams;
	uint64_t start_unix_ns;
	struct MHD_Daemon *httpd;
	int port;
	bool mtls;
	char *cert_pem, *key_pem, *ca_pem;
	char token[256]; /* metrics_token_file's first line; "" none */
	struct prefix {
		int family;
		uint8_t addr[16];
		unsigned len;
	} allow[N_ALLOW];
	unsigned n_allow;
	/* open connections, oldest first; only the daemon's one thread
	 * (notify and request callbacks) touches them */
	struct scrape_conn {
		struct MHD_Connection *conn;
		int fd;
		bool answered, shut;
	} conns[CONN_LIMIT];
	unsigned n_conns;
	struct rv_control *ctl;
};

/* The exposition text being built; oom: an allocation failed (the text
 * is then thrown away). */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};
__attribute__((format(printf, 2, 3))) void rv_metrics_printf(struct sbuf *b, const char *fmt, ...);
/* The data plane's counters as the sync thread last read them
 * (metrics_dataplane.c); nothing when the data plane did not answer. */
void rv_metrics_render_dataplane(struct sbuf *b);
/* Process metrics as the Prometheus client libraries name them
 * (metrics_process.c). */
void rv_metrics_render_process(struct sbuf *b, const struct rv_metrics *m);

#endif
