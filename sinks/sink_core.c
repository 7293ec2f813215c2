/* SPDX-License-Identifier: MIT */
/*
 * sink_core.c - the machinery the SQLite, PostgreSQL and Kafka sinks share.
 *
 * Templates: a SQL statement's `${...}` placeholders are cut out of the text
 * and replaced by the database's parameter marker; each becomes a compiled
 * single-placeholder template (mqttrule/template.h) whose value is looked up
 * in the rule output and bound with a type that follows the value (text,
 * integer, float, boolean, NULL, JSON text for objects and arrays). The
 * statement text therefore never contains data.
 *
 * Records: the sink is attached to its rule as a callback action. Each
 * output is extracted into typed parameters in a scratch arena, then either
 * handed on at once (Kafka's producer queues it) or copied into one heap
 * block per record and appended to a bounded FIFO. The sink takes batches
 * from the head (expired records are dropped on the way, counted), writes
 * them, and for each record reports success or failure; a batch that could
 * not be written at all goes back to the head and the sink waits, doubling
 * the wait from backoff_min_ms to backoff_max_ms.
 *
 * Metrics follow mqr_action_metrics_t: matched = success + failed + dropped
 * + queuing + inflight at every return to the host.
 */
#include "sink_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void vlog(sink_core_t *c, int32_t level, const char *fmt, va_list ap)
{
    char msg[MQR_DIAG_MESSAGE_MAX + 64];
    int n = snprintf(msg, sizeof msg, "%s action %u: ", c->kind, c->action_id);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    if (c->log != NULL)
        c->log(c->log_ud, level, msg);
}

/* Log a message at `level` through the host's log function (if any). */
void mqr__sink_core_log(sink_core_t *c, int32_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(c, level, fmt, ap);
    va_end(ap);
}

/* Record an error: it becomes the sink's last error (with the wall-clock
 * time), is counted and goes to the host's log. */
void mqr__sink_core_error(sink_core_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->last_error_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    c->errors++;
    if (c->log != NULL) {
        char msg[MQR_DIAG_MESSAGE_MAX + 64];
        snprintf(msg, sizeof msg, "%s action %u: %s", c->kind, c->action_id, c->last_error);
        c->log(c->log_ud, MQR_SINK_LOG_ERROR, msg);
    }
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
    sink_fields_t f = {0, NULL};
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
    sink_fields_t f = {0, NULL};
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
    f->tpl = NULL;
    f->n = 0;
}

/*
 * The text form of a parameter, for protocols that carry every parameter as
 * text (PostgreSQL's text format, Kafka's bytes): strings and JSON as they
 * are (*out_s borrows p), numbers and booleans formatted into buf (cap >= 32).
 * NULL gives *out_s NULL. Returns MQR_OK.
 */
int mqr__sink_param_text(const sink_param_t *p, char *buf, size_t cap, const char **out_s,
                         size_t *out_len)
{
    int n = 0;
    switch (p->type) {
    case SINK_P_NULL:
        *out_s = NULL;
        *out_len = 0;
        return MQR_OK;
    case SINK_P_BOOL:
        n = snprintf(buf, cap, "%s", p->i ? "true" : "false");
        break;
    case SINK_P_INT:
        n = snprintf(buf, cap, "%lld", (long long)p->i);
        break;
    case SINK_P_DOUBLE:
        n = snprintf(buf, cap, "%.17g", p->d);
        break;
    default:
        *out_s = p->s;
        *out_len = p->len;
        return MQR_OK;
    }
    *out_s = buf;
    *out_len = (size_t)n;
    return MQR_OK;
}

/* ---- extraction ------------------------------------------------------------------ */

