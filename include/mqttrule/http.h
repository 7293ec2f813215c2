/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/http.h - the non-blocking HTTP/1.1 client behind the HTTP action.
 *
 * One client sends requests to one base URL (http, or https when the library
 * is built with OpenSSL) over a pool of keep-alive connections. It never
 * blocks and never starts threads: like c-ares or libcurl's multi interface,
 * the host asks which descriptors to watch (mqr_http_fds) and how long it may
 * sleep (mqr_http_timeout), then reports readiness (mqr_http_fd_ready) and
 * lets timers run (mqr_http_process). mqr_http_poll does one poll() round of
 * all that for tools and tests. Time is a monotonic clock in milliseconds that
 * the caller passes in, so tests can inject it; mqr_http_now_ms reads the
 * system's monotonic clock.
 *
 * Every accepted message ends exactly once, through the completion callback,
 * as success (2xx), failed (another status, or retries used up) or dropped
 * (queue full, TTL expired, client destroyed). Transport errors, 429 and 503
 * are retried with the client's backoff until the message's TTL passes.
 *
 * Lifecycle:
 *   1. mqr_http_config_init, set url and fields, mqr_http_create (resolves the
 *      host name: the one blocking step, never on the event path).
 *   2. mqr_http_submit per message; the host loop drives the client.
 *   3. mqr_http_destroy completes what is still pending as dropped.
 * A client is used by one thread at a time; different clients are independent.
 */
#ifndef MQTTRULE_HTTP_H
#define MQTTRULE_HTTP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* Methods (mqr_http_config_t.method, mqr_http_request_t.method). GET and
 * DELETE send no body. 0 in a request means "the client's method". */
#define MQR_HTTP_POST 1
#define MQR_HTTP_PUT 2
#define MQR_HTTP_GET 3
#define MQR_HTTP_DELETE 4

/* Outcomes (mqr_http_result_t.outcome). */
#define MQR_HTTP_SUCCESS 0
#define MQR_HTTP_FAILED 1
#define MQR_HTTP_DROPPED 2

/* Why a message was dropped (mqr_http_result_t.reason). */
#define MQR_HTTP_REASON_NONE 0
#define MQR_HTTP_REASON_QUEUE_FULL 1
#define MQR_HTTP_REASON_EXPIRED 2
#define MQR_HTTP_REASON_OTHER 3 /* the client was destroyed */

/* The step an attempt had reached when it ended (result and connector test). */
#define MQR_HTTP_STEP_NONE 0
#define MQR_HTTP_STEP_RESOLVE 1
#define MQR_HTTP_STEP_CONNECT 2
#define MQR_HTTP_STEP_TLS 3
#define MQR_HTTP_STEP_REQUEST 4
#define MQR_HTTP_STEP_RESPONSE 5
#define MQR_HTTP_STEP_DONE 6

/* Readiness bits for mqr_http_fd_t.events and mqr_http_fd_ready. */
#define MQR_HTTP_READ 1u
#define MQR_HTTP_WRITE 2u

/* Defaults that mqr_http_config_init fills in (and that 0 stands for). */
#define MQR_HTTP_DEFAULT_QUEUE_COUNT 100000u
#define MQR_HTTP_DEFAULT_QUEUE_BYTES (64u * 1024u * 1024u)
#define MQR_HTTP_DEFAULT_REQUEST_TIMEOUT_MS 15000u
#define MQR_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 15000u
#define MQR_HTTP_DEFAULT_TTL_MS 45000u
#define MQR_HTTP_DEFAULT_BACKOFF_INITIAL_MS 100u
#define MQR_HTTP_DEFAULT_BACKOFF_MAX_MS 5000u
#define MQR_HTTP_DEFAULT_POOL_SIZE 8u
#define MQR_HTTP_DEFAULT_MAX_RESPONSE_HEAD 16384u
#define MQR_HTTP_MAX_POOL_SIZE 1024u
#define MQR_HTTP_DEFAULT_PIPELINING 100u     /* EMQX's enable_pipelining */
#define MQR_HTTP_MAX_PIPELINING 1024u
#define MQR_HTTP_DEFAULT_MAX_INACTIVE_MS 10000u /* EMQX's max_inactive */

/* ---- types ------------------------------------------------------------------ */

/* A header as a length-counted name and value (neither NUL-terminated). Names
 * are RFC 9110 tokens; values may not contain CR, LF or NUL. */
