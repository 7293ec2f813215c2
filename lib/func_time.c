/* SPDX-License-Identifier: MIT */
/*
 * func_time.c - the date and time SQL functions of spec §7.10 over
 * lib/timefmt.h: now_timestamp, now_rfc3339, unix_ts_to_rfc3339,
 * rfc3339_to_unix_ts, format_date, date_to_unix_ts and
 * timezone_to_offset_seconds / timezone_to_second.
 *
 * "Now" is cx->now_ms, the evaluation's clock (so every call in one
 * evaluation sees the same instant and tests can pin it), and 'local' is
 * cx->local_offset_s, the engine's configured offset: nothing here reads the
 * system clock or the process time zone.
 */
#include <string.h>

#include "func_util.h"
#include "timefmt.h"

/* ---- arguments ----------------------------------------------------------------- */

/* args[i] as a time unit name; `second` when i is past argc. */
static int unit_arg(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, uint32_t i,
                    int *unit)
{
    const char *s;
    size_t len;
    *unit = MQR_TIME_SECOND;
    if (i >= argc)
        return MQR_OK;
    int rc = mqr__func_arg_str(cx, args, i, &s, &len);
    if (rc)
        return rc;
    if (mqr__time_unit_by_name(s, len, unit) != MQR_OK)
        return mqr__func_type_error(cx, "'second', 'millisecond', 'microsecond' or 'nanosecond'",
                                    &args[i]);
    return MQR_OK;
}

/* args[i] as a UTC offset: an integer number of seconds, 'local' (the
 * engine's offset), or text such as 'Z', '+08:00', '-0530'. */
static int offset_arg(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, int32_t *off)
{
    const mqr_value_t *v = &args[i];
    if (v->type == MQR_VAL_INT) {
        if (v->u.i < -MQR_TIME_MAX_OFFSET || v->u.i > MQR_TIME_MAX_OFFSET)
            return mqr__func_error(cx, "offset %lld is outside -86399..86399 seconds",
                                   (long long)v->u.i);
        *off = (int32_t)v->u.i;
        return MQR_OK;
    }
    if (mqr__func_str_is(v, "local")) {
        *off = cx->local_offset_s;
        return MQR_OK;
    }
    if (v->type == MQR_VAL_STRING && mqr__time_parse_offset(v->u.s, v->len, off) == MQR_OK)
        return MQR_OK;
    return mqr__func_type_error(cx, "a UTC offset ('Z', '+08:00', 'local' or seconds)", v);
}

/* The evaluation time in `unit`. */
static int64_t now_in(const mqr__fctx_t *cx, int unit)
{
    int64_t ms = cx->now_ms;
    switch (unit) {
    case MQR_TIME_SECOND: return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    case MQR_TIME_MILLISECOND: return ms;
    case MQR_TIME_MICROSECOND: return ms * 1000;
    default: return ms * 1000000;
    }
}

/* Turn a timefmt status into the function's result status. */
static int time_status(mqr__fctx_t *cx, int rc, const char *what)
{
    if (rc == MQR_OK)
        return MQR_OK;
    if (rc == MQR_EOVERFLOW)
        return mqr__func_error(cx, "%s is out of range", what);
    return mqr__func_error(cx, "invalid %s", what);
}

/* ---- formatting into the arena ---------------------------------------------------- */

/* Format t with fmt (NULL: RFC 3339) at offset into an arena string. */
static int format_time(mqr__fctx_t *cx, int64_t t, int unit, int32_t off, const char *fmt,
                       size_t fmt_len, mqr_value_t *out)
{
    size_t need;
    int rc = fmt ? mqr__time_format(t, unit, off, fmt, fmt_len, NULL, 0, &need)
                 : mqr__time_format_rfc3339(t, unit, off, NULL, 0, &need);
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        return time_status(cx, rc, "timestamp");
    if (need > UINT32_MAX)
        return mqr__func_error(cx, "string result too long");
    char *p = mqr_arena_alloc(cx->arena, need + 1);
    if (!p)
        return mqr__func_oom(cx);
    rc = fmt ? mqr__time_format(t, unit, off, fmt, fmt_len, p, need + 1, &need)
             : mqr__time_format_rfc3339(t, unit, off, p, need + 1, &need);
    if (rc != MQR_OK)
        return time_status(cx, rc, "timestamp");
    mqr_value_set_string(out, p, need);
    return MQR_OK;
}

