/* roomvpn-control configuration: defaults, one table of keys (file lines
 * and --set overrides both go through rv_control_config_set), and the
 * cross-key checks. Every value is checked when its line is read, so an
 * error names the file and line. Keys are snake_case; the kebab-case
 * spelling is accepted with a deprecation warning. Every key is documented
 * in docs/control.md. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "fleet_config.h"
#include "inet.h"
#include "ipam6.h"

void rv_control_config_defaults(struct rv_control_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/roomvpn");
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:7443");
	c->cq_threads = 64;
	c->cq_count = 64;
	c->max_message_bytes = 64 * 1024;
	c->request_slots = 32;
	c->handshake_timeout_ns = 10ull * 1000000000ull;
	c->idle_timeout_ns = 300ull * 1000000000ull;
	c->argon2_m_kib = 19 * 1024; /* OWASP: m=19 MiB, t=2, p=1 */
	c->argon2_t = 2;
	c->argon2_p = 1;
	c->argon2_workers = 2;
	c->session_ttl_ns = 3600ull * 1000000000ull;
	c->device_ttl_ns = 30ull * 86400ull * 1000000000ull;
	c->token_sweep_ns = 600ull * 1000000000ull;
	c->login_fail_per_user = 5;
	c->login_fail_per_addr = 20;
	c->login_fail_window_ns = 300ull * 1000000000ull;
	c->login_inflight_per_addr = 16;
	c->audit_refused_interval_ns = 60ull * 1000000000ull;
	c->audit_retention_days = 90;
	c->audit_max_records = 1000000;
	snprintf(c->ipam_pool, sizeof(c->ipam_pool), "10.88.0.0/16");
	c->ipam_room_prefix = 24;
	c->ipv6 = true;
	c->ipv6_room_prefix = 64;
	c->default_mtu = 1400;
	c->default_keepalive_s = 10;
	snprintf(c->dp_udp_endpoint, sizeof(c->dp_udp_endpoint), "127.0.0.1:1194");
	snprintf(c->dp_tcp_endpoint, sizeof(c->dp_tcp_endpoint), "127.0.0.1:443");
	snprintf(c->dp_agent, sizeof(c->dp_agent), "/run/roomvpn/dataplane.sock");
	snprintf(c->dp_name, sizeof(c->dp_name), "local");
	c->dp_down_after_ns = 3ull * 1000000000ull;
	c->dp_move_grace_ns = 10ull * 1000000000ull;
	c->rekey_interval_ns = 3600ull * 1000000000ull;
	c->heartbeat_timeout_ns = 30ull * 1000000000ull;
	c->stream_deadline_ns = 10ull * 1000000000ull;
	c->presence_interval_ns = 1000000000ull;
	c->presence_budget = 1000;
	c->max_tunnels_per_user = 16;
	c->max_tunnels = 1000000;
	c->metrics_tunnel_series = 10000;
	c->dp_sync_backlog = 65536;
	c->dp_max_links = 256;
	c->dp_handshake_timeout_ns = 10ull * 1000000000ull;
	c->dp_exchange_timeout_ns = 30ull * 1000000000ull;
	c->log_level = RV_LOG_INFO;
	c->replica_lease_s = 5;
	c->dp_owner_ttl_s = 5;
}

/* K_STR free text; K_PATH a file or directory name; K_LISTEN "host:port"
 * (IPv4, [IPv6] or a name); K_EP "IPv4:port", "[IPv6]:port" or one of each
 * separated by a comma, handed to clients; K_IP one IPv4 or IPv6 address;
 * K_CIDR "a.b.c.d/len"; K_CIDR6 "addr6/len". An empty value clears an
 * optional K_PATH, K_LISTEN, K_IP or K_CIDR6 key. */
enum kind { K_STR, K_PATH, K_LISTEN, K_EP, K_IP, K_CIDR, K_U32, K_DUR, K_LOG, K_BOOL, K_CIDR6 };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	size_t size;	 /* K_STR: buffer size */
	uint32_t lo, hi; /* K_U32 range */
};

#define TXT(n, k, f)                                                                               \
	{                                                                                          \
		n, k, offsetof(struct rv_control_config, f),                                       \
		    sizeof(((struct rv_control_config *)0)->f), 0, 0                               \
	}
#define STR(n, f) TXT(n, K_STR, f)
#define U32(n, f, lo, hi)                                                                          \
	{                                                                                          \
		n, K_U32, offsetof(struct rv_control_config, f), 0, lo, hi                         \
	}
