/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/action.h - custom actions: a sink written outside the library
 * (SQLite, PostgreSQL, Kafka, a durable queue, ...) attached to a rule, with
 * the engine keeping for it what it keeps for its own HTTP action: a bounded
 * queue (messages and bytes), retries with exponential backoff, a TTL per
 * message, a time limit per attempt, batching, EMQX-named metrics (matched,
 * success, failed, dropped.queue_full, dropped.expired, dropped.other,
 * queuing, inflight, retried, late_reply) and the last error.
 *
 * How a message flows:
 *   1. The rule fires. The engine calls ops->render (optional) with the
 *      rule's output and the event's columns: the sink turns them into bytes
 *      (for example with the public template API, mqttrule/template.h) in the
 *      emit's arena. Without render the bytes are the output as compact JSON
 *      (D11). The engine copies the bytes into its queue, so a message never
 *      borrows from an emit once render has returned; that is what lets it
 *      be retried, batched and (branch queue) written to disk.
 *   2. When fewer than max_inflight messages are in flight, the engine hands
 *      up to batch_size queued messages to ops->submit in one call (it waits
 *      up to batch_time_ms for a batch to fill). submit returns MQR_OK (all
 *      accepted: each ends later through mqr_engine_action_done), MQR_EAGAIN
 *      (busy, none accepted: the engine keeps them queued and tries again
 *      after mqr_engine_action_ready or its backoff) or an error (the attempt
 *      failed for all of them: retried with backoff).
 *   3. The sink reports each message's end with mqr_engine_action_done:
 *      success, a retryable failure (retried with backoff until ttl_ms or
 *      max_attempts) or a permanent failure. A message whose attempt takes
 *      longer than request_timeout_ms is cancelled (ops->cancel) and retried;
 *      its late answer counts as late_reply. A message whose TTL passes ends
 *      as dropped (expired); a message that finds the queue full ends as
 *      dropped (queue full).
 *   4. Removing the action (or its rule, or destroying the engine) cancels
 *      what is in flight, ends the queue as dropped (other), then calls
 *      ops->destroy(ud). A call that fails never invokes a callback.
 *
 * A sink that waits on a descriptor (a libpq socket, librdkafka's queue
 * eventfd) registers it with mqr_engine_watch_fd: the engine forwards the
 * interest to the host's loop through the socket-state callback of
 * mqr_engine_options_t (or polls it in mqr_engine_poll) and calls the sink
 * back when it is ready. A sink that needs a timer asks for one with
 * mqr_engine_action_wakeup. The sink never owns a loop or a thread of the
 * host's (librdkafka's own threads aside).
 *
 * Threads: every function here, and every callback in mqr_action_ops_t, runs
 * on the thread that uses the engine. A sink with threads of its own (Kafka)
 * hands completions to that thread, for example through an eventfd it
 * watches with mqr_engine_watch_fd.
 */
#ifndef MQTTRULE_ACTION_H
#define MQTTRULE_ACTION_H

#include "common.h"
#include "engine.h"
#include "http.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* mqr_engine_action_done outcomes. */
#define MQR_ACTION_DONE_SUCCESS 0 /* stored / delivered */
#define MQR_ACTION_DONE_RETRY 1   /* failed, may succeed later: retried with backoff */
#define MQR_ACTION_DONE_FAILED 2  /* failed for good (bad data, refused): not retried */

/* Defaults that 0 stands for in mqr_custom_action_config_t (those of HTTP). */
#define MQR_ACTION_DEFAULT_QUEUE_COUNT 100000u
#define MQR_ACTION_DEFAULT_QUEUE_BYTES (64u * 1024u * 1024u)
#define MQR_ACTION_DEFAULT_TTL_MS 45000u
#define MQR_ACTION_DEFAULT_REQUEST_TIMEOUT_MS 15000u
#define MQR_ACTION_DEFAULT_BACKOFF_INITIAL_MS 100u
#define MQR_ACTION_DEFAULT_BACKOFF_MAX_MS 5000u
#define MQR_ACTION_DEFAULT_MAX_INFLIGHT 1u
#define MQR_ACTION_MAX_BATCH 10000u

