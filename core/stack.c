/* core/stack.c - fiber stacks: reservation, guards and the pool.
 *
 * Stacks are fixed-size slots carved in order from large MAP_NORESERVE
 * chunks (about 64 MiB each), so the kernel commits a stack's pages only as
 * the fiber touches them. Each slot is, lowest address first:
 *     [guard, 64 KiB][usable stack ... ][struct ringo__fiber]
 * The fiber record sits at the top of its own stack, on the page its first
 * frames use: spawning allocates nothing but a slot, a parked fiber costs
 * one resident page, and a dump finds every fiber by walking the slots.
 *
 * Slots are adjacent, so what lies below a guard is the neighbour's record
 * and its newest frames. A frame larger than the guard would jump over it
 * and write there before anything faults. The guard is therefore 64 KiB
 * (GUARD_BYTES), not a page: every access of a frame up to that size lands
 * in the fiber's own stack or its own guard, whatever the depth. Guards cost
 * address space only (no page is ever committed for one), so the size is
 * free in resident memory. Larger frames are caught by code compiled with
 * -fstack-clash-protection (ringo.pc's Cflags), which touches each page of
 * a big frame in turn, from the top, so the first touch below the stack is
 * in the guard.
 *
 * Slots are carved a batch at a time into a worker's cache, and the batch's
 * guards installed with one process_madvise() where the kernel allows.
 * Guards, chosen once per runtime (RINGO_STACK_GUARD=madvise|mprotect|canary
 * forces one, for tests):
 *   madvise   MADV_GUARD_INSTALL (Linux >= 6.13) adds no VMA, so a million
 *             guarded stacks fit under vm.max_map_count;
 *   mprotect  each guard splits the chunk's VMA, so it is used only while a
 *             budget derived from vm.max_map_count lasts;
 *   canary    then no guard: a magic word at the bottom of the stack is
 *             checked whenever the fiber switches out. One warning says so.
 *             The guard's range is then plain memory nobody uses, so
 *             an overflow of up to 64 KiB lands there, not in the
 *             neighbour, until the check notices.
 * Whichever the mode, the guard is the slot's lowest GUARD_BYTES.
 * A chunk remembers from which slot on it is unguarded (modes only ever
 * degrade, and slots are carved in order).
 *
 * The pool: each worker keeps up to RINGO__STACK_CACHE free slots, touched
 * by its own thread only; past that, half move to the global warm list in
 * one trip. Warm slots keep their pages. The monitor calls
 * ringo__stacks_scavenge() every second (Go's scavenger is lazier still): warm slots that
 * stayed unused for a whole period, beyond WARM_MAX, are given back with MADV_DONTNEED - merged into
 * one call per run of adjacent slots; guards survive it - and kept as
 * cold slots. So a burst of a million fibers does not pin its memory once it
 * is over, and the spawn path never makes that syscall.
 *
 * Under Valgrind every slot is registered as a stack (VALGRIND_STACK_REGISTER)
 * when carved and deregistered when the runtime ends.
 *
 * Under ThreadSanitizer a slot keeps one TSan fiber context for life (see
 * ringo__stack_get for why and what it costs), and ringo__stack_put frees
 * the ended fiber's race token, which drops its sync objects. Scavenging is
 * off there: it would zero the records that hold the contexts.
 *
 * Locking: rt->stack_lock protects the chunk table's growth and the warm and
 * cold lists. A chunk's base and nslots never change once published (nchunks
 * is stored with release), which lets the SIGSEGV handler and dumps read the
 * table without the lock.
 */
#include "internal.h"
#include "sanitizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef RINGO_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#define CHUNK_BYTES (64u << 20)
/* What Debian 12's headers lack and newer kernels have: MADV_GUARD_* (Linux
 * 6.13) installs guard pages that cost no VMA. Probed at start-up. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#define WARM_MAX 1024
#define TRANSFER (RINGO__STACK_CACHE / 2)
#define SCAVENGE_MAX 65536        /* slots trimmed per call, to bound the pause */
#define GUARD_BYTES (64u << 10)   /* the largest frame a guard is sure to catch */

/* Slots at or past this index of a chunk have no guard. */
static size_t unguarded_from[RINGO__MAX_CHUNKS];

static inline ringo__fiber_t *slot_fiber(const ringo__runtime_t *rt, char *slot)
{
    uintptr_t top = (uintptr_t)slot + rt->slot_size - sizeof(ringo__fiber_t);
    return (ringo__fiber_t *)(top & ~(uintptr_t)(RINGO__CACHELINE - 1));
}

