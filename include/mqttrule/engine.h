/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/engine.h - the rule engine: a set of rules with their actions,
 * fed with events and published messages, keeping metrics per rule and per
 * action (spec §9, §10, §1.1, §6.9).
 *
 * An engine holds rules (id, SQL, enabled flag, description). Each rule owns
 * its actions: republish (the host's publish callback receives the rendered
 * message), HTTP (a non-blocking client of mqttrule/http.h per action) and
 * callback (a C function receives the output as JSON text and as a value).
 *
 * mqr_engine_emit_event(), mqr_engine_emit_event_id(), mqr_engine_emit_connack(),
 * mqr_engine_emit_input() and mqr_engine_emit_message() find the rules whose FROM matches through an
 * index (a table per event for "$events/..." entries, a topic trie for MQTT
 * topic filters), so an emit that matches nothing costs one lookup whatever
 * the number of rules. A rule that lists several matching sources fires once.
 * The engine adds the columns `timestamp` and `node` (when the event lacks
 * them) and `metadata` {"rule_id": id} (spec §1.1), evaluates the rule and
 * runs its actions on the output (for FOREACH, on every element).
 *
 * The library never blocks: HTTP actions expose their descriptors and the
 * next timeout through mqr_engine_fds() and mqr_engine_timeout(); the host
 * reports readiness with mqr_engine_fd_ready() and runs timers with
 * mqr_engine_process() (or calls mqr_engine_poll() in tools and tests).
 *
 * Lifecycle:
 *   1. mqr_engine_options_init, set the fields you need, mqr_engine_create.
 *   2. mqr_engine_rule_add; mqr_engine_action_add_* for each action.
 *   3. mqr_engine_emit_* per event or message; drive HTTP from the host loop.
 *   4. Rules may be updated, enabled, disabled and removed at any time
 *      except from inside a callback that the engine is running.
 *   5. mqr_engine_destroy: pending HTTP messages end as dropped (other).
 *
 * Memory: an emit allocates its columns, outputs and rendered templates from
 * an arena per engine that is reset at the start of the next emit, so once it
 * is warm an emit makes no heap allocation (the HTTP client copies each
 * request it queues). Threads: an engine is used by one thread at a time;
 * different engines are independent.
 */
#ifndef MQTTRULE_ENGINE_H
#define MQTTRULE_ENGINE_H

#include "common.h"
#include "event.h"
#include "http.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* mqr_engine_options_t.flags */
#define MQR_ENGINE_UNDEFINED_AS_NULL 0x01u /* D4: undefined renders as JSON null */

/* mqr_engine_options_t.local_offset_s: take the process's UTC offset (the TZ
 * environment, via localtime_r) once, when the engine is created. */
#define MQR_ENGINE_LOCAL_OFFSET_PROCESS INT32_MIN

/* The interval of the rate metrics' samples (EMQX's ?SAMPLING, 10 s) and
 * how many samples matched_rate_last5m averages (EMQX's ?SAMPCOUNT_5M). */
#define MQR_ENGINE_RATE_INTERVAL_MS 10000
#define MQR_ENGINE_RATE_SAMPLES 30u
/* The most fallback actions one action may name. */
#define MQR_ENGINE_MAX_FALLBACKS 16u

/* The node name used when mqr_engine_options_t.node is NULL. */
#define MQR_ENGINE_DEFAULT_NODE "mqttrule@127.0.0.1"
/* How deeply emits may nest (an action's callback emitting again). */
#define MQR_ENGINE_MAX_DEPTH 8u

/* Action kinds (mqr_action_metrics_t.kind). */
#define MQR_ACTION_REPUBLISH 1
#define MQR_ACTION_HTTP 2
#define MQR_ACTION_CALLBACK 3
#define MQR_ACTION_CUSTOM 4       /* mqttrule/action.h */

/* Descriptor interest and readiness (same bits as MQR_HTTP_READ / _WRITE). */
#define MQR_ENGINE_READ 1u
#define MQR_ENGINE_WRITE 2u

/* ---- types ------------------------------------------------------------------ */
typedef struct mqr_engine mqr_engine_t;

/* A clock in milliseconds; `ud` first. */
typedef int64_t (*mqr_engine_clock_fn)(void *ud);

/* A user property of a republished message (key and value, not
 * NUL-terminated). */
typedef struct mqr_user_property {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} mqr_user_property_t;

/*
 * A message a republish action asks the host to publish. Everything is
 * borrowed for the duration of the publish callback only. An absent property
 * has a NULL pointer (strings) or -1 (integers).
 */
