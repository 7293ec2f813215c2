/* SPDX-License-Identifier: MIT */
/*
 * test_engine_queue.c - durable queues on the engine's actions
 * (mqr_engine_action_persist): republish through an offline host and back,
 * replay into a new engine with the same identifiers, HTTP delivery of
 * records left by an engine whose service was down, with the
 * Idempotency-Key header, and balanced metrics throughout.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"
#include "mqttrule.h"
#include "queue_test_util.h"

typedef struct host {
    int online;
    int calls;
    int published;
    char last_id[MQR_QUEUE_ID_MAX];
    char last_payload[64];
    int64_t mono;
} host_t;

static int64_t host_mono(void *ud)
{
    return ((host_t *)ud)->mono;
}

static int host_publish(void *ud, const mqr_publish_msg_t *m)
{
    host_t *h = ud;
    h->calls++;
    if (!h->online)
        return MQR_ECONNECT;
    h->published++;
    h->last_id[0] = '\0';
    for (uint32_t i = 0; i < m->user_property_count; i++) {
        const mqr_user_property_t *p = &m->user_properties[i];
        if (p->key_len == 15 && memcmp(p->key, "Idempotency-Key", 15) == 0)
            snprintf(h->last_id, sizeof h->last_id, "%.*s", (int)p->value_len, p->value);
    }
    snprintf(h->last_payload, sizeof h->last_payload, "%.*s", (int)m->payload_len, m->payload);
    return MQR_OK;
}

static mqr_engine_t *engine_with(host_t *h)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.publish = host_publish;
    o.publish_ud = h;
    if (h) {
        o.mono_clock = host_mono;
        o.mono_clock_ud = h;
    }
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    mqr_engine_rule_def_t d = {.id = "r", .sql = "SELECT payload FROM \"t/#\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK);
    return e;
}

static void persist(mqr_engine_t *e, uint32_t aid, const char *dir)
{
    mqr_action_persist_config_t pc;
    mqr_action_persist_config_init(&pc);
    pc.queue.dir = dir;
    mqr_diag_t diag;
    int rc = mqr_engine_action_persist(e, aid, &pc, &diag);
    cr_assert_eq(rc, MQR_OK, "%s: %s", mqr_status_name(rc), diag.message);
}

static void emit(mqr_engine_t *e, const char *payload)
{
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.payload = payload;
    m.payload_len = strlen(payload);
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
}

static mqr_action_metrics_t am(const mqr_engine_t *e, uint32_t aid)
{
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &m), MQR_OK);
    cr_assert_eq(m.matched, m.success + m.failed + m.dropped + m.queuing + m.inflight,
                 "matched %lu = success %lu + failed %lu + dropped %lu + queuing %lu + "
                 "inflight %lu",
                 (unsigned long)m.matched, (unsigned long)m.success, (unsigned long)m.failed,
                 (unsigned long)m.dropped, (unsigned long)m.queuing, (unsigned long)m.inflight);
    return m;
}

static uint32_t add_republish(mqr_engine_t *e)
{
    mqr_republish_config_t rc;
    memset(&rc, 0, sizeof rc);
    rc.topic = "out/${payload}";
    rc.payload = "${payload}";
    rc.qos = "1";
    uint32_t aid = 0;
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &rc, &aid, NULL), MQR_OK);
    return aid;
}

Test(engine_queue, republish_waits_for_an_offline_host)
{
    char dir[] = "/tmp/mqr_eq_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    host_t h = {.online = 0, .mono = 1000};
    mqr_engine_t *e = engine_with(&h);
    uint32_t aid = add_republish(e);
    persist(e, aid, dir);
    emit(e, "a");
    emit(e, "b");
    mqr_action_metrics_t m = am(e, aid);
    cr_assert_eq(m.matched, 2);
    cr_assert_eq(m.queuing, 2);
    cr_assert_eq(h.calls, 1, "one offer, then the backoff");
    cr_assert_eq(mqr_engine_timeout(e, 1000), 0, "the batch's fsync is due");
    cr_assert_eq(mqr_engine_process(e, 1000), MQR_OK);
    cr_assert_eq(mqr_engine_timeout(e, 1000), 100, "the backoff");
    h.online = 1;
    cr_assert_eq(mqr_engine_process(e, 1000), MQR_OK);
    cr_assert_eq(h.published, 0, "not before the backoff");
    h.mono += 100;
    cr_assert_eq(mqr_engine_process(e, 1100), MQR_OK);
    cr_assert_eq(h.published, 2);
    cr_assert_str_eq(h.last_payload, "b");
    cr_assert_eq(strlen(h.last_id), 18, "%s", h.last_id); /* 16 hex, '-', '2' */
    cr_assert_str_eq(h.last_id + 16, "-2");
    m = am(e, aid);
    cr_assert_eq(m.success, 2);
    cr_assert_eq(m.queuing, 0);
    mqr_queue_stats_t qs;
    cr_assert_eq(mqr_engine_action_queue_stats(e, aid, &qs), MQR_OK);
    cr_assert_eq(qs.acked, 2);
    cr_assert_str_eq(mqr_engine_action_queue_error(e, aid), "");
    mqr_engine_destroy(e);

    /* Nothing is left for a new engine. */
    e = engine_with(&h);
    aid = add_republish(e);
    persist(e, aid, dir);
    cr_assert_eq(am(e, aid).matched, 0);
    mqr_engine_destroy(e);
    rm_tree(dir);
}

