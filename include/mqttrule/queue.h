/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/queue.h - a durable queue for actions: an append-only log of
 * checksummed records in segment files under one directory, replayed in order
 * when the queue is opened again (by the same process or any later one).
 *
 * On disk (all integers little-endian):
 *   <dir>/<16 hex digits>.seg  segment files, numbered in the order written.
 *       header  32 bytes: "MQRQSEG\0", version u32, header CRC u32,
 *               queue id u64, segment number u64;
 *       records 24-byte header: magic u32 "MQRQ", length u32, sequence u64,
 *               type u32 (1 data, 2 ack), CRC-32C u32 over length, sequence,
 *               type and the payload; then `length` payload bytes.
 *   <dir>/checkpoint           the acknowledged state (the highest sequence
 *       below which everything is acknowledged, and the acknowledged
 *       sequences above it), written to checkpoint.tmp and renamed over the
 *       old one, so it is always either the old or the new file.
 * An acknowledgement is one small ack record appended to the log; the
 * checkpoint is rewritten before a fully acknowledged segment is deleted and
 * when the queue is closed. Opening reads the checkpoint and every segment in
 * order, applies the ack records, and holds the unacknowledged records again.
 *
 * Crash safety. A record cut short at the end of the last segment (a crash
 * while writing) fails its length or CRC check: it is cut off (the file is
 * truncated there) and counted in torn_tails. A record that fails its check
 * in the middle of the log is skipped up to the next valid record, counted in
 * corrupt_records, and described in the last error text; opening never fails
 * for corrupt content. A file written by a newer, unknown format version is
 * refused (MQR_ENOTSUP) rather than misread.
 *
 * Disk errors. When a segment or the checkpoint cannot be written or synced
 * (ENOSPC, EROFS, EACCES, EFBIG, EIO, ...) the queue enters
 * MQR_QUEUE_STATE_MEMORY: nothing already accepted is dropped and appends are
 * not refused; the records are held in memory (counted in memory_records)
 * and the error text is readable with mqr_queue_last_error(). Every
 * MQR_QUEUE_RETRY_MS the queue tries the disk again (mqr_queue_flush): it
 * first deletes the segments whose records were all acknowledged meanwhile
 * (the checkpoint written before them may take the place of the `reserve`
 * file, 64 KiB the queue keeps in its directory so that a full disk can still
 * take a checkpoint; it is made again afterwards), then, when a new segment
 * can be written, the records held only in memory are written to it and the
 * state returns to MQR_QUEUE_STATE_OK.
 *
 * Sync policies (what survives; "crash" is the process dying, kill -9
 * included, "power loss" is the machine stopping):
 *   MQR_QUEUE_SYNC_BATCH     every append is written to the file at once and
 *                            mqr_queue_flush() fsyncs: a process crash loses
 *                            nothing appended; a power loss loses nothing
 *                            appended before the last flush returned.
 *   MQR_QUEUE_SYNC_INTERVAL  as BATCH, but mqr_queue_flush() fsyncs only when
 *                            sync_interval_ms have passed since the last
 *                            fsync: a process crash loses nothing; a power
 *                            loss loses at most the last interval (plus the
 *                            time until the host calls flush).
 *   MQR_QUEUE_SYNC_NEVER     writes without fsync: a process crash loses
 *                            nothing; a power loss loses what the kernel had
 *                            not written back (on Linux typically up to 30 s).
 * Acknowledgements follow the same rules; a lost acknowledgement means a
 * record is delivered again after the restart (at least once), never lost.
 *
 * Identifiers. Each queue has a random 64-bit id, chosen when its directory
 * is first used and stored in the checkpoint and every segment header. A
 * record's identifier "<16 hex digits of the queue id>-<sequence>" is fixed
 * when it is appended and stays the same across replays, so a receiver that
 * deduplicates on it sees each record once.
 *
 * Memory: the queue also holds its unacknowledged records in memory (so
 * replay and delivery never read the disk outside mqr_queue_open);
 * max_buffer_bytes bounds both. Every allocation goes through the options'
 * allocator; after a failed allocation the queue remains usable.
 *
 * Threads: a queue is used by one thread at a time; different queues are
 * independent. Two queues must not use the same directory at once.
 *
 * Lifecycle:
 *   1. mqr_queue_options_init, set dir and the fields you need, mqr_queue_open.
 *   2. mqr_queue_append per record; mqr_queue_next to take the next record
 *      to deliver; mqr_queue_ack when the target has it, mqr_queue_retry to
 *      deliver it again later.
 *   3. mqr_queue_flush after each batch (or when mqr_queue_timeout says).
 *   4. mqr_queue_close: flushes, writes the checkpoint, frees everything;
 *      records not acknowledged stay on disk for the next open.
 */
