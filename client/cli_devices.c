/* Self-service on one's own account: `passwd`, `devices`, `devices rename`,
 * `devices revoke` (AuthService; docs/rooms.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "roomvpn/v1/common.pb-c.h"

#define AS "/roomvpn.v1.AuthService/"

static int cmd_passwd(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ChangePasswordRequest req = ROOMVPN__V1__CHANGE_PASSWORD_REQUEST__INIT;
	bool from_stdin = false;
	const struct cli_opt opts[] = {{"password-stdin", NULL, &from_stdin}, {NULL, NULL, NULL}};
	char old_pw[1100] = "", new_pw[1100] = "";
	int rc = RV_EXIT_USAGE;

	if (cli_parse("passwd", argc, argv, opts, NULL, 0, 0) < 0)
		return RV_EXIT_USAGE;
	/* with --password-stdin: the old password on the first line, the new on the second */
	if (cli_password(c, "Old password: ", from_stdin, old_pw, sizeof(old_pw)) < 0 ||
	    cli_password(c, "New password: ", from_stdin, new_pw, sizeof(new_pw)) < 0)
		goto out;
	req.old_password = old_pw;
	req.new_password = new_pw;
	rc = cli_call(c, "passwd", AS "ChangePassword", &req.base, &roomvpn__v1__empty__descriptor,
		      NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Password changed; your other devices are logged out.\n");
out:
	OPENSSL_cleanse(old_pw, sizeof(old_pw));
	OPENSSL_cleanse(new_pw, sizeof(new_pw));
	return rc;
}

static void print_devices(const ProtobufCMessage *m)
{
	const Roomvpn__V1__ListDevicesResponse *l = (const void *)m;
	printf("%-6s %-20s %-20s %s\n", "ID", "NAME", "LAST SEEN (UTC)", "TUNNELS");
	for (size_t i = 0; i < l->n_devices; i++) {
		const Roomvpn__V1__Device *d = l->devices[i];
		char when[32] = "-", name[40];
		time_t t = (time_t)(d->last_seen_unix_ms / 1000);
		if (d->last_seen_unix_ms)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
		snprintf(name, sizeof(name), "%s%s", d->name, d->current ? " (this)" : "");
		printf("%-6" PRIu64 " %-20s %-20s", d->id, name, when);
		for (size_t j = 0; j < d->n_tunnels; j++)
			printf("%s%s %s%s%s%s", j ? ", " : " ", d->tunnels[j]->room,
			       d->tunnels[j]->virtual_ip, d->tunnels[j]->address[0] ? " from " : "",
			       d->tunnels[j]->address, d->tunnels[j]->up ? "" : " (down)");
		printf("%s\n", d->n_tunnels ? "" : " -");
	}
}

static int cmd_devices(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__ListDevicesRequest req = ROOMVPN__V1__LIST_DEVICES_REQUEST__INIT;
	if (cli_parse("devices", argc, argv, NULL, NULL, 0, 0) < 0)
		return RV_EXIT_USAGE;
	return cli_call(c, "devices", AS "ListDevices", &req.base,
			&roomvpn__v1__list_devices_response__descriptor, print_devices);
}

static int parse_dev(const struct cli *c, const char *cmd, const char *v, uint64_t *id)
{
	char *end;
	*id = strtoull(v, &end, 10);
	if (*end || !*v || !*id) {
		cli_error(c, "%s: '%s' is not a device id (see 'devices')", cmd, v);
		return -1;
	}
	return 0;
}

static int cmd_rename(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__RenameDeviceRequest req = ROOMVPN__V1__RENAME_DEVICE_REQUEST__INIT;
	const char *pos[2];
	if (cli_parse("devices rename", argc, argv, NULL, pos, 2, 2) < 0 ||
	    parse_dev(c, "devices rename", pos[0], &req.device_id) < 0)
		return RV_EXIT_USAGE;
	req.name = (char *)pos[1];
	int rc = cli_call(c, "devices rename", AS "RenameDevice", &req.base,
			  &roomvpn__v1__device__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Device %s is now '%s'.\n", pos[0], pos[1]);
	return rc;
}

static int cmd_revoke(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__RevokeDeviceRequest req = ROOMVPN__V1__REVOKE_DEVICE_REQUEST__INIT;
	const char *pos[1];
	if (cli_parse("devices revoke", argc, argv, NULL, pos, 1, 1) < 0 ||
	    parse_dev(c, "devices revoke", pos[0], &req.device_id) < 0)
		return RV_EXIT_USAGE;
	int rc = cli_call(c, "devices revoke", AS "RevokeDevice", &req.base,
			  &roomvpn__v1__empty__descriptor, NULL);
	if (rc == RV_EXIT_OK && !c->json)
		printf("Device %s revoked: its logins and tunnels ended.\n", pos[0]);
	return rc;
}

const struct cli_cmd cli_devices_cmds[] = {
    {"passwd", "[--password-stdin]",
     "Change your password (the old one is required). Your other devices are logged\n"
     "out and their tunnels end.\n\n"
     "Options:\n"
     "  --password-stdin     read the old password, then the new one, one per line\n",
     cmd_passwd},
    {"devices list", "", "List your devices: name, last seen, running tunnels.\n", cmd_devices},
    {"devices rename", "DEVICE_ID NAME", "Rename one of your devices.\n", cmd_rename},
    {"devices revoke", "DEVICE_ID",
     "Revoke one of your devices: its logins and tunnels end at once.\n", cmd_revoke},
    {NULL, NULL, NULL, NULL},
};
