/*
 * spawn.c — trips the `process.spawn` rule: one posix_spawn("/bin/true"), then waitpid.
 *
 * glibc 2.36's posix_spawn tries clone3 (strictrun answers ENOSYS so glibc falls back), then
 * clone(CLONE_VM|CLONE_VFORK|SIGCHLD) and execve in the child: a new process without a copy of
 * the parent's address space, which a microkernel can offer. posix_spawn returns the error
 * number itself (it does not set errno); a failed execve in the child is reported the same way.
 *
 * Expected (op `spawn`):
 *   microkernel         RESULT spawn ok status=0
 *   microkernel-strict  RESULT spawn errno=EPERM  (no spawn at all; exec after the first is
 *                                                  denied as well)
 *   apple-jit           RESULT spawn ok status=0
 *   audit               RESULT spawn ok status=0  (logged)
 *   no strictrun        RESULT spawn ok status=0
 * Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "common.h"

extern char **environ;

int main(void)
{
    examples_init();
    expect("spawn", "ok", "errno=EPERM", "ok", "ok");

    char *const argv[] = {"/bin/true", NULL};
    pid_t pid = 0;
    int err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
    if (err != 0) {
        result_errno("spawn", err);
        return 0;
    }

    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) {
        result_errno("wait", errno);
        return 0;
    }
    char extra[64];
    if (WIFEXITED(status))
        snprintf(extra, sizeof extra, " status=%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(extra, sizeof extra, " signal=%d", WTERMSIG(status));
    else
        snprintf(extra, sizeof extra, " rawstatus=%d", status);
    result_ok("spawn", extra);
    return 0;
}
