/* SPDX-License-Identifier: MIT */
/*
 * admin_metrics.c - the broker's figures as the admin listener serves them:
 * GET /api/v5/prometheus/stats (Prometheus text exposition format 0.0.4:
 * broker counters and gauges, CONNACKs per reason, per-rule metrics with
 * EMQX's names, per-action metrics, each labelled) and GET
 * /api/v5/diagnostics (the JSON the live page polls: rules with metrics,
 * per-minute CONNACKs per reason, the latest refused connections, filtered
 * by reason and client id prefix).
 *
 * Both are built from the counters in place at request time (sys.c, the
 * broker's stats, the engine's metrics); nothing is kept per scrape.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "engine_state.h"

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void prom_label(brk_buf_t *o, const char *s)
{
    brk_buf_puts(o, "\"");
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            brk_buf_printf(o, "\\%c", *s);
        else if (*s == '\n')
            brk_buf_puts(o, "\\n");
        else
            brk_buf_add(o, s, 1);
    }
    brk_buf_puts(o, "\"");
}

static void prom_head(brk_buf_t *o, const char *name, const char *type, const char *help)
{
    brk_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_one(brk_buf_t *o, const char *name, const char *type, const char *help,
                     uint64_t v)
{
    prom_head(o, name, type, help);
    brk_buf_printf(o, "%s %" PRIu64 "\n", name, v);
}

/* The per-rule metrics: one family per EMQX metric name. */
static const struct {
    const char *family;
    const char *help;
    size_t off;
} rule_fields[] = {
#define RF(f, n, h) {"mqttrule_rule_" n "_total", h, offsetof(mqr_rule_metrics_t, f)}
    RF(matched, "matched", "Times the rule's FROM matched (EMQX matched)"),
    RF(passed, "passed", "Evaluations that produced output (EMQX passed)"),
    RF(failed, "failed", "Evaluations without output (EMQX failed)"),
    RF(failed_exception, "failed_exception", "Evaluation errors (EMQX failed.exception)"),
    RF(failed_no_result, "failed_no_result", "WHERE false or empty FOREACH (EMQX failed.no_result)"),
    RF(actions_total, "actions", "Action invocations (EMQX actions.total)"),
    RF(actions_success, "actions_success", "Successful actions (EMQX actions.success)"),
    RF(actions_failed, "actions_failed", "Failed actions (EMQX actions.failed)"),
    RF(actions_failed_out_of_service, "actions_failed_out_of_service",
       "Actions failed for a target out of service (EMQX actions.failed.out_of_service)"),
    RF(actions_failed_unknown, "actions_failed_unknown",
       "Actions failed otherwise (EMQX actions.failed.unknown)"),
#undef RF
};

/* A metric family read from a struct of uint64_t counters at `off`. */
typedef struct prom_field {
    const char *family;
    const char *type;
    const char *help;
    size_t off;
} prom_field_t;

static const prom_field_t action_fields[] = {
#define AF(f, n, t, h) {"mqttrule_action_" n, t, h, offsetof(mqr_action_metrics_t, f)}
    AF(matched, "matched_total", "counter", "Action invocations"),
    AF(success, "success_total", "counter", "Successful deliveries"),
    AF(failed, "failed_total", "counter", "Failed deliveries"),
    AF(dropped, "dropped_total", "counter", "Messages dropped"),
    AF(dropped_expired, "dropped_expired_total", "counter", "Messages dropped: expired"),
    AF(dropped_queue_full, "dropped_queue_full_total", "counter", "Messages dropped: queue full"),
    AF(dropped_other, "dropped_other_total", "counter", "Messages dropped: other"),
    AF(retried, "retried_total", "counter", "HTTP attempts after the first"),
    AF(timeouts, "timeouts_total", "counter", "HTTP attempts ended by a timeout"),
    AF(queuing, "queuing", "gauge", "HTTP messages waiting"),
    AF(inflight, "inflight", "gauge", "HTTP requests awaiting a response"),
#undef AF
};

