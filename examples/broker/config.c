/* SPDX-License-Identifier: MIT */
/*
 * config.c - mqttrule-broker's configuration: defaults, the configuration
 * file (docs/broker.md lists every directive) and the command-line flags.
 *
 * The file is line-based: `directive arguments...`, '#' starts a comment.
 * A rule is a block:
 *     rule ID
 *       sql SELECT ... (several sql lines are joined with spaces)
 *       action TYPE          (TYPE: republish, http, or one a sink adds)
 *         KEY VALUE...       (options, collected with their file:line and
 *                             built by the type's factory, actions.c)
 *         fallback TYPE      (EMQX's fallback_actions: run only when the
 *           KEY VALUE...      action fails for good; rules.c builds them)
 *         end
 *         fallback republish TOPIC   (one-line forms; also http URL)
 *       end
 *       republish TOPIC      (shorthand: action republish, topic TOPIC)
 *       http URL             (shorthand: action http, url URL)
 *     end
 * Flags are applied after the file, so they override it; `--rule` replaces
 * the file's rules. Errors are recorded as "file:line: what is wrong" in
 * cfg->error; start-up prints them and stops, a reload logs them and keeps
 * the running configuration (reload.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker.h"

#ifndef MQR_BROKER_VERSION
#define MQR_BROKER_VERSION "0"
#endif

char *brk_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d == NULL) {
        fprintf(stderr, "mqttrule-broker: out of memory\n");
        exit(1);
    }
    return memcpy(d, s, n);
}

void *brk_xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n ? n : 1);
    if (r == NULL) {
        fprintf(stderr, "mqttrule-broker: out of memory\n");
        exit(1);
    }
    return r;
}

static const char DEFAULT_SQL[] =
    "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\"";

void brk_config_defaults(brk_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->allow_anonymous = -1;
    cfg->names = MQR_NAMES_DOC;
    cfg->max_connections_reason = MQR_RC_QUOTA_EXCEEDED;
    cfg->max_clientid_len = 256;
    cfg->max_packet_size = 1024u * 1024u;
    cfg->max_qos = 2;
    cfg->retain_available = 1;
    cfg->max_inflight = 32;
    cfg->max_queued = 1000;
    cfg->protocols = (1u << 3) | (1u << 4) | (1u << 5);
    cfg->sub_refused_v5 = 0x80;
    cfg->shutdown_flush_ms = 5000;
    cfg->topic_alias_max = 10;
    cfg->receive_max = 65535;
    cfg->connect_timeout_ms = BRK_CONNECT_TIMEOUT_MS;
    cfg->tcp_defer_accept = 1;
    cfg->reason_strings = 1;
    cfg->max_queued_bytes = 64u * 1024u * 1024u;
    cfg->max_topic_levels = 128;
    cfg->max_subscriptions = 1000;
    cfg->log_types = BRK_LOG_DEFAULT;
    cfg->action_log_interval_ms = 60000;
    cfg->max_cascade_messages = 1000;
    cfg->max_retained_messages = 100000;
    cfg->max_retained_bytes = 64u * 1024u * 1024u;
    cfg->v3_session_expiry_s = 7200;
    cfg->max_sessions = 100000;
    cfg->session_refuse = 1;
    cfg->sys_interval = 10;
}

static void add_str(brk_str_list_t *l, const char *s)
{
    l->items = brk_xrealloc(l->items, (l->count + 1) * sizeof *l->items);
    l->items[l->count++] = brk_strdup(s);
}

static brk_rule_cfg_t *add_rule(brk_config_t *cfg, const char *id, const char *where)
{
    cfg->rules = brk_xrealloc(cfg->rules, (cfg->nrules + 1) * sizeof *cfg->rules);
    brk_rule_cfg_t *r = &cfg->rules[cfg->nrules++];
    memset(r, 0, sizeof *r);
    r->id = brk_strdup(id);
    r->where = brk_strdup(where);
    return r;
}

brk_action_cfg_t *brk_action_cfg_append(brk_action_cfg_t **v, size_t *n)
{
    *v = brk_xrealloc(*v, (*n + 1) * sizeof **v);
    brk_action_cfg_t *a = &(*v)[(*n)++];
    memset(a, 0, sizeof *a);
    return a;
}

/* Start an action of `type` in the array *v of *n, at file:line. */
static brk_action_cfg_t *start_action(brk_action_cfg_t **v, size_t *n, const char *type,
                                      const char *file, unsigned line)
{
    brk_action_cfg_t *a = brk_action_cfg_append(v, n);
    a->type = brk_strdup(type);
    a->file = brk_strdup(file);
    a->line = line;
    return a;
}

/* Start an action of `type` in rule r, at file:line. */
static brk_action_cfg_t *add_action(brk_rule_cfg_t *r, const char *type, const char *file,
                                    unsigned line)
{
    return start_action(&r->actions, &r->nactions, type, file, line);
}

/* Start fallback `type` of action a, at file:line. */
static brk_action_cfg_t *add_fallback(brk_action_cfg_t *a, const char *type, const char *file,
                                      unsigned line)
{
    brk_action_cfg_t *f = start_action(&a->fallbacks, &a->nfallbacks, type, file, line);
    f->is_fallback = 1;
    return f;
}

