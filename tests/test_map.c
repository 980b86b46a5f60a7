/* Description: ringo_map (sync.Map in ringo/sync.h), ported from Go's
 * sync/map_test.go where it applies. Store, load and delete with byte-string
 * keys, which the map copies (the caller's buffer may change afterwards;
 * embedded NULs and lengths count); load_or_store and load_and_delete
 * (TestMapMatchesRWMutex's operations, checked against a model);
 * free_value runs for overwritten, deleted and remaining values but not
 * for values handed back by load_and_delete or refused by load_or_store;
 * range visits each entry once and stops when fn returns false, and may
 * call the map from inside (TestMapRangeNestedCall); TestConcurrentRange;
 * and 50 fibers on two workers hammering overlapping keys, each owning a
 * key range it checks at the end, with the global free_value accounting
 * balanced.
 *
 * Values are small integers cast to pointers: the map never dereferences
 * them, and a fiber may load a value another fiber's delete is dropping
 * (with real allocations that would be a use-after-free in the test). Fibers
 * other than main count failures with CHECK; each test asserts none.
 *
 * Regression: the empty key given as (NULL, 0) passed NULL to memcmp and
 * memcpy, undefined behaviour that UBSan reports
 * (test_empty_key_null_pointer, on two workers). In builds with assertions
 * on, a map used after ringo_map_free panics at the use
 * (test_freed_map_use_panics).
 */
#include "common.h"

#include <stdatomic.h>

#define VAL(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))

/* free_value bookkeeping for the single-fiber tests: values are 1..NV. */
#define NV 4096
static atomic_int freed[NV];
static atomic_long freed_total;

static void count_free(void *v)
{
    uintptr_t n = NUM(v);
    if (n == 0 || n >= NV) {
        atomic_fetch_add(&check_errors, 1);
        return;
    }
    atomic_fetch_add(&freed[n], 1);
    atomic_fetch_add(&freed_total, 1);
}

static void reset_freed(void)
{
    for (int i = 0; i < NV; i++)
        atomic_store(&freed[i], 0);
    atomic_store(&freed_total, 0);
}

static int nfreed(uintptr_t n)
{
    return atomic_load(&freed[n]);
}

/* ---- basics ------------------------------------------------------------------------------------ */

