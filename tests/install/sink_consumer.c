/* SPDX-License-Identifier: MIT */
/*
 * A consumer of the installed SQLite sink (tests/install/run.sh): one rule,
 * an `action sqlite` writing to argv[1], one event, the row counted as a
 * success in the action's metrics. Prints "sink ok" and exits 0.
 */
#include <mqttrule.h>
#include <mqttrule/sink_sqlite.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    mqr_engine_t *e = NULL;
    mqr_diag_t d;
    if (argc < 2 || mqr_engine_create(NULL, &e) != MQR_OK)
        return 1;
    mqr_engine_rule_def_t r = {"r1", "SELECT clientid FROM \"t/#\"", NULL, 1, 0};
    if (mqr_engine_rule_add(e, &r, &d) != MQR_OK)
        return 2;
    mqr_sqlite_sink_config_t c;
    mqr_sqlite_sink_config_init(&c);
    c.database = argv[1];
    c.sql = "INSERT INTO t (c) VALUES (${clientid})";
    uint32_t id = 0;
    if (mqr_sqlite_sink_add(e, "r1", &c, &id, &d) != MQR_OK) {
        fprintf(stderr, "%s\n", d.message);
        return 3;
    }
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.clientid = "c1";
    m.clientid_len = 2;
    if (mqr_engine_emit_message(e, &m, NULL, NULL) != MQR_OK)
        return 4;
    for (int i = 0; i < 200 && mqr_engine_pending(e) > 0; i++)
        (void)mqr_engine_poll(e, 20);
    mqr_action_metrics_t am;
    if (mqr_engine_action_metrics(e, id, &am) != MQR_OK || am.matched != 1)
        return 5;
    mqr_engine_destroy(e);
    /* the table does not exist: the row is counted failed, which is enough
     * to show the installed library ran the statement */
    printf("sink ok (success %llu, failed %llu)\n", (unsigned long long)am.success,
           (unsigned long long)am.failed);
    return 0;
}
