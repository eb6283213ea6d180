/* The control plane's state: configuration values and pointers to every
 * subsystem (store, IPAM, metrics, audit, password pool, server). One
 * instance per process, built by main.c; handlers reach it as ctx->ctl.
 *
 * Subsystems owned by different modules talk through the hooks at the end
 * of struct rv_control, so that a module can be built and tested before the
 * others exist: a NULL hook means "not available" and callers cope. */
#ifndef RV_CONTROL_H
#define RV_CONTROL_H

#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "rpc.h"
#include "version.h"

#define RV_CONTROL_VERSION RV_VERSION /* shared/version.h.in */
#define RV_CTL_PATH	   512
#define RV_CTL_ADDR	   128
#define RV_CTL_DP_MAX	   16 /* data planes in one fleet (fleet.c) */

/* A local data plane (`dataplane = NAME unix:/PATH udp=.. tcp=.. labels=..`). */
struct rv_control_dp {
	char name[64];
	char agent[RV_CTL_PATH]; /* its agent socket */
	char udp[RV_CTL_ADDR], tcp[RV_CTL_ADDR];
	char labels[256]; /* "k=v,k=v" */
};

struct rv_control_config {
	/* [state] */
	char state_dir[RV_CTL_PATH]; /* RocksDB at <state_dir>/db, self-signed cert/key */
	char store[1024];	     /* "rocksdb:DIR" | "etcd:https://h:p,..."; "": <state_dir> */
	char etcd_ca[RV_CTL_PATH], etcd_cert[RV_CTL_PATH], etcd_key[RV_CTL_PATH];
	/* [replicas] on etcd only (replica.h) */
	char replica_id[128];	  /* "" (default): hostname:<gRPC port> */
	uint32_t replica_lease_s; /* TTL of this replica's lease on its tunnel records (5) */
	uint32_t dp_owner_ttl_s;  /* TTL of the data-plane owner's lease (dp_owner.c, 5) */
	/* [grpc] */
	char listen[RV_CTL_ADDR];   /* "127.0.0.1:7443" (port 0: pick a free port) */
	char tls_cert[RV_CTL_PATH]; /* PEM; empty: self-signed in state_dir */
	char tls_key[RV_CTL_PATH];  /* PEM; empty: self-signed in state_dir */
	char tls_names[256];	    /* extra SAN DNS names/IPs, comma-separated */
	uint32_t cq_threads;	    /* completion-queue threads (default 64) */
	uint32_t cq_count;	    /* completion queues sharing them (default 64) */
	uint32_t max_message_bytes; /* larger requests are refused (default 64 KiB) */
	uint32_t request_slots;	    /* calls accepted ahead (request_call), default 32 */
	/* [connections] (listener.c) */
	uint32_t max_connections;      /* live connections; 0: derived from the fd limit */
	uint64_t handshake_timeout_ns; /* TLS handshake deadline (default 10s) */
	uint64_t idle_timeout_ns;      /* no call for this long: closed (default 5 min) */
	/* [argon2] Argon2id cost; defaults are OWASP's: m=19 MiB, t=2, p=1 */
	uint32_t argon2_m_kib;
	uint32_t argon2_t;
	uint32_t argon2_p;
	uint32_t argon2_workers; /* password worker threads (default 2) */
	/* [tokens] */
	uint64_t session_ttl_ns; /* default 1h */
	uint64_t device_ttl_ns;	 /* default 30 days */
	uint64_t token_sweep_ns; /* expired tokens/devices are deleted this often (10 min) */
	/* [ratelimit] failed logins in a sliding window, per user and per address */
	uint32_t login_fail_per_user;	  /* default 5 */
	uint32_t login_fail_per_addr;	  /* default 20 */
	uint64_t login_fail_window_ns;	  /* default 5 min */
	uint32_t login_inflight_per_addr; /* password checks queued/running per address (16) */
	/* AuthService.RegisterWithInvite creates accounts from invite codes (false) */
	bool self_registration;
	/* [ipam] rooms get a /ipam_room_prefix out of ipam_pool unless given one */
	char ipam_pool[64];	   /* default "10.88.0.0/16" */
	uint32_t ipam_room_prefix; /* default 24 */
	/* [ipv6] dual-stack rooms (ipam6.h): a /ipv6_room_prefix of ipv6_prefix */
	bool ipv6;		   /* default true; `ipv6 = off`: rooms get no IPv6 */
	char ipv6_prefix[64];	   /* "" (default): a random ULA /48 kept in the store */
	uint32_t ipv6_room_prefix; /* default 64 */
	/* [rooms] defaults for Join replies */
	char dns[64];		      /* optional DNS server pushed to clients ("" none) */
	uint32_t default_mtu;	      /* default 1400 */
	uint32_t default_keepalive_s; /* default 10 */
	/* [dataplane] endpoints handed to clients in Join replies */
	char dp_udp_endpoint[RV_CTL_ADDR]; /* "host:port", default "127.0.0.1:1194" */
	char dp_tcp_endpoint[RV_CTL_ADDR]; /* "host:port", default "127.0.0.1:443" */
	uint64_t rekey_interval_ns; /* tunnels re-key after this (timers.c); 0: never, default 1h */
	uint64_t heartbeat_timeout_ns; /* no keepalive heartbeat for this long: tunnel torn down
					  (timers.c); 0: never, default 30s */
	uint64_t presence_interval_ns; /* presence.c: coalescing window, default 1 s */
	uint32_t presence_budget; /* presence.c: messages a second over all rooms (0: no bound) */
	uint64_t stream_deadline_ns;	/* a bootstrap without a keepalive stream this long:
					   tunnel torn down (timers.c); 0: never, default 10s */
	uint32_t max_tunnels_per_user;	/* running tunnels per user (tunnels.c); 0: no
					   limit, default 16 */
	uint32_t metrics_tunnel_series; /* per-tunnel series in the scrape at most (metrics.c) */
	uint32_t max_tunnels;		/* running tunnels (tunnels.c); 0: no limit,
					   default 1000000 */
	uint32_t dp_sync_backlog;	/* queued data-plane deltas (dp_sync.c), 65536 */
	char dp_agent[RV_CTL_PATH];	/* data-plane agent socket (tunnel.c), default
					   "/run/roomvpn/dataplane.sock" */
	bool dp_agent_set;		/* dataplane_agent given: kept beside `dataplane` lines */
	char dp_name[64];		/* that data plane's name in the fleet ("local") */
	struct rv_control_dp dps[RV_CTL_DP_MAX]; /* `dataplane = ...` lines (fleet.c) */
	uint32_t n_dps;
	uint64_t dp_down_after_ns; /* not heard from this long: DOWN, rooms moved (3 s) */
	uint64_t dp_move_grace_ns; /* moved rooms' sessions stay on the source this long (10 s) */
	/* [fleet] remote data planes over mutual TLS (dp_link_tls.c, dp_ca.c) */
	char dp_listen[RV_CTL_ADDR];	  /* "host:port" data planes dial; "" off (default) */
	char dp_ca_dir[RV_CTL_PATH];	  /* fleet CA; "" = <state_dir>/fleet */
	char dp_cert_names[256];	  /* names of the listener's certificate, comma-separated;
					     "" = the listen host (the hostname if a wildcard) */
	uint32_t dp_max_links;		  /* connections (handshaking or up) at once, 256 */
	uint64_t dp_handshake_timeout_ns; /* TLS handshake + Register deadline, 10s */
	uint64_t dp_exchange_timeout_ns;  /* one exchange on a link, 30s */
	/* [metrics] Prometheus over HTTPS; empty listen: disabled */
	char metrics_listen[RV_CTL_ADDR]; /* "127.0.0.1:9443" */
	char metrics_cert[RV_CTL_PATH];	  /* empty: the gRPC cert/key */
	char metrics_key[RV_CTL_PATH];
	char metrics_client_ca[RV_CTL_PATH]; /* non-empty: mTLS, client certs checked against it */
	/* [audit] refused logins: one record per (address, user) per interval */
	uint64_t audit_refused_interval_ns; /* default 1 min; 0: a record for each */
	uint32_t audit_retention_days;	    /* older records pruned (90); 0: kept */
	uint32_t audit_max_records;	    /* oldest pruned beyond this (1000000); 0: no cap */
	/* scrapers without a client certificate (docs/metrics.md) */
	char metrics_token_file[RV_CTL_PATH]; /* non-empty: "Authorization: Bearer <its line>" */
	char metrics_allow[512];	      /* addresses/prefixes let in without credentials */
	/* [log] */
	enum rv_log_level log_level;
};

