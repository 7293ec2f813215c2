/* SPDX-License-Identifier: MIT */
/* Tests of the date and time functions (spec §7.10). The fixture's clock is
 * 2022-05-26T10:40:12.345Z and its local offset +08:00. */
#include "func_test_util.h"

TestSuite(func_time, .init = ft_setup, .fini = ft_teardown);

Test(func_time, now_timestamp_units)
{
    EXPECT_INT(1653561612, "now_timestamp");
    EXPECT_INT(1653561612, "now_timestamp", S("second"));
    EXPECT_INT(INT64_C(1653561612345), "now_timestamp", S("millisecond"));
    EXPECT_INT(INT64_C(1653561612345000), "now_timestamp", S("microsecond"));
    EXPECT_INT(INT64_C(1653561612345000000), "now_timestamp", S("nanosecond"));
    ft.cx.now_ms = -1; /* seconds floor toward the past */
    EXPECT_INT(-1, "now_timestamp");
    EXPECT_ERR("expected 'second', 'millisecond', 'microsecond' or 'nanosecond', got string \"hour\"",
               "now_timestamp", S("hour"));
    EXPECT_ERR("expected a string, got integer 1", "now_timestamp", I(1));
}

Test(func_time, now_rfc3339_local)
{
    EXPECT_STR("2022-05-26T18:40:12+08:00", "now_rfc3339");
    EXPECT_STR("2022-05-26T18:40:12.345+08:00", "now_rfc3339", S("millisecond"));
    ft.cx.local_offset_s = 0;
    EXPECT_STR("2022-05-26T10:40:12.345000+00:00", "now_rfc3339", S("microsecond"));
    EXPECT_ERR("got string \"Second\"", "now_rfc3339", S("Second"));
}

Test(func_time, unix_ts_to_rfc3339)
{
    EXPECT_STR("2022-05-26T18:40:12+08:00", "unix_ts_to_rfc3339", I(1653561612));
    EXPECT_STR("2022-05-26T18:40:12.345+08:00", "unix_ts_to_rfc3339", I(INT64_C(1653561612345)),
               S("millisecond"));
    EXPECT_STR("1970-01-01T08:00:00+08:00", "unix_ts_to_rfc3339", I(0));
    EXPECT_ERR("expected an integer, got float 1", "unix_ts_to_rfc3339", D(1.0));
    EXPECT_ERR("expected an integer, got string \"1\"", "unix_ts_to_rfc3339", S("1"));
    EXPECT_ERR("out of range", "unix_ts_to_rfc3339", I(INT64_MAX));
}

Test(func_time, rfc3339_to_unix_ts)
{
    EXPECT_INT(1653561612, "rfc3339_to_unix_ts", S("2022-05-26T10:40:12Z"));
    EXPECT_INT(INT64_C(1653561612345), "rfc3339_to_unix_ts", S("2022-05-26T18:40:12.345+08:00"),
               S("millisecond"));
    EXPECT_INT(1653561612, "rfc3339_to_unix_ts", S("2022-05-26T05:10:12-05:30"));
    EXPECT_ERR("invalid RFC 3339 date-time", "rfc3339_to_unix_ts", S("2022-05-26"));
    EXPECT_ERR("invalid RFC 3339 date-time", "rfc3339_to_unix_ts", S("2022-02-30T00:00:00Z"));
    EXPECT_ERR("expected a string, got undefined", "rfc3339_to_unix_ts", UNDEF());
}

Test(func_time, format_date)
{
    EXPECT_STR("2022-05-26 18:40:12", "format_date", S("second"), S("+08:00"),
               S("%Y-%m-%d %H:%M:%S"), I(1653561612));
    EXPECT_STR("2022-05-26T10:40:12.345+00:00", "format_date", S("millisecond"), S("Z"),
               S("%Y-%m-%dT%H:%M:%S.%3N%:z"));
    EXPECT_STR("18:40:12 +0800", "format_date", S("second"), S("local"), S("%H:%M:%S %z"));
    EXPECT_STR("11:40:12 +01:00:00", "format_date", S("second"), I(3600), S("%H:%M:%S %::z"));
    EXPECT_STR("345000000 100%", "format_date", S("millisecond"), S("Z"), S("%N 100%%"));
    EXPECT_ERR("expected a UTC offset", "format_date", S("second"), S("Mars"), S("%Y"));
    EXPECT_ERR("offset 90000 is outside", "format_date", S("second"), I(90000), S("%Y"));
    EXPECT_ERR("expected a string, got integer 1", "format_date", S("second"), S("Z"), I(1));
    EXPECT_ERR("expected an integer, got string \"1\"", "format_date", S("second"), S("Z"),
               S("%Y"), S("1"));
    EXPECT_ERR("got string \"day\"", "format_date", S("day"), S("Z"), S("%Y"));
}

Test(func_time, date_to_unix_ts)
{
    EXPECT_INT(1653561612, "date_to_unix_ts", S("second"), S("%Y-%m-%d %H:%M:%S"),
               S("2022-05-26 10:40:12"));
    EXPECT_INT(1653561612, "date_to_unix_ts", S("second"), S("%Y-%m-%d %H:%M:%S"),
               S("2022-05-26 10-40-12")); /* separators are not checked */
    EXPECT_INT(1653561612, "date_to_unix_ts", S("second"), S("+08:00"), S("%Y-%m-%d %H:%M:%S"),
               S("2022-05-26 18:40:12"));
    EXPECT_INT(1653561612, "date_to_unix_ts", S("second"), S("local"), S("%Y-%m-%d %H:%M:%S"),
               S("2022-05-26 18:40:12"));
    EXPECT_INT(INT64_C(1653561612345), "date_to_unix_ts", S("millisecond"),
               S("%Y-%m-%d %H:%M:%S.%3N%z"), S("2022-05-26 18:40:12.345+0800"));
    EXPECT_ERR("does not match the format", "date_to_unix_ts", S("second"), S("%Y-%m-%d"),
               S("2022-5-26"));
    EXPECT_ERR("does not match the format", "date_to_unix_ts", S("second"), S("%Y"), S("2022x"));
    EXPECT_ERR("expected a UTC offset", "date_to_unix_ts", S("second"), S("x"), S("%Y"),
               S("2022"));
    EXPECT_ERR("expected a string, got integer 2022", "date_to_unix_ts", S("second"), S("%Y"),
               I(2022));
}

Test(func_time, timezone_to_offset_seconds)
{
    EXPECT_INT(28800, "timezone_to_offset_seconds", S("+08:00"));
    EXPECT_INT(0, "timezone_to_offset_seconds", S("Z"));
    EXPECT_INT(-19800, "timezone_to_offset_seconds", S("-0530"));
    EXPECT_INT(28800, "timezone_to_offset_seconds", S("local"));
    EXPECT_INT(-3600, "timezone_to_offset_seconds", I(-3600));
    EXPECT_INT(28800, "timezone_to_second", S("+08:00"));
    EXPECT_INT(3600, "timezone_to_second", S("3600"));
    EXPECT_ERR("expected a UTC offset", "timezone_to_offset_seconds", S("+25:00"));
    EXPECT_ERR("expected a UTC offset", "timezone_to_second", UNDEF());
    EXPECT_ERR("outside -86399..86399", "timezone_to_second", I(86400));
}