typedef struct mqr_publish_msg {
    const char *rule_id;          /* the republishing rule: the message's republish_by */
    const char *topic;
    size_t topic_len;
    const char *payload;
    size_t payload_len;
    int32_t qos;                  /* 0..2 */
    int32_t retain;               /* 0 or 1 */
    int32_t direct_dispatch;      /* 1: deliver to subscribers without running rules */
    uint32_t user_property_count;
    const mqr_user_property_t *user_properties;
    int64_t payload_format_indicator; /* 0, 1, or -1 when absent */
    int64_t message_expiry_interval;  /* seconds, or -1 when absent */
    const char *content_type;     /* NULL when absent */
    size_t content_type_len;
    const char *response_topic;   /* NULL when absent */
    size_t response_topic_len;
    const char *correlation_data; /* NULL when absent */
    size_t correlation_data_len;
    /* Appended: the message's cause chain, opaque bytes (cause_len of them,
     * NUL bytes inside): the rules whose output it derives from, at any
     * depth, this one included. A host that routes the message later (a
     * queue, an offline session) or reports events about it (delivered,
     * acked, dropped) keeps a copy and hands it back in
     * mqr_engine_message_t.cause or mqr_engine_cause_set(), so that no rule
     * of the chain republishes again (loop protection at any depth). */
    const char *cause;
    size_t cause_len;
    /* Appended: the id of the republish action that made the message (as
     * mqr_engine_action_add_republish returned it), so a host with several
     * republish actions can route each one's messages its own way. */
    uint32_t action_id;
    uint32_t reserved_;
} mqr_publish_msg_t;

/* The host's publisher: return MQR_OK when the message was accepted (counted
 * as the action's success), any other status counts as failed. The host may
 * feed the message back into the engine with mqr_engine_emit_message()
 * (setting republish_by to msg->rule_id) unless msg->direct_dispatch is 1. */
typedef int (*mqr_engine_publish_fn)(void *ud, const mqr_publish_msg_t *msg);

/* A callback action: receives the rule id, the output as compact JSON (json
 * is NUL-terminated, json_len bytes) and as a value. All are borrowed for the
 * duration of the call. Return MQR_OK for success, anything else counts as
 * failed. It may call mqr_engine_emit_* (nesting up to MQR_ENGINE_MAX_DEPTH)
 * but not change rules or actions. */
typedef int (*mqr_engine_callback_fn)(void *ud, const char *rule_id, const char *json,
                                      size_t json_len, const mqr_value_t *output);

/*
 * The host loop, c-ares / libcurl-multi style. The engine calls
 * sock_fn(ud, fd, events) when it starts waiting on a descriptor or its
 * interest changes (events: MQR_ENGINE_READ | MQR_ENGINE_WRITE) and with
 * events 0 when it stops (the descriptor may be closed right after the call
 * returns: remove it from the host's set now). It calls timer_fn(ud,
 * timeout_ms) when the time until mqr_engine_process is due changes:
 * timeout_ms >= 0 means "call mqr_engine_process in that many ms" (0: at
 * once, from the loop, not from inside the callback), -1 means "no timer".
 * The host reports readiness with mqr_engine_fd_ready and expiry with
 * mqr_engine_process. Neither callback may call back into the engine.
 */
typedef void (*mqr_engine_sock_fn)(void *ud, int fd, uint32_t events);
typedef void (*mqr_engine_timer_fn)(void *ud, int64_t timeout_ms);

/*
 * The last error of a rule or an action: what failed, where and when.
 * status MQR_OK (and count 0) when there was none yet.
 */
typedef struct mqr_engine_error {
    int32_t status;               /* MQR_E* of the failure */
    uint32_t action_id;           /* 0 for a rule's error */
    uint32_t line;                /* SQL position of a rule error, 0: none */
    uint32_t column;
    uint64_t offset;
    int64_t time_ms;              /* wall clock (the engine's clock) */
    uint64_t count;               /* errors recorded so far */
    char message[MQR_DIAG_MESSAGE_MAX];
} mqr_engine_error_t;

/* Told of each rule or action error as it is recorded: rule_id (borrowed for
 * the call) and *err. It may read the engine but not change or emit. */
typedef void (*mqr_engine_error_fn)(void *ud, const char *rule_id,
                                    const mqr_engine_error_t *err);

/* Engine options: call mqr_engine_options_init first. */
typedef struct mqr_engine_options {
    mqr_allocator_t alloc;        /* every allocation of the engine; fn NULL: libc */
    int32_t names;                /* MQR_NAMES_DOC (default) or MQR_NAMES_EMQX (D1) */
    uint32_t flags;               /* MQR_ENGINE_* */
    const char *node;             /* the `node` column; copied; NULL: MQR_ENGINE_DEFAULT_NODE */
    mqr_engine_clock_fn clock;    /* wall clock (ms since the epoch) for `timestamp`
                                     and the rules' time functions; NULL: the system's */
    void *clock_ud;
    mqr_engine_clock_fn mono_clock; /* monotonic ms for HTTP submits; NULL: mqr_http_now_ms */
    void *mono_clock_ud;
    mqr_engine_publish_fn publish; /* the republish actions' publisher; NULL: they fail */
    void *publish_ud;
    /* Appended fields: the offsets of the fields above are unchanged. */
    int32_t local_offset_s;       /* UTC offset (seconds, -86399..86399) of the rules'
                                     'local' date functions, or
                                     MQR_ENGINE_LOCAL_OFFSET_PROCESS (the default of
                                     mqr_engine_options_init); a zeroed struct: UTC */
    uint32_t max_depth;           /* every rule's mqr_rule_options_t limits; 0: default */
    uint64_t rng_seed;            /* mqr_rule_options_t.rng_seed of every rule: 0 (the
                                     default) seeds each evaluation scratch at random;
                                     non-zero gives reproducible random()/uuid_v4() */
    uint64_t max_steps;
    uint64_t max_output;
    uint32_t max_sql_len;
    uint32_t reserved_;
    /* Appended: the host loop callbacks (NULL: the host uses mqr_engine_poll
     * or the mqr_engine_fds snapshot) and the error callback (NULL: none). */
    mqr_engine_sock_fn sock_fn;
    void *sock_ud;
    mqr_engine_timer_fn timer_fn;
    void *timer_ud;
    mqr_engine_error_fn error_fn;
    void *error_ud;
} mqr_engine_options_t;

