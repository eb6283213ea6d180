/* The memory system's floor under the relay with many sessions. */
#ifndef RV_BENCH_MEM_FLOOR_H
#define RV_BENCH_MEM_FLOOR_H

#include <stdint.h>

/* Cache lines of per-session state one relayed packet from @from_peer to
 * @to_peer touches (0 if either has no key). Call from the writer thread. */
unsigned mf_lines_per_packet(uint32_t from_peer, uint32_t to_peer);
/* CPU ns per cold cache line with 32 prefetched random loads in flight over
 * 512 MiB (huge pages where the kernel gives them). */
double mf_cold_line_ns(void);

#endif
