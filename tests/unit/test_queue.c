/* SPDX-License-Identifier: MIT */
/*
 * test_queue.c - the durable queue (mqttrule/queue.h): append, replay and
 * acknowledgement across reopening; a torn tail cut at every byte of the last
 * record; every byte of a middle record flipped; a full disk (RLIMIT_FSIZE in
 * a child); unwritable files (a directory where a file must go, which stops
 * root too); overflow policies; a record inside a torn payload not
 * replayed; version 1 segments still read; newer formats refused; sync
 * policies; and allocation failure at every N.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mqttrule/queue.h"
#include "queue_int.h"
#include "queue_test_util.h"
#include "value_test_alloc.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static char *tmp_dir(void)
{
    static char buf[64]; /* one per test process (Criterion forks each test) */
    snprintf(buf, sizeof buf, "/tmp/mqr_queue_XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
    return buf;
}

typedef struct {
    int64_t now;
} fake_clock_t;

static int64_t fake_now(void *ud)
{
    return ((fake_clock_t *)ud)->now;
}

/* Default options reading the time from clk. */
static void clock_opts(mqr_queue_options_t *o, fake_clock_t *clk)
{
    mqr_queue_options_init(o);
    o->clock = fake_now;
    o->clock_ud = clk;
}

static mqr_queue_t *open_q(const char *dir, mqr_queue_options_t *o)
{
    mqr_queue_options_t d;
    if (!o) {
        mqr_queue_options_init(&d);
        o = &d;
    }
    o->dir = dir;
    mqr_queue_t *q = NULL;
    mqr_diag_t diag;
    int rc = mqr_queue_open(o, &q, &diag);
    cr_assert_eq(rc, MQR_OK, "open: %s: %s", mqr_status_name(rc), diag.message);
    return q;
}

static void append_n(mqr_queue_t *q, int from, int to)
{
    char buf[64];
    for (int i = from; i <= to; i++) {
        int n = snprintf(buf, sizeof buf, "record-%04d", i);
        uint64_t seq = 0;
        cr_assert_eq(mqr_queue_append(q, buf, (size_t)n, &seq), MQR_OK);
    }
}

static mqr_queue_stats_t stats(const mqr_queue_t *q)
{
    mqr_queue_stats_t s;
    cr_assert_eq(mqr_queue_stats(q, &s), MQR_OK);
    return s;
}

/* The only segment file in dir (asserts there is exactly one). */
static void only_segment(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".seg")) {
            snprintf(out, cap, "%s/%s", dir, de->d_name);
            n++;
        }
    }
    closedir(d);
    cr_assert_eq(n, 1, "%d segments", n);
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* ---- basics ------------------------------------------------------------------------------- */

