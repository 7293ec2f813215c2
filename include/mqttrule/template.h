/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/template.h - action templates: text with `${...}` placeholders
 * filled from a rule's output (spec §8), as republish (topic, payload, ...)
 * and the HTTP action (path, headers, body) use them.
 *
 * A template is compiled once into a compact form (literal runs and
 * placeholder paths) and rendered many times. The syntax:
 *   ${name}, ${a.b.c}   the value at that path of the output; a leading dot
 *                       is ignored (${.a.b} is ${a.b});
 *   ${.} and ${}        the whole output as compact JSON;
 *   ${$}                a literal '$';
 * a placeholder name may only contain [A-Za-z0-9._]: anything else (such as
 * ${pub_props.'User-Property'} or ${a[1]}) is not a placeholder and stays in
 * the text as written, as does a `${` without its `}`.
 *
 * Path lookup starts at the output object (not the raw event columns),
 * descends objects, and JSON-decodes a string it meets once before going on
 * (so ${payload.x} works on a raw JSON payload); anything else is missing.
 * Values render as text: strings as-is (no escaping), integers in decimal,
 * floats with up to 10 decimals and at least one ("1.0"), true/false, null,
 * objects and arrays as compact JSON, missing or undefined values as the
 * text "undefined".
 *
 * Threads: a compiled template is immutable; any number of threads may
 * render it at once.
 */
#ifndef MQTTRULE_TEMPLATE_H
#define MQTTRULE_TEMPLATE_H

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */
/* Longest template text accepted by mqr_template_compile(). */
#define MQR_TEMPLATE_MAX_LEN 16777216u
/* Render flag (D4): the JSON that ${.} produces renders undefined as null
 * instead of "undefined". A ${path} placeholder keeps EMQX's text rendering
 * (a missing value is the text "undefined"). */
#define MQR_TEMPLATE_UNDEFINED_AS_NULL 0x01u

/* ---- types ------------------------------------------------------------------ */
typedef struct mqr_template mqr_template_t;

/* ---- compiling ----------------------------------------------------------------- */

/**
 * Compile `len` bytes of template text into *out_tpl. Every text is a valid
 * template (what is not a placeholder is literal text), so the only failures
 * are argument, size and memory errors. The text is copied: the caller may
 * free it afterwards.
 *
 * alloc: the allocator for the template's memory (NULL: libc). It is kept
 * and also used by mqr_template_render() for scratch memory.
 *
 * Returns:
 *   MQR_OK      compiled; the caller owns *out_tpl (free with mqr_template_free());
 *   MQR_EINVAL  out_tpl NULL, or text NULL with len > 0;
 *   MQR_ELIMIT  len > MQR_TEMPLATE_MAX_LEN;
 *   MQR_ENOMEM  an allocation failed.
 * On failure *out_tpl is NULL and diag (if not NULL) holds the code and a message.
 * Thread-safe.
 */
MQR_API int mqr_template_compile(const char *text, size_t len, const mqr_allocator_t *alloc,
                                 mqr_template_t **out_tpl, mqr_diag_t *diag);

/** Free a compiled template. NULL is ignored. No render may be running on it. */
MQR_API void mqr_template_free(mqr_template_t *tpl);

/* ---- inspecting ------------------------------------------------------------------ */

/** Number of placeholders (${$} is not one; ${.} is). 0 for NULL. Thread-safe. */
MQR_API uint32_t mqr_template_placeholder_count(const mqr_template_t *tpl);

/** 1 when the whole template is exactly one placeholder (such as "${qos}"),
 *  the form whose value republish uses as-is; 0 otherwise or for NULL. */
MQR_API int mqr_template_is_single_placeholder(const mqr_template_t *tpl);

/* ---- rendering ------------------------------------------------------------------- */

/**
 * Render `tpl` with `output` (normally the rule's output object; NULL is
 * taken as undefined) into buf[0..cap).
 *
 * Size query: with buf NULL and cap 0, *out_len receives the length the text
 * needs and the call returns MQR_EBUFFER (or MQR_OK when it is empty). The
 * text may contain NUL bytes (a string value can); a terminating NUL is
 * written after it only when cap > *out_len.
 *
 * flags: MQR_TEMPLATE_* (0 for EMQX behaviour).
 *
 * Returns:
 *   MQR_OK       buf holds *out_len bytes;
 *   MQR_EBUFFER  cap is too small; *out_len is the length needed; buf holds
 *                a prefix of unspecified length and nothing past cap;
 *   MQR_EINVAL   tpl or out_len NULL, or buf NULL with cap > 0;
 *   MQR_ELIMIT   a value is nested too deeply to render as JSON;
 *   MQR_ENOMEM   scratch memory for JSON-decoding a string on a path failed.
 * Allocates (through the template's allocator) only when a path passes
 * through a string that must be JSON-decoded. Thread-safe: several threads
 * may render the same template at once.
 */
MQR_API int mqr_template_render(const mqr_template_t *tpl, const mqr_value_t *output,
                                uint32_t flags, char *buf, size_t cap, size_t *out_len);

/**
 * The value of a single-placeholder template (see
 * mqr_template_is_single_placeholder()) in `output`: for "${qos}" the value
 * of output.qos itself rather than its text. A missing path gives undefined;
 * ${.} gives *output. Strings JSON-decoded on the way live in `arena`, and
 * *out_value may borrow from `output` and `arena`.
 *
 * Returns MQR_OK; MQR_EINVAL (tpl, arena or out_value NULL, or tpl is not a
 * single placeholder); MQR_ENOMEM (the arena could not grow).
 * Thread-safe for different arenas.
 */
MQR_API int mqr_template_lookup(const mqr_template_t *tpl, const mqr_value_t *output,
                                mqr_arena_t *arena, mqr_value_t *out_value);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_TEMPLATE_H */
