/* Argon2id hashing and the password worker pool. */
#include "password.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rv_password_hash(const struct rv_control_config *cfg, const char *pw, char *out, size_t outlen,
		     char *err, size_t errlen)
{
	uint8_t salt[16];

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		snprintf(err, errlen, "no randomness for the password salt");
		return -1;
	}
	int rc = argon2id_hash_encoded(cfg->argon2_t, cfg->argon2_m_kib, cfg->argon2_p, pw,
				       strlen(pw), salt, sizeof(salt), 32, out, outlen);
	if (rc != ARGON2_OK) {
		snprintf(err, errlen, "argon2id: %s", argon2_error_message(rc));
		return -1;
	}
	return 0;
}

int rv_password_verify(const char *encoded, const char *pw)
{
	int rc = argon2id_verify(encoded, pw, strlen(pw));
	if (rc == ARGON2_OK)
		return 0;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 1;
	return -1;
}

struct job {
	struct job *next;
	void (*fn)(void *);
	void *arg;
};

struct rv_pwpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sem_t cpu; /* Argon2 runs: at most `workers` at once */
	struct job *head, *tail;
	bool stopping;
	unsigned n;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-pwhash"); /* top -H, perf */
	struct rv_pwpool *p = arg;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		struct job *j = p->head;
		if (j) {
			p->head = j->next;
			if (!p->head)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->mu);
		if (!j)
			return NULL; /* stopping and drained */
		j->fn(j->arg);
		free(j);
	}
}

int rv_pwpool_start(unsigned workers, struct rv_pwpool **out)
{
	unsigned threads = workers + RV_PWPOOL_IO_THREADS;
	struct rv_pwpool *p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));
	if (!p || workers == 0 || sem_init(&p->cpu, 0, workers) != 0) {
		free(p);
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->n < threads; p->n++)
		if (pthread_create(&p->threads[p->n], NULL, worker, p) != 0)
			goto err_threads;
	*out = p;
	return 0;

err_threads:
	rv_pwpool_stop(p);
	return -1;
}

void rv_pwpool_cpu_begin(struct rv_pwpool *p)
{
	while (sem_wait(&p->cpu) != 0)
		; /* EINTR */
}

void rv_pwpool_cpu_end(struct rv_pwpool *p)
{
	sem_post(&p->cpu);
}

int rv_pwpool_submit(struct rv_pwpool *p, void (*fn)(void *arg), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	if (!j)
		return -1;
	*j = (struct job){NULL, fn, arg};
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(j);
		return -1;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void rv_pwpool_stop(struct rv_pwpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	sem_destroy(&p->cpu);
	free(p);
}
