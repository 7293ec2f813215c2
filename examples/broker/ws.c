/* SPDX-License-Identifier: MIT */
/*
 * ws.c - MQTT over WebSocket (RFC 6455) for listeners with
 * `protocol websockets`, over plain TCP or TLS alike.
 *
 * Two pure parsers in the style of picohttpparser, which never allocate and
 * return the bytes consumed, BRK_WS_INCOMPLETE, or BRK_WS_BAD with a reason:
 * brk_ws_parse_request reads the HTTP upgrade request (its outputs point
 * into the caller's buffer) and brk_ws_parse_frame one frame header, saying
 * how long the whole frame is. tests/fuzz/fuzz_ws.c feeds them arbitrary
 * bytes.
 *
 * The connection glue (brk_ws_input) keeps a partial request or frame in a
 * buffer of its own until it is complete, answers the upgrade (101 with
 * Sec-WebSocket-Accept and the subprotocol mqtt or mqttv3.1; 400, 403 (an
 * Origin not in ws_check_origins), 404 or 426 with the reason in the body
 * otherwise), unmasks each client frame in place
 * and hands binary payloads to the MQTT decoder, which sees one byte stream:
 * packets split across frames and packed within one frame both work, and so
 * do fragmented messages. Pings are answered, the close handshake is
 * completed, unmasked client frames, text frames and frames above
 * max_packet_size are refused with the close code RFC 6455 assigns. Each
 * outgoing MQTT packet is one binary frame (brk_conn_send).
 *
 * Sec-WebSocket-Accept needs SHA-1: OpenSSL's when the broker is built with
 * it, otherwise the small implementation below.
 */
#include <stdlib.h>
#include <string.h>

#ifdef BRK_HAVE_TLS
#include <openssl/sha.h>
#endif

#include "broker.h"

struct brk_ws {
    uint8_t upgraded; /* 101 sent: frames follow */
    uint8_t frag;     /* a fragmented binary message is open */
    uint8_t closing;  /* our close frame is queued */
    uint8_t *in;      /* a partial request or frame; NULL while none */
    size_t in_len, in_cap;
};

#define WS_MAX_REQUEST 8192 /* bytes of an upgrade request, headers included */

/* ---- the pure parsers --------------------------------------------------------------- */

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t bl = strlen(b);
    if (alen != bl)
        return 0;
    for (size_t i = 0; i < bl; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* 1 if the comma-separated list `v` (`len` bytes) holds `tok` (case-blind). */
static int list_has(const char *v, size_t len, const char *tok)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && ieq(v + s, e - s, tok))
            return 1;
    }
    return 0;
}

/* Bad request: set the reason and return BRK_WS_BAD. */
static long req_bad(brk_ws_req_t *r, const char *why)
{
    r->why = why;
    return BRK_WS_BAD;
}

/*
 * Parse an HTTP/1.1 request head:
 *   request   = method SP target SP "HTTP/1." DIGIT CRLF *(header CRLF) CRLF
 *   header    = name ":" OWS value OWS
 * The fields the upgrade needs are set in *r, pointing into `buf`. Returns
 * the bytes of the head (request line to the empty line), BRK_WS_INCOMPLETE
 * when it has not all arrived, or BRK_WS_BAD with r->why.
 */
