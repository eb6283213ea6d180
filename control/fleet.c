/* The fleet's registry of data planes and of where rooms live (see
 * fleet.h). */
#include "fleet.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_config.h"
#include "log.h"
#include "store.h"
#include "store_keys.h"
#include "roomvpn/v1/room_store.pb-c.h"

_Static_assert(sizeof(((struct rv_dp_info *)0)->name) ==
		       sizeof(((struct rv_control_dp *)0)->name) &&
		   sizeof(((struct rv_dp_info *)0)->udp_endpoint) == RV_CTL_ADDR &&
		   sizeof(((struct rv_dp_info *)0)->labels) ==
		       sizeof(((struct rv_control_dp *)0)->labels),
	       "the configured data plane and struct rv_dp_info have the same field sizes");

struct entry {
	struct rv_dp_info info;
	struct rv_dp_link *link; /* NULL: detached */
	char link_desc[160];
	bool drain, down, heard_once, came_back, probe_ok;
	uint64_t last_heard_ns, last_heard_real_ms, since_ns; /* since: (re)attached */
	uint32_t sessions;
	uint64_t drops;
};

/* A placed room; @from >= 0 while its sessions are still on the source. */
struct placed {
	uint64_t room;
	int slot, from;
	uint64_t due; /* monotonic: the grace ends */
};

static struct {
	pthread_mutex_t mu;
	struct entry e[RV_FLEET_MAX];
	int n;
	struct placed *rooms; /* dense: iterated by the sync thread's passes */
	size_t n_rooms, cap;
	uint32_t *idx; /* open addressing, room -> index in rooms + 1 (0: empty) */
	size_t idx_cap;
	unsigned n_on[RV_FLEET_MAX]; /* rooms per slot */
	struct rv_control *ctl;
} f = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int find_name(const char *name) /* f.mu held */
{
	for (int i = 0; i < f.n; i++)
		if (!strcmp(f.e[i].info.name, name))
			return i;
	return -1;
}

static size_t idx_pos(uint64_t room) /* f.mu held, f.idx_cap > 0 */
{
	size_t mask = f.idx_cap - 1, pos = (size_t)((room * 0x9E3779B97F4A7C15ull) >> 17) & mask;
	while (f.idx[pos] && f.rooms[f.idx[pos] - 1].room != room)
		pos = (pos + 1) & mask;
	return pos;
}

static struct placed *find_room(uint64_t room) /* f.mu held */
{
	if (!f.idx_cap)
		return NULL;
	uint32_t i = f.idx[idx_pos(room)];
	return i ? &f.rooms[i - 1] : NULL;
}

/* Room index and array with room for one more; -1 when out of memory. */
static int grow(void) /* f.mu held */
{
	if (f.n_rooms == f.cap) {
		size_t cap = f.cap ? 2 * f.cap : 64;
		struct placed *r = realloc(f.rooms, cap * sizeof(*r));
		if (!r)
			return -1;
		f.rooms = r;
		f.cap = cap;
	}
	if (2 * (f.n_rooms + 1) <= f.idx_cap)
		return 0;
	size_t cap = f.idx_cap ? 2 * f.idx_cap : 128;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -1;
	free(f.idx);
	f.idx = idx;
	f.idx_cap = cap;
	for (size_t i = 0; i < f.n_rooms; i++)
		f.idx[idx_pos(f.rooms[i].room)] = (uint32_t)i + 1;
	return 0;
}

static void remove_room(struct placed *p) /* f.mu held */
{
	size_t mask = f.idx_cap - 1, hole = idx_pos(p->room), i = (size_t)(p - f.rooms);

	f.n_on[p->slot]--;
	f.idx[hole] = 0; /* backward-shift deletion keeps every probe chain whole */
	for (size_t j = (hole + 1) & mask; f.idx[j]; j = (j + 1) & mask) {
		size_t home =
		    (size_t)((f.rooms[f.idx[j] - 1].room * 0x9E3779B97F4A7C15ull) >> 17) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			f.idx[hole] = f.idx[j];
			f.idx[j] = 0;
			hole = j;
		}
	}
	if (i != --f.n_rooms) { /* the last one takes its place */
		f.rooms[i] = f.rooms[f.n_rooms];
		f.idx[idx_pos(f.rooms[i].room)] = (uint32_t)i + 1;
	}
}

