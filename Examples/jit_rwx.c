/*
 * jit_rwx.c — trips the W^X rule with memory that is writable and executable at once:
 * mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
 * then (only if that succeeded) writes `mov eax, 42; ret` into it and calls it.
 *
 * Expected:
 *   microkernel         RESULT mmap-rwx errno=EACCES   (and no exec-jit line)
 *   microkernel-strict  RESULT mmap-rwx errno=EACCES
 *   apple-jit           RESULT mmap-rwx errno=EACCES
 *   audit               RESULT mmap-rwx ok, RESULT exec-jit ok value=42 (the mmap is logged)
 *   no strictrun        RESULT mmap-rwx ok, RESULT exec-jit ok value=42
 * Exit status 0 in every case.
 *
 * The mmap call sits in jit_map_rwx() (noinline, not static) on the line marked
 * STRICTRUN-SITE, so a test can check that the event's stack names jit_map_rwx at jit_rwx.c:<line>.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "common.h"

enum { JIT_SIZE = 4096 };

void *jit_map_rwx(void);

/* Maps one private anonymous page readable, writable and executable at once.
 * Returns MAP_FAILED with errno set when the mapping is refused. */
__attribute__((noinline)) void *jit_map_rwx(void)
{
    int prot = PROT_READ | PROT_WRITE | PROT_EXEC;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    void *page = mmap(NULL, JIT_SIZE, prot, flags, -1, 0); /* STRICTRUN-SITE: mmap-rwx */
    return page;
}

int main(void)
{
    examples_init();
    expect("mmap-rwx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect_also("mmap-rwx", "microkernel-jit=ok");

    void *page = jit_map_rwx();
    if (page == MAP_FAILED) {
        result_errno("mmap-rwx", errno);
        return 0;
    }
    result_ok("mmap-rwx", NULL);

    jit_write_return_42(page);
    jit_call_and_report(page);
    munmap(page, JIT_SIZE);
    return 0;
}