long brk_ws_parse_request(const uint8_t *buf, size_t len, brk_ws_req_t *r)
{
    memset(r, 0, sizeof *r);
    const char *p = (const char *)buf;
    size_t end = 0;
    for (size_t i = 0; i + 3 < len; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            end = i + 4;
            break;
        }
    }
    if (end == 0)
        return BRK_WS_INCOMPLETE;
    /* request line */
    size_t i = 0;
    while (i < end && p[i] != ' ' && p[i] != '\r')
        i++;
    if (i == 0 || p[i] != ' ')
        return req_bad(r, "malformed request line");
    r->method = p;
    r->method_len = i;
    size_t ts = ++i;
    while (i < end && p[i] != ' ' && p[i] != '\r')
        i++;
    if (i == ts || p[i] != ' ')
        return req_bad(r, "malformed request line");
    r->path = p + ts;
    r->path_len = i - ts;
    i++;
    if (end - i < 10 || memcmp(p + i, "HTTP/1.", 7) != 0 || p[i + 7] < '0' || p[i + 7] > '9' ||
        p[i + 8] != '\r')
        return req_bad(r, "not an HTTP/1.x request");
    r->minor_version = p[i + 7] - '0';
    i += 10;
    /* headers */
    while (i < end - 2) {
        size_t ns = i;
        while (i < end && p[i] != ':' && p[i] != '\r')
            i++;
        if (p[i] != ':' || i == ns || p[ns] == ' ' || p[ns] == '\t')
            return req_bad(r, "malformed header line");
        size_t nl = i - ns;
        i++;
        while (i < end && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t vs = i;
        while (i < end && p[i] != '\r')
            i++;
        size_t ve = i;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        if (i + 1 >= end || p[i + 1] != '\n')
            return req_bad(r, "malformed header line");
        i += 2;
        const char *n = p + ns, *v = p + vs;
        size_t vl = ve - vs;
        if (ieq(n, nl, "host")) {
            r->has_host = 1;
        } else if (ieq(n, nl, "upgrade")) {
            r->upgrade_ws = (uint8_t)list_has(v, vl, "websocket");
        } else if (ieq(n, nl, "connection")) {
            r->conn_upgrade = (uint8_t)list_has(v, vl, "upgrade");
        } else if (ieq(n, nl, "sec-websocket-key")) {
            r->key = v;
            r->key_len = vl;
        } else if (ieq(n, nl, "sec-websocket-version")) {
            r->version = v;
            r->version_len = vl;
        } else if (ieq(n, nl, "sec-websocket-protocol")) {
            r->protocols = v;
            r->protocols_len = vl;
        } else if (ieq(n, nl, "origin")) {
            if (r->origins++ == 0) {
                r->origin = v;
                r->origin_len = vl;
            }
            if (r->origins == 0)
                r->origins = 2; /* wrapped: still "more than one" */
        }
    }
    return (long)end;
}

/* A valid Sec-WebSocket-Key: base64 of 16 bytes (24 characters, "=="). */
static int key_ok(const char *k, size_t len)
{
    if (len != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return 0;
    }
    return 1;
}

/*
 * Decide a parsed upgrade request against `mqtt_path`. Returns 0 and the
 * subprotocol to answer in *proto (NULL: the client offered none), or the
 * HTTP status refusing it with *why: 400 (not a valid upgrade), 404 (another
 * path), 426 (not a WebSocket upgrade, or a version other than 13).
 */
int brk_ws_check_upgrade(const brk_ws_req_t *r, const char *mqtt_path, const char **proto,
                         const char **why)
{
    *proto = NULL;
    size_t pl = 0;
    while (pl < r->path_len && r->path[pl] != '?')
        pl++;
    if (r->method_len != 3 || memcmp(r->method, "GET", 3) != 0)
        return *why = "a WebSocket upgrade is a GET request", 400;
    if (r->minor_version < 1)
        return *why = "a WebSocket upgrade needs HTTP/1.1", 400;
    if (pl != strlen(mqtt_path) || memcmp(r->path, mqtt_path, pl) != 0)
        return *why = "no MQTT endpoint at this path (see mqtt_path)", 404;
    if (!r->upgrade_ws)
        return *why = "this is an MQTT over WebSocket endpoint: send Upgrade: websocket", 426;
    if (!r->conn_upgrade)
        return *why = "the Connection header must include Upgrade", 400;
    if (!r->has_host)
        return *why = "the Host header is missing", 400;
    if (r->version_len != 2 || memcmp(r->version, "13", 2) != 0)
        return *why = "only Sec-WebSocket-Version 13 is supported", 426;
    if (!key_ok(r->key, r->key_len))
        return *why = "Sec-WebSocket-Key is missing or not 16 bytes in base64", 400;
    if (r->protocols != NULL) {
        if (list_has(r->protocols, r->protocols_len, "mqtt"))
            *proto = "mqtt";
        else if (list_has(r->protocols, r->protocols_len, "mqttv3.1"))
            *proto = "mqttv3.1";
        else
            return *why = "Sec-WebSocket-Protocol offers neither mqtt nor mqttv3.1", 400;
    }
    return 0;
}

