/* SPDX-License-Identifier: MIT */
/*
 * mqttrule-sql - test a rule offline, as EMQX's dashboard "SQL test" does
 * (spec §11.1).
 *
 *   mqttrule-sql [options] 'SQL' [CONTEXT_JSON]
 *
 * The rule is compiled once. Each context (the argument, or else one JSON
 * object per line on standard input) becomes the columns of one trigger:
 * `event_type` (default "message_publish") picks the event schema, the
 * context's fields fill it, fields the context leaves out get the example
 * values of the event table (mqttrule/event.h), and fields the schema does
 * not know are kept after the schema's fields. A message context is matched
 * against FROM by its `topic`, an event context by its event. For each
 * context one line is printed: the output JSON (an object, or an array for
 * FOREACH), or `null` when FROM or WHERE does not match or the evaluation
 * raised an exception (then a message goes to standard error). The columns
 * and the FROM check come from mqr_rule_test_columns() (mqttrule/rule_test.h),
 * which the Python bindings share.
 *
 * Exit status: 0; 2 when any context raised an exception; 3 for a compile
 * error; 64 for a usage error (bad option, bad context). The program uses
 * the public API only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"

#define EXIT_EVAL 2
#define EXIT_COMPILE 3
#define EXIT_USAGE 64
#define DEFAULT_NODE "emqx@127.0.0.1"
#define RULE_ID "sql_tester"

static const char usage_text[] =
    "usage: mqttrule-sql [options] 'SQL' [CONTEXT_JSON]\n"
    "\n"
    "Compile SQL and run it over a rule-test context (EMQX's SQL test). Without\n"
    "CONTEXT_JSON, read one JSON object per line from standard input. Prints one\n"
    "line per context: the output JSON, or null when the rule does not match.\n"
    "\n"
    "options:\n"
    "  --names doc|emqx     reason-code names of client_connack (default doc)\n"
    "  --undefined-as-null  render undefined values as JSON null\n"
    "  --now MS             pin the clock (ms since the epoch); also the\n"
    "                       MQTTRULE_SQL_NOW environment variable\n"
    "  --node NAME          the node column (default " DEFAULT_NODE ")\n"
    "  --template TEXT      print TEXT rendered with the output instead of JSON\n"
    "  --help               print this text\n"
    "  --version            print the version\n"
    "\n"
    "exit status: 0 ok, 2 an evaluation raised an exception, 3 compile error,\n"
    "64 usage error\n";

typedef struct opts {
    int names;
    int undefined_as_null;
    int64_t now_ms;
    const char *node;
    const char *template_text;
    const char *sql;
    const char *context;
} opts_t;

typedef struct tester {
    opts_t o;
    mqr_rule_t *rule;
    mqr_template_t *tpl;
    mqr_rule_scratch_t *scratch;
    mqr_arena_t *arena; /* columns of the current context */
    uint64_t id_counter;
    char *render;       /* template output buffer */
    size_t render_cap;
} tester_t;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("mqttrule-sql: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n\n", stderr);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

/* Parse a decimal int64 from a whole string; 0 on success. */
static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int64_t wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Options come before the SQL; "--" ends them. Returns 0, or the exit status
 * to leave with (-1: --help printed). */
static int parse_args(int argc, char **argv, opts_t *o)
{
    const char *env_now = getenv("MQTTRULE_SQL_NOW");
    o->names = MQR_NAMES_DOC;
    o->node = DEFAULT_NODE;
    o->now_ms = -1;
    if (env_now && *env_now && parse_ms(env_now, &o->now_ms) != 0)
        return usage_error("MQTTRULE_SQL_NOW is not a number: '%s'", env_now);
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return -1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("mqttrule-sql (libmqttrule %s)\n", mqr_version());
            return -1;
        }
        if (strcmp(a, "--undefined-as-null") == 0) {
            o->undefined_as_null = 1;
            continue;
        }
        int takes_value = strcmp(a, "--names") == 0 || strcmp(a, "--now") == 0 ||
                          strcmp(a, "--node") == 0 || strcmp(a, "--template") == 0;
        if (!takes_value)
            return usage_error("unknown option '%s'", a);
        if (i + 1 >= argc)
            return usage_error("option '%s' needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--names") == 0) {
            if (strcmp(v, "doc") == 0)
                o->names = MQR_NAMES_DOC;
            else if (strcmp(v, "emqx") == 0)
                o->names = MQR_NAMES_EMQX;
            else
                return usage_error("--names must be doc or emqx, not '%s'", v);
        } else if (strcmp(a, "--now") == 0) {
            if (parse_ms(v, &o->now_ms) != 0)
                return usage_error("--now needs milliseconds, not '%s'", v);
        } else if (strcmp(a, "--node") == 0) {
            o->node = v;
        } else {
            o->template_text = v;
        }
    }
    if (i >= argc)
        return usage_error("%s", "no SQL given");
    o->sql = argv[i++];
    if (i < argc)
        o->context = argv[i++];
    if (i < argc)
        return usage_error("unexpected argument '%s'", argv[i]);
    if (o->now_ms < 0)
        o->now_ms = wall_clock_ms();
    return 0;
}

