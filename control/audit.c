/* Audit log recording and listing (audit.h). Records are AuditRecord
 * messages under "a/<time ns, 16 hex>/<seq, 8 hex>", so a prefix scan lists
 * them oldest first and a time bound is a key bound. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "audit_refused.h"
#include "clock.h"
#include "store.h"

#define KEY_LEN	     (2 + 16 + 1 + 8) /* "a/" time "/" seq */
#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

#define DAY_NS	     (86400ull * 1000000000ull)
#define PRUNE_PERIOD (60ull * 1000000000ull) /* retention is applied this often */
#define SYNC_PERIOD  (1000000000ull)	     /* records are fsynced this often */

struct rv_audit {
	struct rv_store *store;
	atomic_uint seq;
	struct rv_audit_refused *refused; /* NULL: every refusal its own record */
	uint64_t retention_ns;		  /* 0: kept */
	uint64_t max_records;		  /* 0: no cap */
	/* the maintenance thread: aggregates written, retention applied */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	uint64_t period_ns;
	atomic_bool unsynced; /* records written since the last WAL sync */
};

static void make_key(char key[KEY_LEN + 1], uint64_t time_ns, uint32_t seq)
{
	snprintf(key, KEY_LEN + 1, "a/%016" PRIx64 "/%08" PRIx32, time_ns, seq);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The record of @ev, packed into @buf (@stack, or malloc'd when larger);
 * *len its length. NULL out of memory. */
static uint8_t *pack_event(const struct rv_audit_event *ev, uint8_t *stack, size_t stack_len,
			   size_t *len)
{
	Roomvpn__V1__AuditRecord r = ROOMVPN__V1__AUDIT_RECORD__INIT;

	r.time_unix_ns = ev->time_ns;
	/* protobuf-c's pack only reads the strings. */
	r.actor = (char *)or_empty(ev->actor);
	r.source = (char *)or_empty(ev->source);
	r.action = (char *)or_empty(ev->action);
	r.target = (char *)or_empty(ev->target);
	r.status = (uint32_t)ev->status;
	r.detail = (char *)or_empty(ev->detail);
	*len = roomvpn__v1__audit_record__get_packed_size(&r);
	uint8_t *buf = *len <= stack_len ? stack : malloc(*len);
	if (buf)
		roomvpn__v1__audit_record__pack(&r, buf);
	return buf;
}

static int store_event(struct rv_audit *a, const struct rv_audit_event *ev, bool sync)
{
	char key[KEY_LEN + 1];
	uint8_t stack[1024];
	size_t len;
	uint8_t *buf = pack_event(ev, stack, sizeof(stack), &len);
	if (!buf)
		return -1;
	make_key(key, ev->time_ns, atomic_fetch_add(&a->seq, 1));
	int rc = rv_store_put(a->store, key, KEY_LEN, buf, len, sync);
	if (buf != stack)
		free(buf);
	if (rc < 0)
		rv_log(RV_LOG_ERROR, "audit: cannot store %s by '%s' on '%s'", or_empty(ev->action),
		       or_empty(ev->actor), or_empty(ev->target));
	return rc;
}

int rv_audit_batch_add(struct rv_rpc_ctx *ctx, struct rv_store_batch *b)
{
	struct rv_audit *a = ctx->ctl->audit;
	if (!a || !ctx->audit_action || !ctx->ctl->audit_record)
		return 0;
	struct rv_audit_event ev = {
	    .time_ns = rv_control_now_real(),
	    .actor = ctx->actor[0] ? ctx->actor : ctx->who.username,
	    .source = ctx->peer,
	    .action = ctx->audit_action,
	    .target = ctx->target,
	    .status = GRPC_STATUS_OK,
	    .detail = "",
	};
	char key[KEY_LEN + 1];
	uint8_t stack[1024];
	size_t len;
	uint8_t *buf = pack_event(&ev, stack, sizeof(stack), &len);
	if (!buf)
		return -1;
	make_key(key, ev.time_ns, atomic_fetch_add(&a->seq, 1));
	rv_store_batch_put(b, key, KEY_LEN, buf, len);
	if (buf != stack)
		free(buf);
	return 0;
}

/* Records go to the WAL without an fsync each (a Join, a Bootstrap would
 * wait for a second fsync): they survive a crash of the process at once,
 * and a crash of the machine after the maintenance thread's WAL sync at
 * most SYNC_PERIOD later (or any synced write after them). */
int rv_audit_record(struct rv_audit *a, const struct rv_audit_event *ev)
{
	int rc = store_event(a, ev, false);
	atomic_store(&a->unsynced, true);
	return rc;
}

static void sync_records(struct rv_audit *a)
{
	if (atomic_exchange(&a->unsynced, false) && rv_store_sync(a->store) != 0)
		rv_log(RV_LOG_ERROR, "audit: WAL sync failed");
}

/* Refused logins are not synced one by one: losing the last of them in a
 * crash loses no decision anyone was told about. */
static void write_refused(void *arg, const struct rv_audit_event *ev)
{
	struct rv_audit *a = arg;
	store_event(a, ev, false);
	atomic_store(&a->unsynced, true);
}

static void hook_record(struct rv_control *ctl, const struct rv_audit_event *ev)
{
	struct rv_audit *a = ctl->audit;
	if (!a)
		return;
	if (a->refused && ev->status != 0 && ev->action && strcmp(ev->action, "auth.login") == 0)
		rv_audit_refused_add(a->refused, ev);
	else
		rv_audit_record(a, ev);
}

/* ---- retention ------------------------------------------------------------- */

struct prune {
	struct rv_store_batch *b;
	char cutoff[KEY_LEN + 1]; /* keys before it are too old ("": none) */
	uint64_t excess;	  /* the oldest this many go regardless */
	long n;
};

static int prune_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct prune *p = arg;
	(void)v, (void)vl;
	bool old = p->cutoff[0] && kl == KEY_LEN && memcmp(k, p->cutoff, KEY_LEN) < 0;
	if (!old && (uint64_t)p->n >= p->excess)
		return 1;
	rv_store_batch_delete(p->b, k, kl);
	p->n++;
	return 0;
}

long rv_audit_prune(struct rv_audit *a, uint64_t older_than_ns, uint64_t max_records)
{
	struct prune p = {0};
	uint64_t n = 0;

	if (older_than_ns)
		make_key(p.cutoff, older_than_ns, 0);
	if (max_records) {
		if (rv_store_count_prefix(a->store, "a/", 2, &n) != 0)
			return -1;
		p.excess = n > max_records ? n - max_records : 0;
	}
	if (!(p.b = rv_store_batch_new()))
		return -1;
	int rc = rv_store_scan_prefix(a->store, "a/", 2, NULL, 0, prune_cb, &p);
	if (rc == 0 && p.n)
		rc = rv_store_batch_commit(a->store, p.b, false);
	rv_store_batch_free(p.b);
	return rc == 0 ? p.n : -1;
}

static void maintain(struct rv_audit *a, uint64_t *last_prune)
{
	uint64_t now = rv_control_now_real();
	sync_records(a);
	if (a->refused)
		rv_audit_refused_flush(a->refused, now, false);
	if ((!a->retention_ns && !a->max_records) || now - *last_prune < PRUNE_PERIOD)
		return;
	*last_prune = now;
	long n =
	    rv_audit_prune(a, a->retention_ns && now > a->retention_ns ? now - a->retention_ns : 0,
			   a->max_records);
	if (n != 0)
		rv_log(n < 0 ? RV_LOG_WARN : RV_LOG_INFO, "audit: pruned %ld records", n);
}

static void *maintainer_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-audit"); /* top -H, perf */
	struct rv_audit *a = arg;
	uint64_t last_prune = 0;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, a->period_ns);
		if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0 || a->stop)
			continue;
		pthread_mutex_unlock(&a->mu);
		maintain(a, &last_prune);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int rv_audit_init(struct rv_control *ctl)
{
	const struct rv_control_config *c = &ctl->cfg;
	struct rv_audit *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	a->store = ctl->store;
	atomic_init(&a->seq, 0);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->retention_ns = c->audit_retention_days * DAY_NS;
	a->max_records = c->audit_max_records;
	if (c->audit_refused_interval_ns &&
	    !(a->refused = rv_audit_refused_new(c->audit_refused_interval_ns, write_refused, a)))
		goto err;
	a->period_ns = c->audit_refused_interval_ns ? c->audit_refused_interval_ns : SYNC_PERIOD;
	if (a->period_ns > SYNC_PERIOD)
		a->period_ns = SYNC_PERIOD;
	if (pthread_create(&a->thread, NULL, maintainer_main, a) != 0)
		goto err;
	a->running = true;
	ctl->audit = a;
	ctl->audit_record = hook_record;
	return 0;
err:
	rv_audit_refused_free(a->refused);
	free(a);
	return -1;
}