#ifndef MQTTRULE_QUEUE_H
#define MQTTRULE_QUEUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* mqr_queue_options_t.sync */
#define MQR_QUEUE_SYNC_BATCH 0
#define MQR_QUEUE_SYNC_INTERVAL 1
#define MQR_QUEUE_SYNC_NEVER 2

/* mqr_queue_options_t.overflow: what an append does when max_buffer_bytes
 * would be exceeded. */
#define MQR_QUEUE_OVERFLOW_DROP_OLDEST 0  /* the oldest unacknowledged records go */
#define MQR_QUEUE_OVERFLOW_REFUSE_NEWEST 1 /* the new record is refused */

/* mqr_queue_stats_t.state */
#define MQR_QUEUE_STATE_OK 0
#define MQR_QUEUE_STATE_MEMORY 1 /* the disk failed: records are held in memory */

/* Defaults that mqr_queue_options_init fills in (and that 0 stands for). */
#define MQR_QUEUE_DEFAULT_MAX_BUFFER_BYTES (256u * 1024u * 1024u)
#define MQR_QUEUE_DEFAULT_SEGMENT_BYTES (16u * 1024u * 1024u)
#define MQR_QUEUE_DEFAULT_SYNC_INTERVAL_MS 100u
/* How long the queue waits in MQR_QUEUE_STATE_MEMORY before trying the disk. */
#define MQR_QUEUE_RETRY_MS 5000u
/* The largest record: the length field's range, kept well below 4 GiB. */
#define MQR_QUEUE_MAX_RECORD (64u * 1024u * 1024u)
/* Room for a record identifier: 16 hex digits, '-', 20 digits, NUL. */
#define MQR_QUEUE_ID_MAX 40
/* The segment format version this library writes; it reads this one and
 * every older one (1: no key, the record CRCs start from 0; 2: a random key
 * in each segment header that every record CRC of the segment starts from,
 * so a record embedded in a payload is never replayed). A segment of a newer
 * version makes mqr_queue_open fail with MQR_ENOTSUP. The checkpoint file
 * has its own version, still 1. */
#define MQR_QUEUE_FORMAT_VERSION 2u

/* ---- types ------------------------------------------------------------------ */
typedef struct mqr_queue mqr_queue_t;

/* A monotonic clock in milliseconds; `ud` first. */
typedef int64_t (*mqr_queue_clock_fn)(void *ud);

/* Options: call mqr_queue_options_init first. */
typedef struct mqr_queue_options {
    mqr_allocator_t alloc;        /* every allocation of the queue; fn NULL: libc */
    const char *dir;              /* required: an existing, writable directory; copied */
    uint64_t max_buffer_bytes;    /* payload bytes of unacknowledged records; 0: default */
    uint64_t segment_bytes;       /* a segment is closed once this size is reached;
                                     0: default */
    int32_t sync;                 /* MQR_QUEUE_SYNC_*; default BATCH */
    uint32_t sync_interval_ms;    /* for MQR_QUEUE_SYNC_INTERVAL; 0: default */
    int32_t overflow;             /* MQR_QUEUE_OVERFLOW_*; default DROP_OLDEST */
    uint32_t reserved_;
    mqr_queue_clock_fn clock;     /* NULL: CLOCK_MONOTONIC */
    void *clock_ud;
} mqr_queue_options_t;

/* A record taken with mqr_queue_next. `data` is borrowed until the record is
 * acknowledged or retried, or the queue is closed (a record dropped by the
 * overflow policy while out also ends it: copy what you keep). */