static void basics_main(void *arg)
{
    (void)arg;
    reset_freed();
    ringo_map_t *m = ringo_map_new(count_free);
    assert_non_null(m);
    void *v = NULL;
    assert_false(ringo_map_load(m, "alpha", 5, &v));

    /* Keys are copied: the caller's buffer changes, the entry does not. */
    char key[16];
    memcpy(key, "alpha", 5);
    ringo_map_store(m, key, 5, VAL(1));
    memcpy(key, "XXXXX", 5);
    assert_true(ringo_map_load(m, "alpha", 5, &v));
    assert_ptr_equal(v, VAL(1));
    assert_false(ringo_map_load(m, key, 5, &v));
    memset(key, 0, sizeof(key));
    assert_true(ringo_map_load(m, "alpha", 5, &v));

    /* Lengths count and bytes are bytes: prefixes, embedded NULs. */
    ringo_map_store(m, "alp", 3, VAL(2));
    ringo_map_store(m, "a\0b", 3, VAL(3));
    ringo_map_store(m, "a\0c", 3, VAL(4));
    ringo_map_store(m, "a", 1, VAL(5));
    ringo_map_store(m, "a\0", 2, VAL(6));
    ringo_map_store(m, "", 0, VAL(7));          /* Go's "" key */
    static const unsigned char bin[] = {0xff, 0x00, 0x80, 0x7f, 0x00};
    ringo_map_store(m, bin, sizeof(bin), VAL(8));
    struct { const void *k; size_t n; uintptr_t want; } cases[] = {
        {"alpha", 5, 1}, {"alp", 3, 2}, {"a\0b", 3, 3}, {"a\0c", 3, 4},
        {"a", 1, 5}, {"a\0", 2, 6}, {"", 0, 7}, {bin, sizeof(bin), 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = NULL;
        assert_true(ringo_map_load(m, cases[i].k, cases[i].n, &v));
        assert_ptr_equal(v, VAL(cases[i].want));
    }
    assert_false(ringo_map_load(m, "al", 2, &v));
    assert_false(ringo_map_load(m, "alphab", 6, &v));
    assert_false(ringo_map_load(m, bin, sizeof(bin) - 1, &v));
    assert_int_equal(atomic_load(&freed_total), 0);

    /* Overwrite: the old value is dropped (free_value), the new one loads. */
    ringo_map_store(m, "alpha", 5, VAL(9));
    assert_int_equal(nfreed(1), 1);
    assert_true(ringo_map_load(m, "alpha", 5, &v));
    assert_ptr_equal(v, VAL(9));

    /* Delete: dropped; deleting a missing key drops nothing. */
    ringo_map_delete(m, "alpha", 5);
    assert_int_equal(nfreed(9), 1);
    assert_false(ringo_map_load(m, "alpha", 5, &v));
    ringo_map_delete(m, "alpha", 5);
    ringo_map_delete(m, "never", 5);
    assert_int_equal(atomic_load(&freed_total), 2);
    /* A deleted key can come back. */
    ringo_map_store(m, "alpha", 5, VAL(10));
    assert_true(ringo_map_load(m, "alpha", 5, &v));
    assert_ptr_equal(v, VAL(10));

    /* load_or_store: stores when absent; when present returns the existing
     * value and neither stores nor drops the offered one. */
    void *actual = NULL;
    assert_false(ringo_map_load_or_store(m, "los", 3, VAL(11), &actual));
    assert_true(ringo_map_load(m, "los", 3, &v));
    assert_ptr_equal(v, VAL(11));
    actual = NULL;
    assert_true(ringo_map_load_or_store(m, "los", 3, VAL(12), &actual));
    assert_ptr_equal(actual, VAL(11));
    assert_true(ringo_map_load(m, "los", 3, &v));
    assert_ptr_equal(v, VAL(11));
    assert_int_equal(nfreed(12), 0);
    assert_int_equal(nfreed(11), 0);

    /* load_and_delete: hands the value back (the caller owns it now: no
     * free_value), the key is gone; a missing key gives false. */
    v = NULL;
    assert_true(ringo_map_load_and_delete(m, "los", 3, &v));
    assert_ptr_equal(v, VAL(11));
    assert_int_equal(nfreed(11), 0);
    assert_false(ringo_map_load(m, "los", 3, &v));
    assert_false(ringo_map_load_and_delete(m, "los", 3, &v));
    /* ... and a key emptied that way takes load_or_store again. */
    assert_false(ringo_map_load_or_store(m, "los", 3, VAL(13), &actual));
    assert_true(ringo_map_load(m, "los", 3, &v));
    assert_ptr_equal(v, VAL(13));

    /* ringo_map_free drops what remains: 2..8, 10, 13, once each. */
    long before = atomic_load(&freed_total);
    ringo_map_free(m);
    uintptr_t remaining[] = {2, 3, 4, 5, 6, 7, 8, 10, 13};
    for (size_t i = 0; i < sizeof(remaining) / sizeof(remaining[0]); i++)
        assert_int_equal(nfreed(remaining[i]), 1);
    assert_int_equal(atomic_load(&freed_total), before + 9);
    assert_int_equal(nfreed(11), 0);
    assert_int_equal(nfreed(12), 0);
    assert_int_equal(nfreed(1), 1);
    assert_int_equal(nfreed(9), 1);

    /* Storing the value a key already has drops nothing. */
    m = ringo_map_new(count_free);
    long drops = atomic_load(&freed_total);
    ringo_map_store(m, "same", 4, VAL(20));
    ringo_map_store(m, "same", 4, VAL(20));
    assert_int_equal(atomic_load(&freed_total), drops);
    ringo_map_free(m);
    assert_int_equal(nfreed(20), 1);

    /* Without free_value the map drops values silently. */
    m = ringo_map_new(NULL);
    assert_non_null(m);
    ringo_map_store(m, "k", 1, VAL(1));
    ringo_map_store(m, "k", 1, VAL(2));
    ringo_map_store(m, "j", 1, VAL(3));
    ringo_map_delete(m, "j", 1);
    ringo_map_store(m, "i", 1, VAL(4));
    ringo_map_free(m);
    /* An empty map frees cleanly. */
    ringo_map_free(ringo_map_new(count_free));
}

static void test_basics(void **state)
{
    (void)state;
    run_checked(2, basics_main, NULL);
}

/* ---- TestMapMatchesRWMutex, single fiber, against a model ------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t make_key(char *buf, unsigned k)
{
    return (size_t)snprintf(buf, 32, "key-%u", k);
}

static void model_main(void *arg)
{
    (void)arg;
    enum { KEYS = 64 };
    reset_freed();
    ringo_map_t *m = ringo_map_new(count_free);
    uintptr_t model[KEYS] = {0};            /* 0: absent */
    long dropped_expected = 0;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uintptr_t next = 1;
    long n = iters(20000);
    for (long i = 0; i < n; i++) {
        unsigned k = (unsigned)(rng_next(&s) % KEYS);
        char key[32];
        size_t kl = make_key(key, k);
        void *v = NULL, *actual = NULL;
        if (next >= NV)
            next = 1;       /* values recycle; counts are checked in total */
        switch (rng_next(&s) % 5) {
        case 0:
            if (ringo_map_load(m, key, kl, &v)) {
                CHECK(model[k] != 0 && NUM(v) == model[k]);
            } else {
                CHECK(model[k] == 0);
            }
            break;
        case 1:
            ringo_map_store(m, key, kl, VAL(next));
            if (model[k])
                dropped_expected++;
            model[k] = next++;
            break;
        case 2:
            if (ringo_map_load_or_store(m, key, kl, VAL(next), &actual)) {
                CHECK(model[k] != 0 && NUM(actual) == model[k]);
            } else {
                CHECK(model[k] == 0);
                model[k] = next;
            }
            next++;
            break;
        case 3:
            if (ringo_map_load_and_delete(m, key, kl, &v)) {
                CHECK(model[k] != 0 && NUM(v) == model[k]);
            } else {
                CHECK(model[k] == 0);
            }
            model[k] = 0;
            break;
        default:
            ringo_map_delete(m, key, kl);
            if (model[k])
                dropped_expected++;
            model[k] = 0;
            break;
        }
    }
    assert_int_equal(atomic_load(&freed_total), dropped_expected);
    long present = 0;
    for (unsigned k = 0; k < KEYS; k++)
        present += model[k] != 0;
    ringo_map_free(m);
    assert_int_equal(atomic_load(&freed_total), dropped_expected + present);
}

