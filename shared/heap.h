/* Heap set-up for programs that keep large per-session state. */
#ifndef RV_HEAP_H
#define RV_HEAP_H

#include <stdbool.h>

/* Call first in main(): re-executes the program (same pid, same argv) with
 * glibc's malloc using transparent huge pages, unless that is already set,
 * THP is "never" on this kernel, or RV_NO_THP_HEAP is set in the
 * environment. Returns only if it did not re-execute. */
void rv_heap_thp_reexec(char **argv);

#endif
