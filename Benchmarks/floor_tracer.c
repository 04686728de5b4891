/*
 * floor_tracer.c — the minimal-tracer floor of `make bench`.
 *
 * Runs PROGRAM under the same seccomp-BPF filter strictrun installs and a ptrace tracer that
 * does nothing but PTRACE_CONT: at every seccomp stop, every clone/fork/vfork/exec event and
 * every new task's first SIGSTOP (other signals are passed on). Its cost over a bare run is
 * what any seccomp+ptrace design pays on this machine: one kernel round trip per traced call
 * and per new task. It denies nothing (a TRACE'd call simply runs) and writes nothing.
 *
 *   floor_tracer [--bpf FILE] [--no-trace] [-v] -- PROGRAM [ARGS...]
 *   floor_tracer [--bpf FILE] --print
 *
 * The filter:
 *   --bpf FILE  the exact program strictrun compiled, one instruction per line as
 *               "code jt jf k" (Benchmarks/bench.py turns the disassembly of
 *               `strictrun profile bpf --raw NAME` into this);
 *   otherwise   built here with libseccomp from the rules of Profiles/microkernel.yaml as of
 *               this writing, in strictrun's order (so the rule ids match): fork and clone
 *               without CLONE_THREAD|CLONE_VM → TRACE(1); mmap/mprotect/pkey_mprotect with
 *               PROT_WRITE|PROT_EXEC → TRACE(2); bad arch → TRACE(3); io_uring_setup →
 *               TRACE(4); clone3 → ERRNO(ENOSYS).
 * --print      prints the filter as "code jt jf k" lines and exits (the bench script compares
 *              the built-in rules with strictrun's program).
 * --no-trace   installs the filter without a tracer (TRACE then yields ENOSYS): the plain
 *              filter without strictrun's launcher.
 * -v           prints the number of seccomp stops and tasks on stderr at the end.
 *
 * Exit status: PROGRAM's own, 128+N when killed by signal N, 125 on a failure of this tool,
 * 127 when PROGRAM cannot be executed.
 *
 * Build: cc -O2 -o floor_tracer floor_tracer.c -lseccomp
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_INSNS 4096

static struct sock_filter program[MAX_INSNS];
static unsigned short program_len;

static void die(const char *what)
{
    fprintf(stderr, "floor_tracer: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void die_rc(const char *what, int rc)
{
    fprintf(stderr, "floor_tracer: %s: %s\n", what, strerror(-rc));
    exit(125);
}

/* "code jt jf k" per line, decimal or 0x-hex; '#' starts a comment. */
static void load_bpf_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        unsigned long code, jt, jf, k;
        int n = sscanf(line, "%li %li %li %li", (long *)&code, (long *)&jt, (long *)&jf, (long *)&k);
        if (n <= 0)
            continue;
        if (n != 4 || program_len == MAX_INSNS) {
            fprintf(stderr, "floor_tracer: %s: bad line: %s", path, line);
            exit(125);
        }
        program[program_len++] = (struct sock_filter){(uint16_t)code, (uint8_t)jt, (uint8_t)jf, (uint32_t)k};
    }
    fclose(f);
    if (program_len == 0) {
        fprintf(stderr, "floor_tracer: %s: no instructions\n", path);
        exit(125);
    }
}

static void add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned count,
                const struct scmp_arg_cmp *cmps)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) {
        fprintf(stderr, "floor_tracer: unknown syscall %s\n", name);
        exit(125);
    }
    int rc = seccomp_rule_add_array(ctx, action, nr, count, cmps);
    if (rc < 0)
        die_rc(name, rc);
}

