/*
 * escape_procmem.c — writes code through /proc/self/mem, which ignores page protections
 * (the kernel writes with FOLL_FORCE): a way to patch an RX page without ever making it
 * writable. Maps a page RX (all zeros), opens /proc/self/mem O_RDWR, pwrite()s
 * `mov eax, 42; ret` at the page's address and calls it.
 *
 * Expected: every W^X level denies the open (EACCES, logged as wx/proc-mem-write);
 * audit logs it and the code runs (value=42), as it does without strictrun.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("mmap-rx", errno);
        return 0;
    }
    expect("jit-procmem-open", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        result_errno("jit-procmem-open", errno);
        return 0;
    }
    result_ok("jit-procmem-open", NULL);
    unsigned char code[8];
    size_t n = jit_write_return_42(code);
    if (pwrite(fd, code, n, (off_t)(uintptr_t)page) != (ssize_t)n) {
        result_errno("jit-procmem-write", errno);
        return 0;
    }
    close(fd);
    jit_call_and_report(page);
    return 0;
}
