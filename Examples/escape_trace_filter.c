/*
 * escape_trace_filter.c — adversarial: a filter of the program's own that answers
 * SECCOMP_RET_TRACE with made-up data. Among equal actions the newest filter's data wins, so
 * the call reaches strictrun's tracer naming no rule of strictrun's filter. strictrun must not
 * resume it unchecked: the call is refused (ENOSYS) and logged (escape/unknown-rule).
 *   1. seccomp(SECCOMP_SET_MODE_FILTER): TRACE|0x7777 for getppid, ALLOW for the rest.
 *   2. getppid(): refused (ENOSYS) — natively too, where no tracer answers a TRACE.
 * Expected: trace-filter-install ok everywhere; trace-filter-call errno=ENOSYS everywhere.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("trace-filter-install", "ok", "ok", "ok", "ok");
    expect("trace-filter-call", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS");

    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x7777),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        result_errno("trace-filter-install", errno);
        return 0;
    }
    result_ok("trace-filter-install", NULL);
    long parent = syscall(SYS_getppid);
    if (parent < 0)
        result_errno("trace-filter-call", errno);
    else
        result_ok("trace-filter-call", NULL);
    return 0;
}
