/*
 * escape_toctou.c — adversarial: a second thread rewrites a connect() sockaddr between the
 * tracer's check and the kernel's use. Thread A connects N times (argv[3], default 2000) to
 * the address in a shared buffer, meant for PLAIN_PORT (argv[1]); thread B keeps flipping
 * that buffer's port between PLAIN_PORT and TLS_PORT (argv[2]). Both ports are listened on
 * here (127.0.0.1), so every connect succeeds.
 * A connection whose peer is TLS_PORT itself reached the TLS port unrouted. The peer is read from
 * the kernel's table (/proc/net/tcp, by the socket's inode), not with getpeername(2): strictrun
 * answers that with the address the program asked for, routed or not.
 * Expected under a profile that routes TLS_PORT: RESULT toctou ok unrouted=0 (strictrun pins
 * the checked address; routed connections end at the broker). Natively: unrouted > 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static struct sockaddr_in target;
static atomic_int stop;
static unsigned short plain_port, tls_port;

static int listen_on(unsigned short port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "listen on %u: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* The remote port the kernel has for socket `fd` (its line in /proc/net/tcp, found by inode); 0 when not found. */
static unsigned kernel_peer_port(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    FILE *table = fopen("/proc/net/tcp", "r");
    if (!table)
        return 0;
    char line[512];
    unsigned port = 0;
    while (fgets(line, sizeof line, table)) {
        unsigned local_port, remote_port;
        unsigned long inode;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %*x:%*x %*x:%*x %*x %*d %*d %lu", &local_port, &remote_port, &inode) == 3 &&
            inode == (unsigned long)st.st_ino) {
            port = remote_port;
            break;
        }
    }
    fclose(table);
    return port;
}

static void *acceptor(void *arg)
{
    int fd = *(int *)arg;
    while (!atomic_load(&stop)) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            close(c);
    }
    return NULL;
}

static void *flipper(void *arg)
{
    (void)arg;
    volatile unsigned short *port = &target.sin_port;
    while (!atomic_load(&stop)) {
        *port = htons(tls_port);
        *port = htons(plain_port);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    examples_init();
    if (argc < 3) {
        fprintf(stderr, "usage: escape_toctou PLAIN_PORT TLS_PORT [N]\n");
        return 2;
    }
    plain_port = (unsigned short)atoi(argv[1]);
    tls_port = (unsigned short)atoi(argv[2]);
    long n = argc > 3 ? strtol(argv[3], NULL, 10) : 2000;
    int plain = listen_on(plain_port), tls = listen_on(tls_port);
    pthread_t a1, a2, f;
    pthread_create(&a1, NULL, acceptor, &plain);
    pthread_create(&a2, NULL, acceptor, &tls);
    target = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(plain_port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    pthread_create(&f, NULL, flipper, NULL);
    long unrouted = 0, connected = 0;
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&target, sizeof target) == 0) {
            connected++;
            if (kernel_peer_port(fd) == tls_port)
                unrouted++;
        }
        close(fd);
    }
    atomic_store(&stop, 1);
    printf("RESULT toctou ok unrouted=%ld connected=%ld\n", unrouted, connected);
    fflush(stdout);
    _exit(0); /* the acceptor threads are blocked in accept */
}
