/* SPDX-License-Identifier: MIT */
/*
 * pgsql.c - the PostgreSQL sink (mqttrule/sink_pgsql.h), libmqttrule_pgsql.
 *
 * A custom action (mqttrule/action.h) over a pool of pool_size libpq
 * connections (1 by default) driven without blocking from the host's loop.
 * Each connection goes
 *
 *   DOWN --timer--> CONNECTING --PQconnectPoll OK--> PREPARING
 *     ^  <--failure, backoff--                          | PQsendPrepare result
 *     +--------- broken connection ------------- READY (pipeline mode)
 *
 * and, READY, carries up to inflight_window batches at once in one pipeline:
 * submit picks the READY connection with the fewest batches in flight and
 * sends the batch as one PQsendQueryPrepared per row (parameters as text)
 * and one PQpipelineSync, so each batch is its own implicit transaction,
 * queued behind the batches before it without waiting for their commits.
 * Results are read as the socket becomes readable (PQconsumeInput, then
 * PQgetResult while !PQisBusy) and matched in order to the connection's
 * FIFO of batches; at a batch's Sync it ends: all rows succeed (only now,
 * after the commit, is the engine told, so a durable queue releases rows
 * whose COMMIT succeeded), or the refused row fails (data errors: SQLSTATE
 * 22, 23) and the others, rolled back with it, are sent again at once
 * behind the batches in flight, or every row fails (the statement is
 * refused: class 42 and the like). A broken connection sends every batch it
 * carried back to the engine, oldest first (each retried whole, in its
 * order: the engine's queue is ordered by expiry), and reconnects after a
 * backoff. With no connection able to take a batch, submit answers
 * MQR_EAGAIN and the engine keeps the rows queued; when one can again the
 * sink calls mqr_engine_action_ready.
 *
 * Each connection has its own timer (reconnect after the backoff, the end
 * of a connection attempt, preparing a refused statement again); the
 * action's one wakeup is set to the earliest of them.
 *
 * The placeholder ${idempotency_key} (SINK_ID_NAME) is not taken from the
 * rule's output: it binds the record's stable identifier, the durable
 * queue's "<queue id>-<seq>" (mqr_action_item_t.id), or without a durable
 * queue "<16 hex digits chosen at create>-m<ticket>" (stable over the
 * in-memory retries), so a UNIQUE column and ON CONFLICT DO NOTHING make
 * the replays and retries of at-least-once delivery exactly once.
 */
#include <mqttrule/sink_pgsql.h>

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_core.h"

#define STMT_NAME "mqttrule_sink"

enum pg_state { PG_DOWN, PG_CONNECTING, PG_PREPARING, PG_READY };

/* Per-row results of a batch. */
#define ROW_PENDING 0
#define ROW_OK 1
#define ROW_ERROR 2
#define ROW_ABORTED 3

typedef struct mqr_pgsql_sink mqr_pgsql_sink_t;

/* One batch: rows sent as one pipeline ending in one Sync. Its values stay
 * here until it ends, to send the rows again after a refused one. */
typedef struct pg_batch {
    struct pg_batch *next;      /* the connection's FIFO, or the free list */
    uint32_t n, got;            /* rows, results read */
    int commit_failed;          /* an error after the rows' results: the COMMIT's */
    uint64_t *tickets;          /* batch_max */
    uint8_t *rows;              /* ROW_* per row */
    const char **vals;          /* batch_max rows of fields.n values */
    char *text;                 /* their NUL-terminated texts */
    size_t cap;
    char err[MQR_DIAG_MESSAGE_MAX]; /* the first error */
    char state[8];                  /* its SQLSTATE */
} pg_batch_t;

/* One connection of the pool. */
typedef struct pg_conn {
    mqr_pgsql_sink_t *s;
    PGconn *conn;
    int fd;                     /* watched descriptor, -1 none */
    enum pg_state state;
    int prepared;               /* READY with the statement prepared */
    int want_write;             /* output waits for PQflush */
    pg_batch_t *head, *tail;    /* the batches in flight, oldest first */
    uint32_t nflight;
    uint32_t reconnect_ms;      /* backoff of the connection */
    uint64_t due_ms;            /* its timer (monotonic), 0 none */
} pg_conn_t;

