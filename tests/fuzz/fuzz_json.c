/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json.c - libFuzzer target for the JSON reader and writer.
 *
 * 1. The input as JSON text: if it parses, writing it must succeed with
 *    exactly the size the size query reported, re-parsing the output must
 *    succeed, the two values must be exactly equal, and writing the second
 *    must give the same bytes (the writer is canonical).
 * 2. The input as a raw string value: the writer must produce JSON the
 *    reader accepts (invalid UTF-8 is repaired, never passed through).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "value_int.h"

#define CHECK(x)          \
    do {                  \
        if (!(x))         \
            __builtin_trap(); \
    } while (0)

/* Write v into a fresh heap buffer of exactly the reported size. */
static char *write_exact(const mqr_value_t *v, size_t *len)
{
    size_t need = 0;
    int rc = mqr_json_write(v, 0, NULL, 0, &need);
    CHECK(rc == MQR_EBUFFER && need > 0);
    char *buf = malloc(need);
    CHECK(buf != NULL);
    size_t got = 0;
    CHECK(mqr_json_write(v, 0, buf, need, &got) == MQR_OK);
    CHECK(got == need);
    CHECK(mqr_json_write(v, 0, buf, need - 1, &got) == MQR_EBUFFER && got == need);
    *len = need;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return 0;
    const char *text = (const char *)data;
    mqr_value_t v, w;
    mqr_diag_t diag;
    int rc = mqr_json_parse(arena, text, size, 0, &v, &diag);
    if (rc == MQR_OK) {
        size_t n1, n2;
        char *out1 = write_exact(&v, &n1);
        CHECK(mqr_json_parse(arena, out1, n1, 0, &w, NULL) == MQR_OK);
        CHECK(mqr__value_exact_equal(&v, &w));
        CHECK(mqr__value_compare(&v, &w) == 0);
        char *out2 = write_exact(&w, &n2);
        CHECK(n1 == n2 && memcmp(out1, out2, n1) == 0);
        mqr__sbuf_t t;
        mqr__sbuf_init_arena(&t, arena);
        mqr__value_to_text(&t, &v);
        CHECK(mqr__sbuf_status(&t) == MQR_OK);
        free(out1);
        free(out2);
    } else {
        CHECK(rc == MQR_EJSON || rc == MQR_ELIMIT);
        CHECK(diag.code == rc && diag.offset <= size);
    }
    mqr_value_t s;
    mqr_value_set_string(&s, size ? text : "", size);
    size_t n;
    char *out = write_exact(&s, &n);
    CHECK(mqr_json_parse(arena, out, n, 0, &w, NULL) == MQR_OK);
    CHECK(w.type == MQR_VAL_STRING);
    free(out);
    mqr_arena_destroy(arena);
    return 0;
}
