/*
 * jit_elsewhere.c — W+X asked for by a thread other than the main one, and by a forked
 * child: both must be denied and logged with their own stacks (thread_map_rwx /
 * child_map_rwx, not main's).
 *
 * 1. A pthread calls thread_map_rwx(): mmap(PROT_READ|PROT_WRITE|PROT_EXEC)  → op thread-mmap-rwx
 * 2. main forks (op fork); the child calls child_map_rwx() → op child-mmap-rwx, printed by the
 *    child, then the child exits.
 *
 * Expected:
 *   microkernel         thread-mmap-rwx errno=EACCES; fork errno=EPERM (no child line)
 *   microkernel-strict  as microkernel
 *   apple-jit           thread-mmap-rwx errno=EACCES; fork ok; child-mmap-rwx errno=EACCES
 *   audit               everything ok (and logged)
 * Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

void *thread_map_rwx(void);
void *child_map_rwx(void);

__attribute__((noinline)) void *thread_map_rwx(void)
{
    const int rwx = PROT_READ | PROT_WRITE | PROT_EXEC, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    return mmap(NULL, 4096, rwx, flags, -1, 0); /* STRICTRUN-SITE: thread-mmap-rwx */
}

__attribute__((noinline)) void *child_map_rwx(void)
{
    const int rwx = PROT_READ | PROT_WRITE | PROT_EXEC, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    return mmap(NULL, 4096, rwx, flags, -1, 0); /* STRICTRUN-SITE: child-mmap-rwx */
}

static void report_map(const char *op, void *page)
{
    if (page == MAP_FAILED) {
        result_errno(op, errno);
    } else {
        result_ok(op, NULL);
        munmap(page, 4096);
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    report_map("thread-mmap-rwx", thread_map_rwx());
    return NULL;
}

int main(void)
{
    examples_init();
    expect("thread-mmap-rwx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect_also("thread-mmap-rwx", "microkernel-jit=ok");
    expect("fork", "errno=EPERM", "errno=EPERM", "ok", "ok");
    expect("child-mmap-rwx", "none", "none", "errno=EACCES", "ok");

    pthread_t thread;
    if (pthread_create(&thread, NULL, thread_main, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    pthread_join(thread, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        result_errno("fork", errno);
        return 0;
    }
    if (pid == 0) {
        report_map("child-mmap-rwx", child_map_rwx());
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result_ok("fork", NULL);
    return 0;
}
