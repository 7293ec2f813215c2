/* SPDX-License-Identifier: MIT */
/* mqttrule/abi.h: the layout table answers what the compiler says. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "mqttrule.h"

Test(abi, struct_sizes_are_sizeof)
{
    cr_assert_eq(mqr_abi_struct_size("mqr_diag_t"), sizeof(mqr_diag_t));
    cr_assert_eq(mqr_abi_struct_size("mqr_value_t"), sizeof(mqr_value_t));
    cr_assert_eq(mqr_abi_struct_size("mqr_engine_options_t"), sizeof(mqr_engine_options_t));
    cr_assert_eq(mqr_abi_struct_size("mqr_engine_message_t"), sizeof(mqr_engine_message_t));
    cr_assert_eq(mqr_abi_struct_size("mqr_event_input_t"), sizeof(mqr_event_input_t));
    cr_assert_eq(mqr_abi_struct_size("mqr_packet_stream_t"), sizeof(mqr_packet_stream_t));
}

Test(abi, field_offsets_and_sizes)
{
    size_t off = 12345;
    cr_assert_eq(mqr_abi_field_offset("mqr_diag_t", "message", &off), MQR_OK);
    cr_assert_eq(off, offsetof(mqr_diag_t, message));
    cr_assert_eq(mqr_abi_field_size("mqr_diag_t", "message"), (size_t)MQR_DIAG_MESSAGE_MAX);
    cr_assert_eq(mqr_abi_field_offset("mqr_engine_message_t", "props", &off), MQR_OK);
    cr_assert_eq(off, offsetof(mqr_engine_message_t, props));
    cr_assert_eq(mqr_abi_field_size("mqr_engine_message_t", "props"), sizeof(mqr_props_t));
    cr_assert_eq(mqr_abi_field_offset("mqr_engine_options_t", "error_ud", &off), MQR_OK);
    cr_assert_eq(off, offsetof(mqr_engine_options_t, error_ud));
}

Test(abi, fields_enumerate_in_declaration_order)
{
    const char *want[] = {"code", "reason_code", "packet_type", "line", "column",
                          "reserved_", "offset", "field", "message"};
    size_t n = sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(mqr_abi_field_name("mqr_diag_t", i), want[i]);
    cr_assert_null(mqr_abi_field_name("mqr_diag_t", n));
    /* offsets grow along the enumeration, and every field fits the struct */
    for (size_t s = 0; mqr_abi_struct_name(s) != NULL; s++) {
        const char *st = mqr_abi_struct_name(s);
        size_t size = mqr_abi_struct_size(st), prev = 0;
        cr_assert_gt(size, 0, "%s", st);
        const char *f;
        for (size_t i = 0; (f = mqr_abi_field_name(st, i)) != NULL; i++) {
            size_t off;
            cr_assert_eq(mqr_abi_field_offset(st, f, &off), MQR_OK);
            cr_assert_geq(off, prev, "%s.%s", st, f);
            cr_assert_leq(off + mqr_abi_field_size(st, f), size, "%s.%s", st, f);
            prev = off;
        }
    }
}

Test(abi, unknown_names_and_null)
{
    size_t off = 777;
    cr_assert_eq(mqr_abi_struct_size("mqr_no_such_t"), 0);
    cr_assert_eq(mqr_abi_struct_size(NULL), 0);
    cr_assert_eq(mqr_abi_field_offset("mqr_no_such_t", "code", &off), MQR_ENOTFOUND);
    cr_assert_eq(mqr_abi_field_offset("mqr_diag_t", "nope", &off), MQR_ENOTFOUND);
    cr_assert_eq(off, 777);
    cr_assert_eq(mqr_abi_field_offset(NULL, "code", &off), MQR_EINVAL);
    cr_assert_eq(mqr_abi_field_offset("mqr_diag_t", NULL, &off), MQR_EINVAL);
    cr_assert_eq(mqr_abi_field_offset("mqr_diag_t", "code", NULL), MQR_EINVAL);
    cr_assert_eq(mqr_abi_field_size("mqr_diag_t", "nope"), 0);
    cr_assert_eq(mqr_abi_field_size(NULL, NULL), 0);
    cr_assert_null(mqr_abi_field_name("mqr_no_such_t", 0));
    cr_assert_null(mqr_abi_field_name(NULL, 0));
    cr_assert_null(mqr_abi_struct_name((size_t)-1));
}

/* True when a field of `size` bytes at `off` may follow a field ending at
 * `end` with only alignment padding between: some alignment a (1..8, at
 * most the field's size) puts it at the first multiple of a from `end`. */
static int padding_only(size_t end, size_t off, size_t size)
{
    for (size_t a = 1; a <= 8 && a <= (size ? size : 1); a *= 2)
        if (off % a == 0 && off >= end && off - end < a)
            return 1;
    return 0;
}

/* The list in lib/abi.c names every field: consecutive fields leave only
 * alignment padding between them, and the last one ends within the
 * struct's trailing padding. A field added to a header but not to the list
 * leaves a gap this catches (a 4-byte field before an 8-byte one can hide
 * in what looks like padding; the bindings' size check still sees it). */
Test(abi, the_list_covers_every_field)
{
    for (size_t s = 0; mqr_abi_struct_name(s) != NULL; s++) {
        const char *st = mqr_abi_struct_name(s);
        size_t end = 0;
        const char *f;
        for (size_t i = 0; (f = mqr_abi_field_name(st, i)) != NULL; i++) {
            size_t off = 0;
            cr_assert_eq(mqr_abi_field_offset(st, f, &off), MQR_OK);
            size_t size = mqr_abi_field_size(st, f);
            cr_assert(padding_only(end, off, size), "%s: a gap of %zu bytes before %s", st,
                      off - end, f);
            end = off + size;
        }
        cr_assert_lt(mqr_abi_struct_size(st) - end, 8, "%s: %zu bytes after the last field", st,
                     mqr_abi_struct_size(st) - end);
    }
}