/* Append option `key value` (file:line) to action a. */
static void add_opt(brk_action_cfg_t *a, const char *key, const char *value, const char *file,
                    unsigned line)
{
    a->opts = brk_xrealloc(a->opts, (a->nopts + 1) * sizeof *a->opts);
    brk_action_opt_t *o = &a->opts[a->nopts++];
    o->key = brk_strdup(key);
    o->value = brk_strdup(value);
    o->file = brk_strdup(file);
    o->line = line;
}

/* A one-line action (`republish TOPIC`, `http URL`, --republish, --http):
 * type with its one option. */
static void add_shorthand(brk_rule_cfg_t *r, const char *type, const char *key, const char *value,
                          const char *file, unsigned line)
{
    add_opt(add_action(r, type, file, line), key, value, file, line);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno != 0 || end == s || *end != 0 || v > 0xFFFFFFFFul || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int brk_parse_bool(const char *s, uint32_t *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* NUMBER followed by one of units[] (name, factor; "" for none). 0 or -1. */
static int parse_scaled(const char *s, const char *const *names, const uint64_t *factors,
                        size_t n, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(end, names[i]) != 0)
            continue;
        if (v > UINT64_MAX / factors[i])
            return -1;
        *out = v * factors[i];
        return 0;
    }
    return -1;
}

/* A duration in EMQX's units: NUMBER with ms, s, m or h (no unit: ms). */
int brk_parse_duration_ms(const char *s, uint64_t *out)
{
    static const char *const names[] = {"", "ms", "s", "m", "h"};
    static const uint64_t factors[] = {1, 1, 1000, 60000, 3600000};
    return parse_scaled(s, names, factors, 5, out);
}

/* A size: NUMBER with B, KB, MB or GB (powers of 1024; no unit: bytes). */
int brk_parse_bytes(const char *s, uint64_t *out)
{
    static const char *const names[] = {"", "b", "kb", "mb", "gb"};
    static const uint64_t factors[] = {1, 1, 1024, 1024 * 1024, 1024 * 1024 * 1024};
    return parse_scaled(s, names, factors, 5, out);
}

static int parse_names(const char *s, int *out)
{
    if (!strcmp(s, "doc"))
        *out = MQR_NAMES_DOC;
    else if (!strcmp(s, "emqx"))
        *out = MQR_NAMES_EMQX;
    else
        return -1;
    return 0;
}

void brk_action_cfg_free(brk_action_cfg_t *a)
{
    for (size_t i = 0; i < a->nopts; i++) {
        free(a->opts[i].key);
        free(a->opts[i].value);
        free(a->opts[i].file);
    }
    for (size_t i = 0; i < a->nfallbacks; i++)
        brk_action_cfg_free(&a->fallbacks[i]);
    free(a->fallbacks);
    free(a->opts);
    free(a->type);
    free(a->file);
}

static void free_rule(brk_rule_cfg_t *r)
{
    free(r->id);
    free(r->sql);
    free(r->where);
    for (size_t k = 0; k < r->nactions; k++)
        brk_action_cfg_free(&r->actions[k]);
    free(r->actions);
}

void brk_config_free_rules(brk_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nrules; i++)
        free_rule(&cfg->rules[i]);
    free(cfg->rules);
    cfg->rules = NULL;
    cfg->nrules = 0;
}

/* Split `line` in place into at most `max` words; the last word takes the
 * rest of the line. Returns the number of words. */
static int split(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == 0)
            break;
        words[n++] = p;
        if (n == max)
            break;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = 0;
    }
    if (n > 0) { /* trim the last word's trailing blanks */
        char *e = words[n - 1] + strlen(words[n - 1]);
        while (e > words[n - 1] && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
    }
    return n;
}

/* Record "what is wrong" in cfg->error (the caller prints or logs it). */
static void cfg_error(brk_config_t *cfg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void cfg_error(brk_config_t *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->error, sizeof cfg->error, fmt, ap);
    va_end(ap);
}

/* "path:line: what is wrong" into cfg->error, then fail. */
#define BAD(...)                                                                         \
    do {                                                                                 \
        char what_[800];                                                                 \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                      \
        cfg_error(cfg, "%s:%u: %s", path, lineno, what_);                                \
        goto fail;                                                                       \
    } while (0)

/* The directives that set one number or boolean of brk_config_t (another
 * engineer's new limit is one line here). */
