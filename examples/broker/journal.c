/* SPDX-License-Identifier: MIT */
/*
 * journal.c - mqttrule-broker's journal: the changes to retained messages and
 * persistent sessions made since the last snapshot (persist.c, broker.db), so
 * they survive kill -9 without waiting for the next snapshot
 * (docs/persistence.md).
 *
 * How it works. Every change to the state broker.db holds calls a hook here
 * (brk_jr_*: retain.c, connect.c, session.c, subscribe.c, send.c,
 * publish.c, mqtt.c), which appends one record to a buffer in memory: no
 * system call on the hot path. The buffer is written with one write() before
 * any connection's output is (loop.c's flush_out), so a client is never told
 * of a change (a PUBACK, a SUBACK) the journal does not hold yet, and at the
 * end of each loop round (brk_loop_flush), which then syncs by the
 * persistence_sync policy of the action queues: fdatasync after each round
 * that wrote (batch), at most every N ms (N), or never. Only sessions that
 * outlive their connection (expiry > 0) are journaled; the others are not
 * in the snapshot either.
 *
 * Each snapshot has a generation number, one more than the previous one.
 * After a snapshot is renamed into place, a new journal of its generation
 * is written to broker.journal.tmp and renamed over broker.journal: a crash
 * between the two renames leaves a journal of the previous generation,
 * which the next start ignores (the snapshot holds all of it). On start
 * the broker loads the snapshot, replays the journal of the same generation
 * over it, writes a new snapshot and starts a new journal.
 *
 * broker.journal (little-endian):
 *   header, 32 bytes: "MQRBJRNL", u32 format version (2), u32 CRC-32C of
 *   bytes 0..11 and 16..31, u64 generation (the snapshot it follows), u32
 *   key (random, per journal), u32 0;
 *   then records, each: u32 magic 0x4A52514D ("MQRJ"), u32 body length,
 *   u32 CRC-32C, started from the key, of the bytes from offset 12 to the
 *   record's end, u64 generation, u32 sequence number (1, 2, ... in the
 *   file), u8 type, body. Without the key a client could put a valid record
 *   in a payload, which replay would apply when it looks for the next
 *   record after a torn or damaged one. Version 1 (24-byte header, no key,
 *   the CRC started from 0) is still read.
 * Bodies (strings and messages as in broker.db, persist_codec.h; "cid" is
 * the session's client id; a message reference "mref" is u8 0 and the
 * message, or u8 1 and the u32 sequence number of the latest record that
 * carried one, so a message routed to many sessions is written once):
 *   1 retained set: message          2 retained clear: topic
 *   3 session open (CONNECT): cid, username, u32 expiry_s, u8 fresh (a new
 *     or clean session: everything it held is dropped; also a session of
 *     expiry 0 that a CONNECT keeping it made persistent, its state following
 *     as records 8, 12, 14, 10 and 16)
 *   4 session end: cid               5 session expiry (DISCONNECT): cid, u32
 *   6 delayed will set: cid, i64 ms until it is published, message
 *   7 delayed will cleared: cid
 *   8 subscribe: cid, filter, u8 qos, no_local, rap, 0, u16 share_len, u32 id
 *   9 unsubscribe: cid, filter
 *   10 queued: cid, u8 qos, retain, mref       11 queue head dropped: cid
 *   12 in flight: cid, u16 pid, u8 qos, retain, mref
 *   13 queue head put in flight: cid, u16 pid
 *   14 PUBREC received (PUBREL sent): cid, u16 pid
 *   15 in-flight message ended (acknowledged, expired, refused): cid, u16 pid
 *   16 QoS 2 id received (awaiting PUBREL): cid, u16 pid
 *   17 QoS 2 id released (PUBREL): cid, u16 pid
 *
 * Replay never fails on content: a record cut short at the end (a crash
 * mid-write) is a torn tail, counted and logged; a record whose magic,
 * length or checksum is wrong with a valid record after it is skipped up
 * to that record, counted and logged; a record that cannot apply (its
 * session is gone because an earlier record was skipped) is counted. Only
 * a journal of a newer format version stops the start, never misread.
 *
 * A journal that cannot be written (disk full, read-only, a file size limit)
 * is logged once with the cause and counted; the broker keeps running on
 * snapshots alone, and tries a snapshot and a new journal every 5 s until
 * both can be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist_codec.h"

#define JR_NAME "broker.journal"
#define JR_TMP "broker.journal.tmp"
#define JR_MAGIC "MQRBJRNL"
#define JR_VERSION 2u
#define JR_HEAD 32u                      /* version 1: 24 (no key) */
#define JR_HEAD_V1 24u
#define JR_REC_MAGIC 0x4A52514Du
#define JR_REC_HEAD 25u
#define JR_MAX_BODY (1u << 30)           /* no record body is larger (a message is < 256 MiB) */
#define JR_RETRY_MS 5000                 /* a broken journal: snapshot + new journal this often */
#define JR_WRITE_AT (4u << 20)           /* a round's buffer is written once it holds this */
#define JR_ROTATE_MIN ((uint64_t)64 << 20) /* a journal this large asks for a snapshot */

