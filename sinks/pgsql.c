/* SPDX-License-Identifier: MIT */
/*
 * pgsql.c - the PostgreSQL sink (mqttrule/sink_pgsql.h), libmqttrule_pgsql.
 *
 * A custom action (mqttrule/action.h) over one
 * libpq connection driven without blocking from the host's loop:
 *
 *   DOWN --wakeup--> CONNECTING --PQconnectPoll OK--> PREPARING
 *     ^  <--failure, backoff--                          | PQsendPrepare result
 *     |                                                 v
 *     +--- broken connection --- READY (pipeline mode) <--> BATCH
 *
 * In READY, submit sends a batch as a pipeline: one PQsendQueryPrepared per
 * row (parameters as text) and one PQpipelineSync, so the batch is one
 * implicit transaction. Results are read as the socket becomes readable
 * (PQconsumeInput, then PQgetResult while !PQisBusy) and matched to the
 * batch's tickets in order; at the Sync the batch ends: all rows succeed,
 * or the refused row fails (data errors: SQLSTATE 22, 23) and the others,
 * rolled back with it, go back to the queue, or every row fails (the
 * statement is refused: class 42 and the like). A broken connection sends
 * the batch back and reconnects after a backoff. While not READY, submit
 * answers MQR_EAGAIN and the engine keeps the rows queued; when the
 * connection is ready again the sink calls mqr_engine_action_ready.
 */
#include <mqttrule/sink_pgsql.h>

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_core.h"

#define STMT_NAME "mqttrule_sink"

enum pg_state { PG_DOWN, PG_CONNECTING, PG_PREPARING, PG_READY, PG_BATCH };

/* Per-row results of a batch. */
#define ROW_PENDING 0
#define ROW_OK 1
#define ROW_ERROR 2
#define ROW_ABORTED 3

typedef struct mqr_pgsql_sink mqr_pgsql_sink_t;

/* A sink: the engine owns it (ops->destroy frees it). */
struct mqr_pgsql_sink {
    sink_ctx_t ctx;
    PGconn *conn;
    int fd;                     /* watched descriptor, -1 none */
    enum pg_state state;
    char *sql;                  /* with $n markers */
    sink_fields_t fields;
    sink_param_t *params;       /* fields.n */
    const char **vals;          /* the batch's values: batch_max rows of fields.n */
    char *textbuf;              /* their NUL-terminated texts */
    size_t textcap;
    uint32_t batch_max;
    uint64_t *tickets;          /* the batch in flight, batch_max */
    uint8_t *rows;              /* ROW_* per row of the batch */
    uint32_t batch_n, batch_got;
    uint32_t reconnect_ms;      /* backoff of the connection */
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t connect_timeout_ms;
    int statement_refused;      /* fail rows until prepared again */
    int reprepare;              /* a wakeup to prepare again is set */
    char refused[MQR_DIAG_MESSAGE_MAX];
    char batch_err[MQR_DIAG_MESSAGE_MAX]; /* the batch's first error */
    char batch_state[8];                  /* its SQLSTATE */
    char where[80];             /* "pgsql host:port/db" for messages */
    const char *kw[8];
    const char *kv[8];
    char *pg_host, *pg_port, *pg_db, *pg_user, *pg_password;
};

void mqr_pgsql_sink_config_init(mqr_pgsql_sink_config_t *cfg)
{
    if (cfg != NULL)
        memset(cfg, 0, sizeof *cfg);
}

/* ---- the descriptor ------------------------------------------------------------------ */

static void on_fd(void *ud, int fd, uint32_t events, uint64_t now_ms);
static int send_batch(mqr_pgsql_sink_t *s);
static void send_failed(mqr_pgsql_sink_t *s);

/* Watch the connection's socket for `events` (the socket may change while
 * connecting); with no connection, watch nothing. */
static void watch(mqr_pgsql_sink_t *s, uint32_t events)
{
    int fd = s->conn != NULL ? PQsocket(s->conn) : -1;
    if (s->fd >= 0 && s->fd != fd)
        (void)mqr__sink_unwatch_fd(&s->ctx, s->fd);
    s->fd = fd;
    if (fd >= 0)
        (void)mqr__sink_watch_fd(&s->ctx, fd, events, on_fd, s);
}