Test(engine_queue, republish_replays_into_a_new_engine_with_the_same_id)
{
    char dir[] = "/tmp/mqr_eq_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    host_t h = {.online = 0, .mono = 0};
    mqr_engine_t *e = engine_with(&h);
    uint32_t aid = add_republish(e);
    persist(e, aid, dir);
    emit(e, "x");
    mqr_queue_stats_t qs;
    cr_assert_eq(mqr_engine_action_queue_stats(e, aid, &qs), MQR_OK);
    char id[MQR_QUEUE_ID_MAX];
    snprintf(id, sizeof id, "%016llx-1", (unsigned long long)qs.queue_id);
    mqr_engine_destroy(e); /* the host never took it */

    host_t h2 = {.online = 1, .mono = 0};
    e = engine_with(&h2);
    aid = add_republish(e);
    persist(e, aid, dir);
    mqr_action_metrics_t m = am(e, aid);
    cr_assert_eq(m.matched, 1, "a replayed record counts as matched");
    cr_assert_eq(m.queuing, 1);
    cr_assert_eq(mqr_engine_timeout(e, 0), 0);
    cr_assert_eq(mqr_engine_process(e, 0), MQR_OK);
    cr_assert_eq(h2.published, 1);
    cr_assert_str_eq(h2.last_payload, "x");
    cr_assert_str_eq(h2.last_id, id, "the identifier survives the restart");
    cr_assert_eq(am(e, aid).success, 1);
    mqr_engine_destroy(e);
    rm_tree(dir);
}

static int callback_ok(void *ud, const char *rule_id, const char *json, size_t json_len,
                       const mqr_value_t *output)
{
    return MQR_OK;
}

Test(engine_queue, persist_arguments)
{
    char dir[] = "/tmp/mqr_eq_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    mqr_engine_t *e = engine_with(NULL);
    uint32_t aid = add_republish(e);
    mqr_action_persist_config_t pc;
    mqr_action_persist_config_init(&pc);
    cr_assert_eq(mqr_engine_action_persist(e, aid, &pc, NULL), MQR_EINVAL); /* no dir */
    pc.queue.dir = dir;
    cr_assert_eq(mqr_engine_action_persist(NULL, aid, &pc, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_persist(e, 999, &pc, NULL), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_persist(e, aid, &pc, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_persist(e, aid, &pc, NULL), MQR_EEXIST);
    uint32_t cb = 0;
    cr_assert_eq(mqr_engine_action_add_callback(e, "r", callback_ok, NULL, &cb, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_persist(e, cb, &pc, NULL), MQR_ENOTSUP);
    mqr_queue_stats_t qs;
    cr_assert_eq(mqr_engine_action_queue_stats(e, cb, &qs), MQR_ENOTFOUND);
    pc.queue.dir = "/nonexistent/q";
    mqr_engine_rule_remove(e, "r");
    mqr_engine_destroy(e);
    rm_tree(dir);
}

/* A port on 127.0.0.1 where nothing listens. */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static uint32_t add_http(mqr_engine_t *e, uint16_t port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/in", port);
    mqr_http_action_config_t c;
    memset(&c, 0, sizeof c);
    mqr_http_config_init(&c.http);
    c.http.url = url;
    c.http.pool_size = 2;
    c.http.backoff_initial_ms = 10;
    c.http.backoff_max_ms = 50;
    uint32_t aid = 0;
    mqr_diag_t d;
    int rc = mqr_engine_action_add_http(e, "r", &c, &aid, &d);
    cr_assert_eq(rc, MQR_OK, "%s", d.message);
    return aid;
}

Test(engine_queue, http_records_outlive_a_down_service)
{
    char dir[] = "/tmp/mqr_eq_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    mqr_engine_t *e = engine_with(NULL);
    uint32_t aid = add_http(e, closed_port());
    persist(e, aid, dir);
    for (int i = 0; i < 5; i++)
        emit(e, "ev");
    for (int i = 0; i < 5; i++)
        mqr_engine_poll(e, 20);
    mqr_action_metrics_t m = am(e, aid);
    cr_assert_eq(m.matched, 5);
    cr_assert_eq(m.success, 0);
    cr_assert_leq(m.inflight + m.queuing, 5);
    mqr_engine_destroy(e); /* the records stay on disk */

    http_server_t srv = {.steps = HTTP_SERVER_FOREVER, .max_conns = 4};
    cr_assert_eq(http_server_start(&srv), 0);
    e = engine_with(NULL);
    aid = add_http(e, srv.port);
    persist(e, aid, dir);
    cr_assert_eq(am(e, aid).matched, 5);
    uint64_t start = mqr_http_now_ms();
    while (am(e, aid).success < 5 && mqr_http_now_ms() - start < 10000)
        mqr_engine_poll(e, 50);
    m = am(e, aid);
    cr_assert_eq(m.success, 5);
    mqr_engine_destroy(e);
    http_server_stop(&srv);
    cr_assert_eq(srv.rec.requests, 5);
    /* Five distinct identifiers <qid>-1 .. <qid>-5 (two connections: any order). */
    const char *p = srv.rec.got;
    int seen = 0;
    for (int i = 1; i <= 5; i++) {
        p = strstr(p, "Idempotency-Key: ");
        cr_assert_not_null(p, "request %d has no Idempotency-Key", i);
        p += 17;
        const char *dash = strchr(p, '-');
        cr_assert(dash && dash - p == 16);
        int seq = atoi(dash + 1);
        cr_assert(seq >= 1 && seq <= 5, "%d", seq);
        seen |= 1 << seq;
    }
    cr_assert_eq(seen, 0x3e);
    rm_tree(dir);
}

/* ---- custom actions (mqttrule/action.h) -------------------------------------------------- */

typedef struct sink {
    mqr_engine_t *e;
    uint32_t aid;
    int up;
    int submits;
    int delivered;
    char ids[8][MQR_QUEUE_ID_MAX];
    char data[8][32];
} sink_t;

static int sink_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                       mqr_diag_t *diag)
{
    sink_t *s = ud;
    s->submits++;
    if (!s->up)
        return MQR_ECONNECT;
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_not_null(items[i].id, "a persisted custom action's item has an id");
        cr_assert_eq(strlen(items[i].id), items[i].id_len);
        if (s->delivered < 8) {
            snprintf(s->ids[s->delivered], MQR_QUEUE_ID_MAX, "%s", items[i].id);
            snprintf(s->data[s->delivered], 32, "%.*s", (int)items[i].data_len,
                     (const char *)items[i].data);
        }
        s->delivered++;
        cr_assert_eq(mqr_engine_action_done(s->e, s->aid, items[i].ticket,
                                            MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                     MQR_OK);
    }
    return MQR_OK;
}

static uint32_t add_custom(mqr_engine_t *e, sink_t *s, const char *dir)
{
    static const mqr_action_ops_t ops = {.submit = sink_submit};
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.type = "fake";
    c.ops = &ops;
    c.ud = s;
    c.max_inflight = 4;
    c.backoff_initial_ms = 10;
    c.backoff_max_ms = 20;
    uint32_t aid = 0;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &c, &aid, NULL), MQR_OK);
    s->e = e;
    s->aid = aid;
    persist(e, aid, dir);
    return aid;
}

