// CStrictrunShims: every kernel call strictrun's Swift code cannot make itself
// (variadic ptrace/prctl/syscall, the W* macros, seccomp(2)), and the
// async-signal-safe child path between fork and execve.
#ifndef CSTRICTRUN_SHIMS_H
#define CSTRICTRUN_SHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>
#include <linux/filter.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- ptrace (sys/ptrace.h's ptrace is variadic) --------------------------------
/// ptrace(2). Returns the kernel's result; -1 with errno on failure.
long strictrun_ptrace(int request, pid_t pid, void *addr, void *data);
/// PTRACE_GETREGS / PTRACE_SETREGS on x86_64.
int strictrun_getregs(pid_t tid, struct user_regs_struct *regs);
int strictrun_setregs(pid_t tid, const struct user_regs_struct *regs);
/// Skip the syscall a tracee is stopped in at a seccomp stop, making it return `retval`
/// (e.g. -EPERM): orig_rax = -1, rax = retval. Returns 0 or -1 with errno.
int strictrun_skip_syscall(pid_t tid, long retval);
/// The fault of a signal-delivery-stop (PTRACE_GETSIGINFO): signal, si_code and
/// si_addr. Returns 0 or -1 with errno (EINVAL in a group-stop).
int strictrun_fault_info(pid_t tid, int *signo, int *code, uint64_t *addr);
/// PTRACE_GETEVENTMSG.
int strictrun_geteventmsg(pid_t tid, unsigned long *msg);

/// The decoded content of PTRACE_GET_SYSCALL_INFO at a seccomp stop.
typedef struct {
    uint8_t op;            ///< PTRACE_SYSCALL_INFO_* (3 = seccomp)
    uint32_t arch;         ///< AUDIT_ARCH_*
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    uint64_t nr;
    uint64_t args[6];
    uint32_t ret_data;     ///< SECCOMP_RET_DATA of the filter's verdict
} strictrun_syscall_info;
/// PTRACE_GET_SYSCALL_INFO. Returns 0 or -1 with errno.
int strictrun_get_syscall_info(pid_t tid, strictrun_syscall_info *info);

/// Options strictrun sets on its first tracee (inherited by all auto-attached ones).
int strictrun_ptrace_default_options(void);

// ---- wait(2) status macros ---------------------------------------------------
int strictrun_wifexited(int status);
int strictrun_wexitstatus(int status);
int strictrun_wifsignaled(int status);
int strictrun_wtermsig(int status);
int strictrun_wifstopped(int status);
int strictrun_wstopsig(int status);
/// The PTRACE_EVENT_* in a stop status (status >> 16), 0 when none.
int strictrun_wptrace_event(int status);
/// waitpid(pid, &status, __WALL | __WNOTHREAD | extra), retrying on EINTR.
pid_t strictrun_waitpid_all(pid_t pid, int *status, int extra_flags);

// ---- memory of a stopped tracee ----------------------------------------------
/// process_vm_readv of `len` bytes at `remote`. Returns bytes read, -1 with errno.
ssize_t strictrun_read_memory(pid_t pid, uint64_t remote, void *local, size_t len);

/// process_vm_writev of `len` bytes to `remote`. Returns bytes written, -1 with errno.
ssize_t strictrun_write_memory(pid_t pid, uint64_t remote, const void *local, size_t len);

// ---- pidfds ------------------------------------------------------------------
int strictrun_pidfd_open(pid_t pid);
int strictrun_pidfd_getfd(int pidfd, int targetfd);