static void first_line(const char *msg, char *out, size_t cap)
{
    snprintf(out, cap, "%s", msg ? msg : "");
    char *nl = strchr(out, '\n');
    if (nl != NULL)
        *nl = '\0';
}

/* ---- connection life -------------------------------------------------------------------- */

/* End the batch in flight: every row not known to be refused goes back
 * to the queue. */
static void batch_back(mqr_pgsql_sink_t *s, int32_t status, const char *why)
{
    for (uint32_t i = 0; i < s->batch_n; i++)
        mqr__sink_done(&s->ctx, s->tickets[i], MQR_ACTION_DONE_RETRY, status, why);
    s->batch_n = 0;
}

/* Close the connection (a batch in flight goes back to the queue), wait a
 * backoff, connect again. */
static void disconnect(mqr_pgsql_sink_t *s, const char *why)
{
    char msg[MQR_DIAG_MESSAGE_MAX];
    first_line(why, msg, sizeof msg);
    if (s->state == PG_BATCH)
        batch_back(s, MQR_ECONNECT, msg);
    watch(s, 0);
    if (s->fd >= 0)
        (void)mqr__sink_unwatch_fd(&s->ctx, s->fd);
    s->fd = -1;
    if (s->conn != NULL)
        PQfinish(s->conn);
    s->conn = NULL;
    s->state = PG_DOWN;
    s->reprepare = 0; /* the wakeup now means: reconnect */
    if (s->reconnect_ms == 0)
        s->reconnect_ms = s->backoff_min_ms;
    else if (s->reconnect_ms < s->backoff_max_ms / 2)
        s->reconnect_ms *= 2;
    else
        s->reconnect_ms = s->backoff_max_ms;
    mqr__sink_error(&s->ctx, "%s: %s; reconnecting in %u ms", s->where, msg,
                         s->reconnect_ms);
    (void)mqr__sink_wakeup(&s->ctx, s->reconnect_ms);
}

/* Start a connection attempt (PQconnectStartParams); its progress comes
 * through on_fd. */
static void connect_start(mqr_pgsql_sink_t *s)
{
    s->conn = PQconnectStartParams(s->kw, s->kv, 0);
    if (s->conn == NULL) {
        disconnect(s, "out of memory");
        return;
    }
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        disconnect(s, PQerrorMessage(s->conn));
        return;
    }
    s->state = PG_CONNECTING;
    watch(s, MQR_ENGINE_WRITE);
    /* The attempt's time limit: the wakeup ends it if it is still going. */
    (void)mqr__sink_wakeup(&s->ctx, s->connect_timeout_ms);
}

/* Connected: prepare the statement. */
static void prepare_start(mqr_pgsql_sink_t *s)
{
    if (PQsetnonblocking(s->conn, 1) != 0 ||
        !PQsendPrepare(s->conn, STMT_NAME, s->sql, (int)s->fields.n, NULL)) {
        disconnect(s, PQerrorMessage(s->conn));
        return;
    }
    s->state = PG_PREPARING;
    watch(s, MQR_ENGINE_READ | (PQflush(s->conn) == 1 ? MQR_ENGINE_WRITE : 0));
}

/* The prepare's result has arrived (or not yet: return). */
static void prepare_result(mqr_pgsql_sink_t *s)
{
    if (!PQconsumeInput(s->conn)) {
        disconnect(s, PQerrorMessage(s->conn));
        return;
    }
    if (PQisBusy(s->conn))
        return;
    PGresult *r = PQgetResult(s->conn);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn), s->refused,
                   sizeof s->refused);
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn)) != NULL)
        PQclear(r);
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        disconnect(s, s->refused);
        return;
    }
    if (!PQenterPipelineMode(s->conn)) {
        disconnect(s, PQerrorMessage(s->conn));
        return;
    }
    s->state = PG_READY;
    s->reconnect_ms = 0;
    mqr__sink_wakeup(&s->ctx, -1);
    s->reprepare = 0;
    watch(s, MQR_ENGINE_READ);
    if (ok) {
        if (s->statement_refused)
            mqr__sink_log(&s->ctx, MQR_SINK_LOG_INFO, "%s: statement accepted", s->where);
        s->statement_refused = 0;
        mqr__sink_log(&s->ctx, MQR_SINK_LOG_INFO, "%s: connected", s->where);
    } else {
        s->statement_refused = 1;
        mqr__sink_error(&s->ctx, "%s: the statement was refused: %s", s->where,
                             s->refused);
    }
    (void)mqr__sink_ready(&s->ctx);
}

