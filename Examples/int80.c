/*
 * int80.c — trips the foreign-ABI rule: a 64-bit process makes i386 syscalls through
 * `int $0x80` (seccomp sees them with arch AUDIT_ARCH_I386 and i386 syscall numbers, so a filter
 * that only knows x86_64 numbers would misread them: i386 2 is fork, x86_64 2 is open).
 *
 *   (a) i386 fork   (nr 2)                                      op `i386-fork`
 *   (b) i386 mmap2  (nr 192) of one page PROT_READ|PROT_WRITE|PROT_EXEC,
 *       MAP_PRIVATE|MAP_ANONYMOUS, fd -1, pgoff 0                op `i386-mmap-rwx`
 *   (c) i386 getpid (nr 20), harmless, as a control              op `i386-getpid`
 *
 * int $0x80 returns -errno in eax. A child of the i386 fork leaves at once through the i386 exit
 * syscall (nr 1), in assembly, so it never runs any C code; the parent waits for it.
 * The kernel must have IA32 emulation (CONFIG_IA32_EMULATION, not disabled with
 * ia32_emulation=0); without it the first int $0x80 kills the process with SIGSEGV.
 *
 * Expected — every foreign-ABI syscall is denied (default errno ENOSYS) under every profile
 * except audit, where it is allowed and logged (category `escape`):
 *   microkernel, microkernel-strict, apple-jit:
 *       RESULT i386-fork errno=ENOSYS
 *       RESULT i386-mmap-rwx errno=ENOSYS
 *       RESULT i386-getpid errno=ENOSYS
 *   audit, and no strictrun:
 *       RESULT i386-fork ok
 *       RESULT i386-mmap-rwx ok addr=0x... (below 4 GiB: an i386 call gets the 32-bit layout)
 *       RESULT i386-getpid ok
 * Exit status 0 in every case.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

enum {
    I386_NR_EXIT = 1,
    I386_NR_FORK = 2,
    I386_NR_GETPID = 20,
    I386_NR_MMAP2 = 192,
    X86_64_NR_EXIT_GROUP = 231,
};

/* i386 syscall `nr` with up to six arguments through int $0x80 (ebx, ecx, edx, esi, edi, ebp);
 * returns the raw eax/rax. Written in assembly because ebp (the sixth argument) is the frame
 * pointer at -O0 and cannot be named in an inline-asm clobber list. */
long int80_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

/* i386 fork through int $0x80. Returns the raw result in the parent; in the child (result 0)
 * calls i386 exit(0) at once, and x86_64 exit_group(0) should that return, never returning. */
long int80_fork(void);

__asm__(
    "    .text\n"
    "    .globl int80_syscall6\n"
    "    .type int80_syscall6, @function\n"
    "int80_syscall6:\n"
    "    .cfi_startproc\n"
    "    pushq %rbx\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %rbx, 0\n"
    "    pushq %rbp\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %rbp, 0\n"
    "    movl %edi, %eax\n"     /* nr */
    "    movl %esi, %ebx\n"     /* a1 */
    "    movl %ecx, %r10d\n"    /* a3, kept while ecx is loaded */
    "    movl %edx, %ecx\n"     /* a2 */
    "    movl %r10d, %edx\n"    /* a3 */
    "    movl %r8d, %esi\n"     /* a4 */
    "    movl %r9d, %edi\n"     /* a5 */
    "    movl 24(%rsp), %ebp\n" /* a6: 7th C argument, above the return address and two pushes */
    "    int $0x80\n"
    "    popq %rbp\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    .cfi_restore %rbp\n"
    "    popq %rbx\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    .cfi_restore %rbx\n"
    "    ret\n"
    "    .cfi_endproc\n"
    "    .size int80_syscall6, .-int80_syscall6\n"
    "\n"
    "    .globl int80_fork\n"
    "    .type int80_fork, @function\n"
    "int80_fork:\n"
    "    .cfi_startproc\n"
    "    movl $2, %eax\n"       /* I386_NR_FORK */
    "    int $0x80\n"
    "    testq %rax, %rax\n"
    "    jnz 1f\n"
    "    movl $1, %eax\n"       /* child: I386_NR_EXIT */
    "    xorl %ebx, %ebx\n"
    "    int $0x80\n"
    "    movl $231, %eax\n"     /* X86_64_NR_EXIT_GROUP, if the i386 exit came back */
    "    xorl %edi, %edi\n"
    "    syscall\n"
    "    ud2\n"
    "1:  ret\n"
    "    .cfi_endproc\n"
    "    .size int80_fork, .-int80_fork\n");

/* The errno encoded in an i386 syscall result (-4095..-1 in eax), or 0 for a success. */
static int int80_errno(long raw)
{
    uint32_t r = (uint32_t)raw;
    return r > 0xfffff000u ? (int)(0u - r) : 0;
}

static void try_fork(void)
{
    long raw = int80_fork();
    int err = int80_errno(raw);
    if (err) {
        result_errno("i386-fork", err);
        return;
    }
    pid_t pid = (pid_t)(uint32_t)raw;
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) {
        result_errno("wait", errno);
        return;
    }
    result_ok("i386-fork", NULL);
}

static void try_mmap2(void)
{
    long raw = int80_syscall6(I386_NR_MMAP2, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int err = int80_errno(raw);
    if (err) {
        result_errno("i386-mmap-rwx", err);
        return;
    }
    uintptr_t addr = (uintptr_t)(uint32_t)raw;
    char extra[48];
    snprintf(extra, sizeof extra, " addr=%#lx", (unsigned long)addr);
    result_ok("i386-mmap-rwx", extra);
    munmap((void *)addr, 4096);
}

static void try_getpid(void)
{
    long raw = int80_syscall6(I386_NR_GETPID, 0, 0, 0, 0, 0, 0);
    int err = int80_errno(raw);
    if (err) {
        result_errno("i386-getpid", err);
        return;
    }
    if ((pid_t)raw != getpid()) {
        /* A wrong answer is a bug, not a policy outcome: no RESULT line, exit 1. */
        fprintf(stderr, "int80: i386 getpid returned %ld, getpid() %d\n", raw, (int)getpid());
        exit(1);
    }
    result_ok("i386-getpid", NULL);
}

int main(void)
{
    examples_init();
    expect("i386-fork", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "ok");
    expect("i386-mmap-rwx", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "ok");
    expect("i386-getpid", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "ok");

    try_fork();
    try_mmap2();
    try_getpid();
    return 0;
}
