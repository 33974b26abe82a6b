/* Fuzz target for the health state file reader (common/hstate.c): any image
 * is either refused by hstate_view_init with a reason, or accepted with a
 * length that matches its header, and then every entry reads whole with the
 * reader's invariants (state in range, error NUL-terminated); never a crash
 * or a read outside the image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A mapping is page-aligned; malloc's 16 bytes are enough for the view's
     * 8-byte requirement. Exactly `size` bytes, so ASan sees any overrun. */
    void *mem = malloc(size ? size : 1);
    if (!mem)
        abort();
    if (size)
        memcpy(mem, data, size);
    hstate_view_t v;
    gs_err_t err;
    err.text[0] = '\0';
    int rc = hstate_view_init(&v, mem, size, &err);
    if (rc != 0) {
        if (rc != GS_EINVAL || err.text[0] == '\0' || v.h || v.e || v.n)
            abort(); /* refused without saying why, or half-filled */
        free(mem);
        return 0;
    }
    if (v.h != mem || v.n > HSTATE_MAX_ENTRIES || v.n != v.h->nentries ||
        size != sizeof(hstate_header_t) + v.n * sizeof(hstate_entry_t) ||
        (const void *)v.e != (const char *)mem + sizeof(hstate_header_t))
        abort();
    for (size_t i = 0; i < v.n; i++) {
        hstate_value_t val;
        /* Nothing writes this image: the first try always succeeds. */
        if (hstate_read(&v, i, &val) != 0)
            abort();
        if (val.state > HSTATE_DOWN || !memchr(val.error, '\0', sizeof(val.error)))
            abort();
    }
    volatile int64_t hb = hstate_heartbeat(&v);
    (void)hb;
    free(mem);
    return 0;
}
