/*
 * escape_static.c — adversarial: a statically linked binary (no libc.so, no loader) is still
 * filtered and traced: its fork and W+X mmap are denied like anyone's.
 * Built with -static. Expected: as fork.c and jit_rwx.c.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("static-fork", "errno=EPERM", "errno=EPERM", "ok", "ok");
    expect("static-mmap-rwx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect_also("static-mmap-rwx", "microkernel-jit=ok");
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        result_errno("static-fork", errno);
    } else {
        waitpid(pid, NULL, 0);
        result_ok("static-fork", NULL);
    }
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        result_errno("static-mmap-rwx", errno);
    else
        result_ok("static-mmap-rwx", NULL);
    return 0;
}
