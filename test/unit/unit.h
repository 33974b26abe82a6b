/* Shared runner for the check unit-test binaries: runs a suite and turns
 * its result into the process exit status ctest reads. */
#ifndef GS_TEST_UNIT_H
#define GS_TEST_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