/*
 * Decide the Origin header of an upgrade request against the listener's
 * ws_check_origins `allowed` (EMQX's websocket.check_origins; a browser
 * names the page that opens the WebSocket there, so a page of another site
 * cannot connect with the user's cookies or network position). An empty
 * list checks nothing. Origins compare case-blind (scheme and host are).
 * A request without Origin (not from a browser: devices, MQTT.js in node)
 * passes when `allow_absence` (EMQX's allow_origin_absence). Returns 0, or
 * 403 with *why (an origin not listed, none, or more than one).
 */
int brk_ws_check_origin(const brk_ws_req_t *r, const brk_str_list_t *allowed, int allow_absence,
                        const char **why)
{
    if (allowed->count == 0)
        return 0;
    if (r->origins == 0)
        return allow_absence ? 0
                             : (*why = "no Origin header, and ws_allow_origin_absence is false",
                                403);
    if (r->origins > 1)
        return *why = "more than one Origin header", 403;
    for (size_t i = 0; i < allowed->count; i++)
        if (ieq(r->origin, r->origin_len, allowed->items[i]))
            return 0;
    return *why = "the Origin is not in ws_check_origins", 403;
}

/*
 * Parse one client frame at `buf`:
 *   frame = FIN RSV1-3 opcode(4) | MASK len7 [len16 | len64] mask-key(4) payload
 * Returns the length of the whole frame when all of it is in `buf` (the
 * payload starts at f->hdr_len), BRK_WS_INCOMPLETE when more bytes are
 * needed, or BRK_WS_BAD with f->why and the close code to answer
 * (1002 protocol error, 1009 above `max_payload`).
 */
long brk_ws_parse_frame(const uint8_t *buf, size_t len, uint64_t max_payload, brk_ws_frame_t *f)
{
    memset(f, 0, sizeof *f);
    if (len < 2)
        return BRK_WS_INCOMPLETE;
    f->fin = buf[0] >> 7;
    f->opcode = buf[0] & 0x0F;
    f->masked = buf[1] >> 7;
    f->close_code = 1002;
    if (buf[0] & 0x70)
        return f->why = "RSV bits set without a negotiated extension", BRK_WS_BAD;
    if (f->opcode > 2 && (f->opcode < 8 || f->opcode > 10))
        return f->why = "unknown opcode", BRK_WS_BAD;
    if (!f->masked)
        return f->why = "client frame not masked", BRK_WS_BAD;
    uint64_t pl = buf[1] & 0x7F;
    size_t h = 2;
    if (pl == 126) {
        if (len < 4)
            return BRK_WS_INCOMPLETE;
        pl = (uint64_t)buf[2] << 8 | buf[3];
        h = 4;
    } else if (pl == 127) {
        if (len < 10)
            return BRK_WS_INCOMPLETE;
        if (buf[2] & 0x80)
            return f->why = "payload length with the top bit set", BRK_WS_BAD;
        pl = 0;
        for (int i = 2; i < 10; i++)
            pl = pl << 8 | buf[i];
        h = 10;
    }
    if (f->opcode >= 8 && (!f->fin || pl > 125))
        return f->why = "control frame fragmented or longer than 125 bytes", BRK_WS_BAD;
    if (pl > max_payload) {
        f->close_code = 1009;
        return f->why = "frame larger than max_packet_size", BRK_WS_BAD;
    }
    f->payload_len = pl;
    if (len < h + 4)
        return BRK_WS_INCOMPLETE;
    memcpy(f->mask, buf + h, 4);
    f->hdr_len = (uint32_t)(h + 4);
    if (len - f->hdr_len < pl)
        return BRK_WS_INCOMPLETE;
    return (long)(f->hdr_len + pl);
}

/* XOR `n` payload bytes at `p` with the frame's mask, in place. */
void brk_ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4])
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[i & 3];
}

/* Write the header of an unmasked server frame (FIN set) carrying `len`
 * payload bytes with `opcode` into `out` (10 bytes room). Returns its length. */