static void test_matches_model(void **state)
{
    (void)state;
    run_checked(2, model_main, NULL);
}

/* ---- range -------------------------------------------------------------------------------------- */

#define RN 200

struct visit {
    int seen[RN];
    long calls;
    long stop_after;        /* return false on this call; 0: never */
    bool bad;
};

static bool visit_fn(const void *key, size_t klen, void *value, void *arg)
{
    struct visit *vs = arg;
    char buf[32];
    vs->calls++;
    if (klen == 0 || klen >= sizeof(buf)) {
        vs->bad = true;
        return false;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    unsigned k;
    if (sscanf(buf, "key-%u", &k) != 1 || k >= RN || NUM(value) != k + 1 ||
        make_key((char[32]){0}, k) != klen) {
        vs->bad = true;
        return false;
    }
    vs->seen[k]++;
    return vs->stop_after == 0 || vs->calls < vs->stop_after;
}

static bool count_fn(const void *key, size_t klen, void *value, void *arg)
{
    (void)key, (void)klen, (void)value;
    (*(long *)arg)++;
    return true;
}

static void range_main(void *arg)
{
    (void)arg;
    reset_freed();
    ringo_map_t *m = ringo_map_new(count_free);
    long calls = 0;
    ringo_map_range(m, count_fn, &calls);
    assert_int_equal(calls, 0);
    char key[32];
    for (unsigned k = 0; k < RN; k++)
        ringo_map_store(m, key, make_key(key, k), VAL(k % 3 ? k + 1 : k + 1 + RN));
    /* Overwrites (with a different value: storing the same pointer again
     * drops nothing) and deletes are reflected. */
    for (unsigned k = 0; k < RN; k += 3)
        ringo_map_store(m, key, make_key(key, k), VAL(k + 1));
    ringo_map_delete(m, key, make_key(key, 7));
    ringo_map_store(m, key, make_key(key, 7), VAL(8));

    static struct visit vs;
    memset(&vs, 0, sizeof(vs));
    ringo_map_range(m, visit_fn, &vs);
    assert_false(vs.bad);
    assert_int_equal(vs.calls, RN);
    for (unsigned k = 0; k < RN; k++)
        assert_int_equal(vs.seen[k], 1);

    /* Early stop: exactly as many calls as it took to return false. */
    for (long stop = 1; stop <= 25; stop += 6) {
        memset(&vs, 0, sizeof(vs));
        vs.stop_after = stop;
        ringo_map_range(m, visit_fn, &vs);
        assert_false(vs.bad);
        assert_int_equal(vs.calls, stop);
        long distinct = 0;
        for (unsigned k = 0; k < RN; k++) {
            assert_true(vs.seen[k] <= 1);
            distinct += vs.seen[k];
        }
        assert_int_equal(distinct, stop);
    }
    /* Range drops nothing. */
    long dropped = atomic_load(&freed_total);
    assert_int_equal(dropped, (RN + 2) / 3 + 1);
    ringo_map_free(m);
    assert_int_equal(atomic_load(&freed_total), dropped + RN);
}

static void test_range(void **state)
{
    (void)state;
    run_checked(2, range_main, NULL);
}

/* ---- TestMapRangeNestedCall ------------------------------------------------------------------------------ */

static ringo_map_t *nested_m;
static long nested_inner_calls;

static bool nested_inner(const void *key, size_t klen, void *value, void *arg)
{
    (void)arg;
    nested_inner_calls++;
    ringo_map_t *m = nested_m;
    void *v = NULL, *actual = NULL;
    int k42 = 42;
    if (klen == sizeof(int) && memcmp(key, &k42, sizeof(int)) == 0)
        return true;        /* a racing view of the key this callback stores */
    /* No concurrent delete here: the key offered can be loaded. */
    CHECK(ringo_map_load(m, key, klen, &v) && v == value);
    /* 42 is never left in the map. */
    CHECK(!ringo_map_load_or_store(m, &k42, sizeof(k42), VAL(100), &actual));
    ringo_map_store(m, &k42, sizeof(k42), VAL(101));     /* drops 100 */
    CHECK(ringo_map_load_and_delete(m, &k42, sizeof(k42), &v) && v == VAL(101));
    return true;
}

static bool nested_outer(const void *key, size_t klen, void *value, void *arg)
{
    (void)value, (void)arg;
    ringo_map_range(nested_m, nested_inner, NULL);
    ringo_map_delete(nested_m, key, klen);       /* remove on the fly */
    return true;
}

static void nested_main(void *arg)
{
    (void)arg;
    reset_freed();
    nested_inner_calls = 0;
    ringo_map_t *m = nested_m = ringo_map_new(count_free);
    for (int i = 0; i < 3; i++)
        ringo_map_store(m, &i, sizeof(i), VAL(i + 1));    /* "hello", "world", "Go" */
    ringo_map_range(m, nested_outer, NULL);
    /* 3 + 2 + 1 inner visits of the original keys (plus any racing 42s). */
    assert_true(nested_inner_calls >= 6);
    long calls = 0;
    ringo_map_range(m, count_fn, &calls);
    assert_int_equal(calls, 0);
    /* The three originals were deleted, every 100 was overwritten: dropped;
     * every 101 went back to the caller: not dropped. */
    assert_int_equal(nfreed(1), 1);
    assert_int_equal(nfreed(2), 1);
    assert_int_equal(nfreed(3), 1);
    assert_true(nfreed(100) >= 6);
    assert_int_equal(nfreed(101), 0);
    ringo_map_free(m);
    assert_int_equal(nfreed(101), 0);
}

static void test_range_nested_call(void **state)
{
    (void)state;
    run_checked(2, nested_main, NULL);
}

/* ---- TestConcurrentRange ------------------------------------------------------------------------------------ */

#define CR_SIZE 1024

struct cr {
    ringo_map_t *m;
    atomic_int *stop;
    ringo_chan_t *finished;
    uint64_t g;
};

/* Stores multiples of each key (value = k * (i*g + 1)) among loads. */
static void cr_writer(void *arg)
{
    struct cr c = *(struct cr *)arg;
    uint64_t s = c.g * 0x9e3779b97f4a7c15ull + 1;
    for (uint64_t i = 0; !atomic_load(c.stop); i++) {
        for (uint64_t n = 1; n < CR_SIZE; n++) {
            void *v;
            if (rng_next(&s) % CR_SIZE == 0)
                ringo_map_store(c.m, &n, sizeof(n), VAL(n * ((i * c.g) % 100000 + 1)));
            else
                CHECK(ringo_map_load(c.m, &n, sizeof(n), &v) && NUM(v) % n == 0);
        }
        ringo_yield();
    }
    int one = 1;
    ringo_chan_send(c.finished, &one);
}

struct cr_seen {
    unsigned char seen[CR_SIZE + 1];
    long count;
    bool bad;
};

static bool cr_visit(const void *key, size_t klen, void *value, void *arg)
{
    struct cr_seen *s = arg;
    uint64_t k;
    if (klen != sizeof(k)) {
        s->bad = true;
        return false;
    }
    memcpy(&k, key, sizeof(k));
    if (k < 1 || k > CR_SIZE || NUM(value) % k != 0 || s->seen[k]) {
        s->bad = true;      /* not a multiple, or visited twice */
        return false;
    }
    s->seen[k] = 1;
    s->count++;
    return true;
}

static void concurrent_range_main(void *arg)
{
    (void)arg;
    ringo_map_t *m = ringo_map_new(NULL);
    for (uint64_t n = 1; n <= CR_SIZE; n++)
        ringo_map_store(m, &n, sizeof(n), VAL(n));
    atomic_int stop = 0;
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), 2);
    for (uint64_t g = 1; g <= 2; g++) {     /* GOMAXPROCS writers */
        struct cr c = {m, &stop, finished, g};
        assert_int_equal(ringo_go_copy(cr_writer, &c, sizeof(c)), 0);
    }
    static struct cr_seen s;
    long n = iters(1024);
    for (long r = 0; r < n; r++) {
        memset(&s, 0, sizeof(s));
        ringo_map_range(m, cr_visit, &s);
        assert_false(s.bad);
        assert_int_equal(s.count, CR_SIZE);
        if (r % 8 == 0)
            ringo_yield();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        int one;
        assert_true(ringo_chan_recv(finished, &one));
    }
    ringo_chan_unref(finished);
    ringo_map_free(m);
}

