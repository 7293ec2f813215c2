/* SPDX-License-Identifier: MIT */
/*
 * fuzz_packet_roundtrip.c - libFuzzer target for decode -> encode -> decode.
 * The first input byte picks the protocol level; the rest is decoded as one
 * packet. Whatever decodes must encode (size query and encoder agree), the
 * encoding must be the input bytes exactly, a buffer one byte short must give
 * MQR_EBUFFER without a write past it, and decoding the output must succeed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    mqr_packet_opts_t o;
    memset(&o, 0, sizeof o);
    o.proto_ver = (uint8_t)(3 + data[0] % 3);
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    mqr_packet_t p, q;
    size_t used = 0;
    if (mqr_packet_decode(in, len, &o, &p, &used, NULL) != MQR_OK)
        return 0;
    size_t want = 0;
    if (mqr_packet_size(&p, &want, NULL) != MQR_OK || want != used)
        abort();
    uint8_t *out = malloc(used);
    size_t n = 0;
    if (mqr_packet_encode(&p, out, used, &n, NULL) != MQR_OK || n != used ||
        memcmp(out, in, used) != 0)
        abort();
    uint8_t *shortb = malloc(used - 1 ? used - 1 : 1);
    if (mqr_packet_encode(&p, shortb, used - 1, &n, NULL) != MQR_EBUFFER)
        abort();
    free(shortb);
    o.proto_ver = p.proto_ver;
    if (mqr_packet_decode(out, used, &o, &q, &n, NULL) != MQR_OK || n != used ||
        q.type != p.type || q.remaining_length != p.remaining_length)
        abort();
    free(out);
    return 0;
}
