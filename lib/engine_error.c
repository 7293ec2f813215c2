/* SPDX-License-Identifier: MIT */
/*
 * engine_error.c - errors remembered, not only counted: the last error of
 * every rule (evaluation) and every action (rendering, publisher, HTTP,
 * sink), with its time and position, readable through the API and told to
 * the host's error callback as it happens (style guide: a long-lived handle
 * remembers its last error, as SQLite's sqlite3_errmsg() does).
 *
 * How it works. Each rule and action holds one mqr_engine_error_t, which
 * mqr__engine_error overwrites (count keeps growing). Formatting happens only
 * on a failure, so the success path costs nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

void mqr__engine_error(mqr_engine_t *e, mqr__erule_t *r, mqr__action_t *a, int status,
                       const mqr_diag_t *d, const char *fmt, ...)
{
    mqr_engine_error_t *x = a ? &a->last_error : &r->last_error;
    if (a)
        r = a->rule;
    x->status = status;
    x->action_id = a ? a->id : 0;
    x->line = d ? d->line : 0;
    x->column = d ? d->column : 0;
    x->offset = d ? d->offset : 0;
    x->time_ms = mqr__engine_now(e);
    x->count++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->message, sizeof x->message, fmt, ap);
    va_end(ap);
    if (e->opts.error_fn)
        e->opts.error_fn(e->opts.error_ud, r->id, x);
}
