/* SPDX-License-Identifier: MIT */
/*
 * sys.c - the broker's figures for people watching it: CONNACKs per reason
 * code since start-up and per minute for the last hour, the ring of recent
 * refused connections, and the $SYS topics that publish them with the
 * broker's counters every sys_interval seconds (mosquitto's directive and
 * topic names where the figure is the same; docs/broker.md lists them).
 *
 * brk_sys_connack is called at every CONNACK decision (events.c, next to
 * the client.connack event), so no refusal path can be missed. The $SYS
 * messages are published through brk_mqtt_publish_sys as retained QoS 0
 * messages, so a subscriber that arrives later gets the latest values, and
 * delivery goes through the ACL's read check like any other message; as in
 * EMQX they fire no message.publish or message.dropped events. The
 * load figures are mosquitto's: per-minute rates averaged exponentially
 * over 1, 5 and 15 minutes.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "engine_state.h"

const char *brk_sys_reason_name(int code)
{
    return mqr_reason_name(code);
}

/* Copy at most cap - 1 bytes of s[0..n) into out, NUL-terminated; control
 * bytes become '?'. */
static void copy_text(char *out, size_t cap, const char *s, size_t n)
{
    if (s == NULL)
        n = 0;
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    out[n] = 0;
}

/* Move the per-minute history to the minute of wall time `ms`, clearing the
 * minutes in between. */
static void hist_roll(brk_admin_t *a, int64_t ms)
{
    int64_t minute = ms / 60000;
    if (minute <= a->hist_minute)
        return;
    int64_t from = a->hist_minute + 1;
    if (a->hist_minute == 0 || minute - from >= BRK_CONNACK_HISTORY)
        from = minute - BRK_CONNACK_HISTORY + 1;
    for (int64_t m = from; m <= minute; m++)
        memset(a->hist[m % BRK_CONNACK_HISTORY], 0, sizeof a->hist[0]);
    a->hist_minute = minute;
}

/*
 * Count one CONNACK decision: `reason` is the MQTT 5 code decided,
 * connack_sent 0 when the connection was closed without one (decision D2).
 * A refusal (reason != 0) goes into the ring with what is known of the
 * CONNECT: `connect` may be partial (a malformed CONNECT) or NULL.
 */
void brk_sys_connack(broker_t *b, const brk_conn_t *c, const mqr_packet_t *connect, int reason,
                     int connack_sent)
{
    brk_admin_t *a = b->admin;
    if (a == NULL)
        return;
    unsigned code = (unsigned)reason & 0xffu;
    if (connack_sent)
        a->connack[code]++;
    else
        a->refused_no_connack[code]++;
    int64_t now = brk_now_wall(b);
    hist_roll(a, now);
    a->hist[a->hist_minute % BRK_CONNACK_HISTORY][code]++;
    if (reason == 0)
        return;
    brk_refusal_t *r = &a->refusals[a->nrefusals % BRK_REFUSALS];
    a->nrefusals++;
    memset(r, 0, sizeof *r);
    r->at_ms = now;
    r->reason = (int)code;
    r->connack_sent = (uint8_t)(connack_sent != 0);
    r->proto_ver = c->proto_ver;
    if (connect != NULL && connect->type == MQR_PKT_CONNECT) {
        copy_text(r->clientid, sizeof r->clientid, connect->connect.clientid.ptr,
                  connect->connect.clientid.len);
        copy_text(r->username, sizeof r->username, connect->connect.username.ptr,
                  connect->connect.username.len);
    }
    copy_text(r->peer, sizeof r->peer, c->peername, strlen(c->peername));
    if (mqr_sockaddr_format(&c->sock, 1, r->listener, sizeof r->listener, NULL) != MQR_OK)
        strcpy(r->listener, "unknown");
}

uint64_t brk_sys_subscriptions(const broker_t *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->stab_size; i++)
        for (const brk_session_t *s = b->stab[i]; s != NULL; s = s->hnext)
            n += s->nsubs;
    return n;
}

uint64_t brk_sys_dropped(const broker_t *b)
{
    const brk_stats_t *st = &b->stats;
    return st->dropped_no_subscribers + st->dropped_queue_full + st->dropped_qos0_offline +
           st->dropped_too_large + st->dropped_no_local + st->dropped_other;
}

/* Publish one retained $SYS message. */
static void pub(broker_t *b, const char *topic, const char *payload)
{
    (void)brk_mqtt_publish_sys(b, topic, payload);
}

static void pub_u64(broker_t *b, const char *topic, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, v);
    pub(b, topic, s);
}

/* The series behind $SYS/broker/load/...: received, sent, dropped,
 * connections (CONNECTs accepted). */
static void load_now(const broker_t *b, uint64_t out[4])
{
    out[0] = b->stats.msgs_received;
    out[1] = b->stats.delivered;
    out[2] = brk_sys_dropped(b);
    out[3] = b->admin->connack[0];
}

/*
 * mosquitto's load averages: over the interval since the last update, the
 * rate per minute of each series, folded into an exponential average over
 * 1, 5 and 15 minutes: avg = e * avg + (1 - e) * rate, e = exp(-dt / period).
 */
