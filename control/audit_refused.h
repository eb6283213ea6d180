/* Refused logins in aggregate, for the audit log (audit.c): the first
 * refusal of an (address, user) pair in an interval is written at once, the
 * others are counted and written as one record when the interval ends. An
 * address gets at most RV_AUDIT_REFUSED_PAIRS pairs per interval; refusals
 * for further user names from it share one pair with an empty actor. The
 * table is bounded: when it is full, the oldest aggregate is written early. */
#ifndef RV_AUDIT_REFUSED_H
#define RV_AUDIT_REFUSED_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"

#define RV_AUDIT_REFUSED_PAIRS 8

struct rv_audit_refused;
/* Writes one record (the audit module's unsynced put). */
typedef void (*rv_audit_write_fn)(void *arg, const struct rv_audit_event *ev);

struct rv_audit_refused *rv_audit_refused_new(uint64_t interval_ns, rv_audit_write_fn write,
					      void *arg);
/* Writes what is still counted, then frees. */
void rv_audit_refused_free(struct rv_audit_refused *r);
/* Takes one refused login: writes it at once (the pair's first in its
 * interval) or counts it. Thread-safe. */
void rv_audit_refused_add(struct rv_audit_refused *r, const struct rv_audit_event *ev);
/* Writes the aggregates whose interval ended by @now_ns (every one if @all). */
void rv_audit_refused_flush(struct rv_audit_refused *r, uint64_t now_ns, bool all);

#endif
