/* SPDX-License-Identifier: MIT */
/*
 * events_int.h - the broker's engine state, shared by rules.c (the engine,
 * its rules and actions) and events.c (the events built for it).
 */
#ifndef MQR_BROKER_EVENTS_INT_H
#define MQR_BROKER_EVENTS_INT_H

#include "broker.h"
#include "mqttrule/engine.h"

struct brk_events {
    mqr_engine_t *engine;
    uint32_t *http_ids; /* ids of the HTTP actions, for --test-connectors */
    size_t nhttp;
    char **loaded;      /* ids of the rules now in the engine */
    size_t nloaded;
    uint32_t http_max_queue;  /* the configuration's HTTP action limits, for add_rule */
    uint32_t http_timeout_ms;
};

#endif
