/* The LUA-record subset compiler (doc/design.md §4): geosteer never runs Lua.
 * A LUA record's content `<QTYPE> "<code>"` is parsed and checked when it is
 * written, and compiled into a small immutable program: a chain of
 * (condition, selection) branches. Anything outside the subset is refused
 * with the column and the reason.
 *
 * The subset:
 *   code      := expr                                    (implicit return)
 *              | ';' [ 'return' expr ]                    (one statement)
 *              | ';' 'if' cond 'then' 'return' expr
 *                    { 'elseif' cond 'then' 'return' expr }
 *                    [ 'else' 'return' expr ] 'end'
 *   expr      := selection call | string | table of strings
 *   selection := ifportup(port, addrs|{set,...}, opts) | ifurlup(url, addrs|sets, opts)
 *              | pickrandom(list) | pickrandomsample(n, list) | pickhashed(list)
 *              | pickwrandom({{w,v},...}) | pickwhashed(...) | pickchashed(...)
 *              | pickclosest(addrs) | all(list) | view({{{nets},{values}},...})
 *              | steer('policy')
 *   cond      := cond 'or' cond | cond 'and' cond | 'not' cond | '(' cond ')'
 *              | country(code|list) | continent(..) | region(..) | asnum(n|list)
 *              | netmask(list) | true | false
 * Values are checked against QTYPE (A: IPv4, AAAA: IPv6, CNAME: names, TXT:
 * any text). Library code: any thread, never logs. */
#ifndef GS_STEERING_LUAC_H
#define GS_STEERING_LUAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/dns/rr.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/plan.h"
#include "common/compiler.h"

#define LUAC_MAX_CODE 4096   /* bytes of code after unquoting */
#define LUAC_MAX_VALUES 256  /* values in one list or set */
#define LUAC_MAX_BRANCHES 64 /* if/elseif arms */
#define LUAC_MAX_SETS 16     /* address sets of one ifportup/ifurlup */

typedef enum {
    LUAC_STATIC,     /* a literal string or table of strings */
    LUAC_IFPORTUP,   /* TCP check on each address */
    LUAC_IFURLUP,    /* HTTP(S) check on each address */
    LUAC_PICKRANDOM, /* one value at random */
    LUAC_PICKRANDOMSAMPLE,
    LUAC_PICKHASHED,  /* one value by client hash */
    LUAC_PICKWRANDOM, /* weighted random */
    LUAC_PICKWHASHED, /* weighted by client hash */
    LUAC_PICKCHASHED, /* weighted consistent hash */
    LUAC_PICKCLOSEST, /* nearest address to the client */
    LUAC_ALL,         /* every value */
    LUAC_VIEW,        /* first rule whose netmasks hold the client */
    LUAC_STEER,       /* a named policy of geosteer.json */
} luac_sel_kind_t;

/* Selectors of ifportup/ifurlup (`selector`, `backupSelector`). */
typedef enum {
    LUAC_PICK_RANDOM, /* the default selector and backupSelector */
    LUAC_PICK_HASHED,
    LUAC_PICK_CLOSEST,
    LUAC_PICK_ALL,
    LUAC_PICK_EMPTY, /* backupSelector only: answer nothing */
} luac_pick_t;

typedef struct {
    const char *value; /* normalised presentation text (arena) */
    uint32_t weight;   /* 1 unless weighted */
    uint64_t check;    /* if*up: id of this address's health check (plan.h), else 0 */
} luac_item_t;

typedef struct {
    luac_item_t *items;
    size_t n;
} luac_set_t;

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t len;
} luac_net_t;

typedef struct {
    luac_net_t *nets;
    size_t nnets;
    luac_set_t values;
} luac_view_rule_t;

/* Options of ifportup/ifurlup, with pdns's defaults filled in. */
typedef struct {
    luac_pick_t selector, backup;
    uint32_t timeout_ms;   /* `timeout` (s), default 2 */
    uint32_t interval_ms;  /* `interval` (s), default 5 */
    uint32_t min_failures; /* `minimumFailures`, default 1 */
    const char *stringmatch, *useragent;
    uint32_t byteslimit; /* 0: default cap */
    uint32_t httpcode;   /* default 200 */
    const char *(*headers)[2];
    size_t nheaders;
} luac_opts_t;