static inline char *fiber_slot(const ringo__runtime_t *rt, const ringo__fiber_t *f)
{
    return f->stack_lo - rt->guard_size;
}

static long read_max_map_count(void)
{
    FILE *fp = fopen("/proc/sys/vm/max_map_count", "re");
    long v = 65530;
    if (fp) {
        if (fscanf(fp, "%ld", &v) != 1)
            v = 65530;
        fclose(fp);
    }
    return v;
}

static bool probe_madvise_guard(size_t page)
{
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    bool ok = madvise(p, page, MADV_GUARD_INSTALL) == 0;
    munmap(p, 2 * page);
    return ok;
}

int ringo__stacks_init(ringo__runtime_t *rt)
{
    rt->guard_size = GUARD_BYTES > rt->page_size ? GUARD_BYTES : rt->page_size;
    rt->slot_size = rt->guard_size + rt->stack_size;
    rt->chunks = ringo__calloc(RINGO__MAX_CHUNKS, sizeof(*rt->chunks));
    if (!rt->chunks)
        return -ENOMEM;
    atomic_store(&rt->nchunks, 0);

    long max_maps = read_max_map_count();
    /* Each mprotect guard in the middle of a mapping costs two VMAs; leave
     * plenty for the program's own mappings. */
    rt->mprotect_budget = max_maps > 16384 ? (size_t)(max_maps - 16384) / 2 : 0;

    /* A pidfd on ourselves lets one process_madvise() guard a batch of
     * stacks (the kernel takes guard advice that way since 6.13). */
    rt->pidfd = ringo__on_valgrind() ? -1   /* Valgrind 3.19 lacks it, noisily */
                                     : (int)syscall(SYS_pidfd_open, getpid(), 0);

    const char *force = getenv("RINGO_STACK_GUARD");
    if (force && strcmp(force, "mprotect") == 0)
        rt->guard_mode = RINGO__GUARD_MPROTECT;
    else if (force && strcmp(force, "canary") == 0)
        rt->guard_mode = RINGO__GUARD_CANARY;
    else if (probe_madvise_guard(rt->page_size))
        rt->guard_mode = RINGO__GUARD_MADVISE;
    else
        rt->guard_mode = RINGO__GUARD_MPROTECT;
    return 0;
}

void ringo__stacks_fini(ringo__runtime_t *rt)
{
    size_t n = atomic_load(&rt->nchunks);
    for (size_t i = 0; i < n; i++) {
        struct ringo__stack_chunk *c = &rt->chunks[i];
        if (c->vg_ids) {
            size_t carved = atomic_load(&c->carved);
            for (size_t j = 0; j < carved; j++)
                RINGO_VALGRIND_STACK_DEREGISTER(c->vg_ids[j]);
            ringo__free(c->vg_ids);
        }
    }
#ifdef RINGO_TSAN
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < atomic_load(&rt->chunks[i].carved); j++) {
            ringo__fiber_t *f = slot_fiber(rt, rt->chunks[i].base + j * rt->slot_size);
            if (f->tsan_fiber)
                RINGO_TSAN_DESTROY(f->tsan_fiber);
        }
#endif
    for (size_t i = 0; i < n; i++)
        munmap(rt->chunks[i].base, rt->chunks[i].nslots * rt->slot_size);
    if (rt->pidfd >= 0)
        close(rt->pidfd);
    rt->pidfd = -1;
    ringo__free(rt->chunks);
    ringo__free(rt->warm);
    ringo__free(rt->cold);
    rt->chunks = NULL;
    rt->warm = rt->cold = NULL;
    rt->nwarm = rt->ncold = rt->warm_cap = rt->cold_cap = 0;
}

static void warn_unguarded(ringo__runtime_t *rt)
{
    if (atomic_exchange(&rt->guard_warned, 1) == 0)
        fprintf(stderr, "ringo: warning: out of guard pages (vm.max_map_count); "
                        "new fiber stacks are checked by canary only\n");
}

/* Marks a chunk's slots from idx on as unguarded; stack_lock held. */
static void mark_unguarded(size_t ci, size_t idx)
{
    if (unguarded_from[ci] > idx)
        unguarded_from[ci] = idx;
}

/* Carves up to want never-used slots (stack_lock held), noting each one's
 * chunk and index. NULL slots: the address space or chunk table ran out. */
