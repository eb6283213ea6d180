/* roomvpn login / logout. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "pbjson.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "roomvpn/v1/common.pb-c.h"

struct login_opts {
	const char *server, *fingerprint, *ca, *tls_name, *username, *device;
	bool password_stdin;
};

/* Without a pin or CA: show the certificate's fingerprint and stop. */
static int no_trust(struct cli *c, const char *server)
{
	char *pem = NULL, err[512], fps[RV_FP_STR];
	uint8_t fp[RV_FP_LEN];

	if (rv_grpc_fetch_cert(server, 0, &pem, fp, err, sizeof(err)) < 0) {
		cli_error(c, "%s", err);
		return RV_EXIT_CONNECT;
	}
	free(pem);
	rv_fp_format(fp, fps);
	cli_error(c,
		  "no --fingerprint or --ca given. %s presents a certificate with SHA-256 "
		  "fingerprint\n  %s\nCheck it with the server's administrator (roomvpn-control "
		  "logs it at start), then run login again with --fingerprint %s",
		  server, fps, fps);
	return RV_EXIT_CONNECT;
}

/* Fill server, pin/CA and TLS name of @l from the options. */
static int login_target(struct cli *c, const struct login_opts *o, struct rv_login *l)
{
	uint8_t fp[RV_FP_LEN];
	char abs[PATH_MAX], err[300];
	int n;

	if (rv_grpc_check_servers(o->server, err, sizeof(err)) < 0) {
		cli_error(c, "login: %s", err);
		return RV_EXIT_USAGE;
	}
	snprintf(l->server, sizeof(l->server), "%s", o->server);
	if (o->fingerprint) {
		/* one pin, or one per replica key: "FP1,FP2" (at most RV_PINS_MAX) */
		l->pins.n = 0; /* a new login starts a new pin set */
		for (const char *p = o->fingerprint; *p;) {
			size_t len = strcspn(p, ",");
			char one[RV_FP_STR + 32];
			snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : 0), p);
			if (len >= sizeof(one) || rv_fp_parse(one, fp) < 0) {
				cli_error(
				    c,
				    "--fingerprint: '%.*s' is not a SHA-256 fingerprint (64 hex "
				    "digits, ':' allowed)",
				    (int)len, p);
				return RV_EXIT_USAGE;
			}
			if (l->pins.n == RV_PINS_MAX) {
				cli_error(c, "--fingerprint: at most %d fingerprints", RV_PINS_MAX);
				return RV_EXIT_USAGE;
			}
			rv_pinset_add(&l->pins, fp);
			p += len + (p[len] == ',');
		}
	} else if (o->ca) {
		if (!realpath(o->ca, abs)) {
			cli_error(c, "--ca: cannot read %s", o->ca);
			return RV_EXIT_USAGE;
		}
		n = snprintf(l->ca_file, sizeof(l->ca_file), "%.500s", abs);
		if (n < 0 || (size_t)n != strlen(abs)) {
			cli_error(c, "--ca: path too long");
			return RV_EXIT_USAGE;
		}
	}
	if (o->tls_name)
		snprintf(l->tls_name, sizeof(l->tls_name), "%s", o->tls_name);
	return RV_EXIT_OK;
}

static void print_login(const struct cli *c, const struct rv_login *l)
{
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "server", json_object_new_string(l->server));
		json_object_object_add(o, "username", json_object_new_string(l->username));
		json_object_object_add(o, "admin", json_object_new_boolean(l->admin));
		json_object_object_add(o, "user_id", rv_json_u64(l->user_id));
		json_object_object_add(o, "device_id", rv_json_u64(l->device_id));
		json_object_object_add(o, "session_expires_unix", rv_json_u64(l->session_expires));
		rv_json_print(stdout, o);
		return;
	}
	printf("Logged in to %s as %s%s (device %llu).\n", l->server, l->username,
	       l->admin ? " (admin)" : "", (unsigned long long)l->device_id);
}