typedef struct mqr_queue_record {
    uint64_t seq;                 /* 1, 2, 3, ... never reused by a queue */
    const void *data;
    size_t len;
    uint32_t replayed;            /* 1: read back from disk by mqr_queue_open */
    uint32_t attempts;            /* times mqr_queue_next handed it out, this one included */
    char id[MQR_QUEUE_ID_MAX];    /* "<queue id>-<seq>", NUL-terminated */
} mqr_queue_record_t;

/* Counters and state. Between calls: records = pending + inflight. */
typedef struct mqr_queue_stats {
    int32_t state;                /* MQR_QUEUE_STATE_* */
    int32_t last_error_code;      /* MQR_OK or the status of the last error */
    uint64_t queue_id;
    uint64_t records;             /* unacknowledged records held */
    uint64_t bytes;               /* their payload bytes */
    uint64_t pending;             /* not handed out by mqr_queue_next */
    uint64_t inflight;            /* handed out, not yet acknowledged or retried */
    uint64_t next_seq;            /* the sequence the next append gets */
    uint64_t appended;            /* accepted appends */
    uint64_t acked;
    uint64_t retried;
    uint64_t replayed;            /* records found unacknowledged by mqr_queue_open */
    uint64_t dropped_oldest;      /* overflow: oldest records dropped */
    uint64_t refused_newest;      /* overflow: appends refused */
    uint64_t corrupt_records;     /* invalid regions skipped inside the log */
    uint64_t torn_tails;          /* records cut short at the end of the log, cut off */
    uint64_t memory_records;      /* records accepted while in MQR_QUEUE_STATE_MEMORY */
    uint64_t write_errors;        /* failed writes, syncs, renames or creates */
    uint64_t fsyncs;
    uint64_t segments;            /* segment files on disk */
    uint64_t segments_deleted;
    uint64_t disk_bytes;          /* bytes of the segment files */
} mqr_queue_stats_t;

/* ---- functions -------------------------------------------------------------- */

/** Fill *opts with the defaults: libc allocator, dir NULL, 256 MiB buffer,
 *  16 MiB segments, MQR_QUEUE_SYNC_BATCH, 100 ms interval, drop oldest,
 *  the system's monotonic clock. NULL is ignored. Thread-safe. */
MQR_API void mqr_queue_options_init(mqr_queue_options_t *opts);

/**
 * Open (or create) the queue in opts->dir: read the checkpoint and every
 * segment, cut off a torn tail, skip corrupt records, and hold the
 * unacknowledged records for delivery in sequence order. The directory must
 * exist; a new queue writes its checkpoint before this returns, so an
 * unwritable directory fails here. New records go to a new segment.
 * Returns MQR_OK with *out_queue owned by the caller (mqr_queue_close);
 * MQR_EINVAL (NULL opts, dir or out_queue, a sync or overflow value not
 * listed); MQR_ENOTFOUND (dir missing or not a directory); MQR_EIO (dir
 * unreadable, the checkpoint of a new queue not writable); MQR_ENOTSUP (a
 * checkpoint or segment of a newer format version); MQR_ELIMIT (the records
 * found exceed what memory allows to hold); MQR_ENOMEM. *diag (may be NULL)
 * names the file and the cause. Corrupt content is not an error: see
 * mqr_queue_stats() and mqr_queue_last_error(). Thread-safe on different
 * directories.
 */
MQR_API int mqr_queue_open(const mqr_queue_options_t *opts, mqr_queue_t **out_queue,
                           mqr_diag_t *diag);

/** Flush (fsync unless the policy is NEVER), write the checkpoint, close the
 *  files and free the queue. Unacknowledged records stay on disk (those held
 *  only in memory are lost). NULL is ignored. */
MQR_API void mqr_queue_close(mqr_queue_t *q);

