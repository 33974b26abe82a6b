/* The health state file: the probe -> backend contract (doc/design.md §7).
 *
 * One file in the runtime directory, one writer (geosteer-probe), any number
 * of readers (every geosteerd thread), across processes, without locks:
 *
 *   [hstate_header_t][hstate_entry_t x nentries]
 *
 * The writer creates a complete file under a temporary name (its blocks
 * reserved, so a full file system is an error, not a fault) and renames it
 * into place; it never truncates or resizes a file readers may have mapped.
 * It then updates entries in place. Each entry is
 * published with a latched sequence counter over two copies of its value
 * (Linux's seqcount_latch): while the counter is odd readers use copy 1 and
 * the writer fills copy 0; when it is even readers use copy 0 and the writer
 * fills copy 1. So a reader never sees a torn value, and a writer killed at
 * any instant leaves the copy the counter points to whole (the old or the
 * new value). Readers retry a bounded number of times when the counter moves
 * under them. The header carries a heartbeat the writer refreshes every
 * heartbeat interval; a reader judges the writer alive by its age.
 *
 * A file has one writer for its whole life: the handle hstate_create
 * returned. A new writer (a restarted probe) never resumes an old file; it
 * creates a new one, carrying values over with hstate_read, which is safe
 * whatever instant the old writer died at.
 *
 * Entries are identified by their check id (plan.h), written once at
 * creation; a reader maps ids to entry indexes when it maps the file.
 *
 * Someone else truncating the file in place would make accesses to its
 * mapped pages fault (SIGBUS). Every mapping made here is guarded
 * (common/mapguard.h): a faulting state-file mapping is replaced with zero
 * pages (the access then reads zeros: UNKNOWN entries, heartbeat 0) and
 * flagged; any other SIGBUS goes to the previous disposition. The read path is unchanged (no check,
 * no system call); owners poll hstate_map_faulted / hstate_writer_check
 * about once a second and replace the mapping. A process using this module
 * must not block SIGBUS in threads that read state files.
 *
 * Threads: a writer handle belongs to one thread. Reader handles are
 * immutable after hstate_map and may be read from any thread. Library code:
 * never logs. */
#ifndef GS_COMMON_HSTATE_H
#define GS_COMMON_HSTATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/compiler.h"

#define HSTATE_MAGIC "GSHEALTH" /* 8 bytes, no NUL stored */
#define HSTATE_LAYOUT 1u
#define HSTATE_MAX_ENTRIES 65536u
#define HSTATE_ERROR_LEN 64
#define HSTATE_READ_RETRIES 64

typedef enum {
    HSTATE_UNKNOWN = 0, /* no result yet */
    HSTATE_UP = 1,
    HSTATE_DOWN = 2,
} hstate_state_t;

/* One published value of a check: 96 bytes. Times are CLOCK_REALTIME in
 * milliseconds since the epoch (for people and across reboots). */
typedef struct {
    uint8_t state;                /* hstate_state_t */
    uint8_t last_ok;              /* 1 if the last result was a success */
    uint16_t consecutive;         /* results in a row equal to last_ok */
    uint32_t rtt_us;              /* duration of the last check, microseconds */
    int64_t since_ms;             /* when `state` was entered (0: never) */
    int64_t checked_ms;           /* when the last result arrived (0: never) */
    uint64_t results;             /* results since the check entered the plan */
    char error[HSTATE_ERROR_LEN]; /* cause of the last failure, NUL-terminated */
} hstate_value_t;

typedef struct {
    uint64_t id;          /* check id; constant after creation */
    _Atomic uint32_t seq; /* latch counter: copy[seq & 1] is whole */
    uint32_t reserved;
    hstate_value_t copy[2];
} hstate_entry_t;

typedef struct {
    char magic[8];                     /* HSTATE_MAGIC */
    uint32_t layout;                   /* HSTATE_LAYOUT */
    uint32_t header_size;              /* sizeof(hstate_header_t) */
    uint32_t entry_size;               /* sizeof(hstate_entry_t) */
    uint32_t nentries;                 /* <= HSTATE_MAX_ENTRIES */
    uint64_t generation;               /* plan generation the entries were made for */
    int32_t writer_pid;                /* probe process */
    uint32_t heartbeat_ms;             /* heartbeat interval the writer keeps */
    int64_t writer_start_ms;           /* CLOCK_REALTIME when the writer started */
    uint64_t check;                    /* FNV-1a of the bytes above this field */
    _Atomic int64_t heartbeat_mono_ms; /* CLOCK_MONOTONIC of the last heartbeat */
    _Atomic int64_t heartbeat_real_ms; /* CLOCK_REALTIME of the same heartbeat */
    uint8_t reserved[56];
} hstate_header_t;