Test(queue, crc32c_check_value)
{
    cr_assert_eq(mqr__crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(mqr__crc32c(mqr__crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    cr_assert_eq(mqr_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(mqr_crc32c(7, NULL, 0), 7u);
}

Test(queue, open_arguments)
{
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    mqr_queue_t *q = (mqr_queue_t *)1;
    cr_assert_eq(mqr_queue_open(&o, &q, NULL), MQR_EINVAL); /* no dir */
    cr_assert_null(q);
    cr_assert_eq(mqr_queue_open(NULL, &q, NULL), MQR_EINVAL);
    o.dir = "/nonexistent/mqr-queue";
    mqr_diag_t d;
    cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_ENOTFOUND);
    cr_assert(strstr(d.message, "/nonexistent/mqr-queue"), "%s", d.message);
    o.dir = "/etc/hostname";
    cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_ENOTFOUND);
    o.dir = tmp_dir();
    o.sync = 7;
    cr_assert_eq(mqr_queue_open(&o, &q, NULL), MQR_EINVAL);
    o.sync = MQR_QUEUE_SYNC_BATCH;
    o.overflow = 9;
    cr_assert_eq(mqr_queue_open(&o, &q, NULL), MQR_EINVAL);
    rm_tree(o.dir);
    mqr_queue_close(NULL);
    cr_assert_eq(mqr_queue_append(NULL, "x", 1, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_queue_ack(NULL, 1), MQR_EINVAL);
    cr_assert_eq(mqr_queue_count(NULL), 0);
    cr_assert_str_eq(mqr_queue_last_error(NULL), "");
    cr_assert_eq(mqr_queue_timeout(NULL), -1);
}

Test(queue, append_replay_ack_across_reopen)
{
    char *dir = tmp_dir();
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.segment_bytes = 200; /* several segments */
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 10);
    cr_assert_eq(mqr_queue_count(q), 10);
    mqr_queue_record_t r[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mqr_queue_next(q, &r[i]), MQR_OK);
    cr_assert_eq(r[0].seq, 1);
    cr_assert_eq(r[2].seq, 3);
    cr_assert_eq(r[0].len, 11);
    cr_assert_eq(memcmp(r[0].data, "record-0001", 11), 0);
    char id3[MQR_QUEUE_ID_MAX];
    strcpy(id3, r[2].id);
    cr_assert_eq(mqr_queue_ack(q, 1), MQR_OK);
    cr_assert_eq(mqr_queue_ack(q, 2), MQR_OK);
    cr_assert_eq(mqr_queue_ack(q, 2), MQR_ENOTFOUND);
    cr_assert_eq(mqr_queue_ack(q, 5), MQR_OK); /* out of order, above the floor */
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.records, 7);
    cr_assert_eq(s.inflight, 1);
    cr_assert_eq(s.pending, 6);
    uint64_t qid = s.queue_id;
    mqr_queue_close(q);

    q = open_q(dir, &o);
    s = stats(q);
    cr_assert_eq(s.queue_id, qid);
    cr_assert_eq(s.replayed, 7);
    cr_assert_eq(s.corrupt_records, 0);
    cr_assert_eq(s.torn_tails, 0);
    int expect[] = {3, 4, 6, 7, 8, 9, 10};
    for (int i = 0; i < 7; i++) {
        mqr_queue_record_t x;
        cr_assert_eq(mqr_queue_next(q, &x), MQR_OK);
        cr_assert_eq(x.seq, (uint64_t)expect[i]);
        cr_assert_eq(x.replayed, 1);
        char want[16];
        snprintf(want, sizeof want, "record-%04d", expect[i]);
        cr_assert_eq(memcmp(x.data, want, 11), 0);
        if (i == 0)
            cr_assert_str_eq(x.id, id3); /* the identifier does not change */
        cr_assert_eq(mqr_queue_ack(q, x.seq), MQR_OK);
    }
    cr_assert_eq(mqr_queue_next(q, r), MQR_ENOTFOUND);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    s = stats(q);
    cr_assert_leq(s.segments, 1, "fully acknowledged segments are deleted: %lu",
                  (unsigned long)s.segments);
    cr_assert_gt(s.segments_deleted, 0);
    mqr_queue_close(q);

    q = open_q(dir, &o);
    cr_assert_eq(mqr_queue_count(q), 0);
    uint64_t seq = 0;
    cr_assert_eq(mqr_queue_append(q, "x", 1, &seq), MQR_OK);
    cr_assert_eq(seq, 11, "sequences are never reused");
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, retry_hands_out_again_in_order)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 3);
    mqr_queue_record_t a, b;
    cr_assert_eq(mqr_queue_next(q, &a), MQR_OK);
    cr_assert_eq(mqr_queue_next(q, &b), MQR_OK);
    cr_assert_eq(mqr_queue_retry(q, a.seq), MQR_OK);
    cr_assert_eq(mqr_queue_retry(q, a.seq), MQR_ENOTFOUND);
    cr_assert_eq(mqr_queue_next(q, &a), MQR_OK);
    cr_assert_eq(a.seq, 1);
    cr_assert_eq(a.attempts, 2);
    cr_assert_eq(mqr_queue_next(q, &a), MQR_OK);
    cr_assert_eq(a.seq, 3);
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, record_id_format)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    char id[MQR_QUEUE_ID_MAX];
    cr_assert_eq(mqr_queue_record_id(q, 42, id, sizeof id), MQR_OK);
    cr_assert_eq(strlen(id), 19);
    cr_assert_str_eq(id + 16, "-42");
    cr_assert_eq(mqr_queue_record_id(q, 42, id, 19), MQR_EBUFFER);
    mqr_queue_close(q);
    rm_tree(dir);
}

