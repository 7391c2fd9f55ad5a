/* tz.h: time zones read from the system's tz database (TZif files under
 * /usr/share/zoneinfo), for windows aligned to a zone's local midnight.
 *
 * A zone is loaded once, on first use, into a process-wide cache guarded by a mutex;
 * a loaded zone is immutable and lives until the process exits, so lookups on it are
 * thread-safe and need no lock.  The engine never touches the TZ environment variable
 * or localtime(): every answer depends only on the zone's data and the instant asked
 * about, so windows are deterministic.  Past the last transition a file lists, the last
 * offset holds (the tzdata files Debian ships list transitions up to 2037). */
#ifndef SL_TZ_H
#define SL_TZ_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_tz sl_tz;

/* The zone called name ("Europe/Berlin", "UTC"), loaded when first asked for; NULL when
 * the name is not a zone (only letters, digits, '_', '-', '+' and '/' between
 * components are allowed: no "..") or its file is missing or damaged.  Borrowed: the
 * zone lives until the process exits. */
const sl_tz *sl_tz_get(const char *name);

/* True when sl_tz_get(name) would find a zone; fits sl_catalog.zone_exists (ctx is
 * ignored). */
bool sl_tz_exists(void *ctx, const char *name);

/* The zone's offset from UTC, in milliseconds, at the instant utc_ms. */
int64_t sl_tz_offset(const sl_tz *tz, int64_t utc_ms);

/* The local calendar day (days since 1970-01-01 in local time) holding utc_ms. */
int64_t sl_tz_day(const sl_tz *tz, int64_t utc_ms);

/* The first instant (UTC ms) of local day `day`: its local midnight, or, when midnight
 * does not exist that day (a transition skips it), the first instant after it. */
int64_t sl_tz_day_start(const sl_tz *tz, int64_t day);

#endif
