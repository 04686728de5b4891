/*
 * escape_userfaultfd.c — adversarial: a userfaultfd fills pages with UFFDIO_COPY, including
 * pages that were never writable and are executable: code without a W+X mapping. strictrun
 * denies both ways to get one under every W^X level (wx/userfaultfd): the userfaultfd(2) call,
 * and USERFAULTFD_IOC_NEW, the ioctl of /dev/userfaultfd (BPF sees the command on any fd, so
 * the example sends it to /dev/null, whose driver would answer ENOTTY).
 * Expected: userfaultfd-call and userfaultfd-ioctl errno=EACCES under microkernel,
 *           microkernel-strict and apple-jit; under audit the kernel's answer (logged).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define USERFAULTFD_IOC_NEW_CMD 0xAA00

int main(void)
{
    examples_init();
    expect("userfaultfd-call", "errno=EACCES", "errno=EACCES", "errno=EACCES", "any");
    expect("userfaultfd-ioctl", "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=ENOTTY");
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0)
        result_errno("userfaultfd-call", errno);
    else
        result_ok("userfaultfd-call", NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (ioctl(null, USERFAULTFD_IOC_NEW_CMD, O_CLOEXEC) < 0)
        result_errno("userfaultfd-ioctl", errno);
    else
        result_ok("userfaultfd-ioctl", NULL);
    return 0;
}
