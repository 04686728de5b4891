/*
 * escape_maps_race.c — adversarial: a check-to-use race on a mapping. strictrun decides an
 * mprotect(PROT_EXEC) from what /proc/PID/maps says (private memory may become executable,
 * shared memory may not); a second thread keeps replacing the page, private and shared in turn
 * (MAP_FIXED), hoping the kernel applies PROT_EXEC to the shared one after the check passed on the
 * private one. strictrun checks the mapping again at the call's exit: if it became shared
 * executable memory the process is ended (wx/maps-race). The program also looks at its own maps
 * after each mprotect that succeeded and says if it ever held shared executable memory.
 * Expected under microkernel: never "shared-exec-reached"; either the loop ends
 * (race-loop done) or the process is killed with a wx/maps-race event. SideDoorTests checks it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static void *page;
static volatile int stop;

static void *swapper(void *unused)
{
    (void)unused;
    for (unsigned long i = 0; !stop; i++) {
        int kind = (i & 1) ? MAP_SHARED : MAP_PRIVATE;
        mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | kind, -1, 0);
    }
    return NULL;
}

/* Whether our page is mapped shared and executable right now. */
static int shared_exec(void)
{
    char line[512], want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)page);
    FILE *maps = fopen("/proc/self/maps", "r");
    int found = 0;
    while (maps && fgets(line, sizeof line, maps))
        if (strncmp(line, want, strlen(want)) == 0 && strstr(line, " r-xs ")) found = 1;
    if (maps) fclose(maps);
    return found;
}

int main(void)
{
    examples_init();
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t thread;
    pthread_create(&thread, NULL, swapper, NULL);
    unsigned long allowed = 0, denied = 0;
    time_t end = time(NULL) + 2;
    while (time(NULL) < end) {
        if (mprotect(page, 4096, PROT_READ | PROT_EXEC) == 0) {
            allowed++;
            if (shared_exec()) {
                printf("RESULT shared-exec-reached after %lu\n", allowed);
                fflush(stdout);
            }
        } else {
            denied++;
        }
    }
    stop = 1;
    pthread_join(thread, NULL);
    printf("RESULT race-loop done allowed=%lu denied=%lu\n", allowed, denied);
    return 0;
}
