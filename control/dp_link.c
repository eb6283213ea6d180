/* The link interface's common part and the local unix-socket link: each
 * exchange dials the socket afresh (dpclient.c), so a restarted data plane
 * is simply reached again on the next one. */
#include "dp_link.h"

#include <stdio.h>
#include <stdlib.h>

#include "dpclient.h"

struct local {
	char path[128];
};

static int local_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			       size_t n, bool *ok, char *err, size_t errlen)
{
	return rv_dpclient_exchange_each(((struct local *)l->impl)->path, reqs, n, ok, err, errlen);
}

static Roomvpn__Dataplane__V1__Response *local_stats(struct rv_dp_link *l, bool sessions, char *err,
						     size_t errlen)
{
	return rv_dpclient_stats(((struct local *)l->impl)->path, sessions, err, errlen);
}

static void local_close(struct rv_dp_link *l)
{
	(void)l; /* nothing held between exchanges */
}

static void local_free(struct rv_dp_link *l)
{
	free(l->impl);
	free(l);
}

static const struct rv_dp_link_ops local_ops = {
    .exchange_each = local_exchange_each,
    .stats = local_stats,
    .close = local_close,
    .free = local_free,
};

struct rv_dp_link *rv_dp_link_local(const char *sock_path)
{
	struct rv_dp_link *l = calloc(1, sizeof(*l));
	struct local *impl = calloc(1, sizeof(*impl));
	if (!l || !impl) {
		free(l);
		free(impl);
		return NULL;
	}
	snprintf(impl->path, sizeof(impl->path), "%s", sock_path);
	snprintf(l->describe, sizeof(l->describe), "unix:%s", sock_path);
	l->ops = &local_ops;
	l->impl = impl;
	l->refs = 1;
	return l;
}

void rv_dp_link_ref(struct rv_dp_link *l)
{
	l->refs++;
}

void rv_dp_link_unref(struct rv_dp_link *l)
{
	if (l && --l->refs == 0)
		l->ops->free(l);
}

int rv_dp_link_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			     size_t n, bool *ok, char *err, size_t errlen)
{
	return l->ops->exchange_each(l, reqs, n, ok, err, errlen);
}

int rv_dp_link_exchange(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			size_t n, char *err, size_t errlen)
{
	bool *ok = calloc(n ? n : 1, sizeof(*ok));
	int rc = ok ? rv_dp_link_exchange_each(l, reqs, n, ok, err, errlen) : -1;

	if (!ok)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!ok[i])
			rc = -1; /* err names the last refused one */
	free(ok);
	return rc;
}

Roomvpn__Dataplane__V1__Response *rv_dp_link_stats(struct rv_dp_link *l, bool sessions, char *err,
						   size_t errlen)
{
	return l->ops->stats(l, sessions, err, errlen);
}

void rv_dp_link_close(struct rv_dp_link *l)
{
	l->ops->close(l);
}
