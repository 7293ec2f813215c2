/* SPDX-License-Identifier: MIT */
/*
 * queue.c - the durable action queue of mqttrule/queue.h: an append-only log
 * of CRC-32C checked records in numbered segment files, a checkpoint file
 * replaced atomically by rename, and replay of what was not acknowledged.
 *
 * How it works. The queue keeps its unacknowledged records in a ring ordered
 * by sequence (entries: pending, in flight, or acknowledged-but-not-yet-at-
 * the-front); acknowledged entries at the front are popped, so the "floor"
 * (everything at or below it is done) is the front's sequence minus one.
 * Every append writes a data record, every acknowledgement (and every record
 * the overflow policy drops) an ack record, to the active segment with one
 * writev. A segment is deleted once all its data records are at or below
 * the floor; the checkpoint (floor, the acknowledged sequences above it, the
 * queue id, the next segment number, the highest sequence handed out) is
 * written first, so the ack records the deleted file held are never needed
 * again. The highest sequence keeps the identifiers of records held only in
 * memory (a full disk) from being given again after a crash: a receiver
 * deduplicating on them would drop the new records.
 *
 * Segment files (little-endian): a 40-byte header ("MQRQSEG\0", u32 format
 * version 2, u32 CRC-32C of the header with this field 0, u64 queue id, u64
 * segment number, u64 key, random per segment), then records: u32 magic
 * "MQRQ", u32 data length, u64 sequence, u32 type (1 data, 2 ack), u32
 * CRC-32C of the 16 bytes from the length and of the data, started from the
 * CRC-32C of the key, then the data. Without the key a client could put a
 * valid record in a payload (a republish of its message, a client id in an
 * HTTP body), which replay would take as a real one when it searches for
 * the next record after a torn or damaged one. Version 1 segments (a 32-byte
 * header without the key, CRCs started from 0) are still read.
 *
 * Opening reads the checkpoint, then each segment in number order, checking
 * every record's magic, length, type and CRC. An invalid region is skipped
 * to the next offset where a valid record starts (counted corrupt), or, at
 * the end of the last segment, cut off (a torn tail). A file of a newer
 * format version is refused. Disk failures after opening switch the queue to
 * memory (MQR_QUEUE_STATE_MEMORY) until a retry can write a new segment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mqttrule/queue.h"
#include "queue_int.h"

/* ---- formats --------------------------------------------------------------------------------- */

#define SEG_MAGIC "MQRQSEG"        /* 8 bytes with its NUL */
#define CKP_MAGIC "MQRQCKP"
#define SEG_HDR 40u                /* version 2; version 1: 32 (no key) */
#define SEG_HDR_V1 32u
#define CKP_VERSION 1u             /* the checkpoint did not change with segment version 2 */
#define CKP_HDR 48u
#define REC_HDR 24u
#define REC_MAGIC 0x5152514du     /* "MQRQ" little-endian */
#define REC_DATA 1u
#define REC_ACK 2u
#define CKP_NAME "checkpoint"
#define CKP_TMP "checkpoint.tmp"
#define RESERVE_NAME "reserve"
#define RESERVE_SIZE 65536u        /* room for a checkpoint on a full file system */
#define SEG_NAME_LEN 20u           /* 16 hex digits + ".seg" */

/* Entry states. */
#define E_PENDING 0
#define E_INFLIGHT 1
#define E_ACKED 2

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup
 * per byte. The table is constant data. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t mqr__crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

