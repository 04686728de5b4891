/*
 * escape_shm.c — adversarial: System V shared memory attached executable (SHM_EXEC), a
 * writable-elsewhere executable view.
 * Expected: microkernel, microkernel-strict, apple-jit: errno=EACCES (wx/shm-exec); audit: ok.
 */
#define _GNU_SOURCE
#include <sys/ipc.h>
#include <sys/shm.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("shmat-exec", "errno=EACCES", "errno=EACCES", "errno=EACCES", "ok");
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) {
        fprintf(stderr, "shmget: %s\n", strerror(errno));
        return 1;
    }
    void *p = shmat(id, NULL, SHM_EXEC);
    if (p == (void *)-1) {
        result_errno("shmat-exec", errno);
    } else {
        result_ok("shmat-exec", NULL);
        shmdt(p);
    }
    shmctl(id, IPC_RMID, NULL);
    return 0;
}
