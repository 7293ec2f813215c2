/* SPDX-License-Identifier: MIT */
/*
 * sink_template.c - templates of the sinks: SQL statements whose `${...}`
 * placeholders become bound parameters, and the encoding of a rule output
 * as typed parameters.
 *
 * mqr__sink_sql_parse cuts each placeholder out of the statement and puts
 * the database's parameter marker in its place (`?` or `$n`); the
 * placeholder becomes a compiled single-placeholder template
 * (mqttrule/template.h). The statement text therefore never contains data.
 *
 * mqr__sink_render evaluates the fields over a rule output and encodes the
 * typed values into one byte string (the bytes a custom action queues,
 * mqttrule/action.h): a 4-byte count, then per parameter a 16-byte head
 * (type, length, the integer or the double's bits) followed by its bytes.
 * mqr__sink_decode reads it back without copying. A value binds with the
 * type it has: integer, float, boolean, text (any bytes, NUL included),
 * JSON text for objects and arrays, NULL for undefined and null.
 */
#include "sink_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics ------------------------------------------------------------- */

void mqr__sink_diag(mqr_diag_t *diag, int code, const char *field, const char *fmt, ...)
{
    if (diag == NULL)
        return;
    diag->code = code;
    snprintf(diag->field, sizeof diag->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof diag->message, fmt, ap);
    va_end(ap);
}

/* ---- templates --------------------------------------------------------------- */

/* Length of the placeholder starting at s[0] == '$', s[1] == '{' (through its
 * '}'), or 0 when it is not one: mqttrule/template.h's syntax, a name of
 * [A-Za-z0-9._] characters, possibly empty. ${$} counts (it is a literal
 * '$'; *is_dollar says so). */
static size_t placeholder_len(const char *s, int *is_dollar)
{
    *is_dollar = s[2] == '$' && s[3] == '}';
    if (*is_dollar)
        return 4;
    size_t i = 2;
    while (s[i] == '.' || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
           (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))
        i++;
    return s[i] == '}' ? i + 1 : 0;
}

static int fields_push(sink_fields_t *f, const char *text, size_t len, mqr_diag_t *diag)
{
    mqr_template_t **t = realloc(f->tpl, (f->n + 1) * sizeof *t);
    if (t == NULL)
        return MQR_ENOMEM;
    f->tpl = t;
    uint8_t *is_id = realloc(f->is_id, f->n + 1);
    if (is_id == NULL)
        return MQR_ENOMEM;
    f->is_id = is_id;
    is_id[f->n] = len == sizeof SINK_ID_NAME + 2 && !memcmp(text, "${" SINK_ID_NAME "}", len);
    int rc = mqr_template_compile(text, len, NULL, &f->tpl[f->n], diag);
    if (rc != MQR_OK)
        return rc;
    f->n++;
    return MQR_OK;
}

/*
 * Cut the placeholders out of `sql`: *out_text (malloc'd, NUL-terminated)
 * receives the statement with each `${path}` replaced by `?` (style
 * SINK_SQL_QMARK) or `$n` (SINK_SQL_DOLLAR, n counting from 1), and
 * out_fields the compiled placeholders in order. `${$}` becomes a literal
 * '$'. Quoted strings, quoted identifiers and comments are copied as they
 * are; a placeholder inside a quoted string is refused (it would be the text
 * "?" rather than a parameter). Returns MQR_OK, MQR_EINVAL (NULL sql or out,
 * a placeholder inside quotes, with the byte offset in *diag) or
 * MQR_ENOMEM. On failure nothing is allocated.
 */
