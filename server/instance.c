/* instance.c: one server's state below HTTP: streams, live queries and the store.
 *
 * Responsibilities: executing DDL against the store and the in-memory catalog, making
 * ingested rows durable and then pushing them through every live query reading the
 * stream, numbering each query's output (seq), keeping its recent output for
 * resumption and its latest row per key for snapshots, telling listeners, and running
 * batch queries over the stored log.
 *
 * Invariants: a stream's next_offset and watermark equal what the store holds; every
 * live query has seen exactly the events of its stream from its start offset up to the
 * stream's next_offset, in offset order (so its output, and its seq numbers, are a pure
 * function of the log: a restart that replays the log reproduces them). */
#include "instance.h"

#include "limits.h"
#include "mem.h"
#include "rowcodec.h"
#include "tz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How many stored batches one sl_batch_step processes. */
#define BATCH_STEP_BATCHES 16

typedef struct stream {
    sl_schema *schema;
    char *ddl;
    uint64_t next_offset;
    int64_t watermark;
    int64_t last_arrival_ms; /* wall clock of the last ingest, or of loading: IDLE_TIMEOUT */
} stream;

typedef struct hist_entry {
    uint64_t seq;
    sl_change change;
    sl_row *row;
} hist_entry;

typedef struct snap_entry {
    uint64_t seq;
    uint64_t hash;
    sl_row *row; /* NULL once the key was deleted */
} snap_entry;

typedef struct listener_slot {
    int handle;
    bool active;
    bool late; /* listens to the late rows, not to the changes */
    sl_live_listener l;
} listener_slot;

struct sl_live {
    sl_instance *in;
    char *id;
    char *sql;
    bool persistent;
    uint64_t start_offset;
    sl_plan *plan;
    sl_query *query;            /* NULL once the query failed (its state is freed) */
    sl_query_stats final_stats; /* the statistics when it failed */
    uint64_t state_limit;       /* its own limit in bytes, 0: the instance's */
    uint64_t seq;

    /* The last SL_MAX_OUTPUT_HISTORY changes, a ring: hist[(head + i) % cap]. */
    hist_entry *hist;
    size_t hist_cap, hist_head, hist_len;

    /* Latest row per key, in order of first emission; slots maps a key hash to an
     * index + 1 into snap (0 = empty), open addressing. */
    snap_entry *snap;
    size_t snap_len, snap_cap, snap_dead;
    size_t *slots;
    size_t nslots;

    /* The last SL_MAX_LATE_HISTORY late rows (source layout), a ring like hist; their
     * seq counts from 1 in each run of the server. */
    hist_entry *late;
    size_t late_cap, late_head, late_len;
    uint64_t late_seq;

    char *error; /* why the query stopped, NULL while it runs */

    listener_slot *listeners;
    size_t nlisteners, listeners_cap;
    int next_handle;
    int dispatching;
};

struct sl_instance {
    sl_store *store;
    sl_catalog catalog;
    int64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
    stream *streams;
    size_t nstreams, streams_cap;
    sl_live **queries;
    size_t nqueries, queries_cap;
    uint64_t query_state_limit; /* bytes, for queries without their own */
    uint64_t next_query_number;
};

struct sl_batch {
    sl_instance *in;
    sl_plan *plan;
    sl_query *query;
    sl_store_cursor *cursor;
    bool done;
    void (*fn)(void *ctx, const sl_row *row);
    void *ctx;
};

/* --- Streams ----------------------------------------------------------------------- */

static stream *find_stream(sl_instance *in, const char *name)
{
    for (size_t i = 0; i < in->nstreams; i++) {
        if (strcmp(in->streams[i].schema->name, name) == 0)
            return &in->streams[i];
    }
    return NULL;
}

static const sl_schema *catalog_lookup(void *ctx, const char *name)
{
    stream *s = find_stream(ctx, name);

    return s ? s->schema : NULL;
}

/* Adds a stream to the in-memory catalog; takes ownership of schema and ddl. */
static stream *add_stream(sl_instance *in, sl_schema *schema, char *ddl)
{
    if (in->nstreams == in->streams_cap) {
        in->streams_cap = in->streams_cap ? in->streams_cap * 2 : 8;
        in->streams = sl_xrealloc(in->streams, in->streams_cap * sizeof(stream));
    }
    stream *s = &in->streams[in->nstreams++];
    s->schema = schema;
    s->ddl = ddl;
    s->next_offset = 0;
    s->watermark = INT64_MIN;
    s->last_arrival_ms = in->clock_ms(in->clock_ctx);
    return s;
}

static void fill_info(const stream *s, sl_stream_info *out)
{
    out->schema = s->schema;
    out->events = s->next_offset;
    out->watermark = s->watermark;
    out->ddl = s->ddl;
}

