/* SPDX-License-Identifier: MIT */
/*
 * persist.c - mqttrule-broker's persistence (`persistence true`,
 * `persistence_location DIR`, `autosave_interval SECONDS`; docs/persistence.md).
 *
 * Three files and a directory under DIR:
 *   actions/<rule>.<n>.<kind>/   the durable queue of each action of each
 *       rule (mqttrule/queue.h, mqr_engine_action_persist): every event an
 *       action takes is written there before it is sent, and released when
 *       the target acknowledged it. Survives kill -9 whatever the sync policy.
 *   broker.db                    a snapshot of the retained messages and the
 *       sessions that outlive their connection (subscriptions, queued and
 *       in-flight QoS 1/2 messages, QoS 2 packet ids awaiting PUBREL, the
 *       delayed will, the remaining expiry). Written to broker.db.tmp,
 *       fsynced and renamed over the old file every autosave_interval
 *       seconds, when the journal has grown past twice its size, and at
 *       shutdown. Each snapshot has a generation number, one more than the
 *       last.
 *   broker.journal               the changes made since the snapshot of its
 *       generation, one checksummed record per change, written at the end of
 *       each loop round (journal.c, which describes its format): a kill -9
 *       loses none of the changes of a completed round. A new journal is
 *       renamed into place after each snapshot; one of an older generation
 *       is ignored.
 * On start: the snapshot is loaded, the journal of its generation replayed
 * over it, a new snapshot written and a new journal started.
 *
 * broker.db: "MQRBSNAP", u32 format version (2), u32 CRC-32C of the body,
 * u64 body length, then the body (little-endian; a string is a u32 length,
 * 0xffffffff for none, then its bytes; persist_codec.h):
 *   u64 generation (not in version 1 files: generation 0);
 *   u32 retained count, message per retained;
 *   u32 session count, per session: client id, username, u32 expiry_s,
 *   i64 ms of expiry left (-1: starts at reconnect time), u16 next packet
 *   id, u8 has delayed will [message, i64 ms until it fires], u32 subs
 *   (filter, u8 qos, no_local, rap, 0, u16 share_len, u32 sub_id), u32
 *   in-flight (u16 pid, u8 qos, state, retain, message), u32 queued (u8 qos,
 *   retain, message), u32 rx2 (u16 pid).
 *   message: u8 qos, retain, has_expiry, 0, u32 expiry_s, i64 received_at,
 *   topic, payload, properties, from client id, from username, 32-hex id.
 * broker.journal: a 24-byte header ("MQRBJRNL", u32 version 1, u32 CRC-32C,
 * u64 generation), then records: u32 magic "MQRJ", u32 body length, u32
 * CRC-32C of the rest, u64 generation, u32 sequence number, u8 type, body
 * (journal.c lists the 17 types and their bodies).
 * A file of a newer format version, or a snapshot whose checksum does not
 * match, is a start-up error naming the file: never misread, never silently
 * dropped. A damaged journal record is skipped, counted and logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_state.h"
#include "persist_codec.h"

#define SNAP_MAGIC "MQRBSNAP"
#define SNAP_VERSION 2u
#define SNAP_NAME "broker.db"
#define SNAP_TMP "broker.db.tmp"
#define DEFAULT_AUTOSAVE_S 5u

/* ---- configuration ---------------------------------------------------------------------- */