/* One audit record; the audit module (audit.c) stores it. */
struct rv_audit_event {
	uint64_t time_ns;   /* CLOCK_REALTIME */
	const char *actor;  /* username, "" when unknown */
	const char *source; /* peer address */
	const char *action; /* "auth.login", "users.create", ... */
	const char *target; /* what was acted on, "" if nothing */
	int status;	    /* grpc_status_code */
	const char *detail; /* the status message, "" on success */
};

struct rv_store;
struct rv_metrics;
struct rv_audit;
struct rv_ipam;
struct rv_pwpool;
struct rv_ratelimit;
struct rv_server;

struct rv_control {
	struct rv_control_config cfg;
	struct rv_store *store;		/* open from start to shutdown */
	struct rv_metrics *metrics;	/* metrics.c, may be NULL */
	struct rv_audit *audit;		/* audit.c, may be NULL */
	struct rv_ipam *ipam;		/* ipam.c, may be NULL */
	struct rv_pwpool *pwpool;	/* password.c */
	struct rv_ratelimit *ratelimit; /* auth.c: failed-login limiter */
	struct rv_server *server;	/* server.c */
	char tls_fingerprint[96];	/* SHA-256 of the served cert, "AA:BB:..." */
	uint64_t start_ns;		/* CLOCK_MONOTONIC at start */
	/* device ids, handed out from blocks reserved in the store (users.c
	 * rv_id_next; zeroed = nothing reserved yet) */
	struct rv_id_block {
		pthread_mutex_t mu;
		uint64_t next, limit;
	} device_ids;

