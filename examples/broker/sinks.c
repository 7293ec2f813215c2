/* SPDX-License-Identifier: MIT */
/*
 * sinks.c - the broker's `action sqlite`, `action pgsql` and `action kafka`
 * blocks: factories that read a block's options and attach the sink from
 * its library (libmqttrule_sqlite, _pgsql, _kafka: public headers only) to
 * the rule as a custom action of the engine, which then keeps its queue,
 * retries, TTL and metrics and drives its descriptors in the broker's loop
 * like those of the HTTP actions. A small list of the live sinks (type and
 * action id) gives the "sinks" stats line.
 *
 * Each type is compiled in when CMake built its library (BRK_WITH_SQLITE,
 * BRK_WITH_PGSQL, BRK_WITH_KAFKA); actions.c registers the factories.
 * The queue options are the HTTP action's (EMQX names): batch_size,
 * max_buffer_messages, max_buffer_bytes, request_ttl, retry_backoff,
 * retry_backoff_max. docs/sinks.md lists every option.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#include <mqttrule/sink.h>

#if defined(BRK_WITH_SQLITE) || defined(BRK_WITH_PGSQL) || defined(BRK_WITH_KAFKA)
#define BRK_ANY_SINK 1
#endif

#ifdef BRK_WITH_SQLITE
#include <mqttrule/sink_sqlite.h>
#endif
#ifdef BRK_WITH_PGSQL
#include <mqttrule/sink_pgsql.h>
#endif
#ifdef BRK_WITH_KAFKA
#include <mqttrule/sink_kafka.h>
#endif

#define SINK_SQLITE 1
#define SINK_PGSQL 2
#define SINK_KAFKA 3

/* A live sink, in b->sinks (for the stats line). */
typedef struct brk_sink {
    struct brk_sink *next;
    broker_t *b;
    int type;
    mqr_engine_t *engine;
    uint32_t id;     /* the engine's action id */
} brk_sink_t;

#ifdef BRK_ANY_SINK
static void sink_log(void *ud, int32_t level, const char *msg)
{
    broker_t *b = ud;
    brk_log(b, level == 0 ? BRK_LOG_ERROR : level == 1 ? BRK_LOG_WARNING : BRK_LOG_INFO, "%s",
            msg);
}

/* The action is gone from the engine (its rule removed or replaced). */
static void sink_forget(void *state)
{
    brk_sink_t *s = state;
    for (brk_sink_t **p = &s->b->sinks; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    free(s);
}

/* ---- options ---------------------------------------------------------------------------- */

/* The queue options every sink shares (EMQX's names, as for http). 1 when
 * o was one of them (0 or -1 in *rc), 0 when it is not. */
static int queue_opt(brk_action_ctx_t *ctx, const brk_action_opt_t *o, mqr_sink_queue_config_t *q,
                     int *rc)
{
    const char *k = o->key;
    uint64_t big;
    if (!strcmp(k, "batch_size"))
        *rc = brk_opt_u32(ctx, o, 1, 10000, &q->batch_size);
    else if (!strcmp(k, "max_buffer_messages"))
        *rc = brk_opt_u32(ctx, o, 1, UINT32_MAX, &q->max_queue_count);
    else if (!strcmp(k, "max_buffer_bytes")) {
        *rc = brk_opt_bytes(ctx, o, 1, UINT32_MAX, &big);
        q->max_queue_bytes = (uint32_t)big;
    } else if (!strcmp(k, "request_ttl"))
        *rc = brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &q->ttl_ms);
    else if (!strcmp(k, "retry_backoff"))
        *rc = brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &q->backoff_min_ms);
    else if (!strcmp(k, "retry_backoff_max"))
        *rc = brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &q->backoff_max_ms);
    else
        return 0;
    return 1;
}

static int unknown(brk_action_ctx_t *ctx, const brk_action_opt_t *o)
{
    return brk_action_fail(ctx, o, "unknown option '%s' (see docs/sinks.md)", o->key);
}

/* A sink's create failed: name the option line its diagnostic's field
 * names (the last such line), or the `action TYPE` line. -1. */
static int create_failed(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, const mqr_diag_t *d,
                         int st)
{
    const brk_action_opt_t *o = NULL;
    for (size_t i = 0; i < a->nopts; i++)
        if (d->field[0] && !strcmp(a->opts[i].key, d->field))
            o = &a->opts[i];
    return brk_action_fail(ctx, o, "%s", d->message[0] ? d->message : mqr_strerror(st));
}

