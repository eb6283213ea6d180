/* The link interface's common part and the local unix-socket link: each
 * exchange dials the socket afresh (dpclient.c), so a restarted data plane
 * is simply reached again on the next one. */
#include "dp_link.h"

#include <stdio.h>
#include <stdlib.h>

#include "dp_owner.h"
#include "dpclient.h"

struct local {
	char path[128];
};

static int local_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			       size_t n, bool *ok, char *err, size_t errlen)
{
	return rv_dpclient_exchange_each(((struct local *)l->impl)->path, reqs, n, ok, err, errlen);
}

static Roomvpn__Dataplane__V1__Response *local_stats(struct rv_dp_link *l,
						     const Roomvpn__Dataplane__V1__ReadStats *ask,
						     uint64_t fence, char *err, size_t errlen)
{
	return rv_dpclient_read_stats(((struct local *)l->impl)->path, ask, fence, err, errlen);
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

/* True with the fence to send while this replica drives the data planes. */
static bool owner_gate(uint64_t *fence, char *err, size_t errlen)
{
	char who[256];

	if (rv_dp_owner_is_me()) {
		*fence = rv_dp_owner_fence();
		return true;
	}
	rv_dp_owner_holder(who, sizeof(who));
	snprintf(err, errlen,
		 "not sent: this control replica does not drive the data planes now (owner: %s)",
		 who[0] ? who : "being elected");
	return false;
}

int rv_dp_link_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			     size_t n, bool *ok, char *err, size_t errlen)
{
	uint64_t fence;

	if (!owner_gate(&fence, err, errlen))
		return -1;
	for (size_t i = 0; i < n; i++)
		reqs[i]->fence = fence;
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
	Roomvpn__Dataplane__V1__ReadStats ask = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	uint64_t fence;
	ask.sessions = sessions;
	if (!owner_gate(&fence, err, errlen))
		return NULL;
	return l->ops->stats(l, &ask, fence, err, errlen);
}

#define PAGE_SESSIONS 8192 /* per page: ~2.5 MB, a few ms for the data plane's agent */

/* Append @p's sessions inside [@from, @to) to @all's (@all == @p: keep
 * only those); the others are freed (a data plane that ignores the range
 * answers every session in every page). @p keeps none. */
static int take_page(Roomvpn__Dataplane__V1__Stats *all, Roomvpn__Dataplane__V1__Stats *p,
		     uint32_t from, uint32_t to)
{
	size_t n = p->n_session, kept = all == p ? 0 : all->n_session;
	Roomvpn__Dataplane__V1__SessionStats **in = p->session;

	if (all != p) {
		void *grown = realloc(all->session, (kept + n + 1) * sizeof(void *));
		if (!grown)
			return -1;
		all->session = grown;
	}
	for (size_t i = 0; i < n; i++) {
		Roomvpn__Dataplane__V1__SessionStats *s = in[i];
		if (s->peer_id >= from && (!to || s->peer_id < to))
			all->session[kept++] = s;
		else
			roomvpn__dataplane__v1__session_stats__free_unpacked(s, NULL);
	}
	all->n_session = kept;
	if (all != p)
		p->n_session = 0;
	return 0;
}

Roomvpn__Dataplane__V1__Response *rv_dp_link_stats_paged(struct rv_dp_link *l, uint32_t expect,
							 char *err, size_t errlen)
{
	uint32_t pages = expect / PAGE_SESSIONS + 1, span = (1u << 24) / pages + 1;
	Roomvpn__Dataplane__V1__ReadStats ask = ROOMVPN__DATAPLANE__V1__READ_STATS__INIT;
	Roomvpn__Dataplane__V1__Response *all = NULL;

	ask.sessions = true;
	for (uint32_t i = 0; i < pages; i++) {
		ask.peer_id_from = i * span;
		ask.peer_id_to = i + 1 == pages ? 0 : (i + 1) * span;
		uint64_t fence;
		Roomvpn__Dataplane__V1__Response *r =
		    owner_gate(&fence, err, errlen) ? l->ops->stats(l, &ask, fence, err, errlen)
						    : NULL;
		if (!r)
			goto fail;
		if (!all)
			all = r; /* the first page carries the counters */
		int rc = take_page(all->stats, r->stats, ask.peer_id_from, ask.peer_id_to);
		if (r != all)
			roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return all;
fail:
	if (all)
		roomvpn__dataplane__v1__response__free_unpacked(all, NULL);
	return NULL;
}

void rv_dp_link_close(struct rv_dp_link *l)
{
	l->ops->close(l);
}
