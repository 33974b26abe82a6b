/* The SIGBUS guard for mapped files (common/mapguard.h). */
#include "common/mapguard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"

/* ---- the fault guard ----
 *
 * A mapped file someone else truncates in place (the health state file, a
 * GeoIP database rewritten with cp) makes every access to a mapped page
 * beyond its new end raise SIGBUS, in geosteerd's lookup threads and in the
 * probe alike. Checking the size before each read would cost an
 * fstat per lookup (the read itself is a few ns, no system call); a
 * sigsetjmp per read measured +1.4 ns (+25 %), and a handler that longjmps
 * out of a lookup could skip its unlocking. Instead the
 * mappings are registered here, and a SIGBUS handler that finds the faulting
 * address in one of them maps anonymous zero pages over the whole mapping
 * (MAP_FIXED: same address, same protection) and returns: the faulting
 * instruction runs again and reads (or writes) zeros. The owner learns of
 * it through the slot's `faulted` flag (or sees the size change) and drops
 * the mapping, so the read path stays what it was. The handler is installed
 * once, by the first mapguard_add; a SIGBUS anywhere else goes to the
 * previous disposition (default: the process dies as before).
 *
 * Slots are written by the owner outside signal context (start last on
 * register, first on unregister) and only read by the handler. A mapping is
 * unregistered only when no reader uses it any more (the owner's contract),
 * so a fault in it always finds its slot. */
#define GUARD_SLOTS 256
#define GUARD_CLAIMED ((uintptr_t)1) /* a slot being filled */

static struct {
    _Atomic uintptr_t start; /* 0: free */
    _Atomic size_t len;      /* page-rounded */
    _Atomic int prot;
    _Atomic int faulted;
} gslot[GUARD_SLOTS];

static struct sigaction guard_prev;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_install_rc;

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    uintptr_t a = (uintptr_t)si->si_addr;
    /* si_code > 0: raised by the kernel for a fault, not sent by kill(). */
    for (size_t i = 0; si->si_code > 0 && i < GUARD_SLOTS; i++) {
        uintptr_t s = atomic_load_explicit(&gslot[i].start, memory_order_acquire);
        if (s <= GUARD_CLAIMED)
            continue;
        size_t l = atomic_load_explicit(&gslot[i].len, memory_order_acquire);
        int prot = atomic_load_explicit(&gslot[i].prot, memory_order_acquire);
        if (atomic_load_explicit(&gslot[i].start, memory_order_acquire) != s || a < s || a - s >= l)
            continue;
        void *r = mmap((void *)s, l, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (r != MAP_FAILED) {
            atomic_store_explicit(&gslot[i].faulted, 1, memory_order_release);
            errno = saved;
            return;
        }
        break;
    }
    /* Not ours: what would have happened without this handler. */
    if ((guard_prev.sa_flags & SA_SIGINFO) && guard_prev.sa_sigaction) {
        guard_prev.sa_sigaction(sig, si, uc);
    } else if (guard_prev.sa_handler != SIG_DFL && guard_prev.sa_handler != SIG_IGN &&
               guard_prev.sa_handler) {
        guard_prev.sa_handler(sig);
    } else {
        /* Default: die of it. Pending until the handler returns (SIGBUS is
         * blocked while it runs); a fault would also recur on return. */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    errno = saved;
}

static void guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &guard_prev) != 0)
        guard_install_rc = -errno;
}

int mapguard_add(void *mem, size_t len, int prot)
{
    pthread_once(&guard_once, guard_install);
    if (guard_install_rc)
        return guard_install_rc;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (len + page - 1) / page * page;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t zero = 0;
        /* Claim with a value no fault can match, fill, then publish. */
        if (!atomic_compare_exchange_strong(&gslot[i].start, &zero, GUARD_CLAIMED))
            continue;
        atomic_store(&gslot[i].prot, prot);
        atomic_store(&gslot[i].faulted, 0);
        atomic_store(&gslot[i].len, rounded);
        atomic_store_explicit(&gslot[i].start, (uintptr_t)mem, memory_order_release);
        return i;
    }
    return GS_ETOOBIG;
}

void mapguard_del(int slot)
{
    if (slot >= 0 && slot < GUARD_SLOTS)
        atomic_store_explicit(&gslot[slot].start, (uintptr_t)0, memory_order_release);
}

bool mapguard_faulted(int slot)
{
    return slot >= 0 && slot < GUARD_SLOTS &&
           atomic_load_explicit(&gslot[slot].faulted, memory_order_acquire) != 0;
}
