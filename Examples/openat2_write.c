/*
 * openat2_write.c PATH — openat2(2) with O_WRONLY|O_CREAT|O_TRUNC on PATH, then openat2 with
 * O_RDWR on /proc/self/mem. openat2 keeps its flags in a struct open_how in memory, where BPF
 * cannot look: strictrun must read them to know the call writes (the fs view's rules and the
 * W^X level's /proc/PID/mem check). Not part of the EXPECT matrix: the tests that run it say
 * what each profile does (RedesignTests).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static long open2(const char *path, unsigned long long flags)
{
    struct open_how how = {.flags = flags, .mode = (flags & O_CREAT) ? 0644 : 0};
    return syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

int main(int argc, char **argv)
{
    examples_init();
    if (argc < 2) {
        fprintf(stderr, "usage: openat2_write PATH\n");
        return 2;
    }
    long fd = open2(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        result_errno("openat2-write", errno);
    } else {
        result_ok("openat2-write", NULL);
        close((int)fd);
    }
    fd = open2("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        result_errno("openat2-procmem", errno);
    } else {
        result_ok("openat2-procmem", NULL);
        close((int)fd);
    }
    return 0;
}