void rv_audit_fini(struct rv_control *ctl)
{
	struct rv_audit *a = ctl->audit;
	ctl->audit_record = NULL;
	if (!a)
		return;
	if (a->running) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	rv_audit_refused_free(a->refused); /* writes what is still counted */
	sync_records(a);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
	ctl->audit = NULL;
}

/* ---- listing ------------------------------------------------------------ */

struct page {
	const struct rv_audit_filter *f;
	char until_key[KEY_LEN + 1];
	Roomvpn__V1__AuditRecord **recs;
	size_t n, want;
	bool more;
	char last_key[KEY_LEN + 1];
	int err;
};

static bool action_matches(const char *want, const char *got)
{
	size_t wl = strlen(want);
	if (wl && want[wl - 1] == '.')
		return strncmp(got, want, wl) == 0;
	return strcmp(got, want) == 0;
}

static bool matches(const struct rv_audit_filter *f, const Roomvpn__V1__AuditRecord *r)
{
	if (f->actor && f->actor[0] && strcmp(f->actor, r->actor) != 0)
		return false;
	if (f->action && f->action[0] && !action_matches(f->action, r->action))
		return false;
	return true;
}

static int page_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct page *p = arg;
	if (p->until_key[0] && kl == KEY_LEN && memcmp(k, p->until_key, KEY_LEN) >= 0)
		return 1;
	Roomvpn__V1__AuditRecord *r = roomvpn__v1__audit_record__unpack(NULL, vl, v);
	if (!r) {
		rv_log(RV_LOG_WARN, "audit: skipping an unreadable record %.*s", (int)kl,
		       (const char *)k);
		return 0;
	}
	if (!matches(p->f, r)) {
		roomvpn__v1__audit_record__free_unpacked(r, NULL);
		return 0;
	}
	if (p->n == p->want) { /* one more match: there is a next page */
		roomvpn__v1__audit_record__free_unpacked(r, NULL);
		p->more = true;
		return 1;
	}
	p->recs[p->n++] = r;
	memcpy(p->last_key, k, kl < KEY_LEN ? kl : KEY_LEN);
	p->last_key[KEY_LEN] = '\0';
	return 0;
}

