/* A test host for remote data-plane links (control/dp_link_tls.h): runs
 * rv_dp_links_start with its own callbacks, prints what happens and does
 * exchanges through the links on command. Driven by test_fleetlink.py.
 *
 *   dp_link_host --listen HOST:PORT --ca-dir DIR [--names N] [--exchange-timeout S]
 *                [--handshake-timeout MS] [--max-links N]
 *
 * stdout, one line each: "listening PORT", "up NAME udp=.. tcp=.. workers=N
 * max_sessions=N labels=.. version=..", "down NAME: WHY", command results.
 * stdin commands:
 *   upsert NAME ROOM N    UpsertRoom ROOM + N sessions in one exchange
 *   count NAME            ReadStats: "sessions NAME N"
 *   bench NAME N          figures: batched installs and a Resync of N
 *   close NAME            rv_dp_link_close
 *   quit */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "control.h"
#include "dp_link.h"
#include "dp_link_tls.h"

#define MAX_LINKS 8
#define BATCH	  1000

typedef Roomvpn__Dataplane__V1__Request pb_request;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[RV_DP_NAME_MAX];
	struct rv_dp_link *link;
} links[MAX_LINKS];
static uint8_t key[256];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&mu);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&mu);
	va_end(ap);
}

static void on_up(void *arg, struct rv_dp_link *l, const struct rv_dp_info *i)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (int k = 0; k < MAX_LINKS; k++)
		if (!links[k].link) {
			rv_dp_link_ref(l);
			links[k].link = l;
			snprintf(links[k].name, sizeof(links[k].name), "%.63s", i->name);
			break;
		}
	pthread_mutex_unlock(&mu);
	say("up %s udp=%s tcp=%s workers=%u max_sessions=%u labels=%s version=%s", i->name,
	    i->udp_endpoint, i->tcp_endpoint, i->workers, i->max_sessions, i->labels, i->version);
}

static void on_down(void *arg, struct rv_dp_link *l, const char *why)
{
	char name[RV_DP_NAME_MAX] = "?";
	(void)arg;
	pthread_mutex_lock(&mu);
	for (int k = 0; k < MAX_LINKS; k++)
		if (links[k].link == l) {
			memcpy(name, links[k].name, sizeof(name));
			links[k].link = NULL;
			rv_dp_link_unref(l);
		}
	pthread_mutex_unlock(&mu);
	say("down %s: %s", name, why);
}

/* A reference to the link named @name, or NULL. */
static struct rv_dp_link *find(const char *name)
{
	struct rv_dp_link *l = NULL;
	pthread_mutex_lock(&mu);
	for (int k = 0; k < MAX_LINKS && !l; k++)
		if (links[k].link && !strcmp(links[k].name, name)) {
			l = links[k].link;
			rv_dp_link_ref(l);
		}
	pthread_mutex_unlock(&mu);
	return l;
}

/* Requests and their bodies for room @room (10.room.0.0/16, or 10.0.0.0/8
 * when @wide: room for the bench's 100,000) and sessions @first..
 * @first+n-1: peer-id room<<16 | i+1. */
struct batch {
	Roomvpn__Dataplane__V1__Room r;
	Roomvpn__Dataplane__V1__UpsertRoom ur;
	Roomvpn__Dataplane__V1__Session *s;
	Roomvpn__Dataplane__V1__Session **sp;
	Roomvpn__Dataplane__V1__Key *k;
	Roomvpn__Dataplane__V1__UpsertSession *us;
	pb_request *rq;
	pb_request **rp;
	size_t n;
};

static void session(Roomvpn__Dataplane__V1__Session *s, Roomvpn__Dataplane__V1__Key *k,
		    const Roomvpn__Dataplane__V1__Room *room, uint32_t i)
{
	roomvpn__dataplane__v1__session__init(s);
	roomvpn__dataplane__v1__key__init(k);
	s->peer_id = room->room_id << 16 | (i + 1);
	s->room_id = room->room_id;
	s->vip = room->subnet + i + 2;
	s->cipher = "AES-256-GCM";
	k->material.data = key;
	k->material.len = sizeof(key);
	s->key = k;
}