static size_t carve_locked(ringo__runtime_t *rt, char **out, size_t *ci, size_t *idx, size_t want)
{
    size_t got = 0;
    while (got < want) {
        size_t n = atomic_load_explicit(&rt->nchunks, memory_order_relaxed);
        struct ringo__stack_chunk *c = n ? &rt->chunks[n - 1] : NULL;
        if (!c || atomic_load_explicit(&c->carved, memory_order_relaxed) == c->nslots) {
            if (n == RINGO__MAX_CHUNKS)
                break;
            size_t nslots = CHUNK_BYTES / rt->slot_size;
            if (nslots == 0)
                nslots = 1;
            char *base = mmap(NULL, nslots * rt->slot_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (base == MAP_FAILED)
                break;
            /* A huge page would commit a whole run of stacks at once. */
            madvise(base, nslots * rt->slot_size, MADV_NOHUGEPAGE);
            c = &rt->chunks[n];
            c->base = base;
            c->nslots = nslots;
            c->vg_ids = ringo__on_valgrind() ? ringo__calloc(nslots, sizeof(*c->vg_ids)) : NULL;
            atomic_store_explicit(&c->carved, 0, memory_order_relaxed);
            unguarded_from[n] = SIZE_MAX;
            atomic_store_explicit(&rt->nchunks, n + 1, memory_order_release);
            n++;
        }
        size_t i = atomic_load_explicit(&c->carved, memory_order_relaxed);
        out[got] = c->base + i * rt->slot_size;
        if (c->vg_ids)          /* so memcheck follows switches onto it */
            c->vg_ids[i] = RINGO_VALGRIND_STACK_REGISTER(out[got] + rt->guard_size,
                                                         out[got] + rt->slot_size);
        ci[got] = n - 1;
        idx[got] = i;
        got++;
        /* Published as carved now (dumps read zeroed headers as FREE);
         * the guard goes in before anyone runs on the slot. */
        atomic_store_explicit(&c->carved, i + 1, memory_order_release);
    }
    return got;
}

/* Installs the guards of freshly carved slots, outside the lock: one
 * process_madvise() for the whole batch where the kernel takes guard
 * advice that way, else one madvise() each; degrades the mode when the
 * kernel refuses (mode changes take stack_lock). */
static void guard_batch(ringo__runtime_t *rt, ringo__worker_t *w, char **slots, const size_t *ci,
                        const size_t *idx, size_t n)
{
    size_t done = 0;
    if (atomic_load(&rt->guard_mode) == RINGO__GUARD_MADVISE) {
        if (rt->pidfd >= 0 && w) {
            _Static_assert(sizeof(w->scratch_iov[0]) == sizeof(struct iovec), "iovec layout");
            struct iovec *iov = (struct iovec *)w->scratch_iov;
            for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){.iov_base = slots[i], .iov_len = rt->guard_size};
            long r = syscall(SYS_process_madvise, rt->pidfd, iov, n, MADV_GUARD_INSTALL, 0);
            if (r > 0)
                done = (size_t)r / rt->guard_size;
            /* The top page of each slot (the fiber record and its first
             * frames) is written the moment the slot is used: populate
             * the whole batch in one call instead of a fault per fiber. */
            for (size_t i = 0; i < n; i++)
                iov[i].iov_base = slots[i] + rt->slot_size - rt->page_size;
            syscall(SYS_process_madvise, rt->pidfd, iov, n, MADV_POPULATE_WRITE, 0);
        }
        while (done < n && madvise(slots[done], rt->guard_size, MADV_GUARD_INSTALL) == 0)
            done++;
        if (done == n)
            return;
        ringo__pthread_lock(&rt->stack_lock);
        if (atomic_load(&rt->guard_mode) == RINGO__GUARD_MADVISE)
            atomic_store(&rt->guard_mode, RINGO__GUARD_MPROTECT);
        ringo__pthread_unlock(&rt->stack_lock);
    }
    ringo__pthread_lock(&rt->stack_lock);
    for (; done < n; done++) {
        if (atomic_load(&rt->guard_mode) == RINGO__GUARD_MPROTECT) {
            if (rt->mprotect_budget > 0 && mprotect(slots[done], rt->guard_size, PROT_NONE) == 0) {
                rt->mprotect_budget--;
                continue;
            }
            atomic_store(&rt->guard_mode, RINGO__GUARD_CANARY);
            warn_unguarded(rt);
        }
        mark_unguarded(ci[done], idx[done]);
    }
    ringo__pthread_unlock(&rt->stack_lock);
}

static bool slot_guarded(const ringo__runtime_t *rt, const char *slot)
{
    size_t n = atomic_load_explicit(&rt->nchunks, memory_order_acquire);
    for (size_t i = n; i-- > 0;) {
        const struct ringo__stack_chunk *c = &rt->chunks[i];
        if (slot >= c->base && slot < c->base + c->nslots * rt->slot_size)
            return (size_t)(slot - c->base) / rt->slot_size < unguarded_from[i];
    }
    return false;
}

