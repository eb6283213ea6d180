/* rv-control-load: N devices against roomvpn-control (see main.c). Shared
 * state of the load client: the devices, the async call engine (rpc.c),
 * the keepalive streams (keepalive.c), latency histograms (hist.c) and the
 * server's /proc figures (procstat.c). */
#ifndef RV_BENCH_CONTROL_LOAD_H
#define RV_BENCH_CONTROL_LOAD_H

#include <limits.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "grpc_pb.h"

/* ---- hist.c: log-linear latency histogram (ns), lock-free adds ---- */
#define RV_HIST_BUCKETS (64 * 16)
struct rv_hist {
	_Atomic uint64_t b[RV_HIST_BUCKETS];
	_Atomic uint64_t n;
};
void rv_hist_add(struct rv_hist *h, uint64_t ns);
void rv_hist_reset(struct rv_hist *h);
/* The @p-th percentile (0..100) in ns, 0 when empty. */
uint64_t rv_hist_pct(const struct rv_hist *h, double p);

/* ---- rpc.c: channels, completion-queue threads, async calls ---- */
struct rv_call;
/* Runs on a completion-queue thread when a call ends. @resp is the reply
 * (NULL unless status OK), freed by the engine after the callback. */
typedef void (*rv_call_done_fn)(struct rv_call *c, grpc_status_code st, const char *details,
				ProtobufCMessage *resp);
struct rv_call {
	void *arg;
	uint64_t started_ns;
	rv_call_done_fn done;
	/* engine-owned */
	const ProtobufCMessageDescriptor *resp_desc;
	grpc_call *call;
	grpc_metadata md[1];
	grpc_metadata_array init_md, trailing;
	grpc_byte_buffer *req, *resp;
	grpc_status_code status;
	grpc_slice details;
};

/* A completion-queue tag: every batch the engine starts carries one. The
 * queues are callback queues: @fn runs on the grpc thread that completed
 * the batch (so it must not block), set with rv_tag_set. */
struct rv_tag {
	grpc_completion_queue_functor f; /* first: what the queue calls */
	void (*fn)(struct rv_tag *t, bool ok);
};
void rv_tag_set(struct rv_tag *t, void (*fn)(struct rv_tag *t, bool ok));

struct rv_rpc_opts {
	const char *server, *ca_file, *tls_name;
	unsigned connections;
	unsigned threads; /* callback queues; 0: none (and no poller thread), sync calls only */
};
int rv_rpc_start(const struct rv_rpc_opts *o, char *err, size_t errlen);
void rv_rpc_stop(void);
grpc_completion_queue *rv_rpc_cq(unsigned i); /* i modulo the queue count */
grpc_channel *rv_rpc_channel(unsigned i);     /* i modulo the connection count */
/* The admin's calls (provisioning, ListRooms timed, kicks) have a connection
 * of their own, as an operator's CLI would: not one of the devices'. */
#define RV_RPC_ADMIN_CONN UINT_MAX
/* Start a unary call (also a one-message bidi call such as Bootstrap) on
 * connection @conn; @bearer: "Bearer ..." slice or an empty slice. Returns
 * 0, or -1 (grpc refused: @c->done is not called). */
int rv_rpc_unary(struct rv_call *c, unsigned conn, const char *path, grpc_slice bearer,
		 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		 unsigned timeout_ms);
/* The same on the caller's thread: the call completes on a queue of its
 * own, which the caller polls (not on the engine's callback queues, behind
 * the devices' work); @c->done has run when it returns 0. A sync client's
 * way, as an operator's CLI: for the timed admin calls. */
int rv_rpc_unary_wait(struct rv_call *c, unsigned conn, const char *path, grpc_slice bearer,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      unsigned timeout_ms);
/* rv_rpc_unary_wait on the admin's connection, 30 s deadline: the status,
 * its details into @details, the reply into *@resp (when @resp is set and
 * the status OK; the caller frees it). */