// ---- fs/net confinement (confine.c) -------------------------------------------
/// One step of the child's confinement, planned in the parent (see ConfinementPlan.swift).
typedef struct {
    int op;                  ///< STRICTRUN_OP_*
    const char *path;        ///< the target path (mount point, file, directory)
    const char *source;      ///< mount source, or the tree to clone
    const char *data;        ///< text to write, or mount(2) data
    const char *data2;       ///< mount(2) filesystem type
    unsigned long flags;     ///< unshare/mount flags; SET_READONLY: recursive; LANDLOCK_CREATE: handle net
    unsigned long long value;///< LANDLOCK_CREATE: handle fs; LANDLOCK_PATH: writable; LANDLOCK_PORT: port
    int slot;                ///< CLONE_TREE/MOVE_TREE: the detached tree's slot
    int optional;            ///< ENOENT/ENOTDIR from this step is not a failure
} strictrun_confine_op;

enum {
    STRICTRUN_OP_UNSHARE = 1,       ///< unshare(flags)
    STRICTRUN_OP_WRITE_FILE,        ///< write `data` to `path` (uid_map, setgroups, sysctls)
    STRICTRUN_OP_LOOPBACK_UP,       ///< SIOCSIFFLAGS IFF_UP on lo
    STRICTRUN_OP_MOUNT,             ///< mount(source, path, data2, flags, data)
    STRICTRUN_OP_CLONE_TREE,        ///< open_tree(source, OPEN_TREE_CLONE|AT_RECURSIVE) into `slot`
    STRICTRUN_OP_MOVE_TREE,         ///< move_mount(slot → path)
    STRICTRUN_OP_SET_READONLY,      ///< mount_setattr(path, MOUNT_ATTR_RDONLY[, AT_RECURSIVE])
    STRICTRUN_OP_MKDIRS,            ///< mkdir -p path
    STRICTRUN_OP_MKFILE,            ///< create an empty file (a mount point for a file)
    STRICTRUN_OP_PIVOT_ROOT,        ///< make `path` the root (pivot_root(".", "."), detach the old)
    STRICTRUN_OP_CHDIR,
    STRICTRUN_OP_LANDLOCK_CREATE,   ///< landlock_create_ruleset (value: handle fs, flags: handle TCP)
    STRICTRUN_OP_LANDLOCK_PATH,     ///< a path-beneath rule: read (value 0) or read-write (1)
    STRICTRUN_OP_LANDLOCK_PORT,     ///< a TCP bind+connect rule for port `value`
    STRICTRUN_OP_LANDLOCK_RESTRICT, ///< landlock_restrict_self
};
#define STRICTRUN_CONFINE_SLOTS 64

/// Carry out `count` steps in order (async-signal-safe). Returns 0, or -1 with errno and
/// the failing step's index in *failed.
int strictrun_confine(const strictrun_confine_op *ops, int count, int *failed);
/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the kernel's Landlock
/// ABI, or -1 with errno (EOPNOTSUPP: disabled, ENOSYS: not built).
int strictrun_landlock_abi(void);
/// CLONE_NEWUSER | CLONE_NEWNS [| CLONE_NEWNET] (sched.h needs _GNU_SOURCE, which this
/// header must not define).
int strictrun_namespace_flags(int network);
/// Whether namespaces of `flags` can be made here: a child cloned into them (CLONE_VM |
/// CLONE_VFORK: no page tables copied) exits at once; CLONE_NEWNET is judged by
/// /proc/sys/user/max_net_namespaces instead of making one. 0, or -1 with errno.
int strictrun_probe_userns(int flags);

// ---- launching ---------------------------------------------------------------
/// What the child does between fork and execve.
typedef struct {
    const char *path;             ///< resolved program path
    char *const *argv;
    char *const *envp;
    const struct sock_filter *filter;  ///< BPF program compiled in the parent
    unsigned short filter_len;
    int set_mdwe;                 ///< PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) before exec
    int trace;                    ///< PTRACE_TRACEME + SIGSTOP handshake
    const strictrun_confine_op *confine;  ///< fs/net steps after NO_NEW_PRIVS (NULL: none)
    int confine_count;
} strictrun_launch_spec;

