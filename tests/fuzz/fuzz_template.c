/* SPDX-License-Identifier: MIT */
/*
 * fuzz_template.c - libFuzzer target for `${...}` templates.
 *
 * Input: template text, a NUL byte, then JSON text for the output value (an
 * empty or invalid JSON part renders with a NULL output). The target compiles
 * the template, asks for the size, renders into a buffer of exactly that size
 * and one byte short (which must say MQR_EBUFFER and the same size), renders again through the sbuf path, and checks that
 * all agree. Any disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule/json.h"
#include "mqttrule/template.h"
#include "template_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    const char *json = nul ? (const char *)nul + 1 : "";
    size_t jlen = nul ? size - tlen - 1 : 0;

    mqr_arena_t *arena = NULL;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return 0;
    mqr_value_t out;
    const mqr_value_t *outp = NULL;
    if (mqr_json_parse(arena, json, jlen, 0, &out, NULL) == MQR_OK)
        outp = &out;

    mqr_template_t *t = NULL;
    if (mqr_template_compile(text, tlen, NULL, &t, NULL) != MQR_OK)
        abort();
    if (mqr_template_placeholder_count(t) > tlen / 3)
        abort(); /* every placeholder takes at least "${}" */

    size_t need = 0, len = 0;
    int rc = mqr_template_render(t, outp, 0, NULL, 0, &need);
    if (rc == MQR_ELIMIT)
        goto done;
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        abort();
    if ((rc == MQR_OK) != (need == 0))
        abort();
    char *buf = malloc(need + 1);
    if (!buf)
        abort();
    if (mqr_template_render(t, outp, 0, buf, need, &len) != MQR_OK || len != need)
        abort();
    if (need > 0) {
        char *shorter = malloc(need - 1 ? need - 1 : 1);
        if (!shorter ||
            mqr_template_render(t, outp, 0, shorter, need - 1, &len) != MQR_EBUFFER ||
            len != need)
            abort();
        free(shorter);
    }
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    if (mqr__template_render_sbuf(t, outp, 0, arena, &b) != MQR_OK || b.len != need ||
        (need && memcmp(b.p, buf, need) != 0))
        abort();
    mqr__sbuf_free(&b);
    free(buf);
done:
    mqr_template_free(t);
    mqr_arena_destroy(arena);
    return 0;
}
