/*
 * escape_personality.c — adversarial: personality(READ_IMPLIES_EXEC) would make every
 * readable mapping executable, W+X without ever asking for PROT_EXEC.
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
    int current = personality(0xffffffff);
    if (current < 0)
        result_errno("personality-query", errno);
    else
        result_ok("personality-query", NULL);
    if (personality((unsigned long)current | READ_IMPLIES_EXEC) < 0)
        result_errno("personality-read-implies-exec", errno);
    else
        result_ok("personality-read-implies-exec", NULL);
    return 0;
}