/* A sink: the engine owns it (ops->destroy frees it). */
struct mqr_pgsql_sink {
    sink_ctx_t ctx;
    char *sql;                  /* with $n markers */
    sink_fields_t fields;
    sink_param_t *params;       /* fields.n */
    uint32_t batch_max;
    uint32_t window;            /* batches in flight per connection */
    uint32_t npool;
    pg_conn_t *pool;            /* npool */
    pg_batch_t *spare;          /* free batches */
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t connect_timeout_ms;
    int statement_refused;      /* no connection has it prepared: fail rows */
    int ending;                 /* ending a batch's rows: submit waits (below) */
    char refused[MQR_DIAG_MESSAGE_MAX];
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

/* ---- descriptors and timers -------------------------------------------------------------- */

static void on_fd(void *ud, int fd, uint32_t events, uint64_t now_ms);
static int send_batch(pg_conn_t *c, pg_batch_t *b);

/* Watch the connection's socket for `events` (the socket may change while
 * connecting); with no connection, watch nothing. */
static void watch(pg_conn_t *c, uint32_t events)
{
    int fd = c->conn != NULL ? PQsocket(c->conn) : -1;
    if (c->fd >= 0 && c->fd != fd)
        (void)mqr__sink_unwatch_fd(&c->s->ctx, c->fd);
    c->fd = fd;
    if (fd >= 0)
        (void)mqr__sink_watch_fd(&c->s->ctx, fd, events, on_fd, c);
}

/* Set the action's wakeup to the earliest timer of the pool. */
static void schedule(mqr_pgsql_sink_t *s)
{
    uint64_t first = 0;
    for (uint32_t i = 0; i < s->npool; i++)
        if (s->pool[i].due_ms != 0 && (first == 0 || s->pool[i].due_ms < first))
            first = s->pool[i].due_ms;
    if (first == 0) {
        mqr__sink_wakeup(&s->ctx, -1);
    } else {
        uint64_t now = mqr_http_now_ms();
        mqr__sink_wakeup(&s->ctx, first > now ? (int64_t)(first - now) : 0);
    }
}

/* Connection c's timer: in delay_ms, or none (delay_ms < 0). */
static void conn_timer(pg_conn_t *c, int64_t delay_ms)
{
    c->due_ms = delay_ms < 0 ? 0 : mqr_http_now_ms() + (uint64_t)delay_ms;
    if (c->due_ms == 0 && delay_ms >= 0)
        c->due_ms = 1;
    schedule(c->s);
}

static void first_line(const char *msg, char *out, size_t cap)
{
    snprintf(out, cap, "%s", msg ? msg : "");
    char *nl = strchr(out, '\n');
    if (nl != NULL)
        *nl = '\0';
}

/* ---- batches' memory ----------------------------------------------------------------------- */

/* A free batch (from the spare list or new), or NULL (no memory). */
static pg_batch_t *batch_get(mqr_pgsql_sink_t *s)
{
    pg_batch_t *b = s->spare;
    if (b != NULL) {
        s->spare = b->next;
    } else {
        b = calloc(1, sizeof *b);
        if (b == NULL)
            return NULL;
        b->tickets = calloc(s->batch_max, sizeof *b->tickets);
        b->rows = calloc(s->batch_max, 1);
        b->vals = calloc((size_t)s->batch_max * s->fields.n + 1, sizeof *b->vals);
        if (b->tickets == NULL || b->rows == NULL || b->vals == NULL) {
            free(b->tickets);
            free(b->rows);
            free(b->vals);
            free(b);
            return NULL;
        }
    }
    b->next = NULL;
    b->n = b->got = 0;
    b->commit_failed = 0;
    b->err[0] = b->state[0] = '\0';
    return b;
}

static void batch_put(mqr_pgsql_sink_t *s, pg_batch_t *b)
{
    b->next = s->spare;
    s->spare = b;
}

static void batch_free(pg_batch_t *b)
{
    free(b->tickets);
    free(b->rows);
    free(b->vals);
    free(b->text);
    free(b);
}

/* Take the oldest batch off c's FIFO. */
static pg_batch_t *flight_pop(pg_conn_t *c)
{
    pg_batch_t *b = c->head;
    c->head = b->next;
    if (c->head == NULL)
        c->tail = NULL;
    b->next = NULL;
    c->nflight--;
    return b;
}

/* ---- connection life -------------------------------------------------------------------- */

/* Every batch c carries goes back to the engine, oldest first, each row to
 * be retried (the batch again whole, after the backoff). */
static void flight_back(pg_conn_t *c, int32_t status, const char *why)
{
    while (c->head != NULL) {
        pg_batch_t *b = flight_pop(c);
        for (uint32_t i = 0; i < b->n; i++)
            mqr__sink_done(&c->s->ctx, b->tickets[i], MQR_ACTION_DONE_RETRY, status, why);
        batch_put(c->s, b);
    }
}

/* Close the connection (its batches go back to the queue), wait a backoff,
 * connect again. */
static void disconnect(pg_conn_t *c, const char *why)
{
    mqr_pgsql_sink_t *s = c->s;
    char msg[MQR_DIAG_MESSAGE_MAX];
    first_line(why, msg, sizeof msg);
    /* Not READY while its batches go back: the engine, told of them, may
       submit at once (a row whose attempts are used up makes room) and must
       not pick this connection. */
    c->state = PG_DOWN;
    c->prepared = 0;
    flight_back(c, MQR_ECONNECT, msg);
    if (c->fd >= 0)
        (void)mqr__sink_unwatch_fd(&s->ctx, c->fd);
    c->fd = -1;
    if (c->conn != NULL)
        PQfinish(c->conn);
    c->conn = NULL;
    c->want_write = 0;
    if (c->reconnect_ms == 0)
        c->reconnect_ms = s->backoff_min_ms;
    else if (c->reconnect_ms < s->backoff_max_ms / 2)
        c->reconnect_ms *= 2;
    else
        c->reconnect_ms = s->backoff_max_ms;
    mqr__sink_error(&s->ctx, "%s: %s; reconnecting in %u ms", s->where, msg, c->reconnect_ms);
    conn_timer(c, c->reconnect_ms);
}

/* Start a connection attempt (PQconnectStartParams); its progress comes
 * through on_fd. */
static void connect_start(pg_conn_t *c)
{
    mqr_pgsql_sink_t *s = c->s;
    c->conn = PQconnectStartParams(s->kw, s->kv, 0);
    if (c->conn == NULL) {
        disconnect(c, "out of memory");
        return;
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = PG_CONNECTING;
    watch(c, MQR_ENGINE_WRITE);
    /* The attempt's time limit: the timer ends it if it is still going. */
    conn_timer(c, s->connect_timeout_ms);
}

/* Connected (or back out of pipeline mode): prepare the statement. */
static void prepare_start(pg_conn_t *c)
{
    if (PQsetnonblocking(c->conn, 1) != 0 ||
        !PQsendPrepare(c->conn, STMT_NAME, c->s->sql, (int)c->s->fields.n, NULL)) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = PG_PREPARING;
    conn_timer(c, c->s->connect_timeout_ms);
    watch(c, MQR_ENGINE_READ | (PQflush(c->conn) == 1 ? MQR_ENGINE_WRITE : 0));
}

/* The prepare's result has arrived (or not yet: return). */
static void prepare_result(pg_conn_t *c)
{
    mqr_pgsql_sink_t *s = c->s;
    if (!PQconsumeInput(c->conn)) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    if (PQisBusy(c->conn))
        return;
    PGresult *r = PQgetResult(c->conn);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c->conn), s->refused,
                   sizeof s->refused);
    }
    PQclear(r);
    while ((r = PQgetResult(c->conn)) != NULL)
        PQclear(r);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        disconnect(c, s->refused);
        return;
    }
    if (!PQenterPipelineMode(c->conn)) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = PG_READY;
    c->reconnect_ms = 0;
    c->prepared = ok;
    conn_timer(c, -1);
    watch(c, MQR_ENGINE_READ);
    if (ok) {
        if (s->statement_refused)
            mqr__sink_log(&s->ctx, MQR_SINK_LOG_INFO, "%s: statement accepted", s->where);
        s->statement_refused = 0;
        mqr__sink_log(&s->ctx, MQR_SINK_LOG_INFO, "%s: connected", s->where);
    } else {
        s->statement_refused = 1;
        mqr__sink_error(&s->ctx, "%s: the statement was refused: %s", s->where, s->refused);
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

/* A row of batch b (off c's FIFO) was refused for its data: it fails, the
 * others (rolled back with it, or never run) are sent again at once, from
 * the values kept in b, behind the batches still in flight. */
static void batch_resend(pg_conn_t *c, pg_batch_t *b, const char *msg)
{
    uint32_t k = 0, n = c->s->fields.n;
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->rows[i] == ROW_ERROR) {
            mqr__sink_done(&c->s->ctx, b->tickets[i], MQR_ACTION_DONE_FAILED, MQR_EIO, msg);
            continue;
        }
        b->tickets[k] = b->tickets[i];
        if (k != i)
            memmove(b->vals + (size_t)k * n, b->vals + (size_t)i * n, n * sizeof *b->vals);
        k++;
    }
    b->n = k;
    if (k == 0)
        batch_put(c->s, b);
    else if (send_batch(c, b) != 0)
        disconnect(c, PQerrorMessage(c->conn)); /* b is in the FIFO: back too */
}

