/* The agent's side of the packet trace (TraceStart / TraceStop /
 * TraceShow, see trace.h): arms the workers' trace rings and reads them. */
#ifndef RV_AGENT_TRACE_H
#define RV_AGENT_TRACE_H

#include <stdbool.h>

#include "dataplane.pb-c.h"

#define RV_AGENT_TRACE_MAX_RECORDS 4096 /* per TraceShow reply */

bool rv_agent_trace_request(const Roomvpn__Dataplane__V1__Request *req);
/* Apply a trace request (already checked); for TraceShow fill @tr (free
 * with rv_agent_trace_free). Returns -1 when out of memory. */
int rv_agent_trace_apply(const Roomvpn__Dataplane__V1__Request *req,
			 Roomvpn__Dataplane__V1__Trace *tr);
void rv_agent_trace_free(Roomvpn__Dataplane__V1__Trace *tr);

#endif
