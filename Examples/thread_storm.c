/*
 * thread_storm.c — a thread storm: N pthreads (argv[1], default 5000) created and joined, at
 * most 500 alive at once, each adding its index to a shared counter. Used by the benchmarks
 * (what following every new thread costs the tracer) and as a control: threads are always
 * allowed, so nothing is denied or logged under any profile.
 *
 * pthread_create is clone3 (answered ENOSYS by strictrun's process rules, so glibc falls back)
 * and then clone(CLONE_VM|CLONE_THREAD|...), which no rule names.
 *
 * Expected (op `thread-storm`), under every profile and without strictrun:
 *   RESULT thread-storm ok count=N
 * Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"

enum { BATCH = 500, STACK_SIZE = 64 * 1024 };

static atomic_uint_fast64_t total;

static void *add_index(void *arg)
{
    atomic_fetch_add(&total, (uint64_t)(uintptr_t)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    examples_init();
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
    expect("thread-storm", "ok", "ok", "ok", "ok");

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    pthread_t threads[BATCH];
    long joined = 0;
    int failure = 0;
    for (long base = 0; base < n && failure == 0; base += BATCH) {
        int started = 0;
        for (long i = base; i < n && i < base + BATCH; i++) {
            int err = pthread_create(&threads[started], &attr, add_index, (void *)(uintptr_t)(i + 1));
            if (err != 0) {
                failure = err;
                break;
            }
            started++;
        }
        for (int i = 0; i < started; i++) {
            if (pthread_join(threads[i], NULL) == 0)
                joined++;
        }
    }
    pthread_attr_destroy(&attr);
    if (failure != 0) {
        result_errno("thread-storm", failure);
        return 0;
    }
    if (atomic_load(&total) != (uint64_t)n * (uint64_t)(n + 1) / 2) {
        /* A wrong sum is a bug, not a policy outcome: no RESULT line, exit 1. */
        fprintf(stderr, "thread-storm: wrong total\n");
        return 1;
    }
    char extra[32];
    snprintf(extra, sizeof extra, " count=%ld", joined);
    result_ok("thread-storm", extra);
    return 0;
}
