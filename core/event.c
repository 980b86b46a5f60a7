/* core/event.c - which event source a run uses, and what both backends
 * share: the choice (ringo__ev_probe), the fork flag, the cancel inbox's
 * forget and the "gone" test.
 *
 * The choice, once per ringo_run, before any worker starts: RINGO_BACKEND
 * (uring|epoll) in the environment, else the config's backend field, forces
 * one; with neither, io_uring is used when a ring can be set up and the
 * kernel has every opcode ringo uses, and epoll otherwise, after one line on
 * stderr naming why (EPERM: a seccomp filter or the io_uring_disabled
 * sysctl; ENOSYS: no io_uring; the missing opcode). A forced io_uring that
 * cannot be had fails the run with its -errno, as before epoll existed.
 * ringo__ev_backend then steers the inline dispatch in event.h; it changes
 * only while no runtime runs.
 *
 * Lock rules: the inbox functions take w->inbox_lock only.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ringo__ev_backend;

/* fork(). A child of a process whose runtime runs shares the parent's
 * rings (MAP_SHARED) or epoll instances: one that touched them would
 * submit into, and reap from, its parent's. The child sets this flag (an
 * atfork handler) and its event source then does nothing: every op
 * completes at once with -ECHILD, polls find nothing, waits only sleep. */
static _Atomic bool forked_child;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void mark_forked_child(void)
{
    if (ringo__rt)
        atomic_store_explicit(&forked_child, true, memory_order_relaxed);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, mark_forked_child);
}

bool ringo__ev_forked(void)
{
    return atomic_load_explicit(&forked_child, memory_order_relaxed);
}

/* RINGO_BACKEND, or 0 if unset; a bad value is ignored with a warning. */
static int env_backend(void)
{
    const char *s = getenv("RINGO_BACKEND");
    if (!s || !*s)
        return RINGO_BACKEND_AUTO;
    if (strcmp(s, "uring") == 0 || strcmp(s, "io_uring") == 0)
        return RINGO_BACKEND_URING;
    if (strcmp(s, "epoll") == 0)
        return RINGO_BACKEND_EPOLL;
    fprintf(stderr, "ringo: warning: ignoring RINGO_BACKEND=%s (want uring or epoll)\n", s);
    return RINGO_BACKEND_AUTO;
}

int ringo__ev_probe(ringo__runtime_t *rt, int wanted)
{
    pthread_once(&atfork_once, install_atfork);
    int env = env_backend();
    if (env)
        wanted = env;
    if (wanted != RINGO_BACKEND_AUTO && wanted != RINGO_BACKEND_URING &&
        wanted != RINGO_BACKEND_EPOLL)
        return -EINVAL;
    int ret;
    if (wanted != RINGO_BACKEND_EPOLL) {
        ret = ringo__uring_probe(rt, wanted == RINGO_BACKEND_AUTO);
        if (ret == 0 || wanted == RINGO_BACKEND_URING) {
            if (ret == 0)
                ringo__ev_backend = RINGO_BACKEND_URING;
            return ret;
        }
    }
    ret = ringo__epoll_probe(rt, false);
    if (ret == 0)
        ringo__ev_backend = RINGO_BACKEND_EPOLL;
    return ret;
}

void ringo__ev_run_end(ringo__runtime_t *rt)
{
    if (ringo__ev_backend == RINGO_BACKEND_EPOLL)
        ringo__epoll_run_end(rt);
}

bool ringo__ev_own_thread(int tid)
{
    return ringo__ev_backend == RINGO_BACKEND_EPOLL && ringo__epoll_own_thread(tid);
}

bool ringo__ev_gone(ringo__worker_t *w)
{
    return atomic_load_explicit(&w->ring_fd, memory_order_acquire) < 0;
}

void ringo__ev_forget(ringo__worker_t *w, ringo__op_t *op)
{
    if (!atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire))
        return;
    ringo__spin_lock(&w->inbox_lock);
    size_t k = 0;
    for (size_t i = 0; i < w->ninbox; i++)
        if (w->inbox[i] != op)
            w->inbox[k++] = w->inbox[i];
    w->ninbox = k;
    if (!k)
        atomic_store(&w->inbox_nonempty, 0);
    ringo__spin_unlock(&w->inbox_lock);
}

/* Both backends' fini: no cancel request lands in w's inbox from now on
 * (a post for a worker without a ring is dropped: other workers' fibers may
 * still post while this one shuts down), and the inbox is freed. */
void ringo__ev_inbox_close(ringo__worker_t *w)
{
    ringo__spin_lock(&w->inbox_lock);
    atomic_store_explicit(&w->ring_fd, -1, memory_order_relaxed);
    ringo__free(w->inbox);
    w->inbox = NULL;
    w->ninbox = w->inbox_cap = 0;
    atomic_store(&w->inbox_nonempty, 0);
    ringo__spin_unlock(&w->inbox_lock);
}

/* Queues a cancel request for op on w's inbox and wakes w (both backends'
 * cross-thread cancel). Dropped once w's event source is gone. */
void ringo__ev_inbox_post(ringo__worker_t *w, ringo__op_t *op)
{
    ringo__spin_lock(&w->inbox_lock);
    if (atomic_load_explicit(&w->ring_fd, memory_order_relaxed) < 0) {
        /* Its event source is gone (shutdown): nothing is in flight to cancel. */
        ringo__spin_unlock(&w->inbox_lock);
        return;
    }
    if (w->ninbox == w->inbox_cap) {
        size_t cap = w->inbox_cap ? w->inbox_cap * 2 : 64;
        ringo__op_t **n = ringo__realloc(w->inbox, cap * sizeof(*n));
        if (!n) {
            ringo__spin_unlock(&w->inbox_lock);
            ringo__throw("out of memory queueing a cancel request");
        }
        w->inbox = n;
        w->inbox_cap = cap;
    }
    w->inbox[w->ninbox++] = op;
    atomic_store(&w->inbox_nonempty, 1);
    ringo__spin_unlock(&w->inbox_lock);
    if (!atomic_exchange(&w->wake_pending, 1))
        ringo__ev_wake(w);
}
