/* This replica's identity and lease (see replica.h). */
#include "replica.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "etcd/etcd.h"
#include "log.h"

static struct {
	struct rv_control *ctl;
	struct rv_etcd *e;
	_Atomic int64_t lease;
	struct rv_etcd_keepalive *ka; /* the records thread's once started */
	atomic_bool lost, active;
} rep;

/* hostname:<port of cfg.listen> */
static void default_id(struct rv_control_config *cfg)
{
	char host[64] = "localhost";
	const char *port = strrchr(cfg->listen, ':');

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	snprintf(cfg->replica_id, sizeof(cfg->replica_id), "%s:%s", host, port ? port + 1 : "");
}

void rv_replica_lease_gone(void)
{
	atomic_store(&rep.lost, true);
}

static void on_lost(void *arg, int64_t id)
{
	(void)arg;
	rv_log(RV_LOG_WARN,
	       "replica %s: lease %llx lost (etcd unreachable or it expired): the other "
	       "replicas dropped this replica's tunnels; granting a new lease and publishing "
	       "them again",
	       rep.ctl->cfg.replica_id, (unsigned long long)id);
	atomic_store(&rep.lost, true);
	rv_replica_records_wake();
}

/* Grants a lease and starts keeping it alive (renewed three times a TTL). */
static int grant(char *err, size_t errlen)
{
	int64_t ttl = rep.ctl->cfg.replica_lease_s, id;

	if (rv_etcd_lease_grant(rep.e, ttl, &id, err, errlen) < 0)
		return -1;
	rep.ka = rv_etcd_keepalive_start(rep.e, id, ttl, (uint32_t)(ttl * 1000 / 3), on_lost, NULL);
	if (!rep.ka) {
		snprintf(err, errlen, "cannot start the lease keep-alive thread");
		return -1;
	}
	atomic_store(&rep.lease, id);
	rv_log(RV_LOG_INFO, "replica %s: lease %llx, TTL %lld s", rep.ctl->cfg.replica_id,
	       (unsigned long long)id, (long long)ttl);
	return 0;
}

bool rv_replica_lease_renew_if_lost(void)
{
	char err[256];

	if (!atomic_exchange(&rep.lost, false))
		return false;
	rv_etcd_keepalive_stop(rep.ka); /* its thread ended after on_lost */
	rep.ka = NULL;
	if (grant(err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "replica %s: no new lease yet: %s", rep.ctl->cfg.replica_id,
		       err);
		atomic_store(&rep.lost, true); /* the records thread tries again */
	}
	return true;
}

int64_t rv_replica_lease(void)
{
	return atomic_load(&rep.lease);
}

bool rv_replica_active(void)
{
	return atomic_load(&rep.active);
}

int rv_replica_start(struct rv_control *ctl, char *err, size_t errlen)
{
	const char *store = ctl->cfg.store;
	struct rv_etcd_config ec = {.endpoints = store + 5,
				    .ca = ctl->cfg.etcd_ca,
				    .cert = ctl->cfg.etcd_cert,
				    .key = ctl->cfg.etcd_key};
	int64_t rev;

	if (!ctl->cfg.replica_id[0])
		default_id(&ctl->cfg);
	if (strncmp(store, "etcd:", 5) != 0)
		return 0; /* RocksDB: one control plane, nothing to coordinate */
	rep.ctl = ctl;
	if (rv_etcd_open(&ec, &rep.e, err, errlen) < 0)
		return -1;
	if (grant(err, errlen) < 0)
		goto err_close;
	if (rv_replica_records_start(ctl, rep.e, err, errlen) < 0)
		goto err_lease;
	if (rv_replica_mirror_start(ctl, rep.e, &rev, err, errlen) < 0)
		goto err_records;
	if (rv_replica_watch_start(ctl, rep.e, rev + 1, err, errlen) < 0)
		goto err_mirror;
	atomic_store(&rep.active, true);
	rv_log(RV_LOG_INFO, "replica %s: following the other replicas from etcd revision %lld",
	       ctl->cfg.replica_id, (long long)rev + 1);
	return 0;
err_mirror:
	rv_replica_mirror_stop();
err_records:
	rv_replica_records_stop();
err_lease:
	rv_etcd_keepalive_stop(rep.ka);
	rep.ka = NULL;
err_close:
	rv_etcd_close(rep.e);
	rep.e = NULL;
	return -1;
}

void rv_replica_stop(void)
{
	if (!atomic_exchange(&rep.active, false))
		return;
	rv_etcd_shutdown(rep.e); /* no thread below waits on a dead or frozen etcd */
	rv_replica_watch_stop();
	rv_replica_mirror_stop();
	rv_replica_records_stop();
	rv_etcd_keepalive_stop(rep.ka); /* not revoked: see replica.h */
	rep.ka = NULL;
	rv_etcd_close(rep.e);
	rep.e = NULL;
}