uint32_t mqr_crc32c(uint32_t crc, const void *data, size_t len)
{
    return len ? mqr__crc32c(crc, data, len) : crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The CRC seed of the records of a version 2 segment with this key. */
static uint32_t key_seed(uint64_t key)
{
    uint8_t k[8];
    put64(k, key);
    return mqr__crc32c(0, k, 8);
}

/* A record header for (len, seq, type) whose CRC, started from `seed`, also
 * covers `data`. */
static void rec_header(uint8_t h[REC_HDR], uint32_t seed, uint32_t len, uint64_t seq,
                       uint32_t type, const void *data)
{
    put32(h, REC_MAGIC);
    put32(h + 4, len);
    put64(h + 8, seq);
    put32(h + 16, type);
    uint32_t crc = mqr__crc32c(seed, h + 4, 16);
    put32(h + 20, mqr__crc32c(crc, data, len));
}

int mqr__queue_record_check(const uint8_t *buf, size_t size, size_t off, uint32_t seed,
                            mqr__queue_rec_t *out)
{
    if (size < REC_HDR || off > size - REC_HDR)
        return 0;
    const uint8_t *h = buf + off;
    if (get32(h) != REC_MAGIC)
        return 0;
    uint32_t len = get32(h + 4);
    uint64_t seq = get64(h + 8);
    uint32_t type = get32(h + 16);
    if (len > MQR_QUEUE_MAX_RECORD || len > size - off - REC_HDR || seq == 0)
        return 0;
    if (type != REC_DATA && !(type == REC_ACK && len == 0))
        return 0;
    uint32_t crc = mqr__crc32c(mqr__crc32c(seed, h + 4, 16), h + REC_HDR, len);
    if (crc != get32(h + 20))
        return 0;
    out->seq = seq;
    out->type = type;
    out->data = h + REC_HDR;
    out->len = len;
    return 1;
}

int mqr__queue_scan(const uint8_t *buf, size_t size, size_t off, uint32_t seed,
                    mqr__queue_visit_fn visit, void *ud, mqr__queue_scan_t *res)
{
    memset(res, 0, sizeof *res);
    res->end = size;
    while (off < size) {
        mqr__queue_rec_t r;
        if (mqr__queue_record_check(buf, size, off, seed, &r)) {
            int rc = visit(ud, &r);
            if (rc != MQR_OK)
                return rc;
            off += REC_HDR + r.len;
            continue;
        }
        /* Invalid at `off`: the next offset where a valid record starts. */
        size_t next = off + 1;
        while (next < size && !mqr__queue_record_check(buf, size, next, seed, &r))
            next++;
        if (next >= size) {
            res->tail_invalid = 1;
            res->end = off;
            return MQR_OK;
        }
        if (!res->corrupt_regions)
            res->first_corrupt = off;
        res->corrupt_regions++;
        off = next;
    }
    return MQR_OK;
}

/* ---- the queue ------------------------------------------------------------------------------- */

typedef struct ent {
    uint64_t seq;
    uint8_t *data;      /* NULL for an empty or acknowledged record */
    uint32_t len;
    uint8_t state;      /* E_* */
    uint8_t on_disk;    /* its data record is in a segment */
    uint8_t replayed;
    uint8_t reserved_;
    uint32_t attempts;
} ent_t;

typedef struct seg {
    uint64_t no;
    uint64_t last_data; /* the highest data sequence in it; 0: none */
    uint64_t size;
} seg_t;

struct mqr_queue {
    mqr_allocator_t alloc;
    mqr_queue_options_t o;
    char *dir;
    size_t dir_len;
    char *path;         /* scratch: dir + '/' + a file name */
    char *path2;        /* the same, for rename's second path */
    size_t path_cap;
    uint64_t qid;
    uint32_t seg_seed;  /* the CRC seed of the active segment's records (its key) */
    ent_t *ring;
    size_t cap, head, n;
    size_t pend_hint;   /* no pending entry below this logical index */
    uint64_t next_seq;
    seg_t *segs;        /* by number; the last is the active one when fd >= 0 */
    size_t nsegs, cap_segs;
    int fd;
    int dirty;          /* written since the last fsync */
    int dir_dirty;      /* a file was created or renamed since the last directory fsync */
    uint64_t next_segno;
    int64_t last_sync_ms;
    int64_t fail_ms;
    int has_reserve;    /* RESERVE_NAME exists: space to give up for a checkpoint */
    mqr_queue_stats_t st;
    char err[256];
};

static int64_t now_ms(const mqr_queue_t *q)
{
    if (q->o.clock)
        return q->o.clock(q->o.clock_ud);
    struct timespec ts = {0, 0};
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(mqr_queue_t *q, int code, const char *fmt, ...) MQR__PRINTF(3, 4);
static void set_err(mqr_queue_t *q, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof q->err, fmt, ap);
    va_end(ap);
    q->st.last_error_code = code;
}

/* q->path = dir/name. */
static const char *path_of(mqr_queue_t *q, const char *name)
{
    snprintf(q->path, q->path_cap, "%s/%s", q->dir, name);
    return q->path;
}

static const char *seg_name(char buf[SEG_NAME_LEN + 1], uint64_t no)
{
    snprintf(buf, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", no);
    return buf;
}

static ent_t *ent_at(const mqr_queue_t *q, size_t i)
{
    return &q->ring[(q->head + i) % q->cap];
}

static uint64_t floor_seq(const mqr_queue_t *q)
{
    return q->n ? ent_at(q, 0)->seq - 1 : q->next_seq - 1;
}

/* The logical index of `seq`, or q->n when it is not held. */
static size_t find(const mqr_queue_t *q, uint64_t seq)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t s = ent_at(q, mid)->seq;
        if (s == seq)
            return mid;
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return q->n;
}

static void ent_release(mqr_queue_t *q, ent_t *e)
{
    if (e->data)
        mqr__free(&q->alloc, e->data, e->len);
    e->data = NULL;
}

/* Room for one more entry at the back. MQR_OK or MQR_ENOMEM. */
static int ring_reserve(mqr_queue_t *q)
{
    if (q->n < q->cap)
        return MQR_OK;
    size_t ncap = q->cap ? q->cap * 2 : 64;
    ent_t *r = mqr__alloc(&q->alloc, ncap * sizeof *r);
    if (!r)
        return MQR_ENOMEM;
    for (size_t i = 0; i < q->n; i++)
        r[i] = *ent_at(q, i);
    mqr__free(&q->alloc, q->ring, q->cap * sizeof *q->ring);
    q->ring = r;
    q->cap = ncap;
    q->head = 0;
    return MQR_OK;
}

/* Drop acknowledged entries from the front. */
static void pop_acked(mqr_queue_t *q)
{
    while (q->n && ent_at(q, 0)->state == E_ACKED) {
        q->head = (q->head + 1) % q->cap;
        q->n--;
        if (q->pend_hint)
            q->pend_hint--;
    }
}

/* Mark entry e (held, not acknowledged) done and release its payload. */
static void ent_done(mqr_queue_t *q, ent_t *e)
{
    if (e->state == E_PENDING)
        q->st.pending--;
    else if (e->state == E_INFLIGHT)
        q->st.inflight--;
    q->st.records--;
    q->st.bytes -= e->len;
    ent_release(q, e);
    e->state = E_ACKED;
    pop_acked(q);
}

/* ---- files ----------------------------------------------------------------------------------- */

static int write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[2];
    memcpy(v, iov, (size_t)n * sizeof *v);
    int i = 0;
    while (i < n) {
        ssize_t w = writev(fd, v + i, n - i);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        size_t left = (size_t)w;
        while (i < n && left >= v[i].iov_len) {
            left -= v[i].iov_len;
            i++;
        }
        if (i < n) {
            v[i].iov_base = (char *)v[i].iov_base + left;
            v[i].iov_len -= left;
        }
    }
    return 0;
}