static const struct brk_num_directive {
    const char *name;
    size_t off;
    int is_bool;
} nums[] = {
    {"max_connections", offsetof(brk_config_t, max_connections), 0},
    {"connection_rate", offsetof(brk_config_t, connection_rate), 0},
    {"max_clientid_len", offsetof(brk_config_t, max_clientid_len), 0},
    {"max_packet_size", offsetof(brk_config_t, max_packet_size), 0},
    {"max_qos", offsetof(brk_config_t, max_qos), 0},
    {"max_inflight", offsetof(brk_config_t, max_inflight), 0},
    {"max_inflight_messages", offsetof(brk_config_t, max_inflight), 0}, /* mosquitto */
    {"max_queued", offsetof(brk_config_t, max_queued), 0},
    {"max_queued_messages", offsetof(brk_config_t, max_queued), 0},     /* mosquitto */
    {"max_sessions", offsetof(brk_config_t, max_sessions), 0},
    {"v3_session_expiry", offsetof(brk_config_t, v3_session_expiry_s), 0},
    {"shutdown_flush_ms", offsetof(brk_config_t, shutdown_flush_ms), 0},
    {"topic_alias_maximum", offsetof(brk_config_t, topic_alias_max), 0},
    {"receive_maximum", offsetof(brk_config_t, receive_max), 0},
    {"max_keepalive", offsetof(brk_config_t, max_keepalive), 0},
    {"connect_timeout_ms", offsetof(brk_config_t, connect_timeout_ms), 0},
    {"max_queued_bytes", offsetof(brk_config_t, max_queued_bytes), 0},
    {"max_topic_levels", offsetof(brk_config_t, max_topic_levels), 0},
    {"max_subscriptions", offsetof(brk_config_t, max_subscriptions), 0},
    {"http_max_queue", offsetof(brk_config_t, http_max_queue), 0},
    {"http_timeout_ms", offsetof(brk_config_t, http_timeout_ms), 0},
    {"busy_poll_us", offsetof(brk_config_t, busy_poll_us), 0},
    {"retain_available", offsetof(brk_config_t, retain_available), 1},
    {"refuse_will", offsetof(brk_config_t, refuse_will), 1},
    {"tcp_defer_accept", offsetof(brk_config_t, tcp_defer_accept), 1},
    {"reason_strings", offsetof(brk_config_t, reason_strings), 1},
    {"max_cascade_messages", offsetof(brk_config_t, max_cascade_messages), 0},
    {"max_retained_messages", offsetof(brk_config_t, max_retained_messages), 0},
    {"max_retained_bytes", offsetof(brk_config_t, max_retained_bytes), 0},
    {"sys_interval", offsetof(brk_config_t, sys_interval), 0},
};

#define NNUMS (sizeof nums / sizeof nums[0])

/* Remember "path:line" in *slot (for messages about a directive's value
 * that are found after the file is read). */
static void where(brk_config_t *cfg, char **slot, const char *path, unsigned lineno)
{
    (void)cfg;
    char buf[600];
    snprintf(buf, sizeof buf, "%s:%u", path, lineno);
    free(*slot);
    *slot = brk_strdup(buf);
}

/* One directive outside a rule block. 0 ok, 1 unknown directive, -1 bad value
 * (message printed). */
