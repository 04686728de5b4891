/*
 * escape_seccomp.c — adversarial: trying to loosen the confinement with seccomp/prctl.
 * A process can only add filters (never remove one) and cannot clear no_new_privs; strictrun
 * logs these calls (escape/seccomp) and the rules still hold afterwards.
 *   1. prctl(PR_SET_NO_NEW_PRIVS, 0): the kernel refuses (EINVAL) — logged.
 *   2. seccomp(SECCOMP_SET_MODE_FILTER) with an allow-everything filter: accepted, logged, useless.
 *   3. fork afterwards: still denied.
 * Expected: nnp-clear errno=EINVAL everywhere; allow-all-filter ok everywhere;
 *           fork-after errno=EPERM under microkernel/microkernel-strict, ok under apple-jit/audit.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("nnp-clear", "errno=EINVAL", "errno=EINVAL", "errno=EINVAL", "errno=EINVAL");
    expect("allow-all-filter", "ok", "ok", "ok", "ok");
    expect("fork-after", "errno=EPERM", "errno=EPERM", "ok", "ok");

    if (prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        result_errno("nnp-clear", errno);
    else
        result_ok("nnp-clear", NULL);

    /* no_new_privs is already set by strictrun; natively the filter needs it too. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = allow};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        result_errno("allow-all-filter", errno);
    else
        result_ok("allow-all-filter", NULL);

    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        result_errno("fork-after", errno);
        return 0;
    }
    waitpid(pid, NULL, 0);
    result_ok("fork-after", NULL);
    return 0;
}