/* Row i of batch src into dst as a batch of one, its values copied. 0, or
 * -1 (no memory). */
static int batch_copy_row(mqr_pgsql_sink_t *s, pg_batch_t *dst, const pg_batch_t *src,
                          uint32_t i)
{
    uint32_t n = s->fields.n;
    const char *const *v = src->vals + (size_t)i * n;
    size_t need = 1, off = 0;
    for (uint32_t k = 0; k < n; k++)
        need += v[k] != NULL ? strlen(v[k]) + 1 : 0;
    if (need > dst->cap) {
        char *nb = realloc(dst->text, need);
        if (nb == NULL)
            return -1;
        dst->text = nb;
        dst->cap = need;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (v[k] == NULL) {
            dst->vals[k] = NULL;
            continue;
        }
        size_t len = strlen(v[k]);
        memcpy(dst->text + off, v[k], len + 1);
        dst->vals[k] = dst->text + off;
        off += len + 1;
    }
    dst->tickets[0] = src->tickets[i];
    dst->n = 1;
    return 0;
}

/* Batch b (off c's FIFO) was refused at its COMMIT for a row's data (msg):
 * each row is sent again as a batch of its own, behind the batches in
 * flight, so that only the refused rows fail. A row that cannot be sent so
 * (no memory, the connection failing) goes back to the queue. */
