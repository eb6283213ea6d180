/* The data plane's sessions, asked over its agent socket directly (one
 * connection kept open): a ReadStats without per-session stats answers the
 * session count in a few dozen bytes whatever the table holds, so a kick is
 * timed to the count dropping rather than to a dump of every session (25 MB
 * of dpctl JSON at 100,000). One dump, ReadStats with sessions, answers
 * whether given peers are present (the kick step's check, once). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_proto.h"
#include "load.h"

static int dp_fd = -1;
static char dp_path[512];

static Roomvpn__Dataplane__V1__Stats *read_stats(bool sessions,
						 Roomvpn__Dataplane__V1__Response **resp)
{
	Roomvpn__Dataplane__V1__Request req = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	uint8_t *buf, *body = NULL;
	size_t len;
	uint32_t blen;
	char err[256];

	for (int attempt = 0; attempt < 2; attempt++) {
		if (dp_fd < 0 && (dp_fd = rv_agent_dial(dp_path, 10, err, sizeof(err))) < 0)
			return NULL;
		rs.sessions = sessions;
		req.request_id = 1;
		req.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS;
		req.read_stats = &rs;
		if (rv_agent_pack(&req.base, &buf, &len) < 0)
			return NULL;
		int rc = rv_agent_write_all(dp_fd, buf, len, err, sizeof(err));
		free(buf);
		if (rc == 0 && rv_agent_read_msg(dp_fd, &body, &blen, err, sizeof(err)) == 0)
			break;
		close(dp_fd); /* the data plane restarted: dial again, once */
		dp_fd = -1;
	}
	if (!body)
		return NULL;
	*resp = roomvpn__dataplane__v1__response__unpack(NULL, blen, body);
	free(body);
	if (!*resp)
		return NULL;
	if ((*resp)->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK || !(*resp)->stats) {
		roomvpn__dataplane__v1__response__free_unpacked(*resp, NULL);
		return NULL;
	}
	return (*resp)->stats;
}

void rv_dp_watch(const char *sock)
{
	snprintf(dp_path, sizeof(dp_path), "%s", sock);
}

long rv_dp_count(void)
{
	Roomvpn__Dataplane__V1__Response *resp;
	Roomvpn__Dataplane__V1__Stats *st = read_stats(false, &resp);
	long n;

	if (!st)
		return -1;
	n = st->sessions;
	roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return n;
}

long rv_dp_present(const uint32_t *peers, bool *present, size_t n)
{
	Roomvpn__Dataplane__V1__Response *resp;
	Roomvpn__Dataplane__V1__Stats *st = read_stats(true, &resp);
	long count;

	if (!st)
		return -1;
	memset(present, 0, n * sizeof(*present));
	for (size_t s = 0; s < st->n_session; s++)
		for (size_t i = 0; i < n; i++)
			present[i] |= st->session[s]->peer_id == peers[i];
	count = st->sessions;
	roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	return count;
}