static int64_t pinned_clock(void *ud)
{
    return *(const int64_t *)ud;
}

/* The UTC offset of the local time zone (TZ) at `ms`, in seconds; 0 when
 * the local time cannot be computed. */
static int32_t local_offset_s(int64_t ms)
{
    int32_t off = 0;
    if (mqr_rule_local_offset(ms / 1000, &off) != MQR_OK)
        off = 0;
    return off;
}

/* ---- output ------------------------------------------------------------------ */

/* v as compact JSON in the arena (flags: MQR_JSON_*). */
static int json_in_arena(tester_t *t, const mqr_value_t *v, uint32_t flags, const char **out,
                         size_t *out_len)
{
    size_t len = 0;
    int rc = mqr_json_write(v, flags, NULL, 0, &len);
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        return rc;
    char *buf = mqr_arena_alloc(t->arena, len ? len : 1);
    if (!buf)
        return MQR_ENOMEM;
    rc = mqr_json_write(v, flags, buf, len, &len);
    *out = buf;
    *out_len = len;
    return rc;
}

/* ---- running one context -------------------------------------------------------- */

/* Print the output of one evaluation: JSON, or the template's rendering. */
static int print_output(tester_t *t, const mqr_value_t *out)
{
    if (!t->tpl) {
        const char *json;
        size_t len;
        int rc = json_in_arena(t, out, t->o.undefined_as_null ? MQR_JSON_UNDEFINED_AS_NULL : 0,
                               &json, &len);
        if (rc != MQR_OK)
            return rc;
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
        return MQR_OK;
    }
    uint32_t flags = t->o.undefined_as_null ? MQR_TEMPLATE_UNDEFINED_AS_NULL : 0;
    size_t len = 0;
    int rc = mqr_template_render(t->tpl, out, flags, t->render, t->render_cap, &len);
    if (rc == MQR_EBUFFER) {
        char *p = realloc(t->render, len + 1);
        if (!p)
            return MQR_ENOMEM;
        t->render = p;
        t->render_cap = len + 1;
        rc = mqr_template_render(t->tpl, out, flags, t->render, t->render_cap, &len);
    }
    if (rc != MQR_OK)
        return rc;
    fwrite(t->render, 1, len, stdout);
    fputc('\n', stdout);
    return MQR_OK;
}

/* Run the rule over one context text. Returns 0, EXIT_EVAL (printed null and
 * a message) or EXIT_USAGE (bad context; nothing printed). */
