// Implementation of CStrictrunShims.h. Keep it small: one wrapper per kernel call.
#define _GNU_SOURCE
#include "CStrictrunShims.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/seccomp.h>
#include <linux/openat2.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif

long strictrun_ptrace(int request, pid_t pid, void *addr, void *data) {
    return ptrace((enum __ptrace_request)request, pid, addr, data);
}

int strictrun_getregs(pid_t tid, struct user_regs_struct *regs) {
    return (int)ptrace(PTRACE_GETREGS, tid, NULL, regs);
}

int strictrun_setregs(pid_t tid, const struct user_regs_struct *regs) {
    return (int)ptrace(PTRACE_SETREGS, tid, NULL, (void *)regs);
}

int strictrun_skip_syscall(pid_t tid, long retval) {
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0) return -1;
    regs.orig_rax = (unsigned long long)-1;
    regs.rax = (unsigned long long)retval;
    return (int)ptrace(PTRACE_SETREGS, tid, NULL, &regs);
}

int strictrun_fault_info(pid_t tid, int *signo, int *code, uint64_t *addr) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &info) != 0) return -1;
    *signo = info.si_signo;
    *code = info.si_code;
    *addr = (uint64_t)(uintptr_t)info.si_addr;
    return 0;
}

int strictrun_geteventmsg(pid_t tid, unsigned long *msg) {
    return (int)ptrace(PTRACE_GETEVENTMSG, tid, NULL, msg);
}

// Kernel layout of struct ptrace_syscall_info (linux/ptrace.h, which must not be
// included next to sys/ptrace.h).
struct strictrun_kernel_syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct { uint64_t nr; uint64_t args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr; uint64_t args[6]; uint32_t ret_data; } seccomp;
    };
};

int strictrun_get_syscall_info(pid_t tid, strictrun_syscall_info *out) {
    struct strictrun_kernel_syscall_info info;
    memset(&info, 0, sizeof info);
    long n = ptrace((enum __ptrace_request)PTRACE_GET_SYSCALL_INFO, tid,
                    (void *)sizeof info, &info);
    if (n < 0) return -1;
    out->op = info.op;
    out->arch = info.arch;
    out->instruction_pointer = info.instruction_pointer;
    out->stack_pointer = info.stack_pointer;
    out->nr = info.seccomp.nr;
    for (int i = 0; i < 6; i++) out->args[i] = info.seccomp.args[i];
    out->ret_data = info.seccomp.ret_data;
    return 0;
}

int strictrun_ptrace_default_options(void) {
    return PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
           PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL |
           PTRACE_O_TRACESYSGOOD;
}

int strictrun_wifexited(int s) { return WIFEXITED(s); }
int strictrun_wexitstatus(int s) { return WEXITSTATUS(s); }
int strictrun_wifsignaled(int s) { return WIFSIGNALED(s); }
int strictrun_wtermsig(int s) { return WTERMSIG(s); }
int strictrun_wifstopped(int s) { return WIFSTOPPED(s); }
int strictrun_wstopsig(int s) { return WSTOPSIG(s); }
int strictrun_wptrace_event(int s) { return (s >> 16) & 0xff; }

pid_t strictrun_waitpid_all(pid_t pid, int *status, int extra_flags) {
    pid_t r;
    do {
        // __WNOTHREAD: only this thread's tracees — the tracer thread owns its own.
        r = waitpid(pid, status, __WALL | __WNOTHREAD | extra_flags);
    } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t strictrun_read_memory(pid_t pid, uint64_t remote, void *local, size_t len) {
    struct iovec l = {.iov_base = local, .iov_len = len};
    struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = len};
    return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

ssize_t strictrun_write_memory(pid_t pid, uint64_t remote, const void *local, size_t len) {
    struct iovec l = {.iov_base = (void *)local, .iov_len = len};
    struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = len};
    return process_vm_writev(pid, &l, 1, &r, 1, 0);
}

int strictrun_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int strictrun_pidfd_getfd(int pidfd, int targetfd) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, 0);
}

int strictrun_install_filter(const struct sock_filter *filter, unsigned short len, int set_nnp) {
    if (set_nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)filter};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int strictrun_prctl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int strictrun_prctl_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }

int strictrun_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int strictrun_wait_signal(const int *signals, int count, int *out_code, pid_t *out_pid) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    siginfo_t info;
    int sig;
    do {
        sig = sigwaitinfo(&set, &info);
    } while (sig < 0 && errno == EINTR);
    if (sig > 0) {
        *out_code = info.si_code;
        *out_pid = info.si_pid;
    }
    return sig;
}

int strictrun_tgkill(pid_t tgid, pid_t tid, int sig) { return (int)syscall(SYS_tgkill, tgid, tid, sig); }

int strictrun_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

// Kernel layout of struct procmap_query (linux/fs.h, 6.11), declared here so the shim builds
// against older headers too.
struct strictrun_procmap_query {
    uint64_t size, query_flags, query_addr;
    uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define STRICTRUN_PROCMAP_QUERY _IOWR('f', 17, struct strictrun_procmap_query)

int strictrun_procmap_query(int fd, uint64_t address, uint64_t query_flags, struct strictrun_vma *vma,
                            char *name, uint32_t name_capacity) {
    struct strictrun_procmap_query q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_flags = query_flags;
    q.query_addr = address;
    q.vma_name_addr = (uint64_t)(uintptr_t)name;
    q.vma_name_size = name ? name_capacity : 0;
    if (ioctl(fd, STRICTRUN_PROCMAP_QUERY, &q) != 0) return -1;
    vma->start = q.vma_start;
    vma->end = q.vma_end;
    vma->flags = q.vma_flags;
    vma->offset = q.vma_offset;
    vma->inode = q.inode;
    vma->dev_major = q.dev_major;
    vma->dev_minor = q.dev_minor;
    vma->name_size = q.vma_name_size;
    return 0;
}

int strictrun_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

long strictrun_fs_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    return (long)fs.f_type;
}

int strictrun_pipe_nonblock(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

long strictrun_splice(int from, int to, size_t len) {
    return (long)splice(from, NULL, to, NULL, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
}

long strictrun_copy_file_range(int from, int to, size_t len) {
    return (long)copy_file_range(from, NULL, to, NULL, len, 0);
}

int strictrun_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int strictrun_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event event = {.events = events, .data.fd = fd};
    return epoll_ctl(epfd, op, fd, &event);
}

int strictrun_epoll_wait(int epfd, int *fds, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ready[64];
    int n = epoll_wait(epfd, ready, max < 64 ? max : 64, timeout_ms);
    for (int i = 0; i < n; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return n;
}

int strictrun_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int strictrun_open_path_below(int dirfd, const char *path, int follow_last, int in_root) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW);
    how.resolve = RESOLVE_NO_MAGICLINKS | (in_root ? RESOLVE_IN_ROOT : RESOLVE_BENEATH);
    // EAGAIN: a rename or mount raced the scoped lookup; retried a few times only (a program
    // renaming in a loop must not hold the caller), then returned.
    long fd;
    int again = 0;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++again < 8)));
    return (int)fd;
}

int strictrun_open_path(const char *path, int directory) {
    int fd;
    do {
        fd = open(path, O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int strictrun_reopen_for_reading(int path_fd) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", path_fd);
    int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd;
    do {
        fd = open(link, flags | O_NOATIME);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == EPERM) {
        do {
            fd = open(link, flags);
        } while (fd < 0 && errno == EINTR);
    }
    return fd;
}