/* ---- crash safety ----------------------------------------------------------------------------- */

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    le32(p, (uint32_t)v);
    le32(p + 4, (uint32_t)(v >> 32));
}

/* A data record of sequence `seq` holding `data`, its CRC started from
 * `seed`, at p; returns its size. */
static size_t make_record(uint8_t *p, uint32_t seed, uint64_t seq, const void *data,
                          uint32_t len)
{
    le32(p, 0x5152514du);
    le32(p + 4, len);
    le64(p + 8, seq);
    le32(p + 16, 1);
    memcpy(p + 24, data, len);
    le32(p + 20, mqr__crc32c(mqr__crc32c(seed, p + 4, 16), p + 24, len));
    return 24 + len;
}

Test(queue, torn_tail_at_every_byte_of_the_last_record)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 3);
    mqr_queue_close(q);
    char seg[512];
    only_segment(dir, seg, sizeof seg);
    uint8_t orig[4096];
    size_t size = slurp(seg, orig, sizeof orig);
    size_t start = size - (24 + 11); /* the last record */
    for (size_t cut = start; cut < size; cut++) {
        spit(seg, orig, cut);
        q = open_q(dir, NULL);
        mqr_queue_stats_t s = stats(q);
        cr_assert_eq(s.records, 2, "cut at %zu", cut);
        cr_assert_eq(s.torn_tails, cut > start ? 1 : 0, "cut at %zu", cut);
        cr_assert_eq(s.corrupt_records, 0, "cut at %zu", cut);
        if (cut > start)
            cr_assert(strstr(mqr_queue_last_error(q), "torn"), "%s", mqr_queue_last_error(q));
        mqr_queue_close(q);
        struct stat sb;
        cr_assert_eq(stat(seg, &sb), 0);
        cr_assert_eq((size_t)sb.st_size, start, "the torn tail is cut off (cut %zu)", cut);
    }
    /* After the cut the log continues normally. */
    q = open_q(dir, NULL);
    append_n(q, 3, 3);
    mqr_queue_close(q);
    q = open_q(dir, NULL);
    cr_assert_eq(mqr_queue_count(q), 3);
    cr_assert_eq(stats(q).torn_tails, 0);
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, flipped_byte_in_a_middle_record_is_skipped_and_counted)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 5);
    mqr_queue_close(q);
    char seg[512];
    only_segment(dir, seg, sizeof seg);
    uint8_t orig[4096], buf[4096];
    size_t size = slurp(seg, orig, sizeof orig);
    size_t rec = 24 + 11, start = 40 + 2 * rec; /* record 3 */
    for (size_t at = start; at < start + rec; at++) {
        memcpy(buf, orig, size);
        buf[at] ^= 0x5a;
        spit(seg, buf, size);
        q = open_q(dir, NULL);
        mqr_queue_stats_t s = stats(q);
        cr_assert_eq(s.records, 4, "flip at %zu", at);
        cr_assert_eq(s.corrupt_records, 1, "flip at %zu", at);
        cr_assert_eq(s.torn_tails, 0, "flip at %zu", at);
        cr_assert(strstr(mqr_queue_last_error(q), "corrupt"), "%s", mqr_queue_last_error(q));
        uint64_t want[] = {1, 2, 4, 5};
        for (int i = 0; i < 4; i++) {
            mqr_queue_record_t r;
            cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
            cr_assert_eq(r.seq, want[i], "flip at %zu", at);
        }
        mqr_queue_close(q);
        spit(seg, orig, size);
        /* close rewrote the checkpoint only; restore the segment for the next round */
    }
    rm_tree(dir);
}

