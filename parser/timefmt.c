/* timefmt.c: calendar arithmetic, ISO-8601, fixed-offset zones and Java-style date-time
 * patterns (see timefmt.h).
 *
 * A pattern is read as a sequence of fields (a run of one letter, its length the
 * field's count), quoted literals and single literal characters; the same reader
 * (next_field) serves checking, formatting and parsing, so that the three agree on
 * what a pattern means.  Invariants: every read of the text or the pattern is checked
 * against its end; parsed years are bounded (MAX_YEAR_DIGITS) so that the epoch-ms
 * arithmetic cannot overflow. */
#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MS_PER_DAY 86400000ll
/* Most digits of a parsed year: 999999 years of milliseconds fit in int64 easily. */
#define MAX_YEAR_DIGITS 6

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
/* 1970-01-01 was a Thursday; index 0 is Monday as in java.time. */
static const char *const day_names[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && leap(y) ? 29 : mdays[m - 1];
}

/* Reads exactly n digits at s[*i..] into *v. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *v)
{
    *v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        *v = *v * 10 + (s[*i] - '0');
    }
    return true;
}

static bool one_of(const char *s, size_t len, size_t *i, const char *any)
{
    if (*i >= len || s[*i] == '\0' || !strchr(any, s[*i]))
        return false;
    (*i)++;
    return true;
}

/* [+-]hh[[:]mm] at s[*i..] into minutes. */
static bool offset(const char *s, size_t len, size_t *i, int *minutes)
{
    int sign, h, m = 0;

    if (*i >= len || (s[*i] != '+' && s[*i] != '-'))
        return false;
    sign = s[(*i)++] == '-' ? -1 : 1;
    if (!digits(s, len, i, 2, &h) || h > 23)
        return false;
    if (*i < len && s[*i] == ':')
        (*i)++;
    if (*i < len && s[*i] >= '0' && s[*i] <= '9' && (!digits(s, len, i, 2, &m) || m > 59))
        return false;
    *minutes = sign * (h * 60 + m);
    return true;
}

