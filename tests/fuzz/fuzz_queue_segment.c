/* SPDX-License-Identifier: MIT */
/*
 * fuzz_queue_segment.c - libFuzzer target for the durable queue's reader:
 * arbitrary bytes opened as a queue segment.
 *
 * 1. The scanner over the raw bytes, with the seed of a version 1 segment (0)
 *    when bit 1 of the first byte is set, else the seed of a version 2
 *    segment with key KEY: every record it reports lies inside the input and
 *    passes the record check again.
 * 2. The bytes written as segment 1 of a fresh queue directory (behind a
 *    valid segment header when the first byte is odd, so the records are
 *    reached: version 1 when bit 1 is set, else version 2 with key KEY):
 *    mqr_queue_open must succeed (corrupt content is never an
 *    error), hand out records in increasing sequence order, take an append,
 *    acknowledge everything and close; a second open must succeed too and
 *    hold only the one record appended and not acknowledged.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttrule.h"
#include "queue_int.h"

#define CHECK(x)              \
    do {                      \
        if (!(x))             \
            __builtin_trap(); \
    } while (0)

#define KEY 0x0123456789abcdefull

typedef struct {
    const uint8_t *buf;
    size_t size;
    uint32_t seed;
    uint64_t records;
} scan_ctx_t;

static int visit(void *ud, const mqr__queue_rec_t *r)
{
    scan_ctx_t *c = ud;
    CHECK(r->data >= c->buf + 24 && r->data + r->len <= c->buf + c->size);
    mqr__queue_rec_t again;
    CHECK(mqr__queue_record_check(c->buf, c->size, (size_t)(r->data - c->buf) - 24, c->seed,
                                  &again));
    CHECK(again.seq == r->seq && again.len == r->len);
    c->records++;
    return MQR_OK;
}

static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[256];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int v1 = size && (data[0] & 2);
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(KEY >> (8 * i));
    uint32_t seed = v1 ? 0 : mqr__crc32c(0, key, 8);
    scan_ctx_t c = {data, size, seed, 0};
    mqr__queue_scan_t res;
    CHECK(mqr__queue_scan(data, size, 0, seed, visit, &c, &res) == MQR_OK);
    CHECK(res.end <= size);

    static char dir[64];
    if (!dir[0]) {
        /* tmpfs when there is one: the target spends its time in file calls */
        snprintf(dir, sizeof dir, "%s/mqr_fuzz_queue_XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        CHECK(mkdtemp(dir) != NULL);
    }
    clear_dir(dir);
    char p[128];
    snprintf(p, sizeof p, "%s/0000000000000001.seg", dir);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (size && (data[0] & 1)) {
        uint8_t h[40] = "MQRQSEG";
        size_t hlen = v1 ? 32 : 40;
        put32(h + 8, v1 ? 1 : 2);
        h[16] = 0x42; /* queue id */
        h[24] = 1;    /* segment number */
        memcpy(h + 32, key, 8);
        put32(h + 12, mqr__crc32c(0, h, hlen));
        fwrite(h, 1, hlen, f);
        data++;
        size--;
    }
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);

    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.dir = dir;
    o.sync = MQR_QUEUE_SYNC_NEVER;
    mqr_queue_t *q = NULL;
    int rc = mqr_queue_open(&o, &q, NULL);
    if (rc == MQR_ENOTSUP)
        return 0; /* a header claiming a newer version */
    CHECK(rc == MQR_OK);
    mqr_queue_record_t r;
    uint64_t last = 0;
    while (mqr_queue_next(q, &r) == MQR_OK) {
        CHECK(r.seq > last);
        last = r.seq;
        CHECK(mqr_queue_ack(q, r.seq) == MQR_OK);
    }
    uint64_t seq = 0;
    CHECK(mqr_queue_append(q, "z", 1, &seq) == MQR_OK);
    CHECK(seq > last);
    CHECK(mqr_queue_flush(q) == MQR_OK);
    mqr_queue_close(q);
    CHECK(mqr_queue_open(&o, &q, NULL) == MQR_OK);
    CHECK(mqr_queue_count(q) == 1);
    CHECK(mqr_queue_next(q, &r) == MQR_OK && r.seq == seq && r.len == 1);
    mqr_queue_close(q);
    return 0;
}
