/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c - the SQLite sink (mqttrule/sink_sqlite.h), libmqttrule_sqlite.
 *
 * The statement's `${...}` placeholders become `?` parameters
 * (sink_core.c); each rule output is queued as a record of typed
 * parameters. mqr_sqlite_sink_process() takes batches from the queue and
 * writes each batch in one transaction (BEGIN IMMEDIATE ... COMMIT) on a
 * WAL database, binding every parameter with its type: integer, real, text
 * (any bytes, NUL included, bound with their length), JSON text, or NULL.
 *
 * Errors fall in two classes. Those of one row or of the statement itself
 * (SQLITE_ERROR such as "no such table", CONSTRAINT, MISMATCH, TOOBIG,
 * RANGE) fail that row: it is counted failed and the rest of the batch is
 * committed. Those of the database (BUSY, LOCKED, I/O, FULL, NOMEM, ...)
 * roll the transaction back; the batch goes back to the head of the queue
 * and the sink waits a backoff before trying again, until the rows expire.
 */
#include <mqttrule/sink_sqlite.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink_core.h"

/* Batches written per mqr_sqlite_sink_process call, so a deep queue does not
 * hold the host's loop for long. */
#define SQLITE_BATCHES_PER_PROCESS 8

struct mqr_sqlite_sink {
    sink_core_t core;
    sqlite3 *db;
    sqlite3_stmt *stmt;      /* prepared on first use */
    char *sql;               /* the statement with ? markers */
    char *database;
    uint8_t *ok;             /* per record of the current batch */
};

void mqr_sqlite_sink_config_init(mqr_sqlite_sink_config_t *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->wal = 1;
}

/* Whether a SQLite result code is the database's trouble (retry the batch
 * later) rather than the statement's or the row's (fail the row). */
static int retryable(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return 1;
    default:
        return 0;
    }
}