int sl_instance_create_stream(sl_instance *in, const sl_stmt *stmt, bool *created, sl_error *err)
{
    char *ddl = NULL;

    if (created)
        *created = false;
    if (find_stream(in, stmt->schema->name)) {
        if (stmt->if_not_exists)
            return 0;
        return sl_error_set(err, SL_ERR_EXISTS, stmt->line, stmt->column,
                            "stream '%s' already exists", stmt->schema->name);
    }
    ddl = sl_xstrndup(stmt->text, stmt->text_len);
    if (sl_store_stream_put(in->store, stmt->schema->name, ddl, err) < 0)
        goto fail;
    add_stream(in, sl_schema_copy(stmt->schema), ddl);
    if (created)
        *created = true;
    return 0;
fail:
    free(ddl);
    return -1;
}

int sl_instance_drop_stream(sl_instance *in, const char *name, bool if_exists, bool *dropped,
                            sl_error *err)
{
    stream *s = find_stream(in, name);

    if (dropped)
        *dropped = false;
    if (!s) {
        if (if_exists)
            return 0;
        return sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'", name);
    }
    for (size_t i = 0; i < in->nqueries; i++) {
        if (strcmp(in->queries[i]->plan->source, name) == 0)
            return sl_error_set(err, SL_ERR_UNSUPPORTED, 0, 0,
                                "stream '%s' is read by query '%s': drop the query first", name,
                                in->queries[i]->id);
    }
    if (sl_store_stream_drop(in->store, name, err) < 0)
        return -1;
    sl_schema_free(s->schema);
    free(s->ddl);
    size_t idx = (size_t)(s - in->streams);
    memmove(s, s + 1, (in->nstreams - idx - 1) * sizeof(stream));
    in->nstreams--;
    if (dropped)
        *dropped = true;
    return 0;
}

size_t sl_instance_stream_count(sl_instance *in)
{
    return in->nstreams;
}

int sl_instance_stream_at(sl_instance *in, size_t i, sl_stream_info *out)
{
    if (i >= in->nstreams)
        return -1;
    fill_info(&in->streams[i], out);
    return 0;
}

int sl_instance_stream_get(sl_instance *in, const char *name, sl_stream_info *out)
{
    stream *s = find_stream(in, name);

    if (!s)
        return -1;
    fill_info(s, out);
    return 0;
}

const sl_catalog *sl_instance_catalog(sl_instance *in)
{
    return &in->catalog;
}

int64_t sl_instance_now_ms(sl_instance *in)
{
    return in->clock_ms(in->clock_ctx);
}

void sl_instance_tick(sl_instance *in)
{
    int64_t now = in->clock_ms(in->clock_ctx);

    for (size_t i = 0; i < in->nstreams; i++) {
        const stream *s = &in->streams[i];
        int64_t t = s->schema->idle_timeout_ms, target;

        if (t <= 0 || now - s->last_arrival_ms < t || __builtin_sub_overflow(now, t, &target))
            continue;
        for (size_t qi = 0; qi < in->nqueries; qi++) {
            sl_live *q = in->queries[qi];

            if (q->query && strcmp(q->plan->source, s->schema->name) == 0)
                sl_query_advance(q->query, target);
        }
    }
}

/* --- Live query output --------------------------------------------------------------- */

static uint64_t key_hash(const sl_plan *plan, const sl_row *row)
{
    uint64_t h = 0x5eed;

    for (int i = 0; i < plan->nkeys; i++)
        h = sl_value_hash(&row->v[plan->keys[i]], h);
    return h;
}

static bool same_key(const sl_plan *plan, const sl_row *a, const sl_row *b)
{
    for (int i = 0; i < plan->nkeys; i++) {
        if (!sl_value_eq(&a->v[plan->keys[i]], &b->v[plan->keys[i]]))
            return false;
    }
    return true;
}

/* Index + 1 of the live snapshot entry holding row's key, or 0; *slot_out gets the slot
 * where it is or would go.  Deleted entries stay in their slots as tombstones (row NULL)
 * so probe chains stay intact; they never match. */
static size_t snap_find(const sl_live *q, const sl_row *row, uint64_t h, size_t *slot_out)
{
    size_t mask = q->nslots - 1;
    size_t slot = (size_t)h & mask;

    while (q->slots[slot]) {
        const snap_entry *e = &q->snap[q->slots[slot] - 1];
        if (e->hash == h && e->row && same_key(q->plan, e->row, row))
            break;
        slot = (slot + 1) & mask;
    }
    *slot_out = slot;
    return q->slots[slot];
}

/* Rebuilds the slot table at a size that keeps it at most half full, dropping the
 * tombstones of deleted keys. */
static void snap_rehash(sl_live *q)
{
    size_t j = 0, n = 64;

    for (size_t i = 0; i < q->snap_len; i++) {
        if (q->snap[i].row)
            q->snap[j++] = q->snap[i];
    }
    q->snap_len = j;
    q->snap_dead = 0;
    while (n < q->snap_len * 4)
        n *= 2;
    free(q->slots);
    q->slots = sl_xcalloc(n, sizeof(size_t));
    q->nslots = n;
    for (size_t i = 0; i < q->snap_len; i++) {
        size_t slot = (size_t)q->snap[i].hash & (n - 1);
        while (q->slots[slot])
            slot = (slot + 1) & (n - 1);
        q->slots[slot] = i + 1;
    }
}

