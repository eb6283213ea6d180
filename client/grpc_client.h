/* Unary gRPC calls to roomvpn-control over TLS (grpc core C API,
 * protobuf-c messages). The server is authenticated either by a set of
 * SHA-256 pins of its certificate (any member matches) (fetched with an OpenSSL handshake, checked,
 * then handed to grpc as the only root, and checked again in grpc's own handshake) or by a CA file.
 */
#ifndef RV_CLIENT_GRPC_CLIENT_H
#define RV_CLIENT_GRPC_CLIENT_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls_pin.h"

struct rv_grpc;

#define RV_GRPC_SERVERS_MAX   256 /* = sizeof(struct rv_login.server) */
#define RV_GRPC_ENDPOINTS_MAX 8

struct rv_grpc_target {
	/* "host:port", or several control-plane replicas "h1:port,h2:port"
	 * (IPv6 as "[::1]:port"): the channel goes to one, and a call that
	 * ends UNAVAILABLE is retried on the next (each once) */
	const char *server;
	struct rv_pinset pins;
	const char *ca_file;  /* used when the pin set is empty */
	const char *tls_name; /* name checked in the certificate; NULL: derived */
	uint32_t timeout_ms;  /* per call; 0: 15000 */
};

/* Fetch the server's certificate with a plain TLS handshake (no trust
 * check) and write its PEM (malloc'd) and fingerprint. For the pin check
 * and for telling the user what to pin. Returns 0, or -1 with a message. */
int rv_grpc_fetch_cert(const char *server, uint32_t timeout_ms, char **pem, uint8_t fp[RV_FP_LEN],
		       char *err, size_t errlen);

/* How many endpoints the list @servers has; 0 and a message unless it is
 * 1..RV_GRPC_ENDPOINTS_MAX well-formed host:port entries (check returns 0/-1). */
unsigned rv_grpc_endpoints(const char *servers);
int rv_grpc_check_servers(const char *servers, char *err, size_t errlen);
/* The endpoint @g's channel goes to now (into @out). */
const char *rv_grpc_endpoint(const struct rv_grpc *g, char *out, size_t len);

/* Connect (lazily: the first call dials; with several endpoints, to the
 * one that answered last in this process, else the first). With pins the certificate is
 * fetched and checked here: no match fails with a message naming the
 * fingerprint presented and the pins. Returns 0, or -1 with a message. */
int rv_grpc_open(const struct rv_grpc_target *t, struct rv_grpc **out, char *err, size_t errlen);
void rv_grpc_close(struct rv_grpc *g);
/* The pin the server's certificate matched at open: true with @fp set, or
 * false for a CA-verified channel. */
bool rv_grpc_pin(const struct rv_grpc *g, uint8_t fp[RV_FP_LEN]);
/* The deadline of the following unary calls (0: 15000 ms). */
void rv_grpc_set_timeout(struct rv_grpc *g, uint32_t timeout_ms);

/* Result of a call. */
struct rv_grpc_result {
	grpc_status_code status;
	char message[512];     /* status details, or a transport message */
	char session_hdr[256]; /* initial metadata "x-roomvpn-session", if sent */
};

/* One unary call: @path "/roomvpn.v1.RoomService/List", @req packed, the
 * reply unpacked with @resp_desc into *resp (free with
 * protobuf_c_message_free_unpacked). @bearer: session token or NULL.
 * Returns the grpc status (GRPC_STATUS_OK with *resp set). */
grpc_status_code rv_grpc_call(struct rv_grpc *g, const char *path, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			      const char *bearer, struct rv_grpc_result *res);

/* A bidirectional streaming call on its own completion queue, driven by one
 * thread (the keepalive stream). */
struct rv_grpc_stream;

/* Start the call with the bearer token and wait for the headers to go out.
 * Returns NULL with a message in @res on failure. */
struct rv_grpc_stream *rv_grpc_stream_open(struct rv_grpc *g, const char *path, const char *bearer,
					   struct rv_grpc_result *res);
/* Send one message and wait for it to be written. 0, or -1 (stream over). */
int rv_grpc_stream_send(struct rv_grpc_stream *s, const ProtobufCMessage *m);
/* Wait up to @timeout_ms for the next message. Returns 1 with *out set
 * (free with protobuf_c_message_free_unpacked), 0 on timeout, or -1 when the
 * stream is over (its status in @res). */
int rv_grpc_stream_recv(struct rv_grpc_stream *s, const ProtobufCMessageDescriptor *d,
			ProtobufCMessage **out, int timeout_ms, struct rv_grpc_result *res);
/* Cancel if still running and free everything. */
void rv_grpc_stream_close(struct rv_grpc_stream *s);

#endif
