/* The asynchronous crypto engine on a DPDK cryptodev (QAT, or any
 * cryptodev PMD such as the software crypto_aesni_gcm): crypto_engine =
 * cryptodev, crypto_dev = NAME. docs/dataplane.md "Crypto engines".
 *
 * Set-up (main thread, after EAL and before any key exists): the device is
 * configured with one queue pair per worker plus one for the synchronous
 * callers (known-answer tests, the relay bench's bound), each worker gets
 * an rte_crypto_op mempool and takes its ops from it once; the engine goes
 * into libroomvpn's table. Per key (the writer, at key install) an
 * rte_cryptodev_sym_session; it is freed with the context, after the RCU
 * grace period.
 *
 * Packet path: the relay's open and seal stages call the burst functions
 * below instead of rv_dc_open_burst / rv_dc_seal_burst when rv_cdev_on is
 * set (one branch per burst). They enqueue the burst's AEAD packets on the
 * worker's queue pair and dequeue them (results by submission index), so
 * each session's order holds: a session has one owner worker. Packets whose
 * context is not on the device (CBC, "none", a suite the device lacks) are
 * framed synchronously by dc_frame.c in the same call. No allocation, no
 * lock. */
#ifndef RV_ENGINE_CRYPTODEV_H
#define RV_ENGINE_CRYPTODEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "dc_frame.h"

#define RV_CDEV_BURST 64 /* most packets per burst call (the relay's seal list) */

struct rv_cdev_config {
	const char *dev_name; /* crypto_dev: a cryptodev the EAL probed (e.g. --vdev) */
	unsigned n_workers;   /* one queue pair each */
	uint32_t n_sessions;  /* crypto_sessions: device sessions (one per key direction) */
};

/* Set by rv_cdev_start: the relay takes the burst functions below. */
extern bool rv_cdev_on;

/* Whether @name is a cryptodev with AES-256-GCM (16-byte tag, 8-byte AAD,
 * 12-byte IV) and enough queue pairs for @n_workers (+1); 0, or -1 with
 * the reason in @err. Needs the EAL. */
int rv_cdev_probe(const char *name, unsigned n_workers, char *err, size_t errlen);

/* Probe, configure and start the device, make the per-worker op pools and
 * the session pool, register the engine and select it. 0 or -1 (@err). */
int rv_cdev_start(const struct rv_cdev_config *cfg, char *err, size_t errlen);

/* Stop and close the device (after the workers stopped and every key was
 * freed). */
void rv_cdev_stop(void);

/* "crypto_aesni_gcm0 (AES-256-GCM; ChaCha20-Poly1305 on openssl)", for the
 * start-up notice. */
const char *rv_cdev_describe(void);

/* rv_dc_seal_burst / rv_dc_open_burst for worker @worker with the packets'
 * mbufs beside them (@p[i] describes @m[i]'s single segment). @n <=
 * RV_CDEV_BURST. Device failures are results: RV_DROP_CRYPTO_ENQUEUE (the
 * queue pair refused), RV_DROP_AUTH (tag), RV_DROP_CRYPTO_OP (any other
 * status). Called only from worker @worker's lcore. */
void rv_cdev_seal_burst(unsigned worker, struct rte_mbuf *const m[],
			struct rv_cipher_ctx *const ctx[], const uint8_t key_id[],
			const uint32_t peer_id[], const uint32_t packet_id[], uint32_t now_s,
			struct rv_pkt *const p[], enum rv_drop res[], unsigned n);
void rv_cdev_open_burst(unsigned worker, struct rte_mbuf *const m[],
			struct rv_cipher_ctx *const ctx[], struct rv_pkt *const p[],
			uint32_t packet_id[], enum rv_drop res[], unsigned n);

#endif
