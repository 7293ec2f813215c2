/* SPDX-License-Identifier: MIT */
/*
 * bench_sinks.c - events per second into each sink, through the engine.
 *
 *   bench_sinks [events]                                  (100000)
 *   MQR_BENCH_PGSQL=127.0.0.1:5432/dbname bench_sinks     also PostgreSQL
 *   MQR_BENCH_ONLY=NAME                                    only sink NAME
 *   MQR_BENCH_PG_WINDOW=N MQR_BENCH_PG_POOL=N              its inflight_window
 *                                                          and pool_size (0: defaults)
 *
 * One rule (`SELECT clientid, username, reason_code, timestamp` over
 * messages on "t/#", the columns of the source document's rule) with one
 * sink; `events` messages are emitted as fast as the engine takes them,
 * driving the engine (mqr_engine_poll) every 1,000 emits, then until
 * nothing is pending. The figure is events per second from the first emit
 * to the last confirmation: SQLite rows committed (a file in /tmp, WAL,
 * batches of 500), Kafka deliveries acknowledged by librdkafka's mock
 * cluster started in this process (3 brokers, linger.ms 5), PostgreSQL rows
 * committed by the server MQR_BENCH_PGSQL names (table mqr_bench, created).
 * Prints one JSON line per sink with the action's metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqttrule.h"

#ifdef BENCH_WITH_SQLITE
#include <mqttrule/sink_sqlite.h>
#include <sqlite3.h>
#endif
#ifdef BENCH_WITH_PGSQL
#include <mqttrule/sink_pgsql.h>
#endif
#ifdef BENCH_WITH_KAFKA
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <mqttrule/sink_kafka.h>
#endif

#define INSERT_COLS "(clientid, username, reason_code, ts) VALUES (${clientid}, ${username}, " \
                    "${reason_code}, ${timestamp})"

#if defined(BENCH_WITH_SQLITE) || defined(BENCH_WITH_PGSQL) || defined(BENCH_WITH_KAFKA)
#define BENCH_ANY_SINK 1
#endif

#ifdef BENCH_ANY_SINK
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mqr_engine_t *engine_new(void)
{
    mqr_engine_t *e = NULL;
    mqr_diag_t d;
    mqr_engine_rule_def_t r = {"bench",
                               "SELECT clientid, username, 'success' as reason_code, timestamp "
                               "FROM \"t/#\"",
                               NULL, 1, 0};
    if (mqr_engine_create(NULL, &e) != MQR_OK || mqr_engine_rule_add(e, &r, &d) != MQR_OK) {
        fprintf(stderr, "bench_sinks: engine: %s\n", d.message);
        exit(1);
    }
    return e;
}

/* Emit n messages with distinct client ids, drive the engine until every
 * event ended, print the figure. */
static void run(const char *name, mqr_engine_t *e, uint32_t id, long n)
{
    char cid[32];
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.username = "u_emqx";
    m.username_len = 6;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        m.clientid = cid;
        m.clientid_len = (size_t)snprintf(cid, sizeof cid, "bench-%ld", i);
        (void)mqr_engine_emit_message(e, &m, NULL, NULL);
        if (i % 1000 == 999)
            (void)mqr_engine_poll(e, 0);
    }
    double deadline = now_s() + 120;
    while (mqr_engine_pending(e) > 0 && now_s() < deadline)
        (void)mqr_engine_poll(e, 50);
    double dt = now_s() - t0;
    mqr_action_metrics_t am;
    memset(&am, 0, sizeof am);
    (void)mqr_engine_action_metrics(e, id, &am);
    printf("{\"sink\":\"%s\",\"events\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f,"
           "\"success\":%llu,\"failed\":%llu,\"dropped\":%llu,\"retried\":%llu}\n",
           name, n, dt, (double)am.success / dt, (unsigned long long)am.success,
           (unsigned long long)am.failed, (unsigned long long)am.dropped,
           (unsigned long long)am.retried);
    fflush(stdout);
}
#endif /* BENCH_ANY_SINK */

