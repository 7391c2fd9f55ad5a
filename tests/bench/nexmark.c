/* nexmark.c: the Nexmark event generator (see nexmark.h for the model).
 *
 * Invariant: event n's kind, ids and time depend only on n; its random fields only on
 * the seed and the events before it, so two generators with one seed agree forever. */
#include "nexmark.h"

#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Beam's proportions and ratios. */
enum {
    PERSON_PROPORTION = 1,
    AUCTION_PROPORTION = 3,
    TOTAL_PROPORTION = 50,
    HOT_AUCTION_RATIO = 100,
    HOT_BIDDER_RATIO = 100,
    HOT_AUCTIONS_ONE_IN = 2, /* a bid is hot unless rand(2) == 0 */
    HOT_BIDDERS_ONE_IN = 4,
    HOT_CHANNELS_ONE_IN = 2,
    IN_FLIGHT_AUCTIONS = 100,
    AUCTION_ID_LEAD = 10,
    ACTIVE_PEOPLE = 1000,
    PERSON_ID_LEAD = 10,
    NUM_CATEGORIES = 5
};

static const char *const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};
static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const cities[] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                     "Portland", "Bend",        "Redmond",       "Seattle",
                                     "Kent",     "Cheyenne"};
static const char *const states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const items[] = {"bicycle", "lamp", "chair", "camera", "guitar", "kettle"};