static int do_login(struct cli *c, const struct login_opts *o, struct rv_login *l,
		    const char *password)
{
	Roomvpn__V1__LoginRequest req = ROOMVPN__V1__LOGIN_REQUEST__INIT;
	struct rv_grpc_target t;
	struct rv_grpc_result res;
	struct rv_grpc *g;
	ProtobufCMessage *resp;
	char err[512], host[256];
	grpc_status_code st;

	rv_api_target(l, &t);
	if (rv_grpc_open(&t, &g, err, sizeof(err)) < 0) {
		cli_error(c, "%s", err);
		return RV_EXIT_CONNECT;
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "roomvpn");
	req.username = (char *)o->username;
	req.password = (char *)password;
	req.device_name = (char *)(o->device ? o->device : host);
	st = rv_grpc_call(g, "/roomvpn.v1.AuthService/Login", &req.base,
			  &roomvpn__v1__session__descriptor, &resp, NULL, &res);
	rv_grpc_close(g);
	if (st != GRPC_STATUS_OK)
		return cli_rpc_error(c, "login", st, &res);
	rv_login_apply(l, (Roomvpn__V1__Session *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (rv_login_save(c->dir, l, err, sizeof(err)) < 0) {
		cli_error(c, "%s", err);
		return RV_EXIT_ERROR;
	}
	print_login(c, l);
	return RV_EXIT_OK;
}

static int cmd_login(struct cli *c, int argc, char **argv)
{
	struct login_opts o = {0};
	const struct cli_opt opts[] = {{"fingerprint", &o.fingerprint, NULL},
				       {"ca", &o.ca, NULL},
				       {"tls-name", &o.tls_name, NULL},
				       {"username", &o.username, NULL},
				       {"device-name", &o.device, NULL},
				       {"password-stdin", NULL, &o.password_stdin},
				       {NULL, NULL, NULL}};
	const char *pos[1];
	struct rv_login l = {0};
	char password[512];
	int rc;

	if (cli_parse("login", argc, argv, opts, pos, 1, 1) < 0)
		return RV_EXIT_USAGE;
	o.server = pos[0];
	if (!o.username) {
		cli_error(c, "login: --username is required");
		return RV_EXIT_USAGE;
	}
	if (o.fingerprint && o.ca) {
		cli_error(c, "login: give --fingerprint or --ca, not both");
		return RV_EXIT_USAGE;
	}
	if (!o.fingerprint && !o.ca)
		return no_trust(c, o.server);
	rc = login_target(c, &o, &l);
	if (rc != RV_EXIT_OK)
		return rc;
	if (cli_password(c, "Password: ", o.password_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	rc = do_login(c, &o, &l, password);
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(&l, sizeof(l));
	return rc;
}

/* Self-registration by invite: as login, with RegisterWithInvite. */
int cli_auth_register(struct cli *c, const struct cli_register_opts *r)
{
	Roomvpn__V1__RegisterWithInviteRequest req =
	    ROOMVPN__V1__REGISTER_WITH_INVITE_REQUEST__INIT;
	struct login_opts o = {.server = r->server,
			       .fingerprint = r->fingerprint,
			       .ca = r->ca,
			       .tls_name = r->tls_name,
			       .username = r->username,
			       .device = r->device};
	struct rv_login l = {0};
	struct rv_grpc_target t;
	struct rv_grpc_result res;
	struct rv_grpc *g;
	ProtobufCMessage *resp = NULL;
	char password[512], err[512], host[256];

	if (!o.fingerprint && !o.ca)
		return no_trust(c, o.server);
	int rc = login_target(c, &o, &l);
	if (rc != RV_EXIT_OK)
		return rc;
	if (cli_password(c, "New password: ", r->password_stdin, password, sizeof(password)) < 0)
		return RV_EXIT_USAGE;
	rv_api_target(&l, &t);
	if (rv_grpc_open(&t, &g, err, sizeof(err)) < 0) {
		OPENSSL_cleanse(password, sizeof(password));
		cli_error(c, "%s", err);
		return RV_EXIT_CONNECT;
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "roomvpn");
	req.code = (char *)r->code;
	req.username = (char *)r->username;
	req.password = password;
	req.device_name = (char *)(r->device ? r->device : host);
	grpc_status_code st = rv_grpc_call(
	    g, "/roomvpn.v1.AuthService/RegisterWithInvite", &req.base,
	    &roomvpn__v1__register_with_invite_response__descriptor, &resp, NULL, &res);
	rv_grpc_close(g);
	OPENSSL_cleanse(password, sizeof(password));
	if (st != GRPC_STATUS_OK)
		return cli_rpc_error(c, "join-invite", st, &res);
	const Roomvpn__V1__RegisterWithInviteResponse *rr = (const void *)resp;
	char room[128];
	snprintf(room, sizeof(room), "%s", rr->room);
	if (rr->session)
		rv_login_apply(&l, rr->session);
	protobuf_c_message_free_unpacked(resp, NULL);
	rc = RV_EXIT_OK;
	if (rv_login_save(c->dir, &l, err, sizeof(err)) < 0) {
		cli_error(c, "%s", err);
		rc = RV_EXIT_ERROR;
	} else if (c->json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "server", json_object_new_string(l.server));
		json_object_object_add(j, "username", json_object_new_string(l.username));
		json_object_object_add(j, "device_id", rv_json_u64(l.device_id));
		json_object_object_add(j, "room", json_object_new_string(room));
		rv_json_print(stdout, j);
	} else {
		printf("Registered on %s as %s (device %llu) and joined room %s: 'roomvpn up %s' "
		       "starts its tunnel.\n",
		       l.server, l.username, (unsigned long long)l.device_id, room, room);
	}
	OPENSSL_cleanse(&l, sizeof(l));
	return rc;
}

static int cmd_logout(struct cli *c, int argc, char **argv)
{
	Roomvpn__V1__LogoutRequest req = ROOMVPN__V1__LOGOUT_REQUEST__INIT;
	bool all = false;
	const struct cli_opt opts[] = {{"all-devices", NULL, &all}, {NULL, NULL, NULL}};
	struct rv_grpc_result res;
	ProtobufCMessage *resp;
	struct rv_api a;
	grpc_status_code st;
	char err[256];
	int rc;

	if (cli_parse("logout", argc, argv, opts, NULL, 0, 0) < 0)
		return RV_EXIT_USAGE;
	rc = cli_api(c, &a);
	if (rc != RV_EXIT_OK)
		return rc;
	req.all_devices = all;
	st = rv_api_call(&a, "/roomvpn.v1.AuthService/Logout", &req.base,
			 &roomvpn__v1__empty__descriptor, &resp, &res);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	rv_api_close(&a);
	/* An expired or revoked login is logged out all the same. */
	if (st != GRPC_STATUS_OK && st != GRPC_STATUS_UNAUTHENTICATED)
		return cli_rpc_error(c, "logout", st, &res);
	if (rv_login_remove(c->dir, err, sizeof(err)) < 0) {
		cli_error(c, "%s", err);
		return RV_EXIT_ERROR;
	}
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "logged_out", json_object_new_boolean(true));
		rv_json_print(stdout, o);
	} else
		printf("Logged out.\n");
	return RV_EXIT_OK;
}

const struct cli_cmd cli_auth_cmds[] = {
    {"login", "SERVER --username NAME (--fingerprint FP | --ca FILE) [--password-stdin]",
     "Log in to a roomvpn server (host:port) and store this device's login in the config\n"
     "directory (login.conf, mode 0600). SERVER may list several control-plane replicas,\n"
     "host1:port,host2:port (at most 8; IPv6 as [addr]:port; a name with several\n"
     "addresses is tried address by address): a call that gets no answer (UNAVAILABLE)\n"
     "is retried on the next, and the keepalive stream reconnects to whichever answers.\n"
     "The server's certificate is checked against a\n"
     "SHA-256 fingerprint pin or a CA file; without either, login prints the\n"
     "fingerprint the server presents and stops. The password is asked for without echo,\n"
     "or read as one line from standard input with --password-stdin.\n\n"
     "Options:\n"
     "  --username NAME      account name (required)\n"
     "  --fingerprint FP     SHA-256 of the server certificate (AB:CD:... or 64 hex digits);\n"
     "                       replicas with keys of their own: FP1,FP2 (at most 4)\n"
     "  --ca FILE            PEM CA certificate(s) that issued the server certificate\n"
     "  --tls-name NAME      name to check in the certificate (default: from the pin)\n"
     "  --device-name NAME   how admins see this device (default: the host name)\n"
     "  --password-stdin     read the password from standard input\n",
     cmd_login},
    {"logout", "[--all-devices]",
     "End this device's session and forget the stored login.\n\n"
     "Options:\n"
     "  --all-devices        also revoke every other device of this user\n",
     cmd_logout},
    {NULL, NULL, NULL, NULL},
};