/// Start a child (launch.c) that resets its signal mask and dispositions, does
/// PTRACE_TRACEME and stops itself with SIGSTOP (so the parent can set options), sets
/// PR_SET_NO_NEW_PRIVS, runs the confinement steps (and PR_SET_MDWE when asked), installs the
/// filter with seccomp(2) and execve()s. If any step fails the child writes {step, errno} to a
/// CLOEXEC pipe and _exit(127)s. Without confinement steps and MDWE the child shares the
/// caller's memory until its execve (clone(CLONE_VM)) and *handle holds its private copy of
/// the spec: pass it to strictrun_launch_release once the child has exec'd or died (NULL
/// after a fork). Returns the child's pid (>0) and stores the pipe's read end in *error_fd,
/// or -1 with errno if the clone, fork or pipe failed.
pid_t strictrun_launch(const strictrun_launch_spec *spec, int *error_fd, void **handle);
void strictrun_launch_release(void *handle);

/// Steps reported through the error pipe.
enum {
    STRICTRUN_STEP_TRACEME = 1,
    STRICTRUN_STEP_NNP = 2,
    STRICTRUN_STEP_MDWE = 3,
    STRICTRUN_STEP_SECCOMP = 4,
    STRICTRUN_STEP_EXEC = 5,
    /// STRICTRUN_STEP_CONFINE + i: confinement step i failed.
    STRICTRUN_STEP_CONFINE = 100,
};

/// Install `filter` in the calling process (no tracer): used by the plain-filter floor
/// of the benchmarks and `strictrun filter-exec`.
int strictrun_install_filter(const struct sock_filter *filter, unsigned short len, int set_nnp);

// ---- misc kernel calls ---------------------------------------------------------
int strictrun_prctl_set_pdeathsig(int sig);
/// prctl(PR_SET_DUMPABLE, value): 0 puts the caller's /proc entries (mem, fd, maps) out of reach
/// of processes without CAP_SYS_PTRACE.
int strictrun_prctl_set_dumpable(int value);
int strictrun_block_signals(const int *signals, int count);
/// sigwaitinfo over `signals`; returns the signal, stores si_code and sender pid.
int strictrun_wait_signal(const int *signals, int count, int *out_code, pid_t *out_pid);
int strictrun_tgkill(pid_t tgid, pid_t tid, int sig);
/// statfs(2)'s f_type of the filesystem holding `path`; -1 with errno on failure.
long strictrun_fs_type(const char *path);
/// memfd_create(name, MFD_CLOEXEC).
int strictrun_memfd_create(const char *name);
/// open(path, O_PATH|O_CLOEXEC[|O_DIRECTORY]): a descriptor that names a file and opens nothing (no
/// device or FIFO side effect); -1 with errno.
int strictrun_open_path(const char *path, int directory);
/// A regular file's O_PATH descriptor reopened for reading through /proc/self/fd/N (the same inode):
/// O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC|O_NOATIME (without O_NOATIME where it is refused, EPERM);
/// -1 with errno.
int strictrun_reopen_for_reading(int path_fd);
/// openat2(dirfd, path, O_PATH|O_CLOEXEC[|O_NOFOLLOW unless follow_last]) with RESOLVE_NO_MAGICLINKS and,
/// when in_root, RESOLVE_IN_ROOT (`dirfd` is a root: `..` and absolute symlinks stay below it), else
/// RESOLVE_BENEATH (the lookup may not leave `dirfd`). Returns the O_PATH descriptor, or -1 with errno
/// (ELOOP: a magic link such as /proc/PID/fd/N on the way; EXDEV: the lookup left `dirfd`; EAGAIN:
/// renames kept racing the lookup).
int strictrun_open_path_below(int dirfd, const char *path, int follow_last, int in_root);

/// One VMA as PROCMAP_QUERY describes it.
struct strictrun_vma {
    uint64_t start, end;
    /// PROCMAP_QUERY_VMA_* flags: 1 readable, 2 writable, 4 executable, 8 shared.
    uint64_t flags;
    uint64_t offset, inode;
    uint32_t dev_major, dev_minor;
    /// Bytes of the name written, its NUL included; 0: the VMA has no name (anonymous memory).
    uint32_t name_size;
};