static int parse_bool_word(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_num(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int brk_persist_directive(brk_config_t *cfg, char **w, int n, const char *path,
                          unsigned lineno)
{
    brk_persist_cfg_t *p = &cfg->persist;
    const char *k = w[0];
    uint64_t v = 0;
    const char *why = NULL;
    if (!strcmp(k, "persistence")) {
        if (n != 2 || parse_bool_word(w[1], &p->enabled) != 0)
            why = "persistence needs true or false";
    } else if (!strcmp(k, "persistence_location")) {
        if (n != 2)
            why = "persistence_location needs one directory";
        else {
            free(p->location);
            p->location = brk_strdup(w[1]);
        }
    } else if (!strcmp(k, "autosave_interval")) {
        if (n != 2 || parse_num(w[1], &v) != 0 || v == 0 || v > 86400)
            why = "autosave_interval needs seconds, 1..86400";
        else
            p->autosave_s = (uint32_t)v;
    } else if (!strcmp(k, "persistence_sync")) {
        if (n == 2 && !strcmp(w[1], "batch"))
            p->sync = MQR_QUEUE_SYNC_BATCH;
        else if (n == 2 && !strcmp(w[1], "never"))
            p->sync = MQR_QUEUE_SYNC_NEVER;
        else if (n == 2 && parse_num(w[1], &v) == 0 && v > 0 && v <= 60000) {
            p->sync = MQR_QUEUE_SYNC_INTERVAL;
            p->sync_ms = (uint32_t)v;
        } else
            why = "persistence_sync needs batch, never or milliseconds (1..60000)";
    } else if (!strcmp(k, "persistence_max_bytes")) {
        if (n != 2 || parse_num(w[1], &v) != 0 || v < 1024)
            why = "persistence_max_bytes needs bytes (at least 1024)";
        else
            p->max_bytes = v;
    } else {
        return 1;
    }
    if (why) {
        fprintf(stderr, "mqttrule-broker: %s:%u: %s\n", path, lineno, why);
        return -1;
    }
    return 0;
}

void brk_persist_cfg_free(brk_config_t *cfg)
{
    free(cfg->persist.location);
    cfg->persist.location = NULL;
    free(cfg->persist.action_ids);
    free(cfg->persist.action_state);
    cfg->persist.action_ids = NULL;
    cfg->persist.action_state = NULL;
    cfg->persist.nactions = 0;
}

/* ---- the snapshot writer ---------------------------------------------------------------- */

/* Whether session s is written: it outlives its connection. */
static int keeps(const brk_session_t *s)
{
    return s->expiry_s != 0;
}

static void w_session(wbuf_t *b, const brk_session_t *s, int64_t now)
{
    w_str(b, s->clientid, s->clientid_len);
    w_str(b, s->username, s->username ? strlen(s->username) : 0);
    w_u32(b, s->expiry_s);
    int64_t left = -1; /* online: the expiry starts when the broker comes back */
    if (s->conn == NULL && s->expire_at != 0)
        left = s->expire_at > now ? s->expire_at - now : 0;
    w_i64(b, left);
    w_u16(b, s->next_pid);
    w_u8(b, s->will != NULL);
    if (s->will) {
        w_msg(b, s->will);
        w_i64(b, s->will_at > now ? s->will_at - now : 0);
    }
    w_u32(b, s->nsubs);
    for (uint32_t i = 0; i < s->nsubs; i++)
        w_sub(b, &s->subs[i]);
    w_u32(b, s->ninfl);
    for (uint32_t i = 0; i < s->ninfl; i++) {
        w_u16(b, s->infl[i].pid);
        w_u8(b, s->infl[i].qos);
        w_u8(b, s->infl[i].state);
        w_u8(b, s->infl[i].retain);
        w_msg(b, s->infl[i].msg);
    }
    w_u32(b, s->nqueue);
    for (uint32_t i = 0; i < s->nqueue; i++) {
        w_u8(b, s->queue[i].qos);
        w_u8(b, s->queue[i].retain);
        w_msg(b, s->queue[i].msg);
    }
    w_u32(b, s->nrx2);
    for (uint32_t i = 0; i < s->nrx2; i++)
        w_u16(b, s->rx2[i]);
}

/* dir/name into buf. */
static const char *in_dir(const broker_t *b, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", b->cfg.persist.location, name);
    return buf;
}

/* Write data to dir/broker.db.tmp, fsync it, rename it over broker.db and
 * fsync the directory. 0, or -1 with errno and *what naming the step. */
static int write_atomic(broker_t *b, const uint8_t *data, size_t len, const char **what)
{
    char tmp[4096], dst[4096];
    in_dir(b, SNAP_TMP, tmp, sizeof tmp);
    in_dir(b, SNAP_NAME, dst, sizeof dst);
    *what = "create " SNAP_TMP;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    *what = "write " SNAP_TMP;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        off += (size_t)w;
    }
    *what = "fsync " SNAP_TMP;
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    *what = "rename " SNAP_TMP;
    if (rename(tmp, dst) != 0)
        return -1;
    int dfd = open(b->cfg.persist.location, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int brk_persist_save(broker_t *b)
{
    brk_persist_cfg_t *pc = &b->cfg.persist;
    if (!pc->enabled)
        return 0;
    int64_t now = brk_mono_ms();
    wbuf_t w = {NULL, 0, 0};
    uint8_t head[24] = {0};
    w_put(&w, head, sizeof head); /* filled in below */
    uint64_t gen = pc->gen + 1;
    w_i64(&w, (int64_t)gen);
    /* $SYS topics are left out: the broker publishes them anew (sys.c) */
    brk_msg_t **ret = NULL;
    size_t nret = brk_retain_all(b, &ret), nkept = 0;
    for (size_t i = 0; i < nret; i++)
        nkept += strncmp(ret[i]->topic, "$SYS/", 5) != 0;
    w_u32(&w, (uint32_t)nkept);
    for (size_t i = 0; i < nret; i++) {
        if (strncmp(ret[i]->topic, "$SYS/", 5) != 0)
            w_msg(&w, ret[i]);
        brk_msg_unref(ret[i]);
    }
    free(ret);
    uint32_t nsess = 0;
    for (size_t i = 0; i < b->stab_size; i++)
        for (const brk_session_t *s = b->stab[i]; s; s = s->hnext)
            nsess += keeps(s);
    w_u32(&w, nsess);
    for (size_t i = 0; i < b->stab_size; i++)
        for (const brk_session_t *s = b->stab[i]; s; s = s->hnext)
            if (keeps(s))
                w_session(&w, s, now);
    size_t body = w.len - sizeof head;
    memcpy(w.p, SNAP_MAGIC, 8);
    uint8_t *h = w.p + 8;
    uint32_t ver = SNAP_VERSION, crc = mqr_crc32c(0, w.p + sizeof head, body);
    uint64_t bl = body;
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(ver >> (8 * i));
        h[4 + i] = (uint8_t)(crc >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)(bl >> (8 * i));
    const char *what = "";
    int rc = write_atomic(b, w.p, w.len, &what);
    free(w.p);
    if (rc != 0) {
        pc->save_errno = errno;
        pc->save_errors++;
        if (pc->save_failing++ == 0) /* once per episode: autosave retries every interval */
            brk_log(b, 0,
                    "persistence: %s/%s: %s: %s (the previous snapshot stays; retried every "
                    "autosave_interval, logged again when a snapshot is written)",
                    pc->location, SNAP_NAME, what, strerror(errno));
        return -1;
    }
    if (pc->save_failing) {
        brk_log(b, 0, "persistence: %s/%s written again after %lu failed snapshot(s): %s",
                pc->location, SNAP_NAME, (unsigned long)pc->save_failing,
                strerror(pc->save_errno));
        pc->save_failing = 0;
    }
    pc->saves++;
    pc->gen = gen;
    pc->snap_bytes = body;
    /* what the journal held is in the snapshot: a new journal follows it */
    if (pc->journal_on)
        (void)brk_journal_start(b, gen);
    return 0;
}

/* ---- the snapshot reader ---------------------------------------------------------------- */

/* Grow-and-append helpers for the session arrays (mq_grow). */
#define PUSH(arr, n, cap, val)                                                   \
    do {                                                                         \
        if (mq_grow((void **)&(arr), &(cap), (n), sizeof *(arr)) != 0) {        \
            r->bad = 1;                                                          \
            break;                                                               \
        }                                                                        \
        (arr)[(n)++] = (val);                                                    \
    } while (0)

/* One session as w_session wrote it, added to the table offline. 0 or -1. */
static int r_session(broker_t *b, rbuf_t *r, int64_t now)
{
    size_t idl, ul;
    const char *id = r_str(r, &idl);
    const char *user = r_str(r, &ul);
    if (r->bad || !id || idl > 65535 || mq_sess_find(b, id, idl))
        return -1;
    brk_session_t *s = mq_sess_create(b, id, idl);
    if (!s)
        return -1;
    if (user) {
        s->username = malloc(ul + 1);
        if (s->username) {
            memcpy(s->username, user, ul);
            s->username[ul] = 0;
        }
    }
    s->expiry_s = r_u32(r);
    int64_t left = r_i64(r);
    if (s->expiry_s != NEVER_EXPIRE)
        s->expire_at = now + (left >= 0 ? left : (int64_t)s->expiry_s * 1000);
    s->next_pid = r_u16(r);
    if (!s->next_pid)
        s->next_pid = 1;
    if (r_u8(r)) {
        s->will = r_msg(b, r);
        s->will_at = now + r_i64(r);
    }
    uint32_t n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        brk_sub_t u;
        if (r_sub(r, &u) != 0)
            break;
        const char *f = u.filter;
        size_t fl = u.len;
        int put = mq_sub_put(b, s, f, fl, u.qos, u.no_local, u.rap, u.share_len, u.sub_id);
        if (put == -2)
            brk_log(b, 0, "persistence: client '%s': subscription to '%.*s' not restored: "
                          "max_subscriptions (%u)", s->clientid, (int)fl, f,
                    b->cfg.max_subscriptions);
        if (put == -1) {
            r->bad = 1;
            break;
        }
    }
    n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        brk_inflight_t f;
        f.pid = r_u16(r);
        f.qos = r_u8(r);
        f.state = r_u8(r);
        f.retain = r_u8(r);
        f.msg = r_msg(b, r);
        if (f.msg)
            PUSH(s->infl, s->ninfl, s->capinfl, f);
    }
    n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        brk_queued_t q;
        q.qos = r_u8(r);
        q.retain = r_u8(r);
        q.msg = r_msg(b, r);
        if (q.msg) {
            s->queue_bytes += q.msg->topic_len + q.msg->payload_len + q.msg->props_len;
            PUSH(s->queue, s->nqueue, s->capqueue, q);
        }
    }
    n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint16_t pid = r_u16(r);
        PUSH(s->rx2, s->nrx2, s->caprx2, pid);
    }
    return r->bad ? -1 : 0;
}

