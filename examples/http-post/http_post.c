/* SPDX-License-Identifier: MIT */
/*
 * http_post.c - mqttrule-http-post: send one HTTP request per line of stdin
 * through the library's non-blocking HTTP client and report every outcome.
 *
 *   mqttrule-http-post [options] URL < bodies.txt
 *
 * It reads all lines, submits each as a request body, then runs
 * mqr_http_poll rounds until no message is pending. It prints one JSON line
 * per message as it ends, then one line with the client's metrics. With -T it
 * runs the connector test instead and prints its result. The integration
 * tests (tests/integration/test_http_client.py) drive the client through it;
 * it also shows the smallest complete use of the API.
 *
 * Exit status: 0 when every message succeeded (or the test passed), 1 when
 * some did not, 2 for a usage or setup error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mqttrule.h>

#define MAX_HEADERS 32

typedef struct line {
    char *text;
    size_t len;
} line_t;

static const char *const outcome_names[] = {"success", "failed", "dropped"};
static const char *const reason_names[] = {"", "queue_full", "expired", "other"};
static const char *const step_names[] = {"none", "resolve", "connect", "tls", "request", "response",
                                         "done"};

/* Print the usage text to `out` (stdout for --help, stderr for misuse). */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqttrule-http-post [options] URL < bodies\n"
            "  -m METHOD   POST (default), PUT, GET or DELETE\n"
            "  -H 'N: V'   add a header (repeatable)\n"
            "  -p PATH     request path joined to the URL's path\n"
            "  -P N        connections (8)         -q N   queue messages (100000)\n"
            "  -Q BYTES    queue bytes (64 MiB)    -r MS  request timeout (15000)\n"
            "  -c MS       connect timeout (15000) -l MS  TTL (45000)\n"
            "  -b MS       first backoff (100)     -B MS  largest backoff (5000)\n"
            "  -a N        attempts at most (0: until the TTL)\n"
            "  -C FILE     CA file for https       -k     skip certificate verification\n"
            "  -s          print only the metrics  -T     run the connector test only\n");
}

/* Print s as a JSON string. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static int quiet;

static void on_done(void *ud, const mqr_http_result_t *r)
{
    int *failures = ud;
    if (r->outcome != MQR_HTTP_SUCCESS)
        (*failures)++;
    if (quiet)
        return;
    printf("{\"id\":%llu,\"line\":%llu,\"outcome\":\"%s\",\"reason\":\"%s\",\"http_status\":%d,"
           "\"attempts\":%u,\"status\":\"%s\",\"step\":\"%s\",\"elapsed_ms\":%llu,\"error\":",
           (unsigned long long)r->id, (unsigned long long)(uintptr_t)r->request_ud,
           outcome_names[r->outcome], reason_names[r->reason], (int)r->http_status,
           (unsigned)r->attempts, mqr_status_name(r->status), step_names[r->step],
           (unsigned long long)r->elapsed_ms);
    json_string(r->error);
    printf("}\n");
}

static void print_metrics(const mqr_http_metrics_t *m)
{
    printf("{\"metrics\":{\"matched\":%llu,\"success\":%llu,\"failed\":%llu,\"dropped\":%llu,"
           "\"dropped.queue_full\":%llu,\"dropped.expired\":%llu,\"dropped.other\":%llu,"
           "\"queuing\":%llu,\"queuing_bytes\":%llu,\"inflight\":%llu,\"retried\":%llu,"
           "\"retried.success\":%llu,\"retried.failed\":%llu,\"late_reply\":%llu,"
           "\"timeouts\":%llu}}\n",
           (unsigned long long)m->matched, (unsigned long long)m->success,
           (unsigned long long)m->failed, (unsigned long long)m->dropped,
           (unsigned long long)m->dropped_queue_full, (unsigned long long)m->dropped_expired,
           (unsigned long long)m->dropped_other, (unsigned long long)m->queuing,
           (unsigned long long)m->queuing_bytes, (unsigned long long)m->inflight,
           (unsigned long long)m->retried, (unsigned long long)m->retried_success,
           (unsigned long long)m->retried_failed, (unsigned long long)m->late_reply,
           (unsigned long long)m->timeouts);
}

/* Read stdin into lines (without their newline). Returns the count, or -1. */
static long read_lines(line_t **out)
{
    size_t cap = 0, n = 0;
    line_t *lines = NULL;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    while ((len = getline(&buf, &bcap, stdin)) >= 0) {
        if (len && buf[len - 1] == '\n')
            len--;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            line_t *grown = realloc(lines, cap * sizeof *lines);
            if (!grown)
                return -1;
            lines = grown;
        }
        lines[n].text = malloc((size_t)len + 1);
        if (!lines[n].text)
            return -1;
        memcpy(lines[n].text, buf, (size_t)len);
        lines[n].len = (size_t)len;
        n++;
    }
    free(buf);
    *out = lines;
    return (long)n;
}