static bool token_ok(const char *t)
{
	if (strlen(t) != KEY_LEN || t[0] != 'a' || t[1] != '/' || t[18] != '/')
		return false;
	for (int i = 2; i < KEY_LEN; i++)
		if (i != 18 && !strchr("0123456789abcdef", t[i]))
			return false;
	return true;
}

int rv_audit_list(struct rv_audit *a, const struct rv_audit_filter *f, uint32_t page_size,
		  const char *page_token, Roomvpn__V1__AuditRecord ***out, size_t *n, char *next,
		  size_t nextlen)
{
	struct page p = {.f = f};
	char since_key[KEY_LEN + 1] = "";
	const char *start = NULL;

	if (page_token && page_token[0]) {
		if (!token_ok(page_token))
			return -2;
		start = page_token;
	}
	if (f->since_ns) {
		/* Start just before the first key at since_ns. */
		make_key(since_key, f->since_ns - 1, UINT32_MAX);
		if (!start || strcmp(since_key, start) > 0)
			start = since_key;
	}
	if (f->until_ns)
		make_key(p.until_key, f->until_ns, 0);
	p.want = page_size == 0 ? PAGE_DEFAULT : page_size > PAGE_MAX ? PAGE_MAX : page_size;
	p.recs = calloc(p.want, sizeof(*p.recs));
	if (!p.recs)
		return -1;
	int rc =
	    rv_store_scan_prefix(a->store, "a/", 2, start, start ? strlen(start) : 0, page_cb, &p);
	if (rc < 0) {
		rv_audit_page_free(p.recs, p.n);
		return -1;
	}
	snprintf(next, nextlen, "%s", p.more ? p.last_key : "");
	if (p.n == 0) {
		free(p.recs);
		p.recs = NULL;
	}
	*out = p.recs;
	*n = p.n;
	return 0;
}

void rv_audit_page_free(Roomvpn__V1__AuditRecord **recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		roomvpn__v1__audit_record__free_unpacked(recs[i], NULL);
	free(recs);
}

grpc_status_code rv_audit_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListAuditRequest *q = (const Roomvpn__V1__ListAuditRequest *)req;
	struct rv_audit_filter f = {q->actor, q->action, q->since_unix_ns, q->until_unix_ns};
	char next[KEY_LEN + 1];
	Roomvpn__V1__AuditRecord **recs;
	size_t n;

	if (!ctx->ctl->audit) {
		snprintf(msg, msglen, "the audit log is not available");
		return GRPC_STATUS_UNAVAILABLE;
	}
	if (f.since_ns && f.until_ns && f.until_ns <= f.since_ns) {
		snprintf(msg, msglen, "until_unix_ns must be after since_unix_ns");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = rv_audit_list(ctx->ctl->audit, &f, q->page_size, q->page_token, &recs, &n, next,
			       sizeof(next));
	if (rc == -2) {
		snprintf(msg, msglen, "page_token is not one this server handed out");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (rc < 0) {
		snprintf(msg, msglen, "cannot read the audit log");
		return GRPC_STATUS_INTERNAL;
	}
	Roomvpn__V1__ListAuditResponse *r = malloc(sizeof(*r));
	char *tok = strdup(next);
	if (!r || !tok) {
		free(r);
		free(tok);
		rv_audit_page_free(recs, n);
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	roomvpn__v1__list_audit_response__init(r);
	r->n_records = n;
	r->records = recs;
	r->next_page_token = tok;
	*resp = &r->base;
	return GRPC_STATUS_OK;
}
