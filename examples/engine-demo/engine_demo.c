/* SPDX-License-Identifier: MIT */
/*
 * engine_demo.c - mqttrule-engine-demo: one rule with an HTTP action (and a
 * callback action that counts), fed with client.connack events read from
 * stdin, the way a broker would feed the engine.
 *
 *   mqttrule-engine-demo [options] URL < events.txt
 *
 * Each stdin line is "clientid [reason_code [username]]" and becomes one
 * client.connack event (reason_code defaults to "success", username to
 * undefined). After the last line the program runs mqr_engine_poll rounds
 * until no HTTP message is pending (or -w seconds pass) and prints one JSON
 * line: {"rule": <mqr_engine_rule_metrics_json>, "callback_calls": N}. With
 * -T it runs the HTTP action's connector test instead and prints its result.
 * tests/integration/test_engine_http.py drives the engine through it.
 *
 * Exit status: 0 when every action succeeded (or the test passed), 1 when
 * some did not, 2 for a usage or setup error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mqttrule.h>

#define MAX_HEADERS 32
#define DEFAULT_SQL \
    "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\""

/* Print the usage text to `out` (stdout for --help, stderr for misuse). */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqttrule-engine-demo [options] URL < events\n"
            "  -S SQL      the rule (default: the connack rule)\n"
            "  -m METHOD   POST (default), PUT, GET or DELETE\n"
            "  -H 'N: V'   header template (repeatable)\n"
            "  -p PATH     path template           -d BODY  body template (default: JSON)\n"
            "  -P N        connections (8)         -q N     queue messages (100000)\n"
            "  -r MS       request timeout (15000) -l MS    TTL (45000)\n"
            "  -b MS       first backoff (100)     -B MS    largest backoff (5000)\n"
            "  -C FILE     CA file for https       -k       skip certificate verification\n"
            "  -w S        wait at most S seconds for pending messages (120)\n"
            "  -n          null for undefined (D4) -T       connector test only\n");
}

static int method_of(const char *s)
{
    if (strcmp(s, "POST") == 0)
        return MQR_HTTP_POST;
    if (strcmp(s, "PUT") == 0)
        return MQR_HTTP_PUT;
    if (strcmp(s, "GET") == 0)
        return MQR_HTTP_GET;
    if (strcmp(s, "DELETE") == 0)
        return MQR_HTTP_DELETE;
    return -1;
}

static int count_cb(void *ud, const char *rule_id, const char *json, size_t len,
                    const mqr_value_t *out)
{
    (void)rule_id;
    (void)json;
    (void)len;
    (void)out;
    (*(unsigned long *)ud)++;
    return MQR_OK;
}

/* Emit one client.connack event from a line "clientid [reason [username]]". */
static int emit_line(mqr_engine_t *e, char *line)
{
    char *save = NULL;
    char *clientid = strtok_r(line, " ", &save);
    char *reason = strtok_r(NULL, " ", &save);
    char *username = strtok_r(NULL, " ", &save);
    if (!clientid)
        return MQR_OK;
    mqr_member_t m[4];
    const char *keys[] = {"event", "clientid", "username", "reason_code"};
    const char *vals[] = {"client.connack", clientid, username, reason ? reason : "success"};
    for (int i = 0; i < 4; i++) {
        m[i].key = keys[i];
        m[i].key_len = (uint32_t)strlen(keys[i]);
        m[i].reserved_ = 0;
        if (vals[i])
            mqr_value_set_string(&m[i].value, vals[i], strlen(vals[i]));
        else
            mqr_value_set_undefined(&m[i].value);
    }
    mqr_value_t obj;
    memset(&obj, 0, sizeof obj);
    obj.type = MQR_VAL_OBJECT;
    obj.len = 4;
    obj.u.members = m;
    return mqr_engine_emit_event(e, "client.connack", 14, &obj, NULL, NULL);
}

