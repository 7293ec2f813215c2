/* SPDX-License-Identifier: MIT */
/*
 * timefmt.c - civil time arithmetic, formatting and parsing for the date and
 * time rule functions, without the C library's time zone state.
 *
 * How it works: a timestamp is split (floor division) into whole seconds and
 * nanoseconds, shifted by the UTC offset, and split again into a day number
 * and a second of the day; days <-> (year, month, day) use Howard Hinnant's
 * era-based algorithms ("chrono-Compatible Low-Level Date Algorithms"), which
 * are exact for the proleptic Gregorian calendar over the whole int64 day
 * range used here. Formatting writes through a small bounded writer that
 * keeps counting when the buffer is full, which gives the size query.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "mqttrule/rule.h"
#include "timefmt.h"

/* ORDER: MQR_TIME_* */
static const struct {
    const char *name;
    int64_t per_second;
} unit_table[] = {
    {"second", 1},
    {"millisecond", 1000},
    {"microsecond", 1000000},
    {"nanosecond", 1000000000},
};

/* Seconds beyond which a timestamp is refused: year ~ +-3.1 million, far
 * inside int64 arithmetic for every unit conversion below. */
#define MAX_SECONDS INT64_C(100000000000000)

static int unit_ok(int unit) { return unit >= MQR_TIME_SECOND && unit <= MQR_TIME_NANOSECOND; }

static int offset_ok(int32_t off) { return off >= -MQR_TIME_MAX_OFFSET && off <= MQR_TIME_MAX_OFFSET; }

int mqr__time_unit_by_name(const char *name, size_t len, int *out_unit)
{
    for (int u = 0; u <= MQR_TIME_NANOSECOND; u++) {
        if (strlen(unit_table[u].name) == len && memcmp(unit_table[u].name, name, len) == 0) {
            *out_unit = u;
            return MQR_OK;
        }
    }
    return MQR_EINVAL;
}

/* ---- calendar ---------------------------------------------------------------- */

int64_t mqr__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                     /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void mqr__civil_from_days(int64_t z, int64_t *out_year, int *out_month, int *out_day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                          /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;     /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                        /* [0, 11] */
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *out_day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *out_month = m;
    *out_year = yoe + era * 400 + (m <= 2);
}

int mqr__is_leap_year(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int mqr__days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    return days[month - 1] + (month == 2 && mqr__is_leap_year(year));
}

/* Floor division and its non-negative remainder. */
static int64_t floor_div(int64_t a, int64_t b, int64_t *rem)
{
    int64_t q = a / b, r = a % b;
    if (r < 0)
        q--, r += b;
    *rem = r;
    return q;
}

int mqr__time_to_civil(int64_t t, int unit, int32_t offset, mqr__civil_t *out)
{
    if (!unit_ok(unit) || !offset_ok(offset))
        return MQR_EINVAL;
    int64_t per = unit_table[unit].per_second, sub, sod;
    int64_t secs = floor_div(t, per, &sub);
    if (secs > MAX_SECONDS || secs < -MAX_SECONDS)
        return MQR_EOVERFLOW;
    secs += offset;
    int64_t days = floor_div(secs, 86400, &sod);
    int month, day;
    mqr__civil_from_days(days, &out->year, &month, &day);
    out->month = month;
    out->day = day;
    out->hour = (int32_t)(sod / 3600);
    out->minute = (int32_t)(sod / 60 % 60);
    out->second = (int32_t)(sod % 60);
    out->nanosecond = (int32_t)(sub * (1000000000 / per));
    out->offset = offset;
    return MQR_OK;
}

int mqr__time_from_civil(const mqr__civil_t *c, int unit, int64_t *out)
{
    if (!unit_ok(unit) || !offset_ok(c->offset) || c->month < 1 || c->month > 12 || c->day < 1 ||
        c->day > mqr__days_in_month(c->year, c->month) || c->hour < 0 || c->hour > 23 ||
        c->minute < 0 || c->minute > 59 || c->second < 0 || c->second > 59 ||
        c->nanosecond < 0 || c->nanosecond > 999999999)
        return MQR_EINVAL;
    if (c->year > 3000000 || c->year < -3000000) /* MAX_SECONDS is ~3.17 million years */
        return MQR_EOVERFLOW;
    int64_t secs = mqr__days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 +
                   c->minute * 60 + c->second - c->offset;
    int64_t per = unit_table[unit].per_second;
    int64_t sub = c->nanosecond / (1000000000 / per);
    if (secs > (INT64_MAX - sub) / per || secs < INT64_MIN / per)
        return MQR_EOVERFLOW;
    *out = secs * per + sub;
    return MQR_OK;
}

/* ---- formatting --------------------------------------------------------------------- */

