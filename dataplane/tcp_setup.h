/* The TCP fallback's set-up (tcp_setup.c): config keys, TLS context,
 * listeners. Errors are written to @err as "tcp fallback: ..." messages. */
#ifndef RV_DP_TCP_SETUP_H
#define RV_DP_TCP_SETUP_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "tcp_fallback.h"

/* OpenSSL's last error as text (or errno's), cleared; a static buffer. */
const char *rv_tcp_ssl_reason(void);
/* A TLS 1.2+ server context with @cert (chain) and @key, or NULL. */
SSL_CTX *rv_tcp_tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);
/* A non-blocking listener on @ip:@port (host order; port 0: any free one,
 * written to *@bound), or -1. */
int rv_tcp_listen4(uint32_t ip, uint16_t port, uint16_t *bound, char *err, size_t errlen);
/* The IPv6 listener (IPV6_V6ONLY: the IPv4 one is separate), or -1. */
int rv_tcp_listen6(const uint8_t ip[16], uint16_t port, char *err, size_t errlen);

#endif
