/* Unit tests for common/log.c: the stderr format, and the journal format
 * (priority prefix, no timestamp) exactly when JOURNAL_STREAM names the
 * file stderr is. Each test runs in its own process (check's fork mode):
 * the journal decision is taken once per process. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "test/unit/unit.h"

static char path[64];

/* Points stderr at a fresh file and, with `journal`, JOURNAL_STREAM at it
 * (`other`: at a different file, as when a unit's stderr was redirected). */
static void stderr_to_file(bool journal, bool other)
{
    snprintf(path, sizeof(path), "/tmp/gs-log.XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    close(fd);
    struct stat st;
    ck_assert_int_eq(fstat(2, &st), 0);
    char js[64];
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (other ? 1 : 0));
    if (journal)
        setenv("JOURNAL_STREAM", js, 1);
    else
        unsetenv("JOURNAL_STREAM");
}

static char *read_back(void)
{
    fflush(stderr);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

START_TEST(test_journal_prefix)
{
    stderr_to_file(true, false);
    log_set_level(LOG_DEBUG);
    log_err("disk %s", "gone");
    log_warn("w");
    log_info("i");
    log_debug("d");
    ck_assert_str_eq(read_back(), "<3>disk gone\n<4>w\n<6>i\n<7>d\n");
}
END_TEST

START_TEST(test_plain_stderr)
{
    stderr_to_file(false, false);
    log_warn("w %d", 1);
    const char *t = read_back();
    /* 2026-12-07T02:15:34.422Z warning: w 1 */
    ck_assert_uint_eq(strlen(t), 24 + strlen(" warning: w 1\n"));
    ck_assert_int_eq(t[4], '-');
    ck_assert_int_eq(t[23], 'Z');
    ck_assert_str_eq(t + 24, " warning: w 1\n");
}
END_TEST

START_TEST(test_other_stream)
{
    /* JOURNAL_STREAM inherited, but stderr is another file: timestamps. */
    stderr_to_file(true, true);
    log_info("x");
    const char *t = read_back();
    ck_assert_int_ne(t[0], '<');
    ck_assert_str_eq(t + 24, " info: x\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_journal_prefix);
    tcase_add_test(tc, test_plain_stderr);
    tcase_add_test(tc, test_other_stream);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