/* ---- batches ------------------------------------------------------------------------------ */

/* Whether an SQLSTATE is about one row's data (the other rows may pass). */
static int row_error(const char *state)
{
    return state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

/* Whether an SQLSTATE is about the connection or the server going away. */
static int connection_error(const char *state)
{
    return state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0;
}

/* A row of the batch was refused for its data: it fails, the others (rolled
 * back with it, or never run) are sent again at once, from the values kept
 * in s->vals, without waiting for a backoff. */
static void batch_resend(mqr_pgsql_sink_t *s, const char *msg)
{
    uint32_t k = 0, n = s->fields.n;
    for (uint32_t i = 0; i < s->batch_n; i++) {
        if (s->rows[i] == ROW_ERROR) {
            mqr__sink_done(&s->ctx, s->tickets[i], MQR_ACTION_DONE_FAILED, MQR_EIO, msg);
            continue;
        }
        s->tickets[k] = s->tickets[i];
        if (k != i)
            memmove(s->vals + (size_t)k * n, s->vals + (size_t)i * n, n * sizeof *s->vals);
        k++;
    }
    s->batch_n = k;
    if (k == 0) {
        s->state = PG_READY;
        mqr__sink_ready(&s->ctx);
    } else if (send_batch(s) != 0) {
        send_failed(s);
    }
}

/* The Sync of the batch has arrived: end every row. */
static void batch_end(mqr_pgsql_sink_t *s, const char *err, const char *state)
{
    char msg[MQR_DIAG_MESSAGE_MAX + sizeof s->where];
    int any_error = 0;
    for (uint32_t i = 0; i < s->batch_n; i++)
        any_error |= s->rows[i] == ROW_ERROR;
    snprintf(msg, sizeof msg, "%s: %s", s->where, err);
    if (any_error && row_error(state)) {
        batch_resend(s, msg);
        return;
    }
    for (uint32_t i = 0; i < s->batch_n; i++) {
        int32_t outcome = MQR_ACTION_DONE_SUCCESS;
        if (any_error) {
            if (connection_error(state))
                outcome = MQR_ACTION_DONE_RETRY;
            else
                outcome = MQR_ACTION_DONE_FAILED; /* the statement was refused */
        }
        mqr__sink_done(&s->ctx, s->tickets[i], outcome,
                            outcome == MQR_ACTION_DONE_SUCCESS ? MQR_OK : MQR_EIO,
                            outcome == MQR_ACTION_DONE_SUCCESS ? NULL : msg);
    }
    s->batch_n = 0;
    s->state = PG_READY;
    (void)mqr__sink_ready(&s->ctx);
}

/* Read what has arrived of the batch's results. */
static void batch_results(mqr_pgsql_sink_t *s)
{
    char *err = s->batch_err;
    char *state = s->batch_state;
    if (!PQconsumeInput(s->conn)) {
        disconnect(s, PQerrorMessage(s->conn));
        return;
    }
    while (s->state == PG_BATCH && !PQisBusy(s->conn)) {
        PGresult *r = PQgetResult(s->conn);
        if (r == NULL) {
            if (PQstatus(s->conn) == CONNECTION_BAD) {
                disconnect(s, PQerrorMessage(s->conn));
                return;
            }
            continue; /* between two queries' results */
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            if (s->batch_got == 0)
                err[0] = state[0] = '\0';
            batch_end(s, err, state[0] ? state : NULL);
            err[0] = state[0] = '\0';
            s->batch_got = 0;
            return;
        }
        if (s->batch_got >= s->batch_n) {
            PQclear(r);
            continue;
        }
        if (s->batch_got == 0)
            err[0] = state[0] = '\0';
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            s->rows[s->batch_got++] = ROW_OK;
        } else if (st == PGRES_PIPELINE_ABORTED) {
            s->rows[s->batch_got++] = ROW_ABORTED;
        } else {
            s->rows[s->batch_got++] = ROW_ERROR;
            if (err[0] == '\0') {
                first_line(PQresultErrorMessage(r), err, sizeof s->batch_err);
                const char *sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(state, sizeof s->batch_state, "%s", sqlstate ? sqlstate : "08000");
            }
        }
        PQclear(r);
    }
    if (s->state == PG_BATCH && PQstatus(s->conn) == CONNECTION_BAD)
        disconnect(s, PQerrorMessage(s->conn));
}

