/*
 * storm.c — an event storm: N mmap(PROT_READ|PROT_WRITE|PROT_EXEC) calls (argv[1], default
 * 10000), each denied under every W^X profile. Used by the benchmarks (events per second,
 * with and without stacks) and by the flood tests.
 * Expected: microkernel, microkernel-strict, apple-jit: RESULT storm ok denied=N
 *           audit and no strictrun:                    RESULT storm ok denied=0
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "common.h"

__attribute__((noinline)) static void *map_rwx(void)
{
    return mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(int argc, char **argv)
{
    examples_init();
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    long denied = 0;
    for (long i = 0; i < n; i++) {
        void *page = map_rwx();
        if (page == MAP_FAILED)
            denied++;
        else
            munmap(page, 4096);
    }
    printf("RESULT storm ok denied=%ld\n", denied);
    return 0;
}