/* Read broker.db into the broker and its generation into cfg.persist.gen.
 * 0 (also when there is none), or -1 with a message in err. */
static int load_snapshot(broker_t *b, char *err, size_t errcap)
{
    char path[4096];
    in_dir(b, SNAP_NAME, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errcap, "persistence: %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t head[24];
    size_t got = fread(head, 1, sizeof head, f);
    uint32_t ver = got == sizeof head ? (uint32_t)head[8] | (uint32_t)head[9] << 8 |
                                            (uint32_t)head[10] << 16 | (uint32_t)head[11] << 24
                                      : 0;
    if (got != sizeof head || memcmp(head, SNAP_MAGIC, 8) != 0) {
        fclose(f);
        snprintf(err, errcap, "persistence: %s: not a mqttrule-broker snapshot", path);
        return -1;
    }
    if (ver > SNAP_VERSION) {
        fclose(f);
        snprintf(err, errcap,
                 "persistence: %s: format version %u is newer than this broker's (%u); "
                 "refusing to start rather than misread it",
                 path, ver, SNAP_VERSION);
        return -1;
    }
    uint32_t crc = 0;
    uint64_t blen = 0;
    for (int i = 0; i < 4; i++)
        crc |= (uint32_t)head[12 + i] << (8 * i);
    for (int i = 0; i < 8; i++)
        blen |= (uint64_t)head[16 + i] << (8 * i);
    uint8_t *body = blen < ((uint64_t)1 << 40) ? malloc(blen ? (size_t)blen : 1) : NULL;
    if (!body || fread(body, 1, (size_t)blen, f) != blen || mqr_crc32c(0, body, blen) != crc) {
        fclose(f);
        free(body);
        snprintf(err, errcap,
                 "persistence: %s: truncated or corrupt (checksum mismatch); move it away "
                 "to start without it",
                 path);
        return -1;
    }
    fclose(f);
    rbuf_t rd = {body, (size_t)blen, 0};
    rbuf_t *r = &rd;
    int64_t now = brk_mono_ms();
    b->cfg.persist.gen = ver >= 2 ? (uint64_t)r_i64(r) : 0;
    uint32_t n = r_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        brk_msg_t *m = r_msg(b, r);
        if (!m)
            break;
        if (brk_retain_set(b, m) != 0)
            brk_log(b, 0, "persistence: retained message on '%s' not restored (retained limits or "
                          "memory)", m->topic);
        brk_msg_unref(m);
    }
    uint32_t nsess = r_u32(r);
    uint32_t ok = 0;
    for (uint32_t i = 0; i < nsess && !r->bad; i++)
        ok += r_session(b, r, now) == 0;
    free(body);
    if (r->bad) {
        snprintf(err, errcap, "persistence: %s: malformed content (session %u of %u)", path,
                 ok + 1, nsess);
        return -1;
    }
    return 0;
}