/* Record an attached sink in *out and in b's list. */
static void made(brk_action_ctx_t *ctx, brk_action_out_t *out, int type, const char *target)
{
    static const char *const names[] = {"", "sqlite", "pgsql", "kafka"};
    brk_sink_t *s = brk_xrealloc(NULL, sizeof *s);
    s->next = ctx->b->sinks;
    s->b = ctx->b;
    s->type = type;
    s->engine = ctx->engine;
    s->id = out->id;
    ctx->b->sinks = s;
    out->kind = MQR_ACTION_CUSTOM;
    snprintf(out->target, sizeof out->target, "%s %.200s", names[type], target);
    out->state = s;
    out->free_state = sink_forget;
}

#endif /* BRK_ANY_SINK */

/* ---- sqlite ------------------------------------------------------------------------------ */

#ifdef BRK_WITH_SQLITE
int brk_action_sqlite(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    int rc = 0;
    for (size_t i = 0; i < a->nopts && rc == 0; i++) {
        const brk_action_opt_t *o = &a->opts[i];
        if (queue_opt(ctx, o, &c.queue, &rc))
            continue;
        if (!strcmp(o->key, "database"))
            c.database = o->value;
        else if (!strcmp(o->key, "sql"))
            c.sql = o->value;
        else if (!strcmp(o->key, "busy_timeout"))
            rc = brk_opt_duration_ms(ctx, o, 0, 600000, &c.busy_timeout_ms);
        else if (!strcmp(o->key, "wal"))
            rc = brk_opt_bool(ctx, o, &c.wal);
        else
            rc = unknown(ctx, o);
    }
    if (rc == 0 && c.database == NULL)
        rc = brk_action_fail(ctx, NULL, "needs a database (a file name)");
    if (rc == 0 && c.sql == NULL)
        rc = brk_action_fail(ctx, NULL, "needs sql (an INSERT with ${...} placeholders)");
    if (rc != 0)
        return -1;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int st = mqr_sqlite_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
    if (st != MQR_OK)
        return create_failed(ctx, a, &d, st);
    made(ctx, out, SINK_SQLITE, c.database);
    return 0;
}
#endif

/* ---- pgsql ------------------------------------------------------------------------------- */

#ifdef BRK_WITH_PGSQL
int brk_action_pgsql(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_pgsql_sink_config_t c;
    mqr_pgsql_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    int rc = 0;
    for (size_t i = 0; i < a->nopts && rc == 0; i++) {
        const brk_action_opt_t *o = &a->opts[i];
        if (queue_opt(ctx, o, &c.queue, &rc))
            continue;
        if (!strcmp(o->key, "server"))
            c.server = o->value;
        else if (!strcmp(o->key, "database"))
            c.database = o->value;
        else if (!strcmp(o->key, "username"))
            c.username = o->value;
        else if (!strcmp(o->key, "password"))
            c.password = o->value;
        else if (!strcmp(o->key, "password_file")) {
            rc = brk_opt_readable(ctx, o);
            c.password_file = o->value;
        } else if (!strcmp(o->key, "sql"))
            c.sql = o->value;
        else if (!strcmp(o->key, "connect_timeout"))
            rc = brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c.connect_timeout_ms);
        else
            rc = unknown(ctx, o);
    }
    const char *missing = c.server == NULL ? "a server (host:port)"
                          : c.database == NULL ? "a database"
                          : c.sql == NULL ? "sql (an INSERT with ${...} placeholders)"
                                          : NULL;
    if (rc == 0 && missing != NULL)
        rc = brk_action_fail(ctx, NULL, "needs %s", missing);
    if (rc != 0)
        return -1;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int st = mqr_pgsql_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
    if (st != MQR_OK)
        return create_failed(ctx, a, &d, st);
    char target[256];
    snprintf(target, sizeof target, "%s/%s", c.server, c.database);
    made(ctx, out, SINK_PGSQL, target);
    return 0;
}
#endif

/* ---- kafka ------------------------------------------------------------------------------- */

#ifdef BRK_WITH_KAFKA
/* Split "NAME REST" at its first blank: *name (copied, freed by the caller)
 * and *rest (pointing into v). 0, or -1 when there is no REST. */
static int split_pair(const char *v, char **name, const char **rest)
{
    size_t n = strcspn(v, " \t");
    if (n == 0 || v[n] == '\0')
        return -1;
    const char *r = v + n;
    while (*r == ' ' || *r == '\t')
        r++;
    if (*r == '\0')
        return -1;
    *name = brk_xrealloc(NULL, n + 1);
    memcpy(*name, v, n);
    (*name)[n] = '\0';
    *rest = r;
    return 0;
}