/* A bounded writer: counts everything, stores what fits. */
typedef struct writer {
    char *out;
    size_t cap, len;
} writer_t;

static void w_put(writer_t *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, w->len++)
        if (w->len < w->cap)
            w->out[w->len] = s[i];
}

/* Write `v` zero-padded to `width` digits (a '-' first if negative). */
static void w_num(writer_t *w, int64_t v, int width)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%0*lld", width + (v < 0), (long long)v);
    w_put(w, buf, (size_t)n);
}

/* "+hh", then ":mm" / "mm" and ":ss" as `colons` (0, 1, 2) asks. */
static void w_offset(writer_t *w, int32_t off, int colons)
{
    int32_t a = off < 0 ? -off : off;
    w_put(w, off < 0 ? "-" : "+", 1);
    w_num(w, a / 3600, 2);
    if (colons)
        w_put(w, ":", 1);
    w_num(w, a / 60 % 60, 2);
    if (colons == 2) {
        w_put(w, ":", 1);
        w_num(w, a % 60, 2);
    }
}

/* NUL-terminate and apply the output convention. */
static int w_finish(writer_t *w, size_t *out_len)
{
    *out_len = w->len;
    if (w->len + 1 > w->cap)
        return MQR_EBUFFER;
    w->out[w->len] = '\0';
    return MQR_OK;
}

/* Length of the placeholder at fmt[i] (which is '%'), 0 if none; sets *kind
 * to the conversion letter, with '3' '6' for %3N %6N and ':' ';' for %:z %::z. */
static size_t placeholder(const char *fmt, size_t len, size_t i, char *kind)
{
    const char *p = fmt + i + 1;
    size_t left = len - i - 1;
    if (left >= 1 && strchr("YmdHMSNz%", p[0]) && p[0]) {
        *kind = p[0];
        return 2;
    }
    if (left >= 2 && (p[0] == '3' || p[0] == '6') && p[1] == 'N') {
        *kind = p[0];
        return 3;
    }
    if (left >= 2 && p[0] == ':' && p[1] == 'z') {
        *kind = ':';
        return 3;
    }
    if (left >= 3 && p[0] == ':' && p[1] == ':' && p[2] == 'z') {
        *kind = ';';
        return 4;
    }
    return 0;
}

/* Write `c` through `w` following `fmt` (placeholders of mqr__time_format). */
static void format_civil(writer_t *w, const mqr__civil_t *c, const char *fmt, size_t fmt_len)
{
    for (size_t i = 0; i < fmt_len;) {
        char k = 0;
        size_t n = fmt[i] == '%' ? placeholder(fmt, fmt_len, i, &k) : 0;
        if (n == 0) {
            w_put(w, fmt + i++, 1);
            continue;
        }
        i += n;
        switch (k) {
        case 'Y': w_num(w, c->year, 4); break;
        case 'm': w_num(w, c->month, 2); break;
        case 'd': w_num(w, c->day, 2); break;
        case 'H': w_num(w, c->hour, 2); break;
        case 'M': w_num(w, c->minute, 2); break;
        case 'S': w_num(w, c->second, 2); break;
        case 'N': w_num(w, c->nanosecond, 9); break;
        case '6': w_num(w, c->nanosecond / 1000, 6); break;
        case '3': w_num(w, c->nanosecond / 1000000, 3); break;
        case 'z': w_offset(w, c->offset, 0); break;
        case ':': w_offset(w, c->offset, 1); break;
        case ';': w_offset(w, c->offset, 2); break;
        default: w_put(w, "%", 1); break;
        }
    }
}

int mqr__time_format(int64_t t, int unit, int32_t offset, const char *fmt, size_t fmt_len,
                     char *out, size_t cap, size_t *out_len)
{
    mqr__civil_t c;
    *out_len = 0;
    int rc = mqr__time_to_civil(t, unit, offset, &c);
    if (rc != MQR_OK)
        return rc;
    writer_t w = {out, cap, 0};
    format_civil(&w, &c, fmt, fmt_len);
    return w_finish(&w, out_len);
}

