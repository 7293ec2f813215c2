/* SPDX-License-Identifier: MIT */
/*
 * mqttrule-packet - decode raw MQTT bytes (one direction of a TCP stream) to
 * one JSON object per packet per line, and encode such lines back to bytes.
 *
 *   mqttrule-packet decode [--hex] [--proto-ver N] [FILE]
 *   mqttrule-packet encode [--hex] [--proto-ver N] [FILE]
 *
 * It is a thin shell over the library: the stream decoder, and the packet
 * <-> JSON conversion of mqttrule/packet_json.h that the Python bindings
 * share. Decoding takes the protocol level from the stream's CONNECT, else
 * --proto-ver, else 4. Everything the wire
 * can write two ways (omitted reason codes, absent vs empty properties, the
 * DISCONNECT short forms) is recorded, and binary fields fall back to hex, so
 * decode followed by encode gives the input bytes back. The JSON schema is
 * documented in docs/packet.md. Exit status: 0, 1 for a malformed packet or
 * bad JSON (packets before it are still written), 64 for usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mqttrule.h>

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE 64

static const char *prog = "mqttrule-packet";

/* ---- input ---------------------------------------------------------------------- */

/* Read all of f into a malloc'd buffer. */
static uint8_t *read_all(FILE *f, size_t *out_len)
{
    size_t cap = 65536, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    *out_len = len;
    return buf;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Turn hex text (whitespace and #-comments to end of line ignored) into
 * bytes in place; -1 on a bad digit or an odd count, with the offending
 * position in *bad_pos. */
static long hex_decode(uint8_t *buf, size_t len, size_t *bad_pos)
{
    size_t n = 0;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        int c = buf[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '#') { /* a comment runs to the end of the line */
            while (i + 1 < len && buf[i + 1] != '\n')
                i++;
            continue;
        }
        int v = hex_val(c);
        if (v < 0) {
            *bad_pos = i;
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        *bad_pos = len;
        return -1;
    }
    return (long)n;
}

/* ---- decode: packet to JSON --------------------------------------------------------- */

static int cmd_decode(const uint8_t *buf, size_t len, int proto_ver)
{
    mqr_packet_opts_t opts = {0, (uint8_t)proto_ver, MQR_PKT_DIR_ANY, 0};
    mqr_packet_stream_t s;
    mqr_packet_stream_init(&s, &opts);
    mqr_arena_t *arena = NULL;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_BAD_INPUT;
    }
    int status = 0;
    size_t pos = 0;
    while (pos < len && status == 0) {
        mqr_packet_t p;
        size_t n = 0;
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int rc = mqr_packet_stream_next(&s, buf + pos, len - pos, &p, &n, &d);
        if (rc == MQR_OK) {
            const char *json = NULL;
            size_t json_len = 0;
            mqr_arena_reset(arena);
            if (mqr_packet_to_json(&p, arena, &json, &json_len) == MQR_OK) {
                fwrite(json, 1, json_len, stdout);
                putchar('\n');
            } else {
                fprintf(stderr, "%s: out of memory writing JSON\n", prog);
                status = EXIT_BAD_INPUT;
            }
            pos += n;
            continue;
        }
        fflush(stdout);
        status = EXIT_BAD_INPUT;
        if (rc == MQR_NEED_MORE) {
            fprintf(stderr,
                    "%s: input ends inside a %s packet at byte %zu (%zu more bytes needed)\n",
                    prog, mqr_packet_type_name(buf[pos] >> 4), pos, n);
            break;
        }
        fprintf(stderr, "%s: %s\n", prog, d.message);
        fprintf(stderr, "%s: packet %s, field \"%s\", byte offset %llu, reason code 0x%02X (%s)\n",
                prog, mqr_packet_type_name(d.packet_type), d.field,
                (unsigned long long)d.offset, (unsigned)(d.reason_code < 0 ? 0 : d.reason_code),
                mqr_status_name(rc));
    }
    mqr_arena_destroy(arena);
    return status;
}

/* ---- encode: JSON to packet ---------------------------------------------------------- */

static int cmd_encode(char *text, size_t len, int proto_ver, int hex_out)
{
    int ver = proto_ver ? proto_ver : MQR_PROTO_V311;
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_BAD_INPUT;
    }
    size_t line_no = 0;
    char *line = text, *end = text + len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        line_no++;
        char *next = nl ? nl + 1 : end;
        size_t k = 0;
        while (k < ll && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == ll) {
            line = next;
            continue;
        }
        const uint8_t *out = NULL;
        size_t size = 0;
        mqr_diag_t d;
        mqr_diag_clear(&d);
        mqr_arena_reset(arena);
        int rc = mqr_packet_encode_json(line, ll, arena, &ver, &out, &size, &d);
        if (rc == MQR_OK) {
            if (hex_out) {
                for (size_t i = 0; i < size; i++)
                    printf("%02x", out[i]);
                putchar('\n');
            } else {
                fwrite(out, 1, size, stdout);
            }
        }
        if (rc != MQR_OK) {
            fflush(stdout);
            fprintf(stderr, "%s: line %zu: %s\n", prog, line_no,
                    d.message[0] ? d.message : mqr_strerror(rc));
            mqr_arena_destroy(arena);
            return EXIT_BAD_INPUT;
        }
        line = next;
    }
    mqr_arena_destroy(arena);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: %s decode [--hex] [--proto-ver N] [FILE]\n"
            "       %s encode [--hex] [--proto-ver N] [FILE]\n"
            "decode: MQTT bytes (or hex text with --hex) from FILE or stdin to one JSON\n"
            "        object per packet per line; the protocol level comes from the\n"
            "        stream's CONNECT, else --proto-ver (3, 4 or 5), else 4.\n"
            "encode: those JSON lines back to bytes (hex lines with --hex).\n",
            prog, prog);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--version") == 0) {
        printf("mqttrule-packet (libmqttrule %s)\n", mqr_version());
        return 0;
    }
    int encode = 0;
    if (strcmp(argv[1], "encode") == 0)
        encode = 1;
    else if (strcmp(argv[1], "decode") != 0)
        return usage();
    int hex = 0, ver = 0;
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--hex") == 0) {
            hex = 1;
        } else if (strcmp(argv[i], "--proto-ver") == 0 && i + 1 < argc) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (*e || v < 3 || v > 5)
                return usage();
            ver = (int)v;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage();
        } else if (!file) {
            file = argv[i];
        } else {
            return usage();
        }
    }
    FILE *in = stdin;
    if (file && strcmp(file, "-") != 0 && !(in = fopen(file, "rb"))) {
        fprintf(stderr, "%s: cannot open %s\n", prog, file);
        return EXIT_USAGE;
    }
    size_t len = 0;
    uint8_t *buf = read_all(in, &len);
    if (in != stdin)
        fclose(in);
    if (!buf) {
        fprintf(stderr, "%s: out of memory reading the input\n", prog);
        return EXIT_BAD_INPUT;
    }
    int rc;
    if (encode) {
        rc = cmd_encode((char *)buf, len, ver, hex);
    } else {
        size_t badpos = 0;
        long n = hex ? hex_decode(buf, len, &badpos) : (long)len;
        if (n < 0) {
            fprintf(stderr, "%s: bad hex input at character %zu\n", prog, badpos);
            rc = EXIT_BAD_INPUT;
        } else {
            rc = cmd_decode(buf, (size_t)n, ver ? ver : MQR_PROTO_V311);
        }
    }
    free(buf);
    if (fflush(stdout) != 0 && rc == 0)
        rc = EXIT_BAD_INPUT;
    return rc;
}
