/* SPDX-License-Identifier: MIT */
/*
 * Tests of the SQLite sink (sinks/sqlite.c, sinks/sink_template.c) through
 * the public API only (mqttrule/sink_sqlite.h and the engine's custom
 * actions): placeholders become bound parameters (hostile text, NUL bytes
 * and 64 KiB stored verbatim, the table intact), each value binds with its
 * type, a batch per transaction, a refused statement and a refused row
 * counted failed with the reason in the action's last error, a locked
 * database retried after a backoff, the queue limit, the time to live, the
 * connector test and the metric invariant.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mqttrule.h>
#include <mqttrule/sink_sqlite.h>

static char db_path[256];

static void make_path(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/mqr_sink_sqlite_%d_%p.db", (int)getpid(),
             (void *)&db_path);
    unlink(db_path);
}

static sqlite3 *open_check(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "");
}

static long count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The engine's monotonic clock, moved by the tests. */
static int64_t mono_now = 1000000;

static int64_t mono(void *ud)
{
    (void)ud;
    return mono_now;
}

static mqr_engine_t *engine_with(const char *sql)
{
    mqr_engine_t *e = NULL;
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.mono_clock = mono;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    mqr_engine_rule_def_t d = {"r1", sql, NULL, 1, 0};
    mqr_diag_t diag;
    cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_OK, "%s", diag.message);
    return e;
}

static void emit(mqr_engine_t *e, const char *clientid, size_t len, const char *payload)
{
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.payload = payload;
    m.payload_len = strlen(payload);
    m.clientid = clientid;
    m.clientid_len = len;
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
}

static void check_invariant(const mqr_action_metrics_t *m)
{
    cr_assert_eq(m->matched, m->success + m->failed + m->dropped + m->queuing + m->inflight);
    cr_assert_eq(m->dropped, m->dropped_expired + m->dropped_queue_full + m->dropped_other);
}

static uint32_t sink_new(mqr_engine_t *e, const char *sql, const mqr_sink_queue_config_t *q)
{
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = db_path;
    c.sql = sql;
    if (q != NULL)
        c.queue = *q;
    uint32_t id = 0;
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    int rc = mqr_sqlite_sink_add(e, "r1", &c, &id, &diag);
    cr_assert_eq(rc, MQR_OK, "%s", diag.message);
    cr_assert_gt(id, 0);
    return id;
}

/* The action's metrics. */
static mqr_action_metrics_t metrics(mqr_engine_t *e, uint32_t id)
{
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_engine_action_metrics(e, id, &m), MQR_OK);
    cr_assert_eq(m.kind, MQR_ACTION_CUSTOM);
    return m;
}

/* The action's last error message. */
static const char *last_error(mqr_engine_t *e, uint32_t id)
{
    static mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, id, &err), MQR_OK);
    return err.message;
}

/* Run the engine's processing step until nothing is pending (or 1000 rounds). */
static void drain(mqr_engine_t *e)
{
    for (int i = 0; i < 1000 && mqr_engine_pending(e) > 0; i++) {
        mono_now += 10; /* past the batch time */
        cr_assert_eq(mqr_engine_process(e, (uint64_t)mono_now), MQR_OK);
    }
}

