/* SPDX-License-Identifier: MIT */
/*
 * admin_rules.c - rules made, changed or deleted through the REST API, and
 * the one view of "the rules the broker runs" that the API, the $SYS topics,
 * Prometheus and the live page read.
 *
 * The configuration file's rules (b->cfg.rules, loaded by rules.c) are
 * overlaid by the API's records (brk_admin_t.api_rules): each record holds
 * a rule's whole definition as the API last set it, or a tombstone for a
 * file rule the API deleted. A record with the id of a file rule replaces
 * that rule. On SIGHUP, loop.c calls brk_admin_rules_before_reload (the
 * records' rules leave the engine, so the file's rules load without id
 * clashes) and brk_admin_rules_after_reload (every record is applied again
 * over the reloaded file). So the API wins over the file. With
 * admin_rules_file the records are also written to that file (JSON, replaced
 * atomically) after every change and applied at start-up, so they outlive a
 * restart; without it they live in memory only.
 *
 * Actions are EMQX's objects: {"function": "republish", "args": {"topic":
 * T}} and, an mqttrule extension, {"function": "http", "args": {"url": U}}
 * for the HTTP action of the configuration file's `http URL` line; any
 * action may carry "fallback_actions" (EMQX 5.7), the config file's
 * `fallback` blocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "engine_state.h"

static brk_api_rule_t *record_find(brk_admin_t *a, const char *id)
{
    for (size_t i = 0; i < a->napi_rules; i++)
        if (!strcmp(a->api_rules[i].id, id))
            return &a->api_rules[i];
    return NULL;
}

static const brk_rule_cfg_t *file_rule(const broker_t *b, const char *id)
{
    for (size_t i = 0; i < b->cfg.nrules; i++)
        if (!strcmp(b->cfg.rules[i].id, id))
            return &b->cfg.rules[i];
    return NULL;
}

static void record_clear(brk_api_rule_t *r)
{
    free(r->id);
    free(r->sql);
    free(r->description);
    free(r->actions_json);
    memset(r, 0, sizeof *r);
}

void brk_admin_rules_free(brk_admin_t *a)
{
    for (size_t i = 0; i < a->napi_rules; i++)
        record_clear(&a->api_rules[i]);
    free(a->api_rules);
    a->api_rules = NULL;
    a->napi_rules = 0;
}

static void record_remove(brk_admin_t *a, brk_api_rule_t *r)
{
    record_clear(r);
    size_t i = (size_t)(r - a->api_rules);
    memmove(r, r + 1, (a->napi_rules - i - 1) * sizeof *r);
    a->napi_rules--;
}

/* One action as {"function": TYPE, "args": {...}[, "fallback_actions": [...]]}. */
static void action_json(brk_buf_t *o, const brk_action_cfg_t *a)
{
    brk_buf_puts(o, "{\"function\":");
    brk_buf_json_str(o, a->type, strlen(a->type));
    brk_buf_puts(o, ",\"args\":{");
    for (size_t k = 0; k < a->nopts; k++) {
        brk_buf_puts(o, k ? "," : "");
        brk_buf_json_str(o, a->opts[k].key, strlen(a->opts[k].key));
        brk_buf_puts(o, ":");
        brk_buf_json_str(o, a->opts[k].value, strlen(a->opts[k].value));
    }
    brk_buf_puts(o, "}");
    if (a->nfallbacks > 0) {
        brk_buf_puts(o, ",\"fallback_actions\":[");
        for (size_t k = 0; k < a->nfallbacks; k++) {
            brk_buf_puts(o, k ? "," : "");
            action_json(o, &a->fallbacks[k]);
        }
        brk_buf_puts(o, "]");
    }
    brk_buf_puts(o, "}");
}

void brk_admin_rule_actions_json(brk_buf_t *o, const brk_rule_cfg_t *r)
{
    brk_buf_puts(o, "[");
    for (size_t i = 0; r != NULL && i < r->nactions; i++) {
        brk_buf_puts(o, i ? "," : "");
        action_json(o, &r->actions[i]);
    }
    brk_buf_puts(o, "]");
}

