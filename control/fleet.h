/* The fleet: every data plane behind this control plane, by name
 * (docs/fleet.md). Each entry holds the data plane's link (dp_link.h), what
 * it announced (struct rv_dp_info), its state and health (last heard,
 * sessions, drops) and the rooms placed on it. Local data planes come from
 * the configuration (fleet_config.h); remote ones attach through the link
 * listener's on_up / on_down (rv_fleet_on_up / rv_fleet_on_down).
 *
 * State: DOWN when not heard from (a failed stats read or exchange, or no
 * link) for dataplane_down_after; else DRAINING / DRAINED once an admin
 * drained it (DRAINED when no room is left on it); else UP. Only UP data
 * planes take rooms (placement.c). The sync thread (dp_sync.c, dp_poll.c)
 * does every exchange; dp_move.c moves the rooms of DRAINING and DOWN
 * data planes away.
 *
 * Slots: an entry keeps its slot (index) for the life of the process, so
 * the sync thread and the per-data-plane cache (dp_cache.h) index by it.
 * The fleet's lock is a leaf: taken after the registry's and the cache's,
 * nothing is called with it held. */
#ifndef RV_FLEET_H
#define RV_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "dp_link.h"

#define RV_FLEET_MAX RV_CTL_DP_MAX

/* Values as proto's DataplaneState. */
enum rv_fleet_state {
	RV_FLEET_UP = 1,
	RV_FLEET_DRAINING = 2,
	RV_FLEET_DRAINED = 3,
	RV_FLEET_DOWN = 4,
};

/* One data plane as List and the metrics show it. */
struct rv_fleet_view {
	struct rv_dp_info info;
	char link[160];
	enum rv_fleet_state state;
	uint64_t last_heard_unix_ms; /* 0: never */
	uint64_t last_heard_age_ns;
	uint32_t sessions, rooms;
	uint64_t drops;
};

/* Reads the rooms' placements from the store and attaches the configured
 * local data planes. 0, or -1 with a message. */
int rv_fleet_init(struct rv_control *ctl, char *err, size_t errlen);
void rv_fleet_fini(void);

/* A data plane came (new, or back after it was down: the sync thread
 * resyncs it, then it is in placement again). @link is referenced. 0, or -1
 * with a message (fleet full, name taken by another live link). */
int rv_fleet_attach(struct rv_control *ctl, const struct rv_dp_info *info, struct rv_dp_link *link,
		    char *err, size_t errlen);
/* Its link broke: DOWN after dataplane_down_after unless it re-attaches.
 * @link: the one that broke (a newer link of the same name is kept). */
void rv_fleet_detach(struct rv_control *ctl, const char *name, struct rv_dp_link *link,
		     const char *why);
/* The link listener's callback shapes (arg: the struct rv_control). */
void rv_fleet_on_up(void *arg, struct rv_dp_link *l, const struct rv_dp_info *info);
void rv_fleet_on_down(void *arg, struct rv_dp_link *l, const char *why);

/* ---- For the sync thread ------------------------------------------------ */

/* Slots in use (0..n-1). */
int rv_fleet_slots(void);
/* Slot @slot's link, referenced (unref it), or NULL (none, or detached). */
struct rv_dp_link *rv_fleet_link(int slot);
/* The outcome of one stats read of @slot: @ok with its session and drop
 * counts. Returns what the caller must do now. */
enum rv_fleet_heard { RV_FLEET_NOTHING, RV_FLEET_CAME_BACK, RV_FLEET_WENT_DOWN };
enum rv_fleet_heard rv_fleet_heard(struct rv_control *ctl, int slot, bool ok, uint32_t sessions,
				   uint64_t drops);
/* A DOWN data plane is not read by the sync thread (a hung one would hold
 * it for the link's timeout each pass) but probed by dp_poll.c's prober
 * thread; once it answered a probe the sync thread reads it again. */
bool rv_fleet_probe_wanted(int slot);
void rv_fleet_probe_answered(int slot);
/* Has @slot been heard from since it (re)attached (adoption runs once)? */
bool rv_fleet_first_read(int slot);
enum rv_fleet_state rv_fleet_state_of(int slot);
const char *rv_fleet_name_of(int slot, char *out, size_t len);

/* ---- Rooms ---------------------------------------------------------------- */

/* The slot room @room lives on, or -1 (not placed / unknown data plane). */
int rv_fleet_room_slot(uint64_t room);
/* The slot a moved room's sessions still are on until the grace ends, or -1. */
int rv_fleet_room_source(uint64_t room);
/* Room @room lives on data plane @name now ("" forgets it); @from: the
 * slot it moved from (-1: none), its sessions there deleted after the grace. */
void rv_fleet_room_note(uint64_t room, const char *name, int from);
/* The moved rooms whose grace ended (up to @max ids into @out, each with
 * its source slot), forgotten as sources. */
size_t rv_fleet_grace_due(uint64_t now, uint64_t *out, int *from, size_t max);
/* The first room of @slot (0: none). */
uint64_t rv_fleet_room_of_slot(int slot);

/* ---- Placement (least loaded UP data plane matching @placement) ----------- */

/* The slot, its name in @name, or -1 with a message when none matches. */
int rv_fleet_pick(const char *placement, int except, char *name, size_t len, char *msg,
		  size_t msglen);
/* The endpoints of data plane @name: false if unknown. */
bool rv_fleet_endpoints(const char *name, char *udp, size_t udplen, char *tcp, size_t tcplen);

/* ---- Admin -------------------------------------------------------------- */

/* Who runs the moves (the sync thread: dp_sync.c installs @fn, NULL when
 * it stops) is woken for a pass now (a drain was asked for). */
void rv_fleet_set_wake(void (*fn)(void));
void rv_fleet_wake(void);

size_t rv_fleet_list(struct rv_fleet_view *out, size_t max);
/* Drain (@drain) or undrain data plane @name: 0 and its view, 1 unknown. */
int rv_fleet_set_drain(const char *name, bool drain, struct rv_fleet_view *out);

#endif