static int parse_method(const char *s)
{
    static const char *const names[] = {"POST", "PUT", "GET", "DELETE"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i + 1;
    return -1;
}

int main(int argc, char **argv)
{
    mqr_http_config_t cfg;
    mqr_http_config_init(&cfg);
    mqr_http_header_t headers[MAX_HEADERS];
    uint32_t nh = 0;
    const char *path = NULL;
    int test_only = 0, opt, failures = 0;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    while ((opt = getopt(argc, argv, "m:H:p:P:q:Q:r:c:l:b:B:a:C:ksT")) != -1) {
        switch (opt) {
        case 'm':
            if ((cfg.method = parse_method(optarg)) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'H': {
            const char *colon = strchr(optarg, ':');
            if (!colon || nh == MAX_HEADERS) {
                usage(stderr);
                return 2;
            }
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            headers[nh++] = (mqr_http_header_t){optarg, (size_t)(colon - optarg), v, strlen(v)};
            break;
        }
        case 'p': path = optarg; break;
        case 'P': cfg.pool_size = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'q': cfg.max_queue_count = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'Q': cfg.max_queue_bytes = strtoull(optarg, NULL, 10); break;
        case 'r': cfg.request_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': cfg.connect_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'l': cfg.ttl_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'b': cfg.backoff_initial_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'B': cfg.backoff_max_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'a': cfg.max_attempts = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'C': cfg.ca_file = optarg; break;
        case 'k': cfg.tls_insecure = 1; break;
        case 's': quiet = 1; break;
        case 'T': test_only = 1; break;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    cfg.url = argv[optind];
    cfg.headers = headers;
    cfg.header_count = nh;
    cfg.on_done = on_done;
    cfg.ud = &failures;

    if (test_only) {
        mqr_http_test_result_t t;
        mqr_http_test(&cfg, cfg.connect_timeout_ms, &t);
        printf("{\"test\":{\"status\":\"%s\",\"step\":\"%s\",\"http_status\":%d,\"elapsed_ms\":%u,"
               "\"message\":",
               mqr_status_name(t.status), step_names[t.step], (int)t.http_status,
               (unsigned)t.elapsed_ms);
        json_string(t.message);
        printf("}}\n");
        return t.status == MQR_OK ? 0 : 1;
    }

    mqr_http_client_t *client;
    mqr_diag_t d;
    int rc = mqr_http_create(&cfg, &client, &d);
    if (rc != MQR_OK) {
        fprintf(stderr, "mqttrule-http-post: %s: %s\n", mqr_status_name(rc), d.message);
        return 2;
    }
    line_t *lines = NULL;
    long n = read_lines(&lines);
    if (n < 0) {
        fprintf(stderr, "mqttrule-http-post: out of memory reading stdin\n");
        mqr_http_destroy(client);
        return 2;
    }
    for (long i = 0; i < n; i++) {
        mqr_http_request_t rq = {.path = path, .body = lines[i].text, .body_len = lines[i].len,
                                 .ud = (void *)(uintptr_t)i};
        rc = mqr_http_submit(client, &rq, mqr_http_now_ms(), NULL, &d);
        if (rc != MQR_OK) {
            fprintf(stderr, "mqttrule-http-post: line %ld: %s: %s\n", i + 1, mqr_status_name(rc),
                    d.message);
            failures++;
        }
    }
    while (mqr_http_pending(client) > 0) {
        if (mqr_http_poll(client, 1000) != MQR_OK) {
            fprintf(stderr, "mqttrule-http-post: poll failed\n");
            break;
        }
        fflush(stdout);
    }
    mqr_http_metrics_t m;
    mqr_http_metrics(client, &m);
    print_metrics(&m);
    mqr_http_destroy(client);
    for (long i = 0; i < n; i++)
        free(lines[i].text);
    free(lines);
    return failures ? 1 : 0;
}