static int directive(brk_config_t *cfg, char **w, int n, const char *path, unsigned lineno)
{
    const char *k = w[0];
    uint32_t u;
    int pr = brk_persist_directive(cfg, w, n, path, lineno); /* persist.c */
    if (pr <= 0)
        return pr;
    int lr = brk_listener_directive(cfg, w, n, path, lineno); /* listener.c */
    if (lr <= 0)
        return lr;
    if (!strcmp(k, "admin_listener")) {
        if (n < 2 || n > 3 || parse_u32(w[1], &u) != 0 || u == 0 || u > 65535)
            BAD("admin_listener needs PORT [ADDRESS]");
        cfg->admin_port = u;
        free(cfg->admin_addr);
        cfg->admin_addr = brk_strdup(n > 2 ? w[2] : "127.0.0.1");
    } else if (!strcmp(k, "admin_rules_file") && n == 2) {
        free(cfg->admin_rules_file);
        cfg->admin_rules_file = brk_strdup(w[1]);
    } else if (!strcmp(k, "admin_password_file") && n == 2) {
        free(cfg->admin_password_file);
        cfg->admin_password_file = brk_strdup(w[1]);
    } else if (!strcmp(k, "response_information") && n == 2) {
        free(cfg->response_info);
        cfg->response_info = brk_strdup(w[1]);
    } else if (!strcmp(k, "ack_user_property") && n == 3) {
        add_str(&cfg->ack_user_props, w[1]);
        add_str(&cfg->ack_user_props, w[2]);
    } else if (!strcmp(k, "auth_hmac_secret") && n == 2) {
        free(cfg->auth_hmac_secret);
        cfg->auth_hmac_secret = brk_strdup(w[1]);
    } else if (!strcmp(k, "allow_anonymous") && n == 2) {
        if (brk_parse_bool(w[1], &u) != 0)
            BAD("allow_anonymous needs yes or no, not '%s'", w[1]);
        cfg->allow_anonymous = (int)u;
    } else if (!strcmp(k, "names") && n == 2) {
        if (parse_names(w[1], &cfg->names) != 0)
            BAD("names needs doc or emqx, not '%s'", w[1]);
    } else if (!strcmp(k, "ban") && n == 3) {
        if (!strcmp(w[1], "clientid"))
            add_str(&cfg->ban_clientids, w[2]);
        else if (!strcmp(w[1], "username"))
            add_str(&cfg->ban_usernames, w[2]);
        else if (!strcmp(w[1], "address"))
            add_str(&cfg->ban_addresses, w[2]);
        else
            BAD("ban needs clientid, username or address, not '%s'", w[1]);
    } else if (!strcmp(k, "acl")) {
        /* acl all ACCESS FILTER | acl user NAME ACCESS FILTER */
        int base = n >= 2 && !strcmp(w[1], "user") ? 3 : 2;
        if (n != base + 2 || (base == 2 && strcmp(w[1], "all") != 0))
            BAD("acl needs 'all ACCESS FILTER' or 'user NAME ACCESS FILTER'");
        const char *acc = w[base];
        uint32_t a = !strcmp(acc, "read")        ? BRK_ACC_READ
                     : !strcmp(acc, "write")     ? BRK_ACC_WRITE
                     : !strcmp(acc, "readwrite") ? BRK_ACC_READ | BRK_ACC_WRITE
                     : !strcmp(acc, "deny")      ? BRK_ACC_DENY
                                                 : 0;
        if (a == 0)
            BAD("acl access must be read, write, readwrite or deny, not '%s'", acc);
        if (mqr_topic_validate_filter(w[base + 1], strlen(w[base + 1]), NULL) != MQR_OK)
            BAD("acl: '%s' is not a valid topic filter", w[base + 1]);
        cfg->acls = brk_xrealloc(cfg->acls, (cfg->nacls + 1) * sizeof *cfg->acls);
        cfg->acls[cfg->nacls].user = base == 3 ? brk_strdup(w[2]) : NULL;
        cfg->acls[cfg->nacls].access = a;
        cfg->acls[cfg->nacls].filter = brk_strdup(w[base + 1]);
        cfg->nacls++;
    } else if (!strcmp(k, "session_owner_mismatch") && n == 2) {
        if (!strcmp(w[1], "fresh"))
            cfg->session_refuse = 0;
        else if (!strcmp(w[1], "refuse"))
            cfg->session_refuse = 1;
        else
            BAD("session_owner_mismatch needs fresh or refuse");
    } else if (!strcmp(k, "max_connections_reason") && n == 2) {
        if (!strcmp(w[1], "quota_exceeded"))
            cfg->max_connections_reason = MQR_RC_QUOTA_EXCEEDED;
        else if (!strcmp(w[1], "server_busy"))
            cfg->max_connections_reason = MQR_RC_SERVER_BUSY;
        else
            BAD("max_connections_reason needs quota_exceeded or server_busy");
    } else if (!strcmp(k, "refused_subscription_v5") && n == 2) {
        if (!strcmp(w[1], "unspecified_error"))
            cfg->sub_refused_v5 = MQR_RC_UNSPECIFIED_ERROR;
        else if (!strcmp(w[1], "not_authorized"))
            cfg->sub_refused_v5 = MQR_RC_NOT_AUTHORIZED;
        else
            BAD("refused_subscription_v5 needs unspecified_error or not_authorized");
    } else if (!strcmp(k, "redirect") && n == 3) {
        if (!strcmp(w[1], "use_another_server"))
            cfg->redirect_reason = MQR_RC_USE_ANOTHER_SERVER;
        else if (!strcmp(w[1], "server_moved"))
            cfg->redirect_reason = MQR_RC_SERVER_MOVED;
        else
            BAD("redirect needs use_another_server or server_moved, then HOST[:PORT]");
        free(cfg->redirect_server);
        cfg->redirect_server = brk_strdup(w[2]);
    } else if (!strcmp(k, "log_type") && n == 2) {
        if (brk_log_type_mask(w[1], &u) != 0)
            BAD("log_type needs error, warning, notice, information, debug, all or none, not '%s'",
                w[1]);
        if (!cfg->log_types_set)
            cfg->log_types = 0; /* as in mosquitto: the first log_type replaces the default */
        cfg->log_types_set = 1;
        cfg->log_types = u == 0 ? 0 : cfg->log_types | u;
    } else if (!strcmp(k, "log_dest") && n >= 2) {
        free(cfg->log_file);
        cfg->log_file = NULL;
        cfg->log_stdout = 0;
        if (!strcmp(w[1], "file") && n == 3)
            cfg->log_file = brk_strdup(w[2]);
        else if (!strcmp(w[1], "stdout") && n == 2)
            cfg->log_stdout = 1;
        else if (strcmp(w[1], "stderr") != 0 || n != 2)
            BAD("log_dest needs stderr, stdout or file PATH (syslog and topic are not supported)");
    } else if (!strcmp(k, "pid_file") && n == 2) {
        free(cfg->pid_file);
        cfg->pid_file = brk_strdup(w[1]);
    } else if (!strcmp(k, "action_log_interval") && n == 2) {
        uint64_t ms;
        if (brk_parse_duration_ms(w[1], &ms) != 0 || ms < 100 || ms > 86400000)
            BAD("action_log_interval needs a duration from 100ms to 24h, not '%s'", w[1]);
        cfg->action_log_interval_ms = (uint32_t)ms;
    } else if (!strcmp(k, "password_file") && n == 2) {
        free(cfg->password_file);
        cfg->password_file = brk_strdup(w[1]);
        where(cfg, &cfg->password_file_where, path, lineno);
    } else if (!strcmp(k, "protocols") && n >= 2) {
        cfg->protocols = 0;
        for (int i = 1; i < n; i++) {
            char *save = NULL;
            for (char *t = strtok_r(w[i], ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
                if (parse_u32(t, &u) != 0 || u < 3 || u > 5)
                    BAD("protocols: '%s' is not 3, 4 or 5", t);
                cfg->protocols |= 1u << u;
            }
        }
    } else {

        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            if (strcmp(k, nums[i].name) != 0)
                continue;
            if (n != 2 || (nums[i].is_bool ? brk_parse_bool(w[1], &u) : parse_u32(w[1], &u)) != 0)
                BAD("%s needs %s", k, nums[i].is_bool ? "yes or no" : "a number");
            if (!strcmp(k, "max_qos") && u > 2)
                BAD("max_qos must be 0, 1 or 2");
            if ((!strncmp(k, "max_inflight", 12) || !strcmp(k, "receive_maximum")) &&
                (u == 0 || u > 65535))
                BAD("%s must be 1..65535", k);
            if (!strcmp(k, "busy_poll_us") && u > 100000)
                BAD("busy_poll_us must be 0..100000");
            if ((!strcmp(k, "topic_alias_maximum") || !strcmp(k, "max_keepalive")) && u > 65535)
                BAD("%s must be 0..65535", k);
            *(uint32_t *)(void *)((char *)cfg + nums[i].off) = u;
            return 0;
        }
        return 1;
    }
    return 0;
fail:
    return -1;
}