/* ---- start, tick, actions ---------------------------------------------------------------- */

int brk_persist_open(broker_t *b, char *err, size_t errcap)
{
    brk_persist_cfg_t *pc = &b->cfg.persist;
    if (!pc->enabled)
        return 0;
    if (!pc->location || !pc->location[0]) {
        snprintf(err, errcap, "persistence: persistence_location is required");
        return -1;
    }
    struct stat sb;
    if (stat(pc->location, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errcap, "persistence: persistence_location %s: %s", pc->location,
                 errno == ENOENT ? "no such directory" : "not a directory");
        return -1;
    }
    if (!pc->autosave_s)
        pc->autosave_s = DEFAULT_AUTOSAVE_S;
    if (!pc->sync_ms)
        pc->sync_ms = MQR_QUEUE_DEFAULT_SYNC_INTERVAL_MS;
    if (load_snapshot(b, err, errcap) != 0 || brk_journal_load(b, pc->gen, err, errcap) != 0)
        return -1;
    brk_log(b, 0,
            "persistence: restored %zu retained message(s) and %zu session(s) from %s/%s "
            "(generation %llu) and its journal",
            b->retained.count, b->nsessions, pc->location, SNAP_NAME,
            (unsigned long long)pc->gen);
    /* Prove the directory writable now: a snapshot of what was restored,
     * followed by a new journal. */
    pc->journal_on = 1;
    if (brk_persist_save(b) != 0) {
        snprintf(err, errcap, "persistence: persistence_location %s is not writable: %s",
                 pc->location, strerror(pc->save_errno));
        return -1;
    }
    char actions[4096];
    in_dir(b, "actions", actions, sizeof actions);
    if (mkdir(actions, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "persistence: %s: %s", actions, strerror(errno));
        return -1;
    }
    /* Shutdown leaves queued events on disk instead of waiting for targets. */
    b->cfg.shutdown_flush_ms = 0;
    pc->next_save_ms = brk_mono_ms() + (int64_t)pc->autosave_s * 1000;
    if (b->ev)
        b->ev->persist = b;
    return 0;
}

