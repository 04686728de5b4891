/*
 * escape_x32.c — adversarial: the x32 ABI (syscall numbers with __X32_SYSCALL_BIT) from a
 * 64-bit process, trying fork, mprotect(RWX) and connect past a filter written for x86_64.
 * Every filter checks the syscall number range: x32 calls reach the foreign-abi rule.
 * This kernel may lack x32 (CONFIG_X86_X32_ABI), in which case they fail with ENOSYS natively
 * too; under strictrun they are also logged as `escape`/`foreign-abi`.
 * Expected: every profile (audit included): errno=ENOSYS for all three, each logged.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define X32(nr) (0x40000000L | (nr))

static void report(const char *op, long r)
{
    if (r < 0)
        result_errno(op, errno);
    else
        result_ok(op, NULL);
}

int main(void)
{
    examples_init();
    expect("x32-fork", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS");
    expect("x32-mprotect-rwx", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS");
    expect("x32-connect", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS", "errno=ENOSYS");

    long r = syscall(X32(57)); /* fork */
    if (r == 0)
        _exit(0);
    report("x32-fork", r);

    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    report("x32-mprotect-rwx", syscall(X32(10), page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(443),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    report("x32-connect", syscall(X32(42), fd, &addr, sizeof addr));
    return 0;
}