static int conf_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && d->d_name[0] != '.' && !strcmp(d->d_name + n - 5, ".conf");
}

/* include_dir DIR: load every file DIR/NAME.conf in name order (mosquitto's
 * include_dir), as if it followed the including file. 0 or -1 (printed). */
static int include_dir(brk_config_t *cfg, const char *dir, int rules_too, const char *path,
                       unsigned lineno)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, conf_file, alphasort);
    if (n < 0) {
        cfg_error(cfg, "%s:%u: include_dir %s: %s", path, lineno, dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (++cfg->include_depth > 8) {
        cfg_error(cfg, "%s:%u: include_dir nested more than 8 deep", path, lineno);
        rc = -1;
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", dir, names[i]->d_name);
            rc = brk_config_load_file(cfg, file, rules_too);
        }
        free(names[i]);
    }
    free(names);
    cfg->include_depth--;
    return rc;
}

/*
 * A `fallback TYPE` line inside action a (EMQX's fallback_actions): opens a
 * block (*out, closed by `end`), or with a value is the one-line form
 * `fallback republish TOPIC` / `fallback http URL` (*out stays NULL).
 * 0, or -1 with "file:line: ..." in cfg->error.
 */
static int open_fallback(brk_config_t *cfg, brk_action_cfg_t *a, const char *rest,
                         const char *path, unsigned lineno, brk_action_cfg_t **out)
{
    char type[64];
    size_t tl = strcspn(rest, " \t");
    const char *value = rest + tl;
    while (*value == ' ' || *value == '\t')
        value++;
    *out = NULL;
    if (tl == 0 || tl >= sizeof type) {
        cfg_error(cfg, "%s:%u: fallback needs an action TYPE (%s)", path, lineno,
                  brk_action_type_names());
        return -1;
    }
    memcpy(type, rest, tl);
    type[tl] = 0;
    if (brk_action_type_find(type) == NULL) {
        cfg_error(cfg, "%s:%u: fallback: unknown action type '%s' (known: %s)", path, lineno,
                  type, brk_action_type_names());
        return -1;
    }
    if (a->nfallbacks >= MQR_ENGINE_MAX_FALLBACKS) {
        cfg_error(cfg, "%s:%u: action %s has more than %d fallbacks", path, lineno, a->type,
                  MQR_ENGINE_MAX_FALLBACKS);
        return -1;
    }
    if (*value == 0) {
        *out = add_fallback(a, type, path, lineno);
        return 0;
    }
    const char *key = !strcmp(type, "republish") ? "topic" : !strcmp(type, "http") ? "url" : NULL;
    if (key == NULL) {
        cfg_error(cfg, "%s:%u: fallback %s takes its options in a block (fallback %s ... end); "
                  "the one-line form is for republish TOPIC and http URL", path, lineno, type,
                  type);
        return -1;
    }
    add_opt(add_fallback(a, type, path, lineno), key, value, path, lineno);
    return 0;
}

/*
 * Read the configuration file at `path`. rules_too: 1 = everything, 2 = only
 * the rule blocks (SIGHUP reload). Returns 0, or -1 after printing
 * "path:line: what is wrong" to stderr.
 */
