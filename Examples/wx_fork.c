/*
 * wx_fork.c — JIT code across fork: the parent maps a page W+X, writes `mov eax, 42; ret`
 * and calls it; a forked child rewrites the same page to return 43 and calls it; the parent
 * waits for the child. Under W^X emulation the child's address space is a copy of the
 * parent's, so strictrun's page table must be copied too: the child's write faults on a
 * page that is executable at that moment, and its call on a page it just wrote.
 *
 * Expected without strictrun (and with W^X emulated, fork allowed):
 *   RESULT parent-jit ok value=42, RESULT child-jit ok value=43, RESULT child-status ok value=0
 * Under a profile that denies W+X: RESULT mmap-rwx errno=EACCES and nothing else.
 * Not in the EXPECT table of the shipped profiles (microkernel-jit denies fork): see
 * Tests/StrictrunTests/WXEmulationTests.swift.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int call(void *code)
{
    int (*fn)(void);
    memcpy(&fn, &code, sizeof fn);
    return fn();
}

int main(void)
{
    examples_init();
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("mmap-rwx", errno);
        return 0;
    }
    jit_write_return_42(page);
    printf("RESULT parent-jit ok value=%d\n", call(page));
    pid_t child = fork();
    if (child < 0) {
        result_errno("fork", errno);
        return 0;
    }
    if (child == 0) {
        page[1] = 43; /* mov eax, 43 */
        printf("RESULT child-jit ok value=%d\n", call(page));
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("RESULT child-status ok value=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