#define DUR(n, f)                                                                                  \
	{                                                                                          \
		n, K_DUR, offsetof(struct rv_control_config, f), 0, 0, 0                           \
	}

static const struct key keys[] = {
    TXT("state_dir", K_PATH, state_dir),
    STR("store", store),
    TXT("etcd_ca", K_PATH, etcd_ca),
    TXT("etcd_cert", K_PATH, etcd_cert),
    TXT("etcd_key", K_PATH, etcd_key),
    STR("replica_id", replica_id),
    U32("replica_lease_s", replica_lease_s, 2, 3600),
    U32("dp_owner_ttl_s", dp_owner_ttl_s, 2, 3600),
    TXT("listen", K_LISTEN, listen),
    TXT("tls_cert", K_PATH, tls_cert),
    TXT("tls_key", K_PATH, tls_key),
    STR("tls_names", tls_names),
    U32("cq_threads", cq_threads, 1, 256),
    U32("cq_count", cq_count, 1, 256),
    U32("max_message_bytes", max_message_bytes, 1024, 64u << 20),
    U32("request_slots", request_slots, 1, 4096),
    U32("max_connections", max_connections, 0, 1000000),
    DUR("handshake_timeout", handshake_timeout_ns),
    DUR("idle_timeout", idle_timeout_ns),
    U32("argon2_memory_kib", argon2_m_kib, 8, 4u << 20),
    U32("argon2_iterations", argon2_t, 1, 100),
    U32("argon2_parallelism", argon2_p, 1, 64),
    U32("argon2_workers", argon2_workers, 1, 256),
    DUR("session_ttl", session_ttl_ns),
    DUR("device_ttl", device_ttl_ns),
    DUR("token_sweep_interval", token_sweep_ns),
    U32("login_fail_per_user", login_fail_per_user, 1, 1000000),
    U32("login_fail_per_addr", login_fail_per_addr, 1, 1000000),
    DUR("login_fail_window", login_fail_window_ns),
    U32("login_inflight_per_addr", login_inflight_per_addr, 1, 1024),
    DUR("audit_refused_interval", audit_refused_interval_ns),
    U32("audit_retention_days", audit_retention_days, 0, 100000),
    U32("audit_max_records", audit_max_records, 0, 4000000000u),
    TXT("ipam_pool", K_CIDR, ipam_pool),
    U32("ipam_room_prefix", ipam_room_prefix, 16, 30),
    {"ipv6", K_BOOL, offsetof(struct rv_control_config, ipv6), 0, 0, 0},
    TXT("ipv6_prefix", K_CIDR6, ipv6_prefix),
    U32("ipv6_room_prefix", ipv6_room_prefix, 48, 120),
    TXT("dns", K_IP, dns),
    U32("default_mtu", default_mtu, 576, 9000),
    U32("default_keepalive", default_keepalive_s, 1, 3600),
    TXT("dataplane_udp", K_EP, dp_udp_endpoint),
    TXT("dataplane_tcp", K_EP, dp_tcp_endpoint),
    TXT("dataplane_agent", K_PATH, dp_agent),
    STR("dataplane_name", dp_name),
    DUR("dataplane_down_after", dp_down_after_ns),
    DUR("dataplane_move_grace", dp_move_grace_ns),
    TXT("dataplane_listen", K_LISTEN, dp_listen),
    TXT("dataplane_ca_dir", K_PATH, dp_ca_dir),
    STR("dataplane_cert_names", dp_cert_names),
    U32("dataplane_max_links", dp_max_links, 1, 65536),
    DUR("dataplane_handshake_timeout", dp_handshake_timeout_ns),
    DUR("dataplane_exchange_timeout", dp_exchange_timeout_ns),
    DUR("rekey_interval", rekey_interval_ns),
    DUR("heartbeat_timeout", heartbeat_timeout_ns),
    DUR("stream_deadline", stream_deadline_ns),
    DUR("presence_interval", presence_interval_ns),
    U32("presence_budget", presence_budget, 0, 16000000),
    U32("max_tunnels_per_user", max_tunnels_per_user, 0, 4096),
    U32("max_tunnels", max_tunnels, 0, 16000000),
    U32("dataplane_sync_backlog", dp_sync_backlog, 16, 16000000),
    TXT("metrics_listen", K_LISTEN, metrics_listen),
    U32("metrics_tunnel_series", metrics_tunnel_series, 0, 16000000),
    TXT("metrics_cert", K_PATH, metrics_cert),
    TXT("metrics_key", K_PATH, metrics_key),
    TXT("metrics_client_ca", K_PATH, metrics_client_ca),
    TXT("metrics_token_file", K_PATH, metrics_token_file),
    STR("metrics_allow", metrics_allow),
    {"self_registration", K_BOOL, offsetof(struct rv_control_config, self_registration), 0, 0, 0},
    {"log_level", K_LOG, offsetof(struct rv_control_config, log_level), 0, 0, 0},
};

