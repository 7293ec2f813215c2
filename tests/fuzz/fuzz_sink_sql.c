/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sink_sql.c - libFuzzer target for the sinks' SQL templates
 * (sinks/sink_template.c): placeholders cut out of a statement and turned
 * into bound parameters, and the encoding of a rule output as parameters.
 *
 * Input: SQL text, a NUL byte, then JSON text for the output value. The
 * target parses the SQL in both marker styles; when it is accepted, there
 * are at most one field per 3 bytes (`${}` is the shortest placeholder), the
 * marked statement is no longer than the bound its buffer was sized for and
 * parses again without trouble (it may hold `${` made from `${$}`: that is
 * SQL text for the database, not a template), and the output is rendered
 * into parameters that must decode back to the same number of parameters
 * whose strings lie inside the encoded bytes, and not from one byte less.
 * Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_style(const char *sql, int style, const mqr_value_t *out, mqr_arena_t *arena)
{
    char *text = NULL;
    sink_fields_t f = {0, NULL, NULL};
    if (mqr__sink_sql_parse(sql, style, &text, &f, NULL) != MQR_OK)
        return;
    size_t slen = strlen(sql);
    if (f.n > slen / 3 || strlen(text) > slen * 4)
        abort();
    char *again = NULL;
    sink_fields_t g = {0, NULL, NULL};
    if (mqr__sink_sql_parse(text, style, &again, &g, NULL) == MQR_OK) {
        free(again);
        mqr__sink_fields_free(&g);
    }
    const void *enc = NULL;
    size_t len = 0;
    if (mqr__sink_render(&f, out, arena, &enc, &len, NULL) == MQR_OK) {
        sink_param_t *p = calloc(f.n + 1, sizeof *p);
        if (p == NULL || mqr__sink_decode(enc, len, p, f.n) != MQR_OK)
            abort();
        for (uint32_t i = 0; i < f.n; i++) {
            if ((p[i].type == SINK_P_TEXT || p[i].type == SINK_P_JSON) &&
                (p[i].s < (const char *)enc || p[i].s + p[i].len > (const char *)enc + len))
                abort();
            char buf[32];
            const char *t;
            size_t tl;
            mqr__sink_param_text(&p[i], buf, &t, &tl);
        }
        if (f.n > 0 && mqr__sink_decode(enc, len - 1, p, f.n) == MQR_OK)
            abort(); /* one byte short must not decode */
        free(p);
    }
    free(text);
    mqr__sink_fields_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    const char *json = nul ? (const char *)nul + 1 : "";
    size_t jlen = nul ? size - slen - 1 : 0;
    char *sql = malloc(slen + 1);
    mqr_arena_t *arena = NULL;
    if (sql == NULL || mqr_arena_create(NULL, 0, &arena) != MQR_OK) {
        free(sql);
        return 0;
    }
    memcpy(sql, data, slen);
    sql[slen] = '\0';
    mqr_value_t out;
    const mqr_value_t *outp = NULL;
    if (mqr_json_parse(arena, json, jlen, 0, &out, NULL) == MQR_OK)
        outp = &out;
    check_style(sql, SINK_SQL_QMARK, outp, arena);
    check_style(sql, SINK_SQL_DOLLAR, outp, arena);
    mqr_arena_destroy(arena);
    free(sql);
    return 0;
}