static void batch_split(pg_conn_t *c, pg_batch_t *b, const char *msg)
{
    mqr_pgsql_sink_t *s = c->s;
    mqr__sink_log(&s->ctx, MQR_SINK_LOG_INFO,
                  "%s; the batch's %u rows are sent again one by one", msg, b->n);
    uint32_t i = 0;
    while (i < b->n && c->state == PG_READY) {
        pg_batch_t *one = batch_get(s);
        if (one != NULL && batch_copy_row(s, one, b, i) != 0) {
            batch_put(s, one);
            one = NULL;
        }
        if (one == NULL)
            break;
        i++;
        if (send_batch(c, one) != 0)
            disconnect(c, PQerrorMessage(c->conn)); /* `one` is in the FIFO: back too */
    }
    for (; i < b->n; i++)
        mqr__sink_done(&s->ctx, b->tickets[i], MQR_ACTION_DONE_RETRY,
                       c->state == PG_READY ? MQR_ENOMEM : MQR_ECONNECT,
                       c->state == PG_READY ? "pgsql: out of memory" : msg);
    batch_put(s, b);
}

/* The Sync of c's oldest batch has arrived (its COMMIT is done, or it was
 * rolled back): end every row. */
static void batch_end(pg_conn_t *c)
{
    mqr_pgsql_sink_t *s = c->s;
    pg_batch_t *b = flight_pop(c);
    const char *state = b->state[0] ? b->state : NULL;
    char msg[MQR_DIAG_MESSAGE_MAX + sizeof s->where + 4];
    int any_error = 0;
    for (uint32_t i = 0; i < b->n; i++)
        any_error |= b->rows[i] == ROW_ERROR;
    snprintf(msg, sizeof msg, "%s: %s", s->where, b->err);
    /* Each done lets the engine submit again at once (one row of room):
       answer busy until the batch has ended, and the engine's next round
       submits full batches (conn_read calls ready). */
    s->ending = 1;
    if (b->commit_failed && !any_error) {
        /* Every row ran, the COMMIT failed (a deferred constraint, a
           serialization failure): nothing of the batch is written. A data
           error there names no row: with several, each is sent again as
           its own transaction to find the refused ones. */
        if (row_error(state) && b->n > 1) {
            batch_split(c, b, msg);
            s->ending = 0;
            return;
        }
        b->rows[0] = ROW_ERROR;
        any_error = 1;
    }
    if (any_error && row_error(state)) {
        batch_resend(c, b, msg);
        s->ending = 0;
        return;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        int32_t outcome = MQR_ACTION_DONE_SUCCESS;
        if (any_error) {
            if (connection_error(state))
                outcome = MQR_ACTION_DONE_RETRY;
            else
                outcome = MQR_ACTION_DONE_FAILED; /* the statement was refused */
        }
        mqr__sink_done(&s->ctx, b->tickets[i], outcome,
                       outcome == MQR_ACTION_DONE_SUCCESS ? MQR_OK : MQR_EIO,
                       outcome == MQR_ACTION_DONE_SUCCESS ? NULL : msg);
    }
    s->ending = 0;
    batch_put(s, b);
}