typedef struct {
    luac_sel_kind_t kind;
    luac_set_t *sets; /* one set, or the ordered sets of if*up */
    size_t nsets;
    uint32_t sample; /* pickrandomsample: how many */
    uint32_t port;   /* ifportup */
    const char *url; /* ifurlup */
    bool https;      /* ifurlup: the URL's scheme, host, port and path */
    const char *url_host, *url_path;
    uint32_t url_port;
    luac_opts_t opts;        /* if*up */
    luac_view_rule_t *rules; /* view */
    size_t nrules;
    const char *policy; /* steer */
} luac_sel_t;

typedef enum {
    LUAC_P_TRUE,
    LUAC_P_FALSE,
    LUAC_P_AND,
    LUAC_P_OR,
    LUAC_P_NOT,
    LUAC_P_COUNTRY,   /* codes: ISO 3166-1 alpha-2, upper case */
    LUAC_P_CONTINENT, /* codes: AF AN AS EU NA OC SA */
    LUAC_P_REGION,    /* codes: subdivision codes as given, upper case */
    LUAC_P_ASNUM,     /* asns */
    LUAC_P_NETMASK,   /* nets */
} luac_pred_kind_t;

typedef struct luac_pred {
    luac_pred_kind_t kind;
    struct luac_pred *a, *b; /* AND/OR: both; NOT: a */
    const char **codes;
    uint32_t *asns;
    luac_net_t *nets;
    size_t n;
} luac_pred_t;

typedef struct {
    const luac_pred_t *cond; /* NULL: always (else, or no condition) */
    luac_sel_t sel;
} luac_branch_t;

typedef struct luac_prog {
    uint16_t qtype;        /* the type produced: 1 A, 28 AAAA, 5 CNAME, 16 TXT */
    const rr_type_t *type; /* the same, as the record type table's entry */
    luac_branch_t *branches;
    size_t nbranches; /* a chain without `else` answers nothing when no arm matches */
    arena_t *arena;   /* owns everything above */
    int refs;         /* holders: the transaction that wrote it, zone images (atomic) */
} luac_prog_t;

/* Compiles LUA record content (`A "pickrandom({'192.0.2.1'})"`). Returns 0
 * and an owned program in *out, or GS_EINVAL with "LUA: column N: reason" in
 * `err` (columns count bytes of the code between the quotes, from 1). */
GS_WARN_UNUSED int luac_compile(const char *content, luac_prog_t **out, gs_err_t *err);

/* The policy of a program that is exactly `steer('policy')` (one
 * unconditional steer() and nothing else): such a record is answered with
 * the policy's TTL rather than its own. NULL for every other program. */
const char *luac_prog_policy(const luac_prog_t *p);

/* Adds the health checks of every ifportup/ifurlup address of `p` to `plan`
 * (plan_add: identical checks are one), labelled `label`. Returns how many
 * addresses have a check. The ids equal the items' `check` fields. */
size_t luac_plan_checks(const luac_prog_t *p, plan_t *plan, const char *label);

/* Calls fn(ctx, sel, item) for every health-checked address of `p` (the
 * items of its ifportup/ifurlup selections, in order), and returns how
 * many there are. */
typedef void (*luac_check_fn)(void *ctx, const luac_sel_t *sel, const luac_item_t *item);
size_t luac_each_check(const luac_prog_t *p, luac_check_fn fn, void *ctx);

/* Drops one reference to a program (compiled with one), freeing it with
 * the last. Accepts NULL. */
void luac_free(luac_prog_t *p);

/* Takes one more reference to `p` and returns it. A program is immutable
 * once compiled, so a zone image and the transaction that wrote it, or two
 * successive images of a zone, share one; luac_free drops a reference and
 * frees the program with the last. Any thread. */
luac_prog_t *luac_ref(const luac_prog_t *p);

/* The function name of a selection kind ("ifportup"). */
const char *luac_sel_name(luac_sel_kind_t k);

#endif