static unsigned rooms_on(int slot) /* f.mu held */
{
	return f.n_on[slot];
}

static enum rv_fleet_state state(int slot) /* f.mu held */
{
	const struct entry *e = &f.e[slot];
	if (e->down)
		return RV_FLEET_DOWN;
	if (e->drain)
		return rooms_on(slot) ? RV_FLEET_DRAINING : RV_FLEET_DRAINED;
	return RV_FLEET_UP;
}

int rv_fleet_attach(struct rv_control *ctl, const struct rv_dp_info *info, struct rv_dp_link *link,
		    char *err, size_t errlen)
{
	uint64_t now = rv_control_now_mono();

	if (!rv_fleet_name_valid(info->name)) {
		snprintf(err, errlen, "data plane name '%s' is not 1..63 of [A-Za-z0-9._-]",
			 info->name);
		return -1;
	}
	pthread_mutex_lock(&f.mu);
	f.ctl = ctl;
	int slot = find_name(info->name);
	if (slot < 0 && f.n == RV_FLEET_MAX) {
		pthread_mutex_unlock(&f.mu);
		snprintf(err, errlen, "the fleet is full (%d data planes)", RV_FLEET_MAX);
		return -1;
	}
	if (slot < 0) {
		slot = f.n++;
		f.e[slot] = (struct entry){.down = false};
	}
	struct entry *e = &f.e[slot];
	struct rv_dp_link *old = e->link;
	bool was_down = e->down || (old == NULL && e->heard_once);
	e->info = *info;
	rv_dp_link_ref(link);
	e->link = link;
	snprintf(e->link_desc, sizeof(e->link_desc), "%s", link->describe);
	e->since_ns = now;
	e->last_heard_ns = now; /* DOWN only after dataplane_down_after without an answer */
	e->came_back = was_down || (old && old != link && e->heard_once);
	pthread_mutex_unlock(&f.mu);
	rv_dp_link_unref(old);
	rv_log(RV_LOG_NOTICE, "data plane %s attached over %s (udp %s, tcp %s, labels '%s')",
	       info->name, link->describe, info->udp_endpoint, info->tcp_endpoint, info->labels);
	return 0;
}

void rv_fleet_detach(struct rv_control *ctl, const char *name, struct rv_dp_link *link,
		     const char *why)
{
	struct rv_dp_link *gone = NULL;

	(void)ctl;
	pthread_mutex_lock(&f.mu);
	int slot = find_name(name);
	if (slot >= 0 && (!link || f.e[slot].link == link)) {
		gone = f.e[slot].link;
		f.e[slot].link = NULL;
	}
	pthread_mutex_unlock(&f.mu);
	if (gone)
		rv_log(RV_LOG_WARN,
		       "data plane %s: link %s broke: %s (down after %" PRIu64 " ms "
		       "unless it comes back)",
		       name, gone->describe, why, ctl ? ctl->cfg.dp_down_after_ns / 1000000 : 0);
	rv_dp_link_unref(gone);
}

void rv_fleet_on_up(void *arg, struct rv_dp_link *l, const struct rv_dp_info *info)
{
	char err[256];
	if (rv_fleet_attach(arg, info, l, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "data plane %s refused: %s", info->name, err);
		rv_dp_link_close(l);
	}
}

void rv_fleet_on_down(void *arg, struct rv_dp_link *l, const char *why)
{
	char name[RV_DP_NAME_MAX] = "";

	pthread_mutex_lock(&f.mu);
	for (int i = 0; i < f.n; i++)
		if (f.e[i].link == l)
			snprintf(name, sizeof(name), "%s", f.e[i].info.name);
	pthread_mutex_unlock(&f.mu);
	if (name[0])
		rv_fleet_detach(arg, name, l, why);
}