static void snap_update(sl_live *q, uint64_t seq, sl_change change, const sl_row *row)
{
    uint64_t h = key_hash(q->plan, row);
    size_t slot;

    if ((q->snap_len + 1) * 2 > q->nslots)
        snap_rehash(q);
    size_t idx = snap_find(q, row, h, &slot);
    if (idx) {
        snap_entry *e = &q->snap[idx - 1];
        sl_row_free(e->row);
        e->row = change == SL_CHANGE_DELETE ? NULL : sl_row_copy(row);
        e->seq = seq;
        if (!e->row && ++q->snap_dead * 2 > q->snap_len)
            snap_rehash(q);
        return;
    }
    if (change == SL_CHANGE_DELETE)
        return;
    if (q->snap_len == q->snap_cap) {
        q->snap_cap = q->snap_cap ? q->snap_cap * 2 : 64;
        q->snap = sl_xrealloc(q->snap, q->snap_cap * sizeof(snap_entry));
    }
    q->snap[q->snap_len] = (snap_entry){seq, h, sl_row_copy(row)};
    q->slots[slot] = ++q->snap_len;
}

static void hist_add(sl_live *q, uint64_t seq, sl_change change, const sl_row *row)
{
    if (!q->hist_cap) {
        q->hist_cap = 256;
        q->hist = sl_xcalloc(q->hist_cap, sizeof(hist_entry));
    }
    if (q->hist_len == q->hist_cap && q->hist_cap < SL_MAX_OUTPUT_HISTORY) {
        /* Unroll the ring into a larger array. */
        size_t cap =
            q->hist_cap * 2 > SL_MAX_OUTPUT_HISTORY ? SL_MAX_OUTPUT_HISTORY : q->hist_cap * 2;
        hist_entry *h = sl_xcalloc(cap, sizeof(hist_entry));
        for (size_t i = 0; i < q->hist_len; i++)
            h[i] = q->hist[(q->hist_head + i) % q->hist_cap];
        free(q->hist);
        q->hist = h;
        q->hist_cap = cap;
        q->hist_head = 0;
    }
    if (q->hist_len == q->hist_cap) {
        hist_entry *old = &q->hist[q->hist_head];
        sl_row_free(old->row);
        q->hist_head = (q->hist_head + 1) % q->hist_cap;
        q->hist_len--;
    }
    hist_entry *e = &q->hist[(q->hist_head + q->hist_len) % q->hist_cap];
    e->seq = seq;
    e->change = change;
    e->row = sl_row_copy(row);
    q->hist_len++;
}

static void listeners_compact(sl_live *q)
{
    size_t j = 0;

    for (size_t i = 0; i < q->nlisteners; i++) {
        if (q->listeners[i].active)
            q->listeners[j++] = q->listeners[i];
    }
    q->nlisteners = j;
}

/* The engine's sink: numbers the change, records it, tells the listeners. */
static void live_emit(void *ctx, sl_change change, const sl_row *row)
{
    sl_live *q = ctx;
    uint64_t seq = ++q->seq;

    hist_add(q, seq, change, row);
    if (q->plan->nkeys > 0)
        snap_update(q, seq, change, row);
    q->dispatching++;
    for (size_t i = 0; i < q->nlisteners; i++) {
        listener_slot *s = &q->listeners[i];
        if (s->active && !s->late && s->l.on_change)
            s->l.on_change(s->l.ctx, seq, change, row);
    }
    if (--q->dispatching == 0)
        listeners_compact(q);
}

/* Keeps a copy of a late row in the ring, dropping the oldest past the bound. */
static void late_add(sl_live *q, uint64_t seq, const sl_row *row)
{
    if (q->late_len == q->late_cap && q->late_cap < SL_MAX_LATE_HISTORY) {
        size_t cap = q->late_cap ? q->late_cap * 2 : 16;
        hist_entry *h;

        if (cap > SL_MAX_LATE_HISTORY)
            cap = SL_MAX_LATE_HISTORY;
        h = sl_xcalloc(cap, sizeof(hist_entry));
        for (size_t i = 0; i < q->late_len; i++)
            h[i] = q->late[(q->late_head + i) % q->late_cap];
        free(q->late);
        q->late = h;
        q->late_cap = cap;
        q->late_head = 0;
    }
    if (q->late_len == q->late_cap) {
        sl_row_free(q->late[q->late_head].row);
        q->late_head = (q->late_head + 1) % q->late_cap;
        q->late_len--;
    }
    hist_entry *e = &q->late[(q->late_head + q->late_len) % q->late_cap];
    e->seq = seq;
    e->change = SL_CHANGE_INSERT;
    e->row = sl_row_copy(row);
    q->late_len++;
}