/* A rule's definition. Strings are NUL-terminated and copied. */
typedef struct mqr_engine_rule_def {
    const char *id;               /* required, non-empty, unique in the engine */
    const char *sql;              /* required */
    const char *description;      /* NULL: "" */
    uint32_t enabled;             /* 1: runs; 0: kept but never matched */
    uint32_t reserved_;
} mqr_engine_rule_def_t;

/*
 * A republish action (spec §9.1). Every field is a template (mqttrule's
 * `${...}` syntax) and copied. NULL means the default:
 *   topic            required;
 *   payload          NULL or "": the whole output as JSON (${.}, decision D11);
 *   qos              "0".."2" or one placeholder; NULL or missing value: 0;
 *   retain           "true"/"false" or one placeholder; NULL or missing: false;
 *   user_properties  one placeholder resolving to an object of string values
 *                    (or an array of {"key": k, "value": v}); NULL: none;
 *   payload_format_indicator, message_expiry_interval
 *                    templates that must render to integers (0..1 and
 *                    0..4294967295, the range MQTT carries), else the
 *                    property is left out (-1); NULL: absent;
 *   content_type, response_topic, correlation_data
 *                    templates; NULL: absent;
 *   direct_dispatch  "true"/"false" or one placeholder; a value other than
 *                    true gives false. NULL: false.
 * Appended fields (a zeroed tail means none):
 *   fixed_user_properties  fixed_user_property_count pairs of plain text
 *                    (not templates), copied, sent after those of
 *                    user_properties.
 */
typedef struct mqr_republish_config {
    const char *topic;
    const char *payload;
    const char *qos;
    const char *retain;
    const char *user_properties;
    const char *payload_format_indicator;
    const char *message_expiry_interval;
    const char *content_type;
    const char *response_topic;
    const char *correlation_data;
    const char *direct_dispatch;
    uint32_t fixed_user_property_count;
    uint32_t reserved_;
    const mqr_user_property_t *fixed_user_properties;
} mqr_republish_config_t;

/*
 * An HTTP action (spec §9.2). `http` is the connector: its url, method,
 * headers (fixed text sent with every request; none configured means EMQX's
 * defaults: accept and content-type application/json, cache-control
 * no-cache, connection keep-alive, keep-alive timeout=5), queue, timeouts, TTL,
 * backoff, pool and TLS fields are used as mqttrule/http.h documents them;
 * its allocator, on_done and ud are replaced by the engine's. The templates
 * are copied:
 *   path     joined to the URL's path with one '/'; NULL: none;
 *   method   0: the connector's;
 *   headers  name and value templates, replacing connector headers of the
 *            same name; a rendered header whose name or value contains CR,
 *            LF or NUL is refused (left out, counted in headers_refused);
 *   body     NULL: the whole output as JSON (${.}). GET and DELETE send none.
 */
typedef struct mqr_http_action_config {
    mqr_http_config_t http;
    const char *path;
    int32_t method;
    uint32_t header_count;
    const mqr_http_header_t *headers; /* NUL-free templates, length-counted */
    const char *body;
} mqr_http_action_config_t;

/* Per-rule metrics (spec §10.1). Between calls:
 *   matched = passed + failed, failed = failed_exception + failed_no_result,
 *   actions_total = actions_success + actions_failed + actions_discarded
 *                   + HTTP and custom messages pending,
 *   actions_failed >= actions_failed_out_of_service + actions_failed_unknown. */
typedef struct mqr_rule_metrics {
    uint64_t matched;
    uint64_t passed;
    uint64_t failed;
    uint64_t failed_exception;
    uint64_t failed_no_result;
    uint64_t actions_total;
    uint64_t actions_success;
    uint64_t actions_failed;
    uint64_t actions_failed_out_of_service; /* HTTP dropped: queue full, expired, stopped */
    uint64_t actions_failed_unknown;        /* every other failure */
    /* Appended. */
    uint64_t actions_discarded;   /* invocations of a disabled action
                                     (mqr_engine_action_enable): not run */
    /* EMQX's rates of `matched` (emqx_metrics_worker): the engine samples
     * the counter every MQR_ENGINE_RATE_INTERVAL_MS of its wall clock
     * (mqr_engine_options_t.clock), from the emits and the host's
     * mqr_engine_process / mqr_engine_fd_ready calls, and brings the
     * samples up to date when the metrics are read. Matches per second,
     * rounded to 2 decimals as EMQX does:
     *   matched_rate         over the last complete interval;
     *   matched_rate_max     the largest matched_rate since the rule was
     *                        added or its metrics reset;
     *   matched_rate_last5m  the mean of the last 30 interval rates (of
     *                        the samples taken so far, when fewer). */
    double matched_rate;
    double matched_rate_max;
    double matched_rate_last5m;
} mqr_rule_metrics_t;

