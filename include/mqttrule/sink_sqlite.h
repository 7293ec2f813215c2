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
 *   mqr_sqlite_sink_create(engine, "r1", &c, &sink, &diag);
 *   ... in the host loop: mqr_sqlite_sink_timeout(), mqr_sqlite_sink_process()
 *   mqr_sqlite_sink_destroy(sink);        (before mqr_engine_destroy)
 *
 * The database is opened in WAL mode (synchronous=NORMAL). Rows are queued
 * when the rule fires and written by mqr_sqlite_sink_process(), up to
 * queue.batch_size rows per transaction, so a storm of events costs one
 * commit per batch. A statement the database refuses (no such table) fails
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
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqr_sqlite_sink mqr_sqlite_sink_t;

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
 * to rule `rule_id` of `engine` as an action. The statement itself is
 * prepared on the first write (so the table may be created after the sink);
 * mqr_sqlite_sink_test() prepares it at once.
 * Returns MQR_OK with *out_sink owned by the caller; MQR_EINVAL (NULL
 * argument, no database or sql, a placeholder inside a quoted string);
 * MQR_EIO (the database cannot be opened: *diag has SQLite's message);
 * MQR_ENOTFOUND (no such rule); MQR_ESTATE (from an engine callback);
 * MQR_ENOMEM. *diag (may be NULL) says why.
 */
MQR_API int mqr_sqlite_sink_create(mqr_engine_t *engine, const char *rule_id,
                                   const mqr_sqlite_sink_config_t *cfg,
                                   mqr_sqlite_sink_t **out_sink, mqr_diag_t *diag);

/** Detach the action, write nothing more (call mqr_sqlite_sink_flush
 *  first to write what is queued), drop and count what is still queued,
 *  close the database. NULL is ignored. Call it before mqr_engine_destroy
 *  of its engine, never from an engine callback. */
MQR_API void mqr_sqlite_sink_destroy(mqr_sqlite_sink_t *sink);

/** Write queued rows, one transaction per batch, for as long as rows are
 *  queued and the database accepts them. MQR_OK (also when a write failed:
 *  that is counted and in the last error) or MQR_EINVAL (NULL). */
MQR_API int mqr_sqlite_sink_process(mqr_sqlite_sink_t *sink, uint64_t now_ms);

/** Milliseconds until mqr_sqlite_sink_process has work: 0 now, -1 nothing
 *  queued, else the backoff left. -1 for NULL. */
MQR_API int64_t mqr_sqlite_sink_timeout(const mqr_sqlite_sink_t *sink, uint64_t now_ms);

/** Write until the queue is empty or timeout_ms have passed (retrying after
 *  backoffs, sleeping): for shutdown. MQR_OK (empty), MQR_ETIMEOUT (rows are
 *  left), MQR_EINVAL. */
MQR_API int mqr_sqlite_sink_flush(mqr_sqlite_sink_t *sink, uint32_t timeout_ms);

/** Copy the action's metrics. MQR_OK or MQR_EINVAL (NULL). */
MQR_API int mqr_sqlite_sink_metrics(const mqr_sqlite_sink_t *sink, mqr_action_metrics_t *out);

/** The engine's id of the sink's action (0 for NULL). */
MQR_API uint32_t mqr_sqlite_sink_action_id(const mqr_sqlite_sink_t *sink);

/** The last error's message ("" when none; borrowed until the next call on
 *  the sink) and, in *out_time_ms (may be NULL), its wall-clock time in ms
 *  since the epoch (0: none). "" for NULL. */
MQR_API const char *mqr_sqlite_sink_last_error(const mqr_sqlite_sink_t *sink,
                                               uint64_t *out_time_ms);

/** The connector test: prepare the statement against the database (nothing
 *  is written). MQR_OK, MQR_EIO with SQLite's message in *diag, MQR_EINVAL. */
MQR_API int mqr_sqlite_sink_test(mqr_sqlite_sink_t *sink, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_SQLITE_H */