/* Bytes of parameter text the rows of items need in s->textbuf (each
 * value NUL-terminated; numbers at most 32 bytes). */
static size_t batch_need(mqr_pgsql_sink_t *s, const mqr_action_item_t *items, uint32_t count)
{
    size_t need = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (mqr__sink_decode(items[i].data, items[i].data_len, s->params, s->fields.n) != MQR_OK)
            continue;
        for (uint32_t k = 0; k < s->fields.n; k++)
            need += s->params[k].len + 33;
    }
    return need;
}

/* Row `row`'s values (s->vals[row * n ...]) from the decoded s->params,
 * copied NUL-terminated into s->textbuf from *off. 0, or -1 with the
 * parameter's number in *out_bad when a text value holds a NUL byte
 * (PostgreSQL text cannot). */
static int fill_row(mqr_pgsql_sink_t *s, uint32_t row, size_t *off, uint32_t *out_bad)
{
    const char **v = s->vals + (size_t)row * s->fields.n;
    for (uint32_t k = 0; k < s->fields.n; k++) {
        char num[32];
        const char *t;
        size_t len;
        mqr__sink_param_text(&s->params[k], num, &t, &len);
        if (t == NULL) {
            v[k] = NULL;
            continue;
        }
        if (memchr(t, '\0', len) != NULL) {
            *out_bad = k + 1;
            return -1;
        }
        memcpy(s->textbuf + *off, t, len);
        s->textbuf[*off + len] = '\0';
        v[k] = s->textbuf + *off;
        *off += len + 1;
    }
    return 0;
}

/* Send rows 0..batch_n of s->vals as one pipeline ending in one Sync (one
 * implicit transaction) and wait for its results. 0, or -1 when the
 * connection failed (the caller disconnects). */
static int send_batch(mqr_pgsql_sink_t *s)
{
    for (uint32_t i = 0; i < s->batch_n; i++)
        if (!PQsendQueryPrepared(s->conn, STMT_NAME, (int)s->fields.n,
                                 s->vals + (size_t)i * s->fields.n, NULL, NULL, 0))
            return -1;
    if (!PQpipelineSync(s->conn))
        return -1;
    s->state = PG_BATCH;
    s->batch_got = 0;
    memset(s->rows, ROW_PENDING, s->batch_n);
    int f = PQflush(s->conn);
    if (f < 0)
        return -1;
    watch(s, MQR_ENGINE_READ | (f == 1 ? MQR_ENGINE_WRITE : 0));
    return 0;
}

/* The batch could not be sent: it goes back to the queue, reconnect. */
static void send_failed(mqr_pgsql_sink_t *s)
{
    s->state = PG_BATCH;
    disconnect(s, PQerrorMessage(s->conn));
}

/* ---- the action's operations --------------------------------------------------------- */

static int op_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    mqr_pgsql_sink_t *s = ud;
    return mqr__sink_render(&s->fields, item->output, arena, out_data, out_len, diag);
}

