/* SPDX-License-Identifier: MIT */
/*
 * test_engine_cause.c - loop protection at any depth (issue #14.1, #13.2): a
 * rule's republish action never publishes on a trigger its own output caused,
 * whether the trigger is the republished message itself, an event about it
 * (message.delivered, message.dropped) emitted inside the publish callback,
 * or one emitted later with the cause chain the callback handed over.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mqttrule.h"

/* A host: the publish callback "routes" each message to `subscribers`
 * sessions, emitting message.delivered for each (nested, as the broker does),
 * or message.dropped when there are none; it keeps the last cause chain. */
typedef struct host {
    mqr_engine_t *e;
    int subscribers;
    int calls;
    int nested_status;
    char cause[256];
    size_t cause_len;
} host_t;

static void emit_about(host_t *h, uint32_t event, const char *topic)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 1024, &a), MQR_OK);
    mqr_value_t cols, v;
    cr_assert_eq(mqr_value_object_new(a, 2, &cols), MQR_OK);
    mqr_value_set_string(&v, topic, strlen(topic));
    cr_assert_eq(mqr_value_object_append(a, &cols, "topic", 5, &v), MQR_OK);
    int rc = mqr_engine_emit_event_id(h->e, event, &cols, NULL, NULL);
    if (rc != MQR_OK)
        h->nested_status = rc;
    mqr_arena_destroy(a);
}

static int publish_cb(void *ud, const mqr_publish_msg_t *m)
{
    host_t *h = ud;
    char topic[128];
    h->calls++;
    snprintf(topic, sizeof topic, "%.*s", (int)m->topic_len, m->topic);
    cr_assert(m->cause != NULL && m->cause_len > 0, "a republished message has a cause");
    cr_assert_leq(m->cause_len, sizeof h->cause);
    memcpy(h->cause, m->cause, m->cause_len);
    h->cause_len = m->cause_len;
    if (h->subscribers == 0) {
        cr_assert_eq(mqr_engine_cause_set(h->e, m->cause, m->cause_len), MQR_OK);
        emit_about(h, MQR_EVENT_MESSAGE_DROPPED, topic);
    }
    for (int i = 0; i < h->subscribers; i++) {
        cr_assert_eq(mqr_engine_cause_set(h->e, m->cause, m->cause_len), MQR_OK);
        emit_about(h, MQR_EVENT_MESSAGE_DELIVERED, topic);
    }
    return MQR_OK;
}

static mqr_engine_t *engine_host(host_t *h)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.publish = publish_cb;
    o.publish_ud = h;
    cr_assert_eq(mqr_engine_create(&o, &h->e), MQR_OK);
    return h->e;
}

static void rule_republish(mqr_engine_t *e, const char *id, const char *sql, const char *topic,
                           uint32_t *out_aid)
{
    mqr_engine_rule_def_t d = {.id = id, .sql = sql, .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK);
    mqr_republish_config_t c = {.topic = topic};
    cr_assert_eq(mqr_engine_action_add_republish(e, id, &c, out_aid, NULL), MQR_OK);
}

static mqr_action_metrics_t action(const mqr_engine_t *e, uint32_t id)
{
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_engine_action_metrics(e, id, &m), MQR_OK);
    return m;
}

Test(engine_cause, delivered_events_of_a_rules_own_output_do_not_republish)
{
    host_t h = {.subscribers = 8};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aid;
    rule_republish(e, "audit", "SELECT clientid, topic FROM \"$events/message_delivered\"",
                   "audit/delivered", &aid);
    /* one delivery of a client's message: audit fires once; its output is
     * delivered to 8 sessions, and those 8 events are refused */
    emit_about(&h, MQR_EVENT_MESSAGE_DELIVERED, "t");
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.nested_status, MQR_OK);
    mqr_action_metrics_t m = action(e, aid);
    cr_assert_eq(m.refused_recursive, 8u);
    cr_assert_eq(m.success, 9u);
    mqr_engine_destroy(e);
}

Test(engine_cause, dropped_republish_to_nowhere_gives_one_copy)
{
    host_t h = {.subscribers = 0};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aid;
    rule_republish(e, "d", "SELECT topic FROM \"$events/message_dropped\"", "void/x", &aid);
    emit_about(&h, MQR_EVENT_MESSAGE_DROPPED, "nobody");
    cr_assert_eq(h.calls, 1, "one copy, not a chain %u deep", MQR_ENGINE_MAX_DEPTH);
    cr_assert_eq(action(e, aid).refused_recursive, 1u);
    mqr_engine_destroy(e);
}

