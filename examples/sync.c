/* examples/sync.c - Go's sync package in C (chapter 4 of
 * docs/guide.md).
 *
 *   var mu sync.Mutex             ringo_mutex_t mu = {0};   (zero value works)
 *   mu.Lock(); defer mu.Unlock()  ringo_mutex_lock(&mu) ... ringo_mutex_unlock(&mu)
 *   sync.RWMutex RLock/Lock       ringo_rwmutex_rlock / ringo_rwmutex_lock
 *   wg.Add(1); go f(); wg.Wait()  ringo_waitgroup_add(&wg, 1) BEFORE ringo_go,
 *   defer wg.Done()               ringo_waitgroup_done(&wg) as the fiber's last act
 *   once.Do(f)                    ringo_once_do(&once, f, arg)
 *   sync.Map Store/Load/Delete    ringo_map_store / _load / _delete / _range
 *   sync.Pool{New: ...}           ringo_pool_t{.new_fn, .free_fn}; get / put;
 *                                 ringo_pool_free frees what is left and
 *                                 releases the pool (no GC)
 *   sync.Cond Wait/Broadcast      ringo_cond_wait(&c, &mu) / ringo_cond_broadcast
 *   semaphore.NewWeighted(n)      ringo_sem_init(&s, n); ringo_sem_acquire(ctx, &s, w)
 *
 * Every sync type works at its zero value and must not be copied after
 * first use. The fibers here never outlive the function that started them
 * (each waits on a WaitGroup), so they borrow that function's locals.
 *
 * It checks its own results and exits non-zero if anything is off, so the
 * test suite runs it (also under ThreadSanitizer: it is data-race free).
 */
#include "example.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Raises *max to now if now is larger. */
static void note_max(atomic_int *max, int now)
{
    int seen = atomic_load(max);
    while (now > seen && !atomic_compare_exchange_weak(max, &seen, now))
        ;
}

/* ---- Mutex: SafeCounter ------------------------------------------------------------------ */

struct safe_counter {
    ringo_mutex_t mu;
    int count;
};

static void counter_inc(struct safe_counter *c)
{
    ringo_mutex_lock(&c->mu);
    c->count++;
    ringo_mutex_unlock(&c->mu);
}

static int counter_value(struct safe_counter *c)
{
    ringo_mutex_lock(&c->mu);
    int v = c->count;
    ringo_mutex_unlock(&c->mu);
    return v;
}

#define COUNTER_FIBERS 1000
#define COUNTER_INCS 50

struct inc_args { struct safe_counter *c; ringo_waitgroup_t *wg; };

static void incrementer(void *arg)
{
    struct inc_args *a = arg;
    for (int i = 0; i < COUNTER_INCS; i++) {
        counter_inc(a->c);
        if (i % 10 == 0)
            ringo_yield();              /* let the fibers interleave */
    }
    ringo_waitgroup_done(a->wg);
}

static void safe_counter(void)
{
    struct safe_counter c = {0};
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < COUNTER_FIBERS; i++) {
        struct inc_args a = {&c, &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(incrementer, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    int v = counter_value(&c);
    printf("mutex: %d fibers x %d increments = %d\n", COUNTER_FIBERS, COUNTER_INCS, v);
    check(v == COUNTER_FIBERS * COUNTER_INCS, "SafeCounter counted every increment");
}

/* ---- RWMutex: a read-mostly cache ---------------------------------------------------------- */

#define CACHE_SLOTS 16

/* A value is a pair that must always be seen whole: b == 3 * a. */
struct entry { char key[16]; long a, b; bool used; };

struct cache {
    ringo_rwmutex_t mu;
    struct entry slots[CACHE_SLOTS];
    atomic_int readers, max_readers;    /* instrumentation only */
};

static bool cache_get(struct cache *c, const char *key, long *a, long *b)
{
    ringo_rwmutex_rlock(&c->mu);        /* many readers at once */
    bool found = false;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (c->slots[i].used && strcmp(c->slots[i].key, key) == 0) {
            *a = c->slots[i].a;
            *b = c->slots[i].b;
            found = true;
            break;
        }
    ringo_rwmutex_runlock(&c->mu);
    return found;
}

static void cache_set(struct cache *c, const char *key, long a)
{
    ringo_rwmutex_lock(&c->mu);         /* exclusive */
    int slot = -1;
    for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
        if (c->slots[i].used && strcmp(c->slots[i].key, key) == 0)
            slot = i;
    for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
        if (!c->slots[i].used)
            slot = i;
    if (slot >= 0) {
        struct entry *e = &c->slots[slot];
        snprintf(e->key, sizeof e->key, "%s", key);
        e->a = a;
        ringo_yield();                  /* a reader sneaking in now would see a torn pair */
        e->b = 3 * a;
        e->used = true;
    }
    ringo_rwmutex_unlock(&c->mu);
}

struct cache_args { struct cache *c; int id; ringo_waitgroup_t *wg; atomic_int *torn, *hits; };

static void cache_reader(void *arg)
{
    struct cache_args *a = arg;
    for (int i = 0; i < 200; i++) {
        char key[16];
        long x, y;
        snprintf(key, sizeof key, "k%d", (a->id + i) % 8);
        if (cache_get(a->c, key, &x, &y)) {
            atomic_fetch_add(a->hits, 1);
            if (y != 3 * x)
                atomic_fetch_add(a->torn, 1);
        }
        ringo_yield();
    }
    ringo_waitgroup_done(a->wg);
}

static void cache_writer(void *arg)
{
    struct cache_args *a = arg;
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i % 8);
        cache_set(a->c, key, a->id * 1000 + i);
        ringo_yield();
    }
    ringo_waitgroup_done(a->wg);
}

