/* rooms create|update: DNS and route options (cli_room_net.h). */
#include "cli_room_net.h"

#include <stdio.h>
#include <string.h>

/* Split @s (copied into @n->buf at *@used) at commas. -1 if too many or
 * too long. */
static int split(struct cli_room_net *n, size_t *used, const char *s, char **out, size_t *count)
{
	size_t len = strlen(s);
	char *p = n->buf + *used, *save = NULL;

	if (*used + len + 1 > sizeof(n->buf))
		return -1;
	memcpy(p, s, len + 1);
	*used += len + 1;
	*count = 0;
	for (char *t = strtok_r(p, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*count == CLI_NET_LIST_MAX)
			return -1;
		out[(*count)++] = t;
	}
	return 0;
}

static int parse_routes(const struct cli *c, struct cli_room_net *n, size_t *used)
{
	char *items[CLI_NET_LIST_MAX];

	if (split(n, used, n->routes, items, &n->n_routes) < 0) {
		cli_error(c, "--routes: too many routes or too long (at most %d)",
			  CLI_NET_LIST_MAX);
		return -1;
	}
	for (size_t i = 0; i < n->n_routes; i++) {
		char *eq = strchr(items[i], '=');
		if (!eq || eq == items[i] || !eq[1]) {
			cli_error(
			    c, "--routes: '%s' is not TARGET=VIA (e.g. 192.168.50.0/24=10.88.0.5)",
			    items[i]);
			return -1;
		}
		*eq = '\0';
		roomvpn__v1__route__init(&n->route[i]);
		n->route[i].target = items[i];
		n->route[i].via = eq + 1;
		n->route_ptrs[i] = &n->route[i];
	}
	return 0;
}

int cli_room_net_parse(const struct cli *c, struct cli_room_net *n)
{
	size_t used = 0;

	if ((n->no_dns && (n->dns || n->search)) || (n->no_routes && n->routes)) {
		cli_error(c, "--no-dns/--no-routes cannot go with --dns/--dns-search/--routes");
		return -1;
	}
	if (n->search && !n->dns) {
		cli_error(c, "--dns-search needs --dns (the servers are replaced together)");
		return -1;
	}
	if (n->dns && split(n, &used, n->dns, n->servers, &n->n_servers) < 0) {
		cli_error(c, "--dns: too many servers or too long");
		return -1;
	}
	if (n->routes && parse_routes(c, n, &used) < 0)
		return -1;
	roomvpn__v1__dns_settings__init(&n->dns_msg);
	n->dns_msg.servers = n->servers;
	n->dns_msg.n_servers = n->n_servers;
	if (n->search)
		n->dns_msg.search = (char *)n->search;
	roomvpn__v1__route_list__init(&n->routes_msg);
	n->routes_msg.routes = n->route_ptrs;
	n->routes_msg.n_routes = n->n_routes;
	return 0;
}

void cli_room_net_create(struct cli_room_net *n, Roomvpn__V1__CreateRoomRequest *req)
{
	req->dns_servers = n->servers;
	req->n_dns_servers = n->n_servers;
	if (n->search)
		req->dns_search = (char *)n->search;
	req->routes = n->route_ptrs;
	req->n_routes = n->n_routes;
}

void cli_room_net_update(struct cli_room_net *n, Roomvpn__V1__UpdateRoomRequest *req)
{
	if (n->dns || n->no_dns) {
		req->dns_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__DNS_SET_DNS;
		req->dns = &n->dns_msg;
	}
	if (n->routes || n->no_routes) {
		req->routes_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__ROUTES_SET_ROUTES;
		req->routes = &n->routes_msg;
	}
}

void cli_room_net_print(size_t n_dns, char *const *dns, const char *search, size_t n_routes,
			Roomvpn__V1__Route *const *routes)
{
	if (n_dns) {
		printf("  dns       ");
		for (size_t i = 0; i < n_dns; i++)
			printf(" %s", dns[i]);
		if (search && search[0])
			printf(" (search %s)", search);
		printf("\n");
	}
	for (size_t i = 0; i < n_routes; i++)
		printf("  route      %s via %s\n", routes[i]->target, routes[i]->via);
}
