/* The load client's JSON report (report.h). */
#include "report.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>

#include <json-c/json.h>

#include "load.h"

static void add(struct json_object *j, const char *key, struct json_object *v)
{
	json_object_object_add(j, key, v);
}

static void add_u64(struct json_object *j, const char *key, uint64_t v)
{
	add(j, key, json_object_new_uint64(v));
}

/* A figure printed with @fmt ("%.3f"): readable, and the same number when
 * parsed; null when it is not a number. */
static void add_num(struct json_object *j, const char *key, const char *fmt, double v)
{
	char buf[64];

	if (!isfinite(v)) {
		add(j, key, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), fmt, v);
	add(j, key, json_object_new_double_s(v, buf));
}

static void add_ms(struct json_object *j, const char *key, uint64_t ns)
{
	add_num(j, key, "%.3f", (double)ns / 1e6);
}

static struct json_object *phase_json(const struct rv_phase *ph)
{
	struct json_object *j = json_object_new_object();

	add_u64(j, "total", ph->total);
	add_u64(j, "ok", atomic_load(&ph->ok));
	add_u64(j, "skipped", atomic_load(&ph->skipped));
	add_u64(j, "resource_exhausted", atomic_load(&ph->exhausted));
	add_num(j, "per_s", "%.1f", rv_phase_rate(ph));
	add_ms(j, "p50_ms", rv_hist_pct(&ph->lat, 50));
	add_ms(j, "p99_ms", rv_hist_pct(&ph->lat, 99));
	add_num(j, "seconds", "%.3f", (double)(ph->t1_ns - ph->t0_ns) / 1e9);
	return j;
}

static struct json_object *heartbeats_json(const struct figures *f)
{
	struct json_object *j = json_object_new_object();

	add_u64(j, "sent", atomic_load(&rv_ka.sent));
	add_u64(j, "acked", atomic_load(&rv_ka.acked));
	add_u64(j, "skipped_busy", atomic_load(&rv_ka.skipped_busy));
	add_num(j, "per_s", "%.1f", f->hb_per_s);
	add_ms(j, "ack_p50_ms", f->hb_p50_ns);
	add_ms(j, "ack_p99_ms", f->hb_p99_ns);
	add_ms(j, "ack_max_ms", f->hb_max_ns);
	add_num(j, "window_s", "%.2f", f->window_s);
	return j;
}

static struct json_object *streams_json(void)
{
	struct json_object *j = json_object_new_object();

	add_u64(j, "ended", atomic_load(&rv_ka.ended));
	add_u64(j, "kicks", atomic_load(&rv_ka.kicks));
	add_u64(j, "rekeys", atomic_load(&rv_ka.rekeys));
	add_u64(j, "configs", atomic_load(&rv_ka.configs));
	add_u64(j, "ended_not_found", atomic_load(&rv_ka.ended_by_status[GRPC_STATUS_NOT_FOUND]));
	add_u64(j, "ended_resource_exhausted",
		atomic_load(&rv_ka.ended_by_status[GRPC_STATUS_RESOURCE_EXHAUSTED]));
	add_u64(j, "ended_unavailable",
		atomic_load(&rv_ka.ended_by_status[GRPC_STATUS_UNAVAILABLE]));
	return j;
}

static struct json_object *server_json(const struct figures *f)
{
	struct json_object *j = json_object_new_object();
	double per_t =
	    f->up_n ? ((double)f->up.rss_kib - (double)f->before.rss_kib) * 1024.0 / f->up_n : 0;

	add_u64(j, "rss_kib_before_bootstrap", f->before.rss_kib);
	add_u64(j, "rss_kib_up", f->up.rss_kib);
	add_u64(j, "hwm_kib", f->w1.hwm_kib);
	add_num(j, "rss_bytes_per_tunnel", "%.0f", per_t);
	add_num(j, "cpu_pct", "%.2f", f->cpu_pct);
	add_num(j, "cpu_pct_per_1000_hb_s", "%.2f",
		f->hb_per_s > 0 ? f->cpu_pct * 1000.0 / f->hb_per_s : 0);
	return j;
}

static struct json_object *list_rooms_json(const struct figures *f, uint32_t calls)
{
	struct json_object *j = json_object_new_object();

	add_u64(j, "calls", calls);
	add_ms(j, "p50_ms_0", rv_hist_pct(&f->list0, 50));
	add_ms(j, "p99_ms_0", rv_hist_pct(&f->list0, 99));
	add_ms(j, "p50_ms_joined", rv_hist_pct(&f->list_joined, 50));
	add_ms(j, "p99_ms_joined", rv_hist_pct(&f->list_joined, 99));
	add_ms(j, "p50_ms_held", rv_hist_pct(&f->list_n, 50));
	add_ms(j, "p99_ms_held", rv_hist_pct(&f->list_n, 99));
	add_ms(j, "p50_ms_held_quiet", rv_hist_pct(&f->list_quiet, 50));
	add_ms(j, "p99_ms_held_quiet", rv_hist_pct(&f->list_quiet, 99));
	return j;
}

static struct json_object *kick_json(const struct figures *f)
{
	struct json_object *j = json_object_new_object();

	add_u64(j, "timed", f->kicks_done);
	add_u64(j, "not_gone_30s", f->kicks_lost);
	add_ms(j, "p50_ms", rv_hist_pct(&f->kick, 50));
	add_ms(j, "p99_ms", rv_hist_pct(&f->kick, 99));
	add_ms(j, "max_ms", rv_hist_pct(&f->kick, 100));
	return j;
}

static struct json_object *resync_json(const struct figures *f)
{
	struct json_object *j = json_object_new_object();

	add(j, "run", json_object_new_boolean(f->resync_run));
	add(j, "sessions_before", json_object_new_int64(f->resync_want));
	add(j, "sessions_back", json_object_new_int64(f->resync_got));
	add_num(j, "seconds", "%.3f", f->resync_s);
	add_num(j, "restart_seconds", "%.3f", f->restart_s);
	return j;
}

/* The figures as one JSON object on stdout (json-c; counters as numbers,
 * durations in the unit their key names). */
void rv_report_print(const struct rv_phase *ph, size_t nph, const struct figures *f,
		     const struct rv_report_run *run)
{
	static const char *const keys[] = {"users", "rooms", "login", "join", "bootstrap"};
	struct json_object *j = json_object_new_object();
	const char *first = "";

	for (size_t i = 0; i < nph && !first[0]; i++)
		first = ph[i].first_error;
	add_u64(j, "tunnels", run->tunnels);
	add_u64(j, "users", run->users);
	add_u64(j, "rooms", run->rooms);
	add_u64(j, "connections", run->connections);
	add_u64(j, "concurrency", run->concurrency);
	add_u64(j, "keepalive_s", run->keepalive_s);
	for (size_t i = 0; i < nph; i++)
		add(j, keys[i], phase_json(&ph[i]));
	add_u64(j, "tunnels_up", f->up_n);
	add_u64(j, "tunnels_acked_in_window", f->acked_n);
	add_num(j, "up_seconds", "%.3f", f->up_s);
	add_u64(j, "refused_resource_exhausted", atomic_load(&ph[4].exhausted));
	add_u64(j, "streams_ended_before_kicks", f->ended_early);
	add(j, "first_refusal", json_object_new_string(first));
	add(j, "heartbeats", heartbeats_json(f));
	add(j, "streams", streams_json());
	if (f->have_proc)
		add(j, "server", server_json(f));
	add(j, "list_rooms", list_rooms_json(f, run->list_calls));
	add(j, "kick", kick_json(f));
	add(j, "resync", resync_json(f));
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}
