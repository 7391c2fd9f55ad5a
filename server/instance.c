/* instance.c: one server's state below HTTP: streams, live queries and the store.
 *
 * Responsibilities: executing DDL against the store and the in-memory catalog, making
 * ingested rows durable and then pushing them through every live query reading the
 * stream, numbering each query's output (seq), keeping its recent output for
 * resumption and its latest row per key for snapshots, telling listeners, and running
 * batch queries over the stored log.
 *
 * Checkpoints of persistent queries (docs/guarantees.md): the engine's state blob
 * (sl_query_save), the query's seqs and log offset, and what it keeps for resumption are
 * encoded under the caller's lock into a job for the checkpoint writer thread
 * (ckptwriter.h), which stores the state in parts and then makes it the query's
 * checkpoint in one store transaction; one job at a time, its outcome collected by the
 * next checkpoint step.  The kept output goes incrementally: the changes
 * and late rows since the previous checkpoint as one chunk each (older chunks trimmed
 * past the history bounds), and the snapshot rows whose key changed since (each entry
 * has a position, the order its key was first emitted in, and a dirty mark).  A
 * checkpoint after a start that did not restore one rewrites all of it (reset).
 *
 * Invariants: a stream's next_offset and watermark equal what the store holds; every
 * live query has seen exactly the events of its stream from its start offset up to its
 * own offset, in offset order, with the stream's idle advances between them where they
 * are recorded (so its output, and its seq numbers, are a pure function of the log: a
 * restart that restores a checkpoint and replays the log from its offset reproduces
 * them); a persistent query's entries whose key changed since its last
 * checkpoint are dirty and their positions listed in snap_dirty (a position whose entry
 * was dropped as a tombstone stays listed, and is deleted from the store). */
#include "instance.h"

#include "ckpt.h"
#include "ckptwriter.h"
#include "eval.h"
#include "limits.h"
#include "mem.h"
#include "rowcodec.h"
#include "tz.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How many stored batches one sl_batch_step processes. */
#define BATCH_STEP_BATCHES 16
/* The format of a checkpoint's chunk of kept output (ckpt.h frames). */
#define OUTPUT_MAGIC "SLOC"
#define OUTPUT_VERSION 1
/* Kinds of kept output chunks in the store. */
enum { OUTPUT_CHANGES = 0, OUTPUT_LATE = 1 };
/* A query is checkpointed again only after this many times as long as its last
 * checkpoint took, whatever the interval, so that checkpoints of a large state take a
 * bounded share of the server's time. */
#define CHECKPOINT_COST_FACTOR 20

typedef struct dispatch dispatch;

typedef struct stream {
    sl_schema *schema;
    char *ddl;
    uint64_t next_offset;
    int64_t watermark;
    int64_t last_arrival_ms; /* wall clock of the last ingest, or of loading: IDLE_TIMEOUT */
    /* IDLE_TIMEOUT's last advance: the stream time it went to (INT64_MIN: none yet), the
     * offset of the event it was made before (next_offset then), and whether the store
     * has it (see sl_instance_tick). */
    int64_t idle_to;
    uint64_t idle_at;
    bool idle_recorded;
    dispatch *disp; /* how ingest reaches its queries; NULL until needed */
} stream;

/* An entry of a ring of kept output.  In the history of changes, row lives in block
 * (the history's arena, below); late rows are rows of their own (block NULL). */
typedef struct hist_entry {
    uint64_t seq;
    sl_change change;
    sl_row *row;
    sl_kept_block *block;
} hist_entry;

/* Bytes of a block of the history's arena: the first is small (a query with little
 * output stays small), each next one twice the last up to the most, which holds the
 * rows of several hundred changes. */
#define HIST_BLOCK_FIRST (4 * 1024)
#define HIST_BLOCK_BYTES (64 * 1024)

/* A block of the history's arena: the rows of kept changes, packed one after another
 * (sl_values_pack layout, each row aligned), written once by the committer under the
 * server lock and never moved or changed after, so a reader holding a reference may
 * read them on any thread without the lock.  References: the history's one, held
 * while the block is the one being filled or holds a kept entry, and one per
 * sl_kept_hold (the HTTP layer's queued references).  The last release frees it, on
 * whichever thread drops it; refs is the only field touched outside the lock. */
struct sl_kept_block {
    atomic_size_t refs;
    size_t kept;      /* history entries in the block (under the lock) */
    size_t used, cap; /* bytes of data used, and its size */
    max_align_t data[];
};

/* A query's plan shared with readers outside the lock (sl_live_plan_hold): the query
 * holds one reference and each reader one; the last release frees the plan. */
struct sl_plan_ref {
    atomic_size_t refs;
    sl_plan *plan;
};

typedef struct snap_entry {
    uint64_t seq;
    uint64_t hash;
    uint64_t pos; /* the order its key was first emitted in, from 1 */
    bool dirty;   /* changed since the last checkpoint (persistent queries) */
    sl_row *row;  /* NULL once the key was deleted */
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

    /* The last SL_MAX_OUTPUT_HISTORY changes, a ring: hist[(head + i) % cap], their
     * rows in the arena's blocks; hist_fill is the block being filled (NULL: none). */
    hist_entry *hist;
    size_t hist_cap, hist_head, hist_len;
    sl_kept_block *hist_fill;
    sl_plan_ref *plan_ref; /* NULL until a reader holds the plan (then owns plan) */

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

    uint64_t offset; /* the log offset of the next event the query sees */

    /* Checkpoints (persistent queries only). */
    uint64_t snap_next_pos; /* the last position given to a snapshot entry */
    uint64_t *snap_dirty;   /* positions of the entries changed since the last one */
    size_t snap_dirty_len, snap_dirty_cap;
    bool synced;   /* the store holds this run's kept output up to ckpt_seq */
    bool has_ckpt; /* a checkpoint was taken or restored */
    bool ckpt_off; /* the state cannot be saved: no more attempts */
    uint64_t ckpt_offset, ckpt_seq, ckpt_late_seq; /* of the last checkpoint */
    int64_t ckpt_watermark;
    int64_t ckpt_ms;                /* when the last was taken (epoch ms) */
    int64_t ckpt_tried_ms;          /* when the last attempt was made */
    int64_t ckpt_cost_ms;           /* how long the last one took */
    uint64_t ckpt_gen;              /* the generation of the stored one's state parts, 0: none */
    size_t ckpt_state_len;          /* bytes of the last one's engine state */
    int64_t ckpt_lock_ms;           /* how long encoding the one being written took */
    int64_t ckpt_pending_watermark; /* the stream time of the one being written */
    uint64_t checkpoints;           /* taken in this run */
    char *ckpt_error;               /* why the last attempt failed, NULL */
    bool restored;                  /* started from a checkpoint */
    uint64_t replay_from, replayed;
    char *restore_error; /* why a checkpoint found at start was not used, NULL */

    listener_slot *listeners;
    size_t nlisteners, listeners_cap;
    int next_handle;
    int dispatching;
};