/* ---- types ------------------------------------------------------------------ */

/*
 * One message of a custom action. Everything is borrowed for the duration of
 * the callback it is passed to.
 */
typedef struct mqr_action_item {
    uint64_t ticket;              /* unique in the engine, the same over retries:
                                     pass it to mqr_engine_action_done */
    uint32_t action_id;
    uint32_t attempt;             /* 0 in render; 1 for the first submit, 2.. retries */
    const char *rule_id;          /* the rule that fired (NUL-terminated) */
    size_t rule_id_len;
    const void *data;             /* submit: the bytes render produced (or the output
                                     as JSON), NUL-terminated after data_len bytes;
                                     render: NULL */
    size_t data_len;
    const mqr_value_t *output;    /* render: the rule's output (one FOREACH element);
                                     submit: NULL */
    const mqr_value_t *columns;   /* render: the event's or message's columns (for
                                     templates over the trigger); submit: NULL */
    int64_t fired_at_ms;          /* wall clock when the rule fired */
    uint64_t expire_at_ms;        /* monotonic clock: the end of its TTL */
} mqr_action_item_t;

/* What a custom action's sink does. Only submit is required. */
typedef struct mqr_action_ops {
    /* Turn one output into the bytes to queue. Allocate them in `arena` (the
     * emit's, reset after the emit) or return bytes that live until the call
     * returns; the engine copies them. Return MQR_OK, or an error (the message
     * counts as failed, with *diag's message as the action's last error).
     * NULL: the output as compact JSON. */
    int (*render)(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                  const void **out_data, size_t *out_len, mqr_diag_t *diag);
    /* Take `count` messages (1..batch_size) in one call. MQR_OK: all accepted,
     * each ends through mqr_engine_action_done (which may be called from
     * inside submit); MQR_EAGAIN: none accepted, try later; another status:
     * the attempt failed for all of them (retryable; *diag says why). */
    int (*submit)(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                  mqr_diag_t *diag);
    /* Forget an accepted message whose attempt the engine gave up on (attempt
     * timeout, TTL, action removed). A later mqr_engine_action_done for its
     * ticket counts as late_reply. NULL: nothing to do. */
    void (*cancel)(void *ud, uint64_t ticket);
    /* The time asked for with mqr_engine_action_wakeup has come. NULL: none. */
    void (*wakeup)(void *ud, uint64_t now_ms);
    /* The connector test (--test-connectors, D12): check the target is
     * reachable, blocking for at most about timeout_ms; fill *out (step and
     * http_status may stay 0) and return out->status. NULL: MQR_ENOTSUP. */
    int (*test)(void *ud, uint32_t timeout_ms, mqr_http_test_result_t *out);
    /* The action is being removed and nothing is in flight any more: free ud.
     * NULL: the caller keeps ud. */
    void (*destroy)(void *ud);
} mqr_action_ops_t;

/* A custom action. Numbers left at 0 take the defaults above. */
typedef struct mqr_custom_action_config {
    const char *type;             /* required: "sqlite", "pgsql", "kafka"... the
                                     metrics JSON "type"; copied */
    const mqr_action_ops_t *ops;  /* copied */
    void *ud;                     /* the sink; passed to every op */
    uint32_t max_queue_count;     /* messages held (queued + in flight) */
    uint32_t max_inflight;        /* messages submitted and not yet done; default 1 */
    uint64_t max_queue_bytes;     /* rendered bytes held (queued + in flight) */
    uint32_t ttl_ms;              /* a message's whole life, retries included */
    uint32_t request_timeout_ms;  /* one attempt: submit to done */
    uint32_t backoff_initial_ms;  /* first pause after a failed attempt */
    uint32_t backoff_max_ms;      /* the pause doubles up to this */
    uint32_t max_attempts;        /* 0: unlimited (until the TTL) */
    uint32_t batch_size;          /* messages per submit, 1..MQR_ACTION_MAX_BATCH; 0: 1 */
    uint32_t batch_time_ms;       /* wait this long for a batch to fill; 0: no wait */
    uint32_t reserved_;
} mqr_custom_action_config_t;

