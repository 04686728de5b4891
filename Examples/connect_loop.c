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

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 64) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) < 0) {
        perror("listener");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int client = socket(AF_INET, SOCK_STREAM, 0);
        if (client < 0 || connect(client, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        int server = accept(listener, NULL, NULL);
        if (server < 0) {
            perror("accept");
            return 1;
        }
        close(server);
        close(client);
    }
    printf("RESULT connect-loop ok %d\n", n);
    return 0;
}