static bool push_list(char ***list, size_t *n, size_t *cap, char *slot)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        char **nl = ringo__realloc(*list, ncap * sizeof(**list));
        if (!nl)
            return false;      /* the slot stays reserved until the chunk goes */
        *list = nl;
        *cap = ncap;
    }
    (*list)[(*n)++] = slot;
    return true;
}

/* Refills w's cache (or, for a plain thread, takes one slot) from the warm
 * list, then the cold list, then by carving a batch. */
static char *refill(ringo__runtime_t *rt, ringo__worker_t *w)
{
    /* Runs on a fiber's stack: big arrays live in the worker (a plain
     * thread takes one slot). */
    size_t want = w ? TRANSFER : 1;
    char *one[1];
    size_t one_ci[1], one_idx[1];
    char **batch = w ? (char **)w->scratch : one;
    size_t *ci = w ? w->scratch_ci : one_ci, *idx = w ? w->scratch_idx : one_idx;
    size_t got = 0, carved = 0;
    ringo__pthread_lock(&rt->stack_lock);
    while (got < want && rt->nwarm)
        batch[got++] = rt->warm[--rt->nwarm];
    if (rt->nwarm < rt->warm_low)
        rt->warm_low = rt->nwarm;
    while (got < want && rt->ncold)
        batch[got++] = rt->cold[--rt->ncold];
    if (!got)
        got = carved = carve_locked(rt, batch, ci, idx, want);
    ringo__pthread_unlock(&rt->stack_lock);
    if (carved)
        guard_batch(rt, w, batch, ci, idx, carved);
    if (!got)
        return NULL;
    for (size_t i = 1; i < got; i++)
        w->stack_cache[w->stack_cached++] = batch[i];
    return batch[0];
}

ringo__fiber_t *ringo__stack_get(ringo__runtime_t *rt, ringo__worker_t *w)
{
    char *slot;
    if (w && w->stack_cached)
        slot = w->stack_cache[--w->stack_cached];
    else if (!(slot = refill(rt, w)))
        return NULL;
    ringo__fiber_t *f = slot_fiber(rt, slot);
    char *lo = slot + rt->guard_size;
    RINGO_ASAN_UNPOISON(lo, (size_t)((char *)f - lo) + sizeof(*f));
    /* ThreadSanitizer's fiber contexts are costly: making and destroying
     * one per fiber costs about a millisecond a spawn (TSan's thread slots
     * run out and it resets its state), so a slot keeps its context for
     * life. The price: a new fiber inherits its predecessor's vector clock,
     * so a race between the two, or with what the predecessor had
     * synchronised with, can go unreported. Sync objects do not leak that
     * way (RINGO__RACE_FIBER), and the stack's shadow belongs to the same
     * context, so reuse reports nothing false. */
#ifdef RINGO_TSAN
    void *tsan_fiber = f->tsan_fiber;
    memset(f, 0, sizeof(*f));
    f->tsan_fiber = tsan_fiber ? tsan_fiber : RINGO_TSAN_CREATE();
#else
    /* Write first: reading a never-touched page maps the zero page, and the
     * write after it would cost a copy-on-write fault and a TLB shootdown
     * to every core running this process. */
    memset(f, 0, sizeof(*f));
#endif
    f->stack_lo = lo;
    if (atomic_load_explicit(&rt->guard_mode, memory_order_relaxed) == RINGO__GUARD_CANARY &&
        !slot_guarded(rt, slot)) {
        f->flags |= RINGO__FIBER_CANARY;
        *(uint64_t *)lo = RINGO__CANARY;
    }
    return f;
}

void ringo__stack_put(ringo__runtime_t *rt, ringo__worker_t *w, ringo__fiber_t *f)
{
    char *slot = fiber_slot(rt, f);
#ifdef RINGO_TSAN
    ringo__free(f->race_token);     /* TSan drops the fiber's sync objects */
    f->race_token = NULL;
#endif
    atomic_store_explicit(&f->state, RINGO__FIBER_FREE, memory_order_release);
    if (w && w->stack_cached < RINGO__STACK_CACHE) {
        w->stack_cache[w->stack_cached++] = slot;
        return;
    }

    /* Hand this slot and half the cache to the global pool (the batch in
     * the worker's scratch: this may run on a fiber's stack). */
    char *one[1];
    char **batch = w ? (char **)w->scratch : one;
    size_t nb = 0;
    batch[nb++] = slot;
    while (w && nb <= TRANSFER && w->stack_cached > TRANSFER)
        batch[nb++] = w->stack_cache[--w->stack_cached];
    ringo__pthread_lock(&rt->stack_lock);
    for (size_t i = 0; i < nb; i++)
        push_list(&rt->warm, &rt->nwarm, &rt->warm_cap, batch[i]);
    ringo__pthread_unlock(&rt->stack_lock);
}

