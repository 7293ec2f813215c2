/* SPDX-License-Identifier: MIT */
/*
 * main.c - mqttrule-broker's entry point: read the configuration, create the
 * rule engine with its rules (stopping with file:line on a bad rule), open
 * the listeners and run the loop until SIGTERM or SIGINT. SIGHUP reloads the
 * whole configuration (reload.c); SIGUSR1 logs the counters (stats.c), as
 * does shutdown. On shutdown the actions get shutdown_flush_ms to deliver
 * what is queued; what is still held then is logged as lost, per action.
 *
 * The signal handlers only set flags; the loop acts on them between rounds.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

#ifndef MQR_BROKER_VERSION
#define MQR_BROKER_VERSION "0"
#endif

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_reload;
static volatile sig_atomic_t g_stats;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else if (sig == SIGUSR1)
        g_stats = 1;
    else
        g_stop = 1;
}

/* Write the process id to pid_file (mosquitto's pid_file). 0 or -1 (logged). */
static int write_pid_file(broker_t *b)
{
    if (b->cfg.pid_file == NULL)
        return 0;
    FILE *f = fopen(b->cfg.pid_file, "w");
    if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        fprintf(stderr, "mqttrule-broker: pid_file %s: %s\n", b->cfg.pid_file, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static broker_t b;
    const char *err = NULL;
    char msg[1024];
    int rc = 0;
    signal(SIGXFSZ, SIG_IGN); /* a file size limit fails the write (EFBIG), logged */
    brk_config_defaults(&b.cfg);
    b.argc = argc;
    b.argv = argv;
    int r = brk_config_parse_args(&b.cfg, argc, argv);
    if (r == 0) {
        brk_config_finish(&b.cfg);
        r = brk_config_check(&b.cfg, b.cfg.error, sizeof b.cfg.error);
    }
    if (r != 0) {
        if (r < 0)
            fprintf(stderr, "mqttrule-broker: %s\n", b.cfg.error);
        brk_config_free(&b.cfg);
        return r > 0 ? 0 : 2;
    }
    if (mqr_topic_index_create(NULL, &b.subs) != MQR_OK) {
        fprintf(stderr, "mqttrule-broker: out of memory\n");
        brk_config_free(&b.cfg);
        return 1;
    }
    if (brk_log_open(&b) != 0) {
        rc = 1;
        goto out;
    }
    if (brk_events_create(&b, &err) != 0 || brk_admin_create(&b) != 0) {
        if (err == NULL)
            err = "out of memory";
        fprintf(stderr, "mqttrule-broker: %s\n", err);
        rc = 1;
        goto out;
    }
    if (brk_persist_open(&b, msg, sizeof msg) != 0) {
        fprintf(stderr, "mqttrule-broker: %s\n", msg);
        rc = 1;
        goto out;
    }
    if (brk_events_load_rules(&b, &b.cfg, msg, sizeof msg) != 0) {
        fprintf(stderr, "mqttrule-broker: %s\n", msg);
        rc = 2;
        goto out;
    }
    if (brk_admin_rules_load(&b) != 0) {
        rc = 2;
        goto out;
    }
    if (b.cfg.test_connectors) {
        rc = brk_events_test_connectors(&b) ? 1 : 0;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    b.stats_req = &g_stats;
    signal(SIGPIPE, SIG_IGN);
    if (b.cfg.password_file != NULL)
        (void)brk_auth_check(&b, &(mqr_pkt_connect_t){0}, &err); /* load it, log problems */
    if (brk_loop_init(&b) != 0 || brk_admin_listen(&b) != 0 || write_pid_file(&b) != 0) {
        rc = 1;
    } else {
        brk_log(&b, BRK_LOG_NOTICE, "mqttrule-broker %s started (%zu rule(s), names profile %s)",
                MQR_BROKER_VERSION, b.cfg.nrules, b.cfg.names == MQR_NAMES_EMQX ? "emqx" : "doc");
        brk_notify("READY=1");
        if (brk_loop_run(&b, &g_stop, &g_reload) != 0)
            rc = 1;
        brk_notify("STOPPING=1");
        brk_log(&b, BRK_LOG_NOTICE, "shutting down");
        brk_stats_log(&b);
    }
    brk_loop_free(&b);
    brk_persist_close(&b);
    if (b.cfg.pid_file != NULL && rc == 0)
        (void)unlink(b.cfg.pid_file);
out:
    brk_journal_close(&b); /* a start-up error after the journal was started */
    brk_admin_destroy(&b);
    brk_mqtt_free(&b);
    brk_events_destroy(&b);
    brk_auth_free(&b);
    brk_log_close(&b);
    brk_config_free(&b.cfg);
    return rc;
}
