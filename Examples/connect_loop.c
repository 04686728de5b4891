/* connect_loop N: N TCP connections to a listener of its own on 127.0.0.1 (a non-TLS port):
 * socket, connect, accept, close both, N times. Under `microkernel` (TLS routed) every connect()
 * reaches the tracer, which reads the sockaddr, sees a non-TLS port and lets it pass: this is the
 * cost of that check (make bench, "connect" row). Prints "RESULT connect-loop ok N" at the end.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct sockaddr_in addr;
    int listener = loopback_listener(64, &addr);
    if (listener < 0) return 1;
    for (int i = 0; i < n; i++) {
        int client, server;
        if (loopback_pair(listener, &addr, &client, &server) < 0) return 1;
        close(server);
        close(client);
    }
    printf("RESULT connect-loop ok %d\n", n);
    return 0;
}