/* The durable queue of an action (persistence true): mqr_queue_stats_t. */
static const prom_field_t queue_fields[] = {
#define QF(f, n, t, h) {"mqttrule_action_queue_" n, t, h, offsetof(mqr_queue_stats_t, f)}
    QF(records, "records", "gauge", "Events held, not yet acknowledged by the target"),
    QF(disk_bytes, "disk_bytes", "gauge", "Bytes of the queue's segment files"),
    QF(replayed, "replayed_total", "counter", "Events found undelivered at start-up"),
    QF(memory_records, "memory_records_total", "counter",
       "Events taken while the disk failed (held in memory)"),
    QF(write_errors, "write_errors_total", "counter", "Failed writes, syncs, renames or creates"),
    QF(corrupt_records, "corrupt_records_total", "counter", "Invalid records skipped at start-up"),
    QF(torn_tails, "torn_tails_total", "counter", "Records cut short at the end, cut off"),
    QF(dropped_oldest, "dropped_oldest_total", "counter",
       "Oldest events dropped beyond persistence_max_bytes"),
    QF(refused_newest, "refused_newest_total", "counter", "Events refused: queue full"),
    QF(fsyncs, "fsyncs_total", "counter", "fsync calls"),
#undef QF
};

/* A rule of the scrape with its actions (every one: a rule has no limit on
 * them, and each fallback is one of its actions too). */
typedef struct scrape_rule {
    const char *id;
    mqr_rule_metrics_t m;
    uint32_t nact;
    uint32_t *act_id;        /* nact, malloc'd */
    char (*act_type)[12];    /* nact, malloc'd */
} scrape_rule_t;

typedef struct scrape {
    broker_t *b;
    scrape_rule_t *rules;
    size_t n, cap;
} scrape_t;

/* The ids and types of rule id's actions, from the engine's metrics JSON. */
static void rule_actions(broker_t *b, scrape_rule_t *sr)
{
    size_t need = 0;
    if (mqr_engine_rule_metrics_json(b->ev->engine, sr->id, NULL, 0, &need) != MQR_EBUFFER)
        return;
    char *js = malloc(need + 1);
    mqr_arena_t *arena = NULL;
    mqr_value_t v;
    if (js != NULL && mqr_engine_rule_metrics_json(b->ev->engine, sr->id, js, need + 1, &need) ==
                          MQR_OK &&
        mqr_arena_create(NULL, 0, &arena) == MQR_OK &&
        mqr_json_parse(arena, js, need, 0, &v, NULL) == MQR_OK) {
        const mqr_value_t *acts = mqr_value_object_get(&v, "actions", 7);
        uint32_t n = acts && acts->type == MQR_VAL_ARRAY ? acts->len : 0;
        sr->act_id = n ? malloc(n * sizeof *sr->act_id) : NULL;
        sr->act_type = n ? malloc(n * sizeof *sr->act_type) : NULL;
        if (sr->act_id == NULL || sr->act_type == NULL)
            n = 0; /* out of memory: the rule's lines alone */
        for (uint32_t i = 0; i < n; i++) {
            const mqr_value_t *id = mqr_value_object_get(&acts->u.items[i], "id", 2);
            const mqr_value_t *ty = mqr_value_object_get(&acts->u.items[i], "type", 4);
            if (id == NULL || id->type != MQR_VAL_INT)
                continue;
            sr->act_id[sr->nact] = (uint32_t)id->u.i;
            snprintf(sr->act_type[sr->nact], sizeof sr->act_type[0], "%.*s",
                     ty && ty->type == MQR_VAL_STRING ? (int)ty->len : 7,
                     ty && ty->type == MQR_VAL_STRING ? ty->u.s : "unknown");
            sr->nact++;
        }
    }
    mqr_arena_destroy(arena);
    free(js);
}

static void collect_rule(void *ud, const char *id, const char *sql, const char *description,
                         const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t c)
{
    scrape_t *s = ud;
    (void)sql, (void)description, (void)actions_json, (void)file_rule, (void)c;
    if (s->n == s->cap)
        return;
    scrape_rule_t *sr = &s->rules[s->n];
    memset(sr, 0, sizeof *sr);
    sr->id = id;
    if (mqr_engine_rule_metrics(s->b->ev->engine, id, &sr->m) != MQR_OK)
        return;
    rule_actions(s->b, sr);
    s->n++;
}

