/* SPDX-License-Identifier: MIT */
/*
 * fuzz_broker_conn.c - libFuzzer target for mqttrule-broker's handling of
 * one connection's bytes (examples/broker/, linked in by
 * tests/fuzz/CMakeLists.txt).
 *
 * Each input gets a fresh broker with its default rule and no listener or
 * epoll set. A subscriber connection ("sub", MQTT 5, subscribed to '#' at
 * QoS 2) is set up first with fixed bytes, so routing, queueing and
 * deliveries run. The input's first byte chooses a chunk size (0: all at
 * once); the rest is fed to a second connection in chunks of that size
 * through brk_conn_feed, the function the loop calls after each read, so
 * partial packets are buffered exactly as with a socket. Both connections
 * are socketpair ends whose peers are drained. Then one timer tick runs far
 * in the future (keep-alive, connect timeout, session expiry) and everything
 * is freed: ASan/LSan report any memory error or leak.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_broker_util.h"

static const uint8_t SUB_BYTES[] = {
    0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x03,
    's',  'u',  'b',                                                   /* CONNECT v5 "sub" */
    0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, '#',  0x02,              /* SUBSCRIBE # QoS 2 */
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static broker_t b;
    int fd_sub, peer_sub, fd_in, peer_in;
    if (size == 0)
        return 0;
    fz_broker_init(&b, NULL);
    if (fz_pair(&fd_sub, &peer_sub) != 0 || fz_pair(&fd_in, &peer_in) != 0)
        __builtin_trap();
    brk_conn_t *sub = brk_conn_new(&b, fd_sub, NULL, 0, NULL);
    brk_conn_t *c = brk_conn_new(&b, fd_in, NULL, 0, NULL);
    if (sub == NULL || c == NULL)
        __builtin_trap();
    brk_conn_feed(&b, sub, SUB_BYTES, sizeof SUB_BYTES);
    brk_loop_flush(&b);
    size_t chunk = data[0] == 0 ? size : data[0];
    for (size_t pos = 1; pos < size && fz_conn_alive(&b, c); pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        brk_conn_feed(&b, c, data + pos, n);
        brk_loop_flush(&b); /* may free c: conn_alive checks the live list */
        fz_drain(peer_sub);
        fz_drain(peer_in);
    }
    fz_broker_free(&b);
    close(peer_sub);
    close(peer_in);
    return 0;
}
