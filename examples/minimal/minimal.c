/* SPDX-License-Identifier: MIT */
/*
 * minimal.c - the smallest useful program on the installed library: compile
 * the source document's rule once, evaluate it on one client.connack event,
 * print the output JSON. tests/install/run.sh builds it against an installed
 * tree with pkg-config and with find_package(), and checks what it prints.
 */
#include <stdio.h>
#include <string.h>

#include <mqttrule.h>

int main(void)
{
    static const char sql[] =
        "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\"";
    mqr_diag_t diag;
    mqr_rule_t *rule = NULL;
    if (mqr_rule_compile(sql, strlen(sql), NULL, &rule, &diag) != MQR_OK) {
        fprintf(stderr, "compile: %s\n", diag.message);
        return 1;
    }

    /* The event's columns: an object built in an arena. A broker gets them
     * from mqr_event_connack_build(); here they are written by hand. */
    mqr_arena_t *arena = NULL;
    mqr_rule_scratch_t *scratch = NULL;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK ||
        mqr_rule_scratch_create(NULL, &scratch) != MQR_OK)
        return 1;
    mqr_value_t event, v;
    mqr_value_object_new(arena, 8, &event);
    mqr_value_set_string(&v, "client.connack", 14);
    mqr_value_object_put(arena, &event, "event", 5, &v);
    mqr_value_set_string(&v, "conn", 4);
    mqr_value_object_put(arena, &event, "clientid", 8, &v);
    mqr_value_set_string(&v, "u_emqx", 6);
    mqr_value_object_put(arena, &event, "username", 8, &v);
    mqr_value_set_string(&v, "success", 7);
    mqr_value_object_put(arena, &event, "reason_code", 11, &v);
    mqr_value_set_int(&v, 1645003578856);
    mqr_value_object_put(arena, &event, "timestamp", 9, &v);

    const char *json;
    size_t len;
    int rc = mqr_rule_eval_json(rule, scratch, &event, &json, &len, &diag);
    if (rc == MQR_OK)
        printf("%.*s\n", (int)len, json);
    else
        fprintf(stderr, "eval: %s: %s\n", mqr_status_name(rc), diag.message);

    mqr_rule_scratch_free(scratch);
    mqr_arena_destroy(arena);
    mqr_rule_free(rule);
    return rc == MQR_OK ? 0 : 1;
}