static int op_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                     mqr_diag_t *diag)
{
    (void)now_ms;
    mqr_pgsql_sink_t *s = ud;
    if (s->state != PG_READY)
        return MQR_EAGAIN;
    if (s->statement_refused) {
        for (uint32_t i = 0; i < count; i++)
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EIO,
                                s->refused);
        /* Prepare again after a while: the table may have been created. */
        if (!s->reprepare) {
            s->reprepare = 1;
            mqr__sink_wakeup(&s->ctx, s->backoff_max_ms);
        }
        return MQR_OK;
    }
    if (count > s->batch_max)
        count = s->batch_max;
    size_t need = batch_need(s, items, count);
    if (need > s->textcap) {
        char *nb = realloc(s->textbuf, need);
        if (nb == NULL) {
            mqr__sink_diag(diag, MQR_ENOMEM, "", "%s: out of memory", s->where);
            return MQR_ENOMEM;
        }
        s->textbuf = nb;
        s->textcap = need;
    }
    char msg[MQR_DIAG_MESSAGE_MAX];
    size_t off = 0;
    s->batch_n = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t bad = 0;
        if (mqr__sink_decode(items[i].data, items[i].data_len, s->params, s->fields.n) !=
            MQR_OK) {
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EINVAL,
                           "pgsql: undecodable message");
        } else if (fill_row(s, s->batch_n, &off, &bad) != 0) {
            snprintf(msg, sizeof msg,
                     "%s: parameter $%u holds a NUL byte, which PostgreSQL text cannot store",
                     s->where, bad);
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EINVAL, msg);
        } else {
            s->tickets[s->batch_n++] = items[i].ticket;
        }
    }
    if (s->batch_n > 0 && send_batch(s) != 0)
        send_failed(s); /* every row back through done */
    return MQR_OK;
}

/* The wakeup: reconnect after a backoff, end a connection attempt that
 * took too long, or prepare a refused statement again. */
static void op_wakeup(void *ud, uint64_t now_ms)
{
    (void)now_ms;
    mqr_pgsql_sink_t *s = ud;
    if (s->state == PG_DOWN) {
        connect_start(s);
    } else if (s->state == PG_CONNECTING || s->state == PG_PREPARING) {
        disconnect(s, "connection attempt timed out");
    } else if (s->state == PG_READY && s->statement_refused) {
        s->reprepare = 0;
        /* Leave pipeline mode to prepare again. */
        if (PQexitPipelineMode(s->conn))
            prepare_start(s);
    }
}

static void on_fd(void *ud, int fd, uint32_t events, uint64_t now_ms)
{
    (void)fd;
    (void)now_ms;
    mqr_pgsql_sink_t *s = ud;
    switch (s->state) {
    case PG_CONNECTING: {
        PostgresPollingStatusType p = PQconnectPoll(s->conn);
        if (p == PGRES_POLLING_FAILED)
            disconnect(s, PQerrorMessage(s->conn));
        else if (p == PGRES_POLLING_OK)
            prepare_start(s);
        else
            watch(s, p == PGRES_POLLING_READING ? MQR_ENGINE_READ : MQR_ENGINE_WRITE);
        break;
    }
    case PG_PREPARING:
        if ((events & MQR_ENGINE_WRITE) && PQflush(s->conn) == 0)
            watch(s, MQR_ENGINE_READ);
        if (events & MQR_ENGINE_READ)
            prepare_result(s);
        break;
    case PG_BATCH:
        if (events & MQR_ENGINE_WRITE) {
            int f = PQflush(s->conn);
            if (f < 0) {
                disconnect(s, PQerrorMessage(s->conn));
                break;
            }
            if (f == 0)
                watch(s, MQR_ENGINE_READ);
        }
        if (events & MQR_ENGINE_READ)
            batch_results(s);
        break;
    case PG_READY:
        /* Idle: a readable socket is a notice or the server going away. */
        if (!PQconsumeInput(s->conn) || PQstatus(s->conn) == CONNECTION_BAD) {
            disconnect(s, PQerrorMessage(s->conn));
        } else {
            PGresult *r;
            while (!PQisBusy(s->conn) && (r = PQgetResult(s->conn)) != NULL)
                PQclear(r);
        }
        break;
    default:
        break;
    }
}

