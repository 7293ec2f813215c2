/* SPDX-License-Identifier: MIT */
/*
 * admin.h - the broker's observation and steering side, shared by sys.c
 * ($SYS topics, CONNACK counters, the ring of recent refusals),
 * admin.c (the admin HTTP listener: connections, routing, Basic
 * authentication, responses), admin_api.c (the REST handlers: rules, rule
 * test, clients), admin_rules.c (rules made through the API, kept across
 * SIGHUP) and admin_metrics.c (Prometheus text, the live page's JSON).
 *
 * The rest of the broker sees a handful of calls: brk_admin_create /
 * _listen / _destroy (main.c), brk_admin_ready and brk_admin_tick (loop.c),
 * brk_sys_connack (events.c, at every CONNACK decision) and
 * brk_admin_rules_before_reload / _after_reload (around a SIGHUP rule
 * reload).
 */
#ifndef MQR_BROKER_ADMIN_H
#define MQR_BROKER_ADMIN_H

#include "broker.h"
#include "admin_http.h"

#define BRK_REFUSALS 256          /* refused connections remembered */
#define BRK_CONNACK_HISTORY 60    /* minutes of per-reason CONNACK counts */
#define BRK_ADMIN_MAX_CONNS 32    /* admin connections at once */
#define BRK_ADMIN_MAX_HEAD 8192   /* bytes of a request head */
#define BRK_ADMIN_MAX_BODY 65536  /* bytes of a request body */
#define BRK_ADMIN_MAX_HEADERS 32
#define BRK_ADMIN_IDLE_MS 30000   /* an idle keep-alive connection is closed after this */
#define BRK_ADMIN_MAX_OUT (1024u * 1024u) /* unsent response bytes above which reading stops */

/* Reason codes counted per name: every CONNACK reason code of MQTT 5 fits
 * in a byte, so they are indexed by code. */
#define BRK_NREASONS 256

/* One refused connection. */
typedef struct brk_refusal {
    int64_t at_ms;        /* wall clock */
    int reason;           /* MQTT 5 reason code decided */
    uint8_t connack_sent; /* 0: closed without a CONNACK (decision D2) */
    uint8_t proto_ver;
    char clientid[65];    /* truncated to 64 bytes */
    char username[65];
    char peer[MQR_ADDR_TEXT_MAX];
    char listener[MQR_ADDR_TEXT_MAX];
} brk_refusal_t;

/* A growing output buffer (JSON, Prometheus text, HTTP responses). Out of
 * memory sets `failed`; the content is then not used. */
typedef struct brk_buf {
    char *p;
    size_t len, cap;
    int failed;
} brk_buf_t;

/* A rule made or changed through the API: its whole definition, or a
 * tombstone for a rule of the file deleted through the API. */
typedef struct brk_api_rule {
    char *id;
    char *sql;           /* NULL: deleted (tombstone) */
    char *description;
    char *actions_json;  /* the "actions" array as given (JSON text) */
    uint32_t enabled;
    int64_t created_at;  /* wall ms */
} brk_api_rule_t;

typedef struct brk_admin_conn brk_admin_conn_t;

typedef struct brk_admin {
    /* sys.c: figures since start-up */
    int64_t started_wall, started_mono;
    uint64_t connack[BRK_NREASONS];           /* CONNACKs sent, per reason code */
    uint64_t refused_no_connack[BRK_NREASONS]; /* refused without a CONNACK (D2) */
    uint32_t hist[BRK_CONNACK_HISTORY][BRK_NREASONS]; /* per minute, ring */
    int64_t hist_minute;                      /* the minute of hist[hist_minute % N] */
    brk_refusal_t refusals[BRK_REFUSALS];     /* ring */
    uint64_t nrefusals;                       /* total ever; newest at (n - 1) % N */
    int64_t next_sys_ms;                      /* monotonic */
    double load[4][3];                        /* $SYS load: series x 1/5/15 min */
    uint64_t load_last[4];
    int64_t load_last_ms;
    uint64_t sys_topics_refused;              /* rule ids that are no topic level */
    /* admin.c: the listener */
    brk_watch_t lw;                           /* fd -1: off */
    brk_admin_conn_t *conns;
    size_t nconns;
    uint64_t requests, refused_conns, bad_requests;
    brk_pwfile_t pw;                          /* admin_password_file */
    /* admin_rules.c */
    brk_api_rule_t *api_rules;
    size_t napi_rules;
} brk_admin_t;

