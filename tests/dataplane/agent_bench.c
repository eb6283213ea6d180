/* Agent throughput figures (prints, asserts nothing): UpsertSession
 * requests per second over the socket (one client, request/response), a
 * full ReadStats, a Resync of N sessions, an empty Resync.
 * usage: agent_bench SOCKET [N]   (against agent_host or roomvpn-dataplane;
 * it replaces the agent's tables) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"

typedef Roomvpn__Dataplane__V1__Request pb_request;
typedef Roomvpn__Dataplane__V1__Response pb_response;
#define REQ(x) ROOMVPN__DATAPLANE__V1__REQUEST__BODY_##x

static uint8_t key[256];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request, one response; returns the response size, exits on errors. */
static size_t call(int fd, pb_request *req)
{
	uint8_t *buf, *body;
	size_t len;
	uint32_t blen;
	char err[256];
	if (rv_agent_pack(&req->base, &buf, &len) < 0 ||
	    rv_agent_write_all(fd, buf, len, err, sizeof(err)) < 0 ||
	    rv_agent_read_msg(fd, &body, &blen, err, sizeof(err)) < 0) {
		fprintf(stderr, "agent_bench: %s\n", err);
		exit(1);
	}
	free(buf);
	pb_response *r = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	if (!r || r->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK) {
		fprintf(stderr, "agent_bench: refused: %s\n", r ? r->message : "undecodable");
		exit(1);
	}
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return blen;
}

static void session(Roomvpn__Dataplane__V1__Session *s, Roomvpn__Dataplane__V1__Key *k, uint32_t i)
{
	roomvpn__dataplane__v1__session__init(s);
	roomvpn__dataplane__v1__key__init(k);
	s->peer_id = i + 1;
	s->room_id = 1;
	s->vip = (10u << 24) + i + 2; /* 10.0.0.2 ... inside 10.0.0.0/8 */
	s->cipher = "AES-256-GCM";
	k->material.data = key;
	k->material.len = sizeof(key);
	s->key = k;
}

static void resync(int fd, uint32_t n, Roomvpn__Dataplane__V1__Room *room)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__Session *s = calloc(n + 1, sizeof(*s));
	Roomvpn__Dataplane__V1__Key *k = calloc(n + 1, sizeof(*k));
	Roomvpn__Dataplane__V1__Session **sp = calloc(n + 1, sizeof(*sp));
	for (uint32_t i = 0; i < n; i++) {
		session(&s[i], &k[i], i);
		sp[i] = &s[i];
	}
	rs.n_rooms = 1;
	rs.rooms = &room;
	rs.n_sessions = n;
	rs.sessions = sp;
	req.body_case = REQ(RESYNC);
	req.resync = &rs;
	double t = now_s();
	size_t bytes = protobuf_c_message_get_packed_size(&req.base);
	call(fd, &req);
	t = now_s() - t;
	printf("resync of %u sessions (%.1f MB request): %.3f s (%.0f sessions/s)\n", n,
	       bytes / 1e6, t, n / t);
	free(s);
	free(k);
	free(sp);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: agent_bench SOCKET [N]\n");
		return 2;
	}
	uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 10000;
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("agent_bench: connect");
		return 1;
	}
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	room.room_id = 1;
	room.subnet = 10u << 24;
	room.prefix_len = 8;
	resync(fd, 0, &room); /* start empty, with room 1 */

	/* UpsertSession, one at a time */
	Roomvpn__Dataplane__V1__UpsertSession up = ROOMVPN__DATAPLANE__V1__UPSERT_SESSION__INIT;
	Roomvpn__Dataplane__V1__Session s;
	Roomvpn__Dataplane__V1__Key k;
	pb_request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	req.body_case = REQ(UPSERT_SESSION);
	req.upsert_session = &up;
	up.session = &s;
	double t = now_s();
	for (uint32_t i = 0; i < n; i++) {
		session(&s, &k, i);
		call(fd, &req);
	}
	t = now_s() - t;
	printf("upsert session: %u requests in %.3f s: %.0f/s, %.1f us each (request+reply)\n", n,
	       t, n / t, t / n * 1e6);

	/* ReadStats with every session */
	Roomvpn__Dataplane__V1__ReadStats rst = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	rst.sessions = 1;
	req.body_case = REQ(READ_STATS);
	req.read_stats = &rst;
	t = now_s();
	size_t bytes = call(fd, &req);
	t = now_s() - t;
	printf("read stats with %u sessions: %.3f s, %.1f MB reply\n", n, t, bytes / 1e6);

	resync(fd, n, &room); /* same peers, same keys: kept */
	resync(fd, 0, &room); /* everything deleted */
	close(fd);
	return 0;
}