/* A blocking connection for the connector test: connect, prepare. */
static int op_test(void *ud, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    mqr_pgsql_sink_t *s = ud;
    char secs[16];
    snprintf(secs, sizeof secs, "%u", (timeout_ms ? timeout_ms : 5000u) / 1000u + 1u);
    const char *kw[9], *kv[9];
    size_t n = 0;
    for (; s->kw[n] != NULL; n++) {
        kw[n] = s->kw[n];
        kv[n] = s->kv[n];
    }
    kw[n] = "connect_timeout";
    kv[n++] = secs;
    kw[n] = kv[n] = NULL;
    uint64_t t0 = mqr_http_now_ms();
    PGconn *c = PQconnectdbParams(kw, kv, 0);
    int rc = MQR_OK;
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        rc = MQR_ECONNECT;
        char m[128];
        first_line(c ? PQerrorMessage(c) : "out of memory", m, sizeof m);
        snprintf(out->message, sizeof out->message, "cannot connect: %s", m);
    } else {
        PGresult *r = PQprepare(c, "mqttrule_test", s->sql, (int)s->fields.n, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = MQR_EIO;
            char m[128];
            first_line(PQresultErrorMessage(r), m, sizeof m);
            snprintf(out->message, sizeof out->message, "statement refused: %s", m);
        } else {
            snprintf(out->message, sizeof out->message, "statement prepared");
        }
        PQclear(r);
    }
    PQfinish(c);
    out->status = rc;
    out->elapsed_ms = (uint32_t)(mqr_http_now_ms() - t0);
    return rc;
}

static void op_destroy(void *ud)
{
    mqr_pgsql_sink_t *s = ud;
    if (s->fd >= 0 && s->ctx.engine != NULL)
        mqr__sink_unwatch_fd(&s->ctx, s->fd);
    if (s->conn != NULL)
        PQfinish(s->conn);
    mqr__sink_fields_free(&s->fields);
    free(s->params);
    free(s->vals);
    free(s->textbuf);
    free(s->tickets);
    free(s->rows);
    free(s->sql);
    free(s->pg_host);
    free(s->pg_port);
    free(s->pg_db);
    free(s->pg_user);
    free(s->pg_password);
    free(s);
}

static const mqr_action_ops_t PGSQL_OPS = {op_render, op_submit, NULL, op_wakeup, op_test,
                                           op_destroy};

/* ---- configuration --------------------------------------------------------------------------- */

/* Split "host[:port]" (or "/socket/dir[:port]"). MQR_OK or MQR_EINVAL. */
static int parse_server(mqr_pgsql_sink_t *s, const char *server, mqr_diag_t *diag)
{
    const char *colon = strrchr(server, ':');
    const char *port = "5432";
    size_t hlen = strlen(server);
    if (colon != NULL && strchr(server, ']') == NULL) {
        hlen = (size_t)(colon - server);
        port = colon + 1;
        char *end = NULL;
        errno = 0;
        long p = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p < 1 || p > 65535 || errno != 0) {
            mqr__sink_diag(diag, MQR_EINVAL, "server", "pgsql: server '%s': bad port '%s'",
                           server, port);
            return MQR_EINVAL;
        }
    }
    if (hlen == 0) {
        mqr__sink_diag(diag, MQR_EINVAL, "server", "pgsql: server '%s': no host", server);
        return MQR_EINVAL;
    }
    s->pg_host = strndup(server, hlen);
    s->pg_port = strdup(port);
    return s->pg_host && s->pg_port ? MQR_OK : MQR_ENOMEM;
}

/* The first line of `path`, the password. MQR_OK or MQR_EIO. */
static int read_password(mqr_pgsql_sink_t *s, const char *path, mqr_diag_t *diag)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    if (f == NULL) {
        mqr__sink_diag(diag, MQR_EIO, "password_file", "pgsql: password_file '%s': %s", path,
                       strerror(errno));
        return MQR_EIO;
    }
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    s->pg_password = strdup(line);
    return s->pg_password ? MQR_OK : MQR_ENOMEM;
}