/* Read what has arrived of c's results: each batch's rows in order, then
 * its Sync. With nothing in flight, a readable socket is a notice or the
 * server going away. */
static void conn_read(pg_conn_t *c)
{
    mqr_pgsql_sink_t *s = c->s;
    int ended = 0;
    if (!PQconsumeInput(c->conn)) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    while (c->state == PG_READY && c->head != NULL && !PQisBusy(c->conn)) {
        pg_batch_t *b = c->head;
        PGresult *r = PQgetResult(c->conn);
        if (r == NULL) {
            if (PQstatus(c->conn) == CONNECTION_BAD) {
                disconnect(c, PQerrorMessage(c->conn));
                return;
            }
            continue; /* between two queries' results */
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            batch_end(c);
            ended = 1;
            continue;
        }
        if (b->got >= b->n) {
            /* After every row's result, before the Sync: the COMMIT failed */
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
                st != PGRES_PIPELINE_ABORTED && !b->commit_failed) {
                b->commit_failed = 1;
                if (b->err[0] == '\0') {
                    first_line(PQresultErrorMessage(r), b->err, sizeof b->err);
                    const char *sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                    snprintf(b->state, sizeof b->state, "%s", sqlstate ? sqlstate : "08000");
                }
            }
            PQclear(r);
            continue;
        }
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            b->rows[b->got++] = ROW_OK;
        } else if (st == PGRES_PIPELINE_ABORTED) {
            b->rows[b->got++] = ROW_ABORTED;
        } else {
            b->rows[b->got++] = ROW_ERROR;
            if (b->err[0] == '\0') {
                first_line(PQresultErrorMessage(r), b->err, sizeof b->err);
                const char *sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(b->state, sizeof b->state, "%s", sqlstate ? sqlstate : "08000");
            }
        }
        PQclear(r);
    }
    if (c->state != PG_READY)
        return;
    if (c->head == NULL) {
        PGresult *r;
        while (!PQisBusy(c->conn) && (r = PQgetResult(c->conn)) != NULL)
            PQclear(r);
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        disconnect(c, PQerrorMessage(c->conn));
        return;
    }
    if (ended)
        (void)mqr__sink_ready(&s->ctx);
}

