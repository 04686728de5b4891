/*
 * escape_vfork_child.c — adversarial: a fork in disguise. On a target without fork, a vfork
 * child that never calls exec runs the program's own code in a second process. strictrun lets
 * such a child (vfork, clone(CLONE_VM)) do what posix_spawn needs before execve — signal mask
 * and handlers, descriptors, directory, session, exec, exit — and denies the rest
 * (EPERM, process/spawn-child). The child stores what it saw in the memory it shares with its
 * parent, which prints it.
 * Expected: microkernel: vfork ok, child-getpid ok, child-socket/child-map/child-read errno=EPERM;
 *           microkernel-strict: vfork itself denied (errno=EPERM), no child results;
 *           apple-jit, audit (fork allowed): everything ok.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static volatile long results[4];

int main(void)
{
    examples_init();
    expect("vfork", "ok", "errno=EPERM", "ok", "ok");
    expect("child-getpid", "ok", "none", "ok", "ok");
    expect("child-socket", "errno=EPERM", "none", "ok", "ok");
    expect("child-map", "errno=EPERM", "none", "ok", "ok");
    expect("child-read", "errno=EPERM", "none", "ok", "ok");
    char byte;
    pid_t child = vfork();
    if (child == 0) {
        /* Only raw syscalls here: the child runs on its parent's stack and memory. */
        results[0] = syscall(SYS_getpid) > 0 ? 0 : -errno;
        long fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
        results[1] = fd >= 0 ? 0 : -errno;
        long map = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        results[2] = map >= 0 || map < -4095 ? 0 : -errno;
        results[3] = syscall(SYS_read, 0, &byte, 0) >= 0 ? 0 : -errno;
        syscall(SYS_exit, 0);
    }
    if (child < 0) {
        result_errno("vfork", errno);
        return 0;
    }
    waitpid(child, NULL, 0);
    result_ok("vfork", NULL);
    const char *ops[] = {"child-getpid", "child-socket", "child-map", "child-read"};
    for (int i = 0; i < 4; i++) {
        if (results[i] == 0)
            result_ok(ops[i], NULL);
        else
            result_errno(ops[i], (int)-results[i]);
    }
    return 0;
}
