/* SPDX-License-Identifier: MIT */
/* Tests of the function table: order, lookup, D9 names, suggestions, flags,
 * the error format, and every function's behaviour on undefined arguments. */
#include <math.h>
#include <stdlib.h>

#include "func_test_util.h"
#include "mqr_config.h"

TestSuite(func_table, .init = ft_setup, .fini = ft_teardown);

Test(func_table, sorted_and_unique)
{
    size_t n = mqr__func_count();
    /* 131 + eq/2 and sprintf_s/2 (issue 19), + the six zlib functions when built with zlib */
    cr_assert_eq(n, 133u + 6u * MQR_HAVE_ZLIB);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(strcmp(mqr__func_at(i - 1)->name, mqr__func_at(i)->name), 0,
                     "%s before %s", mqr__func_at(i - 1)->name, mqr__func_at(i)->name);
    cr_assert_null(mqr__func_at(n));
}

Test(func_table, entries_are_well_formed)
{
    for (size_t i = 0; i < mqr__func_count(); i++) {
        const mqr__func_t *f = mqr__func_at(i);
        cr_assert_not_null(f->fn, "%s", f->name);
        cr_assert(f->max_args == MQR__FUNC_VARIADIC || f->min_args <= f->max_args, "%s",
                  f->name);
        cr_assert_eq(mqr__func_find(f->name, strlen(f->name)), f, "%s", f->name);
        cr_assert_eq(mqr__func_is_unsupported(f->name, strlen(f->name)), 0, "%s", f->name);
    }
}

Test(func_table, find)
{
    const mqr__func_t *f = mqr__func_find("upper", 5);
    cr_assert_not_null(f);
    cr_assert_str_eq(f->name, "upper");
    cr_assert_eq(f->min_args, 1);
    cr_assert_eq(f->max_args, 1);
    cr_assert_not_null(mqr__func_find("uppercase", 5)); /* counted, not NUL-terminated */
    cr_assert_null(mqr__func_find("uppe", 4));
    cr_assert_null(mqr__func_find("UPPER", 5)); /* case-sensitive */
    cr_assert_null(mqr__func_find("", 0));
    cr_assert_null(mqr__func_find(NULL, 3));
    cr_assert_not_null(mqr__func_find("abs", 3));                /* first */
    cr_assert_not_null(mqr__func_find("uuid_v4_no_hyphen", 17)); /* last */
    cr_assert_eq(mqr__func_find("concat", 6)->max_args, MQR__FUNC_VARIADIC);
}

Test(func_table, unsupported_d9_names)
{
    const char *names[] = {"jq",          "term_encode",   "term_decode",    "schema_decode",
                           "schema_encode", "schema_check", "sparkplug_decode", "sparkplug_encode",
                           "kv_store_get", "kv_store_put",  "kv_store_del",   "proc_dict_get",
                           "proc_dict_put", "proc_dict_del", "mongo_date"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cr_assert_eq(mqr__func_is_unsupported(names[i], strlen(names[i])), 1, "%s", names[i]);
        cr_assert_null(mqr__func_find(names[i], strlen(names[i])), "%s", names[i]);
    }
    /* D9: the zlib family is "not supported" only in a build without zlib */
    const char *zlib_names[] = {"gzip", "gunzip", "zip", "unzip", "zip_compress",
                                "zip_uncompress"};
    for (size_t i = 0; i < sizeof zlib_names / sizeof zlib_names[0]; i++) {
        size_t n = strlen(zlib_names[i]);
        cr_assert_eq(mqr__func_is_unsupported(zlib_names[i], n), !MQR_HAVE_ZLIB, "%s",
                     zlib_names[i]);
        cr_assert_eq(mqr__func_find(zlib_names[i], n) != NULL, MQR_HAVE_ZLIB, "%s",
                     zlib_names[i]);
    }
    cr_assert_eq(mqr__func_is_unsupported("upper", 5), 0);
    cr_assert_eq(mqr__func_is_unsupported("lenght", 6), 0);
    cr_assert_eq(mqr__func_is_unsupported("schema_", 7), 0);
    cr_assert_eq(mqr__func_is_unsupported("zi", 2), 0);
    cr_assert_eq(mqr__func_is_unsupported(NULL, 2), 0);
}

Test(func_table, suggest)
{
    cr_assert_str_eq(mqr__func_suggest("lenght", 6), "length");
    cr_assert_str_eq(mqr__func_suggest("uper", 4), "upper");
    cr_assert_str_eq(mqr__func_suggest("substrr", 7), "substr");
    cr_assert_null(mqr__func_suggest("substring", 9)); /* distance 3 */
}

Test(func_table, suggest_limits)
{
    cr_assert_str_eq(mqr__func_suggest("json_encod", 10), "json_encode");
    cr_assert_str_eq(mqr__func_suggest("md55", 4), "md5");
    cr_assert_null(mqr__func_suggest("frobnicate", 10));
    cr_assert_null(mqr__func_suggest("", 0));
    cr_assert_null(mqr__func_suggest(NULL, 1));
}

Test(func_table, purity_flags)
{
    const char *impure[] = {"random",        "uuid_v4",         "uuid_v4_no_hyphen",
                            "getenv",        "json_encode",     "now_timestamp",
                            "now_rfc3339",   "format_date",     "unix_ts_to_rfc3339",
                            "date_to_unix_ts", "timezone_to_second",
                            "timezone_to_offset_seconds", "clientid", "topic", "payload"};
    for (size_t i = 0; i < sizeof impure / sizeof impure[0]; i++)
        cr_assert_eq(mqr__func_find(impure[i], strlen(impure[i]))->flags & MQR__FUNC_PURE, 0,
                     "%s", impure[i]);
    const char *pure[] = {"upper", "abs", "md5", "map_get", "str", "sprintf"};
    for (size_t i = 0; i < sizeof pure / sizeof pure[0]; i++)
        cr_assert_neq(mqr__func_find(pure[i], strlen(pure[i]))->flags & MQR__FUNC_PURE, 0,
                      "%s", pure[i]);
    cr_assert_neq(mqr__func_find("clientid", 8)->flags & MQR__FUNC_CONTEXT, 0);
}