/* Bytes of parameter text the rows of items need (each value
 * NUL-terminated; numbers at most 32 bytes, an identifier SINK_ID_MAX). */
static size_t batch_need(mqr_pgsql_sink_t *s, const mqr_action_item_t *items, uint32_t count)
{
    size_t need = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (mqr__sink_decode(items[i].data, items[i].data_len, s->params, s->fields.n) != MQR_OK)
            continue;
        for (uint32_t k = 0; k < s->fields.n; k++)
            need += s->params[k].len + 33 + (s->fields.is_id[k] ? SINK_ID_MAX : 0);
    }
    return need;
}

/* Row `row` of b (b->vals[row * n ...]) from the decoded s->params, copied
 * NUL-terminated into b->text from *off. 0, or -1 with the parameter's
 * number in *out_bad when a text value holds a NUL byte (PostgreSQL text
 * cannot). */
static int fill_row(mqr_pgsql_sink_t *s, pg_batch_t *b, uint32_t row, size_t *off,
                    uint32_t *out_bad)
{
    const char **v = b->vals + (size_t)row * s->fields.n;
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
        memcpy(b->text + *off, t, len);
        b->text[*off + len] = '\0';
        v[k] = b->text + *off;
        *off += len + 1;
    }
    return 0;
}

/* Append b to c's FIFO and send its rows as one pipeline ending in one Sync
 * (one implicit transaction), behind the batches already in flight. 0, or
 * -1 when the connection failed (the caller disconnects; b is in the FIFO
 * and goes back with the others). */
static int send_batch(pg_conn_t *c, pg_batch_t *b)
{
    uint32_t n = c->s->fields.n;
    b->next = NULL;
    b->got = 0;
    b->commit_failed = 0;
    b->err[0] = b->state[0] = '\0';
    memset(b->rows, ROW_PENDING, b->n);
    if (c->tail != NULL)
        c->tail->next = b;
    else
        c->head = b;
    c->tail = b;
    c->nflight++;
    for (uint32_t i = 0; i < b->n; i++)
        if (!PQsendQueryPrepared(c->conn, STMT_NAME, (int)n, b->vals + (size_t)i * n, NULL, NULL,
                                 0))
            return -1;
    if (!PQpipelineSync(c->conn))
        return -1;
    int f = PQflush(c->conn);
    if (f < 0)
        return -1;
    c->want_write = f == 1;
    watch(c, MQR_ENGINE_READ | (c->want_write ? MQR_ENGINE_WRITE : 0));
    return 0;
}

/* ---- the action's operations --------------------------------------------------------- */

static int op_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    mqr_pgsql_sink_t *s = ud;
    return mqr__sink_render(&s->fields, item->output, arena, out_data, out_len, diag);
}

/* The connection to take a batch: READY with the statement prepared and
 * room in its window, the fewest batches in flight first; or NULL. */
static pg_conn_t *pick(mqr_pgsql_sink_t *s)
{
    pg_conn_t *best = NULL;
    for (uint32_t i = 0; i < s->npool; i++) {
        pg_conn_t *c = &s->pool[i];
        if (c->state == PG_READY && c->prepared && c->nflight < s->window &&
            (best == NULL || c->nflight < best->nflight))
            best = c;
    }
    return best;
}

/* With no connection to take them: whether the rows fail because the
 * server refused the statement (a connection is up, none has it prepared);
 * each such connection then prepares it again after a while (the table may
 * have been created). */