int mqr__sink_sql_parse(const char *sql, int style, char **out_text, sink_fields_t *out_fields,
                        mqr_diag_t *diag)
{
    if (sql == NULL || out_text == NULL || out_fields == NULL)
        return MQR_EINVAL;
    size_t len = strlen(sql);
    /* "$n" is at most 11 bytes where "${}" was at least 3. */
    char *out = malloc(len * 4 + 1);
    if (out == NULL)
        return MQR_ENOMEM;
    sink_fields_t f = {0, NULL, NULL};
    size_t o = 0;
    char quote = 0; /* '\'' or '"' while inside one */
    int rc = MQR_OK;
    for (size_t i = 0; i < len;) {
        char ch = sql[i];
        if (quote) {
            out[o++] = ch;
            i++;
            if (ch == quote)
                quote = 0; /* a doubled quote re-enters at once */
            else if (ch == '$' && sql[i] == '{') {
                int dollar;
                if (placeholder_len(sql + i - 1, &dollar) && !dollar) {
                    mqr__sink_diag(diag, MQR_EINVAL, "sql",
                                   "sql: placeholder at byte %zu is inside a quoted string; "
                                   "write it without quotes (it is bound as a parameter)",
                                   i - 1);
                    rc = MQR_EINVAL;
                    break;
                }
            }
            continue;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
            out[o++] = sql[i++];
        } else if (ch == '-' && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                out[o++] = sql[i++];
        } else if (ch == '/' && sql[i + 1] == '*') {
            const char *end = strstr(sql + i + 2, "*/");
            size_t stop = end ? (size_t)(end - sql) + 2 : len;
            while (i < stop)
                out[o++] = sql[i++];
        } else if (ch == '$' && sql[i + 1] == '{') {
            int dollar;
            size_t n = placeholder_len(sql + i, &dollar);
            if (n == 0) {
                out[o++] = sql[i++];
            } else if (dollar) {
                out[o++] = '$';
                i += n;
            } else {
                rc = fields_push(&f, sql + i, n, diag);
                if (rc != MQR_OK)
                    break;
                if (style == SINK_SQL_DOLLAR)
                    o += (size_t)sprintf(out + o, "$%u", f.n);
                else
                    out[o++] = '?';
                i += n;
            }
        } else {
            out[o++] = sql[i++];
        }
    }
    if (rc != MQR_OK) {
        free(out);
        mqr__sink_fields_free(&f);
        return rc;
    }
    out[o] = '\0';
    *out_text = out;
    *out_fields = f;
    return MQR_OK;
}

/* Compile n template texts (NULL entries compile as the empty text) into
 * *out. MQR_OK, MQR_ENOMEM, or a compile status with *diag; on failure
 * nothing stays allocated. */
int mqr__sink_fields_compile(const char *const *texts, uint32_t n, sink_fields_t *out,
                             mqr_diag_t *diag)
{
    sink_fields_t f = {0, NULL, NULL};
    for (uint32_t i = 0; i < n; i++) {
        const char *t = texts[i] ? texts[i] : "";
        int rc = fields_push(&f, t, strlen(t), diag);
        if (rc != MQR_OK) {
            mqr__sink_fields_free(&f);
            return rc;
        }
    }
    *out = f;
    return MQR_OK;
}

void mqr__sink_fields_free(sink_fields_t *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        mqr_template_free(f->tpl[i]);
    free(f->tpl);
    free(f->is_id);
    f->tpl = NULL;
    f->is_id = NULL;
    f->n = 0;
}

/* ---- encoding ------------------------------------------------------------------- */

#define PARAM_HEAD 16u

/* Field `tpl`'s value in `output` as a parameter in *p (bytes in arena). */
static int extract_one(mqr_arena_t *arena, const mqr_template_t *tpl, const mqr_value_t *output,
                       sink_param_t *p)
{
    memset(p, 0, sizeof *p);
    size_t need = 0;
    if (!mqr_template_is_single_placeholder(tpl)) {
        int rc = mqr_template_render(tpl, output, 0, NULL, 0, &need);
        if (rc != MQR_OK && rc != MQR_EBUFFER)
            return rc;
        char *buf = mqr_arena_alloc(arena, need + 1);
        if (buf == NULL)
            return MQR_ENOMEM;
        rc = mqr_template_render(tpl, output, 0, buf, need + 1, &need);
        if (rc != MQR_OK)
            return rc;
        p->type = SINK_P_TEXT;
        p->s = buf;
        p->len = (uint32_t)need;
        return MQR_OK;
    }
    mqr_value_t v;
    int rc = mqr_template_lookup(tpl, output, arena, &v);
    if (rc != MQR_OK)
        return rc;
    switch (v.type) {
    case MQR_VAL_BOOL:
        p->type = SINK_P_BOOL;
        p->i = v.u.b != 0;
        return MQR_OK;
    case MQR_VAL_INT:
        p->type = SINK_P_INT;
        p->i = v.u.i;
        return MQR_OK;
    case MQR_VAL_DOUBLE:
        p->type = SINK_P_DOUBLE;
        p->d = v.u.d;
        return MQR_OK;
    case MQR_VAL_STRING:
        p->type = SINK_P_TEXT;
        p->s = v.u.s;
        p->len = v.len;
        return MQR_OK;
    case MQR_VAL_ARRAY:
    case MQR_VAL_OBJECT: {
        rc = mqr_json_write(&v, 0, NULL, 0, &need);
        if (rc != MQR_OK && rc != MQR_EBUFFER)
            return rc;
        char *buf = mqr_arena_alloc(arena, need + 1);
        if (buf == NULL)
            return MQR_ENOMEM;
        rc = mqr_json_write(&v, 0, buf, need + 1, &need);
        if (rc != MQR_OK)
            return rc;
        p->type = SINK_P_JSON;
        p->s = buf;
        p->len = (uint32_t)need;
        return MQR_OK;
    }
    default:
        p->type = SINK_P_NULL;
        return MQR_OK;
    }
}

