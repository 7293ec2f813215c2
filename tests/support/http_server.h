/* SPDX-License-Identifier: MIT */
/*
 * http_server.h - the one small HTTP/1.1 server of the unit tests and the
 * benchmarks (tests/unit/test_engine.c, tests/unit/test_http.c,
 * tests/bench/bench_http.c, tests/bench/bench_engine.c).
 *
 * It listens on a free 127.0.0.1 port chosen by the kernel and reads
 * keep-alive HTTP/1.1 requests (a head, plus a body of Content-Length bytes);
 * several requests in one read are answered in one write. It answers each
 * request with the next step of a script, records what it read and counts the
 * requests. It runs in a thread of the caller's process, or in a forked child
 * so that a benchmark's measured process stays single-threaded.
 *
 * Lifecycle:
 *   1. The caller fills an http_server_t (zero it first; designated
 *      initialisers do) and calls http_server_start, which sets `port`.
 *   2. The client under test talks to http://127.0.0.1:<port>/.
 *   3. http_server_stop waits for a scripted server to end on its own, or
 *      ends an unscripted one, then joins the thread or reaps the child and
 *      closes every descriptor. Only then are the results (`rec`) stable.
 * A server not started needs no stop; a started one needs exactly one stop.
 * Not for concurrent use of one http_server_t; separate ones are independent.
 */
#ifndef MQR_TEST_HTTP_SERVER_H
#define MQR_TEST_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The most steps with their own response (later steps answer with the empty 200). */
#define HTTP_SERVER_MAX_STEPS 8
/* The most connections a server has open at once. */
#define HTTP_SERVER_MAX_CONNS 64
/* `steps` for a server that answers every request until stopped. */
#define HTTP_SERVER_FOREVER (-1)
/* A step that closes the current connection instead of answering. */
#define HTTP_SERVER_CLOSE ""
/* How long http_server_stop waits for a script to finish. */
#define HTTP_SERVER_GRACE_MS 5000
/* The answer of a step whose response is NULL. */
#define HTTP_SERVER_EMPTY_200 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

/* What the server saw; stable once http_server_stop has returned. */
typedef struct http_server_record {
    long requests;   /* complete requests read */
    long connections; /* connections accepted */
    size_t got_len;  /* bytes in got */
    char got[8192];  /* every request, in order, NUL-terminated; what does not fit is dropped */
    char last[1024]; /* the last request, NUL-terminated, truncated to fit */
} http_server_record_t;

typedef struct http_server {
    /* ---- set by the caller before http_server_start ---- */
    /* The script: step i answers with responses[i] (NULL, or i at least
     * HTTP_SERVER_MAX_STEPS: HTTP_SERVER_EMPTY_200)
     * or, for HTTP_SERVER_CLOSE, closes the current connection (the one last
     * accepted or answered) as soon as the step before it is done. After the
     * last step the server closes its connections and ends; with 0 steps it
     * accepts one connection, closes it and ends. HTTP_SERVER_FOREVER answers
     * every request with responses[0] (NULL: the empty 200) until stopped. */
    int steps;
    const char *responses[HTTP_SERVER_MAX_STEPS];
    long delay_ms; /* a pause before each answer (cut short by http_server_stop) */
    int max_conns; /* connections open at once, up to HTTP_SERVER_MAX_CONNS; a
                    * further one waits in the backlog; 0: 1 */
    int process;   /* 0: a thread of this process; 1: a forked child process */
    /* ---- set by http_server_start ---- */
    uint16_t port;
    /* ---- the results, once stopped ---- */
    http_server_record_t rec;
    /* ---- private ---- */
    int lfd_;
    int wake_[2];                  /* closing wake_[1] tells the server to end */
    int done_[2];                  /* the server closes done_[1] as it ends */
    struct http_server_conn *conns_; /* max_conns connection buffers */
    http_server_record_t *shared_; /* the child's record (process mode) */
    pthread_t th_;
    pid_t pid_;
} http_server_t;

/* Open the listening socket on 127.0.0.1:0, set s->port and start serving in
 * a thread or a child. 0 on success; -1 with errno set when max_conns is
 * over HTTP_SERVER_MAX_CONNS (EINVAL) or a socket, pipe, mapping, thread or
 * process cannot be made (nothing is left open then).
 * s must stay at the same address until http_server_stop returns. */
int http_server_start(http_server_t *s);

/* End the server and release everything http_server_start made. A scripted
 * server (steps >= 0) is given up to HTTP_SERVER_GRACE_MS to finish its
 * script, so every answer it was meant to give has been given (a test whose
 * client never makes the requests then fails on what it asserts rather than
 * hanging); an unscripted one ends at once. Afterwards s->rec holds what the
 * server saw. */
void http_server_stop(http_server_t *s);

#endif
