/* SPDX-License-Identifier: MIT */
/*
 * func_format.c - sprintf(fmt, args...) with the commonly used directives of
 * Erlang's io_lib:format (spec §7.6).
 *
 * Supported directives (anything else, including field widths and
 * precisions, is an evaluation error naming the directive):
 *   ~s ~ts   the argument as text, as str() renders it
 *   ~p ~tp   the argument in Erlang term syntax (maps as #{K => V})
 *   ~w ~tw   the same without spaces (maps as #{K=>V})
 *   ~B       an integer in decimal
 *   ~f       a number with 6 decimals
 *   ~c       an integer character code, written as UTF-8
 *   ~n       a newline;  ~~ a tilde
 * Each directive except ~n and ~~ takes one argument; too few or too many
 * arguments is an error, as in Erlang.
 *
 * Erlang term syntax here: strings <<"text">> (with " and \ escaped),
 * numbers as JSON renders them, true/false/null/undefined and atom-valued
 * strings bare, arrays [a,b], objects #{<<"k">> => v}.
 */
#include <stdio.h>
#include <string.h>

#include "codec_util.h"
#include "func_util.h"

/* Append v in Erlang term syntax; `spaced` selects ~p spacing over ~w. */
static void write_term(mqr__sbuf_t *b, const mqr_value_t *v, int spaced)
{
    switch (v->type) {
    case MQR_VAL_STRING:
        if (v->flags & MQR_VALF_ATOM) {
            mqr__sbuf_append(b, v->u.s, v->len);
            break;
        }
        mqr__sbuf_append(b, "<<\"", 3);
        for (uint32_t i = 0; i < v->len; i++) {
            if (v->u.s[i] == '"' || v->u.s[i] == '\\')
                mqr__sbuf_putc(b, '\\');
            mqr__sbuf_putc(b, v->u.s[i]);
        }
        mqr__sbuf_append(b, "\">>", 3);
        break;
    case MQR_VAL_ARRAY:
        mqr__sbuf_putc(b, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                mqr__sbuf_putc(b, ',');
            write_term(b, &v->u.items[i], spaced);
        }
        mqr__sbuf_putc(b, ']');
        break;
    case MQR_VAL_OBJECT:
        mqr__sbuf_append(b, "#{", 2);
        for (uint32_t i = 0; i < v->len; i++) {
            const mqr_member_t *m = &v->u.members[i];
            mqr_value_t k;
            if (i)
                mqr__sbuf_putc(b, ',');
            mqr_value_set_string(&k, m->key, m->key_len);
            write_term(b, &k, spaced);
            mqr__sbuf_append(b, spaced ? " => " : "=>", spaced ? 4 : 2);
            write_term(b, &m->value, spaced);
        }
        mqr__sbuf_putc(b, '}');
        break;
    case MQR_VAL_DOUBLE: {
        char num[MQR__NUMBUF];
        mqr__sbuf_append(b, num, mqr__fmt_double_json(v->u.d, num));
        break;
    }
    default: mqr__value_to_text(b, v); break; /* int, bool, null, undefined */
    }
}

/* Take the next argument for directive d, or fail when there is none. */
static int next_arg(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, uint32_t *ai,
                    char d, const mqr_value_t **out)
{
    if (*ai >= argc)
        return mqr__func_error(cx, "no argument left for directive '~%c'", d);
    *out = &args[(*ai)++];
    return MQR_OK;
}

int mqr__func_format_check(const char *f, size_t flen, uint32_t nargs, char *msg, size_t cap)
{
    uint32_t used = 0;
    for (size_t i = 0; i < flen; i++) {
        if (f[i] != '~')
            continue;
        if (i + 1 < flen && f[i + 1] == 't' && i + 2 < flen && strchr("spw", f[i + 2]))
            i++;
        if (++i >= flen) {
            snprintf(msg, cap, "format ends with '~'");
            return MQR_EINVAL;
        }
        char d = f[i];
        if (d == 'n' || d == '~')
            continue;
        if (!strchr("spwBfc", d)) {
            snprintf(msg, cap, "unsupported directive '~%c'", d);
            return MQR_EINVAL;
        }
        if (++used > nargs) {
            snprintf(msg, cap, "no argument left for directive '~%c'", d);
            return MQR_EINVAL;
        }
    }
    if (used < nargs) {
        snprintf(msg, cap, "%u arguments but the format uses %u", nargs, used);
        return MQR_EINVAL;
    }
    return MQR_OK;
}

