/* SPDX-License-Identifier: MIT */
/*
 * bench_queue.c - the cost of each sync policy of the durable queue
 * (mqttrule/queue.h): appends per second, and append + take + acknowledge
 * cycles per second, for MQR_QUEUE_SYNC_BATCH (a flush, so an fsync, every
 * `batch` appends), MQR_QUEUE_SYNC_INTERVAL (100 ms) and MQR_QUEUE_SYNC_NEVER.
 *
 *   bench_queue [records] [record bytes] [batch] [dir]   (100000 200 64 /tmp)
 *
 * Each run uses a fresh directory under `dir` (on the file system to
 * measure) and prints one JSON line per policy and mode. The fsync cost is
 * the device's: on tmpfs every policy costs the same.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqttrule.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[1400];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* One run: `records` appends of `size` bytes, a flush every `batch`; with
 * `consume`, each record is also taken and acknowledged right away. */
static int run(const char *base, int32_t policy, const char *name, long records, size_t size,
               long batch, int consume)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/mqr_bench_queue_XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_queue: mkdtemp");
        return 1;
    }
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.dir = dir;
    o.sync = policy;
    o.sync_interval_ms = 100;
    o.max_buffer_bytes = (uint64_t)records * size + 1;
    mqr_queue_t *q = NULL;
    mqr_diag_t d;
    if (mqr_queue_open(&o, &q, &d) != MQR_OK) {
        fprintf(stderr, "bench_queue: %s\n", d.message);
        return 1;
    }
    char *payload = malloc(size);
    memset(payload, 'x', size);
    double t0 = now_s();
    for (long i = 0; i < records; i++) {
        uint64_t seq;
        if (mqr_queue_append(q, payload, size, &seq) != MQR_OK) {
            fprintf(stderr, "bench_queue: append failed\n");
            return 1;
        }
        if (consume) {
            mqr_queue_record_t r;
            mqr_queue_next(q, &r);
            mqr_queue_ack(q, r.seq);
        }
        if ((i + 1) % batch == 0)
            mqr_queue_flush(q);
    }
    mqr_queue_flush(q);
    double el = now_s() - t0;
    mqr_queue_stats_t s;
    mqr_queue_stats(q, &s);
    printf("{\"policy\":\"%s\",\"mode\":\"%s\",\"records\":%ld,\"bytes\":%zu,\"batch\":%ld,"
           "\"elapsed_s\":%.3f,\"per_s\":%.0f,\"fsyncs\":%llu,\"state\":\"%s\"}\n",
           name, consume ? "append+ack" : "append", records, size, batch, el, records / el,
           (unsigned long long)s.fsyncs, mqr_queue_state_name(s.state));
    mqr_queue_close(q);
    free(payload);
    rm_dir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    long records = argc > 1 ? atol(argv[1]) : 100000;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 200;
    long batch = argc > 3 ? atol(argv[3]) : 64;
    const char *base = argc > 4 ? argv[4] : "/tmp";
    if (records <= 0 || batch <= 0) {
        fprintf(stderr, "usage: bench_queue [records] [record bytes] [batch] [dir]\n");
        return 64;
    }
    static const struct {
        int32_t policy;
        const char *name;
    } pol[] = {{MQR_QUEUE_SYNC_BATCH, "batch"},
               {MQR_QUEUE_SYNC_INTERVAL, "interval-100ms"},
               {MQR_QUEUE_SYNC_NEVER, "never"}};
    for (int consume = 0; consume < 2; consume++)
        for (size_t i = 0; i < sizeof pol / sizeof pol[0]; i++)
            if (run(base, pol[i].policy, pol[i].name, records, size, batch, consume) != 0)
                return 1;
    return 0;
}
