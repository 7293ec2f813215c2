/* SPDX-License-Identifier: MIT */
/*
 * timefmt.h - internal date and time conversions for the rule functions of
 * spec §7.10 (now_timestamp, unix_ts_to_rfc3339, rfc3339_to_unix_ts,
 * format_date, date_to_unix_ts, timezone_to_offset_seconds): proleptic
 * Gregorian civil dates from day numbers and back (Howard Hinnant's
 * algorithms), formatting and parsing with EMQX's placeholders, RFC 3339, and
 * UTC offsets.
 *
 * Everything takes an explicit UTC offset in seconds and never touches the C
 * library's time zone state (no localtime, mktime or TZ), so every function
 * is pure and thread-safe. The one exception is mqr__local_offset_seconds(),
 * which reads the process time zone for callers that choose 'local'.
 *
 * Timestamps are int64 counts of a unit since 1970-01-01T00:00:00Z; the units
 * are MQR_TIME_SECOND .. MQR_TIME_NANOSECOND. Text outputs follow the
 * convention of codec_util.h: *out_len is always the full length, MQR_EBUFFER
 * when cap < *out_len + 1, a terminating NUL is written on success, and a NULL
 * `out` with cap 0 is a size query.
 */
#ifndef MQR_TIMEFMT_H
#define MQR_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mqttrule/common.h"

/* Units. ORDER: unit_table in timefmt.c. */
#define MQR_TIME_SECOND 0
#define MQR_TIME_MILLISECOND 1
#define MQR_TIME_MICROSECOND 2
#define MQR_TIME_NANOSECOND 3

/* Largest |offset| accepted anywhere: 24 hours minus one second. */
#define MQR_TIME_MAX_OFFSET 86399

/* A broken-down time at some UTC offset. */
typedef struct mqr__civil {
    int64_t year;       /* proleptic Gregorian, astronomical (0 = 1 BC) */
    int32_t month;      /* 1..12 */
    int32_t day;        /* 1..31 */
    int32_t hour;       /* 0..23 */
    int32_t minute;     /* 0..59 */
    int32_t second;     /* 0..59 */
    int32_t nanosecond; /* 0..999999999 */
    int32_t offset;     /* seconds east of UTC */
} mqr__civil_t;

/* The unit named "second", "millisecond", "microsecond" or "nanosecond"
 * (exact, lower case, as EMQX). MQR_OK or MQR_EINVAL. */
int mqr__time_unit_by_name(const char *name, size_t len, int *out_unit);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day
 * 1..31 not checked against the month); valid for |year| < 2^40. */
int64_t mqr__days_from_civil(int64_t year, int month, int day);

/* The date of day number `days` since 1970-01-01. */
void mqr__civil_from_days(int64_t days, int64_t *out_year, int *out_month, int *out_day);

/* 1 if `year` is a Gregorian leap year. */
int mqr__is_leap_year(int64_t year);

/* Days in `month` (1..12) of `year`, or 0 for a month out of range. */
int mqr__days_in_month(int64_t year, int month);

/* Break timestamp `t` (in `unit`) down into the civil time at UTC offset
 * `offset` seconds. MQR_OK; MQR_EINVAL for a bad unit or |offset| above
 * MQR_TIME_MAX_OFFSET; MQR_EOVERFLOW beyond 10^14 seconds from 1970 (about
 * 3 million years), which no real timestamp reaches. */
int mqr__time_to_civil(int64_t t, int unit, int32_t offset, mqr__civil_t *out);

/* The timestamp in `unit` of civil time `c` (its fields range-checked, its
 * offset applied). Sub-unit digits are truncated toward the past. MQR_OK,
 * MQR_EINVAL for a field out of range (day 31 in April, hour 24 ...) or a
 * bad unit, MQR_EOVERFLOW when the result does not fit in int64. */
int mqr__time_from_civil(const mqr__civil_t *c, int unit, int64_t *out);

