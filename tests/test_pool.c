/* Description: ringo_pool (sync.Pool in ringo/sync.h), ported from Go's
 * sync/pool_test.go where it applies. Get on an empty pool calls new_fn, or
 * returns NULL without one (TestPool, TestPoolNew); a put followed by a get
 * on the same fiber, with no switch between, returns the same object (the
 * per-worker private slot; Go pins the P for this and so do we, by not
 * yielding); objects put on one worker are got on the other without new_fn
 * (the shared lists are stolen from); fibers on two workers get and put
 * 100,000 times and new_fn runs far fewer times than get (TestPoolStress),
 * never handing one object to two fibers at once; ringo_pool_drain frees
 * every pooled object with free_fn (created - frees == objects the test
 * holds), and at the end every object created was freed (no leaks under
 * ASan); ringo_pool_free releases a pool, which is usable again after it.
 *
 * Regressions: a pool whose storage ended (on a fiber's stack, or freed)
 * crashed the program at the next aging, which called free_fn through the
 * pool's own memory (test_pool_storage_ends_then_aging); ringo_pool_drain
 * freed the pool's state under concurrent gets and puts
 * (test_pool_drain_races_get_put); aging called free_fn under the global
 * pools lock, so a free_fn that used a new pool deadlocked
 * (test_pool_aging_free_fn_may_use_pools). Aging is driven by calling the
 * monitor's periodic hook directly, not by waiting for it.
 *
 * The runtime may age the pool at any time (its victim generation), freeing
 * idle objects with free_fn: the counts below allow for that. Fibers other
 * than main count failures with CHECK; each test asserts none.
 */
#include "common.h"
#include "internal.h"

#include <stdatomic.h>

#define MAGIC 0x90015eedu
#define DEAD  0xdeadbeefu

struct obj {
    unsigned magic;
    atomic_int in_use;      /* 1 while some fiber holds it */
    long serial;            /* order of creation, from 1 */
    int put_worker;         /* worker index at its last put */
};

static atomic_long created, freed;

static void *new_obj(void)
{
    struct obj *o = malloc(sizeof(*o));
    if (!o)
        return NULL;
    o->magic = MAGIC;
    atomic_init(&o->in_use, 0);
    o->serial = atomic_fetch_add(&created, 1) + 1;
    o->put_worker = -1;
    return o;
}

static void free_obj(void *p)
{
    struct obj *o = p;
    CHECK(o != NULL && o->magic == MAGIC);
    CHECK(atomic_load(&o->in_use) == 0);    /* never free one a fiber holds */
    o->magic = DEAD;
    free(o);
    atomic_fetch_add(&freed, 1);
}

static void reset_counts(void)
{
    atomic_store(&created, 0);
    atomic_store(&freed, 0);
}

/* Takes o from the pool's hands into the caller's: checks it is live and
 * that nobody else holds it. */
static struct obj *take(void *p)
{
    struct obj *o = p;
    CHECK(o != NULL);
    if (!o)
        return NULL;
    CHECK(o->magic == MAGIC);
    CHECK(atomic_exchange(&o->in_use, 1) == 0);
    return o;
}

static void give_back(ringo_pool_t *p, struct obj *o)
{
    atomic_store(&o->in_use, 0);
    ringo_pool_put(p, o);
}

static int worker_index(void)
{
    ringo__worker_t *w = ringo__self();
    return w ? (int)w->index : -1;
}

/* ---- TestPool, TestPoolNew ----------------------------------------------------------------------- */