static int exec(mqr_sqlite_sink_t *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

/* Prepare the statement if it is not. SQLITE_OK or SQLite's code (message
 * on the handle). */
static int prepare(mqr_sqlite_sink_t *s)
{
    if (s->stmt != NULL)
        return SQLITE_OK;
    return sqlite3_prepare_v3(s->db, s->sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt, NULL);
}

static int bind_rec(mqr_sqlite_sink_t *s, const sink_rec_t *r)
{
    int rc = SQLITE_OK;
    for (uint32_t i = 0; i < r->nparams && rc == SQLITE_OK; i++) {
        const sink_param_t *p = &r->p[i];
        int k = (int)i + 1;
        switch (p->type) {
        case SINK_P_BOOL:
        case SINK_P_INT:
            rc = sqlite3_bind_int64(s->stmt, k, p->i);
            break;
        case SINK_P_DOUBLE:
            rc = sqlite3_bind_double(s->stmt, k, p->d);
            break;
        case SINK_P_TEXT:
        case SINK_P_JSON:
            rc = sqlite3_bind_text64(s->stmt, k, p->s ? p->s : "", p->len, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        default:
            rc = sqlite3_bind_null(s->stmt, k);
            break;
        }
    }
    return rc;
}

/* Every record of the list ends with the same outcome. */
static void finish_all(mqr_sqlite_sink_t *s, sink_rec_t *list, int ok)
{
    while (list != NULL) {
        sink_rec_t *next = list->next;
        mqr__sink_core_done(&s->core, list, ok);
        list = next;
    }
}

/* The batch could not be written: roll back, put it back, wait. */
static void retry_later(mqr_sqlite_sink_t *s, sink_rec_t *list, uint64_t now_ms, int rc,
                        const char *what)
{
    size_t n = 0;
    for (const sink_rec_t *r = list; r != NULL; r = r->next)
        n++;
    mqr__sink_core_error(&s->core, "%s: %s: %s; batch of %zu rows retried after backoff",
                         s->database, what, sqlite3_errstr(rc), n);
    (void)exec(s, "ROLLBACK");
    mqr__sink_core_requeue(&s->core, list, now_ms);
    mqr__sink_core_backoff(&s->core, now_ms);
}

/*
 * Write one batch (a list of inflight records) in one transaction. Each
 * record ends done (success or failed) or, when the database is in trouble,
 * the whole batch goes back to the queue. Returns 1 when the sink should
 * keep writing, 0 when it waits for a backoff.
 */
static int write_batch(mqr_sqlite_sink_t *s, sink_rec_t *list, uint32_t n, uint64_t now_ms)
{
    int rc = prepare(s);
    if (rc != SQLITE_OK) {
        if (retryable(rc)) {
            retry_later(s, list, now_ms, rc, "prepare");
            return 0;
        }
        mqr__sink_core_error(&s->core, "%s: the statement was refused: %s; %u rows failed",
                             s->database, sqlite3_errmsg(s->db), n);
        finish_all(s, list, 0);
        return 1;
    }
    rc = exec(s, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        retry_later(s, list, now_ms, rc, "BEGIN");
        return 0;
    }
    uint32_t i = 0, failed = 0;
    for (sink_rec_t *r = list; r != NULL; r = r->next, i++) {
        rc = bind_rec(s, r);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s->stmt);
            if (rc == SQLITE_DONE || rc == SQLITE_ROW)
                rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK && !retryable(rc) && failed++ == 0)
            mqr__sink_core_error(&s->core, "%s: row refused: %s", s->database,
                                 sqlite3_errmsg(s->db));
        (void)sqlite3_reset(s->stmt);
        (void)sqlite3_clear_bindings(s->stmt);
        if (rc != SQLITE_OK && retryable(rc)) {
            retry_later(s, list, now_ms, rc, "insert");
            return 0;
        }
        s->ok[i] = rc == SQLITE_OK;
    }
    rc = exec(s, "COMMIT");
    if (rc != SQLITE_OK) {
        retry_later(s, list, now_ms, rc, "COMMIT");
        return 0;
    }
    i = 0;
    while (list != NULL) {
        sink_rec_t *next = list->next;
        mqr__sink_core_done(&s->core, list, s->ok[i++]);
        list = next;
    }
    mqr__sink_core_healthy(&s->core);
    return 1;
}

int mqr_sqlite_sink_process(mqr_sqlite_sink_t *s, uint64_t now_ms)
{
    if (s == NULL)
        return MQR_EINVAL;
    for (int k = 0; k < SQLITE_BATCHES_PER_PROCESS; k++) {
        if (mqr__sink_core_timeout(&s->core, now_ms) != 0)
            break;
        uint32_t n = 0;
        sink_rec_t *list = mqr__sink_core_take(&s->core, now_ms, s->core.q.batch_size, &n);
        if (n == 0)
            continue;
        if (!write_batch(s, list, n, now_ms))
            break;
    }
    return MQR_OK;
}

int64_t mqr_sqlite_sink_timeout(const mqr_sqlite_sink_t *s, uint64_t now_ms)
{
    return s == NULL ? -1 : mqr__sink_core_timeout(&s->core, now_ms);
}