size_t brk_ws_frame_header(uint8_t *out, int opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* ---- Sec-WebSocket-Accept --------------------------------------------------------------- */

#ifndef BRK_HAVE_TLS
/* SHA-1 (FIPS 180-4) of `len` bytes, for the accept key only. */
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    uint64_t bits = (uint64_t)len * 8;
    size_t total = (len + 9 + 63) / 64 * 64;
    for (size_t off = 0; off < total; off += 64) {
        uint8_t blk[64];
        for (size_t i = 0; i < 64; i++) {
            size_t k = off + i;
            blk[i] = k < len ? msg[k] : k == len ? 0x80 : 0;
            if (k >= total - 8)
                blk[i] = (uint8_t)(bits >> (8 * (total - 1 - k)));
        }
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
                   (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
        for (int i = 16; i < 80; i++) {
            uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
            w[i] = x << 1 | x >> 31;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20)
                f = (b & c) | (~b & d), k = 0x5A827999u;
            else if (i < 40)
                f = b ^ c ^ d, k = 0x6ED9EBA1u;
            else if (i < 60)
                f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
            else
                f = b ^ c ^ d, k = 0xCA62C1D6u;
            uint32_t t = (a << 5 | a >> 27) + f + e + k + w[i];
            e = d;
            d = c;
            c = b << 30 | b >> 2;
            b = a;
            a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    for (int i = 0; i < 20; i++)
        out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}
#else
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
    SHA1(msg, len, out);
}
#endif

/* base64(SHA-1(key + RFC 6455 GUID)) into out (29 bytes room, NUL-terminated). */
void brk_ws_accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t in[64 + sizeof guid], d[21];
    size_t kl = key_len > 64 ? 64 : key_len;
    memcpy(in, key, kl);
    memcpy(in + kl, guid, sizeof guid - 1);
    sha1(in, kl + sizeof guid - 1, d);
    d[20] = 0;
    size_t o = 0;
    for (size_t i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)(i + 1 < 21 ? d[i + 1] : 0) << 8 |
                     (i + 2 < 21 ? d[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    out[27] = '='; /* 20 bytes: 27 characters and one '=' */
    out[28] = 0;
}

/* ---- the connection ---------------------------------------------------------------------- */

int brk_ws_conn_start(broker_t *b, brk_conn_t *c)
{
    (void)b;
    c->ws = calloc(1, sizeof *c->ws);
    return c->ws != NULL ? 0 : -1;
}

void brk_ws_conn_free(brk_conn_t *c)
{
    if (c->ws == NULL)
        return;
    free(c->ws->in);
    free(c->ws);
    c->ws = NULL;
}

static const char *status_text(int status)
{
    switch (status) {
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Bad Request";
    }
}

/* Answer with `status` and `why` as the body, log and count it, close. */
static void http_refuse(broker_t *b, brk_conn_t *c, int status, const char *why,
                        const brk_ws_req_t *r)
{
    char resp[768], st[8];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n%s\n",
                     status, status_text(status), strlen(why) + 1,
                     status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : "",
                     why);
    if (n > 0 && (size_t)n < sizeof resp)
        brk_conn_send_raw(b, c, (const uint8_t *)resp, (size_t)n);
    snprintf(st, sizeof st, "%d", status);
    brk_xport_count(b, "ws.refused", st);
    char origin[224] = "";
    if (status == 403 && r != NULL && r->origin != NULL) { /* printable, bounded */
        size_t k = 0, on = r->origin_len > 200 ? 200 : r->origin_len;
        k += (size_t)snprintf(origin, sizeof origin, ", origin '");
        for (size_t i = 0; i < on; i++)
            origin[k++] = r->origin[i] >= 0x20 && r->origin[i] < 0x7F ? r->origin[i] : '?';
        snprintf(origin + k, sizeof origin - k, "%s'", r->origin_len > on ? "..." : "");
    }
    brk_log(b, 0, "WebSocket upgrade from %s on listener %u refused (%d): %s%s%.*s%s%s",
            c->peername, (unsigned)b->cfg.listeners[c->listener].port, status, why,
            r && r->path ? " (" : "", r && r->path ? (int)(r->path_len > 200 ? 200 : r->path_len) : 0,
            r && r->path ? r->path : "", origin, r && r->path ? ")" : "");
    brk_conn_close(b, c, NULL);
}

/* The upgrade request parsed: answer 101 or refuse. 0, or -1 when closed. */
static int upgrade(broker_t *b, brk_conn_t *c, const brk_ws_req_t *r)
{
    const brk_listener_cfg_t *l = &b->cfg.listeners[c->listener];
    const char *proto = NULL, *why = NULL;
    int status = brk_ws_check_upgrade(r, l->mqtt_path ? l->mqtt_path : "/mqtt", &proto, &why);
    if (status == 0)
        status = brk_ws_check_origin(r, &l->ws_origins, l->ws_no_origin != 2, &why);
    if (status != 0) {
        http_refuse(b, c, status, why, r);
        return -1;
    }
    char acc[29], resp[256];
    brk_ws_accept_key(r->key, r->key_len, acc);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     acc, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                     proto ? "\r\n" : "");
    brk_conn_send_raw(b, c, (const uint8_t *)resp, (size_t)n);
    c->ws->upgraded = 1;
    b->stats.ws_upgrades++;
    brk_log(b, 1, "WebSocket upgrade from %s on listener %u (%s)", c->peername,
            (unsigned)l->port, proto ? proto : "no subprotocol");
    return 0;
}

