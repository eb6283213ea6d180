/* Transparent huge pages for the heap. With many sessions every packet
 * touches a few cold kilobytes of per-session state (keys, cipher contexts)
 * spread over hundreds of megabytes; on 4 KiB pages most of those touches
 * also miss the TLB. glibc (2.35+) backs malloc's memory with THP when
 * asked by the tunable glibc.malloc.hugetlb=1, which is read only at start,
 * so the program re-executes itself once with it set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"

#define TUNABLE "glibc.malloc.hugetlb=1"

static bool thp_available(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char buf[128] = "";
	if (!f)
		return false;
	bool ok = fgets(buf, sizeof(buf), f) && !strstr(buf, "[never]");
	fclose(f);
	return ok;
}

void rv_heap_thp_reexec(char **argv)
{
	const char *cur = getenv("GLIBC_TUNABLES");
	if (getenv("RV_NO_THP_HEAP") || (cur && strstr(cur, "glibc.malloc.hugetlb")) ||
	    !thp_available())
		return;
	char val[1024];
	int n = cur && *cur ? snprintf(val, sizeof(val), "%s:%s", cur, TUNABLE)
			    : snprintf(val, sizeof(val), "%s", TUNABLE);
	if (n < 0 || (size_t)n >= sizeof(val) || setenv("GLIBC_TUNABLES", val, 1) < 0)
		return;
	execv("/proc/self/exe", argv);
	/* could not re-execute: run on as we are */
	if (cur)
		setenv("GLIBC_TUNABLES", cur, 1);
	else
		unsetenv("GLIBC_TUNABLES");
}
