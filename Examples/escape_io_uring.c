/*
 * escape_io_uring.c — adversarial: io_uring submissions (IORING_OP_CONNECT, writes into
 * code) never pass through seccomp, so the microkernel profiles deny io_uring_setup itself.
 * Expected: microkernel, microkernel-strict: errno=ENOSYS (logged as escape/io-uring);
 *           apple-jit (no such rule): ok; audit: ok (logged).
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("io-uring-setup", "errno=ENOSYS", "errno=ENOSYS", "ok", "ok");
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 8, &params);
    if (fd < 0) {
        result_errno("io-uring-setup", errno);
        return 0;
    }
    result_ok("io-uring-setup", NULL);
    close((int)fd);
    return 0;
}
