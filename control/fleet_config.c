/* The fleet's configuration keys (see fleet_config.h). */
#include "fleet_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "inet.h"

static const char word_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

bool rv_fleet_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n && n < 64 && strspn(name, word_chars) == n;
}

bool rv_fleet_labels_valid(const char *labels)
{
	const char *p = labels;

	while (*p) {
		size_t k = strspn(p, word_chars);
		if (!k || p[k] != '=')
			return false;
		p += k + 1;
		size_t v = strspn(p, word_chars);
		if (!v)
			return false;
		p += v;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return false;
	}
	return true;
}

/* Is the pair "k=v" (@pair, @len bytes) one of @labels? */
static bool has_pair(const char *labels, const char *pair, size_t len)
{
	for (const char *p = labels; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncmp(p, pair, len))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

bool rv_fleet_labels_match(const char *labels, const char *constraint)
{
	for (const char *p = constraint; *p;) {
		size_t n = strcspn(p, ",");
		if (!has_pair(labels, p, n))
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

static int endpoint(const char *v, char *out, size_t outlen, const char *what, char *err,
		    size_t errlen)
{
	if (rv_check_endpoints(v) < 0 || strlen(v) >= outlen) {
		snprintf(err, errlen,
			 "dataplane: %s '%s' is not IPv4:port, [IPv6]:port or one of each "
			 "separated by a comma (clients are handed it)",
			 what, v);
		return -1;
	}
	snprintf(out, outlen, "%s", v);
	return 0;
}

/* One word of the line: "unix:PATH", "udp=", "tcp=" or "labels=". */
static int word(struct rv_control_dp *d, const char *w, char *err, size_t errlen)
{
	if (!strncmp(w, "unix:", 5)) {
		if (w[5] != '/' || strlen(w + 5) >= sizeof(d->agent)) {
			snprintf(err, errlen,
				 "dataplane %s: '%s': the agent socket is unix:/ABSOLUTE/PATH",
				 d->name, w);
			return -1;
		}
		snprintf(d->agent, sizeof(d->agent), "%s", w + 5);
		return 0;
	}
	if (!strncmp(w, "udp=", 4))
		return endpoint(w + 4, d->udp, sizeof(d->udp), "udp", err, errlen);
	if (!strncmp(w, "tcp=", 4))
		return endpoint(w + 4, d->tcp, sizeof(d->tcp), "tcp", err, errlen);
	if (!strncmp(w, "labels=", 7)) {
		if (!rv_fleet_labels_valid(w + 7) || strlen(w + 7) >= sizeof(d->labels)) {
			snprintf(err, errlen,
				 "dataplane %s: labels '%s' are not k=v[,k=v] of [A-Za-z0-9._-]",
				 d->name, w + 7);
			return -1;
		}
		snprintf(d->labels, sizeof(d->labels), "%s", w + 7);
		return 0;
	}
	snprintf(err, errlen,
		 "dataplane %s: unknown part '%s' (expected unix:/PATH, udp=HOST:PORT, "
		 "tcp=HOST:PORT, labels=k=v,...)",
		 d->name, w);
	return -1;
}

int rv_fleet_config_line(void *cfg, const char *value, char *err, size_t errlen)
{
	struct rv_control_config *c = cfg;
	struct rv_control_dp d = {0};
	char line[1024], *save = NULL;

	if (c->n_dps >= RV_CTL_DP_MAX) {
		snprintf(err, errlen, "dataplane: at most %d data planes", RV_CTL_DP_MAX);
		return -1;
	}
	if (strlen(value) >= sizeof(line)) {
		snprintf(err, errlen, "dataplane: line longer than %zu bytes", sizeof(line) - 1);
		return -1;
	}
	snprintf(line, sizeof(line), "%s", value);
	char *name = strtok_r(line, " \t", &save);
	if (!name || !rv_fleet_name_valid(name)) {
		snprintf(
		    err, errlen,
		    "dataplane: '%s' does not start with a name of [A-Za-z0-9._-] "
		    "(dataplane = NAME unix:/PATH udp=HOST:PORT tcp=HOST:PORT [labels=k=v,...])",
		    name ? name : "");
		return -1;
	}
	snprintf(d.name, sizeof(d.name), "%s", name);
	for (char *w; (w = strtok_r(NULL, " \t", &save));)
		if (word(&d, w, err, errlen) < 0)
			return -1;
	if (!d.agent[0] || !d.udp[0] || !d.tcp[0]) {
		snprintf(err, errlen, "dataplane %s: unix:/PATH, udp= and tcp= are all required",
			 d.name);
		return -1;
	}
	for (uint32_t i = 0; i < c->n_dps; i++)
		if (!strcmp(c->dps[i].name, d.name)) {
			snprintf(err, errlen, "dataplane %s: named twice", d.name);
			return -1;
		}
	c->dps[c->n_dps++] = d;
	return 0;
}

int rv_fleet_config_check(const struct rv_control_config *c, char *err, size_t errlen)
{
	if (!rv_fleet_name_valid(c->dp_name)) {
		snprintf(err, errlen, "dataplane_name: '%s' is not 1..63 of [A-Za-z0-9._-]",
			 c->dp_name);
		return -1;
	}
	if (!c->dp_down_after_ns || !c->dp_move_grace_ns) {
		snprintf(err, errlen,
			 "dataplane_down_after and dataplane_move_grace must be positive");
		return -1;
	}
	if (c->n_dps && c->dp_agent_set)
		for (uint32_t i = 0; i < c->n_dps; i++)
			if (!strcmp(c->dps[i].name, c->dp_name)) {
				snprintf(err, errlen,
					 "dataplane %s: the name of dataplane_agent's data plane "
					 "(dataplane_name); name one of them otherwise",
					 c->dp_name);
				return -1;
			}
	return 0;
}

size_t rv_fleet_config_local(const struct rv_control_config *c, struct rv_control_dp *out,
			     size_t max)
{
	size_t n = 0;

	/* the single-host one: unless the fleet is configured otherwise
	 * (`dataplane` lines, or remote data planes on dataplane_listen) and
	 * dataplane_agent was not given explicitly */
	bool single = c->dp_agent_set || (!c->n_dps && !c->dp_listen[0]);
	if (single && c->dp_agent[0] && n < max) {
		out[n] = (struct rv_control_dp){0};
		snprintf(out[n].name, sizeof(out[n].name), "%s", c->dp_name);
		snprintf(out[n].agent, sizeof(out[n].agent), "%s", c->dp_agent);
		snprintf(out[n].udp, sizeof(out[n].udp), "%s", c->dp_udp_endpoint);
		snprintf(out[n].tcp, sizeof(out[n].tcp), "%s", c->dp_tcp_endpoint);
		n++;
	}
	for (uint32_t i = 0; i < c->n_dps && n < max; i++)
		out[n++] = c->dps[i];
	return n;
}
