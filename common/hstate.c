/* The health state file: layout checks, latched reads and writes. */
#include "common/hstate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/mapguard.h"
#include "common/mem.h"

struct hstate_writer {
    hstate_view_t view;
    hstate_header_t *h;
    hstate_entry_t *e;
    void *mem;
    size_t len;
    int guard; /* slot in the fault guard */
    char *path;
    dev_t dev;
    ino_t ino;
};

static uint64_t header_check(const hstate_header_t *h)
{
    const unsigned char *p = (const unsigned char *)h;
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < offsetof(hstate_header_t, check); i++)
        x = (x ^ p[i]) * 0x100000001b3ull;
    return x;
}

int64_t hstate_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hstate_now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hstate_view_init(hstate_view_t *v, const void *mem, size_t len, gs_err_t *err)
{
    memset(v, 0, sizeof(*v));
    const hstate_header_t *h = mem;
    if (len < sizeof(*h))
        return gs_err_set(err, GS_EINVAL, "%zu bytes, shorter than the %zu-byte header", len,
                          sizeof(*h));
    if (memcmp(h->magic, HSTATE_MAGIC, 8) != 0)
        return gs_err_set(err, GS_EINVAL, "not a geosteer health state file (bad magic)");
    if (h->layout != HSTATE_LAYOUT)
        return gs_err_set(err, GS_EINVAL, "layout version %u, this build reads %u", h->layout,
                          HSTATE_LAYOUT);
    if (h->header_size != sizeof(hstate_header_t) || h->entry_size != sizeof(hstate_entry_t))
        return gs_err_set(err, GS_EINVAL, "header/entry sizes %u/%u, expected %zu/%zu",
                          h->header_size, h->entry_size, sizeof(hstate_header_t),
                          sizeof(hstate_entry_t));
    if (header_check(h) != h->check)
        return gs_err_set(err, GS_EINVAL, "header checksum mismatch");
    if (h->nentries > HSTATE_MAX_ENTRIES)
        return gs_err_set(err, GS_EINVAL, "%u entries, more than the limit %u", h->nentries,
                          HSTATE_MAX_ENTRIES);
    size_t want = sizeof(*h) + (size_t)h->nentries * sizeof(hstate_entry_t);
    if (len != want)
        return gs_err_set(err, GS_EINVAL, "%zu bytes, expected %zu for %u entries", len, want,
                          h->nentries);
    v->h = h;
    v->e = (const hstate_entry_t *)(h + 1);
    v->n = h->nentries;
    return 0;
}

int hstate_read(const hstate_view_t *v, size_t i, hstate_value_t *out)
{
    /* The entry lives in memory another process writes; reading it through
     * a const pointer is the point. The atomics are read-only here. */
    hstate_entry_t *e = (hstate_entry_t *)(uintptr_t)&v->e[i];
    for (int tries = 0; tries < HSTATE_READ_RETRIES; tries++) {
        uint32_t s = atomic_load_explicit(&e->seq, memory_order_acquire);
        memcpy(out, &e->copy[s & 1], sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s) {
            out->error[HSTATE_ERROR_LEN - 1] = '\0';
            if (out->state > HSTATE_DOWN)
                out->state = HSTATE_UNKNOWN;
            return 0;
        }
    }
    memset(out, 0, sizeof(*out)); /* UNKNOWN, no error text */
    return GS_ECONFLICT;
}

int64_t hstate_heartbeat(const hstate_view_t *v)
{
    hstate_header_t *h = (hstate_header_t *)(uintptr_t)v->h;
    return atomic_load_explicit(&h->heartbeat_mono_ms, memory_order_acquire);
}

