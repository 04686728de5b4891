/*
 * escape_trace_tamper.c — adversarial: the program finds strictrun's trace (a descriptor of
 * its parent, /proc/PPID/fd/N) and tries to forge or destroy it: open it for writing, with
 * O_TRUNC alone, through the parent's fd link, truncate(2), rename another file over it, and
 * unlink it. strictrun refuses each (EACCES, escape/trace-tamper) in every mode; reading it
 * stays allowed.
 * Expected: trace-found ok; every tamper op errno=EACCES everywhere; trace-read ok.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int main(void)
{
    examples_init();
    expect("trace-found", "ok", "ok", "ok", "ok");
    const char *ops[] = {"trace-tamper-write", "trace-tamper-trunc", "trace-tamper-fd-link",
                         "trace-tamper-truncate", "trace-tamper-rename", "trace-tamper-unlink"};
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
        expect(ops[i], "errno=EACCES", "errno=EACCES", "errno=EACCES", "errno=EACCES");
    expect("trace-read", "ok", "ok", "ok", "ok");
    /* Under the fs presets /proc is hidden: the program cannot even find the trace. */
    expect_also("trace-found", "genode=errno=ENOENT fuchsia=errno=ENOENT kasperskyos=errno=ENOENT");
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
        expect_also(ops[i], "genode=none fuchsia=none kasperskyos=none");
    expect_also("trace-read", "genode=none fuchsia=none kasperskyos=none");

    char dir[64], link[PATH_MAX], trace[PATH_MAX] = "", fd_link[PATH_MAX] = "";
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)getppid());
    DIR *fds = opendir(dir);
    struct dirent *entry;
    while (fds && (entry = readdir(fds))) {
        snprintf(link, sizeof link, "%s/%s", dir, entry->d_name);
        ssize_t n = readlink(link, trace, sizeof trace - 1);
        if (n > 6 && (trace[n] = 0, strcmp(trace + n - 6, ".jsonl") == 0)) {
            snprintf(fd_link, sizeof fd_link, "%s", link);
            break;
        }
        trace[0] = 0;
    }
    if (!trace[0]) {
        result_errno("trace-found", ENOENT);
        return 0;
    }
    result_ok("trace-found", NULL);
    result_rc("trace-tamper-write", open(trace, O_WRONLY | O_APPEND | O_CLOEXEC));
    result_rc("trace-tamper-trunc", open(trace, O_RDONLY | O_TRUNC | O_CLOEXEC));
    result_rc("trace-tamper-fd-link", open(fd_link, O_WRONLY | O_CLOEXEC));
    result_rc("trace-tamper-truncate", truncate(trace, 0));
    char decoy[] = "/tmp/strictrun-decoy-XXXXXX";
    int decoy_fd = mkstemp(decoy);
    if (decoy_fd >= 0)
        close(decoy_fd);
    result_rc("trace-tamper-rename", rename(decoy, trace));
    unlink(decoy);
    result_rc("trace-tamper-unlink", unlink(trace));
    result_rc("trace-read", open(trace, O_RDONLY | O_CLOEXEC));
    return 0;
}