static int run_context(tester_t *t, const char *text, size_t len, unsigned long lineno)
{
    mqr_value_t ctx, cols, out;
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    mqr_arena_reset(t->arena);
    if (mqr_json_parse(t->arena, text, len, 0, &ctx, &diag) != MQR_OK || ctx.type != MQR_VAL_OBJECT) {
        fprintf(stderr, "mqttrule-sql: context %lu: not a JSON object%s%s\n", lineno,
                diag.message[0] ? ": " : "", diag.message);
        return EXIT_USAGE;
    }
    mqr_rule_test_options_t topts = {t->o.names, 0, t->o.now_ms, t->o.node, &t->id_counter};
    int32_t matched = 0;
    int rc = mqr_rule_test_columns(t->rule, &ctx, &topts, t->arena, &cols, &matched, &diag);
    if (rc != MQR_OK) {
        fprintf(stderr, "mqttrule-sql: context %lu: %s\n", lineno,
                rc == MQR_ENOTFOUND ? diag.message : mqr_strerror(rc));
        return EXIT_USAGE;
    }
    if (!matched) {
        puts("null");
        return 0;
    }
    rc = mqr_rule_eval(t->rule, t->scratch, &cols, &out, &diag);
    if (rc == MQR_OK)
        rc = print_output(t, &out);
    else if (rc == MQR_NO_MATCH && out.type == MQR_VAL_ARRAY)
        rc = print_output(t, &out); /* FOREACH that matched with no element: [] */
    else if (rc == MQR_NO_MATCH) {
        puts("null");
        return 0;
    }
    if (rc == MQR_OK)
        return 0;
    puts("null");
    fprintf(stderr, "mqttrule-sql: context %lu: %s: %s\n", lineno, mqr_status_name(rc),
            diag.message[0] ? diag.message : mqr_strerror(rc));
    return EXIT_EVAL;
}

/* Contexts from standard input, one JSON object per line; blank lines are
 * skipped. Returns the exit status. */
static int run_stdin(tester_t *t)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t k = 0;
        while (k < (size_t)n && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == (size_t)n)
            continue;
        int rc = run_context(t, line, (size_t)n, lineno);
        if (rc == EXIT_USAGE) {
            status = EXIT_USAGE;
            break;
        }
        if (rc == EXIT_EVAL)
            status = EXIT_EVAL;
    }
    free(line);
    return status;
}

/* The compile error text without the "line L, column C: " prefix the rule
 * compiler puts in front (the program prints "L:C: " itself). */
static const char *compile_message(const mqr_diag_t *d, int rc)
{
    const char *m = d->message;
    if (!m[0])
        return mqr_strerror(rc);
    if (strncmp(m, "line ", 5) == 0) {
        const char *colon = strstr(m, ": ");
        if (colon)
            return colon + 2;
    }
    return m;
}

static void tester_free(tester_t *t)
{
    mqr_rule_free(t->rule);
    mqr_template_free(t->tpl);
    mqr_rule_scratch_free(t->scratch);
    mqr_arena_destroy(t->arena);
    free(t->render);
}

int main(int argc, char **argv)
{
    tester_t t;
    memset(&t, 0, sizeof t);
    int rc = parse_args(argc, argv, &t.o);
    if (rc)
        return rc < 0 ? 0 : rc;

    mqr_rule_options_t ro;
    mqr_rule_options_init(&ro);
    ro.rule_id = RULE_ID;
    ro.flags = t.o.undefined_as_null ? MQR_RULE_UNDEFINED_AS_NULL : 0;
    ro.clock = pinned_clock;
    ro.clock_ud = &t.o.now_ms;
    ro.local_offset_s = local_offset_s(t.o.now_ms);
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    rc = mqr_rule_compile(t.o.sql, strlen(t.o.sql), &ro, &t.rule, &diag);
    if (rc != MQR_OK) {
        if (diag.line > 0) /* errors about the whole SQL (its length) have no position */
            fprintf(stderr, "mqttrule-sql: %u:%u: %s (%s)\n", (unsigned)diag.line,
                    (unsigned)diag.column, compile_message(&diag, rc), mqr_status_name(rc));
        else
            fprintf(stderr, "mqttrule-sql: %s (%s)\n", compile_message(&diag, rc),
                    mqr_status_name(rc));
        return EXIT_COMPILE;
    }
    if (t.o.template_text &&
        mqr_template_compile(t.o.template_text, strlen(t.o.template_text), NULL, &t.tpl,
                             &diag) != MQR_OK) {
        fprintf(stderr, "mqttrule-sql: template: %s\n", diag.message);
        tester_free(&t);
        return EXIT_USAGE;
    }
    if (mqr_rule_scratch_create(NULL, &t.scratch) != MQR_OK ||
        mqr_arena_create(NULL, 0, &t.arena) != MQR_OK) {
        fputs("mqttrule-sql: out of memory\n", stderr);
        tester_free(&t);
        return 1;
    }
    if (t.o.context)
        rc = run_context(&t, t.o.context, strlen(t.o.context), 1);
    else
        rc = run_stdin(&t);
    tester_free(&t);
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}
