/* Description: signals during io, on 2 workers. A 1 kHz SIGALRM
 * (setitimer ITIMER_REAL; the handler, installed for the test only and
 * restored after it, has SA_RESTART off, so every interrupted syscall fails
 * with EINTR) plus the same signal sent straight to each worker thread at
 * 1 kHz, during 10 s of echo load (2 s under sanitizers and Valgrind):
 * reads, writes, sends, recvs, polls, dials, accepts, sleeps and blocking
 * calls all go on. No -EINTR ever reaches a fiber and every echo comes
 * back byte for byte (test_sigalrm_storm_never_reaches_fibers_as_eintr).
 */
#include "io_stress.h"

#include <pthread.h>
#include <sys/time.h>

#define SIG_CLIENTS 8
#define SIG_MAXMSG 16384

static atomic_long alarms;

static void on_alarm(int sig)
{
    (void)sig;
    atomic_fetch_add_explicit(&alarms, 1, memory_order_relaxed);
}

struct storm {
    int lfd, port;
    int64_t until;
    ringo_ctx_t *stop;          /* ends the acceptor */
    atomic_long echoes, verified, eintr, failed;
    /* Worker threads seen, for the signaller (at most 2). */
    pthread_mutex_t tlock;
    pthread_t threads[2];
    int nthreads;
    atomic_int signaller_stop;
    ringo_waitgroup_t wg;       /* clients and the sleeper */
    ringo_waitgroup_t accwg;    /* the acceptor */
    ringo_waitgroup_t handlers; /* server ends */
};

static void note_thread(struct storm *s)
{
    pthread_t me = pthread_self();
    pthread_mutex_lock(&s->tlock);
    bool seen = false;
    for (int i = 0; i < s->nthreads; i++)
        seen |= pthread_equal(s->threads[i], me);
    if (!seen && s->nthreads < 2)
        s->threads[s->nthreads++] = me;
    pthread_mutex_unlock(&s->tlock);
}

/* Counts a failed result; -EINTR separately. */
static void bad(struct storm *s, const char *what, long r)
{
    if (r == -EINTR)
        atomic_fetch_add(&s->eintr, 1);
    if (atomic_fetch_add(&s->failed, 1) < 20)
        fprintf(stderr, "%s: %ld (%s)\n", what, r, r < 0 ? strerror((int)-r) : "short");
}

static void storm_handler(void *arg);

static void storm_acceptor(void *arg)
{
    struct storm *s = arg;
    for (;;) {
        int fd = ringo_accept(s->stop, s->lfd, NULL);
        if (fd == -ECANCELED && ringo_ctx_err(s->stop))
            break;
        if (fd < 0) {
            bad(s, "accept", fd);
            continue;
        }
        struct {
            struct storm *s;
            int fd;
        } a = {s, fd};
        ringo_waitgroup_add(&s->handlers, 1);
        CHECK(ringo_go_copy(storm_handler, &a, sizeof(a)) == 0);
    }
    ringo_waitgroup_done(&s->accwg);
}

/* Echoes with recv/send until end of file. */
static void storm_handler(void *arg)
{
    struct {
        struct storm *s;
        int fd;
    } a = *(__typeof__(a) *)arg;
    char *buf = malloc(SIG_MAXMSG);
    CHECK(buf != NULL);
    for (;;) {
        ssize_t r = ringo_recv(NULL, a.fd, buf, SIG_MAXMSG, 0);
        if (r <= 0) {
            if (r < 0)
                bad(a.s, "server recv", r);
            break;
        }
        ssize_t w = ringo_send(NULL, a.fd, buf, (size_t)r, 0);
        if (w != r) {
            bad(a.s, "server send", w);
            break;
        }
    }
    free(buf);
    long c = ringo_close(a.fd);
    if (c != 0)
        bad(a.s, "server close", c);
    ringo_waitgroup_done(&a.s->handlers);
}

struct storm_client {
    struct storm *s;
    uint64_t seed;
};

static void storm_client(void *arg)
{
    struct storm_client sc = *(struct storm_client *)arg;
    struct storm *s = sc.s;
    unsigned seed = (unsigned)sc.seed;
    uint8_t *out = malloc(SIG_MAXMSG), *in = malloc(SIG_MAXMSG);
    CHECK(out && in);
    while (out && in && ringo_now() < s->until) {
        note_thread(s);
        int fd = dial_ctx(NULL, s->port);
        if (fd < 0) {
            bad(s, "dial", fd);
            continue;
        }
        uint64_t pos = 0;
        for (int round = 0; round < 50 && ringo_now() < s->until; round++) {
            size_t len = 1 + rand_r(&seed) % SIG_MAXMSG;
            pattern_fill(out, len, sc.seed, pos);
            int how = rand_r(&seed) % 3;
            ssize_t w = how == 0 ? ringo_send(NULL, fd, out, len, 0) : ringo_write(NULL, fd, out, len);
            if (w != (ssize_t)len) {
                bad(s, "client write", w);
                break;
            }
            size_t got = 0;
            while (got < len) {
                if (how == 2) {
                    int ev = ringo_poll(NULL, fd, POLLIN);
                    if (ev < 0 || !(ev & POLLIN)) {
                        bad(s, "client poll", ev);
                        break;
                    }
                }
                ssize_t r = how == 0 ? ringo_recv(NULL, fd, in + got, len - got, 0)
                                     : ringo_read(NULL, fd, in + got, len - got);
                if (r <= 0) {
                    bad(s, "client read", r);
                    break;
                }
                got += (size_t)r;
            }
            atomic_fetch_add(&s->echoes, 1);
            if (got == len && pattern_check(in, len, sc.seed, pos))
                atomic_fetch_add(&s->verified, 1);
            else
                break;
            pos += len;
            note_thread(s);
        }
        long c = ringo_close(fd);
        if (c != 0)
            bad(s, "client close", c);
    }
    free(out);
    free(in);
    ringo_waitgroup_done(&s->wg);
}

