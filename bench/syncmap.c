/*
 * syncmap, lockedmap: a read-mostly map shared by four fibers on two
 * workers. This one source builds both programs (see bench/meson.build):
 * syncmap measures ringo_map_t (Go's sync.Map); lockedmap (-DLOCKED_MAP=1)
 * measures the classic alternative, a plain hash table behind a
 * ringo_rwmutex_t (read lock for loads, write lock for stores).
 *
 * The map holds 1,000 keys, the 8 bytes "k0000000".."k0000999" (no NUL),
 * preloaded before the clock starts with value k+1 for key k. Four fibers
 * do N operations between them, fiber f the operations [N*f/4, N*(f+1)/4)
 * of 0..N-1. Each operation draws a 64-bit number r from the fiber's own
 * splitmix64 stream (seeded with f+1); key k = (r >> 32) % 1000; it is a
 * store if r % 100 == 0 (1%) and a load otherwise (99%). Operation j stores
 * (k+1) + 1024*(j+1), so every value ever stored under key k has k+1 in its
 * low 10 bits. Completion goes through a WaitGroup.
 * Checks: loads + stores == N; every load hit; every loaded value carries
 * its key's tag; afterwards the map holds exactly the 1,000 keys, each with
 * a value carrying its tag.
 * Reported: wall time (first spawn to Wait returning) / N
 * ("syncmap: X ns/op", "lockedmap: X ns/op"). Run with RINGO_WORKERS=2.
 * BENCH_N overrides N (default 20,000,000).
 *
 * ringo_map_t values are pointers the map does not own; here they are the
 * integers themselves (never 0), so the map is made without a free_value.
 * The locked table is open addressing with linear probing over 2,048 slots
 * (load factor under one half), keys held inline as 8 bytes and hashed by
 * Fibonacci hashing of those 8 bytes as one word; it only ever holds 8-byte
 * keys, which is all this benchmark needs.
 *
 * Go twins: bench/go/syncmap (sync.Map with string keys and int64 values)
 * and bench/go/lockedmap (map[string]int64 behind a sync.RWMutex), the same
 * keys, stream and checks, GOMAXPROCS=2.
 */
#include "bench.h"

#include <stdatomic.h>
#include <stdbool.h>

#ifndef LOCKED_MAP
#define LOCKED_MAP 0
#endif

#define FIBERS 4
#define KEYS 1000
#define KEY_LEN 8
#define TAG 1024          /* values are (k+1) + TAG*m: k+1 < TAG */
#define STORE_EVERY 100   /* r % 100 == 0: 1% stores */

static int64_t n_ops;
static char keys[KEYS][KEY_LEN];
static ringo_waitgroup_t wg;

/* Per-fiber tallies, added once per fiber. load_sum (of the loaded values'
 * tags) is not checked: it only keeps every load's result in use. */
static _Atomic int64_t loads, hits, stores, bad_tags, load_sum;

/* Results, printed by main() once ringo_run() has returned. */
static int64_t elapsed_ns;
static int64_t entries, bad_entries;   /* the map after the run */
static int fail_rc;                    /* -ENOMEM, or ringo_go_copy's rc */
static const char *fail_what;
static int64_t fail_at;

/* ---- the map under test: map_init, map_load, map_store, map_check, map_free ---- */

#if LOCKED_MAP

#define TABLE_BITS 11
#define TABLE_SIZE (1 << TABLE_BITS)

struct slot {
    uint64_t key;      /* the 8 key bytes as one word */
    uint64_t value;
    bool used;
};

static ringo_rwmutex_t rw;
static struct slot table[TABLE_SIZE];   /* guarded by rw */
static int64_t table_len;               /* guarded by rw */

static inline uint64_t key_word(const char *key)
{
    uint64_t w;
    memcpy(&w, key, sizeof w);
    return w;
}

/* The slot holding key, or the empty slot where it would go. Under rw. */
static inline struct slot *table_find(uint64_t w)
{
    size_t i = (size_t)((w * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - TABLE_BITS));
    while (table[i].used && table[i].key != w)
        i = (i + 1) & (TABLE_SIZE - 1);
    return &table[i];
}

static bool map_init(void)
{
    return true;   /* the zero table and rwmutex are ready */
}

static inline bool map_load(const char *key, uint64_t *value)
{
    uint64_t w = key_word(key);
    ringo_rwmutex_rlock(&rw);
    const struct slot *s = table_find(w);
    bool found = s->used;
    if (found)
        *value = s->value;
    ringo_rwmutex_runlock(&rw);
    return found;
}

static inline void map_store(const char *key, uint64_t value)
{
    uint64_t w = key_word(key);
    ringo_rwmutex_lock(&rw);
    struct slot *s = table_find(w);
    if (!s->used) {
        /* Never more than KEYS keys: the table cannot fill up. */
        s->used = true;
        s->key = w;
        table_len++;
    }
    s->value = value;
    ringo_rwmutex_unlock(&rw);
}

static void map_check(void)
{
    ringo_rwmutex_rlock(&rw);
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        if (!table[i].used)
            continue;
        entries++;
        uint64_t tag = table[i].value % TAG;
        if (tag == 0 || tag > KEYS || table[i].key != key_word(keys[tag - 1]))
            bad_entries++;
    }
    if (table_len != entries)
        bad_entries++;
    ringo_rwmutex_runlock(&rw);
}

