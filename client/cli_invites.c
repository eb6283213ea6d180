/* Room invitations and bans: `rooms invite`, `rooms invites`,
 * `rooms invite-revoke`, `join-invite`, `rooms ban`, `rooms unban`,
 * `rooms bans` (RoomService; docs/rooms.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "roomvpn/v1/common.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"
#include "state.h"

#define RS "/roomvpn.v1.RoomService/"

/* The server of the saved login, for the roomvpn:// link of a new invite. */
static char link_server[256];

static void utc(uint64_t unix_s, char *out, size_t len)
{
	time_t t = (time_t)unix_s;
	if (!unix_s)
		snprintf(out, len, "never");
	else
		strftime(out, len, "%Y-%m-%d %H:%M:%S", gmtime(&t));
}

/* "24h", "30m", "3600s", "2d" or plain seconds: 0 and *s, or -1. */
static int parse_duration(const char *v, uint32_t *s)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	unsigned long long mul = !*end		     ? 1
				 : !strcmp(end, "s") ? 1
				 : !strcmp(end, "m") ? 60
				 : !strcmp(end, "h") ? 3600
				 : !strcmp(end, "d") ? 86400
						     : 0;
	if (end == v || !mul || n == 0 || n * mul > UINT32_MAX)
		return -1;
	*s = (uint32_t)(n * mul);
	return 0;
}

static int parse_id(const struct cli *c, const char *cmd, const char *v, uint64_t *id)
{
	char *end;
	*id = strtoull(v, &end, 10);
	if (*end || !*v || !*id) {
		cli_error(c, "%s: '%s' is not an id", cmd, v);
		return -1;
	}
	return 0;
}

/* ---- invitations -------------------------------------------------------------------- */

static void print_created(const ProtobufCMessage *m)
{
	const Roomvpn__V1__CreatedInvite *ci = (const void *)m;
	char when[32];
	utc(ci->invite ? ci->invite->expires_unix : 0, when, sizeof(when));
	printf("Invite %" PRIu64 " to room %s: %u use(s), expires %s UTC.\n",
	       ci->invite ? ci->invite->id : 0, ci->invite ? ci->invite->room : "?",
	       ci->invite ? ci->invite->max_uses : 0, when);
	printf("  code  %s\n", ci->code);
	if (link_server[0])
		printf("  link  roomvpn://%s/join/%s\n", link_server, ci->code);
	printf("The code is shown only now: 'roomvpn join-invite CODE' joins with it.\n");
}