Test(queue, corrupt_checkpoint_replays_everything)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 4);
    mqr_queue_ack(q, 1);
    mqr_queue_close(q);
    char p[512];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    uint8_t b[1024];
    size_t n = slurp(p, b, sizeof b);
    b[20] ^= 1;
    spit(p, b, n);
    q = open_q(dir, NULL);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.corrupt_records, 1);
    cr_assert_eq(s.records, 3, "the ack record still applies"); /* 2, 3, 4 */
    mqr_queue_close(q);
    rm_tree(dir);
}

/* A payload holding complete records, checksummed as version 1 (seed 0) and
 * as version 2 with a guessed key of 0, torn in the middle: replay cuts the
 * tail and takes none of the records inside it (before the segment key it
 * took the seed-0 one as a real event). */
Test(queue, a_record_inside_a_torn_payload_is_not_replayed)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 2);
    uint8_t payload[512], zero_key[8] = {0};
    size_t n = 0;
    memcpy(payload, "head-padding", 12);
    n += 12;
    n += make_record(payload + n, 0, 900, "forged-v1", 9);
    n += make_record(payload + n, mqr__crc32c(0, zero_key, 8), 901, "forged-v2-key0", 14);
    memcpy(payload + n, "tail-padding", 12);
    n += 12;
    uint64_t seq = 0;
    cr_assert_eq(mqr_queue_append(q, payload, n, &seq), MQR_OK);
    cr_assert_eq(seq, 3);
    mqr_queue_close(q);

    char seg[512];
    only_segment(dir, seg, sizeof seg);
    uint8_t b[4096];
    size_t size = slurp(seg, b, sizeof b);
    size_t outer = size - (24 + n);
    /* torn after the embedded records, before the outer record's end */
    spit(seg, b, size - 6);
    q = open_q(dir, NULL);
    mqr_queue_stats_t st = stats(q);
    cr_assert_eq(st.torn_tails, 1);
    cr_assert_eq(st.records, 2, "records: %lu", (unsigned long)st.records);
    mqr_queue_record_t r;
    for (uint64_t want = 1; want <= 2; want++) {
        cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
        cr_assert_eq(r.seq, want);
    }
    cr_assert_eq(mqr_queue_next(q, &r), MQR_ENOTFOUND, "replayed seq %lu",
                 (unsigned long)r.seq);
    mqr_queue_close(q);
    struct stat sb;
    cr_assert_eq(stat(seg, &sb), 0);
    cr_assert_eq((size_t)sb.st_size, outer, "the torn record is cut off");
    rm_tree(dir);
}

/* A version 1 segment (32-byte header, no key, CRCs from 0) written by hand,
 * as older libraries wrote it, still replays; appends then go to a new
 * version 2 segment and both replay after reopening. */
