/* Fuzz target for the check plan decoder (common/plan.c): any input is
 * either refused with a reason and a zeroed plan, or accepted; an accepted
 * plan must encode to a text that decodes again to the same plan (same
 * checks, labels, settings and generation) and encodes to the same bytes.
 * Never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const plan_t zero;
    plan_t p;
    gs_err_t err;
    err.text[0] = '\0';
    if (plan_decode((const char *)data, size, &p, &err) != 0) {
        if (!err.text[0] || memcmp(&p, &zero, sizeof(p)) != 0)
            abort(); /* refused without a reason, or a half-filled plan left */
        return 0;
    }
    buf_t a;
    buf_init(&a);
    plan_encode(&p, &a);
    plan_t q;
    if (plan_decode(a.data, a.len, &q, &err) != 0)
        abort(); /* we wrote a plan we cannot read */
    if (!plan_same(&p, &q) || q.generation != p.generation)
        abort();
    buf_t b;
    buf_init(&b);
    plan_encode(&q, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort(); /* encoding is not a fixed point */
    buf_free(&b);
    buf_free(&a);
    plan_free(&q);
    plan_free(&p);
    return 0;
}
