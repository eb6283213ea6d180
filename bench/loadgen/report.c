/* Results: a table on the terminal, a JSON file and a gnuplot plot of
 * throughput and latency against packet size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

void lg_report_table(const struct lg_opts *o, const struct lg_result *r, unsigned n, FILE *f)
{
	char cpu[128];
	double load1;
	machine(cpu, sizeof(cpu), &load1);
	fprintf(f, "\n%s: %s, %u clients in %u rooms, %u flows; PDR = loss <= %g%%\n", o->label,
		rv_cipher_name(o->suite), o->clients, o->rooms, o->flows, o->pdr_loss * 100);
	fprintf(f, "machine: %s, %ld CPUs, load average %.2f at the end\n", cpu,
		sysconf(_SC_NPROCESSORS_ONLN), load1);
	fprintf(f, "%-6s | %9s %9s | %9s %9s %8s | %8s %8s %8s | %8s %8s | %6s %6s\n", "size",
		"NDR kpps", "NDR Mb/s", "PDR kpps", "PDR Mb/s", "PDR loss", "p50 us", "p99 us",
		"p99.9 us", "p50@10%", "p99@10%", "ooo", "decerr");
	for (unsigned i = 0; i < n; i++) {
		const struct lg_point *a = &r[i].ndr, *b = &r[i].pdr, *low = &r[i].low;
		const struct lg_point *lat = a->found ? a : b; /* latency at NDR */
		char ndr[2][16], pdr[3][16];
		snprintf(ndr[0], 16, a->found ? "%.1f%s" : "-", a->pps / 1e3,
			 a->gen_limited ? "*" : "");
		snprintf(ndr[1], 16, a->found ? "%.1f" : "-", a->mbps_inner);
		snprintf(pdr[0], 16, b->found ? "%.1f%s" : "-", b->pps / 1e3,
			 b->gen_limited ? "*" : "");
		snprintf(pdr[1], 16, b->found ? "%.1f" : "-", b->mbps_inner);
		snprintf(pdr[2], 16, b->found ? "%.3f%%" : "-", b->loss * 100);
		char lo[2][16];
		snprintf(lo[0], 16, low->found ? "%.1f" : "-", us(low->p50_ns));
		snprintf(lo[1], 16, low->found ? "%.1f" : "-", us(low->p99_ns));
		fprintf(f,
			"%-6s | %9s %9s | %9s %9s %8s | %8.1f %8.1f %8.1f | %8s %8s | %6llu "
			"%6llu\n",
			r[i].size.name, ndr[0], ndr[1], pdr[0], pdr[1], pdr[2], us(lat->p50_ns),
			us(lat->p99_ns), us(lat->p999_ns), lo[0], lo[1],
			(unsigned long long)(a->ooo + b->ooo + low->ooo),
			(unsigned long long)r[i].tot.decrypt_errors);
	}
	fprintf(f,
		"Mb/s = inner IPv4 bytes; p50..p99.9 at the NDR (or PDR) trial, @10%% at a tenth "
		"of the NDR;\n* = the generator, not the data plane, was the limit\n");
}

static void json_point(FILE *f, const char *name, const struct lg_point *p)
{
	fprintf(f,
		"      \"%s\": {\"found\": %s, \"pps\": %.1f, \"mbps_inner\": %.3f, "
		"\"mbps_wire\": %.3f, \"loss\": %.6f, \"sent\": %llu, \"received\": %llu, "
		"\"out_of_order\": %llu, \"decrypt_errors\": %llu, \"generator_limited\": %s, "
		"\"latency_ns\": {\"p50\": %llu, \"p99\": %llu, \"p99_9\": %llu, \"max\": %llu}}",
		name, p->found ? "true" : "false", p->pps, p->mbps_inner, p->mbps_wire, p->loss,
		(unsigned long long)p->sent, (unsigned long long)p->received,
		(unsigned long long)p->ooo, (unsigned long long)p->decrypt_errors,
		p->gen_limited ? "true" : "false", (unsigned long long)p->p50_ns,
		(unsigned long long)p->p99_ns, (unsigned long long)p->p999_ns,
		(unsigned long long)p->max_ns);
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int lg_report_json(const struct lg_opts *o, const struct lg_result *r, unsigned n,
		   const struct lg_totals *tot, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, path, strerror(errno));
		return -1;
	}
	char cpu[128];
	double load1;
	machine(cpu, sizeof(cpu), &load1);
	fprintf(f, "{\n  \"label\": ");
	json_escape(f, o->label);
	fprintf(f, ",\n  \"machine\": {\"cpu\": ");
	json_escape(f, cpu);
	fprintf(f, ", \"nproc\": %ld, \"loadavg_1min\": %.2f}", sysconf(_SC_NPROCESSORS_ONLN),
		load1);
	fprintf(f,
		",\n  \"cipher\": \"%s\", \"clients\": %u, \"rooms\": %u, \"flows\": %u,\n"
		"  \"trial_s\": %.3f, \"pdr_loss\": %g, \"max_rate_pps\": %.0f,\n"
		"  \"totals\": {\"sent\": %llu, \"received\": %llu, \"late\": %llu, "
		"\"decrypt_errors\": %llu, \"arp_replies\": %llu},\n"
		"  \"results\": [\n",
		rv_cipher_name(o->suite), o->clients, o->rooms, o->flows, o->trial_s, o->pdr_loss,
		o->max_rate_pps, (unsigned long long)tot->sent, (unsigned long long)tot->received,
		(unsigned long long)tot->late, (unsigned long long)tot->decrypt_errors,
		(unsigned long long)tot->arp_replies);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f,
			"    {\"size\": \"%s\", \"avg_inner_len\": %.1f, \"avg_wire_len\": %.1f, "
			"\"trials\": %u, \"sent\": %llu, \"received\": %llu, \"decrypt_errors\": "
			"%llu,\n",
			r[i].size.name, r[i].avg_inner_len, r[i].avg_wire_len, r[i].trials,
			(unsigned long long)r[i].tot.sent, (unsigned long long)r[i].tot.received,
			(unsigned long long)r[i].tot.decrypt_errors);
		json_point(f, "ndr", &r[i].ndr);
		fprintf(f, ",\n");
		json_point(f, "pdr", &r[i].pdr);
		fprintf(f, ",\n");
		json_point(f, "low_load", &r[i].low);
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f)) {
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
