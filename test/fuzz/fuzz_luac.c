/* Fuzz target for the LUA-record subset compiler (backend/steering/luac.c): the input
 * is a record's content. It is either refused with a "LUA: ..." reason and no
 * program, or compiled into a program whose every branch has a selection and
 * whose value sets are non-empty; the program is then evaluated for an IPv4
 * and an IPv6 client (backend/steering/luaeval.c), whose scopes must stay within the
 * caps. Never a crash, a hang or a leak. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/steering/luac.h"
#include "backend/steering/luaeval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * LUAC_MAX_CODE)
        return 0;
    char *content = malloc(size + 1);
    if (!content)
        return 0;
    memcpy(content, data, size);
    content[size] = '\0';
    luac_prog_t *p = NULL;
    gs_err_t err;
    err.text[0] = '\0';
    if (luac_compile(content, &p, &err) != 0) {
        if (p || strncmp(err.text, "LUA: ", 5) != 0)
            abort(); /* refused without a reason, or a program left behind */
        free(content);
        return 0;
    }
    if (p->nbranches == 0 || p->nbranches > LUAC_MAX_BRANCHES)
        abort();
    for (size_t i = 0; i < p->nbranches; i++) {
        const luac_sel_t *s = &p->branches[i].sel;
        for (size_t k = 0; k < s->nsets; k++)
            if (s->sets[k].n == 0 || !s->sets[k].items[0].value)
                abort();
        if (s->kind == LUAC_STEER && !s->policy)
            abort();
    }
    static const char *const clients[] = {"203.0.113.77/32", "2001:db8:1:2::/64"};
    for (int i = 0; i < 2; i++) {
        steer_client_t c;
        if (steer_client_parse(clients[i], strlen(clients[i]), "192.0.2.53", 10, &c) != 0)
            abort();
        luae_env_t env = {.client = &c, .rnd = size * 0x9e3779b97f4a7c15ull};
        luae_result_t res;
        luae_eval(p, &env, &res);
        if (res.scope > (c.family == AF_INET ? 24 : 56) || res.n > LUAE_MAX_VALUES)
            abort();
        for (size_t v = 0; v < res.n; v++)
            if (!res.vals[v] || !*res.vals[v])
                abort();
    }
    luac_free(p);
    free(content);
    return 0;
}