enum {
    J_RETAIN_SET = 1,
    J_RETAIN_CLEAR,
    J_SESS_OPEN,
    J_SESS_END,
    J_SESS_EXPIRY,
    J_WILL_SET,
    J_WILL_CLEAR,
    J_SUB,
    J_UNSUB,
    J_QUEUE,
    J_QUEUE_DROP,
    J_INFL,
    J_INFL_FROM_QUEUE,
    J_INFL_REL,
    J_INFL_DONE,
    J_RX2_ADD,
    J_RX2_DEL,
    J_TYPES
};

struct brk_journal {
    int fd;                  /* the open journal; -1: none (not started or broken) */
    uint64_t gen;            /* its generation */
    uint32_t key;            /* the journal's random key: the records' CRC starts from it */
    uint32_t seq;            /* sequence number of the last record buffered */
    wbuf_t buf;              /* records not written yet */
    uint64_t file_bytes;     /* bytes in the file */
    int dirty;               /* written since the last sync */
    int64_t last_sync_ms;
    brk_msg_t *last_msg;     /* the message of the last record that carried one (a reference) */
    uint32_t last_msg_seq;
    uint64_t records, bytes, syncs, errors;
    int64_t retry_at;        /* broken: when to try a snapshot and a new journal */
    char error[256];         /* the cause of the last failure; "" while none */
};

static void u32_at(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- the writer ------------------------------------------------------------------------- */

/* Whether changes of session s (NULL: not a session's) are journaled now. */
static struct brk_journal *on(const broker_t *b, const brk_session_t *s)
{
    struct brk_journal *j = b->journal;
    if (j == NULL || j->fd < 0 || (s != NULL && s->expiry_s == 0))
        return NULL;
    return j;
}

/* Start a record of `type`: its header with length and checksum left to
 * rec_end. Returns the record's offset in the buffer. */
static size_t rec_begin(struct brk_journal *j, int type)
{
    size_t off = j->buf.len;
    uint8_t h[JR_REC_HEAD] = {0};
    w_put(&j->buf, h, sizeof h);
    uint8_t *p = j->buf.p + off;
    u32_at(p, JR_REC_MAGIC);
    u32_at(p + 12, (uint32_t)j->gen);
    u32_at(p + 16, (uint32_t)(j->gen >> 32));
    u32_at(p + 20, ++j->seq);
    p[24] = (uint8_t)type;
    return off;
}

static void rec_end(broker_t *b, struct brk_journal *j, size_t off)
{
    uint8_t *p = j->buf.p + off;
    size_t len = j->buf.len - off;
    u32_at(p + 4, (uint32_t)(len - JR_REC_HEAD));
    u32_at(p + 8, mqr_crc32c(j->key, p + 12, len - 12));
    j->records++;
    if (j->buf.len >= JR_WRITE_AT)
        brk_journal_write(b);
}

/* A record of `type` about session s: its header and the client id. */
static size_t rec_sess(struct brk_journal *j, int type, const brk_session_t *s)
{
    size_t off = rec_begin(j, type);
    w_str(&j->buf, s->clientid, s->clientid_len);
    return off;
}

/* A message reference: the message itself, or the sequence number of the
 * record that carried it last. */
static void w_mref(struct brk_journal *j, brk_msg_t *m)
{
    if (m == j->last_msg) {
        w_u8(&j->buf, 1);
        w_u32(&j->buf, j->last_msg_seq);
        return;
    }
    w_u8(&j->buf, 0);
    w_msg(&j->buf, m);
    m->refs++; /* held, so its address names no other message while it is the last */
    brk_msg_unref(j->last_msg);
    j->last_msg = m;
    j->last_msg_seq = j->seq;
}

/* The journal failed at `what` with errno: log the cause (once per
 * episode), count it, close it; snapshots alone keep the state until a
 * snapshot and a new journal can be written (retried every JR_RETRY_MS). */
static void fail(broker_t *b, struct brk_journal *j, const char *what)
{
    int e = errno;
    j->errors++;
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    j->buf.len = 0;
    brk_msg_unref(j->last_msg);
    j->last_msg = NULL;
    j->retry_at = brk_mono_ms() + JR_RETRY_MS;
    if (j->error[0])
        return;
    snprintf(j->error, sizeof j->error, "%s: %s", what, strerror(e));
    brk_log(b, 0,
            "persistence: %s/%s: %s (%llu failure(s)); retained messages and sessions are "
            "kept by snapshots alone until a snapshot and a new journal can be written "
            "(tried every %d s)",
            b->cfg.persist.location, JR_NAME, j->error, (unsigned long long)j->errors,
            JR_RETRY_MS / 1000);
}

void brk_journal_write(broker_t *b)
{
    struct brk_journal *j = b->journal;
    if (j == NULL || j->buf.len == 0)
        return;
    if (j->fd < 0) {
        j->buf.len = 0;
        return;
    }
    size_t off = 0;
    while (off < j->buf.len) {
        ssize_t w = write(j->fd, j->buf.p + off, j->buf.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            fail(b, j, "write");
            return;
        }
        off += (size_t)w;
    }
    j->file_bytes += off;
    j->bytes += off;
    j->buf.len = 0;
    j->dirty = 1;
}

void brk_journal_round_end(broker_t *b)
{
    struct brk_journal *j = b->journal;
    if (j == NULL)
        return;
    brk_journal_write(b);
    if (j->fd < 0 || !j->dirty)
        return;
    const brk_persist_cfg_t *pc = &b->cfg.persist;
    if (pc->sync == MQR_QUEUE_SYNC_NEVER)
        return;
    int64_t now = brk_now_mono(b);
    if (pc->sync == MQR_QUEUE_SYNC_INTERVAL && now - j->last_sync_ms < (int64_t)pc->sync_ms)
        return;
    if (fdatasync(j->fd) != 0) {
        fail(b, j, "fdatasync");
        return;
    }
    j->dirty = 0;
    j->last_sync_ms = now;
    j->syncs++;
}

/* A random key for a new journal (getrandom; the clock and pid without it).
 * A record's CRC-32C starts from it, so a valid record can only be written
 * by the broker: one inside a message's payload (a client's bytes) is never
 * taken for a record when replay looks for the next one after damage. */
static uint32_t new_key(void)
{
    uint32_t k = 0;
    if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16;
    }
    return k;
}