#ifdef BENCH_WITH_SQLITE
static void bench_sqlite(long n)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/mqr_bench_sinks_%d.db", (int)getpid());
    unlink(path);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE connack_log (clientid TEXT, username TEXT, "
                         "reason_code TEXT, ts INTEGER)", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_sinks: cannot create %s\n", path);
        return;
    }
    sqlite3_close(db);
    mqr_engine_t *e = engine_new();
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = path;
    c.sql = "INSERT INTO connack_log " INSERT_COLS;
    uint32_t id = 0;
    mqr_diag_t d;
    if (mqr_sqlite_sink_add(e, "bench", &c, &id, &d) != MQR_OK)
        fprintf(stderr, "bench_sinks: sqlite: %s\n", d.message);
    else
        run("sqlite", e, id, n);
    mqr_engine_destroy(e);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
}
#endif

#ifdef BENCH_WITH_PGSQL
static void bench_pgsql(long n)
{
    const char *spec = getenv("MQR_BENCH_PGSQL");
    if (spec == NULL)
        return;
    char server[128];
    snprintf(server, sizeof server, "%s", spec);
    char *slash = strchr(server, '/');
    if (slash == NULL) {
        fprintf(stderr, "bench_sinks: MQR_BENCH_PGSQL is HOST:PORT/DB\n");
        return;
    }
    *slash = '\0';
    mqr_engine_t *e = engine_new();
    mqr_pgsql_sink_config_t c;
    mqr_pgsql_sink_config_init(&c);
    c.server = server;
    c.database = slash + 1;
    c.username = getenv("MQR_BENCH_PGUSER");
    const char *w = getenv("MQR_BENCH_PG_WINDOW"), *p = getenv("MQR_BENCH_PG_POOL");
    c.inflight_window = w ? (uint32_t)atoi(w) : 0;
    c.pool_size = p ? (uint32_t)atoi(p) : 0;
    c.sql = "INSERT INTO mqr_bench " INSERT_COLS;
    uint32_t id = 0;
    mqr_diag_t d;
    if (mqr_pgsql_sink_add(e, "bench", &c, &id, &d) != MQR_OK) {
        fprintf(stderr, "bench_sinks: pgsql: %s\n", d.message);
    } else {
        for (int i = 0; i < 40; i++) /* connect and prepare */
            (void)mqr_engine_poll(e, 50);
        char name[64];
        snprintf(name, sizeof name, "pgsql window %u pool %u", c.inflight_window,
                 c.pool_size);
        run(name, e, id, n);
    }
    mqr_engine_destroy(e);
}
#endif

#ifdef BENCH_WITH_KAFKA
static void bench_kafka(long n)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, 3) : NULL;
    if (mc == NULL) {
        fprintf(stderr, "bench_sinks: kafka: no mock cluster\n");
        return;
    }
    rd_kafka_mock_topic_create(mc, "connack-events", 6, 3);
    mqr_engine_t *e = engine_new();
    mqr_kafka_sink_config_t c;
    mqr_kafka_sink_config_init(&c);
    c.bootstrap_hosts = rd_kafka_mock_cluster_bootstraps(mc);
    c.topic = "connack-events";
    c.key = "${clientid}";
    uint32_t id = 0;
    mqr_diag_t d;
    if (mqr_kafka_sink_add(e, "bench", &c, &id, &d) != MQR_OK)
        fprintf(stderr, "bench_sinks: kafka: %s\n", d.message);
    else
        run("kafka", e, id, n);
    mqr_engine_destroy(e);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
}
#endif

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n <= 0)
        n = 100000;
    const char *only = getenv("MQR_BENCH_ONLY"); /* one sink's name: only that one */
    (void)only;
#ifdef BENCH_WITH_SQLITE
    if (only == NULL || !strcmp(only, "sqlite"))
        bench_sqlite(n);
#endif
#ifdef BENCH_WITH_PGSQL
    if (only == NULL || !strcmp(only, "pgsql"))
        bench_pgsql(n);
#endif
#ifdef BENCH_WITH_KAFKA
    if (only == NULL || !strcmp(only, "kafka"))
        bench_kafka(n);
#endif
    return 0;
}
