/* SPDX-License-Identifier: MIT */
/*
 * reload.c - SIGHUP: read the configuration again, exactly as start-up does
 * (the -c file with everything it includes, then the command-line flags),
 * check all of it (directives, files the broker reads, every rule and
 * action in a scratch engine), and only then apply it. Any error keeps the
 * running configuration whole and logs "file:line: what is wrong".
 *
 * What a reload applies without dropping a client: rules and actions (an
 * unchanged rule keeps its queue and metrics), bans, ACL, limits, the
 * password file, log levels and the log file (reopened, so log rotation
 * works), TLS certificates, keys, CAs and CRLs (read again each time: a new
 * connection gets the new certificate, open ones keep theirs; a file that
 * fails to load keeps the running certificate, logged) and WebSocket
 * options. New values apply to what happens next (a new CONNECT, SUBSCRIBE,
 * PUBLISH, handshake). What needs a restart (listener ports, addresses and
 * protocols, names profile, tcp_defer_accept, pid_file) keeps its running
 * value and is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static void brk_reload_config(broker_t *b, char *err, size_t errcap);

/* Reload the configuration (see the top of the file). */
void brk_reload(broker_t *b)
{
    char err[1024];
    brk_notify("RELOADING=1");
    brk_reload_config(b, err, sizeof err);
    brk_notify("READY=1");
}

/* The reload itself (brk_reload tells systemd around it). */
static void brk_reload_config(broker_t *b, char *err, size_t errcap)
{
    if (b->cfg.config_file == NULL) {
        brk_log(b, BRK_LOG_NOTICE, "SIGHUP: no configuration file (-c); nothing to reload");
        return;
    }
    brk_config_t *nc = malloc(sizeof *nc);
    if (nc == NULL) {
        brk_log(b, BRK_LOG_ERROR, "SIGHUP: out of memory; the running configuration stays");
        return;
    }
    brk_config_defaults(nc);
    int r = brk_config_parse_args(nc, b->argc, b->argv);
    if (r == 0) {
        brk_config_finish(nc);
        r = brk_config_check(nc, nc->error, sizeof nc->error);
    }
    if (r == 0 && brk_events_load_rules(b, nc, err, errcap) != 0) {
        snprintf(nc->error, sizeof nc->error, "%s", err);
        r = -1;
    }
    if (r != 0) {
        brk_log(b, BRK_LOG_ERROR, "SIGHUP: %s; the running configuration stays", nc->error);
        brk_config_free(nc);
        free(nc);
        return;
    }
    size_t changes = brk_config_reload_changes(b, nc);
    if (b->cfg.password_file != NULL)
        b->pw.ok = 0; /* read it again at the next CONNECT, whatever its time stamp */
    brk_persist_reload(b, nc); /* persist.c: the snapshot generation, the journal */
    brk_config_free(&b->cfg);
    b->cfg = *nc;
    free(nc);
    (void)brk_log_open(b);
    brk_log(b, BRK_LOG_NOTICE, "SIGHUP: configuration reloaded from %s (%zu setting(s) changed, "
            "%zu rule(s))", b->cfg.config_file, changes, b->cfg.nrules);
}