/* Send a control frame (close, pong) with `payload`. */
static void send_control(broker_t *b, brk_conn_t *c, int opcode, const uint8_t *payload,
                         size_t len)
{
    uint8_t h[10];
    brk_conn_send_raw(b, c, h, brk_ws_frame_header(h, opcode, len));
    if (len > 0)
        brk_conn_send_raw(b, c, payload, len);
}

/* Refuse a frame: close frame with `code`, log, count, close. */
static void frame_refuse(broker_t *b, brk_conn_t *c, uint16_t code, const char *why)
{
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_control(b, c, 8, p, 2);
    c->ws->closing = 1;
    brk_xport_count(b, "ws.closed", why);
    brk_log(b, 0, "WebSocket from %s: %s; closing (%u)", c->peername, why, (unsigned)code);
    brk_conn_close(b, c, "protocol_error");
}

/* Handle one complete frame (payload unmasked at `p`). 0, or -1 when closed. */
static int frame(broker_t *b, brk_conn_t *c, const brk_ws_frame_t *f, const uint8_t *p)
{
    brk_ws_t *ws = c->ws;
    size_t n = (size_t)f->payload_len;
    switch (f->opcode) {
    case 0: /* continuation */
    case 2: /* binary */
        if (f->opcode == 0 && !ws->frag) {
            frame_refuse(b, c, 1002, "continuation frame without a message to continue");
            return -1;
        }
        if (f->opcode == 2 && ws->frag) {
            frame_refuse(b, c, 1002, "new message inside a fragmented one");
            return -1;
        }
        ws->frag = !f->fin;
        if (n > 0)
            brk_conn_feed(b, c, p, n);
        return c->state == BRK_CS_CLOSED ? -1 : 0;
    case 1:
        frame_refuse(b, c, 1003, "text frame (MQTT travels in binary frames)");
        return -1;
    case 8: { /* close: answer with the same code, then close */
        uint16_t code = n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1000;
        uint8_t cp[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        send_control(b, c, 8, cp, n >= 2 ? 2 : 0);
        ws->closing = 1;
        brk_log(b, 1, "WebSocket from %s: close frame (%u)", c->peername, (unsigned)code);
        brk_conn_close(b, c, "tcp_closed");
        return -1;
    }
    case 9: /* ping */
        send_control(b, c, 10, p, n);
        return 0;
    default: /* pong */
        return 0;
    }
}

/* Consume what can be consumed of data[0..len) (writable); returns the
 * bytes used, or (size_t)-1 when the connection was closed. */
static size_t consume(broker_t *b, brk_conn_t *c, uint8_t *data, size_t len)
{
    brk_ws_t *ws = c->ws;
    size_t pos = 0;
    if (!ws->upgraded) {
        brk_ws_req_t r;
        long n = brk_ws_parse_request(data, len, &r);
        if (n == BRK_WS_INCOMPLETE) {
            if (len > WS_MAX_REQUEST) {
                http_refuse(b, c, 431, "the upgrade request is larger than 8192 bytes", NULL);
                return (size_t)-1;
            }
            return 0;
        }
        if (n < 0) {
            http_refuse(b, c, 400, r.why, NULL);
            return (size_t)-1;
        }
        if (upgrade(b, c, &r) != 0)
            return (size_t)-1;
        pos = (size_t)n;
    }
    uint64_t max = b->cfg.max_packet_size ? b->cfg.max_packet_size : 268435460u;
    while (pos < len) {
        brk_ws_frame_t f;
        long n = brk_ws_parse_frame(data + pos, len - pos, max, &f);
        if (n == BRK_WS_INCOMPLETE)
            break;
        if (n < 0) {
            frame_refuse(b, c, f.close_code, f.why);
            return (size_t)-1;
        }
        uint8_t *p = data + pos + f.hdr_len;
        brk_ws_unmask(p, (size_t)f.payload_len, f.mask);
        pos += (size_t)n;
        if (frame(b, c, &f, p) != 0)
            return (size_t)-1;
    }
    return pos;
}

/*
 * Bytes read on WebSocket connection `c` (writable: frames are unmasked in
 * place): the upgrade request first, then frames. A partial request or
 * frame is kept in c->ws->in until the rest arrives.
 */
void brk_ws_input(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t len)
{
    brk_ws_t *ws = c->ws;
    if (ws->in_len > 0) {
        if (ws->in_len + len > ws->in_cap) {
            size_t cap = ws->in_cap * 2;
            while (cap < ws->in_len + len)
                cap *= 2;
            uint8_t *nb = realloc(ws->in, cap);
            if (nb == NULL) {
                brk_conn_close(b, c, "internal_error");
                return;
            }
            ws->in = nb;
            ws->in_cap = cap;
        }
        memcpy(ws->in + ws->in_len, buf, len);
        ws->in_len += len;
        buf = ws->in;
        len = ws->in_len;
    }
    size_t used = consume(b, c, buf, len);
    if (used == (size_t)-1 || c->state == BRK_CS_CLOSED)
        return;
    size_t rest = len - used;
    if (buf == ws->in) {
        memmove(ws->in, ws->in + used, rest);
        ws->in_len = rest;
        if (rest == 0) {
            free(ws->in);
            ws->in = NULL;
            ws->in_cap = 0;
        }
        return;
    }
    if (rest == 0)
        return;
    size_t cap = rest < 256 ? 256 : rest;
    ws->in = malloc(cap);
    if (ws->in == NULL) {
        brk_conn_close(b, c, "internal_error");
        return;
    }
    memcpy(ws->in, buf + used, rest);
    ws->in_len = rest;
    ws->in_cap = cap;
}

/* `c` is being closed by the broker: queue the close frame (1000) once. */
void brk_ws_closing(broker_t *b, brk_conn_t *c)
{
    if (c->ws == NULL || !c->ws->upgraded || c->ws->closing)
        return;
    static const uint8_t code[2] = {0x03, 0xE8};
    c->ws->closing = 1;
    send_control(b, c, 8, code, 2);
}

/* ---- HTTP on an MQTT listener ------------------------------------------------------------ */

/* 1 if `buf` starts like an HTTP request (no MQTT packet starts so). */
int brk_ws_looks_http(const uint8_t *buf, size_t len)
{
    static const char *const methods[] = {"GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ",
                                          "DELETE ", "PATCH "};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        size_t ml = strlen(methods[i]);
        if (len >= ml && memcmp(buf, methods[i], ml) == 0)
            return 1;
    }
    return 0;
}

/* An HTTP request arrived on an MQTT (not WebSocket) listener: answer 400
 * saying so, log it with the request line, count it, close. */
void brk_ws_refuse_plain_http(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len)
{
    static const char body[] = "this port speaks MQTT, not HTTP: MQTT over WebSocket needs a "
                               "listener with 'protocol websockets'\n";
    char resp[384];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    brk_conn_send_raw(b, c, (const uint8_t *)resp, (size_t)n);
    size_t ll = 0;
    while (ll < len && ll < 120 && buf[ll] != '\r' && buf[ll] != '\n' && buf[ll] >= 0x20 &&
           buf[ll] < 0x7F)
        ll++;
    brk_xport_count(b, "refused", "http on mqtt listener");
    brk_log(b, 0, "closing %s: an HTTP request (%.*s) arrived on MQTT listener %u; "
                  "MQTT over WebSocket needs a listener with 'protocol websockets'",
            c->peername, (int)ll, (const char *)buf, (unsigned)b->cfg.listeners[c->listener].port);
    brk_conn_close(b, c, NULL);
}