static void load_update(broker_t *b, int64_t now)
{
    brk_admin_t *a = b->admin;
    uint64_t cur[4];
    load_now(b, cur);
    if (a->load_last_ms != 0 && now > a->load_last_ms) {
        double dt = (double)(now - a->load_last_ms) / 1000.0;
        static const double period[3] = {60.0, 300.0, 900.0};
        for (int s = 0; s < 4; s++) {
            double rate = (double)(cur[s] - a->load_last[s]) * 60.0 / dt;
            for (int p = 0; p < 3; p++) {
                double e = exp(-dt / period[p]);
                a->load[s][p] = e * a->load[s][p] + (1.0 - e) * rate;
            }
        }
    }
    memcpy(a->load_last, cur, sizeof cur);
    a->load_last_ms = now;
}

/* The metric names of $SYS/broker/rules/<id>/..., EMQX's. */
static void pub_rule(void *ud, const char *id, const char *sql, const char *description,
                     const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t created)
{
    broker_t *b = ud;
    mqr_rule_metrics_t m;
    (void)sql, (void)description, (void)actions_json, (void)file_rule, (void)created;
    if (mqr_engine_rule_metrics(b->ev->engine, id, &m) != MQR_OK)
        return;
    if (strpbrk(id, "/+#") != NULL || strlen(id) > 200) {
        b->admin->sys_topics_refused++;
        return;
    }
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"matched", m.matched},
        {"passed", m.passed},
        {"failed", m.failed},
        {"failed.exception", m.failed_exception},
        {"failed.no_result", m.failed_no_result},
        {"actions.total", m.actions_total},
        {"actions.success", m.actions_success},
        {"actions.failed", m.actions_failed},
        {"actions.failed.out_of_service", m.actions_failed_out_of_service},
        {"actions.failed.unknown", m.actions_failed_unknown},
    };
    char topic[320];
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        snprintf(topic, sizeof topic, "$SYS/broker/rules/%s/%s", id, f[i].name);
        pub_u64(b, topic, f[i].v);
    }
}

/* Publish every $SYS topic once. */
static void sys_publish(broker_t *b, int64_t now_mono)
{
    brk_admin_t *a = b->admin;
    char s[128], topic[160];
    snprintf(s, sizeof s, "mqttrule version %s", mqr_version());
    pub(b, "$SYS/broker/version", s);
    snprintf(s, sizeof s, "%" PRId64 " seconds", (now_mono - a->started_mono) / 1000);
    pub(b, "$SYS/broker/uptime", s);
    pub_u64(b, "$SYS/broker/clients/connected", b->nconnected);
    pub_u64(b, "$SYS/broker/clients/active", b->nconnected);
    pub_u64(b, "$SYS/broker/clients/total", b->nsessions);
    pub_u64(b, "$SYS/broker/clients/disconnected",
            b->nsessions > b->nconnected ? b->nsessions - b->nconnected : 0);
    pub_u64(b, "$SYS/broker/messages/received", b->stats.msgs_received);
    pub_u64(b, "$SYS/broker/messages/sent", b->stats.delivered);
    pub_u64(b, "$SYS/broker/publish/messages/received", b->stats.msgs_received);
    pub_u64(b, "$SYS/broker/publish/messages/sent", b->stats.delivered);
    pub_u64(b, "$SYS/broker/publish/messages/dropped", brk_sys_dropped(b));
    pub_u64(b, "$SYS/broker/retained messages/count", b->retained.count);
    pub_u64(b, "$SYS/broker/subscriptions/count", brk_sys_subscriptions(b));
    load_update(b, now_mono);
    static const char *const series[4] = {"messages/received", "messages/sent",
                                          "publish/dropped", "connections"};
    static const char *const span[3] = {"1min", "5min", "15min"};
    for (int i = 0; i < 4; i++) {
        for (int p = 0; p < 3; p++) {
            snprintf(topic, sizeof topic, "$SYS/broker/load/%s/%s", series[i], span[p]);
            snprintf(s, sizeof s, "%.2f", a->load[i][p]);
            pub(b, topic, s);
        }
    }
    for (int code = 0; code < BRK_NREASONS; code++) {
        if (a->connack[code] == 0)
            continue;
        snprintf(topic, sizeof topic, "$SYS/broker/connack/%s", brk_sys_reason_name(code));
        pub_u64(b, topic, a->connack[code]);
    }
    brk_admin_rules_each(b, pub_rule, b);
}

/* Called once a second by the loop (through brk_admin_tick). */
void brk_sys_tick(broker_t *b, int64_t now_mono)
{
    brk_admin_t *a = b->admin;
    if (a == NULL || b->cfg.sys_interval == 0)
        return;
    hist_roll(a, brk_now_wall(b));
    if (a->next_sys_ms != 0 && now_mono < a->next_sys_ms)
        return;
    a->next_sys_ms = now_mono + (int64_t)b->cfg.sys_interval * 1000;
    sys_publish(b, now_mono);
}