int rv_fleet_slots(void)
{
	pthread_mutex_lock(&f.mu);
	int n = f.n;
	pthread_mutex_unlock(&f.mu);
	return n;
}

struct rv_dp_link *rv_fleet_link(int slot)
{
	pthread_mutex_lock(&f.mu);
	struct rv_dp_link *l = slot >= 0 && slot < f.n ? f.e[slot].link : NULL;
	if (l)
		rv_dp_link_ref(l);
	pthread_mutex_unlock(&f.mu);
	return l;
}

enum rv_fleet_heard rv_fleet_heard(struct rv_control *ctl, int slot, bool ok, uint32_t sessions,
				   uint64_t drops)
{
	uint64_t now = rv_control_now_mono();
	enum rv_fleet_heard r = RV_FLEET_NOTHING;
	char name[RV_DP_NAME_MAX];

	pthread_mutex_lock(&f.mu);
	struct entry *e = &f.e[slot];
	snprintf(name, sizeof(name), "%s", e->info.name);
	if (ok) {
		/* the first answer after a control-plane start is adopted
		 * (dp_poll.c), not resynced */
		if ((e->down || e->came_back) && e->heard_once)
			r = RV_FLEET_CAME_BACK;
		e->down = false;
		e->came_back = false;
		e->probe_ok = false;
		e->heard_once = true;
		e->last_heard_ns = now;
		e->last_heard_real_ms = rv_control_now_real() / 1000000;
		e->sessions = sessions;
		e->drops = drops;
	} else if (!e->down && now - e->last_heard_ns >= ctl->cfg.dp_down_after_ns) {
		e->down = true;
		e->sessions = 0;
		r = RV_FLEET_WENT_DOWN;
	}
	pthread_mutex_unlock(&f.mu);
	if (r == RV_FLEET_WENT_DOWN)
		rv_log(RV_LOG_WARN, "data plane %s is DOWN: not heard from for %" PRIu64 " ms",
		       name, ctl->cfg.dp_down_after_ns / 1000000);
	else if (r == RV_FLEET_CAME_BACK)
		rv_log(RV_LOG_NOTICE, "data plane %s is back: resyncing it", name);
	return r;
}

bool rv_fleet_probe_wanted(int slot)
{
	pthread_mutex_lock(&f.mu);
	bool want = slot < f.n && f.e[slot].down && !f.e[slot].probe_ok;
	pthread_mutex_unlock(&f.mu);
	return want;
}

void rv_fleet_probe_answered(int slot)
{
	pthread_mutex_lock(&f.mu);
	if (slot < f.n)
		f.e[slot].probe_ok = true;
	pthread_mutex_unlock(&f.mu);
}

bool rv_fleet_first_read(int slot)
{
	pthread_mutex_lock(&f.mu);
	bool first = !f.e[slot].heard_once;
	pthread_mutex_unlock(&f.mu);
	return first;
}

enum rv_fleet_state rv_fleet_state_of(int slot)
{
	pthread_mutex_lock(&f.mu);
	enum rv_fleet_state s = slot >= 0 && slot < f.n ? state(slot) : RV_FLEET_DOWN;
	pthread_mutex_unlock(&f.mu);
	return s;
}

const char *rv_fleet_name_of(int slot, char *out, size_t len)
{
	pthread_mutex_lock(&f.mu);
	snprintf(out, len, "%s", slot >= 0 && slot < f.n ? f.e[slot].info.name : "");
	pthread_mutex_unlock(&f.mu);
	return out;
}

/* ---- Rooms ------------------------------------------------------------------ */

int rv_fleet_room_slot(uint64_t room)
{
	pthread_mutex_lock(&f.mu);
	struct placed *p = find_room(room);
	int slot = p ? p->slot : -1;
	pthread_mutex_unlock(&f.mu);
	return slot;
}

