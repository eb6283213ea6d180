/* `roomvpn rooms rules ROOM set FILE | show`: a room's access rules
 * (owner; docs/rooms.md "Access rules"). The server checks the text and
 * says which line is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RS	 "/roomvpn.v1.RoomService/"
#define TEXT_MAX 65536

static void print_rules(const ProtobufCMessage *m)
{
	const Roomvpn__V1__RoomRules *r = (const Roomvpn__V1__RoomRules *)m;
	if (!r->text[0]) {
		printf("Room %s has no access rules: members reach each other freely.\n", r->room);
		return;
	}
	printf("# room %s: %u address rules\n%s", r->room, r->compiled, r->text);
	if (r->text[strlen(r->text) - 1] != '\n')
		printf("\n");
}

/* @path ("-": standard input) into a NUL-terminated buffer, or NULL after
 * printing why. */
static char *read_text(const struct cli *c, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = malloc(TEXT_MAX + 2);
	size_t n = 0;
	if (!f || !buf) {
		cli_error(c, "rooms rules: cannot read %s: %m", path);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, TEXT_MAX + 1, f);
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (err || n > TEXT_MAX) {
		cli_error(c, "rooms rules: %s: %s", path,
			  err ? "read error" : "longer than 65536 bytes");
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static int cmd_rules(struct cli *c, int argc, char **argv)
{
	const char *pos[3];
	int n = cli_parse("rooms rules", argc, argv, NULL, pos, 2, 3);
	if (n < 0)
		return RV_EXIT_USAGE;
	if (strcmp(pos[1], "show") == 0 && n == 2) {
		Roomvpn__V1__GetRoomRulesRequest req = ROOMVPN__V1__GET_ROOM_RULES_REQUEST__INIT;
		req.room = (char *)pos[0];
		return cli_call(c, "rooms rules", RS "GetRules", &req.base,
				&roomvpn__v1__room_rules__descriptor, print_rules);
	}
	if (strcmp(pos[1], "set") != 0 || n != 3) {
		cli_error(c, "rooms rules: write 'rooms rules ROOM set FILE' or 'rooms rules ROOM "
			     "show'");
		return RV_EXIT_USAGE;
	}
	Roomvpn__V1__SetRoomRulesRequest req = ROOMVPN__V1__SET_ROOM_RULES_REQUEST__INIT;
	req.room = (char *)pos[0];
	req.text = read_text(c, pos[2]);
	if (!req.text)
		return RV_EXIT_USAGE;
	int rc = cli_call(c, "rooms rules", RS "SetRules", &req.base,
			  &roomvpn__v1__room_rules__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Access rules of room %s set; members' traffic follows them now.\n", pos[0]);
	free(req.text);
	return rc;
}

const struct cli_cmd cli_rules_cmds[] = {
    {"rooms rules", "ROOM set FILE | ROOM show",
     "Set or show a room's access rules (owner or admin). FILE ('-': standard input)\n"
     "holds one rule per line, the first matching rule decides, none matching allows:\n\n"
     "  tag admins = alice carol\n"
     "  deny  tcp  from bob to alice port 22\n"
     "  allow tcp  from tag:admins to any port 80-443\n"
     "  allow icmp from any to any\n"
     "  deny  any  from any to any\n\n"
     "ACTION is allow or deny, PROTO any, tcp, udp or icmp; from/to name a member's user\n"
     "(all its devices in the room, resolved when set), tag:NAME, an IPv4 address or\n"
     "network, or any. Replies to an allowed connection pass. An empty file removes\n"
     "every rule. A wrong line is refused with its number (docs/rooms.md).\n",
     cmd_rules},
    {NULL, NULL, NULL, NULL},
};