/* The microkernel rules, added in the order strictrun's FilterCompiler adds them. */
static void build_builtin(void)
{
    const uint64_t clone_vm = 0x100, clone_thread = 0x10000, w = 0x2, x = 0x4;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        die("seccomp_init");
    struct scmp_arg_cmp fork_shape = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_thread | clone_vm, 0);
    add(ctx, SCMP_ACT_TRACE(1), "fork", 0, NULL);
    add(ctx, SCMP_ACT_TRACE(1), "clone", 1, &fork_shape);
    add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    struct scmp_arg_cmp wx = SCMP_A2(SCMP_CMP_MASKED_EQ, w | x, w | x);
    add(ctx, SCMP_ACT_TRACE(2), "mmap", 1, &wx);
    add(ctx, SCMP_ACT_TRACE(2), "mprotect", 1, &wx);
    add(ctx, SCMP_ACT_TRACE(2), "pkey_mprotect", 1, &wx);
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRACE(3));
    if (rc < 0)
        die_rc("seccomp_attr_set", rc);
    add(ctx, SCMP_ACT_TRACE(4), "io_uring_setup", 0, NULL);

    /* libseccomp 2.5 exports only to a file descriptor: a memfd, read back. */
    int fd = memfd_create("floor-filter", MFD_CLOEXEC);
    if (fd < 0)
        die("memfd_create");
    rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        die_rc("seccomp_export_bpf", rc);
    ssize_t n = pread(fd, program, sizeof program, 0);
    if (n <= 0 || n % sizeof(struct sock_filter) != 0)
        die("pread");
    program_len = (unsigned short)(n / sizeof(struct sock_filter));
    close(fd);
    seccomp_release(ctx);
}

static void child(char **argv, int trace, int error_fd)
{
    if (trace) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            goto fail;
        raise(SIGSTOP); /* the tracer sets its options before anything is filtered */
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto fail;
    struct sock_fprog prog = {.len = program_len, .filter = program};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        goto fail;
    execvp(argv[0], argv);
fail:;
    int err = errno;
    ssize_t ignored = write(error_fd, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

static int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    const char *bpf_path = NULL;
    int trace = 1, print = 0, verbose = 0, i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--bpf") && i + 1 < argc)
            bpf_path = argv[++i];
        else if (!strcmp(argv[i], "--no-trace"))
            trace = 0;
        else if (!strcmp(argv[i], "--print"))
            print = 1;
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else
            break;
    }
    if (bpf_path)
        load_bpf_file(bpf_path);
    else
        build_builtin();
    if (print) {
        for (unsigned j = 0; j < program_len; j++)
            printf("%u %u %u %u\n", program[j].code, program[j].jt, program[j].jf, program[j].k);
        return 0;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: floor_tracer [--bpf FILE] [--no-trace] [-v] -- PROGRAM [ARGS...]\n");
        return 125;
    }

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        die("pipe2");
    pid_t root = fork();
    if (root < 0)
        die("fork");
    if (root == 0) {
        close(fds[0]);
        child(argv + i, trace, fds[1]);
    }
    close(fds[1]);

    int status, exit_code = 125;
    long stops = 0, tasks = 1;
    if (!trace) {
        while (waitpid(root, &status, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
        exit_code = status_code(status);
    } else {
        if (waitpid(root, &status, 0) < 0 || !WIFSTOPPED(status)) {
            int err = 0;
            if (read(fds[0], &err, sizeof err) == sizeof err) {
                fprintf(stderr, "floor_tracer: %s: %s\n", argv[i], strerror(err));
                return 127;
            }
            fprintf(stderr, "floor_tracer: the child did not stop for tracing\n");
            return 125;
        }
        long options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                       PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
        if (ptrace(PTRACE_SETOPTIONS, root, NULL, (void *)options) != 0)
            die("PTRACE_SETOPTIONS");
        ptrace(PTRACE_CONT, root, NULL, NULL);
        for (;;) {
            pid_t tid = waitpid(-1, &status, __WALL);
            if (tid < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == ECHILD)
                    break;
                die("waitpid");
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                if (tid == root)
                    exit_code = status_code(status);
                continue;
            }
            int sig = WSTOPSIG(status);
            int event = status >> 16;
            if (event == PTRACE_EVENT_SECCOMP) {
                stops++;
                sig = 0;
            } else if (event != 0) {
                if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK)
                    tasks++;
                sig = 0;
            } else if (sig == SIGSTOP) {
                sig = 0; /* a new task's first stop (or a group-stop: not emulated) */
            }
            ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
        }
        int err = 0;
        if (read(fds[0], &err, sizeof err) == sizeof err) {
            fprintf(stderr, "floor_tracer: %s: %s\n", argv[i], strerror(err));
            return 127;
        }
    }
    if (verbose)
        fprintf(stderr, "floor_tracer: %ld seccomp stops, %ld tasks, exit %d\n", stops, tasks, exit_code);
    return exit_code;
}