_Static_assert(sizeof(hstate_value_t) == 96, "hstate_value_t layout");
_Static_assert(offsetof(hstate_value_t, since_ms) == 8, "hstate_value_t layout");
_Static_assert(offsetof(hstate_value_t, error) == 32, "hstate_value_t layout");
_Static_assert(sizeof(hstate_entry_t) == 208, "hstate_entry_t layout");
_Static_assert(offsetof(hstate_entry_t, seq) == 8, "hstate_entry_t layout");
_Static_assert(offsetof(hstate_entry_t, copy) == 16, "hstate_entry_t layout");
_Static_assert(sizeof(hstate_header_t) == 128, "hstate_header_t layout");
_Static_assert(offsetof(hstate_header_t, check) == 48, "hstate_header_t layout");
_Static_assert(offsetof(hstate_header_t, heartbeat_mono_ms) == 56, "hstate_header_t layout");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && sizeof(_Atomic int64_t) == 8,
               "atomics are plain words");

/* ---- reading: a validated view of a mapped (or any) memory image ---- */

typedef struct {
    const hstate_header_t *h;
    const hstate_entry_t *e;
    size_t n;
} hstate_view_t;

/* Validates `len` bytes at `mem` as a state file (magic, layout, sizes,
 * header checksum, entry count, file length) and fills `v`. `mem` must be
 * 8-byte aligned. Returns 0, or GS_EINVAL with the reason in `err`. */
GS_WARN_UNUSED int hstate_view_init(hstate_view_t *v, const void *mem, size_t len, gs_err_t *err);

/* Copies the current value of entry `i` into `out`. Returns 0, or
 * GS_ECONFLICT if the counter kept moving for HSTATE_READ_RETRIES rounds
 * (`out` is then zeroed: UNKNOWN). Never blocks, no system call. */
int hstate_read(const hstate_view_t *v, size_t i, hstate_value_t *out);

/* The writer's last heartbeat (CLOCK_MONOTONIC ms), one atomic load. */
int64_t hstate_heartbeat(const hstate_view_t *v);

/* A read-only mapping of a state file. */
typedef struct {
    hstate_view_t view;
    void *mem;
    size_t len;
    dev_t dev;
    ino_t ino;
    int guard; /* fault guard slot (hstate.c) */
} hstate_map_t;

/* Maps `path` read-only and validates it. Returns 0 and an owned map in
 * *out, -errno (open/fstat/mmap; -ENOENT when there is no file), or
 * GS_EINVAL for a file that is not a valid state file; reason in `err`. */
GS_WARN_UNUSED int hstate_map(const char *path, hstate_map_t **out, gs_err_t *err);

/* Unmaps. Accepts NULL. The caller guarantees no thread still reads it. */
void hstate_unmap(hstate_map_t *m);

/* True once an access to the mapping faulted because the file shrank under
 * it: from then on it reads as zeros (every entry UNKNOWN). Drop it. One
 * atomic load, any thread. */
bool hstate_map_faulted(const hstate_map_t *m);

/* ---- writing (the probe) ---- */

typedef struct hstate_writer hstate_writer_t;

/* Creates the state file at `path` for `n` checks `ids` of plan
 * `generation`: written under a temporary name in the same directory, then
 * renamed over `path`. `init` gives each entry's starting value (NULL: all
 * UNKNOWN). The file is mode 0644. Its space is reserved before it is
 * mapped (posix_fallocate): a full file system or a file size limit fails
 * here with -ENOSPC / -EFBIG (SIGXFSZ must then be ignored or handled), never
 * later with a fault. Returns 0 and an owned writer, or -errno with the
 * reason in `err`. */
GS_WARN_UNUSED int hstate_create(const char *path, uint64_t generation, uint32_t heartbeat_ms,
                                 const uint64_t *ids, const hstate_value_t *init, size_t n,
                                 hstate_writer_t **out, gs_err_t *err);

/* Publishes `val` as the value of entry `i`. `hook`, for tests only, is
 * called at the given step (1: counter odd, copy 0 half written; 2: counter
 * even, copy 1 half written); pass NULL. */
typedef void (*hstate_hook_fn)(int step, void *ctx);
void hstate_write(hstate_writer_t *w, size_t i, const hstate_value_t *val);
void hstate_write_hooked(hstate_writer_t *w, size_t i, const hstate_value_t *val,
                         hstate_hook_fn hook, void *ctx);

/* Refreshes the heartbeat (two atomic stores). */
void hstate_beat(hstate_writer_t *w);

/* The writer's view (for reading back values it wrote). Borrowed. */
const hstate_view_t *hstate_writer_view(const hstate_writer_t *w);

/* Whether the file at the writer's path is still the whole file this writer
 * created: 0; GS_ENOTFOUND when the path was deleted, GS_ECONFLICT when
 * another file was put there, GS_EINVAL when the file changed size in place
 * or a write faulted since (writes go nowhere); other -errno from stat(2).
 * Reason in `err`. In every non-zero case readers no longer see this
 * writer's values: create a new file (hstate_create) with the values held
 * in memory. One stat(2); call it once per heartbeat. */
GS_WARN_UNUSED int hstate_writer_check(const hstate_writer_t *w, gs_err_t *err);

/* Unmaps and closes; the file stays. Accepts NULL. */
void hstate_writer_close(hstate_writer_t *w);

/* Clock helpers shared by both sides: milliseconds. */
int64_t hstate_now_mono_ms(void);
int64_t hstate_now_real_ms(void);

#endif
