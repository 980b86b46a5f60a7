/* core/debugger.c - what a debugger needs to find fibers in a stopped
 * process or a core file, without calling into it.
 *
 * gdb's ringo extension (tools/gdb/ringo_gdb.py) lists fibers and unwinds
 * their stacks by reading memory only, so it works on core dumps. It finds
 * everything from one symbol, ringo__debugger_layout: a constant table of
 * the offsets and sizes it needs (the runtime root, the worker array, the
 * stack chunk table, the fiber record, the fiber states), so it needs no
 * debug information for ringo and follows layout changes by itself. The
 * table costs nothing at run time: nothing reads it but a debugger. It is
 * the one ringo__ symbol libringo.so exports, so that a stripped library
 * (no .symtab) still shows its fibers.
 *
 * How the extension walks the fibers is how ringo__fibers_foreach (stack.c)
 * does: every carved slot of every chunk holds a fiber record at its top,
 * rounded down to a cache line (slot_fiber); the states FREE and DEAD hold
 * no live fiber. A fiber switched out has its callee-saved registers and
 * return address at f->sp, laid out as core/arch/<cpu>.S says; a running
 * one is on the thread of the worker whose `current` it is.
 *
 * Invariants: RINGO__DEBUGGER_LAYOUT_VERSION changes whenever a field the
 * extension reads changes meaning (not merely place: offsets are in the
 * table), and the extension refuses a version it does not know.
 *
 * The same object carries the extension itself, in a .debug_gdb_scripts
 * section (an inline script: ringo_gdb_script.h, generated from
 * tools/gdb/ringo_gdb.py at build time), so gdb loads it by itself for
 * libringo.so and for programs linked with libringo.a, once the file is in
 * gdb's auto-load safe-path. The section is not loaded at run time and
 * `strip --strip-debug` drops it. ringo__rt is defined here, so a static
 * link that runs a runtime always pulls this object in.
 *
 * No locks: nothing here runs.
 */
#include "internal.h"

#include <stddef.h>

ringo__runtime_t *ringo__rt;

#define RINGO__DEBUGGER_LAYOUT_VERSION 1

/* Every field a 64-bit word so that the reader needs no padding rules. */
struct ringo__debugger_layout {
    uint64_t magic;                     /* "RINGDBG", little-endian */
    uint64_t version;
    uint64_t runtime_ptr;               /* &ringo__rt */
    /* struct ringo__runtime */
    uint64_t rt_nworkers, rt_workers, rt_chunks, rt_nchunks, rt_slot_size;
    /* struct ringo__worker */
    uint64_t worker_size, worker_index, worker_current, worker_tid;
    /* struct ringo__stack_chunk */
    uint64_t chunk_size, chunk_base, chunk_carved;
    /* struct ringo__fiber; a slot's record is at
     * (slot + slot_size - fiber_size) & ~(fiber_align - 1) */
    uint64_t fiber_size, fiber_align;
    uint64_t fiber_sp, fiber_state, fiber_flags, fiber_id, fiber_fn, fiber_wait_reason,
        fiber_file, fiber_fn_name, fiber_line, fiber_parent_id;
    uint64_t flag_main;
    /* enum ringo__fiber_state */
    uint64_t state_free, state_runnable, state_running, state_parking, state_parked,
        state_woken, state_dead;
};

#define FIELD(type, member) offsetof(type, member)

__attribute__((used, visibility("default")))
const struct ringo__debugger_layout ringo__debugger_layout = {
    .magic = 0x474244474e4952ull,
    .version = RINGO__DEBUGGER_LAYOUT_VERSION,
    .runtime_ptr = (uint64_t)(uintptr_t)&ringo__rt,
    .rt_nworkers = FIELD(ringo__runtime_t, nworkers),
    .rt_workers = FIELD(ringo__runtime_t, workers),
    .rt_chunks = FIELD(ringo__runtime_t, chunks),
    .rt_nchunks = FIELD(ringo__runtime_t, nchunks),
    .rt_slot_size = FIELD(ringo__runtime_t, slot_size),
    .worker_size = sizeof(ringo__worker_t),
    .worker_index = FIELD(ringo__worker_t, index),
    .worker_current = FIELD(ringo__worker_t, current),
    .worker_tid = FIELD(ringo__worker_t, tid),
    .chunk_size = sizeof(struct ringo__stack_chunk),
    .chunk_base = FIELD(struct ringo__stack_chunk, base),
    .chunk_carved = FIELD(struct ringo__stack_chunk, carved),
    .fiber_size = sizeof(ringo__fiber_t),
    .fiber_align = RINGO__CACHELINE,
    .fiber_sp = FIELD(ringo__fiber_t, sp),
    .fiber_state = FIELD(ringo__fiber_t, state),
    .fiber_flags = FIELD(ringo__fiber_t, flags),
    .fiber_id = FIELD(ringo__fiber_t, id),
    .fiber_fn = FIELD(ringo__fiber_t, fn),
    .fiber_wait_reason = FIELD(ringo__fiber_t, wait_reason),
    .fiber_file = FIELD(ringo__fiber_t, file),
    .fiber_fn_name = FIELD(ringo__fiber_t, fn_name),
    .fiber_line = FIELD(ringo__fiber_t, line),
    .fiber_parent_id = FIELD(ringo__fiber_t, parent_id),
    .flag_main = RINGO__FIBER_MAIN,
    .state_free = RINGO__FIBER_FREE,
    .state_runnable = RINGO__FIBER_RUNNABLE,
    .state_running = RINGO__FIBER_RUNNING,
    .state_parking = RINGO__FIBER_PARKING,
    .state_parked = RINGO__FIBER_PARKED,
    .state_woken = RINGO__FIBER_WOKEN,
    .state_dead = RINGO__FIBER_DEAD,
};

_Static_assert(sizeof(int) == 4 && sizeof(void *) == 8,
               "the debugger layout table assumes LP64 (int fields of 4 bytes)");

/* The extension, for gdb's auto-load (see the top of this file). */
#include "ringo_gdb_script.h"
