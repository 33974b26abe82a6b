/* A guard against SIGBUS from mapped files that someone else truncates in
 * place (the health state file, a GeoIP database rewritten with cp instead
 * of renamed into place). A registered mapping whose access faults is
 * replaced, at the same address, by zero pages: the faulting access and
 * every later one read zeros instead of killing the process, and the slot
 * is flagged so that the owner can drop the mapping. Reads through a
 * guarded mapping cost nothing extra (no check, no system call).
 *
 * Any thread. The first mapguard_add installs a process-wide SIGBUS
 * handler (SA_ONSTACK); a SIGBUS outside every registered mapping goes to
 * the disposition that was there before. Threads that read guarded
 * mappings must not block SIGBUS. A mapping is unregistered (mapguard_del)
 * only once nothing reads it any more, and before it is unmapped. */
#ifndef GS_COMMON_MAPGUARD_H
#define GS_COMMON_MAPGUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Registers the mapping [mem, mem + len) (`mem` page-aligned, as mmap
 * returns it) with its protection (PROT_*). Returns the slot (>= 0), or
 * GS_ETOOBIG when all 256 slots are taken, or -errno when the handler
 * could not be installed. */
int mapguard_add(void *mem, size_t len, int prot);

/* Unregisters a slot. Accepts a negative slot (nothing registered). */
void mapguard_del(int slot);

/* True once an access to the slot's mapping faulted (it now reads zeros). */
bool mapguard_faulted(int slot);

#endif