static void basics_main(void *arg)
{
    (void)arg;
    reset_counts();
    /* No new_fn: an empty pool gives NULL. */
    ringo_pool_t bare = {0};
    assert_null(ringo_pool_get(&bare));
    static int a, b;
    ringo_pool_put(&bare, &a);
    assert_ptr_equal(ringo_pool_get(&bare), &a);    /* same fiber, no switch */
    assert_null(ringo_pool_get(&bare));
    /* Two objects: both come back (in some order), then NULL. */
    ringo_pool_put(&bare, &a);
    ringo_pool_put(&bare, &b);
    void *x = ringo_pool_get(&bare), *y = ringo_pool_get(&bare);
    assert_true((x == &a && y == &b) || (x == &b && y == &a));
    assert_null(ringo_pool_get(&bare));
    ringo_pool_drain(&bare);        /* empty: free_fn (NULL) is never needed */

    /* TestPoolNew: new_fn on empty; a put object comes back before new_fn
     * runs again. */
    ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
    struct obj *o1 = take(ringo_pool_get(&p));
    struct obj *o2 = take(ringo_pool_get(&p));
    assert_non_null(o1);
    assert_non_null(o2);
    assert_ptr_not_equal(o1, o2);
    assert_int_equal(o1->serial, 1);
    assert_int_equal(o2->serial, 2);
    assert_int_equal(atomic_load(&created), 2);
    give_back(&p, o2);
    struct obj *o3 = take(ringo_pool_get(&p));
    assert_ptr_equal(o3, o2);                       /* the private slot */
    assert_int_equal(atomic_load(&created), 2);
    struct obj *o4 = take(ringo_pool_get(&p));
    assert_int_equal(o4->serial, 3);
    assert_int_equal(atomic_load(&created), 3);
    /* Put back everything, then drain: all three freed. */
    give_back(&p, o1);
    give_back(&p, o3);
    give_back(&p, o4);
    ringo_pool_drain(&p);
    assert_int_equal(atomic_load(&freed), 3);
    /* Empty after a drain: get makes a new one; the pool still works. */
    struct obj *o5 = take(ringo_pool_get(&p));
    assert_int_equal(o5->serial, 4);
    give_back(&p, o5);
    assert_ptr_equal(ringo_pool_get(&p), o5);
    atomic_store(&o5->in_use, 0);
    ringo_pool_put(&p, o5);
    ringo_pool_drain(&p);
    assert_int_equal(atomic_load(&freed), 4);
    assert_int_equal(atomic_load(&created), 4);
    ringo_pool_free(&bare);
    /* Released and usable again: it starts empty. */
    give_back(&p, take(ringo_pool_get(&p)));
    ringo_pool_free(&p);
    assert_int_equal(atomic_load(&freed), 5);
    assert_int_equal(atomic_load(&created), 5);
    ringo_pool_free(&p);                    /* twice: harmless */
}

static void test_basics(void **state)
{
    (void)state;
    run_checked(2, basics_main, NULL);
}

/* ---- put on one worker, get on the other ------------------------------------------------------------ */

#define HANDOFF 64

struct handoff {
    ringo_pool_t *p;
    int put_worker;
    ringo_chan_t *result;   /* long: objects got from the put set, -1: wrong worker */
};

static void handoff_getter(void *arg)
{
    struct handoff h = *(struct handoff *)arg;
    long from_put = -1;
    /* Give the other worker a chance to steal this fiber. */
    for (int i = 0; i < 200 && worker_index() == h.put_worker; i++)
        ringo_yield();
    if (worker_index() != h.put_worker) {
        struct obj *got[HANDOFF];
        from_put = 0;
        /* No switch from here until every get is done: the worker stays. */
        for (int i = 0; i < HANDOFF; i++) {
            got[i] = take(ringo_pool_get(h.p));
            if (got[i] && got[i]->put_worker == h.put_worker)
                from_put++;
        }
        for (int i = 0; i < HANDOFF; i++)
            if (got[i])
                give_back(h.p, got[i]);
    }
    ringo_chan_send(h.result, &from_put);
}

static void handoff_main(void *arg)
{
    (void)arg;
    reset_counts();
    ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_chan_t *result = ringo_chan_make(sizeof(long), 1);
    bool crossed = false;
    for (int attempt = 0; attempt < 200 && !crossed; attempt++) {
        /* Fill the pool from one worker: take HANDOFF objects, put them all
         * back without switching, so they all land on this worker. */
        struct obj *held[HANDOFF];
        for (int i = 0; i < HANDOFF; i++)
            held[i] = take(ringo_pool_get(&p));
        int w = worker_index();
        for (int i = 0; i < HANDOFF; i++) {
            held[i]->put_worker = w;
            give_back(&p, held[i]);
        }
        assert_int_equal(worker_index(), w);
        long before = atomic_load(&created);
        struct handoff h = {&p, w, result};
        assert_int_equal(ringo_go_copy(handoff_getter, &h, sizeof(h)), 0);
        long from_put = 0;
        assert_true(ringo_chan_recv(result, &from_put));
        if (from_put < 0)
            continue;               /* the getter stayed on this worker: retry */
        crossed = true;
        /* All but the put worker's private slot come across (the victim
         * generation, if the runtime aged the pool meanwhile, holds them
         * too); new_fn covers at most the difference. */
        assert_true(from_put >= HANDOFF - 1);
        assert_true(atomic_load(&created) - before <= HANDOFF - from_put);
    }
    if (!crossed)
        fprintf(stderr, "pool handoff: the getter never ran on the other worker; "
                        "cross-worker check not exercised\n");
    ringo_pool_free(&p);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    ringo_chan_unref(result);
}