int mqr__func_sql_sprintf(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    const char *f;
    size_t flen;
    int rc = mqr__func_arg_str(cx, args, 0, &f, &flen);
    if (rc)
        return rc;
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    uint32_t ai = 1;
    size_t run = 0;
    for (size_t i = 0; i < flen; i++) {
        if (f[i] != '~')
            continue;
        mqr__sbuf_append(&b, f + run, i - run);
        if (i + 1 < flen && f[i + 1] == 't' && i + 2 < flen && strchr("spw", f[i + 2]))
            i++; /* ~ts ~tp ~tw: strings are UTF-8 already */
        if (++i >= flen)
            return mqr__func_error(cx, "format ends with '~'");
        char d = f[i];
        const mqr_value_t *a = NULL;
        run = i + 1;
        if (d == 'n') {
            mqr__sbuf_putc(&b, '\n');
            continue;
        }
        if (d == '~') {
            mqr__sbuf_putc(&b, '~');
            continue;
        }
        if (!strchr("spwBfc", d))
            return mqr__func_error(cx, "unsupported directive '~%c'", d);
        if ((rc = next_arg(cx, args, argc, &ai, d, &a)))
            return rc;
        if (d == 's') {
            mqr__value_to_text(&b, a);
        } else if (d == 'p' || d == 'w') {
            write_term(&b, a, d == 'p');
        } else if (d == 'B') {
            if (a->type != MQR_VAL_INT)
                return mqr__func_type_error(cx, "an integer for '~B'", a);
            mqr__value_to_text(&b, a);
        } else if (d == 'f') {
            if (a->type != MQR_VAL_INT && a->type != MQR_VAL_DOUBLE)
                return mqr__func_type_error(cx, "a number for '~f'", a);
            mqr__sbuf_put_fixed(&b, a->type == MQR_VAL_INT ? (double)a->u.i : a->u.d, 6, 0);
        } else {
            uint8_t enc[4];
            size_t n = a->type == MQR_VAL_INT && a->u.i >= 0 && a->u.i <= MQR_UNICODE_MAX
                           ? mqr__utf8_encode((uint32_t)a->u.i, enc)
                           : 0;
            if (n == 0)
                return mqr__func_type_error(cx, "a character code for '~c'", a);
            mqr__sbuf_append(&b, enc, n);
        }
    }
    mqr__sbuf_append(&b, f + run, flen - run);
    if (ai < argc)
        return mqr__func_error(cx, "%u arguments but the format uses %u", argc - 1, ai - 1);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* sprintf_s(fmt, args): EMQX's sprintf_s/2, sprintf with its arguments in
 * one array (sprintf(fmt, a, b) is sprintf_s(fmt, [a, b])). */
int mqr__func_sql_sprintf_s(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                            mqr_value_t *out)
{
    (void)argc;
    const mqr_value_t *list = &args[1];
    if (list->type != MQR_VAL_ARRAY)
        return mqr__func_type_error(cx, "an array of arguments", list);
    if (list->len > UINT32_MAX - 1)
        return mqr__func_error(cx, "too many arguments");
    mqr_value_t *all = mqr_arena_alloc(cx->arena, (list->len + 1) * sizeof *all);
    if (!all)
        return mqr__func_oom(cx);
    all[0] = args[0];
    if (list->len)
        memcpy(all + 1, list->u.items, list->len * sizeof *all);
    return mqr__func_sql_sprintf(cx, all, list->len + 1, out);
}

