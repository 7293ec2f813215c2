/* SPDX-License-Identifier: MIT */
/*
 * actions.c - the action types a rule block may use, and the factories that
 * turn an `action TYPE` block (a list of key/value options with their
 * file:line, collected by config.c) into an action of the rule engine.
 *
 * brk_action_types maps a TYPE to its factory. A factory walks the options,
 * refuses an unknown key or a bad value with "file:line: action TYPE: ...",
 * fills the library's configuration struct and adds the action to the
 * engine it is given. broker.h documents the factory contract; adding a type
 * is one line in the table and one factory in the type's own file.
 *
 * The option names are EMQX's (docs/broker.md lists each with its default):
 * republish takes topic, qos, retain, payload, user_properties (and fixed
 * user_property pairs), the MQTT 5 properties and direct_dispatch; http takes url, path, method, header,
 * body, the timeouts, TTL, retries, pool and buffer sizes and ssl.*.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker.h"

/* ---- the table of action types ------------------------------------------------------ */

static const brk_action_type_t brk_action_types[] = {
    {"republish", brk_action_republish},
    {"http", brk_action_http},
#ifdef BRK_WITH_SQLITE
    {"sqlite", brk_action_sqlite},
#endif
#ifdef BRK_WITH_PGSQL
    {"pgsql", brk_action_pgsql},
#endif
#ifdef BRK_WITH_KAFKA
    {"kafka", brk_action_kafka},
#endif
};

#define NTYPES (sizeof brk_action_types / sizeof brk_action_types[0])

const brk_action_type_t *brk_action_type_find(const char *name)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (!strcmp(brk_action_types[i].name, name))
            return &brk_action_types[i];
    return NULL;
}

const char *brk_action_type_names(void)
{
    static char names[256];
    if (names[0] == 0) {
        size_t len = 0;
        for (size_t i = 0; i < NTYPES && len < sizeof names; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                    brk_action_types[i].name);
    }
    return names;
}

/* ---- option helpers ---------------------------------------------------------------------- */