/* Write the header of a journal of generation gen to dir/JR_TMP, rename it
 * over dir/JR_NAME and keep it open. 0, or -1 after fail(). */
static int create(broker_t *b, struct brk_journal *j, uint64_t gen)
{
    char tmp[4096], dst[4096];
    const char *loc = b->cfg.persist.location;
    snprintf(tmp, sizeof tmp, "%s/%s", loc, JR_TMP);
    snprintf(dst, sizeof dst, "%s/%s", loc, JR_NAME);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(b, j, "create " JR_TMP);
        return -1;
    }
    j->fd = fd;
    uint8_t h[JR_HEAD];
    memcpy(h, JR_MAGIC, 8);
    u32_at(h + 8, JR_VERSION);
    u32_at(h + 16, (uint32_t)gen);
    u32_at(h + 20, (uint32_t)(gen >> 32));
    u32_at(h + 24, j->key);
    u32_at(h + 28, 0);
    uint32_t crc = mqr_crc32c(0, h, 12);
    u32_at(h + 12, mqr_crc32c(crc, h + 16, JR_HEAD - 16));
    ssize_t w;
    do
        w = write(fd, h, sizeof h);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof h) {
        if (w >= 0)
            errno = ENOSPC;
        fail(b, j, "write " JR_TMP);
        return -1;
    }
    if (rename(tmp, dst) != 0) {
        fail(b, j, "rename " JR_TMP);
        return -1;
    }
    if (b->cfg.persist.sync != MQR_QUEUE_SYNC_NEVER) {
        int dfd = open(loc, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

int brk_journal_start(broker_t *b, uint64_t gen)
{
    struct brk_journal *j = b->journal;
    if (j == NULL) {
        j = calloc(1, sizeof *j);
        if (j == NULL)
            return -1;
        j->fd = -1;
        b->journal = j;
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    j->buf.len = 0; /* what it held is in the snapshot of generation gen */
    brk_msg_unref(j->last_msg);
    j->last_msg = NULL;
    j->seq = 0;
    j->gen = gen;
    j->key = new_key();
    j->dirty = 0;
    j->file_bytes = JR_HEAD;
    j->last_sync_ms = brk_now_mono(b);
    if (create(b, j, gen) != 0)
        return -1;
    if (j->error[0]) {
        brk_log(b, 0, "persistence: %s/%s written again (generation %llu) after: %s",
                b->cfg.persist.location, JR_NAME, (unsigned long long)gen, j->error);
        j->error[0] = 0;
    }
    return 0;
}

int brk_journal_wants_snapshot(broker_t *b, int64_t now)
{
    struct brk_journal *j = b->journal;
    if (j == NULL)
        return 0;
    if (j->fd < 0) {
        if (now < j->retry_at)
            return 0;
        j->retry_at = now + JR_RETRY_MS; /* again then, if this snapshot fails too */
        return 1;
    }
    uint64_t cap = 2 * b->cfg.persist.snap_bytes;
    return j->file_bytes > (cap > JR_ROTATE_MIN ? cap : JR_ROTATE_MIN);
}

void brk_journal_close(broker_t *b)
{
    struct brk_journal *j = b->journal;
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    brk_msg_unref(j->last_msg);
    free(j->buf.p);
    free(j);
    b->journal = NULL;
}

int brk_journal_counters(const broker_t *b, brk_jr_counters_t *out)
{
    const struct brk_journal *j = b->journal;
    if (j == NULL)
        return -1;
    out->up = j->fd >= 0;
    out->generation = j->gen;
    out->records = j->records;
    out->bytes = j->bytes;
    out->syncs = j->syncs;
    out->errors = j->errors;
    return 0;
}

size_t brk_journal_stats(const broker_t *b, char *out, size_t cap)
{
    const struct brk_journal *j = b->journal;
    if (j == NULL || cap == 0)
        return 0;
    int n = snprintf(out, cap,
                     "journal %s generation=%llu records=%llu bytes=%llu syncs=%llu errors=%llu",
                     j->fd >= 0 ? "ok" : "off", (unsigned long long)j->gen,
                     (unsigned long long)j->records, (unsigned long long)j->bytes,
                     (unsigned long long)j->syncs, (unsigned long long)j->errors);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- the hooks -------------------------------------------------------------------------- */

static int is_sys(const char *topic, size_t len)
{
    return len >= 5 && memcmp(topic, "$SYS/", 5) == 0;
}

void brk_jr_retain(broker_t *b, const brk_msg_t *m, int clear)
{
    struct brk_journal *j = on(b, NULL);
    if (j == NULL || is_sys(m->topic, m->topic_len))
        return;
    size_t off = rec_begin(j, clear ? J_RETAIN_CLEAR : J_RETAIN_SET);
    if (clear)
        w_str(&j->buf, m->topic, m->topic_len);
    else
        w_msg(&j->buf, m);
    rec_end(b, j, off);
}

static void sess_dump(broker_t *b, const brk_session_t *s);

void brk_jr_sess_open(broker_t *b, const brk_session_t *s, uint32_t old_expiry, int fresh)
{
    struct brk_journal *j = b->journal;
    if (j == NULL || j->fd < 0)
        return;
    if (s->expiry_s == 0) { /* no longer kept (or never was) */
        if (old_expiry != 0) {
            size_t off = rec_sess(j, J_SESS_END, s);
            rec_end(b, j, off);
        }
        return;
    }
    /* A session with expiry 0 taken over by a CONNECT that keeps it (clean
     * start 0, expiry > 0) becomes persistent with state the journal never
     * saw: it is written as a fresh session followed by all it holds. */
    int dump = !fresh && old_expiry == 0;
    size_t off = rec_sess(j, J_SESS_OPEN, s);
    w_str(&j->buf, s->username, s->username ? strlen(s->username) : 0);
    w_u32(&j->buf, s->expiry_s);
    w_u8(&j->buf, fresh != 0 || dump);
    rec_end(b, j, off);
    if (dump)
        sess_dump(b, s);
}

void brk_jr_sess_end(broker_t *b, const brk_session_t *s)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, J_SESS_END, s);
    rec_end(b, j, off);
}

void brk_jr_sess_expiry(broker_t *b, const brk_session_t *s, uint32_t old_expiry)
{
    struct brk_journal *j = b->journal;
    if (j == NULL || j->fd < 0 || old_expiry == 0 || old_expiry == s->expiry_s)
        return;
    size_t off = rec_sess(j, s->expiry_s == 0 ? J_SESS_END : J_SESS_EXPIRY, s);
    if (s->expiry_s != 0)
        w_u32(&j->buf, s->expiry_s);
    rec_end(b, j, off);
}

void brk_jr_will(broker_t *b, const brk_session_t *s)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, s->will != NULL ? J_WILL_SET : J_WILL_CLEAR, s);
    if (s->will != NULL) {
        int64_t left = s->will_at - brk_mono_ms();
        w_i64(&j->buf, left > 0 ? left : 0);
        w_msg(&j->buf, s->will);
    }
    rec_end(b, j, off);
}

