/* roomvpn-loadgen: EAL start, provisioning, one search per packet size,
 * results. Exit codes: 0 done, 1 run-time failure (data plane unreachable,
 * port, agent), 2 bad arguments. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>

#include "engine.h"
#include "version.h"

#define EXIT_USAGE 2

volatile sig_atomic_t lg_stop;

static void on_signal(int sig)
{
	(void)sig;
	lg_stop = 1;
}

/* Split argv at "--": EAL options before it, ours after. */
static int split_args(int argc, char **argv, int *eal_argc)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			*eal_argc = i;
			return 0;
		}
	return -1;
}

/* Checks and prints which need no EAL: --help and bad arguments exit before
 * any DPDK set-up. */
static int parse_all(struct lg_opts *o, int argc, char **argv)
{
	int eal_argc;
	if (rv_version_asked(argc, argv, "roomvpn-loadgen"))
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			lg_args_usage(stdout, o->prog);
			return 1;
		}
	if (split_args(argc, argv, &eal_argc)) {
		fprintf(stderr,
			"%s: missing '--' between the EAL options and the loadgen options "
			"(see --help)\n",
			o->prog);
		return -1;
	}
	o->eal_argc = eal_argc;
	o->eal_argv = argv;
	char **ours = argv + eal_argc;
	ours[0] = argv[0];
	int rc = lg_args_parse(o, argc - eal_argc, ours);
	if (o->mode == LG_MODE_REFLECT && o->dp_port == 0) {
		o->dp_ip = 0xC0000201u; /* 192.0.2.1 (TEST-NET-1), never routed */
		o->dp_port = 1194;
	}
	if (o->mode == LG_MODE_REFLECT && o->outer6 && o->dp6_port == 0) {
		inet_pton(AF_INET6, "2001:db8::1", o->dp_ip6); /* documentation, never routed */
		o->dp6_port = 1194;
	}
	return rc;
}

static int provision(struct lg_engine *e)
{
	switch (e->o->mode) {
	case LG_MODE_AGENT:
		return lg_provision_agent(e);
	case LG_MODE_FILE:
		return lg_provision_file(e);
	case LG_MODE_REFLECT:
		return 0;
	}
	return -1;
}

static int resolve(struct lg_engine *e)
{
	if (e->o->mode == LG_MODE_REFLECT) {
		e->dp_mac = e->mac; /* the loopback port answers as the data plane */
		return 0;
	}
	if (e->o->dp_mac_set) {
		memcpy(e->dp_mac.addr_bytes, e->o->dp_mac, 6);
		return 0;
	}
	return lg_port_resolve_dp(e);
}

/* Searches every size (until interrupted) and reports. */
static int measure(struct lg_engine *e, struct lg_result *res)
{
	const struct lg_opts *o = e->o;
	unsigned done = 0;
	while (done < o->nsizes && !lg_stop) {
		lg_search_size(e, &o->sizes[done], &res[done]);
		done++;
	}
	lg_trial_final_drain(e);
	if (lg_stop)
		fprintf(stderr, "%s: interrupted: results so far (the last size is partial)\n",
			o->prog);
	if (done == 0)
		return -1;
	lg_report_table(o, res, done, stdout);
	int rc = 0;
	if (o->json_out && lg_report_json(o, res, done, &e->tot, o->json_out))
		rc = -1;
	if (o->plot_out && lg_report_plot(o, res, done, o->plot_out))
		rc = -1;
	if (e->tot.payload_errors) {
		fprintf(stderr,
			"%s: %llu packet(s) came back authenticated but with their payload "
			"changed: the figures are not of a working relay\n",
			o->prog, (unsigned long long)e->tot.payload_errors);
		rc = -1;
	}
	if (e->tot.checksum_errors) {
		fprintf(stderr,
			"%s: %llu IPv6/UDP packet(s) arrived with a wrong UDP checksum (not "
			"opened): the figures are not of a working relay\n",
			o->prog, (unsigned long long)e->tot.checksum_errors);
		rc = -1;
	}
	return rc;
}

static int run(struct lg_engine *e, struct lg_result *res)
{
	const struct lg_opts *o = e->o;
	if (lg_port_init(e) || resolve(e))
		return -1;
	e->size = &o->sizes[0];
	if (lg_rx_start(e))
		return -1;
	int rc = lg_trial_probe(e) ? -1 : measure(e, res);
	lg_rx_stop(e);
	return rc;
}

int main(int argc, char **argv)
{
	static struct lg_opts o;
	static struct lg_engine e;
	static struct lg_result res[LG_MAX_SIZES];
	const char *slash = strrchr(argv[0], '/');
	o.prog = slash ? slash + 1 : argv[0];
	int rc = parse_all(&o, argc, argv);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	e.o = &o;
	if (lg_clients_init(&e))
		return EXIT_FAILURE;
	if (o.write_only) {
		rc = lg_provision_file(&e);
		if (rc == 0)
			printf("%s: wrote %u rooms and %u sessions to %s (keys in %s.keys/)\n",
			       o.prog, o.rooms, o.clients, o.session_file, o.session_file);
		lg_clients_free(&e);
		return rc ? EXIT_FAILURE : 0;
	}
	if (rte_eal_init(o.eal_argc, o.eal_argv) < 0) {
		fprintf(stderr,
			"%s: EAL initialisation failed: %s (check the EAL options before "
			"'--', e.g. --no-huge -m 256 --no-pci --file-prefix NAME --vdev ...)\n",
			o.prog, rte_strerror(rte_errno));
		lg_clients_free(&e);
		return EXIT_FAILURE;
	}
	e.tsc_hz = rte_get_tsc_hz();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = provision(&e);
	if (rc == 0)
		rc = run(&e, res);
	if (o.mode == LG_MODE_AGENT && !o.keep_sessions && lg_unprovision_agent(&e))
		rc = -1;
	if (e.pool)
		lg_port_close(&e);
	lg_clients_free(&e);
	rte_eal_cleanup();
	if (lg_stop)
		return 128 + SIGINT; /* interrupted, partial results reported */
	return rc ? EXIT_FAILURE : 0;
}
