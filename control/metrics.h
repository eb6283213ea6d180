/* Prometheus metrics of the control plane: a lock-free registry (atomics)
 * updated from every worker thread, and its text exposition over HTTPS on
 * its own address (libmicrohttpd + GnuTLS), optionally requiring a client
 * certificate signed by a configured CA (mTLS). Metric names: docs/metrics.md. */
#ifndef RV_METRICS_H
#define RV_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

/* Creates the registry, sets ctl->metrics and the on_rpc_done, on_login and
 * on_stream hooks. 0, or -1 (out of memory). */
int rv_metrics_init(struct rv_control *ctl);
/* Starts the HTTPS endpoint on cfg.metrics_listen (nothing when empty).
 * Cert/key: cfg.metrics_cert/metrics_key, else the gRPC ones (cfg.tls_cert,
 * or <state_dir>/tls/server.{crt,key}); cfg.metrics_client_ca: mTLS.
 * 0, or -1 with a message in @err. */
int rv_metrics_start(struct rv_control *ctl, char *err, size_t errlen);
/* The bound port (0 when not serving). */
int rv_metrics_port(const struct rv_metrics *m);
/* Stops the endpoint, clears the hooks, frees the registry. */
void rv_metrics_fini(struct rv_control *ctl);

/* Counters and gauges; thread-safe, wait-free after a method's first call. */
void rv_metrics_rpc_observe(struct rv_metrics *m, const char *method, int status, double seconds);
void rv_metrics_login(struct rv_metrics *m, bool ok);
void rv_metrics_stream(struct rv_metrics *m, int delta);

/* The exposition text (what GET /metrics returns): a malloc'd string, or
 * NULL when out of memory. */
char *rv_metrics_render(struct rv_control *ctl, size_t *len);

#endif
