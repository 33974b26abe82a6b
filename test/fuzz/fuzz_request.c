/* Fuzz target for the request decoder and dispatcher: the input is split into
 * lines and each line is handled as a request on one connection, against a
 * zone store holding one small zone. Checks that every request gets exactly
 * one newline-terminated JSON object with a "result" member. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        "{\"method\":\"replaceRRSet\",\"parameters\":{\"domain_id\":1,\"qname\":\"a.b.fuzz.test.\","
        "\"qtype\":\"TXT\",\"trxid\":1,\"rrset\":[{\"qname\":\"a.b.fuzz.test.\",\"qtype\":\"TXT\","
        "\"content\":\"\\\"hi\\\"\",\"ttl\":60}]}}",
        "{\"method\":\"commitTransaction\",\"parameters\":{\"trxid\":1}}",
    };
    fuzz_seed_store(seed, sizeof(seed) / sizeof(seed[0]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    rb_conn_t *c = rb_conn_new();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const buf_t *rep = rb_handle(c, p, len);
        json_error_t je;
        json_t *j = json_loadb(rep->data, rep->len, 0, &je);
        json_t *res = json_object_get(j, "result");
        if (rep->len == 0 || rep->data[rep->len - 1] != '\n' ||
            memchr(rep->data, '\n', rep->len) != rep->data + rep->len - 1 || !j || !res ||
            json_is_null(res)) {
            fprintf(stderr, "bad reply to %.*s\n-> %.*s\n", (int)len, p, (int)rep->len, rep->data);
            abort();
        }
        json_decref(j);
        p += len + (nl ? 1 : 0);
    }
    rb_conn_free(c);
    return 0;
}