/* Per-action metrics (spec §10.2). Between calls:
 *   matched = success + failed + dropped + queuing + inflight,
 *   dropped = dropped_expired + dropped_queue_full + dropped_other. */
typedef struct mqr_action_metrics {
    int32_t kind;                 /* MQR_ACTION_* */
    uint32_t reserved_;
    uint64_t matched;             /* invocations */
    uint64_t success;
    uint64_t failed;              /* rendering errors, publisher/callback errors,
                                     HTTP non-retryable statuses */
    uint64_t dropped;
    uint64_t dropped_expired;
    uint64_t dropped_queue_full;
    uint64_t dropped_other;       /* the client was stopped with messages pending */
    uint64_t queuing;             /* HTTP: waiting for a connection or a retry */
    uint64_t inflight;            /* HTTP: sent, awaiting the response */
    uint64_t retried;             /* HTTP: attempts after the first */
    uint64_t timeouts;            /* HTTP: attempts ended by a timeout */
    uint64_t refused_recursive;   /* republish: refused its own republished message */
    uint64_t headers_refused;     /* HTTP: headers left out for CR, LF or NUL */
    /* Appended. */
    uint64_t late_reply;          /* HTTP, custom: answers after the engine gave up */
    /* Appended. */
    uint64_t queuing_bytes;       /* HTTP: request bytes held (queued and in flight) */
    uint64_t retried_success;     /* HTTP, custom: messages that succeeded after a retry */
    uint64_t retried_failed;      /* HTTP, custom: messages that failed after a retry */
    uint64_t fallback_triggered;  /* failures and drops that ran the fallback actions */
    uint64_t discarded;           /* invocations while disabled (not in matched) */
} mqr_action_metrics_t;

/* ---- engine ------------------------------------------------------------------ */

/** Fill *opts with the defaults: libc allocator, MQR_NAMES_DOC, no flags,
 *  node NULL, system clocks, no publisher, local_offset_s
 *  MQR_ENGINE_LOCAL_OFFSET_PROCESS, rng_seed 0 (random), default rule limits.
 *  NULL is ignored. Thread-safe. */
MQR_API void mqr_engine_options_init(mqr_engine_options_t *opts);

/**
 * Create an engine. opts may be NULL (defaults); it is copied (node string
 * included). local_offset_s MQR_ENGINE_LOCAL_OFFSET_PROCESS is resolved here,
 * once (UTC when the local time zone cannot be read); the limits, offset and
 * seed apply to every rule the engine compiles. Returns MQR_OK with
 * *out_engine owned by the caller (free with mqr_engine_destroy), MQR_EINVAL
 * (out_engine NULL, names not a profile, local_offset_s outside
 * -86399..86399 and not the sentinel) or MQR_ENOMEM (*out_engine NULL).
 * Thread-safe.
 */
MQR_API int mqr_engine_create(const mqr_engine_options_t *opts, mqr_engine_t **out_engine);

/** Destroy the engine: every rule and action; pending HTTP and custom-action
 *  messages end as dropped (other), custom actions' sinks are destroyed, and
 *  sock_fn hears events 0 for each descriptor still watched (so the host's
 *  loop must outlive the engine, or ignore late calls). NULL is ignored.
 *  Never call it from an engine callback. */
MQR_API void mqr_engine_destroy(mqr_engine_t *engine);

/* ---- rules --------------------------------------------------------------------- */

/**
 * Compile def->sql and add the rule. Returns MQR_OK; MQR_EINVAL (NULL
 * argument, empty or missing id or sql); MQR_EEXIST (the id is taken);
 * MQR_ESTATE (called from an engine callback); the compile statuses of
 * mqr_rule_compile (MQR_ESYNTAX, MQR_ECOMPILE, MQR_ELIMIT) with line, column
 * and message in *diag (may be NULL); MQR_ENOMEM. On failure the engine is
 * unchanged.
 */
MQR_API int mqr_engine_rule_add(mqr_engine_t *engine, const mqr_engine_rule_def_t *def,
                                mqr_diag_t *diag);

/**
 * Replace the SQL, description and enabled flag of rule def->id, keeping its
 * actions and metrics. Same statuses as mqr_engine_rule_add, with
 * MQR_ENOTFOUND for an unknown id instead of MQR_EEXIST. On failure the old
 * rule stays in force.
 */
MQR_API int mqr_engine_rule_update(mqr_engine_t *engine, const mqr_engine_rule_def_t *def,
                                   mqr_diag_t *diag);

/** Enable (1) or disable (0) a rule; a disabled rule is neither matched nor
 *  counted. MQR_OK, MQR_EINVAL (NULL), MQR_ENOTFOUND, MQR_ESTATE (from a
 *  callback). */
MQR_API int mqr_engine_rule_enable(mqr_engine_t *engine, const char *id, uint32_t enabled);

