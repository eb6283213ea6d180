/* The gRPC server on the grpc core C API: cfg.cq_count completion queues
 * sharing cfg.cq_threads threads, every method accepted through the generic
 * grpc_server_request_call and dispatched by path through the method table
 * (methods.c); the scope check (scope.c) runs before any handler. */
#ifndef RV_SERVER_H
#define RV_SERVER_H

#include <stddef.h>

#include "control.h"

/* Binds cfg.listen with TLS (tls.c), starts the threads. Sets ctl->server.
 * Returns 0, or -1 with a message in @err. */
int rv_server_start(struct rv_control *ctl, const struct rv_method *methods, size_t n_methods,
		    char *err, size_t errlen);
/* The bound port (useful when cfg.listen asked for port 0). */
int rv_server_port(const struct rv_server *s);
/* Graceful stop: refuses new calls, lets running ones finish for up to
 * @grace_ms, cancels the rest, joins the threads, frees everything. */
void rv_server_stop(struct rv_server *s, unsigned grace_ms);

#endif
