/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink_sqlite.h - the SQLite sink (libmqttrule_sqlite, pkg-config
 * module mqttrule-sqlite, CMake component mqttrule::sqlite): every output of
 * a rule becomes one row, written with a prepared statement whose `${...}`
 * placeholders are bound parameters (see mqttrule/sink.h).
 *
 *   mqr_sqlite_sink_config_t c;
 *   mqr_sqlite_sink_config_init(&c);
 *   c.database = "/var/lib/mqttrule/audit.db";
 *   c.sql = "INSERT INTO connack_log (clientid, reason_code) "
 *           "VALUES (${clientid}, ${reason_code})";
 *   mqr_sqlite_sink_add(engine, "r1", &c, &action_id, &diag);
 *
 * The database is opened in WAL mode (synchronous=NORMAL). Rows are queued
 * by the engine when the rule fires and written in its processing step
 * (mqr_engine_process), up to queue.batch_size rows per transaction, so a
 * storm of events costs one commit per batch. A statement the database refuses (no such table) fails
 * the batch's rows (counted failed, the message in the last error); a row
 * that violates a constraint fails alone; a locked or busy database
 * (SQLITE_BUSY, SQLITE_LOCKED, I/O errors) puts the batch back and retries
 * after a backoff. SQLite does its writes in the calling thread: a batch
 * costs the time of its transaction.
 *
 * Threads: a sink is used by the thread that uses its engine.
 */
#ifndef MQTTRULE_SINK_SQLITE_H
#define MQTTRULE_SINK_SQLITE_H

#include "common.h"
#include "action.h"
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sink's configuration: call mqr_sqlite_sink_config_init first. Strings
 * are copied. */
typedef struct mqr_sqlite_sink_config {
    const char *database;         /* file name (created when missing); required */
    const char *sql;              /* one statement with ${...} placeholders; required */
    mqr_sink_queue_config_t queue;
    uint32_t busy_timeout_ms;     /* sqlite3_busy_timeout: how long a write may wait
                                     for another process's lock; 0 (default): none,
                                     the batch is retried after a backoff instead */
    uint32_t wal;                 /* 1 (default): journal_mode=WAL; 0: leave it */
    mqr_sink_log_fn log;          /* errors and state changes; NULL: silent */
    void *log_ud;
} mqr_sqlite_sink_config_t;

/** Defaults: no database or sql, queue defaults (zeros), busy_timeout_ms 0,
 *  wal 1, no log. NULL is ignored. Thread-safe. */
MQR_API void mqr_sqlite_sink_config_init(mqr_sqlite_sink_config_t *cfg);

/**
 * Open cfg->database, compile cfg->sql's placeholders, and attach the sink
 * to rule `rule_id` of `engine` as a custom action (type "sqlite"), whose
 * id goes to *out_action_id (may be NULL). The statement is prepared on the
 * first write (so the table may be created after the sink);
 * mqr_engine_action_test prepares it at once. The engine owns the sink from
 * then on: mqr_engine_action_remove, removing the rule or destroying the
 * engine closes the database.
 * Returns MQR_OK; MQR_EINVAL (NULL engine, rule_id or cfg, no database or
 * sql, a placeholder inside a quoted string); MQR_EIO (the database cannot
 * be opened: *diag has SQLite's message); MQR_ENOTFOUND (no such rule);
 * MQR_ESTATE (from an engine callback); MQR_ENOMEM. *diag (may be NULL)
 * says why, with the option's name in diag->field.
 */
MQR_API int mqr_sqlite_sink_add(mqr_engine_t *engine, const char *rule_id,
                                const mqr_sqlite_sink_config_t *cfg, uint32_t *out_action_id,
                                mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_SQLITE_H */
