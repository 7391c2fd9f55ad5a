/* tz.c: a small, self-contained reader of TZif files (RFC 8536) and the local-day
 * arithmetic windows need.
 *
 * Only the version 2+ body (64-bit transition times) is used; a version 1 file falls
 * back to its 32-bit body.  Instants before the first transition take time type 0, as
 * the RFC says; instants after the last take the last transition's type (the footer's
 * POSIX rule is not evaluated).  Every length is checked against the file's size, so a
 * damaged file gives "no such zone", never a crash.
 *
 * Invariants: a zone in the cache is never modified or freed; trans[] is strictly
 * increasing (checked on load) and off[i] is the offset from trans[i] on. */
#include "tz.h"

#include "mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_DIR "/usr/share/zoneinfo"
/* Largest TZif file read, in bytes (real ones are a few kilobytes). */
#define TZ_MAX_FILE (1024 * 1024)
/* Longest zone name, in bytes. */
#define TZ_MAX_NAME 128
#define DAY_MS 86400000ll

struct sl_tz {
    sl_tz *next; /* in the cache */
    char *name;
    int64_t off0;   /* offset before the first transition, ms */
    size_t ntrans;  /* transitions */
    int64_t *trans; /* their instants, UTC ms, increasing */
    int64_t *off;   /* the offset from each on, ms */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_tz *cache;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* True when name is a plausible zone path: components of [A-Za-z0-9_+-] separated by
 * single '/', none starting with '.', not absolute. */
static bool valid_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > TZ_MAX_NAME || name[0] == '/' || name[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '+' || (c == '/' && name[i + 1] != '/');

        if (!ok)
            return false;
    }
    return true;
}

/* Parses one TZif body at p (n bytes left); 8-byte times when wide.  Returns the body's
 * size, or 0 when it does not fit. */
static size_t body_size(const unsigned char *p, size_t n, bool wide)
{
    size_t tsize = wide ? 8 : 4;
    uint64_t isut, isstd, leap, timecnt, typecnt, charcnt, total;

    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return 0;
    isut = be32(p + 20);
    isstd = be32(p + 24);
    leap = be32(p + 28);
    timecnt = be32(p + 32);
    typecnt = be32(p + 36);
    charcnt = be32(p + 40);
    total =
        44 + timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
    if (typecnt == 0 || total > n)
        return 0;
    return (size_t)total;
}

/* Fills tz from the body at p (already checked by body_size). Returns 0 or -1. */
static int load_body(sl_tz *tz, const unsigned char *p, bool wide)
{
    size_t tsize = wide ? 8 : 4;
    uint32_t timecnt = be32(p + 32), typecnt = be32(p + 36);
    const unsigned char *times = p + 44, *idx = times + (size_t)timecnt * tsize;
    const unsigned char *types = idx + timecnt;

    tz->off0 = (int64_t)(int32_t)be32(types) * 1000;
    tz->ntrans = timecnt;
    tz->trans = sl_xcalloc(timecnt ? timecnt : 1, sizeof(int64_t));
    tz->off = sl_xcalloc(timecnt ? timecnt : 1, sizeof(int64_t));
    for (uint32_t i = 0; i < timecnt; i++) {
        int64_t t = wide ? be64(times + 8 * (size_t)i) : (int32_t)be32(times + 4 * (size_t)i);

        if (idx[i] >= typecnt || t < INT64_MIN / 1000 || t > INT64_MAX / 1000)
            return -1;
        tz->trans[i] = t * 1000;
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
            return -1;
        tz->off[i] = (int64_t)(int32_t)be32(types + 6 * (size_t)idx[i]) * 1000;
    }
    return 0;
}

static void tz_free(sl_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->off);
    free(tz);
}

/* Reads and parses the zone's file; NULL when missing or damaged.  Caller owns it. */
static sl_tz *tz_load(const char *name)
{
    char path[sizeof(TZ_DIR) + TZ_MAX_NAME + 2];
    unsigned char *data = NULL;
    size_t n = 0, first;
    sl_tz *tz = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
    if (!(f = fopen(path, "rb")))
        return NULL;
    data = sl_xmalloc(TZ_MAX_FILE);
    n = fread(data, 1, TZ_MAX_FILE, f);
    fclose(f);
    if (!(first = body_size(data, n, false)))
        goto fail;
    tz = sl_xcalloc(1, sizeof(*tz));
    tz->name = sl_xstrdup(name);
    if (data[4] >= '2' && body_size(data + first, n - first, true)) {
        if (load_body(tz, data + first, true) < 0)
            goto fail;
    } else if (load_body(tz, data, false) < 0) {
        goto fail;
    }
    free(data);
    return tz;

fail:
    free(data);
    tz_free(tz);
    return NULL;
}

const sl_tz *sl_tz_get(const char *name)
{
    sl_tz *tz;

    if (!valid_name(name))
        return NULL;
    pthread_mutex_lock(&cache_lock);
    for (tz = cache; tz; tz = tz->next)
        if (strcmp(tz->name, name) == 0)
            break;
    if (!tz && (tz = tz_load(name)) != NULL) {
        tz->next = cache;
        cache = tz;
    }
    pthread_mutex_unlock(&cache_lock);
    return tz;
}

bool sl_tz_exists(void *ctx, const char *name)
{
    (void)ctx;
    return sl_tz_get(name) != NULL;
}

int64_t sl_tz_offset(const sl_tz *tz, int64_t utc_ms)
{
    size_t lo = 0, hi = tz->ntrans;

    /* The number of transitions at or before utc_ms. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (tz->trans[mid] <= utc_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? tz->off0 : tz->off[lo - 1];
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t sl_tz_day(const sl_tz *tz, int64_t utc_ms)
{
    int64_t local;

    if (__builtin_add_overflow(utc_ms, sl_tz_offset(tz, utc_ms), &local))
        local = utc_ms;
    return floor_div(local, DAY_MS);
}

int64_t sl_tz_day_start(const sl_tz *tz, int64_t day)
{
    /* Offsets stay within a day, so the start lies within a day of UTC midnight: when
     * the guesses fail (a transition at midnight), search there for the first instant
     * whose local day is `day` or later. */
    int64_t mid, lo, hi;

    if (day <= INT64_MIN / DAY_MS + 2)
        return INT64_MIN;
    if (day >= INT64_MAX / DAY_MS - 2)
        return INT64_MAX;
    /* Usually local midnight minus the offset in force then is it: try that first. */
    mid = day * DAY_MS - sl_tz_offset(tz, day * DAY_MS);
    for (int guess = 0; guess < 2; guess++) {
        if (sl_tz_day(tz, mid) >= day && sl_tz_day(tz, mid - 1) < day)
            return mid;
        mid = day * DAY_MS - sl_tz_offset(tz, mid);
    }
    lo = day * DAY_MS - DAY_MS;
    hi = day * DAY_MS + DAY_MS;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (sl_tz_day(tz, mid) >= day)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
