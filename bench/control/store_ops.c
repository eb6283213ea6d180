/* rv-store-bench: raw store operations per second on either backend, with
 * T threads, to compare etcd with RocksDB below the RPCs (docs/etcd.md).
 * Prints figures, asserts nothing.
 *
 *   rv-store-bench --store rocksdb:DIR | etcd:https://h:p,... [--ca F --cert F --key F]
 *                  [--threads 64] [--ops 4000]
 * (under tests/control/etcd_cluster.py, --store etcd takes RV_ETCD_*)
 * Phases: put (sync), get, batch of 3 puts (sync), batch with an expectation.
 * Keys bench/<thread>/<i>; the store should be empty (a fresh directory or
 * cluster). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

enum phase { PUT, GET, BATCH3, CAS, N_PHASES };
static const char *phase_name[N_PHASES] = {"put (sync)", "get", "batch of 3 puts (sync)",
					   "batch with an expectation"};

struct worker {
	struct rv_store *s;
	int id, ops, errors;
	enum phase phase;
	pthread_t t;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one(struct worker *w, int i)
{
	char k[64], v[64];
	snprintf(k, sizeof(k), "bench/%03d/%08d", w->id, i);
	snprintf(v, sizeof(v), "value-%d-%d", w->id, i);
	switch (w->phase) {
	case PUT:
		return rv_store_put(w->s, k, strlen(k), v, strlen(v), true);
	case GET: {
		void *val;
		size_t vl;
		int rc = rv_store_get(w->s, k, strlen(k), &val, &vl);
		if (rc == 0)
			free(val);
		return rc == 0 ? 0 : -1;
	}
	case BATCH3:
	case CAS: {
		struct rv_store_batch *b = rv_store_batch_new();
		if (w->phase == CAS)
			rv_store_batch_expect(b, k, strlen(k), v, strlen(v));
		for (int j = 0; j < 3; j++) {
			char kj[80];
			snprintf(kj, sizeof(kj), "%s/%d", k, j);
			rv_store_batch_put(b, kj, strlen(kj), v, strlen(v));
		}
		int rc = rv_store_batch_commit(w->s, b, true);
		rv_store_batch_free(b);
		return rc;
	}
	default:
		return -1;
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->ops; i++)
		if (one(w, i) != 0)
			w->errors++;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *store = NULL, *ca = getenv("RV_ETCD_CA"), *cert = getenv("RV_ETCD_CERT"),
		   *key = getenv("RV_ETCD_KEY");
	int threads = 64, ops = 4000;
	char uri[1200], err[1600];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--store"))
			store = argv[i + 1];
		else if (!strcmp(argv[i], "--ca"))
			ca = argv[i + 1];
		else if (!strcmp(argv[i], "--cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops"))
			ops = atoi(argv[i + 1]);
	}
	if (store && !strcmp(store, "etcd") && getenv("RV_ETCD_ENDPOINTS")) {
		snprintf(uri, sizeof(uri), "etcd:%s", getenv("RV_ETCD_ENDPOINTS"));
		store = uri;
	}
	if (!store || threads < 1 || threads > 1024 || ops < threads) {
		fprintf(stderr, "usage: rv-store-bench --store rocksdb:DIR|etcd:URLS|etcd [--ca F "
				"--cert F --key F] [--threads T] [--ops N]\n");
		return 2;
	}
	struct rv_store_etcd_tls tls = {ca, cert, key};
	struct rv_store *s;
	if (rv_store_open_uri(store, &tls, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "rv-store-bench: %s\n", err);
		return 1;
	}
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	printf("store %s, %d threads, %d operations per phase\n", rv_store_backend_name(s), threads,
	       ops);
	for (enum phase p = 0; p < N_PHASES; p++) {
		double t0 = now_s();
		int errors = 0;
		for (int i = 0; i < threads; i++) {
			w[i] = (struct worker){.s = s, .id = i, .ops = ops / threads, .phase = p};
			pthread_create(&w[i].t, NULL, work, &w[i]);
		}
		for (int i = 0; i < threads; i++) {
			pthread_join(w[i].t, NULL);
			errors += w[i].errors;
		}
		double dt = now_s() - t0;
		int done = ops / threads * threads;
		printf("  %-26s %8.0f /s  (%d in %.2f s, mean %.2f ms per operation per thread, "
		       "%d errors)\n",
		       phase_name[p], done / dt, done, dt, dt * 1000.0 / (done / threads), errors);
	}
	free(w);
	rv_store_close(s);
	return 0;
}