int brk_action_kafka(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_kafka_sink_config_t c;
    mqr_kafka_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    mqr_kafka_header_t *hs = brk_xrealloc(NULL, (a->nopts + 1) * sizeof *hs);
    mqr_kafka_property_t *ps = brk_xrealloc(NULL, (a->nopts + 1) * sizeof *ps);
    char **names = brk_xrealloc(NULL, (a->nopts + 1) * sizeof *names);
    size_t nnames = 0;
    int rc = 0;
    for (size_t i = 0; i < a->nopts && rc == 0; i++) {
        const brk_action_opt_t *o = &a->opts[i];
        const char *rest;
        if (queue_opt(ctx, o, &c.queue, &rc))
            continue;
        if (!strcmp(o->key, "bootstrap_hosts"))
            c.bootstrap_hosts = o->value;
        else if (!strcmp(o->key, "topic"))
            c.topic = o->value;
        else if (!strcmp(o->key, "key"))
            c.key = o->value;
        else if (!strcmp(o->key, "value"))
            c.value = o->value;
        else if (!strcmp(o->key, "header") || !strcmp(o->key, "property")) {
            if (split_pair(o->value, &names[nnames], &rest) != 0) {
                rc = brk_action_fail(ctx, o, "%s needs a name and a value, not '%s'", o->key,
                                     o->value);
                continue;
            }
            if (o->key[0] == 'h')
                hs[c.header_count++] = (mqr_kafka_header_t){names[nnames], rest};
            else
                ps[c.property_count++] = (mqr_kafka_property_t){names[nnames], rest};
            nnames++;
        } else
            rc = unknown(ctx, o);
    }
    c.headers = hs;
    c.properties = ps;
    if (rc == 0 && c.bootstrap_hosts == NULL)
        rc = brk_action_fail(ctx, NULL, "needs bootstrap_hosts (host:port,...)");
    if (rc == 0 && c.topic == NULL)
        rc = brk_action_fail(ctx, NULL, "needs a topic");
    if (rc == 0) {
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int st = mqr_kafka_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
        if (st != MQR_OK && !strcmp(d.field, "property")) {
            /* "kafka: property NAME: why": point at NAME's line */
            const brk_action_opt_t *o = NULL;
            for (size_t i = 0, k = 0; i < a->nopts; i++) {
                int prop = !strcmp(a->opts[i].key, "property");
                if (!prop && strcmp(a->opts[i].key, "header") != 0)
                    continue;
                char want[128];
                snprintf(want, sizeof want, "property %s:", names[k++]);
                if (prop && strstr(d.message, want) != NULL)
                    o = &a->opts[i];
            }
            rc = brk_action_fail(ctx, o, "%s", d.message);
        } else if (st != MQR_OK) {
            rc = create_failed(ctx, a, &d, st);
        }
    }
    if (rc == 0) {
        char target[256];
        snprintf(target, sizeof target, "%s topic %s", c.bootstrap_hosts, c.topic);
        made(ctx, out, SINK_KAFKA, target);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(hs);
    free(ps);
    return rc;
}
#endif

/* ---- stats ------------------------------------------------------------------------------- */

/* One "sinks" log line with the summed metrics of each sink type that has a
 * live sink (EMQX's metric names after the type): matched, success,
 * failed, dropped.queue_full, dropped.expired, dropped.other, queuing,
 * inflight, retried. Nothing when there is no sink. */
void brk_sinks_log_stats(broker_t *b)
{
    static const char *const names[] = {"", "sqlite", "pgsql", "kafka"};
    char line[1024];
    size_t len = 0;
    for (int type = SINK_SQLITE; type <= SINK_KAFKA; type++) {
        mqr_action_metrics_t t;
        int any = 0;
        memset(&t, 0, sizeof t);
        for (brk_sink_t *s = b->sinks; s != NULL; s = s->next) {
            mqr_action_metrics_t m;
            if (s->type != type ||
                mqr_engine_action_metrics(s->engine, s->id, &m) != MQR_OK)
                continue;
            any = 1;
            t.matched += m.matched;
            t.success += m.success;
            t.failed += m.failed;
            t.dropped_queue_full += m.dropped_queue_full;
            t.dropped_expired += m.dropped_expired;
            t.dropped_other += m.dropped_other;
            t.queuing += m.queuing;
            t.inflight += m.inflight;
            t.retried += m.retried;
        }
        if (!any || len >= sizeof line)
            continue;
        const char *n = names[type];
        len += (size_t)snprintf(
            line + len, sizeof line - len,
            " %s.matched=%llu %s.success=%llu %s.failed=%llu %s.dropped.queue_full=%llu"
            " %s.dropped.expired=%llu %s.dropped.other=%llu %s.queuing=%llu %s.inflight=%llu"
            " %s.retried=%llu",
            n, (unsigned long long)t.matched, n, (unsigned long long)t.success, n,
            (unsigned long long)t.failed, n, (unsigned long long)t.dropped_queue_full, n,
            (unsigned long long)t.dropped_expired, n, (unsigned long long)t.dropped_other, n,
            (unsigned long long)t.queuing, n, (unsigned long long)t.inflight, n,
            (unsigned long long)t.retried);
    }
    if (len > 0)
        brk_log(b, BRK_LOG_NOTICE, "sinks%s", line);
}