void brk_jr_sub(broker_t *b, const brk_session_t *s, const brk_sub_t *u)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, J_SUB, s);
    w_sub(&j->buf, u);
    rec_end(b, j, off);
}

void brk_jr_unsub(broker_t *b, const brk_session_t *s, const char *f, size_t len)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, J_UNSUB, s);
    w_str(&j->buf, f, len);
    rec_end(b, j, off);
}

void brk_jr_queued(broker_t *b, const brk_session_t *s, const brk_queued_t *q)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, J_QUEUE, s);
    w_u8(&j->buf, q->qos);
    w_u8(&j->buf, q->retain);
    w_mref(j, q->msg);
    rec_end(b, j, off);
}

void brk_jr_inflight(broker_t *b, const brk_session_t *s, const brk_inflight_t *f,
                     int from_queue)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, from_queue ? J_INFL_FROM_QUEUE : J_INFL, s);
    w_u16(&j->buf, f->pid);
    if (!from_queue) {
        w_u8(&j->buf, f->qos);
        w_u8(&j->buf, f->retain);
        w_mref(j, f->msg);
    }
    rec_end(b, j, off);
}

/* The records that carry a session and one packet id, or nothing more. */
static void sess_pid(broker_t *b, const brk_session_t *s, int type, int with_pid, uint16_t pid)
{
    struct brk_journal *j = on(b, s);
    if (j == NULL)
        return;
    size_t off = rec_sess(j, type, s);
    if (with_pid)
        w_u16(&j->buf, pid);
    rec_end(b, j, off);
}

