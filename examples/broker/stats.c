/* SPDX-License-Identifier: MIT */
/*
 * stats.c - mqttrule-broker's counters: what was accepted, delivered,
 * refused and dropped since start-up, so that every message a client
 * published can be accounted for.
 *
 * The protocol code increments the counters of brk_stats_t directly; the
 * drop counters are kept here, fed by brk_ev_msg (events.c) with each
 * message event and its reason, so no drop path can miss them. The counters
 * are written as one "stats ..." log line on SIGUSR1 (the loop acts on the
 * flag between rounds) and at shutdown; docs/broker.md lists the fields.
 */
#include <inttypes.h>
#include <string.h>

#include "broker.h"

/* Count one message event: message.delivered / message.acked /
 * message.dropped / delivery.dropped with its `reason` (NULL for the first
 * two). */
void brk_stats_msg(broker_t *b, int event, const char *reason)
{
    brk_stats_t *st = &b->stats;
    if (event == MQR_EVENT_MESSAGE_DELIVERED)
        st->delivered++;
    else if (event == MQR_EVENT_MESSAGE_ACKED)
        st->acked++;
    else if (event == MQR_EVENT_MESSAGE_DROPPED)
        st->dropped_no_subscribers++;
    else if (event != MQR_EVENT_DELIVERY_DROPPED || reason == NULL)
        return;
    else if (!strcmp(reason, "queue_full"))
        st->dropped_queue_full++;
    else if (!strcmp(reason, "qos0_msg"))
        st->dropped_qos0_offline++;
    else if (!strcmp(reason, "too_large"))
        st->dropped_too_large++;
    else if (!strcmp(reason, "no_local"))
        st->dropped_no_local++;
    else
        st->dropped_other++;
}

/* The number of levels of a topic name or filter: one more than its '/'. */
uint32_t brk_topic_levels(const char *topic, size_t len)
{
    uint32_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += topic[i] == '/';
    return n;
}

/* Log the counters and the current totals of queued and in-flight messages
 * as one line (level 0: always printed). */
void brk_stats_log(broker_t *b)
{
    const brk_stats_t *st = &b->stats;
    uint64_t queued = 0, queued_bytes = 0, inflight = 0;
    for (size_t i = 0; i < b->stab_size; i++) {
        for (const brk_session_t *s = b->stab[i]; s != NULL; s = s->hnext) {
            queued += s->nqueue;
            queued_bytes += s->queue_bytes;
            inflight += s->ninfl;
        }
    }
    mqr_action_metrics_t h;
    brk_events_http_totals(b, &h);
    char xport[1400]; /* TLS and WebSocket counters (listener.c) */
    brk_xport_stats_text(b, xport, sizeof xport);
    brk_log(b, 0,
            "stats connections=%zu connected=%zu sessions=%zu accepted=%" PRIu64
            " connect_timeouts=%" PRIu64 " refused.max_connections=%" PRIu64
            " refused.max_sessions=%" PRIu64 " received=%" PRIu64 " delivered=%" PRIu64 " acked=%" PRIu64 " queued=%" PRIu64
            " queued_bytes=%" PRIu64 " inflight=%" PRIu64
            " message.dropped.no_subscribers=%" PRIu64
            " delivery.dropped.queue_full=%" PRIu64 " delivery.dropped.qos0_msg=%" PRIu64
            " delivery.dropped.too_large=%" PRIu64 " delivery.dropped.no_local=%" PRIu64
            " delivery.dropped.other=%" PRIu64 " refused.topic_levels=%" PRIu64
            " refused.subscriptions=%" PRIu64 " http.matched=%" PRIu64
            " http.success=%" PRIu64 " http.failed=%" PRIu64
            " http.dropped.queue_full=%" PRIu64 " http.dropped.expired=%" PRIu64
            " http.dropped.other=%" PRIu64 " http.queuing=%" PRIu64 " http.inflight=%" PRIu64
            " http.timeouts=%" PRIu64 " refused.cascade=%" PRIu64
            " retained=%zu retained_bytes=%zu refused.retained=%" PRIu64
            " refused.session_owner=%" PRIu64 " session_owner.fresh=%" PRIu64
            " accept.paused=%" PRIu64 "%s",
            b->nconns, b->nconnected, b->nsessions, st->conns_accepted, st->connect_timeouts,
            st->refused_max_connections, st->refused_max_sessions, st->msgs_received, st->delivered, st->acked, queued,
            queued_bytes, inflight, st->dropped_no_subscribers, st->dropped_queue_full,
            st->dropped_qos0_offline, st->dropped_too_large, st->dropped_no_local,
            st->dropped_other, st->refused_topic_levels, st->refused_subscriptions, h.matched,
            h.success, h.failed, h.dropped_queue_full, h.dropped_expired, h.dropped_other,
            h.queuing, h.inflight, h.timeouts, st->refused_cascade, b->retained.count,
            b->retained.bytes, st->refused_retained, st->refused_session_owner,
            st->session_owner_fresh, st->accept_paused, xport);
    char jr[200]; /* persistence: the journal's counters (journal.c) */
    if (brk_journal_stats(b, jr, sizeof jr) > 0)
        brk_log(b, 0, "stats persistence %s", jr);
    brk_sinks_log_stats(b);
}
