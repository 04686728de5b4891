// The child path of `strictrun run`: from the clone to the program's execve. Two ways in:
//
// - Sharing strictrun's memory (clone(CLONE_VM), as posix_spawn does): no page tables are
//   copied and strictrun takes no copy-on-write faults afterwards. A fork of strictrun's large,
//   multithreaded address space cost ~1 ms in the fork and as much again in faults, TLB
//   shoot-downs and the child's teardown at exec. The child uses only its own stack and a
//   private copy of what it needs (the arena below), and makes raw system calls, so it never
//   writes errno or anything else of the thread whose TLS it shares. The parent is not
//   suspended (no CLONE_VFORK): it must answer the child's SIGSTOP, since PTRACE_TRACEME makes
//   the forking thread the tracer.
// - fork(): when the child must change something that lives in the memory map (PR_SET_MDWE is
//   a property of the mm, which the child would share with strictrun) or run the confinement
//   steps (libc calls that may set errno), and on architectures without the raw calls below.
#define _GNU_SOURCE
#include "CStrictrunShims.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <linux/seccomp.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif

// ---- both paths ------------------------------------------------------------------------

#if defined(__x86_64__)
#define STRICTRUN_SHARED_LAUNCH 1

/// A system call with four arguments; the fifth and sixth are zero (prctl refuses others).
static long raw_syscall(long n, long a, long b, long c, long d) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = 0;
    register long r9 __asm__("r9") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#else
static long raw_syscall(long n, long a, long b, long c, long d) {
    long ret = syscall(n, a, b, c, d, 0, 0);
    return ret < 0 ? -errno : ret;
}
#endif

/// The kernel's struct sigaction on x86_64 (not glibc's).
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/// Every disposition back to the default, then an empty mask: the program starts clean. By
/// the kernel's numbers, not libc's: signal() refuses the two libc keeps for itself (32, 33),
/// so one ignored in strictrun's parent stayed ignored in the program.
static void reset_signals(void) {
    struct kernel_sigaction fallback = {.handler = SIG_DFL};
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        raw_syscall(SYS_rt_sigaction, sig, (long)&fallback, 0, sizeof(uint64_t));
    }
    uint64_t none = 0;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof none);
}

// ---- fork: async-signal-safe calls only ----------------------------------------------

static void child_fail(int fd, int step) {
    int report[2] = {step, errno};
    ssize_t ignored = write(fd, report, sizeof report);
    (void)ignored;
    _exit(127);
}

static pid_t launch_forked(const strictrun_launch_spec *spec, int fds[2]) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    close(fds[0]);
    // The parent blocks the signals it forwards; the program must start clean.
    reset_signals();
    if (spec->trace) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) child_fail(fds[1], STRICTRUN_STEP_TRACEME);
        // Let the tracer set its options before anything is filtered.
        raise(SIGSTOP);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(fds[1], STRICTRUN_STEP_NNP);
    int failed = 0;
    if (spec->confine_count > 0 && strictrun_confine(spec->confine, spec->confine_count, &failed) != 0)
        child_fail(fds[1], STRICTRUN_STEP_CONFINE + failed);
    if (spec->set_mdwe && prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
        child_fail(fds[1], STRICTRUN_STEP_MDWE);
    if (spec->filter_len > 0) {
        struct sock_fprog prog = {.len = spec->filter_len, .filter = (struct sock_filter *)spec->filter};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) child_fail(fds[1], STRICTRUN_STEP_SECCOMP);
    }
    execve(spec->path, spec->argv, spec->envp);
    child_fail(fds[1], STRICTRUN_STEP_EXEC);
    return -1;  // not reached
}

// ---- clone(CLONE_VM): raw system calls only -------------------------------------------

#ifdef STRICTRUN_SHARED_LAUNCH
enum { CHILD_STACK = 64 << 10, GUARD = 4096 };

/// One private mapping: a guard page, the child's stack, this header, then the argv and envp
/// arrays, the strings and the filter. It outlives the parent's copies of the spec (the
/// child may read it until its execve), so the caller frees it only once the child has
/// exec'd or died (`strictrun_launch_release`).
struct launch_arena {
    size_t size;
    int report_fd, other_fd, trace;
    const char *path;
    char **argv, **envp;
    struct sock_fprog prog;
};

static __attribute__((noreturn)) void shared_fail(const struct launch_arena *arena, int step, long ret) {
    int report[2] = {step, (int)-ret};
    raw_syscall(SYS_write, arena->report_fd, (long)report, sizeof report, 0);
    for (;;) raw_syscall(SYS_exit_group, 127, 0, 0, 0);
}

