/*
 * threads.c — the control for the process rules: 8 pthreads, each sums 1..N, all joined.
 *
 * pthread_create is clone3 (answered ENOSYS by strictrun, so glibc falls back) and then
 * clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|...). Threads are
 * always allowed: a filter that mistakes CLONE_VM for a spawn, or that answers clone3 with EPERM,
 * breaks this program.
 *
 * Expected (op `threads`), under every profile and without strictrun:
 *   RESULT threads ok count=8
 * Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>

#include "common.h"

enum { THREAD_COUNT = 8 };

struct work {
    uint64_t n;   /* input: sum 1..n */
    uint64_t sum; /* output */
};

static void *sum_to_n(void *arg)
{
    struct work *w = arg;
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= w->n; i++)
        sum += i;
    w->sum = sum;
    return NULL;
}

int main(void)
{
    examples_init();
    expect("threads", "ok", "ok", "ok", "ok");

    pthread_t threads[THREAD_COUNT];
    struct work work[THREAD_COUNT];
    int started = 0;
    int failure = 0;
    for (int i = 0; i < THREAD_COUNT; i++) {
        work[i].n = 100000u * (uint64_t)(i + 1);
        work[i].sum = 0;
        int err = pthread_create(&threads[i], NULL, sum_to_n, &work[i]);
        if (err != 0) {
            failure = err;
            break;
        }
        started++;
    }
    int joined = 0;
    for (int i = 0; i < started; i++) {
        int err = pthread_join(threads[i], NULL);
        if (err != 0 && failure == 0)
            failure = err;
        if (err == 0)
            joined++;
    }
    if (failure != 0) {
        result_errno("threads", failure);
        return 0;
    }
    for (int i = 0; i < THREAD_COUNT; i++) {
        if (work[i].sum != work[i].n * (work[i].n + 1) / 2) {
            /* A wrong answer is a bug, not a policy outcome: no RESULT line, exit 1. */
            fprintf(stderr, "threads: thread %d computed a wrong sum\n", i);
            return 1;
        }
    }
    char extra[32];
    snprintf(extra, sizeof extra, " count=%d", joined);
    result_ok("threads", extra);
    return 0;
}
