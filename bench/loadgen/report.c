/* Results: a table on the terminal, a JSON file and a gnuplot plot of
 * throughput and latency against packet size. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "engine.h"

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* "model name" of /proc/cpuinfo, online CPUs and the load average: the
 * figures mean little without them (e.g. on a shared VM). */
static void machine(char *cpu, size_t cap, double *load1)
{
	char line[256];
	snprintf(cpu, cap, "unknown");
	*load1 = -1;
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(cpu, cap, "%s", colon + 2);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/loadavg", "r");
	if (f && fscanf(f, "%lf", load1) != 1)
		*load1 = -1;
	if (f)
		fclose(f);
}

/* Table mark of a point's rate limit. */
static const char *mark(const struct lg_point *p)
{
	return p->limit == LG_LIMIT_GENERATOR ? "*" : p->limit == LG_LIMIT_DATA_PLANE ? "!" : "";
}

void lg_report_table(const struct lg_opts *o, const struct lg_result *r, unsigned n, FILE *f)
{
	char cpu[128];
	double load1;
	machine(cpu, sizeof(cpu), &load1);
	fprintf(f, "\n%s: %s, %u clients in %u rooms, %u flows; PDR = loss <= %g%%\n", o->label,
		rv_cipher_name(o->suite), o->clients, o->rooms, o->flows, o->pdr_loss * 100);
	fprintf(f, "machine: %s, %ld CPUs, load average %.2f at the end\n", cpu,
		sysconf(_SC_NPROCESSORS_ONLN), load1);
	fprintf(f, "%-6s | %9s %9s | %9s %9s %8s | %8s %8s %8s | %8s %8s | %6s %6s %6s\n", "size",
		"NDR kpps", "NDR Mb/s", "PDR kpps", "PDR Mb/s", "PDR loss", "p50 us", "p99 us",
		"p99.9 us", "p50@10%", "p99@10%", "ooo", "decerr", "payerr");
	for (unsigned i = 0; i < n; i++) {
		const struct lg_point *a = &r[i].ndr, *b = &r[i].pdr, *low = &r[i].low;
		const struct lg_point *lat = a->found ? a : b; /* latency at NDR */
		char ndr[2][16], pdr[3][16];
		snprintf(ndr[0], 16, a->found ? "%.1f%s" : "-", a->pps / 1e3, mark(a));
		snprintf(ndr[1], 16, a->found ? "%.1f" : "-", a->mbps_inner);
		snprintf(pdr[0], 16, b->found ? "%.1f%s" : "-", b->pps / 1e3, mark(b));
		snprintf(pdr[1], 16, b->found ? "%.1f" : "-", b->mbps_inner);
		snprintf(pdr[2], 16, b->found ? "%.3f%%" : "-", b->loss * 100);
		char lo[2][16];
		snprintf(lo[0], 16, low->found ? "%.1f" : "-", us(low->p50_ns));
		snprintf(lo[1], 16, low->found ? "%.1f" : "-", us(low->p99_ns));
		fprintf(f,
			"%-6s | %9s %9s | %9s %9s %8s | %8.1f %8.1f %8.1f | %8s %8s | %6llu "
			"%6llu %6llu\n",
			r[i].size.name, ndr[0], ndr[1], pdr[0], pdr[1], pdr[2], us(lat->p50_ns),
			us(lat->p99_ns), us(lat->p999_ns), lo[0], lo[1],
			(unsigned long long)(a->ooo + b->ooo + low->ooo),
			(unsigned long long)r[i].tot.decrypt_errors,
			(unsigned long long)r[i].tot.payload_errors);
	}
	fprintf(f,
		"Mb/s = inner IP bytes; p50..p99.9 at the NDR (or PDR) trial, @10%% at a tenth "
		"of the NDR;\n* = the generator was the limit (due packets skipped: its own loop "
		"could not offer more);\n! = the data plane was (the port refused sends: it did "
		"not drain)\n");
}

