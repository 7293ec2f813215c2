/* SPDX-License-Identifier: MIT */
/*
 * log.c - mqttrule-broker's clocks and its log: one line per entry, with a
 * level (mosquitto's log types error, warning, notice, information, debug),
 * written when the level is among `log_type`, to stderr, stdout or the
 * `log_dest file`. Kept apart from main.c so that the fuzz targets
 * (tests/fuzz/fuzz_broker_*.c) link the broker's files without its main().
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "broker.h"

int64_t brk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t brk_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t brk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const level_names[] = {"notice", "information", "debug", "warning", "error"};

/* Log one line (to stderr, stdout or the log_dest file) when its level is
 * among the configured log types. Warnings and errors say so after the
 * program's name. */
void brk_log(broker_t *b, int level, const char *fmt, ...)
{
    if (b->cfg.verbose < 0 || level < 0 || level > BRK_LOG_ERROR ||
        !(b->cfg.log_types & (1u << level)))
        return;
    FILE *out = b->logf ? b->logf : b->cfg.log_stdout ? stdout : stderr;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "%s mqttrule-broker: %s", ts,
            level >= BRK_LOG_WARNING ? level == BRK_LOG_ERROR ? "error: " : "warning: " : "");
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    va_end(ap);
}

/* The log type named `name` (mosquitto's names, plus "info"), as a mask:
 * "all" is every type, "none" 0. 0 on success, -1 for an unknown name. */
int brk_log_type_mask(const char *name, uint32_t *out)
{
    if (!strcmp(name, "all") || !strcmp(name, "none")) {
        *out = name[0] == 'a' ? BRK_LOG_ALL : 0;
        return 0;
    }
    if (!strcmp(name, "info")) {
        *out = 1u << BRK_LOG_INFO;
        return 0;
    }
    for (int i = 0; i <= BRK_LOG_ERROR; i++)
        if (!strcmp(name, level_names[i])) {
            *out = 1u << i;
            return 0;
        }
    return -1;
}

/* (Re)open the log_dest file, appending; logged to stderr when it cannot be
 * opened (the old file, if any, stays). SIGHUP calls it again, so a rotated
 * file is let go. 0 or -1. */
int brk_log_open(broker_t *b)
{
    if (b->cfg.log_file == NULL) {
        if (b->logf != NULL)
            fclose(b->logf);
        b->logf = NULL;
        return 0;
    }
    FILE *f = fopen(b->cfg.log_file, "a");
    if (f == NULL) {
        brk_log(b, BRK_LOG_ERROR, "log_dest file %s: %s", b->cfg.log_file, strerror(errno));
        return -1;
    }
    if (b->logf != NULL)
        fclose(b->logf);
    b->logf = f;
    return 0;
}

void brk_log_close(broker_t *b)
{
    if (b->logf != NULL)
        fclose(b->logf);
    b->logf = NULL;
}
