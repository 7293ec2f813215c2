/*
 * Tests of the engine's listener queries (mqr_engine_event_listened,
 * mqr_engine_topic_listened): the answer follows rules being added, disabled,
 * re-enabled, updated and removed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <mqttrule.h>

static mqr_engine_t *listen_engine(void)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    return e;
}

static void listen_add(mqr_engine_t *e, const char *id, const char *sql)
{
    mqr_engine_rule_def_t d = {.id = id, .sql = sql, .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK, "%s", id);
}

static uint32_t topic_listened(mqr_engine_t *e, const char *topic)
{
    uint32_t l = 7;
    cr_assert_eq(mqr_engine_topic_listened(e, topic, strlen(topic), &l), MQR_OK);
    return l;
}

Test(engine_listen, event_follows_rule_lifecycle)
{
    mqr_engine_t *e = listen_engine();
    uint32_t connack = MQR_EVENT_CLIENT_CONNACK;
    cr_assert_eq(mqr_engine_event_listened(e, connack), 0u);
    listen_add(e, "c", "SELECT clientid FROM \"$events/client_connack\"");
    cr_assert_eq(mqr_engine_event_listened(e, connack), 1u);
    cr_assert_eq(mqr_engine_event_listened(e, mqr_event_find("client.connected", 16)->id), 0u);
    cr_assert_eq(mqr_engine_rule_enable(e, "c", 0), MQR_OK);
    cr_assert_eq(mqr_engine_event_listened(e, connack), 0u, "a disabled rule does not listen");
    cr_assert_eq(mqr_engine_rule_enable(e, "c", 1), MQR_OK);
    cr_assert_eq(mqr_engine_event_listened(e, connack), 1u);
    mqr_engine_rule_def_t up = {.id = "c", .sql = "SELECT topic FROM \"a/#\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_update(e, &up, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_event_listened(e, connack), 0u, "the update dropped the event");
    listen_add(e, "all", "SELECT * FROM \"$events/#\"");
    cr_assert_eq(mqr_engine_event_listened(e, connack), 1u);
    cr_assert_eq(mqr_engine_rule_remove(e, "all"), MQR_OK);
    cr_assert_eq(mqr_engine_event_listened(e, connack), 0u);
    cr_assert_eq(mqr_engine_event_listened(e, MQR_EVENT_COUNT), 0u);
    cr_assert_eq(mqr_engine_event_listened(NULL, connack), 0u);
    mqr_engine_destroy(e);
}

Test(engine_listen, topic_follows_rule_lifecycle)
{
    mqr_engine_t *e = listen_engine();
    cr_assert_eq(topic_listened(e, "a/b"), 0u);
    listen_add(e, "m", "SELECT topic FROM \"a/+\"");
    cr_assert_eq(topic_listened(e, "a/b"), 1u);
    cr_assert_eq(topic_listened(e, "b/b"), 0u);
    cr_assert_eq(topic_listened(e, "a/b/c"), 0u);
    cr_assert_eq(mqr_engine_rule_enable(e, "m", 0), MQR_OK);
    cr_assert_eq(topic_listened(e, "a/b"), 0u, "a disabled rule does not listen");
    cr_assert_eq(mqr_engine_rule_enable(e, "m", 1), MQR_OK);
    cr_assert_eq(topic_listened(e, "a/b"), 1u);
    listen_add(e, "ev", "SELECT * FROM \"$events/client_connack\"");
    cr_assert_eq(topic_listened(e, "x"), 0u, "event rules are not topic listeners");
    cr_assert_eq(mqr_engine_rule_remove(e, "m"), MQR_OK);
    cr_assert_eq(topic_listened(e, "a/b"), 0u);
    uint32_t l = 7;
    cr_assert_eq(mqr_engine_topic_listened(e, NULL, 0, &l), MQR_EINVAL);
    cr_assert_eq(l, 0u);
    cr_assert_eq(mqr_engine_topic_listened(e, "a", 1, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_topic_listened(NULL, "a", 1, &l), MQR_EINVAL);
    mqr_engine_destroy(e);
}