static void count_rule(void *ud, const char *id, const char *sql, const char *description,
                       const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t c)
{
    (void)id, (void)sql, (void)description, (void)actions_json, (void)file_rule, (void)c;
    (*(size_t *)ud)++;
}

static void prom_broker(brk_buf_t *o, broker_t *b)
{
    const brk_stats_t *st = &b->stats;
    brk_admin_t *a = b->admin;
    prom_one(o, "mqttrule_uptime_seconds", "gauge", "Seconds since start-up",
             (uint64_t)((brk_mono_ms() - a->started_mono) / 1000));
    prom_one(o, "mqttrule_connections", "gauge", "Open MQTT connections", b->nconns);
    prom_one(o, "mqttrule_clients_connected", "gauge", "Connected MQTT clients", b->nconnected);
    prom_one(o, "mqttrule_sessions", "gauge", "Sessions, online and offline", b->nsessions);
    prom_one(o, "mqttrule_subscriptions", "gauge", "Subscriptions over all sessions",
             brk_sys_subscriptions(b));
    prom_one(o, "mqttrule_retained_messages", "gauge", "Retained messages", b->retained.count);
    prom_one(o, "mqttrule_connections_accepted_total", "counter", "TCP connections accepted",
             st->conns_accepted);
    prom_one(o, "mqttrule_connect_timeouts_total", "counter",
             "Sockets closed without a complete CONNECT", st->connect_timeouts);
    prom_one(o, "mqttrule_messages_received_total", "counter", "PUBLISH packets accepted",
             st->msgs_received);
    prom_one(o, "mqttrule_messages_delivered_total", "counter", "Messages delivered",
             st->delivered);
    prom_one(o, "mqttrule_messages_acked_total", "counter", "Messages acknowledged", st->acked);
    prom_head(o, "mqttrule_messages_dropped_total", "counter", "Messages dropped, by reason");
    const struct {
        const char *reason;
        uint64_t v;
    } drops[] = {{"no_subscribers", st->dropped_no_subscribers},
                 {"queue_full", st->dropped_queue_full},
                 {"qos0_msg", st->dropped_qos0_offline},
                 {"too_large", st->dropped_too_large},
                 {"no_local", st->dropped_no_local},
                 {"other", st->dropped_other}};
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++)
        brk_buf_printf(o, "mqttrule_messages_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
                       drops[i].reason, drops[i].v);
    prom_head(o, "mqttrule_connack_total", "counter", "CONNACKs sent, by reason code");
    for (int c = 0; c < BRK_NREASONS; c++)
        if (a->connack[c] != 0 || c == 0)
            brk_buf_printf(o, "mqttrule_connack_total{reason=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                           brk_sys_reason_name(c), c, a->connack[c]);
    prom_head(o, "mqttrule_connect_closed_without_connack_total", "counter",
              "CONNECTs refused by closing the connection, by reason code");
    for (int c = 0; c < BRK_NREASONS; c++)
        if (a->refused_no_connack[c] != 0)
            brk_buf_printf(o, "mqttrule_connect_closed_without_connack_total{reason=\"%s\","
                              "code=\"%d\"} %" PRIu64 "\n",
                           brk_sys_reason_name(c), c, a->refused_no_connack[c]);
    prom_one(o, "mqttrule_admin_requests_total", "counter", "Admin HTTP requests", a->requests);
    const brk_persist_cfg_t *pc = &b->cfg.persist;
    if (!pc->enabled)
        return;
    prom_one(o, "mqttrule_persistence_snapshots_total", "counter", "Snapshots written (broker.db)",
             pc->saves);
    prom_one(o, "mqttrule_persistence_snapshot_errors_total", "counter",
             "Snapshots that could not be written", pc->save_errors);
    brk_jr_counters_t jc;
    if (brk_journal_counters(b, &jc) == 0) {
        prom_one(o, "mqttrule_persistence_journal_up", "gauge",
                 "1: changes are journaled; 0: off after an error (snapshots alone)",
                 (uint64_t)jc.up);
        prom_one(o, "mqttrule_persistence_journal_records_total", "counter", "Journal records",
                 jc.records);
        prom_one(o, "mqttrule_persistence_journal_bytes_total", "counter", "Journal bytes",
                 jc.bytes);
        prom_one(o, "mqttrule_persistence_journal_syncs_total", "counter", "Journal syncs",
                 jc.syncs);
        prom_one(o, "mqttrule_persistence_journal_errors_total", "counter",
                 "Journal writes or syncs that failed", jc.errors);
    }
}