Test(func_table, error_format)
{
    mqr_value_t out;
    cr_assert_eq(CALL(&out, "upper", UNDEF()), MQR_EEVAL);
    cr_assert_str_eq(ft.diag.message, "function 'upper': expected a string, got undefined");
    cr_assert_eq(ft.diag.code, MQR_EEVAL);
    /* A NULL diag is allowed. */
    ft.cx.diag = NULL;
    cr_assert_eq(CALL(&out, "upper", I(1)), MQR_EEVAL);
}

/* Every function, at its minimum and maximum arity (variadic: min + 2), on
 * undefined, null and odd arguments returns MQR_OK or MQR_EEVAL with a
 * message naming it: no crash, no other status. */
Test(func_table, odd_arguments_never_crash)
{
    mqr_value_t odd[] = {UNDEF(), NUL(), I(-1), D(-0.5), S(""), J("[]"), J("{}"), B(1)};
    for (size_t i = 0; i < mqr__func_count(); i++) {
        const mqr__func_t *f = mqr__func_at(i);
        uint32_t counts[2] = {f->min_args, f->max_args == MQR__FUNC_VARIADIC
                                               ? (uint32_t)f->min_args + 2
                                               : f->max_args};
        for (size_t c = 0; c < 2; c++) {
            for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
                mqr_value_t args[8], out;
                for (uint32_t a = 0; a < counts[c]; a++)
                    args[a] = odd[(k + a) % (sizeof odd / sizeof odd[0])];
                int rc = ft_calln(f->name, args, counts[c], &out);
                cr_assert(rc == MQR_OK || rc == MQR_EEVAL, "%s: rc %d", f->name, rc);
                if (rc == MQR_EEVAL) {
                    char prefix[64];
                    snprintf(prefix, sizeof prefix, "function '%s': ", f->name);
                    cr_assert(strncmp(ft.diag.message, prefix, strlen(prefix)) == 0,
                              "%s: %s", f->name, ft.diag.message);
                } else {
                    cr_assert(out.type <= MQR_VAL_OBJECT, "%s", f->name);
                    cr_assert(out.type != MQR_VAL_DOUBLE || isfinite(out.u.d), "%s", f->name);
                }
            }
        }
    }
}

/* Context helpers read nothing in WHERE. */
Test(func_table, context_helpers_undefined_in_where)
{
    mqr_value_t cols = J("{\"clientid\":\"c1\",\"topic\":\"a/b\",\"qos\":1,\"flags\":{\"retain\":true}}");
    ft.columns = &cols;
    ft.cx.in_where = 1;
    for (size_t i = 0; i < mqr__func_count(); i++) {
        const mqr__func_t *f = mqr__func_at(i);
        if (!(f->flags & MQR__FUNC_CONTEXT) || f->min_args > 0)
            continue;
        mqr_value_t out;
        cr_assert_eq(ft_calln(f->name, NULL, 0, &out), MQR_OK, "%s", f->name);
        cr_assert_eq(out.type, MQR_VAL_UNDEFINED, "%s", f->name);
    }
}

/* An allocator that fails once its budget of allocations is spent. */
static void *budget_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    int *budget = ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    if (*budget <= 0)
        return NULL;
    (*budget)--;
    return realloc(ptr, new_size);
}

/* With an arena that cannot grow, every function on typical arguments
 * returns MQR_OK, MQR_EEVAL or MQR_ENOMEM (with a message), never crashes. */
Test(func_table, out_of_memory_is_reported)
{
    mqr_value_t typical[] = {S("a,b"), I(2), J("{\"a\":{\"b\":1}}"), J("[1,\"x\"]"), D(1.5),
                             S("{\"k\":1}")};
    size_t nt = sizeof typical / sizeof typical[0], nomem = 0;
    for (int budget0 = 1; budget0 <= 6; budget0++) {
        for (size_t i = 0; i < mqr__func_count(); i++) {
            const mqr__func_t *f = mqr__func_at(i);
            uint32_t n = f->max_args == MQR__FUNC_VARIADIC ? (uint32_t)f->min_args + 1 : f->max_args;
            for (size_t k = 0; k < nt; k++) {
                int budget = budget0;
                mqr_allocator_t a = {budget_alloc, &budget};
                mqr_arena_t *arena;
                cr_assert_eq(mqr_arena_create(&a, 64, &arena), MQR_OK);
                mqr_value_t args[8], out;
                for (uint32_t j = 0; j < n; j++)
                    args[j] = typical[(k + j) % nt];
                ft.cx.arena = arena;
                int rc = ft_calln(f->name, args, n, &out);
                cr_assert(rc == MQR_OK || rc == MQR_EEVAL || rc == MQR_ENOMEM, "%s: rc %d",
                          f->name, rc);
                nomem += rc == MQR_ENOMEM;
                if (rc == MQR_ENOMEM)
                    cr_assert_str_eq(strstr(ft.diag.message, "out of memory"), "out of memory",
                                     "%s: %s", f->name, ft.diag.message);
                ft.cx.arena = ft.arena;
                mqr_arena_destroy(arena);
            }
        }
    }
    cr_assert_gt(nomem, 50, "only %zu calls ran out of memory", nomem);
}