/**
 * Append one record of `len` bytes (copied; len 0 is allowed). It is written
 * to the active segment at once (durable against a process crash; see the
 * sync policies for power loss). *out_seq (may be NULL) receives its
 * sequence. When the payload bytes held would exceed max_buffer_bytes, the
 * overflow policy applies: DROP_OLDEST drops the oldest records (pending or
 * out) until it fits, counted in dropped_oldest; REFUSE_NEWEST returns
 * MQR_ELIMIT, counted in refused_newest. Returns MQR_OK (also when the disk
 * failed: the record is then held in memory); MQR_EINVAL (NULL q, data NULL
 * with len > 0); MQR_ELIMIT (refused by the policy, or len greater than
 * MQR_QUEUE_MAX_RECORD or max_buffer_bytes); MQR_ENOMEM (nothing appended).
 */
MQR_API int mqr_queue_append(mqr_queue_t *q, const void *data, size_t len, uint64_t *out_seq);

/**
 * Take the oldest pending record for delivery (it becomes "in flight") and
 * describe it in *out. Returns MQR_OK; MQR_ENOTFOUND when nothing is pending;
 * MQR_EINVAL (NULL argument).
 */
MQR_API int mqr_queue_next(mqr_queue_t *q, mqr_queue_record_t *out);

/**
 * Acknowledge record `seq` (in flight or pending): it is released and will
 * not be replayed. Writes an ack record; segments whose records are all
 * acknowledged are deleted at the next flush. Returns MQR_OK; MQR_ENOTFOUND
 * (not held: already acknowledged or dropped); MQR_EINVAL (NULL q).
 */
MQR_API int mqr_queue_ack(mqr_queue_t *q, uint64_t seq);

/** Put in-flight record `seq` back among the pending ones (it is handed out
 *  again in sequence order). MQR_OK; MQR_ENOTFOUND (not held or not in
 *  flight); MQR_EINVAL (NULL q). */
MQR_API int mqr_queue_retry(mqr_queue_t *q, uint64_t seq);

/**
 * The end of a batch: fsync the active segment as the sync policy says,
 * delete fully acknowledged segments (writing the checkpoint first) and, in
 * MQR_QUEUE_STATE_MEMORY, try the disk again once MQR_QUEUE_RETRY_MS have
 * passed. Returns MQR_OK, MQR_EIO (a write failed: the queue is now or still
 * in MQR_QUEUE_STATE_MEMORY; see mqr_queue_last_error) or MQR_EINVAL (NULL).
 */
MQR_API int mqr_queue_flush(mqr_queue_t *q);

/** Milliseconds until mqr_queue_flush has work that time makes due (an
 *  interval fsync or a disk retry): 0 now, -1 nothing. -1 for NULL. */
MQR_API int64_t mqr_queue_timeout(const mqr_queue_t *q);

/** Records held and not acknowledged (pending plus in flight). 0 for NULL. */
MQR_API size_t mqr_queue_count(const mqr_queue_t *q);

/** Records pending (not in flight). 0 for NULL. */
MQR_API size_t mqr_queue_pending(const mqr_queue_t *q);

/** Copy the counters and state into *out. MQR_OK or MQR_EINVAL (NULL). */
MQR_API int mqr_queue_stats(const mqr_queue_t *q, mqr_queue_stats_t *out);

/** The text of the last error or corruption found ("" when none), e.g.
 *  "0000000000000002.seg: write: No space left on device". Borrowed until the
 *  next call on the queue. "" for NULL. */
MQR_API const char *mqr_queue_last_error(const mqr_queue_t *q);

/** Write record `seq`'s identifier "<queue id>-<seq>" into buf[0..cap)
 *  (cap >= MQR_QUEUE_ID_MAX always suffices). MQR_OK, MQR_EBUFFER (cap too
 *  small), MQR_EINVAL (NULL q or buf). The identifier does not depend on
 *  whether the record is still held. */
MQR_API int mqr_queue_record_id(const mqr_queue_t *q, uint64_t seq, char *buf, size_t cap);

/** CRC-32C (Castagnoli) of data[0..len), continuing from `crc` (0 to
 *  start): the checksum of the queue's records, for hosts that checksum their
 *  own files the same way. data may be NULL when len is 0. Thread-safe. */
MQR_API uint32_t mqr_crc32c(uint32_t crc, const void *data, size_t len);

/** "ok" or "memory" for MQR_QUEUE_STATE_*; "unknown" otherwise. Static. */
MQR_API const char *mqr_queue_state_name(int32_t state);