struct sl_instance {
    sl_store *store;
    sl_ckptwriter *ckw; /* writes checkpoints off the server lock */
    sl_buf ckpt_spare;  /* the last checkpoint's state buffer, emptied, for the next */
    sl_catalog catalog;
    int64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
    stream *streams;
    size_t nstreams, streams_cap;
    sl_live **queries;
    size_t nqueries, queries_cap;
    uint64_t query_state_limit; /* bytes, for queries without their own */
    uint64_t next_query_number;
    int64_t checkpoint_interval_ms;
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    uint64_t catalog_version; /* counts the streams created and dropped */
    uint64_t query_version;   /* counts the queries added and dropped */
    /* UNIX_TIMESTAMP(): the stored time of the rows being pushed (the time of their write
     * group, kept with their batch), INT64_MIN when none (then it reads the clock); and
     * the time of the write group being stored. */
    int64_t row_ms, group_ms;
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

/* --- Dispatch ------------------------------------------------------------------------ */

/* How ingested rows reach the queries of a stream.  Most queries get every row.  But
 * queries whose filter right above the source requires "key = literal" (a conjunct of
 * it; key a column, or a column combined with an integer literal by + - * / %, of an
 * integer or VARCHAR type) and that share one key form a group: the key is evaluated
 * once per row, a hash of the literals finds the queries it can pass, and only those
 * get the row.  The others would have dropped it in their filter: they are told how
 * many rows they did not get and how far stream time went (sl_query_skip) just before
 * their next row and at the end of the request, which leaves them exactly as if each
 * row had been pushed.  1000 queries `WHERE auction % 1000 = i` then cost one key
 * evaluation per row, not 1000 filter evaluations.  Built when first needed and again
 * after queries are added or dropped (in->query_version). */

typedef struct disp_query {
    sl_live *q;
    sl_value lit;  /* the value the key must have (borrowed from q's plan) */
    int next;      /* the next query with an equal literal, -1 at the end */
    uint64_t done; /* rows of the request being published it has got or skipped */
} disp_query;

typedef struct disp_group {
    const sl_expr *key; /* the key (borrowed from its first query's plan) */
    disp_query *qs;
    size_t nq;
    int *slots; /* open addressing by literal: index + 1 into qs of a chain's head */
    size_t nslots;
} disp_group;

struct dispatch {
    uint64_t version; /* in->query_version when built */
    sl_live **plain;  /* queries that get every row */
    size_t nplain;
    disp_group *groups;
    size_t ngroups;
};

static bool int_type(sl_type t)
{
    return t == SL_T_INT || t == SL_T_BIGINT;
}

/* A key a group can share: a column, or a column op an integer literal. */
static bool key_shape(const sl_expr *e)
{
    if (e->kind == SL_EX_COLUMN)
        return int_type(e->type) || e->type == SL_T_VARCHAR;
    if (e->kind != SL_EX_BINARY || !int_type(e->type))
        return false;
    switch (e->u.binary.op) {
    case SL_OP_ADD:
    case SL_OP_SUB:
    case SL_OP_MUL:
    case SL_OP_DIV:
    case SL_OP_MOD:
        break;
    default:
        return false;
    }
    return e->u.binary.left->kind == SL_EX_COLUMN && int_type(e->u.binary.left->type) &&
           e->u.binary.right->kind == SL_EX_LITERAL && int_type(e->u.binary.right->u.lit.type);
}

static bool key_equal(const sl_expr *a, const sl_expr *b)
{
    if (a->kind != b->kind || a->type != b->type)
        return false;
    if (a->kind == SL_EX_COLUMN)
        return a->u.col == b->u.col;
    return a->u.binary.op == b->u.binary.op && a->u.binary.left->u.col == b->u.binary.left->u.col &&
           a->u.binary.left->type == b->u.binary.left->type &&
           a->u.binary.right->u.lit.u.i == b->u.binary.right->u.lit.u.i;
}

/* The key of a conjunct "key = literal" of pred (AND-ed conjuncts searched), with the
 * literal in *lit; NULL when there is none. */
static const sl_expr *pred_key(const sl_expr *e, sl_value *lit)
{
    const sl_expr *k, *l, *r;

    if (e->kind != SL_EX_BINARY)
        return NULL;
    if (e->u.binary.op == SL_OP_AND) {
        k = pred_key(e->u.binary.left, lit);
        return k ? k : pred_key(e->u.binary.right, lit);
    }
    if (e->u.binary.op != SL_OP_EQ)
        return NULL;
    l = e->u.binary.left;
    r = e->u.binary.right;
    if (l->kind == SL_EX_LITERAL) {
        const sl_expr *t = l;
        l = r;
        r = t;
    }
    if (r->kind != SL_EX_LITERAL || !key_shape(l))
        return NULL;
    if (int_type(l->type) ? !int_type(r->u.lit.type) : r->u.lit.type != SL_T_VARCHAR)
        return NULL;
    *lit = r->u.lit;
    return l;
}

/* The key of the filter right above plan's source, or NULL. */
static const sl_expr *filter_key(const sl_plan *plan, sl_value *lit)
{
    const sl_node *n = plan->root, *above = NULL;

    while (n->input) {
        above = n;
        n = n->input;
    }
    if (!above || above->kind != SL_NODE_FILTER)
        return NULL;
    return pred_key(above->u.filter.pred, lit);
}

/* A hash of a key's value (an integer, or VARCHAR bytes) consistent with equality. */
static uint64_t disp_hash(const sl_value *v)
{
    uint64_t h = 0xcbf29ce484222325ull;

    if (v->type != SL_T_VARCHAR)
        return ((uint64_t)v->u.i + 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;
    for (uint32_t i = 0; i < v->u.s.len; i++)
        h = (h ^ (unsigned char)v->u.s.ptr[i]) * 0x100000001b3ull;
    return h;
}

static bool disp_eq(const sl_value *a, const sl_value *b)
{
    if (a->type != SL_T_VARCHAR)
        return a->u.i == b->u.i;
    return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
}

/* Index + 1 of the head of the chain of queries whose literal equals v, or 0; *slot is
 * where it is or would go. */
static int disp_find(const disp_group *g, const sl_value *v, size_t *slot)
{
    size_t mask = g->nslots - 1, i = (size_t)disp_hash(v) & mask;

    while (g->slots[i] && !disp_eq(&g->qs[g->slots[i] - 1].lit, v))
        i = (i + 1) & mask;
    *slot = i;
    return g->slots[i];
}

static void dispatch_free(dispatch *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ngroups; i++) {
        free(d->groups[i].qs);
        free(d->groups[i].slots);
    }
    free(d->groups);
    free(d->plain);
    free(d);
}

/* The stream's dispatch, built anew when queries changed since. */
static dispatch *dispatch_get(sl_instance *in, stream *s)
{
    dispatch *d = s->disp;

    if (d && d->version == in->query_version)
        return d;
    dispatch_free(d);
    d = s->disp = sl_xcalloc(1, sizeof(*d));
    d->version = in->query_version;
    d->plain = sl_xcalloc(in->nqueries ? in->nqueries : 1, sizeof(*d->plain));
    d->groups = sl_xcalloc(in->nqueries ? in->nqueries : 1, sizeof(*d->groups));
    for (size_t i = 0; i < in->nqueries; i++) {
        sl_live *q = in->queries[i];
        sl_value lit;
        const sl_expr *key;
        disp_group *g = NULL;

        if (strcmp(q->plan->source, s->schema->name) != 0)
            continue;
        key = filter_key(q->plan, &lit);
        for (size_t j = 0; key && j < d->ngroups && !g; j++)
            if (key_equal(d->groups[j].key, key))
                g = &d->groups[j];
        if (key && !g) {
            g = &d->groups[d->ngroups++];
            g->key = key;
            g->qs = sl_xcalloc(in->nqueries, sizeof(*g->qs));
        }
        if (g)
            g->qs[g->nq++] = (disp_query){q, lit, -1, 0};
        else
            d->plain[d->nplain++] = q;
    }
    /* A group of one saves nothing; the others get their literal table. */
    for (size_t j = 0; j < d->ngroups;) {
        disp_group *g = &d->groups[j];
        if (g->nq == 1) {
            d->plain[d->nplain++] = g->qs[0].q;
            free(g->qs);
            *g = d->groups[--d->ngroups];
            continue;
        }
        g->nslots = 16;
        while (g->nslots < g->nq * 2)
            g->nslots *= 2;
        g->slots = sl_xcalloc(g->nslots, sizeof(*g->slots));
        for (size_t k = 0; k < g->nq; k++) {
            size_t slot;
            int head = disp_find(g, &g->qs[k].lit, &slot);
            g->qs[k].next = head - 1;
            g->slots[slot] = (int)k + 1;
        }
        j++;
    }
    return d;
}

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
    s->idle_to = INT64_MIN;
    s->idle_at = 0;
    s->idle_recorded = true;
    s->disp = NULL;
    in->catalog_version++;
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
    dispatch_free(s->disp);
    size_t idx = (size_t)(s - in->streams);
    memmove(s, s + 1, (in->nstreams - idx - 1) * sizeof(stream));
    in->nstreams--;
    in->catalog_version++;
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

/* The clock UNIX_TIMESTAMP() reads (ctx: the instance): the stored time of the rows
 * being pushed, so that a replay reads what their first reading did. */
static int64_t row_clock(void *ctx)
{
    sl_instance *in = ctx;

    return in->row_ms != INT64_MIN ? in->row_ms : in->clock_ms(in->clock_ctx);
}

/* Writes s's last idle advance to the store (outside a write group) unless it is there
 * already.  Returns 0, or -1 with err set (it stays to be written). */
static int idle_record(sl_instance *in, stream *s, sl_error *err)
{
    if (s->idle_recorded)
        return 0;
    if (sl_store_advance_put(in->store, s->schema->name, s->idle_at, s->idle_to, err) < 0)
        return -1;
    s->idle_recorded = true;
    return 0;
}

/* An idle advance is part of the log: it is recorded at its offset (before the event
 * that comes next), so that a replay (a restart, a new query over history, a batch
 * query) makes it at the same point.  It costs nothing while the stream stays idle: it
 * is recorded only once something depends on it, before that becomes durable or seen:
 * in the same transaction as the stream's next events (store_run), before a checkpoint
 * of a query on the stream (take_checkpoint), and here when it made a query emit, before
 * the server lock is released and the rows reach a subscriber.  An advance lost in a
 * crash before any of these had no effect anyone saw. */
void sl_instance_tick(sl_instance *in)
{
    int64_t now = in->clock_ms(in->clock_ctx);

    for (size_t i = 0; i < in->nstreams; i++) {
        stream *s = &in->streams[i];
        int64_t t = s->schema->idle_timeout_ms, target;
        bool emitted = false;
        sl_error err;

        if (t <= 0 || now - s->last_arrival_ms < t || __builtin_sub_overflow(now, t, &target) ||
            target <= s->idle_to)
            continue;
        s->idle_to = target;
        s->idle_at = s->next_offset;
        s->idle_recorded = false;
        for (size_t qi = 0; qi < in->nqueries; qi++) {
            sl_live *q = in->queries[qi];
            uint64_t seq = q->seq;

            if (q->query && strcmp(q->plan->source, s->schema->name) == 0)
                sl_query_advance(q->query, target);
            emitted |= q->seq != seq;
        }
        if (emitted && idle_record(in, s, &err) < 0 && in->log) {
            char line[2 * SL_ERROR_MSG_MAX];

            snprintf(line, sizeof(line),
                     "stream %s: its idle advance is not recorded yet (%s); it will be with "
                     "its next events",
                     s->schema->name, err.message);
            in->log(in->log_ctx, line);
        }
    }
}

/* --- Live query output --------------------------------------------------------------- */

/* Index + 1 of the live snapshot entry holding row's key, or 0; *slot_out gets the slot
 * where it is or would go.  Deleted entries stay in their slots as tombstones (row NULL)
 * so probe chains stay intact; they never match. */
static size_t snap_find(const sl_live *q, const sl_row *row, uint64_t h, size_t *slot_out)
{
    size_t mask = q->nslots - 1;
    size_t slot = (size_t)h & mask;

    while (q->slots[slot]) {
        const snap_entry *e = &q->snap[q->slots[slot] - 1];
        if (e->hash == h && e->row && sl_row_same_key(e->row, row, q->plan->keys, q->plan->nkeys))
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

/* Marks e changed since the last checkpoint (persistent queries that can be
 * checkpointed only). */
static void snap_dirty(sl_live *q, snap_entry *e)
{
    if (!q->persistent || q->ckpt_off || e->dirty)
        return;
    e->dirty = true;
    if (q->snap_dirty_len == q->snap_dirty_cap) {
        q->snap_dirty_cap = q->snap_dirty_cap ? q->snap_dirty_cap * 2 : 64;
        q->snap_dirty = sl_xrealloc(q->snap_dirty, q->snap_dirty_cap * sizeof(uint64_t));
    }
    q->snap_dirty[q->snap_dirty_len++] = e->pos;
}

/* Appends a new entry for row's key (not in the table; slot from snap_find) with
 * position pos; takes ownership of row. */
static snap_entry *snap_append(sl_live *q, size_t slot, uint64_t h, uint64_t pos, uint64_t seq,
                               sl_row *row)
{
    if (q->snap_len == q->snap_cap) {
        q->snap_cap = q->snap_cap ? q->snap_cap * 2 : 64;
        q->snap = sl_xrealloc(q->snap, q->snap_cap * sizeof(snap_entry));
    }
    q->snap[q->snap_len] = (snap_entry){seq, h, pos, false, row};
    q->slots[slot] = ++q->snap_len;
    return &q->snap[q->snap_len - 1];
}

static void snap_update(sl_live *q, uint64_t seq, sl_change change, const sl_row *row)
{
    uint64_t h = sl_row_key_hash(row, q->plan->keys, q->plan->nkeys);
    size_t slot;

    if ((q->snap_len + 1) * 2 > q->nslots)
        snap_rehash(q);
    size_t idx = snap_find(q, row, h, &slot);
    if (idx) {
        snap_entry *e = &q->snap[idx - 1];
        sl_row_free(e->row);
        e->row = change == SL_CHANGE_DELETE ? NULL : sl_row_copy(row);
        e->seq = seq;
        snap_dirty(q, e);
        if (!e->row && ++q->snap_dead * 2 > q->snap_len)
            snap_rehash(q);
        return;
    }
    if (change == SL_CHANGE_DELETE)
        return;
    snap_dirty(q, snap_append(q, slot, h, ++q->snap_next_pos, seq, sl_row_copy(row)));
}

/* The entry at position pos, or NULL when there is none (any more): entries are in
 * position order, tombstones dropped by snap_rehash included. */
static snap_entry *snap_at(sl_live *q, uint64_t pos)
{
    size_t lo = 0, hi = q->snap_len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (q->snap[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < q->snap_len && q->snap[lo].pos == pos ? &q->snap[lo] : NULL;
}

void sl_kept_hold(sl_kept_block *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void sl_kept_release(sl_kept_block *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

/* One history entry in b is gone: the history lets go of b when it was its last and b
 * is not being filled. */
static void hist_unkeep(sl_live *q, sl_kept_block *b)
{
    if (--b->kept == 0 && b != q->hist_fill)
        sl_kept_release(b);
}

/* Copies row into the arena (a new block when the one being filled has no room; a row
 * larger than a block gets a block of its size); *block is where it went, *bytes its
 * size (sl_row_bytes). */
static sl_row *hist_store(sl_live *q, const sl_row *row, sl_kept_block **block, size_t *bytes)
{
    const size_t align = _Alignof(max_align_t);
    size_t head = sizeof(sl_row) + (size_t)row->ncols * sizeof(sl_value);
    size_t need = head + sl_values_string_bytes(row->ncols, row->v);
    sl_kept_block *b = q->hist_fill;
    sl_row *r;

    *bytes = need;
    need = (need + align - 1) / align * align;
    if (!b || b->cap - b->used < need) {
        size_t cap = !b                               ? HIST_BLOCK_FIRST
                     : b->cap >= HIST_BLOCK_BYTES / 2 ? HIST_BLOCK_BYTES
                                                      : b->cap * 2;
        sl_kept_block *old = b;

        if (cap < need)
            cap = need;
        b = sl_xmalloc(sizeof(*b) + cap);
        atomic_init(&b->refs, 1);
        b->kept = b->used = 0;
        b->cap = cap;
        q->hist_fill = b;
        if (old && old->kept == 0)
            sl_kept_release(old);
    }
    r = (sl_row *)((char *)b->data + b->used);
    b->used += need;
    b->kept++;
    r->rowtime = row->rowtime;
    r->ncols = row->ncols;
    sl_values_pack(r->v, row->ncols, row->v, (char *)r + head);
    *block = b;
    return r;
}

/* Keeps a copy of a change in the history, dropping the oldest past the bound; returns
 * the entry (valid until the next change) and the size of its row in *bytes. */
static const hist_entry *hist_keep(sl_live *q, uint64_t seq, sl_change change, const sl_row *row,
                                   size_t *bytes)
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
        hist_unkeep(q, q->hist[q->hist_head].block);
        q->hist_head = (q->hist_head + 1) % q->hist_cap;
        q->hist_len--;
    }
    hist_entry *e = &q->hist[(q->hist_head + q->hist_len) % q->hist_cap];
    e->seq = seq;
    e->change = change;
    e->row = hist_store(q, row, &e->block, bytes);
    q->hist_len++;
    return e;
}

static void hist_add(sl_live *q, uint64_t seq, sl_change change, const sl_row *row)
{
    size_t bytes;

    hist_keep(q, seq, change, row, &bytes);
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
    size_t bytes;
    const hist_entry *e = hist_keep(q, seq, change, row, &bytes);
    sl_kept kept = {seq, change, e->row, bytes, e->block};

    if (q->plan->nkeys > 0)
        snap_update(q, seq, change, row);
    q->dispatching++;
    for (size_t i = 0; i < q->nlisteners; i++) {
        listener_slot *s = &q->listeners[i];
        if (!s->active || s->late)
            continue;
        if (s->l.on_kept)
            s->l.on_kept(s->l.ctx, &kept);
        else if (s->l.on_change)
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
    e->block = NULL;
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

/* Frees what the query keeps of its output (history, late rows, snapshot) and forgets
 * its seqs: it is as before its first change. */
static void forget_output(sl_live *q)
{
    for (size_t i = 0; i < q->hist_len; i++)
        hist_unkeep(q, q->hist[(q->hist_head + i) % q->hist_cap].block);
    sl_kept_release(q->hist_fill);
    q->hist_fill = NULL;
    free(q->hist);
    q->hist = NULL;
    q->hist_cap = q->hist_head = q->hist_len = 0;
    for (size_t i = 0; i < q->late_len; i++)
        sl_row_free(q->late[(q->late_head + i) % q->late_cap].row);
    free(q->late);
    q->late = NULL;
    q->late_cap = q->late_head = q->late_len = 0;
    for (size_t i = 0; i < q->snap_len; i++)
        sl_row_free(q->snap[i].row);
    free(q->snap);
    free(q->slots);
    free(q->snap_dirty);
    q->snap = NULL;
    q->slots = NULL;
    q->snap_dirty = NULL;
    q->snap_len = q->snap_cap = q->snap_dead = q->nslots = 0;
    q->snap_dirty_len = q->snap_dirty_cap = 0;
    q->snap_next_pos = q->seq = q->late_seq = 0;
}

static void live_free(sl_live *q, sl_errcode code, const char *reason)
{
    if (!q)
        return;
    close_listeners(q, code, reason);
    sl_query_free(q->query);
    if (q->plan_ref)
        sl_plan_ref_release(q->plan_ref);
    else
        sl_plan_free(q->plan);
    forget_output(q);
    free(q->listeners);
    free(q->error);
    free(q->ckpt_error);
    free(q->restore_error);
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

bool sl_live_snapshot_step(sl_live *q, uint64_t *pos, uint64_t upto_seq,
                           bool (*fn)(void *ctx, uint64_t seq, const sl_row *row), void *ctx)
{
    size_t lo = 0, hi = q->snap_len;

    /* The first entry after *pos: entries are in position order. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (q->snap[mid].pos <= *pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < q->snap_len; lo++) {
        const snap_entry *e = &q->snap[lo];

        if (e->row && e->seq <= upto_seq && !fn(ctx, e->seq, e->row))
            return false;
        *pos = e->pos;
    }
    return true;
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

sl_plan_ref *sl_live_plan_hold(sl_live *q)
{
    if (!q->plan_ref) {
        q->plan_ref = sl_xmalloc(sizeof(*q->plan_ref));
        atomic_init(&q->plan_ref->refs, 1);
        q->plan_ref->plan = q->plan;
    }
    atomic_fetch_add_explicit(&q->plan_ref->refs, 1, memory_order_relaxed);
    return q->plan_ref;
}

const sl_plan *sl_plan_ref_plan(const sl_plan_ref *p)
{
    return p->plan;
}

void sl_plan_ref_release(sl_plan_ref *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        sl_plan_free(p->plan);
        free(p);
    }
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
    out->late_seq = q->late_seq;
    for (size_t i = 0; i < q->nlisteners; i++)
        n += q->listeners[i].active;
    out->listeners = n;
    out->has_checkpoint = q->has_ckpt;
    out->checkpoint_offset = q->ckpt_offset;
    out->checkpoint_seq = q->ckpt_seq;
    out->checkpoint_ms = q->ckpt_ms;
    out->checkpoints = q->checkpoints;
    out->checkpoint_error = q->ckpt_error;
    out->restored = q->restored;
    out->replay_from = q->replay_from;
    out->replayed_events = q->replayed;
    out->restore_error = q->restore_error;
}

/* --- Replaying the log --------------------------------------------------------------- */

/* Feeds the stored events of q's stream from offset `from` up to the log's end through
 * q->query, skipping events before `from` in the first batch, and counts them in
 * q->replayed; the idle advances recorded before a batch from `from` on are made before
 * its first event.  *query_failed says whether a failure came from the query (past its state
 * limit) rather than the store. */
static int replay_log(sl_instance *in, sl_live *q, uint64_t from, bool *query_failed, sl_error *err)
{
    sl_store_cursor *cur = NULL;
    const void *blob;
    size_t len;
    uint32_t count;
    uint64_t first;
    int rc;

    if (sl_store_scan(in->store, q->plan->source, from, &cur, err) < 0)
        return -1;
    while ((rc = sl_store_cursor_next(cur, &blob, &len, &count, &first, err)) == 1) {
        sl_rowcodec_reader rd;
        sl_row *row = NULL;
        uint64_t off = first;
        int64_t advance = sl_store_cursor_advance(cur);

        if (sl_rowcodec_open(&rd, blob, len, err) < 0)
            goto fail;
        if (advance != INT64_MIN && first >= from)
            sl_query_advance(q->query, advance);
        in->row_ms = sl_store_cursor_stored_ms(cur);
        while ((rc = sl_rowcodec_next(&rd, &row, err)) == 1) {
            int prc = 0;
            if (off++ >= from) {
                prc = sl_query_push(q->query, row, err);
                q->replayed++;
            }
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
    in->row_ms = INT64_MIN;
    sl_store_cursor_close(cur);
    return 0;
fail:
    in->row_ms = INT64_MIN;
    sl_store_cursor_close(cur);
    return -1;
}

/* --- Checkpoints ---------------------------------------------------------------------- */

/* Appends to out one chunk (a frame: count, then seq, change and row of each) of the
 * entries of a ring of kept output (hist or late) whose seq is after `after`.  Returns
 * the first seq it holds, or 0 (out untouched) when there is none. */
static uint64_t encode_chunk(sl_buf *out, const hist_entry *ring, size_t cap, size_t head,
                             size_t len, uint64_t after)
{
    sl_ckpt_writer w = {out, NULL};
    size_t i = 0, at;

    while (i < len && ring[(head + i) % cap].seq <= after)
        i++;
    if (i == len)
        return 0;
    at = sl_ckpt_frame_begin(&w, OUTPUT_MAGIC, OUTPUT_VERSION, 0);
    sl_ckpt_put_u64(&w, len - i);
    for (size_t k = i; k < len; k++) {
        const hist_entry *e = &ring[(head + k) % cap];

        sl_ckpt_put_u64(&w, e->seq);
        sl_ckpt_put_u64(&w, (uint64_t)e->change);
        sl_ckpt_put_row(&w, e->row);
    }
    sl_ckpt_frame_end(&w, at);
    return ring[(head + i) % cap].seq;
}

/* Whether q is to be checkpointed now: a running persistent query whose state can be
 * saved, that changed since its last checkpoint, and (unless any_time) whose time or
 * event count for one has come. */
static bool checkpoint_due(const sl_instance *in, const sl_live *q, int64_t now, bool any_time)
{
    sl_query_stats st;

    if (!q->persistent || !q->query || q->ckpt_off)
        return false;
    sl_query_stats_get(q->query, &st);
    if (q->offset == q->ckpt_offset && q->seq == q->ckpt_seq && q->late_seq == q->ckpt_late_seq &&
        st.watermark == q->ckpt_watermark)
        return false;
    if (any_time)
        return true;
    if (now - q->ckpt_tried_ms < q->ckpt_cost_ms * CHECKPOINT_COST_FACTOR)
        return false;
    return now - q->ckpt_tried_ms >= in->checkpoint_interval_ms ||
           (!q->ckpt_error && q->offset - q->ckpt_offset >= SL_CHECKPOINT_EVENTS);
}

/* Starts q's checkpoint: encodes, under the server lock, its engine state, seqs and
 * offset, the output it kept since the last one and the snapshot rows whose key changed
 * since (everything when the store does not hold this run's kept output yet) into a job
 * for the checkpoint writer, which stores it without the lock (ckptwriter.h).  What it
 * encoded counts as written from now on (dirty marks cleared); collect_checkpoint
 * undoes that when the write fails.  Returns 0, or -1 with err set when the state
 * cannot be saved. */
static int start_checkpoint(sl_instance *in, sl_live *q, sl_error *err)
{
    int64_t started = in->clock_ms(in->clock_ctx);
    sl_ckpt_job *job = sl_ckpt_job_new(q->id, q);
    sl_buf *changes = &job->kept[0], *late = &job->kept[1], *rows = &job->kept[2];
    bool reset = !q->synced;
    sl_query_stats st;

    q->ckpt_tried_ms = started;
    /* The state may hold an idle advance of the stream: the log gets it first. */
    if (idle_record(in, find_stream(in, q->plan->source), err) < 0) {
        free(q->ckpt_error);
        q->ckpt_error = sl_xstrdup(err->message);
        sl_ckpt_job_free(job);
        return -1;
    }
    /* Encoding into memory already mapped, as large as the query's last state and some,
     * keeps the time under the lock to the encoding itself. */
    job->state = in->ckpt_spare;
    in->ckpt_spare = (sl_buf)SL_BUF_INIT;
    sl_buf_reserve(&job->state, q->ckpt_state_len + q->ckpt_state_len / 8);
    if (sl_query_save(q->query, &job->state, err) < 0) {
        /* The plan's state has no checkpoint format: it never will, and what changed
         * need not be tracked. */
        q->ckpt_off = true;
        free(q->snap_dirty);
        q->snap_dirty = NULL;
        q->snap_dirty_len = q->snap_dirty_cap = 0;
        free(q->ckpt_error);
        q->ckpt_error = sl_xstrdup(err->message);
        sl_ckpt_job_free(job);
        return -1;
    }
    sl_query_stats_get(q->query, &st);
    uint64_t first = encode_chunk(changes, q->hist, q->hist_cap, q->hist_head, q->hist_len,
                                  reset ? 0 : q->ckpt_seq);
    uint64_t late_first = encode_chunk(late, q->late, q->late_cap, q->late_head, q->late_len,
                                       reset ? 0 : q->ckpt_late_seq);
    job->outputs[0] = (sl_store_output){
        OUTPUT_CHANGES, first,
        q->seq,         q->seq > SL_MAX_OUTPUT_HISTORY ? q->seq - SL_MAX_OUTPUT_HISTORY : 0,
        changes->data,  changes->len};
    job->outputs[1] = (sl_store_output){
        OUTPUT_LATE, late_first,
        q->late_seq, q->late_seq > SL_MAX_LATE_HISTORY ? q->late_seq - SL_MAX_LATE_HISTORY : 0,
        late->data,  late->len};
    job->noutputs = 2;

    /* The snapshot rows to write, encoded one after another into `rows` (each one's
     * length kept in its len until rows stops moving), and the positions to delete. */
    size_t nwant = reset ? q->snap_len : q->snap_dirty_len;
    sl_store_snap *snaps = job->snaps = sl_xcalloc(nwant + 1, sizeof(sl_store_snap));
    for (size_t i = 0; i < nwant; i++) {
        const snap_entry *e = reset ? &q->snap[i] : snap_at(q, q->snap_dirty[i]);
        sl_ckpt_writer w = {rows, NULL};
        sl_store_snap *o = &snaps[job->nsnaps];
        size_t at = rows->len;

        if (reset && !e->row)
            continue;
        job->nsnaps++;
        o->pos = reset ? e->pos : q->snap_dirty[i];
        if (!e || !e->row)
            continue;
        o->seq = e->seq;
        sl_ckpt_put_row(&w, e->row);
        o->len = rows->len - at;
    }
    for (size_t i = 0, at = 0; i < job->nsnaps; i++) {
        if (!snaps[i].len)
            continue;
        snaps[i].row = rows->data + at;
        at += snaps[i].len;
    }
    job->c = (sl_store_checkpoint){.log_offset = q->offset,
                                   .seq = q->seq,
                                   .late_seq = q->late_seq,
                                   .taken_ms = started,
                                   .gen = q->ckpt_gen + 1,
                                   .reset = reset};
    for (size_t i = 0; i < q->snap_len; i++)
        q->snap[i].dirty = false;
    q->snap_dirty_len = 0;
    q->ckpt_pending_watermark = st.watermark;
    q->ckpt_lock_ms = in->clock_ms(in->clock_ctx) - started;
    sl_ckptwriter_submit(in->ckw, job);
    return 0;
}

/* Applies the outcome of a job the writer is done with (takes ownership; NULL: none) to
 * its query, if the query is still there.  Returns 0, or -1 with err set when the write
 * failed: the query's next checkpoint then rewrites all its kept output. */
static int collect_checkpoint(sl_instance *in, sl_ckpt_job *job, sl_error *err)
{
    sl_live *q = NULL;
    int rc = 0;

    if (!job)
        return 0;
    sl_buf_free(&in->ckpt_spare);
    in->ckpt_spare = job->state;
    job->state = (sl_buf)SL_BUF_INIT;
    in->ckpt_spare.len = 0;
    for (size_t i = 0; i < in->nqueries; i++)
        if (in->queries[i] == job->owner)
            q = in->queries[i];
    if (!q)
        goto done;
    if (job->cancelled) {
        /* Its query's drop failed after all (or a new query got its memory): what the
         * job held was marked written, so the next checkpoint writes everything. */
        q->synced = false;
        goto done;
    }
    free(q->ckpt_error);
    q->ckpt_error = NULL;
    if (job->rc < 0) {
        /* What the job held was marked written: have the next one write it all. */
        q->synced = false;
        q->ckpt_error = sl_xstrdup(job->err.message);
        rc = sl_error_set(err, job->err.code, 0, 0, "query %s: %s", q->id, job->err.message);
        goto done;
    }
    q->synced = q->has_ckpt = true;
    q->ckpt_gen = job->c.gen;
    q->ckpt_state_len = job->c.state_len;
    q->ckpt_offset = job->c.log_offset;
    q->ckpt_seq = job->c.seq;
    q->ckpt_late_seq = job->c.late_seq;
    q->ckpt_watermark = q->ckpt_pending_watermark;
    q->ckpt_ms = job->c.taken_ms;
    q->ckpt_cost_ms = q->ckpt_lock_ms + (int64_t)job->write_ms;
    q->checkpoints++;
done:
    sl_ckpt_job_free(job);
    return rc;
}

int sl_instance_checkpoint_step(sl_instance *in, sl_error *err)
{
    int64_t now = in->clock_ms(in->clock_ctx);
    sl_live *next = NULL;

    if (collect_checkpoint(in, sl_ckptwriter_poll(in->ckw), err) < 0)
        return -1;
    if (sl_ckptwriter_busy(in->ckw))
        return 0;
    for (size_t i = 0; i < in->nqueries; i++) {
        sl_live *q = in->queries[i];

        if (checkpoint_due(in, q, now, false) && (!next || q->ckpt_tried_ms < next->ckpt_tried_ms))
            next = q;
    }
    if (!next)
        return 0;
    return start_checkpoint(in, next, err) < 0 ? -1 : 1;
}

int sl_instance_checkpoint_wait(sl_instance *in, sl_error *err)
{
    return collect_checkpoint(in, sl_ckptwriter_wait(in->ckw), err);
}

int sl_instance_checkpoint_all(sl_instance *in, sl_error *err)
{
    int64_t now = in->clock_ms(in->clock_ctx);
    sl_error one;
    int rc = sl_instance_checkpoint_wait(in, err);

    for (size_t i = 0; i < in->nqueries; i++) {
        sl_live *q = in->queries[i];

        if (!checkpoint_due(in, q, now, true))
            continue;
        if (start_checkpoint(in, q, rc < 0 ? &one : err) < 0 ||
            sl_instance_checkpoint_wait(in, rc < 0 ? &one : err) < 0)
            rc = -1;
    }
    return rc;
}

/* Reading a checkpoint's kept output back: the entries after `after` (older ones are
 * past the history bound) must run on without a gap up to `upto`, the checkpoint's
 * seq, and have the layout of the query's results (changes) or source (late rows). */
typedef struct kept_load {
    sl_live *q;
    int kind;
    uint32_t ncols;
    uint64_t after, upto, last; /* last: the last seq kept so far, 0 for none */
    const char *why;            /* why what is stored is not usable (static) */
} kept_load;

static int load_chunk(void *ctx, uint64_t first_seq, uint64_t last_seq, const void *data,
                      size_t len)
{
    kept_load *k = ctx;
    sl_ckpt_reader rd;

    if (sl_ckpt_frame_open(&rd, data, len, OUTPUT_MAGIC, OUTPUT_VERSION, 0) == 0) {
        uint64_t n = sl_ckpt_get_count(&rd, UINT64_MAX);

        for (uint64_t i = 0; i < n && !rd.why; i++) {
            uint64_t seq = sl_ckpt_get_u64(&rd), change = sl_ckpt_get_u64(&rd);
            sl_row *row = sl_ckpt_get_row(&rd);

            if (row &&
                (seq < first_seq || seq > last_seq || seq > k->upto || change > SL_CHANGE_DELETE ||
                 row->ncols != k->ncols || (seq > k->after && k->last && seq != k->last + 1)))
                sl_ckpt_fail(&rd, "kept output out of order");
            else if (row && seq > k->after && k->kind == OUTPUT_CHANGES)
                hist_add(k->q, seq, (sl_change)change, row);
            else if (row && seq > k->after)
                late_add(k->q, seq, row);
            if (!rd.why && seq > k->after)
                k->last = seq;
            sl_row_free(row);
        }
        if (!rd.why && rd.p != rd.end)
            sl_ckpt_fail(&rd, "trailing bytes in kept output");
    }
    k->why = rd.why;
    return rd.why ? 1 : 0;
}

static int load_snap(void *ctx, uint64_t pos, uint64_t seq, const void *data, size_t len)
{
    kept_load *k = ctx;
    sl_live *q = k->q;
    sl_ckpt_reader rd;
    sl_row *row;
    uint64_t h;
    size_t slot;

    sl_ckpt_reader_init(&rd, data, len);
    row = sl_ckpt_get_row(&rd);
    if (!row || rd.p != rd.end || q->plan->nkeys == 0 || row->ncols != (uint32_t)q->plan->ncols ||
        pos <= q->snap_next_pos || seq > k->upto) {
        k->why = "damaged snapshot row";
        sl_row_free(row);
        return 1;
    }
    if ((q->snap_len + 1) * 2 > q->nslots)
        snap_rehash(q);
    h = sl_row_key_hash(row, q->plan->keys, q->plan->nkeys);
    if (snap_find(q, row, h, &slot)) {
        k->why = "a key twice in the snapshot";
        sl_row_free(row);
        return 1;
    }
    snap_append(q, slot, h, pos, seq, row);
    q->snap_next_pos = pos;
    return 0;
}

/* Reads the kept output of one kind (changes or late rows) of a checkpoint whose seq of
 * that kind is upto.  Returns 0, or -1 with k->why (what is stored is damaged) or err (the
 * store failed) set. */
static int load_kept(sl_instance *in, sl_live *q, int kind, uint64_t upto, kept_load *k,
                     sl_error *err)
{
    uint64_t bound = kind == OUTPUT_CHANGES ? SL_MAX_OUTPUT_HISTORY : SL_MAX_LATE_HISTORY;
    const sl_node *src = q->plan->root;

    while (src->input)
        src = src->input;
    k->kind = kind;
    k->ncols = (uint32_t)(kind == OUTPUT_CHANGES ? q->plan->ncols : src->ncols);
    k->after = upto > bound ? upto - bound : 0;
    k->upto = upto;
    k->last = 0;
    k->why = NULL;
    if (sl_store_output_list(in->store, q->id, kind, load_chunk, k, err) != 0)
        return -1;
    if (k->last != upto) {
        k->why = "it does not reach the checkpoint's seq";
        return -1;
    }
    return 0;
}

/* Restores q's checkpoint, when it has one, into its new query (q->query, which has seen
 * no event) and its kept output.  Returns 1 when restored, 0 when there is none, -1
 * with why set when it cannot be used: q's query and output are then in any state. */
static int restore_checkpoint(sl_instance *in, sl_live *q, const stream *s, char *why,
                              size_t whylen)
{
    sl_store_checkpoint c;
    void *state = NULL;
    sl_query_stats st;
    sl_error err;
    kept_load k = {.q = q};
    int rc = sl_store_checkpoint_get(in->store, q->id, &c, &state, &err);

    if (rc <= 0)
        goto done;
    /* The next checkpoint's parts get a generation of their own even when this one is
     * not used. */
    q->ckpt_gen = c.gen;
    q->ckpt_state_len = (size_t)c.state_len;
    rc = -1;
    if (c.log_offset < q->offset || c.log_offset > s->next_offset) {
        snprintf(why, whylen, "checkpoint at log offset %" PRIu64 ", outside the log",
                 c.log_offset);
        goto done;
    }
    if (sl_query_restore(q->query, c.state, c.state_len, &err) < 0)
        goto done;
    sl_query_stats_get(q->query, &st);
    if (st.rows_out != c.seq || st.late_rows != c.late_seq) {
        snprintf(why, whylen, "checkpoint's seqs do not match its state");
        goto done;
    }
    if (load_kept(in, q, OUTPUT_CHANGES, c.seq, &k, &err) < 0 ||
        load_kept(in, q, OUTPUT_LATE, c.late_seq, &k, &err) < 0)
        goto kept;
    k.upto = c.seq;
    if ((rc = sl_store_snapshot_list(in->store, q->id, load_snap, &k, &err)) != 0) {
        rc = -1;
        goto kept;
    }
    q->seq = c.seq;
    q->late_seq = c.late_seq;
    q->offset = q->ckpt_offset = c.log_offset;
    q->ckpt_seq = c.seq;
    q->ckpt_late_seq = c.late_seq;
    q->ckpt_watermark = st.watermark;
    q->ckpt_ms = q->ckpt_tried_ms = c.taken_ms;
    q->synced = q->has_ckpt = q->restored = true;
    rc = 1;
    goto done;
kept:
    snprintf(why, whylen, "its kept output: %.400s", k.why ? k.why : err.message);
    free(state);
    return -1;
done:
    if (rc < 0 && !why[0])
        snprintf(why, whylen, "%s", err.message);
    free(state);
    return rc;
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
    in->query_version++;
}

/* Gives q a new engine query of its plan, which has seen nothing (the old one, if any,
 * freed). */
static void new_engine_query(sl_live *q)
{
    sl_sink sink = {
        .ctx = q, .emit = live_emit, .late = live_late, .clock_ms = row_clock, .clock_ctx = q->in};

    sl_query_free(q->query);
    q->query = sl_query_new(q->plan, &sink);
    sl_query_set_state_limit(q->query, (size_t)sl_live_state_limit(q));
}

/* Restores the checkpoint of q (new, at its start offset) when there is a usable one; a
 * checkpoint found but not usable is logged and q starts over from its start offset. */
static void restore_or_start_over(sl_instance *in, sl_live *q, const stream *s)
{
    char why[SL_ERROR_MSG_MAX] = "", line[2 * SL_ERROR_MSG_MAX];

    if (restore_checkpoint(in, q, s, why, sizeof(why)) >= 0)
        return;
    q->restore_error = sl_xstrdup(why);
    new_engine_query(q);
    forget_output(q);
    q->offset = q->start_offset;
    if (in->log) {
        snprintf(
            line, sizeof(line),
            "query %s: its checkpoint is not used (%s); replaying its log from offset %" PRIu64,
            q->id, why, q->offset);
        in->log(in->log_ctx, line);
    }
}

/* Makes a live query from a compiled plan (takes ownership) starting at start_offset,
 * replays the log into it and adds it to the instance; with restore (a restart), it
 * first restores its checkpoint and replays only what follows it.  When the query itself
 * fails during the replay (past its state limit), keep_failed adds it anyway, failed (a
 * restart), else the call fails (a new query). */
static int start_live(sl_instance *in, const char *id, const char *sql, size_t len, sl_plan *plan,
                      bool persistent, uint64_t start_offset, uint64_t state_limit, bool restore,
                      bool keep_failed, sl_live **out, sl_error *err)
{
    bool query_failed = false;
    sl_live *q = sl_xcalloc(1, sizeof(sl_live));
    const stream *s = find_stream(in, plan->source);
    sl_query_stats st;

    q->in = in;
    q->id = sl_xstrdup(id);
    q->sql = sl_xstrndup(sql, len);
    q->persistent = persistent;
    q->start_offset = q->offset = q->ckpt_offset = start_offset;
    q->ckpt_watermark = INT64_MIN;
    q->ckpt_tried_ms = in->clock_ms(in->clock_ctx);
    q->plan = plan;
    q->state_limit = state_limit;
    new_engine_query(q);
    if (restore)
        restore_or_start_over(in, q, s);
    q->replay_from = q->offset;
    sl_query_stats_get(q->query, &st);
    if (st.state_bytes > sl_live_state_limit(q)) {
        /* A checkpoint restored under a lower limit than it was taken with. */
        query_failed = true;
        sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, 0, 0,
                     "the query's state holds %zu bytes, past its limit of %" PRIu64 " bytes",
                     st.state_bytes, sl_live_state_limit(q));
    }
    if (query_failed || replay_log(in, q, q->offset, &query_failed, err) < 0) {
        if (!query_failed || !keep_failed)
            goto fail;
        live_fail(q, err->message);
    }
    /* An idle advance made after the log's last event (recorded or not yet) is made in
     * q too, as it was in the queries that ran then. */
    if (!q->error && s->idle_to != INT64_MIN && s->idle_at == s->next_offset)
        sl_query_advance(q->query, s->idle_to);
    q->offset = s->next_offset;
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
    if (start_live(in, id, sql, len, plan, persistent, start, state_limit, false, false, out, err) <
        0) {
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
        /* A checkpoint of q being written stops before the rows go. */
        sl_ckptwriter_cancel(in->ckw, q);
        if (q->persistent && sl_store_query_drop(in->store, id, err) < 0)
            return -1;
        memmove(&in->queries[i], &in->queries[i + 1], (in->nqueries - i - 1) * sizeof(sl_live *));
        in->nqueries--;
        in->query_version++;
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

/* Largest blob a run of requests to one stream is merged into, in bytes: a group of
 * small requests then costs one row of the log, not one per request.  A request larger
 * than this is stored in a row of its own. */
#define MERGE_BYTES (64 * 1024)

void sl_ingest_req_encode(sl_ingest_req *r)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;

    sl_buf_reset(&r->blob);
    sl_rowcodec_begin(&r->blob);
    for (size_t i = 0; i < r->n; i++) {
        sl_rowcodec_put(&r->blob, r->rows[i]);
        lo = r->rows[i]->rowtime < lo ? r->rows[i]->rowtime : lo;
        hi = r->rows[i]->rowtime > hi ? r->rows[i]->rowtime : hi;
    }
    r->min_rowtime = lo;
    r->max_rowtime = hi;
}

void sl_ingest_req_clear(sl_ingest_req *r)
{
    sl_buf_free(&r->blob);
    free(r->replay);
    r->replay = NULL;
}

uint64_t sl_instance_catalog_version(const sl_instance *in)
{
    return in->catalog_version;
}

/* Checks a request before it is stored: its stream, its Idempotency-Key (a repeat is
 * answered with rc 1 and stores nothing) and its rows; encodes them if needed.
 * Returns 0 when it is to be stored, else its answer's rc (1 or -1, r->err set). */
static int ingest_check(sl_instance *in, sl_ingest_req *r)
{
    stream *s = find_stream(in, r->stream);

    if (!s)
        return sl_error_set(&r->err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'", r->stream);
    if (r->key) {
        int rc = idem_lookup(in, s, r->key, &r->replay, &r->err);
        if (rc != 0)
            return rc;
    }
    if (r->n == 0)
        return sl_error_set(&r->err, SL_ERR_BAD_REQUEST, 0, 0, "no events");
    if (r->n > UINT32_MAX)
        return sl_error_set(&r->err, SL_ERR_TOO_LARGE, 0, 0, "too many events in one request");
    for (size_t i = 0; i < r->n; i++)
        if (check_row(s->schema, r->rows[i], i, &r->err) < 0)
            return -1;
    if (r->blob.len == 0)
        sl_ingest_req_encode(r);
    return 0;
}

/* Stores reqs[idx[0..n)], requests to one stream in order, as one row of the log inside
 * the open store group (a single request's blob as it is, several merged into one),
 * with their idempotency records, and sets each one's first_offset. */
static int store_run(sl_instance *in, sl_ingest_req *const *reqs, const size_t *idx, size_t n,
                     sl_error *err)
{
    sl_store_idem *idems = sl_xcalloc(n, sizeof(*idems));
    sl_buf merged = SL_BUF_INIT;
    const sl_ingest_req *one = reqs[idx[0]];
    const void *blob = one->blob.data;
    size_t len = one->blob.len, nidem = 0;
    uint64_t count = 0, first;
    int64_t lo = INT64_MAX, hi = INT64_MIN, now = in->group_ms;
    int rc;

    if (n > 1) {
        /* Every blob starts with the codec's header; the merged one has it once. */
        sl_rowcodec_begin(&merged);
        size_t hdr = merged.len;
        for (size_t i = 0; i < n; i++)
            sl_buf_append(&merged, reqs[idx[i]]->blob.data + hdr, reqs[idx[i]]->blob.len - hdr);
        blob = merged.data;
        len = merged.len;
    }
    for (size_t i = 0; i < n; i++) {
        const sl_ingest_req *r = reqs[idx[i]];
        count += r->n;
        lo = r->min_rowtime < lo ? r->min_rowtime : lo;
        hi = r->max_rowtime > hi ? r->max_rowtime : hi;
        if (r->key) {
            sl_store_idem *d = &idems[nidem++];
            d->key = r->key->key;
            memcpy(d->body_hash, r->key->body_hash, SL_STORE_HASH_LEN);
            d->answer = r->key->answer;
            d->created_ms = now;
        }
    }
    stream *s = find_stream(in, one->stream);
    if (count > UINT32_MAX)
        rc = sl_error_set(err, SL_ERR_TOO_LARGE, 0, 0, "too many events in one batch");
    else if (!s->idle_recorded &&
             sl_store_advance_put(in->store, one->stream, s->idle_at, s->idle_to, err) < 0)
        rc = -1;
    else
        rc = sl_store_append_idems(in->store, one->stream, blob, len, (uint32_t)count, lo, hi, now,
                                   idems, nidem, &first, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        reqs[idx[i]]->first_offset = first;
        first += reqs[idx[i]]->n;
    }
    sl_buf_free(&merged);
    free(idems);
    return rc;
}

/* Stores the pending requests (reqs[pend[0..*npend)]) inside the open store group:
 * consecutive requests to one stream share a row of the log up to MERGE_BYTES.  Empties
 * the pending list. */
static int store_pending(sl_instance *in, sl_ingest_req *const *reqs, size_t *pend, size_t *npend,
                         sl_error *err)
{
    size_t n = *npend, *run = sl_xcalloc(n ? n : 1, sizeof(size_t));
    bool *done = sl_xcalloc(n ? n : 1, sizeof(bool));
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = reqs[pend[i]]->stream;
        size_t nrun = 0, bytes = 0;

        if (done[i])
            continue;
        for (size_t j = i; j < n && rc == 0; j++) {
            const sl_ingest_req *r = reqs[pend[j]];
            if (done[j] || strcmp(r->stream, name) != 0)
                continue;
            if (nrun > 0 && bytes + r->blob.len > MERGE_BYTES) {
                rc = store_run(in, reqs, run, nrun, err);
                nrun = bytes = 0;
            }
            run[nrun++] = pend[j];
            bytes += r->blob.len;
            done[j] = true;
        }
        if (rc == 0)
            rc = store_run(in, reqs, run, nrun, err);
    }
    free(run);
    free(done);
    *npend = 0;
    return rc;
}

static void push_row(sl_live *q, const sl_row *row)
{
    sl_error qerr;

    if (!q->error && sl_query_push(q->query, row, &qerr) < 0)
        live_fail(q, qerr.message);
}

/* Publishes rows[0..n) to a group's queries (see Dispatch); upto[i] is the largest
 * ROWTIME among rows[0..i]. */
static void dispatch_group_rows(disp_group *g, sl_row *const *rows, size_t n, const int64_t *upto)
{
    for (size_t k = 0; k < g->nq; k++)
        g->qs[k].done = 0;
    for (size_t i = 0; i < n; i++) {
        sl_value v = sl_eval(g->key, rows[i], NULL);
        size_t slot;

        if (v.type == SL_T_NULL)
            continue;
        for (int k = disp_find(g, &v, &slot) - 1; k >= 0; k = g->qs[k].next) {
            disp_query *dq = &g->qs[k];
            if (dq->q->error)
                continue;
            if (dq->done < i)
                sl_query_skip(dq->q->query, i - dq->done, upto[i - 1]);
            push_row(dq->q, rows[i]);
            dq->done = i + 1;
        }
    }
    for (size_t k = 0; k < g->nq; k++) {
        disp_query *dq = &g->qs[k];
        if (!dq->q->error && dq->done < n)
            sl_query_skip(dq->q->query, n - dq->done, upto[n - 1]);
    }
}

/* Durable: the stream's state follows the log, and every live query on the stream sees
 * the request's rows, in order (through the stream's dispatch). */
static void ingest_publish(sl_instance *in, const sl_ingest_req *r)
{
    stream *s = find_stream(in, r->stream);
    dispatch *d = dispatch_get(in, s);

    s->next_offset = r->first_offset + r->n;
    s->last_arrival_ms = in->clock_ms(in->clock_ctx);
    s->idle_recorded = true; /* with the events, by store_run */
    if (r->max_rowtime > s->watermark)
        s->watermark = r->max_rowtime;
    in->row_ms = in->group_ms; /* their stored time */
    for (size_t qi = 0; qi < d->nplain; qi++)
        for (size_t i = 0; i < r->n && !d->plain[qi]->error; i++)
            push_row(d->plain[qi], r->rows[i]);
    if (d->ngroups > 0) {
        int64_t *upto = sl_xmalloc(r->n * sizeof(*upto));
        for (size_t i = 0; i < r->n; i++)
            upto[i] =
                i == 0 || r->rows[i]->rowtime > upto[i - 1] ? r->rows[i]->rowtime : upto[i - 1];
        for (size_t gi = 0; gi < d->ngroups; gi++)
            dispatch_group_rows(&d->groups[gi], r->rows, r->n, upto);
        free(upto);
    }
    in->row_ms = INT64_MIN;
    for (size_t qi = 0; qi < in->nqueries; qi++) {
        sl_live *q = in->queries[qi];
        if (strcmp(q->plan->source, s->schema->name) == 0)
            q->offset = s->next_offset;
    }
}

/* The group commit of sl_instance_ingest_group.  Returns 0, or -1 when the store failed
 * the group (nothing of it is stored; with alone, each request to be stored has rc -1
 * and that error instead). */
static int ingest_run(sl_instance *in, sl_ingest_req *const *reqs, size_t n, bool alone)
{
    size_t *pend = sl_xcalloc(n ? n : 1, sizeof(size_t)), npend = 0;
    bool *stored = sl_xcalloc(n ? n : 1, sizeof(bool));
    sl_error err;
    int rc = sl_store_group_begin(in->store, &err);

    in->group_ms = in->clock_ms(in->clock_ctx);

    if (rc < 0) {
        for (size_t i = 0; alone && i < n; i++) {
            reqs[i]->rc = -1;
            reqs[i]->err = err;
        }
        free(pend);
        free(stored);
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        sl_ingest_req *r = reqs[i];

        free(r->replay);
        r->replay = NULL;
        /* A repeat of a key pending in this group must see that request's record. */
        for (size_t j = 0; r->key && j < npend && rc == 0; j++) {
            const sl_ingest_req *p = reqs[pend[j]];
            if (p->key && strcmp(p->stream, r->stream) == 0 &&
                strcmp(p->key->key, r->key->key) == 0)
                rc = store_pending(in, reqs, pend, &npend, &err);
        }
        if (rc < 0)
            break;
        r->rc = ingest_check(in, r);
        if (r->rc == 0) {
            pend[npend++] = i;
            stored[i] = true;
        }
    }
    if (rc == 0)
        rc = store_pending(in, reqs, pend, &npend, &err);
    if (rc == 0)
        rc = sl_store_group_commit(in->store, &err);
    else
        sl_store_group_rollback(in->store);
    for (size_t i = 0; i < n; i++) {
        if (!stored[i])
            continue;
        if (rc == 0) {
            ingest_publish(in, reqs[i]);
        } else if (alone) {
            reqs[i]->rc = -1;
            reqs[i]->err = err;
        }
    }
    free(pend);
    free(stored);
    return rc;
}

void sl_instance_ingest_group(sl_instance *in, sl_ingest_req *const *reqs, size_t n)
{
    if (ingest_run(in, reqs, n, n == 1) == 0 || n == 1)
        return;
    for (size_t i = 0; i < n; i++)
        ingest_run(in, &reqs[i], 1, true);
}

int sl_instance_ingest_keyed(sl_instance *in, const char *stream_name, sl_row *const *rows,
                             size_t n, const sl_ingest_key *key, char **replay, sl_error *err)
{
    sl_ingest_req r = {.stream = stream_name, .rows = rows, .n = n, .key = key};
    sl_ingest_req *one = &r;

    sl_instance_ingest_group(in, &one, 1);
    if (replay) {
        *replay = r.replay;
        r.replay = NULL;
    }
    if (r.rc < 0)
        *err = r.err;
    sl_ingest_req_clear(&r);
    return r.rc;
}

/* --- Upkeep ------------------------------------------------------------------------- */

/* The oldest log offset of the stream that a restart of one of its running persistent
 * queries would replay from (its last checkpoint's, or its start without one);
 * UINT64_MAX when none would.  Retention keeps what lies past it, so that a restart
 * rebuilds what the query had.  Queries that cannot be checkpointed do not hold it back:
 * a restart replays what is kept (docs/guarantees.md). */
static uint64_t replay_floor(const sl_instance *in, const char *stream_name)
{
    uint64_t floor = UINT64_MAX;

    for (size_t i = 0; i < in->nqueries; i++) {
        const sl_live *q = in->queries[i];
        uint64_t from = q->has_ckpt ? q->ckpt_offset : q->start_offset;

        if (q->persistent && q->query && !q->ckpt_off &&
            strcmp(q->plan->source, stream_name) == 0 && from < floor)
            floor = from;
    }
    return floor;
}

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
        if (sl_store_retention_delete(in->store, s->schema->name, s->watermark - keep,
                                      replay_floor(in, s->schema->name), left, &n, &events,
                                      err) < 0)
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
    sink = (sl_sink){
        .ctx = b, .emit = batch_emit, .late = NULL, .clock_ms = row_clock, .clock_ctx = in};
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
        int64_t advance = sl_store_cursor_advance(b->cursor);
        if (sl_rowcodec_open(&rd, blob, len, err) < 0) {
            rc = -1;
            break;
        }
        /* The batches skipped for being out of the ROWTIME range still moved stream time
         * along as they arrived (a row after them may be late: batch equals continuous);
         * then the idle advances recorded in the log, as the continuous queries made
         * them, and the rows' stored time for UNIX_TIMESTAMP(). */
        int64_t skipped_max;
        uint64_t skipped = sl_store_cursor_skipped(b->cursor, &skipped_max);
        if (skipped > 0)
            sl_query_skip(b->query, skipped, skipped_max);
        if (advance != INT64_MIN)
            sl_query_advance(b->query, advance);
        b->in->row_ms = sl_store_cursor_stored_ms(b->cursor);
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
    b->in->row_ms = INT64_MIN;
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
    if (sl_store_stream_stats(lc->in->store, s->schema->name, &s->next_offset, &s->watermark,
                              lc->err) < 0)
        return -1;
    /* The last idle advance: queries restored make it when it came after the last event,
     * and the next one goes beyond it. */
    return sl_store_advance_last(lc->in->store, s->schema->name, &s->idle_at, &s->idle_to,
                                 lc->err) < 0
               ? -1
               : 0;
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
                      true, NULL, lc->err);
}

int sl_instance_open(const sl_instance_opts *opts, sl_instance **out, sl_error *err)
{
    sl_instance *in = sl_xcalloc(1, sizeof(sl_instance));
    load_ctx lc = {in, err};

    in->row_ms = INT64_MIN;

    in->catalog.ctx = in;
    in->catalog.lookup = catalog_lookup;
    in->catalog.zone_exists = sl_tz_exists;
    in->clock_ms = opts->clock_ms;
    in->clock_ctx = opts->clock_ctx;
    in->query_state_limit =
        opts->query_state_limit ? opts->query_state_limit : SL_DEFAULT_QUERY_STATE_LIMIT;
    in->checkpoint_interval_ms = opts->checkpoint_interval_ms > 0
                                     ? opts->checkpoint_interval_ms
                                     : SL_DEFAULT_CHECKPOINT_INTERVAL_MS;
    in->log = opts->log;
    in->log_ctx = opts->log_ctx;
    if (sl_store_open(opts->data_dir, opts->fsync, &in->store, err) < 0)
        goto fail;
    if (sl_ckptwriter_new(in->store, &in->ckw, err) < 0)
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
    /* A checkpoint being written is finished first. */
    sl_ckptwriter_free(in->ckw);
    sl_buf_free(&in->ckpt_spare);
    for (size_t i = 0; i < in->nqueries; i++)
        live_free(in->queries[i], SL_ERR_SHUTTING_DOWN, "the server is shutting down");
    free(in->queries);
    for (size_t i = 0; i < in->nstreams; i++) {
        sl_schema_free(in->streams[i].schema);
        dispatch_free(in->streams[i].disp);
        free(in->streams[i].ddl);
    }
    free(in->streams);
    sl_store_close(in->store);
    free(in);
}
