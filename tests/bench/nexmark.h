/* nexmark.h: a deterministic Nexmark event generator for the benchmarks.
 *
 * Nexmark (the streaming benchmark of Tucker et al., as implemented by Apache Beam and
 * Flink) models an auction site: Person, Auction and Bid events in a 1:3:46 mix.  This
 * generator follows Beam's NexmarkGenerator: event n is a person when n % 50 < 1, an
 * auction when n % 50 < 4, else a bid; ids start at 1000; half the bids go to a hot
 * auction (every 100th) and three quarters come from a hot bidder (every 100th person);
 * the other bids pick among the 100 auctions most recently opened (plus a lead of 10) and
 * the 1000 most recent people; prices are log-uniform from 1.00 to 1,000,000.00 (in
 * cents); event time is in order, base_ms + n * 1000 / rate.  The same seed gives the
 * same events on every machine (a splitmix64 generator, no libc rand).
 *
 * Strings are shared: channel and URL point into tables the generator owns, and name,
 * email, city and item fields into small static tables.  An event is only valid until
 * the next call and the generator's lifetime. */
#ifndef SL_NEXMARK_H
#define SL_NEXMARK_H

#include "buf.h"
#include "row.h"

#include <stdint.h>

/* The Beam defaults the benchmarks use. */
#define SL_NEXMARK_FIRST_ID 1000
#define SL_NEXMARK_CHANNELS 10000
#define SL_NEXMARK_EVENT_RATE 10000 /* events per second of event time */

/* The Bid stream (name, columns, properties) and its DDL: the layout
 * sl_nexmark_bid_row fills. */
#define SL_NEXMARK_BID_STREAM                                                                      \
    "bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "             \
    "datetime BIGINT, extra VARCHAR) WITH (TIMESTAMP='datetime')"
#define SL_NEXMARK_BID_DDL "CREATE STREAM " SL_NEXMARK_BID_STREAM ";"
#define SL_NEXMARK_BID_NCOLS 7

typedef enum sl_nexmark_kind {
    SL_NEXMARK_PERSON,
    SL_NEXMARK_AUCTION,
    SL_NEXMARK_BID
} sl_nexmark_kind;

typedef struct sl_nexmark_event {
    sl_nexmark_kind kind;
    int64_t time_ms; /* event time (DATETIME), epoch ms */
    union {
        struct {
            int64_t id;
            const char *name, *email, *credit_card, *city, *state;
        } person;
        struct {
            int64_t id, initial_bid, reserve, expires, seller, category;
            const char *item_name, *description;
        } auction;
        struct {
            int64_t auction, bidder, price;
            const char *channel, *url;
        } bid;
    } u;
} sl_nexmark_event;

typedef struct sl_nexmark sl_nexmark;

/* A generator whose first event is number 0 at base_ms; caller frees. */
sl_nexmark *sl_nexmark_new(uint64_t seed, int64_t base_ms);
/* Accepts NULL. */
void sl_nexmark_free(sl_nexmark *g);

/* The next event (borrowed: valid until the next call). */
const sl_nexmark_event *sl_nexmark_next(sl_nexmark *g);
/* The next Bid, skipping persons and auctions (which still advance the generator). */
const sl_nexmark_event *sl_nexmark_next_bid(sl_nexmark *g);

/* Appends e as one NDJSON line (keys lower case, as a Nexmark producer writes them). */
void sl_nexmark_ndjson(const sl_nexmark_event *e, sl_buf *out);
/* Fills row (SL_NEXMARK_BID_NCOLS values) from a Bid; its strings stay borrowed from
 * the generator, which must outlive the row. */
void sl_nexmark_bid_row(const sl_nexmark_event *e, sl_row *row);

#endif