static int fsync_dir(mqr_queue_t *q)
{
    int dfd = open(q->dir, O_RDONLY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    int rc = fsync(dfd) == 0 || errno == EINVAL ? 0 : errno;
    close(dfd);
    return rc;
}

/* Enter MQR_QUEUE_STATE_MEMORY after `what` failed with errno `err`: the
 * active segment is cut back to its last whole record and closed; later
 * appends are held in memory until a retry succeeds. */
static void to_memory(mqr_queue_t *q, const char *file, const char *what, int err)
{
    char text[128];
    q->st.write_errors++;
    set_err(q, MQR_EIO, "%s: %s: %s", file, what, mqr__strerror_r(err, text, sizeof text));
    if (q->fd >= 0) {
        (void)ftruncate(q->fd, (off_t)q->segs[q->nsegs - 1].size);
        close(q->fd);
        q->fd = -1;
    }
    q->st.state = MQR_QUEUE_STATE_MEMORY;
    q->fail_ms = now_ms(q);
}

/* Room for one more segment in q->segs. */
static int segs_reserve(mqr_queue_t *q)
{
    if (q->nsegs < q->cap_segs)
        return MQR_OK;
    size_t ncap = q->cap_segs ? q->cap_segs * 2 : 8;
    seg_t *s = mqr__realloc(&q->alloc, q->segs, q->cap_segs * sizeof *s, ncap * sizeof *s);
    if (!s)
        return MQR_ENOMEM;
    q->segs = s;
    q->cap_segs = ncap;
    return MQR_OK;
}

/* Sync the active segment when it has unsynced writes; 0 or an errno. */
static int sync_active(mqr_queue_t *q)
{
    if (q->fd < 0 || !q->dirty)
        return 0;
    if (fsync(q->fd) != 0)
        return errno;
    q->st.fsyncs++;
    q->dirty = 0;
    q->last_sync_ms = now_ms(q);
    return 0;
}

/*
 * Make sure a segment with room is open for writing: close a full one
 * (synced first unless the policy is NEVER) and create the next one with its
 * header. MQR_OK; MQR_ENOMEM (nothing changed); MQR_EIO (the queue went to
 * memory, the error text says why).
 */
static int ensure_segment(mqr_queue_t *q)
{
    if (q->fd >= 0 && q->segs[q->nsegs - 1].size < q->o.segment_bytes)
        return MQR_OK;
    if (segs_reserve(q) != MQR_OK)
        return MQR_ENOMEM;
    char name[SEG_NAME_LEN + 1];
    if (q->fd >= 0) {
        int err = q->o.sync == MQR_QUEUE_SYNC_NEVER ? 0 : sync_active(q);
        if (err) {
            to_memory(q, seg_name(name, q->segs[q->nsegs - 1].no), "fsync", err);
            return MQR_EIO;
        }
        close(q->fd);
        q->fd = -1;
    }
    uint64_t no = q->next_segno;
    seg_name(name, no);
    int fd = open(path_of(q, name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    q->next_segno++; /* a number that failed is not tried again */
    if (fd < 0) {
        to_memory(q, name, "create", errno);
        return MQR_EIO;
    }
    uint8_t h[SEG_HDR];
    uint64_t key = mqr__random_seed(q);
    memcpy(h, SEG_MAGIC, 8);
    put32(h + 8, MQR_QUEUE_FORMAT_VERSION);
    put32(h + 12, 0);
    put64(h + 16, q->qid);
    put64(h + 24, no);
    put64(h + 32, key);
    put32(h + 12, mqr__crc32c(0, h, SEG_HDR));
    q->seg_seed = key_seed(key);
    struct iovec v = {h, SEG_HDR};
    q->segs[q->nsegs++] = (seg_t){no, 0, 0};
    q->fd = fd;
    q->st.segments++;
    q->dir_dirty = 1;
    q->dirty = 1;
    int err = write_all(fd, &v, 1);
    if (err) {
        to_memory(q, name, "write", err);
        return MQR_EIO;
    }
    q->segs[q->nsegs - 1].size = SEG_HDR;
    q->st.disk_bytes += SEG_HDR;
    return MQR_OK;
}

/* Append one record to the active segment. MQR_OK, MQR_ENOMEM, MQR_EIO. */
static int write_record(mqr_queue_t *q, uint32_t type, uint64_t seq, const void *data,
                        uint32_t len)
{
    if (q->st.state != MQR_QUEUE_STATE_OK)
        return MQR_EIO;
    int rc = ensure_segment(q);
    if (rc != MQR_OK)
        return rc;
    uint8_t h[REC_HDR];
    rec_header(h, q->seg_seed, len, seq, type, data);
    struct iovec v[2] = {{h, REC_HDR}, {(void *)data, len}};
    seg_t *s = &q->segs[q->nsegs - 1];
    int err = write_all(q->fd, v, len ? 2 : 1);
    if (err) {
        char name[SEG_NAME_LEN + 1];
        to_memory(q, seg_name(name, s->no), "write", err);
        return MQR_EIO;
    }
    s->size += REC_HDR + len;
    q->st.disk_bytes += REC_HDR + len;
    if (type == REC_DATA)
        s->last_data = seq;
    q->dirty = 1;
    return MQR_OK;
}

/*
 * Write the checkpoint: floor, the acknowledged sequences above it, the
 * queue id and the next segment number, with a CRC, into checkpoint.tmp,
 * synced (unless NEVER), then renamed over "checkpoint". MQR_OK, MQR_ENOMEM,
 * or MQR_EIO (the queue went to memory).
 */
static int write_checkpoint(mqr_queue_t *q)
{
    size_t nacked = 0;
    for (size_t i = 0; i < q->n; i++)
        nacked += ent_at(q, i)->state == E_ACKED;
    size_t size = CKP_HDR + nacked * 8 + 4;
    uint8_t *b = mqr__alloc(&q->alloc, size);
    if (!b)
        return MQR_ENOMEM;
    memcpy(b, CKP_MAGIC, 8);
    put32(b + 8, CKP_VERSION);
    /* the highest sequence handed out, low half here, high half at 44
     * (fields that were 0 and ignored before: older libraries read this
     * checkpoint, and an older one reads as 0) */
    uint64_t high = q->next_seq ? q->next_seq - 1 : 0;
    put32(b + 12, (uint32_t)high);
    put64(b + 16, q->qid);
    put64(b + 24, floor_seq(q));
    put64(b + 32, q->next_segno);
    put32(b + 40, (uint32_t)nacked);
    put32(b + 44, (uint32_t)(high >> 32));
    uint8_t *p = b + CKP_HDR;
    for (size_t i = 0; i < q->n; i++) {
        if (ent_at(q, i)->state == E_ACKED) {
            put64(p, ent_at(q, i)->seq);
            p += 8;
        }
    }
    put32(p, mqr__crc32c(0, b, size - 4));
    const char *what = "create";
    int err = 0;
    int fd = open(path_of(q, CKP_TMP), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = errno;
    } else {
        struct iovec v = {b, size};
        what = "write";
        err = write_all(fd, &v, 1);
        if (!err && q->o.sync != MQR_QUEUE_SYNC_NEVER) {
            what = "fsync";
            err = fsync(fd) == 0 ? 0 : errno;
        }
        if (close(fd) != 0 && !err) {
            what = "close";
            err = errno;
        }
        if (!err) {
            snprintf(q->path2, q->path_cap, "%s/%s", q->dir, CKP_NAME);
            what = "rename";
            err = rename(q->path, q->path2) == 0 ? 0 : errno;
            q->dir_dirty = 1;
        }
    }
    mqr__free(&q->alloc, b, size);
    if (err) {
        to_memory(q, CKP_NAME, what, err);
        return MQR_EIO;
    }
    return MQR_OK;
}

/* Create the reserve file (RESERVE_SIZE bytes of zeros) if it is not there.
 * On a file system that fills up, the segments that could be deleted may
 * only go once a checkpoint is written, which needs space: the reserve is
 * given up for that checkpoint (write_checkpoint_or_reserve) and made again
 * when the queue is back on disk. Failing to make it is not an error. */
static void reserve_make(mqr_queue_t *q)
{
    if (q->has_reserve)
        return;
    int fd = open(path_of(q, RESERVE_NAME), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    uint8_t zeros[4096];
    memset(zeros, 0, sizeof zeros);
    int err = 0;
    for (size_t done = 0; !err && done < RESERVE_SIZE; done += sizeof zeros) {
        struct iovec v = {zeros, sizeof zeros};
        err = write_all(fd, &v, 1);
    }
    if (close(fd) != 0)
        err = 1;
    if (err)
        (void)unlink(path_of(q, RESERVE_NAME));
    q->has_reserve = !err;
}

/* write_checkpoint; when it fails and the reserve exists, delete the reserve
 * and try once more (the disk may be full). */
static int write_checkpoint_or_reserve(mqr_queue_t *q)
{
    int rc = write_checkpoint(q);
    if (rc != MQR_EIO || !q->has_reserve)
        return rc;
    (void)unlink(path_of(q, RESERVE_NAME));
    q->has_reserve = 0;
    return write_checkpoint(q);
}

/* Delete the segments (not the active one) whose data is all at or below
 * the floor, writing the checkpoint first. In MQR_QUEUE_STATE_MEMORY (no
 * active segment) that frees the space a full disk needs to take the queue
 * back. */
static int reclaim(mqr_queue_t *q)
{
    uint64_t fl = floor_seq(q);
    size_t last = q->fd >= 0 ? q->nsegs - 1 : q->nsegs;
    size_t k = 0;
    while (k < last && q->segs[k].last_data <= fl)
        k++;
    if (k == 0)
        return MQR_OK;
    int rc = write_checkpoint_or_reserve(q);
    if (rc != MQR_OK)
        return rc;
    char name[SEG_NAME_LEN + 1];
    size_t gone = 0;
    for (size_t i = 0; i < k; i++) {
        if (unlink(path_of(q, seg_name(name, q->segs[i].no))) != 0 && errno != ENOENT) {
            char text[128];
            q->st.write_errors++;
            set_err(q, MQR_EIO, "%s: unlink: %s", name, mqr__strerror_r(errno, text, sizeof text));
            break;
        }
        q->st.disk_bytes -= q->segs[i].size;
        q->st.segments--;
        q->st.segments_deleted++;
        gone++;
    }
    memmove(q->segs, q->segs + gone, (q->nsegs - gone) * sizeof *q->segs);
    q->nsegs -= gone;
    return MQR_OK;
}

/* In MQR_QUEUE_STATE_MEMORY: start a new segment, write every record held
 * only in memory, then the checkpoint; back to MQR_QUEUE_STATE_OK if all of
 * that worked. */
static int try_disk(mqr_queue_t *q)
{
    q->st.state = MQR_QUEUE_STATE_OK;
    int rc = ensure_segment(q);
    for (size_t i = 0; rc == MQR_OK && i < q->n; i++) {
        ent_t *e = ent_at(q, i);
        if (e->state != E_ACKED && !e->on_disk) {
            rc = write_record(q, REC_DATA, e->seq, e->data, e->len);
            e->on_disk = rc == MQR_OK;
        }
    }
    rc = rc ? rc : write_checkpoint(q);
    if (rc == MQR_ENOMEM) {
        q->st.state = MQR_QUEUE_STATE_MEMORY;
        q->fail_ms = now_ms(q);
    }
    return rc;
}

/* ---- opening --------------------------------------------------------------------------------- */

/* Read a whole file into an allocated buffer. 0 or an errno (ENOMEM too). */
static int read_file(mqr_queue_t *q, const char *path, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int err = S_ISREG(sb.st_mode) ? errno : EISDIR;
        close(fd);
        return err;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *b = size ? mqr__alloc(&q->alloc, size) : NULL;
    if (size && !b) {
        close(fd);
        return ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shorter than fstat said: use what was read */
        got += (size_t)r;
    }
    close(fd);
    *out = b;
    *out_len = got;
    return 0;
}

/* What replay keeps while reading the files. */
typedef struct replay {
    mqr_queue_t *q;
    uint64_t floor;
    uint64_t *acked;    /* the checkpoint's acknowledged sequences, ascending */
    size_t nacked;
    uint64_t max_seq;
    uint64_t high;      /* the checkpoint's highest sequence handed out (0: none) */
    seg_t *seg;
} replay_t;

static int in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return 1;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* One record of a segment being replayed. */
static int replay_visit(void *ud, const mqr__queue_rec_t *r)
{
    replay_t *rp = ud;
    mqr_queue_t *q = rp->q;
    if (r->type == REC_ACK) {
        size_t i = find(q, r->seq);
        if (i < q->n && ent_at(q, i)->state != E_ACKED) {
            ent_release(q, ent_at(q, i));
            ent_at(q, i)->state = E_ACKED;
        }
        return MQR_OK;
    }
    if (r->seq > rp->max_seq)
        rp->max_seq = r->seq;
    if (r->seq > rp->seg->last_data)
        rp->seg->last_data = r->seq;
    if (r->seq <= rp->floor || in_sorted(rp->acked, rp->nacked, r->seq))
        return MQR_OK;
    if (q->n && ent_at(q, q->n - 1)->seq >= r->seq)
        return MQR_OK; /* a sequence seen before: the first copy counts */
    if (ring_reserve(q) != MQR_OK)
        return MQR_ENOMEM;
    ent_t e = {r->seq, NULL, r->len, E_PENDING, 1, 1, 0, 0};
    if (r->len) {
        e.data = mqr__alloc(&q->alloc, r->len);
        if (!e.data)
            return MQR_ENOMEM;
        memcpy(e.data, r->data, r->len);
    }
    *ent_at(q, q->n) = e;
    q->n++;
    return MQR_OK;
}

/* Read the checkpoint into *rp and q->qid / q->next_segno. A missing file is
 * fine; a corrupt one is reported and ignored (everything replays);
 * a newer version is MQR_ENOTSUP. */
static int read_checkpoint(mqr_queue_t *q, replay_t *rp, int *out_found, mqr_diag_t *diag)
{
    uint8_t *b;
    size_t len;
    *out_found = 0;
    int err = read_file(q, path_of(q, CKP_NAME), &b, &len);
    if (err == ENOENT)
        return MQR_OK;
    if (err == ENOMEM)
        return mqr__diag_set(diag, MQR_ENOMEM, "%s: out of memory", q->path);
    if (err) {
        char text[128];
        return mqr__diag_set(diag, MQR_EIO, "%s: %s", q->path,
                             mqr__strerror_r(err, text, sizeof text));
    }
    int rc = MQR_OK;
    if (len >= CKP_HDR + 4 && memcmp(b, CKP_MAGIC, 8) == 0 && get32(b + 8) > CKP_VERSION) {
        rc = mqr__diag_set(diag, MQR_ENOTSUP,
                           "%s: format version %" PRIu32 " is newer than this library's (%u)",
                           q->path, get32(b + 8), CKP_VERSION);
    } else if (len < CKP_HDR + 4 || memcmp(b, CKP_MAGIC, 8) != 0 ||
               (len - CKP_HDR - 4) / 8 != get32(b + 40) || (len - CKP_HDR - 4) % 8 ||
               mqr__crc32c(0, b, len - 4) != get32(b + len - 4)) {
        q->st.corrupt_records++;
        set_err(q, MQR_EIO, "%s: not a valid checkpoint: ignored, every record replays",
                CKP_NAME);
    } else {
        *out_found = 1;
        q->qid = get64(b + 16);
        rp->floor = get64(b + 24);
        rp->high = (uint64_t)get32(b + 12) | (uint64_t)get32(b + 44) << 32;
        q->next_segno = get64(b + 32);
        rp->nacked = get32(b + 40);
        if (rp->nacked) {
            rp->acked = mqr__alloc(&q->alloc, rp->nacked * 8);
            if (!rp->acked) {
                rp->nacked = 0;
                rc = mqr__diag_set(diag, MQR_ENOMEM, "%s: out of memory", q->path);
            }
            for (size_t i = 0; rp->acked && i < rp->nacked; i++)
                rp->acked[i] = get64(b + CKP_HDR + 8 * i);
        }
    }
    if (b)
        mqr__free(&q->alloc, b, len);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment numbers in the directory, ascending, in q->segs. */
static int list_segments(mqr_queue_t *q, mqr_diag_t *diag)
{
    DIR *d = opendir(q->dir);
    if (!d) {
        char text[128];
        return mqr__diag_set(diag, MQR_EIO, "%s: %s", q->dir,
                             mqr__strerror_r(errno, text, sizeof text));
    }
    int rc = MQR_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strlen(n) != SEG_NAME_LEN || strcmp(n + 16, ".seg") != 0)
            continue;
        uint64_t no = 0;
        size_t i = 0;
        for (; i < 16; i++) {
            char c = n[i];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (v < 0)
                break;
            no = no << 4 | (uint64_t)v;
        }
        if (i < 16)
            continue;
        if ((rc = segs_reserve(q)) != MQR_OK) {
            rc = mqr__diag_set(diag, MQR_ENOMEM, "%s: out of memory", q->dir);
            break;
        }
        q->segs[q->nsegs++] = (seg_t){no, 0, 0};
    }
    closedir(d);
    if (q->nsegs > 1) {
        uint64_t *nos = (uint64_t *)q->segs; /* sort the numbers, then spread them */
        for (size_t i = 0; i < q->nsegs; i++)
            nos[i] = q->segs[i].no;
        qsort(nos, q->nsegs, sizeof *nos, cmp_u64);
        for (size_t i = q->nsegs; i-- > 0;)
            q->segs[i] = (seg_t){nos[i], 0, 0};
    }
    return rc;
}

/* Replay segment q->segs[k] (the last one when `last`). */
static int replay_segment(mqr_queue_t *q, replay_t *rp, size_t k, int last, mqr_diag_t *diag)
{
    char name[SEG_NAME_LEN + 1];
    seg_t *s = &q->segs[k];
    seg_name(name, s->no);
    uint8_t *b;
    size_t len;
    int err = read_file(q, path_of(q, name), &b, &len);
    if (err == ENOMEM)
        return mqr__diag_set(diag, MQR_ENOMEM, "%s: out of memory", name);
    if (err) {
        char text[128];
        q->st.corrupt_records++;
        set_err(q, MQR_EIO, "%s: %s: skipped", name, mqr__strerror_r(err, text, sizeof text));
        return MQR_OK;
    }
    s->size = len;
    int rc = MQR_OK;
    uint32_t ver = len >= 12 && memcmp(b, SEG_MAGIC, 8) == 0 ? get32(b + 8) : 0;
    if (ver > MQR_QUEUE_FORMAT_VERSION) {
        rc = mqr__diag_set(diag, MQR_ENOTSUP,
                           "%s: format version %" PRIu32 " is newer than this library's (%u)",
                           name, ver, MQR_QUEUE_FORMAT_VERSION);
        goto out;
    }
    /* Version 1: a 32-byte header and records seeded with 0. Version 2, and
     * a header too damaged to tell: the key in bytes 32..39 seeds the
     * records (a damaged key loses them, counted; it never makes a record
     * written by a client inside a payload valid). */
    size_t hlen = ver == 1 ? SEG_HDR_V1 : SEG_HDR;
    size_t off = hlen;
    uint32_t seed = ver == 1 || len < SEG_HDR ? 0 : key_seed(get64(b + 32));
    uint8_t h[SEG_HDR];
    int hdr_ok = len >= hlen && ver >= 1;
    if (hdr_ok) {
        memcpy(h, b, hlen);
        put32(h + 12, 0);
        hdr_ok = mqr__crc32c(0, h, hlen) == get32(b + 12);
    }
    if (!hdr_ok && last && len < hlen) {
        /* Cut short while being created: nothing in it. */
        q->st.torn_tails++;
        set_err(q, MQR_OK, "%s: torn segment header (%zu bytes): cut off", name, len);
        s->size = len; /* no data: deleted by the reclaim that ends mqr_queue_open */
        goto out;
    }
    if (hdr_ok && q->qid == 0)
        q->qid = get64(b + 16);
    if (!hdr_ok) {
        q->st.corrupt_records++;
        set_err(q, MQR_OK, "%s: invalid segment header: its records are checked one by one",
                name);
        off = 0;
    }
    rp->seg = s;
    mqr__queue_scan_t res;
    rc = mqr__queue_scan(b, len, off, seed, replay_visit, rp, &res);
    if (rc != MQR_OK) {
        rc = mqr__diag_set(diag, rc, "%s: out of memory", name);
        goto out;
    }
    if (res.corrupt_regions) {
        q->st.corrupt_records += res.corrupt_regions;
        set_err(q, MQR_EIO, "%s: offset %zu: %zu corrupt region(s) skipped", name,
                res.first_corrupt, res.corrupt_regions);
    }
    if (res.tail_invalid && last) {
        q->st.torn_tails++;
        set_err(q, MQR_OK, "%s: offset %zu: torn record at the tail (%zu bytes): cut off", name,
                res.end, len - res.end);
        if (truncate(q->path, (off_t)res.end) == 0)
            s->size = res.end;
    } else if (res.tail_invalid) {
        q->st.corrupt_records++;
        set_err(q, MQR_EIO, "%s: offset %zu: invalid bytes up to the end skipped", name,
                res.end);
    }
out:
    if (b)
        mqr__free(&q->alloc, b, len);
    return rc;
}

void mqr_queue_options_init(mqr_queue_options_t *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->max_buffer_bytes = MQR_QUEUE_DEFAULT_MAX_BUFFER_BYTES;
    o->segment_bytes = MQR_QUEUE_DEFAULT_SEGMENT_BYTES;
    o->sync = MQR_QUEUE_SYNC_BATCH;
    o->sync_interval_ms = MQR_QUEUE_DEFAULT_SYNC_INTERVAL_MS;
    o->overflow = MQR_QUEUE_OVERFLOW_DROP_OLDEST;
}

static void free_queue(mqr_queue_t *q)
{
    if (q->fd >= 0)
        close(q->fd);
    for (size_t i = 0; i < q->n; i++)
        ent_release(q, ent_at(q, i));
    mqr__free(&q->alloc, q->ring, q->cap * sizeof *q->ring);
    mqr__free(&q->alloc, q->segs, q->cap_segs * sizeof *q->segs);
    if (q->path)
        mqr__free(&q->alloc, q->path, q->path_cap);
    if (q->path2)
        mqr__free(&q->alloc, q->path2, q->path_cap);
    if (q->dir)
        mqr__free(&q->alloc, q->dir, q->dir_len + 1);
    mqr_allocator_t a = q->alloc;
    mqr__free(&a, q, sizeof *q);
}

/* The options with defaults for the zero fields, checked. */
static int resolve_options(const mqr_queue_options_t *in, mqr_queue_options_t *o,
                           mqr_diag_t *diag)
{
    *o = *in;
    if (!o->dir || !o->dir[0])
        return mqr__diag_set(diag, MQR_EINVAL, "queue: dir is required");
    if (o->sync < MQR_QUEUE_SYNC_BATCH || o->sync > MQR_QUEUE_SYNC_NEVER)
        return mqr__diag_set(diag, MQR_EINVAL, "queue: unknown sync policy %d", (int)o->sync);
    if (o->overflow != MQR_QUEUE_OVERFLOW_DROP_OLDEST &&
        o->overflow != MQR_QUEUE_OVERFLOW_REFUSE_NEWEST)
        return mqr__diag_set(diag, MQR_EINVAL, "queue: unknown overflow policy %d",
                             (int)o->overflow);
    if (!o->max_buffer_bytes)
        o->max_buffer_bytes = MQR_QUEUE_DEFAULT_MAX_BUFFER_BYTES;
    if (!o->segment_bytes)
        o->segment_bytes = MQR_QUEUE_DEFAULT_SEGMENT_BYTES;
    if (!o->sync_interval_ms)
        o->sync_interval_ms = MQR_QUEUE_DEFAULT_SYNC_INTERVAL_MS;
    return MQR_OK;
}

/* Everything mqr_queue_open does once q is allocated. */
static int open_queue(mqr_queue_t *q, mqr_diag_t *diag)
{
    struct stat sb;
    if (stat(q->dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mqr__diag_set(diag, MQR_ENOTFOUND, "queue: %s: %s", q->dir,
                             errno == ENOENT || S_ISDIR(sb.st_mode) ? "no such directory"
                                                                     : "not a directory");
    replay_t rp;
    memset(&rp, 0, sizeof rp);
    rp.q = q;
    int found = 0;
    int rc = read_checkpoint(q, &rp, &found, diag);
    rc = rc ? rc : list_segments(q, diag);
    for (size_t k = 0; rc == MQR_OK && k < q->nsegs; k++)
        rc = replay_segment(q, &rp, k, k + 1 == q->nsegs, diag);
    if (rp.acked)
        mqr__free(&q->alloc, rp.acked, rp.nacked * 8);
    if (rc != MQR_OK)
        return rc;
    if (q->nsegs && q->segs[q->nsegs - 1].no >= q->next_segno)
        q->next_segno = q->segs[q->nsegs - 1].no + 1;
    if (!q->next_segno)
        q->next_segno = 1;
    uint64_t top = rp.max_seq > rp.floor ? rp.max_seq : rp.floor;
    if (rp.high > top)
        top = rp.high;
    q->next_seq = top + 1;
    if (!q->qid)
        q->qid = mqr__random_seed(q);
    for (size_t i = 0; i < q->n; i++) {
        ent_t *e = ent_at(q, i);
        if (e->state == E_ACKED)
            continue;
        q->st.records++;
        q->st.pending++;
        q->st.bytes += e->len;
    }
    q->st.replayed = q->st.records;
    for (size_t i = 0; i < q->nsegs; i++)
        q->st.disk_bytes += q->segs[i].size;
    q->st.segments = q->nsegs;
    pop_acked(q);
    /* Write the replayed state now: this proves the directory is writable
     * and lets the fully acknowledged segments go (the reserve of a previous
     * run gives way if the disk is full). */
    q->has_reserve = access(path_of(q, RESERVE_NAME), F_OK) == 0;
    rc = write_checkpoint_or_reserve(q);
    if (rc == MQR_EIO)
        return mqr__diag_set(diag, MQR_EIO, "queue: %s: %s", q->dir, q->err);
    if (rc != MQR_OK)
        return mqr__diag_set(diag, rc, "queue: %s: out of memory", q->dir);
    (void)found;
    rc = reclaim(q);
    if (rc == MQR_OK)
        reserve_make(q);
    return rc;
}

int mqr_queue_open(const mqr_queue_options_t *opts, mqr_queue_t **out, mqr_diag_t *diag)
{
    if (out)
        *out = NULL;
    if (!opts || !out)
        return mqr__diag_set(diag, MQR_EINVAL, "queue: NULL argument");
    mqr_queue_options_t o;
    int rc = resolve_options(opts, &o, diag);
    if (rc != MQR_OK)
        return rc;
    mqr_queue_t *q = mqr__calloc(&o.alloc, 1, sizeof *q);
    if (!q)
        return mqr__diag_set(diag, MQR_ENOMEM, "queue: out of memory");
    q->alloc = o.alloc;
    q->fd = -1;
    q->dir_len = strlen(o.dir);
    q->dir = mqr__strndup(&q->alloc, o.dir, q->dir_len);
    q->path_cap = q->dir_len + 2 + 32;
    q->path = q->dir ? mqr__alloc(&q->alloc, q->path_cap) : NULL;
    q->path2 = q->path ? mqr__alloc(&q->alloc, q->path_cap) : NULL;
    if (!q->path2) {
        free_queue(q);
        return mqr__diag_set(diag, MQR_ENOMEM, "queue: out of memory");
    }
    o.dir = q->dir;
    q->o = o;
    q->last_sync_ms = now_ms(q);
    rc = open_queue(q, diag);
    if (rc != MQR_OK) {
        free_queue(q);
        return rc;
    }
    *out = q;
    return MQR_OK;
}

/* ---- the API --------------------------------------------------------------------------------- */

void mqr_queue_close(mqr_queue_t *q)
{
    if (!q)
        return;
    if (q->st.state == MQR_QUEUE_STATE_OK) {
        if (q->o.sync != MQR_QUEUE_SYNC_NEVER)
            (void)sync_active(q);
        if (reclaim(q) == MQR_OK && q->st.state == MQR_QUEUE_STATE_OK)
            (void)write_checkpoint(q);
        if (q->o.sync == MQR_QUEUE_SYNC_BATCH && q->dir_dirty)
            (void)fsync_dir(q);
    }
    free_queue(q);
}

/* Drop the oldest held record for the overflow policy. */
static void drop_oldest(mqr_queue_t *q)
{
    ent_t *e = ent_at(q, 0);
    if (e->on_disk)
        (void)write_record(q, REC_ACK, e->seq, NULL, 0);
    q->st.dropped_oldest++;
    ent_done(q, e);
}

int mqr_queue_append(mqr_queue_t *q, const void *data, size_t len, uint64_t *out_seq)
{
    if (!q || (!data && len))
        return MQR_EINVAL;
    if (len > MQR_QUEUE_MAX_RECORD || len > q->o.max_buffer_bytes) {
        q->st.refused_newest++;
        set_err(q, MQR_ELIMIT, "append: a record of %zu bytes exceeds the limit", len);
        return MQR_ELIMIT;
    }
    if (q->st.bytes + len > q->o.max_buffer_bytes) {
        if (q->o.overflow == MQR_QUEUE_OVERFLOW_REFUSE_NEWEST) {
            q->st.refused_newest++;
            return MQR_ELIMIT;
        }
    }
    if (ring_reserve(q) != MQR_OK)
        return MQR_ENOMEM;
    ent_t e = {q->next_seq, NULL, (uint32_t)len, E_PENDING, 0, 0, 0, 0};
    if (len) {
        e.data = mqr__alloc(&q->alloc, len);
        if (!e.data)
            return MQR_ENOMEM;
        memcpy(e.data, data, len);
    }
    while (q->st.bytes + len > q->o.max_buffer_bytes && q->st.records)
        drop_oldest(q);
    int rc = write_record(q, REC_DATA, e.seq, e.data, e.len);
    if (rc == MQR_ENOMEM) {
        ent_release(q, &e);
        return MQR_ENOMEM;
    }
    e.on_disk = rc == MQR_OK;
    if (!e.on_disk)
        q->st.memory_records++;
    *ent_at(q, q->n) = e;
    q->n++;
    q->next_seq++;
    q->st.records++;
    q->st.pending++;
    q->st.bytes += len;
    q->st.appended++;
    if (out_seq)
        *out_seq = e.seq;
    return MQR_OK;
}

int mqr_queue_next(mqr_queue_t *q, mqr_queue_record_t *out)
{
    if (!q || !out)
        return MQR_EINVAL;
    if (!q->st.pending)
        return MQR_ENOTFOUND;
    for (size_t i = q->pend_hint; i < q->n; i++) {
        ent_t *e = ent_at(q, i);
        if (e->state != E_PENDING)
            continue;
        q->pend_hint = i + 1;
        e->state = E_INFLIGHT;
        e->attempts++;
        q->st.pending--;
        q->st.inflight++;
        out->seq = e->seq;
        out->data = e->data;
        out->len = e->len;
        out->replayed = e->replayed;
        out->attempts = e->attempts;
        (void)mqr_queue_record_id(q, e->seq, out->id, sizeof out->id);
        return MQR_OK;
    }
    return MQR_ENOTFOUND;
}

int mqr_queue_ack(mqr_queue_t *q, uint64_t seq)
{
    if (!q)
        return MQR_EINVAL;
    size_t i = find(q, seq);
    if (i == q->n || ent_at(q, i)->state == E_ACKED)
        return MQR_ENOTFOUND;
    ent_t *e = ent_at(q, i);
    if (e->on_disk)
        (void)write_record(q, REC_ACK, seq, NULL, 0);
    q->st.acked++;
    ent_done(q, e);
    return MQR_OK;
}

int mqr_queue_retry(mqr_queue_t *q, uint64_t seq)
{
    if (!q)
        return MQR_EINVAL;
    size_t i = find(q, seq);
    if (i == q->n || ent_at(q, i)->state != E_INFLIGHT)
        return MQR_ENOTFOUND;
    ent_at(q, i)->state = E_PENDING;
    q->st.inflight--;
    q->st.pending++;
    q->st.retried++;
    if (i < q->pend_hint)
        q->pend_hint = i;
    return MQR_OK;
}

int mqr_queue_flush(mqr_queue_t *q)
{
    if (!q)
        return MQR_EINVAL;
    int64_t now = now_ms(q);
    if (q->st.state == MQR_QUEUE_STATE_MEMORY) {
        if (now - q->fail_ms < (int64_t)MQR_QUEUE_RETRY_MS)
            return MQR_EIO;
        (void)reclaim(q); /* what is acknowledged makes room first */
        if (try_disk(q) != MQR_OK)
            return MQR_EIO;
        reserve_make(q);
    }
    int want = q->o.sync == MQR_QUEUE_SYNC_BATCH ||
               (q->o.sync == MQR_QUEUE_SYNC_INTERVAL &&
                now - q->last_sync_ms >= (int64_t)q->o.sync_interval_ms);
    if (want) {
        int err = sync_active(q);
        if (err) {
            char name[SEG_NAME_LEN + 1];
            to_memory(q, seg_name(name, q->segs[q->nsegs - 1].no), "fsync", err);
            return MQR_EIO;
        }
        if (q->o.sync == MQR_QUEUE_SYNC_BATCH && q->dir_dirty) {
            if ((err = fsync_dir(q)) != 0) {
                to_memory(q, q->dir, "fsync", err);
                return MQR_EIO;
            }
            q->dir_dirty = 0;
        }
    }
    int rc = reclaim(q);
    return rc == MQR_ENOMEM ? MQR_OK : rc;
}

int64_t mqr_queue_timeout(const mqr_queue_t *q)
{
    if (!q)
        return -1;
    int64_t now = now_ms(q), best = -1;
    if (q->st.state == MQR_QUEUE_STATE_MEMORY) {
        int64_t t = q->fail_ms + (int64_t)MQR_QUEUE_RETRY_MS - now;
        best = t > 0 ? t : 0;
    } else if (q->dirty && q->fd >= 0) {
        int64_t t = 0;
        if (q->o.sync == MQR_QUEUE_SYNC_INTERVAL)
            t = q->last_sync_ms + (int64_t)q->o.sync_interval_ms - now;
        if (q->o.sync != MQR_QUEUE_SYNC_NEVER)
            best = t > 0 ? t : 0;
    }
    return best;
}

size_t mqr_queue_count(const mqr_queue_t *q)
{
    return q ? (size_t)q->st.records : 0;
}

size_t mqr_queue_pending(const mqr_queue_t *q)
{
    return q ? (size_t)q->st.pending : 0;
}

int mqr_queue_stats(const mqr_queue_t *q, mqr_queue_stats_t *out)
{
    if (!q || !out)
        return MQR_EINVAL;
    *out = q->st;
    out->queue_id = q->qid;
    out->next_seq = q->next_seq;
    return MQR_OK;
}

const char *mqr_queue_last_error(const mqr_queue_t *q)
{
    return q ? q->err : "";
}

int mqr_queue_record_id(const mqr_queue_t *q, uint64_t seq, char *buf, size_t cap)
{
    if (!q || !buf)
        return MQR_EINVAL;
    int n = snprintf(buf, cap, "%016" PRIx64 "-%" PRIu64, q->qid, seq);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return MQR_EBUFFER;
    }
    return MQR_OK;
}

const char *mqr_queue_state_name(int32_t state)
{
    switch (state) {
    case MQR_QUEUE_STATE_OK: return "ok";
    case MQR_QUEUE_STATE_MEMORY: return "memory";
    default: return "unknown";
    }
}
