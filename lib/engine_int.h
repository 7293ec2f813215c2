/* SPDX-License-Identifier: MIT */
/*
 * engine_int.h - the engine's internal structures, shared by engine.c (rules,
 * emit, metrics), engine_actions.c (republish, HTTP, callback, host loop) and
 * topic_trie.c (the index of MQTT topic filters). Not API.
 */
#ifndef MQR_ENGINE_INT_H
#define MQR_ENGINE_INT_H

#include "event_int.h"
#include "internal.h"
#include "mqttrule/action.h"
#include "mqttrule/engine.h"
#include "mqttrule/rule.h"
#include "mqttrule/template.h"
#include "topic_trie.h"
#include "value_int.h"

/* ---- rules and actions -------------------------------------------------------------- */
typedef struct mqr__erule mqr__erule_t;
typedef struct mqr__action mqr__action_t;
typedef struct mqr__persist mqr__persist_t; /* engine_queue.c */
typedef struct mqr__custom mqr__custom_t;

/* A descriptor the engine waits on, indexed by its number: an HTTP action's
 * connection (http set) or a sink's watch (fn set). */
typedef struct mqr__watch {
    uint32_t used;
    uint32_t events;       /* the interest now: MQR_ENGINE_READ / _WRITE */
    uint32_t told;         /* the interest the host's sock_fn last heard */
    uint32_t reserved_;
    mqr__action_t *http;
    mqr_engine_fd_fn fn;
    void *ud;
} mqr__watch_t;

/* A rendered header template pair of an HTTP action. */
typedef struct mqr__hdr_tpl {
    mqr_template_t *name;
    mqr_template_t *value;
} mqr__hdr_tpl_t;

struct mqr__action {
    mqr__action_t *next;   /* the rule's actions, in order of addition */
    mqr__action_t *http_prev, *http_next; /* the engine's HTTP actions */
    mqr__action_t *cu_prev, *cu_next;     /* the engine's custom actions */
    mqr_engine_error_t last_error;
    mqr__custom_t *cu;     /* custom: the queue and the sink (engine_custom.c) */
    mqr__erule_t *rule;
    mqr_engine_t *engine;
    uint32_t id;
    int32_t kind;          /* MQR_ACTION_* */
    mqr_action_metrics_t m; /* engine-counted fields; HTTP live fields read on demand */
    uint32_t disabled;     /* mqr_engine_action_enable(0): invocations are discarded */
    uint32_t fallback_only; /* run only as another action's fallback, never by its rule */
    uint32_t nfallback;    /* fallback action ids (mqr_engine_action_set_fallback) */
    uint32_t *fallback;
    /* republish */
    mqr_template_t *topic, *payload, *qos, *retain, *user_props, *pfi, *mei, *ctype,
        *resp_topic, *corr_data, *direct;
    int32_t qos_const;     /* 0..2, or -1: from the template */
    int32_t retain_const;  /* 0/1, or -1 */
    int32_t direct_const;  /* 0/1, or -1 */
    int32_t copy_user_props; /* ${pub_props.'User-Property'}: the trigger's own */
    mqr_user_property_t *fixed_up; /* fixed user properties, one block with their text */
    uint32_t nfixed_up;
    size_t fixed_up_size;
    /* http */
    mqr_http_client_t *client;
    mqr_template_t *path, *body;
    mqr__hdr_tpl_t *hdrs;
    uint32_t nhdrs;
    int32_t method;
    mqr_http_config_t test_cfg; /* the connector, for the connector test */
    char *test_url;
    mqr_http_header_t *test_hdrs;
    char *test_ca;
    char *test_cert, *test_key; /* the client certificate and key files, copied */
    /* callback */
    mqr_engine_callback_fn fn;
    void *ud;
    mqr__persist_t *persist; /* the durable queue, or NULL (engine_queue.c) */
};

/* The rate state of a rule's matched counter (engine_rate.c): match counts
 * per sample interval, the last NSAMPLES in a ring. */
