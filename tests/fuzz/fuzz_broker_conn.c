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

#include "../../examples/broker/broker.h"

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

/* Open a socketpair: *mine for the broker's connection, *peer drained by us. */
static int pair(int *mine, int *peer)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    (void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
    *mine = sv[0];
    *peer = sv[1];
    return 0;
}

static void drain(int fd)
{
    uint8_t buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

static int conn_alive(const broker_t *b, const brk_conn_t *c)
{
    for (const brk_conn_t *x = b->conns; x != NULL; x = x->next)
        if (x == c && x->state != BRK_CS_CLOSED)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static broker_t b;
    const char *err = NULL;
    char msg[256];
    int fd_sub, peer_sub, fd_in, peer_in;
    if (size == 0)
        return 0;
    memset(&b, 0, sizeof b);
    brk_config_defaults(&b.cfg);
    b.cfg.verbose = -1; /* quiet: level 0 lines are not printed either */
    brk_config_finish(&b.cfg);
    b.epfd = -1;
    b.engine_due_ms = -1;
    if (mqr_topic_index_create(NULL, &b.subs) != MQR_OK)
        __builtin_trap();
    if (brk_events_create(&b, &err) != 0 || brk_events_load_rules(&b, &b.cfg, msg, sizeof msg) != 0)
        __builtin_trap();
    if (pair(&fd_sub, &peer_sub) != 0 || pair(&fd_in, &peer_in) != 0)
        __builtin_trap();
    brk_conn_t *sub = brk_conn_new(&b, fd_sub, NULL, 0, NULL);
    brk_conn_t *c = brk_conn_new(&b, fd_in, NULL, 0, NULL);
    if (sub == NULL || c == NULL)
        __builtin_trap();
    brk_conn_feed(&b, sub, SUB_BYTES, sizeof SUB_BYTES);
    brk_loop_flush(&b);
    size_t chunk = data[0] == 0 ? size : data[0];
    for (size_t pos = 1; pos < size && conn_alive(&b, c); pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        brk_conn_feed(&b, c, data + pos, n);
        brk_loop_flush(&b); /* may free c: conn_alive checks the live list */
        drain(peer_sub);
        drain(peer_in);
    }
    brk_events_process(&b);
    brk_mqtt_tick(&b, brk_mono_ms() + 86400000);
    brk_loop_free(&b);
    brk_mqtt_free(&b);
    brk_events_destroy(&b);
    brk_auth_free(&b);
    brk_config_free(&b.cfg);
    close(peer_sub);
    close(peer_in);
    return 0;
}
