/* The data channel's TCP fallback transport: one TLS connection to the
 * server carrying 2-byte length-prefixed frames. Internal to dc.c. */
#ifndef RV_CLIENT_DC_TCP_H
#define RV_CLIENT_DC_TCP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "dc.h"
#include "tcp_frame.h"

struct dc_tcp {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd; /* -1 while not connected */
	const struct rv_dc_params *p;
	struct rv_tcp_decoder *dec;
	uint8_t rbuf[16384];
};

/* Returns 0, or -1 with a message (bad CA file, OpenSSL error).
 * Sets SIGPIPE to be ignored (process-wide). */
int dc_tcp_init(struct dc_tcp *t, const struct rv_dc_params *p, char *err, size_t errlen);
void dc_tcp_free(struct dc_tcp *t);
/* Connect and handshake within @timeout_ms, checking the server's
 * certificate against the pin or CA. Returns 0, or -1 with a message. */
int dc_tcp_connect(struct dc_tcp *t, int timeout_ms, char *err, size_t errlen);
void dc_tcp_close(struct dc_tcp *t);
/* Write all of @data (waits up to a bound for a full socket). 0 or -1. */
int dc_tcp_write(struct dc_tcp *t, const uint8_t *data, size_t len);
/* Read what is available and run @cb per frame. Returns 0, 1 if it stopped
 * with decrypted data still buffered (call again soon), or -1 when the
 * connection is closed or broken (caller closes). */
int dc_tcp_read(struct dc_tcp *t, rv_tcp_frame_cb cb, void *arg);

#endif