/// PROCMAP_QUERY's query flags besides the required VMA_* permissions (1, 2, 4, 8): the VMA
/// covering the address or else the next one above it; file-backed VMAs only.
#define STRICTRUN_PROCMAP_COVERING_OR_NEXT 0x10
#define STRICTRUN_PROCMAP_FILE_BACKED 0x20

/// PROCMAP_QUERY (Linux 6.11) on an open /proc/PID/maps `fd`: the VMA covering `address` (with
/// `query_flags`: or the next one, only file-backed ones, only those with the given permissions),
/// and, when `name` is given, its name (the maps file's path column: a path, `[heap]`,
/// `[anon:NAME]`…; at most `name_capacity` bytes, NUL included). Returns 0, or -1 with errno
/// (ENOENT: no such VMA; ENAMETOOLONG: the name does not fit; ENOTTY/EINVAL: the kernel has no
/// PROCMAP_QUERY).
int strictrun_procmap_query(int fd, uint64_t address, uint64_t query_flags, struct strictrun_vma *vma,
                            char *name, uint32_t name_capacity);

/// prctl(PR_SET_NAME): the calling thread's name (the kernel keeps its first 15 bytes).
int strictrun_set_thread_name(const char *name);

/// pipe2(fds, O_NONBLOCK | O_CLOEXEC).
int strictrun_pipe_nonblock(int fds[2]);
/// splice(from, NULL, to, NULL, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE): -1 with errno on failure.
long strictrun_splice(int from, int to, size_t len);

/// copy_file_range(from, NULL, to, NULL, len, 0): bytes copied, 0 at the end, -1 with errno.
long strictrun_copy_file_range(int from, int to, size_t len);
/// epoll_create1(EPOLL_CLOEXEC).
int strictrun_epoll_create(void);
/// epoll_ctl(epfd, op, fd, {events, data.fd = fd}); op: 1 add, 2 delete, 3 modify.
int strictrun_epoll_ctl(int epfd, int op, int fd, uint32_t events);
/// epoll_wait into parallel arrays of descriptors and event masks (at most 64); the count, -1 with errno.
int strictrun_epoll_wait(int epfd, int *fds, uint32_t *events, int max, int timeout_ms);
/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int strictrun_eventfd(void);
/// EPOLLIN, EPOLLOUT.
#define STRICTRUN_EPOLLIN 0x001u
#define STRICTRUN_EPOLLOUT 0x004u

// ---- the filter cache (identity.c) ---------------------------------------------
/// The GNU build-id (NT_GNU_BUILD_ID) of the loaded object holding `address`, or of the main
/// program when `address` is NULL, read from its PT_NOTE segments in memory (dl_iterate_phdr):
/// its length (at most `capacity` bytes copied), 0 when it has none, -1 when no object holds `address`.
long strictrun_build_id(const void *address, unsigned char *out, size_t capacity);
/// add_key(2) (no glibc wrapper): the new or updated key's serial, -1 with errno.
long strictrun_add_key(const char *type, const char *description, const void *payload, size_t length,
                       int32_t keyring);
/// keyctl(KEYCTL_SEARCH, keyring, type, description, 0): the key's serial, -1 with errno (ENOKEY).
long strictrun_keyctl_search(int32_t keyring, const char *type, const char *description);
/// keyctl(KEYCTL_READ, key, buffer, length): the payload's full length, -1 with errno.
long strictrun_keyctl_read(int32_t key, void *buffer, size_t length);
/// keyctl(KEYCTL_SETPERM, key, permissions): 0, -1 with errno.
long strictrun_keyctl_setperm(int32_t key, uint32_t permissions);

#ifdef __cplusplus
}
#endif
#endif