void brk_persist_tick(broker_t *b, int64_t now)
{
    brk_persist_cfg_t *pc = &b->cfg.persist;
    if (!pc->enabled)
        return;
    if (now >= pc->next_save_ms || brk_journal_wants_snapshot(b, now)) {
        (void)brk_persist_save(b);
        pc->next_save_ms = now + (int64_t)pc->autosave_s * 1000;
    }
    /* Report queue state changes and newly found damage once each. */
    for (size_t i = 0; b->ev && i < pc->nactions; i++) {
        mqr_queue_stats_t s;
        if (mqr_engine_action_queue_stats(b->ev->engine, pc->action_ids[i], &s) != MQR_OK)
            continue;
        uint64_t mark = (uint64_t)s.state << 62 ^ s.corrupt_records << 32 ^ s.torn_tails << 16 ^
                        s.dropped_oldest ^ s.refused_newest << 8;
        if (mark != pc->action_state[i]) {
            pc->action_state[i] = mark;
            const char *err = mqr_engine_action_queue_error(b->ev->engine, pc->action_ids[i]);
            brk_log(b, 0,
                    "persistence: action %u queue %s: %lu held, %lu taken while the disk "
                    "failed, %lu corrupt, %lu torn, %lu dropped, %lu refused%s%s",
                    pc->action_ids[i], mqr_queue_state_name(s.state), (unsigned long)s.records,
                    (unsigned long)s.memory_records, (unsigned long)s.corrupt_records,
                    (unsigned long)s.torn_tails, (unsigned long)s.dropped_oldest,
                    (unsigned long)s.refused_newest,
                    !err[0] ? "" : s.state == MQR_QUEUE_STATE_OK ? "; last error: " : ": ", err);
        }
    }
}