void brk_jr_queue_drop(broker_t *b, const brk_session_t *s)
{
    sess_pid(b, s, J_QUEUE_DROP, 0, 0);
}

void brk_jr_pubrel_sent(broker_t *b, const brk_session_t *s, uint16_t pid)
{
    sess_pid(b, s, J_INFL_REL, 1, pid);
}

void brk_jr_inflight_done(broker_t *b, const brk_session_t *s, uint16_t pid)
{
    sess_pid(b, s, J_INFL_DONE, 1, pid);
}

void brk_jr_rx2(broker_t *b, const brk_session_t *s, uint16_t pid, int add)
{
    sess_pid(b, s, add ? J_RX2_ADD : J_RX2_DEL, 1, pid);
}

/* Everything session s holds, as the records that would have built it:
 * its subscriptions, in-flight messages (and PUBREL sent), queue and QoS 2
 * ids awaiting PUBREL. After a J_SESS_OPEN with fresh set. */
static void sess_dump(broker_t *b, const brk_session_t *s)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        brk_jr_sub(b, s, &s->subs[i]);
    for (uint32_t i = 0; i < s->ninfl; i++) {
        brk_jr_inflight(b, s, &s->infl[i], 0);
        if (s->infl[i].state != 0)
            brk_jr_pubrel_sent(b, s, s->infl[i].pid);
    }
    for (uint32_t i = 0; i < s->nqueue; i++)
        brk_jr_queued(b, s, &s->queue[i]);
    for (uint32_t i = 0; i < s->nrx2; i++)
        brk_jr_rx2(b, s, s->rx2[i], 1);
}

/* ---- replay ----------------------------------------------------------------------------- */

typedef struct replay {
    broker_t *b;
    brk_jr_replay_t *st;
    brk_msg_t *last_msg;     /* the message of the last record that carried one */
    uint32_t last_msg_seq;
    uint32_t seq;            /* of the record being applied */
    int64_t now;
} replay_t;

/* Note a problem: counted by the caller, the first few described. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void note(replay_t *x, const char *fmt, ...)
{
    brk_jr_replay_t *st = x->st;
    if (st->nnotes >= sizeof st->notes / sizeof st->notes[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->notes[st->nnotes++], sizeof st->notes[0], fmt, ap);
    va_end(ap);
}

/* A message reference (w_mref) with one reference, or NULL (r->bad, or
 * *unresolved set when it names a message that was not replayed). */
static brk_msg_t *r_mref(replay_t *x, rbuf_t *r, int *unresolved)
{
    uint8_t kind = r_u8(r);
    if (kind == 1) {
        uint32_t seq = r_u32(r);
        if (r->bad)
            return NULL;
        if (x->last_msg == NULL || seq != x->last_msg_seq) {
            *unresolved = 1;
            return NULL;
        }
        x->last_msg->refs++;
        return x->last_msg;
    }
    if (kind != 0) {
        r->bad = 1;
        return NULL;
    }
    brk_msg_t *m = r_msg(x->b, r);
    if (m != NULL) {
        brk_msg_unref(x->last_msg);
        m->refs++;
        x->last_msg = m;
        x->last_msg_seq = x->seq;
    }
    return m;
}

