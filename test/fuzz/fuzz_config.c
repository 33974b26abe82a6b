/* Fuzz target for the geosteer.json loader (backend/steering/config.c): any input is
 * either accepted and compiled, or refused with at least one error line;
 * never a crash, a leak or a half-filled cfg_t. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/steering/config.h"
#include "backend/steering/steer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/gs-fuzz-config.%ld.json", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    cfg_t cfg;
    cfg_defaults(&cfg);
    buf_t errors;
    buf_init(&errors);
    int rc = cfg_load(path, &cfg, &errors);
    if (rc != 0 && errors.len == 0)
        abort(); /* refused without saying why */
    if (rc == 0) {
        /* A config the loader accepts must compile into an engine. */
        steer_free(steer_from_cfg(&cfg, NULL, NULL));
    }
    buf_free(&errors);
    cfg_free(&cfg);
    return 0;
}
