/* SPDX-License-Identifier: MIT */
/* Tests of lib/timefmt.c: calendar arithmetic, formatting, RFC 3339, parsing
 * with a format, and UTC offsets. Expected day numbers come from Python's
 * datetime. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

Test(timefmt, days_from_civil_known_dates)
{
    static const struct {
        int64_t y;
        int m, d;
        int64_t days;
    } cases[] = {
        {1970, 1, 1, 0},        {1969, 12, 31, -1},     {2000, 2, 29, 11016},
        {2024, 2, 29, 19782},   {2100, 2, 28, 47540},   {2100, 3, 1, 47541},
        {1600, 3, 1, -135080},  {1, 1, 1, -719162},     {9999, 12, 31, 2932896},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(mqr__days_from_civil(cases[i].y, cases[i].m, cases[i].d), cases[i].days,
                     "%lld-%d-%d", (long long)cases[i].y, cases[i].m, cases[i].d);
        int64_t y;
        int m, d;
        mqr__civil_from_days(cases[i].days, &y, &m, &d);
        cr_assert_eq(y, cases[i].y);
        cr_assert_eq(m, cases[i].m);
        cr_assert_eq(d, cases[i].d);
    }
}

Test(timefmt, civil_roundtrip_over_many_days)
{
    int64_t prev_y = 0;
    int prev_m = 0, prev_d = 0;
    for (int64_t days = -800000; days <= 3000000; days++) {
        int64_t y;
        int m, d;
        mqr__civil_from_days(days, &y, &m, &d);
        cr_assert_eq(mqr__days_from_civil(y, m, d), days);
        if (days > -800000) { /* consecutive days are consecutive dates */
            if (d == 1)
                cr_assert_eq(prev_d, mqr__days_in_month(prev_y, prev_m));
            else
                cr_assert_eq(d, prev_d + 1);
        }
        prev_y = y, prev_m = m, prev_d = d;
    }
}

Test(timefmt, leap_years)
{
    cr_assert(mqr__is_leap_year(2000));
    cr_assert(mqr__is_leap_year(2024));
    cr_assert_not(mqr__is_leap_year(2100));
    cr_assert_not(mqr__is_leap_year(2023));
    cr_assert(mqr__is_leap_year(0));
    cr_assert(mqr__is_leap_year(-4));
    cr_assert_eq(mqr__days_in_month(2024, 2), 29);
    cr_assert_eq(mqr__days_in_month(2100, 2), 28);
    cr_assert_eq(mqr__days_in_month(2023, 4), 30);
    cr_assert_eq(mqr__days_in_month(2023, 13), 0);
    cr_assert_eq(mqr__days_in_month(2023, 0), 0);
}