/* ---- persistence for the engine's actions ---------------------------------- */
/*
 * mqr_engine_action_persist() gives an HTTP, republish or custom action of an
 * engine (mqttrule/engine.h, mqttrule/action.h) its own durable queue: every
 * output the action renders is appended to the queue first, and gets the
 * record's identifier, which travels with it:
 *   HTTP       as a request header (id_name, "Idempotency-Key" by default);
 *              at most `window` records are handed to the HTTP client at once
 *              (default: its pool size), so after a crash at most that many
 *              are delivered twice. A 2xx or a non-retryable status releases
 *              the record; a message the client drops (TTL expired, queue
 *              full) is sent again; at mqr_engine_destroy the records not
 *              completed stay on disk for the next start.
 *   republish  as a user property (id_name) of the message given to the
 *              host's publisher. The publisher returns MQR_ELIMIT or
 *              MQR_ECONNECT when the target cannot take the message now (an
 *              offline or slow session: the host decides); the record stays
 *              queued and is offered again after a backoff (100 ms doubling
 *              to 5 s). MQR_OK releases it, anything else releases it as
 *              failed.
 *   custom     as mqr_action_item_t.id in every submit: the sink stores it as
 *              the row's or message's key. The custom action keeps its own
 *              queue, retries, TTL and batching (mqttrule/action.h); the
 *              durable queue mirrors it: a message is written when it is
 *              queued and released when it ends (success, failed, or dropped
 *              as expired or queue full); messages pending when the action
 *              goes away stay on disk and are queued again when a later
 *              process persists the action on the same directory.
 * mqr_engine_process() runs the queues (delivery, the sync policy's flush,
 * the disk retry) and mqr_engine_timeout() includes their timers. Records
 * found on disk count as matched when the queue opens, so the action's
 * metrics stay balanced; records the overflow policy drops count as dropped
 * (queue full); pending records count as queuing.
 */
typedef struct mqr_engine mqr_engine_t; /* mqttrule/engine.h */

#define MQR_PERSIST_DEFAULT_ID_NAME "Idempotency-Key"

typedef struct mqr_action_persist_config {
    mqr_queue_options_t queue;    /* dir required; alloc and clock are the engine's */
    const char *id_name;          /* header or user property name; NULL: the default;
                                     "": the identifier is not sent */
    uint32_t window;              /* HTTP: records in the client at once; 0: pool size */
    uint32_t reserved_;
} mqr_action_persist_config_t;

/** Fill *cfg with mqr_queue_options_init's defaults, id_name NULL, window 0.
 *  NULL is ignored. Thread-safe. */
MQR_API void mqr_action_persist_config_init(mqr_action_persist_config_t *cfg);

/**
 * Give action `action_id` (HTTP, republish or custom) a durable queue in
 * cfg->queue.dir, replaying what an earlier process left there. Call it once,
 * after the action is added and before events flow. Returns MQR_OK;
 * MQR_EINVAL (NULL engine or cfg, an id_name that is not a valid header
 * name for HTTP); MQR_ENOTFOUND (no such action); MQR_ENOTSUP (a callback
 * action); MQR_EEXIST (the action already has a queue); MQR_ESTATE (from an
 * engine callback); and the statuses of mqr_queue_open (the directory
 * missing or unwritable, a newer format, MQR_ENOMEM). *diag says why.
 * Same thread rules as the engine.
 */
MQR_API int mqr_engine_action_persist(mqr_engine_t *engine, uint32_t action_id,
                                      const mqr_action_persist_config_t *cfg, mqr_diag_t *diag);

/** Copy the queue counters and state of action `action_id`. MQR_OK,
 *  MQR_EINVAL (NULL), MQR_ENOTFOUND (no such action or it has no queue). */
MQR_API int mqr_engine_action_queue_stats(const mqr_engine_t *engine, uint32_t action_id,
                                          mqr_queue_stats_t *out);

/** mqr_queue_last_error() of action `action_id`'s queue; "" when there is
 *  none. Borrowed until the next call on the engine. */
MQR_API const char *mqr_engine_action_queue_error(const mqr_engine_t *engine,
                                                  uint32_t action_id);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_QUEUE_H */
