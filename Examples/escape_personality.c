/*
 * escape_personality.c — adversarial: personality(READ_IMPLIES_EXEC) would make every
 * readable mapping executable, W+X without ever asking for PROT_EXEC.
 * Only exactly 0xffffffff is a query: a value with bit 31 set and READ_IMPLIES_EXEC sets the flag
 * too (the kernel keeps bit 31 as a flag of its own), so it is denied like the plain one.
 * Expected: microkernel, microkernel-strict, apple-jit: errno=EPERM (escape/read-implies-exec);
 *           audit: ok (logged). A plain query, personality(0xffffffff), always works.
 */
#define _GNU_SOURCE
#include <sys/personality.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("personality-query", "ok", "ok", "ok", "ok");
    expect("personality-read-implies-exec", "errno=EPERM", "errno=EPERM", "errno=EPERM", "ok");
    expect("personality-read-implies-exec-bit31", "errno=EPERM", "errno=EPERM", "errno=EPERM", "ok");
    int current = personality(0xffffffff);
    if (current < 0)
        result_errno("personality-query", errno);
    else
        result_ok("personality-query", NULL);
    if (personality((unsigned long)current | READ_IMPLIES_EXEC) < 0)
        result_errno("personality-read-implies-exec", errno);
    else
        result_ok("personality-read-implies-exec", NULL);
    /* Back to the original persona (audit let the flag through), then the bit-31 variant. */
    personality((unsigned long)current);
    if (personality(0x80000000UL | (unsigned long)current | READ_IMPLIES_EXEC) < 0)
        result_errno("personality-read-implies-exec-bit31", errno);
    else
        result_ok("personality-read-implies-exec-bit31", NULL);
    return 0;
}