static void batch_build(struct batch *b, uint32_t room, uint32_t first, size_t n, bool with_room,
			bool wide)
{
	memset(b, 0, sizeof(*b));
	roomvpn__dataplane__v1__room__init(&b->r);
	b->r.room_id = room;
	b->r.subnet = wide ? 10u << 24 : (10u << 24) | room << 16;
	b->r.prefix_len = wide ? 8 : 16;
	roomvpn__dataplane__v1__upsert_room__init(&b->ur);
	b->ur.room = &b->r;
	b->n = n + (with_room ? 1 : 0);
	b->s = calloc(n + 1, sizeof(*b->s));
	b->sp = calloc(n + 1, sizeof(*b->sp));
	b->k = calloc(n + 1, sizeof(*b->k));
	b->us = calloc(n + 1, sizeof(*b->us));
	b->rq = calloc(b->n + 1, sizeof(*b->rq));
	b->rp = calloc(b->n + 1, sizeof(*b->rp));
	if (!b->s || !b->sp || !b->k || !b->us || !b->rq || !b->rp) {
		fprintf(stderr, "dp_link_host: out of memory\n");
		exit(1);
	}
	size_t j = 0;
	if (with_room) {
		roomvpn__dataplane__v1__request__init(&b->rq[0]);
		b->rq[0].body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM;
		b->rq[0].upsert_room = &b->ur;
		b->rp[j++] = &b->rq[0];
	}
	for (size_t i = 0; i < n; i++, j++) {
		session(&b->s[i], &b->k[i], &b->r, first + (uint32_t)i);
		b->sp[i] = &b->s[i];
		roomvpn__dataplane__v1__upsert_session__init(&b->us[i]);
		b->us[i].session = &b->s[i];
		roomvpn__dataplane__v1__request__init(&b->rq[j]);
		b->rq[j].request_id = j + 1;
		b->rq[j].body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION;
		b->rq[j].upsert_session = &b->us[i];
		b->rp[j] = &b->rq[j];
	}
}

static void batch_free(struct batch *b)
{
	free(b->s);
	free(b->sp);
	free(b->k);
	free(b->us);
	free(b->rq);
	free(b->rp);
}

static void cmd_upsert(const char *name, uint32_t room, size_t n)
{
	char err[300];
	struct rv_dp_link *l = find(name);
	struct batch b;
	if (!l)
		return say("err no link %s", name);
	batch_build(&b, room, 0, n, true, false);
	int rc = rv_dp_link_exchange(l, b.rp, b.n, err, sizeof(err));
	batch_free(&b);
	rv_dp_link_unref(l);
	if (rc < 0)
		return say("err %s", err);
	say("ok upsert %zu", n);
}

static void cmd_count(const char *name)
{
	char err[300];
	struct rv_dp_link *l = find(name);
	if (!l)
		return say("err no link %s", name);
	Roomvpn__Dataplane__V1__Response *r = rv_dp_link_stats(l, true, err, sizeof(err));
	rv_dp_link_unref(l);
	if (!r)
		return say("err %s", err);
	say("sessions %s %u listed %zu", name, r->stats->sessions, r->stats->n_session);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
}

/* Every session read in pages sized for @expect sessions: counted, and
 * each peer-id once (a page boundary neither drops nor repeats one). */
static int by_peer_id(const void *a, const void *b)
{
	uint32_t x = (*(Roomvpn__Dataplane__V1__SessionStats *const *)a)->peer_id;
	uint32_t y = (*(Roomvpn__Dataplane__V1__SessionStats *const *)b)->peer_id;
	return x < y ? -1 : x > y;
}

static void cmd_paged(const char *name, uint32_t expect)
{
	char err[300];
	struct rv_dp_link *l = find(name);
	if (!l)
		return say("err no link %s", name);
	Roomvpn__Dataplane__V1__Response *r = rv_dp_link_stats_paged(l, expect, err, sizeof(err));
	rv_dp_link_unref(l);
	if (!r)
		return say("err %s", err);
	Roomvpn__Dataplane__V1__Stats *st = r->stats;
	size_t distinct = 0;
	qsort(st->session, st->n_session, sizeof(*st->session), by_peer_id);
	for (size_t i = 0; i < st->n_session; i++)
		distinct += !i || st->session[i]->peer_id != st->session[i - 1]->peer_id;
	say("paged %s sessions %u listed %zu distinct %zu", name, st->sessions, st->n_session,
	    distinct);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
}

/* One ReadStats of the peer-ids from @from on: the data plane answers only
 * those. */
static void cmd_range(const char *name, uint32_t from)
{
	char err[300];
	struct rv_dp_link *l = find(name);
	Roomvpn__Dataplane__V1__ReadStats ask = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	if (!l)
		return say("err no link %s", name);
	ask.sessions = true;
	ask.peer_id_from = from;
	Roomvpn__Dataplane__V1__Response *r = l->ops->stats(l, &ask, 0, err, sizeof(err));
	rv_dp_link_unref(l);
	if (!r)
		return say("err %s", err);
	say("range %s sessions %u listed %zu", name, r->stats->sessions, r->stats->n_session);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
}

/* Figures, not pass/fail: installs in batches of BATCH, then a Resync of
 * the same sessions. */
