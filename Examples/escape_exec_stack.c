/*
 * escape_exec_stack.c — adversarial: linked with an executable stack (-z execstack, see the
 * Makefile), so the kernel gives the program an RWX stack at execve — W+X memory without any
 * mmap or mprotect call, under microkernel-strict too (the kernel's MDWE does not cover it).
 * The program writes `mov eax, 42; ret` onto its stack and calls it.
 * Expected: under every profile with W^X (microkernel, microkernel-strict, microkernel-jit,
 *           apple-jit) the process is ended at its exec with a wx/exec-stack event, before
 *           main; under audit it runs (stack-code ok) and the event is logged. The EXPECT line
 *           below is what audit shows; HardeningTests checks the rest.
 */
#include "common.h"

int main(void)
{
    examples_init();
    expect("stack-code", "none", "none", "none", "ok");
    unsigned char code[16];
    jit_write_return_42(code);
    int value = ((int (*)(void))(void *)code)();
    if (value == 42)
        result_ok("stack-code", NULL);
    else
        result_errno("stack-code", 0);
    return 0;
}