/** Remove a rule with its actions (pending HTTP messages end as dropped,
 *  other). MQR_OK, MQR_EINVAL (NULL), MQR_ENOTFOUND, MQR_ESTATE (from a
 *  callback). */
MQR_API int mqr_engine_rule_remove(mqr_engine_t *engine, const char *id);

/** Number of rules (enabled or not); 0 for NULL. */
MQR_API size_t mqr_engine_rule_count(const mqr_engine_t *engine);

/** The description of rule `id` (borrowed until the rule is updated or
 *  removed) and its enabled flag in *out_enabled (may be NULL); NULL when the
 *  rule does not exist or an argument is NULL. */
MQR_API const char *mqr_engine_rule_info(const mqr_engine_t *engine, const char *id,
                                         uint32_t *out_enabled);

/* ---- actions ------------------------------------------------------------------- */

/**
 * Attach a republish action to rule `rule_id`. Templates are compiled now.
 * *out_action_id (may be NULL) receives the action's id, unique in the engine.
 * Returns MQR_OK; MQR_EINVAL (NULL engine, rule_id or cfg, no topic, a qos
 * outside 0..2, a retain or direct_dispatch that is neither a boolean nor one
 * placeholder, a user_properties that is not one placeholder); MQR_ENOTFOUND
 * (no such rule); MQR_ESTATE (from a callback); MQR_ENOMEM. *diag says which
 * field.
 */
MQR_API int mqr_engine_action_add_republish(mqr_engine_t *engine, const char *rule_id,
                                            const mqr_republish_config_t *cfg,
                                            uint32_t *out_action_id, mqr_diag_t *diag);

/**
 * Attach an HTTP action to rule `rule_id`: compile the templates and create
 * the HTTP client (which resolves the URL's host: the one blocking step).
 * Returns MQR_OK; MQR_EINVAL (NULL argument, bad URL, a header template whose
 * text contains CR, LF or NUL, a bad method); MQR_ENOTSUP (https without
 * OpenSSL); MQR_ERESOLVE; MQR_ETLS (CA file); MQR_ENOTFOUND (no such rule);
 * MQR_ESTATE (from a callback); MQR_ENOMEM. *diag says why.
 */
MQR_API int mqr_engine_action_add_http(mqr_engine_t *engine, const char *rule_id,
                                       const mqr_http_action_config_t *cfg,
                                       uint32_t *out_action_id, mqr_diag_t *diag);

/** Attach a callback action to rule `rule_id`. MQR_OK; MQR_EINVAL (NULL
 *  engine, rule_id or fn); MQR_ENOTFOUND; MQR_ESTATE; MQR_ENOMEM. */
MQR_API int mqr_engine_action_add_callback(mqr_engine_t *engine, const char *rule_id,
                                           mqr_engine_callback_fn fn, void *ud,
                                           uint32_t *out_action_id, mqr_diag_t *diag);

/**
 * Name the fallback actions of action `action_id` (EMQX 5.7's
 * fallback_actions), replacing any named before; n 0 removes them. When an
 * invocation of the action finally fails (counted as failed: a rendering
 * error, a refused publish or callback, a non-retryable HTTP status or
 * retries used up; or dropped: queue full, expired, stopped), each fallback
 * runs in order on the same output the action received (the rule's selected
 * data, kept as JSON while an HTTP or custom action's message is pending),
 * counted in its own
 * metrics and its rule's actions.* like any invocation, and the failing
 * action counts fallback_triggered. A fallback action's own failure runs no
 * fallback (no fallback of a fallback). A fallback id that no longer exists
 * when the failure happens is skipped and recorded as the action's last
 * error. Messages ended by removing the action or destroying the engine
 * run no fallback.
 * Returns MQR_OK; MQR_EINVAL (NULL engine, fallback_ids NULL with n > 0,
 * n > MQR_ENGINE_MAX_FALLBACKS, an id naming the action itself);
 * MQR_ENOTFOUND (no action `action_id`, or a fallback id that names no
 * action); MQR_ESTATE (from a callback); MQR_ENOMEM. The ids are copied.
 */
MQR_API int mqr_engine_action_set_fallback(mqr_engine_t *engine, uint32_t action_id,
                                           const uint32_t *fallback_ids, size_t n);

/**
 * Make action `action_id` fallback-only (1) or a normal action again (0).
 * A fallback-only action is not run when its rule's SQL passes (not counted
 * in the rule's actions.* then); it runs only as a fallback named with
 * mqr_engine_action_set_fallback, counted then like any invocation. It
 * stays attached to its rule and is removed with it. This is how a host
 * gives an action an inline fallback (EMQX's `fallback_actions = [{kind =
 * republish, args = {...}}]`): add the republish action to the same rule,
 * make it fallback-only, name it as the fallback. Actions are created
 * normal. Returns MQR_OK; MQR_EINVAL (NULL engine); MQR_ENOTFOUND (no such
 * action); MQR_ESTATE (from a callback).
 */
MQR_API int mqr_engine_action_set_fallback_only(mqr_engine_t *engine, uint32_t action_id,
                                                uint32_t only);

