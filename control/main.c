/* roomvpn-control: command line (init, serve), start-up and shutdown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "backup.h"
#include "config.h"
#include "control.h"
#include "notify.h"
#include "listener.h"
#include "methods.h"
#include "password.h"
#include "ratelimit.h"
#include "server.h"
#include "replica.h"
#include "store.h"
#include "users.h"
#include "audit.h"
#include "metrics.h"
#include "rooms.h"
#include "ipam.h"
#include "events.h"
#include "dp_link_tls.h"
#include "fleet.h"
#include "tls.h"
#include "dp_ca.h"
#include "dp_owner.h"

static const char usage[] =
    "usage:\n"
    "  roomvpn-control init --state-dir DIR [--admin NAME] [--password-file FILE]\n"
    "                       [--config FILE] [--set key=value ...]\n"
    "      Creates the state directory and the first admin (default name \"admin\").\n"
    "      The password is read from FILE, or from standard input (one line);\n"
    "      never from the command line.\n"
    "  roomvpn-control serve --config FILE [--set key=value ...]\n"
    "      Runs the control plane until SIGTERM or SIGINT.\n"
    "      SIGHUP re-reads the configuration (log_level applies live) and\n"
    "      tls/next.crt (the fingerprint announced to clients).\n"
    "  roomvpn-control check-config [--config FILE] [--set key=value ...]\n"
    "      Checks every value and the files named; exit 0, or 2 with file:line.\n"
    "  roomvpn-control backup DIR --config FILE\n"
    "      Writes a backup (store checkpoint, TLS certificate and key) into DIR,\n"
    "      which must not exist; taken by the running server, or offline.\n"
    "  roomvpn-control restore DIR --config FILE | --state-dir S\n"
    "      Restores a backup into a state directory that holds no store yet.\n"
    "  roomvpn-control rotate-cert prepare|commit --config FILE\n"
    "      prepare: generates the next self-signed certificate (tls/next.crt) and\n"
    "      prints its fingerprint; after a SIGHUP the server announces it to\n"
    "      clients, which add it to their pins. commit: makes it the current one\n"
    "      (the old pair kept as tls/previous.*); restart the control and data\n"
    "      planes to serve it. docs/operations.md has the whole procedure.\n"
    "  roomvpn-control dataplane-cert NAME [--out DIR] --config FILE\n"
    "      Issues data plane NAME's client certificate from the fleet CA\n"
    "      (dataplane_ca_dir, created on first use): DIR/NAME.crt, DIR/NAME.key\n"
    "      (0600) and DIR/ca.crt (default DIR: the current directory). Copy them\n"
    "      to the data plane (agent_cert, agent_key, agent_ca). docs/fleet.md.\n"
    "  roomvpn-control dataplane-revoke NAME --config FILE\n"
    "      Revokes data plane NAME: refused from now on; a running server closes\n"
    "      its link within a second or two. The name stays revoked.\n"
    "  roomvpn-control store copy --from STORE --to STORE [--force] [--config FILE]\n"
    "      Copies every record of one store into another (STORE: rocksdb:DIR or\n"
    "      etcd:https://h1:2379,...; etcd's certificates from the config's etcd_ca,\n"
    "      etcd_cert, etcd_key), then prints both sides' record count and SHA-256.\n"
    "      Refuses a destination that holds records unless --force (which deletes\n"
    "      them first). Run it with the control plane stopped. docs/etcd.md.\n"
    "  roomvpn-control --help | --version\n"
    "Configuration keys: docs/control.md. Several local data planes: one line each,\n"
    "  dataplane = NAME unix:/PATH udp=HOST:PORT tcp=HOST:PORT [labels=k=v,...]\n"
    "  (with dataplane_down_after, dataplane_move_grace; docs/fleet.md).\n";

struct opts {
	const char *cmd;
	const char *dir; /* backup, restore */
	const char *config;
	const char *state_dir;
	const char *admin;
	const char *password_file;
	const char *out;       /* dataplane-cert --out */
	const char *from, *to; /* store copy */
	bool force;
	const char *sets[64];
	int n_sets;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	if (argc < 2)
		return -1;
	o->cmd = argv[1];
	int first = 2;
	if (argc > 2 && argv[2][0] != '-')
		o->dir = argv[first++];
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return -1;
		if (!strcmp(a, "--force")) {
			o->force = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "roomvpn-control: %s needs a value (or is unknown)\n", a);
			return -2;
		}
		if (!strcmp(a, "--config"))
			o->config = v;
		else if (!strcmp(a, "--state-dir"))
			o->state_dir = v;
		else if (!strcmp(a, "--admin"))
			o->admin = v;
		else if (!strcmp(a, "--password-file"))
			o->password_file = v;
		else if (!strcmp(a, "--out"))
			o->out = v;
		else if (!strcmp(a, "--from"))
			o->from = v;
		else if (!strcmp(a, "--to"))
			o->to = v;
		else if (!strcmp(a, "--set") && o->n_sets < 64)
			o->sets[o->n_sets++] = v;
		else {
			fprintf(stderr, "roomvpn-control: unknown option %s\n", a);
			return -2;
		}
		i++;
	}
	return 0;
}