typedef struct mqr__rate {
    uint64_t last_v;       /* matched at the last sample */
    uint64_t cur;          /* the last interval's count */
    uint64_t max;          /* the largest interval count */
    uint64_t acc;          /* the sum of smpl[0..n) */
    uint32_t n;            /* samples held, up to MQR_ENGINE_RATE_SAMPLES */
    uint32_t head;         /* the oldest sample once the ring is full */
    uint64_t smpl[MQR_ENGINE_RATE_SAMPLES];
} mqr__rate_t;

struct mqr__erule {
    mqr__erule_t *hnext;   /* id hash chain */
    mqr__erule_t *prev, *next; /* creation order */
    char *id;
    size_t id_len;
    char *desc;
    uint32_t enabled;
    uint32_t event_mask;   /* bit i: event id i matches an "$events/..." entry */
    uint64_t seq;          /* creation order, for deterministic firing order */
    uint64_t stamp;        /* the last collection that found the rule */
    mqr_rule_t *compiled;
    mqr_rule_metrics_t m;
    mqr__rate_t rate;
    mqr_engine_error_t last_error;
    mqr__action_t *actions;
};

/* The working memory of one emit level (emits nest when an action's callback
 * emits again). */
typedef struct mqr__emit_ctx {
    mqr_arena_t *arena;
    mqr_rule_scratch_t *scratch;
    mqr__erule_t **hits;
    size_t nhits;
    size_t cap_hits;
    mqr__trie_walk_t walk;
    /* what the running actions see */
    const mqr_value_t *columns;
    const char *republish_by;
    size_t republish_by_len;
    mqr_diag_t diag;       /* the running rule's evaluation error */
    /* the cause chain (loop protection at any depth): the rules whose output
     * this level's trigger derives from, as the host handed it over
     * ("id\0id\0..."), and the rule whose actions run at this level */
    const char *cause;
    size_t cause_len;
    const mqr__erule_t *running;
    const char *next_cause;    /* mqr_engine_cause_set: for the next emit here */
    size_t next_cause_len;
    int64_t now;           /* the wall clock this emit read, 0: none yet */
} mqr__emit_ctx_t;

/* A growable array of rule pointers (one per event id). */
typedef struct mqr__rule_vec {
    mqr__erule_t **v;
    uint32_t n;
    uint32_t cap;
} mqr__rule_vec_t;

struct mqr_engine {
    mqr_allocator_t alloc;
    mqr_engine_options_t opts; /* node points to node_copy */
    char *node_copy;
    size_t node_len;
    mqr__erule_t **buckets;
    size_t nbuckets;
    size_t nrules;
    mqr__erule_t *first, *last;
    uint64_t next_seq;
    uint64_t stamp;
    uint32_t next_action_id;
    uint32_t depth;            /* emits running */
    uint64_t msg_counter;      /* generated message ids */
    mqr__trie_t trie;
    mqr__rule_vec_t by_event[MQR_EVENT_COUNT];
    mqr__emit_ctx_t ctx[MQR_ENGINE_MAX_DEPTH];
    uint32_t tmpl_ready;       /* bit i: ev_tmpl[i] is made (mqr_engine_emit_input) */
    mqr__ev_tmpl_t ev_tmpl[MQR_EVENT_COUNT];
    mqr__action_t *http_first; /* HTTP actions, for the host loop */
    mqr__action_t *custom_first; /* custom actions, for the host loop */
    uint64_t next_ticket;      /* custom action messages */
    int64_t rate_next;         /* wall clock of the next rate sample, 0: none yet */
    uint32_t in_fallback;      /* fallback actions running: their failures run none */
    uint32_t reserved_;
    /* the host loop (engine_loop.c) */
    mqr__watch_t *watch;       /* indexed by descriptor number */
    size_t cap_watch;
    size_t nwatch;             /* used entries */
    uint32_t loop_dirty;       /* an action ran: the next timeout may have changed */
    uint32_t timer_known;      /* timer_told is what the host last heard */
    uint64_t timer_told;       /* absolute monotonic deadline, UINT64_MAX: none */
    mqr_http_fd_t *pollfds;    /* mqr_engine_poll's buffers */
    void *sys_pollfds;         /* struct pollfd[cap_pollfds] */
    size_t cap_pollfds;
    mqr__persist_t *persist_first; /* actions with a durable queue */
};

