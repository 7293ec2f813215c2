/* SPDX-License-Identifier: MIT */
/*
 * json.h - the small JSON reader and string writer mqttrule-packet uses for
 * its one-object-per-line format. Tool code, not library API: the reader
 * builds a tree with malloc (freed by json_free) and keeps object members in
 * input order; strings are decoded UTF-8 with an explicit length, so "\u0000"
 * survives.
 */
#ifndef MQR_PACKET_TOOL_JSON_H
#define MQR_PACKET_TOOL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { JSON_NULL, JSON_BOOL, JSON_INT, JSON_DOUBLE, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

typedef struct json json_t;
struct json {
    int type;
    int64_t i;        /* BOOL (0/1), INT */
    double d;         /* DOUBLE */
    char *s;          /* STRING (NUL-terminated too), object member key */
    size_t len;       /* STRING length */
    json_t **items;   /* ARRAY items, OBJECT member values */
    char **keys;      /* OBJECT member keys */
    size_t *key_lens; /* OBJECT member key lengths */
    size_t count;
};

/* Parse text[0..len) as exactly one JSON value. Returns the tree, or NULL
 * with a message in err (e.g. "column 12: expected ':'"). */
json_t *json_parse(const char *text, size_t len, char *err, size_t err_size);
void json_free(json_t *v);
/* The member `key` of an object, or NULL. */
const json_t *json_get(const json_t *obj, const char *key);

/* Write s[0..len) as a JSON string literal (UTF-8 passed through, control
 * characters, quote and backslash escaped). */
void json_write_string(FILE *out, const char *s, size_t len);

#endif /* MQR_PACKET_TOOL_JSON_H */