static int configure(mqr_pgsql_sink_t *s, const mqr_pgsql_sink_config_t *cfg, mqr_diag_t *diag)
{
    int rc = parse_server(s, cfg->server, diag);
    if (rc == MQR_OK && cfg->password_file != NULL && cfg->password == NULL)
        rc = read_password(s, cfg->password_file, diag);
    if (rc != MQR_OK)
        return rc;
    s->pg_db = strdup(cfg->database);
    if (cfg->username != NULL)
        s->pg_user = strdup(cfg->username);
    if (cfg->password != NULL)
        s->pg_password = strdup(cfg->password);
    size_t n = 0;
    s->kw[n] = s->pg_host[0] == '/' ? "host" : "hostaddr";
    /* hostaddr needs a numeric address; a name goes as host (resolved by
       libpq, which blocks: give an address for a non-blocking start). */
    if (s->pg_host[0] != '/' && strspn(s->pg_host, "0123456789.:abcdefABCDEF") !=
                                    strlen(s->pg_host))
        s->kw[n] = "host";
    s->kv[n++] = s->pg_host;
    s->kw[n] = "port";
    s->kv[n++] = s->pg_port;
    s->kw[n] = "dbname";
    s->kv[n++] = s->pg_db;
    if (s->pg_user != NULL) {
        s->kw[n] = "user";
        s->kv[n++] = s->pg_user;
    }
    if (s->pg_password != NULL) {
        s->kw[n] = "password";
        s->kv[n++] = s->pg_password;
    }
    s->kw[n] = "application_name";
    s->kv[n++] = "mqttrule";
    s->kw[n] = s->kv[n] = NULL;
    snprintf(s->where, sizeof s->where, "pgsql %s:%s/%s", s->pg_host, s->pg_port, s->pg_db);
    return s->pg_db != NULL ? MQR_OK : MQR_ENOMEM;
}

int mqr_pgsql_sink_add(mqr_engine_t *engine, const char *rule_id,
                       const mqr_pgsql_sink_config_t *cfg, uint32_t *out_action_id,
                       mqr_diag_t *diag)
{
    if (engine == NULL || rule_id == NULL || cfg == NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, "", "pgsql: NULL argument");
        return MQR_EINVAL;
    }
    const char *missing = cfg->server == NULL || !cfg->server[0]       ? "server"
                          : cfg->database == NULL || !cfg->database[0] ? "database"
                          : cfg->sql == NULL || !cfg->sql[0]           ? "sql"
                                                                       : NULL;
    if (missing != NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, missing, "pgsql: '%s' is required", missing);
        return MQR_EINVAL;
    }
    mqr_pgsql_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQR_ENOMEM;
    s->fd = -1;
    mqr_custom_action_config_t ac;
    mqr__sink_action_config(&ac, "pgsql", &cfg->queue);
    ac.ops = &PGSQL_OPS;
    ac.ud = s;
    s->batch_max = ac.batch_size;
    s->backoff_min_ms = ac.backoff_initial_ms ? ac.backoff_initial_ms
                                              : MQR_ACTION_DEFAULT_BACKOFF_INITIAL_MS;
    s->backoff_max_ms = ac.backoff_max_ms ? ac.backoff_max_ms : MQR_ACTION_DEFAULT_BACKOFF_MAX_MS;
    if (s->backoff_max_ms < s->backoff_min_ms)
        s->backoff_max_ms = s->backoff_min_ms;
    s->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 15000u;
    int rc = mqr__sink_sql_parse(cfg->sql, SINK_SQL_DOLLAR, &s->sql, &s->fields, diag);
    if (rc == MQR_OK) {
        s->params = calloc(s->fields.n + 1, sizeof *s->params);
        s->vals = calloc((size_t)s->batch_max * s->fields.n + 1, sizeof *s->vals);
        s->tickets = calloc(s->batch_max, sizeof *s->tickets);
        s->rows = calloc(s->batch_max, 1);
        if (!s->params || !s->vals || !s->tickets || !s->rows)
            rc = MQR_ENOMEM;
    }
    if (rc == MQR_OK)
        rc = configure(s, cfg, diag);
    s->ctx.log = cfg->log;
    s->ctx.log_ud = cfg->log_ud;
    snprintf(s->ctx.where, sizeof s->ctx.where, "pgsql");
    if (rc == MQR_OK)
        rc = mqr__sink_attach(&s->ctx, engine, rule_id, &ac, out_action_id, diag);
    if (rc != MQR_OK) {
        op_destroy(s);
        return rc;
    }
    connect_start(s);
    return MQR_OK;
}