static void *short_nap(void *arg)
{
    usleep(500);
    return arg;
}

/* Sleeps and blocking calls under the storm too. */
static void storm_sleeper(void *arg)
{
    struct storm *s = arg;
    long n = 0;
    while (ringo_now() < s->until) {
        int64_t t0 = ringo_now();
        ringo_sleep(RINGO_MILLISECOND);
        if (ringo_now() - t0 < RINGO_MILLISECOND)
            bad(s, "ringo_sleep returned early", 0);
        if (ringo_blocking(short_nap, &n) != &n)
            bad(s, "ringo_blocking", 0);
        n++;
    }
    ringo_waitgroup_done(&s->wg);
}

/* A plain thread: SIGALRM straight to each worker thread it knows, 1 kHz. */
static void *signaller(void *arg)
{
    struct storm *s = arg;
    while (!atomic_load(&s->signaller_stop)) {
        pthread_mutex_lock(&s->tlock);
        for (int i = 0; i < s->nthreads; i++)
            pthread_kill(s->threads[i], SIGALRM);
        pthread_mutex_unlock(&s->tlock);
        usleep(1000);
    }
    return NULL;
}

static void storm_main(void *arg)
{
    struct storm *s = arg;
    s->lfd = listen_local(&s->port);
    if (s->lfd < 0)
        return;
    s->until = ringo_now() + (slow_tool() ? 2 : 10) * RINGO_SECOND;
    s->stop = ringo_with_cancel(ringo_background());
    pthread_t sig;
    CHECK(pthread_create(&sig, NULL, signaller, s) == 0);

    ringo_waitgroup_add(&s->accwg, 1);
    CHECK(ringo_go(storm_acceptor, s) == 0);
    ringo_waitgroup_add(&s->wg, SIG_CLIENTS + 1);
    for (int i = 0; i < SIG_CLIENTS; i++) {
        struct storm_client sc = {s, 77 + (uint64_t)i};
        CHECK(ringo_go_copy(storm_client, &sc, sizeof(sc)) == 0);
    }
    CHECK(ringo_go(storm_sleeper, s) == 0);
    ringo_waitgroup_wait(&s->wg);
    ringo_cancel(s->stop);
    ringo_waitgroup_wait(&s->accwg);
    ringo_waitgroup_wait(&s->handlers);
    atomic_store(&s->signaller_stop, 1);
    CHECK(pthread_join(sig, NULL) == 0);
    CHECK(ringo_close(s->lfd) == 0);
    ringo_ctx_unref(s->stop);
}

static void test_sigalrm_storm_never_reaches_fibers_as_eintr(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = 0}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    struct itimerval it = {{0, 1000}, {0, 1000}}, oldit, off = {{0, 0}, {0, 0}};
    atomic_store(&alarms, 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, &oldit), 0);

    static struct storm s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.tlock, NULL);
    run_checked(2, storm_main, &s);

    /* Restore: timer off, then take any SIGALRM still pending (Valgrind
     * delivers late) before the old disposition, perhaps SIG_DFL, is back. */
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    sigset_t alrm, mask;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &alrm, &mask), 0);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&alrm, NULL, &zero) == SIGALRM)
        ;
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &mask, NULL), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &oldit, NULL), 0);
    pthread_mutex_destroy(&s.tlock);

    long n = atomic_load(&alarms);
    fprintf(stderr, "%ld signals handled; %ld echoes, %ld verified, %ld failures, %ld of them -EINTR\n",
            n, atomic_load(&s.echoes), atomic_load(&s.verified), atomic_load(&s.failed),
            atomic_load(&s.eintr));
    assert_int_equal(atomic_load(&s.eintr), 0);
    assert_int_equal(atomic_load(&s.failed), 0);
    assert_true(atomic_load(&s.echoes) > 0);
    assert_int_equal(atomic_load(&s.verified), atomic_load(&s.echoes));
    assert_true(n >= 100);     /* the storm happened */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigalrm_storm_never_reaches_fibers_as_eintr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
