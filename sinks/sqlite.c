/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c - the SQLite sink (mqttrule/sink_sqlite.h), libmqttrule_sqlite.
 *
 * A custom action (mqttrule/action.h): render
 * turns each rule output into typed parameters (sink_template.c; the
 * statement's `${...}` placeholders became `?`), submit writes a batch in
 * one transaction (BEGIN IMMEDIATE ... COMMIT) on a WAL database, binding
 * every parameter with its type: integer, real, text (any bytes, NUL
 * included, bound with their length), JSON text, or NULL. Submit runs in
 * the engine's processing step and finishes every message before it returns.
 *
 * Errors fall in two classes. Those of one row or of the statement itself
 * (SQLITE_ERROR such as "no such table", CONSTRAINT, MISMATCH, TOOBIG,
 * RANGE) fail that row for good (the rest of the batch is committed).
 * Those of the database (BUSY, LOCKED, I/O, FULL, ...) roll the transaction
 * back and fail the attempt: the batch is retried after a backoff until its
 * messages expire.
 */
#include <mqttrule/sink_sqlite.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_core.h"

/* How long rows wait for their batch to fill (mqr_sink_queue_config_t's
 * default): a storm's rows are written in the engine's processing step, many
 * per transaction, rather than one per event inside the emit. */
#define SQLITE_BATCH_TIME_MS 10u

typedef struct mqr_sqlite_sink mqr_sqlite_sink_t;

/* A sink: the engine owns it (ops->destroy frees it). */
struct mqr_sqlite_sink {
    sink_ctx_t ctx;
    sqlite3 *db;
    sqlite3_stmt *stmt;      /* prepared on first use */
    char *sql;               /* the statement with ? markers */
    char *database;
    sink_fields_t fields;
    sink_param_t *params;    /* fields.n */
    uint8_t *ok;             /* per message of the current batch */
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

static int bind_params(mqr_sqlite_sink_t *s)
{
    int rc = SQLITE_OK;
    for (uint32_t i = 0; i < s->fields.n && rc == SQLITE_OK; i++) {
        const sink_param_t *p = &s->params[i];
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
            rc = sqlite3_bind_text64(s->stmt, k, p->len ? p->s : "", p->len, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        default:
            rc = sqlite3_bind_null(s->stmt, k);
            break;
        }
    }
    return rc;
}

/* ---- the action's operations --------------------------------------------------------- */

static int op_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    mqr_sqlite_sink_t *s = ud;
    return mqr__sink_render(&s->fields, item->output, arena, out_data, out_len, diag);
}

/* Insert one message's row inside the open transaction: SQLITE_OK, or the
 * code of the failure (message on the handle). */
static int insert_one(mqr_sqlite_sink_t *s, const mqr_action_item_t *it)
{
    char idbuf[SINK_ID_MAX];
    if (mqr__sink_decode_item(&s->ctx, &s->fields, it, s->params, idbuf) != MQR_OK)
        return SQLITE_MISMATCH;
    int rc = bind_params(s);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s->stmt);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    (void)sqlite3_reset(s->stmt);
    (void)sqlite3_clear_bindings(s->stmt);
    return rc;
}

/* The batch could not be written: roll back and fail the attempt. */
static int attempt_failed(mqr_sqlite_sink_t *s, int rc, const char *what, uint32_t count,
                          mqr_diag_t *diag)
{
    mqr__sink_diag(diag, MQR_EIO, "", "%s: %s: %s; batch of %u rows retried after backoff",
                   s->database, what, sqlite3_errmsg(s->db), count);
    (void)rc;
    (void)exec(s, "ROLLBACK");
    return MQR_EIO;
}

/*
 * Write `count` messages in one transaction. Every message ends through
 * done (success, or failed for a refused row) before this returns, or the
 * call fails (MQR_EIO) and they are retried.
 */