int brk_action_fail(brk_action_ctx_t *ctx, const brk_action_opt_t *o, const char *fmt, ...)
{
    const brk_action_cfg_t *a = ctx->action;
    const char *file = o ? o->file : a->file;
    unsigned line = o ? o->line : a->line;
    const char *what = a->is_fallback ? "fallback" : "action";
    int n = line > 0 ? snprintf(ctx->err, ctx->errcap, "%s:%u: %s %s: ", file, line, what, a->type)
                     : snprintf(ctx->err, ctx->errcap, "%s: %s %s: ", file, what, a->type);
    if (n < 0 || (size_t)n >= ctx->errcap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err + n, ctx->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

int brk_opt_u32(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t min, uint32_t max,
                uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(o->value, &end, 10);
    if (errno != 0 || end == o->value || *end != 0 || o->value[0] == '-' || v < min || v > max)
        return brk_action_fail(ctx, o, "%s must be a number in %u..%u, not '%s'", o->key, min,
                               max, o->value);
    *out = (uint32_t)v;
    return 0;
}

int brk_opt_bool(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t *out)
{
    if (brk_parse_bool(o->value, out) != 0)
        return brk_action_fail(ctx, o, "%s must be true or false, not '%s'", o->key, o->value);
    return 0;
}

int brk_opt_duration_ms(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t min,
                        uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (brk_parse_duration_ms(o->value, &v) != 0)
        return brk_action_fail(ctx, o, "%s must be a duration such as 500ms, 15s or 2m, not '%s'",
                               o->key, o->value);
    if (v < min || v > max)
        return brk_action_fail(ctx, o, "%s must be %u ms .. %u ms, not '%s'", o->key, min, max,
                               o->value);
    *out = (uint32_t)v;
    return 0;
}

int brk_opt_bytes(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    uint64_t v;
    if (brk_parse_bytes(o->value, &v) != 0)
        return brk_action_fail(ctx, o, "%s must be a size such as 512KB or 64MB, not '%s'", o->key,
                               o->value);
    if (v < min || v > max)
        return brk_action_fail(ctx, o, "%s must be %llu .. %llu bytes, not '%s'", o->key,
                               (unsigned long long)min, (unsigned long long)max, o->value);
    *out = v;
    return 0;
}

int brk_opt_readable(brk_action_ctx_t *ctx, const brk_action_opt_t *o)
{
    if (o->value[0] == 0)
        return brk_action_fail(ctx, o, "%s needs a file name", o->key);
    FILE *f = fopen(o->value, "r");
    if (f == NULL)
        return brk_action_fail(ctx, o, "%s %s: %s", o->key, o->value, strerror(errno));
    fclose(f);
    return 0;
}

/* The value of a template option that may be a constant: 1 when it has no
 * placeholder (then the factory checks it now), 0 when it is rendered per
 * message. */
static int is_constant(const char *v)
{
    return strstr(v, "${") == NULL;
}

/* ---- republish -------------------------------------------------------------------------------- */

/* Republish option names: EMQX's, with the MQTT 5 properties also accepted
 * as EMQX writes them under mqtt_properties. ORDER: the offsets match
 * mqr_republish_config_t's template fields. */
static const struct {
    const char *name;
    const char *alias;
    size_t off;
} republish_opts[] = {
    {"topic", NULL, offsetof(mqr_republish_config_t, topic)},
    {"payload", NULL, offsetof(mqr_republish_config_t, payload)},
    {"qos", NULL, offsetof(mqr_republish_config_t, qos)},
    {"retain", NULL, offsetof(mqr_republish_config_t, retain)},
    {"user_properties", NULL, offsetof(mqr_republish_config_t, user_properties)},
    {"payload_format_indicator", "mqtt_properties.Payload-Format-Indicator",
     offsetof(mqr_republish_config_t, payload_format_indicator)},
    {"message_expiry_interval", "mqtt_properties.Message-Expiry-Interval",
     offsetof(mqr_republish_config_t, message_expiry_interval)},
    {"content_type", "mqtt_properties.Content-Type",
     offsetof(mqr_republish_config_t, content_type)},
    {"response_topic", "mqtt_properties.Response-Topic",
     offsetof(mqr_republish_config_t, response_topic)},
    {"correlation_data", "mqtt_properties.Correlation-Data",
     offsetof(mqr_republish_config_t, correlation_data)},
    {"direct_dispatch", NULL, offsetof(mqr_republish_config_t, direct_dispatch)},
};

/* Check a constant value of a republish option that has a range. */
static int republish_check_const(brk_action_ctx_t *ctx, const brk_action_opt_t *o)
{
    uint32_t u;
    const char *k = o->key;
    if (!is_constant(o->value))
        return 0;
    if (!strcmp(k, "topic")) {
        mqr_diag_t d;
        mqr_diag_clear(&d);
        if (mqr_topic_validate_name(o->value, strlen(o->value), &d) != MQR_OK)
            return brk_action_fail(ctx, o, "topic '%s' is not a valid topic name: %s", o->value,
                                   d.message[0] ? d.message : "wildcards are not allowed");
    } else if (!strcmp(k, "qos")) {
        return brk_opt_u32(ctx, o, 0, 2, &u);
    } else if (!strcmp(k, "retain") || !strcmp(k, "direct_dispatch")) {
        return brk_opt_bool(ctx, o, &u);
    } else if (strstr(k, "ayload_format_indicator") || strstr(k, "Payload-Format")) {
        return brk_opt_u32(ctx, o, 0, 1, &u);
    } else if (strstr(k, "essage_expiry_interval") || strstr(k, "Message-Expiry")) {
        return brk_opt_u32(ctx, o, 0, UINT32_MAX, &u);
    } else if (!strcmp(k, "user_properties")) {
        return brk_action_fail(ctx, o, "user_properties must be one ${...} placeholder "
                                       "(fixed pairs: user_property KEY VALUE)");
    }
    return 0;
}

/* `user_property KEY VALUE`: one fixed pair (plain text, not a template). */
static int fixed_user_property(brk_action_ctx_t *ctx, const brk_action_opt_t *o,
                               mqr_user_property_t **ups, uint32_t *n)
{
    const char *v = o->value;
    size_t kl = strcspn(v, " \t");
    const char *val = v + kl;
    while (*val == ' ' || *val == '\t')
        val++;
    if (kl == 0)
        return brk_action_fail(ctx, o, "user_property needs KEY VALUE");
    *ups = brk_xrealloc(*ups, (*n + 1) * sizeof **ups);
    (*ups)[(*n)++] = (mqr_user_property_t){v, kl, val, strlen(val)};
    return 0;
}

int brk_action_republish(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    mqr_republish_config_t rc;
    mqr_user_property_t *ups = NULL;
    uint32_t nups = 0;
    memset(&rc, 0, sizeof rc);
    for (size_t i = 0; i < a->nopts; i++) {
        const brk_action_opt_t *o = &a->opts[i];
        if (!strcmp(o->key, "user_property")) {
            if (fixed_user_property(ctx, o, &ups, &nups) != 0)
                goto fail;
            continue;
        }
        size_t k = 0;
        while (k < sizeof republish_opts / sizeof republish_opts[0] &&
               strcmp(republish_opts[k].name, o->key) != 0 &&
               (republish_opts[k].alias == NULL || strcmp(republish_opts[k].alias, o->key) != 0))
            k++;
        if (k == sizeof republish_opts / sizeof republish_opts[0]) {
            brk_action_fail(ctx, o, "unknown option '%s' (see docs/broker.md)", o->key);
            goto fail;
        }
        if (republish_check_const(ctx, o) != 0)
            goto fail;
        *(const char **)(void *)((char *)&rc + republish_opts[k].off) = o->value;
    }
    if (rc.topic == NULL || rc.topic[0] == 0) {
        brk_action_fail(ctx, NULL, "needs a topic");
        goto fail;
    }
    rc.fixed_user_property_count = nups;
    rc.fixed_user_properties = ups;
    /* EMQX's default (spec §9.1): a `user_properties` column of the output
     * becomes the message's User-Property list */
    if (rc.user_properties == NULL)
        rc.user_properties = "${user_properties}";
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int st = mqr_engine_action_add_republish(ctx->engine, ctx->rule_id, &rc, &out->id, &d);
    if (st != MQR_OK) {
        brk_action_fail(ctx, NULL, "%s", d.message[0] ? d.message : mqr_strerror(st));
        goto fail;
    }
    free(ups);
    out->kind = MQR_ACTION_REPUBLISH;
    snprintf(out->target, sizeof out->target, "topic %s", rc.topic);
    return 0;
fail:
    free(ups);
    return -1;
}

/* ---- http ---------------------------------------------------------------------------------------- */

/* Headers of one HTTP action: the name and value of each `header NAME VALUE`. */
typedef struct {
    mqr_http_header_t *h;
    uint32_t n;
} headers_t;

static int http_header(brk_action_ctx_t *ctx, const brk_action_opt_t *o, headers_t *hs)
{
    const char *v = o->value;
    size_t nl = strcspn(v, " \t");
    const char *val = v + nl;
    while (*val == ' ' || *val == '\t')
        val++;
    if (nl == 0 || *val == 0)
        return brk_action_fail(ctx, o, "header needs NAME VALUE");
    mqr_diag_t d;
    mqr_diag_clear(&d);
    if (mqr_http_header_check(v, nl, val, strlen(val), &d) != MQR_OK)
        return brk_action_fail(ctx, o, "header: %s", d.message);
    hs->h = brk_xrealloc(hs->h, (hs->n + 1) * sizeof *hs->h);
    hs->h[hs->n++] = (mqr_http_header_t){v, nl, val, strlen(val)};
    return 0;
}

static int http_method(brk_action_ctx_t *ctx, const brk_action_opt_t *o, int32_t *out)
{
    static const char *const names[] = {"post", "put", "get", "delete"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(o->value, names[i])) {
            *out = MQR_HTTP_POST + i;
            return 0;
        }
    return brk_action_fail(ctx, o, "method must be post, put, get or delete, not '%s'", o->value);
}

/* One option of an HTTP action into hc / hs. 0 or -1. */
static int http_opt(brk_action_ctx_t *ctx, const brk_action_opt_t *o,
                    mqr_http_action_config_t *hc, headers_t *hs, int *ssl_enable)
{
    mqr_http_config_t *c = &hc->http;
    const char *k = o->key;
    uint32_t u;
    uint64_t big = 0;
    if (!strcmp(k, "url")) {
        mqr_diag_t d;
        mqr_diag_clear(&d);
        if (mqr_http_url_check(o->value, &d) != MQR_OK)
            return brk_action_fail(ctx, o, "url '%s': %s", o->value, d.message);
        c->url = o->value;
    } else if (!strcmp(k, "path")) {
        hc->path = o->value;
    } else if (!strcmp(k, "method")) {
        return http_method(ctx, o, &hc->method);
    } else if (!strcmp(k, "header") || !strcmp(k, "headers")) {
        return http_header(ctx, o, hs);
    } else if (!strcmp(k, "body")) {
        hc->body = o->value;
    } else if (!strcmp(k, "pool_size")) {
        return brk_opt_u32(ctx, o, 1, MQR_HTTP_MAX_POOL_SIZE, &c->pool_size);
    } else if (!strcmp(k, "connect_timeout")) {
        return brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c->connect_timeout_ms);
    } else if (!strcmp(k, "request_timeout")) {
        return brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c->request_timeout_ms);
    } else if (!strcmp(k, "request_ttl")) {
        return brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c->ttl_ms);
    } else if (!strcmp(k, "retry_backoff")) {
        return brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c->backoff_initial_ms);
    } else if (!strcmp(k, "retry_backoff_max")) {
        return brk_opt_duration_ms(ctx, o, 1, UINT32_MAX, &c->backoff_max_ms);
    } else if (!strcmp(k, "max_retries")) {
        if (brk_opt_u32(ctx, o, 0, 1000000, &u) != 0)
            return -1;
        c->max_attempts = u + 1;
    } else if (!strcmp(k, "max_buffer_messages")) {
        return brk_opt_u32(ctx, o, 1, UINT32_MAX, &c->max_queue_count);
    } else if (!strcmp(k, "max_buffer_bytes")) {
        if (brk_opt_bytes(ctx, o, 1, UINT64_MAX, &big) != 0)
            return -1;
        c->max_queue_bytes = big;
    } else if (!strcmp(k, "max_response_head")) {
        if (brk_opt_bytes(ctx, o, 256, UINT32_MAX, &big) != 0)
            return -1;
        c->max_response_head = (uint32_t)big;
    } else if (!strcmp(k, "ssl.enable")) {
        if (brk_opt_bool(ctx, o, &u) != 0)
            return -1;
        *ssl_enable = (int)u;
    } else if (!strcmp(k, "ssl.verify")) {
        if (!strcmp(o->value, "verify_peer"))
            c->tls_insecure = 0;
        else if (!strcmp(o->value, "verify_none"))
            c->tls_insecure = 1;
        else
            return brk_action_fail(ctx, o, "ssl.verify must be verify_peer or verify_none, not '%s'",
                                   o->value);
    } else if (!strcmp(k, "ssl.cacertfile")) {
        if (brk_opt_readable(ctx, o) != 0)
            return -1;
        c->ca_file = o->value;
    } else if (!strcmp(k, "ssl.certfile")) {
        if (brk_opt_readable(ctx, o) != 0)
            return -1;
        c->cert_file = o->value;
    } else if (!strcmp(k, "ssl.keyfile")) {
        if (brk_opt_readable(ctx, o) != 0)
            return -1;
        c->key_file = o->value;
    } else {
        return brk_action_fail(ctx, o, "unknown option '%s' (see docs/broker.md)", k);
    }
    return 0;
}