/* The engine's late-row sink: numbers the row, keeps it, tells the late listeners. */
static void live_late(void *ctx, const sl_row *row)
{
    sl_live *q = ctx;
    uint64_t seq = ++q->late_seq;

    late_add(q, seq, row);
    q->dispatching++;
    for (size_t i = 0; i < q->nlisteners; i++) {
        listener_slot *s = &q->listeners[i];
        if (s->active && s->late && s->l.on_change)
            s->l.on_change(s->l.ctx, seq, SL_CHANGE_INSERT, row);
    }
    if (--q->dispatching == 0)
        listeners_compact(q);
}

/* Tells every listener that the query's output ended, and forgets them. */
static void close_listeners(sl_live *q, sl_errcode code, const char *reason)
{
    sl_error why;

    sl_error_set(&why, code, 0, 0, "%s", reason);
    q->dispatching++;
    for (size_t i = 0; i < q->nlisteners; i++) {
        listener_slot *s = &q->listeners[i];
        if (s->active && s->l.on_close)
            s->l.on_close(s->l.ctx, &why);
        s->active = false;
    }
    if (--q->dispatching == 0)
        listeners_compact(q);
}

static void live_free(sl_live *q, sl_errcode code, const char *reason)
{
    if (!q)
        return;
    close_listeners(q, code, reason);
    sl_query_free(q->query);
    sl_plan_free(q->plan);
    for (size_t i = 0; i < q->hist_len; i++)
        sl_row_free(q->hist[(q->hist_head + i) % q->hist_cap].row);
    free(q->hist);
    for (size_t i = 0; i < q->late_len; i++)
        sl_row_free(q->late[(q->late_head + i) % q->late_cap].row);
    free(q->late);
    for (size_t i = 0; i < q->snap_len; i++)
        sl_row_free(q->snap[i].row);
    free(q->snap);
    free(q->slots);
    free(q->listeners);
    free(q->error);
    free(q->id);
    free(q->sql);
    free(q);
}

static int listen_to(sl_live *q, const sl_live_listener *l, bool late)
{
    if (q->nlisteners == q->listeners_cap) {
        q->listeners_cap = q->listeners_cap ? q->listeners_cap * 2 : 4;
        q->listeners = sl_xrealloc(q->listeners, q->listeners_cap * sizeof(listener_slot));
    }
    listener_slot *s = &q->listeners[q->nlisteners++];
    s->handle = ++q->next_handle;
    s->active = true;
    s->late = late;
    s->l = *l;
    return s->handle;
}

int sl_live_listen(sl_live *q, const sl_live_listener *l)
{
    return listen_to(q, l, false);
}

int sl_live_listen_late(sl_live *q, const sl_live_listener *l)
{
    return listen_to(q, l, true);
}

int sl_live_replay_late(sl_live *q, uint64_t from_seq,
                        void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                        void *ctx, sl_error *err)
{
    uint64_t oldest = q->late_len ? q->late[q->late_head].seq : q->late_seq + 1;

    if (from_seq > q->late_seq)
        return 0;
    if (from_seq + 1 < oldest)
        return sl_error_set(err, SL_ERR_GONE, 0, 0,
                            "late rows after seq %" PRIu64
                            " are no longer kept (oldest kept: %" PRIu64 ")",
                            from_seq, oldest);
    for (size_t i = 0; i < q->late_len; i++) {
        const hist_entry *e = &q->late[(q->late_head + i) % q->late_cap];
        if (e->seq > from_seq)
            fn(ctx, e->seq, e->change, e->row);
    }
    return 0;
}

void sl_live_unlisten(sl_live *q, int handle)
{
    for (size_t i = 0; i < q->nlisteners; i++) {
        if (q->listeners[i].handle == handle)
            q->listeners[i].active = false;
    }
    if (!q->dispatching)
        listeners_compact(q);
}

int sl_live_replay(sl_live *q, uint64_t from_seq,
                   void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                   void *ctx, sl_error *err)
{
    uint64_t oldest = q->hist_len ? q->hist[q->hist_head].seq : q->seq + 1;

    if (from_seq > q->seq)
        return 0;
    if (from_seq + 1 < oldest)
        return sl_error_set(err, SL_ERR_GONE, 0, 0,
                            "changes after seq %" PRIu64
                            " are no longer kept (oldest kept: %" PRIu64 ")",
                            from_seq, oldest);
    for (size_t i = 0; i < q->hist_len; i++) {
        const hist_entry *e = &q->hist[(q->hist_head + i) % q->hist_cap];
        if (e->seq > from_seq)
            fn(ctx, e->seq, e->change, e->row);
    }
    return 0;
}

void sl_live_snapshot(sl_live *q,
                      void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                      void *ctx)
{
    for (size_t i = 0; i < q->snap_len; i++) {
        if (q->snap[i].row)
            fn(ctx, q->snap[i].seq, SL_CHANGE_UPSERT, q->snap[i].row);
    }
}

const char *sl_live_id(const sl_live *q)
{
    return q->id;
}

const char *sl_live_sql(const sl_live *q)
{
    return q->sql;
}

const sl_plan *sl_live_plan(const sl_live *q)
{
    return q->plan;
}

