/* SPDX-License-Identifier: MIT */
/*
 * queue_int.h - the record scanner of queue.c, shared with its unit tests and
 * the fuzz target. Not API.
 */
#ifndef MQR_QUEUE_INT_H
#define MQR_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data[0..len), continuing from `crc` (0 to start). */
uint32_t mqr__crc32c(uint32_t crc, const void *data, size_t len);

/* One valid record found in a segment; data points into the scanned buffer. */
typedef struct mqr__queue_rec {
    uint64_t seq;
    uint32_t type;      /* 1 data, 2 ack */
    uint32_t len;
    const uint8_t *data;
} mqr__queue_rec_t;

/* What a scan found besides the records. */
typedef struct mqr__queue_scan {
    size_t corrupt_regions; /* invalid stretches followed by a valid record */
    size_t first_corrupt;   /* offset of the first of them */
    int tail_invalid;       /* the buffer ends in an invalid stretch from `end` */
    size_t end;             /* where the valid records end */
} mqr__queue_scan_t;

typedef int (*mqr__queue_visit_fn)(void *ud, const mqr__queue_rec_t *r);

/* 1 when a whole valid record (magic, length within the buffer and
 * MQR_QUEUE_MAX_RECORD, known type, non-zero sequence, CRC started from
 * `seed`) starts at `off`, filling *out; else 0. Reads only buf[0..size).
 * `seed` is 0 in a version 1 segment, and mqr__crc32c(0, key, 8) (the
 * segment's key, 8 bytes little-endian) in a version 2 segment. */
int mqr__queue_record_check(const uint8_t *buf, size_t size, size_t off, uint32_t seed,
                            mqr__queue_rec_t *out);

/* Visit every valid record (CRC started from `seed`, as above) of
 * buf[off..size) in order, skipping invalid stretches to the next valid
 * record. Returns MQR_OK or the first non-OK status a visit returned (the
 * scan stops there). */
int mqr__queue_scan(const uint8_t *buf, size_t size, size_t off, uint32_t seed,
                    mqr__queue_visit_fn visit, void *ud, mqr__queue_scan_t *res);

#endif /* MQR_QUEUE_INT_H */