/* ---- functions ------------------------------------------------------------------ */

/* now_timestamp([unit]): the evaluation time as an integer in unit. */
int mqr__func_sql_now_timestamp(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                mqr_value_t *out)
{
    int unit;
    int rc = unit_arg(cx, args, argc, 0, &unit);
    if (!rc)
        mqr_value_set_int(out, now_in(cx, unit));
    return rc;
}

/* now_rfc3339([unit]): the evaluation time as RFC 3339 at the local offset. */
int mqr__func_sql_now_rfc3339(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    int unit;
    int rc = unit_arg(cx, args, argc, 0, &unit);
    return rc ? rc : format_time(cx, now_in(cx, unit), unit, cx->local_offset_s, NULL, 0, out);
}

/* unix_ts_to_rfc3339(ts[, unit]): ts as RFC 3339 at the local offset. */
int mqr__func_sql_unix_ts_to_rfc3339(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                     mqr_value_t *out)
{
    int64_t ts;
    int unit;
    int rc = mqr__func_arg_int(cx, args, 0, &ts);
    if (!rc)
        rc = unit_arg(cx, args, argc, 1, &unit);
    return rc ? rc : format_time(cx, ts, unit, cx->local_offset_s, NULL, 0, out);
}

/* rfc3339_to_unix_ts(s[, unit]): parse RFC 3339 into an integer in unit. */
int mqr__func_sql_rfc3339_to_unix_ts(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                     mqr_value_t *out)
{
    const char *s;
    size_t len;
    int unit;
    int64_t t;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (!rc)
        rc = unit_arg(cx, args, argc, 1, &unit);
    if (rc)
        return rc;
    if ((rc = mqr__time_parse_rfc3339(s, len, unit, &t)) != MQR_OK)
        return time_status(cx, rc, "RFC 3339 date-time");
    mqr_value_set_int(out, t);
    return MQR_OK;
}

/* format_date(unit, offset, fmt[, ts]): ts (default now, in unit) formatted
 * with the %-placeholders at the offset. */
int mqr__func_sql_format_date(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    int unit;
    int32_t off;
    const char *fmt;
    size_t flen;
    int64_t ts;
    int rc = unit_arg(cx, args, argc, 0, &unit);
    if (!rc)
        rc = offset_arg(cx, args, 1, &off);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 2, &fmt, &flen);
    if (!rc && argc == 4)
        rc = mqr__func_arg_int(cx, args, 3, &ts);
    if (rc)
        return rc;
    if (argc == 3)
        ts = now_in(cx, unit);
    return format_time(cx, ts, unit, off, fmt, flen, out);
}

/* date_to_unix_ts(unit, [offset,] fmt, s): parse s with fmt; the time is
 * at `offset` (UTC without one) unless fmt has %z. */
int mqr__func_sql_date_to_unix_ts(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                  mqr_value_t *out)
{
    int unit;
    int32_t off = 0;
    const char *fmt, *s;
    size_t flen, len;
    int64_t t;
    int rc = unit_arg(cx, args, argc, 0, &unit);
    if (!rc && argc == 4)
        rc = offset_arg(cx, args, 1, &off);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, argc - 2, &fmt, &flen);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, argc - 1, &s, &len);
    if (rc)
        return rc;
    if ((rc = mqr__time_parse(fmt, flen, s, len, unit, off, &t)) != MQR_OK) {
        if (rc == MQR_EOVERFLOW)
            return time_status(cx, rc, "date");
        return mqr__func_error(cx, "\"%.*s\" does not match the format \"%.*s\"",
                               (int)(len > 40 ? 40 : len), s, (int)(flen > 40 ? 40 : flen), fmt);
    }
    mqr_value_set_int(out, t);
    return MQR_OK;
}

/* timezone_to_offset_seconds(tz) and timezone_to_second(tz): the offset in
 * seconds ('Z' 0, '+08:00' 28800, 'local' the engine's offset, an integer
 * as it is). */
int mqr__func_sql_timezone_to_second(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                     mqr_value_t *out)
{
    int32_t off;
    int rc = offset_arg(cx, args, 0, &off);
    if (!rc)
        mqr_value_set_int(out, off);
    return rc;
}
