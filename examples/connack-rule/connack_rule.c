/* SPDX-License-Identifier: MIT */
/*
 * connack_rule.c - mqttrule-connack-rule: the smallest useful embedding of
 * the engine, following the source document's scenario step by step (see
 * docs/engine.md, "Walkthrough").
 *
 *   mqttrule-connack-rule [URL]
 *
 * 1. Create an engine.
 * 2. Add the document's rule:
 *      SELECT clientid, username, reason_code, timestamp
 *      FROM "$events/client_connack"
 * 3. Attach a callback action (prints each output) and, when a URL is given,
 *    an HTTP action that POSTs each output as JSON to it.
 * 4. Feed CONNACK events: decode a CONNECT as a broker would, decide the
 *    reason code, and emit client.connack with mqr_engine_emit_connack().
 * 5. Drive the HTTP action until nothing is pending, print the metrics.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mqttrule.h>

/* Step 3: the callback action receives the rule id and the output. */
static int print_output(void *ud, const char *rule_id, const char *json, size_t len,
                        const mqr_value_t *output)
{
    (void)ud;
    (void)output;
    printf("rule %s: %.*s\n", rule_id, (int)len, json);
    return MQR_OK;
}

/* A v3.1.1 CONNECT from client "sensor-1" with user name "alice". */
static const uint8_t connect_bytes[] = {
    0x10, 0x1b,                                             /* CONNECT, 27 bytes follow */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3c, /* 3.1.1, flags, keepalive */
    0x00, 0x08, 's', 'e', 'n', 's', 'o', 'r', '-', '1',     /* client id */
    0x00, 0x05, 'a', 'l', 'i', 'c', 'e',                    /* user name */
};

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        int help = argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fprintf(help ? stdout : stderr,
                "usage: mqttrule-connack-rule [URL]\n"
                "Runs the connack rule over three recorded CONNECTs; with URL (http:// or\n"
                "https://) the outputs are also POSTed there.\n");
        return help ? 0 : 2;
    }
    /* Step 1: an engine with the default options (names profile "doc", D1). */
    mqr_engine_t *engine = NULL;
    if (mqr_engine_create(NULL, &engine) != MQR_OK)
        return 1;

    /* Step 2: the rule. Compile errors come back with line and column. */
    mqr_diag_t diag;
    mqr_engine_rule_def_t rule = {
        .id = "connack_rule",
        .sql = "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\"",
        .description = "CONNACK events to a callback and an HTTP service",
        .enabled = 1,
    };
    int rc = mqr_engine_rule_add(engine, &rule, &diag);
    if (rc != MQR_OK) {
        fprintf(stderr, "rule: %s\n", diag.message);
        mqr_engine_destroy(engine);
        return 1;
    }

    /* Step 3: the actions. */
    mqr_engine_action_add_callback(engine, "connack_rule", print_output, NULL, NULL, NULL);
    uint32_t http_id = 0;
    if (argc > 1) {
        mqr_http_action_config_t http;
        memset(&http, 0, sizeof http);
        mqr_http_config_init(&http.http);
        http.http.url = argv[1];
        http.http.ttl_ms = 5000; /* give up on a message after 5 s */
        rc = mqr_engine_action_add_http(engine, "connack_rule", &http, &http_id, &diag);
        if (rc != MQR_OK) {
            fprintf(stderr, "http action: %s\n", diag.message);
            mqr_engine_destroy(engine);
            return 1;
        }
    }

    /* Step 4: the broker decodes a CONNECT and decides the CONNACK. */
    mqr_packet_t connect;
    size_t used = 0;
    if (mqr_packet_decode(connect_bytes, sizeof connect_bytes, NULL, &connect, &used, &diag) !=
        MQR_OK) {
        fprintf(stderr, "decode: %s\n", diag.message);
        mqr_engine_destroy(engine);
        return 1;
    }
    const int32_t decisions[] = {0x00, 0x86, 0x87}; /* success, bad password, not authorized */
    for (size_t i = 0; i < sizeof decisions / sizeof decisions[0]; i++) {
        mqr_connack_input_t in;
        mqr_event_connack_init(&in);
        in.connect = &connect;
        in.reason_code = decisions[i];
        mqr_engine_emit_connack(engine, &in, NULL, NULL);
    }

    /* Step 5: the host loop; a broker would take the engine's descriptors into its own
     * through the sock_fn and timer_fn options (examples/host/host.c). */
    uint64_t deadline = mqr_http_now_ms() + 10000;
    while (mqr_engine_pending(engine) > 0 && mqr_http_now_ms() < deadline)
        mqr_engine_poll(engine, 100);

    char json[2048];
    size_t len = 0;
    mqr_engine_rule_metrics_json(engine, "connack_rule", json, sizeof json, &len);
    printf("metrics: %s\n", json);
    mqr_engine_destroy(engine);
    return 0;
}