static int refused_everywhere(mqr_pgsql_sink_t *s)
{
    int up = 0;
    for (uint32_t i = 0; i < s->npool; i++) {
        if (s->pool[i].prepared)
            return 0;
        up |= s->pool[i].state == PG_READY;
    }
    if (!up || !s->statement_refused)
        return 0;
    for (uint32_t i = 0; i < s->npool; i++)
        if (s->pool[i].state == PG_READY && s->pool[i].due_ms == 0)
            conn_timer(&s->pool[i], s->backoff_max_ms);
    return 1;
}

static int op_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                     mqr_diag_t *diag)
{
    (void)now_ms;
    mqr_pgsql_sink_t *s = ud;
    if (s->ending)
        return MQR_EAGAIN;
    pg_conn_t *c = pick(s);
    if (c == NULL) {
        if (!refused_everywhere(s))
            return MQR_EAGAIN;
        for (uint32_t i = 0; i < count; i++)
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EIO,
                           s->refused);
        return MQR_OK;
    }
    if (count > s->batch_max)
        count = s->batch_max;
    pg_batch_t *b = batch_get(s);
    size_t need = batch_need(s, items, count);
    if (b != NULL && need > b->cap) {
        char *nb = realloc(b->text, need);
        if (nb == NULL) {
            batch_put(s, b);
            b = NULL;
        } else {
            b->text = nb;
            b->cap = need;
        }
    }
    if (b == NULL) {
        mqr__sink_diag(diag, MQR_ENOMEM, "", "%s: out of memory", s->where);
        return MQR_ENOMEM;
    }
    char msg[MQR_DIAG_MESSAGE_MAX];
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t bad = 0;
        char idbuf[SINK_ID_MAX];
        if (mqr__sink_decode_item(&s->ctx, &s->fields, &items[i], s->params, idbuf) != MQR_OK) {
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EINVAL,
                           "pgsql: undecodable message");
        } else if (fill_row(s, b, b->n, &off, &bad) != 0) {
            snprintf(msg, sizeof msg,
                     "%s: parameter $%u holds a NUL byte, which PostgreSQL text cannot store",
                     s->where, bad);
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EINVAL, msg);
        } else {
            b->tickets[b->n++] = items[i].ticket;
        }
    }
    if (b->n == 0)
        batch_put(s, b);
    else if (send_batch(c, b) != 0)
        disconnect(c, PQerrorMessage(c->conn)); /* every row back through done */
    return MQR_OK;
}

/* Connection c's timer: reconnect after a backoff, end a connection
 * attempt that took too long, or prepare a refused statement again. */
static void conn_due(pg_conn_t *c)
{
    if (c->state == PG_DOWN) {
        connect_start(c);
    } else if (c->state == PG_CONNECTING || c->state == PG_PREPARING) {
        disconnect(c, "connection attempt timed out");
    } else if (c->state == PG_READY && !c->prepared && c->head == NULL) {
        /* Leave pipeline mode to prepare again. */
        if (PQexitPipelineMode(c->conn))
            prepare_start(c);
    }
}

static void op_wakeup(void *ud, uint64_t now_ms)
{
    (void)now_ms;
    mqr_pgsql_sink_t *s = ud;
    uint64_t now = mqr_http_now_ms();
    for (uint32_t i = 0; i < s->npool; i++) {
        pg_conn_t *c = &s->pool[i];
        if (c->due_ms != 0 && c->due_ms <= now) {
            c->due_ms = 0;
            conn_due(c);
        }
    }
    schedule(s);
}