static void add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	add(o, key, json_object_new_uint64(v));
}

/* A figure printed with @fmt (e.g. "%.1f"), not with every digit a double
 * has: the report stays readable and parses as the same number (null when
 * it is not a number). */
static void add_num(struct json_object *o, const char *key, const char *fmt, double v)
{
	char buf[64];

	if (!isfinite(v)) {
		add(o, key, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), fmt, v);
	add(o, key, json_object_new_double_s(v, buf));
}

static struct json_object *json_point(const struct lg_point *p)
{
	struct json_object *o = json_object_new_object(), *lat = json_object_new_object();

	add(o, "found", json_object_new_boolean(p->found));
	add_num(o, "pps", "%.1f", p->pps);
	add_num(o, "mbps_inner", "%.3f", p->mbps_inner);
	add_num(o, "mbps_wire", "%.3f", p->mbps_wire);
	add_num(o, "loss", "%.6f", p->loss);
	add_u64(o, "sent", p->sent);
	add_u64(o, "received", p->received);
	add_u64(o, "out_of_order", p->ooo);
	add_u64(o, "decrypt_errors", p->decrypt_errors);
	add_u64(o, "payload_errors", p->payload_errors);
	add_u64(o, "tx_refused", p->tx_refused);
	add_u64(o, "skipped", p->skipped);
	add(o, "limited_by", json_object_new_string(lg_limit_name(p->limit)));
	add(o, "generator_limited", json_object_new_boolean(p->gen_limited));
	add_u64(lat, "p50", p->p50_ns);
	add_u64(lat, "p99", p->p99_ns);
	add_u64(lat, "p99_9", p->p999_ns);
	add_u64(lat, "max", p->max_ns);
	add(o, "latency_ns", lat);
	return o;
}

static struct json_object *json_size(const struct lg_result *r)
{
	struct json_object *o = json_object_new_object();

	add(o, "size", json_object_new_string(r->size.name));
	add_num(o, "avg_inner_len", "%.1f", r->avg_inner_len);
	add_num(o, "avg_wire_len", "%.1f", r->avg_wire_len);
	add_u64(o, "trials", r->trials);
	add_u64(o, "sent", r->tot.sent);
	add_u64(o, "received", r->tot.received);
	add_u64(o, "decrypt_errors", r->tot.decrypt_errors);
	add_u64(o, "payload_errors", r->tot.payload_errors);
	add(o, "ndr", json_point(&r->ndr));
	add(o, "pdr", json_point(&r->pdr));
	add(o, "low_load", json_point(&r->low));
	return o;
}