bool sl_live_persistent(const sl_live *q)
{
    return q->persistent;
}

const char *sl_live_error(const sl_live *q)
{
    return q->error;
}

uint64_t sl_live_state_limit(const sl_live *q)
{
    return q->state_limit ? q->state_limit : q->in->query_state_limit;
}

/* The query fails alone: it keeps why and its last statistics, frees its state, and
 * its listeners are told (QUERY_FAILED).  The stream and other queries go on. */
static void live_fail(sl_live *q, const char *why)
{
    if (q->error)
        return;
    q->error = sl_xstrdup(why);
    sl_query_stats_get(q->query, &q->final_stats);
    q->final_stats.state_bytes = 0;
    sl_query_free(q->query);
    q->query = NULL;
    close_listeners(q, SL_ERR_QUERY_FAILED, q->error);
}

void sl_live_stats_get(const sl_live *q, sl_live_stats *out)
{
    size_t n = 0;

    if (q->query)
        sl_query_stats_get(q->query, &out->engine);
    else
        out->engine = q->final_stats;
    out->seq = q->seq;
    for (size_t i = 0; i < q->nlisteners; i++)
        n += q->listeners[i].active;
    out->listeners = n;
}

/* --- Replaying the log --------------------------------------------------------------- */

/* Feeds the stored events of the query's stream from offset `from` up to the log's end
 * through query, skipping events before `from` in the first batch.  *query_failed says
 * whether a failure came from the query (past its state limit) rather than the store. */
static int replay_log(sl_instance *in, const char *stream_name, uint64_t from, sl_query *query,
                      bool *query_failed, sl_error *err)
{
    sl_store_cursor *cur = NULL;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    int rc;

    if (sl_store_scan(in->store, stream_name, from, &cur, err) < 0)
        return -1;
    while ((rc = sl_store_cursor_next(cur, &blob, &len, &count, &first, err)) == 1) {
        sl_rowcodec_reader rd;
        sl_row *row = NULL;
        uint64_t off = first;

        if (sl_rowcodec_open(&rd, blob, len, err) < 0)
            goto fail;
        while ((rc = sl_rowcodec_next(&rd, &row, err)) == 1) {
            int prc = 0;
            if (off++ >= from)
                prc = sl_query_push(query, row, err);
            sl_row_free(row);
            if (prc < 0) {
                *query_failed = true;
                goto fail;
            }
        }
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    sl_store_cursor_close(cur);
    return 0;
fail:
    sl_store_cursor_close(cur);
    return -1;
}

/* --- Queries ------------------------------------------------------------------------- */

static bool valid_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > SL_MAX_IDENT)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Compiles a one-SELECT text into a plan (caller frees). */
static int compile_select(sl_instance *in, const char *sql, size_t len, sl_plan **out,
                          sl_error *err)
{
    sl_stmt_list *list = NULL;
    int rc = -1;

    if (sl_parse(sql, len, &list, err) < 0)
        return -1;
    if (list->n != 1 || list->stmts[0].kind != SL_STMT_SELECT) {
        sl_error_set(err, SL_ERR_BAD_REQUEST, list->stmts[0].line, list->stmts[0].column,
                     "expected exactly one SELECT statement");
        goto done;
    }
    rc = sl_plan_build(list->stmts[0].select, &in->catalog, out, err);
done:
    sl_stmt_list_free(list);
    return rc;
}

static void add_query(sl_instance *in, sl_live *q)
{
    if (in->nqueries == in->queries_cap) {
        in->queries_cap = in->queries_cap ? in->queries_cap * 2 : 8;
        in->queries = sl_xrealloc(in->queries, in->queries_cap * sizeof(sl_live *));
    }
    in->queries[in->nqueries++] = q;
}

/* Makes a live query from a compiled plan (takes ownership) starting at start_offset,
 * replays the log into it and adds it to the instance.  When the query itself fails
 * during the replay (past its state limit), keep_failed adds it anyway, failed (a
 * restart), else the call fails (a new query). */
static int start_live(sl_instance *in, const char *id, const char *sql, size_t len, sl_plan *plan,
                      bool persistent, uint64_t start_offset, uint64_t state_limit,
                      bool keep_failed, sl_live **out, sl_error *err)
{
    bool query_failed = false;
    sl_live *q = sl_xcalloc(1, sizeof(sl_live));
    sl_sink sink = {.ctx = q,
                    .emit = live_emit,
                    .late = live_late,
                    .clock_ms = in->clock_ms,
                    .clock_ctx = in->clock_ctx};

    q->in = in;
    q->id = sl_xstrdup(id);
    q->sql = sl_xstrndup(sql, len);
    q->persistent = persistent;
    q->start_offset = start_offset;
    q->plan = plan;
    q->query = sl_query_new(plan, &sink);
    q->state_limit = state_limit;
    sl_query_set_state_limit(q->query, (size_t)sl_live_state_limit(q));
    if (replay_log(in, plan->source, start_offset, q->query, &query_failed, err) < 0) {
        if (!query_failed || !keep_failed)
            goto fail;
        live_fail(q, err->message);
    }
    add_query(in, q);
    if (out)
        *out = q;
    return 0;
fail:
    live_free(q, SL_ERR_QUERY_FAILED, "query failed while replaying the log");
    return -1;
}