/* A watched descriptor became ready: `events` is a mix of MQR_ENGINE_READ and
 * MQR_ENGINE_WRITE (errors and hang-ups count as both). */
typedef void (*mqr_engine_fd_fn)(void *ud, int fd, uint32_t events, uint64_t now_ms);

/* ---- custom actions ----------------------------------------------------------- */

/** Fill *cfg with zeros (every number at its default) and NULL pointers.
 *  NULL is ignored. Thread-safe. */
MQR_API void mqr_custom_action_config_init(mqr_custom_action_config_t *cfg);

/**
 * Attach a custom action to rule `rule_id`. *out_action_id (may be NULL)
 * receives its id. From now on the engine owns cfg->ud until it calls
 * ops->destroy (when the action, its rule or the engine goes); on failure
 * nothing is called and the caller still owns ud.
 * Returns MQR_OK; MQR_EINVAL (NULL engine, rule_id, cfg, cfg->ops, ops->submit
 * or type, empty type, batch_size above MQR_ACTION_MAX_BATCH); MQR_ENOTFOUND
 * (no such rule); MQR_ESTATE (from a callback); MQR_ENOMEM. *diag says why.
 */
MQR_API int mqr_engine_action_add_custom(mqr_engine_t *engine, const char *rule_id,
                                         const mqr_custom_action_config_t *cfg,
                                         uint32_t *out_action_id, mqr_diag_t *diag);

/**
 * End one submitted message. outcome is MQR_ACTION_DONE_SUCCESS, _RETRY or
 * _FAILED; status (an MQR_E* code, MQR_OK on success) and error_text (may be
 * NULL; copied) become the action's last error on a failure. May be called
 * from inside ops->submit or from a watched descriptor's callback.
 * Returns MQR_OK; MQR_ENOTFOUND (no such custom action, or the ticket is not
 * in flight: it was cancelled or already ended; counted as late_reply);
 * MQR_EINVAL (NULL engine, outcome out of range).
 */
MQR_API int mqr_engine_action_done(mqr_engine_t *engine, uint32_t action_id, uint64_t ticket,
                                   int32_t outcome, int32_t status, const char *error_text);

/**
 * The sink can take messages again after answering MQR_EAGAIN: the engine
 * submits queued messages at its next mqr_engine_process (it asks the host
 * for a timer of 0 ms). MQR_OK, MQR_EINVAL (NULL), MQR_ENOTFOUND.
 */
MQR_API int mqr_engine_action_ready(mqr_engine_t *engine, uint32_t action_id);

/**
 * Call ops->wakeup of custom action `action_id` once, delay_ms from now
 * (monotonic clock); a later call replaces the time; delay_ms < 0 cancels.
 * The host's timer callback hears of the new next timeout.
 * MQR_OK, MQR_EINVAL (NULL), MQR_ENOTFOUND (no such custom action).
 */
MQR_API int mqr_engine_action_wakeup(mqr_engine_t *engine, uint32_t action_id,
                                     int64_t delay_ms);

/* ---- descriptors of sinks ------------------------------------------------------- */

/**
 * Watch descriptor `fd` for `events` (MQR_ENGINE_READ | MQR_ENGINE_WRITE, 0:
 * registered but no interest) and call fn(ud, fd, ready, now) when it is
 * ready. Calling it again for the same fd changes the interest (and fn, ud).
 * The engine forwards the interest to the host (socket-state callback) or
 * polls it in mqr_engine_poll; mqr_engine_fd_ready dispatches to fn.
 * The caller keeps owning fd and must unwatch it before closing it.
 * Returns MQR_OK; MQR_EINVAL (NULL engine or fn, fd < 0, unknown event
 * bits); MQR_EEXIST (fd is one of the engine's own HTTP descriptors);
 * MQR_ENOMEM.
 */
MQR_API int mqr_engine_watch_fd(mqr_engine_t *engine, int fd, uint32_t events,
                                mqr_engine_fd_fn fn, void *ud);

/** Stop watching fd (the host hears events 0). MQR_OK, MQR_EINVAL (NULL
 *  engine), MQR_ENOTFOUND (not watched). */
MQR_API int mqr_engine_unwatch_fd(mqr_engine_t *engine, int fd);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_ACTION_H */
