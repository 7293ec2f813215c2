/* SPDX-License-Identifier: MIT */
/*
 * engine_state.h - the broker's engine state, shared by rules.c (the engine,
 * its rules and actions) and events.c (the events built for it).
 */
#ifndef MQR_BROKER_ENGINE_STATE_H
#define MQR_BROKER_ENGINE_STATE_H

#include "broker.h"
#include "mqttrule/engine.h"

struct brk_events {
    mqr_engine_t *engine;
    struct brk_action_rt *acts; /* every action in the engine (rules.c) */
    size_t nacts;
    char publish_error[256];    /* the last republish the broker refused, for the log */
    char **loaded;      /* ids of the rules now in the engine */
    size_t nloaded;
    broker_t *persist;  /* the broker when persistence is on (persist.c); NULL: off */
};

#endif