typedef struct mqr_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} mqr_http_header_t;

/* What a message ended as; passed to the completion callback, valid only
 * during the call. */
typedef struct mqr_http_result {
    uint64_t id;          /* the id mqr_http_submit returned */
    void *request_ud;     /* mqr_http_request_t.ud */
    int32_t outcome;      /* MQR_HTTP_SUCCESS / _FAILED / _DROPPED */
    int32_t reason;       /* MQR_HTTP_REASON_* (dropped only) */
    int32_t http_status;  /* status of the last response, 0 if none */
    int32_t status;       /* MQR_OK, or the last attempt's error: MQR_ECONNECT,
                             MQR_ETLS, MQR_ETIMEOUT, MQR_EHTTP, MQR_EIO, ... */
    int32_t step;         /* MQR_HTTP_STEP_* the last attempt reached */
    uint32_t attempts;    /* attempts made (0: never sent) */
    uint64_t elapsed_ms;  /* from submit to completion */
    const char *error;    /* last error text, "" on success; borrowed */
} mqr_http_result_t;

/* Completion callback: `ud` is mqr_http_config_t.ud. It may call
 * mqr_http_submit on the same client, never mqr_http_destroy. */
typedef void (*mqr_http_done_fn)(void *ud, const mqr_http_result_t *r);

/* Client configuration. Call mqr_http_config_init first; a numeric field left
 * at 0 takes its default. Strings and arrays are copied by mqr_http_create. */
typedef struct mqr_http_config {
    const char *url;             /* required: http://host[:port][/path] or https:// */
    int32_t method;              /* MQR_HTTP_POST (default) .. MQR_HTTP_DELETE */
    uint32_t header_count;
    const mqr_http_header_t *headers; /* sent with every request */
    uint32_t max_queue_count;    /* messages held (queued + in flight) */
    uint32_t enable_pipelining;  /* EMQX's name: requests that may be in flight on one
                                    connection, 1..MQR_HTTP_MAX_PIPELINING (1: one at
                                    a time). A connection carries more than one only
                                    after the server answered it with an HTTP/1.1
                                    keep-alive response, and only when every
                                    connection of the pool is open and busy. */
    uint64_t max_queue_bytes;    /* request bytes held (queued + in flight) */
    uint32_t request_timeout_ms; /* one attempt: from sending to the full response */
    uint32_t connect_timeout_ms; /* TCP connect plus TLS handshake */
    uint32_t ttl_ms;             /* a message's whole life, retries included */
    uint32_t backoff_initial_ms; /* first pause after a retryable failure */
    uint32_t backoff_max_ms;     /* the pause doubles up to this */
    uint32_t pool_size;          /* connections, 1..MQR_HTTP_MAX_POOL_SIZE */
    uint32_t max_attempts;       /* 0: unlimited (until the TTL) */
    uint32_t max_response_head;  /* bytes of status line plus headers */
    uint32_t tls_insecure;       /* 1: skip certificate verification (https) */
    uint32_t max_inactive_ms;    /* EMQX's max_inactive: a kept-alive connection idle
                                    this long is closed (the engine's host hears
                                    events 0 for its descriptor) */
    const char *ca_file;         /* PEM CA bundle; NULL: the system's */
    mqr_allocator_t allocator;
    mqr_http_done_fn on_done;    /* required */
    void *ud;
    /* Appended fields (https only; files are read by mqr_http_create): */
    const char *cert_file;       /* PEM client certificate (chain) sent to a server
                                    that asks for one; NULL: none */
    const char *key_file;        /* PEM private key of cert_file; NULL: in cert_file */
} mqr_http_config_t;

/* One message. Everything is copied by mqr_http_submit. */
typedef struct mqr_http_request {
    const char *path;            /* NULL or "": the URL's path; else joined to
                                    it with a single '/' */
    size_t path_len;             /* 0 with a non-NULL path: strlen(path) */
    const mqr_http_header_t *headers; /* replace client headers of the same name */
    uint32_t header_count;
    int32_t method;              /* 0: the client's method */
    const void *body;
    size_t body_len;
    void *ud;                    /* returned as mqr_http_result_t.request_ud */
} mqr_http_request_t;

/* Per-client counters (spec §10.2). matched = success + failed + dropped +
 * queuing + inflight at every moment between calls. */