int rv_fleet_room_source(uint64_t room)
{
	pthread_mutex_lock(&f.mu);
	struct placed *p = find_room(room);
	int from = p ? p->from : -1;
	pthread_mutex_unlock(&f.mu);
	return from;
}

void rv_fleet_room_note(uint64_t room, const char *name, int from)
{
	uint64_t grace = f.ctl ? f.ctl->cfg.dp_move_grace_ns : 10000000000ull;

	pthread_mutex_lock(&f.mu);
	int slot = name[0] ? find_name(name) : -1;
	struct placed *p = find_room(room);
	if (p && slot < 0) { /* forgotten (deleted, or its data plane unknown) */
		remove_room(p);
	} else if (slot >= 0 && (p || grow() == 0)) {
		if (p) {
			f.n_on[p->slot]--;
		} else {
			f.idx[idx_pos(room)] = (uint32_t)(f.n_rooms + 1);
			p = &f.rooms[f.n_rooms++];
		}
		*p = (struct placed){
		    .room = room, .slot = slot, .from = from, .due = rv_control_now_mono() + grace};
		f.n_on[slot]++;
	}
	pthread_mutex_unlock(&f.mu);
}

size_t rv_fleet_grace_due(uint64_t now, uint64_t *out, int *from, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&f.mu);
	for (size_t i = 0; i < f.n_rooms && n < max; i++)
		if (f.rooms[i].from >= 0 && now >= f.rooms[i].due) {
			out[n] = f.rooms[i].room;
			from[n++] = f.rooms[i].from;
			f.rooms[i].from = -1;
		}
	pthread_mutex_unlock(&f.mu);
	return n;
}

uint64_t rv_fleet_room_of_slot(int slot)
{
	uint64_t room = 0;

	pthread_mutex_lock(&f.mu);
	for (size_t i = 0; i < f.n_rooms && !room; i++)
		if (f.rooms[i].slot == slot)
			room = f.rooms[i].room;
	pthread_mutex_unlock(&f.mu);
	return room;
}

/* ---- Placement ------------------------------------------------------------- */

int rv_fleet_pick(const char *placement, int except, char *name, size_t len, char *msg,
		  size_t msglen)
{
	int best = -1;
	double best_load = 0;
	unsigned best_rooms = 0;

	pthread_mutex_lock(&f.mu);
	for (int i = 0; i < f.n; i++) {
		const struct entry *e = &f.e[i];
		if (i == except || state(i) != RV_FLEET_UP || !e->heard_once ||
		    !rv_fleet_labels_match(e->info.labels, placement ? placement : ""))
			continue;
		double load =
		    (double)e->sessions / (e->info.max_sessions ? e->info.max_sessions : 1000000.0);
		unsigned rooms = rooms_on(i);
		if (best < 0 || load < best_load || (load == best_load && rooms < best_rooms)) {
			best = i;
			best_load = load;
			best_rooms = rooms;
		}
	}
	if (best >= 0)
		snprintf(name, len, "%s", f.e[best].info.name);
	int n = f.n;
	pthread_mutex_unlock(&f.mu);
	if (best < 0)
		snprintf(msg, msglen,
			 placement && placement[0]
			     ? "no data plane that is up and not drained has the labels '%s' "
			       "(roomvpn admin dataplanes lists them)"
			     : "no data plane is up and not drained%s (of %d known)",
			 placement && placement[0] ? placement : "", n);
	return best;
}

bool rv_fleet_endpoints(const char *name, char *udp, size_t udplen, char *tcp, size_t tcplen)
{
	pthread_mutex_lock(&f.mu);
	int slot = find_name(name);
	if (slot >= 0) {
		snprintf(udp, udplen, "%s", f.e[slot].info.udp_endpoint);
		snprintf(tcp, tcplen, "%s", f.e[slot].info.tcp_endpoint);
	}
	pthread_mutex_unlock(&f.mu);
	return slot >= 0;
}

/* ---- Admin ---------------------------------------------------------------- */

