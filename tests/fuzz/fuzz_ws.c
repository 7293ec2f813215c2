/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ws.c - libFuzzer target for mqttrule-broker's WebSocket layer
 * (examples/broker/ws.c, linked in by tests/fuzz/CMakeLists.txt).
 *
 * The input's first byte picks what runs on the rest:
 *   even: the pure parsers. brk_ws_parse_request, brk_ws_check_origin (a
 *         fixed list; 0 or 403 with a reason) and brk_ws_check_upgrade on
 *         the bytes (outputs must point inside them), then brk_ws_parse_frame
 *         frame after frame with a small size bound taken from the byte: a
 *         frame must never claim more bytes than given, every proper prefix
 *         of a complete frame must be BRK_WS_INCOMPLETE, and its payload is
 *         unmasked in place. The bytes live in an exact-size heap copy, so
 *         ASan sees any read past their end.
 *   odd:  the connection. A broker with its default rule gets a WebSocket
 *         connection (a socketpair end) that receives a valid upgrade
 *         request, then the rest in chunks of (byte >> 1) bytes through
 *         brk_ws_input, as the loop delivers reads: frames, MQTT packets in
 *         them, refusals and closes. Everything is freed; ASan/LSan report
 *         memory errors and leaks.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_broker_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char UPGRADE[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void inside(const uint8_t *buf, size_t len, const char *p, size_t n)
{
    if (p != NULL && ((const uint8_t *)p < buf || (const uint8_t *)p + n > buf + len))
        __builtin_trap();
}

static void pure(uint8_t *buf, size_t len, uint64_t max)
{
    brk_ws_req_t r;
    long n = brk_ws_parse_request(buf, len, &r);
    if (n > (long)len || n == 0)
        __builtin_trap();
    if (n > 0) {
        inside(buf, len, r.method, r.method_len);
        inside(buf, len, r.path, r.path_len);
        inside(buf, len, r.key, r.key_len);
        inside(buf, len, r.version, r.version_len);
        inside(buf, len, r.protocols, r.protocols_len);
        inside(buf, len, r.origin, r.origin_len);
        if ((r.origins == 0) != (r.origin == NULL))
            __builtin_trap();
        static char *const origins[] = {"http://a.example", "null"};
        const brk_str_list_t allowed = {(char **)origins, 2};
        const char *owhy = NULL;
        int ost = brk_ws_check_origin(&r, &allowed, (int)(max & 1), &owhy);
        if ((ost != 0 && (ost != 403 || owhy == NULL)) ||
            (ost == 0 && r.origins == 0 && !(max & 1)))
            __builtin_trap();
        const brk_str_list_t none = {NULL, 0};
        if (brk_ws_check_origin(&r, &none, 0, &owhy) != 0)
            __builtin_trap();
        const char *proto, *why = NULL;
        int st = brk_ws_check_upgrade(&r, "/mqtt", &proto, &why);
        if (st == 0 && r.key != NULL) {
            char acc[29];
            brk_ws_accept_key(r.key, r.key_len, acc);
            if (strlen(acc) != 28)
                __builtin_trap();
        } else if (st != 0 && (why == NULL || (st != 400 && st != 404 && st != 426))) {
            __builtin_trap();
        }
    } else if (n == BRK_WS_BAD && r.why == NULL) {
        __builtin_trap();
    }
    size_t pos = 0;
    while (pos < len) {
        brk_ws_frame_t f;
        long m = brk_ws_parse_frame(buf + pos, len - pos, max, &f);
        if (m == BRK_WS_INCOMPLETE)
            break;
        if (m == BRK_WS_BAD) {
            if (f.why == NULL || (f.close_code != 1002 && f.close_code != 1009))
                __builtin_trap();
            break;
        }
        if (m <= 0 || (size_t)m > len - pos || f.hdr_len + f.payload_len != (uint64_t)m ||
            f.payload_len > max)
            __builtin_trap();
        size_t cuts[3] = {1, f.hdr_len - 1, (size_t)m - 1};
        for (int i = 0; i < 3; i++) {
            brk_ws_frame_t g;
            if (cuts[i] < (size_t)m && brk_ws_parse_frame(buf + pos, cuts[i], max, &g) !=
                                            BRK_WS_INCOMPLETE)
                __builtin_trap();
        }
        brk_ws_unmask(buf + pos + f.hdr_len, (size_t)f.payload_len, f.mask);
        pos += (size_t)m;
    }
}

static void tune(brk_config_t *cfg)
{
    cfg->max_packet_size = 2048;
    cfg->listeners[0].websockets = 1;
}

static void connection(const uint8_t *data, size_t size, size_t chunk)
{
    static broker_t b;
    int mine, peer;
    fz_broker_init(&b, tune);
    if (fz_pair(&mine, &peer) != 0)
        __builtin_trap();
    brk_conn_t *c = brk_conn_new(&b, mine, NULL, 0, NULL);
    if (c == NULL || brk_listener_attach(&b, c, 0) != 0)
        __builtin_trap();
    uint8_t *tmp = malloc(sizeof UPGRADE + size + 1);
    memcpy(tmp, UPGRADE, sizeof UPGRADE - 1);
    brk_ws_input(&b, c, tmp, sizeof UPGRADE - 1);
    brk_loop_flush(&b);
    fz_drain(peer);
    for (size_t pos = 0; pos < size && fz_conn_alive(&b, c); pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        memcpy(tmp, data + pos, n);
        brk_ws_input(&b, c, tmp, n);
        brk_loop_flush(&b);
        fz_drain(peer);
    }
    free(tmp);
    fz_broker_free(&b);
    close(peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    if (sel & 1) {
        connection(data + 1, size - 1, sel >> 1 ? sel >> 1 : size);
        return 0;
    }
    uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
    memcpy(copy, data + 1, size - 1);
    pure(copy, size - 1, (uint64_t)(sel >> 1) * 4);
    free(copy);
    return 0;
}
