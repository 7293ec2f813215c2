/* SPDX-License-Identifier: MIT */
/*
 * log.c - mqttrule-broker's clocks and its log line. Kept apart from main.c
 * so that the fuzz targets (tests/fuzz/fuzz_broker_*.c) link the broker's
 * files without its main().
 */
#include <stdarg.h>
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

/* Log one line to stderr: level 0 always, level 1 with -v. */
void brk_log(broker_t *b, int level, const char *fmt, ...)
{
    if (level > b->cfg.verbose)
        return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s mqttrule-broker: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