static void test_objects_cross_workers(void **state)
{
    (void)state;
    run_checked(2, handoff_main, NULL);
}

/* ---- TestPoolStress: 100,000 gets and puts on two workers ---------------------------------------------- */

#define NFIB 8

static atomic_long gets;

struct stress {
    ringo_pool_t *p;
    long n;
    ringo_chan_t *finished;
};

static void stress_fiber(void *arg)
{
    struct stress s = *(struct stress *)arg;
    for (long i = 0; i < s.n; i++) {
        struct obj *o = take(ringo_pool_get(s.p));
        atomic_fetch_add(&gets, 1);
        if (!o)
            continue;
        /* Sometimes hold it across a switch: the fiber may come back on the
         * other worker and put it there. */
        if (i % 3 == 0)
            ringo_yield();
        o->put_worker = worker_index();
        give_back(s.p, o);
        if (i % 7 == 0)
            ringo_yield();
    }
    int one = 1;
    ringo_chan_send(s.finished, &one);
}

static void stress_main(void *arg)
{
    (void)arg;
    reset_counts();
    atomic_store(&gets, 0);
    ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), NFIB);
    long total = iters(100000);
    for (int i = 0; i < NFIB; i++) {
        struct stress s = {&p, total / NFIB, finished};
        assert_int_equal(ringo_go_copy(stress_fiber, &s, sizeof(s)), 0);
    }
    for (int i = 0; i < NFIB; i++) {
        int one;
        assert_true(ringo_chan_recv(finished, &one));
    }
    long g = atomic_load(&gets), c = atomic_load(&created);
    assert_int_equal(g, (total / NFIB) * NFIB);
    /* At most NFIB objects are out at once: new_fn runs when every pooled
     * object sits in another worker's private slot or was aged out. */
    if (c * 10 > g)
        fail_msg("new_fn ran %ld times for %ld gets", c, g);
    ringo_pool_free(&p);
    assert_int_equal(atomic_load(&freed), c);
    ringo_chan_unref(finished);
}

static void test_stress_new_calls(void **state)
{
    (void)state;
    run_checked(2, stress_main, NULL);
}

/* ---- drain ------------------------------------------------------------------------------------------ */

struct holder {
    ringo_pool_t *p;
    int n;
    ringo_chan_t *ready, *release, *finished;
};

/* Holds n objects from the pool until told to put them back. */
static void holder_fiber(void *arg)
{
    struct holder h = *(struct holder *)arg;
    struct obj *held[64];
    for (int i = 0; i < h.n; i++)
        held[i] = take(ringo_pool_get(h.p));
    int one = 1;
    ringo_chan_send(h.ready, &one);
    ringo_chan_recv(h.release, NULL);
    for (int i = 0; i < h.n; i++)
        if (held[i])
            give_back(h.p, held[i]);
    ringo_chan_send(h.finished, &one);
}

static void drain_main(void *arg)
{
    (void)arg;
    reset_counts();
    ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
    enum { N = 200, HELD = 30 };
    /* N objects in the pool, put from both workers' fibers. */
    struct obj *all[N];
    for (int i = 0; i < N; i++)
        all[i] = take(ringo_pool_get(&p));
    assert_int_equal(atomic_load(&created), N);
    for (int i = 0; i < N; i++) {
        give_back(&p, all[i]);
        if (i % 10 == 0)
            ringo_yield();
    }
    /* Another fiber holds HELD of them (or new ones) while main drains. */
    ringo_chan_t *ready = ringo_chan_make(sizeof(int), 1);
    ringo_chan_t *release = ringo_chan_make(0, 0);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), 1);
    struct holder h = {&p, HELD, ready, release, finished};
    assert_int_equal(ringo_go_copy(holder_fiber, &h, sizeof(h)), 0);
    int one;
    assert_true(ringo_chan_recv(ready, &one));
    /* Main holds a few too. */
    struct obj *mine[10];
    for (int i = 0; i < 10; i++)
        mine[i] = take(ringo_pool_get(&p));
    ringo_pool_drain(&p);
    long c = atomic_load(&created);
    assert_int_equal(atomic_load(&freed), c - HELD - 10);
    /* The pool is empty: the next get makes a new object. */
    struct obj *fresh = take(ringo_pool_get(&p));
    assert_int_equal(atomic_load(&created), c + 1);
    assert_int_equal(fresh->serial, c + 1);
    /* Everything goes back, then a last drain frees it all. */
    give_back(&p, fresh);
    for (int i = 0; i < 10; i++)
        give_back(&p, mine[i]);
    ringo_chan_close(release);
    assert_true(ringo_chan_recv(finished, &one));
    ringo_pool_drain(&p);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    /* Draining an empty pool is harmless. */
    ringo_pool_drain(&p);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    ringo_pool_free(&p);
    ringo_chan_unref(ready);
    ringo_chan_unref(release);
    ringo_chan_unref(finished);
}

