/*
 * escape_memfd.c — adversarial: W^X through two views of one memory object. A memfd is
 * mapped once writable (shared) and then made executable through a second view, first by
 * mmap(PROT_READ|PROT_EXEC, MAP_SHARED), then by mprotect of a second RW view to RX.
 * Writing through view 1 would change code executing in view 2.
 * Expected: microkernel, microkernel-strict, apple-jit: the RW view ok, both executable views
 *           errno=EACCES (wx/shared-exec); audit: all ok (logged).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("memfd-map-rw", "ok", "ok", "ok", "ok");
    expect("memfd-map-rx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect("memfd-mprotect-rx", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    /* genode and kasperskyos have no memfd at all. */
    expect("memfd-create", "ok", "ok", "ok", "ok");
    expect_also("memfd-create", "genode=errno=ENOSYS kasperskyos=errno=ENOSYS");
    for (int i = 0; i < 3; i++) {
        const char *ops[] = {"memfd-map-rw", "memfd-map-rx", "memfd-mprotect-rx"};
        expect_also(ops[i], "genode=none kasperskyos=none");
    }

    int fd = memfd_create("jit", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
        result_errno("memfd-create", errno);
        return 0;
    }
    result_ok("memfd-create", NULL);
    void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (rw == MAP_FAILED) {
        result_errno("memfd-map-rw", errno);
        return 0;
    }
    result_ok("memfd-map-rw", NULL);
    jit_write_return_42(rw);

    void *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (rx == MAP_FAILED)
        result_errno("memfd-map-rx", errno);
    else
        result_ok("memfd-map-rx", NULL);

    void *second = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (second != MAP_FAILED && mprotect(second, 4096, PROT_READ | PROT_EXEC) != 0)
        result_errno("memfd-mprotect-rx", errno);
    else
        result_ok("memfd-mprotect-rx", NULL);
    return 0;
}