Test(queue, version_1_segment_still_replays)
{
    char *dir = tmp_dir();
    uint8_t b[512];
    memset(b, 0, sizeof b);
    memcpy(b, "MQRQSEG", 8);
    le32(b + 8, 1);
    le64(b + 16, 0x1234);
    le64(b + 24, 1);
    le32(b + 12, mqr__crc32c(0, b, 32));
    size_t n = 32;
    n += make_record(b + n, 0, 1, "old-one", 7);
    n += make_record(b + n, 0, 2, "old-two", 7);
    char seg[512];
    snprintf(seg, sizeof seg, "%s/0000000000000001.seg", dir);
    spit(seg, b, n);

    mqr_queue_t *q = open_q(dir, NULL);
    mqr_queue_stats_t st = stats(q);
    cr_assert_eq(st.records, 2);
    cr_assert_eq(st.corrupt_records, 0);
    cr_assert_eq(st.torn_tails, 0);
    cr_assert_eq(st.queue_id, 0x1234);
    mqr_queue_record_t r;
    cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
    cr_assert_eq(r.seq, 1);
    cr_assert_eq(memcmp(r.data, "old-one", 7), 0);
    uint64_t seq = 0;
    cr_assert_eq(mqr_queue_append(q, "new", 3, &seq), MQR_OK);
    cr_assert_eq(seq, 3);
    mqr_queue_close(q);

    q = open_q(dir, NULL);
    st = stats(q);
    cr_assert_eq(st.records, 3);
    cr_assert_eq(st.corrupt_records, 0);
    const char *want[] = {"old-one", "old-two", "new"};
    for (uint64_t i = 0; i < 3; i++) {
        cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
        cr_assert_eq(r.seq, i + 1);
        cr_assert_eq(memcmp(r.data, want[i], strlen(want[i])), 0);
    }
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, newer_format_is_refused)
{
    char *dir = tmp_dir();
    mqr_queue_t *q = open_q(dir, NULL);
    append_n(q, 1, 1);
    mqr_queue_close(q);
    char seg[512], ckp[512];
    only_segment(dir, seg, sizeof seg);
    snprintf(ckp, sizeof ckp, "%s/checkpoint", dir);
    uint8_t b[1024];
    size_t n = slurp(seg, b, sizeof b);
    b[8] = 3; /* version 3 */
    spit(seg, b, n);
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.dir = dir;
    mqr_diag_t d;
    cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_ENOTSUP);
    cr_assert(strstr(d.message, "version 3 is newer"), "%s", d.message);
    b[8] = 2;
    spit(seg, b, n);
    n = slurp(ckp, b, sizeof b);
    cr_assert_eq(b[8], 1, "the checkpoint stays at version 1");
    b[8] = 2;
    spit(ckp, b, n);
    cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_ENOTSUP);
    cr_assert(strstr(d.message, "checkpoint: format version 2"), "%s", d.message);
    rm_tree(dir);
}

/* ---- disk failures -------------------------------------------------------------------------- */