int sl_instance_query_create(sl_instance *in, const char *id, const char *sql, size_t len,
                             bool persistent, bool from_earliest, sl_live **out, sl_error *err)
{
    return sl_instance_query_create_limited(in, id, sql, len, persistent, from_earliest, 0, out,
                                            err);
}

int sl_instance_query_create_limited(sl_instance *in, const char *id, const char *sql, size_t len,
                                     bool persistent, bool from_earliest, uint64_t state_limit,
                                     sl_live **out, sl_error *err)
{
    sl_plan *plan = NULL;
    char idbuf[32];

    if (id && !valid_id(id))
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                            "query name must be 1 to %d letters, digits, '_', '-' or '.'",
                            SL_MAX_IDENT);
    if (id && sl_instance_query_find(in, id))
        return sl_error_set(err, SL_ERR_EXISTS, 0, 0, "query '%s' already exists", id);
    if (compile_select(in, sql, len, &plan, err) < 0)
        return -1;
    if (plan->emit == SL_EMIT_BATCH) {
        sl_error_set(err, SL_ERR_UNSUPPORTED, 0, 0,
                     "a continuous query needs EMIT CHANGES or EMIT FINAL; without EMIT, "
                     "run it as a batch query with POST /v1/query");
        goto fail;
    }
    if (!id) {
        do {
            snprintf(idbuf, sizeof(idbuf), "Q%" PRIu64, ++in->next_query_number);
        } while (sl_instance_query_find(in, idbuf));
        id = idbuf;
    }
    stream *s = find_stream(in, plan->source);
    uint64_t start = from_earliest ? 0 : s->next_offset;
    if (persistent && sl_store_query_put(in->store, id, sql, start, state_limit, err) < 0)
        goto fail;
    if (start_live(in, id, sql, len, plan, persistent, start, state_limit, false, out, err) < 0) {
        if (persistent) {
            sl_error dummy;
            sl_store_query_drop(in->store, id, &dummy);
        }
        return -1;
    }
    return 0;
fail:
    sl_plan_free(plan);
    return -1;
}

sl_live *sl_instance_query_find(sl_instance *in, const char *id)
{
    for (size_t i = 0; i < in->nqueries; i++) {
        if (strcasecmp(in->queries[i]->id, id) == 0)
            return in->queries[i];
    }
    return NULL;
}

int sl_instance_query_drop(sl_instance *in, const char *id, sl_error *err)
{
    for (size_t i = 0; i < in->nqueries; i++) {
        sl_live *q = in->queries[i];
        if (strcasecmp(q->id, id) != 0)
            continue;
        if (q->persistent && sl_store_query_drop(in->store, id, err) < 0)
            return -1;
        memmove(&in->queries[i], &in->queries[i + 1], (in->nqueries - i - 1) * sizeof(sl_live *));
        in->nqueries--;
        live_free(q, SL_ERR_QUERY_DROPPED, "query dropped");
        return 0;
    }
    return sl_error_set(err, SL_ERR_UNKNOWN_QUERY, 0, 0, "unknown query '%s'", id);
}

size_t sl_instance_query_count(sl_instance *in)
{
    return in->nqueries;
}

sl_live *sl_instance_query_at(sl_instance *in, size_t i)
{
    return i < in->nqueries ? in->queries[i] : NULL;
}

/* --- Ingest -------------------------------------------------------------------------- */

/* Checks that a row fits the schema (the HTTP layer decodes by schema, so a mismatch is
 * a bug above, reported rather than stored). */
static int check_row(const sl_schema *schema, const sl_row *row, size_t index, sl_error *err)
{
    if ((int)row->ncols != schema->ncols)
        return sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "event %zu has %u columns, not %d", index,
                            row->ncols, schema->ncols);
    for (int c = 0; c < schema->ncols; c++) {
        sl_type t = row->v[c].type;
        if (t != SL_T_NULL && t != schema->cols[c].type)
            return sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "event %zu column %s is %s, not %s",
                                index, schema->cols[c].name, sl_type_name(t),
                                sl_type_name(schema->cols[c].type));
    }
    return 0;
}

int sl_instance_ingest(sl_instance *in, const char *stream_name, sl_row *const *rows, size_t n,
                       sl_error *err)
{
    return sl_instance_ingest_keyed(in, stream_name, rows, n, NULL, NULL, err);
}

/* Looks up an earlier request with the same Idempotency-Key on the stream, made within
 * SL_IDEMPOTENCY_TTL_MS.  Returns 1 with *replay set (caller frees) when it had the same
 * body, 0 when there was none, -1 with err set (IDEMPOTENCY_MISMATCH for another body). */