struct sl_nexmark {
    uint64_t rng;
    int64_t n; /* number of the next event */
    int64_t base_ms;
    char *channel[SL_NEXMARK_CHANNELS];
    char *url[SL_NEXMARK_CHANNELS];
    char *hot_url[sizeof(hot_channels) / sizeof(hot_channels[0])];
    char email[64];
    char card[32];
    sl_nexmark_event ev;
};

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t rnd(sl_nexmark *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n > 0 (the modulo bias is far below what a benchmark sees). */
static int64_t rnd_below(sl_nexmark *g, int64_t n)
{
    return (int64_t)(rnd(g) % (uint64_t)n);
}

static double rnd_unit(sl_nexmark *g)
{
    return (double)(rnd(g) >> 11) / (double)(1ull << 53);
}

/* prefix followed by i in decimal; caller frees. */
static char *dup_num(const char *prefix, int i)
{
    char tmp[128];
    int n = snprintf(tmp, sizeof(tmp), "%s%d", prefix, i);
    char *s = sl_xmalloc((size_t)n + 1);

    memcpy(s, tmp, (size_t)n + 1);
    return s;
}

sl_nexmark *sl_nexmark_new(uint64_t seed, int64_t base_ms)
{
    sl_nexmark *g = sl_xcalloc(1, sizeof(*g));

    g->rng = seed;
    g->base_ms = base_ms;
    for (int i = 0; i < SL_NEXMARK_CHANNELS; i++) {
        g->channel[i] = dup_num("channel-", i);
        g->url[i] = dup_num("https://www.nexmark.com/item.htm?query=1&channel_id=", i);
    }
    for (size_t i = 0; i < sizeof(hot_channels) / sizeof(hot_channels[0]); i++)
        g->hot_url[i] = dup_num("https://www.nexmark.com/hot/item.htm?query=1&hot=", (int)i);
    return g;
}

void sl_nexmark_free(sl_nexmark *g)
{
    if (!g)
        return;
    for (int i = 0; i < SL_NEXMARK_CHANNELS; i++) {
        free(g->channel[i]);
        free(g->url[i]);
    }
    for (size_t i = 0; i < sizeof(hot_channels) / sizeof(hot_channels[0]); i++)
        free(g->hot_url[i]);
    free(g);
}

/* The last person id (0-based) issued at or before event n. */
static int64_t last_person(int64_t n)
{
    int64_t epoch = n / TOTAL_PROPORTION, off = n % TOTAL_PROPORTION;

    if (off >= PERSON_PROPORTION)
        off = PERSON_PROPORTION - 1;
    return epoch * PERSON_PROPORTION + off;
}

/* The last auction id (0-based) issued at or before event n. */
static int64_t last_auction(int64_t n)
{
    int64_t epoch = n / TOTAL_PROPORTION, off = n % TOTAL_PROPORTION;

    if (off < PERSON_PROPORTION) {
        epoch--;
        off = AUCTION_PROPORTION - 1;
    } else if (off >= PERSON_PROPORTION + AUCTION_PROPORTION) {
        off = AUCTION_PROPORTION - 1;
    } else {
        off -= PERSON_PROPORTION;
    }
    return epoch * AUCTION_PROPORTION + off;
}

/* A random auction likely still open (0-based). */
static int64_t next_auction(sl_nexmark *g)
{
    int64_t max = last_auction(g->n);
    int64_t min = max - IN_FLIGHT_AUCTIONS > 0 ? max - IN_FLIGHT_AUCTIONS : 0;

    return min + rnd_below(g, max - min + 1 + AUCTION_ID_LEAD);
}

/* A random recently active person (0-based). */
static int64_t next_person(sl_nexmark *g)
{
    int64_t people = last_person(g->n) + 1;
    int64_t active = people < ACTIVE_PEOPLE ? people : ACTIVE_PEOPLE;

    return people - active + rnd_below(g, active + PERSON_ID_LEAD);
}

/* Log-uniform from 100 to 100,000,000 cents. */
static int64_t next_price(sl_nexmark *g)
{
    return (int64_t)llround(pow(10.0, rnd_unit(g) * 6.0) * 100.0);
}

#define PICK(g, arr) (arr[rnd_below(g, (int64_t)(sizeof(arr) / sizeof(arr[0])))])

const sl_nexmark_event *sl_nexmark_next(sl_nexmark *g)
{
    sl_nexmark_event *e = &g->ev;
    int64_t off = g->n % TOTAL_PROPORTION;

    memset(e, 0, sizeof(*e));
    e->time_ms = g->base_ms + g->n * 1000 / SL_NEXMARK_EVENT_RATE;
    if (off < PERSON_PROPORTION) {
        int64_t id = last_person(g->n) + SL_NEXMARK_FIRST_ID;

        e->kind = SL_NEXMARK_PERSON;
        e->u.person.id = id;
        e->u.person.name = PICK(g, first_names);
        snprintf(g->email, sizeof(g->email), "%s%lld@example.com", e->u.person.name, (long long)id);
        snprintf(g->card, sizeof(g->card), "%04d %04d %04d %04d", (int)rnd_below(g, 10000),
                 (int)rnd_below(g, 10000), (int)rnd_below(g, 10000), (int)rnd_below(g, 10000));
        e->u.person.email = g->email;
        e->u.person.credit_card = g->card;
        e->u.person.city = PICK(g, cities);
        e->u.person.state = PICK(g, states);
    } else if (off < PERSON_PROPORTION + AUCTION_PROPORTION) {
        e->kind = SL_NEXMARK_AUCTION;
        e->u.auction.id = last_auction(g->n) + SL_NEXMARK_FIRST_ID;
        e->u.auction.item_name = PICK(g, items);
        e->u.auction.description = "a fine item";
        e->u.auction.initial_bid = next_price(g);
        e->u.auction.reserve = e->u.auction.initial_bid + next_price(g);
        e->u.auction.expires = e->time_ms + 10000 + rnd_below(g, 20000);
        e->u.auction.seller = next_person(g) + SL_NEXMARK_FIRST_ID;
        e->u.auction.category = SL_NEXMARK_FIRST_ID + rnd_below(g, NUM_CATEGORIES);
    } else {
        e->kind = SL_NEXMARK_BID;
        if (rnd_below(g, HOT_AUCTIONS_ONE_IN) > 0)
            e->u.bid.auction = last_auction(g->n) / HOT_AUCTION_RATIO * HOT_AUCTION_RATIO;
        else
            e->u.bid.auction = next_auction(g);
        e->u.bid.auction += SL_NEXMARK_FIRST_ID;
        if (rnd_below(g, HOT_BIDDERS_ONE_IN) > 0)
            e->u.bid.bidder = last_person(g->n) / HOT_BIDDER_RATIO * HOT_BIDDER_RATIO + 1;
        else
            e->u.bid.bidder = next_person(g);
        e->u.bid.bidder += SL_NEXMARK_FIRST_ID;
        e->u.bid.price = next_price(g);
        if (rnd_below(g, HOT_CHANNELS_ONE_IN) > 0) {
            int64_t i = rnd_below(g, (int64_t)(sizeof(hot_channels) / sizeof(hot_channels[0])));
            e->u.bid.channel = hot_channels[i];
            e->u.bid.url = g->hot_url[i];
        } else {
            int64_t i = rnd_below(g, SL_NEXMARK_CHANNELS);
            e->u.bid.channel = g->channel[i];
            e->u.bid.url = g->url[i];
        }
    }
    g->n++;
    return e;
}

const sl_nexmark_event *sl_nexmark_next_bid(sl_nexmark *g)
{
    const sl_nexmark_event *e;

    do
        e = sl_nexmark_next(g);
    while (e->kind != SL_NEXMARK_BID);
    return e;
}

void sl_nexmark_ndjson(const sl_nexmark_event *e, sl_buf *out)
{
    switch (e->kind) {
    case SL_NEXMARK_PERSON:
        sl_buf_printf(out,
                      "{\"id\":%lld,\"name\":\"%s\",\"emailaddress\":\"%s\",\"creditcard\":"
                      "\"%s\",\"city\":\"%s\",\"state\":\"%s\",\"datetime\":%lld,\"extra\":\"\"}\n",
                      (long long)e->u.person.id, e->u.person.name, e->u.person.email,
                      e->u.person.credit_card, e->u.person.city, e->u.person.state,
                      (long long)e->time_ms);
        break;
    case SL_NEXMARK_AUCTION:
        sl_buf_printf(out,
                      "{\"id\":%lld,\"itemname\":\"%s\",\"description\":\"%s\",\"initialbid\":"
                      "%lld,\"reserve\":%lld,\"datetime\":%lld,\"expires\":%lld,\"seller\":%lld,"
                      "\"category\":%lld,\"extra\":\"\"}\n",
                      (long long)e->u.auction.id, e->u.auction.item_name, e->u.auction.description,
                      (long long)e->u.auction.initial_bid, (long long)e->u.auction.reserve,
                      (long long)e->time_ms, (long long)e->u.auction.expires,
                      (long long)e->u.auction.seller, (long long)e->u.auction.category);
        break;
    case SL_NEXMARK_BID:
        sl_buf_printf(out,
                      "{\"auction\":%lld,\"bidder\":%lld,\"price\":%lld,\"channel\":\"%s\","
                      "\"url\":\"%s\",\"datetime\":%lld,\"extra\":\"\"}\n",
                      (long long)e->u.bid.auction, (long long)e->u.bid.bidder,
                      (long long)e->u.bid.price, e->u.bid.channel, e->u.bid.url,
                      (long long)e->time_ms);
        break;
    }
}

void sl_nexmark_bid_row(const sl_nexmark_event *e, sl_row *row)
{
    row->rowtime = e->time_ms;
    row->v[0] = sl_int(SL_T_BIGINT, e->u.bid.auction);
    row->v[1] = sl_int(SL_T_BIGINT, e->u.bid.bidder);
    row->v[2] = sl_int(SL_T_BIGINT, e->u.bid.price);
    row->v[3] = sl_str(e->u.bid.channel, (uint32_t)strlen(e->u.bid.channel));
    row->v[4] = sl_str(e->u.bid.url, (uint32_t)strlen(e->u.bid.url));
    row->v[5] = sl_int(SL_T_BIGINT, e->time_ms);
    row->v[6] = sl_str("", 0);
}