/*
 * Format timestamp `t` with the placeholders of EMQX's format_date:
 *   %Y year (at least 4 digits)   %m %d %H %M %S  two digits
 *   %N nanoseconds (9 digits)     %6N microseconds   %3N milliseconds
 *   %z +hhmm   %:z +hh:mm   %::z +hh:mm:ss        %% a '%'
 * Any other character, and a '%' not starting one of these, is copied.
 * (EMQX itself has no %%: it prints "%%Y" as '%' and the year.)
 * MQR_OK, MQR_EBUFFER, MQR_EINVAL (bad unit or offset), MQR_EOVERFLOW as
 * mqr__time_to_civil.
 */
int mqr__time_format(int64_t t, int unit, int32_t offset, const char *fmt, size_t fmt_len,
                     char *out, size_t cap, size_t *out_len);

/* RFC 3339 as EMQX writes it: "2024-01-02T03:04:05+08:00", with 3, 6 or 9
 * fractional digits for millisecond, microsecond and nanosecond units (always
 * that many), and "+00:00" for offset 0. Errors as mqr__time_format. */
int mqr__time_format_rfc3339(int64_t t, int unit, int32_t offset, char *out, size_t cap,
                             size_t *out_len);

/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction](Z|z|+hh:mm|-hh:mm)" into a
 * timestamp in `unit` (fraction digits beyond the unit are dropped, toward
 * the past). As in Erlang's calendar:rfc3339_to_system_time, which EMQX
 * uses, the 'T' may be any one character ('t', ' ' ...). MQR_OK, MQR_EINVAL for anything malformed or a field out
 * of range, MQR_EOVERFLOW. */
int mqr__time_parse_rfc3339(const char *s, size_t len, int unit, int64_t *out);

/*
 * Parse `s` with a format of the placeholders above, as EMQX's
 * date_to_unix_ts does. Fixed widths: %Y 4 digits, %m %d %H %M %S 2, %N 9,
 * %6N 6, %3N 3; %z takes "+hhmm", %:z "+hh:mm", %::z "+hh:mm:ss", each also
 * "Z" or "z". A run of other format characters skips as many input
 * characters without checking them (EMQX does not check separators:
 * "%H:%M:%S" reads "10-40-12"). Parsing stops when the input or the format
 * ends: trailing input is ignored, and so is the rest of the format once the
 * input is used up ("%S.%3N" accepts "12"). %Y %m %d %H %M %S must all have
 * been read. The time is taken at the offset parsed by %z if present, else
 * at `offset` (0 for UTC). MQR_OK, MQR_EINVAL (input too short for a field,
 * non-digits, a missing field, a date or time out of range), MQR_EOVERFLOW.
 */
int mqr__time_parse(const char *fmt, size_t fmt_len, const char *s, size_t len, int unit,
                    int32_t offset, int64_t *out);

/* A UTC offset as EMQX's timezone_to_offset_seconds takes it: "Z" or "z"
 * (0), "+hhmm", "+h:m" or "+h:m:s" with fields of any width ("+08:00",
 * "+8:00", "-05:30:15"), '-' for west; also "+hh" and unsigned decimal seconds
 * ("28800"). Hours at most 23, minutes and seconds at most 59. A negative
 * number of seconds must come as an integer value, which the caller passes
 * through; "local" is the caller's too (mqr__local_offset_seconds).
 * MQR_OK or MQR_EINVAL. */
int mqr__time_parse_offset(const char *s, size_t len, int32_t *out);

/* The current time in `unit` from CLOCK_REALTIME. MQR_OK, MQR_EINVAL (unit),
 * MQR_EIO (the clock failed). */
int mqr__time_now(int unit, int64_t *out);

/*
 * The process's local UTC offset in seconds at Unix time `t`, from
 * localtime_r and gmtime_r. This is the only function here that reads the
 * process time zone (the TZ environment variable and the system zone files,
 * which the C library caches in global state); it is thread-safe as far as
 * localtime_r is, but not pure. Call it only when a rule asks for 'local'.
 * MQR_OK or MQR_EIO.
 */
int mqr__local_offset_seconds(time_t t, int32_t *out);

#endif /* MQR_TIMEFMT_H */