static int idem_lookup(sl_instance *in, const stream *s, const sl_ingest_key *key, char **replay,
                       sl_error *err)
{
    unsigned char hash[SL_STORE_HASH_LEN];
    int64_t now = in->clock_ms(in->clock_ctx);
    int rc = sl_store_idem_get(in->store, s->schema->name, key->key, now - SL_IDEMPOTENCY_TTL_MS,
                               hash, replay, err);

    if (rc == 1 && memcmp(hash, key->body_hash, SL_STORE_HASH_LEN) != 0) {
        free(*replay);
        *replay = NULL;
        return sl_error_set(err, SL_ERR_IDEMPOTENCY_MISMATCH, 0, 0,
                            "Idempotency-Key '%s' was already used on stream '%s' with a "
                            "different request body",
                            key->key, s->schema->name);
    }
    return rc;
}

int sl_instance_ingest_keyed(sl_instance *in, const char *stream_name, sl_row *const *rows,
                             size_t n, const sl_ingest_key *key, char **replay, sl_error *err)
{
    stream *s = find_stream(in, stream_name);
    sl_buf blob = SL_BUF_INIT;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    uint64_t first;
    sl_store_idem idem;

    if (replay)
        *replay = NULL;
    if (!s)
        return sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'", stream_name);
    if (key) {
        int rc = idem_lookup(in, s, key, replay, err);
        if (rc != 0)
            return rc;
        idem.key = key->key;
        memcpy(idem.body_hash, key->body_hash, SL_STORE_HASH_LEN);
        idem.answer = key->answer;
        idem.created_ms = in->clock_ms(in->clock_ctx);
    }
    if (n == 0)
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0, "no events");
    if (n > UINT32_MAX)
        return sl_error_set(err, SL_ERR_TOO_LARGE, 0, 0, "too many events in one request");
    sl_rowcodec_begin(&blob);
    for (size_t i = 0; i < n; i++) {
        if (check_row(s->schema, rows[i], i, err) < 0)
            goto fail;
        sl_rowcodec_put(&blob, rows[i]);
        lo = rows[i]->rowtime < lo ? rows[i]->rowtime : lo;
        hi = rows[i]->rowtime > hi ? rows[i]->rowtime : hi;
    }
    if (sl_store_append(in->store, s->schema->name, blob.data, blob.len, (uint32_t)n, lo, hi,
                        key ? &idem : NULL, &first, err) < 0)
        goto fail;
    sl_buf_free(&blob);
    s->next_offset = first + n;
    s->last_arrival_ms = in->clock_ms(in->clock_ctx);
    if (hi > s->watermark)
        s->watermark = hi;
    /* Durable: now every live query on the stream sees the rows, in order. */
    for (size_t qi = 0; qi < in->nqueries; qi++) {
        sl_live *q = in->queries[qi];
        if (strcmp(q->plan->source, s->schema->name) != 0)
            continue;
        for (size_t i = 0; i < n && !q->error; i++) {
            sl_error qerr;
            if (sl_query_push(q->query, rows[i], &qerr) < 0)
                live_fail(q, qerr.message);
        }
    }
    return 0;
fail:
    sl_buf_free(&blob);
    return -1;
}

/* --- Upkeep ------------------------------------------------------------------------- */

int sl_instance_maintain(sl_instance *in, unsigned max_deletes, sl_error *err)
{
    unsigned left = max_deletes, n;
    uint64_t events;

    for (size_t i = 0; i < in->nstreams && left > 0; i++) {
        const stream *s = &in->streams[i];
        int64_t keep = s->schema->retention_ms;

        /* No events yet, or none can be old enough: nothing to delete. */
        if (keep <= 0 || s->watermark == INT64_MIN || s->watermark < INT64_MIN + keep)
            continue;
        if (sl_store_retention_delete(in->store, s->schema->name, s->watermark - keep, left, &n,
                                      &events, err) < 0)
            return -1;
        left -= n;
    }
    if (left > 0) {
        int64_t now = in->clock_ms(in->clock_ctx);
        if (sl_store_idem_expire(in->store, now - SL_IDEMPOTENCY_TTL_MS, left, &n, err) < 0)
            return -1;
        left -= n;
    }
    return (int)(max_deletes - left);
}

/* --- Batch queries ------------------------------------------------------------------- */

static void batch_emit(void *ctx, sl_change change, const sl_row *row)
{
    sl_batch *b = ctx;

    (void)change;
    if (b->fn)
        b->fn(b->ctx, row);
}

int sl_instance_batch_open(sl_instance *in, sl_plan *plan, sl_batch **out, sl_error *err)
{
    sl_batch *b = NULL;
    sl_sink sink;

    if (plan->emit != SL_EMIT_BATCH) {
        sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                     "a batch query has no EMIT clause; register continuous queries with "
                     "POST /v1/queries");
        goto fail;
    }
    if (!find_stream(in, plan->source)) {
        sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'", plan->source);
        goto fail;
    }
    b = sl_xcalloc(1, sizeof(sl_batch));
    b->in = in;
    b->plan = plan;
    sink = (sl_sink){.ctx = b,
                     .emit = batch_emit,
                     .late = NULL,
                     .clock_ms = in->clock_ms,
                     .clock_ctx = in->clock_ctx};
    b->query = sl_query_new(plan, &sink);
    if (sl_store_scan_range(in->store, plan->source, 0, plan->rowtime_lo, plan->rowtime_hi,
                            &b->cursor, err) < 0) {
        sl_batch_free(b);
        return -1;
    }
    *out = b;
    return 0;