static void test_drain(void **state)
{
    (void)state;
    run_checked(2, drain_main, NULL);
}

/* ---- a pool's storage ends; aging; teardown ---------------------------------------------------- */

/* One aging pass, as the monitor runs it every few seconds. */
static void age_pools(void)
{
    void (*hook)(void) = atomic_load(&ringo__periodic_hook);
    assert_non_null(hook);
    hook();
}

struct scoped {
    ringo_pool_t *heap_pool;    /* NULL: the pool lives on the fiber's stack */
    ringo_chan_t *done;
};

/* Fills a pool from both workers (yields move the fiber), then lets its
 * storage end without ringo_pool_free: the stack frame returns, the heap
 * block is freed; both are scribbled on first, as reused memory would be. */
static void scoped_user(void *arg)
{
    struct scoped *sc = arg;
    ringo_pool_t stack_pool = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_pool_t *p = sc->heap_pool ? sc->heap_pool : &stack_pool;
    struct obj *held[40];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 40; i++)
            held[i] = take(ringo_pool_get(p));
        for (int i = 0; i < 40; i++) {
            give_back(p, held[i]);
            if (i % 8 == 0)
                ringo_yield();
        }
    }
    memset(p, 0xa5, sizeof(*p));
    if (sc->heap_pool)
        free(sc->heap_pool);
    signal_done(sc->done);
}

static void storage_ends_main(void *arg)
{
    (void)arg;
    reset_counts();
    ringo_chan_t *done = ringo_chan_make(sizeof(int), 1);
    struct scoped on_stack = {NULL, done};
    assert_int_equal(ringo_go(scoped_user, &on_stack), 0);
    await_done(done, 1);
    ringo_pool_t *hp = malloc(sizeof(*hp));
    *hp = (ringo_pool_t){.new_fn = new_obj, .free_fn = free_obj};
    struct scoped on_heap = {hp, done};
    assert_int_equal(ringo_go(scoped_user, &on_heap), 0);
    await_done(done, 1);
    /* Reuse the dead fiber's stack, then age: the first pass makes every
     * cached object a victim, the second frees them, through the runtime's
     * own records only. */
    assert_int_equal(ringo_go(scoped_user, &on_stack), 0);
    await_done(done, 1);
    assert_true(atomic_load(&created) > 0);
    age_pools();
    age_pools();
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    age_pools();
    ringo_chan_unref(done);
}

static void test_pool_storage_ends_then_aging(void **state)
{
    (void)state;
    run_checked(2, storage_ends_main, NULL);
}

/* ---- drain and aging racing get/put on two workers -------------------------------------------------- */

struct churn {
    ringo_pool_t *p;
    long n;
    atomic_int *stop;
    ringo_chan_t *finished;
};

static void churn_fiber(void *arg)
{
    struct churn c = *(struct churn *)arg;
    for (long i = 0; i < c.n; i++) {
        struct obj *o = take(ringo_pool_get(c.p));
        if (!o)
            continue;
        if (i % 5 == 0)
            ringo_yield();
        give_back(c.p, o);
    }
    signal_done(c.finished);
}

static void drainer_fiber(void *arg)
{
    struct churn c = *(struct churn *)arg;
    for (long i = 0; !atomic_load(c.stop); i++) {
        if (i % 4 == 3)
            age_pools();
        else
            ringo_pool_drain(c.p);
        ringo_yield();
    }
    signal_done(c.finished);
}

