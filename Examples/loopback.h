/*
 * loopback.h — a TCP listener on 127.0.0.1 and a connected pair through it, for the examples that
 * measure loopback streams (connect_loop, stream_bench). Each prints the failing step and returns -1.
 */
#ifndef STRICTRUN_EXAMPLES_LOOPBACK_H
#define STRICTRUN_EXAMPLES_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

/* A listener on an ephemeral loopback port; its address in *addr. */
static inline int loopback_listener(int backlog, struct sockaddr_in *addr)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(listener, backlog) < 0 ||
        getsockname(listener, (struct sockaddr *)addr, &len) < 0) {
        perror("listener");
        return -1;
    }
    return listener;
}

/* connect() to addr, then accept() on listener: the two ends in *client and *server. */
static inline int loopback_pair(int listener, const struct sockaddr_in *addr, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (*client < 0 || connect(*client, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        perror("connect");
        return -1;
    }
    *server = accept(listener, NULL, NULL);
    if (*server < 0) {
        perror("accept");
        return -1;
    }
    return 0;
}

#endif