Test(sink_sqlite, hostile_values_are_stored_verbatim)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE connack_log (clientid TEXT, payload TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid, payload FROM \"t/#\"");
    uint32_t id = sink_new(
        e, "INSERT INTO connack_log (clientid, payload) VALUES (${clientid}, ${payload})", NULL);
    const char *evil = "x'); DROP TABLE connack_log; --";
    emit(e, evil, strlen(evil), "p1");
    const char nul[] = {'a', '\0', 'b'};
    emit(e, nul, sizeof nul, "p2");
    size_t big_len = 65536;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    emit(e, big, big_len, "p3");
    drain(e);
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.success, 3, "last error: %s", last_error(e, id));
    check_invariant(&m);

    cr_assert_eq(count_rows(db, "SELECT count(*) FROM connack_log"), 3);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT CAST(clientid AS BLOB) FROM connack_log ORDER BY "
                                    "rowid",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_bytes(st, 0), (int)strlen(evil));
    cr_assert(memcmp(sqlite3_column_blob(st, 0), evil, strlen(evil)) == 0);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_bytes(st, 0), 3);
    cr_assert(memcmp(sqlite3_column_blob(st, 0), nul, 3) == 0);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_bytes(st, 0), (int)big_len);
    cr_assert(memcmp(sqlite3_column_blob(st, 0), big, big_len) == 0);
    sqlite3_finalize(st);
    free(big);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, values_bind_with_their_types)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (i, d, b, n, o, s, lit)");
    mqr_engine_t *e = engine_with("SELECT payload.i as i, payload.d as d, payload.b as b, "
                                  "payload.o as o, payload.s as s FROM \"t/#\"");
    uint32_t id = sink_new(e,
                           "INSERT INTO t VALUES (${i}, ${d}, ${b}, ${missing}, ${o}, ${s}, "
                           "'${$}{x} -- ?') -- ${i} in a comment",
                           NULL);
    emit(e, "c", 1, "{\"i\": 42, \"d\": 1.5, \"b\": true, \"o\": {\"k\": [1, 2]}, \"s\": \"7\"}");
    drain(e);
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.success, 1, "last error: %s", last_error(e, id));
    /* Quoted text is SQL text, copied as written: ${$} stays there. */
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM t WHERE typeof(i) = 'integer' AND i = 42 "
                                "AND typeof(d) = 'real' AND d = 1.5 AND b = 1 AND n IS NULL "
                                "AND o = '{\"k\":[1,2]}' AND typeof(s) = 'text' AND s = '7' "
                                "AND lit = '${$}{x} -- ?'"),
                 1);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, bad_configurations_are_refused)
{
    make_path();
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = db_path;
    c.sql = "INSERT INTO t VALUES ('${clientid}')";
    uint32_t id = 77;
    mqr_diag_t diag;
    cr_assert_eq(mqr_sqlite_sink_add(e, "r1", &c, &id, &diag), MQR_EINVAL);
    cr_assert_eq(id, 77);
    cr_assert_str_eq(diag.field, "sql");
    cr_assert(strstr(diag.message, "inside a quoted string") != NULL, "%s", diag.message);
    c.sql = NULL;
    cr_assert_eq(mqr_sqlite_sink_add(e, "r1", &c, &id, &diag), MQR_EINVAL);
    cr_assert_str_eq(diag.field, "sql");
    c.sql = "INSERT INTO t VALUES (${clientid})";
    cr_assert_eq(mqr_sqlite_sink_add(e, "nope", &c, &id, &diag), MQR_ENOTFOUND);
    cr_assert_eq(mqr_sqlite_sink_add(NULL, "r1", &c, &id, &diag), MQR_EINVAL);
    cr_assert_eq(mqr_sqlite_sink_add(e, "r1", NULL, &id, &diag), MQR_EINVAL);
    c.database = "/nonexistent-dir/x.db";
    cr_assert_eq(mqr_sqlite_sink_add(e, "r1", &c, &id, &diag), MQR_EIO);
    cr_assert(strstr(diag.message, "/nonexistent-dir/x.db") != NULL, "%s", diag.message);
    mqr_engine_destroy(e);
    unlink(db_path);
}

