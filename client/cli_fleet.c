/* roomvpn admin dataplanes [list] | drain NAME | undrain NAME: the data
 * planes behind the control plane (FleetService, docs/fleet.md), and the
 * `--placement k=v[,k=v]` syntax of `rooms create|update`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "roomvpn/v1/fleet.pb-c.h"

#define FS "/roomvpn.v1.FleetService/"

static bool label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-' || ch == '/';
}

/* One "key" or "value" of length @n at @s. */
static int check_word(const char *s, size_t n, const char *what, const char *item, char *err,
		      size_t errlen)
{
	if (!n) {
		snprintf(err, errlen, "'%s': empty %s (want key=value)", item, what);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i])) {
			snprintf(err, errlen,
				 "'%s': character '%c' in the %s (letters, digits, '.', "
				 "'_', '-', '/')",
				 item, s[i], what);
			return -1;
		}
	return 0;
}

int rv_cli_placement_check(const char *s, char *err, size_t errlen)
{
	unsigned n = 0;

	if (!*s) {
		snprintf(err, errlen, "empty (want key=value[,key=value])");
		return -1;
	}
	for (const char *p = s;; p++) {
		size_t len = strcspn(p, ","), klen;
		char item[128];
		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		const char *eq = memchr(p, '=', len);
		if (!eq) {
			snprintf(err, errlen, "'%s': not key=value", item);
			return -1;
		}
		klen = (size_t)(eq - p);
		if (check_word(p, klen, "key", item, err, errlen) < 0 ||
		    check_word(eq + 1, len - klen - 1, "value", item, err, errlen) < 0)
			return -1;
		/* the same key twice cannot both match */
		for (const char *q = s; q < p; q += strcspn(q, ",") + 1)
			if (!strncmp(q, p, klen + 1)) {
				snprintf(err, errlen, "key '%.*s' given twice", (int)klen, p);
				return -1;
			}
		if (++n > RV_CLI_PLACEMENT_MAX) {
			snprintf(err, errlen, "more than %d labels", RV_CLI_PLACEMENT_MAX);
			return -1;
		}
		p += len;
		if (!*p)
			return 0;
	}
}

static const char *state_name(Roomvpn__V1__DataplaneState st)
{
	switch (st) {
	case ROOMVPN__V1__DATAPLANE_STATE__DATAPLANE_STATE_UP:
		return "up";
	case ROOMVPN__V1__DATAPLANE_STATE__DATAPLANE_STATE_DRAINING:
		return "draining";
	case ROOMVPN__V1__DATAPLANE_STATE__DATAPLANE_STATE_DRAINED:
		return "drained";
	case ROOMVPN__V1__DATAPLANE_STATE__DATAPLANE_STATE_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

/* "site=fra1,tier=a" ("-": none). */
static void labels_str(const Roomvpn__V1__Dataplane *d, char *out, size_t len)
{
	size_t used = 0;

	snprintf(out, len, "-");
	for (size_t i = 0; i < d->n_labels && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s=%s", i ? "," : "",
					 d->labels[i]->key, d->labels[i]->value);
}

static void print_one(const ProtobufCMessage *m)
{
	const Roomvpn__V1__Dataplane *d = (const Roomvpn__V1__Dataplane *)m;

	printf("Data plane %s: %s\n", d->name, state_name(d->state));
}

static void print_list(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListDataplanesResponse *l =
	    (const Roomvpn__V1__ListDataplanesResponse *)m;

	if (!l->n_dataplanes) {
		printf("No data planes.\n");
		return;
	}
	printf("%-16s %-9s %-21s %-21s %-6s %-9s %-20s %s\n", "NAME", "STATE", "UDP", "TCP",
	       "ROOMS", "SESSIONS", "LAST-HEARD (UTC)", "LABELS");
	for (size_t i = 0; i < l->n_dataplanes; i++) {
		const Roomvpn__V1__Dataplane *d = l->dataplanes[i];
		time_t t = (time_t)(d->last_heard_unix_ms / 1000);
		char heard[32], labels[256];
		if (!d->last_heard_unix_ms ||
		    !strftime(heard, sizeof(heard), "%Y-%m-%d %H:%M:%S", gmtime(&t)))
			snprintf(heard, sizeof(heard), "never");
		labels_str(d, labels, sizeof(labels));
		printf("%-16s %-9s %-21s %-21s %-6u %-9u %-20s %s\n", d->name, state_name(d->state),
		       d->udp_endpoint[0] ? d->udp_endpoint : "-",
		       d->tcp_endpoint[0] ? d->tcp_endpoint : "-", d->rooms, d->sessions, heard,
		       labels);
	}
}

static int cmd_list(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListDataplanesRequest req = ROOMVPN__V1__LIST_DATAPLANES_REQUEST__INIT;

	if (cli_parse("admin dataplanes list", argc, argv, NULL, NULL, 0, 0) < 0)
		return RV_EXIT_USAGE;
	return cli_call(c, "admin dataplanes list", FS "List", &req.base,
			&roomvpn__v1__list_dataplanes_response__descriptor, print_list);
}

static int drain(struct cli *c, const char *what, const char *method, int argc, char **argv)
{
	Roomvpn__V1__DrainDataplaneRequest req = ROOMVPN__V1__DRAIN_DATAPLANE_REQUEST__INIT;
	const char *pos[1];

	if (cli_parse(what, argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.name = (char *)pos[0];
	return cli_call(c, what, method, &req.base, &roomvpn__v1__dataplane__descriptor, print_one);
}

static int cmd_drain(struct cli *c, int argc, char **argv)
{
	return drain(c, "admin dataplanes drain", FS "Drain", argc, argv);
}

static int cmd_undrain(struct cli *c, int argc, char **argv)
{
	return drain(c, "admin dataplanes undrain", FS "Undrain", argc, argv);
}

const struct cli_cmd cli_fleet_cmds[] = {
    {"admin dataplanes list", "",
     "List the data planes behind the control plane (admins only): name, state (up,\n"
     "draining, drained, down), the UDP and TCP endpoints clients are told, rooms and\n"
     "sessions on it, when it was last heard from, its labels. With --json: every\n"
     "field of FleetService.List (link, workers, max_sessions, version, drops).\n",
     cmd_list},
    {"admin dataplanes drain", "NAME",
     "Drain a data plane (admins only): no new rooms go to it and its rooms move to\n"
     "other data planes one by one; their members follow by themselves (a short gap,\n"
     "no reconnect by hand). Prints the data plane's new state.\n",
     cmd_drain},
    {"admin dataplanes undrain", "NAME",
     "Put a drained (or draining) data plane back into placement (admins only).\n", cmd_undrain},
    {"admin dataplanes", "", "Same as 'admin dataplanes list'.\n", cmd_list},
    {NULL, NULL, NULL, NULL},
};
