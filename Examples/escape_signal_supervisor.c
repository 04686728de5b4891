/*
 * escape_signal_supervisor.c — adversarial: the program attacks strictrun, its parent. A
 * SIGSTOP would freeze the tracer while calls run unchecked; a SIGKILL would leave the trace
 * without its final line. Every way to signal it is refused (EPERM, escape/signal-supervisor)
 * in every mode: kill, tgkill, tkill of its thread, pidfd_open, pidfd_send_signal through a
 * /proc/PID directory, and a process-group kill that would reach it. Harmless signals still
 * pass: the existence probe kill(ppid, 0) and SIGCONT to the group.
 * Expected: every attack errno=EPERM everywhere; probe ok, group-cont ok.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    const char *attacks[] = {"supervisor-kill-stop", "supervisor-kill-kill", "supervisor-tgkill",
                             "supervisor-tkill", "supervisor-pidfd-open", "supervisor-pidfd-send",
                             "supervisor-group-usr1"};
    for (unsigned i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        expect(attacks[i], "errno=EPERM", "errno=EPERM", "errno=EPERM", "errno=EPERM");
    expect("probe", "ok", "ok", "ok", "ok");
    expect("group-cont", "ok", "ok", "ok", "ok");
    /* Under the fs presets /proc is hidden: there is no /proc/PID directory to send through. */
    expect_also("supervisor-pidfd-send", "genode=none fuchsia=none kasperskyos=none");

    pid_t parent = getppid();
    signal(SIGUSR1, SIG_IGN);  /* the program itself is in the group too */
    result_rc("supervisor-kill-stop", kill(parent, SIGSTOP));
    result_rc("supervisor-kill-kill", kill(parent, SIGKILL));
    result_rc("supervisor-tgkill", syscall(SYS_tgkill, parent, parent, SIGSTOP));
    result_rc("supervisor-tkill", syscall(SYS_tkill, parent, SIGSTOP));
    result_rc("supervisor-pidfd-open", syscall(SYS_pidfd_open, parent, 0));
    char dir[32];
    snprintf(dir, sizeof dir, "/proc/%d", (int)parent);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        result_rc("supervisor-pidfd-send", syscall(SYS_pidfd_send_signal, fd, SIGSTOP, NULL, 0));
    result_rc("supervisor-group-usr1", kill(0, SIGUSR1));
    result_rc("probe", kill(parent, 0));
    result_rc("group-cont", kill(0, SIGCONT));
    return 0;
}