int mqr_sqlite_sink_flush(mqr_sqlite_sink_t *s, uint32_t timeout_ms)
{
    if (s == NULL)
        return MQR_EINVAL;
    uint64_t deadline = mqr_http_now_ms() + timeout_ms;
    for (;;) {
        uint64_t now = mqr_http_now_ms();
        (void)mqr_sqlite_sink_process(s, now);
        int64_t t = mqr__sink_core_timeout(&s->core, now);
        if (t < 0)
            return MQR_OK;
        if (now >= deadline)
            return MQR_ETIMEOUT;
        if (t > 0) {
            uint64_t wait = (uint64_t)t < deadline - now ? (uint64_t)t : deadline - now;
            struct timespec ts = {(time_t)(wait / 1000u), (long)(wait % 1000u) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static int open_db(mqr_sqlite_sink_t *s, const mqr_sqlite_sink_config_t *cfg, mqr_diag_t *diag)
{
    int rc = sqlite3_open_v2(cfg->database, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        mqr__sink_diag(diag, MQR_EIO, "database", "sqlite: cannot open '%s': %s",
                       cfg->database, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return MQR_EIO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, (int)cfg->busy_timeout_ms);
    if (cfg->wal && exec(s, "PRAGMA journal_mode=WAL") != SQLITE_OK) {
        mqr__sink_diag(diag, MQR_EIO, "database", "sqlite: '%s': cannot use WAL: %s",
                       cfg->database, sqlite3_errmsg(s->db));
        return MQR_EIO;
    }
    (void)exec(s, "PRAGMA synchronous=NORMAL");
    return MQR_OK;
}

int mqr_sqlite_sink_create(mqr_engine_t *engine, const char *rule_id,
                           const mqr_sqlite_sink_config_t *cfg, mqr_sqlite_sink_t **out_sink,
                           mqr_diag_t *diag)
{
    if (out_sink != NULL)
        *out_sink = NULL;
    if (engine == NULL || rule_id == NULL || cfg == NULL || out_sink == NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, "", "sqlite: NULL argument");
        return MQR_EINVAL;
    }
    if (cfg->database == NULL || cfg->database[0] == '\0' || cfg->sql == NULL ||
        cfg->sql[0] == '\0') {
        mqr__sink_diag(diag, MQR_EINVAL, cfg->database ? "sql" : "database",
                       "sqlite: '%s' is required", cfg->database ? "sql" : "database");
        return MQR_EINVAL;
    }
    mqr_sqlite_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQR_ENOMEM;
    int rc = mqr__sink_sql_parse(cfg->sql, SINK_SQL_QMARK, &s->sql, &s->core.fields, diag);
    if (rc == MQR_OK)
        rc = mqr__sink_core_init(&s->core, "sqlite", &cfg->queue, cfg->log, cfg->log_ud, diag);
    if (rc == MQR_OK) {
        s->ok = malloc(s->core.q.batch_size);
        s->database = strdup(cfg->database);
        if (s->ok == NULL || s->database == NULL)
            rc = MQR_ENOMEM;
    }
    if (rc == MQR_OK)
        rc = open_db(s, cfg, diag);
    if (rc == MQR_OK)
        rc = mqr__sink_core_attach(&s->core, engine, rule_id, diag);
    if (rc != MQR_OK) {
        mqr_sqlite_sink_destroy(s);
        return rc;
    }
    *out_sink = s;
    return MQR_OK;
}

void mqr_sqlite_sink_destroy(mqr_sqlite_sink_t *s)
{
    if (s == NULL)
        return;
    mqr__sink_core_destroy(&s->core);
    sqlite3_finalize(s->stmt);
    sqlite3_close_v2(s->db);
    free(s->sql);
    free(s->database);
    free(s->ok);
    free(s);
}

int mqr_sqlite_sink_metrics(const mqr_sqlite_sink_t *s, mqr_action_metrics_t *out)
{
    if (s == NULL || out == NULL)
        return MQR_EINVAL;
    *out = s->core.m;
    return MQR_OK;
}

uint32_t mqr_sqlite_sink_action_id(const mqr_sqlite_sink_t *s)
{
    return s == NULL ? 0 : s->core.action_id;
}

const char *mqr_sqlite_sink_last_error(const mqr_sqlite_sink_t *s, uint64_t *out_time_ms)
{
    if (out_time_ms != NULL)
        *out_time_ms = s ? s->core.last_error_ms : 0;
    return s == NULL ? "" : s->core.last_error;
}

int mqr_sqlite_sink_test(mqr_sqlite_sink_t *s, mqr_diag_t *diag)
{
    if (s == NULL)
        return MQR_EINVAL;
    int rc = prepare(s);
    if (rc != SQLITE_OK) {
        mqr__sink_diag(diag, MQR_EIO, "sql", "sqlite: %s: %s", s->database,
                       sqlite3_errmsg(s->db));
        return MQR_EIO;
    }
    return MQR_OK;
}