int mqr__time_format_rfc3339(int64_t t, int unit, int32_t offset, char *out, size_t cap,
                             size_t *out_len)
{
    /* ORDER: MQR_TIME_* */
    static const char *const fmts[] = {
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y-%m-%dT%H:%M:%S.%3N%:z",
        "%Y-%m-%dT%H:%M:%S.%6N%:z",
        "%Y-%m-%dT%H:%M:%S.%N%:z",
    };
    if (!unit_ok(unit)) {
        *out_len = 0;
        return MQR_EINVAL;
    }
    return mqr__time_format(t, unit, offset, fmts[unit], strlen(fmts[unit]), out, cap, out_len);
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Read exactly `n` decimal digits at s[*i]; 0 if they are not all there. */
static int read_digits(const char *s, size_t len, size_t *i, int n, int64_t *out)
{
    int64_t v = 0;
    if (len - *i < (size_t)n)
        return 0;
    for (int k = 0; k < n; k++) {
        char c = s[*i + (size_t)k];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)n;
    *out = v;
    return 1;
}

/* Read "Z"/"z" or sign, hh, then per `colons` (0: mm; 1: ":mm"; 2: ":mm:ss")
 * at s[*i]. The ':' characters are not checked, as EMQX's parser skips them. */
static int read_offset(const char *s, size_t len, size_t *i, int colons, int32_t *out)
{
    if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
        (*i)++;
        *out = 0;
        return 1;
    }
    if (*i >= len || (s[*i] != '+' && s[*i] != '-'))
        return 0;
    int neg = s[(*i)++] == '-';
    int64_t h, m, sec = 0;
    if (!read_digits(s, len, i, 2, &h))
        return 0;
    if (colons && *i < len)
        (*i)++;
    if (!read_digits(s, len, i, 2, &m))
        return 0;
    if (colons == 2) {
        if (*i < len)
            (*i)++;
        if (!read_digits(s, len, i, 2, &sec))
            return 0;
    }
    if (m > 59 || sec > 59)
        return 0;
    int64_t v = h * 3600 + m * 60 + sec;
    if (v > MQR_TIME_MAX_OFFSET)
        return 0;
    *out = (int32_t)(neg ? -v : v);
    return 1;
}

/* Bits of the fields mqr__time_parse requires, as EMQX does. */
enum { HAVE_Y = 1, HAVE_MO = 2, HAVE_D = 4, HAVE_H = 8, HAVE_MI = 16, HAVE_S = 32, HAVE_ALL = 63 };

/* Skip the run of literal format characters at fmt[*f] ("%%" counts as one
 * character) and return its length in characters. */
static size_t literal_run(const char *fmt, size_t fmt_len, size_t *f)
{
    size_t run = 0;
    while (*f < fmt_len) {
        char k = 0;
        size_t n = fmt[*f] == '%' ? placeholder(fmt, fmt_len, *f, &k) : 0;
        if (n && k != '%')
            break;
        *f += n ? n : 1;
        run++;
    }
    return run;
}

int mqr__time_parse(const char *fmt, size_t fmt_len, const char *s, size_t len, int unit,
                    int32_t offset, int64_t *out)
{
    mqr__civil_t c = {1970, 1, 1, 0, 0, 0, 0, offset};
    size_t i = 0, f = 0;
    int have = 0;
    while (f < fmt_len && i < len) {
        char k = 0;
        size_t n = fmt[f] == '%' ? placeholder(fmt, fmt_len, f, &k) : 0;
        if (n == 0 || k == '%') { /* as many input characters as the run, unchecked */
            size_t run = literal_run(fmt, fmt_len, &f);
            if (len - i < run)
                return MQR_EINVAL;
            i += run;
            continue;
        }
        f += n;
        int64_t v = 0;
        int ok;
        switch (k) {
        case 'Y': ok = read_digits(s, len, &i, 4, &v), c.year = v, have |= HAVE_Y; break;
        case 'm': ok = read_digits(s, len, &i, 2, &v), c.month = (int32_t)v, have |= HAVE_MO; break;
        case 'd': ok = read_digits(s, len, &i, 2, &v), c.day = (int32_t)v, have |= HAVE_D; break;
        case 'H': ok = read_digits(s, len, &i, 2, &v), c.hour = (int32_t)v, have |= HAVE_H; break;
        case 'M': ok = read_digits(s, len, &i, 2, &v), c.minute = (int32_t)v, have |= HAVE_MI; break;
        case 'S': ok = read_digits(s, len, &i, 2, &v), c.second = (int32_t)v, have |= HAVE_S; break;
        case 'N': ok = read_digits(s, len, &i, 9, &v), c.nanosecond = (int32_t)v; break;
        case '6': ok = read_digits(s, len, &i, 6, &v), c.nanosecond = (int32_t)(v * 1000); break;
        case '3': ok = read_digits(s, len, &i, 3, &v), c.nanosecond = (int32_t)(v * 1000000); break;
        case 'z': ok = read_offset(s, len, &i, 0, &c.offset); break;
        case ':': ok = read_offset(s, len, &i, 1, &c.offset); break;
        default: ok = read_offset(s, len, &i, 2, &c.offset); break;
        }
        if (!ok)
            return MQR_EINVAL;
    }
    if (have != HAVE_ALL)
        return MQR_EINVAL;
    return mqr__time_from_civil(&c, unit, out);
}

/* Expect character `ch` at s[*i]. */
static int expect(const char *s, size_t len, size_t *i, char ch)
{
    if (*i >= len || s[*i] != ch)
        return 0;
    (*i)++;
    return 1;
}