static void on_fd(void *ud, int fd, uint32_t events, uint64_t now_ms)
{
    (void)fd;
    (void)now_ms;
    pg_conn_t *c = ud;
    switch (c->state) {
    case PG_CONNECTING: {
        PostgresPollingStatusType p = PQconnectPoll(c->conn);
        if (p == PGRES_POLLING_FAILED)
            disconnect(c, PQerrorMessage(c->conn));
        else if (p == PGRES_POLLING_OK)
            prepare_start(c);
        else
            watch(c, p == PGRES_POLLING_READING ? MQR_ENGINE_READ : MQR_ENGINE_WRITE);
        break;
    }
    case PG_PREPARING:
        if ((events & MQR_ENGINE_WRITE) && PQflush(c->conn) == 0)
            watch(c, MQR_ENGINE_READ);
        if (events & MQR_ENGINE_READ)
            prepare_result(c);
        break;
    case PG_READY:
        if ((events & MQR_ENGINE_WRITE) && c->want_write) {
            int f = PQflush(c->conn);
            if (f < 0) {
                disconnect(c, PQerrorMessage(c->conn));
                break;
            }
            if (f == 0) {
                c->want_write = 0;
                watch(c, MQR_ENGINE_READ);
            }
        }
        if (events & MQR_ENGINE_READ)
            conn_read(c);
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
    for (uint32_t i = 0; s->pool != NULL && i < s->npool; i++) {
        pg_conn_t *c = &s->pool[i];
        if (c->fd >= 0 && s->ctx.engine != NULL)
            mqr__sink_unwatch_fd(&s->ctx, c->fd);
        if (c->conn != NULL)
            PQfinish(c->conn);
        while (c->head != NULL)
            batch_free(flight_pop(c));
    }
    while (s->spare != NULL) {
        pg_batch_t *b = s->spare;
        s->spare = b->next;
        batch_free(b);
    }
    free(s->pool);
    mqr__sink_fields_free(&s->fields);
    free(s->params);
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
    if (cfg->pool_size > MQR_PGSQL_MAX_POOL_SIZE ||
        cfg->inflight_window > MQR_PGSQL_MAX_INFLIGHT_WINDOW) {
        const char *f = cfg->pool_size > MQR_PGSQL_MAX_POOL_SIZE ? "pool_size" : "inflight_window";
        mqr__sink_diag(diag, MQR_EINVAL, f, "pgsql: %s must be at most %u", f,
                       f[0] == 'p' ? MQR_PGSQL_MAX_POOL_SIZE : MQR_PGSQL_MAX_INFLIGHT_WINDOW);
        return MQR_EINVAL;
    }
    mqr_pgsql_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQR_ENOMEM;
    s->npool = cfg->pool_size ? cfg->pool_size : MQR_PGSQL_DEFAULT_POOL_SIZE;
    s->window = cfg->inflight_window ? cfg->inflight_window : MQR_PGSQL_DEFAULT_INFLIGHT_WINDOW;
    s->pool = calloc(s->npool, sizeof *s->pool);
    if (s->pool == NULL) {
        free(s);
        return MQR_ENOMEM;
    }
    for (uint32_t i = 0; i < s->npool; i++) {
        s->pool[i].s = s;
        s->pool[i].fd = -1;
    }
    mqr_custom_action_config_t ac;
    mqr__sink_action_config(&ac, "pgsql", &cfg->queue);
    ac.ops = &PGSQL_OPS;
    ac.ud = s;
    s->batch_max = ac.batch_size;
    /* Messages in flight: every batch of every connection's window. */
    uint64_t flight = (uint64_t)ac.batch_size * s->window * s->npool;
    ac.max_inflight = flight > UINT32_MAX ? UINT32_MAX : (uint32_t)flight;
    s->backoff_min_ms = ac.backoff_initial_ms ? ac.backoff_initial_ms
                                              : MQR_ACTION_DEFAULT_BACKOFF_INITIAL_MS;
    s->backoff_max_ms = ac.backoff_max_ms ? ac.backoff_max_ms : MQR_ACTION_DEFAULT_BACKOFF_MAX_MS;
    if (s->backoff_max_ms < s->backoff_min_ms)
        s->backoff_max_ms = s->backoff_min_ms;
    s->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 15000u;
    int rc = mqr__sink_sql_parse(cfg->sql, SINK_SQL_DOLLAR, &s->sql, &s->fields, diag);
    if (rc == MQR_OK) {
        s->params = calloc(s->fields.n + 1, sizeof *s->params);
        if (s->params == NULL)
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
    for (uint32_t i = 0; i < s->npool; i++)
        connect_start(&s->pool[i]);
    return MQR_OK;
}
