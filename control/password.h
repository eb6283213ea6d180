/* Argon2id password hashing (libargon2) and the worker pool it runs on, so
 * that hashing never blocks a completion-queue thread. */
#ifndef RV_PASSWORD_H
#define RV_PASSWORD_H

#include <stddef.h>

#include "control.h"

#define RV_PASSWORD_MAX	    1024 /* longest password accepted (bytes) */
#define RV_PASSWORD_MIN	    8	 /* shortest password accepted for new users */
#define RV_PASSWORD_ENCODED 256	 /* room for an encoded hash */

/* Hash @pw with the configured cost into @out ("$argon2id$v=19$m=..").
 * Returns 0, or -1 with a message in @err. */
int rv_password_hash(const struct rv_control_config *cfg, const char *pw, char *out, size_t outlen,
		     char *err, size_t errlen);
/* 0: match, 1: mismatch, -1: bad encoded hash. */
int rv_password_verify(const char *encoded, const char *pw);

/* A fixed pool of threads running submitted jobs in FIFO order: @workers
 * of them may hash at once (rv_pwpool_cpu_begin/end around Argon2), and
 * RV_PWPOOL_IO_THREADS more let the jobs' synced store writes wait on the
 * disk together (RocksDB group commit) without taking a hashing slot. */
#define RV_PWPOOL_IO_THREADS 16
int rv_pwpool_start(unsigned workers, struct rv_pwpool **out);
/* Take / give back one of the @workers hashing slots (blocks until free). */
void rv_pwpool_cpu_begin(struct rv_pwpool *p);
void rv_pwpool_cpu_end(struct rv_pwpool *p);
/* Returns 0, or -1 if the pool is stopping (the job is not run). */
int rv_pwpool_submit(struct rv_pwpool *p, void (*fn)(void *arg), void *arg);
/* Runs every queued job, then joins the threads and frees the pool. */
void rv_pwpool_stop(struct rv_pwpool *p);

#endif
