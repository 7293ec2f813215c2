/* SPDX-License-Identifier: MIT */
/*
 * Tests of the SQLite sink (sinks/sqlite.c, sinks/sink_core.c) through its
 * public API only: placeholders become bound parameters (hostile text, NUL
 * bytes and 64 KiB stored verbatim, the table intact), each value binds
 * with its type, one transaction per batch, a refused statement and a
 * refused row counted failed with the reason in the last error, a locked
 * database retried after a backoff, the queue limit, the time to live, and
 * the metric invariant.
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

static mqr_engine_t *engine_with(const char *sql)
{
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(NULL, &e), MQR_OK);
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

static mqr_sqlite_sink_t *sink_new(mqr_engine_t *e, const char *sql,
                                   const mqr_sink_queue_config_t *q)
{
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = db_path;
    c.sql = sql;
    if (q != NULL)
        c.queue = *q;
    mqr_sqlite_sink_t *s = NULL;
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    int rc = mqr_sqlite_sink_create(e, "r1", &c, &s, &diag);
    cr_assert_eq(rc, MQR_OK, "%s", diag.message);
    return s;
}

Test(sink_sqlite, hostile_values_are_stored_verbatim)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE connack_log (clientid TEXT, payload TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid, payload FROM \"t/#\"");
    mqr_sqlite_sink_t *s = sink_new(
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
    cr_assert_eq(mqr_sqlite_sink_process(s, mqr_http_now_ms()), MQR_OK);
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_sqlite_sink_metrics(s, &m), MQR_OK);
    cr_assert_eq(m.success, 3, "last error: %s", mqr_sqlite_sink_last_error(s, NULL));
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
    mqr_sqlite_sink_destroy(s);
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
    mqr_sqlite_sink_t *s =
        sink_new(e,
                 "INSERT INTO t VALUES (${i}, ${d}, ${b}, ${missing}, ${o}, ${s}, "
                 "'${$}{x} -- ?') -- ${i} in a comment",
                 NULL);
    emit(e, "c", 1, "{\"i\": 42, \"d\": 1.5, \"b\": true, \"o\": {\"k\": [1, 2]}, \"s\": \"7\"}");
    mqr_sqlite_sink_process(s, mqr_http_now_ms());
    mqr_action_metrics_t m;
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 1, "last error: %s", mqr_sqlite_sink_last_error(s, NULL));
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM t WHERE typeof(i) = 'integer' AND i = 42 "
                                "AND typeof(d) = 'real' AND d = 1.5 AND b = 1 AND n IS NULL "
                                "AND o = '{\"k\":[1,2]}' AND typeof(s) = 'text' AND s = '7' "
                                "AND lit = '${$}{x} -- ?'"),
                 1);
    mqr_sqlite_sink_destroy(s);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, placeholder_in_quotes_is_refused)
{
    make_path();
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = db_path;
    c.sql = "INSERT INTO t VALUES ('${clientid}')";
    mqr_sqlite_sink_t *s = (void *)1;
    mqr_diag_t diag;
    cr_assert_eq(mqr_sqlite_sink_create(e, "r1", &c, &s, &diag), MQR_EINVAL);
    cr_assert_null(s);
    cr_assert(strstr(diag.message, "inside a quoted string") != NULL, "%s", diag.message);
    c.sql = NULL;
    cr_assert_eq(mqr_sqlite_sink_create(e, "r1", &c, &s, &diag), MQR_EINVAL);
    c.sql = "INSERT INTO t VALUES (${clientid})";
    cr_assert_eq(mqr_sqlite_sink_create(e, "nope", &c, &s, &diag), MQR_ENOTFOUND);
    cr_assert_eq(mqr_sqlite_sink_create(NULL, "r1", &c, &s, &diag), MQR_EINVAL);
    c.database = "/nonexistent-dir/x.db";
    cr_assert_eq(mqr_sqlite_sink_create(e, "r1", &c, &s, &diag), MQR_EIO);
    cr_assert(strstr(diag.message, "/nonexistent-dir/x.db") != NULL, "%s", diag.message);
    mqr_engine_destroy(e);
    unlink(db_path);
}

Test(sink_sqlite, refused_statement_and_row_are_counted_failed)
{
    make_path();
    mqr_engine_t *e = engine_with("SELECT clientid, payload FROM \"t/#\"");
    mqr_sqlite_sink_t *s = sink_new(e, "INSERT INTO missing_table VALUES (${clientid})", NULL);
    mqr_diag_t diag;
    cr_assert_eq(mqr_sqlite_sink_test(s, &diag), MQR_EIO);
    cr_assert(strstr(diag.message, "no such table: missing_table") != NULL, "%s", diag.message);
    emit(e, "a", 1, "x");
    emit(e, "b", 1, "x");
    mqr_sqlite_sink_process(s, mqr_http_now_ms());
    mqr_action_metrics_t m;
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.failed, 2);
    check_invariant(&m);
    uint64_t when = 0;
    cr_assert(strstr(mqr_sqlite_sink_last_error(s, &when), "no such table") != NULL);
    cr_assert_gt(when, 0);
    mqr_sqlite_sink_destroy(s);

    /* A STRICT table refuses a value of the wrong type: that row alone fails. */
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE strict_t (n INTEGER NOT NULL) STRICT");
    s = sink_new(e, "INSERT INTO strict_t VALUES (${payload})", NULL);
    emit(e, "a", 1, "12");
    emit(e, "b", 1, "not a number");
    emit(e, "c", 1, "13");
    mqr_sqlite_sink_process(s, mqr_http_now_ms());
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 2);
    cr_assert_eq(m.failed, 1);
    check_invariant(&m);
    cr_assert(strstr(mqr_sqlite_sink_last_error(s, NULL), "row refused") != NULL, "%s",
              mqr_sqlite_sink_last_error(s, NULL));
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM strict_t"), 2);
    mqr_sqlite_sink_destroy(s);
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
    mqr_sqlite_sink_t *s = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    exec_ok(db, "BEGIN IMMEDIATE");
    emit(e, "a", 1, "x");
    uint64_t now = mqr_http_now_ms();
    mqr_sqlite_sink_process(s, now);
    mqr_action_metrics_t m;
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 0);
    cr_assert_eq(m.queuing, 1);
    cr_assert_eq(m.retried, 1);
    check_invariant(&m);
    cr_assert_eq(mqr_sqlite_sink_timeout(s, now), 50);
    cr_assert(strstr(mqr_sqlite_sink_last_error(s, NULL), "retried") != NULL);
    exec_ok(db, "COMMIT");
    mqr_sqlite_sink_process(s, now + 10); /* still waiting */
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 0);
    mqr_sqlite_sink_process(s, now + 50);
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 1);
    cr_assert_eq(mqr_sqlite_sink_timeout(s, now + 50), -1);
    check_invariant(&m);
    mqr_sqlite_sink_destroy(s);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, queue_limit_ttl_and_destroy_are_counted)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (c TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sink_queue_config_t q = {0};
    q.max_queue_count = 3;
    q.ttl_ms = 1000;
    q.batch_size = 2;
    mqr_sqlite_sink_t *s = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    for (int i = 0; i < 5; i++)
        emit(e, "a", 1, "x");
    mqr_action_metrics_t m;
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.matched, 5);
    cr_assert_eq(m.dropped_queue_full, 2);
    cr_assert_eq(m.queuing, 3);
    check_invariant(&m);
    mqr_rule_metrics_t rm;
    mqr_engine_rule_metrics(e, "r1", &rm);
    cr_assert_eq(rm.actions_failed, 2);
    mqr_sqlite_sink_process(s, mqr_http_now_ms() + 5000);
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.dropped_expired, 3);
    check_invariant(&m);
    cr_assert(strstr(mqr_sqlite_sink_last_error(s, NULL), "expired") != NULL);
    emit(e, "b", 1, "x");
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.queuing, 1);
    mqr_sqlite_sink_destroy(s);
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM t"), 0);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}

Test(sink_sqlite, batches_share_a_transaction_and_flush_writes_all)
{
    make_path();
    sqlite3 *db = open_check();
    exec_ok(db, "CREATE TABLE t (c TEXT)");
    mqr_engine_t *e = engine_with("SELECT clientid FROM \"t/#\"");
    mqr_sink_queue_config_t q = {0};
    q.batch_size = 100;
    mqr_sqlite_sink_t *s = sink_new(e, "INSERT INTO t VALUES (${clientid})", &q);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(id, sizeof id, "c%d", i);
        emit(e, id, (size_t)n, "x");
    }
    cr_assert_eq(mqr_sqlite_sink_flush(s, 30000), MQR_OK);
    mqr_action_metrics_t m;
    mqr_sqlite_sink_metrics(s, &m);
    cr_assert_eq(m.success, 5000);
    check_invariant(&m);
    cr_assert_eq(count_rows(db, "SELECT count(DISTINCT c) FROM t"), 5000);
    mqr_sqlite_sink_destroy(s);
    mqr_engine_destroy(e);
    sqlite3_close(db);
    unlink(db_path);
}