static struct json_object *json_report(const struct lg_opts *o, const struct lg_result *r,
				       unsigned n, const struct lg_totals *tot)
{
	struct json_object *j = json_object_new_object(), *m = json_object_new_object(),
			   *t = json_object_new_object(), *a = json_object_new_array();
	char cpu[128];
	double load1;

	machine(cpu, sizeof(cpu), &load1);
	add(j, "label", json_object_new_string(o->label));
	add(m, "cpu", json_object_new_string(cpu));
	add(m, "nproc", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	add_num(m, "loadavg_1min", "%.2f", load1);
	add(j, "machine", m);
	add(j, "cipher", json_object_new_string(rv_cipher_name(o->suite)));
	add_u64(j, "clients", o->clients);
	add_u64(j, "rooms", o->rooms);
	add_u64(j, "flows", o->flows);
	add_num(j, "trial_s", "%.3f", o->trial_s);
	add_num(j, "pdr_loss", "%g", o->pdr_loss);
	add_num(j, "max_rate_pps", "%.0f", o->max_rate_pps);
	add_u64(t, "sent", tot->sent);
	add_u64(t, "received", tot->received);
	add_u64(t, "late", tot->late);
	add_u64(t, "decrypt_errors", tot->decrypt_errors);
	add_u64(t, "payload_errors", tot->payload_errors);
	add_u64(t, "arp_replies", tot->arp_replies);
	add(j, "totals", t);
	for (unsigned i = 0; i < n; i++)
		json_object_array_add(a, json_size(&r[i]));
	add(j, "results", a);
	return j;
}

int lg_report_json(const struct lg_opts *o, const struct lg_result *r, unsigned n,
		   const struct lg_totals *tot, const char *path)
{
	struct json_object *j = json_report(o, r, n, tot);
	FILE *f = fopen(path, "w");
	int bad;

	if (!f) {
		fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, path, strerror(errno));
		json_object_put(j);
		return -1;
	}
	bad = fprintf(f, "%s\n",
		      json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0;
	json_object_put(j);
	if (fclose(f) || bad) {
		fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_plot_data(const struct lg_result *r, unsigned n, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# size ndr_mbps pdr_mbps ndr_kpps pdr_kpps p50_us p99_us p99.9_us "
		   "low_p50_us low_p99_us\n");
	for (unsigned i = 0; i < n; i++) {
		const struct lg_point *a = &r[i].ndr, *b = &r[i].pdr, *low = &r[i].low;
		const struct lg_point *lat = a->found ? a : b;
		fprintf(f, "%s %.3f %.3f %.3f %.3f %.2f %.2f %.2f %.2f %.2f\n", r[i].size.name,
			a->found ? a->mbps_inner : 0, b->found ? b->mbps_inner : 0,
			a->found ? a->pps / 1e3 : 0, b->found ? b->pps / 1e3 : 0, us(lat->p50_ns),
			us(lat->p99_ns), us(lat->p999_ns), us(low->p50_ns), us(low->p99_ns));
	}
	return fclose(f);
}

static int write_plot_script(const struct lg_opts *o, const char *dat, const char *out,
			     const char *gp)
{
	FILE *f = fopen(gp, "w");
	if (!f)
		return -1;
	bool svg = strcmp(strrchr(out, '.'), ".svg") == 0;
	fprintf(f,
		"set terminal %s size 900,700\nset output '%s'\n"
		"set multiplot layout 2,1 title '%s (%s, %u clients, %u rooms)'\n"
		"set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.8 border -1\nset grid ytics\nset key outside right top\n"
		"set xlabel 'inner packet size (bytes)'\n"
		"set ylabel 'throughput (Mbit/s, inner)'\nset yrange [0:*]\n"
		"plot '%s' using 2:xtic(1) title 'NDR', '' using 3 title 'PDR'\n"
		"set ylabel 'latency (us)'\nset logscale y\nset yrange [*:*]\n"
		"plot '%s' using 6:xtic(1) title 'p50', '' using 7 title 'p99', "
		"'' using 8 title 'p99.9', '' using 9 title 'p50 at 10%% NDR', "
		"'' using 10 title 'p99 at 10%% NDR'\n"
		"unset multiplot\n",
		svg ? "svg" : "png", out, o->label, rv_cipher_name(o->suite), o->clients, o->rooms,
		dat, dat);
	return fclose(f);
}

int lg_report_plot(const struct lg_opts *o, const struct lg_result *r, unsigned n, const char *path)
{
	char dat[4096], gp[4096], cmd[8300];
	snprintf(dat, sizeof(dat), "%s.dat", path);
	snprintf(gp, sizeof(gp), "%s.gp", path);
	if (strchr(path, '\'') || write_plot_data(r, n, dat) ||
	    write_plot_script(o, dat, path, gp)) {
		fprintf(stderr, "%s: cannot write the plot data next to %s\n", o->prog, path);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	int rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr,
			"%s: gnuplot failed (exit %d) for %s: is it installed? "
			"(apt-get install gnuplot-nox); data and script are in %s, %s\n",
			o->prog, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, path, dat, gp);
		return -1;
	}
	return 0;
}
