/*
 * wx_seal.c — adversarial, for W^X emulation (microkernel-jit): a page the emulator flips
 * between RW and RX is attacked from the side. mseal(2) would make every later flip fail (the
 * program would fault forever); shmat(SHM_REMAP) would put a shared segment in its place, which
 * a flip would make executable while another attachment writes it. Both are refused over
 * emulated pages (EACCES, wx/emulated-page-seal, wx/emulated-page-remap), and the code on the
 * page still runs afterwards.
 * Expected under microkernel-jit: jit-before ok, seal errno=EACCES, remap errno=EACCES,
 * jit-after ok. (Under the other W^X levels the RWX mapping itself is denied.)
 */
#define _GNU_SOURCE
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

static void call(const char *op, void *code)
{
    jit_write_return_42(code);
    int value = ((int (*)(void))code)();
    if (value == 42)
        result_ok(op, NULL);
    else
        result_errno(op, 0);
}

int main(void)
{
    examples_init();
    /* Under the W^X levels that are not emulation the RWX mapping itself is denied; under audit
     * it is logged and nothing is emulated, so sealing and remapping are the kernel's business
     * (the sealed page refuses the remap: EPERM). */
    expect("jit-before", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    expect("seal", "none", "none", "none", "ok");
    expect("remap", "none", "none", "none", "errno=EPERM@kernel");
    expect("jit-after", "none", "none", "none", "ok");
    expect_also("jit-before", "microkernel-jit=ok");
    expect_also("seal", "microkernel-jit=errno=EACCES");
    expect_also("remap", "microkernel-jit=errno=EACCES");
    expect_also("jit-after", "microkernel-jit=ok");
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        result_errno("jit-before", errno);
        return 0;
    }
    call("jit-before", page);
    if (syscall(462 /* mseal */, page, 4096, 0) != 0)
        result_errno("seal", errno);
    else
        result_ok("seal", NULL);
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    void *remapped = id < 0 ? (void *)-1 : shmat(id, page, SHM_REMAP);
    if (remapped == (void *)-1)
        result_errno("remap", errno);
    else
        result_ok("remap", NULL);
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
    if (remapped == (void *)-1)  /* the code is still there only if the remap was refused */
        call("jit-after", page);
    return 0;
}