/*
 * Evaluate the fields over `output` and encode them (format above) into
 * *out_data, allocated in `arena`. Returns MQR_OK, or the template's status
 * with *diag naming the field (MQR_ENOMEM, MQR_ELIMIT).
 */
int mqr__sink_render(const sink_fields_t *f, const mqr_value_t *output, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    sink_param_t stack[16];
    sink_param_t *p = f->n <= 16 ? stack : mqr_arena_alloc(arena, f->n * sizeof *p);
    if (p == NULL)
        return MQR_ENOMEM;
    size_t total = 4;
    for (uint32_t i = 0; i < f->n; i++) {
        int rc = extract_one(arena, f->tpl[i], output, &p[i]);
        if (rc != MQR_OK) {
            mqr__sink_diag(diag, rc, "", "cannot render field %u: %s", i + 1, mqr_strerror(rc));
            return rc;
        }
        total += PARAM_HEAD + p[i].len;
    }
    unsigned char *buf = mqr_arena_alloc(arena, total);
    if (buf == NULL)
        return MQR_ENOMEM;
    memcpy(buf, &f->n, 4);
    size_t o = 4;
    for (uint32_t i = 0; i < f->n; i++) {
        uint32_t type = (uint32_t)p[i].type;
        memcpy(buf + o, &type, 4);
        memcpy(buf + o + 4, &p[i].len, 4);
        if (p[i].type == SINK_P_DOUBLE)
            memcpy(buf + o + 8, &p[i].d, 8);
        else
            memcpy(buf + o + 8, &p[i].i, 8);
        o += PARAM_HEAD;
        if (p[i].len > 0)
            memcpy(buf + o, p[i].s, p[i].len);
        o += p[i].len;
    }
    *out_data = buf;
    *out_len = total;
    return MQR_OK;
}

/* Decode n parameters from data (made by mqr__sink_render) into out; the
 * strings point into data. MQR_OK, or MQR_EINVAL when the bytes do not hold
 * exactly n well-formed parameters. */
int mqr__sink_decode(const void *data, size_t len, sink_param_t *out, uint32_t n)
{
    const unsigned char *b = data;
    uint32_t count;
    if (len < 4)
        return MQR_EINVAL;
    memcpy(&count, b, 4);
    if (count != n)
        return MQR_EINVAL;
    size_t o = 4;
    for (uint32_t i = 0; i < n; i++) {
        if (len - o < PARAM_HEAD)
            return MQR_EINVAL;
        uint32_t type;
        memcpy(&type, b + o, 4);
        memcpy(&out[i].len, b + o + 4, 4);
        out[i].type = (int32_t)type;
        out[i].i = 0;
        out[i].d = 0;
        if (type == SINK_P_DOUBLE)
            memcpy(&out[i].d, b + o + 8, 8);
        else
            memcpy(&out[i].i, b + o + 8, 8);
        o += PARAM_HEAD;
        if (len - o < out[i].len)
            return MQR_EINVAL;
        out[i].s = (const char *)b + o;
        o += out[i].len;
    }
    return o == len ? MQR_OK : MQR_EINVAL;
}

/*
 * The text form of a parameter, for protocols that carry every parameter as
 * text (PostgreSQL's text format, Kafka's bytes): strings and JSON as they
 * are (*out_s borrows p), numbers and booleans formatted into buf. NULL
 * gives *out_s NULL.
 */
void mqr__sink_param_text(const sink_param_t *p, char buf[32], const char **out_s,
                          size_t *out_len)
{
    int n;
    switch (p->type) {
    case SINK_P_NULL:
        *out_s = NULL;
        *out_len = 0;
        return;
    case SINK_P_BOOL:
        n = snprintf(buf, 32, "%s", p->i ? "true" : "false");
        break;
    case SINK_P_INT:
        n = snprintf(buf, 32, "%lld", (long long)p->i);
        break;
    case SINK_P_DOUBLE:
        n = snprintf(buf, 32, "%.17g", p->d);
        break;
    default:
        *out_s = p->s;
        *out_len = p->len;
        return;
    }
    *out_s = buf;
    *out_len = (size_t)n;
}