typedef struct mqr_http_metrics {
    uint64_t matched;            /* messages submitted */
    uint64_t success;
    uint64_t failed;
    uint64_t dropped;
    uint64_t dropped_queue_full;
    uint64_t dropped_expired;
    uint64_t dropped_other;
    uint64_t queuing;            /* waiting for a connection or a retry */
    uint64_t queuing_bytes;
    uint64_t inflight;           /* being sent or awaiting a response */
    uint64_t retried;            /* attempts after the first */
    uint64_t retried_success;    /* messages that succeeded after a retry */
    uint64_t retried_failed;     /* messages that failed after a retry */
    uint64_t late_reply;         /* responses after the message expired */
    uint64_t timeouts;           /* attempts ended by a connect or request timeout */
} mqr_http_metrics_t;

/* A descriptor to watch and what for (MQR_HTTP_READ | MQR_HTTP_WRITE). */
typedef struct mqr_http_fd {
    int32_t fd;
    uint32_t events;
} mqr_http_fd_t;

/* The connector test's answer (decision D12). */
typedef struct mqr_http_test_result {
    int32_t status;              /* MQR_OK or the error of the failed step */
    int32_t step;                /* MQR_HTTP_STEP_DONE, or the step that failed */
    int32_t http_status;         /* the response's status, 0 if none */
    uint32_t elapsed_ms;
    char message[MQR_DIAG_MESSAGE_MAX];
} mqr_http_test_result_t;

typedef struct mqr_http_client mqr_http_client_t;

/* ---- configuration and validation ---------------------------------------- */

/** Fill *cfg with the defaults above (POST, 8 connections, 100,000 messages or
 *  64 MiB, 15 s request and connect timeouts, 45 s TTL, backoff 100 ms
 *  doubling to 5 s, unlimited attempts, verification on, pipelining 100,
 *  idle connections closed after 10 s) and NULL pointers.
 *  NULL is ignored. Thread-safe. */
MQR_API void mqr_http_config_init(mqr_http_config_t *cfg);

/** Check one header: the name must be a non-empty RFC 9110 token, neither part
 *  may contain CR, LF or NUL, and Content-Length and Transfer-Encoding are
 *  refused (the client writes them). Returns MQR_OK or MQR_EINVAL with a
 *  message in *diag (may be NULL). NULL name or value with a non-zero length
 *  is MQR_EINVAL. Thread-safe. */
MQR_API int mqr_http_header_check(const char *name, size_t name_len, const char *value,
                                  size_t value_len, mqr_diag_t *diag);

/** Check a URL as mqr_http_create would parse it, without resolving it.
 *  Returns MQR_OK, MQR_EINVAL (with message and byte offset in *diag, e.g.
 *  "http URL: unsupported scheme 'ftp'") or MQR_ENOTSUP for https in a build
 *  without OpenSSL. NULL url is MQR_EINVAL. Thread-safe. */
MQR_API int mqr_http_url_check(const char *url, mqr_diag_t *diag);

/* ---- client ----------------------------------------------------------------- */

/** Create a client: parse and copy the configuration, resolve the URL's host
 *  (blocking, through getaddrinfo) and, for https, load the CA file.
 *  Returns MQR_OK with *out_client set, or MQR_EINVAL (NULL argument, bad URL,
 *  bad header, no on_done, pool size, enable_pipelining or method out of
 *  range), MQR_ENOTSUP (https without OpenSSL), MQR_ERESOLVE (unknown host),
 *  MQR_ETLS (CA file, client certificate or key unreadable, or the key does
 *  not match the certificate) or MQR_ENOMEM; *diag (may be NULL) says what
 *  and where. The
 *  caller owns the client and frees it with mqr_http_destroy. Safe to call
 *  from several threads at once. */
MQR_API int mqr_http_create(const mqr_http_config_t *cfg, mqr_http_client_t **out_client,
                            mqr_diag_t *diag);

/** Close every connection, complete every pending message with outcome
 *  MQR_HTTP_DROPPED and reason MQR_HTTP_REASON_OTHER (the callback runs for
 *  each; status and error are those of the last failed attempt, or
 *  MQR_ESTATE "the client was destroyed"), and free the client. NULL is ignored. Never call it from the
 *  client's own callback. */
MQR_API void mqr_http_destroy(mqr_http_client_t *client);

