// The fs/net confinement steps of the child path (issue 10): user, mount and network
// namespaces, mounts, Landlock. Planned in Swift in the parent (ConfinementPlan.swift),
// carried out here between fork and execve: async-signal-safe calls only.
#define _GNU_SOURCE
#include "CStrictrunShims.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/landlock.h>

// Debian 12's linux-libc-dev (6.1) stops at Landlock ABI 2. What later ABIs added, from the
// kernel's include/uapi/linux/landlock.h, only where the installed header lacks it.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)   // ABI 3
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)  // ABI 5
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)   // ABI 4
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define STRICTRUN_LANDLOCK_RULE_NET_PORT 2
struct landlock_net_port_attr {
    __u64 allowed_access;
    __u64 port;
};
#else
#define STRICTRUN_LANDLOCK_RULE_NET_PORT LANDLOCK_RULE_NET_PORT
#endif
// struct landlock_ruleset_attr grew handled_access_net in ABI 4: the kernel takes the size.
struct strictrun_landlock_ruleset_attr {
    __u64 handled_access_fs;
    __u64 handled_access_net;
};

#define LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                        LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
                        LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define LL_READ_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | \
                        LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_IOCTL_DEV)

int strictrun_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/// Every filesystem right the running kernel's ABI knows.
static __u64 landlock_fs_rights(int abi) {
    __u64 all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0…12
    if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) all |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return all;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/// mkdir -p, in place (the path is the parent's copy in this child's memory).
static int make_directories(const char *path) {
    char buffer[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buffer) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buffer, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buffer[i] != '/' && buffer[i] != '\0') continue;
        char saved = buffer[i];
        buffer[i] = '\0';
        if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
        buffer[i] = saved;
    }
    return 0;
}

