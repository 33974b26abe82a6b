#include "backend/zones/snap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/dns/dname.h"
#include "common/log.h"
#include "common/mem.h"

struct snap_slot {
    _Atomic(const snap_t *) hazard;
    bool used; /* guarded by slot_lock */
};

static _Atomic(snap_t *) current;
static snap_slot_t slots[SNAP_MAX_READERS];
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t slots_hwm; /* highest slot index ever used + 1; guarded by slot_lock */

/* Snapshots replaced but possibly still pinned. Writer-only. */
static snap_t **retired;
static size_t nretired, retired_cap;

static snap_t *snap_alloc(size_t nzones)
{
    snap_t *s = mem_calloc(1, sizeof(*s));
    s->nzones = nzones;
    s->zones = mem_calloc(nzones, sizeof(zone_t *));
    return s;
}

static void snap_index(snap_t *s)
{
    htab_init(&s->byname, s->nzones);
    for (size_t i = 0; i < s->nzones; i++)
        htab_add(&s->byname, dname_hash(s->zones[i]->name, s->zones[i]->name_len), (uint32_t)i);
}

snap_world_t *snap_world_new(snap_engine_t *engine, uint8_t *state, int64_t *until, size_t n)
{
    snap_world_t *w = mem_calloc(1, sizeof(*w));
    w->engine = engine;
    engine->refs++;
    w->steer = engine->steer;
    w->geo = engine->geo;
    w->asn = engine->asn;
    w->admin.state = state;
    w->admin.until = until;
    w->admin.n = n;
    w->health = health_view_new(&engine->checks);
    w->admin.down = health_endpoint_down;
    w->admin.down_ctx = w->health;
    return w;
}

static void world_release(snap_world_t *w)
{
    if (--w->refs > 0)
        return;
    snap_engine_t *e = w->engine;
    if (--e->refs == 0) {
        steer_stats_free(e->stats);
        steer_free(e->steer);
        health_checks_free(&e->checks);
        geo_db_close(e->geo);
        geo_db_close(e->asn);
        free(e);
    }
    health_view_release(w->health);
    free((void *)(uintptr_t)w->admin.state);
    free((void *)(uintptr_t)w->admin.until);
    free(w);
}

static void snap_release(snap_t *s)
{
    world_release(s->world);
    for (size_t i = 0; i < s->nzones; i++)
        if (--s->zones[i]->refs == 0)
            zone_free(s->zones[i]);
    free(s->zones);
    htab_free(&s->byname);
    free(s);
}

void snap_init(void)
{
    snap_t *s = snap_alloc(0);
    snap_index(s);
    snap_world_t *w = snap_world_new(mem_calloc(1, sizeof(snap_engine_t)), NULL, NULL, 0);
    w->refs = 1;
    s->world = w;
    atomic_store(&current, s);
}

void snap_shutdown(void)
{
    snap_t *s = atomic_exchange(&current, NULL);
    if (s)
        snap_release(s);
    for (size_t i = 0; i < nretired; i++)
        snap_release(retired[i]);
    free(retired);
    retired = NULL;
    nretired = retired_cap = 0;
}

snap_slot_t *snap_slot_get(void)
{
    snap_slot_t *slot = NULL;
    pthread_mutex_lock(&slot_lock);
    for (size_t i = 0; i < SNAP_MAX_READERS; i++) {
        if (!slots[i].used) {
            slots[i].used = true;
            slot = &slots[i];
            if (i + 1 > slots_hwm)
                slots_hwm = i + 1;
            break;
        }
    }
    pthread_mutex_unlock(&slot_lock);
    return slot;
}

void snap_slot_put(snap_slot_t *slot)
{
    if (!slot)
        return;
    atomic_store(&slot->hazard, NULL);
    pthread_mutex_lock(&slot_lock);
    slot->used = false;
    pthread_mutex_unlock(&slot_lock);
}

const snap_t *snap_pin(snap_slot_t *slot)
{
    const snap_t *s = atomic_load(&current);
    for (;;) {
        atomic_store(&slot->hazard, s);
        /* Seq-cst store then load: if `current` still holds s, the writer's
         * later scan of the slots is guaranteed to see our hazard. */
        const snap_t *again = atomic_load(&current);
        if (again == s)
            return s;
        s = again;
    }
}