static int cmd_invite(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__CreateInviteRequest req = ROOMVPN__V1__CREATE_INVITE_REQUEST__INIT;
	const char *uses = NULL, *expires = NULL, *pos[1];
	const struct cli_opt opts[] = {
	    {"uses", &uses, NULL}, {"expires", &expires, NULL}, {NULL, NULL, NULL}};
	struct rv_login l;
	char err[256];
	uint64_t n = 0;

	if (cli_parse("rooms invite", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	if (uses && (parse_id(c, "rooms invite --uses", uses, &n) < 0 || n > 10000)) {
		cli_error(c, "rooms invite: --uses is 1 to 10000");
		return RV_EXIT_USAGE;
	}
	req.max_uses = (uint32_t)n;
	if (expires && parse_duration(expires, &req.expires_s) < 0) {
		cli_error(c, "rooms invite: --expires '%s' is not a duration (e.g. 30m, 24h, 7d)",
			  expires);
		return RV_EXIT_USAGE;
	}
	req.room = (char *)pos[0];
	if (rv_login_load(c->dir, &l, err, sizeof(err)) == 0)
		snprintf(link_server, sizeof(link_server), "%s", l.server);
	return cli_call(c, "rooms invite", RS "CreateInvite", &req.base,
			&roomvpn__v1__created_invite__descriptor, print_created);
}

static void print_invites(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListInvitesResponse *l = (const void *)m;
	if (!l->n_invites) {
		printf("No invites.\n");
		return;
	}
	printf("%-6s %-9s %-20s %-12s %s\n", "ID", "USES", "EXPIRES (UTC)", "BY", "STATE");
	for (size_t i = 0; i < l->n_invites; i++) {
		const Roomvpn__V1__Invite *v = l->invites[i];
		char when[32], used[24];
		utc(v->expires_unix, when, sizeof(when));
		snprintf(used, sizeof(used), "%u/%u", v->uses, v->max_uses);
		bool expired = v->expires_unix && v->expires_unix <= (uint64_t)time(NULL);
		printf("%-6" PRIu64 " %-9s %-20s %-12s %s\n", v->id, used, when, v->created_by,
		       v->revoked			       ? "revoked"
		       : expired			       ? "expired"
		       : v->max_uses && v->uses >= v->max_uses ? "used up"
							       : "valid");
	}
}

static int cmd_invites(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListInvitesRequest req = ROOMVPN__V1__LIST_INVITES_REQUEST__INIT;
	const char *pos[1];
	if (cli_parse("rooms invites", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	return cli_call(c, "rooms invites", RS "ListInvites", &req.base,
			&roomvpn__v1__list_invites_response__descriptor, print_invites);
}

static int cmd_invite_revoke(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__RevokeInviteRequest req = ROOMVPN__V1__REVOKE_INVITE_REQUEST__INIT;
	const char *pos[2];
	if (cli_parse("rooms invite-revoke", argc, argv, NULL, pos, 2, 2) < 0 ||
	    parse_id(c, "rooms invite-revoke", pos[1], &req.id) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	int rc = cli_call(c, "rooms invite-revoke", RS "RevokeInvite", &req.base,
			  &roomvpn__v1__empty__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Invite %s of room %s revoked.\n", pos[1], pos[0]);
	return rc;
}

static void print_joined(const ProtobufCMessage *m)
{
	const Roomvpn__V1__JoinRoomResponse *j = (const void *)m;
	printf("Joined room %s with virtual IP %s/%u; 'roomvpn up %s' starts the tunnel.\n",
	       j->room ? j->room->name : "?", j->virtual_ip, j->prefix_len,
	       j->room ? j->room->name : "ROOM");
}

static int cmd_join_invite(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__JoinInviteRequest req = ROOMVPN__V1__JOIN_INVITE_REQUEST__INIT;
	struct cli_register_opts r = {0};
	const char *pos[1], *pin = NULL;
	const struct cli_opt opts[] = {{"server", &r.server, NULL},
				       {"pin", &pin, NULL},
				       {"fingerprint", &r.fingerprint, NULL},
				       {"ca", &r.ca, NULL},
				       {"tls-name", &r.tls_name, NULL},
				       {"username", &r.username, NULL},
				       {"device-name", &r.device, NULL},
				       {"password-stdin", NULL, &r.password_stdin},
				       {NULL, NULL, NULL}};
	if (cli_parse("join-invite", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	/* the code alone, or the whole roomvpn://HOST:PORT/join/CODE link */
	const char *slash = strrchr(pos[0], '/');
	bool link = strncmp(pos[0], "roomvpn://", 10) == 0 && slash;
	req.code = (char *)(link ? slash + 1 : pos[0]);
	if (r.username) { /* a new account (self-registration) */
		char server[256];
		if (!r.server && link) /* roomvpn://HOST:PORT/join/CODE */
			snprintf(server, sizeof(server), "%.*s", (int)strcspn(pos[0] + 10, "/"),
				 pos[0] + 10);
		if (!r.server && !link) {
			cli_error(c, "join-invite: --username needs --server HOST:PORT (or a "
				     "roomvpn:// link)");
			return RV_EXIT_USAGE;
		}
		if (!r.server)
			r.server = server;
		if (pin && r.fingerprint) {
			cli_error(c, "join-invite: give --pin or --fingerprint, not both");
			return RV_EXIT_USAGE;
		}
		if (pin)
			r.fingerprint = pin;
		if (r.fingerprint && r.ca) {
			cli_error(c, "join-invite: give --pin or --ca, not both");
			return RV_EXIT_USAGE;
		}
		r.code = req.code;
		return cli_auth_register(c, &r);
	}
	return cli_call(c, "join-invite", RS "JoinInvite", &req.base,
			&roomvpn__v1__join_room_response__descriptor, print_joined);
}

/* ---- bans ----------------------------------------------------------------------------- */

/* ROOM USER|DEVICE: a number is a device id, anything else a username. */
static void ban_target(const char *who, char **username, uint64_t *device_id)
{
	char *end;
	unsigned long long d = strtoull(who, &end, 10);
	if (*who && !*end && d) {
		*device_id = d;
		*username = (char *)"";
	} else {
		*username = (char *)who;
	}
}

static int cmd_ban(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__BanRequest req = ROOMVPN__V1__BAN_REQUEST__INIT;
	const char *pos[2];
	if (cli_parse("rooms ban", argc, argv, NULL, pos, 2, 2) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	ban_target(pos[1], &req.username, &req.device_id);
	int rc =
	    cli_call(c, "rooms ban", RS "Ban", &req.base, &roomvpn__v1__empty__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("%s banned from room %s (removed now, joins refused until unbanned).\n",
		       pos[1], pos[0]);
	return rc;
}

static int cmd_unban(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__UnbanRequest req = ROOMVPN__V1__UNBAN_REQUEST__INIT;
	const char *pos[2];
	if (cli_parse("rooms unban", argc, argv, NULL, pos, 2, 2) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	ban_target(pos[1], &req.username, &req.device_id);
	int rc = cli_call(c, "rooms unban", RS "Unban", &req.base, &roomvpn__v1__empty__descriptor,
			  NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("%s may join room %s again.\n", pos[1], pos[0]);
	return rc;
}

static void print_bans(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListBansResponse *l = (const void *)m;
	if (!l->n_bans) {
		printf("No bans.\n");
		return;
	}
	printf("%-24s %-20s %s\n", "BANNED", "SINCE (UTC)", "BY");
	for (size_t i = 0; i < l->n_bans; i++) {
		const Roomvpn__V1__Ban *b = l->bans[i];
		char who[48], when[32];
		if (b->username[0])
			snprintf(who, sizeof(who), "user %s", b->username);
		else
			snprintf(who, sizeof(who), "device %" PRIu64, b->device_id);
		utc(b->created_unix, when, sizeof(when));
		printf("%-24s %-20s %s\n", who, when, b->created_by);
	}
}

static int cmd_bans(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListBansRequest req = ROOMVPN__V1__LIST_BANS_REQUEST__INIT;
	const char *pos[1];
	if (cli_parse("rooms bans", argc, argv, NULL, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	req.room = (char *)pos[0];
	return cli_call(c, "rooms bans", RS "ListBans", &req.base,
			&roomvpn__v1__list_bans_response__descriptor, print_bans);
}

const struct cli_cmd cli_invites_cmds[] = {
    {"rooms invite", "ROOM [--uses N] [--expires DURATION]",
     "Create an invite code for a room (owner or admin): printed once, with a\n"
     "roomvpn://HOST:PORT/join/CODE link. Its holder joins with 'join-invite', without\n"
     "the room password.\n\n"
     "Options:\n"
     "  --uses N             devices it may admit, 1..10000 (default 1)\n"
     "  --expires DURATION   e.g. 30m, 24h, 7d; at most 30 days (default 24h)\n",
     cmd_invite},
    {"rooms invites", "ROOM", "List a room's invites: uses, expiry, state (owner or admin).\n",
     cmd_invites},
    {"rooms invite-revoke", "ROOM ID", "Revoke an invite: its code stops working at once.\n",
     cmd_invite_revoke},
    {"join-invite",
     "CODE|LINK [--username NAME --server HOST:PORT (--pin FP | --ca FILE) [--password-stdin]]",
     "Join the room of an invite code (or roomvpn:// link) with this device.\n"
     "With --username, no login is needed: where the server allows self-registration\n"
     "(self_registration = true) the account is created with a new password (asked,\n"
     "or read from stdin), logged in and stored as 'login' stores it, and joined.\n\n"
     "Options (self-registration):\n"
     "  --username NAME       the new account's name\n"
     "  --server HOST:PORT    the server (default: the link's)\n"
     "  --pin FP              the server certificate's SHA-256 fingerprint (or --fingerprint)\n"
     "  --ca FILE             trust a CA instead of a pin\n"
     "  --tls-name NAME       the certificate name to expect\n"
     "  --device-name NAME    this device's name (default: the host name)\n"
     "  --password-stdin      read the new password from stdin\n",
     cmd_join_invite},
    {"rooms ban", "ROOM USER|DEVICE_ID",
     "Ban a user (all their devices) or one device from a room (owner or admin): its\n"
     "members are removed at once and joins are refused until 'rooms unban'.\n",
     cmd_ban},
    {"rooms unban", "ROOM USER|DEVICE_ID", "Lift a ban.\n", cmd_unban},
    {"rooms bans", "ROOM", "List a room's bans (owner or admin).\n", cmd_bans},
    {NULL, NULL, NULL, NULL},
};