/* ---- sys.c -------------------------------------------------------------------- */
/* Publish the $SYS topics when sys_interval has passed. */
void brk_sys_tick(broker_t *b, int64_t now_mono);
/* The CONNACK name of reason `code` used in $SYS and metrics labels. */
const char *brk_sys_reason_name(int code);
/* Subscriptions over all sessions; messages dropped over all drop counters. */
uint64_t brk_sys_subscriptions(const broker_t *b);
uint64_t brk_sys_dropped(const broker_t *b);

/* ---- admin.c (and the calls declared in broker.h) ------------------------------- */

/* A request being answered (admin.c fills it, the handlers read it and
 * write the response through brk_admin_reply / brk_admin_error). */
typedef struct brk_admin_req {
    broker_t *b;
    const brk_http_req_t *http;
    const char *path, *query;
    size_t path_len, query_len;
    const char *seg[8];
    size_t seg_len[8];
    int nseg;
    const char *body;
    size_t body_len;
    int status;              /* set by the reply */
    const char *content_type;
    brk_buf_t out;           /* the response body */
} brk_admin_req_t;

void brk_admin_reply(brk_admin_req_t *r, int status, const char *content_type);
/* An error in EMQX's shape {"code": CODE, "message": MESSAGE}. */
void brk_admin_error(brk_admin_req_t *r, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* 1 if segment i equals s. */
int brk_admin_seg_is(const brk_admin_req_t *r, int i, const char *s);
/* Method test. */
int brk_admin_method_is(const brk_admin_req_t *r, const char *m);

/* ---- brk_buf_t ------------------------------------------------------------------- */
void brk_buf_add(brk_buf_t *o, const char *s, size_t n);
void brk_buf_puts(brk_buf_t *o, const char *s);
void brk_buf_printf(brk_buf_t *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* s[0..n) as a JSON string with its quotes. */
void brk_buf_json_str(brk_buf_t *o, const char *s, size_t n);
/* A wall time in ms as an RFC 3339 string (UTC, milliseconds), quoted. */
void brk_buf_json_time(brk_buf_t *o, int64_t ms);
void brk_buf_free(brk_buf_t *o);

/* ---- admin_api.c: the REST handlers ------------------------------------------- */
/* Route one authenticated request under /api/v5/. */
void brk_api_handle(brk_admin_req_t *r);

/* ---- admin_rules.c ------------------------------------------------------------- */
/* The rules the broker runs, file rules overlaid with API rules: calls fn
 * for each with its id, SQL, description and actions JSON (NULL: the
 * file's republish/http lines, written by brk_admin_rule_actions_json). */
typedef void (*brk_rule_visit_fn)(void *ud, const char *id, const char *sql,
                                  const char *description, const char *actions_json,
                                  const brk_rule_cfg_t *file_rule, int64_t created_at);
void brk_admin_rules_each(broker_t *b, brk_rule_visit_fn fn, void *ud);
/* Write a file rule's actions as EMQX-style JSON. */
void brk_admin_rule_actions_json(brk_buf_t *o, const brk_rule_cfg_t *r);
/* Create or replace rule `id` from the API. 0, or an HTTP status with the
 * message in err (400 with "line L, column C: ..." for SQL errors). */
int brk_admin_rule_put(broker_t *b, const char *id, const char *sql, const char *description,
                       const mqr_value_t *actions, uint32_t enabled, int create, char *err,
                       size_t errcap);
/* Delete rule `id`. 0 or 404. */
int brk_admin_rule_delete(broker_t *b, const char *id);
/* 1 if rule `id` exists (file or API, not deleted). */
int brk_admin_rule_exists(broker_t *b, const char *id);
void brk_admin_rules_free(brk_admin_t *a);

/* ---- admin_metrics.c ------------------------------------------------------------ */
void brk_admin_prometheus(brk_admin_req_t *r);
void brk_admin_diag_json(brk_admin_req_t *r);
/* The live page (generated from admin_page/index.html). */
extern const char brk_admin_page[];
extern const size_t brk_admin_page_len;

#endif
