/* The remote agent link: a thread per control-plane address that dials it
 * (`control = HOST:PORT[,HOST:PORT...]`: the replicas of one control plane,
 * docs/ha.md; each link stands alone, and the replica that owns data-plane
 * sync is the one that sends requests) over TCP with mutual TLS, announces this data
 * plane (Register, proto/dataplane.proto) and then carries the agent
 * protocol over that connection: the bytes go to and from the agent's own
 * unix socket (agent.c), so requests take the one dispatch path and its
 * bounds (message limit, partial-message timeout). It reconnects with
 * backoff (0.5 s doubling to 5 s, ±20% jitter) whenever the connection
 * breaks or is refused, and logs each change of state once.
 * docs/dataplane-agent.md "Remote data planes". */
#ifndef RV_DP_AGENT_REMOTE_H
#define RV_DP_AGENT_REMOTE_H

#include <stddef.h>
#include <stdint.h>

/* The most control-plane addresses `control` takes. */
#define RV_AGENT_REMOTE_MAX 4

struct rv_agent_remote_params {
	char control[1040];   /* "host:port[,host:port...]"; "" = off (the default) */
	char name[64];	      /* default: the hostname */
	char labels[256];     /* "k=v,k=v" */
	char public_udp[128]; /* what clients are told; default ip:udp_port[,[ip6]:udp_port] */
	char public_tcp[128]; /* default ip:tcp listen port when tcp = true, else "" */
	char cert[512], key[512], ca[512]; /* PEM files */
	/* filled by main.c before start */
	const char *agent_socket;
	uint32_t workers, max_sessions;
};

/* roomvpn-dataplane config keys (kebab-case as main.c matches them):
 * control, name, labels, public-udp, public-tcp, agent-cert, agent-key,
 * agent-ca. 0 taken, -1 bad value (message in @err), -2 not one of these. */
int rv_agent_remote_config_key(struct rv_agent_remote_params *p, const char *key, const char *value,
			       char *err, size_t errlen);
#define RV_AGENT_REMOTE_CONFIG_HELP                                                                \
	"  control = HOST:PORT[,HOST:PORT...]  dial the control plane's dataplane_listen\n"        \
	"                        with mutual TLS and serve the agent protocol there too;\n"        \
	"                        several replicas: one link each, at most 4 (default: off)\n"      \
	"  name = NAME           this data plane's name in the fleet, the CN of agent_cert\n"      \
	"                        (default: the hostname)\n"                                        \
	"  labels = K=V,...      placement labels, e.g. site=fra1 (default none)\n"                \
	"  public_udp = HOST:PORT  UDP endpoint clients are told (default: ip:udp_port, and\n"     \
	"                        with ip6 also ,[ip6]:udp_port); IPv4:PORT, [IPv6]:PORT or\n"      \
	"                        one of each separated by a comma (clients race them)\n"           \
	"  public_tcp = HOST:PORT  TCP fallback endpoint clients are told (default:\n"             \
	"                        ip:tcp_listen's port when tcp = true, else none)\n"               \
	"  agent_cert = FILE     this data plane's certificate (roomvpn-control\n"                 \
	"                        dataplane-cert NAME), PEM\n"                                      \
	"  agent_key = FILE      its private key, PEM\n"                                           \
	"  agent_ca = FILE       the fleet CA (ca.crt): the control plane's certificate must\n"    \
	"                        chain to it and name the control HOST\n"

/* After every key: control set → cert, key and ca set and readable, name
 * valid. Fills the defaults of name. 0 or -1 with a message. */
int rv_agent_remote_check(struct rv_agent_remote_params *p, char *err, size_t errlen);

/* Main thread, after rv_agent_start(): start the dialling thread (nothing
 * when control is ""). 0, or -1 with a message (bad certificate files). */
int rv_agent_remote_start(const struct rv_agent_remote_params *p, char *err, size_t errlen);
/* Stop the thread, close the connection. Safe when not started. */
void rv_agent_remote_stop(void);

#endif