int mqr__time_parse_rfc3339(const char *s, size_t len, int unit, int64_t *out)
{
    mqr__civil_t c = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t y, mo, d, h, mi, se;
    size_t i = 0;
    if (!read_digits(s, len, &i, 4, &y) || !expect(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &mo) || !expect(s, len, &i, '-') ||
        !read_digits(s, len, &i, 2, &d) || i >= len)
        return MQR_EINVAL;
    i++; /* the date/time separator: any character, as Erlang's calendar */
    if (!read_digits(s, len, &i, 2, &h) || !expect(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &mi) || !expect(s, len, &i, ':') ||
        !read_digits(s, len, &i, 2, &se))
        return MQR_EINVAL;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        int64_t scale = 100000000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            c.nanosecond += (int32_t)((s[i] - '0') * scale);
            scale /= 10;
            i++;
        }
        if (i == start)
            return MQR_EINVAL;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else {
        size_t at = i;
        if (!read_offset(s, len, &i, 1, &c.offset) || s[at + 3] != ':')
            return MQR_EINVAL;
    }
    if (i != len)
        return MQR_EINVAL;
    c.year = y, c.month = (int32_t)mo, c.day = (int32_t)d;
    c.hour = (int32_t)h, c.minute = (int32_t)mi, c.second = (int32_t)se;
    return mqr__time_from_civil(&c, unit, out);
}

/* Read 1..9 decimal digits from s[*i] up to `end`, stopping at ':'. */
static int read_field(const char *s, size_t end, size_t *i, int64_t *out)
{
    size_t start = *i;
    int64_t v = 0;
    while (*i < end && s[*i] != ':') {
        if (s[*i] < '0' || s[*i] > '9' || *i - start >= 9)
            return 0;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return *i > start;
}

int mqr__time_parse_offset(const char *s, size_t len, int32_t *out)
{
    if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *out = 0;
        return MQR_OK;
    }
    if (len == 0)
        return MQR_EINVAL;
    int64_t h = 0, m = 0, sec = 0;
    if (s[0] == '+' || s[0] == '-') {
        size_t i = 1;
        if (!memchr(s, ':', len)) { /* "+hhmm", or "+hh" */
            if ((len != 5 && len != 3) || !read_digits(s, len, &i, 2, &h) ||
                (len == 5 && !read_digits(s, len, &i, 2, &m)))
                return MQR_EINVAL;
        } else { /* "+h:m" or "+h:m:s", fields of any width as EMQX */
            if (!read_field(s, len, &i, &h) || i >= len || s[i++] != ':' ||
                !read_field(s, len, &i, &m))
                return MQR_EINVAL;
            if (i < len && (s[i++] != ':' || !read_field(s, len, &i, &sec) || i != len))
                return MQR_EINVAL;
        }
        if (h > 23 || m > 59 || sec > 59)
            return MQR_EINVAL;
        int64_t v = h * 3600 + m * 60 + sec;
        *out = (int32_t)(s[0] == '-' ? -v : v);
        return MQR_OK;
    }
    /* a plain unsigned number of seconds */
    size_t i = 0;
    if (!read_field(s, len, &i, &sec) || i != len || sec > MQR_TIME_MAX_OFFSET)
        return MQR_EINVAL;
    *out = (int32_t)sec;
    return MQR_OK;
}

/* ---- the clock and the process time zone ------------------------------------------------ */

int mqr__time_now(int unit, int64_t *out)
{
    struct timespec ts;
    if (!unit_ok(unit))
        return MQR_EINVAL;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return MQR_EIO;
    int64_t per = unit_table[unit].per_second;
    *out = (int64_t)ts.tv_sec * per + (int64_t)ts.tv_nsec / (1000000000 / per);
    return MQR_OK;
}

/* Seconds since the epoch of a broken-down struct tm read as UTC. */
static int64_t tm_seconds(const struct tm *tm)
{
    return mqr__days_from_civil((int64_t)tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday) * 86400 +
           tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec;
}

int mqr_rule_local_offset(int64_t unix_s, int32_t *out_offset_s)
{
    if (!out_offset_s)
        return MQR_EINVAL;
    return mqr__local_offset_seconds((time_t)unix_s, out_offset_s);
}

int mqr__local_offset_seconds(time_t t, int32_t *out)
{
    struct tm local, utc;
    if (!localtime_r(&t, &local) || !gmtime_r(&t, &utc))
        return MQR_EIO;
    int64_t off = tm_seconds(&local) - tm_seconds(&utc);
    if (off < -MQR_TIME_MAX_OFFSET || off > MQR_TIME_MAX_OFFSET)
        return MQR_EIO;
    *out = (int32_t)off;
    return MQR_OK;
}