/**
 * Enable (1) or disable (0) action `action_id` (EMQX's action `enable`). A
 * disabled action is not run: each invocation counts the action's discarded
 * and its rule's actions.total and actions.discarded. Actions are created
 * enabled. MQR_OK, MQR_EINVAL (NULL engine), MQR_ENOTFOUND, MQR_ESTATE (from
 * a callback).
 */
MQR_API int mqr_engine_action_enable(mqr_engine_t *engine, uint32_t action_id, uint32_t enabled);

/** Remove one action (pending HTTP messages end as dropped, other). MQR_OK,
 *  MQR_EINVAL (NULL engine), MQR_ENOTFOUND, MQR_ESTATE (from a callback). */
MQR_API int mqr_engine_action_remove(mqr_engine_t *engine, uint32_t action_id);

/**
 * The connector test of an HTTP action (decision D12): mqr_http_test() with
 * the action's connector configuration. Blocks for at most about timeout_ms
 * (0: 15 s). Returns out->status as mqr_http_test does, MQR_EINVAL (NULL
 * argument; out untouched when NULL) or MQR_ENOTFOUND (no such HTTP action).
 */
MQR_API int mqr_engine_action_test(mqr_engine_t *engine, uint32_t action_id,
                                   uint32_t timeout_ms, mqr_http_test_result_t *out);

/* ---- emitting ------------------------------------------------------------------- */

/**
 * Whether any enabled rule's FROM lists event `event_id` (an MQR_EVENT_* index,
 * e.g. mqr_event_find(name)->id resolved once at start-up), directly or under
 * its alternative name. 1 if so, 0 if not, for a NULL engine or an index
 * >= MQR_EVENT_COUNT. Costs one scan of that event's rule list and no lookup
 * by name, so an emitter can skip building an event nobody listens to.
 * Not thread-safe against changes to the engine's rules; safe during an emit.
 */
MQR_API uint32_t mqr_engine_event_listened(const mqr_engine_t *engine, uint32_t event_id);

/**
 * Set *out_listened to 1 when an enabled rule's MQTT topic filter in FROM
 * matches topic name `topic` (`topic_len` bytes, not validated), else 0.
 * Returns MQR_OK; MQR_EINVAL for a NULL engine, topic or out_listened;
 * MQR_ELIMIT when called from an emit nested MQR_ENGINE_MAX_DEPTH deep;
 * MQR_ENOMEM when the walk buffers could not grow (*out_listened is 0).
 * Allocates nothing once the engine has matched topics of that depth.
 * Same thread-safety as the emit functions (one thread per engine).
 */
MQR_API int mqr_engine_topic_listened(mqr_engine_t *engine, const char *topic, size_t topic_len,
                                      uint32_t *out_listened);

/**
 * Run every enabled rule whose FROM matches event `event` (its name such as
 * "client.connack", or either of its topics, D5) over `columns`, an object
 * of the event's fields (from an event builder or built by the caller). The
 * columns are copied shallowly: strings stay borrowed for the call.
 * *out_fired (may be NULL) receives the number of rules that matched.
 * Rule and action failures are counted in the metrics, not returned.
 * Returns MQR_OK; MQR_EINVAL (NULL engine or columns, columns not an object);
 * MQR_ENOTFOUND (no event with that name or topic, or message.publish: use
 * mqr_engine_emit_message); MQR_ELIMIT (nested deeper than
 * MQR_ENGINE_MAX_DEPTH); MQR_ENOMEM (nothing ran).
 * event NULL: taken from the columns' `event` member.
 */
MQR_API int mqr_engine_emit_event(mqr_engine_t *engine, const char *event, size_t event_len,
                                  const mqr_value_t *columns, uint32_t *out_fired,
                                  mqr_diag_t *diag);

/**
 * mqr_engine_emit_event() for the event whose id is `event_id` (MQR_EVENT_*,
 * as for mqr_event_at()), without looking the event up by name: for hosts
 * that already know the id. `columns`, *out_fired (may be NULL) and the
 * ownership rules are those of mqr_engine_emit_event(); the `event` column
 * is not consulted. Returns MQR_OK; MQR_EINVAL (NULL engine or columns,
 * columns not an object); MQR_ENOTFOUND (event_id >= MQR_EVENT_COUNT, or
 * MQR_EVENT_MESSAGE_PUBLISH: use mqr_engine_emit_message); MQR_ELIMIT
 * (nested deeper than MQR_ENGINE_MAX_DEPTH); MQR_ENOMEM (nothing ran).
 * Same thread-safety as mqr_engine_emit_event (one thread per engine).
 */
MQR_API int mqr_engine_emit_event_id(mqr_engine_t *engine, uint32_t event_id,
                                     const mqr_value_t *columns, uint32_t *out_fired,
                                     mqr_diag_t *diag);

/**
 * Build client.connack with mqr_event_connack_build() (the engine's names
 * profile, node and clock override in->names, in->node and a zero
 * in->timestamp_ms) and emit it. Statuses of mqr_engine_emit_event, plus
 * those of the builder (MQR_EINVAL for a bad input).
 */
MQR_API int mqr_engine_emit_connack(mqr_engine_t *engine, const mqr_connack_input_t *in,
                                    uint32_t *out_fired, mqr_diag_t *diag);