/** Queue one message; the host loop sends it later. `now_ms` is the caller's
 *  monotonic clock (its TTL starts now). On MQR_OK the message will end
 *  through the callback exactly once, and *out_id (may be NULL) is its id.
 *  When the queue bound (count or bytes) is reached the message is accepted
 *  and dropped at once: the callback runs before this call returns, with
 *  reason MQR_HTTP_REASON_QUEUE_FULL.
 *  Errors, which never invoke the callback: MQR_EINVAL (NULL client or
 *  request, a body pointer NULL with a non-zero length, a bad header or
 *  method; counted as matched and failed), MQR_ENOMEM (counted as matched and
 *  dropped_other). *diag (may be NULL) says why. */
MQR_API int mqr_http_submit(mqr_http_client_t *client, const mqr_http_request_t *req,
                            uint64_t now_ms, uint64_t *out_id, mqr_diag_t *diag);

/** Fill out[0..cap) with the descriptors to watch and return how many there
 *  are in total (which may exceed cap: call again with a larger array). Never
 *  more than the pool size. NULL client returns 0; NULL out is allowed with
 *  cap 0. */
MQR_API size_t mqr_http_fds(const mqr_http_client_t *client, mqr_http_fd_t *out, size_t cap);

/** Milliseconds the host may wait before calling mqr_http_process: 0 when
 *  work is ready now, -1 when nothing is pending (wait for readiness or a new
 *  submit only). NULL client returns -1. */
MQR_API int64_t mqr_http_timeout(const mqr_http_client_t *client, uint64_t now_ms);

/** Report readiness of one descriptor from mqr_http_fds (`events` is any mix
 *  of MQR_HTTP_READ and MQR_HTTP_WRITE; errors and hang-ups count as both),
 *  then run timers and start queued work as mqr_http_process does. Callbacks
 *  run from inside this call. Returns MQR_OK, MQR_ENOTFOUND (fd not ours,
 *  ignored) or MQR_EINVAL (NULL client). */
MQR_API int mqr_http_fd_ready(mqr_http_client_t *client, int fd, uint32_t events,
                              uint64_t now_ms);

/** Run timers (connect and request timeouts, TTL expiry, backoff) and start
 *  queued messages on free connections. Callbacks run from inside this call.
 *  Returns MQR_OK or MQR_EINVAL (NULL client). */
MQR_API int mqr_http_process(mqr_http_client_t *client, uint64_t now_ms);

/** One loop round for tools and tests: poll() the client's descriptors for at
 *  most `timeout_ms` (shortened to mqr_http_timeout; -1 waits as long as it
 *  says), report readiness and run mqr_http_process with mqr_http_now_ms().
 *  Returns MQR_OK, MQR_EINVAL (NULL client) or MQR_EIO (poll failed other than
 *  by EINTR). */
MQR_API int mqr_http_poll(mqr_http_client_t *client, int timeout_ms);

/** Messages not yet completed (queued plus in flight). NULL returns 0. */
MQR_API size_t mqr_http_pending(const mqr_http_client_t *client);

/** Copy the client's counters into *out. MQR_EINVAL if either is NULL. */
MQR_API int mqr_http_metrics(const mqr_http_client_t *client, mqr_http_metrics_t *out);

/** The system's monotonic clock in milliseconds. Thread-safe. */
MQR_API uint64_t mqr_http_now_ms(void);

/* ---- connector test (decision D12) --------------------------------------- */

/** The "Test" button: check that cfg's URL is reachable by resolving its
 *  host, connecting, completing the TLS handshake for https, sending one GET
 *  of the URL's path (with cfg's headers) and reading the response. Blocks:
 *  connect plus TLS handshake are bounded by `timeout_ms` (0: 15 s), and so
 *  are request plus response; name resolution is bounded by the system
 *  resolver. Any complete HTTP response counts as
 *  reachable. cfg->on_done, retry and queue fields are ignored.
 *  Returns out->status: MQR_OK (out->step MQR_HTTP_STEP_DONE, out->http_status
 *  set), or the failing step with MQR_EINVAL / MQR_ENOTSUP (URL), MQR_ERESOLVE,
 *  MQR_ECONNECT, MQR_ETLS, MQR_ETIMEOUT, MQR_EIO, MQR_EHTTP or MQR_ENOMEM, and
 *  a message naming the step and the cause. NULL cfg or out is MQR_EINVAL
 *  (out untouched if NULL). Safe to call from several threads at once. */
MQR_API int mqr_http_test(const mqr_http_config_t *cfg, uint32_t timeout_ms,
                          mqr_http_test_result_t *out);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_HTTP_H */
