/* The served state: an immutable snapshot of every zone, published by one
 * atomic pointer swap. Readers (connection threads answering lookups) pin
 * the current snapshot with a hazard slot and never wait; the writer (the
 * thread applying a commit, holding the store's writer lock) builds a new
 * snapshot, publishes it, and frees old ones once no slot points to them.
 *
 * Call order: snap_init at start-up; each reader thread takes a slot with
 * snap_slot_get and releases it with snap_slot_put; snap_publish only under
 * the writer lock; snap_shutdown after every reader thread has exited. */
#ifndef GS_ZONES_SNAP_H
#define GS_ZONES_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "backend/steering/health.h"
#include "backend/steering/steer.h"
#include "backend/steering/steer_stats.h"
#include "backend/zones/zone.h"
#include "common/htab.h"
#include "geo/geodb.h"

/* The compiled config and the GeoIP databases it was built from; shared by
 * every world built on it (a new world per operator override change). */
typedef struct {
    steer_t *steer;         /* owned; NULL when no steering config is loaded */
    geo_db_t *geo, *asn;    /* owned; NULL when not configured */
    health_checks_t checks; /* owned; the health checks of the config */
    steer_stats_t *stats;   /* owned; the metrics label set of `steer` */
    int refs;               /* writer-only */
} snap_engine_t;

/* The steering side of a snapshot: the engine plus the operator overrides
 * compiled against it. Shared by consecutive snapshots until a reload or an
 * override change replaces it. */
typedef struct {
    snap_engine_t *engine; /* owned reference */
    const steer_t *steer;  /* engine->steer, for readers */
    const geo_db_t *geo, *asn;
    steer_admin_t admin;   /* arrays owned by the world; admin.down_ctx is `health` */
    health_view_t *health; /* owned reference; NULL: no health */
    int64_t loaded_at;     /* time of the config load (seconds) */
    unsigned geo_max_age_days;
    int refs; /* writer-only, like zone_t.refs */
} snap_world_t;

/* Writer side: a world over `engine` (a reference is taken) with the given
 * admin arrays (taken over; may be NULL with n 0), refs 0, and a new health
 * view over the engine's checks and the current state file. */
snap_world_t *snap_world_new(snap_engine_t *engine, uint8_t *state, int64_t *until, size_t n);

typedef struct {
    uint64_t gen;
    snap_world_t *world; /* never NULL; read-only for readers */
    size_t nzones;
    zone_t **zones; /* sorted by id */
    htab_t byname;  /* zones by apex name hash */
} snap_t;

typedef struct snap_slot snap_slot_t;

/* Publishes an empty first snapshot. */
void snap_init(void);

/* Frees every snapshot and zone. No reader may be active. */
void snap_shutdown(void);

/* Returns a hazard slot for the calling reader, or NULL when all
 * SNAP_MAX_READERS slots are taken. */
#define SNAP_MAX_READERS 1024
snap_slot_t *snap_slot_get(void);

/* Returns a slot to the pool. Accepts NULL. */
void snap_slot_put(snap_slot_t *slot);

/* Pins and returns the current snapshot for the slot's owner. Wait-free in
 * practice (retries only while a publish races with it). The snapshot stays
 * valid until snap_unpin on the same slot. */
const snap_t *snap_pin(snap_slot_t *slot);

/* Releases the pin taken by snap_pin. */
void snap_unpin(snap_slot_t *slot);

/* Writer side (writer lock held): the current snapshot, no pin needed. */
const snap_t *snap_current(void);

/* Writer side: publishes a snapshot equal to the current one with zone `id`
 * replaced by `z` (added if absent; removed if `z` is NULL). Takes over `z`.
 * Old snapshots and zones are freed when no reader pins them. */
void snap_replace_zone(int64_t id, zone_t *z);

/* Writer side: publishes a snapshot equal to the current one with its
 * world replaced by `w` (taken over; created with refs 0). The old world
 * is freed with the last snapshot using it. */
void snap_replace_world(snap_world_t *w);

/* Writer side: frees replaced snapshots no reader pins any more (retrying
 * for up to ~20 ms). Publishing calls it; the main thread also calls it
 * periodically for snapshots a long reader held. */
void snap_reclaim(void);

/* Finds a zone by id in `s`; borrowed, or NULL. O(log n). */
const zone_t *snap_zone_by_id(const snap_t *s, int64_t id);

/* Finds a zone by canonical apex name in `s`; borrowed, or NULL. O(1). */
const zone_t *snap_zone_by_name(const snap_t *s, const char *name, size_t len);

/* Finds the closest enclosing zone of canonical `name` (longest apex that
 * `name` equals or lies below); borrowed, or NULL. O(labels). */
const zone_t *snap_zone_for(const snap_t *s, const char *name, size_t len);

#endif