Test(queue, full_disk_falls_back_to_memory)
{
    char *dir = tmp_dir();
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        mqr_queue_options_t o;
        mqr_queue_options_init(&o);
        o.dir = dir;
        mqr_queue_t *q = NULL;
        if (mqr_queue_open(&o, &q, NULL) != MQR_OK)
            _exit(10);
        char buf[100];
        memset(buf, 'x', sizeof buf);
        for (int i = 0; i < 200; i++)
            if (mqr_queue_append(q, buf, sizeof buf, NULL) != MQR_OK)
                _exit(11);
        mqr_queue_stats_t s;
        mqr_queue_stats(q, &s);
        if (s.state != MQR_QUEUE_STATE_MEMORY || !s.memory_records || s.records != 200)
            _exit(12);
        if (!strstr(mqr_queue_last_error(q), "File too large"))
            _exit(13);
        if (mqr_queue_flush(q) != MQR_EIO)
            _exit(14);
        for (uint64_t i = 1; i <= 200; i++) {
            mqr_queue_record_t r;
            if (mqr_queue_next(q, &r) != MQR_OK || r.seq != i || r.len != 100)
                _exit(15);
        }
        uint64_t on_disk = 200 - s.memory_records;
        if (write(pfd[1], &on_disk, sizeof on_disk) != sizeof on_disk)
            _exit(16);
        mqr_queue_close(q);
        _exit(0);
    }
    close(pfd[1]);
    uint64_t on_disk = 0;
    cr_assert_eq(read(pfd[0], &on_disk, sizeof on_disk), (ssize_t)sizeof on_disk);
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    cr_assert_gt(on_disk, 10);
    cr_assert_lt(on_disk, 200);
    /* What reached the disk replays, whole and in order: no torn record. */
    mqr_queue_t *q = open_q(dir, NULL);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.records, on_disk);
    cr_assert_eq(s.torn_tails, 0);
    cr_assert_eq(s.corrupt_records, 0);
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, unwritable_segment_goes_to_memory_and_recovers)
{
    char *dir = tmp_dir();
    fake_clock_t clk = {1000};
    mqr_queue_options_t o;
    clock_opts(&o, &clk);
    mqr_queue_t *q = open_q(dir, &o);
    /* A directory where the first segment must go: create fails, even as root. */
    char p[512];
    snprintf(p, sizeof p, "%s/0000000000000001.seg", dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    append_n(q, 1, 5);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.state, MQR_QUEUE_STATE_MEMORY);
    cr_assert_str_eq(mqr_queue_state_name(s.state), "memory");
    cr_assert_eq(s.memory_records, 5);
    cr_assert_eq(s.records, 5);
    cr_assert_geq(s.write_errors, 1);
    cr_assert(strstr(mqr_queue_last_error(q), "0000000000000001.seg: create"), "%s",
              mqr_queue_last_error(q));
    cr_assert_eq(mqr_queue_flush(q), MQR_EIO);
    cr_assert_eq(mqr_queue_timeout(q), MQR_QUEUE_RETRY_MS);
    mqr_queue_record_t r;
    cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
    cr_assert_eq(mqr_queue_ack(q, r.seq), MQR_OK);
    clk.now += MQR_QUEUE_RETRY_MS;
    cr_assert_eq(mqr_queue_timeout(q), 0);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK); /* the next segment number works */
    cr_assert_eq(stats(q).state, MQR_QUEUE_STATE_OK);
    mqr_queue_close(q);
    rmdir(p);
    q = open_q(dir, &o);
    cr_assert_eq(mqr_queue_count(q), 4, "what memory held reached the disk");
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, unwritable_checkpoint_is_a_start_up_error)
{
    char *dir = tmp_dir();
    char p[512];
    snprintf(p, sizeof p, "%s/checkpoint.tmp", dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.dir = dir;
    mqr_queue_t *q = NULL;
    mqr_diag_t d;
    cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_EIO);
    cr_assert(strstr(d.message, "checkpoint"), "%s", d.message);
    rmdir(p);
    if (geteuid() != 0) { /* permissions stop only a non-root user */
        chmod(dir, 0555);
        cr_assert_eq(mqr_queue_open(&o, &q, &d), MQR_EIO);
        chmod(dir, 0700);
    }
    rm_tree(dir);
}

Test(queue, unwritable_checkpoint_at_run_time_keeps_segments)
{
    char *dir = tmp_dir();
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.segment_bytes = 100;
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 6);
    char p[512];
    snprintf(p, sizeof p, "%s/checkpoint.tmp", dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    for (uint64_t i = 1; i <= 4; i++)
        cr_assert_eq(mqr_queue_ack(q, i), MQR_OK);
    cr_assert_eq(mqr_queue_flush(q), MQR_EIO); /* reclaim needs the checkpoint */
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.state, MQR_QUEUE_STATE_MEMORY);
    cr_assert(strstr(mqr_queue_last_error(q), "checkpoint"), "%s", mqr_queue_last_error(q));
    cr_assert_eq(s.segments_deleted, 0);
    mqr_queue_close(q);
    rmdir(p);
    q = open_q(dir, &o);
    cr_assert_eq(mqr_queue_count(q), 2, "acks written before the failure still count");
    mqr_queue_close(q);
    rm_tree(dir);
}

/* The highest segment number in dir (0 when none). */
static unsigned long long max_segment(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    unsigned long long top = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".seg")) {
            unsigned long long no = strtoull(de->d_name, NULL, 16);
            top = no > top ? no : top;
        }
    }
    closedir(d);
    return top;
}