static void map_free(void)
{
}

#else /* !LOCKED_MAP */

static ringo_map_t *map;

static bool map_init(void)
{
    map = ringo_map_new(NULL);   /* the values are integers, not owned memory */
    return map != NULL;
}

static inline bool map_load(const char *key, uint64_t *value)
{
    void *p;
    if (!ringo_map_load(map, key, KEY_LEN, &p))
        return false;
    *value = (uint64_t)(uintptr_t)p;
    return true;
}

static inline void map_store(const char *key, uint64_t value)
{
    ringo_map_store(map, key, KEY_LEN, (void *)(uintptr_t)value);
}

static bool check_entry(const void *key, size_t klen, void *value, void *arg)
{
    (void)arg;
    entries++;
    uint64_t tag = (uint64_t)(uintptr_t)value % TAG;
    if (klen != KEY_LEN || tag == 0 || tag > KEYS || memcmp(key, keys[tag - 1], KEY_LEN) != 0)
        bad_entries++;
    return true;
}

static void map_check(void)
{
    ringo_map_range(map, check_entry, NULL);
}

static void map_free(void)
{
    ringo_map_free(map);
}

#endif /* LOCKED_MAP */

/* splitmix64: one stream per fiber, the same in the Go twins. */
static inline uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

struct worker_arg {
    struct bench_range r;
    uint64_t seed;
};

static void worker(void *arg)
{
    const struct worker_arg *a = arg;   /* our own copy (ringo_go_copy) */
    uint64_t rng = a->seed;
    int64_t my_loads = 0, my_hits = 0, my_stores = 0, my_bad = 0, my_sum = 0;
    for (int64_t j = a->r.lo; j < a->r.hi; j++) {
        uint64_t r = splitmix64(&rng);
        uint64_t k = (r >> 32) % KEYS;
        if (r % STORE_EVERY == 0) {
            map_store(keys[k], (k + 1) + TAG * (uint64_t)(j + 1));
            my_stores++;
        } else {
            uint64_t v;
            my_loads++;
            if (map_load(keys[k], &v)) {
                my_hits++;
                my_bad += v % TAG != k + 1;
                my_sum += (int64_t)(v % TAG);
            }
        }
    }
    atomic_fetch_add(&loads, my_loads);
    atomic_fetch_add(&hits, my_hits);
    atomic_fetch_add(&stores, my_stores);
    atomic_fetch_add(&bad_tags, my_bad);
    atomic_fetch_add(&load_sum, my_sum);
    ringo_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    if (!map_init()) {
        fail_rc = -ENOMEM;
        fail_what = "ringo_map_new";
        return;
    }
    for (int k = 0; k < KEYS; k++)
        map_store(keys[k], (uint64_t)k + 1);

    int64_t t0 = ringo_now();
    ringo_waitgroup_add(&wg, FIBERS);
    for (int f = 0; f < FIBERS; f++) {
        struct worker_arg a = {{n_ops * f / FIBERS, n_ops * (f + 1) / FIBERS}, (uint64_t)f + 1};
        int rc = ringo_go_copy(worker, &a, sizeof a);
        if (rc != 0) {
            /* Take back the fibers that will never call done, then let the
             * ones that run finish their (finite) work. */
            fail_rc = rc;
            fail_what = "ringo_go_copy";
            fail_at = f;
            ringo_waitgroup_add(&wg, -(FIBERS - f));
            break;
        }
    }
    ringo_waitgroup_wait(&wg);
    elapsed_ns = ringo_now() - t0;

    map_check();
    map_free();
}

int main(void)
{
    n_ops = bench_n(20000000);
    for (int k = 0; k < KEYS; k++) {
        char buf[KEY_LEN + 1];
        snprintf(buf, sizeof buf, "k%07d", k);
        memcpy(keys[k], buf, KEY_LEN);
    }

    bench_run(bench_main);
    if (fail_rc != 0)
        bench_fail("%s failed (fiber %lld): %s", fail_what, (long long)fail_at,
                   strerror(-fail_rc));
    int64_t l = atomic_load(&loads), h = atomic_load(&hits), s = atomic_load(&stores);
    if (l + s != n_ops)
        bench_fail("%lld loads + %lld stores, want %lld ops", (long long)l, (long long)s,
                   (long long)n_ops);
    if (h != l)
        bench_fail("%lld of %lld loads hit, want all", (long long)h, (long long)l);
    if (atomic_load(&bad_tags) != 0)
        bench_fail("%lld loads returned another key's value", (long long)atomic_load(&bad_tags));
    if (entries != KEYS || bad_entries != 0)
        bench_fail("map holds %lld entries (%lld bad) afterwards, want %d", (long long)entries,
                   (long long)bad_entries, KEYS);
    printf("# fibers %d, keys %d, ops %lld (loads %lld, stores %lld), total %.1f ms\n", FIBERS,
           KEYS, (long long)n_ops, (long long)l, (long long)s, bench_ms(elapsed_ns));
    bench_result("%.1f ns/op", (double)elapsed_ns / (double)n_ops);
    return 0;
}
