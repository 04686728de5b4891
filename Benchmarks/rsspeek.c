/*
 * rsspeek.c — the peak resident memory of one process itself, not of its children.
 *
 * `make bench` preloads this library into strictrun (LD_PRELOAD, in the untimed check run of
 * each variant only). At load it takes RSSPEEK_OUT from the environment and removes both
 * RSSPEEK_OUT and LD_PRELOAD, before strictrun copies its environment for the traced program,
 * so the program runs without it. At exit (a destructor: strictrun ends through exit(3)) it
 * appends the process's VmHWM — the kernel's high-water mark of its resident set, in kB,
 * from /proc/self/status — to that file.
 *
 * Why not /usr/bin/time -v: its "Maximum resident set size" is the ru_maxrss that wait4
 * returns for the child, which also covers every descendant that child waited for — the
 * traced program (Node: ~45 MB) would hide strictrun's own figure.
 *
 * Build: cc -O2 -shared -fPIC -o librsspeek.so rsspeek.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out_path[4096];

__attribute__((constructor)) static void rsspeek_init(void)
{
    const char *path = getenv("RSSPEEK_OUT");
    if (path && strlen(path) < sizeof out_path)
        strcpy(out_path, path);
    unsetenv("RSSPEEK_OUT");
    unsetenv("LD_PRELOAD");
}

__attribute__((destructor)) static void rsspeek_fini(void)
{
    if (!out_path[0])
        return;
    FILE *status = fopen("/proc/self/status", "r");
    if (!status)
        return;
    char line[256];
    long hwm = -1;
    while (fgets(line, sizeof line, status))
        if (sscanf(line, "VmHWM: %ld kB", &hwm) == 1)
            break;
    fclose(status);
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char text[64];
    int n = snprintf(text, sizeof text, "%ld\n", hwm);
    ssize_t ignored = write(fd, text, (size_t)n);
    (void)ignored;
    close(fd);
}