int brk_action_http(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out)
{
    static const mqr_http_header_t json_ct = {"content-type", 12, "application/json", 16};
    mqr_http_action_config_t hc;
    headers_t hs = {NULL, 0};
    int ssl_enable = -1;
    memset(&hc, 0, sizeof hc);
    mqr_http_config_init(&hc.http);
    hc.http.header_count = 1;
    hc.http.headers = &json_ct;
    hc.http.max_queue_count = ctx->cfg->http_max_queue;
    hc.http.request_timeout_ms = ctx->cfg->http_timeout_ms;
    hc.http.connect_timeout_ms = ctx->cfg->http_timeout_ms;
    int rc = 0;
    for (size_t i = 0; i < a->nopts && rc == 0; i++)
        rc = http_opt(ctx, &a->opts[i], &hc, &hs, &ssl_enable);
    if (rc == 0 && hc.http.url == NULL)
        rc = brk_action_fail(ctx, NULL, "needs a url");
    if (rc == 0 && ssl_enable >= 0 && ssl_enable != !strncasecmp(hc.http.url, "https:", 6))
        rc = brk_action_fail(ctx, NULL, "ssl.enable %s does not match the url '%s' (TLS is "
                                        "https://)", ssl_enable ? "true" : "false", hc.http.url);
    if (rc == 0) {
        hc.header_count = hs.n;
        hc.headers = hs.h;
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int st = mqr_engine_action_add_http(ctx->engine, ctx->rule_id, &hc, &out->id, &d);
        if (st != MQR_OK)
            rc = brk_action_fail(ctx, NULL, "%s: %s", hc.http.url,
                                 d.message[0] ? d.message : mqr_strerror(st));
    }
    if (rc == 0) {
        out->kind = MQR_ACTION_HTTP;
        snprintf(out->target, sizeof out->target, "%s", hc.http.url);
    }
    free(hs.h);
    return rc;
}
