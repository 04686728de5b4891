/*
 * wx_alias_process.c — adversarial: W+X by alias across two processes. One process maps a file
 * executable, a second one (spawned, so it exists under every profile that allows spawning)
 * writes it: pages not yet faulted in would run what the second process wrote. strictrun keeps
 * the files every traced process maps executable, and every process's descriptors and shared
 * mappings are looked at when one maps a file executable.
 *   alias-other-write-open  the child opens for writing a file the parent has mapped executable
 *   alias-other-exec        the parent maps executable a file the child holds open for writing
 * Both are W+X by alias: denied under every W^X level (EACCES, wx/wx-alias), logged under audit and
 * under W^X emulation. Where spawning is denied (microkernel-strict) there is no second process.
 * Expected: alias-* errno=EACCES except audit and microkernel-jit (ok); none under -strict;
 * spawn ok except -strict (errno=EPERM).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

/* Child roles: "open PATH" reports the write open; "hold PATH" opens for writing, says so on fd 1
 * ("held"), and keeps the descriptor until its stdin closes. */
static int child(const char *role, const char *path)
{
    examples_init();
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (strcmp(role, "open") == 0) {
        result_rc("alias-other-write-open", fd);
        return 0;
    }
    if (fd < 0) {
        result_errno("hold-open", errno);
        return 1;
    }
    char byte;
    if (write(3, "h", 1) != 1) return 1;
    while (read(0, &byte, 1) > 0) { }
    return 0;
}

/* Spawns this program in `role`; stdin and fd 3 from the given pipes (-1: inherited). */
static pid_t spawn(const char *self, const char *role, const char *path, int in, int ready)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in >= 0) posix_spawn_file_actions_adddup2(&actions, in, 0);
    if (ready >= 0) posix_spawn_file_actions_adddup2(&actions, ready, 3);
    char *const argv[] = {(char *)self, (char *)role, (char *)path, NULL};
    pid_t pid = 0;
    int err = posix_spawn(&pid, self, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
        result_errno("spawn", err);
        return -1;
    }
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
}

int main(int argc, char **argv)
{
    if (argc == 3) return child(argv[1], argv[2]);
    examples_init();
    expect("spawn", "ok", "errno=EPERM", "ok", "ok");
    expect("alias-other-write-open", "errno=EACCES", "none", "errno=EACCES", "ok");
    expect("alias-other-exec", "errno=EACCES", "none", "errno=EACCES", "ok");
    expect_also("alias-other-write-open", "microkernel-jit=ok");
    expect_also("alias-other-exec", "microkernel-jit=ok");

    unsigned char code[16];
    size_t n = jit_write_return_42(code);
    char path[] = "/tmp/strictrun-alias-process-XXXXXX";
    int file = mkstemp(path);
    if (file < 0 || write(file, code, n) != (ssize_t)n || ftruncate(file, 4096) != 0) return 1;
    close(file);

    /* 1. Mapped executable here (no writer anywhere: passes), then opened for writing by a child. */
    int reader = open(path, O_RDONLY | O_CLOEXEC);
    void *view = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, reader, 0);
    if (view == MAP_FAILED) {
        result_errno("readonly-exec", errno);
        return 1;
    }
    pid_t pid = spawn(argv[0], "open", path, -1, -1);
    if (pid < 0) {
        unlink(path);
        return 0;
    }
    reap(pid);
    result_ok("spawn", NULL);
    munmap(view, 4096);

    /* 2. A child holds the file open for writing; this process maps it executable. */
    int in[2], ready[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0) return 1;
    pid = spawn(argv[0], "hold", path, in[0], ready[1]);
    close(in[0]);
    close(ready[1]);
    char byte;
    if (pid < 0 || read(ready[0], &byte, 1) != 1) return 1;
    void *exec_view = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, reader, 0);
    if (exec_view == MAP_FAILED)
        result_errno("alias-other-exec", errno);
    else
        result_ok("alias-other-exec", NULL);
    close(in[1]);
    reap(pid);
    unlink(path);
    return 0;
}
