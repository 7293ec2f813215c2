/* SPDX-License-Identifier: MIT */
/*
 * template_int.h - the template renderer's internal entry point for the hot
 * paths (republish, HTTP action): render into an mqr__sbuf_t with the
 * caller's arena as scratch, so a warm arena renders without a heap
 * allocation. Not API.
 */
#ifndef MQR_TEMPLATE_INT_H
#define MQR_TEMPLATE_INT_H

#include "mqttrule/template.h"
#include "value_int.h"

/* Append the rendering of tpl with output (NULL: undefined) to b. Strings
 * JSON-decoded on a path are decoded into `arena`; arena NULL makes the call
 * create (and destroy) a scratch arena with the template's allocator when one
 * is needed. flags: MQR_TEMPLATE_*. Returns MQR_OK, MQR_ENOMEM (scratch) or
 * the sbuf's status (MQR_ENOMEM, MQR_ELIMIT, MQR_EBUFFER for a bounded
 * buffer). tpl and b must not be NULL. */
int mqr__template_render_sbuf(const mqr_template_t *tpl, const mqr_value_t *output,
                              uint32_t flags, mqr_arena_t *arena, mqr__sbuf_t *b);

#endif /* MQR_TEMPLATE_INT_H */
