/* The fleet's configuration keys (docs/control.md, docs/fleet.md): the
 * repeatable `dataplane = NAME unix:/PATH udp=HOST:PORT tcp=HOST:PORT
 * labels=k=v,k=v` line, one local data plane each, beside the single-host
 * keys dataplane_agent / dataplane_udp / dataplane_tcp / dataplane_name. */
#ifndef RV_FLEET_CONFIG_H
#define RV_FLEET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "control.h"

/* One `dataplane` line's value into @cfg (a struct rv_control_config):
 * 0, or -1 with a message naming the bad part. */
int rv_fleet_config_line(void *cfg, const char *value, char *err, size_t errlen);
/* Cross-key checks: names unique, durations positive. */
int rv_fleet_config_check(const struct rv_control_config *c, char *err, size_t errlen);
/* The local data planes the configuration names: the single-host one
 * (dataplane_agent, named dataplane_name) unless `dataplane` lines or
 * dataplane_listen are given without an explicit dataplane_agent, then
 * every line. Returns how many went into @out. */
size_t rv_fleet_config_local(const struct rv_control_config *c, struct rv_control_dp *out,
			     size_t max);

/* "k=v[,k=v]" with [A-Za-z0-9._-] keys and values ("" is valid: no labels). */
bool rv_fleet_labels_valid(const char *labels);
/* Every k=v of @constraint is among @labels ("" matches everything). */
bool rv_fleet_labels_match(const char *labels, const char *constraint);
/* A data plane name: 1..63 of [A-Za-z0-9._-]. */
bool rv_fleet_name_valid(const char *name);

#endif
