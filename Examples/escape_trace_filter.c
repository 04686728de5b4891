/*
 * escape_trace_filter.c — adversarial: seccomp filters of the program's own that would decide
 * what strictrun's tracer sees. Among equal actions the newest filter's data wins (a TRACE with
 * made-up data reaches the tracer as a rule of its own), and USER_NOTIF outranks TRACE (a
 * notifier of the program's answers first). strictrun reads every filter a program installs and
 * refuses (EACCES, escape/seccomp) one that can return either, in every mode; an ordinary filter
 * (ALLOW/ERRNO only) is installed and works.
 *   1. seccomp(SECCOMP_SET_MODE_FILTER): TRACE|0x7777 for getppid.
 *   2. seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): USER_NOTIF for getppid.
 *   3. prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): TRACE|0x7777 for getppid.
 *   4. seccomp(SECCOMP_SET_MODE_FILTER): `ret a` (returns whatever the accumulator holds).
 *   5. An ordinary filter: ERRNO(ENOTTY) for getppid, ALLOW for the rest; getppid then fails
 *      with the program's own errno.
 * Expected: 1–4 errno=EACCES everywhere; own-filter-install ok, own-filter-call errno=ENOTTY.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define FOR_GETPPID(ret) LOAD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1), \
                         BPF_STMT(BPF_RET | BPF_K, (ret)), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void install(const char *op, struct sock_filter *filter, unsigned short len, unsigned flags, int via_prctl)
{
    struct sock_fprog prog = {.len = len, .filter = filter};
    long rc = via_prctl ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)
                        : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0)
        result_errno(op, errno);
    else
        result_ok(op, NULL);
}

int main(void)
{
    examples_init();
    expect("trace-filter-install", "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");
    expect("notif-filter-install", "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");
    expect("prctl-trace-filter-install", "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");
    expect("ret-a-filter-install", "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");
    expect("own-filter-install", "ok", "ok", "ok", "ok");
    expect("own-filter-call", "errno=ENOTTY", "errno=ENOTTY", "errno=ENOTTY", "errno=ENOTTY");

    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter trace[] = {FOR_GETPPID(SECCOMP_RET_TRACE | 0x7777)};
    install("trace-filter-install", trace, sizeof trace / sizeof trace[0], 0, 0);
    struct sock_filter notif[] = {FOR_GETPPID(SECCOMP_RET_USER_NOTIF)};
    install("notif-filter-install", notif, sizeof notif / sizeof notif[0], SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
    install("prctl-trace-filter-install", trace, sizeof trace / sizeof trace[0], 0, 1);
    struct sock_filter accumulator[] = {LOAD_NR, BPF_STMT(BPF_RET | BPF_A, 0)};
    install("ret-a-filter-install", accumulator, sizeof accumulator / sizeof accumulator[0], 0, 0);
    struct sock_filter own[] = {FOR_GETPPID(SECCOMP_RET_ERRNO | ENOTTY)};
    install("own-filter-install", own, sizeof own / sizeof own[0], 0, 0);
    if (syscall(SYS_getppid) < 0)
        result_errno("own-filter-call", errno);
    else
        result_ok("own-filter-call", NULL);
    return 0;
}