void brk_admin_rules_each(broker_t *b, brk_rule_visit_fn fn, void *ud)
{
    brk_admin_t *a = b->admin;
    for (size_t i = 0; i < b->cfg.nrules; i++) {
        const brk_rule_cfg_t *r = &b->cfg.rules[i];
        if (a != NULL && record_find(a, r->id) != NULL)
            continue;
        const char *desc = mqr_engine_rule_info(b->ev->engine, r->id, NULL);
        fn(ud, r->id, r->sql, desc ? desc : "", NULL, r, a ? a->started_wall : 0);
    }
    for (size_t i = 0; a != NULL && i < a->napi_rules; i++) {
        const brk_api_rule_t *r = &a->api_rules[i];
        if (r->sql != NULL)
            fn(ud, r->id, r->sql, r->description, r->actions_json, NULL, r->created_at);
    }
}

int brk_admin_rule_exists(broker_t *b, const char *id)
{
    const brk_api_rule_t *r = b->admin ? record_find(b->admin, id) : NULL;
    if (r != NULL)
        return r->sql != NULL;
    return file_rule(b, id) != NULL;
}

/* A string member of object v, NUL-terminated copy in the caller's buffer;
 * NULL when missing or not a string or too long. */
static const char *str_member(const mqr_value_t *v, const char *key, char *buf, size_t cap)
{
    const mqr_value_t *m = v && v->type == MQR_VAL_OBJECT
                               ? mqr_value_object_get(v, key, strlen(key)) : NULL;
    if (m == NULL || m->type != MQR_VAL_STRING || m->len >= cap || memchr(m->u.s, 0, m->len))
        return NULL;
    memcpy(buf, m->u.s, m->len);
    buf[m->len] = 0;
    return buf;
}

static void cfg_free_actions(brk_rule_cfg_t *rc)
{
    for (size_t i = 0; i < rc->nactions; i++)
        brk_action_cfg_free(&rc->actions[i]);
    free(rc->actions);
    rc->actions = NULL;
    rc->nactions = 0;
}

/* The text of an action argument: a string as it is, any other value as its
 * JSON. NULL when out of room. */
static char *arg_text(const mqr_value_t *v)
{
    if (v->type == MQR_VAL_STRING) {
        char *t = brk_xrealloc(NULL, v->len + 1);
        memcpy(t, v->u.s, v->len);
        t[v->len] = 0;
        return t;
    }
    char buf[4096];
    size_t n = 0;
    if (mqr_json_write(v, 0, buf, sizeof buf - 1, &n) != MQR_OK)
        return NULL;
    buf[n] = 0;
    return brk_strdup(buf);
}

static int items_to_cfg(const mqr_value_t *arr, const char *prefix, int is_fallback,
                        brk_action_cfg_t **v, size_t *n, char *err, size_t errcap);

/*
 * One EMQX-style action object into *ac (zeroed by the caller): {"function":
 * TYPE, "args": {OPTION: VALUE, ...}} becomes an `action TYPE` block with
 * those options (a string value as it is, a number or boolean as its JSON
 * text). `where` names it in messages ("actions[0]",
 * "actions[0].fallback_actions[1]"). An action's "fallback_actions" are
 * objects of the same form, or EMQX's inline {"kind": "republish", "args":
 * {...}}; a fallback has none of its own. 0, or -1 with err.
 */
