/*
 * answer_two_sites.c — the same call from two call sites, for answers per site (`answers:`,
 * `strictrun run --answer SITE=ACTION`): fork(2) from fork_at_a() and again from fork_at_b().
 *
 * Each function is its own frame, so the trace gives the two calls two `site` ids. An answer for
 * one site changes only that site's call; the other keeps the profile's answer:
 *   microkernel                               RESULT fork_a errno=EPERM   RESULT fork_b errno=EPERM
 *   microkernel --answer <site of a>=ENOSYS   RESULT fork_a errno=ENOSYS  RESULT fork_b errno=EPERM
 *   microkernel --answer <site of a>=allow    RESULT fork_a ok            RESULT fork_b errno=EPERM
 *   no strictrun                              RESULT fork_a ok            RESULT fork_b ok
 * A child _exit(0)s at once and is waited for. Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void report(const char *op, pid_t pid)
{
    if (pid < 0) {
        result_errno(op, errno);
        return;
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
        return;
    }
    result_ok(op, NULL);
}

__attribute__((noinline)) static pid_t fork_at_a(void) { return fork(); }
__attribute__((noinline)) static pid_t fork_at_b(void) { return fork(); }

int main(void)
{
    examples_init();
    expect("fork_a", "errno=EPERM", "errno=EPERM", "ok", "ok");
    report("fork_a", fork_at_a());
    expect("fork_b", "errno=EPERM", "errno=EPERM", "ok", "ok");
    report("fork_b", fork_at_b());
    return 0;
}