static int find_pid(const brk_session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->ninfl; i++)
        if (s->infl[i].pid == pid)
            return (int)i;
    return -1;
}

static uint64_t msg_bytes(const brk_msg_t *m)
{
    return (uint64_t)m->topic_len + m->payload_len + m->props_len;
}

/* Put message m (its reference taken over) in flight on s with pid. 0, or
 * -1 (the reference dropped) when the pid is in use or out of memory. */
static int put_inflight(brk_session_t *s, brk_msg_t *m, uint16_t pid, int qos, int retain)
{
    if (pid == 0 || qos < 1 || qos > 2 || find_pid(s, pid) >= 0 ||
        mq_inflight_add(s, m, pid, qos, retain) == NULL) {
        brk_msg_unref(m);
        return -1;
    }
    s->next_pid = (uint16_t)(pid + 1);
    if (s->next_pid == 0)
        s->next_pid = 1;
    return 0;
}

/* The body of one session record; returns 0 applied, 1 could not apply
 * (counted as unresolved), -1 malformed. */
static int apply_sess(replay_t *x, int type, rbuf_t *r)
{
    broker_t *b = x->b;
    size_t idl;
    const char *id = r_str(r, &idl);
    if (r->bad || id == NULL || idl == 0 || idl > 65535)
        return -1;
    brk_session_t *s = mq_sess_find(b, id, idl);
    if (type == J_SESS_OPEN) {
        size_t ul;
        const char *user = r_str(r, &ul);
        uint32_t expiry = r_u32(r);
        uint8_t fresh = r_u8(r);
        if (r->bad || r->left != 0 || expiry == 0 || ul > 65535)
            return -1;
        if (s == NULL && (s = mq_sess_create(b, id, idl)) == NULL)
            return 1;
        if (fresh) {
            mq_sess_clear(b, s);
            s->next_pid = 1;
        }
        brk_msg_unref(s->will); /* the client came back before its will's delay ended */
        s->will = NULL;
        free(s->username);
        s->username = NULL;
        if (user != NULL && (s->username = malloc(ul + 1)) != NULL) {
            memcpy(s->username, user, ul);
            s->username[ul] = 0;
        }
        s->expiry_s = expiry;
        s->expire_at = expiry == NEVER_EXPIRE ? 0 : x->now + (int64_t)expiry * 1000;
        return 0;
    }
    /* every other record needs the session and reads its fields first */
    uint16_t pid = 0;
    uint32_t expiry = 0;
    int64_t delay = 0;
    brk_msg_t *m = NULL;
    int unresolved = 0;
    uint8_t qos = 0, retain = 0;
    brk_sub_t u;
    const char *f = NULL;
    size_t fl = 0;
    switch (type) {
    case J_SESS_EXPIRY:
        expiry = r_u32(r);
        break;
    case J_WILL_SET:
        delay = r_i64(r);
        m = r_msg(b, r);
        break;
    case J_SUB:
        (void)r_sub(r, &u);
        break;
    case J_UNSUB:
        f = r_str(r, &fl);
        if (f == NULL)
            r->bad = 1;
        break;
    case J_QUEUE:
    case J_INFL:
        if (type == J_INFL)
            pid = r_u16(r);
        qos = r_u8(r);
        retain = r_u8(r);
        m = r_mref(x, r, &unresolved);
        if (qos > 2)
            r->bad = 1;
        break;
    case J_INFL_FROM_QUEUE:
    case J_INFL_REL:
    case J_INFL_DONE:
    case J_RX2_ADD:
    case J_RX2_DEL:
        pid = r_u16(r);
        break;
    default: /* J_SESS_END, J_WILL_CLEAR, J_QUEUE_DROP: nothing more */
        break;
    }
    if (r->bad || r->left != 0) {
        brk_msg_unref(m);
        return -1;
    }
    if (s == NULL || unresolved) {
        brk_msg_unref(m);
        return 1;
    }
    switch (type) {
    case J_SESS_END:
        brk_msg_unref(s->will); /* published when it ended: that is journaled on its own */
        s->will = NULL;
        mq_sess_destroy(b, s);
        return 0;
    case J_SESS_EXPIRY:
        if (expiry == 0)
            return -1;
        s->expiry_s = expiry;
        s->expire_at = expiry == NEVER_EXPIRE ? 0 : x->now + (int64_t)expiry * 1000;
        return 0;
    case J_WILL_SET:
        brk_msg_unref(s->will);
        s->will = m;
        s->will_at = x->now + (delay > 0 ? delay : 0);
        return 0;
    case J_WILL_CLEAR:
        brk_msg_unref(s->will);
        s->will = NULL;
        return 0;
    case J_SUB:
        return mq_sub_put(b, s, u.filter, u.len, u.qos, u.no_local, u.rap, u.share_len,
                          u.sub_id) < 0
                   ? 1
                   : 0;
    case J_UNSUB:
        return mq_sub_remove(b, s, f, fl) ? 0 : 1;
    case J_QUEUE:
        if (mq_grow((void **)&s->queue, &s->capqueue, s->nqueue, sizeof *s->queue) != 0) {
            brk_msg_unref(m);
            return 1;
        }
        s->queue[s->nqueue].msg = m;
        s->queue[s->nqueue].qos = qos;
        s->queue[s->nqueue].retain = retain;
        s->nqueue++;
        s->queue_bytes += msg_bytes(m);
        return 0;
    case J_QUEUE_DROP:
    case J_INFL_FROM_QUEUE: {
        if (s->nqueue == 0)
            return 1;
        brk_queued_t q = s->queue[0];
        memmove(s->queue, s->queue + 1, (s->nqueue - 1) * sizeof *s->queue);
        s->nqueue--;
        s->queue_bytes -= msg_bytes(q.msg);
        if (type == J_QUEUE_DROP) {
            brk_msg_unref(q.msg);
            return 0;
        }
        return put_inflight(s, q.msg, pid, q.qos, q.retain) == 0 ? 0 : 1;
    }
    case J_INFL:
        return put_inflight(s, m, pid, qos, retain) == 0 ? 0 : 1;
    case J_INFL_REL:
    case J_INFL_DONE: {
        int i = find_pid(s, pid);
        if (i < 0)
            return 1;
        if (type == J_INFL_REL) {
            s->infl[i].state = 1;
            return 0;
        }
        brk_msg_unref(s->infl[i].msg);
        memmove(&s->infl[i], &s->infl[i + 1], (s->ninfl - (uint32_t)i - 1) * sizeof *s->infl);
        s->ninfl--;
        return 0;
    }
    case J_RX2_ADD:
        for (uint32_t k = 0; k < s->nrx2; k++)
            if (s->rx2[k] == pid)
                return 0;
        if (mq_grow((void **)&s->rx2, &s->caprx2, s->nrx2, sizeof *s->rx2) != 0)
            return 1;
        s->rx2[s->nrx2++] = pid;
        return 0;
    case J_RX2_DEL:
        for (uint32_t k = 0; k < s->nrx2; k++) {
            if (s->rx2[k] == pid) {
                s->rx2[k] = s->rx2[--s->nrx2];
                return 0;
            }
        }
        return 1;
    default:
        return -1;
    }
}

