/* Shared by the fuzz targets that need zones: a zone store in a new
 * temporary directory holding zone fuzz.test (NS ns1.fuzz.test, serial 1),
 * filled by remote-backend request lines. */
#ifndef GS_TEST_FUZZ_SEED_STORE_H
#define GS_TEST_FUZZ_SEED_STORE_H

#include <stddef.h>

/* Opens the store and sends the `n` lines of `seed` on one connection
 * (typically a transaction adding records). Aborts if the store cannot be
 * opened. The directory is left for the process's lifetime (/tmp). */
void fuzz_seed_store(const char *const *seed, size_t n);

#endif
