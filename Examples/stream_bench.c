/* stream_bench MIB: loopback TCP throughput. One process listens on 127.0.0.1, connects to
 * itself, accepts, and pumps MIB MiB from the client to the server side with select(2) (128 KiB
 * writes and reads), then prints "RESULT stream-bench ok MIB MiB/s". Under `microkernel` (every
 * TCP stream mediated) the connection goes through strictrun's broker, which sees plaintext and
 * relays it byte for byte: this is the cost of that relay (make bench, "relay" row).
 */
#define _POSIX_C_SOURCE 200809L
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"

static char buffer[128 * 1024];

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 512;
    long total = mib << 20, sent = 0, received = 0;
    struct sockaddr_in addr;
    int listener = loopback_listener(1, &addr), client, server;
    if (listener < 0 || loopback_pair(listener, &addr, &client, &server) < 0) return 1;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (received < total) {
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        FD_SET(server, &readable);
        if (sent < total) FD_SET(client, &writable);
        if (select((server > client ? server : client) + 1, &readable, &writable, NULL, NULL) < 0) {
            perror("select");
            return 1;
        }
        if (FD_ISSET(client, &writable)) {
            size_t want = (size_t)(total - sent) < sizeof buffer ? (size_t)(total - sent) : sizeof buffer;
            ssize_t n = write(client, buffer, want);
            if (n < 0) {
                perror("write");
                return 1;
            }
            sent += n;
        }
        if (FD_ISSET(server, &readable)) {
            ssize_t n = read(server, buffer, sizeof buffer);
            if (n <= 0) {
                fprintf(stderr, "stream ended after %ld bytes\n", received);
                return 1;
            }
            received += n;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    printf("RESULT stream-bench ok %ld %.0f MiB/s\n", mib, (double)mib / seconds);
    return 0;
}