Test(engine_queue, custom_action_records_survive_the_engine)
{
    char dir[] = "/tmp/mqr_eq_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    sink_t s1 = {.up = 0};
    mqr_engine_t *e = engine_with(NULL);
    uint32_t aid = add_custom(e, &s1, dir);
    emit(e, "p1");
    emit(e, "p2");
    emit(e, "p3");
    for (int i = 0; i < 3; i++)
        mqr_engine_poll(e, 20);
    cr_assert_gt(s1.submits, 0);
    cr_assert_eq(s1.delivered, 0);
    mqr_queue_stats_t qs;
    cr_assert_eq(mqr_engine_action_queue_stats(e, aid, &qs), MQR_OK);
    cr_assert_eq(qs.records, 3);
    mqr_engine_destroy(e); /* ends the items as dropped (other): they stay on disk */

    sink_t s2 = {.up = 1};
    e = engine_with(NULL);
    aid = add_custom(e, &s2, dir);
    mqr_action_metrics_t m = am(e, aid);
    cr_assert_eq(m.matched, 3, "replayed records count as matched");
    uint64_t start = mqr_http_now_ms();
    while (s2.delivered < 3 && mqr_http_now_ms() - start < 5000)
        mqr_engine_poll(e, 10);
    cr_assert_eq(s2.delivered, 3);
    m = am(e, aid);
    cr_assert_eq(m.success, 3);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"payload\":\"p%d\"}", i + 1);
        cr_assert_str_eq(s2.data[i], want);
        char suffix[8];
        snprintf(suffix, sizeof suffix, "-%d", i + 1);
        cr_assert_str_eq(s2.ids[i] + 16, suffix, "%s", s2.ids[i]);
    }
    cr_assert_eq(mqr_engine_action_queue_stats(e, aid, &qs), MQR_OK);
    cr_assert_eq(qs.records, 0);
    mqr_engine_destroy(e);

    sink_t s3 = {.up = 1};
    e = engine_with(NULL);
    aid = add_custom(e, &s3, dir);
    cr_assert_eq(am(e, aid).matched, 0, "nothing left after the acknowledgements");
    mqr_engine_destroy(e);
    rm_tree(dir);
}
