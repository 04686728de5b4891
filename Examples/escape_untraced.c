/*
 * escape_untraced.c — adversarial: clone(CLONE_UNTRACED) asks for a child the tracer does
 * not follow (its filter would still apply, but nothing would log it).
 * Expected: microkernel, microkernel-strict, apple-jit: errno=EPERM (escape/untraced-clone);
 *           audit: ok (logged, and the child is traced anyway: strictrun sets TRACECLONE).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("clone-untraced", "errno=EPERM", "errno=EPERM", "errno=EPERM", "ok");
    long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        result_errno("clone-untraced", errno);
        return 0;
    }
    waitpid((pid_t)pid, NULL, 0);
    result_ok("clone-untraced", NULL);
    return 0;
}
