/* SPDX-License-Identifier: MIT */
/*
 * kafka_mock.c - a Kafka cluster for tests: librdkafka's mock cluster
 * (rd_kafka_mock_cluster_new) with N brokers (default 3) listening on real
 * TCP ports of 127.0.0.1, so that any Kafka client (the Kafka sink, kcat)
 * can talk the Kafka protocol to it. There is no Kafka broker in Debian.
 *
 * It prints one line, "bootstrap HOST:PORT,HOST:PORT,...", then serves
 * until stdin ends, it reads "quit", or it gets SIGTERM/SIGINT. Commands on
 * stdin, one per line, each answered "ok" or "error: why":
 *   down ID              broker ID (1..N) stops answering (set_down)
 *   up ID                and comes back (set_up)
 *   topic NAME PARTS     create topic NAME with PARTS partitions
 *   error TOPIC CODE     every request about TOPIC fails with Kafka error CODE
 *                        (e.g. 3: UNKNOWN_TOPIC_OR_PARTITION); CODE 0 clears
 *   quit
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* One command line: 0 to go on, 1 to quit. */
static int command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char what[32], name[256];
    long a = 0;
    int n = sscanf(line, "%31s %255s %ld", what, name, &a);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (n >= 1 && !strcmp(what, "quit"))
        return 1;
    if (n == 2 && !strcmp(what, "down"))
        err = rd_kafka_mock_broker_set_down(mc, (int32_t)atol(name));
    else if (n == 2 && !strcmp(what, "up"))
        err = rd_kafka_mock_broker_set_up(mc, (int32_t)atol(name));
    else if (n == 3 && !strcmp(what, "topic"))
        err = rd_kafka_mock_topic_create(mc, name, (int)a, 3);
    else if (n == 3 && !strcmp(what, "error"))
        rd_kafka_mock_topic_set_error(mc, name, (rd_kafka_resp_err_t)a);
    else {
        printf("error: unknown command: %s", line);
        fflush(stdout);
        return 0;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        printf("error: %s\n", rd_kafka_err2str(err));
    else
        printf("ok\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 3;
    char err[256];
    if (brokers < 1 || brokers > 16) {
        fprintf(stderr, "usage: kafka_mock [BROKERS (1..16, default 3)]\n");
        return 64;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        return 1;
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[512];
    while (!stop && fgets(line, sizeof line, stdin) != NULL)
        if (command(mc, line))
            break;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