static int load_config(const struct opts *o, struct rv_control_config *cfg)
{
	char err[768];

	rv_control_config_defaults(cfg);
	if (o->config && rv_config_load(o->config, rv_control_config_set, cfg, err, sizeof(err))) {
		fprintf(stderr, "roomvpn-control: config: %s\n", err);
		return -1;
	}
	for (int i = 0; i < o->n_sets; i++)
		if (rv_config_apply_override(o->sets[i], rv_control_config_set, cfg, err,
					     sizeof(err))) {
			fprintf(stderr, "roomvpn-control: --set: %s\n", err);
			return -1;
		}
	if (o->state_dir)
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", o->state_dir);
	if (rv_control_config_check(cfg, err, sizeof(err))) {
		fprintf(stderr, "roomvpn-control: config: %s\n", err);
		return -1;
	}
	rv_control_config_warn(cfg, stderr);
	rv_log_set_level(cfg->log_level);
	return 0;
}

/* SIGHUP: re-reads the file and --set overrides; only log_level takes effect
 * live (load_config sets it), the rest needs a restart. */
static void reload_config(const struct opts *o, const struct rv_control_config *running)
{
	static struct rv_control_config fresh;

	rv_notify_reloading();
	rv_tls_load_next(running); /* a rotation prepared meanwhile */
	if (load_config(o, &fresh) == 0)
		rv_log(RV_LOG_INFO, "SIGHUP: configuration re-read (log_level applied; other keys "
				    "take effect at restart)");
	else
		rv_log(RV_LOG_ERROR, "SIGHUP: configuration not reloaded (error above)");
	rv_notify_ready("serving");
}

static int open_store(struct rv_control *ctl);