/* Drains (and agings) while fibers on both workers get and put: every
 * object is handed to one fiber at a time, freed only when nobody holds it
 * (free_obj checks), and all are freed at the end; ASan and TSan watch the
 * pool's own state, which drain used to free under the getters. */
static void drain_race_main(void *arg)
{
    (void)arg;
    reset_counts();
    ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), NFIB + 2);
    atomic_int stop = 0;
    struct churn c = {&p, iters(20000) / NFIB, &stop, finished};
    ringo_pool_put(&p, new_obj());          /* the state exists before the drainers start */
    for (int i = 0; i < 2; i++)
        assert_int_equal(ringo_go_copy(drainer_fiber, &c, sizeof(c)), 0);
    for (int i = 0; i < NFIB; i++)
        assert_int_equal(ringo_go_copy(churn_fiber, &c, sizeof(c)), 0);
    await_done(finished, NFIB);
    atomic_store(&stop, 1);
    await_done(finished, 2);
    ringo_pool_free(&p);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    ringo_chan_unref(finished);
}

static void test_pool_drain_races_get_put(void **state)
{
    (void)state;
    run_checked(2, drain_race_main, NULL);
}

/* Short-lived pools on fiber stacks, torn down with ringo_pool_free while
 * another fiber ages all pools from the other worker. */
static void short_lived(void *arg)
{
    struct churn c = *(struct churn *)arg;
    for (long r = 0; r < c.n; r++) {
        ringo_pool_t p = {.new_fn = new_obj, .free_fn = free_obj};
        struct obj *a = take(ringo_pool_get(&p)), *b = take(ringo_pool_get(&p));
        give_back(&p, a);
        ringo_yield();
        give_back(&p, b);
        ringo_pool_free(&p);
    }
    signal_done(c.finished);
}

static void ager(void *arg)
{
    struct churn c = *(struct churn *)arg;
    while (!atomic_load(c.stop)) {
        age_pools();
        ringo_yield();
    }
    signal_done(c.finished);
}

static void teardown_main(void *arg)
{
    (void)arg;
    reset_counts();
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), 8);
    atomic_int stop = 0;
    struct churn c = {NULL, iters(2000), &stop, finished};
    /* A pool, so that the aging hook is installed before the ager runs. */
    ringo_pool_t first = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_pool_put(&first, new_obj());
    ringo_pool_free(&first);
    assert_int_equal(ringo_go_copy(ager, &c, sizeof(c)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ringo_go_copy(short_lived, &c, sizeof(c)), 0);
    await_done(finished, 4);
    atomic_store(&stop, 1);
    await_done(finished, 1);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
    ringo_chan_unref(finished);
}

static void test_pool_free_races_aging(void **state)
{
    (void)state;
    run_checked(2, teardown_main, NULL);
}

/* ---- free_fn runs with no pool lock held ------------------------------------------------------------- */

static ringo_pool_t *recycle_into;
static atomic_long recycled;

/* A free_fn that hands the object to another pool: its first put creates
 * that pool's state, which takes the registry lock (aging used to hold it
 * here, and so deadlocked). */
static void recycle(void *x)
{
    atomic_fetch_add(&recycled, 1);
    ringo_pool_put(recycle_into, x);
}

static void free_fn_uses_pools_main(void *arg)
{
    (void)arg;
    reset_counts();
    atomic_store(&recycled, 0);
    ringo_pool_t second = {.new_fn = new_obj, .free_fn = free_obj};
    ringo_pool_t first = {.new_fn = new_obj, .free_fn = recycle};
    recycle_into = &second;
    for (int i = 0; i < 10; i++)
        ringo_pool_put(&first, new_obj());
    age_pools();
    age_pools();                            /* first's objects move to second */
    assert_int_equal(atomic_load(&recycled), 10);
    ringo_pool_free(&first);
    ringo_pool_free(&second);
    assert_int_equal(atomic_load(&freed), atomic_load(&created));
}

static void test_pool_aging_free_fn_may_use_pools(void **state)
{
    (void)state;
    run_checked(2, free_fn_uses_pools_main, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_objects_cross_workers),
        cmocka_unit_test(test_stress_new_calls),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_pool_storage_ends_then_aging),
        cmocka_unit_test(test_pool_drain_races_get_put),
        cmocka_unit_test(test_pool_free_races_aging),
        cmocka_unit_test(test_pool_aging_free_fn_may_use_pools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
