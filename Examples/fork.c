/*
 * fork.c — trips the `process.fork` rule: one fork(2), nothing else.
 *
 * glibc's fork() is clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD): a copy of the address
 * space, which a microkernel OS without fork cannot provide.
 *
 * Expected (op `fork`):
 *   microkernel         RESULT fork errno=EPERM
 *   microkernel-strict  RESULT fork errno=EPERM
 *   apple-jit           RESULT fork ok        (apple-jit restricts memory only)
 *   audit               RESULT fork ok        (the clone is logged in the trace)
 *   no strictrun        RESULT fork ok
 * The child _exit(0)s at once; the parent waits for it. Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("fork", "errno=EPERM", "errno=EPERM", "ok", "ok");

    pid_t pid = fork();
    if (pid < 0) {
        result_errno("fork", errno);
        return 0;
    }
    if (pid == 0)
        _exit(0);

    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) {
        result_errno("wait", errno);
        return 0;
    }
    result_ok("fork", NULL);
    return 0;
}