static int parse_port(const char *p, const char *v, char *err, size_t errlen)
{
	uint32_t port;

	if (!p || rv_parse_u32(p, 1, 65535, &port, err, errlen) < 0) {
		snprintf(err, errlen, "'%s': the port must be 1..65535", v);
		return -1;
	}
	return 0;
}

/* "host:port": an IPv4 literal, a bracketed IPv6 literal or a host name. */
static int check_listen(const char *v, char *err, size_t errlen)
{
	const char *colon = strrchr(v, ':');
	uint32_t a;

	if (!colon || colon == v) {
		snprintf(err, errlen, "'%s' is not host:port", v);
		return -1;
	}
	if (v[0] == '[') {
		if (colon[-1] != ']') {
			snprintf(err, errlen, "'%s': an IPv6 address is written [addr]:port", v);
			return -1;
		}
	} else {
		char host[256];
		snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
		bool digits = strspn(host, "0123456789.") == strlen(host);
		if (digits ? rv_parse_ipv4(host, &a) < 0
			   : strspn(host, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789.-") != strlen(host)) {
			snprintf(err, errlen, "'%s': '%s' is not an IPv4 address or host name", v,
				 host);
			return -1;
		}
	}
	return parse_port(colon + 1, v, err, errlen);
}

/* Checks a text value of kind @kind; 0 or -1 with a message. */
static int check_text(enum kind kind, const char *v, char *err, size_t errlen)
{
	uint32_t a;
	uint8_t plen;

	for (const char *p = v; *p; p++)
		if (iscntrl((unsigned char)*p)) {
			snprintf(err, errlen, "control character in the value");
			return -1;
		}
	if (!v[0] && (kind == K_PATH || kind == K_LISTEN || kind == K_IP || kind == K_CIDR6))
		return 0;
	switch (kind) {
	case K_LISTEN:
		return check_listen(v, err, errlen);
	case K_EP:
		if (rv_check_endpoints(v) < 0) {
			snprintf(err, errlen,
				 "'%s' is not IPv4:port, [IPv6]:port or one of each separated by a "
				 "comma (clients are handed it)",
				 v);
			return -1;
		}
		return 0;
	case K_IP: {
		uint8_t a6[16];
		if (rv_parse_ipv4(v, &a) < 0 && rv_ipam6_parse_addr(v, a6) < 0) {
			snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", v);
			return -1;
		}
		return 0;
	}
	case K_CIDR:
		if (rv_parse_cidr(v, &a, &plen) < 0) {
			snprintf(err, errlen, "'%s' is not a.b.c.d/len", v);
			return -1;
		}
		return 0;
	case K_CIDR6: {
		struct rv_cidr6 c6;
		return rv_ipam6_parse_cidr(v, &c6, err, errlen);
	}
	default:
		return 0;
	}
}

/* The table's spelling of @key: '-' becomes '_' (with a warning). */
static void canonical_key(const char *key, char *out, size_t len)
{
	snprintf(out, len, "%s", key);
	if (!strchr(out, '-'))
		return;
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
	fprintf(stderr, "roomvpn-control: warning: %s: key '%s' is deprecated, write '%s'\n",
		rv_config_where(), key, out);
}

int rv_control_config_set(void *cfg, const char *key_in, const char *value, char *err,
			  size_t errlen)
{
	char *base = cfg, key[64];

	canonical_key(key_in, key, sizeof(key));
	if (!strcmp(key, "dataplane")) /* repeatable: one local data plane a line */
		return rv_fleet_config_line(cfg, value, err, errlen);
	if (!strcmp(key, "dataplane_agent"))
		((struct rv_control_config *)cfg)->dp_agent_set = true;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		if (strcmp(k->name, key) != 0)
			continue;
		switch (k->kind) {
		case K_STR:
		case K_PATH:
		case K_LISTEN:
		case K_EP:
		case K_IP:
		case K_CIDR:
		case K_CIDR6:
			if (strlen(value) >= k->size) {
				snprintf(err, errlen, "value longer than %zu bytes", k->size - 1);
				return -1;
			}
			if (check_text(k->kind, value, err, errlen) < 0)
				return -1;
			snprintf(base + k->off, k->size, "%s", value);
			return 0;
		case K_U32:
			return rv_parse_u32(value, k->lo, k->hi, (uint32_t *)(base + k->off), err,
					    errlen);
		case K_DUR:
			return rv_parse_duration_ns(value, (uint64_t *)(base + k->off), err,
						    errlen);
		case K_LOG:
			if (rv_log_parse_level(value, (enum rv_log_level *)(base + k->off)) == 0)
				return 0;
			snprintf(err, errlen, "'%s' is not one of error, warn, info, debug", value);
			return -1;
		case K_BOOL:
			if (!strcmp(value, "true") || !strcmp(value, "false") ||
			    !strcmp(value, "on") || !strcmp(value, "off")) {
				*(bool *)(base + k->off) =
				    !strcmp(value, "true") || !strcmp(value, "on");
				return 0;
			}
			snprintf(err, errlen, "'%s' is not true or false (on or off)", value);
			return -1;
		}
	}
	snprintf(err, errlen, "unknown key (see docs/control.md)");
	return -1;
}

