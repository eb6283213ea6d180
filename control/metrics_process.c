/* Process metrics of the control plane, named and measured as the
 * Prometheus client libraries do (client_golang's process collector):
 * CPU time from getrusage, memory from /proc/self/statm, descriptors from
 * /proc/self/fd and RLIMIT_NOFILE, the start time recorded at init. A value
 * that cannot be read is left out rather than reported as 0. */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics_state.h"

static void gauge(struct sbuf *b, const char *name, const char *help, double v)
{
	rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name,
			  v);
}

static long long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long long n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

void rv_metrics_render_process(struct sbuf *b, const struct rv_metrics *m)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		rv_metrics_printf(b,
				  "# HELP process_cpu_seconds_total Total user and system CPU "
				  "time spent in seconds.\n# TYPE process_cpu_seconds_total "
				  "counter\nprocess_cpu_seconds_total %.6f\n",
				  (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
				      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long vsz, rss;
	if (f && fscanf(f, "%llu %llu", &vsz, &rss) == 2) {
		double page = (double)sysconf(_SC_PAGESIZE);
		gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
		      (double)rss * page);
		gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
		      (double)vsz * page);
	}
	if (f)
		fclose(f);
	long long fds = open_fds();
	if (fds >= 0)
		gauge(b, "process_open_fds", "Number of open file descriptors.", (double)fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
		      (double)rl.rlim_cur);
	gauge(b, "process_start_time_seconds",
	      "Start time of the process since unix epoch in seconds.",
	      (double)m->start_unix_ns / 1e9);
}