	/* Hooks (NULL: not available). Set by the module that implements them
	 * in its init function; called from any worker thread. */
	/* After every RPC: method path, status, wall time in ns. */
	void (*on_rpc_done)(struct rv_control *ctl, const char *method, int status,
			    uint64_t latency_ns);
	/* After every login attempt. */
	void (*on_login)(struct rv_control *ctl, bool ok);
	/* Streams opened (+1) and closed (-1). */
	void (*on_stream)(struct rv_control *ctl, int delta);
	/* Record one audit event (the server calls it for every method with an
	 * audit_action, auth.c for every login). */
	void (*audit_record)(struct rv_control *ctl, const struct rv_audit_event *ev);
	/* RV_SCOPE_ROOM_OWNER: 0 and the owner's user id of @room (name or #id),
	 * 1 if no such room, -1 on error. */
	int (*room_owner)(struct rv_control *ctl, const char *room, uint64_t *owner_id);
	/* A user is deleted or disabled: drop their memberships/sessions. */
	void (*on_user_removed)(struct rv_control *ctl, uint64_t user_id);
	/* rooms.c, after a device stopped being a member of a room (Leave,
	 * Kick, room Delete, its user removed) and the store says so: tear down
	 * its tunnel. Called without the rooms lock held. */
	void (*on_member_removed)(struct rv_control *ctl, uint64_t room_id, uint64_t device_id);
	/* dp_move.c, after room @room_id's sessions were installed on data
	 * plane @dataplane and its record says so (drain, failover: @reason):
	 * its members are told to bootstrap again (events.c). */
	void (*on_room_moved)(struct rv_control *ctl, uint64_t room_id, const char *dataplane,
			      const char *reason);
};

/* config.c: defaults, then one key at a time (file and --set overrides).
 * Returns 0, or -1 with a message naming the key in @err. */
void rv_control_config_defaults(struct rv_control_config *c);
int rv_control_config_set(void *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Cross-key checks after everything is loaded. */
int rv_control_config_check(const struct rv_control_config *c, char *err, size_t errlen);
/* Prints what is legal but probably wrong (loopback endpoints handed to
 * remote clients) to @f; returns the number of warnings. */
int rv_control_config_warn(const struct rv_control_config *c, FILE *f);
/* check-config: the files the keys name can be read. 0 or -1 with a message. */
int rv_control_config_check_files(const struct rv_control_config *c, char *err, size_t errlen);

/* Monotonic and wall clocks in ns: shared/clock.h's, under their old names
 * for the files that still use them. */
static inline uint64_t rv_control_now_mono(void)
{
	return rv_clock_mono_ns();
}

static inline uint64_t rv_control_now_real(void)
{
	return rv_clock_real_ns();
}

#endif
