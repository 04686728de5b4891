/*
 * escape_trace_race.c — adversarial: the trace file reached by a name swapped between strictrun's
 * check and the call. A thread flips a symlink between a decoy and strictrun's trace (found as a
 * descriptor of the parent, /proc/PPID/fd/N) while the main thread opens the link with
 * O_WRONLY|O_TRUNC (and writes a forged line when it gets a descriptor) and truncate(2)s it, over
 * and over. The check by name sees the decoy; the call may meet the trace.
 * strictrun holds back O_TRUNC until the descriptor is judged at the open's exit stop, looks at
 * the trace again at the exit stop of every truncate/unlink/rename that passed, ends the process
 * when either reached the trace (escape/trace-tamper, kill), and checks the trace whole before its
 * last line (anything changed is written again from strictrun's own copy). Whether a given run
 * wins the race is chance; what must hold every time is that the trace is complete: seq 1..N in
 * order, start first, the final exit line last, no forged line.
 * Usage: escape_trace_race open|truncate [ATTEMPTS]   (default 3000; the run stops after 5 s in any case)
 * Prints RESULT race ok attempts=N opened-decoy=K, or ends killed by strictrun.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static char trace[PATH_MAX], decoy[PATH_MAX], link_path[PATH_MAX], staging[PATH_MAX];
static atomic_int done;

/* Swaps the link between the decoy and the trace, atomically (a new link renamed over it). */
static void *flipper(void *unused)
{
    (void)unused;
    for (unsigned i = 0; !atomic_load(&done); i++) {
        unlink(staging);
        if (symlink(i % 2 ? trace : decoy, staging) == 0) rename(staging, link_path);
    }
    return NULL;
}

static int find_trace(void)
{
    char dir[64], entry_link[PATH_MAX];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)getppid());
    DIR *fds = opendir(dir);
    struct dirent *entry;
    while (fds && (entry = readdir(fds))) {
        snprintf(entry_link, sizeof entry_link, "%s/%s", dir, entry->d_name);
        ssize_t n = readlink(entry_link, trace, sizeof trace - 1);
        if (n > 6 && (trace[n] = 0, strcmp(trace + n - 6, ".jsonl") == 0)) {
            closedir(fds);
            return 1;
        }
    }
    if (fds) closedir(fds);
    return 0;
}

int main(int argc, char **argv)
{
    examples_init();
    int opens = argc < 2 || strcmp(argv[1], "truncate") != 0;
    long attempts = argc > 2 ? atol(argv[2]) : 3000;
    if (!find_trace()) {
        result_errno("trace-found", ENOENT);
        return 0;
    }
    char directory[] = "/tmp/strictrun-race-XXXXXX";
    if (!mkdtemp(directory)) return 1;
    snprintf(decoy, sizeof decoy, "%s/decoy", directory);
    snprintf(link_path, sizeof link_path, "%s/link", directory);
    snprintf(staging, sizeof staging, "%s/staging", directory);
    int made = open(decoy, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (made < 0 || symlink(decoy, link_path) != 0) return 1;
    close(made);

    pthread_t thread;
    pthread_create(&thread, NULL, flipper, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long opened = 0, i = 0;
    for (; i < attempts; i++) {
        if (opens) {
            int fd = open(link_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
            if (fd >= 0) {
                const char forged[] = "{\"v\":1,\"seq\":1,\"type\":\"forged\"}\n";
                if (write(fd, forged, sizeof forged - 1) > 0) opened++;
                close(fd);
            }
        } else {
            truncate(link_path, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 5) break;
    }
    atomic_store(&done, 1);
    pthread_join(thread, NULL);
    unlink(link_path);
    unlink(staging);
    unlink(decoy);
    rmdir(directory);
    char extra[64];
    snprintf(extra, sizeof extra, " attempts=%ld opened-decoy=%ld", i, opened);
    result_ok("race", extra);
    return 0;
}
