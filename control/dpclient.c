#include "dpclient.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent_proto.h"

#define DP_TIMEOUT_S 5

static int dial(const char *path, char *err, size_t errlen)
{
	char why[200];
	int fd = rv_agent_dial(path, DP_TIMEOUT_S, why, sizeof(why));
	if (fd < 0)
		snprintf(err, errlen, "cannot reach the data plane agent at %s: %s", path, why);
	return fd;
}

static int send_request(int fd, const Roomvpn__Dataplane__V1__Request *r, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	if (rv_agent_pack(&r->base, &buf, &len) < 0) {
		snprintf(err, errlen, "data plane agent: request too large or out of memory");
		return -1;
	}
	int rc = rv_agent_write_all(fd, buf, len, err, errlen);
	OPENSSL_cleanse(buf, len); /* sessions and keys carry key material */
	free(buf);
	return rc;
}

static Roomvpn__Dataplane__V1__Response *read_response(int fd)
{
	Roomvpn__Dataplane__V1__Response *resp;
	char err[200];
	uint8_t *buf;
	uint32_t len;

	if (rv_agent_read_msg(fd, &buf, &len, err, sizeof(err)) < 0)
		return NULL;
	resp = roomvpn__dataplane__v1__response__unpack(NULL, len, buf);
	free(buf);
	return resp;
}

int rv_dpclient_exchange_each(const char *sock_path, Roomvpn__Dataplane__V1__Request *const *reqs,
			      size_t n, bool *ok, char *err, size_t errlen)
{
	int fd = dial(sock_path, err, errlen), rc = 0;

	if (fd < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char why[200];
		if (send_request(fd, reqs[i], why, sizeof(why)) < 0) {
			snprintf(err, errlen, "data plane agent: %s", why);
			rc = -1;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		Roomvpn__Dataplane__V1__Response *resp = read_response(fd);
		if (!resp) {
			snprintf(err, errlen, "data plane agent: no or malformed response");
			rc = -1;
			break;
		}
		ok[i] = resp->status == ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK;
		if (!ok[i])
			snprintf(err, errlen, "data plane agent refused request %zu: %s", i,
				 resp->message);
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	}
	close(fd);
	return rc;
}

Roomvpn__Dataplane__V1__Response *rv_dpclient_stats(const char *sock_path, bool sessions, char *err,
						    size_t errlen)
{
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	rs.sessions = sessions;
	return rv_dpclient_read_stats(sock_path, &rs, 0, err, errlen);
}

Roomvpn__Dataplane__V1__Response *
rv_dpclient_read_stats(const char *sock_path, const Roomvpn__Dataplane__V1__ReadStats *ask,
		       uint64_t fence, char *err, size_t errlen)
{
	Roomvpn__Dataplane__V1__Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = *ask;
	Roomvpn__Dataplane__V1__Response *resp = NULL;
	int fd = dial(sock_path, err, errlen);

	if (fd < 0)
		return NULL;
	rq.request_id = 1;
	rq.fence = fence;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS;
	rq.read_stats = &rs;
	if (send_request(fd, &rq, err, errlen) == 0)
		resp = read_response(fd);
	close(fd);
	if (!resp || resp->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK || !resp->stats) {
		snprintf(err, errlen, "data plane agent: ReadStats failed%s%s",
			 resp && resp->message[0] ? ": " : "", resp ? resp->message : "");
		if (resp)
			roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}