int rv_control_config_check(const struct rv_control_config *c, char *err, size_t errlen)
{
	if (!c->state_dir[0]) {
		snprintf(err, errlen, "state_dir: must be set");
		return -1;
	}
	if (c->store[0] && strncmp(c->store, "rocksdb:", 8) && strncmp(c->store, "etcd:", 5)) {
		snprintf(err, errlen,
			 "store: '%s' is not rocksdb:DIR or etcd:https://host:port,...", c->store);
		return -1;
	}
	if (!strncmp(c->store, "etcd:", 5) &&
	    (!c->etcd_ca[0] || !c->etcd_cert[0] || !c->etcd_key[0])) {
		snprintf(err, errlen, "store = etcd:... needs etcd_ca, etcd_cert and etcd_key");
		return -1;
	}
	if (check_listen(c->listen, err, errlen) < 0) {
		char m[400];
		snprintf(m, sizeof(m), "%s", err);
		snprintf(err, errlen, "listen: %s", m);
		return -1;
	}
	if (!c->tls_cert[0] != !c->tls_key[0]) {
		snprintf(err, errlen, "tls_cert and tls_key must be set together");
		return -1;
	}
	if (c->session_ttl_ns == 0 || c->device_ttl_ns == 0 || c->token_sweep_ns == 0) {
		snprintf(err, errlen,
			 "session_ttl, device_ttl and token_sweep_interval must be positive");
		return -1;
	}
	if (rv_fleet_config_check(c, err, errlen) < 0)
		return -1;
	if (c->argon2_m_kib < 8 * c->argon2_p) {
		snprintf(err, errlen, "argon2_memory_kib must be at least 8 * argon2_parallelism");
		return -1;
	}
	return 0;
}

static bool loopback_host(const char *hostport)
{
	return !strncmp(hostport, "127.", 4) || !strncmp(hostport, "localhost:", 10) ||
	       !strncmp(hostport, "[::1]:", 6);
}

int rv_control_config_warn(const struct rv_control_config *c, FILE *f)
{
	int n = 0;

	if (loopback_host(c->listen))
		return 0;
	if (loopback_host(c->dp_udp_endpoint) || loopback_host(c->dp_tcp_endpoint)) {
		fprintf(f,
			"roomvpn-control: warning: listen = %s accepts remote clients, but they "
			"are handed the data-plane endpoints dataplane_udp = %s and dataplane_tcp "
			"= %s (loopback): set both to the data plane's public address\n",
			c->listen, c->dp_udp_endpoint, c->dp_tcp_endpoint);
		n++;
	}
	return n;
}

int rv_control_config_check_files(const struct rv_control_config *c, char *err, size_t errlen)
{
	const struct {
		const char *key, *path;
	} files[] = {{"tls_cert", c->tls_cert},
		     {"tls_key", c->tls_key},
		     {"metrics_cert", c->metrics_cert},
		     {"metrics_key", c->metrics_key},
		     {"metrics_client_ca", c->metrics_client_ca},
		     {"metrics_token_file", c->metrics_token_file}};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i].path[0] && access(files[i].path, R_OK) != 0) {
			snprintf(err, errlen, "%s: %s cannot be read", files[i].key, files[i].path);
			return -1;
		}
	return 0;
}