fail:
    sl_plan_free(plan);
    return -1;
}

int sl_batch_step(sl_batch *b, void (*fn)(void *ctx, const sl_row *row), void *ctx, sl_error *err)
{
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    int rc = 1;

    if (b->done)
        return 0;
    b->fn = fn;
    b->ctx = ctx;
    for (int i = 0; i < BATCH_STEP_BATCHES; i++) {
        rc = sl_store_cursor_next(b->cursor, &blob, &len, &count, &first, err);
        if (rc <= 0)
            break;
        sl_rowcodec_reader rd;
        sl_row *row = NULL;
        if (sl_rowcodec_open(&rd, blob, len, err) < 0) {
            rc = -1;
            break;
        }
        while ((rc = sl_rowcodec_next(&rd, &row, err)) == 1) {
            int prc = sl_query_push(b->query, row, err);
            sl_row_free(row);
            if (prc < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0)
            break;
        rc = 1;
    }
    if (rc == 0) {
        sl_query_finish(b->query);
        b->done = true;
    }
    b->fn = NULL;
    b->ctx = NULL;
    return rc < 0 ? -1 : rc;
}

const sl_plan *sl_batch_plan(const sl_batch *b)
{
    return b->plan;
}

void sl_batch_free(sl_batch *b)
{
    if (!b)
        return;
    sl_store_cursor_close(b->cursor);
    sl_query_free(b->query);
    sl_plan_free(b->plan);
    free(b);
}

/* --- Opening and closing ------------------------------------------------------------- */

typedef struct load_ctx {
    sl_instance *in;
    sl_error *err;
} load_ctx;

static int load_stream(void *ctx, const char *name, const char *ddl)
{
    load_ctx *lc = ctx;
    sl_stmt_list *list = NULL;
    stream *s;

    if (sl_parse(ddl, strlen(ddl), &list, lc->err) < 0 || list->n != 1 ||
        list->stmts[0].kind != SL_STMT_CREATE_STREAM) {
        char msg[SL_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", lc->err->message);
        sl_error_set(lc->err, SL_ERR_STORAGE_ERROR, 0, 0,
                     "stored definition of stream '%s' does not parse: %s", name, msg);
        sl_stmt_list_free(list);
        return -1;
    }
    s = add_stream(lc->in, sl_schema_copy(list->stmts[0].schema), sl_xstrdup(ddl));
    sl_stmt_list_free(list);
    return sl_store_stream_stats(lc->in->store, s->schema->name, &s->next_offset, &s->watermark,
                                 lc->err);
}

static int load_query(void *ctx, const char *id, const char *sql, uint64_t start_offset,
                      uint64_t state_limit)
{
    load_ctx *lc = ctx;
    sl_plan *plan = NULL;

    if (compile_select(lc->in, sql, strlen(sql), &plan, lc->err) < 0) {
        char msg[SL_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", lc->err->message);
        return sl_error_set(lc->err, SL_ERR_STORAGE_ERROR, 0, 0,
                            "stored query '%s' does not compile: %s", id, msg);
    }
    return start_live(lc->in, id, sql, strlen(sql), plan, true, start_offset, state_limit, true,
                      NULL, lc->err);
}

int sl_instance_open(const sl_instance_opts *opts, sl_instance **out, sl_error *err)
{
    sl_instance *in = sl_xcalloc(1, sizeof(sl_instance));
    load_ctx lc = {in, err};

    in->catalog.ctx = in;
    in->catalog.lookup = catalog_lookup;
    in->catalog.zone_exists = sl_tz_exists;
    in->clock_ms = opts->clock_ms;
    in->clock_ctx = opts->clock_ctx;
    in->query_state_limit =
        opts->query_state_limit ? opts->query_state_limit : SL_DEFAULT_QUERY_STATE_LIMIT;
    if (sl_store_open(opts->data_dir, opts->fsync, &in->store, err) < 0)
        goto fail;
    if (sl_store_stream_list(in->store, load_stream, &lc, err) != 0)
        goto fail;
    if (sl_store_query_list(in->store, load_query, &lc, err) != 0)
        goto fail;
    *out = in;
    return 0;
fail:
    sl_instance_close(in);
    return -1;
}

void sl_instance_close(sl_instance *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nqueries; i++)
        live_free(in->queries[i], SL_ERR_SHUTTING_DOWN, "the server is shutting down");
    free(in->queries);
    for (size_t i = 0; i < in->nstreams; i++) {
        sl_schema_free(in->streams[i].schema);
        free(in->streams[i].ddl);
    }
    free(in->streams);
    sl_store_close(in->store);
    free(in);
}
