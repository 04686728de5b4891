/*
 * crowd.c — a flood of tasks: T threads (argv[1], default 2000) and P short-lived child
 * processes (argv[2], default 200), each asking once for W+X memory. Every task prints
 * `TASK <pid> <tid>` before its call, so a test can check that each logged event carries
 * the pid and tid of the task that made it.
 * Expected under apple-jit (fork allowed, W+X denied): RESULT crowd ok threads=T children=P,
 * T+P wx denies in the trace. Threads run in batches of 100.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) static void ask_rwx(void)
{
    pthread_mutex_lock(&out_lock);
    printf("TASK %d %ld\n", getpid(), (long)syscall(SYS_gettid));
    pthread_mutex_unlock(&out_lock);
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        munmap(p, 4096);
}

static void *thread_main(void *arg)
{
    (void)arg;
    ask_rwx();
    return NULL;
}

int main(int argc, char **argv)
{
    examples_init();
    long threads = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    long children = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    pthread_t batch[100];
    for (long done = 0; done < threads;) {
        long n = threads - done < 100 ? threads - done : 100;
        for (long i = 0; i < n; i++)
            if (pthread_create(&batch[i], NULL, thread_main, NULL) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                return 1;
            }
        for (long i = 0; i < n; i++)
            pthread_join(batch[i], NULL);
        done += n;
    }
    long forked = 0;
    for (long i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            ask_rwx();
            fflush(stdout);
            _exit(0);
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
            forked++;
        }
    }
    printf("RESULT crowd ok threads=%ld children=%ld\n", threads, forked);
    return 0;
}