void brk_admin_prometheus(brk_admin_req_t *r)
{
    broker_t *b = r->b;
    brk_buf_t *o = &r->out;
    scrape_t s = {b, NULL, 0, 0};
    brk_admin_rules_each(b, count_rule, &s.cap);
    s.rules = calloc(s.cap ? s.cap : 1, sizeof *s.rules);
    if (s.rules == NULL) {
        brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    prom_broker(o, b);
    brk_admin_rules_each(b, collect_rule, &s);
    for (size_t f = 0; f < sizeof rule_fields / sizeof rule_fields[0]; f++) {
        prom_head(o, rule_fields[f].family, "counter", rule_fields[f].help);
        for (size_t i = 0; i < s.n; i++) {
            brk_buf_printf(o, "%s{rule=", rule_fields[f].family);
            prom_label(o, s.rules[i].id);
            brk_buf_printf(o, "} %" PRIu64 "\n",
                           *(const uint64_t *)(const void *)((const char *)&s.rules[i].m +
                                                             rule_fields[f].off));
        }
    }
    for (size_t f = 0; f < sizeof action_fields / sizeof action_fields[0]; f++) {
        prom_head(o, action_fields[f].family, action_fields[f].type, action_fields[f].help);
        for (size_t i = 0; i < s.n; i++) {
            for (uint32_t k = 0; k < s.rules[i].nact; k++) {
                mqr_action_metrics_t m;
                if (mqr_engine_action_metrics(b->ev->engine, s.rules[i].act_id[k], &m) != MQR_OK)
                    continue;
                brk_buf_printf(o, "%s{rule=", action_fields[f].family);
                prom_label(o, s.rules[i].id);
                brk_buf_printf(o, ",action=\"%u\",type=", s.rules[i].act_id[k]);
                prom_label(o, s.rules[i].act_type[k]);
                brk_buf_printf(o, "} %" PRIu64 "\n",
                               *(const uint64_t *)(const void *)((const char *)&m +
                                                                 action_fields[f].off));
            }
        }
    }
    for (size_t f = 0; b->cfg.persist.enabled && f <= sizeof queue_fields / sizeof queue_fields[0];
         f++) {
        int state = f == sizeof queue_fields / sizeof queue_fields[0]; /* the last: on_disk */
        if (state)
            prom_head(o, "mqttrule_action_queue_on_disk", "gauge",
                      "1: the queue is on disk; 0: held in memory after a disk error");
        else
            prom_head(o, queue_fields[f].family, queue_fields[f].type, queue_fields[f].help);
        for (size_t i = 0; i < s.n; i++) {
            for (uint32_t k = 0; k < s.rules[i].nact; k++) {
                mqr_queue_stats_t q;
                if (mqr_engine_action_queue_stats(b->ev->engine, s.rules[i].act_id[k], &q) !=
                    MQR_OK)
                    continue; /* an action without a durable queue */
                brk_buf_printf(o, "%s{rule=",
                               state ? "mqttrule_action_queue_on_disk" : queue_fields[f].family);
                prom_label(o, s.rules[i].id);
                brk_buf_printf(o, ",action=\"%u\",type=", s.rules[i].act_id[k]);
                prom_label(o, s.rules[i].act_type[k]);
                brk_buf_printf(o, "} %" PRIu64 "\n",
                               state ? (uint64_t)(q.state == MQR_QUEUE_STATE_OK)
                                     : *(const uint64_t *)(const void *)((const char *)&q +
                                                                         queue_fields[f].off));
            }
        }
    }
    for (size_t i = 0; i < s.n; i++) {
        free(s.rules[i].act_id);
        free(s.rules[i].act_type);
    }
    free(s.rules);
    brk_admin_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- the live page's data --------------------------------------------------------- */

typedef struct diag_rules {
    broker_t *b;
    brk_buf_t *o;
    int n;
} diag_rules_t;

static void diag_rule(void *ud, const char *id, const char *sql, const char *description,
                      const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t c)
{
    diag_rules_t *d = ud;
    mqr_rule_metrics_t m;
    uint32_t en = 0;
    (void)description, (void)actions_json, (void)c;
    if (mqr_engine_rule_metrics(d->b->ev->engine, id, &m) != MQR_OK)
        memset(&m, 0, sizeof m);
    (void)mqr_engine_rule_info(d->b->ev->engine, id, &en);
    brk_buf_puts(d->o, d->n++ ? ",{\"id\":" : "{\"id\":");
    brk_buf_json_str(d->o, id, strlen(id));
    brk_buf_puts(d->o, ",\"sql\":");
    brk_buf_json_str(d->o, sql, strlen(sql));
    brk_buf_printf(d->o,
                   ",\"enable\":%s,\"source\":\"%s\",\"matched\":%" PRIu64 ",\"passed\":%" PRIu64
                   ",\"failed\":%" PRIu64 ",\"actions_success\":%" PRIu64
                   ",\"actions_failed\":%" PRIu64 "}",
                   en ? "true" : "false", file_rule ? "file" : "api", m.matched, m.passed,
                   m.failed, m.actions_success, m.actions_failed);
}

/* 1 if refusal f passes the filters: reason name (empty: any) and client
 * id prefix (empty: any). */
static int refusal_passes(const brk_refusal_t *f, const char *reason, const char *prefix)
{
    if (reason[0] && strcmp(brk_sys_reason_name(f->reason), reason) != 0)
        return 0;
    return strncmp(f->clientid, prefix, strlen(prefix)) == 0;
}

static void diag_refusals(brk_buf_t *o, const brk_admin_t *a, const char *reason,
                          const char *prefix, long limit)
{
    uint64_t have = a->nrefusals < BRK_REFUSALS ? a->nrefusals : BRK_REFUSALS;
    long n = 0;
    brk_buf_puts(o, "\"refusals\":[");
    for (uint64_t k = 0; k < have && n < limit; k++) {
        const brk_refusal_t *f = &a->refusals[(a->nrefusals - 1 - k) % BRK_REFUSALS];
        if (!refusal_passes(f, reason, prefix))
            continue;
        brk_buf_printf(o, "%s{\"at\":%" PRId64 ",\"code\":%d,\"reason\":\"%s\",\"connack_sent\":%s,"
                          "\"proto_ver\":%u,\"clientid\":",
                       n++ ? "," : "", f->at_ms, f->reason, brk_sys_reason_name(f->reason),
                       f->connack_sent ? "true" : "false", (unsigned)f->proto_ver);
        brk_buf_json_str(o, f->clientid, strlen(f->clientid));
        brk_buf_puts(o, ",\"username\":");
        brk_buf_json_str(o, f->username, strlen(f->username));
        brk_buf_puts(o, ",\"peer\":");
        brk_buf_json_str(o, f->peer, strlen(f->peer));
        brk_buf_puts(o, ",\"listener\":");
        brk_buf_json_str(o, f->listener, strlen(f->listener));
        brk_buf_puts(o, "}");
    }
    brk_buf_printf(o, "],\"refusals_total\":%" PRIu64, a->nrefusals);
}

/* Per-minute CONNACK decisions per reason over the last `minutes`, oldest
 * first; only reasons with a count in that window. */
static void diag_history(brk_buf_t *o, const brk_admin_t *a, int64_t now_ms, int minutes)
{
    int64_t cur = now_ms / 60000;
    brk_buf_printf(o, "\"history\":{\"minutes\":%d,\"last_minute_ms\":%" PRId64 ",\"series\":[",
                   minutes, cur * 60000);
    int ns = 0;
    for (int code = 0; code < BRK_NREASONS; code++) {
        uint64_t any = 0;
        for (int m = 0; m < minutes; m++) {
            int64_t mi = cur - minutes + 1 + m;
            if (mi <= a->hist_minute && a->hist_minute - mi < BRK_CONNACK_HISTORY)
                any += a->hist[mi % BRK_CONNACK_HISTORY][code];
        }
        if (any == 0)
            continue;
        brk_buf_printf(o, "%s{\"code\":%d,\"reason\":\"%s\",\"counts\":[", ns++ ? "," : "", code,
                       brk_sys_reason_name(code));
        for (int m = 0; m < minutes; m++) {
            int64_t mi = cur - minutes + 1 + m;
            uint32_t v = mi <= a->hist_minute && a->hist_minute - mi < BRK_CONNACK_HISTORY
                             ? a->hist[mi % BRK_CONNACK_HISTORY][code]
                             : 0;
            brk_buf_printf(o, "%s%u", m ? "," : "", v);
        }
        brk_buf_puts(o, "]}");
    }
    brk_buf_puts(o, "]}");
}

/* A query parameter, percent-decoded, into buf ("" when absent or bad). */
static void query_text(const brk_admin_req_t *r, const char *name, char *buf, size_t cap)
{
    size_t n;
    const char *v = brk_http_query_param(r->query, r->query_len, name, &n);
    if (v == NULL || brk_http_unescape(v, n, 1, buf, cap) < 0)
        buf[0] = 0;
}

/*
 * GET /api/v5/diagnostics[?reason=NAME&clientid_prefix=P&limit=N]: the live
 * page's data. {"now", "uptime_s", "version", "broker": {...}, "connack":
 * [{code, reason, sent, closed}], "history": {...}, "refusals": [...],
 * "refusals_total", "rules": [...]}.
 */
void brk_admin_diag_json(brk_admin_req_t *r)
{
    broker_t *b = r->b;
    brk_admin_t *a = b->admin;
    brk_buf_t *o = &r->out;
    char reason[64], prefix[128], lim[16];
    query_text(r, "reason", reason, sizeof reason);
    query_text(r, "clientid_prefix", prefix, sizeof prefix);
    query_text(r, "limit", lim, sizeof lim);
    long limit = lim[0] ? strtol(lim, NULL, 10) : 100;
    if (limit < 1 || limit > BRK_REFUSALS)
        limit = BRK_REFUSALS;
    int64_t now = brk_wall_ms();
    brk_buf_printf(o, "{\"now\":%" PRId64 ",\"uptime_s\":%" PRId64 ",\"version\":\"%s\","
                      "\"broker\":{\"connected\":%zu,\"sessions\":%zu,\"received\":%" PRIu64
                      ",\"delivered\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"retained\":%zu,"
                      "\"subscriptions\":%" PRIu64 "},\"connack\":[",
                   now, (brk_mono_ms() - a->started_mono) / 1000, mqr_version(), b->nconnected,
                   b->nsessions, b->stats.msgs_received, b->stats.delivered, brk_sys_dropped(b),
                   b->retained.count, brk_sys_subscriptions(b));
    int n = 0;
    for (int c = 0; c < BRK_NREASONS; c++)
        if (a->connack[c] != 0 || a->refused_no_connack[c] != 0)
            brk_buf_printf(o, "%s{\"code\":%d,\"reason\":\"%s\",\"sent\":%" PRIu64
                              ",\"closed\":%" PRIu64 "}",
                           n++ ? "," : "", c, brk_sys_reason_name(c), a->connack[c],
                           a->refused_no_connack[c]);
    brk_buf_puts(o, "],");
    diag_history(o, a, now, 30);
    brk_buf_puts(o, ",");
    diag_refusals(o, a, reason, prefix, limit);
    brk_buf_puts(o, ",\"rules\":[");
    diag_rules_t d = {b, o, 0};
    brk_admin_rules_each(b, diag_rule, &d);
    brk_buf_puts(o, "]}");
    brk_admin_reply(r, 200, "application/json");
}
