/* What lease.c and watch.c share with client.c (not for other modules:
 * they use etcd.h). */
#ifndef RV_ETCD_CLIENT_H
#define RV_ETCD_CLIENT_H

#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>

#include "etcd/etcd.h"

#define RV_ETCD_POLLERS 2 /* threads draining the client's completion queue */
/* Failover across the members (a call, a watch's first stream): given up
 * after this long. */
#define RV_ETCD_RETRY_BUDGET_MS 10000

struct rv_etcd {
	unsigned n;
	char target[RV_ETCD_MAX_ENDPOINTS][256]; /* host:port */
	grpc_channel *ch[RV_ETCD_MAX_ENDPOINTS];
	atomic_uint cur; /* the endpoint that answered last */
	uint32_t timeout_ms;
	grpc_completion_queue *cq; /* every unary call's completions */
	pthread_t poller[RV_ETCD_POLLERS];
	/* rv_etcd_shutdown: calls in flight are cancelled, later ones get one
	 * short attempt */
	atomic_bool closing;
	pthread_mutex_t live_mu;
	struct rv_etcd_waiter *live; /* the calls in flight */
};

gpr_timespec rv_etcd_deadline(uint32_t ms);

#endif