Test(sink_sqlite, refused_statement_and_row_are_counted_failed)
{
    make_path();
    mqr_engine_t *e = engine_with("SELECT clientid, payload FROM \"t/#\"");
    uint32_t id = sink_new(e, "INSERT INTO missing_table VALUES (${clientid})", NULL);
    mqr_http_test_result_t res;
    memset(&res, 0, sizeof res);
    cr_assert_eq(mqr_engine_action_test(e, id, 1000, &res), MQR_EIO);
    cr_assert(strstr(res.message, "no such table: missing_table") != NULL, "%s", res.message);
    emit(e, "a", 1, "x");
    emit(e, "b", 1, "x");
    drain(e);
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.failed, 2);
    cr_assert_eq(m.retried, 0); /* a refused statement is not retried */
    check_invariant(&m);
    cr_assert(strstr(last_error(e, id), "no such table") != NULL, "%s", last_error(e, id));
    cr_assert_eq(mqr_engine_action_remove(e, id), MQR_OK);

    /* A STRICT table refuses a value of the wrong type: that row alone fails. */
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE strict_t (n INTEGER NOT NULL) STRICT");
    id = sink_new(e, "INSERT INTO strict_t VALUES (${payload})", NULL);
    emit(e, "a", 1, "12");
    emit(e, "b", 1, "not a number");
    emit(e, "c", 1, "13");
    drain(e);
    m = metrics(e, id);
    cr_assert_eq(m.success, 2);
    cr_assert_eq(m.failed, 1);
    check_invariant(&m);
    cr_assert(strstr(last_error(e, id), "row refused") != NULL, "%s", last_error(e, id));
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM strict_t"), 2);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, locked_database_is_retried_after_backoff)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (c TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sink_queue_config_t q = {0};
    q.backoff_min_ms = 50;
    uint32_t id = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    exec_ok(db, "BEGIN IMMEDIATE");
    emit(e, "a", 1, "x");
    mqr_engine_process(e, (uint64_t)mono_now);
    mono_now += 10; /* the batch time */
    mqr_engine_process(e, (uint64_t)mono_now);
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.success, 0);
    cr_assert_eq(m.queuing, 1);
    check_invariant(&m);
    cr_assert_eq(mqr_engine_timeout(e, (uint64_t)mono_now), 50);
    cr_assert(strstr(last_error(e, id), "database is locked") != NULL, "%s", last_error(e, id));
    exec_ok(db, "COMMIT");
    mono_now += 10;
    mqr_engine_process(e, (uint64_t)mono_now); /* still waiting */
    cr_assert_eq(metrics(e, id).success, 0);
    mono_now += 40;
    mqr_engine_process(e, (uint64_t)mono_now);
    m = metrics(e, id);
    cr_assert_eq(m.success, 1);
    cr_assert_eq(m.retried, 1);
    check_invariant(&m);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, queue_limit_and_ttl_are_counted)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (c TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sink_queue_config_t q = {0};
    q.max_queue_count = 3;
    q.ttl_ms = 1000;
    q.batch_size = 10;
    uint32_t id = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    for (int i = 0; i < 5; i++)
        emit(e, "a", 1, "x");
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.matched, 5);
    cr_assert_eq(m.dropped_queue_full, 2);
    cr_assert_eq(m.queuing, 3);
    check_invariant(&m);
    mono_now += 5000;
    mqr_engine_process(e, (uint64_t)mono_now);
    m = metrics(e, id);
    cr_assert_eq(m.dropped_expired, 3);
    check_invariant(&m);
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM t"), 0);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, a_storm_is_written_in_batches)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (c TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sink_queue_config_t q = {0};
    q.batch_size = 100;
    uint32_t id = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    char cid[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(cid, sizeof cid, "c%d", i);
        emit(e, cid, (size_t)n, "x");
    }
    /* each full batch of 100 went at once, one transaction each */
    cr_assert_eq(metrics(e, id).queuing, 0);
    cr_assert_eq(metrics(e, id).success, 5000);
    /* a batch that does not fill waits for the processing step */
    emit(e, "late", 4, "x");
    cr_assert_eq(metrics(e, id).queuing, 1);
    drain(e);
    mqr_action_metrics_t m = metrics(e, id);
    cr_assert_eq(m.success, 5001);
    check_invariant(&m);
    cr_assert_eq(count_rows(db, "SELECT count(DISTINCT c) FROM t"), 5001);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}