static int cmd_check_config(const struct opts *o)
{
	struct rv_control_config cfg;
	char err[768];

	if (load_config(o, &cfg) != 0)
		return 2;
	if (rv_control_config_check_files(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomvpn-control: config: %s\n", err);
		return 2;
	}
	printf("%s: OK\n", o->config ? o->config : "defaults");
	return 0;
}

/* Asks the running server; with none running, opens the store itself. */
static int cmd_backup(const struct opts *o)
{
	struct rv_control ctl = {0};
	char dir[RV_CTL_PATH], err[768];

	if (!o->dir || (!o->config && !o->state_dir)) {
		fprintf(stderr, "roomvpn-control backup: usage: backup DIR --config FILE\n");
		return 2;
	}
	if (load_config(o, &ctl.cfg) != 0)
		return 2;
	char cwd[RV_CTL_PATH / 2] = "";
	if (o->dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return 1;
	snprintf(dir, sizeof(dir), "%s%s%s", cwd, cwd[0] ? "/" : "", o->dir); /* absolute */
	int rc = rv_backup_request(&ctl.cfg, dir, err, sizeof(err));
	if (rc == 1) {
		if (open_store(&ctl) != 0)
			return 1;
		rc = rv_backup_take(ctl.store, &ctl.cfg, dir, err, sizeof(err));
		rv_store_close(ctl.store);
	}
	if (rc != 0) {
		fprintf(stderr, "roomvpn-control backup: %s\n", err);
		return 1;
	}
	printf("backup written to %s\n", dir);
	return 0;
}

static int cmd_restore(const struct opts *o)
{
	struct rv_control_config cfg;
	char err[768];

	if (!o->dir || (!o->config && !o->state_dir)) {
		fprintf(stderr, "roomvpn-control restore: usage: restore DIR --config FILE | "
				"--state-dir S\n");
		return 2;
	}
	if (load_config(o, &cfg) != 0)
		return 2;
	if (rv_backup_restore(&cfg, o->dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomvpn-control restore: %s\n", err);
		return 1;
	}
	printf("restored %s into %s\n", o->dir, cfg.state_dir);
	return 0;
}

static int open_store(struct rv_control *ctl)
{
	char dir[RV_CTL_PATH + 8], err[1600];
	struct rv_store_etcd_tls tls = {ctl->cfg.etcd_ca, ctl->cfg.etcd_cert, ctl->cfg.etcd_key};

	if (mkdir(ctl->cfg.state_dir, 0700) != 0 && errno != EEXIST) {
		rv_log(RV_LOG_ERROR, "state_dir: cannot create %s: %s", ctl->cfg.state_dir,
		       strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/db", ctl->cfg.state_dir);
	if ((ctl->cfg.store[0]
		 ? rv_store_open_uri(ctl->cfg.store, &tls, &ctl->store, err, sizeof(err))
		 : rv_store_open(dir, &ctl->store, err, sizeof(err))) != 0) {
		rv_log(RV_LOG_ERROR, "store: %s", err);
		return -1;
	}
	return 0;
}

/* store copy --from STORE --to STORE [--force] */
static int cmd_store_copy(const struct opts *o)
{
	struct rv_control_config cfg;
	struct rv_store *from = NULL, *to = NULL;
	char err[1600], sha[65];
	uint64_t n;
	int rc = 1;

	if (!o->dir || strcmp(o->dir, "copy") || !o->from || !o->to) {
		fprintf(stderr, "roomvpn-control store: usage: store copy --from STORE --to STORE "
				"[--force] [--config FILE]\n");
		return 2;
	}
	if (load_config(o, &cfg) != 0)
		return 2;
	struct rv_store_etcd_tls tls = {cfg.etcd_ca, cfg.etcd_cert, cfg.etcd_key};
	if (rv_store_open_uri(o->from, &tls, &from, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomvpn-control store copy: --from %s: %s\n", o->from, err);
		goto out;
	}
	if (rv_store_open_uri(o->to, &tls, &to, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomvpn-control store copy: --to %s: %s\n", o->to, err);
		goto out;
	}
	if (rv_store_copy(from, to, o->force, &n, sha, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomvpn-control store copy: %s\n", err);
		goto out;
	}
	printf("source      %s: %llu records sha256 %s\n", o->from, (unsigned long long)n, sha);
	printf("destination %s: %llu records sha256 %s\n", o->to, (unsigned long long)n, sha);
	printf("copy verified\n");
	rc = 0;
out:
	rv_store_close(from);
	rv_store_close(to);
	return rc;
}

/* The admin password: first line of @file or of stdin. */
static int read_password(const char *file, char *pw, size_t len)
{
	FILE *f = file ? fopen(file, "r") : stdin;
	if (!f) {
		fprintf(stderr, "roomvpn-control: --password-file %s: %s\n", file, strerror(errno));
		return -1;
	}
	if (!file && isatty(STDIN_FILENO))
		fprintf(stderr, "admin password: ");
	char *ok = fgets(pw, (int)len, f);
	if (file)
		fclose(f);
	if (!ok) {
		fprintf(stderr, "roomvpn-control: no password given (stdin or --password-file)\n");
		return -1;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	return 0;
}

static int cmd_init(const struct opts *o)
{
	struct rv_control ctl = {0};
	char pw[RV_PASSWORD_MAX + 2], hash[RV_PASSWORD_ENCODED], err[256];
	const char *admin = o->admin ? o->admin : "admin";
	uint64_t id;
	int rc = 1;

	if (!o->state_dir && !o->config) {
		fprintf(stderr, "roomvpn-control init: --state-dir is required\n");
		return 2;
	}
	if (load_config(o, &ctl.cfg) != 0)
		return 2;
	if (!rv_users_valid_name(admin)) {
		fprintf(stderr, "roomvpn-control init: invalid admin name \"%s\"\n", admin);
		return 2;
	}
	if (read_password(o->password_file, pw, sizeof(pw)) != 0)
		return 2;
	if (strlen(pw) < RV_PASSWORD_MIN || strlen(pw) > RV_PASSWORD_MAX) {
		fprintf(stderr, "roomvpn-control init: the password must be %d to %d bytes\n",
			RV_PASSWORD_MIN, RV_PASSWORD_MAX);
		return 2;
	}
	if (open_store(&ctl) != 0)
		return 1;
	if (rv_password_hash(&ctl.cfg, pw, hash, sizeof(hash), err, sizeof(err)) != 0)
		fprintf(stderr, "roomvpn-control init: %s\n", err);
	else if (rv_users_create(ctl.store, admin, hash, true, &id, err, sizeof(err)) != 0)
		fprintf(stderr, "roomvpn-control init: %s\n", err);
	else {
		printf("created admin %s (id %llu) in %s\n", admin, (unsigned long long)id,
		       ctl.cfg.state_dir);
		rc = 0;
	}
	memset(pw, 0, sizeof(pw));
	rv_store_close(ctl.store);
	return rc;
}

static int start_modules(struct rv_control *ctl)
{
	char err[512];

	if (rv_users_load_count(ctl->store) != 0 ||
	    rv_pwpool_start(ctl->cfg.argon2_workers, &ctl->pwpool) != 0 ||
	    !(ctl->ratelimit = rv_ratelimit_new(&ctl->cfg))) {
		rv_log(RV_LOG_ERROR, "cannot start: store scan, password pool or rate limiter");
		return -1;
	}
	if (rv_auth_init(ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "argon2: %s", err);
		return -1;
	}
	if (rv_auth_sweeper_start(ctl) != 0) {
		rv_log(RV_LOG_ERROR, "cannot start the token sweeper thread");
		return -1;
	}
	static struct rv_ipam ipam;
	if (rv_ipam_init(&ipam, ctl->cfg.ipam_pool, ctl->cfg.ipam_room_prefix, err, sizeof(err))) {
		rv_log(RV_LOG_ERROR, "ipam_pool: %s", err);
		return -1;
	}
	ctl->ipam = &ipam;
	if (rv_rooms_init(ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "%s", err);
		return -1;
	}
	if (rv_audit_init(ctl) != 0)
		return -1;
	if (rv_metrics_init(ctl) != 0)
		return -1;
	if (rv_fleet_init(ctl, err, sizeof(err)) != 0) { /* before the sync thread */
		rv_log(RV_LOG_ERROR, "data planes: %s", err);
		return -1;
	}
	rv_dp_owner_init(ctl); /* on etcd: no data-plane request until elected */
	rv_events_init(ctl);   /* registry events, timers, data-plane sync */
	if (rv_replica_start(ctl, err, sizeof(err)) != 0) { /* etcd: the other replicas */
		rv_log(RV_LOG_ERROR, "replicas: %s", err);
		return -1;
	}
	/* remote data planes (dataplane_listen, mutual TLS) join the fleet
	 * as they register and leave it as their links break */
	if (rv_dp_links_start(ctl, rv_fleet_on_up, rv_fleet_on_down, ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "dataplane_listen: %s", err);
		return -1;
	}
	return 0;
}

static void stop_modules(struct rv_control *ctl)
{
	rv_auth_sweeper_stop();
	rv_dp_links_stop(); /* before the sync thread: no link is used after */
	rv_replica_stop();  /* its watches raise events */
	rv_dp_owner_stop(); /* steps down: another replica takes over at once */
	rv_events_fini(ctl);
	rv_fleet_fini();
	rv_pwpool_stop(ctl->pwpool);
	rv_metrics_fini(ctl);
	rv_audit_fini(ctl);
	rv_rooms_fini(ctl);
	rv_ratelimit_free(ctl->ratelimit);
}

/* The election of the data-plane owner (etcd only), as replica_id: by
 * default hostname:port, known once the gRPC server listens. */
static int start_dp_owner(struct rv_control *ctl, char *err, size_t errlen)
{
	char host[64] = "localhost";

	if (!ctl->cfg.replica_id[0]) {
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = 0;
		snprintf(ctl->cfg.replica_id, sizeof(ctl->cfg.replica_id), "%s:%d", host,
			 rv_server_port(ctl->server));
	}
	return rv_dp_owner_start(ctl, ctl->cfg.replica_id, err, errlen);
}

static int cmd_serve(const struct opts *o)
{
	static struct rv_control ctl;
	char err[512];
	sigset_t sigs;
	int sig, rc = 1;

	if (!o->config) {
		fprintf(stderr, "roomvpn-control serve: --config is required\n");
		return 2;
	}
	if (load_config(o, &ctl.cfg) != 0)
		return 2;
	/* Every thread inherits the mask; only sigwait below takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctl.start_ns = rv_control_now_mono();
	uint64_t nofile = rv_listener_raise_nofile();
	if (!ctl.cfg.max_connections)
		ctl.cfg.max_connections = rv_listener_default_cap(nofile);
	else if (ctl.cfg.max_connections > rv_listener_default_cap(nofile))
		rv_log(RV_LOG_WARN,
		       "max_connections %u leaves under a quarter of the %llu descriptors for "
		       "the rest: raise LimitNOFILE",
		       ctl.cfg.max_connections, (unsigned long long)nofile);
	if (open_store(&ctl) != 0)
		return 1;
	if (start_modules(&ctl) != 0)
		goto out;
	if (rv_server_start(&ctl, rv_methods, rv_methods_count, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "grpc: %s", err);
		goto out;
	}
	if (start_dp_owner(&ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "data-plane owner: %s", err);
		rv_server_stop(ctl.server, 0);
		goto out;
	}
	if (rv_backup_listen_start(&ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "%s", err);
		rv_server_stop(ctl.server, 0);
		goto out;
	}
	if (rv_metrics_start(&ctl, err, sizeof(err)) != 0) {
		rv_log(RV_LOG_ERROR, "metrics: %s", err);
		rv_server_stop(ctl.server, 0);
		goto out;
	}
	fprintf(
	    stderr, "roomvpn-control %s: listening on %s (port %d); TLS SHA-256 fingerprint %s\n",
	    RV_CONTROL_VERSION, ctl.cfg.listen, rv_server_port(ctl.server), ctl.tls_fingerprint);
	rv_notify_ready("serving");
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
		reload_config(o, &ctl.cfg);
	rv_notify_stopping();
	rv_log(RV_LOG_INFO, "signal %d: shutting down", sig);
	rv_server_stop(ctl.server, 5000);
	rc = 0;
out:
	rv_backup_listen_stop();
	stop_modules(&ctl);
	rv_store_close(ctl.store);
	if (rc == 0)
		rv_log(RV_LOG_INFO, "stopped");
	return rc;
}

static int cmd_rotate_cert(const struct opts *o)
{
	struct rv_control_config cfg;
	char fp[96], err[768];
	bool prepare = o->dir && !strcmp(o->dir, "prepare");

	if (!o->dir || (!prepare && strcmp(o->dir, "commit"))) {
		fprintf(stderr, "roomvpn-control rotate-cert: give prepare or commit\n");
		return 2;
	}
	if (!o->config && !o->state_dir) {
		fprintf(stderr,
			"roomvpn-control rotate-cert: --config (or --state-dir) is required\n");
		return 2;
	}
	if (load_config(o, &cfg) != 0)
		return 2;
	if ((prepare ? rv_tls_rotate_prepare : rv_tls_rotate_commit)(&cfg, fp, err, sizeof(err))) {
		fprintf(stderr, "roomvpn-control rotate-cert %s: %s\n", o->dir, err);
		return 1;
	}
	if (prepare)
		printf("next certificate SHA-256 fingerprint %s\n"
		       "send SIGHUP to the running server (systemctl reload roomvpn-control) to "
		       "announce it; commit once the clients have learnt it\n",
		       fp);
	else
		printf("current certificate SHA-256 fingerprint %s\n"
		       "restart the control plane and the data plane to serve it\n",
		       fp);
	return 0;
}

/* dataplane-cert NAME [--out DIR], dataplane-revoke NAME (dp_ca.c) */
static int cmd_dataplane_ca(const struct opts *o, bool revoke)
{
	struct rv_control_config cfg;
	char dir[RV_CTL_PATH], err[768];
	const char *cmd = revoke ? "dataplane-revoke" : "dataplane-cert";

	if (!o->dir) {
		fprintf(stderr, "roomvpn-control %s: give the data plane's NAME\n", cmd);
		return 2;
	}
	if (!o->config && !o->state_dir) {
		fprintf(stderr, "roomvpn-control %s: --config (or --state-dir) is required\n", cmd);
		return 2;
	}
	if (load_config(o, &cfg) != 0)
		return 2;
	rv_dp_ca_dir(&cfg, dir, sizeof(dir));
	int rc = revoke
		     ? rv_dp_ca_revoke(dir, o->dir, err, sizeof(err))
		     : rv_dp_ca_issue_client(dir, o->dir, o->out ? o->out : ".", err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "roomvpn-control %s: %s\n", cmd, err);
		return 1;
	}
	if (revoke)
		printf("%s revoked (%s/revoked)\n", o->dir, dir);
	else
		printf("%s/%s.crt, %s/%s.key and %s/ca.crt written (fleet CA %s)\n",
		       o->out ? o->out : ".", o->dir, o->out ? o->out : ".", o->dir,
		       o->out ? o->out : ".", dir);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	if (rv_version_asked(argc, argv, "roomvpn-control"))
		return 0;
	int p = parse_args(argc, argv, &o);

	if (p == -1 || (o.cmd && (!strcmp(o.cmd, "--help") || !strcmp(o.cmd, "-h")))) {
		fputs(usage, p == -1 && argc >= 2 ? stdout : (argc < 2 ? stderr : stdout));
		return argc < 2 ? 2 : 0;
	}
	if (p < 0)
		return 2;
	if (!strcmp(o.cmd, "init"))
		return cmd_init(&o);
	if (!strcmp(o.cmd, "serve"))
		return cmd_serve(&o);
	if (!strcmp(o.cmd, "check-config"))
		return cmd_check_config(&o);
	if (!strcmp(o.cmd, "backup"))
		return cmd_backup(&o);
	if (!strcmp(o.cmd, "restore"))
		return cmd_restore(&o);
	if (!strcmp(o.cmd, "store"))
		return cmd_store_copy(&o);
	if (!strcmp(o.cmd, "rotate-cert"))
		return cmd_rotate_cert(&o);
	if (!strcmp(o.cmd, "dataplane-cert") || !strcmp(o.cmd, "dataplane-revoke"))
		return cmd_dataplane_ca(&o, o.cmd[10] == 'r');
	fprintf(stderr, "roomvpn-control: unknown command %s\n%s", o.cmd, usage);
	return 2;
}
