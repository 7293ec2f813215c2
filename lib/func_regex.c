/* SPDX-License-Identifier: MIT */
/*
 * func_regex.c - regex_match, regex_replace and regex_extract (spec §7.6)
 * over lib/regex.h, the project's Pike-VM regex engine (a PCRE subset, see
 * docs/regex.md; matching time is linear in the subject whatever the
 * pattern).
 *
 * A constant pattern is compiled once, when the rule is compiled
 * (rule_compile.c), and the evaluator hands its program to the call in
 * cx->regex; the call only reads it, so one rule serves several threads at
 * once. Any other pattern is compiled at every call with the evaluation
 * arena as the allocator. Either way the VM's scratch and the results come
 * from the arena: a call makes no heap allocation and nothing needs freeing.
 */
#include "func_util.h"
#include "regex.h"

/* Read (subject, pattern) from args[0], args[1] and get the program: the
 * compiler's one when the pattern is constant, else the pattern compiled
 * into the arena. *a becomes the arena allocator. */
static int compile(mqr__fctx_t *cx, const mqr_value_t *args, mqr_allocator_t *a,
                   const char **s, size_t *len, const mqr__regex_t **re)
{
    const char *pat;
    size_t plen;
    int rc = mqr__func_arg_text(cx, args, 0, s, len);
    if (!rc && !cx->regex)
        rc = mqr__func_arg_str(cx, args, 1, &pat, &plen);
    if (rc)
        return rc;
    mqr__func_arena_allocator(cx, a);
    if (cx->regex) {
        *re = cx->regex;
        return MQR_OK;
    }
    mqr__regex_t *own;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    rc = mqr__regex_compile(pat, plen, a, &own, &d);
    if (rc == MQR_ENOMEM)
        return mqr__func_oom(cx);
    if (rc)
        return mqr__func_error(cx, "bad regular expression at byte %llu: %s",
                               (unsigned long long)d.offset, d.message);
    *re = own;
    return MQR_OK;
}

/* Search s[0..len) with re, the VM's scratch in the arena: MQR_OK (match,
 * caps filled), MQR_NO_MATCH, or an error recorded in cx (MQR_ENOMEM). */
static int search(mqr__fctx_t *cx, const mqr__regex_t *re, const char *s, size_t len,
                  size_t *caps, size_t ncaps)
{
    size_t size = mqr__regex_scratch_size(re, ncaps);
    void *scratch = mqr_arena_alloc(cx->arena, size);
    if (!scratch)
        return mqr__func_oom(cx);
    int rc = mqr__regex_exec(re, s, len, 0, 0, caps, ncaps, scratch, size, NULL);
    if (rc != MQR_OK && rc != MQR_NO_MATCH) /* EINVAL: not reachable with this scratch */
        return mqr__func_error(cx, "regex engine: %s", mqr_strerror(rc));
    return rc;
}

/* regex_match(s, re): true when re matches anywhere in s. */
int mqr__func_sql_regex_match(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    mqr_allocator_t a;
    const mqr__regex_t *re = NULL;
    const char *s;
    size_t len;
    int rc = compile(cx, args, &a, &s, &len, &re);
    if (rc)
        return rc;
    rc = search(cx, re, s, len, NULL, 0);
    if (rc != MQR_OK && rc != MQR_NO_MATCH)
        return rc;
    mqr_value_set_bool(out, rc == MQR_OK);
    return MQR_OK;
}

/* regex_replace(s, re, rep): every match replaced; '&' in rep is the match,
 * \N a group. */
int mqr__func_sql_regex_replace(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                mqr_value_t *out)
{
    mqr_allocator_t a;
    const mqr__regex_t *re = NULL;
    const char *s, *rep;
    size_t len, rlen, olen;
    char *res;
    int rc = mqr__func_arg_str(cx, args, 2, &rep, &rlen);
    if (!rc)
        rc = compile(cx, args, &a, &s, &len, &re);
    if (rc)
        return rc;
    if (mqr__regex_replace(re, s, len, rep, rlen, &a, &res, &olen) != MQR_OK)
        return mqr__func_oom(cx);
    if (olen > UINT32_MAX)
        return mqr__func_error(cx, "string result too long");
    mqr_value_set_string(out, res, olen);
    return MQR_OK;
}

/* regex_extract(s, re): the capture groups of the first match as strings
 * ("" for a group that did not take part), [] when nothing matches. */
int mqr__func_sql_regex_extract(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                mqr_value_t *out)
{
    mqr_allocator_t a;
    const mqr__regex_t *re = NULL;
    const char *s;
    size_t len;
    int rc = compile(cx, args, &a, &s, &len, &re);
    if (rc)
        return rc;
    size_t ncaps = mqr__regex_groups(re) + 1;
    size_t *caps = mqr_arena_alloc(cx->arena, ncaps * 2 * sizeof *caps);
    if (!caps || mqr_value_array_new(cx->arena, ncaps - 1, out) != MQR_OK)
        return mqr__func_oom(cx);
    rc = search(cx, re, s, len, caps, ncaps);
    if (rc != MQR_OK && rc != MQR_NO_MATCH)
        return rc;
    for (size_t g = 1; rc == MQR_OK && g < ncaps; g++) {
        mqr_value_t v;
        size_t b = caps[2 * g], e = caps[2 * g + 1];
        if (b == MQR_REGEX_UNSET)
            mqr_value_set_string(&v, "", 0);
        else
            mqr_value_set_string(&v, s + b, e - b);
        if (mqr__func_push(cx, out, &v))
            return MQR_ENOMEM;
    }
    return MQR_OK;
}
