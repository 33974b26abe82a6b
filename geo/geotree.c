#include "geo/geotree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/mem.h"

/* A child reference: a node index, or a leaf value with the top bit set. */
#define LEAF 0x80000000u
#define IS_LEAF(r) (((r)&LEAF) != 0)

typedef struct {
    uint32_t child[2];
} node_t;

/* A finished tree of at least JUMP_MIN_NODES nodes gets a first-level table:
 * the reference reached after the first JUMP_BITS bits of the address (or
 * the leaf met before them, with its depth). A lookup then starts there
 * instead of following 16 dependent node loads from the root, each a likely
 * cache and TLB miss in a tree of megabytes. */
#define JUMP_BITS 16
#define JUMP_MIN_NODES 4096

struct geo_tree {
    uint8_t bits;
    uint32_t root; /* a reference, like a child */
    node_t *nodes;
    size_t nnodes, cap;
    uint32_t *jump;  /* 1 << JUMP_BITS references, or NULL */
    uint8_t *jdepth; /* the depth of each */
};

geo_tree_t *geo_tree_new(int family, uint32_t initial)
{
    GS_ASSERT(initial <= GEO_TREE_MAX_VALUE);
    geo_tree_t *t = mem_calloc(1, sizeof(*t));
    t->bits = family == AF_INET ? 32 : 128;
    t->root = LEAF | initial;
    return t;
}

void geo_tree_free(geo_tree_t *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->jump);
    free(t->jdepth);
    free(t);
}

static uint32_t new_node(geo_tree_t *t, uint32_t left, uint32_t right)
{
    if (t->nnodes == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->nodes = mem_realloc_n(t->nodes, t->cap, sizeof(node_t));
    }
    t->nodes[t->nnodes].child[0] = left;
    t->nodes[t->nnodes].child[1] = right;
    GS_ASSERT(t->nnodes < LEAF);
    return (uint32_t)t->nnodes++;
}

static inline int bit_at(const uint8_t *addr, unsigned i)
{
    return (addr[i >> 3] >> (7 - (i & 7))) & 1;
}

/* The child slot `side` of node `parent`, or the root when parent is LEAF.
 * Slots are re-derived after every allocation because new_node may move the
 * node array. */
static uint32_t *slot(geo_tree_t *t, uint32_t parent, int side)
{
    return parent == LEAF ? &t->root : &t->nodes[parent].child[side];
}

void geo_tree_paint(geo_tree_t *t, const uint8_t *addr, uint8_t len, uint32_t value)
{
    GS_ASSERT(value <= GEO_TREE_MAX_VALUE && len <= t->bits);
    uint32_t parent = LEAF;
    int side = 0;
    for (unsigned i = 0; i < len; i++) {
        uint32_t ref = *slot(t, parent, side);
        if (IS_LEAF(ref)) {
            ref = new_node(t, ref, ref);
            *slot(t, parent, side) = ref;
        }
        parent = ref;
        side = bit_at(addr, i);
    }
    /* Whatever subtree was here is unreachable now; finish drops it. */
    *slot(t, parent, side) = LEAF | value;
}

/* Copies the subtree at `ref` into `out`, merging a node whose children are
 * equal leaves into that leaf. Returns the new reference. */
static uint32_t compact(const geo_tree_t *t, uint32_t ref, geo_tree_t *out)
{
    if (IS_LEAF(ref))
        return ref;
    uint32_t l = compact(t, t->nodes[ref].child[0], out);
    uint32_t r = compact(t, t->nodes[ref].child[1], out);
    if (IS_LEAF(l) && l == r)
        return l;
    return new_node(out, l, r);
}

void geo_tree_finish(geo_tree_t *t)
{
    geo_tree_t out = {.bits = t->bits};
    out.root = compact(t, t->root, &out);
    free(t->nodes);
    t->nodes = out.nodes;
    t->nnodes = out.nnodes;
    t->cap = out.cap;
    t->root = out.root;
    if (t->nnodes < JUMP_MIN_NODES)
        return;
    t->jump = mem_alloc(sizeof(*t->jump) << JUMP_BITS);
    t->jdepth = mem_alloc((size_t)1 << JUMP_BITS);
    for (uint32_t k = 0; k < (1u << JUMP_BITS); k++) {
        const uint8_t addr[2] = {(uint8_t)(k >> 8), (uint8_t)k};
        uint32_t ref = t->root;
        unsigned i = 0;
        while (!IS_LEAF(ref) && i < JUMP_BITS)
            ref = t->nodes[ref].child[bit_at(addr, i++)];
        t->jump[k] = ref;
        t->jdepth[k] = (uint8_t)i;
    }
}

uint32_t geo_tree_lookup(const geo_tree_t *t, const uint8_t *addr, uint8_t *depth)
{
    uint32_t ref = t->root;
    unsigned i = 0;
    if (t->jump) {
        uint32_t k = (uint32_t)addr[0] << 8 | addr[1];
        ref = t->jump[k];
        i = t->jdepth[k];
    }
    while (!IS_LEAF(ref))
        ref = t->nodes[ref].child[bit_at(addr, i++)];
    *depth = (uint8_t)i;
    return ref & ~LEAF;
}

size_t geo_tree_nodes(const geo_tree_t *t)
{
    return t->nnodes;
}