int brk_config_load_file(brk_config_t *cfg, const char *path, int rules_too)
{
    FILE *f = fopen(path, "r");
    unsigned lineno = 0, seen = 0;
    brk_rule_cfg_t *rule = NULL;
    brk_action_cfg_t *action = NULL, *fallback = NULL;
    char line[8192];
    if (f == NULL) {
        cfg_error(cfg, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == 0 || *p == '#')
            continue;
        seen++;
        char *w[8] = {0};
        char tmp[8192];
        strcpy(tmp, p);
        int n = split(tmp, w, 2);
        if (fallback != NULL) {
            if (!strcmp(w[0], "end") && n == 1)
                fallback = NULL;
            else if (!strcmp(w[0], "fallback"))
                BAD("fallback %s: a fallback has no fallbacks of its own (close it with 'end' "
                    "first)", fallback->type);
            else
                add_opt(fallback, w[0], n > 1 ? w[1] : "", path, lineno);
            continue;
        }
        if (action != NULL) {
            if (!strcmp(w[0], "end") && n == 1) {
                action = NULL;
            } else if (!strcmp(w[0], "fallback")) {
                if (open_fallback(cfg, action, n > 1 ? w[1] : "", path, lineno, &fallback) != 0)
                    goto fail;
            } else {
                add_opt(action, w[0], n > 1 ? w[1] : "", path, lineno);
            }
            continue;
        }
        if (rule != NULL) {
            if (!strcmp(w[0], "end") && n == 1) {
                if (rule->sql == NULL)
                    BAD("rule '%s' has no sql line", rule->id);
                rule = NULL;
            } else if (!strcmp(w[0], "sql") && n == 2) {
                size_t ol = rule->sql ? strlen(rule->sql) : 0;
                rule->sql = brk_xrealloc(rule->sql, ol + strlen(w[1]) + 2);
                if (ol)
                    rule->sql[ol++] = ' ';
                strcpy(rule->sql + ol, w[1]);
            } else if (!strcmp(w[0], "action")) {
                if (n != 2 || strchr(w[1], ' ') != NULL)
                    BAD("action needs one TYPE (%s)", brk_action_type_names());
                if (brk_action_type_find(w[1]) == NULL)
                    BAD("unknown action type '%s' (known: %s)", w[1], brk_action_type_names());
                action = add_action(rule, w[1], path, lineno);
            } else if (!strcmp(w[0], "republish") && n == 2) {
                add_shorthand(rule, "republish", "topic", w[1], path, lineno);
            } else if (!strcmp(w[0], "http") && n == 2) {
                add_shorthand(rule, "http", "url", w[1], path, lineno);
            } else {
                BAD("inside rule '%.64s': expected sql, action, republish, http or end, got '%.64s'",
                    rule->id, w[0]);
            }
            continue;
        }
        if (!strcmp(w[0], "rule")) {
            if (n != 2 || strchr(w[1], ' ') != NULL)
                BAD("rule needs one ID");
            for (size_t i = 0; i < cfg->nrules; i++)
                if (!strcmp(cfg->rules[i].id, w[1]))
                    BAD("rule '%s' is defined twice", w[1]);
            char where[600];
            snprintf(where, sizeof where, "%s:%u", path, lineno);
            rule = add_rule(cfg, w[1], where);
            continue;
        }
        if (!strcmp(w[0], "include_dir")) {
            if (n != 2)
                BAD("include_dir needs one DIRECTORY");
            if (include_dir(cfg, w[1], rules_too, path, lineno) != 0)
                goto fail;
            continue;
        }
        if (rules_too == 2)
            continue;
        strcpy(tmp, p);
        n = split(tmp, w, 8);
        int r = directive(cfg, w, n, path, lineno);
        if (r < 0)
            goto fail;
        if (r > 0)
            BAD("unknown directive '%s' (or wrong number of arguments)", w[0]);
    }
    if (fallback != NULL) {
        cfg_error(cfg, "%s:%u: fallback %s of action %s is not closed with 'end'", fallback->file,
                  fallback->line, fallback->type, action->type);
        goto fail;
    }
    if (action != NULL) {
        cfg_error(cfg, "%s:%u: action %s of rule '%s' is not closed with 'end'", action->file,
                  action->line, action->type, rule->id);
        goto fail;
    }
    if (rule != NULL) {
        cfg_error(cfg, "%s:%u: rule '%s' is not closed with 'end'", path, lineno, rule->id);
        goto fail;
    }
    if (seen == 0 && cfg->include_depth == 0) {
        /* an empty file is more often a truncated one than a wish for the
         * defaults: refused, at start-up and by SIGHUP alike */
        cfg_error(cfg, "%s: the configuration file is empty (no directive or rule)", path);
        goto fail;
    }
    if (rules_too != 2 && brk_listeners_check(cfg) != 0)
        goto fail;
    fclose(f);
    return 0;
fail:
    fclose(f);
    return -1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqttrule-broker [options]\n"
            "  -p PORT                listen on PORT (default 1883)\n"
            "  -b ADDR                bind to ADDR (default 127.0.0.1)\n"
            "  -c FILE                configuration file (flags override it)\n"
            "  --rule SQL             add a rule (repeatable); following action flags\n"
            "                         attach to it\n"
            "  --republish TOPIC      republish the latest rule's output to TOPIC\n"
            "  --http URL             POST the latest rule's output to URL\n"
            "  --password-file FILE   mosquitto_passwd file ($6$ and $7$ hashes)\n"
            "  --allow-anonymous yes|no\n"
            "  --names doc|emqx       reason-code naming profile (default doc)\n"
            "  --test-connectors      test every HTTP action's URL and exit\n"
            "  -v                     log everything (log_type all)\n"
            "  --version              print the version and exit\n"
            "Without --rule or rules in -c FILE the broker runs\n  %s\n"
            "republished to topic client_connack.\n",
            DEFAULT_SQL);
}

/*
 * Parse the command line into *cfg: first the -c file (so flags override
 * it), then every flag. Returns 0 to run, 1 when the program should exit
 * successfully (--help), -1 on an error (printed).
 */
