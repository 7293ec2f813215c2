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
    struct brk_action_rt *acts; /* every action in the engine (rules.c) */
    size_t nacts;
    char publish_error[256];    /* the last republish the broker refused, for the log */
    char **loaded;      /* ids of the rules now in the engine */
    size_t nloaded;
    uint32_t depth;     /* engine emits in progress (actions publish, which emits again) */
    brk_ev_tmpl_t *tmpl[MQR_EVENT_COUNT]; /* per event id, built on first use (cols_begin) */
};

/* Free an event template (events.c); NULL is a no-op. */
void brk_ev_tmpl_destroy(brk_ev_tmpl_t *t);

#endif
