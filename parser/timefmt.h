/* timefmt.h: calendar arithmetic, ISO-8601, time zones given as fixed offsets, and
 * Java-style date-time patterns ('yyyy-MM-dd HH:mm:ss.SSS'), shared by the binder (which
 * checks literal patterns and zones), the engine's functions and the JSON codecs.
 *
 * Time is epoch milliseconds in the proleptic Gregorian calendar.  A zone is an offset
 * from UTC in minutes: 'UTC', 'GMT', 'Z', '+05:30', '-0800', '+01', 'UTC+2',
 * 'GMT-03:30'.  Named zones ('Europe/Berlin') are not known here: the compiler does no
 * I/O; the engine looks them up in the tz database (server/engine/tz.h). */
#ifndef SL_TIMEFMT_H
#define SL_TIMEFMT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of a date, and back (Howard Hinnant's algorithms). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void sl_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" ('T', 't' or a space between date
 * and time; no offset means UTC; digits past milliseconds are truncated) into epoch ms.
 * Returns 0, or -1 when s[0..len) is not one. */
int sl_time_parse_iso8601(const char *s, size_t len, int64_t *out);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (NUL-terminated).  Returns 0, or -1 when the year
 * is outside 0000..9999 (out is then empty). */
int sl_time_format_iso8601(int64_t ms, char out[32]);

/* Parses a zone (see above) into minutes east of UTC.  Returns 0 or -1. */
int sl_time_zone_parse(const char *s, size_t len, int *offset_min);

/* Checks a Java-style pattern: letters G y u M L d D H k h K m s S a E X x Z z V with
 * counts as java.time.format.DateTimeFormatter reads them, 'quoted text' ('' is a
 * quote), any other non-letter as itself.  Returns 0, or -1 with *why set (static). */
int sl_time_pattern_check(const char *pat, size_t len, const char **why);
/* Appends ms, seen in the zone offset_min (named zone for 'z'/'V'), formatted by pat,
 * to out.  Returns 0, or -1 when the pattern is invalid or the year has more digits than
 * the pattern allows. */
int sl_time_format(int64_t ms, const char *pat, size_t plen, int offset_min, const char *zone,
                   size_t zlen, sl_buf *out);
/* Parses s[0..n) by pat into epoch ms.  Fields the pattern lacks default to 1970-01-01
 * 00:00:00.000; the text is read in the zone offset_min unless it carries an offset or
 * zone of its own, which *zoned then says.  Returns 0, or -1 when the text does not
 * match or names an impossible date. */
int sl_time_parse(const char *s, size_t n, const char *pat, size_t plen, int offset_min,
                  int64_t *out, bool *zoned);

#endif
