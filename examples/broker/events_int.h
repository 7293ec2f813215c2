/* SPDX-License-Identifier: MIT */
/*
 * events_int.h - the broker's engine state, shared by rules.c (the engine,
 * its rules and actions) and events.c (the events built for it).
 */
#ifndef MQR_BROKER_EVENTS_INT_H
#define MQR_BROKER_EVENTS_INT_H

#include "broker.h"
#include "mqttrule/engine.h"

typedef struct brk_ev_tmpl brk_ev_tmpl_t;

struct brk_events {
    mqr_engine_t *engine;
    mqr_arena_t *arena;
    uint32_t *http_ids; /* ids of the HTTP actions, for --test-connectors */
    size_t nhttp;
    char **loaded;      /* ids of the rules now in the engine */
    size_t nloaded;
    uint32_t depth;     /* engine emits in progress (actions publish, which emits again) */
    uint32_t http_max_queue;  /* the configuration's HTTP action limits, for add_rule */
    uint32_t http_timeout_ms;
    broker_t *persist;  /* the broker when persistence is on (persist.c); NULL: off */
    brk_ev_tmpl_t *tmpl[MQR_EVENT_COUNT]; /* per event id, built on first use (cols_begin) */
};

/* Free an event template (events.c); NULL is a no-op. */
void brk_ev_tmpl_destroy(brk_ev_tmpl_t *t);

#endif
