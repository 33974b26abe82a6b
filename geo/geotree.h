/* A binary prefix tree mapping every address of one family to a small
 * integer (a steering decision class), built by "painting" prefixes and
 * then collapsed so that any subtree where every address gets the same
 * value is a single leaf. A lookup returns the value and the length of that
 * uniform prefix: the widest ECS scope for which the decision is the same,
 * which is how geosteer computes scopeMask (doc/design.md §6, as gdnsd merges
 * its map over the GeoIP data).
 *
 * Built by the writer (config/GeoIP load), then immutable and read by any
 * number of threads. Call order: geo_tree_new, geo_tree_paint..., then
 * geo_tree_finish, then geo_tree_lookup; geo_tree_free at the end. */
#ifndef GS_GEO_GEOTREE_H
#define GS_GEO_GEOTREE_H

#include <stddef.h>
#include <stdint.h>

typedef struct geo_tree geo_tree_t;

/* Largest value a leaf can hold. */
#define GEO_TREE_MAX_VALUE 0x7fffffffu

/* Returns an owned tree for AF_INET (32 bits) or AF_INET6 (128 bits) where
 * every address maps to `initial`. */
geo_tree_t *geo_tree_new(int family, uint32_t initial);

/* Maps every address of `addr`/`len` (4 or 16 bytes, network order) to
 * `value`, replacing what earlier paints gave them. Before finish only. */
void geo_tree_paint(geo_tree_t *t, const uint8_t *addr, uint8_t len, uint32_t value);

/* Collapses uniform subtrees and compacts the tree. After this the tree is
 * immutable. Cost: linear in the nodes painted. */
void geo_tree_finish(geo_tree_t *t);

/* Returns the value for `addr` and, in *depth, the length of the largest
 * prefix of `addr` whose every address has that value. Lock-free; O(depth). */
uint32_t geo_tree_lookup(const geo_tree_t *t, const uint8_t *addr, uint8_t *depth);

/* Number of inner nodes (after finish: of the compacted tree). */
size_t geo_tree_nodes(const geo_tree_t *t);

/* Releases a tree. Accepts NULL. */
void geo_tree_free(geo_tree_t *t);

#endif