static int shared_child(void *argument) {
    const struct launch_arena *arena = argument;
    raw_syscall(SYS_close, arena->other_fd, 0, 0, 0);
    // Every signal is blocked (the parent blocked them all around the clone) until the
    // dispositions are back to the default.
    reset_signals();
    long ret;
    if (arena->trace) {
        if ((ret = raw_syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0)) != 0) shared_fail(arena, STRICTRUN_STEP_TRACEME, ret);
        // Let the tracer set its options before anything is filtered.
        raw_syscall(SYS_kill, raw_syscall(SYS_getpid, 0, 0, 0, 0), SIGSTOP, 0, 0);
    }
    if ((ret = raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0)) != 0) shared_fail(arena, STRICTRUN_STEP_NNP, ret);
    if (arena->prog.len > 0 &&
        (ret = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&arena->prog, 0)) != 0)
        shared_fail(arena, STRICTRUN_STEP_SECCOMP, ret);
    ret = raw_syscall(SYS_execve, (long)arena->path, (long)arena->argv, (long)arena->envp, 0);
    shared_fail(arena, STRICTRUN_STEP_EXEC, ret);
}

static size_t strings_size(char *const *list, size_t *count) {
    size_t size = 0;
    *count = 0;
    for (; list && list[*count]; (*count)++) size += strlen(list[*count]) + 1;
    return size;
}

/// Copies `count` strings into `*cursor` and fills `out` (NULL-terminated).
static void copy_strings(char *const *list, size_t count, char **out, char **cursor) {
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(list[i]) + 1;
        memcpy(*cursor, list[i], len);
        out[i] = *cursor;
        *cursor += len;
    }
    out[count] = NULL;
}

static struct launch_arena *arena_make(const strictrun_launch_spec *spec, int fds[2]) {
    size_t argc, envc;
    size_t text = strlen(spec->path) + 1 + strings_size(spec->argv, &argc) + strings_size(spec->envp, &envc);
    size_t filter = (size_t)spec->filter_len * sizeof(struct sock_filter);
    size_t size = GUARD + CHILD_STACK + sizeof(struct launch_arena) + (argc + envc + 2) * sizeof(char *) + filter + text;
    size = (size + 4095) & ~(size_t)4095;
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    if (mprotect(base, GUARD, PROT_NONE) != 0) {
        int saved = errno;
        munmap(base, size);
        errno = saved;
        return NULL;
    }
    struct launch_arena *arena = (struct launch_arena *)(base + GUARD + CHILD_STACK);
    arena->size = size;
    arena->report_fd = fds[1];
    arena->other_fd = fds[0];
    arena->trace = spec->trace;
    arena->argv = (char **)(arena + 1);
    arena->envp = arena->argv + argc + 1;
    struct sock_filter *program = (struct sock_filter *)(arena->envp + envc + 1);
    if (filter > 0) memcpy(program, spec->filter, filter);
    arena->prog = (struct sock_fprog){.len = spec->filter_len, .filter = program};
    char *cursor = (char *)program + filter;
    size_t len = strlen(spec->path) + 1;
    memcpy(cursor, spec->path, len);
    arena->path = cursor;
    cursor += len;
    copy_strings(spec->argv, argc, arena->argv, &cursor);
    copy_strings(spec->envp, envc, arena->envp, &cursor);
    return arena;
}

static pid_t launch_shared(const strictrun_launch_spec *spec, int fds[2], void **handle) {
    struct launch_arena *arena = arena_make(spec, fds);
    if (!arena) return -1;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    // The stack ends where the arena begins (it grows down, towards the guard page).
    pid_t pid = clone(shared_child, arena, CLONE_VM | SIGCHLD, arena);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (pid < 0) {
        munmap((char *)arena - CHILD_STACK - GUARD, arena->size);
        errno = saved;
        return -1;
    }
    *handle = arena;
    return pid;
}

void strictrun_launch_release(void *handle) {
    if (!handle) return;
    struct launch_arena *arena = handle;
    munmap((char *)arena - CHILD_STACK - GUARD, arena->size);
}
#else
void strictrun_launch_release(void *handle) { (void)handle; }
#endif

pid_t strictrun_launch(const strictrun_launch_spec *spec, int *error_fd, void **handle) {
    *handle = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
#ifdef STRICTRUN_SHARED_LAUNCH
    int shared = !spec->set_mdwe && spec->confine_count == 0;
    pid_t pid = shared ? launch_shared(spec, fds, handle) : launch_forked(spec, fds);
#else
    pid_t pid = launch_forked(spec, fds);
#endif
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    close(fds[1]);
    *error_fd = fds[0];
    return pid;
}