int brk_config_parse_args(brk_config_t *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            cfg->config_file = brk_strdup(argv[i + 1]);
            if (brk_config_load_file(cfg, cfg->config_file, 1) != 0)
                return -1;
            break;
        }
    }
    int port = -1;
    const char *addr = NULL;
    brk_rule_cfg_t *rule = NULL;
    int cli_rules = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--version")) {
            printf("mqttrule-broker %s (libmqttrule %s)\n", MQR_BROKER_VERSION,
                   mqr_version());
            return 1;
        } else if (!strcmp(a, "-v")) {
            cfg->verbose = 1;
            cfg->log_types = BRK_LOG_ALL;
            continue;
        } else if (!strcmp(a, "--test-connectors")) {
            cfg->test_connectors = 1;
            continue;
        }
        if (v == NULL) {
            cfg_error(cfg, "%s: unknown flag or missing value (see --help)", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "-c")) {
            continue;
        } else if (!strcmp(a, "-p")) {
            if (parse_u32(v, &u) != 0 || u > 65535) {
                cfg_error(cfg, "-p %s: not a port number", v);
                return -1;
            }
            port = (int)u;
        } else if (!strcmp(a, "-b")) {
            addr = v;
        } else if (!strcmp(a, "--rule")) {
            if (!cli_rules)
                brk_config_free_rules(cfg);
            cli_rules++;
            char id[32], where[32];
            snprintf(id, sizeof id, "rule%d", cli_rules);
            snprintf(where, sizeof where, "--rule #%d", cli_rules);
            rule = add_rule(cfg, id, where);
            rule->sql = brk_strdup(v);
            cfg->rules_from_cli = 1;
        } else if (!strcmp(a, "--republish") || !strcmp(a, "--http")) {
            if (rule == NULL) {
                cfg_error(cfg, "%s needs a --rule before it", a);
                return -1;
            }
            if (a[2] == 'r')
                add_shorthand(rule, "republish", "topic", v, a, 0);
            else
                add_shorthand(rule, "http", "url", v, a, 0);
        } else if (!strcmp(a, "--password-file")) {
            free(cfg->password_file);
            cfg->password_file = brk_strdup(v);
        } else if (!strcmp(a, "--allow-anonymous")) {
            if (brk_parse_bool(v, &u) != 0) {
                cfg_error(cfg, "--allow-anonymous needs yes or no");
                return -1;
            }
            cfg->allow_anonymous = (int)u;
        } else if (!strcmp(a, "--names")) {
            if (parse_names(v, &cfg->names) != 0) {
                cfg_error(cfg, "--names needs doc or emqx");
                return -1;
            }
        } else {
            cfg_error(cfg, "unknown flag %s (see --help)", a);
            return -1;
        }
    }
    if (port >= 0 || addr != NULL) {
        /* -p/-b replace the file's listeners with one */
        for (size_t i = 0; i < cfg->nlisteners; i++)
            brk_listener_cfg_free(&cfg->listeners[i]);
        cfg->listeners[0].port = (uint16_t)(port >= 0 ? port : 1883);
        cfg->listeners[0].addr = brk_strdup(addr ? addr : "127.0.0.1");
        cfg->nlisteners = 1;
    }
    return 0;
}

/* Fill in what is still missing: one default listener and the default rule. */
void brk_config_finish(brk_config_t *cfg)
{
    if (cfg->nlisteners == 0) {
        cfg->listeners[0].port = 1883;
        cfg->listeners[0].addr = brk_strdup("127.0.0.1");
        cfg->nlisteners = 1;
    }
    if (cfg->nrules == 0) {
        brk_rule_cfg_t *r = add_rule(cfg, "connack_to_topic", "built-in default rule");
        r->sql = brk_strdup(DEFAULT_SQL);
        add_shorthand(r, "republish", "topic", "client_connack", "built-in default rule", 0);
    }
    /* With persistence on, the REST API's rule changes are kept there too
     * (docs/broker.md: "API rules across restarts") unless admin_rules_file
     * names another file. */
    if (cfg->persist.enabled && cfg->persist.location != NULL && cfg->admin_port != 0 &&
        cfg->admin_rules_file == NULL) {
        size_t n = strlen(cfg->persist.location) + sizeof "/admin_rules.json";
        cfg->admin_rules_file = brk_xrealloc(NULL, n);
        snprintf(cfg->admin_rules_file, n, "%s/admin_rules.json", cfg->persist.location);
    }
}

/* Whether `file` can be opened for reading: 0, or -1 with
 * "where: WHAT FILE: reason" in err. */
int brk_config_check_readable(const char *file, const char *what, const char *where, char *err,
                              size_t errcap)
{
    FILE *f = fopen(file, "r");
    if (f != NULL) {
        fclose(f);
        return 0;
    }
    snprintf(err, errcap, "%s: %s %s: %s", where ? where : "command line", what, file,
             strerror(errno));
    return -1;
}

/*
 * Checks that need the whole configuration, done at start-up and by a
 * SIGHUP reload before anything changes: the files the broker must read
 * (TLS files of actions are checked by their factories). 0, or -1 with
 * "file:line: what is wrong" in err.
 */
int brk_config_check(const brk_config_t *cfg, char *err, size_t errcap)
{
    if (cfg->password_file != NULL &&
        brk_config_check_readable(cfg->password_file, "password_file", cfg->password_file_where,
                                  err, errcap) != 0)
        return -1;
    return 0;
}

/* ---- what a reload changes ------------------------------------------------------------ */

static int str_differs(const char *x, const char *y)
{
    return (x == NULL) != (y == NULL) || (x != NULL && strcmp(x, y) != 0);
}

static int in_list(const brk_str_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->items[i], s))
            return 1;
    return 0;
}

/* Log the entries of a ban list that a reload adds and removes. */
static size_t log_list(broker_t *b, const char *what, const brk_str_list_t *was,
                       const brk_str_list_t *now)
{
    size_t n = 0;
    for (size_t i = 0; i < now->count; i++)
        if (!in_list(was, now->items[i]) && ++n)
            brk_log(b, BRK_LOG_NOTICE, "SIGHUP: %s '%s' added", what, now->items[i]);
    for (size_t i = 0; i < was->count; i++)
        if (!in_list(now, was->items[i]) && ++n)
            brk_log(b, BRK_LOG_NOTICE, "SIGHUP: %s '%s' removed", what, was->items[i]);
    return n;
}