/* Field `tpl`'s value in `output` as a parameter in *p (bytes in c->arena). */
static int extract_one(sink_core_t *c, const mqr_template_t *tpl, const mqr_value_t *output,
                       sink_param_t *p)
{
    memset(p, 0, sizeof *p);
    size_t need = 0;
    if (!mqr_template_is_single_placeholder(tpl)) {
        int rc = mqr_template_render(tpl, output, 0, NULL, 0, &need);
        if (rc != MQR_OK && rc != MQR_EBUFFER)
            return rc;
        char *buf = mqr_arena_alloc(c->arena, need + 1);
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
    int rc = mqr_template_lookup(tpl, output, c->arena, &v);
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
        char *buf = mqr_arena_alloc(c->arena, need + 1);
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

/* Copy n parameters (and their bytes) into one heap record. NULL when out
 * of memory. */
static sink_rec_t *rec_copy(const sink_param_t *p, uint32_t n, uint64_t now_ms)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        if (p[i].type == SINK_P_TEXT || p[i].type == SINK_P_JSON)
            bytes += p[i].len;
    sink_rec_t *r = malloc(sizeof *r + n * sizeof *p + bytes + 1);
    if (r == NULL)
        return NULL;
    r->next = NULL;
    r->enq_ms = now_ms;
    r->attempts = 0;
    r->nparams = n;
    r->bytes = bytes;
    char *dst = (char *)(r->p + n);
    for (uint32_t i = 0; i < n; i++) {
        r->p[i] = p[i];
        if (p[i].type == SINK_P_TEXT || p[i].type == SINK_P_JSON) {
            if (p[i].len > 0)
                memcpy(dst, p[i].s, p[i].len);
            r->p[i].s = dst;
            dst += p[i].len;
        }
    }
    return r;
}

/*
 * One rule output: extract the fields and queue the record (or hand it to
 * on_output). Counts matched and the outcome of anything that does not end
 * queued. Returns MQR_OK when the record was queued or handed on, else the
 * reason (the engine then counts the callback action as failed).
 */
int mqr__sink_core_extract(sink_core_t *c, const mqr_value_t *output)
{
    c->m.matched++;
    mqr_arena_reset(c->arena);
    for (uint32_t i = 0; i < c->fields.n; i++) {
        int rc = extract_one(c, c->fields.tpl[i], output, &c->scratch[i]);
        if (rc != MQR_OK) {
            c->m.failed++;
            mqr__sink_core_error(c, "cannot render field %u: %s", i + 1, mqr_strerror(rc));
            return rc;
        }
    }
    if (c->on_output != NULL)
        return c->on_output(c->impl, c->scratch, c->fields.n);
    size_t bytes = 0;
    for (uint32_t i = 0; i < c->fields.n; i++)
        bytes += c->scratch[i].len;
    if (c->count >= c->q.max_queue_count || c->bytes + bytes > c->q.max_queue_bytes) {
        c->m.dropped++;
        c->m.dropped_queue_full++;
        if (c->m.dropped_queue_full == 1 || (c->m.dropped_queue_full & 1023u) == 0)
            mqr__sink_core_error(c, "queue full (%zu records, %zu bytes): %llu dropped so far",
                                 c->count, c->bytes,
                                 (unsigned long long)c->m.dropped_queue_full);
        return MQR_ELIMIT;
    }
    sink_rec_t *r = rec_copy(c->scratch, c->fields.n, mqr_http_now_ms());
    if (r == NULL) {
        c->m.dropped++;
        c->m.dropped_other++;
        mqr__sink_core_error(c, "out of memory: record dropped");
        return MQR_ENOMEM;
    }
    if (c->tail != NULL)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->count++;
    c->bytes += r->bytes;
    c->m.queuing++;
    return MQR_OK;
}

/* ---- the queue --------------------------------------------------------------------- */

/*
 * Take up to `max` records from the head as a list (oldest first), dropping
 * (and counting) those whose time to live has passed. *out_n receives the
 * number taken. The records count as inflight until mqr__sink_core_done or
 * mqr__sink_core_requeue.
 */
sink_rec_t *mqr__sink_core_take(sink_core_t *c, uint64_t now_ms, uint32_t max, uint32_t *out_n)
{
    sink_rec_t *first = NULL, *last = NULL;
    uint32_t n = 0;
    uint64_t expired = 0;
    while (c->head != NULL && n < max) {
        sink_rec_t *r = c->head;
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->count--;
        c->bytes -= r->bytes;
        c->m.queuing--;
        r->next = NULL;
        if (c->q.ttl_ms != UINT32_MAX && now_ms >= r->enq_ms + c->q.ttl_ms) {
            c->m.dropped++;
            c->m.dropped_expired++;
            expired++;
            free(r);
            continue;
        }
        if (last != NULL)
            last->next = r;
        else
            first = r;
        last = r;
        n++;
    }
    if (expired > 0)
        mqr__sink_core_error(c, "%llu records expired (ttl %u ms) before they could be written",
                             (unsigned long long)expired, c->q.ttl_ms);
    c->m.inflight += n;
    *out_n = n;
    return first;
}

/* Put a list of inflight records back at the head of the queue, in order,
 * each counted as retried. */
void mqr__sink_core_requeue(sink_core_t *c, sink_rec_t *batch, uint64_t now_ms)
{
    (void)now_ms;
    if (batch == NULL)
        return;
    sink_rec_t *last = batch;
    size_t n = 0;
    for (sink_rec_t *r = batch; r != NULL; r = r->next) {
        r->attempts++;
        c->bytes += r->bytes;
        n++;
        last = r;
    }
    last->next = c->head;
    if (c->head == NULL)
        c->tail = last;
    c->head = batch;
    c->count += n;
    c->m.inflight -= n;
    c->m.queuing += n;
    c->m.retried += n;
}

/* One inflight record is finished: written (ok 1) or refused (ok 0). Frees it. */
void mqr__sink_core_done(sink_core_t *c, sink_rec_t *rec, int ok)
{
    c->m.inflight--;
    if (ok)
        c->m.success++;
    else
        c->m.failed++;
    free(rec);
}

/* Wait before the next attempt: backoff_min_ms at first, doubling up to
 * backoff_max_ms. */
void mqr__sink_core_backoff(sink_core_t *c, uint64_t now_ms)
{
    if (c->backoff_ms == 0)
        c->backoff_ms = c->q.backoff_min_ms;
    else if (c->backoff_ms < c->q.backoff_max_ms / 2)
        c->backoff_ms *= 2;
    else
        c->backoff_ms = c->q.backoff_max_ms;
    c->retry_at = now_ms + c->backoff_ms;
}

/* A write went through: no more waiting. */
void mqr__sink_core_healthy(sink_core_t *c)
{
    c->backoff_ms = 0;
    c->retry_at = 0;
}

/* Milliseconds until the queue wants work done: -1 when it is empty, 0
 * now, or the time left of the backoff. */
int64_t mqr__sink_core_timeout(const sink_core_t *c, uint64_t now_ms)
{
    if (c->head == NULL)
        return -1;
    if (c->retry_at > now_ms)
        return (int64_t)(c->retry_at - now_ms);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* Fill the defaults of q into c->q; set up the scratch arena. MQR_OK or
 * MQR_ENOMEM. c must be zeroed and c->fields set. */
int mqr__sink_core_init(sink_core_t *c, const char *kind, const mqr_sink_queue_config_t *q,
                        mqr_sink_log_fn log, void *log_ud, mqr_diag_t *diag)
{
    c->kind = kind;
    c->log = log;
    c->log_ud = log_ud;
    if (q != NULL)
        c->q = *q;
    if (c->q.max_queue_count == 0)
        c->q.max_queue_count = MQR_SINK_DEFAULT_QUEUE_COUNT;
    if (c->q.max_queue_bytes == 0)
        c->q.max_queue_bytes = MQR_SINK_DEFAULT_QUEUE_BYTES;
    if (c->q.batch_size == 0)
        c->q.batch_size = MQR_SINK_DEFAULT_BATCH;
    if (c->q.ttl_ms == 0)
        c->q.ttl_ms = MQR_SINK_DEFAULT_TTL_MS;
    if (c->q.backoff_min_ms == 0)
        c->q.backoff_min_ms = MQR_SINK_DEFAULT_BACKOFF_MIN_MS;
    if (c->q.backoff_max_ms == 0)
        c->q.backoff_max_ms = MQR_SINK_DEFAULT_BACKOFF_MAX_MS;
    if (c->q.backoff_max_ms < c->q.backoff_min_ms)
        c->q.backoff_max_ms = c->q.backoff_min_ms;
    c->m.kind = MQR_ACTION_CALLBACK;
    c->scratch = calloc(c->fields.n ? c->fields.n : 1, sizeof *c->scratch);
    if (c->scratch == NULL || mqr_arena_create(NULL, 4096, &c->arena) != MQR_OK) {
        mqr__sink_diag(diag, MQR_ENOMEM, "", "%s sink: out of memory", kind);
        return MQR_ENOMEM;
    }
    return MQR_OK;
}

static int on_callback(void *ud, const char *rule_id, const char *json, size_t json_len,
                       const mqr_value_t *output)
{
    (void)rule_id;
    (void)json;
    (void)json_len;
    return mqr__sink_core_extract(ud, output);
}

/* Attach the sink to rule `rule_id` as a callback action. */
int mqr__sink_core_attach(sink_core_t *c, mqr_engine_t *engine, const char *rule_id,
                          mqr_diag_t *diag)
{
    int rc = mqr_engine_action_add_callback(engine, rule_id, on_callback, c, &c->action_id, diag);
    if (rc == MQR_OK)
        c->engine = engine;
    return rc;
}

/* Detach from the engine, drop (counting) what is still queued, free
 * everything the core owns. Inflight records belong to the sink, which
 * must finish or requeue them first. */
void mqr__sink_core_destroy(sink_core_t *c)
{
    if (c->engine != NULL)
        (void)mqr_engine_action_remove(c->engine, c->action_id);
    c->engine = NULL;
    uint64_t lost = 0;
    while (c->head != NULL) {
        sink_rec_t *r = c->head;
        c->head = r->next;
        free(r);
        lost++;
    }
    c->tail = NULL;
    c->m.dropped += lost;
    c->m.dropped_other += lost;
    c->m.queuing = 0;
    c->count = 0;
    c->bytes = 0;
    if (lost > 0)
        mqr__sink_core_error(c, "destroyed with %llu records unwritten (dropped)",
                             (unsigned long long)lost);
    mqr__sink_fields_free(&c->fields);
    mqr_arena_destroy(c->arena);
    c->arena = NULL;
    free(c->scratch);
    c->scratch = NULL;
}
