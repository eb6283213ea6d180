/* The server's resident memory (/proc/<pid>/status) and CPU time
 * (/proc/<pid>/stat, fields 14 and 15). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

int rv_proc_read(int pid, struct rv_proc *out)
{
	char path[64], line[512];
	unsigned long long ut = 0, st = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			out->rss_kib = v;
		else if (sscanf(line, "VmHWM: %llu", &v) == 1)
			out->hwm_kib = v;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	char *p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	/* after "pid (comm)": state is field 3, utime 14, stime 15 */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	out->cpu_ticks = ut + st;
	return 0;
}

long rv_proc_ticks_per_s(void)
{
	return sysconf(_SC_CLK_TCK);
}
