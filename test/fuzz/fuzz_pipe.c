/* Fuzz target for the pipe-backend dispatcher (backend/protocol/pipe.c):
 * the input is split into lines, each handled as a request on one
 * connection, against a store holding one small zone with a static, an MX,
 * an empty non-terminal and a compiled LUA record. Checks the framing pdns
 * relies on: every reply is whole lines, only OK, LOG, DATA, END and FAIL
 * lines (CMD's text lines aside), DATA lines with at least nine fields, and
 * it ends with END or FAIL (or is HELO's single OK line). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/protocol/pipe.h"
#include "backend/protocol/rb.h"
#include "test/fuzz/seed_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    static const char *seed[] = {
        "{\"method\":\"startTransaction\",\"parameters\":{\"domain\":\"fuzz.test.\",\"domain_id\":-"
        "1,\"trxid\":1}}",
        "{\"method\":\"replaceRRSet\",\"parameters\":{\"domain_id\":1,\"qname\":\"www.fuzz.test.\","
        "\"qtype\":\"A\",\"trxid\":1,\"rrset\":[{\"qname\":\"www.fuzz.test.\",\"qtype\":\"A\","
        "\"content\":\"192.0.2.1\",\"ttl\":60}]}}",
        "{\"method\":\"replaceRRSet\",\"parameters\":{\"domain_id\":1,\"qname\":\"fuzz.test.\","
        "\"qtype\":\"MX\",\"trxid\":1,\"rrset\":[{\"qname\":\"fuzz.test.\",\"qtype\":\"MX\","
        "\"content\":\"10 mail.fuzz.test.\",\"ttl\":60}]}}",
        "{\"method\":\"replaceRRSet\",\"parameters\":{\"domain_id\":1,\"qname\":\"a.b.fuzz.test.\","
        "\"qtype\":\"TXT\",\"trxid\":1,\"rrset\":[{\"qname\":\"a.b.fuzz.test.\",\"qtype\":\"TXT\","
        "\"content\":\"\\\"hi there\\\"\",\"ttl\":60}]}}",
        "{\"method\":\"replaceRRSet\",\"parameters\":{\"domain_id\":1,\"qname\":\"geo.fuzz.test.\","
        "\"qtype\":\"LUA\",\"trxid\":1,\"rrset\":[{\"qname\":\"geo.fuzz.test.\",\"qtype\":\"LUA\","
        "\"content\":\"A \\\"view({ {{'198.51.100.0/24'}, {'192.0.2.90'}} })\\\"\",\"ttl\":60}]}}",
        "{\"method\":\"commitTransaction\",\"parameters\":{\"trxid\":1}}",
    };
    fuzz_seed_store(seed, sizeof(seed) / sizeof(seed[0]));
}

static bool starts(const char *l, size_t n, const char *s)
{
    return n >= strlen(s) && memcmp(l, s, strlen(s)) == 0;
}

static void bad(const char *why, const char *req, size_t len, const buf_t *rep)
{
    fprintf(stderr, "%s: %.*s\n-> %.*s\n", why, (int)len, req, (int)rep->len, rep->data);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    pipe_conn_t *c = pipe_conn_new();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        bool cmd = len >= 4 && memcmp(p, "CMD\t", 4) == 0;
        const buf_t *rep = pipe_handle(c, p, len);
        if (rep->len == 0 || rep->data[rep->len - 1] != '\n')
            bad("reply not whole lines", p, len, rep);
        const char *l = rep->data, *rend = rep->data + rep->len, *last = NULL;
        size_t last_len = 0;
        while (l < rend) {
            const char *e = memchr(l, '\n', (size_t)(rend - l));
            size_t n = (size_t)(e - l);
            if (starts(l, n, "DATA\t")) {
                int tabs = 0;
                for (size_t i = 0; i < n; i++)
                    tabs += l[i] == '\t';
                if (tabs < 8)
                    bad("DATA line with fewer than nine fields", p, len, rep);
            } else if (!cmd && !starts(l, n, "LOG\t") && !starts(l, n, "OK\t") &&
                       !(n == 3 && memcmp(l, "END", 3) == 0) &&
                       !(n == 4 && memcmp(l, "FAIL", 4) == 0)) {
                bad("a line pdns does not know", p, len, rep);
            }
            last = l;
            last_len = n;
            l = e + 1;
        }
        bool ok = (last_len == 3 && memcmp(last, "END", 3) == 0) ||
                  (last_len == 4 && memcmp(last, "FAIL", 4) == 0) ||
                  (last == rep->data && starts(last, last_len, "OK\t"));
        if (!ok)
            bad("reply ends without END or FAIL", p, len, rep);
        p += len + (nl ? 1 : 0);
    }
    pipe_conn_free(c);
    return 0;
}