Test(queue, ids_handed_out_in_memory_are_not_reused_after_a_crash)
{
    char *dir = tmp_dir();
    fake_clock_t clk = {1000};
    mqr_queue_options_t o;
    clock_opts(&o, &clk);
    o.segment_bytes = 100;
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 6);
    /* directories where the next segments must go: the disk "fails" */
    unsigned long long top = max_segment(dir);
    char p[512];
    for (unsigned long long no = top + 1; no <= top + 8; no++) {
        snprintf(p, sizeof p, "%s/%016llx.seg", dir, no);
        cr_assert_eq(mkdir(p, 0700), 0);
    }
    append_n(q, 7, 20);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.state, MQR_QUEUE_STATE_MEMORY);
    cr_assert_gt(s.memory_records, 0);
    uint64_t handed = 0;
    mqr_queue_record_t r;
    while (mqr_queue_next(q, &r) == MQR_OK) { /* all sent; the disk's acknowledged */
        handed = r.seq;
        if (r.seq <= 20 - s.memory_records)
            cr_assert_eq(mqr_queue_ack(q, r.seq), MQR_OK);
    }
    cr_assert_eq(handed, 20);
    clk.now += MQR_QUEUE_RETRY_MS;
    cr_assert_eq(mqr_queue_flush(q), MQR_EIO); /* segments deleted, no new one */
    cr_assert_gt(stats(q).segments_deleted, 0);
    mqr_queue_close(q); /* as a crash: what memory held is lost */
    for (unsigned long long no = top + 1; no <= top + 8; no++) {
        snprintf(p, sizeof p, "%s/%016llx.seg", dir, no);
        rmdir(p);
    }
    q = open_q(dir, &o);
    uint64_t seq = 0;
    cr_assert_eq(mqr_queue_append(q, "new", 3, &seq), MQR_OK);
    cr_assert_gt(seq, 20, "id %llu was handed out before the restart",
                 (unsigned long long)seq);
    mqr_queue_close(q);
    rm_tree(dir);
}

/* ---- bounds and policies -------------------------------------------------------------------- */

Test(queue, overflow_drop_oldest_persists)
{
    char *dir = tmp_dir();
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.max_buffer_bytes = 40;
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 5); /* 11 bytes each: 3 fit */
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.records, 3);
    cr_assert_eq(s.dropped_oldest, 2);
    cr_assert_eq(s.bytes, 33);
    mqr_queue_record_t r;
    cr_assert_eq(mqr_queue_next(q, &r), MQR_OK);
    cr_assert_eq(r.seq, 3);
    char big[41] = {0};
    cr_assert_eq(mqr_queue_append(q, big, sizeof big, NULL), MQR_ELIMIT);
    mqr_queue_close(q);
    q = open_q(dir, &o);
    cr_assert_eq(mqr_queue_count(q), 3);
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, overflow_refuse_newest)
{
    char *dir = tmp_dir();
    mqr_queue_options_t o;
    mqr_queue_options_init(&o);
    o.max_buffer_bytes = 40;
    o.overflow = MQR_QUEUE_OVERFLOW_REFUSE_NEWEST;
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 3);
    cr_assert_eq(mqr_queue_append(q, "record-0004", 11, NULL), MQR_ELIMIT);
    mqr_queue_stats_t s = stats(q);
    cr_assert_eq(s.refused_newest, 1);
    cr_assert_eq(s.records, 3);
    cr_assert_eq(mqr_queue_ack(q, 1), MQR_OK);
    cr_assert_eq(mqr_queue_append(q, "record-0004", 11, NULL), MQR_OK);
    mqr_queue_close(q);
    rm_tree(dir);
}

