/* SPDX-License-Identifier: MIT */
/*
 * fuzz_broker_util.h - what the broker's fuzz targets (fuzz_broker_conn.c,
 * fuzz_ws.c) share: a socketpair whose peer is drained, the check that a
 * connection is still open, and a broker with its default rule and no
 * listener or epoll set, made and freed per input.
 */
#ifndef MQR_FUZZ_BROKER_UTIL_H
#define MQR_FUZZ_BROKER_UTIL_H

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../examples/broker/broker.h"

/* Open a socketpair: *mine for the broker's connection, *peer drained by us. */
static inline int fz_pair(int *mine, int *peer)
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

static inline void fz_drain(int fd)
{
    uint8_t buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

static inline int fz_conn_alive(const broker_t *b, const brk_conn_t *c)
{
    for (const brk_conn_t *x = b->conns; x != NULL; x = x->next)
        if (x == c && x->state != BRK_CS_CLOSED)
            return 1;
    return 0;
}

/* A quiet broker with the default configuration (adjusted by `tune`, may be
 * NULL) and its default rule. Traps on failure. */
static inline void fz_broker_init(broker_t *b, void (*tune)(brk_config_t *))
{
    const char *err = NULL;
    char msg[256];
    memset(b, 0, sizeof *b);
    brk_config_defaults(&b->cfg);
    b->cfg.verbose = -1; /* quiet: level 0 lines are not printed either */
    brk_config_finish(&b->cfg);
    if (tune != NULL)
        tune(&b->cfg);
    b->epfd = -1;
    b->engine_due_ms = -1;
    if (mqr_topic_index_create(NULL, &b->subs) != MQR_OK)
        __builtin_trap();
    if (brk_events_create(b, &err) != 0 || brk_events_load_rules(b, &b->cfg, msg, sizeof msg) != 0)
        __builtin_trap();
}

/* Run the timers far in the future, then free everything. */
static inline void fz_broker_free(broker_t *b)
{
    brk_events_process(b);
    brk_mqtt_tick(b, brk_mono_ms() + 86400000);
    brk_loop_free(b);
    brk_mqtt_free(b);
    brk_events_destroy(b);
    brk_auth_free(b);
    brk_config_free(&b->cfg);
}

#endif