static void cmd_bench(const char *name, size_t n)
{
	char err[300];
	struct rv_dp_link *l = find(name);
	struct batch b;
	if (!l)
		return say("err no link %s", name);
	uint32_t room = 200;
	uint64_t t0 = rv_clock_mono_ns();
	for (size_t done = 0; done < n; done += BATCH) {
		size_t m = n - done < BATCH ? n - done : BATCH;
		batch_build(&b, room, (uint32_t)done, m, done == 0, true);
		int rc = rv_dp_link_exchange(l, b.rp, b.n, err, sizeof(err));
		batch_free(&b);
		if (rc < 0) {
			rv_dp_link_unref(l);
			return say("err %s", err);
		}
	}
	double t = (double)(rv_clock_mono_ns() - t0) / 1e9;
	say("bench install %zu sessions in batches of %d: %.3f s, %.0f sessions/s", n, BATCH, t,
	    (double)n / t);

	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT, *rp[1] = {&rq};
	Roomvpn__Dataplane__V1__Room *rooms[1];
	batch_build(&b, room, 0, n, false, true);
	rooms[0] = &b.r;
	rs.n_rooms = 1;
	rs.rooms = rooms;
	rs.n_sessions = n;
	rs.sessions = b.sp;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC;
	rq.resync = &rs;
	size_t bytes = protobuf_c_message_get_packed_size(&rq.base);
	t0 = rv_clock_mono_ns();
	int rc = rv_dp_link_exchange(l, rp, 1, err, sizeof(err));
	t = (double)(rv_clock_mono_ns() - t0) / 1e9;
	batch_free(&b);
	rv_dp_link_unref(l);
	if (rc < 0)
		return say("err %s", err);
	say("bench resync %zu sessions (%.1f MB): %.3f s", n, (double)bytes / 1e6, t);
}

static void usage(void)
{
	fprintf(stderr, "usage: dp_link_host --listen HOST:PORT --ca-dir DIR [--names N] "
			"[--exchange-timeout S] [--handshake-timeout MS] [--max-links N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct rv_control ctl;
	char err[512], line[512];
	rv_control_config_defaults(&ctl.cfg);
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--listen"))
			snprintf(ctl.cfg.dp_listen, sizeof(ctl.cfg.dp_listen), "%s", v);
		else if (!strcmp(a, "--ca-dir"))
			snprintf(ctl.cfg.dp_ca_dir, sizeof(ctl.cfg.dp_ca_dir), "%s", v);
		else if (!strcmp(a, "--names"))
			snprintf(ctl.cfg.dp_cert_names, sizeof(ctl.cfg.dp_cert_names), "%s", v);
		else if (!strcmp(a, "--exchange-timeout"))
			ctl.cfg.dp_exchange_timeout_ns = strtoull(v, NULL, 10) * 1000000000ull;
		else if (!strcmp(a, "--handshake-timeout"))
			ctl.cfg.dp_handshake_timeout_ns = strtoull(v, NULL, 10) * 1000000ull;
		else if (!strcmp(a, "--max-links"))
			ctl.cfg.dp_max_links = (uint32_t)strtoul(v, NULL, 10);
		else
			usage();
	}
	if (!ctl.cfg.dp_listen[0] || !ctl.cfg.dp_ca_dir[0])
		usage();
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	if (rv_dp_links_start(&ctl, on_up, on_down, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "dp_link_host: %s\n", err);
		return 1;
	}
	say("listening %d", rv_dp_links_port());
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32], name[64];
		unsigned long a = 0, b = 0;
		int n = sscanf(line, "%31s %63s %lu %lu", cmd, name, &a, &b);
		if (n >= 1 && !strcmp(cmd, "quit"))
			break;
		else if (n == 4 && !strcmp(cmd, "upsert"))
			cmd_upsert(name, (uint32_t)a, b);
		else if (n == 2 && !strcmp(cmd, "count"))
			cmd_count(name);
		else if (n == 3 && !strcmp(cmd, "bench"))
			cmd_bench(name, a);
		else if (n == 3 && !strcmp(cmd, "paged"))
			cmd_paged(name, (uint32_t)a);
		else if (n == 3 && !strcmp(cmd, "range"))
			cmd_range(name, (uint32_t)a);
		else if (n == 2 && !strcmp(cmd, "close")) {
			struct rv_dp_link *l = find(name);
			if (l) {
				rv_dp_link_close(l);
				rv_dp_link_unref(l);
			}
			say(l ? "ok close" : "err no link %s", name);
		} else
			say("err unknown command: %s", line);
	}
	rv_dp_links_stop();
	return 0;
}