Test(queue, sync_policies)
{
    char *dir = tmp_dir();
    fake_clock_t clk = {0};
    mqr_queue_options_t o;
    clock_opts(&o, &clk);
    o.sync = MQR_QUEUE_SYNC_INTERVAL;
    o.sync_interval_ms = 100;
    mqr_queue_t *q = open_q(dir, &o);
    append_n(q, 1, 1);
    cr_assert_eq(mqr_queue_timeout(q), 100);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    cr_assert_eq(stats(q).fsyncs, 0);
    clk.now = 100;
    cr_assert_eq(mqr_queue_timeout(q), 0);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    cr_assert_eq(stats(q).fsyncs, 1);
    cr_assert_eq(mqr_queue_timeout(q), -1);
    mqr_queue_close(q);
    rm_tree(dir);

    dir = tmp_dir();
    o.sync = MQR_QUEUE_SYNC_NEVER;
    q = open_q(dir, &o);
    append_n(q, 1, 1);
    cr_assert_eq(mqr_queue_timeout(q), -1);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    cr_assert_eq(stats(q).fsyncs, 0);
    mqr_queue_close(q);
    rm_tree(dir);

    dir = tmp_dir();
    o.sync = MQR_QUEUE_SYNC_BATCH;
    q = open_q(dir, &o);
    append_n(q, 1, 2);
    cr_assert_eq(mqr_queue_timeout(q), 0);
    cr_assert_eq(mqr_queue_flush(q), MQR_OK);
    cr_assert_eq(stats(q).fsyncs, 1);
    mqr_queue_close(q);
    rm_tree(dir);
}

/* ---- allocation failure ---------------------------------------------------------------------- */

/* Open over a seeded directory, append, take, ack, retry, flush, close with
 * the Nth allocation failing, for every N until a run needs no failure:
 * every failure is MQR_ENOMEM, nothing leaks, the queue stays usable. */
Test(queue, allocation_failure_at_every_n)
{
    char *dir = tmp_dir();
    char seed_dir[64];
    snprintf(seed_dir, sizeof seed_dir, "%s", dir);
    for (size_t n = 1;; n++) {
        rm_tree(seed_dir);
        cr_assert_eq(mkdir(seed_dir, 0700), 0);
        mqr_queue_t *q = open_q(seed_dir, NULL);
        append_n(q, 1, 10);
        mqr_queue_ack(q, 2);
        mqr_queue_close(q);

        counting_t c = {0, 0, n};
        mqr_queue_options_t o;
        mqr_queue_options_init(&o);
        o.alloc.fn = counting_alloc;
        o.alloc.ud = &c;
        o.dir = seed_dir;
        o.segment_bytes = 150;
        int rc = mqr_queue_open(&o, &q, NULL);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM, "n=%zu: %s", n, mqr_status_name(rc));
            cr_assert_null(q);
            cr_assert_eq(c.live, 0, "n=%zu: leak after a failed open", n);
            continue;
        }
        int failed = 0;
        for (int i = 0; i < 80; i++) {
            rc = mqr_queue_append(q, "payload", 7, NULL);
            cr_assert(rc == MQR_OK || rc == MQR_ENOMEM, "n=%zu: %d", n, rc);
            failed |= rc != MQR_OK;
        }
        mqr_queue_record_t r;
        for (int i = 0; i < 5; i++)
            if (mqr_queue_next(q, &r) == MQR_OK)
                mqr_queue_ack(q, r.seq);
        if (mqr_queue_next(q, &r) == MQR_OK)
            mqr_queue_retry(q, r.seq);
        rc = mqr_queue_flush(q);
        cr_assert(rc == MQR_OK || rc == MQR_EIO, "n=%zu", n);
        mqr_queue_stats_t s = stats(q);
        cr_assert_eq(s.records, s.pending + s.inflight);
        mqr_queue_close(q);
        cr_assert_eq(c.live, 0, "n=%zu: leak", n);
        if (!failed && c.calls < n)
            break;
        cr_assert_lt(n, 5000);
    }
    rm_tree(seed_dir);
}
