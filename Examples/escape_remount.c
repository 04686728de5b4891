/*
 * escape_remount.c — adversarial: under an fs view the program is root in a user and mount
 * namespace of its own, so it could unmount /proc's cover, clear the image's read-only flag,
 * pivot or chroot elsewhere, or make a namespace of its own. strictrun refuses the whole mount
 * family there (EPERM, escape/mount). The targets do not exist, so where nothing refuses the
 * calls (no view) the kernel answers ENOENT and nothing changes; unshare(CLONE_NEWNS) then only
 * gives this process a mount namespace of its own.
 * Expected under a view (genode, fuchsia, kasperskyos): every call errno=EPERM; without one
 * (microkernel…): ENOENT, and unshare ok (as root) or EPERM (unprivileged).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define MISSING "/strictrun-no-such-mount"

int main(void)
{
    examples_init();
    /* Without a view (and as root, as the tests run) the kernel answers; under the fs presets
     * strictrun refuses first (FSNetTests also checks each event). */
    const char *ops[] = {"remount-umount", "remount-mount", "remount-setattr", "remount-open-tree",
                         "remount-chroot"};
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        expect(ops[i], "errno=ENOENT@kernel", "errno=ENOENT@kernel", "errno=ENOENT@kernel", "errno=ENOENT@kernel");
        expect_also(ops[i], "genode=errno=EPERM@escape fuchsia=errno=EPERM@escape kasperskyos=errno=EPERM@escape");
    }
    expect("remount-unshare", "ok", "ok", "ok", "ok");
    expect_also("remount-unshare", "genode=errno=EPERM@escape fuchsia=errno=EPERM@escape kasperskyos=errno=EPERM@escape");
    result_rc("remount-umount", umount2(MISSING, MNT_DETACH));
    result_rc("remount-mount", mount(NULL, MISSING, NULL, MS_REMOUNT | MS_BIND, NULL));
    struct { uint64_t set, clear, propagation, userns; } attr = {0, 1 /* MOUNT_ATTR_RDONLY */, 0, 0};
    result_rc("remount-setattr", syscall(SYS_mount_setattr, AT_FDCWD, MISSING, 0, &attr, sizeof attr));
    result_rc("remount-open-tree", syscall(SYS_open_tree, AT_FDCWD, MISSING, 1 /* OPEN_TREE_CLONE */));
    result_rc("remount-chroot", chroot(MISSING));
    result_rc("remount-unshare", unshare(CLONE_NEWNS));
    return 0;
}