static void view(int slot, struct rv_fleet_view *v) /* f.mu held */
{
	const struct entry *e = &f.e[slot];
	*v =
	    (struct rv_fleet_view){.info = e->info,
				   .state = state(slot),
				   .sessions = e->sessions,
				   .rooms = rooms_on(slot),
				   .drops = e->drops,
				   .last_heard_unix_ms = e->heard_once ? e->last_heard_real_ms : 0};
	v->last_heard_age_ns = e->heard_once ? rv_control_now_mono() - e->last_heard_ns : 0;
	snprintf(v->link, sizeof(v->link), "%s", e->link ? e->link_desc : "");
}

size_t rv_fleet_list(struct rv_fleet_view *out, size_t max)
{
	pthread_mutex_lock(&f.mu);
	size_t n = 0;
	for (int i = 0; i < f.n && n < max; i++)
		view(i, &out[n++]);
	pthread_mutex_unlock(&f.mu);
	return n;
}

int rv_fleet_set_drain(const char *name, bool drain, struct rv_fleet_view *out)
{
	pthread_mutex_lock(&f.mu);
	int slot = find_name(name);
	if (slot >= 0) {
		f.e[slot].drain = drain;
		view(slot, out);
	}
	pthread_mutex_unlock(&f.mu);
	if (slot >= 0)
		rv_log(RV_LOG_NOTICE, "data plane %s %s", name,
		       drain ? "draining: its rooms move to other data planes"
			     : "undrained: back in placement");
	return slot < 0;
}

static void (*_Atomic wake_fn)(void);

void rv_fleet_set_wake(void (*fn)(void))
{
	wake_fn = fn;
}

void rv_fleet_wake(void)
{
	void (*fn)(void) = wake_fn;
	if (fn)
		fn();
}

/* ---- Start ------------------------------------------------------------------ */

static int room_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg, (void)k, (void)kl;
	Roomvpn__V1__RoomRecord *r = roomvpn__v1__room_record__unpack(NULL, vl, v);
	if (r && r->dataplane && r->dataplane[0])
		rv_fleet_room_note(r->id, r->dataplane, -1);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return 0;
}

int rv_fleet_init(struct rv_control *ctl, char *err, size_t errlen)
{
	struct rv_control_dp dps[RV_FLEET_MAX];
	size_t n = rv_fleet_config_local(&ctl->cfg, dps, RV_FLEET_MAX);

	f.ctl = ctl;
	for (size_t i = 0; i < n; i++) {
		struct rv_dp_info info = {0};
		/* same sizes (control.h, dp_link.h) */
		memcpy(info.name, dps[i].name, sizeof(info.name));
		memcpy(info.udp_endpoint, dps[i].udp, sizeof(info.udp_endpoint));
		memcpy(info.tcp_endpoint, dps[i].tcp, sizeof(info.tcp_endpoint));
		memcpy(info.labels, dps[i].labels, sizeof(info.labels));
		struct rv_dp_link *l = rv_dp_link_local(dps[i].agent);
		int rc = l ? rv_fleet_attach(ctl, &info, l, err, errlen) : -1;
		if (!l)
			snprintf(err, errlen, "out of memory");
		rv_dp_link_unref(l);
		if (rc < 0)
			return -1;
	}
	/* rooms live where their records say (a data plane not configured
	 * and not yet attached: placed again at the next Bootstrap) */
	if (ctl->store)
		rv_store_scan_prefix(ctl->store, RV_KEY_ROOM_BY_ID_PREFIX, 2, NULL, 0, room_cb,
				     NULL);
	return 0;
}

void rv_fleet_fini(void)
{
	pthread_mutex_lock(&f.mu);
	for (int i = 0; i < f.n; i++) {
		rv_dp_link_unref(f.e[i].link);
		f.e[i].link = NULL;
	}
	f.n = 0;
	free(f.rooms), free(f.idx);
	f.rooms = NULL;
	f.idx = NULL;
	f.n_rooms = f.cap = f.idx_cap = 0;
	memset(f.n_on, 0, sizeof(f.n_on));
	pthread_mutex_unlock(&f.mu);
}
