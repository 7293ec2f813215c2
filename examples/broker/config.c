/* SPDX-License-Identifier: MIT */
/*
 * config.c - mqttrule-broker's configuration: defaults, the configuration
 * file (docs/broker.md lists every directive) and the command-line flags.
 *
 * The file is line-based: `directive arguments...`, '#' starts a comment.
 * A rule is a block:
 *     rule ID
 *       sql SELECT ... (several sql lines are joined with spaces)
 *       republish TOPIC
 *       http URL
 *     end
 * Flags are applied after the file, so they override it; `--rule` replaces
 * the file's rules. Errors name file:line (or the flag) and stop start-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

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
    cfg->max_queued_bytes = 64u * 1024u * 1024u;
    cfg->max_topic_levels = 128;
    cfg->max_subscriptions = 1000;
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

static void add_action(brk_rule_cfg_t *r, int kind, const char *arg)
{
    r->actions = brk_xrealloc(r->actions, (r->nactions + 1) * sizeof *r->actions);
    r->actions[r->nactions].kind = kind;
    r->actions[r->nactions].arg = brk_strdup(arg);
    r->nactions++;
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

static int parse_bool(const char *s, uint32_t *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
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

static void free_rule(brk_rule_cfg_t *r)
{
    free(r->id);
    free(r->sql);
    free(r->where);
    for (size_t k = 0; k < r->nactions; k++)
        free(r->actions[k].arg);
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

#define BAD(...)                                                                         \
    do {                                                                                 \
        fprintf(stderr, "mqttrule-broker: %s:%u: ", path, lineno);                       \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        goto fail;                                                                       \
    } while (0)

/* One directive outside a rule block. 0 ok, 1 unknown directive, -1 bad value
 * (message printed). */
static int directive(brk_config_t *cfg, char **w, int n, const char *path, unsigned lineno)
{
    const char *k = w[0];
    uint32_t u;
    if (!strcmp(k, "listener")) {
        if (n < 2 || parse_u32(w[1], &u) != 0 || u > 65535)
            BAD("listener needs PORT [ADDRESS]");
        if (cfg->nlisteners == BRK_MAX_LISTENERS)
            BAD("at most %d listeners", BRK_MAX_LISTENERS);
        cfg->listeners[cfg->nlisteners].port = (uint16_t)u;
        cfg->listeners[cfg->nlisteners].addr = brk_strdup(n > 2 ? w[2] : "127.0.0.1");
        cfg->nlisteners++;
    } else if (!strcmp(k, "admin_listener")) {
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
    } else if (!strcmp(k, "password_file") && n == 2) {
        free(cfg->password_file);
        cfg->password_file = brk_strdup(w[1]);
    } else if (!strcmp(k, "allow_anonymous") && n == 2) {
        if (parse_bool(w[1], &u) != 0)
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
        static const struct {
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
            {"max_queued", offsetof(brk_config_t, max_queued), 0},
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
            {"sys_interval", offsetof(brk_config_t, sys_interval), 0},
            {"retain_available", offsetof(brk_config_t, retain_available), 1},
            {"refuse_will", offsetof(brk_config_t, refuse_will), 1},
            {"tcp_defer_accept", offsetof(brk_config_t, tcp_defer_accept), 1},
        };
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            if (strcmp(k, nums[i].name) != 0)
                continue;
            if (n != 2 || (nums[i].is_bool ? parse_bool(w[1], &u) : parse_u32(w[1], &u)) != 0)
                BAD("%s needs %s", k, nums[i].is_bool ? "yes or no" : "a number");
            if (!strcmp(k, "max_qos") && u > 2)
                BAD("max_qos must be 0, 1 or 2");
            if ((!strcmp(k, "max_inflight") || !strcmp(k, "receive_maximum")) &&
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

/*
 * Read the configuration file at `path`. rules_too: 1 = everything, 2 = only
 * the rule blocks (SIGHUP reload). Returns 0, or -1 after printing
 * "path:line: what is wrong" to stderr.
 */
int brk_config_load_file(brk_config_t *cfg, const char *path, int rules_too)
{
    FILE *f = fopen(path, "r");
    unsigned lineno = 0;
    brk_rule_cfg_t *rule = NULL;
    char line[8192];
    if (f == NULL) {
        fprintf(stderr, "mqttrule-broker: %s: %s\n", path, strerror(errno));
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
        char *w[8] = {0};
        char tmp[8192];
        strcpy(tmp, p);
        int n = split(tmp, w, 2);
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
            } else if (!strcmp(w[0], "republish") && n == 2) {
                add_action(rule, MQR_ACTION_REPUBLISH, w[1]);
            } else if (!strcmp(w[0], "http") && n == 2) {
                add_action(rule, MQR_ACTION_HTTP, w[1]);
            } else {
                BAD("inside rule '%s': expected sql, republish, http or end, got '%s'", rule->id,
                    w[0]);
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
    if (rule != NULL) {
        fprintf(stderr, "mqttrule-broker: %s:%u: rule '%s' is not closed with 'end'\n", path,
                lineno, rule->id);
        goto fail;
    }
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
            "  -v                     verbose log\n"
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
        } else if (!strcmp(a, "-v")) {
            cfg->verbose = 1;
            continue;
        } else if (!strcmp(a, "--test-connectors")) {
            cfg->test_connectors = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "mqttrule-broker: %s: unknown flag or missing value\n", a);
            usage(stderr);
            return -1;
        }
        i++;
        if (!strcmp(a, "-c")) {
            continue;
        } else if (!strcmp(a, "-p")) {
            if (parse_u32(v, &u) != 0 || u > 65535) {
                fprintf(stderr, "mqttrule-broker: -p %s: not a port number\n", v);
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
                fprintf(stderr, "mqttrule-broker: %s needs a --rule before it\n", a);
                return -1;
            }
            add_action(rule, a[2] == 'r' ? MQR_ACTION_REPUBLISH : MQR_ACTION_HTTP, v);
        } else if (!strcmp(a, "--password-file")) {
            free(cfg->password_file);
            cfg->password_file = brk_strdup(v);
        } else if (!strcmp(a, "--allow-anonymous")) {
            if (parse_bool(v, &u) != 0) {
                fprintf(stderr, "mqttrule-broker: --allow-anonymous needs yes or no\n");
                return -1;
            }
            cfg->allow_anonymous = (int)u;
        } else if (!strcmp(a, "--names")) {
            if (parse_names(v, &cfg->names) != 0) {
                fprintf(stderr, "mqttrule-broker: --names needs doc or emqx\n");
                return -1;
            }
        } else {
            fprintf(stderr, "mqttrule-broker: unknown flag %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (port >= 0 || addr != NULL) {
        /* -p/-b replace the file's listeners with one */
        for (size_t i = 0; i < cfg->nlisteners; i++)
            free(cfg->listeners[i].addr);
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
        add_action(r, MQR_ACTION_REPUBLISH, "client_connack");
    }
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
        free(cfg->listeners[i].addr);
    free(cfg->config_file);
    free(cfg->password_file);
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
}
