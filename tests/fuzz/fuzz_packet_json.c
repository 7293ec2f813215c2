/* SPDX-License-Identifier: MIT */
/*
 * fuzz_packet_json.c - feeds mqr_packet_encode_json() arbitrary text as a
 * packet object (the first byte picks the default protocol level 3..5).
 * Whatever it accepts must decode at the level it was encoded at (the
 * object's own "proto_ver", else the default or a CONNECT's), render with
 * mqr_packet_to_json(), and that JSON must encode to the same bytes again:
 * the round trip mqttrule-packet and the Python bindings rely on. The arena
 * is small so its growth paths run too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ver = 3 + data[0] % 3;
    mqr_arena_t *arena = NULL;
    if (mqr_arena_create(NULL, 64, &arena) != MQR_OK)
        return 0;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = mqr_packet_encode_json((const char *)data + 1, size - 1, arena, &ver, &bytes, &len,
                                    NULL);
    mqr_value_t obj;
    const mqr_value_t *own = NULL;
    if (rc == MQR_OK &&
        mqr_json_parse(arena, (const char *)data + 1, size - 1, 0, &obj, NULL) == MQR_OK &&
        obj.type == MQR_VAL_OBJECT)
        own = mqr_value_object_get(&obj, "proto_ver", 9);
    if (own && own->type == MQR_VAL_INT)
        ver = (int)own->u.i;
    if (rc == MQR_OK) {
        /* Copy the bytes: the JSON rendering must not depend on the arena
         * that holds them. */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            abort();
        memcpy(copy, bytes, len);
        mqr_packet_opts_t opts = {0, (uint8_t)ver, MQR_PKT_DIR_ANY, 0};
        mqr_packet_t p;
        size_t used = 0;
        if (mqr_packet_decode(copy, len, &opts, &p, &used, NULL) != MQR_OK || used != len)
            abort();
        const char *json = NULL;
        size_t json_len = 0;
        if (mqr_packet_to_json(&p, arena, &json, &json_len) != MQR_OK)
            abort();
        int ver2 = ver;
        const uint8_t *again = NULL;
        size_t again_len = 0;
        if (mqr_packet_encode_json(json, json_len, arena, &ver2, &again, &again_len, NULL) !=
                MQR_OK ||
            again_len != len || memcmp(again, copy, len) != 0)
            abort();
        free(copy);
    }
    mqr_arena_destroy(arena);
    return 0;
}