static void fmt_is(int64_t t, int unit, int32_t off, const char *fmt, const char *want)
{
    char out[128];
    size_t n = 0;
    cr_assert_eq(mqr__time_format(t, unit, off, fmt, strlen(fmt), out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, want, "format %lld unit %d off %d '%s'", (long long)t, unit, off, fmt);
    cr_assert_eq(n, strlen(want));
}

static void rfc_is(int64_t t, int unit, int32_t off, const char *want)
{
    char out[64];
    size_t n = 0;
    cr_assert_eq(mqr__time_format_rfc3339(t, unit, off, out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, want);
    int64_t back = 0;
    cr_assert_eq(mqr__time_parse_rfc3339(out, n, unit, &back), MQR_OK, "%s", out);
    cr_assert_eq(back, t, "%s", out);
}

Test(timefmt, rfc3339_format_units_and_offsets)
{
    rfc_is(0, MQR_TIME_SECOND, 0, "1970-01-01T00:00:00+00:00");
    rfc_is(1704135845, MQR_TIME_SECOND, 28800, "2024-01-02T03:04:05+08:00");
    rfc_is(1653561612, MQR_TIME_SECOND, -19800, "2022-05-26T05:10:12-05:30");
    rfc_is(1653561612123, MQR_TIME_MILLISECOND, 0, "2022-05-26T10:40:12.123+00:00");
    rfc_is(1653561612000, MQR_TIME_MILLISECOND, 0, "2022-05-26T10:40:12.000+00:00");
    rfc_is(1653561612123456, MQR_TIME_MICROSECOND, 3600, "2022-05-26T11:40:12.123456+01:00");
    rfc_is(1653561612123456789, MQR_TIME_NANOSECOND, 0, "2022-05-26T10:40:12.123456789+00:00");
    rfc_is(-1, MQR_TIME_SECOND, 0, "1969-12-31T23:59:59+00:00");
    rfc_is(-1, MQR_TIME_MILLISECOND, 0, "1969-12-31T23:59:59.999+00:00");
    rfc_is(951782400, MQR_TIME_SECOND, 0, "2000-02-29T00:00:00+00:00");
    rfc_is(4107456000, MQR_TIME_SECOND, 0, "2100-02-28T00:00:00+00:00");
    rfc_is(4107542400, MQR_TIME_SECOND, 0, "2100-03-01T00:00:00+00:00");
    rfc_is(1709164800, MQR_TIME_SECOND, -3600, "2024-02-28T23:00:00-01:00");
}

Test(timefmt, format_placeholders)
{
    int64_t t = 1653561612123456789; /* 2022-05-26T10:40:12.123456789Z */
    fmt_is(t, MQR_TIME_NANOSECOND, 0, "%Y-%m-%d %H:%M:%S", "2022-05-26 10:40:12");
    fmt_is(t, MQR_TIME_NANOSECOND, 0, "%N|%6N|%3N", "123456789|123456|123");
    fmt_is(t, MQR_TIME_NANOSECOND, 28800, "%z %:z %::z", "+0800 +08:00 +08:00:00");
    fmt_is(t, MQR_TIME_NANOSECOND, -19845, "%z %:z %::z", "-0530 -05:30 -05:30:45");
    fmt_is(t, MQR_TIME_NANOSECOND, 0, "100%% %q %", "100% %q %");
    fmt_is(t, MQR_TIME_NANOSECOND, 0, "", "");
    fmt_is(1653561612, MQR_TIME_SECOND, 0, "%3N", "000");
    fmt_is(1653561612, MQR_TIME_SECOND, 0, "%Y%m%d%H%M%S", "20220526104012");
    /* a year beyond four digits and a year before 1 */
    fmt_is(253402300800, MQR_TIME_SECOND, 0, "%Y-%m-%d", "10000-01-01");
    fmt_is(-62135596801, MQR_TIME_SECOND, 0, "%Y-%m-%d", "0000-12-31");
    fmt_is(-62167219201, MQR_TIME_SECOND, 0, "%Y-%m-%d", "-0001-12-31");
}

Test(timefmt, format_errors_and_buffer)
{
    char out[32];
    size_t n = 0;
    cr_assert_eq(mqr__time_format(0, 4, 0, "%Y", 2, out, sizeof out, &n), MQR_EINVAL);
    cr_assert_eq(mqr__time_format(0, -1, 0, "%Y", 2, out, sizeof out, &n), MQR_EINVAL);
    cr_assert_eq(mqr__time_format(0, 0, 86400, "%Y", 2, out, sizeof out, &n), MQR_EINVAL);
    cr_assert_eq(mqr__time_format(0, 0, 86399, "%Y", 2, out, sizeof out, &n), MQR_OK);
    cr_assert_eq(mqr__time_format(0, 0, -86399, "%Y", 2, out, sizeof out, &n), MQR_OK);
    cr_assert_eq(mqr__time_format(INT64_MAX, MQR_TIME_SECOND, 0, "%Y", 2, out, sizeof out, &n),
                 MQR_EOVERFLOW);
    cr_assert_eq(mqr__time_format(INT64_MAX, MQR_TIME_NANOSECOND, 0, "%Y", 2, out, sizeof out, &n),
                 MQR_OK);
    cr_assert_str_eq(out, "2262");
    cr_assert_eq(mqr__time_format_rfc3339(0, 0, 0, NULL, 0, &n), MQR_EBUFFER);
    cr_assert_eq(n, 25);
    cr_assert_eq(mqr__time_format_rfc3339(0, 0, 0, out, 25, &n), MQR_EBUFFER);
    cr_assert_eq(mqr__time_format_rfc3339(0, 0, 0, out, 26, &n), MQR_OK);
    cr_assert_eq(mqr__time_format_rfc3339(0, 7, 0, out, 26, &n), MQR_EINVAL);
}

static void parse3339(const char *s, int unit, int rc, int64_t want)
{
    int64_t got = 12345;
    cr_assert_eq(mqr__time_parse_rfc3339(s, strlen(s), unit, &got), rc, "%s", s);
    if (rc == MQR_OK)
        cr_assert_eq(got, want, "%s: %lld", s, (long long)got);
}

Test(timefmt, rfc3339_parse)
{
    parse3339("2022-05-26T10:40:12Z", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26t10:40:12z", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26 10:40:12+00:00", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26T18:40:12+08:00", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26T05:10:12-05:30", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26T10:40:12.5Z", MQR_TIME_MILLISECOND, MQR_OK, 1653561612500);
    parse3339("2022-05-26T10:40:12.123456789123Z", MQR_TIME_NANOSECOND, MQR_OK,
              1653561612123456789);
    parse3339("2022-05-26T10:40:12.999Z", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("1969-12-31T23:59:59.5Z", MQR_TIME_SECOND, MQR_OK, -1);
    parse3339("2024-02-29T00:00:00Z", MQR_TIME_SECOND, MQR_OK, 1709164800);
    parse3339("2023-02-29T00:00:00Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2100-02-29T00:00:00Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-13-01T00:00:00Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T24:00:00Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T10:60:00Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T10:40:12", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T10:40:12.Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T10:40:12+0800", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26T10:40:12+08:00x", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("2022-05-26_10:40:12Z", MQR_TIME_SECOND, MQR_OK, 1653561612);
    parse3339("2022-05-26", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("22-05-26T10:40:12Z", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("", MQR_TIME_SECOND, MQR_EINVAL, 0);
    parse3339("9999-12-31T23:59:59Z", MQR_TIME_NANOSECOND, MQR_EOVERFLOW, 0);
    parse3339("2262-04-11T23:47:16.854775807Z", MQR_TIME_NANOSECOND, MQR_OK, INT64_MAX);
    parse3339("2262-04-11T23:47:16.854775808Z", MQR_TIME_NANOSECOND, MQR_EOVERFLOW, 0);
}

static void parse_fmt(const char *fmt, const char *s, int unit, int32_t off, int rc, int64_t want)
{
    int64_t got = 12345;
    cr_assert_eq(mqr__time_parse(fmt, strlen(fmt), s, strlen(s), unit, off, &got), rc,
                 "'%s' '%s'", fmt, s);
    if (rc == MQR_OK)
        cr_assert_eq(got, want, "'%s' '%s': %lld", fmt, s, (long long)got);
}

Test(timefmt, parse_with_format)
{
    /* the spec's example: no offset and no %z means UTC */
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-05-26 10:40:12", MQR_TIME_SECOND, 0, MQR_OK, 1653561612);
    /* separators are not checked */
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022/05/26T10-40-12", MQR_TIME_SECOND, 0, MQR_OK,
              1653561612);
    /* an explicit offset */
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-05-26 18:40:12", MQR_TIME_SECOND, 28800, MQR_OK,
              1653561612);
    /* %z wins over the offset argument */
    parse_fmt("%Y-%m-%d %H:%M:%S%z", "2022-05-26 18:40:12+0800", MQR_TIME_SECOND, -3600,
              MQR_OK, 1653561612);
    parse_fmt("%Y-%m-%dT%H:%M:%S%:z", "2022-05-26T05:10:12-05:30", MQR_TIME_SECOND, 0, MQR_OK,
              1653561612);
    parse_fmt("%Y-%m-%dT%H:%M:%S%::z", "2022-05-26T10:40:12+00:00:00", MQR_TIME_SECOND, 0,
              MQR_OK, 1653561612);
    parse_fmt("%Y-%m-%dT%H:%M:%S%z", "2022-05-26T10:40:12Z", MQR_TIME_SECOND, 3600, MQR_OK,
              1653561612);
    parse_fmt("%Y-%m-%d %H:%M:%S.%3N", "2022-05-26 10:40:12.123", MQR_TIME_MILLISECOND, 0,
              MQR_OK, 1653561612123);
    parse_fmt("%Y-%m-%d %H:%M:%S.%6N", "2022-05-26 10:40:12.123456", MQR_TIME_MILLISECOND, 0,
              MQR_OK, 1653561612123);
    parse_fmt("%Y-%m-%d %H:%M:%S.%N", "2022-05-26 10:40:12.123456789", MQR_TIME_NANOSECOND, 0,
              MQR_OK, 1653561612123456789);
    /* as EMQX: parsing stops at the end of the input or of the format */
    parse_fmt("%Y-%m-%d %H:%M:%S.%3N", "2022-05-26 10:40:12", MQR_TIME_MILLISECOND, 0, MQR_OK,
              1653561612000);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-05-26 10:40:12 and more", MQR_TIME_SECOND, 0, MQR_OK,
              1653561612);
    parse_fmt("%Y%%%m%d%H%M%S", "2022x0526104012", MQR_TIME_SECOND, 0, MQR_OK, 1653561612);
    /* errors: every one of %Y %m %d %H %M %S is required */
    parse_fmt("%Y", "2000", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d", "2022-05-26", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("", "", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-05-26 10:40", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-05-26 10:40:1", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y--%m-%d %H:%M:%S", "2022-", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-0a-26 10:40:12", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-02-30 10:40:12", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-00-10 10:40:12", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y-%m-%d %H:%M:%S", "2022-01-10 24:00:00", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y%m%d%H%M%S%z", "20220526104012+2400", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y%m%d%H%M%S%z", "20220526104012+0060", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y%m%d%H%M%S%z", "202205261040120800", MQR_TIME_SECOND, 0, MQR_EINVAL, 0);
    parse_fmt("%Y%m%d%H%M%S", "20220526104012", 9, 0, MQR_EINVAL, 0);
    parse_fmt("%Y%m%d%H%M%S", "20220526104012", MQR_TIME_SECOND, 90000, MQR_EINVAL, 0);
}

static void offset_is(const char *s, int rc, int32_t want)
{
    int32_t got = 777;
    cr_assert_eq(mqr__time_parse_offset(s, strlen(s), &got), rc, "'%s'", s);
    if (rc == MQR_OK)
        cr_assert_eq(got, want, "'%s': %d", s, got);
}

Test(timefmt, offsets)
{
    offset_is("Z", MQR_OK, 0);
    offset_is("z", MQR_OK, 0);
    offset_is("+08:00", MQR_OK, 28800);
    offset_is("-0530", MQR_OK, -19800);
    offset_is("+05", MQR_OK, 18000);
    offset_is("-05:30:15", MQR_OK, -19815);
    offset_is("28800", MQR_OK, 28800);
    offset_is("-3600", MQR_EINVAL, 0); /* a sign means hhmm: 36 hours */
    offset_is("0", MQR_OK, 0);
    offset_is("86399", MQR_OK, 86399);
    offset_is("86400", MQR_EINVAL, 0);
    offset_is("+23:59:59", MQR_OK, 86399);
    offset_is("+24:00", MQR_EINVAL, 0);
    offset_is("+08:60", MQR_EINVAL, 0);
    offset_is("+08-00", MQR_EINVAL, 0);
    offset_is("+8:00", MQR_OK, 28800);  /* EMQX accepts fields of any width */
    offset_is("+8:0:5", MQR_OK, 28805);
    offset_is("+08:00:", MQR_EINVAL, 0);
    offset_is("+:00", MQR_EINVAL, 0);
    offset_is("+0800", MQR_OK, 28800);
    offset_is("+0800x", MQR_EINVAL, 0);
    offset_is("", MQR_EINVAL, 0);
    offset_is("-", MQR_EINVAL, 0);
    offset_is("local", MQR_EINVAL, 0);
    offset_is("12a", MQR_EINVAL, 0);
    offset_is("99999999999999999999", MQR_EINVAL, 0);
}

Test(timefmt, units)
{
    int u = -1;
    cr_assert_eq(mqr__time_unit_by_name("second", 6, &u), MQR_OK);
    cr_assert_eq(u, MQR_TIME_SECOND);
    cr_assert_eq(mqr__time_unit_by_name("millisecond", 11, &u), MQR_OK);
    cr_assert_eq(u, MQR_TIME_MILLISECOND);
    cr_assert_eq(mqr__time_unit_by_name("microsecond", 11, &u), MQR_OK);
    cr_assert_eq(u, MQR_TIME_MICROSECOND);
    cr_assert_eq(mqr__time_unit_by_name("nanosecond", 10, &u), MQR_OK);
    cr_assert_eq(u, MQR_TIME_NANOSECOND);
    cr_assert_eq(mqr__time_unit_by_name("seconds", 7, &u), MQR_EINVAL);
    cr_assert_eq(mqr__time_unit_by_name("Second", 6, &u), MQR_EINVAL);
    cr_assert_eq(mqr__time_unit_by_name("", 0, &u), MQR_EINVAL);
}

Test(timefmt, civil_struct_roundtrip)
{
    mqr__civil_t c;
    cr_assert_eq(mqr__time_to_civil(-1, MQR_TIME_MICROSECOND, 0, &c), MQR_OK);
    cr_assert_eq(c.year, 1969);
    cr_assert_eq(c.second, 59);
    cr_assert_eq(c.nanosecond, 999999000);
    int64_t back;
    cr_assert_eq(mqr__time_from_civil(&c, MQR_TIME_MICROSECOND, &back), MQR_OK);
    cr_assert_eq(back, -1);
    c.nanosecond = 1000000000;
    cr_assert_eq(mqr__time_from_civil(&c, MQR_TIME_MICROSECOND, &back), MQR_EINVAL);
}

Test(timefmt, now_and_local_offset)
{
    int64_t s = 0, ns = 0;
    cr_assert_eq(mqr__time_now(MQR_TIME_SECOND, &s), MQR_OK);
    cr_assert_eq(mqr__time_now(MQR_TIME_NANOSECOND, &ns), MQR_OK);
    cr_assert_gt(s, 1700000000);
    cr_assert_geq(ns / 1000000000, s);
    cr_assert_leq(ns / 1000000000 - s, 5);
    cr_assert_eq(mqr__time_now(5, &s), MQR_EINVAL);

    /* This test sets TZ; no other test reads the process time zone. */
    int32_t off = 1;
    setenv("TZ", "UTC0", 1);
    tzset();
    cr_assert_eq(mqr__local_offset_seconds(1653561612, &off), MQR_OK);
    cr_assert_eq(off, 0);
    setenv("TZ", "<+0530>-5:30", 1);
    tzset();
    cr_assert_eq(mqr__local_offset_seconds(1653561612, &off), MQR_OK);
    cr_assert_eq(off, 19800);
    setenv("TZ", "<-03>3", 1);
    tzset();
    cr_assert_eq(mqr__local_offset_seconds(0, &off), MQR_OK);
    cr_assert_eq(off, -10800);
}
