/* SPDX-License-Identifier: MIT */
/*
 * fuzz_journal.c - libFuzzer target for mqttrule-broker's journal replay
 * (examples/broker/journal.c, with the broker's files linked in by
 * tests/fuzz/CMakeLists.txt): arbitrary bytes replayed as broker.journal
 * over a fresh broker.
 *
 * The first input byte chooses how the rest is used:
 *   even: as the journal file itself (header, records), replayed with the
 *         generation its header names, so a seed taken from a real
 *         broker.journal reaches the records;
 *   odd:  as a list of record bodies, [u8 type][u16 length][body], framed
 *         into a journal of generation 7 with correct lengths, sequence
 *         numbers and CRC-32C, so the body parsers of every record type see
 *         arbitrary content (random bytes almost never pass a checksum).
 *         With bit 2 set the journal is of format version 2 (a key in the
 *         header, every record's CRC started from it), else version 1.
 *         When the byte has bit 1 set, the framed journal is cut at a
 *         position chosen by the next two bytes: a torn tail.
 * After the replay, every session is checked (in-flight packet ids unique
 * and non-zero, QoS 2 ids unique, queued bytes add up, the queue's and the
 * flight's messages set), then the timers run far in the future (expiry,
 * delayed wills) and everything is freed: ASan/LSan report any memory error
 * or leak.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_broker_util.h"

#define CHECK(x)                                                                             \
    do {                                                                                     \
        if (!(x))                                                                            \
            __builtin_trap();                                                                \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#define KEY 0x9E3779B9u

/* The header length of format version 1 (v2 0) or 2. */
static size_t head_len(int v2)
{
    return v2 ? 32 : 24;
}

/* Frame [type][u16 len][body]... from in[0..n) into a journal of generation
 * gen in out (room for all of it), format version 2 (with KEY) when v2, else
 * 1; returns its length. */
static size_t frame(const uint8_t *in, size_t n, uint64_t gen, int v2, uint8_t *out)
{
    size_t len = head_len(v2), pos = 0;
    uint32_t key = v2 ? KEY : 0;
    memcpy(out, "MQRBJRNL", 8);
    put32(out + 8, v2 ? 2 : 1);
    put32(out + 16, (uint32_t)gen);
    put32(out + 20, (uint32_t)(gen >> 32));
    if (v2) {
        put32(out + 24, key);
        put32(out + 28, 0);
    }
    put32(out + 12, mqr_crc32c(mqr_crc32c(0, out, 12), out + 16, len - 16));
    uint32_t seq = 0;
    while (pos + 3 <= n) {
        uint8_t type = in[pos];
        size_t bl = (size_t)in[pos + 1] | (size_t)in[pos + 2] << 8;
        pos += 3;
        if (bl > n - pos)
            bl = n - pos;
        uint8_t *r = out + len;
        put32(r, 0x4A52514Du);
        put32(r + 4, (uint32_t)bl);
        put32(r + 12, (uint32_t)gen);
        put32(r + 16, (uint32_t)(gen >> 32));
        put32(r + 20, ++seq);
        r[24] = type;
        memcpy(r + 25, in + pos, bl);
        put32(r + 8, mqr_crc32c(key, r + 12, 13 + bl));
        len += 25 + bl;
        pos += bl;
    }
    return len;
}

static void check_sessions(const broker_t *b)
{
    for (size_t i = 0; i < b->stab_size; i++) {
        for (const brk_session_t *s = b->stab[i]; s != NULL; s = s->hnext) {
            uint64_t qb = 0;
            for (uint32_t k = 0; k < s->nqueue; k++) {
                const brk_msg_t *m = s->queue[k].msg;
                CHECK(m != NULL && m->refs > 0);
                qb += (uint64_t)m->topic_len + m->payload_len + m->props_len;
            }
            CHECK(qb == s->queue_bytes);
            for (uint32_t k = 0; k < s->ninfl; k++) {
                CHECK(s->infl[k].pid != 0 && s->infl[k].msg != NULL);
                CHECK(s->infl[k].qos == 1 || s->infl[k].qos == 2);
                for (uint32_t l = k + 1; l < s->ninfl; l++)
                    CHECK(s->infl[k].pid != s->infl[l].pid);
            }
            for (uint32_t k = 0; k < s->nrx2; k++)
                for (uint32_t l = k + 1; l < s->nrx2; l++)
                    CHECK(s->rx2[k] != s->rx2[l]);
            CHECK(s->expiry_s != 0 && s->conn == NULL);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static broker_t b;
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    uint8_t *buf = NULL;
    const uint8_t *j = data;
    size_t len = size;
    uint64_t gen = 7;
    if (mode & 1) {
        size_t cut = 0;
        if ((mode & 2) && size >= 2) {
            cut = (size_t)data[0] | (size_t)data[1] << 8;
            data += 2;
            size -= 2;
        }
        int v2 = (mode & 4) != 0;
        size_t h = head_len(v2);
        buf = malloc(h + (size / 3 + 1) * 25 + size);
        if (buf == NULL)
            return 0;
        len = frame(data, size, gen, v2, buf);
        if (cut != 0 && len > h)
            len = h + cut % (len - h);
        j = buf;
    } else if (size >= 24) {
        gen = (uint64_t)data[16] | (uint64_t)data[17] << 8 | (uint64_t)data[18] << 16 |
              (uint64_t)data[19] << 24 | (uint64_t)data[20] << 32 | (uint64_t)data[21] << 40 |
              (uint64_t)data[22] << 48 | (uint64_t)data[23] << 56;
    }
    fz_broker_init(&b, NULL);
    brk_jr_replay_t st;
    (void)brk_journal_replay(&b, j, len, gen, &st);
    CHECK(st.nnotes <= sizeof st.notes / sizeof st.notes[0]);
    CHECK(st.torn <= 1);
    check_sessions(&b);
    fz_broker_free(&b);
    free(buf);
    return 0;
}
