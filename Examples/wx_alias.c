/*
 * wx_alias.c — adversarial (and what .NET's W^X mode does): executable memory the program can
 * also write through another path. A memfd mapped shared and writable once and executable once;
 * a file mapped executable while a descriptor can still write it; a file opened for writing while
 * it is mapped executable (pages not yet faulted would show the new bytes). Each is W+X by alias:
 * denied under every W^X level (EACCES, wx/wx-alias), logged under audit. An object that cannot be
 * written any more passes: a memfd sealed with F_SEAL_WRITE, a file mapped from a read-only
 * descriptor with no writer.
 * Expected: alias-* errno=EACCES except under audit (ok); readonly-exec, sealed-exec, sealed-run ok.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

static void *map(int fd, int prot, int flags) { return mmap(NULL, 4096, prot, flags, fd, 0); }

static void report_map(const char *op, void *p)
{
    if (p == MAP_FAILED)
        result_errno(op, errno);
    else
        result_ok(op, NULL);
}

int main(void)
{
    examples_init();
    const char *aliases[] = {"alias-memfd-exec", "alias-file-exec", "alias-write-open"};
    for (unsigned i = 0; i < 3; i++)
        expect(aliases[i], "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect("readonly-exec", "ok", "ok", "ok", "ok");
    expect("sealed-exec", "ok", "ok", "ok", "ok");
    expect("sealed-run", "ok", "ok", "ok", "ok");
    expect("memfd-create", "ok", "ok", "ok", "ok");
    /* Emulated W^X logs the aliases (the port must carry them); genode and kasperskyos have no memfd. */
    for (unsigned i = 0; i < 3; i++)
        expect_also(aliases[i], "microkernel-jit=ok");
    expect_also("memfd-create", "genode=errno=ENOSYS kasperskyos=errno=ENOSYS");
    expect_also("alias-memfd-exec", "genode=none kasperskyos=none");
    expect_also("sealed-exec", "genode=none kasperskyos=none");
    expect_also("sealed-run", "genode=none kasperskyos=none");
    unsigned char code[16];
    size_t n = jit_write_return_42(code);

    /* 1. A memfd: a shared writable view, then an executable one. */
    int memfd = memfd_create("alias", MFD_CLOEXEC);
    if (memfd < 0) {
        result_errno("memfd-create", errno);
    } else {
        result_ok("memfd-create", NULL);
        if (ftruncate(memfd, 4096) != 0) return 1;
        void *writer = map(memfd, PROT_READ | PROT_WRITE, MAP_SHARED);
        (void)writer;
        report_map("alias-memfd-exec", map(memfd, PROT_READ | PROT_EXEC, MAP_PRIVATE));
    }

    /* 2. A file with code, mapped executable while a descriptor can write it. */
    char path[] = "/tmp/strictrun-alias-XXXXXX";
    int file = mkstemp(path);
    if (file < 0 || write(file, code, n) != (ssize_t)n || ftruncate(file, 4096) != 0) return 1;
    report_map("alias-file-exec", map(file, PROT_READ | PROT_EXEC, MAP_PRIVATE));
    close(file);

    /* 3. Mapped executable from a read-only descriptor (no writer: passes), then opened for writing. */
    int reader = open(path, O_RDONLY | O_CLOEXEC);
    void *exec_view = map(reader, PROT_READ | PROT_EXEC, MAP_PRIVATE);
    report_map("readonly-exec", exec_view);
    close(reader);
    int again = open(path, O_RDWR | O_CLOEXEC);
    if (again < 0)
        result_errno("alias-write-open", errno);
    else
        result_ok("alias-write-open", NULL);
    unlink(path);

    /* 4. A sealed memfd: nothing can write it any more, so it may run. */
    int sealed = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (sealed < 0)
        return 0;
    if (write(sealed, code, n) != (ssize_t)n || ftruncate(sealed, 4096) != 0) return 1;
    fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
    void *run = map(sealed, PROT_READ | PROT_EXEC, MAP_PRIVATE);
    report_map("sealed-exec", run);
    if (run != MAP_FAILED && ((int (*)(void))run)() == 42)
        result_ok("sealed-run", NULL);
    else
        result_errno("sealed-run", 0);
    return 0;
}
