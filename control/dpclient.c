#include "dpclient.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "inet.h"

#define DP_TIMEOUT_S	5
#define DP_MAX_RESPONSE (64u << 20)

static int dial(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = DP_TIMEOUT_S};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "data plane agent socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot reach the data plane agent at %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int io_all(int fd, uint8_t *buf, size_t len, int writing)
{
	while (len) {
		ssize_t n = writing ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_request(int fd, const Roomvpn__Dataplane__V1__Request *r)
{
	size_t len = roomvpn__dataplane__v1__request__get_packed_size(r);
	uint8_t *buf = malloc(4 + len);
	int rc;

	if (!buf)
		return -1;
	rv_put_be32(buf, (uint32_t)len);
	roomvpn__dataplane__v1__request__pack(r, buf + 4);
	rc = io_all(fd, buf, 4 + len, 1);
	OPENSSL_cleanse(buf, 4 + len); /* sessions and keys carry key material */
	free(buf);
	return rc;
}

static Roomvpn__Dataplane__V1__Response *read_response(int fd)
{
	Roomvpn__Dataplane__V1__Response *resp = NULL;
	uint8_t hdr[4], *buf;
	uint32_t len;

	if (io_all(fd, hdr, 4, 0) < 0)
		return NULL;
	len = rv_get_be32(hdr);
	if (len == 0 || len > DP_MAX_RESPONSE || !(buf = malloc(len)))
		return NULL;
	if (io_all(fd, buf, len, 0) == 0)
		resp = roomvpn__dataplane__v1__response__unpack(NULL, len, buf);
	free(buf);
	return resp;
}

int rv_dpclient_exchange(const char *sock_path, Roomvpn__Dataplane__V1__Request *const *reqs,
			 size_t n, char *err, size_t errlen)
{
	int fd = dial(sock_path, err, errlen), rc = 0;

	if (fd < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (send_request(fd, reqs[i]) < 0) {
			snprintf(err, errlen, "data plane agent: write failed: %s",
				 strerror(errno));
			rc = -1;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		Roomvpn__Dataplane__V1__Response *resp = read_response(fd);
		if (!resp) {
			snprintf(err, errlen, "data plane agent: no or malformed response");
			rc = -1;
		} else if (resp->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK) {
			snprintf(err, errlen, "data plane agent refused request %zu: %s", i,
				 resp->message);
			rc = -1;
		}
		if (resp)
			roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
	}
	close(fd);
	return rc;
}

Roomvpn__Dataplane__V1__Response *rv_dpclient_sessions(const char *sock_path, char *err,
						       size_t errlen)
{
	Roomvpn__Dataplane__V1__Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	Roomvpn__Dataplane__V1__Response *resp = NULL;
	int fd = dial(sock_path, err, errlen);

	if (fd < 0)
		return NULL;
	rs.sessions = true;
	rq.request_id = 1;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS;
	rq.read_stats = &rs;
	if (send_request(fd, &rq) == 0)
		resp = read_response(fd);
	close(fd);
	if (!resp || resp->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK || !resp->stats) {
		snprintf(err, errlen, "data plane agent: ReadStats failed");
		if (resp)
			roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}
