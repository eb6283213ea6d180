/* Packet trace requests of the agent (see agent_trace.h). */
#include "agent_trace.h"

#include <stdlib.h>

#include "trace.h"

#define BODY(x) ROOMVPN__DATAPLANE__V1__REQUEST__BODY_##x

bool rv_agent_trace_request(const Roomvpn__Dataplane__V1__Request *req)
{
	return req->body_case == BODY(TRACE_START) || req->body_case == BODY(TRACE_STOP) ||
	       req->body_case == BODY(TRACE_SHOW);
}

static int show(Roomvpn__Dataplane__V1__Trace *tr)
{
	struct rv_trace_rec *rec = malloc(RV_AGENT_TRACE_MAX_RECORDS * sizeof(*rec));
	if (!rec)
		return -1;
	uint32_t lost;
	unsigned n = rv_trace_read(rec, RV_AGENT_TRACE_MAX_RECORDS, &lost);
	tr->armed = rv_trace_armed();
	tr->lost = lost;
	Roomvpn__Dataplane__V1__TraceRecord *mem = calloc(n ? n : 1, sizeof(*mem));
	tr->record = calloc(n ? n : 1, sizeof(*tr->record));
	if (!mem || !tr->record) {
		free(mem);
		free(tr->record);
		tr->record = NULL;
		free(rec);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		Roomvpn__Dataplane__V1__TraceRecord *r = &mem[i];
		roomvpn__dataplane__v1__trace_record__init(r);
		r->packet = rec[i].pkt;
		r->lcore = rec[i].lcore;
		r->time_ns = rec[i].ts_ns;
		/* static strings: the reply only points at them */
		r->stage = (char *)rv_trace_stage_name(rec[i].stage);
		r->decision = (char *)rv_trace_decision_name(rec[i].decision);
		r->reason = (char *)rv_drop_name(rec[i].reason);
		r->peer_id = rec[i].peer_id;
		r->room_id = rec[i].room_id;
		r->arg = rec[i].arg;
		tr->record[i] = r;
	}
	tr->n_record = n;
	free(rec);
	return 0;
}

int rv_agent_trace_apply(const Roomvpn__Dataplane__V1__Request *req,
			 Roomvpn__Dataplane__V1__Trace *tr)
{
	if (req->body_case == BODY(TRACE_START)) {
		const Roomvpn__Dataplane__V1__TraceStart *t = req->trace_start;
		struct rv_trace_filter f = {.count = t->count,
					    .by_peer = t->by_peer,
					    .peer_id = t->peer_id,
					    .by_room = t->room_id != 0,
					    .room_id = t->room_id};
		rv_trace_start(&f);
		return 0;
	}
	if (req->body_case == BODY(TRACE_STOP)) {
		rv_trace_stop();
		return 0;
	}
	return show(tr);
}

void rv_agent_trace_free(Roomvpn__Dataplane__V1__Trace *tr)
{
	if (tr->record) {
		free(tr->record[0]); /* one array holds them all */
		free(tr->record);
	}
	tr->record = NULL;
	tr->n_record = 0;
}