/**
 * Build event `event_id` from the host's facts with mqr_event_build() into
 * the engine's own arena and run the rules that listen to it: the one call a
 * host makes per event (client.connack has mqr_engine_emit_connack, a
 * PUBLISH mqr_engine_emit_message). The engine's node fills `node`, its
 * clock a zero in->timestamp_ms; in->node is ignored. When no enabled rule
 * listens, nothing is built (one scan of the event's rule list). The
 * per-event template is made on the event's first emit inside the engine
 * (no allocation), so a warm emit makes no heap allocation.
 * *out_fired (may be NULL) receives the number of rules that matched.
 * Returns MQR_OK; MQR_EINVAL (NULL engine or in, or a bad input as for
 * mqr_event_build; nothing ran); MQR_ENOTFOUND (event_id out of range,
 * MQR_EVENT_CLIENT_CONNACK or MQR_EVENT_MESSAGE_PUBLISH); MQR_ELIMIT (nested
 * deeper than MQR_ENGINE_MAX_DEPTH); MQR_ENOMEM (nothing ran).
 * Same thread-safety as mqr_engine_emit_event (one thread per engine).
 */
MQR_API int mqr_engine_emit_input(mqr_engine_t *engine, uint32_t event_id,
                                  const mqr_event_input_t *in, uint32_t *out_fired,
                                  mqr_diag_t *diag);

/*
 * A published message (spec §5). Strings are length-counted and borrowed for
 * the call; a NULL string is an undefined column.
 */
typedef struct mqr_engine_message {
    const char *topic;            /* required, a valid topic name */
    size_t topic_len;
    const char *payload;
    size_t payload_len;
    int32_t qos;
    int32_t retain;
    int32_t dup;
    int32_t direct_dispatch;      /* 1: no rule runs (republish's direct_dispatch) */
    const char *id;               /* 32 hex digits; NULL: generated */
    size_t id_len;
    const char *clientid;
    size_t clientid_len;
    const char *username;
    size_t username_len;
    const char *peerhost;
    size_t peerhost_len;
    const char *peername;
    size_t peername_len;
    const char *republish_by;     /* the rule that republished it, or NULL */
    size_t republish_by_len;
    const mqr_value_t *pub_props; /* NULL: built from `props` */
    int64_t publish_received_at;  /* ms; 0: now */
    /* Appended: the PUBLISH properties as received (borrowed), turned into
     * pub_props (spec §1.4) when pub_props is NULL; present 0 (a zeroed
     * struct): {"User-Property": {}}. */
    mqr_props_t props;
    /* Appended: the cause chain the publish callback gave with the message
     * (mqr_publish_msg_t.cause), or NULL with 0 for a client's message. */
    const char *cause;
    size_t cause_len;
} mqr_engine_message_t;

/**
 * Run every enabled rule with an MQTT topic filter in FROM that matches
 * msg->topic, over the message's columns (spec §5: id, clientid, username,
 * payload, peerhost, peername, topic, qos, flags, pub_props,
 * publish_received_at, client_attrs, event, timestamp, node). With
 * msg->direct_dispatch 1 no rule runs. A rule's republish action refuses a
 * message whose republish_by is its own rule (spec §9.1 loop protection),
 * or whose cause chain (msg->cause, or the actions running around a nested
 * emit) holds it.
 * Returns MQR_OK; MQR_EINVAL (NULL argument, invalid topic name, properties
 * that are not valid);
 * MQR_ELIMIT; MQR_ENOMEM. *out_fired as in mqr_engine_emit_event.
 */
MQR_API int mqr_engine_emit_message(mqr_engine_t *engine, const mqr_engine_message_t *msg,
                                    uint32_t *out_fired, mqr_diag_t *diag);

/**
 * Name the cause of the next emit made at the current nesting level: the
 * cause chain (mqr_publish_msg_t.cause) of the republished message an event
 * is about, for a host that emits message.delivered, message.acked,
 * message.dropped and the other message events after its publish callback
 * returned (a queued delivery, a later PUBACK). The next mqr_engine_emit_*
 * call at this level takes it (whatever it returns), and the republish
 * actions of the rules in the chain then refuse to publish, counted in
 * refused_recursive, as for republish_by: a rule never republishes on an
 * event caused by its own output, at any depth. Emits nested inside
 * actions carry the chain on by themselves. `cause` is borrowed until that
 * emit returns; NULL with 0 clears it. Returns MQR_OK; MQR_EINVAL (NULL
 * engine, or NULL cause with a length); MQR_ELIMIT (nested deeper than
 * MQR_ENGINE_MAX_DEPTH). Not thread-safe on one engine.
 */
MQR_API int mqr_engine_cause_set(mqr_engine_t *engine, const char *cause, size_t cause_len);