static int run_op(const strictrun_confine_op *op, int *slots, int *ruleset) {
    switch (op->op) {
    case STRICTRUN_OP_UNSHARE:
        return unshare((int)op->flags);
    case STRICTRUN_OP_WRITE_FILE:
        return write_file(op->path, op->data);
    case STRICTRUN_OP_LOOPBACK_UP:
        return loopback_up();
    case STRICTRUN_OP_MOUNT:
        return mount(op->source, op->path, op->data2, op->flags, op->data);
    case STRICTRUN_OP_CLONE_TREE: {
        int fd = (int)syscall(SYS_open_tree, AT_FDCWD, op->source,
                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (fd < 0) return -1;
        slots[op->slot] = fd;
        return 0;
    }
    case STRICTRUN_OP_MOVE_TREE:
        return (int)syscall(SYS_move_mount, slots[op->slot], "", AT_FDCWD, op->path, MOVE_MOUNT_F_EMPTY_PATH);
    case STRICTRUN_OP_SET_READONLY: {
        struct mount_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_RDONLY;
        return (int)syscall(SYS_mount_setattr, AT_FDCWD, op->path, op->flags ? AT_RECURSIVE : 0,
                            &attr, sizeof attr);
    }
    case STRICTRUN_OP_MKDIRS:
        return make_directories(op->path);
    case STRICTRUN_OP_MKFILE: {
        int fd = open(op->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return errno == EEXIST ? 0 : -1;
        close(fd);
        return 0;
    }
    case STRICTRUN_OP_PIVOT_ROOT:
        // The new root stacks over the old one: pivot_root(".", ".") then detach the old.
        if (chdir(op->path) != 0) return -1;
        if (syscall(SYS_pivot_root, ".", ".") != 0) return -1;
        if (umount2(".", MNT_DETACH) != 0) return -1;
        return chdir("/");
    case STRICTRUN_OP_CHDIR:
        return chdir(op->path);
    case STRICTRUN_OP_LANDLOCK_CREATE: {
        int abi = strictrun_landlock_abi();
        if (abi < 1) return -1;
        if (op->flags && abi < 4) {
            errno = EOPNOTSUPP;
            return -1;
        }
        struct strictrun_landlock_ruleset_attr attr = {
            .handled_access_fs = op->value ? landlock_fs_rights(abi) : 0,
            .handled_access_net = op->flags ? (LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP) : 0,
        };
        int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, abi >= 4 ? sizeof attr : sizeof(__u64), 0);
        if (fd < 0) return -1;
        *ruleset = fd;
        return 0;
    }
    case STRICTRUN_OP_LANDLOCK_PATH: {
        int fd = open(op->path, O_PATH | O_CLOEXEC);
        if (fd < 0) return -1;
        struct stat st;
        if (fstat(fd, &st) != 0) {
            close(fd);
            return -1;
        }
        __u64 rights = landlock_fs_rights(strictrun_landlock_abi());
        __u64 wanted = op->value ? rights : (rights & LL_READ_RIGHTS);
        if (!S_ISDIR(st.st_mode)) wanted &= LL_FILE_RIGHTS;
        struct landlock_path_beneath_attr attr = {.allowed_access = wanted, .parent_fd = fd};
        int rc = (int)syscall(SYS_landlock_add_rule, *ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
        int saved = errno;
        close(fd);
        errno = saved;
        return rc;
    }
    case STRICTRUN_OP_LANDLOCK_PORT: {
        struct landlock_net_port_attr attr = {
            .allowed_access = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP,
            .port = op->value,
        };
        return (int)syscall(SYS_landlock_add_rule, *ruleset, STRICTRUN_LANDLOCK_RULE_NET_PORT, &attr, 0);
    }
    case STRICTRUN_OP_LANDLOCK_RESTRICT: {
        int rc = (int)syscall(SYS_landlock_restrict_self, *ruleset, 0);
        int saved = errno;
        close(*ruleset);
        *ruleset = -1;
        errno = saved;
        return rc;
    }
    default:
        errno = EINVAL;
        return -1;
    }
}

int strictrun_confine(const strictrun_confine_op *ops, int count, int *failed) {
    int slots[STRICTRUN_CONFINE_SLOTS];
    for (int i = 0; i < STRICTRUN_CONFINE_SLOTS; i++) slots[i] = -1;
    int ruleset = -1;
    for (int i = 0; i < count; i++) {
        if (run_op(&ops[i], slots, &ruleset) == 0) continue;
        if (ops[i].optional && (errno == ENOENT || errno == ENOTDIR)) continue;
        *failed = i;
        return -1;
    }
    for (int i = 0; i < STRICTRUN_CONFINE_SLOTS; i++) {
        if (slots[i] >= 0) close(slots[i]);
    }
    return 0;
}

int strictrun_namespace_flags(int network) {
    return CLONE_NEWUSER | CLONE_NEWNS | (network ? CLONE_NEWNET : 0);
}

static int probe_child(void *unused) {
    (void)unused;
    _exit(0);
}

/// Whether /proc/sys/user/max_net_namespaces allows a network namespace (1 when unknown).
static int net_namespaces_allowed(void) {
    int fd = open("/proc/sys/user/max_net_namespaces", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    char text[32] = {0};
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 1;
    return text[0] != '0' || (text[1] != '\n' && text[1] != 0);
}

int strictrun_probe_userns(int flags) {
    // A child made in the new namespaces that exits at once: clone(CLONE_VM | CLONE_VFORK)
    // copies no page tables (a fork of strictrun's large address space cost ~2-5 ms), and the
    // network namespace is not made for nothing (~1 ms to create and tear down): its limit is read.
    if ((flags & CLONE_NEWNET) && !net_namespaces_allowed()) {
        errno = ENOSPC;
        return -1;
    }
    static char stack[16384] __attribute__((aligned(16)));
    pid_t pid = clone(probe_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD | (flags & ~CLONE_NEWNET), NULL);
    if (pid < 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0) {
        if (errno != EINTR) return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = ECHILD;
        return -1;
    }
    return 0;
}