static int cmp_slot(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return x < y ? -1 : x > y;
}

size_t ringo__stacks_scavenge(ringo__runtime_t *rt)
{
#ifdef RINGO_TSAN
    /* Trimming would zero the slots' kept ThreadSanitizer contexts. */
    (void)rt;
    return 0;
#endif
    ringo__pthread_lock(&rt->stack_lock);
    /* Only slots that sat unused for the whole period since the last call:
     * those below the list's low-water mark. A pool in active use keeps its
     * memory; a pool left over from a burst gives it back. */
    size_t idle = rt->warm_low < rt->nwarm ? rt->warm_low : rt->nwarm;
    size_t n = idle > WARM_MAX ? idle - WARM_MAX : 0;
    if (n > SCAVENGE_MAX)
        n = SCAVENGE_MAX;
    char **trim = n ? ringo__malloc(n * sizeof(*trim)) : NULL;
    if (!trim) {
        rt->warm_low = rt->nwarm;
        ringo__pthread_unlock(&rt->stack_lock);
        return 0;
    }
    /* The bottom of the LIFO list was freed longest ago. */
    memcpy(trim, rt->warm, n * sizeof(*trim));
    memmove(rt->warm, rt->warm + n, (rt->nwarm - n) * sizeof(*trim));
    rt->nwarm -= n;
    rt->warm_low = rt->nwarm;
    ringo__pthread_unlock(&rt->stack_lock);

    qsort(trim, n, sizeof(*trim), cmp_slot);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && trim[j] == trim[j - 1] + rt->slot_size)
            j++;
        char *lo = trim[i] + rt->guard_size;
        madvise(lo, (size_t)(trim[j - 1] + rt->slot_size - lo), MADV_DONTNEED);
        i = j;
    }

    ringo__pthread_lock(&rt->stack_lock);
    for (size_t i = 0; i < n; i++)
        push_list(&rt->cold, &rt->ncold, &rt->cold_cap, trim[i]);
    ringo__pthread_unlock(&rt->stack_lock);
    ringo__free(trim);
    return n;
}

ringo__fiber_t *ringo__stack_guard_owner(const void *addr)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt || !rt->chunks)
        return NULL;
    const char *a = addr;
    size_t n = atomic_load_explicit(&rt->nchunks, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const struct ringo__stack_chunk *c = &rt->chunks[i];
        if (a < c->base || a >= c->base + c->nslots * rt->slot_size)
            continue;
        size_t idx = (size_t)(a - c->base) / rt->slot_size;
        char *slot = c->base + idx * rt->slot_size;
        if (idx >= atomic_load_explicit(&c->carved, memory_order_acquire) ||
            idx >= unguarded_from[i] || a >= slot + rt->guard_size)
            return NULL;
        return slot_fiber(rt, slot);
    }
    return NULL;
}

void ringo__fibers_foreach(void (*fn)(ringo__fiber_t *f, void *arg), void *arg)
{
    ringo__runtime_t *rt = ringo__rt;
    if (!rt || !rt->chunks)
        return;
    size_t n = atomic_load_explicit(&rt->nchunks, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const struct ringo__stack_chunk *c = &rt->chunks[i];
        size_t carved = atomic_load_explicit(&c->carved, memory_order_acquire);
        for (size_t j = 0; j < carved; j++) {
            ringo__fiber_t *f = slot_fiber(rt, c->base + j * rt->slot_size);
            int s = atomic_load_explicit(&f->state, memory_order_acquire);
            if (s != RINGO__FIBER_FREE && s != RINGO__FIBER_DEAD)
                fn(f, arg);
        }
    }
}

/* ringo_main exits with fibers alive, their stacks still mapped: what only
 * they point to is in use, not leaked. LeakSanitizer does not scan fiber
 * stacks, so each carved slot's stack (above its guard) becomes a root
 * region for the exit-time leak check. */
void ringo__stacks_lsan_roots(ringo__runtime_t *rt)
{
#ifdef RINGO_ASAN
    size_t n = atomic_load(&rt->nchunks);
    for (size_t i = 0; i < n; i++) {
        struct ringo__stack_chunk *c = &rt->chunks[i];
        size_t carved = atomic_load(&c->carved);
        for (size_t j = 0; j < carved; j++)
            __lsan_register_root_region(c->base + j * rt->slot_size + rt->guard_size,
                                        rt->stack_size);
    }
#else
    (void)rt;
#endif
}
