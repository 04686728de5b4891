/*
 * common.h — shared helpers for the strictrun example programs.
 *
 * Output convention (tests parse it; keep it exact):
 *   EXPECT <op> microkernel=<x> microkernel-strict=<x> apple-jit=<x> audit=<x>
 *       what each shipped profile should do to <op>; printed before the op is tried. More lines
 *       for the same op (expect_also) name other profiles; a profile that is named nowhere takes
 *       microkernel's outcome (they all extend it). <x> is ok, errno=<NAME>, none (the op must not
 *       run), any; errno=<NAME>@<category> says the deny is another category's than the op's name
 *       suggests, @kernel that the kernel answers, not a rule of strictrun.
 *   RESULT <op> ok [key=value ...]
 *       the operation succeeded (extra fields such as value=42 or status=0 may follow).
 *   RESULT <op> errno=<NAME>
 *       the operation failed with errno <NAME> (EPERM, EACCES, ...), or errno=<number> when
 *       the number has no name in the table below.
 * stdout is unbuffered, so every line is out before the next syscall is tried; a program that
 * ran to the end exits 0, whether or not its operations were denied.
 */
#ifndef STRICTRUN_EXAMPLES_COMMON_H
#define STRICTRUN_EXAMPLES_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes stdout (and stderr) unbuffered; call first in main. */
static inline void examples_init(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
}

/* The symbolic name of an errno value, or NULL when it is not in the table. */
static inline const char *errno_name(int err)
{
    switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case ENOEXEC: return "ENOEXEC";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case ENOTTY: return "ENOTTY";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return NULL;
    }
}

/* Prints `RESULT <op> ok` followed by `extra` (" key=value ...", may be NULL or ""). */
static inline void result_ok(const char *op, const char *extra)
{
    printf("RESULT %s ok%s\n", op, extra ? extra : "");
    fflush(stdout);
}

/* Prints `RESULT <op> errno=<NAME>` (or errno=<number> for a value without a name). */
static inline void result_errno(const char *op, int err)
{
    const char *name = errno_name(err);
    if (name)
        printf("RESULT %s errno=%s\n", op, name);
    else
        printf("RESULT %s errno=%d\n", op, err);
    fflush(stdout);
}

/* Prints what each profile should do to `op` (see the convention above). */
static inline void expect(const char *op, const char *microkernel, const char *strict,
                          const char *apple_jit, const char *audit)
{
    printf("EXPECT %s microkernel=%s microkernel-strict=%s apple-jit=%s audit=%s\n",
           op, microkernel, strict, apple_jit, audit);
    fflush(stdout);
}

/* The RESULT of a call that returns a negative value with errno set on failure. */
static inline void result_rc(const char *op, long rc)
{
    if (rc < 0)
        result_errno(op, errno);
    else
        result_ok(op, NULL);
}

/* Outcomes under the other shipped profiles where they differ from microkernel's, as
 * `profile=outcome` pairs (ExampleTests takes microkernel's column for microkernel-jit, genode,
 * fuchsia, kasperskyos and microkernel-tls, which all extend it). */
static inline void expect_also(const char *op, const char *pairs)
{
    printf("EXPECT %s %s\n", op, pairs);
    fflush(stdout);
}

/* Writes x86-64 machine code for `mov eax, 42; ret` at `dst` (6 bytes) — what the JIT
 * examples generate and then call; returns the number of bytes written. */
static inline size_t jit_write_return_42(void *dst)
{
    static const unsigned char code[] = {
        0xb8, 0x2a, 0x00, 0x00, 0x00, /* mov eax, 42 */
        0xc3,                         /* ret */
    };
    memcpy(dst, code, sizeof code);
    return sizeof code;
}

/* Calls code written by jit_write_return_42 and prints `RESULT exec-jit ok value=<n>`. */
static inline void jit_call_and_report(void *code)
{
    int (*fn)(void);
    memcpy(&fn, &code, sizeof fn); /* POSIX's data→function pointer conversion, -Wpedantic-clean */
    int value = fn();
    printf("RESULT exec-jit ok value=%d\n", value);
    fflush(stdout);
}

#endif /* STRICTRUN_EXAMPLES_COMMON_H */
