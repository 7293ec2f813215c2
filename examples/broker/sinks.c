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
 * One table-driven parser (sink_opts_parse) reads every type's block: each
 * type has a table of its options (key, how the value is read, where it
 * goes in the type's configuration struct, whether it is required), and
 * all share the queue options of the HTTP action (EMQX names): batch_size,
 * max_buffer_messages, max_buffer_bytes, request_ttl, retry_backoff,
 * retry_backoff_max. A factory is then: defaults, the parser, the
 * library's add, sink_added. docs/sinks.md lists every option.
 */
#include <stddef.h>
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

/* How a sink option's value is read (sink_opt_t.kind). */
#define O_STR 0     /* the text (a template or a name), kept as it is */
#define O_FILE 1    /* a file name that must be readable now */
#define O_U32 2     /* a number in min..max */
#define O_MS 3      /* a duration in min..max ms */
#define O_BOOL 4    /* true or false */
#define O_BYTES 5   /* a size in min..max bytes (kept in a uint32_t) */
#define O_PAIR 6    /* NAME VALUE, collected in a sink_pairs_t */

/* One option of a sink type: its key, how its value is read and where it
 * goes (an offset into the type's configuration struct, or into its
 * mqr_sink_queue_config_t for the queue options); `need` makes it required
 * ("needs NEED" when it is missing, checked in table order). */
typedef struct sink_opt {
    const char *key;
    int kind;
    size_t off;
    uint32_t min, max;
    const char *need;
} sink_opt_t;

/* The queue options every sink shares (EMQX's names, as for http). */
#define QOFF(f) offsetof(mqr_sink_queue_config_t, f)
static const sink_opt_t QUEUE_OPTS[] = {
    {"batch_size", O_U32, QOFF(batch_size), 1, 10000, NULL},
    {"max_buffer_messages", O_U32, QOFF(max_queue_count), 1, UINT32_MAX, NULL},
    {"max_buffer_bytes", O_BYTES, QOFF(max_queue_bytes), 1, UINT32_MAX, NULL},
    {"request_ttl", O_MS, QOFF(ttl_ms), 1, UINT32_MAX, NULL},
    {"retry_backoff", O_MS, QOFF(backoff_min_ms), 1, UINT32_MAX, NULL},
    {"retry_backoff_max", O_MS, QOFF(backoff_max_ms), 1, UINT32_MAX, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

/* The `NAME VALUE` options of a block (kafka's header and property), in
 * their order: key is the option's, name is copied, value points into the
 * option's text. */
typedef struct sink_pairs {
    size_t n;
    const char **key;
    char **name;
    const char **value;
} sink_pairs_t;

/* Split "NAME REST" at its first blank into p's next pair. 0, or -1 when
 * there is no REST. */
static int pair_add(sink_pairs_t *p, const brk_action_opt_t *o)
{
    const char *v = o->value;
    size_t n = strcspn(v, " \t");
    if (n == 0 || v[n] == '\0')
        return -1;
    const char *r = v + n;
    while (*r == ' ' || *r == '\t')
        r++;
    if (*r == '\0')
        return -1;
    p->key = brk_xrealloc(p->key, (p->n + 1) * sizeof *p->key);
    p->name = brk_xrealloc(p->name, (p->n + 1) * sizeof *p->name);
    p->value = brk_xrealloc(p->value, (p->n + 1) * sizeof *p->value);
    p->key[p->n] = o->key;
    p->name[p->n] = brk_xrealloc(NULL, n + 1);
    memcpy(p->name[p->n], v, n);
    p->name[p->n][n] = '\0';
    p->value[p->n++] = r;
    return 0;
}

/* Option o per its table entry t into the struct at base. 0 or -1. */
static int opt_set(brk_action_ctx_t *ctx, const brk_action_opt_t *o, const sink_opt_t *t,
                   char *base, sink_pairs_t *pairs)
{
    void *at = base + t->off;
    uint64_t big = 0;
    switch (t->kind) {
    case O_FILE:
        if (brk_opt_readable(ctx, o) != 0)
            return -1;
        /* fall through */
    case O_STR:
        memcpy(at, &o->value, sizeof o->value);
        return 0;
    case O_U32:
        return brk_opt_u32(ctx, o, t->min, t->max, at);
    case O_MS:
        return brk_opt_duration_ms(ctx, o, t->min, t->max, at);
    case O_BOOL:
        return brk_opt_bool(ctx, o, at);
    case O_BYTES:
        if (brk_opt_bytes(ctx, o, t->min, t->max, &big) != 0)
            return -1;
        *(uint32_t *)at = (uint32_t)big;
        return 0;
    default:
        if (pair_add(pairs, o) != 0)
            return brk_action_fail(ctx, o, "%s needs a name and a value, not '%s'", o->key,
                                   o->value);
        return 0;
    }
}

/* Read the options of block a into the configuration struct cfg (whose
 * mqr_sink_queue_config_t is at queue_off) by the type's table `opts` and
 * QUEUE_OPTS; the NAME VALUE options go to *pairs. Refuses an unknown key,
 * a bad value or a missing required option with "file:line: action TYPE:
 * ..." (brk_action_fail). 0 or -1. */
static int sink_opts_parse(brk_action_ctx_t *ctx, const brk_action_cfg_t *a,
                           const sink_opt_t *opts, size_t queue_off, void *cfg,
                           sink_pairs_t *pairs)
{
    char *base = cfg;
    for (size_t i = 0; i < a->nopts; i++) {
        const brk_action_opt_t *o = &a->opts[i];
        const sink_opt_t *t = opts;
        char *into = base;
        while (t->key != NULL && strcmp(t->key, o->key) != 0)
            t++;
        if (t->key == NULL) {
            into = base + queue_off;
            for (t = QUEUE_OPTS; t->key != NULL && strcmp(t->key, o->key) != 0;)
                t++;
        }
        if (t->key == NULL)
            return brk_action_fail(ctx, o, "unknown option '%s' (see docs/sinks.md)", o->key);
        if (opt_set(ctx, o, t, into, pairs) != 0)
            return -1;
    }
    for (const sink_opt_t *t = opts; t->key != NULL; t++) {
        const char *v = NULL;
        if (t->need != NULL)
            memcpy(&v, base + t->off, sizeof v);
        if (t->need != NULL && v == NULL)
            return brk_action_fail(ctx, NULL, "needs %s", t->need);
    }
    return 0;
}

/* A sink's create answered st: on success record it (in *out and b's
 * list, with `target` for the log); on failure name the option line its
 * diagnostic's field names (the last such line), or `line` when not NULL,
 * or the `action TYPE` line. 0 or -1. */
static int sink_added(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out,
                      int type, int st, const mqr_diag_t *d, const brk_action_opt_t *line,
                      const char *target)
{
    static const char *const names[] = {"", "sqlite", "pgsql", "kafka"};
    if (st != MQR_OK) {
        if (line == NULL && d->field[0])
            for (size_t i = 0; i < a->nopts; i++) /* the last line with that key */
                if (!strcmp(a->opts[i].key, d->field))
                    line = &a->opts[i];
        return brk_action_fail(ctx, line, "%s", d->message[0] ? d->message : mqr_strerror(st));
    }
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
    return 0;
}

#endif /* BRK_ANY_SINK */

/* ---- sqlite ------------------------------------------------------------------------------ */

#ifdef BRK_WITH_SQLITE
#define SQOFF(f) offsetof(mqr_sqlite_sink_config_t, f)
static const sink_opt_t SQLITE_OPTS[] = {
    {"database", O_STR, SQOFF(database), 0, 0, "a database (a file name)"},
    {"sql", O_STR, SQOFF(sql), 0, 0, "sql (an INSERT with ${...} placeholders)"},
    {"busy_timeout", O_MS, SQOFF(busy_timeout_ms), 0, 600000, NULL},
    {"wal", O_BOOL, SQOFF(wal), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

int brk_action_sqlite(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    if (sink_opts_parse(ctx, a, SQLITE_OPTS, SQOFF(queue), &c, NULL) != 0)
        return -1;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int st = mqr_sqlite_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
    return sink_added(ctx, a, out, SINK_SQLITE, st, &d, NULL, c.database);
}
#endif

/* ---- pgsql ------------------------------------------------------------------------------- */

#ifdef BRK_WITH_PGSQL
#define PGOFF(f) offsetof(mqr_pgsql_sink_config_t, f)
static const sink_opt_t PGSQL_OPTS[] = {
    {"server", O_STR, PGOFF(server), 0, 0, "a server (host:port)"},
    {"database", O_STR, PGOFF(database), 0, 0, "a database"},
    {"sql", O_STR, PGOFF(sql), 0, 0, "sql (an INSERT with ${...} placeholders)"},
    {"username", O_STR, PGOFF(username), 0, 0, NULL},
    {"password", O_STR, PGOFF(password), 0, 0, NULL},
    {"password_file", O_FILE, PGOFF(password_file), 0, 0, NULL},
    {"connect_timeout", O_MS, PGOFF(connect_timeout_ms), 1, UINT32_MAX, NULL},
    {"pool_size", O_U32, PGOFF(pool_size), 1, MQR_PGSQL_MAX_POOL_SIZE, NULL},
    {"inflight_window", O_U32, PGOFF(inflight_window), 1, MQR_PGSQL_MAX_INFLIGHT_WINDOW, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

int brk_action_pgsql(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_pgsql_sink_config_t c;
    mqr_pgsql_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    if (sink_opts_parse(ctx, a, PGSQL_OPTS, PGOFF(queue), &c, NULL) != 0)
        return -1;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int st = mqr_pgsql_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
    char target[256];
    snprintf(target, sizeof target, "%s/%s", c.server, c.database);
    return sink_added(ctx, a, out, SINK_PGSQL, st, &d, NULL, target);
}
#endif

/* ---- kafka ------------------------------------------------------------------------------- */

#ifdef BRK_WITH_KAFKA
#define KOFF(f) offsetof(mqr_kafka_sink_config_t, f)
static const sink_opt_t KAFKA_OPTS[] = {
    {"bootstrap_hosts", O_STR, KOFF(bootstrap_hosts), 0, 0, "bootstrap_hosts (host:port,...)"},
    {"topic", O_STR, KOFF(topic), 0, 0, "a topic"},
    {"key", O_STR, KOFF(key), 0, 0, NULL},
    {"value", O_STR, KOFF(value), 0, 0, NULL},
    {"header", O_PAIR, 0, 0, 0, NULL},
    {"property", O_PAIR, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static void pairs_free(sink_pairs_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->name[i]);
    free(p->key);
    free(p->name);
    free(p->value);
}

int brk_action_kafka(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_kafka_sink_config_t c;
    mqr_kafka_sink_config_init(&c);
    c.log = sink_log;
    c.log_ud = ctx->b;
    sink_pairs_t pairs = {0, NULL, NULL, NULL};
    int rc = sink_opts_parse(ctx, a, KAFKA_OPTS, KOFF(queue), &c, &pairs);
    mqr_kafka_header_t *hs = brk_xrealloc(NULL, (pairs.n + 1) * sizeof *hs);
    mqr_kafka_property_t *ps = brk_xrealloc(NULL, (pairs.n + 1) * sizeof *ps);
    for (size_t i = 0; i < pairs.n; i++) {
        if (pairs.key[i][0] == 'h')
            hs[c.header_count++] = (mqr_kafka_header_t){pairs.name[i], pairs.value[i]};
        else
            ps[c.property_count++] = (mqr_kafka_property_t){pairs.name[i], pairs.value[i]};
    }
    c.headers = hs;
    c.properties = ps;
    if (rc == 0) {
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int st = mqr_kafka_sink_add(ctx->engine, ctx->rule_id, &c, &out->id, &d);
        const brk_action_opt_t *line = NULL;
        if (st != MQR_OK && !strcmp(d.field, "property")) {
            /* "kafka: property NAME: why": point at NAME's line */
            for (size_t i = 0, k = 0; i < a->nopts; i++) {
                int prop = !strcmp(a->opts[i].key, "property");
                if (!prop && strcmp(a->opts[i].key, "header") != 0)
                    continue;
                char want[128];
                snprintf(want, sizeof want, "property %s:", pairs.name[k++]);
                if (prop && strstr(d.message, want) != NULL)
                    line = &a->opts[i];
            }
            if (line == NULL)
                d.field[0] = '\0';
        }
        char target[256];
        snprintf(target, sizeof target, "%s topic %s", c.bootstrap_hosts, c.topic);
        rc = sink_added(ctx, a, out, SINK_KAFKA, st, &d, line, target);
    }
    pairs_free(&pairs);
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