static int op_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                     mqr_diag_t *diag)
{
    (void)now_ms;
    mqr_sqlite_sink_t *s = ud;
    char msg[MQR_DIAG_MESSAGE_MAX];
    int rc = prepare(s);
    if (rc != SQLITE_OK) {
        if (retryable(rc))
            return attempt_failed(s, rc, "prepare", count, diag);
        snprintf(msg, sizeof msg, "%s: the statement was refused: %s", s->database,
                 sqlite3_errmsg(s->db));
        for (uint32_t i = 0; i < count; i++)
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EIO, msg);
        return MQR_OK;
    }
    rc = exec(s, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return attempt_failed(s, rc, "BEGIN", count, diag);
    for (uint32_t i = 0; i < count; i++) {
        rc = insert_one(s, &items[i]);
        if (rc != SQLITE_OK && retryable(rc))
            return attempt_failed(s, rc, "INSERT", count, diag);
        s->ok[i] = rc == SQLITE_OK;
        if (rc != SQLITE_OK) {
            snprintf(msg, sizeof msg, "%s: row refused: %s", s->database,
                     sqlite3_errmsg(s->db));
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_FAILED, MQR_EIO, msg);
        }
    }
    rc = exec(s, "COMMIT");
    if (rc != SQLITE_OK)
        return attempt_failed(s, rc, "COMMIT", count, diag);
    for (uint32_t i = 0; i < count; i++)
        if (s->ok[i])
            mqr__sink_done(&s->ctx, items[i].ticket, MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL);
    return MQR_OK;
}

static int op_test(void *ud, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    (void)timeout_ms;
    mqr_sqlite_sink_t *s = ud;
    int rc = prepare(s);
    if (rc != SQLITE_OK) {
        out->status = MQR_EIO;
        snprintf(out->message, sizeof out->message, "statement refused: %s",
                 sqlite3_errmsg(s->db));
        return MQR_EIO;
    }
    out->status = MQR_OK;
    snprintf(out->message, sizeof out->message, "statement prepared");
    return MQR_OK;
}

static void op_destroy(void *ud)
{
    mqr_sqlite_sink_t *s = ud;
    sqlite3_finalize(s->stmt);
    sqlite3_close_v2(s->db);
    mqr__sink_fields_free(&s->fields);
    free(s->params);
    free(s->sql);
    free(s->database);
    free(s->ok);
    free(s);
}

static const mqr_action_ops_t SQLITE_OPS = {op_render, op_submit, NULL, NULL, op_test,
                                            op_destroy};

/* ---- the public functions ----------------------------------------------------------------- */

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

int mqr_sqlite_sink_add(mqr_engine_t *engine, const char *rule_id,
                        const mqr_sqlite_sink_config_t *cfg, uint32_t *out_action_id,
                        mqr_diag_t *diag)
{
    if (engine == NULL || rule_id == NULL || cfg == NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, "", "sqlite: NULL argument");
        return MQR_EINVAL;
    }
    const char *missing = cfg->database == NULL || cfg->database[0] == '\0' ? "database"
                          : cfg->sql == NULL || cfg->sql[0] == '\0'         ? "sql"
                                                                            : NULL;
    if (missing != NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, missing, "sqlite: '%s' is required", missing);
        return MQR_EINVAL;
    }
    mqr_sqlite_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQR_ENOMEM;
    mqr_custom_action_config_t ac;
    mqr__sink_action_config(&ac, "sqlite", &cfg->queue);
    if (ac.batch_time_ms == 0)
        ac.batch_time_ms = SQLITE_BATCH_TIME_MS;
    ac.ops = &SQLITE_OPS;
    ac.ud = s;
    s->ctx.log = cfg->log;
    s->ctx.log_ud = cfg->log_ud;
    snprintf(s->ctx.where, sizeof s->ctx.where, "sqlite");
    int rc = mqr__sink_sql_parse(cfg->sql, SINK_SQL_QMARK, &s->sql, &s->fields, diag);
    if (rc == MQR_OK) {
        s->ok = malloc(ac.batch_size);
        s->params = calloc(s->fields.n + 1, sizeof *s->params);
        s->database = strdup(cfg->database);
        if (s->ok == NULL || s->params == NULL || s->database == NULL)
            rc = MQR_ENOMEM;
    }
    if (rc == MQR_OK)
        rc = open_db(s, cfg, diag);
    if (rc == MQR_OK)
        rc = mqr__sink_attach(&s->ctx, engine, rule_id, &ac, out_action_id, diag);
    if (rc != MQR_OK)
        op_destroy(s);
    return rc;
}