/* Apply one record's body. 0 applied, 1 could not apply, -1 malformed. */
static int apply(replay_t *x, int type, const uint8_t *body, size_t len)
{
    rbuf_t rd = {body, len, 0};
    rbuf_t *r = &rd;
    broker_t *b = x->b;
    if (type == J_RETAIN_SET || type == J_RETAIN_CLEAR) {
        brk_msg_t *m;
        if (type == J_RETAIN_SET) {
            m = r_msg(b, r);
        } else {
            size_t tl;
            const char *t = r_str(r, &tl);
            m = r->bad || t == NULL || tl > 65535
                    ? NULL
                    : mq_msg_new(b, t, tl, "", 0, 0, 1, NULL, "", 0, NULL);
        }
        if (m == NULL || r->left != 0 || (type == J_RETAIN_SET && m->payload_len == 0)) {
            brk_msg_unref(m);
            return -1;
        }
        int rc = brk_retain_set(b, m);
        brk_msg_unref(m);
        return rc == 0 ? 0 : 1;
    }
    if (type < J_SESS_OPEN || type >= J_TYPES)
        return -1;
    return apply_sess(x, type, r);
}

/* Whether a valid record of generation gen starts at data[pos]: its magic,
 * a length that fits, its checksum. *end: where it ends. */
static int valid_at(const uint8_t *data, size_t len, size_t pos, uint32_t key, size_t *end)
{
    if (len - pos < JR_REC_HEAD || get_u32(data + pos) != JR_REC_MAGIC)
        return 0;
    uint32_t bl = get_u32(data + pos + 4);
    if (bl > JR_MAX_BODY || bl > len - pos - JR_REC_HEAD)
        return 0;
    *end = pos + JR_REC_HEAD + bl;
    return mqr_crc32c(key, data + pos + 12, *end - pos - 12) == get_u32(data + pos + 8);
}