int sl_time_parse_iso8601(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec, ms = 0, off = 0;

    if (!digits(s, len, &i, 4, &y) || !one_of(s, len, &i, "-") || !digits(s, len, &i, 2, &mo) ||
        !one_of(s, len, &i, "-") || !digits(s, len, &i, 2, &d) || !one_of(s, len, &i, "Tt ") ||
        !digits(s, len, &i, 2, &h) || !one_of(s, len, &i, ":") || !digits(s, len, &i, 2, &mi) ||
        !one_of(s, len, &i, ":") || !digits(s, len, &i, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (i < len && s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
            if (n < 3)
                ms = ms * 10 + (s[i] - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (i < len && !offset(s, len, &i, &off))
        return -1;
    if (i != len)
        return -1;
    *out = sl_days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_PER_DAY +
           ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + ms - (int64_t)off * 60000;
    return 0;
}

/* Splits ms into its day (floored) and the milliseconds into that day. */
static void split_day(int64_t ms, int64_t *days, int64_t *rem)
{
    *days = ms / MS_PER_DAY;
    *rem = ms % MS_PER_DAY;
    if (*rem < 0) {
        *rem += MS_PER_DAY;
        (*days)--;
    }
}

int sl_time_format_iso8601(int64_t ms, char out[32])
{
    int64_t days, rem, year;
    unsigned month, day;

    out[0] = '\0';
    split_day(ms, &days, &rem);
    sl_civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999)
        return -1;
    snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)year, month, day,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
    return 0;
}

int sl_time_zone_parse(const char *s, size_t len, int *offset_min)
{
    size_t i = 0;

    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (len - i == 1 && (s[i] == 'Z' || s[i] == 'z')) {
        *offset_min = 0;
        return 0;
    }
    if (len - i >= 3 && (strncasecmp(s + i, "UTC", 3) == 0 || strncasecmp(s + i, "GMT", 3) == 0))
        i += 3;
    if (i == len) {
        *offset_min = 0;
        return 0;
    }
    return offset(s, len, &i, offset_min) && i == len ? 0 : -1;
}

/* One element of a pattern: a field (letter, count), or literal text. */
typedef struct field {
    char letter; /* 0 for literal text */
    int count;
    const char *text; /* literal text (quoted: with doubled quotes still in) */
    size_t len;
    bool quoted;
} field;

/* The largest count each pattern letter accepts; 0: not a pattern letter here. */
static int max_count(char c)
{
    switch (c) {
    case 'd':
    case 'H':
    case 'k':
    case 'h':
    case 'K':
    case 'm':
    case 's':
        return 2;
    case 'D':
        return 3;
    case 'a':
        return 1;
    case 'S':
        return 9;
    case 'y':
    case 'u':
        return MAX_YEAR_DIGITS;
    case 'M':
    case 'L':
    case 'E':
    case 'G':
    case 'X':
    case 'x':
    case 'Z':
        return 5;
    case 'z':
        return 4;
    case 'V':
        return 2;
    default:
        return 0;
    }
}

/* Reads the element of pat at *i into f.  Returns 1, 0 at the end, -1 when the pattern
 * is invalid (*why set). */
static int next_field(const char *pat, size_t len, size_t *i, field *f, const char **why)
{
    size_t start = *i;

    if (*i >= len)
        return 0;
    memset(f, 0, sizeof(*f));
    char c = pat[*i];
    if (c == '\'') {
        size_t j = *i + 1;
        for (;;) {
            if (j >= len) {
                *why = "unterminated quote in pattern";
                return -1;
            }
            if (pat[j] == '\'') {
                if (j + 1 < len && pat[j + 1] == '\'') {
                    j += 2;
                    continue;
                }
                break;
            }
            j++;
        }
        f->text = pat + start + 1;
        f->len = j - start - 1;
        f->quoted = true;
        if (f->len == 0) { /* '' is one quote */
            f->text = "'";
            f->len = 1;
            f->quoted = false;
        }
        *i = j + 1;
        return 1;
    }
    if (isalpha((unsigned char)c)) {
        while (*i < len && pat[*i] == c)
            (*i)++;
        f->letter = c;
        f->count = (int)(*i - start);
        if (!max_count(c)) {
            *why = "unknown pattern letter";
            return -1;
        }
        if (f->count > max_count(c) || (c == 'V' && f->count != 2)) {
            *why = "too many pattern letters";
            return -1;
        }
        return 1;
    }
    f->text = pat + start;
    f->len = 1;
    (*i)++;
    return 1;
}

int sl_time_pattern_check(const char *pat, size_t len, const char **why)
{
    size_t i = 0;
    field f;
    int rc;

    while ((rc = next_field(pat, len, &i, &f, why)) > 0)
        continue;
    return rc;
}

/* Appends literal text, undoubling quotes of quoted text. */
static void put_literal(const field *f, sl_buf *out)
{
    for (size_t k = 0; k < f->len; k++) {
        sl_buf_putc(out, f->text[k]);
        if (f->quoted && f->text[k] == '\'')
            k++;
    }
}

static void put_number(sl_buf *out, int64_t v, int width)
{
    sl_buf_printf(out, "%0*lld", width, (long long)v);
}

static void put_name(sl_buf *out, const char *name, int count)
{
    if (count == 4)
        sl_buf_puts(out, name);
    else if (count == 5)
        sl_buf_putc(out, name[0]);
    else
        sl_buf_printf(out, "%.3s", name);
}

/* X, x and Z fields: the offset in the styles DateTimeFormatter gives them. */
static void put_offset(sl_buf *out, char letter, int count, int off)
{
    int a = off < 0 ? -off : off, h = a / 60, m = a % 60;
    char sign = off < 0 ? '-' : '+';

    if (off == 0 && (letter == 'X' || (letter == 'Z' && count == 5))) {
        sl_buf_putc(out, 'Z');
        return;
    }
    if (letter == 'Z' && count == 4) {
        sl_buf_puts(out, "GMT");
        if (off)
            sl_buf_printf(out, "%c%02d:%02d", sign, h, m);
        return;
    }
    if (letter == 'Z' && count < 4) {
        sl_buf_printf(out, "%c%02d%02d", sign, h, m);
        return;
    }
    if (count == 1) {
        sl_buf_printf(out, "%c%02d", sign, h);
        if (m)
            sl_buf_printf(out, "%02d", m);
    } else if (count == 2 || count == 4) {
        sl_buf_printf(out, "%c%02d%02d", sign, h, m);
    } else {
        sl_buf_printf(out, "%c%02d:%02d", sign, h, m);
    }
}

int sl_time_format(int64_t ms, const char *pat, size_t plen, int offset_min, const char *zone,
                   size_t zlen, sl_buf *out)
{
    int64_t days, rem, year;
    unsigned month, day;
    const char *why;
    size_t i = 0;
    field f;
    int rc;

    if (__builtin_add_overflow(ms, (int64_t)offset_min * 60000, &ms))
        return -1;
    split_day(ms, &days, &rem);
    sl_civil_from_days(days, &year, &month, &day);
    int hour = (int)(rem / 3600000), min = (int)(rem / 60000 % 60), sec = (int)(rem / 1000 % 60);
    int milli = (int)(rem % 1000);
    int64_t yday = days - sl_days_from_civil(year, 1, 1) + 1;
    int wday = (int)(((days % 7) + 7 + 3) % 7); /* 0 = Monday */

    while ((rc = next_field(pat, plen, &i, &f, &why)) > 0) {
        if (!f.letter) {
            put_literal(&f, out);
            continue;
        }
        switch (f.letter) {
        case 'G':
            sl_buf_puts(out, year > 0 ? (f.count == 4 ? "Anno Domini" : "AD")
                                      : (f.count == 4 ? "Before Christ" : "BC"));
            break;
        case 'y':
        case 'u': {
            int64_t y = f.letter == 'y' && year <= 0 ? 1 - year : year;
            if (f.count == 2)
                put_number(out, ((y % 100) + 100) % 100, 2);
            else
                put_number(out, y, f.count);
            break;
        }
        case 'M':
        case 'L':
            if (f.count <= 2)
                put_number(out, month, f.count);
            else
                put_name(out, month_names[month - 1], f.count);
            break;
        case 'd':
            put_number(out, day, f.count);
            break;
        case 'D':
            put_number(out, yday, f.count);
            break;
        case 'H':
            put_number(out, hour, f.count);
            break;
        case 'k':
            put_number(out, hour ? hour : 24, f.count);
            break;
        case 'h':
            put_number(out, hour % 12 ? hour % 12 : 12, f.count);
            break;
        case 'K':
            put_number(out, hour % 12, f.count);
            break;
        case 'm':
            put_number(out, min, f.count);
            break;
        case 's':
            put_number(out, sec, f.count);
            break;
        case 'S': {
            char frac[16];
            snprintf(frac, sizeof(frac), "%03d000000", milli);
            sl_buf_append(out, frac, (size_t)f.count);
            break;
        }
        case 'a':
            sl_buf_puts(out, hour < 12 ? "AM" : "PM");
            break;
        case 'E':
            put_name(out, day_names[wday], f.count);
            break;
        case 'z':
        case 'V':
            if (zone && zlen)
                sl_buf_append(out, zone, zlen);
            else
                sl_buf_puts(out, "UTC");
            break;
        default: /* X, x, Z */
            put_offset(out, f.letter, f.count, offset_min);
            break;
        }
    }
    return rc;
}

/* Reads between min and max digits at s[*i..] into *v. */
static bool read_number(const char *s, size_t n, size_t *i, int min, int max, int64_t *v)
{
    int k = 0;

    *v = 0;
    while (k < max && *i < n && s[*i] >= '0' && s[*i] <= '9') {
        *v = *v * 10 + (s[(*i)++] - '0');
        k++;
    }
    return k >= min;
}

/* Reads one of names (in full, or its first three letters unless count is 4),
 * case-insensitively, at s[*i..]; its index into *v. */
static bool read_name(const char *s, size_t n, size_t *i, const char *const *names, int nnames,
                      int count, int64_t *v)
{
    for (int k = 0; k < nnames; k++) {
        size_t len = strlen(names[k]);

        if (count != 4 && len > 3)
            len = 3;

        if (n - *i >= len && strncasecmp(s + *i, names[k], len) == 0) {
            *i += len;
            *v = k;
            return true;
        }
    }
    return false;
}

/* Reads a numeric field of count letters: one letter reads 1 to max digits, more read
 * exactly that many (so that 'yyyyMMdd' can be read). */
static bool read_field_number(const char *s, size_t n, size_t *i, const field *f, int max,
                              int64_t *v)
{
    if (f->count == 1)
        return read_number(s, n, i, 1, max, v);
    return read_number(s, n, i, f->count, f->count, v);
}

int sl_time_parse(const char *s, size_t n, const char *pat, size_t plen, int offset_min,
                  int64_t *out, bool *zoned)
{
    int64_t year = 1970, month = 1, day = 1, hour = 0, min = 0, sec = 0, nanos = 0, v;
    int64_t yday = -1, hour12 = -1, pm = -1;
    int off = offset_min;
    const char *why;
    size_t i = 0, k = 0;

    *zoned = false;
    field f;
    int rc;

    while ((rc = next_field(pat, plen, &k, &f, &why)) > 0) {
        if (!f.letter) {
            for (size_t j = 0; j < f.len; j++) {
                if (i >= n || s[i] != f.text[j])
                    return -1;
                i++;
                if (f.quoted && f.text[j] == '\'')
                    j++;
            }
            continue;
        }
        switch (f.letter) {
        case 'G':
            if (!read_name(s, n, &i, (const char *const[]){"AD"}, 1, 2, &v))
                return -1;
            break;
        case 'y':
        case 'u':
            if (!read_field_number(s, n, &i, &f, MAX_YEAR_DIGITS, &year))
                return -1;
            if (f.count == 2)
                year += 2000;
            break;
        case 'M':
        case 'L':
            if (f.count <= 2 ? !read_field_number(s, n, &i, &f, 2, &month)
                             : !read_name(s, n, &i, month_names, 12, f.count, &month))
                return -1;
            if (f.count > 2)
                month++;
            break;
        case 'd':
            if (!read_field_number(s, n, &i, &f, 2, &day))
                return -1;
            break;
        case 'D':
            if (!read_field_number(s, n, &i, &f, 3, &yday))
                return -1;
            break;
        case 'H':
        case 'k':
            if (!read_field_number(s, n, &i, &f, 2, &hour))
                return -1;
            if (f.letter == 'k' && (hour < 1 || hour > 24))
                return -1;
            hour %= 24;
            break;
        case 'h':
        case 'K':
            if (!read_field_number(s, n, &i, &f, 2, &hour12))
                return -1;
            if (f.letter == 'h' ? hour12 < 1 || hour12 > 12 : hour12 > 11)
                return -1;
            hour12 %= 12;
            break;
        case 'm':
            if (!read_field_number(s, n, &i, &f, 2, &min))
                return -1;
            break;
        case 's':
            if (!read_field_number(s, n, &i, &f, 2, &sec))
                return -1;
            break;
        case 'S':
            if (!read_number(s, n, &i, f.count, f.count, &nanos))
                return -1;
            for (int d = f.count; d < 9; d++)
                nanos *= 10;
            break;
        case 'a':
            if (!read_name(s, n, &i, (const char *const[]){"AM", "PM"}, 2, 2, &pm))
                return -1;
            break;
        case 'E':
            if (!read_name(s, n, &i, day_names, 7, f.count, &v))
                return -1;
            break;
        case 'z':
        case 'V': {
            size_t j = i;
            while (j < n && !isspace((unsigned char)s[j]))
                j++;
            if (sl_time_zone_parse(s + i, j - i, &off) < 0)
                return -1;
            i = j;
            *zoned = true;
            break;
        }
        default: /* X, x, Z */
            *zoned = true;
            if (i < n && s[i] == 'Z' && f.letter != 'x') {
                off = 0;
                i++;
                break;
            }
            if (f.letter == 'Z' && f.count == 4 && n - i >= 3 && strncmp(s + i, "GMT", 3) == 0) {
                i += 3;
                off = 0;
                if (i < n && (s[i] == '+' || s[i] == '-') && !offset(s, n, &i, &off))
                    return -1;
                break;
            }
            if (!offset(s, n, &i, &off))
                return -1;
            break;
        }
    }
    if (rc < 0 || i != n)
        return -1;
    if (hour12 >= 0)
        hour = hour12 + (pm == 1 ? 12 : 0);
    else if (pm == 1 && hour < 12)
        hour += 12;
    if (yday >= 0) {
        if (yday < 1 || yday > (leap(year) ? 366 : 365))
            return -1;
        int64_t d = sl_days_from_civil(year, 1, 1) + yday - 1;
        int64_t y2;
        unsigned m2, d2;
        sl_civil_from_days(d, &y2, &m2, &d2);
        month = m2;
        day = d2;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, (int)month) || hour > 23 ||
        min > 59 || sec > 59)
        return -1;
    *out = sl_days_from_civil(year, (unsigned)month, (unsigned)day) * MS_PER_DAY +
           (hour * 3600 + min * 60 + sec) * 1000 + nanos / 1000000 - (int64_t)off * 60000;
    return 0;
}