int main(int argc, char **argv)
{
    mqr_http_action_config_t ac;
    memset(&ac, 0, sizeof ac);
    mqr_http_config_init(&ac.http);
    mqr_http_header_t headers[MAX_HEADERS];
    uint32_t nh = 0;
    const char *sql = DEFAULT_SQL;
    int test_only = 0, wait_s = 120;
    uint32_t flags = 0;
    int opt;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    while ((opt = getopt(argc, argv, "S:m:H:p:d:P:q:r:l:b:B:C:kw:nT")) != -1) {
        switch (opt) {
        case 'S': sql = optarg; break;
        case 'm':
            ac.method = method_of(optarg);
            if (ac.method < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'H': {
            char *colon = strchr(optarg, ':');
            if (!colon || nh == MAX_HEADERS) {
                usage(stderr);
                return 2;
            }
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            headers[nh].name = optarg;
            headers[nh].name_len = (size_t)(colon - optarg);
            headers[nh].value = v;
            headers[nh].value_len = strlen(v);
            nh++;
            break;
        }
        case 'p': ac.path = optarg; break;
        case 'd': ac.body = optarg; break;
        case 'P': ac.http.pool_size = (uint32_t)atoi(optarg); break;
        case 'q': ac.http.max_queue_count = (uint32_t)atoi(optarg); break;
        case 'r': ac.http.request_timeout_ms = (uint32_t)atoi(optarg); break;
        case 'l': ac.http.ttl_ms = (uint32_t)atoi(optarg); break;
        case 'b': ac.http.backoff_initial_ms = (uint32_t)atoi(optarg); break;
        case 'B': ac.http.backoff_max_ms = (uint32_t)atoi(optarg); break;
        case 'C': ac.http.ca_file = optarg; break;
        case 'k': ac.http.tls_insecure = 1; break;
        case 'w': wait_s = atoi(optarg); break;
        case 'n': flags |= MQR_ENGINE_UNDEFINED_AS_NULL; break;
        case 'T': test_only = 1; break;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    ac.http.url = argv[optind];
    ac.headers = headers;
    ac.header_count = nh;

    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.flags = flags;
    mqr_engine_t *e = NULL;
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    if (mqr_engine_create(&o, &e) != MQR_OK) {
        fprintf(stderr, "engine: out of memory\n");
        return 2;
    }
    mqr_engine_rule_def_t def = {.id = "demo", .sql = sql, .enabled = 1};
    int rc = mqr_engine_rule_add(e, &def, &diag);
    uint32_t http_id = 0;
    unsigned long calls = 0;
    if (rc == MQR_OK)
        rc = mqr_engine_action_add_http(e, "demo", &ac, &http_id, &diag);
    if (rc == MQR_OK)
        rc = mqr_engine_action_add_callback(e, "demo", count_cb, &calls, NULL, &diag);
    if (rc != MQR_OK) {
        fprintf(stderr, "setup: %s: %s\n", mqr_status_name(rc), diag.message);
        mqr_engine_destroy(e);
        return 2;
    }
    if (test_only) {
        mqr_http_test_result_t tr;
        mqr_engine_action_test(e, http_id, 5000, &tr);
        printf("{\"status\":\"%s\",\"step\":%d,\"http_status\":%d}\n", mqr_status_name(tr.status),
               tr.step, tr.http_status);
        mqr_engine_destroy(e);
        return tr.status == MQR_OK ? 0 : 1;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        rc = emit_line(e, line);
        if (rc != MQR_OK)
            fprintf(stderr, "emit: %s\n", mqr_status_name(rc));
        mqr_engine_process(e, mqr_http_now_ms()); /* start sending while reading */
    }
    free(line);
    uint64_t deadline = mqr_http_now_ms() + (uint64_t)wait_s * 1000u;
    while (mqr_engine_pending(e) > 0 && mqr_http_now_ms() < deadline)
        mqr_engine_poll(e, 100);

    char buf[4096];
    size_t len = 0;
    mqr_engine_rule_metrics_json(e, "demo", buf, sizeof buf, &len);
    printf("{\"rule\":%s,\"callback_calls\":%lu}\n", buf, calls);
    mqr_rule_metrics_t m;
    mqr_engine_rule_metrics(e, "demo", &m);
    mqr_engine_destroy(e);
    return m.actions_failed == 0 && m.actions_success == m.actions_total ? 0 : 1;
}
