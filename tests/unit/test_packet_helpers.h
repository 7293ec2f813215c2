/* SPDX-License-Identifier: MIT */
/*
 * test_packet_helpers.h - helpers shared by the packet codec's unit tests:
 * hex text to bytes, and the golden packet files of tests/data/packets/
 * (lines "# proto N" and "# dir to-client|to-server" set the options, other
 * '#' lines are comments, the rest is hex with any whitespace).
 */
#ifndef TEST_PACKET_HELPERS_H
#define TEST_PACKET_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mqttrule.h"

#define GOLDEN_MAX 4096

typedef struct golden {
    char name[128];
    uint8_t bytes[GOLDEN_MAX];
    size_t len;
    mqr_packet_opts_t opts;
} golden_t;

/* Append the hex digits of `text` (whitespace ignored) to out; returns the
 * number of bytes, or (size_t)-1 on a bad digit. */
static inline size_t hex_to_bytes(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = text; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            continue;
        else
            return (size_t)-1;
        if (hi < 0) {
            hi = v;
        } else {
            if (n == cap)
                return (size_t)-1;
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? n : (size_t)-1;
}

/* Hex to bytes, failing the test on bad input. */
static inline size_t hx(const char *text, uint8_t *out)
{
    size_t n = hex_to_bytes(text, out, GOLDEN_MAX);
    cr_assert_neq(n, (size_t)-1, "bad hex in test: %s", text);
    return n;
}

/* Load one golden file. */
static inline void golden_load(const char *path, golden_t *g)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    memset(g, 0, sizeof *g);
    const char *base = strrchr(path, '/');
    const char *name = base ? base + 1 : path;
    size_t nl = strlen(name);
    if (nl >= sizeof g->name)
        nl = sizeof g->name - 1;
    memcpy(g->name, name, nl);
    g->name[nl] = '\0';
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            int v;
            if (sscanf(line, "# proto %d", &v) == 1)
                g->opts.proto_ver = (uint8_t)v;
            else if (strncmp(line, "# dir to-client", 15) == 0)
                g->opts.direction = MQR_PKT_DIR_TO_CLIENT;
            else if (strncmp(line, "# dir to-server", 15) == 0)
                g->opts.direction = MQR_PKT_DIR_TO_SERVER;
            continue;
        }
        size_t n = hex_to_bytes(line, g->bytes + g->len, GOLDEN_MAX - g->len);
        cr_assert_neq(n, (size_t)-1, "%s: bad hex", path);
        g->len += n;
    }
    fclose(f);
}

/* Load every golden file; returns how many (at most `max`). */
static inline size_t golden_load_all(golden_t *gs, size_t max)
{
    const char *dir = MQR_TEST_DATA_DIR "/packets";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".hex") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        golden_load(path, &gs[n++]);
    }
    closedir(d);
    return n;
}

#endif /* TEST_PACKET_HELPERS_H */
