/* The `rooms create|update` options for a room's network settings:
 *   --dns A.B.C.D[,A.B.C.D...]   DNS servers pushed to members
 *   --dns-search DOMAIN          search domain (with --dns)
 *   --no-dns                     (update) remove the DNS settings
 *   --routes TARGET=VIA[,...]    managed routes, e.g. 192.168.50.0/24=10.88.0.5
 *   --no-routes                  (update) remove every route
 * Lists are comma-separated and replace the room's whole set. Only the
 * syntax is checked here; the server checks the rest (rooms.md). */
#ifndef RV_CLIENT_CLI_ROOM_NET_H
#define RV_CLIENT_CLI_ROOM_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define CLI_NET_LIST_MAX 40 /* more than the server allows (16 per family): it says how many */

struct cli_room_net {
	/* the options as given (NULL: absent) */
	const char *dns, *search, *routes;
	bool no_dns, no_routes;
	/* parsed */
	char buf[4096];
	char *servers[CLI_NET_LIST_MAX];
	size_t n_servers;
	Roomvpn__V1__Route route[CLI_NET_LIST_MAX];
	Roomvpn__V1__Route *route_ptrs[CLI_NET_LIST_MAX];
	size_t n_routes;
	Roomvpn__V1__DnsSettings dns_msg;
	Roomvpn__V1__RouteList routes_msg;
};

#define CLI_ROOM_NET_OPTS(n)                                                                       \
	{"dns", &(n).dns, NULL}, {"dns-search", &(n).search, NULL}, {"routes", &(n).routes, NULL}, \
	    {"no-dns", NULL, &(n).no_dns},                                                         \
	{                                                                                          \
		"no-routes", NULL, &(n).no_routes                                                  \
	}

/* Parse the given options. Returns 0, or -1 after printing an error. */
int cli_room_net_parse(const struct cli *c, struct cli_room_net *n);
/* Into a CreateRoomRequest / UpdateRoomRequest (set only what was given). */
void cli_room_net_create(struct cli_room_net *n, Roomvpn__V1__CreateRoomRequest *req);
void cli_room_net_update(struct cli_room_net *n, Roomvpn__V1__UpdateRoomRequest *req);
/* Human output: "  dns ..." and "  route ..." lines. */
void cli_room_net_print(size_t n_dns, char *const *dns, const char *search, size_t n_routes,
			Roomvpn__V1__Route *const *routes);

#endif
