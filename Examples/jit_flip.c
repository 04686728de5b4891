/*
 * jit_flip.c — trips the "no exec gain" W^X level: memory mapped RW, written, then made RX with
 * mprotect(PROT_READ|PROT_EXEC) — never writable and executable at once, but it gains exec
 * after it was mapped (what the kernel's PR_SET_MDWE REFUSE_EXEC_GAIN forbids).
 * Then (only if the mprotect succeeded) calls the generated `mov eax, 42; ret`.
 *
 * Expected:
 *   microkernel         RESULT mprotect-rx ok, RESULT exec-jit ok value=42 (level simultaneous)
 *   microkernel-strict  RESULT mprotect-rx errno=EACCES (level no-exec-gain; no exec-jit line)
 *   apple-jit           RESULT mprotect-rx ok, RESULT exec-jit ok value=42 (flips allowed)
 *   audit               RESULT mprotect-rx ok, RESULT exec-jit ok value=42
 *   no strictrun        RESULT mprotect-rx ok, RESULT exec-jit ok value=42
 * The RW mmap itself (op `mmap-rw`) is allowed everywhere. Exit status 0 in every case.
 *
 * The mprotect call sits in jit_flip_to_rx() (noinline, not static) on the line marked
 * STRICTRUN-SITE, so a test can check that the event's stack names jit_flip_to_rx at
 * jit_flip.c:<line>.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "common.h"

enum { JIT_SIZE = 4096 };

int jit_flip_to_rx(void *page, size_t size);

/* Makes a page that was mapped RW readable and executable (no longer writable).
 * Returns 0, or -1 with errno set when the change is refused. */
__attribute__((noinline)) int jit_flip_to_rx(void *page, size_t size)
{
    int rc = mprotect(page, size, PROT_READ | PROT_EXEC); /* STRICTRUN-SITE: mprotect-rx */
    return rc;
}

int main(void)
{
    examples_init();
    expect("mmap-rw", "ok", "ok", "ok", "ok");
    expect("mprotect-rx", "ok", "errno=EACCES", "ok", "ok");

    void *page = mmap(NULL, JIT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("mmap-rw", errno);
        return 0;
    }
    result_ok("mmap-rw", NULL);

    jit_write_return_42(page);

    if (jit_flip_to_rx(page, JIT_SIZE) != 0) {
        result_errno("mprotect-rx", errno);
        munmap(page, JIT_SIZE);
        return 0;
    }
    result_ok("mprotect-rx", NULL);

    jit_call_and_report(page);
    munmap(page, JIT_SIZE);
    return 0;
}