/* engine.c */
/* Create emit level i's arena and scratch if needed: MQR_OK or MQR_ENOMEM. */
int mqr__engine_level_ready(mqr_engine_t *e, uint32_t i);
int64_t mqr__engine_now(const mqr_engine_t *e);
uint64_t mqr__engine_mono(const mqr_engine_t *e);
/* The wall clock at the kernel's tick resolution (a few ms) when the engine
 * uses the system's: cheap enough for every emit (the rate samples). */
int64_t mqr__engine_now_coarse(const mqr_engine_t *e);
/* The output as compact JSON in the arena, NUL-terminated. */
int mqr__engine_json(const mqr_engine_t *e, mqr_arena_t *arena, const mqr_value_t *v,
                     const char **out, size_t *out_len);

/* engine_actions.c */
/* Run one action on one output; counts its metrics and the rule's. */
void mqr__engine_action_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                            const mqr_value_t *output);
/* Free an action (an HTTP client ends its pending messages first). */
void mqr__engine_action_free(mqr_engine_t *e, mqr__action_t *a);
/* Fill the live fields of an action's metrics (HTTP queuing, inflight, ...). */
void mqr__engine_action_metrics(const mqr__action_t *a, mqr_action_metrics_t *out);
/* The action by id, or NULL. */
mqr__action_t *mqr__engine_action_find(const mqr_engine_t *e, uint32_t id);
/* Count one ending of an invocation of a (END_* of engine_actions.c,
 * MQR_HTTP_REASON_* for drops) on the action and its rule. */
void mqr__engine_account(mqr__action_t *a, int end, int32_t reason);
#define MQR__END_SUCCESS 0
#define MQR__END_FAILED 1
#define MQR__END_DROPPED 2
#define MQR__END_PENDING 3

/* engine_rate.c */
/* Take the rate samples due at wall clock `now`. */
void mqr__engine_rate_step(mqr_engine_t *e, int64_t now);
/* Fill out's rate fields for rule r, as of the engine's clock now. */
void mqr__engine_rate_read(const mqr_engine_t *e, const mqr__erule_t *r, mqr_rule_metrics_t *out);
/* Forget r's samples (metrics reset). */
void mqr__engine_rate_reset(mqr__erule_t *r);

/* engine_fallback.c */
/* Action a ended as failed or dropped on `output` (NULL: on the JSON text
 * json[0..len), parsed here): run its fallback actions unless a fallback is
 * running. cx is the running emit level, or NULL outside an emit. */
void mqr__engine_fallback(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                          const mqr_value_t *output, const char *json, size_t len);
/* Free a's fallback list. */
void mqr__engine_fallback_free(mqr_engine_t *e, mqr__action_t *a);

/* engine_error.c */
/* Record a rule's (a NULL) or an action's error: message, SQL position from
 * d (may be NULL), time; tell the error callback. */
void mqr__engine_error(mqr_engine_t *e, mqr__erule_t *r, mqr__action_t *a, int status,
                       const mqr_diag_t *d, const char *fmt, ...) MQR__PRINTF(6, 7);

/* engine_loop.c */
/* Free the host loop's tables and mqr_engine_poll's buffers. */
/* Whether rule r is in the cause chain of level cx's trigger: a rule whose
 * actions run at an outer level, or one the host named as the cause. */
int mqr__engine_caused_by(const mqr_engine_t *e, const mqr__emit_ctx_t *cx,
                          const mqr__erule_t *r);
/* The chain of a message republished from level cx (the outer levels' rules,
 * every cause named, and cx's running rule, each once) into the arena. */
int mqr__engine_cause_chain(const mqr_engine_t *e, const mqr__emit_ctx_t *cx, mqr_arena_t *ar,
                            const char **out, size_t *out_len);
/* Free mqr_engine_poll's buffers. */
void mqr__engine_poll_free(mqr_engine_t *e);
/* An HTTP action's descriptors may have changed: update the table, tell the host. */
void mqr__engine_http_sync(mqr_engine_t *e, mqr__action_t *a);
/* The HTTP client of a closes fd: forget it and tell the host. */
void mqr__engine_http_closed(void *ud, int fd);
/* Tell the host the next timeout when it changed (after any call that may
 * have changed it: loop_dirty, or force). */