int hstate_map(const char *path, hstate_map_t **out, gs_err_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gs_err_set(err, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return gs_err_set(err, rc, "%s: %s", path, strerror(-rc));
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(hstate_header_t) ||
        st.st_size > (off_t)(sizeof(hstate_header_t) +
                             (size_t)HSTATE_MAX_ENTRIES * sizeof(hstate_entry_t))) {
        close(fd);
        return gs_err_set(err, GS_EINVAL, "%s: not a regular file of a plausible size (%lld)", path,
                          (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    void *mem = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED)
        return gs_err_set(err, -errno, "%s: mmap: %s", path, strerror(errno));
    hstate_map_t *m = mem_calloc(1, sizeof(*m));
    m->mem = mem;
    m->len = len;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    /* Guarded before the first access: the file may shrink at any time. */
    m->guard = mapguard_add(mem, len, PROT_READ);
    if (m->guard < 0) {
        int rc = m->guard;
        hstate_unmap(m);
        return gs_err_set(err, rc, "%s: cannot guard the mapping: %s", path, gs_strerror(rc));
    }
    gs_err_t why;
    if (hstate_view_init(&m->view, mem, len, &why) != 0) {
        hstate_unmap(m);
        return gs_err_set(err, GS_EINVAL, "%s: %s", path, why.text);
    }
    *out = m;
    return 0;
}

void hstate_unmap(hstate_map_t *m)
{
    if (!m)
        return;
    mapguard_del(m->guard);
    munmap(m->mem, m->len);
    free(m);
}

bool hstate_map_faulted(const hstate_map_t *m)
{
    return mapguard_faulted(m->guard);
}

int hstate_create(const char *path, uint64_t generation, uint32_t heartbeat_ms, const uint64_t *ids,
                  const hstate_value_t *init, size_t n, hstate_writer_t **out, gs_err_t *err)
{
    *out = NULL;
    if (n > HSTATE_MAX_ENTRIES)
        return gs_err_set(err, GS_ETOOBIG, "%zu checks, more than the limit %u", n,
                          HSTATE_MAX_ENTRIES);
    size_t len = sizeof(hstate_header_t) + n * sizeof(hstate_entry_t);
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return gs_err_set(err, GS_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return gs_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    int rc = 0, guard = -1;
    void *mem = MAP_FAILED;
    /* Blocks reserved, not just a size: a sparse file on a full file
     * system maps fine and then faults (SIGBUS) at the first store. */
    int fe = posix_fallocate(fd, 0, (off_t)len);
    if (fe != 0) {
        rc = gs_err_set(err, -fe, "%s: cannot reserve %zu bytes: %s", tmp, len, strerror(fe));
        goto fail;
    }
    mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
        rc = gs_err_set(err, -errno, "%s: mmap: %s", tmp, strerror(errno));
        goto fail;
    }
    guard = mapguard_add(mem, len, PROT_READ | PROT_WRITE);
    if (guard < 0) {
        rc = gs_err_set(err, guard, "%s: cannot guard the mapping: %s", tmp, gs_strerror(guard));
        goto fail;
    }
    hstate_header_t *h = mem;
    memcpy(h->magic, HSTATE_MAGIC, 8);
    h->layout = HSTATE_LAYOUT;
    h->header_size = sizeof(hstate_header_t);
    h->entry_size = sizeof(hstate_entry_t);
    h->nentries = (uint32_t)n;
    h->generation = generation;
    h->writer_pid = (int32_t)getpid();
    h->heartbeat_ms = heartbeat_ms;
    h->writer_start_ms = hstate_now_real_ms();
    h->check = header_check(h);
    hstate_entry_t *e = (hstate_entry_t *)(h + 1);
    for (size_t i = 0; i < n; i++) {
        e[i].id = ids[i];
        if (init) {
            e[i].copy[0] = init[i];
            e[i].copy[1] = init[i];
        }
    }
    atomic_store(&h->heartbeat_real_ms, hstate_now_real_ms());
    atomic_store(&h->heartbeat_mono_ms, hstate_now_mono_ms());
    /* Whole before it becomes visible under its name. */
    if (msync(mem, len, MS_SYNC) != 0 || rename(tmp, path) != 0) {
        rc = gs_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = gs_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    hstate_writer_t *w = mem_calloc(1, sizeof(*w));
    w->mem = mem;
    w->len = len;
    w->guard = guard;
    w->path = mem_strdup(path);
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    w->h = h;
    w->e = e;
    w->view.h = h;
    w->view.e = e;
    w->view.n = n;
    *out = w;
    return 0;
fail:
    mapguard_del(guard);
    if (mem != MAP_FAILED)
        munmap(mem, len);
    close(fd);
    unlink(tmp);
    return rc;
}

/* Writes one copy; with a test hook, in two halves with the hook between. */
static void fill_copy(hstate_value_t *dst, const hstate_value_t *val, hstate_hook_fn hook,
                      void *ctx, int step)
{
    if (!hook) {
        *dst = *val;
        return;
    }
    size_t half = sizeof(*val) / 2;
    memcpy(dst, val, half);
    hook(step, ctx);
    memcpy((char *)dst + half, (const char *)val + half, sizeof(*val) - half);
}

void hstate_write_hooked(hstate_writer_t *w, size_t i, const hstate_value_t *val,
                         hstate_hook_fn hook, void *ctx)
{
    hstate_entry_t *e = &w->e[i];
    /* One writer for the file's whole life (hstate.h), so the counter is
     * even here: no earlier write was left half done. */
    uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    /* Readers move to copy 1 while copy 0 is rewritten... */
    atomic_store_explicit(&e->seq, s + 1, memory_order_release);
    atomic_thread_fence(memory_order_release);
    fill_copy(&e->copy[0], val, hook, ctx, 1);
    /* ...then back to copy 0 while copy 1 catches up. */
    atomic_store_explicit(&e->seq, s + 2, memory_order_release);
    atomic_thread_fence(memory_order_release);
    fill_copy(&e->copy[1], val, hook, ctx, 2);
}

void hstate_write(hstate_writer_t *w, size_t i, const hstate_value_t *val)
{
    hstate_write_hooked(w, i, val, NULL, NULL);
}

void hstate_beat(hstate_writer_t *w)
{
    atomic_store_explicit(&w->h->heartbeat_real_ms, hstate_now_real_ms(), memory_order_relaxed);
    atomic_store_explicit(&w->h->heartbeat_mono_ms, hstate_now_mono_ms(), memory_order_release);
}

const hstate_view_t *hstate_writer_view(const hstate_writer_t *w)
{
    return &w->view;
}

void hstate_writer_close(hstate_writer_t *w)
{
    if (!w)
        return;
    mapguard_del(w->guard);
    munmap(w->mem, w->len);
    free(w->path);
    free(w);
}

int hstate_writer_check(const hstate_writer_t *w, gs_err_t *err)
{
    struct stat st;
    if (stat(w->path, &st) != 0) {
        if (errno == ENOENT)
            return gs_err_set(err, GS_ENOTFOUND, "%s was deleted", w->path);
        return gs_err_set(err, -errno, "%s: %s", w->path, strerror(errno));
    }
    if (st.st_dev != w->dev || st.st_ino != w->ino)
        return gs_err_set(err, GS_ECONFLICT, "%s was replaced by another file", w->path);
    if (mapguard_faulted(w->guard))
        return gs_err_set(err, GS_EINVAL, "%s was truncated under the writer (now %lld bytes)",
                          w->path, (long long)st.st_size);
    if ((size_t)st.st_size != w->len)
        return gs_err_set(err, GS_EINVAL, "%s changed size in place (%lld bytes, written as %zu)",
                          w->path, (long long)st.st_size, w->len);
    return 0;
}