static void test_concurrent_range(void **state)
{
    (void)state;
    run_checked(2, concurrent_range_main, NULL);
}

/* ---- 50 fibers, overlapping keys -------------------------------------------------------------------- */

#define NF 50
#define OWN 1000
#define HOT 64                  /* keys every fiber writes */
#define HOT_BASE (NF * OWN)

/* value = key << 32 | fiber << 24 | seq (seq >= 1): a loaded value must
 * name its key, and no two stores anywhere use the same value (storing the
 * value a key already holds drops nothing, which would upset the count). */
#define FINAL_SEQ 0xfffff0u
#define SVAL(key, fib, seq) \
    VAL(((uint64_t)(key) << 32) | ((uint64_t)(fib) << 24) | ((uint64_t)(seq) & 0xffffffu))
#define SKEY(v) ((unsigned)(NUM(v) >> 32))

static atomic_long st_inserted, st_dropped, st_returned;

static void stress_free(void *v)
{
    (void)v;
    atomic_fetch_add(&st_dropped, 1);
}

static size_t stress_key(char *buf, unsigned k)
{
    /* Variable-length byte strings with an embedded NUL for odd keys. */
    int n = snprintf(buf, 32, "s%u", k);
    if (k % 2) {
        buf[n] = '\0';
        buf[n + 1] = 'x';
        n += 2;
    }
    return (size_t)n;
}

