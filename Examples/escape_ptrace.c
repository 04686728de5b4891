/*
 * escape_ptrace.c — adversarial: leaving or subverting the tracer from inside.
 *   1. ptrace(PTRACE_TRACEME)
 *   2. ptrace(PTRACE_ATTACH) to a sibling: a `sleep` started with posix_spawn (spawn is allowed
 *      under microkernel); where spawning is denied, the target is one of our own threads.
 *   3. process_vm_writev into that sibling.
 * It never targets its parent (natively that would stop your shell).
 * Expected: microkernel, microkernel-strict, apple-jit: errno=EPERM for all three
 *           (escape/ptrace, escape/process-vm-writev).
 *           audit: the calls are logged and reach the kernel, which answers for itself
 *           (EPERM: already traced; the attach may succeed) — "any".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;
static volatile pid_t thread_tid;

static void *idle_thread(void *arg)
{
    (void)arg;
    thread_tid = (pid_t)syscall(SYS_gettid);
    pause();
    return NULL;
}

int main(void)
{
    examples_init();
    expect("ptrace-traceme", "errno=EPERM", "errno=EPERM", "errno=EPERM", "any");
    expect("ptrace-attach-sibling", "errno=EPERM", "errno=EPERM", "errno=EPERM", "any");
    expect("process-vm-writev-sibling", "errno=EPERM", "errno=EPERM", "errno=EPERM", "any");

    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        result_errno("ptrace-traceme", errno);
    else
        result_ok("ptrace-traceme", NULL);

    pid_t sibling = 0;
    char *argv[] = {"sleep", "30", NULL};
    if (posix_spawn(&sibling, "/bin/sleep", NULL, NULL, argv, environ) != 0) {
        pthread_t thread;
        pthread_create(&thread, NULL, idle_thread, NULL);
        while (thread_tid == 0)
            usleep(1000);
        sibling = thread_tid;
    }

    if (ptrace(PTRACE_ATTACH, sibling, NULL, NULL) != 0) {
        result_errno("ptrace-attach-sibling", errno);
    } else {
        result_ok("ptrace-attach-sibling", NULL);
        waitpid(sibling, NULL, __WALL);
        ptrace(PTRACE_DETACH, sibling, NULL, NULL);
    }

    char byte = 0;
    struct iovec local = {.iov_base = &byte, .iov_len = 1};
    struct iovec remote = {.iov_base = (void *)0x10000, .iov_len = 1};
    if (process_vm_writev(sibling, &local, 1, &remote, 1, 0) < 0)
        result_errno("process-vm-writev-sibling", errno);
    else
        result_ok("process-vm-writev-sibling", NULL);

    if (sibling != thread_tid) {
        kill(sibling, SIGKILL);
        waitpid(sibling, NULL, 0);
    }
    return 0;
}