#define SLOW_READERS 6

/* Takes the read lock and keeps it until every slow reader holds it too (or
 * 5 s pass): only possible because read locks are shared. */
static void slow_reader(void *arg)
{
    struct cache_args *a = arg;
    ringo_rwmutex_rlock(&a->c->mu);
    note_max(&a->c->max_readers, atomic_fetch_add(&a->c->readers, 1) + 1);
    int64_t give_up = ringo_now() + 5 * RINGO_SECOND;
    while (atomic_load(&a->c->max_readers) < SLOW_READERS && ringo_now() < give_up)
        ringo_sleep(RINGO_MILLISECOND);
    atomic_fetch_sub(&a->c->readers, 1);
    ringo_rwmutex_runlock(&a->c->mu);
    ringo_waitgroup_done(a->wg);
}

static void rw_cache(void)
{
    struct cache *c = calloc(1, sizeof *c);
    check(c != NULL, "calloc");
    ringo_waitgroup_t wg = {0};
    atomic_int torn = 0, hits = 0;

    cache_set(c, "k0", 1);
    for (int i = 0; i < 8; i++) {
        struct cache_args a = {c, i, &wg, &torn, &hits};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(cache_reader, &a, sizeof a) == 0, "ringo_go_copy");
    }
    for (int i = 0; i < 2; i++) {
        struct cache_args a = {c, i + 1, &wg, &torn, &hits};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(cache_writer, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    printf("rwmutex: 8 readers x 200 gets (%d hits) beside 2 writers, %d torn reads\n",
           atomic_load(&hits), atomic_load(&torn));
    check(atomic_load(&torn) == 0, "readers never see a half-written entry");
    check(atomic_load(&hits) > 0, "readers found entries");
    long x, y;
    check(cache_get(c, "k7", &x, &y) && y == 3 * x, "k7 was set");
    check(!cache_get(c, "nope", &x, &y), "a missing key is missing");

    for (int i = 0; i < SLOW_READERS; i++) {
        struct cache_args a = {c, i, &wg, NULL, NULL};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(slow_reader, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    int max = atomic_load(&c->max_readers);
    printf("rwmutex: %d of %d readers held the read lock at once\n", max, SLOW_READERS);
    check(max == SLOW_READERS, "read locks are shared");
    free(c);
}

/* ---- WaitGroup fan-out ---------------------------------------------------------------------- */

#define FAN 10

struct fan_args { int id; int *results; ringo_waitgroup_t *wg; };

static void process_id(void *arg)
{
    struct fan_args *a = arg;
    ringo_sleep((a->id % 3) * RINGO_MILLISECOND);
    a->results[a->id] = a->id * a->id;  /* each fiber its own slot */
    ringo_waitgroup_done(a->wg);        /* last: the caller may read results after Wait */
}

static void waitgroup(void)
{
    int results[FAN] = {0};
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < FAN; i++) {
        ringo_waitgroup_add(&wg, 1);    /* before the fiber starts, never inside it */
        struct fan_args a = {i, results, &wg};
        check(ringo_go_copy(process_id, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);          /* Promise.all */
    for (int i = 0; i < FAN; i++)
        check(results[i] == i * i, "every fiber finished before Wait returned");
    printf("waitgroup: %d fibers done, results[9] = %d\n", FAN, results[FAN - 1]);
}

/* ---- Once: a lazily built singleton ------------------------------------------------------------ */

struct database { int connections; };

static ringo_once_t db_once;
static struct database *db_instance;    /* written once, inside once_do */
static atomic_int db_connects;

static void connect_to_database(void *arg)
{
    (void)arg;
    atomic_fetch_add(&db_connects, 1);
    ringo_sleep(5 * RINGO_MILLISECOND);  /* slow: the other callers must wait for it */
    struct database *db = malloc(sizeof *db);
    check(db != NULL, "malloc");
    db->connections = 1;
    db_instance = db;
}

static struct database *get_database(void)
{
    ringo_once_do(&db_once, connect_to_database, NULL);
    return db_instance;                 /* once_do orders the write before this read */
}

struct once_args { struct database **got; ringo_waitgroup_t *wg; };

static void db_user(void *arg)
{
    struct once_args *a = arg;
    *a->got = get_database();
    ringo_waitgroup_done(a->wg);
}

#define ONCE_FIBERS 50

static void once(void)
{
    struct database *got[ONCE_FIBERS] = {NULL};
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < ONCE_FIBERS; i++) {
        struct once_args a = {&got[i], &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(db_user, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    for (int i = 0; i < ONCE_FIBERS; i++)
        check(got[i] != NULL && got[i] == got[0], "every caller got the one instance");
    check(get_database() == got[0], "later calls get it too");
    printf("once: %d fibers asked for the database, it connected %d time(s)\n", ONCE_FIBERS,
           atomic_load(&db_connects));
    check(atomic_load(&db_connects) == 1, "the initialiser ran exactly once");
    free(db_instance);
}

/* ---- sync.Map --------------------------------------------------------------------------------- */

static atomic_int map_values_freed;

static void free_map_value(void *v)
{
    atomic_fetch_add(&map_values_freed, 1);
    free(v);
}

struct map_args { ringo_map_t *m; int first, n; ringo_waitgroup_t *wg; };

/* Writers on disjoint key sets: sync.Map's sweet spot. */
static void map_writer(void *arg)
{
    struct map_args *a = arg;
    for (int i = a->first; i < a->first + a->n; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "user:%d", i);
        int *v = malloc(sizeof *v);
        check(v != NULL, "malloc");
        *v = i * 10;
        ringo_map_store(a->m, key, (size_t)len, v);
    }
    ringo_waitgroup_done(a->wg);
}

struct range_tally { int entries; long sum; };

static bool tally_entry(const void *key, size_t klen, void *value, void *arg)
{
    struct range_tally *t = arg;
    check(klen > 5 && memcmp(key, "user:", 5) == 0, "range: key shape");
    t->entries++;
    t->sum += *(int *)value;
    return true;                        /* keep going */
}

static bool stop_at_three(const void *key, size_t klen, void *value, void *arg)
{
    (void)key, (void)klen, (void)value;
    return ++*(int *)arg < 3;           /* false ends the range */
}

static void sync_map(void)
{
    ringo_map_t *m = ringo_map_new(free_map_value);
    check(m != NULL, "ringo_map_new");
    ringo_waitgroup_t wg = {0};
    for (int w = 0; w < 4; w++) {
        struct map_args a = {m, w * 25, 25, &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(map_writer, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);

    void *v;
    check(ringo_map_load(m, "user:42", 7, &v) && *(int *)v == 420, "Load user:42");
    check(!ringo_map_load(m, "user:100", 8, &v), "Load of a missing key");

    ringo_map_delete(m, "user:42", 7);                  /* Delete */
    check(!ringo_map_load(m, "user:42", 7, &v), "deleted key is gone");

    int *dup = malloc(sizeof *dup);
    check(dup != NULL, "malloc");
    *dup = -1;
    void *actual;
    check(ringo_map_load_or_store(m, "user:7", 6, dup, &actual) && *(int *)actual == 70,
          "LoadOrStore keeps the existing value");
    free(dup);                                          /* not stored: still ours */

    check(ringo_map_load_and_delete(m, "user:8", 6, &v) && *(int *)v == 80, "LoadAndDelete");
    free(v);                                            /* handed back to us */

    struct range_tally t = {0};
    ringo_map_range(m, tally_entry, &t);                /* Range */
    long want = 0;
    for (int i = 0; i < 100; i++)
        if (i != 42 && i != 8)
            want += i * 10;
    printf("sync.Map: 4 writers stored 100 keys; after 2 deletes Range saw %d, sum %ld\n",
           t.entries, t.sum);
    check(t.entries == 98 && t.sum == want, "Range visits every remaining entry");
    int seen = 0;
    ringo_map_range(m, stop_at_three, &seen);
    check(seen == 3, "Range stops when fn returns false");

    ringo_map_free(m);
    check(atomic_load(&map_values_freed) == 99, "the map freed the deleted and remaining values");
}

/* ---- sync.Pool of buffers ------------------------------------------------------------------------ */

struct buffer { size_t len; char data[256]; };

static atomic_int bufs_made, bufs_freed;

static void *new_buffer(void)
{
    atomic_fetch_add(&bufs_made, 1);
    return calloc(1, sizeof(struct buffer));
}

static void free_buffer(void *b)
{
    atomic_fetch_add(&bufs_freed, 1);
    free(b);
}

static ringo_pool_t buf_pool = {.new_fn = new_buffer, .free_fn = free_buffer};

struct pool_args { int id; ringo_waitgroup_t *wg; atomic_int *bad; };

static void use_buffer(void *arg)
{
    struct pool_args *a = arg;
    struct buffer *buf = ringo_pool_get(&buf_pool);
    check(buf != NULL, "pool get");
    if (buf->len != 0)
        atomic_fetch_add(a->bad, 1);    /* someone put it back dirty */
    buf->len = (size_t)snprintf(buf->data, sizeof buf->data, "request %d", a->id);
    ringo_sleep(RINGO_MILLISECOND);     /* "use buf" while others want one too */
    if (strncmp(buf->data, "request ", 8) != 0 || atoi(buf->data + 8) != a->id)
        atomic_fetch_add(a->bad, 1);    /* shared with another fiber */
    buf->len = 0;                       /* buf.Reset() */
    buf->data[0] = '\0';
    ringo_pool_put(&buf_pool, buf);
    ringo_waitgroup_done(a->wg);
}

#define POOL_ROUNDS 10
#define POOL_FIBERS 10

static void pool(void)
{
    atomic_int bad = 0;
    ringo_waitgroup_t wg = {0};
    for (int r = 0; r < POOL_ROUNDS; r++) {
        for (int i = 0; i < POOL_FIBERS; i++) {
            struct pool_args a = {r * POOL_FIBERS + i, &wg, &bad};
            ringo_waitgroup_add(&wg, 1);
            check(ringo_go_copy(use_buffer, &a, sizeof a) == 0, "ringo_go_copy");
        }
        ringo_waitgroup_wait(&wg);
    }
    int made = atomic_load(&bufs_made);
    printf("pool: %d uses of a buffer needed %d allocations\n", POOL_ROUNDS * POOL_FIBERS, made);
    check(atomic_load(&bad) == 0, "a pooled buffer is never shared and comes back clean");
    check(made >= 1 && made < POOL_ROUNDS * POOL_FIBERS, "buffers were reused");
    ringo_pool_free(&buf_pool);         /* no GC: free what the pool still holds */
    check(atomic_load(&bufs_freed) == made, "ringo_pool_free freed every buffer");
}

/* ---- Cond: broadcast a start signal ----------------------------------------------------------- */

struct gate {
    ringo_mutex_t mu;
    ringo_cond_t cond;
    bool open;
    int waiting;                        /* fibers parked at the gate */
    int passed;
};

struct gate_args { struct gate *g; ringo_waitgroup_t *wg; };

static void runner(void *arg)
{
    struct gate_args *a = arg;
    struct gate *g = a->g;
    ringo_mutex_lock(&g->mu);
    g->waiting++;
    ringo_cond_broadcast(&g->cond);     /* tell the starter one more is waiting */
    while (!g->open)                    /* always re-check the condition in a loop */
        ringo_cond_wait(&g->cond, &g->mu);
    g->passed++;
    ringo_mutex_unlock(&g->mu);
    ringo_waitgroup_done(a->wg);
}

#define RUNNERS 20

static void cond(void)
{
    struct gate g = {0};
    ringo_waitgroup_t wg = {0};
    for (int i = 0; i < RUNNERS; i++) {
        struct gate_args a = {&g, &wg};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(runner, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_mutex_lock(&g.mu);
    while (g.waiting < RUNNERS)
        ringo_cond_wait(&g.cond, &g.mu);
    check(g.passed == 0, "nobody passes a closed gate");
    g.open = true;
    ringo_cond_broadcast(&g.cond);      /* one call wakes every waiter */
    ringo_mutex_unlock(&g.mu);
    ringo_waitgroup_wait(&wg);
    printf("cond: one broadcast released all %d waiting fibers\n", g.passed);
    check(g.passed == RUNNERS, "broadcast woke every waiter");
}

/* ---- weighted semaphore ------------------------------------------------------------------------ */

#define SEM_CAP 3
#define SEM_JOBS 12

struct sem_args {
    ringo_sem_t *sem;
    int64_t weight;
    ringo_waitgroup_t *wg;
    atomic_int *in_use, *max_in_use;
    atomic_int *violations;
};

static void sem_job(void *arg)
{
    struct sem_args *a = arg;
    check(ringo_sem_acquire(NULL, a->sem, a->weight) == 0, "sem acquire");
    int now = atomic_fetch_add(a->in_use, (int)a->weight) + (int)a->weight;
    note_max(a->max_in_use, now);
    if (now > SEM_CAP)
        atomic_fetch_add(a->violations, 1);
    ringo_sleep(3 * RINGO_MILLISECOND);
    atomic_fetch_sub(a->in_use, (int)a->weight);
    ringo_sem_release(a->sem, a->weight);
    ringo_waitgroup_done(a->wg);
}

static void semaphore(void)
{
    ringo_sem_t sem = {0};
    ringo_sem_init(&sem, SEM_CAP);
    ringo_waitgroup_t wg = {0};
    atomic_int in_use = 0, max_in_use = 0, violations = 0;

    /* Mostly weight-1 jobs, and two that need the whole capacity. */
    for (int i = 0; i < SEM_JOBS; i++) {
        struct sem_args a = {&sem, i % 6 == 5 ? SEM_CAP : 1, &wg, &in_use, &max_in_use,
                             &violations};
        ringo_waitgroup_add(&wg, 1);
        check(ringo_go_copy(sem_job, &a, sizeof a) == 0, "ringo_go_copy");
    }
    ringo_waitgroup_wait(&wg);
    printf("semaphore: %d jobs, peak weight in use %d (capacity %d)\n", SEM_JOBS,
           atomic_load(&max_in_use), SEM_CAP);
    check(atomic_load(&violations) == 0 && atomic_load(&max_in_use) <= SEM_CAP,
          "the semaphore never let more than its capacity in");

    /* Acquire gives up when its context ends. */
    check(ringo_sem_try_acquire(&sem, 2), "try_acquire with room");
    check(!ringo_sem_try_acquire(&sem, 2), "try_acquire without room");
    int64_t start = ringo_now();       /* before the timer starts: a lower bound holds */
    ringo_ctx_t *ctx = ringo_with_timeout(ringo_background(), 20 * RINGO_MILLISECOND);
    check(ctx != NULL, "ringo_with_timeout");
    int rc = ringo_sem_acquire(ctx, &sem, 2);
    int64_t waited = ringo_now() - start;
    ringo_cancel(ctx);
    ringo_ctx_unref(ctx);
    check(rc == -ETIMEDOUT, "acquire with a 20 ms timeout gives -ETIMEDOUT");
    check(waited >= 20 * RINGO_MILLISECOND && waited < 5 * RINGO_SECOND, "it waited ~20 ms");
    ringo_sem_release(&sem, 2);
    check(ringo_sem_try_acquire(&sem, SEM_CAP), "everything released");
    ringo_sem_release(&sem, SEM_CAP);
    printf("semaphore: acquire under a timed-out context returned -ETIMEDOUT after %lld ms\n",
           (long long)(waited / RINGO_MILLISECOND));
}

static void main_fiber(void *arg)
{
    (void)arg;
    safe_counter();
    rw_cache();
    waitgroup();
    once();
    sync_map();
    pool();
    cond();
    semaphore();
    puts("sync: all checks passed");
}

int main(void)
{
    return example_run(main_fiber);
}