struct stress {
    ringo_map_t *m;
    ringo_chan_t *finished;
    unsigned id;
    long rounds;
};

struct own_check {
    unsigned lo, hi;
    long seen_own, seen;
    bool bad;
};

static bool stress_visit(const void *key, size_t klen, void *value, void *arg)
{
    struct own_check *c = arg;
    char buf[32];
    if (klen == 0 || klen >= sizeof(buf)) {
        c->bad = true;
        return false;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    unsigned k;
    char want[32];
    if (sscanf(buf, "s%u", &k) != 1 || stress_key(want, k) != klen ||
        memcmp(want, key, klen) != 0 || SKEY(value) != k) {
        c->bad = true;
        return false;
    }
    if (k >= c->lo && k < c->hi)
        c->seen_own++;
    return ++c->seen < 4000;        /* stop early: Range may end any time */
}

static void stress_fiber(void *arg)
{
    struct stress s = *(struct stress *)arg;
    ringo_map_t *m = s.m;
    unsigned lo = s.id * OWN;
    uint64_t r = 0x2545f4914f6cdd1dull * (s.id + 1);
    char key[32];
    long ops = 0;
    uint32_t seq = 1;
    for (long round = 0; round < s.rounds; round++) {
        for (unsigned j = 0; j < OWN; j++) {
            unsigned k = lo + j;
            size_t kl = stress_key(key, k);
            void *v = NULL, *actual = NULL;
            /* Own key: this fiber is its only writer. */
            switch ((j + (unsigned)round) % 5) {
            case 0:
                ringo_map_store(m, key, kl, SVAL(k, s.id, seq++));
                atomic_fetch_add(&st_inserted, 1);
                break;
            case 1:
                if (ringo_map_load(m, key, kl, &v))
                    CHECK(SKEY(v) == k);
                break;
            case 2:
                if (ringo_map_load_or_store(m, key, kl, SVAL(k, s.id, seq), &actual))
                    CHECK(SKEY(actual) == k);
                else
                    atomic_fetch_add(&st_inserted, 1);
                seq++;
                break;
            case 3:
                if (ringo_map_load_and_delete(m, key, kl, &v)) {
                    CHECK(SKEY(v) == k);
                    atomic_fetch_add(&st_returned, 1);
                }
                break;
            default:
                ringo_map_delete(m, key, kl);
                break;
            }
            /* Someone else's key (read only) and a hot key (everyone writes). */
            unsigned o = (unsigned)(rng_next(&r) % (NF * OWN));
            kl = stress_key(key, o);
            if (ringo_map_load(m, key, kl, &v))
                CHECK(SKEY(v) == o);
            unsigned h = HOT_BASE + (unsigned)(rng_next(&r) % HOT);
            kl = stress_key(key, h);
            switch (rng_next(&r) % 4) {
            case 0:
                ringo_map_store(m, key, kl, SVAL(h, s.id, seq++));
                atomic_fetch_add(&st_inserted, 1);
                break;
            case 1:
                if (ringo_map_load_or_store(m, key, kl, SVAL(h, s.id, seq), &actual))
                    CHECK(SKEY(actual) == h);
                else
                    atomic_fetch_add(&st_inserted, 1);
                seq++;
                break;
            case 2:
                if (ringo_map_load_and_delete(m, key, kl, &v)) {
                    CHECK(SKEY(v) == h);
                    atomic_fetch_add(&st_returned, 1);
                }
                break;
            default:
                ringo_map_delete(m, key, kl);
                break;
            }
            if (++ops % 64 == 0)
                ringo_yield();
        }
        /* A few fibers range each round (stopping early) while others write. */
        if (s.id % 10 == 0) {
            struct own_check c = {lo, lo + OWN, 0, 0, false};
            ringo_map_range(m, stress_visit, &c);
            CHECK(!c.bad);
        }
    }
    /* Final state of the owned keys: even present with a known value, odd
     * absent. Nobody else writes them, so it holds at once. */
    for (unsigned j = 0; j < OWN; j++) {
        unsigned k = lo + j;
        size_t kl = stress_key(key, k);
        if (j % 2 == 0) {
            ringo_map_store(m, key, kl, SVAL(k, s.id, FINAL_SEQ));
            atomic_fetch_add(&st_inserted, 1);
        } else {
            ringo_map_delete(m, key, kl);
        }
        if (j % 64 == 0)
            ringo_yield();
    }
    for (unsigned j = 0; j < OWN; j++) {
        unsigned k = lo + j;
        size_t kl = stress_key(key, k);
        void *v = NULL;
        bool ok = ringo_map_load(m, key, kl, &v);
        if (j % 2 == 0)
            CHECK(ok && v == SVAL(k, s.id, FINAL_SEQ));
        else
            CHECK(!ok);
    }
    int one = 1;
    ringo_chan_send(s.finished, &one);
}

struct final_check {
    long own_present, hot_present;
    bool bad;
};

static bool final_visit(const void *key, size_t klen, void *value, void *arg)
{
    struct final_check *c = arg;
    char buf[32];
    unsigned k;
    if (klen == 0 || klen >= sizeof(buf)) {
        c->bad = true;
        return false;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    if (sscanf(buf, "s%u", &k) != 1 || SKEY(value) != k) {
        c->bad = true;
        return false;
    }
    if (k < HOT_BASE) {
        if (k % 2 != 0 || value != SVAL(k, k / OWN, FINAL_SEQ))
            c->bad = true;
        c->own_present++;
    } else if (k < HOT_BASE + HOT) {
        c->hot_present++;
    } else {
        c->bad = true;
    }
    return true;
}

/* Go's map_test.go stress (TestConcurrentRange's writers, TestMapMatchesRWMutex's
 * operations) with 50 goroutines: no crash, every loaded value names its key,
 * each fiber's keys end as it left them, and every value the map took in was
 * either dropped exactly once (free_value) or handed back by load_and_delete. */
static void stress_main(void *arg)
{
    (void)arg;
    atomic_store(&st_inserted, 0);
    atomic_store(&st_dropped, 0);
    atomic_store(&st_returned, 0);
    ringo_map_t *m = ringo_map_new(stress_free);
    ringo_chan_t *finished = ringo_chan_make(sizeof(int), NF);
    long rounds = iters(10);
    for (unsigned i = 0; i < NF; i++) {
        struct stress s = {m, finished, i, rounds};
        assert_int_equal(ringo_go_copy(stress_fiber, &s, sizeof(s)), 0);
    }
    for (int i = 0; i < NF; i++) {
        int one;
        assert_true(ringo_chan_recv(finished, &one));
    }
    static struct final_check c;
    memset(&c, 0, sizeof(c));
    ringo_map_range(m, final_visit, &c);
    assert_false(c.bad);
    assert_int_equal(c.own_present, NF * OWN / 2);
    long present = c.own_present + c.hot_present;
    long inserted = atomic_load(&st_inserted);
    long returned = atomic_load(&st_returned);
    assert_int_equal(atomic_load(&st_dropped), inserted - returned - present);
    ringo_map_free(m);
    assert_int_equal(atomic_load(&st_dropped), inserted - returned);
    ringo_chan_unref(finished);
}

static void test_concurrent_stress(void **state)
{
    (void)state;
    run_checked(2, stress_main, NULL);
}

/* ---- the empty key as (NULL, 0) ------------------------------------------------------------------ */

struct empty_key {
    ringo_map_t *m;
    long n;
    ringo_chan_t *done;
};

static bool count_entries(const void *key, size_t klen, void *value, void *arg)
{
    (void)key;
    (void)value;
    if (klen == 0)
        (*(long *)arg)++;
    return true;
}

/* Every operation with key NULL, klen 0, while other keys churn beside it
 * so that the empty key's chain holds other nodes to compare against. */
static void empty_key_fiber(void *arg)
{
    struct empty_key *e = arg;
    uint64_t me = ringo_fiber_id();
    for (long i = 0; i < e->n; i++) {
        uint64_t k = me * 1000003u + (uint64_t)i;
        ringo_map_store(e->m, &k, sizeof(k), VAL(2));
        void *v = NULL;
        CHECK(ringo_map_load(e->m, NULL, 0, &v));
        CHECK(v == VAL(1) || v == VAL(3));
        void *actual = NULL;
        CHECK(ringo_map_load_or_store(e->m, NULL, 0, VAL(3), &actual));
        CHECK(actual == VAL(1) || actual == VAL(3));
        ringo_map_store(e->m, NULL, 0, (i & 1) ? VAL(1) : VAL(3));
        CHECK(ringo_map_load(e->m, "", 0, &v));         /* the same key */
        ringo_map_delete(e->m, &k, sizeof(k));
        if (i % 16 == 0)
            ringo_yield();
    }
    signal_done(e->done);
}

static void empty_key_main(void *arg)
{
    (void)arg;
    ringo_map_t *m = ringo_map_new(NULL);
    assert_non_null(m);
    void *v = VAL(9);
    assert_false(ringo_map_load(m, NULL, 0, &v));
    assert_null(v);
    assert_false(ringo_map_load_and_delete(m, NULL, 0, &v));
    ringo_map_delete(m, NULL, 0);
    assert_false(ringo_map_load_or_store(m, NULL, 0, VAL(1), &v));
    assert_ptr_equal(v, VAL(1));
    ringo_map_store(m, "a", 1, VAL(2));
    assert_true(ringo_map_load(m, NULL, 0, &v));
    assert_ptr_equal(v, VAL(1));

    enum { FIBERS = 4 };
    struct empty_key e = {m, iters(2000), ringo_chan_make(sizeof(int), FIBERS)};
    for (int i = 0; i < FIBERS; i++)
        assert_int_equal(ringo_go(empty_key_fiber, &e), 0);
    await_done(e.done, FIBERS);

    long empties = 0;
    ringo_map_range(m, count_entries, &empties);
    assert_int_equal(empties, 1);
    assert_true(ringo_map_load_and_delete(m, NULL, 0, &v));
    assert_true(v == VAL(1) || v == VAL(3));
    assert_false(ringo_map_load(m, NULL, 0, &v));
    ringo_map_free(m);
    ringo_chan_unref(e.done);
}

static void test_empty_key_null_pointer(void **state)
{
    (void)state;
    run_checked(2, empty_key_main, NULL);
}

/* ---- freed handles (builds with assertions on) -------------------------------------------------- */

static void freed_map_main(void *arg)
{
    (void)arg;
    ringo_map_t *m = ringo_map_new(NULL);
    ringo_map_store(m, "k", 1, VAL(1));
    ringo_map_free(m);
    ringo_map_load(m, "k", 1, NULL);
}

__attribute__((unused)) static void freed_map_child(void)   /* not under ASan */
{
    run_main(2, freed_map_main, NULL);
}

static void freed_map_twice_main(void *arg)
{
    (void)arg;
    ringo_map_t *m = ringo_map_new(NULL);
    ringo_map_free(m);
    ringo_map_free(m);
}

__attribute__((unused)) static void freed_map_twice_child(void)   /* not under ASan */
{
    run_main(2, freed_map_twice_main, NULL);
}

/* A stale handle fails loudly at its use. Only where it applies: with
 * assertions on, and not under a tool that itself reports the read of
 * freed memory (ASan, memcheck). */
static void test_freed_map_use_panics(void **state)
{
    (void)state;
#if defined(NDEBUG) || defined(RINGO_ASAN)
    skip();
#else
    if (ringo__on_valgrind())
        skip();
    death_test(freed_map_child, "ringo_map_load: use of a freed map");
    death_test(freed_map_twice_child, "ringo_map_free: use of a freed map");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_matches_model),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_range_nested_call),
        cmocka_unit_test(test_concurrent_range),
        cmocka_unit_test(test_concurrent_stress),
        cmocka_unit_test(test_empty_key_null_pointer),
        cmocka_unit_test(test_freed_map_use_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