/* ---- the host loop ---------------------------------------------------------------- */
/*
 * Two ways to drive the engine's descriptors (HTTP actions and those that
 * custom actions watch, mqttrule/action.h):
 *   - callbacks (preferred): set sock_fn and timer_fn in the options; keep
 *     the descriptors the engine names in your loop; call mqr_engine_fd_ready
 *     when one is ready and mqr_engine_process when the timer expires.
 *   - snapshot (deprecated for new hosts, kept for existing ones):
 *     mqr_engine_fds and mqr_engine_timeout every round; or mqr_engine_poll,
 *     which does one poll() round itself, for tools and tests.
 */

/** The descriptors of every HTTP action and watched descriptor: fills
 *  out[0..cap) and returns the total (call again with a larger array when it
 *  exceeds cap). 0 for NULL. Deprecated for new hosts: use sock_fn. */
MQR_API size_t mqr_engine_fds(const mqr_engine_t *engine, mqr_http_fd_t *out, size_t cap);

/** Milliseconds until mqr_engine_process is due (the minimum over HTTP
 *  actions): 0 now, -1 nothing pending. -1 for NULL. */
MQR_API int64_t mqr_engine_timeout(const mqr_engine_t *engine, uint64_t now_ms);

/** Report readiness of a descriptor (named by sock_fn or mqr_engine_fds):
 *  events is a mix of MQR_ENGINE_READ / _WRITE (report errors and hang-ups as
 *  both). The HTTP connection or the sink's callback runs from inside, with
 *  completions and metric updates; sock_fn and timer_fn hear what changed.
 *  MQR_OK, MQR_ENOTFOUND (not ours: e.g. dropped earlier in the same round),
 *  MQR_EINVAL (NULL engine). */
MQR_API int mqr_engine_fd_ready(mqr_engine_t *engine, int fd, uint32_t events, uint64_t now_ms);

/** Run the timers that are due (HTTP and custom actions: timeouts, TTL,
 *  backoff, batches, sink wakeups) and start queued work: the host calls it
 *  when the timer timer_fn asked for expires. MQR_OK or MQR_EINVAL. */
MQR_API int mqr_engine_process(mqr_engine_t *engine, uint64_t now_ms);

/** One poll() round over all HTTP actions for at most timeout_ms (-1: as long
 *  as mqr_engine_timeout says), with the engine's monotonic clock. MQR_OK,
 *  MQR_EINVAL, MQR_EIO (poll failed), MQR_ENOMEM. */
MQR_API int mqr_engine_poll(mqr_engine_t *engine, int timeout_ms);

/** HTTP and custom action messages not yet completed, over all actions. 0 for
 *  NULL. */
MQR_API size_t mqr_engine_pending(const mqr_engine_t *engine);

/* ---- metrics ------------------------------------------------------------------------ */

/** Copy rule `id`'s metrics. MQR_OK, MQR_EINVAL (NULL), MQR_ENOTFOUND. */
MQR_API int mqr_engine_rule_metrics(const mqr_engine_t *engine, const char *id,
                                    mqr_rule_metrics_t *out);

/** Zero rule `id`'s metrics and those of its actions (counters only; HTTP
 *  queuing and inflight stay live). MQR_OK, MQR_EINVAL, MQR_ENOTFOUND,
 *  MQR_ESTATE (from a callback). */
MQR_API int mqr_engine_rule_metrics_reset(mqr_engine_t *engine, const char *id);

/** Copy action `action_id`'s metrics. MQR_OK, MQR_EINVAL, MQR_ENOTFOUND. */
MQR_API int mqr_engine_action_metrics(const mqr_engine_t *engine, uint32_t action_id,
                                      mqr_action_metrics_t *out);

/**
 * Rule `id`'s metrics as JSON with EMQX's names:
 *   {"id":"r1","metrics":{"matched":1,"passed":1,"failed":0,
 *    "failed.exception":0,"failed.no_result":0,"actions.total":1,
 *    "actions.success":1,"actions.failed":0,"actions.failed.out_of_service":0,
 *    "actions.failed.unknown":0},"actions":[{"id":1,"type":"http",
 *    "metrics":{"matched":1,"success":1,...}}]}
 * into buf[0..cap), NUL-terminated when it fits. Size query: buf NULL, cap 0.
 * Returns MQR_OK with *out_len the length; MQR_EBUFFER (cap too small,
 * *out_len the length needed); MQR_EINVAL (NULL engine, id or out_len, or buf
 * NULL with cap > 0); MQR_ENOTFOUND. Allocates nothing.
 */
MQR_API int mqr_engine_rule_metrics_json(const mqr_engine_t *engine, const char *id, char *buf,
                                         size_t cap, size_t *out_len);

/* ---- last errors ------------------------------------------------------------------- */

/** Copy the last evaluation error of rule `id` (status MQR_OK when none).
 *  MQR_OK, MQR_EINVAL (NULL argument), MQR_ENOTFOUND. */
MQR_API int mqr_engine_rule_last_error(const mqr_engine_t *engine, const char *id,
                                       mqr_engine_error_t *out);

/** Copy the last error of action `action_id` (rendering, publisher, HTTP or
 *  sink failure; status MQR_OK when none). MQR_OK, MQR_EINVAL, MQR_ENOTFOUND. */
MQR_API int mqr_engine_action_last_error(const mqr_engine_t *engine, uint32_t action_id,
                                         mqr_engine_error_t *out);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_ENGINE_H */
