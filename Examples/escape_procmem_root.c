/*
 * escape_procmem_root.c — adversarial: /proc/self/mem opened for writing under another name,
 * so that a check of the path string in strictrun's own root and mount namespace misses it.
 *   1. In a private mount namespace, /proc/self/mem bind-mounted onto a plain file name.
 *   2. chroot("/proc/self"), then open("/mem"): the program's own root makes the name.
 * strictrun resolves each name as the program does (through /proc/PID/root and the program's
 * mount namespace) and recognises its mem file by identity: refused (EACCES, wx/proc-mem-write).
 * Needs root (mount, chroot), as the tests run.
 * Expected: bind-setup, chroot-setup ok everywhere; bind-open and chroot-open errno=EACCES under
 *           microkernel, microkernel-strict and apple-jit; ok (logged) under audit.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("bind-setup", "ok", "ok", "ok", "ok");
    expect("bind-open", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect("chroot-setup", "ok", "ok", "ok", "ok");
    expect("chroot-open", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    /* Under the fs presets the mount family and chroot are refused (escape/mount): no setup. */
    const char *presets = "genode=errno=EPERM fuchsia=errno=EPERM kasperskyos=errno=EPERM";
    expect_also("bind-setup", presets);
    expect_also("chroot-setup", presets);
    expect_also("bind-open", "genode=none fuchsia=none kasperskyos=none");
    expect_also("chroot-open", "genode=none fuchsia=none kasperskyos=none");

    char name[] = "/tmp/strictrun-mem-XXXXXX";
    int placeholder = mkstemp(name);
    if (placeholder >= 0)
        close(placeholder);
    int setup = unshare(CLONE_NEWNS);
    if (setup == 0)
        setup = mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (setup == 0)
        setup = mount("/proc/self/mem", name, NULL, MS_BIND, NULL);
    result_rc("bind-setup", setup);
    if (setup == 0)
        result_rc("bind-open", open(name, O_RDWR | O_CLOEXEC));
    umount2(name, MNT_DETACH);
    unlink(name);

    int rooted = chroot("/proc/self");
    result_rc("chroot-setup", rooted);
    if (rooted == 0)
        result_rc("chroot-open", open("/mem", O_RDWR | O_CLOEXEC));
    return 0;
}