static int acl_same(const brk_config_t *x, const brk_config_t *y)
{
    if (x->nacls != y->nacls)
        return 0;
    for (size_t i = 0; i < x->nacls; i++)
        if (str_differs(x->acls[i].user, y->acls[i].user) ||
            strcmp(x->acls[i].filter, y->acls[i].filter) || x->acls[i].access != y->acls[i].access)
            return 0;
    return 1;
}

/*
 * Before a reloaded configuration nc replaces b->cfg: log every change that
 * takes effect (limits, bans, ACL, password file, listener certificates
 * and options, ...), and put back the running value of what needs a
 * restart (listener ports and protocols, names profile,
 * tcp_defer_accept, pid_file), logging that it was not applied. Rules are
 * compared and logged by brk_events_load_rules. Returns the number of
 * changes applied.
 */
size_t brk_config_reload_changes(broker_t *b, brk_config_t *nc)
{
    brk_config_t *oc = &b->cfg;
    size_t n = 0;
    for (size_t i = 0; i < NNUMS; i++) {
        size_t k = 0;
        while (k < i && nums[k].off != nums[i].off)
            k++;
        if (k < i)
            continue; /* an alias: logged under the first name */
        uint32_t was = *(const uint32_t *)(const void *)((const char *)oc + nums[i].off);
        uint32_t *now = (uint32_t *)(void *)((char *)nc + nums[i].off);
        if (was == *now)
            continue;
        if (!strcmp(nums[i].name, "tcp_defer_accept")) {
            brk_log(b, BRK_LOG_WARNING, "SIGHUP: %s %u -> %u needs a restart; %u stays",
                    nums[i].name, was, *now, was);
            *now = was;
            continue;
        }
        brk_log(b, BRK_LOG_NOTICE, "SIGHUP: %s %u -> %u", nums[i].name, was, *now);
        n++;
    }
    n += log_list(b, "ban clientid", &oc->ban_clientids, &nc->ban_clientids);
    n += log_list(b, "ban username", &oc->ban_usernames, &nc->ban_usernames);
    n += log_list(b, "ban address", &oc->ban_addresses, &nc->ban_addresses);
    if (!acl_same(oc, nc) && ++n)
        brk_log(b, BRK_LOG_NOTICE, "SIGHUP: acl changed (%zu -> %zu entries)", oc->nacls,
                nc->nacls);
    if (str_differs(oc->password_file, nc->password_file) && ++n)
        brk_log(b, BRK_LOG_NOTICE, "SIGHUP: password_file %s -> %s",
                oc->password_file ? oc->password_file : "(none)",
                nc->password_file ? nc->password_file : "(none)");
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"response_information", offsetof(brk_config_t, response_info)},
        {"auth_hmac_secret", offsetof(brk_config_t, auth_hmac_secret)},
        {"redirect", offsetof(brk_config_t, redirect_server)},
        {"log_dest file", offsetof(brk_config_t, log_file)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (str_differs(*(char *const *)(const void *)((const char *)oc + strs[i].off),
                        *(char *const *)(const void *)((const char *)nc + strs[i].off)) &&
            ++n)
            brk_log(b, BRK_LOG_NOTICE, "SIGHUP: %s changed", strs[i].name);
    if ((oc->allow_anonymous != nc->allow_anonymous || oc->protocols != nc->protocols ||
         oc->max_connections_reason != nc->max_connections_reason ||
         oc->sub_refused_v5 != nc->sub_refused_v5 || oc->redirect_reason != nc->redirect_reason ||
         oc->log_types != nc->log_types || oc->ack_user_props.count != nc->ack_user_props.count) &&
        ++n)
        brk_log(b, BRK_LOG_NOTICE, "SIGHUP: allow_anonymous, protocols, reason codes, log_type or "
                                   "ack_user_property changed");
    n += brk_listeners_reload(b, nc); /* listener.c: certificates, options; sockets stay */
    if (nc->names != oc->names) {
        brk_log(b, BRK_LOG_WARNING, "SIGHUP: names changed; that needs a restart, %s stays",
                oc->names == MQR_NAMES_EMQX ? "emqx" : "doc");
        nc->names = oc->names;
    }
    if (str_differs(oc->pid_file, nc->pid_file)) {
        brk_log(b, BRK_LOG_WARNING, "SIGHUP: pid_file changed; that needs a restart");
        free(nc->pid_file);
        nc->pid_file = oc->pid_file ? brk_strdup(oc->pid_file) : NULL;
    }
    return n;
}

static void free_list(brk_str_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
}

void brk_config_free(brk_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++)
        brk_listener_cfg_free(&cfg->listeners[i]);
    free(cfg->config_file);
    free(cfg->password_file);
    free(cfg->password_file_where);
    free(cfg->log_file);
    free(cfg->pid_file);
    free(cfg->redirect_server);
    free(cfg->response_info);
    free(cfg->auth_hmac_secret);
    free(cfg->admin_addr);
    free(cfg->admin_password_file);
    free(cfg->admin_rules_file);
    free_list(&cfg->ban_clientids);
    free_list(&cfg->ban_usernames);
    free_list(&cfg->ban_addresses);
    free_list(&cfg->ack_user_props);
    for (size_t i = 0; i < cfg->nacls; i++) {
        free(cfg->acls[i].user);
        free(cfg->acls[i].filter);
    }
    free(cfg->acls);
    brk_config_free_rules(cfg);
    brk_persist_cfg_free(cfg);
}
