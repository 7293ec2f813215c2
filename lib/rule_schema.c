/* SPDX-License-Identifier: MIT */
/*
 * rule_schema.c - the compiler's seam to the event schemas (module `event`,
 * spec §2, §4, §5) and to MQTT topic-filter matching (module `packet`).
 *
 * The compiler needs two facts about every FROM entry: which events it
 * covers (an "$events/..." entry is a filter over the event topics, legacy
 * and new, D5; one that covers none is a compile error, D8; a topic filter
 * covers message.publish), and where each field sits in those events'
 * columns, so that a name is resolved at compile time to its index in the
 * columns object the event builder produces in schema order (D3). The
 * evaluator checks every resolved index against the key it expects, so
 * columns built in another order are still read correctly, only slower.
 */
#include "mqttrule/event.h"
#include "mqttrule/packet.h"
#include "rule_int.h"

int mqr__rule_source_covers(const mqr__rsource_t *s, const mqr_event_schema_t *e)
{
    if (s->kind == MQR_RULE_SRC_TOPIC)
        return e->id == MQR_EVENT_MESSAGE_PUBLISH;
    if (s->kind == MQR_RULE_SRC_EVENT)
        return mqr_event_filter_matches(s->s, s->len, e);
    return 0;
}

int mqr__rule_events_known(const char *f, size_t len)
{
    for (uint32_t i = 0; i < mqr_event_count(); i++)
        if (mqr_event_filter_matches(f, len, mqr_event_at(i)))
            return 1;
    return 0;
}

int mqr__rule_topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
    return mqr_topic_match(f, flen, t, tlen);
}

int mqr__rule_filter_valid(const char *f, size_t flen)
{
    return mqr_topic_validate_filter(f, flen, NULL) == MQR_OK;
}
