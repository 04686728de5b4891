/*
 * wx_livelock.c — JIT code that stores into its own page: the one thing strict W^X makes
 * impossible. Maps a page W+X, writes `mov byte [rip+57], 0x90; mov eax, 42; ret` into it
 * (the store's target is 64 bytes into the same page) and calls it.
 *
 * Expected:
 *   microkernel, microkernel-strict, apple-jit   RESULT mmap-rwx errno=EACCES (nothing runs)
 *   audit, no strictrun                          RESULT exec-jit ok value=42
 *   microkernel-jit (W^X emulated)               the mmap is granted RW; the call faults to
 *       execute (page flipped RX), then its store faults to write into the page it runs
 *       from: strictrun ends the process (SIGKILL) with a livelock message instead of
 *       flipping the page back and forth for ever. No exec-jit line.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("mmap-rwx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("mmap-rwx", errno);
        return 0;
    }
    result_ok("mmap-rwx", NULL);
    static const unsigned char code[] = {
        0xc6, 0x05, 0x39, 0x00, 0x00, 0x00, 0x90, /* mov byte [rip+57], 0x90 → page+64 */
        0xb8, 0x2a, 0x00, 0x00, 0x00,             /* mov eax, 42 */
        0xc3,                                     /* ret */
    };
    memcpy(page, code, sizeof code);
    expect("exec-jit", "none", "none", "none", "ok");
    jit_call_and_report(page);
    return 0;
}