static int action_to_cfg(const mqr_value_t *a, const char *where, int is_fallback,
                         brk_action_cfg_t *ac, char *err, size_t errcap)
{
    char fn[64], kind[64];
    const mqr_value_t *args =
        a->type == MQR_VAL_OBJECT ? mqr_value_object_get(a, "args", 4) : NULL;
    const mqr_value_t *fbs =
        a->type == MQR_VAL_OBJECT ? mqr_value_object_get(a, "fallback_actions", 16) : NULL;
    const char *f = str_member(a, "function", fn, sizeof fn);
    const char *k = is_fallback ? str_member(a, "kind", kind, sizeof kind) : NULL;
    if (f == NULL && k != NULL && !strcmp(k, "republish"))
        f = k;
    if (k != NULL && strcmp(k, "republish") != 0) {
        snprintf(err, errcap, "%s: kind \"%s\": only republish fallbacks are inline; a "
                 "reference to a named action is not supported (give {\"function\": TYPE, "
                 "\"args\": {...}})", where, k);
        return -1;
    }
    if (f == NULL || f[0] == 0) {
        snprintf(err, errcap,
                 "%s: needs \"function\" (an action type: republish, http, ...) "
                 "and \"args\" (its options)", where);
        return -1;
    }
    if (args != NULL && args->type != MQR_VAL_OBJECT) {
        snprintf(err, errcap, "%s: args must be an object", where);
        return -1;
    }
    ac->type = brk_strdup(f);
    ac->file = brk_strdup(where);
    ac->is_fallback = is_fallback;
    for (uint32_t i = 0; args != NULL && i < args->len; i++) {
        const mqr_member_t *m = &args->u.members[i];
        char *v = arg_text(&m->value);
        if (v == NULL) {
            snprintf(err, errcap, "%s: args.%.*s is too long", where,
                     (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
            return -1;
        }
        ac->opts = brk_xrealloc(ac->opts, (ac->nopts + 1) * sizeof *ac->opts);
        brk_action_opt_t *o = &ac->opts[ac->nopts++];
        o->key = brk_xrealloc(NULL, m->key_len + 1);
        memcpy(o->key, m->key, m->key_len);
        o->key[m->key_len] = 0;
        o->value = v;
        o->file = brk_strdup(where);
        o->line = 0;
    }
    if (fbs == NULL)
        return 0;
    if (is_fallback) {
        snprintf(err, errcap, "%s: a fallback has no fallback_actions of its own", where);
        return -1;
    }
    if (fbs->type == MQR_VAL_ARRAY && fbs->len > MQR_ENGINE_MAX_FALLBACKS) {
        snprintf(err, errcap, "%s: fallback_actions has more than %d actions", where,
                 MQR_ENGINE_MAX_FALLBACKS);
        return -1;
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.100s.fallback_actions", where);
    return items_to_cfg(fbs, prefix, 1, &ac->fallbacks, &ac->nfallbacks, err, errcap);
}

/* The action objects of array `arr` (named "prefix[i]" in messages) into
 * the array *v of *n (action_to_cfg). 0, or -1 with err. */
static int items_to_cfg(const mqr_value_t *arr, const char *prefix, int is_fallback,
                        brk_action_cfg_t **v, size_t *n, char *err, size_t errcap)
{
    if (arr->type != MQR_VAL_ARRAY) {
        snprintf(err, errcap, "%s must be an array", prefix);
        return -1;
    }
    for (uint32_t i = 0; i < arr->len; i++) {
        char where[128];
        snprintf(where, sizeof where, "%.112s[%u]", prefix, (unsigned)i);
        if (action_to_cfg(&arr->u.items[i], where, is_fallback, brk_action_cfg_append(v, n), err,
                          errcap) != 0)
            return -1;
    }
    return 0;
}

/*
 * The EMQX-style actions array into rc's actions (action_to_cfg), so every
 * action type the config file knows (republish, http, the sinks) is
 * reachable, with fallbacks; the type's factory checks the options when the
 * rule is compiled. 0, or -1 with err.
 */
static int actions_to_cfg(const mqr_value_t *acts, brk_rule_cfg_t *rc, char *err, size_t errcap)
{
    if (acts == NULL)
        return 0;
    return items_to_cfg(acts, "actions", 0, &rc->actions, &rc->nactions, err, errcap);
}

/* Set the description and enabled flag of engine rule id (its SQL again). */
static int engine_update(broker_t *b, const char *id, const char *sql, const char *desc,
                         uint32_t enabled, mqr_diag_t *d)
{
    mqr_engine_rule_def_t def;
    memset(&def, 0, sizeof def);
    def.id = id;
    def.sql = sql;
    def.description = desc;
    def.enabled = enabled;
    return mqr_engine_rule_update(b->ev->engine, &def, d);
}

/* Apply one record to the engine (after a reload). 0 or -1 (logged). */
static int record_apply(broker_t *b, const brk_api_rule_t *r)
{
    char err[512];
    brk_events_remove_rule(b, r->id);
    if (r->sql == NULL)
        return 0;
    mqr_arena_t *arena = NULL;
    mqr_value_t acts;
    brk_rule_cfg_t rc;
    memset(&rc, 0, sizeof rc);
    rc.id = r->id;
    rc.sql = r->sql;
    rc.where = "REST API";
    int ok = mqr_arena_create(NULL, 0, &arena) == MQR_OK &&
             mqr_json_parse(arena, r->actions_json, strlen(r->actions_json), 0, &acts, NULL) ==
                 MQR_OK &&
             actions_to_cfg(&acts, &rc, err, sizeof err) == 0 &&
             brk_events_add_rule(b, &rc, 1, err, sizeof err) == 0 &&
             engine_update(b, r->id, r->sql, r->description, r->enabled, NULL) == MQR_OK;
    cfg_free_actions(&rc);
    mqr_arena_destroy(arena);
    if (!ok)
        brk_log(b, 0, "rule '%s' of the REST API could not be applied again", r->id);
    return ok ? 0 : -1;
}

void brk_admin_rules_before_reload(broker_t *b)
{
    for (size_t i = 0; b->admin != NULL && i < b->admin->napi_rules; i++)
        brk_events_remove_rule(b, b->admin->api_rules[i].id);
}

void brk_admin_rules_after_reload(broker_t *b)
{
    size_t n = 0;
    for (size_t i = 0; b->admin != NULL && i < b->admin->napi_rules; i++, n++)
        (void)record_apply(b, &b->admin->api_rules[i]);
    if (n > 0)
        brk_log(b, 0, "SIGHUP: %zu rule change(s) made through the REST API applied again", n);
}

/* The record of id, made when missing (with the file rule's definition, if
 * any, as its starting point). */
static brk_api_rule_t *record_get(broker_t *b, const char *id)
{
    brk_admin_t *a = b->admin;
    brk_api_rule_t *r = record_find(a, id);
    if (r != NULL)
        return r;
    a->api_rules = brk_xrealloc(a->api_rules, (a->napi_rules + 1) * sizeof *a->api_rules);
    r = &a->api_rules[a->napi_rules++];
    memset(r, 0, sizeof *r);
    r->id = brk_strdup(id);
    r->created_at = brk_wall_ms();
    const brk_rule_cfg_t *f = file_rule(b, id);
    if (f != NULL) {
        brk_buf_t o = {0};
        uint32_t en = 1;
        const char *desc = mqr_engine_rule_info(b->ev->engine, id, &en);
        brk_admin_rule_actions_json(&o, f);
        r->sql = brk_strdup(f->sql);
        r->description = brk_strdup(desc ? desc : "");
        r->actions_json = brk_strdup(o.failed || o.p == NULL ? "[]" : o.p);
        r->enabled = en;
        r->created_at = a->started_wall;
        brk_buf_free(&o);
    }
    return r;
}

/* Replace a record's strings. */
static void record_set(brk_api_rule_t *r, const char *sql, const char *desc, const char *acts,
                       uint32_t enabled)
{
    char *s = brk_strdup(sql), *d = brk_strdup(desc), *j = brk_strdup(acts);
    free(r->sql);
    free(r->description);
    free(r->actions_json);
    r->sql = s;
    r->description = d;
    r->actions_json = j;
    r->enabled = enabled;
}

/* v as compact JSON text (malloc'd, NUL-terminated), or NULL. */
static char *json_text(const mqr_value_t *v)
{
    size_t n = 0;
    if (mqr_json_write(v, 0, NULL, 0, &n) != MQR_EBUFFER)
        return NULL;
    char *t = malloc(n + 1);
    if (t != NULL && mqr_json_write(v, 0, t, n + 1, &n) != MQR_OK) {
        free(t);
        return NULL;
    }
    if (t != NULL)
        t[n] = 0; /* the writer does not terminate */
    return t;
}

/* ---- admin_rules_file ------------------------------------------------------------ */

/*
 * Write every record to admin_rules_file: a JSON array of
 * {"id", "sql", "description", "actions", "enable", "created_at"} and, for
 * a deleted file rule, {"id", "deleted": true}; written to FILE.tmp, then
 * renamed over FILE. A failure is logged; the change stays in force.
 */
static void rules_save(broker_t *b)
{
    const char *path = b->cfg.admin_rules_file;
    brk_admin_t *a = b->admin;
    if (path == NULL)
        return;
    brk_buf_t o = {0};
    brk_buf_puts(&o, "[");
    for (size_t i = 0; i < a->napi_rules; i++) {
        const brk_api_rule_t *r = &a->api_rules[i];
        brk_buf_puts(&o, i ? ",\n{\"id\":" : "\n{\"id\":");
        brk_buf_json_str(&o, r->id, strlen(r->id));
        if (r->sql == NULL) {
            brk_buf_puts(&o, ",\"deleted\":true}");
            continue;
        }
        brk_buf_puts(&o, ",\"sql\":");
        brk_buf_json_str(&o, r->sql, strlen(r->sql));
        brk_buf_puts(&o, ",\"description\":");
        brk_buf_json_str(&o, r->description, strlen(r->description));
        brk_buf_printf(&o, ",\"actions\":%s,\"enable\":%s,\"created_at\":%" PRId64 "}",
                       r->actions_json, r->enabled ? "true" : "false", r->created_at);
    }
    brk_buf_puts(&o, "\n]\n");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = o.failed ? NULL : fopen(tmp, "w");
    int ok = f != NULL && fwrite(o.p, 1, o.len, f) == o.len;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0)
        brk_log(b, 0, "admin_rules_file %s: cannot write it (%s); the REST API's rule changes "
                      "will not outlive a restart",
                path, strerror(errno));
    brk_buf_free(&o);
}

/* One saved record into b->admin (apply it afterwards). 0, or -1 with err. */
static int record_from_json(broker_t *b, const mqr_value_t *v, char *err, size_t errcap)
{
    char id[256];
    const char *rid = str_member(v, "id", id, sizeof id);
    if (rid == NULL || rid[0] == 0) {
        snprintf(err, errcap, "an entry without a string \"id\"");
        return -1;
    }
    const mqr_value_t *del = mqr_value_object_get(v, "deleted", 7);
    const mqr_value_t *sql = mqr_value_object_get(v, "sql", 3);
    const mqr_value_t *desc = mqr_value_object_get(v, "description", 11);
    const mqr_value_t *acts = mqr_value_object_get(v, "actions", 7);
    const mqr_value_t *en = mqr_value_object_get(v, "enable", 6);
    const mqr_value_t *at = mqr_value_object_get(v, "created_at", 10);
    if (del != NULL && del->type == MQR_VAL_BOOL && del->u.b) {
        if (file_rule(b, rid) != NULL)
            (void)record_get(b, rid); /* a tombstone: sql stays NULL below */
        brk_api_rule_t *r = record_find(b->admin, rid);
        if (r != NULL) {
            free(r->sql);
            free(r->description);
            free(r->actions_json);
            r->sql = r->description = r->actions_json = NULL;
        }
        return 0;
    }
    if (sql == NULL || sql->type != MQR_VAL_STRING || memchr(sql->u.s, 0, sql->len) ||
        (desc != NULL && (desc->type != MQR_VAL_STRING || memchr(desc->u.s, 0, desc->len))) ||
        (acts != NULL && acts->type != MQR_VAL_ARRAY) || (en != NULL && en->type != MQR_VAL_BOOL)) {
        snprintf(err, errcap, "rule '%s': needs a string sql, and description, actions and "
                              "enable of the right types", rid);
        return -1;
    }
    char *s = malloc(sql->len + 1), *d = malloc(desc ? desc->len + 1 : 1);
    char *j = acts ? json_text(acts) : brk_strdup("[]");
    if (s == NULL || d == NULL || j == NULL) {
        free(s), free(d), free(j);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    memcpy(s, sql->u.s, sql->len);
    s[sql->len] = 0;
    if (desc)
        memcpy(d, desc->u.s, desc->len);
    d[desc ? desc->len : 0] = 0;
    brk_api_rule_t *r = record_get(b, rid);
    record_set(r, s, d, j, en ? (uint32_t)en->u.b : 1);
    if (at != NULL && at->type == MQR_VAL_INT)
        r->created_at = at->u.i;
    free(s), free(d), free(j);
    return 0;
}

int brk_admin_rules_load(broker_t *b)
{
    const char *path = b->cfg.admin_rules_file;
    if (path == NULL || b->admin == NULL)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0; /* nothing saved yet */
        fprintf(stderr, "mqttrule-broker: admin_rules_file %s: %s\n", path, strerror(errno));
        return -1;
    }
    brk_buf_t text = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len < 64u * 1024u * 1024u)
        brk_buf_add(&text, chunk, n);
    fclose(f);
    mqr_arena_t *arena = NULL;
    mqr_value_t v;
    mqr_diag_t d;
    char err[512] = "";
    mqr_diag_clear(&d);
    int rc = text.failed || mqr_arena_create(NULL, 0, &arena) != MQR_OK ? -1 : 0;
    if (rc == 0 && (mqr_json_parse(arena, text.p ? text.p : "", text.len, 0, &v, &d) != MQR_OK ||
                    v.type != MQR_VAL_ARRAY)) {
        snprintf(err, sizeof err, "byte %" PRIu64 ": %s", d.offset,
                 d.message[0] ? d.message : "not a JSON array");
        rc = -1;
    }
    for (uint32_t i = 0; rc == 0 && i < v.len; i++) {
        if (v.u.items[i].type != MQR_VAL_OBJECT ||
            record_from_json(b, &v.u.items[i], err, sizeof err) != 0) {
            if (!err[0])
                snprintf(err, sizeof err, "entry %u is not an object", (unsigned)i);
            rc = -1;
        }
    }
    mqr_arena_destroy(arena);
    brk_buf_free(&text);
    if (rc != 0) {
        fprintf(stderr, "mqttrule-broker: admin_rules_file %s: %s\n", path,
                err[0] ? err : "out of memory");
        return -1;
    }
    brk_admin_t *a = b->admin;
    for (size_t i = 0; i < a->napi_rules;) {
        if (record_apply(b, &a->api_rules[i]) == 0) {
            i++;
            continue;
        }
        brk_log(b, 0, "admin_rules_file %s: rule '%s' dropped", path, a->api_rules[i].id);
        record_remove(a, &a->api_rules[i]);
    }
    brk_log(b, 0, "admin_rules_file %s: %zu rule change(s) of the REST API applied", path,
            a->napi_rules);
    return 0;
}

/* The SQL error of a failed compile: "line L, column C: message" (the
 * compiler's own text carries the position). */
static int sql_error(const mqr_diag_t *d, int rc, char *err, size_t errcap)
{
    if (d->line > 0 && strncmp(d->message, "line ", 5) != 0)
        snprintf(err, errcap, "line %u, column %u: %s", (unsigned)d->line, (unsigned)d->column,
                 d->message);
    else
        snprintf(err, errcap, "%s", d->message[0] ? d->message : mqr_strerror(rc));
    return 400;
}

/*
 * Create (create 1) or change rule `id`. `sql` and `description` are the
 * new values (the caller merged in the old ones for fields the request left
 * out). `actions` NULL keeps the rule's actions and metrics (only SQL,
 * description or enable changed: one mqr_engine_rule_update); otherwise the
 * rule is tried in a scratch engine first, so a bad definition leaves the
 * running rule untouched, then replaced whole.
 */
int brk_admin_rule_put(broker_t *b, const char *id, const char *sql, const char *description,
                       const mqr_value_t *actions, uint32_t enabled, int create, char *err,
                       size_t errcap)
{
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int exists = brk_admin_rule_exists(b, id);
    if (create && exists) {
        snprintf(err, errcap, "rule id '%s' already exists", id);
        return 400;
    }
    if (!create && !exists) {
        snprintf(err, errcap, "rule '%s' not found", id);
        return 404;
    }
    mqr_rule_t *probe = NULL;
    int rc = mqr_rule_compile(sql, strlen(sql), NULL, &probe, &d);
    mqr_rule_free(probe);
    if (rc != MQR_OK)
        return sql_error(&d, rc, err, errcap);
    if (actions == NULL && exists) {
        rc = engine_update(b, id, sql, description, enabled, &d);
        if (rc != MQR_OK)
            return sql_error(&d, rc, err, errcap);
        brk_api_rule_t *r = record_get(b, id);
        record_set(r, sql, description, r->actions_json ? r->actions_json : "[]", enabled);
        rules_save(b);
        return 0;
    }
    brk_rule_cfg_t rc5;
    memset(&rc5, 0, sizeof rc5);
    rc5.id = (char *)id;
    rc5.sql = (char *)sql;
    rc5.where = "REST API";
    char *acts = actions != NULL ? json_text(actions) : brk_strdup("[]");
    if (acts == NULL || actions_to_cfg(actions, &rc5, err, errcap) != 0) {
        cfg_free_actions(&rc5);
        free(acts);
        if (!err[0])
            snprintf(err, errcap, "actions cannot be written as JSON");
        return 400;
    }
    int ok = brk_events_add_rule(b, &rc5, 0, err, errcap) == 0;
    if (ok) {
        brk_events_remove_rule(b, id);
        ok = brk_events_add_rule(b, &rc5, 1, err, errcap) == 0 &&
             engine_update(b, id, sql, description, enabled, &d) == MQR_OK;
    }
    cfg_free_actions(&rc5);
    if (ok) {
        brk_api_rule_t *r = record_get(b, id);
        if (create)
            r->created_at = brk_wall_ms();
        record_set(r, sql, description, acts, enabled);
        rules_save(b);
    }
    free(acts);
    return ok ? 0 : 400;
}

int brk_admin_rule_delete(broker_t *b, const char *id)
{
    if (!brk_admin_rule_exists(b, id))
        return 404;
    brk_events_remove_rule(b, id);
    brk_api_rule_t *r = record_get(b, id);
    if (file_rule(b, id) == NULL) {
        record_remove(b->admin, r);
    } else {
        free(r->sql);
        free(r->description);
        free(r->actions_json);
        r->sql = r->description = r->actions_json = NULL;
    }
    rules_save(b);
    return 0;
}
