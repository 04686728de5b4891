/*
 * wx_threads.c — two threads on one JIT page: a runner calls the page's function in a loop
 * while a patcher rewrites the function's constant 100 times, each time after the
 * runner's next calls, (as a JIT patches code that
 * another thread runs). Under W^X emulation every patch needs the page writable and every
 * call needs it executable: strictrun's lease lets each thread finish its access before
 * the page flips again, instead of ping-ponging.
 *
 * Expected without strictrun and under microkernel-jit:
 *   RESULT patches ok value=100, RESULT runner ok, RESULT final-call ok value=100
 * Under a profile that denies W+X: RESULT mmap-rwx errno=EACCES.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "common.h"

enum { PATCHES = 100 };

static unsigned char *page;
static atomic_int done;
static atomic_long calls;

static int call(void)
{
    int (*fn)(void);
    void *code = page;
    memcpy(&fn, &code, sizeof fn);
    return fn();
}

static void *runner(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        int value = call();
        if (value < 0 || value > PATCHES) {
            printf("RESULT runner bad value=%d\n", value);
            return NULL;
        }
        atomic_fetch_add(&calls, 1);
    }
    printf("RESULT runner ok\n");
    return NULL;
}

int main(void)
{
    examples_init();
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("mmap-rwx", errno);
        return 0;
    }
    jit_write_return_42(page);
    int32_t zero = 0;
    memcpy(page + 1, &zero, 4);
    pthread_t thread;
    pthread_create(&thread, NULL, runner, NULL);
    for (int32_t i = 1; i <= PATCHES; i++) {
        /* Patch only once the runner has called the function again since the last patch. */
        long seen = atomic_load(&calls);
        while (atomic_load(&calls) < seen + 2) {}
        memcpy(page + 1, &i, 4); /* mov eax, i */
    }
    printf("RESULT patches ok value=%d\n", PATCHES);
    atomic_store(&done, 1);
    pthread_join(thread, NULL);
    printf("RESULT final-call ok value=%d\n", call());
    return 0;
}