Test(engine_cause, a_chain_through_another_rule_is_stopped_at_its_origin)
{
    /* a republishes to x, b (on x) republishes to y, and a listens to the
     * deliveries of y: a must not fire again, two levels down */
    host_t h = {.subscribers = 0};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aa, ab;
    rule_republish(e, "a", "SELECT topic FROM \"$events/message_dropped\"", "x", &aa);
    rule_republish(e, "b", "SELECT topic FROM \"$events/message_dropped\" WHERE topic <> 'start'",
                   "y", &ab);
    emit_about(&h, MQR_EVENT_MESSAGE_DROPPED, "start");
    /* start: a -> x; x dropped: a refused, b -> y; y dropped: both refused */
    cr_assert_eq(h.calls, 2);
    cr_assert_eq(action(e, aa).refused_recursive, 2u);
    cr_assert_eq(action(e, ab).refused_recursive, 1u);
    /* the chain of the last message names both rules */
    cr_assert_eq(h.cause_len, 4u);
    cr_assert_eq(memcmp(h.cause, "a\0b\0", 4), 0);
    mqr_engine_destroy(e);
}

Test(engine_cause, a_later_event_with_the_kept_cause_is_refused)
{
    host_t h = {.subscribers = 0};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aid;
    rule_republish(e, "r", "SELECT topic FROM \"$events/message_acked\"", "acks", &aid);
    h.subscribers = 1; /* the output goes to one session (delivered: no rule) */
    emit_about(&h, MQR_EVENT_MESSAGE_ACKED, "t");
    cr_assert_eq(h.calls, 1);
    char kept[256];
    size_t kept_len = h.cause_len;
    memcpy(kept, h.cause, kept_len);
    /* the subscriber's PUBACK comes later: outside every emit */
    cr_assert_eq(mqr_engine_cause_set(e, kept, kept_len), MQR_OK);
    emit_about(&h, MQR_EVENT_MESSAGE_ACKED, "acks");
    cr_assert_eq(h.calls, 1, "the ack of its own output is refused");
    cr_assert_eq(action(e, aid).refused_recursive, 1u);
    /* the cause was taken by that emit: the next one is a client's again */
    emit_about(&h, MQR_EVENT_MESSAGE_ACKED, "t");
    cr_assert_eq(h.calls, 2);
    mqr_engine_destroy(e);
}

Test(engine_cause, message_cause_field_is_honoured)
{
    host_t h = {.subscribers = 1};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aid;
    rule_republish(e, "m", "SELECT * FROM \"in/#\"", "in/again", &aid);
    mqr_engine_message_t msg = {.topic = "in/1", .topic_len = 4, .cause = "m", .cause_len = 2};
    cr_assert_eq(mqr_engine_emit_message(e, &msg, NULL, NULL), MQR_OK);
    cr_assert_eq(h.calls, 0);
    cr_assert_eq(action(e, aid).refused_recursive, 1u);
    msg.cause = "other";
    msg.cause_len = 6;
    cr_assert_eq(mqr_engine_emit_message(e, &msg, NULL, NULL), MQR_OK);
    cr_assert_eq(h.calls, 1);
    mqr_engine_destroy(e);
}

Test(engine_cause, cause_set_arguments)
{
    host_t h = {0};
    mqr_engine_t *e = engine_host(&h);
    cr_assert_eq(mqr_engine_cause_set(NULL, "a", 2), MQR_EINVAL);
    cr_assert_eq(mqr_engine_cause_set(e, NULL, 3), MQR_EINVAL);
    cr_assert_eq(mqr_engine_cause_set(e, NULL, 0), MQR_OK);
    mqr_engine_destroy(e);
}

Test(engine_cause, a_refused_emit_still_takes_the_cause)
{
    host_t h = {.subscribers = 1};
    mqr_engine_t *e = engine_host(&h);
    uint32_t aid;
    rule_republish(e, "r", "SELECT topic FROM \"$events/message_acked\"", "out", &aid);
    mqr_value_t not_object;
    mqr_value_set_int(&not_object, 1);
    cr_assert_eq(mqr_engine_cause_set(e, "r", 2), MQR_OK);
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_MESSAGE_ACKED, &not_object, NULL, NULL),
                 MQR_EINVAL);
    emit_about(&h, MQR_EVENT_MESSAGE_ACKED, "t"); /* a client's: no cause left over */
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(action(e, aid).refused_recursive, 0u);
    mqr_engine_destroy(e);
}