int brk_journal_replay(broker_t *b, const uint8_t *data, size_t len, uint64_t gen,
                       brk_jr_replay_t *st)
{
    memset(st, 0, sizeof *st);
    if (len < JR_HEAD_V1 || memcmp(data, JR_MAGIC, 8) != 0) {
        st->bad_header = 1;
        return 0;
    }
    uint32_t ver = get_u32(data + 8);
    size_t head = ver <= 1 ? JR_HEAD_V1 : JR_HEAD; /* a newer version keeps 2's header */
    uint32_t crc = mqr_crc32c(0, data, 12);
    if (len < head || mqr_crc32c(crc, data + 16, head - 16) != get_u32(data + 12)) {
        st->bad_header = 1;
        return 0;
    }
    if (ver > JR_VERSION) {
        st->version = ver;
        return -1;
    }
    st->gen = get_u64(data + 16);
    if (st->gen != gen)
        return 0;
    replay_t x = {b, st, NULL, 0, 0, brk_mono_ms()};
    uint32_t key = ver <= 1 ? 0 : get_u32(data + 24);
    size_t pos = head, end = 0;
    uint32_t expect = 1;
    while (pos < len) {
        if (!valid_at(data, len, pos, key, &end)) {
            size_t next = pos + 1;
            while (next < len && !valid_at(data, len, next, key, &end))
                next++;
            if (next >= len) {
                st->torn++;
                st->torn_bytes = len - pos;
                note(&x, "a record cut short at byte %zu (%zu byte(s) at the end): torn tail "
                         "cut off", pos, len - pos);
                break;
            }
            st->corrupt++;
            note(&x, "bytes %zu..%zu are no valid record (checksum, length or magic): skipped",
                 pos, next);
            pos = next;
            continue; /* end is the next record's: checked again, cheaply, next turn */
        }
        const uint8_t *p = data + pos;
        uint32_t seq = get_u32(p + 20);
        if (get_u64(p + 12) != gen) {
            st->stale++;
            pos = end;
            continue;
        }
        if (seq != expect) {
            st->gaps++;
            note(&x, "record %u follows record %u", seq, expect - 1);
        }
        expect = seq + 1;
        x.seq = seq;
        int rc = apply(&x, p[24], p + JR_REC_HEAD, end - pos - JR_REC_HEAD);
        if (rc == 0) {
            st->applied++;
        } else if (rc > 0) {
            st->unresolved++;
            note(&x, "record %u (type %u) could not apply (its session or message is missing)",
                 seq, p[24]);
        } else {
            st->corrupt++;
            note(&x, "record %u (type %u) is malformed: skipped", seq, p[24]);
        }
        pos = end;
    }
    brk_msg_unref(x.last_msg);
    return 0;
}

int brk_journal_load(broker_t *b, uint64_t gen, char *err, size_t errcap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", b->cfg.persist.location, JR_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        brk_log(b, 0, "persistence: %s: %s: the changes since the snapshot are lost", path,
                strerror(errno));
        return 0;
    }
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    uint8_t *data = NULL;
    size_t len = 0;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size < ((uint64_t)1 << 40))
        data = malloc((size_t)sb.st_size);
    while (data != NULL && len < (size_t)sb.st_size) {
        ssize_t n = read(fd, data + len, (size_t)sb.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (data == NULL && sb.st_size > 0) {
        brk_log(b, 0, "persistence: %s: cannot read %lld bytes: the changes since the snapshot "
                      "are lost", path, (long long)sb.st_size);
        return 0;
    }
    brk_jr_replay_t st;
    int rc = brk_journal_replay(b, data, len, gen, &st);
    free(data);
    if (rc != 0) {
        snprintf(err, errcap,
                 "persistence: %s: format version %u is newer than this broker's (%u); "
                 "refusing to start rather than misread it",
                 path, st.version, JR_VERSION);
        return -1;
    }
    if (st.bad_header) {
        if (len > 0)
            brk_log(b, 0, "persistence: %s: no valid journal header (%zu bytes): ignored", path,
                    len);
        return 0;
    }
    if (st.gen != gen) {
        brk_log(b, 1, "persistence: %s: generation %llu, the snapshot's is %llu: ignored (the "
                      "snapshot holds its changes)", path, (unsigned long long)st.gen,
                (unsigned long long)gen);
        return 0;
    }
    brk_log(b, 0,
            "persistence: replayed %llu journal record(s) from %s: %llu torn, %llu corrupt, "
            "%llu not applicable, %llu missing (sequence gaps)",
            (unsigned long long)st.applied, path, (unsigned long long)st.torn,
            (unsigned long long)st.corrupt, (unsigned long long)st.unresolved,
            (unsigned long long)st.gaps);
    for (size_t i = 0; i < st.nnotes; i++)
        brk_log(b, 0, "persistence: %s: %s", path, st.notes[i]);
    return 0;
}