grpc_status_code rv_rpc_call_sync(const char *path, grpc_slice bearer, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *d, ProtobufCMessage **resp,
				  char *details, size_t dlen);
/* messages in and out of byte buffers: rv_grpc_pb_pack / _unpack (grpc_pb.h) */
uint64_t rv_now_ns(void); /* CLOCK_MONOTONIC */

/* ---- devices ---- */
enum rv_dev_state {
	DEV_NEW,
	DEV_LOGGED_IN,
	DEV_JOINED,
	DEV_BOOTSTRAPPED, /* keepalive stream opening */
	DEV_UP,		  /* first heartbeat acknowledged */
	DEV_ENDED,	  /* stream over (kick, refusal, server gone) */
	DEV_FAILED,	  /* a setup step was refused */
};

struct rv_dev {
	uint32_t idx, room;
	_Atomic int state;
	uint32_t peer_id;
	uint64_t device_id;
	grpc_slice bearer; /* "Bearer rvs_..." */
	/* keepalive stream (keepalive.c) */
	grpc_call *ka;
	grpc_metadata ka_md[1];
	grpc_metadata_array ka_init_md, ka_trailing;
	grpc_byte_buffer *ka_send, *ka_recv;
	grpc_status_code ka_status;
	grpc_slice ka_details;
	_Atomic unsigned ka_pending; /* batches in flight; 0: the call is gone */
	atomic_bool send_busy;
	_Atomic uint32_t acks;
	uint32_t acks_before; /* at the start of the measured window */
	bool kicked;
	struct rv_tag t_send, t_recv, t_status;
};

/* ---- keepalive.c ---- */
struct rv_ka_stats {
	_Atomic uint64_t sent, acked, skipped_busy, kicks, rekeys, configs, ended, recv_other;
	_Atomic uint64_t ended_by_status[17];
	struct rv_hist lat;
	atomic_bool end_told; /* the first abnormal end was printed */
};
extern struct rv_ka_stats rv_ka;
/* Open @d's keepalive stream: Hello, then a first heartbeat. */
void rv_ka_open(struct rv_dev *d, const char *room);
/* The heartbeat scheduler: every device's heartbeat once per @interval_ms,
 * spread evenly (device i at i/N of the interval). */
int rv_ka_sched_start(struct rv_dev *devs, uint32_t n, unsigned interval_ms);
void rv_ka_sched_stop(void);
/* Heartbeats skipped while paused (@on); pausing waits until those in
 * flight are acked: false if some were not within 5 s. */
bool rv_ka_sched_pause(bool on);
/* Cancel every open stream and wait until all are gone. */
void rv_ka_close_all(struct rv_dev *devs, uint32_t n);

/* ---- admin_cli.c: the operator's CLI, a process of its own ---- */
/* Fork it (before rv_rpc_start: it starts grpc for itself with @ro's server
 * and CA, one connection, sync calls only). 0, or -1 (errno). */
int rv_cli_start(const struct rv_rpc_opts *ro);
/* @calls ListRooms one after another in that process with @bearer; their
 * latencies into @h (replaced), the failed count and the first failure's
 * status. -1 when the process is gone. */
int rv_cli_list(struct rv_hist *h, grpc_slice bearer, uint32_t calls, uint32_t *failed,
		char *first_error, size_t errlen);
void rv_cli_stop(void); /* ends it and waits */

/* ---- procstat.c: the server process ---- */
struct rv_proc {
	uint64_t rss_kib, hwm_kib;
	uint64_t cpu_ticks; /* utime + stime */
};
int rv_proc_read(int pid, struct rv_proc *out);
long rv_proc_ticks_per_s(void);

/* ---- dpwatch.c: the data plane's sessions over its agent socket ---- */
void rv_dp_watch(const char *sock);
/* The data plane's session count (ReadStats without sessions), -1 on error. */
long rv_dp_count(void);
/* One dump: present[i] for each of @peers; returns the count or -1. */
long rv_dp_present(const uint32_t *peers, bool *present, size_t n);

#endif