void brk_persist_close(broker_t *b)
{
    if (b->cfg.persist.enabled && brk_persist_save(b) == 0)
        brk_log(b, 0, "persistence: snapshot saved in %s/%s", b->cfg.persist.location,
                SNAP_NAME);
    brk_journal_close(b);
    b->cfg.persist.journal_on = 0;
}

void brk_persist_reload(broker_t *b, brk_config_t *nc)
{
    brk_persist_cfg_t *o = &b->cfg.persist, *n = &nc->persist;
    int moved = n->enabled != o->enabled ||
                (o->location && (!n->location || strcmp(n->location, o->location) != 0));
    if (moved)
        brk_log(b, 0, "SIGHUP: persistence and persistence_location change only at a restart; "
                      "they stay as they are");
    n->enabled = o->enabled;
    free(n->location);
    n->location = o->location ? brk_strdup(o->location) : NULL;
    if (!n->autosave_s)
        n->autosave_s = DEFAULT_AUTOSAVE_S;
    if (!n->sync_ms)
        n->sync_ms = MQR_QUEUE_DEFAULT_SYNC_INTERVAL_MS;
    if (n->autosave_s != o->autosave_s)
        n->next_save_ms = brk_mono_ms() + (int64_t)n->autosave_s * 1000;
    else
        n->next_save_ms = o->next_save_ms;
    n->saves = o->saves;
    n->save_errors = o->save_errors;
    n->save_errno = o->save_errno;
    n->save_failing = o->save_failing; /* a failing episode goes on: logged once */
    n->gen = o->gen;
    n->snap_bytes = o->snap_bytes;
    n->journal_on = o->journal_on;
    free(n->action_ids);
    free(n->action_state);
    n->action_ids = o->action_ids;
    n->action_state = o->action_state;
    n->nactions = o->nactions;
    o->action_ids = NULL;
    o->action_state = NULL;
    o->nactions = 0;
}

/* The directory name of an action: the rule id with every byte outside
 * [A-Za-z0-9_-] written as %XX, then ".<index>.<kind>". */
static void action_dir(char *out, size_t cap, const char *loc, const char *rule, size_t k,
                       const char *type)
{
    size_t n = (size_t)snprintf(out, cap, "%s/actions/", loc);
    for (const char *p = rule; *p && n + 4 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
    }
    snprintf(out + n, cap - n, ".%zu.%s", k, type);
}

int brk_persist_action(broker_t *b, const char *rule_id, size_t k, uint32_t action_id,
                       const char *type, char *err, size_t errcap)
{
    brk_persist_cfg_t *pc = &b->cfg.persist;
    char dir[4096];
    action_dir(dir, sizeof dir, pc->location, rule_id, k, type);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "persistence: %s: %s", dir, strerror(errno));
        return -1;
    }
    mqr_action_persist_config_t c;
    mqr_action_persist_config_init(&c);
    c.queue.dir = dir;
    c.queue.sync = pc->sync;
    c.queue.sync_interval_ms = pc->sync_ms;
    if (pc->max_bytes)
        c.queue.max_buffer_bytes = pc->max_bytes;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int rc = mqr_engine_action_persist(b->ev->engine, action_id, &c, &d);
    if (rc != MQR_OK) {
        snprintf(err, errcap, "persistence: %s", d.message[0] ? d.message : mqr_strerror(rc));
        return -1;
    }
    mqr_queue_stats_t s;
    if (mqr_engine_action_queue_stats(b->ev->engine, action_id, &s) == MQR_OK && s.records)
        brk_log(b, 0, "persistence: rule '%s' action %zu: %lu queued event(s) replayed from %s",
                rule_id, k, (unsigned long)s.records, dir);
    pc->action_ids = brk_xrealloc(pc->action_ids, (pc->nactions + 1) * sizeof *pc->action_ids);
    pc->action_state =
        brk_xrealloc(pc->action_state, (pc->nactions + 1) * sizeof *pc->action_state);
    pc->action_ids[pc->nactions] = action_id;
    pc->action_state[pc->nactions] = 0;
    pc->nactions++;
    return 0;
}