void mqr__engine_timer_sync(mqr_engine_t *e, int force);

/* engine_custom.c */
/* Set up a's queue from cfg (checked by the caller). MQR_OK or MQR_ENOMEM;
 * on failure the engine owns nothing of cfg->ud (destroy is not called). */
int mqr__engine_custom_init(mqr_engine_t *e, mqr__action_t *a,
                            const mqr_custom_action_config_t *cfg);
/* Queue or end one invocation; counts its ending when it ends now and
 * returns it (MQR__END_FAILED, _DROPPED), else MQR__END_PENDING. */
int mqr__engine_custom_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                            const mqr_value_t *output);
/* Remove a's custom part: cancel in flight, drop the queue, destroy the sink. */
void mqr__engine_custom_free(mqr_engine_t *e, mqr__action_t *a);
/* Run a's timers and submit queued messages. */
void mqr__engine_custom_process(mqr_engine_t *e, mqr__action_t *a, uint64_t now);
/* The absolute time a's timers are next due, UINT64_MAX: none. */
uint64_t mqr__engine_custom_due(const mqr__action_t *a, uint64_t now);
/* Messages held (queued plus in flight). */
size_t mqr__engine_custom_pending(const mqr__action_t *a);
/* The live fields of a's metrics. */
void mqr__engine_custom_metrics(const mqr__action_t *a, mqr_action_metrics_t *out);
/* The sink's type name. */
const char *mqr__engine_custom_type(const mqr__action_t *a);
/* Queue a record replayed from a's durable queue (seq, id) as a new item.
 * MQR_OK or MQR_ENOMEM. */
int mqr__engine_custom_replay(mqr_engine_t *e, mqr__action_t *a, const void *data, size_t len,
                              uint64_t seq, const char *id);
/* The sink's connector test. */
int mqr__engine_custom_test(mqr__action_t *a, uint32_t timeout_ms, mqr_http_test_result_t *out);
/* The rule by id, or NULL. */
mqr__erule_t *mqr__engine_rule_find(const mqr_engine_t *e, const char *id, size_t len);

/* engine_queue.c: durable queues of actions (mqttrule/queue.h). */
#include "mqttrule/queue.h"
/* Queue a rendered message / request of a persisted action; MQR__END_*. */
int mqr__engine_queue_publish(mqr_engine_t *e, mqr_arena_t *arena, mqr__action_t *a,
                              const mqr_publish_msg_t *m);
int mqr__engine_queue_http(mqr_engine_t *e, mqr_arena_t *arena, mqr__action_t *a,
                           const mqr_http_request_t *req);
/* Hand pending records to the target. */
void mqr__engine_queue_pump(mqr_engine_t *e, mqr__persist_t *p);
/* The HTTP completion of a persisted action's request. */
void mqr__engine_queue_http_done(mqr__action_t *a, const mqr_http_result_t *r);
/* Add the queue's pending records to the live metrics. */
void mqr__engine_queue_metrics(const mqr__action_t *a, mqr_action_metrics_t *out);
/* min(best, the queues' next due time); -1 stands for none. */
int64_t mqr__engine_queue_timeout(const mqr_engine_t *e, int64_t best);
/* A custom action's item: append its bytes to a's durable queue, giving
 * *out_seq and out_id (MQR_QUEUE_ID_MAX bytes); *out_seq 0 when the queue
 * refused (the item then lives in memory only). */
void mqr__engine_queue_custom_append(mqr__action_t *a, const void *data, size_t len,
                                     uint64_t *out_seq, char *out_id);
/* A custom action's item with record seq ended: acknowledge it (keep it on
 * disk when `keep`: the action is going away). */
void mqr__engine_queue_custom_end(mqr__action_t *a, uint64_t seq, int keep);
/* Pump and flush every queue. */
void mqr__engine_queue_process(mqr_engine_t *e);
/* Close the action's queue (after its HTTP client is gone). */
void mqr__engine_queue_free(mqr_engine_t *e, mqr__action_t *a);

#endif /* MQR_ENGINE_INT_H */
