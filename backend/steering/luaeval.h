/* Evaluates a compiled LUA-record program (backend/steering/luac.h) for one client:
 * the branch whose condition holds, then its selection, with the ECS scope
 * the answer needs (doc/design.md §6): the widest prefix of the client's address
 * over which every condition evaluated and the selection come out the same,
 * capped at /24 and /56; 0 when nothing depends on the client.
 *
 * pdns semantics kept: the client ("bestwho") is the ECS address when there
 * is one, else the resolver; conditions are tried in order; view() takes the
 * first rule (in order) whose networks hold the client, then a random value
 * of it. Deliberate differences (migration guide): hashed selections hash
 * the client's /24 or /56 (not the full address), so that their scope can
 * be /24 or /56; pickclosest uses great-circle distance; health-checked
 * selections count an address as up until the probe has a result for it,
 * and every address set is checked all the time (not only after the earlier
 * sets failed). if*up: the selector picks among the live addresses of the
 * first set that has one; with none alive anywhere, the backupSelector picks
 * over every address of every set.
 *
 * Pure: any thread, no allocation, no lock, no system call. */
#ifndef GS_STEERING_LUAEVAL_H
#define GS_STEERING_LUAEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/steering/luac.h"
#include "backend/steering/steer.h"
#include "geo/geodb.h"

/* Enough for any literal answer: every address of every set (a backup
 * selector `all` over all sets of an if*up). */
#define LUAE_MAX_VALUES (LUAC_MAX_SETS * LUAC_MAX_VALUES)

typedef struct {
    const steer_client_t *client;
    const geo_db_t *geo, *asn; /* may be NULL: geo conditions are then false */
    uint64_t rnd;              /* one random value per query */
    const steer_t *steer;      /* for steer() inside a program; may be NULL */
    const steer_admin_t *admin;
    /* Health of an if*up address by check id (hstate_state_t); NULL: all
     * unknown, i.e. up. */
    int (*check_state)(const void *ctx, uint64_t id);
    const void *check_ctx;
} luae_env_t;

/* The answer: literal values, or (steer() decided) a steering decision whose
 * endpoints' values of the program's type are the answer. Either may be
 * empty: the name then has no data of that type for this client. */
typedef struct {
    const char *vals[LUAE_MAX_VALUES]; /* borrowed from the program */
    size_t n;
    bool steered;        /* the answer is `sd` */
    uint32_t policy;     /* when steered: the policy's index in env->steer */
    steer_decision_t sd; /* when steered */
    uint8_t scope;       /* steer_scope_final applied */
    const char *why;     /* static text: which branch or rule decided */
    size_t branch;       /* the branch that answered (== nbranches: none) */
} luae_result_t;

/* Evaluates `p` for env->client. Never fails. */
void luae_eval(const luac_prog_t *p, const luae_env_t *env, luae_result_t *out);

#endif
