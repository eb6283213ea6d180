/* roomvpn rooms list|show|create|delete|members|kick, join, leave. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_room_net.h"
#include "config.h"
#include "roomvpn/v1/common.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RS "/roomvpn.v1.RoomService/"

static const char *transport_name(Roomvpn__V1__Transport t)
{
	return t == ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP ? "tcp" : "udp";
}

static int parse_transport(const struct cli *c, const char *s, Roomvpn__V1__Transport *out)
{
	if (!strcmp(s, "udp"))
		*out = ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP;
	else if (!strcmp(s, "tcp"))
		*out = ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
	else {
		cli_error(c, "--transport: '%s' is not udp or tcp", s);
		return -1;
	}
	return 0;
}

static int parse_u32(const struct cli *c, const char *opt, const char *s, uint32_t min,
		     uint32_t max, uint32_t *out)
{
	char err[128];

	if (rv_parse_u32(s, min, max, out, err, sizeof(err)) < 0) {
		cli_error(c, "--%s: %s", opt, err);
		return -1;
	}
	return 0;
}

static void print_room(const ProtobufCMessage *m)
{
	const Roomvpn__V1__Room *r = (const Roomvpn__V1__Room *)m;

	printf("Room %s (id %" PRIu64 ")\n  subnet     %s (server %s)\n  transport  %s\n"
	       "  mtu        %u\n  keepalive  %us\n  owner      %s\n  password   %s\n"
	       "  members    %u\n",
	       r->name, r->id, r->subnet, r->server_ip, transport_name(r->transport), r->mtu,
	       r->keepalive_s, r->owner, r->has_password ? "yes" : "no", r->members);
	if (r->subnet6[0])
		printf("  subnet6    %s (server %s)\n", r->subnet6, r->server_ip6);
	printf("  placement  %s\n  data plane %s\n", r->placement[0] ? r->placement : "any",
	       r->dataplane[0] ? r->dataplane : "-");
	cli_room_net_print(r->n_dns_servers, r->dns_servers, r->dns_search, r->n_routes, r->routes);
}

static int placement_opt(const struct cli *c, const char *v)
{
	char err[200];

	if (rv_cli_placement_check(v, err, sizeof(err)) < 0) {
		cli_error(c, "--placement: %s", err);
		return -1;
	}
	return 0;
}

static void print_rooms(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListRoomsResponse *l = (const Roomvpn__V1__ListRoomsResponse *)m;

	if (!l->n_rooms) {
		printf("No rooms.\n");
		return;
	}
	printf("%-20s %-18s %-9s %-6s %-8s %-16s %s\n", "NAME", "SUBNET", "TRANSPORT", "MTU",
	       "MEMBERS", "OWNER", "PASSWORD");
	for (size_t i = 0; i < l->n_rooms; i++) {
		const Roomvpn__V1__Room *r = l->rooms[i];
		printf("%-20s %-18s %-9s %-6u %-8u %-16s %s\n", r->name, r->subnet,
		       transport_name(r->transport), r->mtu, r->members, r->owner,
		       r->has_password ? "yes" : "no");
	}
	if (l->next_page_token[0])
		printf("(more: --page-token %s)\n", l->next_page_token);
}

static int cmd_list(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListRoomsRequest req = ROOMVPN__V1__LIST_ROOMS_REQUEST__INIT;
	struct cli_page pg = {0};
	const struct cli_opt opts[] = {CLI_PAGE_OPTS(pg), {NULL, NULL, NULL}};

	if (cli_parse("rooms list", argc, argv, opts, NULL, 0, 0) < 0 ||
	    cli_page_apply(c, &pg, &req.page_size, &req.page_token) < 0)
		return RV_EXIT_USAGE;
	return cli_call(c, "rooms list", RS "List", &req.base,
			&roomvpn__v1__list_rooms_response__descriptor, print_rooms);
}

static int cmd_show(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__GetRoomRequest req = ROOMVPN__V1__GET_ROOM_REQUEST__INIT;
	const char *pos[1];

	if (cli_parse("rooms show", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	return cli_call(c, "rooms show", RS "Get", &req.base, &roomvpn__v1__room__descriptor,
			print_room);
}

static int cmd_create(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__CreateRoomRequest req = ROOMVPN__V1__CREATE_ROOM_REQUEST__INIT;
	const char *subnet = NULL, *subnet6 = NULL, *mtu = NULL, *ka = NULL, *tr = NULL,
		   *place = NULL, *pos[1];
	bool pw_stdin = false, pw_prompt = false;
	struct cli_room_net net = {0};
	const struct cli_opt opts[] = {{"subnet", &subnet, NULL},
				       {"subnet6", &subnet6, NULL},
				       {"mtu", &mtu, NULL},
				       {"keepalive", &ka, NULL},
				       {"transport", &tr, NULL},
				       {"password", NULL, &pw_prompt},
				       {"password-stdin", NULL, &pw_stdin},
				       {"placement", &place, NULL},
				       CLI_ROOM_NET_OPTS(net),
				       {NULL, NULL, NULL}};
	char password[300] = "";

	if (cli_parse("rooms create", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	if (net.no_dns || net.no_routes) {
		cli_error(c, "--no-dns/--no-routes are for 'rooms update' (a new room has none "
			     "unless --dns/--routes give them)");
		return RV_EXIT_USAGE;
	}
	if (cli_room_net_parse(c, &net) < 0 ||
	    (mtu && parse_u32(c, "mtu", mtu, 576, 9000, &req.mtu) < 0) ||
	    (ka && parse_u32(c, "keepalive", ka, 1, 3600, &req.keepalive_s) < 0) ||
	    (tr && parse_transport(c, tr, &req.transport) < 0) ||
	    (place && placement_opt(c, place) < 0))
		return RV_EXIT_USAGE;
	if ((pw_stdin || pw_prompt) &&
	    cli_password(c, "Room password: ", pw_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	req.name = (char *)pos[0];
	if (place)
		req.placement = (char *)place;
	if (subnet)
		req.subnet = (char *)subnet;
	if (subnet6)
		req.subnet6 = (char *)subnet6;
	req.password = password;
	cli_room_net_create(&net, &req);
	return cli_call(c, "rooms create", RS "Create", &req.base, &roomvpn__v1__room__descriptor,
			print_room);
}

static int cmd_update(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__UpdateRoomRequest req = ROOMVPN__V1__UPDATE_ROOM_REQUEST__INIT;
	const char *mtu = NULL, *ka = NULL, *tr = NULL, *place = NULL, *pos[1];
	bool rotate = false, pw_stdin = false, pw_prompt = false, no_pw = false, no_place = false;
	struct cli_room_net net = {0};
	const struct cli_opt opts[] = {{"mtu", &mtu, NULL},
				       {"keepalive", &ka, NULL},
				       {"transport", &tr, NULL},
				       {"rotate-key", NULL, &rotate},
				       {"password", NULL, &pw_prompt},
				       {"password-stdin", NULL, &pw_stdin},
				       {"no-password", NULL, &no_pw},
				       {"placement", &place, NULL},
				       {"no-placement", NULL, &no_place},
				       CLI_ROOM_NET_OPTS(net),
				       {NULL, NULL, NULL}};
	char password[300] = "";

	if (cli_parse("rooms update", argc, argv, opts, pos, 1, 1) < 0 ||
	    cli_room_net_parse(c, &net) < 0 ||
	    (mtu && parse_u32(c, "mtu", mtu, 576, 9000, &req.mtu) < 0) ||
	    (ka && parse_u32(c, "keepalive", ka, 1, 3600, &req.keepalive_s) < 0) ||
	    (tr && parse_transport(c, tr, &req.transport) < 0) ||
	    (place && placement_opt(c, place) < 0))
		return RV_EXIT_USAGE;
	if (place && no_place) {
		cli_error(c, "--placement and --no-placement: choose one");
		return RV_EXIT_USAGE;
	}
	req.room = (char *)pos[0];
	if (place || no_place) {
		req.placement = (char *)(place ? place : ""); /* "" removes the constraint */
		req.placement_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__PLACEMENT_SET_PLACEMENT;
	}
	if (mtu)
		req.mtu_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__MTU_SET_MTU;
	if (ka)
		req.keepalive_set_case =
		    ROOMVPN__V1__UPDATE_ROOM_REQUEST__KEEPALIVE_SET_KEEPALIVE_S;
	if (tr)
		req.transport_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__TRANSPORT_SET_TRANSPORT;
	if ((pw_stdin || pw_prompt) &&
	    cli_password(c, "New room password: ", pw_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	if (pw_stdin || pw_prompt || no_pw) {
		req.password = password; /* "" removes it */
		req.password_set_case = ROOMVPN__V1__UPDATE_ROOM_REQUEST__PASSWORD_SET_PASSWORD;
	}
	req.rotate_key = rotate;
	cli_room_net_update(&net, &req);
	return cli_call(c, "rooms update", RS "Update", &req.base, &roomvpn__v1__room__descriptor,
			print_room);
}

/* Commands whose request is just { room } and whose reply is Empty. */
static int room_only(struct cli *c, const char *what, const char *method,
		     const ProtobufCMessageDescriptor *desc, int argc, char **argv,
		     const char *done)
{
	ProtobufCMessage *req = calloc(1, desc->sizeof_message);
	const char *pos[1];
	int rc = RV_EXIT_USAGE;

	if (!req)
		return RV_EXIT_ERROR;
	desc->message_init(req);
	if (cli_parse(what, argc, argv, NULL, pos, 1, 1) >= 0) {
		/* every such request has the room name as its first field */
		*(char **)((char *)req + desc->fields[0].offset) = (char *)pos[0];
		rc = cli_call(c, what, method, req, &roomvpn__v1__empty__descriptor, NULL);
		if (rc == RV_EXIT_OK && !c->json)
			printf(done, pos[0]);
	}
	free(req);
	return rc;
}

static int cmd_delete(struct cli *c, int argc, char **argv)
{
	return room_only(c, "rooms delete", RS "Delete",
			 &roomvpn__v1__delete_room_request__descriptor, argc, argv,
			 "Room %s deleted.\n");
}

static int cmd_leave(struct cli *c, int argc, char **argv)
{
	const char *pos[1];

	if (cli_parse("leave", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	/* a running tunnel of the room goes down first (and ends on the server) */
	if (rv_cli_tunnel_running(c, pos[0]) && rv_cli_tunnel_stop(c, pos[0]) != RV_EXIT_OK)
		return RV_EXIT_ERROR;
	return room_only(c, "leave", RS "Leave", &roomvpn__v1__leave_room_request__descriptor, argc,
			 argv, "Left room %s.\n");
}

static void print_members(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListMembersResponse *l = (const Roomvpn__V1__ListMembersResponse *)m;

	if (!l->n_members) {
		printf("No members.\n");
		return;
	}
	printf("%-8s %-20s %-15s %-19s %-8s %-9s %-20s %s\n", "DEVICE", "USER", "VIRTUAL-IP",
	       "JOINED (UTC)", "STATE", "RTT(ms)", "LAST-SEEN", "VIRTUAL-IP6");
	for (size_t i = 0; i < l->n_members; i++) {
		const Roomvpn__V1__Member *mb = l->members[i];
		time_t t = (time_t)mb->joined_unix;
		char when[32], rtt[16], seen[32];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
		rv_cli_member_presence(mb, rtt, sizeof(rtt), seen, sizeof(seen));
		printf("%-8" PRIu64 " %-20s %-15s %-19s %-8s %-9s %-20s %s\n", mb->device_id,
		       mb->username, mb->virtual_ip, when, mb->online ? "online" : "offline", rtt,
		       seen, mb->virtual_ip6[0] ? mb->virtual_ip6 : "-");
	}
}

void rv_cli_member_presence(const Roomvpn__V1__Member *m, char *rtt, size_t rttlen, char *seen,
			    size_t seenlen)
{
	time_t t = (time_t)(m->last_seen_unix_ms / 1000u);

	if (m->rtt_us)
		snprintf(rtt, rttlen, "%.2f", m->rtt_us / 1000.0);
	else
		snprintf(rtt, rttlen, "-");
	if (!m->last_seen_unix_ms || !strftime(seen, seenlen, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t)))
		snprintf(seen, seenlen, "never");
}

static int cmd_members(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListMembersRequest req = ROOMVPN__V1__LIST_MEMBERS_REQUEST__INIT;
	const char *pos[1];

	if (cli_parse("rooms members", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	return cli_call(c, "rooms members", RS "ListMembers", &req.base,
			&roomvpn__v1__list_members_response__descriptor, print_members);
}

static int cmd_kick(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__KickRequest req = ROOMVPN__V1__KICK_REQUEST__INIT;
	const char *pos[2];
	char *end;
	int rc;

	if (cli_parse("rooms kick", argc, argv, NULL, pos, 2, 2) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	req.device_id = strtoull(pos[1], &end, 10);
	if (*end || !*pos[1]) {
		cli_error(c, "rooms kick: '%s' is not a device id (see 'rooms members')", pos[1]);
		return RV_EXIT_USAGE;
	}
	rc = cli_call(c, "rooms kick", RS "Kick", &req.base, &roomvpn__v1__empty__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Device %s removed from room %s.\n", pos[1], pos[0]);
	return rc;
}

static void print_join(const ProtobufCMessage *m)
{
	const Roomvpn__V1__JoinRoomResponse *j = (const Roomvpn__V1__JoinRoomResponse *)m;

	printf("Joined room %s.\n  virtual IP %s/%u\n  subnet     %s (server %s)\n"
	       "  mtu        %u\n  keepalive  %us\n",
	       j->room ? j->room->name : "?", j->virtual_ip, j->prefix_len, j->subnet, j->server_ip,
	       j->mtu, j->keepalive_s);
	if (j->virtual_ip6[0])
		printf("  virtual IPv6 %s/%u\n  subnet6    %s\n", j->virtual_ip6, j->prefix6_len,
		       j->subnet6);
	cli_room_net_print(j->n_dns_servers, j->dns_servers, j->dns_search, j->n_routes, j->routes);
	for (size_t i = 0; i < j->n_endpoints; i++)
		printf("  endpoint   %s %s\n", transport_name(j->endpoints[i]->transport),
		       j->endpoints[i]->address);
}

static int cmd_join(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__JoinRoomRequest req = ROOMVPN__V1__JOIN_ROOM_REQUEST__INIT;
	bool pw_stdin = false, pw_prompt = false;
	const struct cli_opt opts[] = {{"password", NULL, &pw_prompt},
				       {"password-stdin", NULL, &pw_stdin},
				       {NULL, NULL, NULL}};
	char password[300] = "";
	const char *pos[1];

	if (cli_parse("join", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	if ((pw_stdin || pw_prompt) &&
	    cli_password(c, "Room password: ", pw_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	req.password = password;
	return cli_call(c, "join", RS "Join", &req.base,
			&roomvpn__v1__join_room_response__descriptor, print_join);
}

const struct cli_cmd cli_rooms_cmds[] = {
    {"rooms list", "[--page-size N] [--page-token T]",
     "List the rooms on the server, by name.\n\n"
     "Options:\n"
     "  --page-size N        rooms per page (default 50)\n"
     "  --page-token T       the page after a previous listing\n",
     cmd_list},
    {"rooms show", "ROOM", "Show one room (by name, or by id as #<id>).\n", cmd_show},
    {"rooms create",
     "NAME [--subnet CIDR] [--subnet6 PREFIX] [--mtu N] [--keepalive S] [--transport udp|tcp] "
     "[--dns LIST [--dns-search DOMAIN]] [--routes LIST] [--placement K=V[,K=V]]",
     "Create a room; you become its owner.\n\n"
     "Options:\n"
     "  --subnet CIDR        overlay subnet (default: one from the server's pool)\n"
     "  --subnet6 PREFIX     IPv6 overlay prefix, length 48..120, e.g. fd00:1:2:3::/64\n"
     "                       (default: a /64 of the server's IPv6 prefix)\n"
     "  --mtu N              tunnel MTU, 576..9000 (default: the server's)\n"
     "  --keepalive S        data-channel keepalive in seconds (default: the server's)\n"
     "  --transport T        preferred transport, udp (default) or tcp\n"
     "  --password           ask for a room password (joining then needs it)\n"
     "  --password-stdin     read the room password from standard input\n"
     "  --dns ADDR[,...]     DNS servers for the members while their tunnel is up (at\n"
     "                       most 4 IPv4 or IPv6 addresses)\n"
     "  --dns-search DOMAIN  a DNS search domain (with --dns)\n"
     "  --routes LIST        managed routes TARGET=VIA[,TARGET=VIA...], e.g.\n"
     "                       192.168.50.0/24=10.88.0.5: traffic for TARGET (a private\n"
     "                       subnet outside the room's) goes through the room to the\n"
     "                       member with virtual IP VIA, which routes it on (at most 16\n"
     "                       per family; an IPv6 TARGET goes via a member's IPv6 address)\n"
     "  --placement K=V[,K=V...]\n"
     "                       only data planes with all these labels take the room,\n"
     "                       e.g. site=fra1 (see 'admin dataplanes'; default: any)\n",
     cmd_create},
    {"rooms update",
     "ROOM [--mtu N] [--keepalive S] [--transport udp|tcp] [--rotate-key] [--password | "
     "--password-stdin | --no-password] [--dns LIST [--dns-search DOMAIN] | --no-dns] "
     "[--routes LIST | --no-routes] [--placement K=V[,K=V] | --no-placement]",
     "Change a room (owner or admin); options left out are not changed. Running tunnels\n"
     "get the new MTU, keepalive, DNS settings and routes over their keepalive stream,\n"
     "apply them and acknowledge; a rotated room key makes them re-key.\n\n"
     "Options:\n"
     "  --mtu N              tunnel MTU, 576..9000\n"
     "  --keepalive S        data-channel keepalive in seconds\n"
     "  --transport T        preferred transport, udp or tcp\n"
     "  --rotate-key         draw a new room key\n"
     "  --password           ask for a new room password\n"
     "  --password-stdin     read the new room password from standard input\n"
     "  --no-password        remove the room password\n"
     "  --dns ADDR[,...]     replace the DNS servers (at most 4 IPv4 or IPv6 addresses)\n"
     "  --dns-search DOMAIN  a DNS search domain (with --dns)\n"
     "  --no-dns             remove the room's DNS settings\n"
     "  --routes LIST        replace the managed routes: TARGET=VIA[,TARGET=VIA...], e.g.\n"
     "                       --routes 192.168.50.0/24=10.88.0.5 sends traffic for\n"
     "                       192.168.50.0/24 to the member with virtual IP 10.88.0.5\n"
     "                       (private targets outside the room's subnet, or IPv6 ones\n"
     "                       outside its subnet6 via a member's IPv6 address; at most\n"
     "                       16 per family)\n"
     "  --no-routes          remove every managed route\n"
     "  --placement K=V[,K=V...]\n"
     "                       only data planes with these labels; if the room's data\n"
     "                       plane lacks them the room moves (members follow by\n"
     "                       themselves)\n"
     "  --no-placement       remove the label constraint\n",
     cmd_update},
    {"rooms delete", "ROOM", "Delete a room (owner or admin).\n", cmd_delete},
    {"rooms members", "ROOM",
     "List a room's member devices (owner, admin or a member): user, virtual IP,\n"
     "joined, online or offline, RTT and when the data plane last saw the device.\n",
     cmd_members},
    {"rooms kick", "ROOM DEVICE_ID",
     "Remove a member device from a room (owner or admin); see 'rooms members'.\n", cmd_kick},
    {"join", "ROOM [--password | --password-stdin]",
     "Join a room with this device: the server assigns a virtual IP (the same one on\n"
     "every rejoin).\n\n"
     "Options:\n"
     "  --password           ask for the room password\n"
     "  --password-stdin     read the room password from standard input\n",
     cmd_join},
    {"leave", "ROOM",
     "Leave a room with this device (its running tunnel of the room goes down first).\n",
     cmd_leave},
    {NULL, NULL, NULL, NULL},
};