void snap_unpin(snap_slot_t *slot)
{
    atomic_store_explicit(&slot->hazard, NULL, memory_order_release);
}

const snap_t *snap_current(void)
{
    return atomic_load(&current);
}

static bool pinned(const snap_t *s)
{
    pthread_mutex_lock(&slot_lock);
    size_t hwm = slots_hwm;
    pthread_mutex_unlock(&slot_lock);
    for (size_t i = 0; i < hwm; i++)
        if (atomic_load(&slots[i].hazard) == s)
            return true;
    return false;
}

/* Frees retired snapshots that no reader pins any more. Writer-only. When
 * something was freed, returns the freed heap to the system: an engine over a
 * country database is tens of MiB, and without the trim a reload would leave
 * the process at twice its steady size. */
static void reclaim(void)
{
    size_t keep = 0, freed = 0;
    for (size_t i = 0; i < nretired; i++) {
        if (pinned(retired[i])) {
            retired[keep++] = retired[i];
        } else {
            snap_release(retired[i]);
            freed++;
        }
    }
    nretired = keep;
    if (freed)
        malloc_trim(0);
}

void snap_reclaim(void)
{
    /* Readers pin for microseconds (a `list` for longer): retry briefly, and
     * leave the rest to the next call. */
    for (int i = 0; i < 20 && nretired; i++) {
        reclaim();
        if (nretired)
            usleep(1000);
    }
}

static void publish(snap_t *old, snap_t *s, snap_world_t *w);

void snap_replace_zone(int64_t id, zone_t *z)
{
    snap_t *old = atomic_load(&current);
    size_t n = old->nzones + 1;
    snap_t *s = snap_alloc(n);
    size_t k = 0;
    bool placed = false;
    for (size_t i = 0; i < old->nzones; i++) {
        zone_t *oz = old->zones[i];
        if (!placed && oz->id >= id) {
            if (z)
                s->zones[k++] = z;
            placed = true;
            if (oz->id == id)
                continue;
        }
        s->zones[k++] = oz;
    }
    if (!placed && z)
        s->zones[k++] = z;
    s->nzones = k;
    publish(old, s, old->world);
}

void snap_replace_world(snap_world_t *w)
{
    snap_t *old = atomic_load(&current);
    snap_t *s = snap_alloc(old->nzones);
    memcpy(s->zones, old->zones, old->nzones * sizeof(zone_t *));
    publish(old, s, w);
}

/* Takes references on the zones and world of `s`, publishes it in place of
 * `old` and retires `old`. Writer-only. */
static void publish(snap_t *old, snap_t *s, snap_world_t *w)
{
    for (size_t i = 0; i < s->nzones; i++)
        s->zones[i]->refs++;
    w->refs++;
    s->world = w;
    snap_index(s);
    s->gen = old->gen + 1;

    atomic_store(&current, s);
    if (nretired == retired_cap) {
        retired_cap = retired_cap ? retired_cap * 2 : 8;
        retired = mem_realloc_n(retired, retired_cap, sizeof(*retired));
    }
    retired[nretired++] = old;
    snap_reclaim();
}

const zone_t *snap_zone_by_id(const snap_t *s, int64_t id)
{
    size_t lo = 0, hi = s->nzones;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->zones[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nzones && s->zones[lo]->id == id ? s->zones[lo] : NULL;
}

const zone_t *snap_zone_by_name(const snap_t *s, const char *name, size_t len)
{
    uint32_t i;
    for (size_t k = htab_start(&s->byname, dname_hash(name, len));
         (i = htab_next(&s->byname, &k)) != HTAB_END;) {
        const zone_t *z = s->zones[i];
        if (z->name_len == len && memcmp(z->name, name, len) == 0)
            return z;
    }
    return NULL;
}

const zone_t *snap_zone_for(const snap_t *s, const char *name, size_t len)
{
    size_t off = 0;
    for (;;) {
        const zone_t *z = snap_zone_by_name(s, name + off, len - off);
        if (z)
            return z;
        int p = dname_parent(name + off, len - off);
        if (p < 0)
            return NULL;
        off += (size_t)p;
    }
}
