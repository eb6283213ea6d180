/* Provisioning the simulated clients' rooms and sessions on the data plane:
 * through the agent socket (rvagent, shared/agent/agent_proto.h: 4-byte length
 * + serialized Request / Response), or as a session file (+ OpenVPN static
 * key files) that `roomvpn-dpctl resync --file` loads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent_proto.h"
#include "engine.h"
#include "inet.h"
#include "static_key.h"

typedef Roomvpn__Dataplane__V1__Request Request;
typedef Roomvpn__Dataplane__V1__Response Response;

struct agent {
	int fd;
	uint64_t next_id;
	int timeout_ms;
	const char *prog, *path;
};

static int agent_connect(struct agent *a)
{
	char why[200];
	/* no socket timeouts: io_all polls with the reply timeout */
	a->fd = rv_agent_dial(a->path, 0, why, sizeof(why));
	if (a->fd < 0) {
		fprintf(stderr,
			"%s: data plane unreachable: cannot connect to the agent socket %s: %s "
			"(is roomvpn-dataplane running with this agent path?)\n",
			a->prog, a->path, why);
		return -1;
	}
	return 0;
}

/* Move @len bytes in the direction of @events within the timeout. */
static int io_all(struct agent *a, uint8_t *buf, size_t len, short events)
{
	size_t done = 0;
	while (done < len) {
		struct pollfd p = {.fd = a->fd, .events = events};
		int rc = poll(&p, 1, a->timeout_ms);
		if (rc == 0) {
			fprintf(stderr,
				"%s: data plane unreachable: the agent at %s did not %s "
				"within %d ms\n",
				a->prog, a->path, events == POLLIN ? "reply" : "accept a request",
				a->timeout_ms);
			return -1;
		}
		ssize_t n = rc < 0	       ? -1
			    : events == POLLIN ? recv(a->fd, buf + done, len - done, 0)
					       : send(a->fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s: agent connection %s lost: %s\n", a->prog, a->path,
				n == 0 ? "closed by the data plane" : strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Send @req, read its Response; returns it (caller frees) or NULL. */
static Response *agent_call(struct agent *a, Request *req)
{
	req->request_id = ++a->next_id;
	uint8_t *buf, hdr[4];
	size_t len;
	Response *resp = NULL;
	if (rv_agent_pack(&req->base, &buf, &len) < 0)
		return NULL;
	int rc = io_all(a, buf, len, POLLOUT);
	OPENSSL_cleanse(buf, len); /* it may hold keys */
	free(buf);
	if (rc || io_all(a, hdr, 4, POLLIN))
		return NULL;
	uint32_t rlen = rv_get_be32(hdr);
	if (rlen > RV_AGENT_MSG_MAX || !(buf = malloc(rlen ? rlen : 1)))
		return NULL;
	if (io_all(a, buf, rlen, POLLIN) == 0)
		resp = roomvpn__dataplane__v1__response__unpack(NULL, rlen, buf);
	free(buf);
	if (resp && resp->request_id == req->request_id)
		return resp;
	fprintf(stderr, "%s: the agent at %s sent an undecodable or mismatched reply\n", a->prog,
		a->path);
	if (resp)
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return NULL;
}

/* Call and require STATUS_OK; @what names the request in the error. */
static int agent_ok(struct agent *a, Request *req, const char *what, uint32_t id)
{
	Response *r = agent_call(a, req);
	if (!r)
		return -1;
	int rc = r->status == ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK ? 0 : -1;
	if (rc)
		fprintf(stderr, "%s: the data plane refused %s %u: status %d: %s\n", a->prog, what,
			id, r->status, r->message ? r->message : "");
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return rc;
}

static int upsert_room(struct agent *a, const struct lg_engine *e, const struct lg_room *rm)
{
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__UpsertRoom up = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	Request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	room.room_id = rm->room_id;
	room.subnet = rm->subnet;
	room.prefix_len = rm->plen;
	if (e->o->inner6) { /* dual-stack: its /64 */
		room.prefix6 = (ProtobufCBinaryData){16, (uint8_t *)rm->prefix6};
		room.prefix6_len = 64;
	}
	up.room = &room;
	req.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM;
	req.upsert_room = &up;
	return agent_ok(a, &req, "room", rm->room_id);
}

static int upsert_session(struct agent *a, const struct lg_engine *e, const struct lg_client *c)
{
	Roomvpn__Dataplane__V1__Key key = ROOMVPN__DATAPLANE__V1__KEY__INIT;
	Roomvpn__Dataplane__V1__Endpoint ep = ROOMVPN__DATAPLANE__V1__ENDPOINT__INIT;
	Roomvpn__Dataplane__V1__Session s = ROOMVPN__DATAPLANE__V1__SESSION__INIT;
	Roomvpn__Dataplane__V1__UpsertSession up = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	Request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	key.key_id = e->o->key_id;
	key.material.data = (uint8_t *)&c->km;
	key.material.len = sizeof(c->km);
	key.direction = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
	ep.addr = c->outer_ip;
	ep.port = c->outer_port;
	s.peer_id = c->peer_id;
	s.room_id = c->room_id;
	s.vip = c->vip;
	if (e->o->inner6)
		s.vip6 = (ProtobufCBinaryData){16, (uint8_t *)c->vip6};
	s.cipher = (char *)rv_cipher_name(e->o->suite);
	s.key = &key;
	s.outer = &ep;
	up.session = &s;
	req.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION;
	req.upsert_session = &up;
	return agent_ok(a, &req, "session", c->peer_id);
}

static int delete_room(struct agent *a, uint32_t room_id)
{
	Roomvpn__Dataplane__V1__DeleteRoom del = ROOMVPN__DATAPLANE__V1__DELETE_ROOM__INIT;
	Request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	del.room_id = room_id;
	req.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_ROOM;
	req.delete_room = &del;
	return agent_ok(a, &req, "deleting room", room_id);
}

static void agent_init(struct agent *a, const struct lg_engine *e)
{
	a->fd = -1;
	a->next_id = 0;
	a->timeout_ms = (int)(e->o->reply_timeout_s * 1000);
	a->prog = e->o->prog;
	a->path = e->o->agent_path;
}

int lg_provision_agent(struct lg_engine *e)
{
	struct agent a;
	agent_init(&a, e);
	if (agent_connect(&a))
		return -1;
	int rc = 0;
	for (unsigned r = 0; r < e->o->rooms && rc == 0; r++)
		rc = upsert_room(&a, e, &e->rooms[r]);
	for (unsigned i = 0; i < e->o->clients && rc == 0; i++)
		rc = upsert_session(&a, e, &e->clients[i]);
	close(a.fd);
	return rc;
}

int lg_unprovision_agent(struct lg_engine *e)
{
	struct agent a;
	agent_init(&a, e);
	if (agent_connect(&a))
		return -1;
	int rc = 0;
	for (unsigned r = 0; r < e->o->rooms && rc == 0; r++)
		rc = delete_room(&a, e->rooms[r].room_id);
	close(a.fd);
	return rc;
}

static void fmt_ip(char *buf, size_t cap, uint32_t ip)
{
	snprintf(buf, cap, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* Key file @dir/@name with mode 0600. */
static int write_key(const char *dir, const char *name, const struct rv_key_material *km)
{
	char path[4200], text[2048];
	int len = rv_static_key_format(km, text, sizeof(text));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (len < 0 || fd < 0)
		goto err;
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		goto err;
	}
	OPENSSL_cleanse(text, sizeof(text));
	return close(fd);
err:
	OPENSSL_cleanse(text, sizeof(text));
	return -1;
}

static int write_entries(FILE *f, const struct lg_engine *e, const char *keydir, const char *keyrel)
{
	char a[16], b[16];
	for (unsigned r = 0; r < e->o->rooms; r++) {
		fmt_ip(a, sizeof(a), e->rooms[r].subnet);
		fprintf(f, "room %u %s/%u\n", e->rooms[r].room_id, a, e->rooms[r].plen);
	}
	for (unsigned i = 0; i < e->o->clients; i++) {
		const struct lg_client *c = &e->clients[i];
		char name[64];
		snprintf(name, sizeof(name), "peer-%u.key", c->peer_id);
		if (write_key(keydir, name, &c->km))
			return -1;
		fmt_ip(a, sizeof(a), c->vip);
		fmt_ip(b, sizeof(b), c->outer_ip);
		fprintf(f, "session %u %u %s %s %s/%s key-id=%u key-direction=1 outer=%s:%u\n",
			c->peer_id, c->room_id, a, rv_cipher_name(e->o->suite), keyrel, name,
			e->o->key_id, b, c->outer_port);
	}
	return 0;
}

/* Writes @path and its keys into "@path.keys/" (relative paths in the file). */
int lg_provision_file(struct lg_engine *e)
{
	const char *path = e->o->session_file, *base = strrchr(path, '/');
	char keydir[4096], keyrel[4096];
	snprintf(keydir, sizeof(keydir), "%s.keys", path);
	snprintf(keyrel, sizeof(keyrel), "%s.keys", base ? base + 1 : path);
	if (mkdir(keydir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s\n", e->o->prog, keydir, strerror(errno));
		return -1;
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: cannot write %s: %s\n", e->o->prog, path, strerror(errno));
		return -1;
	}
	fprintf(f, "# roomvpn-loadgen: %u clients in %u rooms, %s\n", e->o->clients, e->o->rooms,
		rv_cipher_name(e->o->suite));
	int rc = write_entries(f, e, keydir, keyrel);
	if (fclose(f) || rc) {
		fprintf(stderr, "%s: cannot write %s or its keys in %s\n", e->o->prog, path,
			keydir);
		return -1;
	}
	return 0;
}
