/* results.c: fan-out of live query changes to subscribers, NDJSON/SSE framing,
 * suspend/resume of idle streams, ?on_slow=coalesce, and streamed batch results.
 *
 * Threads.  The fan-out runs on the thread that pushes changes (the ingest committer),
 * under the server lock; each subscriber's content reader (sub_read) and free callback
 * run on the MHD thread that polls its connection.  The fan-out does not encode: it
 * queues a reference to the change the history keeps (sl_kept: the row in a block of
 * the history's arena, immutable, held with sl_kept_hold), and the reader takes a block
 * of references under the lock and encodes and frames them into its own buffer after
 * letting go of the lock, with the plan it holds a reference to (sl_live_plan_hold),
 * so neither the history dropping those changes nor the query ending invalidates them.
 *
 * A subscriber's bytes, in the order the client gets them:
 *   out[off..len)  encoded and framed, not yet handed to MHD: the reader's own (only
 *                  sub_read and sub_free touch it, on the connection's thread);
 *   pend           bytes queued under the lock: the header, replay and snapshot blocks,
 *                  late rows, heartbeats (only ever queued while refs is empty);
 *   refs           references to kept changes, and coalesced rows (their own copies);
 *   coal           with ?on_slow=coalesce, once the above passed the bound: the latest
 *                  change per key, moved to refs in seq order when the reader has sent
 *                  everything else;
 *   last           the final error line, sent once all of the above is.
 *
 * Invariants (under the server lock unless said otherwise):
 *   - a fan-out exists only while it has at least one subscriber and is registered as
 *     exactly one listener of its query; the registry never holds a query that has
 *     ended (on_close removes its fan-out);
 *   - a subscriber is attached to at most one fan-out; once closed it holds its last
 *     error line in last, is detached, and only drains;
 *   - the bound: pend, refs (each counted by its kept row's size) and the unsent part
 *     of out (unsent_out, which the reader stores after each read) never pass
 *     r->limit bytes together while the client's socket is full (twice that while it
 *     would take more: then the polling thread is behind, not the client; see
 *     past_bound), but for one change when all of it is empty; a change
 *     that would pass it closes the subscriber with OVERLOADED, or with coalesce
 *     starts coalescing: from then on each change replaces the entry of its key in coal
 *     (a delete too), itself bounded by r->limit bytes (row sizes plus the entry's),
 *     past which the subscriber is closed with OVERLOADED; when the reader has sent
 *     everything else it moves coal to refs in seq order and live changes queue
 *     behind them again, so seqs stay increasing, with gaps where changes coalesced;
 *   - sub->suspended is true exactly when the reader suspended the connection and
 *     nobody resumed it yet, so MHD_resume_connection is called once per suspend;
 *   - a closed subscriber is never suspended (its reader ends the response instead);
 *   - a replaying subscriber (?from=SEQ) is attached but skipped by the fan-out: its
 *     reader copies kept changes after sub->cursor into pend a block at a time as the
 *     client reads, and it goes live (replaying false) once it has every kept change,
 *     so a resumed client gets each seq once, however far behind it starts;
 *   - a snapshot (?snapshot=true) is streamed the same way: the subscriber replays with
 *     its cursor at the query's seq when it subscribed, and first copies the snapshot's
 *     rows as of that seq a block at a time (snapshotting, from position snap_pos),
 *     then the changes after it, so a snapshot of any size arrives whole;
 *   - the blocks of the kept changes in refs and take are held by the subscriber, one
 *     reference per block (see ref), released by the reader when it meets the next
 *     block's carrier, or by sub_free; a coalesced row in refs is owned by its ref and
 *     freed by the reader once encoded, or by sub_free.
 * Unsent bytes are out.data[off..len); off moves forward and the buffer is compacted
 * when the sent part dominates, so draining is linear. */
#include "results.h"

#include "json_out.h"
#include "mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Bytes MHD asks for at most per read. */
#define READ_BLOCK (64 * 1024)
/* Room reserved for framing around an encoded object when checking the bound. */
#define FRAME_SLACK 64
/* How often sl_results_wait_behind looks at the subscribers again, milliseconds. */
#define BEHIND_RECHECK_MS 5

typedef struct subscriber subscriber;
typedef struct fanout fanout;

struct fanout {
    sl_results *r;
    sl_live *q;
    const sl_plan *plan; /* borrowed from q */
    int handle;          /* of the listener registered with q */
    bool late;           /* fans out q's late rows, not its changes */
    subscriber *subs;    /* doubly linked through sub->next/prev */
    size_t nsubs;
    fanout *next, *prev;
};

/* A queued change: a kept one, its row in block, or, when block is NULL, a coalesced
 * row the reference owns.  A subscriber holds one reference per block, not per change:
 * the first queued change of each block carries it (carries), and the reader keeps it
 * (sub->held) until it meets the next carrier, since kept changes are queued in seq
 * order and blocks are filled in that order.  bytes is what it counts against the
 * bound. */
typedef struct ref {
    uint64_t seq;
    sl_change change;
    const sl_row *row;
    sl_kept_block *block;
    bool carries;
    size_t bytes;
} ref;

/* A coalesced change: the latest of its key (row owned). */
typedef struct coal_entry {
    uint64_t seq, hash;
    sl_change change;
    sl_row *row;
} coal_entry;

/* The coalesced set: entries, and slots mapping a key hash to an index + 1 (0 empty),
 * open addressing, at most half full. */
typedef struct coalesced {
    coal_entry *e;
    size_t len, cap;
    size_t *slots;
    size_t nslots;
    size_t bytes; /* counted against the bound */
} coalesced;

struct subscriber {
    sl_results *r;
    fanout *fo; /* NULL once detached */
    struct MHD_Connection *conn;
    sl_framing framing;
    sl_plan_ref *plan;   /* held for encoding on the reader's thread */
    sl_json_names names; /* of the plan's columns, encoded once */
    bool late;
    /* The reader's own (no lock). */
    sl_buf out;
    size_t off;
    ref *take; /* the references being encoded */
    size_t take_cap;
    sl_kept_block *held; /* the block of the last carrier encoded (held) */
    bool ended;          /* last was moved to out */
    /* Under the lock. */
    atomic_size_t unsent_out; /* out's unsent bytes, as of the reader's last read */
    sl_buf pend;
    ref *refs; /* a ring: refs[(ref_head + i) % ref_cap] */
    size_t ref_cap, ref_head, ref_len;
    /* The block of the last kept change queued: held by a carrier in refs or as held,
     * so it cannot be freed (nor its address reused) while it is named here. */
    sl_kept_block *held_tail;
    size_t queued; /* bytes of refs */
    bool coalesce; /* ?on_slow=coalesce */
    bool coalescing;
    coalesced coal;
    sl_buf last;
    bool suspended;
    bool closed;       /* the last line is queued: end after draining */
    bool active;       /* bytes were queued since the last heartbeat tick */
    bool replaying;    /* copying kept changes after cursor; the fan-out skips it */
    uint64_t cursor;   /* the last seq a replaying subscriber has queued */
    bool snapshotting; /* replaying, and first copying the snapshot as of cursor */
    uint64_t snap_pos; /* the snapshot position copied up to */
    char *owned_query; /* a transient query to drop when this subscriber goes */
    subscriber *next, *prev;
};

typedef struct batch_out {
    sl_results *r;
    sl_batch *b;
    bool ndjson;
    bool started, finished, any_row;
    sl_buf out;
    size_t off;
} batch_out;

struct sl_results {
    sl_instance *in;
    pthread_mutex_t *lock;
    size_t limit;
    bool closing;
    size_t open; /* responses not yet freed */
    fanout *fanouts;
    sl_buf obj; /* scratch (under the lock): one encoded object */
    /* sl_results_wait_behind: waiters, and the condition a reader signals when it
     * takes queued bytes while there are any. */
    unsigned waiting;
    pthread_cond_t taken;
};

sl_results *sl_results_new(sl_instance *in, pthread_mutex_t *lock, size_t subscriber_buffer)
{
    sl_results *r = sl_xcalloc(1, sizeof(*r));
    pthread_condattr_t ca;

    r->in = in;
    r->lock = lock;
    r->limit = subscriber_buffer;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->taken, &ca);
    pthread_condattr_destroy(&ca);
    return r;
}

void sl_results_free(sl_results *r)
{
    if (!r)
        return;
    sl_buf_free(&r->obj);
    pthread_cond_destroy(&r->taken);
    free(r);
}

/* --- subscriber buffers -------------------------------------------------------------- */

static size_t pending(const sl_buf *out, size_t off)
{
    return out->len - off;
}

/* Bytes counted against s's bound (under the lock). */
static size_t unsent(subscriber *s)
{
    return s->pend.len + s->queued + atomic_load_explicit(&s->unsent_out, memory_order_relaxed);
}

static void wake(subscriber *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Appends one framed object to b: NDJSON "obj\n", or SSE "event: ev\ndata:
 * obj\n[id: seq\n]\n". */
static void frame(sl_buf *b, sl_framing framing, const char *ev, const sl_buf *obj, uint64_t seq)
{
    if (framing == SL_FRAME_NDJSON) {
        sl_buf_append(b, obj->data, obj->len);
        sl_buf_putc(b, '\n');
        return;
    }
    sl_buf_printf(b, "event: %s\ndata: ", ev);
    sl_buf_append(b, obj->data, obj->len);
    if (seq)
        sl_buf_printf(b, "\nid: %" PRIu64 "\n\n", seq);
    else
        sl_buf_puts(b, "\n\n");
}

/* Drops every queued reference and coalesced row of s (any thread that owns them:
 * under the lock, or in sub_free). */
static void refs_clear(subscriber *s)
{
    for (size_t i = 0; i < s->ref_len; i++) {
        ref *f = &s->refs[(s->ref_head + i) % s->ref_cap];
        if (!f->block)
            sl_row_free((sl_row *)f->row);
        else if (f->carries)
            sl_kept_release(f->block);
    }
    s->ref_len = s->ref_head = 0;
    s->queued = 0;
}

static void coal_clear(coalesced *c)
{
    for (size_t i = 0; i < c->len; i++)
        sl_row_free(c->e[i].row);
    free(c->e);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

/* Appends a reference (taking over what it holds) to s's ring. */
static void ref_push(subscriber *s, const ref *f)
{
    if (s->ref_len == s->ref_cap) {
        size_t cap = s->ref_cap ? s->ref_cap * 2 : 64;
        ref *a = sl_xmalloc(cap * sizeof(ref));

        for (size_t i = 0; i < s->ref_len; i++)
            a[i] = s->refs[(s->ref_head + i) % s->ref_cap];
        free(s->refs);
        s->refs = a;
        s->ref_cap = cap;
        s->ref_head = 0;
    }
    s->refs[(s->ref_head + s->ref_len++) % s->ref_cap] = *f;
    s->queued += f->bytes;
}

/* --- coalescing -------------------------------------------------------------------- */

/* Bytes one coalesced entry counts: its row, the entry and its share of the slots. */
static size_t coal_bytes(const sl_row *row)
{
    return sl_row_bytes(row) + sizeof(coal_entry) + 2 * sizeof(size_t);
}

static void coal_rehash(coalesced *c)
{
    size_t n = c->nslots ? c->nslots * 2 : 64;

    free(c->slots);
    c->slots = sl_xcalloc(n, sizeof(size_t));
    c->nslots = n;
    for (size_t i = 0; i < c->len; i++) {
        size_t slot = (size_t)c->e[i].hash & (n - 1);
        while (c->slots[slot])
            slot = (slot + 1) & (n - 1);
        c->slots[slot] = i + 1;
    }
}

/* Keeps k as the latest change of its key in s's coalesced set; false when that would
 * pass the bound (nothing changed then). */
static bool coal_put(subscriber *s, const sl_plan *plan, const sl_kept *k)
{
    coalesced *c = &s->coal;
    uint64_t h = sl_row_key_hash(k->row, plan->keys, plan->nkeys);
    size_t add = coal_bytes(k->row);
    size_t slot;

    if ((c->len + 1) * 2 > c->nslots)
        coal_rehash(c);
    slot = (size_t)h & (c->nslots - 1);
    while (c->slots[slot]) {
        coal_entry *e = &c->e[c->slots[slot] - 1];
        if (e->hash == h && sl_row_same_key(e->row, k->row, plan->keys, plan->nkeys)) {
            size_t old = coal_bytes(e->row);
            if (c->bytes - old + add > s->r->limit)
                return false;
            sl_row_free(e->row);
            e->row = sl_row_copy(k->row);
            e->seq = k->seq;
            e->change = k->change;
            c->bytes = c->bytes - old + add;
            return true;
        }
        slot = (slot + 1) & (c->nslots - 1);
    }
    if (c->bytes + add > s->r->limit)
        return false;
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->e = sl_xrealloc(c->e, c->cap * sizeof(coal_entry));
    }
    c->e[c->len] = (coal_entry){k->seq, h, k->change, sl_row_copy(k->row)};
    c->slots[slot] = ++c->len;
    c->bytes += add;
    return true;
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const coal_entry *)a)->seq, y = ((const coal_entry *)b)->seq;

    return x < y ? -1 : x > y;
}

/* Moves the coalesced set to the end of refs in seq order (its rows with it) and stops
 * coalescing: live changes queue behind it again. */
static void coal_flush(subscriber *s)
{
    coalesced *c = &s->coal;

    if (c->len)
        qsort(c->e, c->len, sizeof(coal_entry), by_seq);
    for (size_t i = 0; i < c->len; i++) {
        ref f = {c->e[i].seq, c->e[i].change, c->e[i].row, NULL, false, sl_row_bytes(c->e[i].row)};
        ref_push(s, &f);
        c->e[i].row = NULL;
    }
    c->len = 0;
    coal_clear(c);
    s->coalescing = false;
}

/* Queues the last line, an error, and marks the subscriber closed.  The changes queued
 * before stay ahead of it; a coalesced set goes too, unless overflowing it is why. */
static void close_with(subscriber *s, const sl_error *why)
{
    sl_buf obj = SL_BUF_INIT;

    if (s->closed)
        return;
    if (s->coalescing) {
        if (why->code == SL_ERR_OVERLOADED)
            coal_clear(&s->coal);
        coal_flush(s);
    }
    sl_json_error(&obj, why);
    frame(&s->last, s->framing, "error", &obj, 0);
    sl_buf_free(&obj);
    s->closed = true;
    wake(s);
}

/* True when s's socket would take more bytes: its client reads what it gets. */
static bool socket_writable(subscriber *s)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd p = {.events = POLLOUT};

    if (!ci)
        return false;
    p.fd = ci->connect_fd;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLOUT | POLLERR | POLLHUP)) == POLLOUT;
}

/* True when add more unsent bytes would pass s's bound: r->limit once its client stops
 * taking bytes (its socket is full), twice that in any case.  Until its socket is full
 * the bytes wait on the thread polling its connection, which may be busy with others
 * (with several polling threads, ingest does not wait for it); the client is not too
 * slow then, and sl_results_wait_behind holds the next group commit back meanwhile. */
static bool past_bound(subscriber *s, size_t add)
{
    size_t n = unsent(s) + add;

    return n > s->r->limit && (n > 2 * s->r->limit || !socket_writable(s));
}

static void overloaded(subscriber *s)
{
    sl_error err;

    sl_error_set(&err, SL_ERR_OVERLOADED, 0, 0, "subscriber too slow");
    close_with(s, &err);
}

/* Queues one encoded object (a late row) in pend, or closes the subscriber when it
 * would pass its bound. */
static void push_bytes(subscriber *s, const char *ev, const sl_buf *obj, uint64_t seq)
{
    if (s->closed || s->replaying)
        return;
    if (past_bound(s, obj->len + FRAME_SLACK)) {
        overloaded(s);
        return;
    }
    frame(&s->pend, s->framing, ev, obj, seq);
    s->active = true;
    wake(s);
}

/* Queues a reference to the kept change k (bytes: its row's size), coalesces it, or
 * closes the subscriber when it would pass its bound. */
static void push_kept(subscriber *s, const sl_plan *plan, const sl_kept *k, size_t bytes)
{
    if (s->closed || s->replaying)
        return;
    if (!s->coalescing && past_bound(s, bytes + FRAME_SLACK)) {
        if (!s->coalesce) {
            overloaded(s);
            return;
        }
        s->coalescing = true;
        wake(s);
    }
    if (s->coalescing) {
        if (!coal_put(s, plan, k))
            overloaded(s);
        return;
    }
    ref f = {k->seq, k->change, k->row, k->block, k->block != s->held_tail, bytes};
    if (f.carries) {
        sl_kept_hold(k->block);
        s->held_tail = k->block;
    }
    ref_push(s, &f);
    s->active = true;
    wake(s);
}

/* True when the client of a result stream has gone: it never sends anything after its
 * request, so end-of-file (or an error) on a peek means it closed the connection.  MHD
 * cannot notice this while the connection is suspended, so the reader asks before
 * suspending (and the heartbeat makes it ask regularly). */
static bool peer_closed(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    ssize_t r;

    if (!ci)
        return false;
    r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Hands out up to max unsent bytes of out and compacts the buffer when worthwhile. */
static size_t drain(sl_buf *out, size_t *off, char *buf, size_t max)
{
    size_t n = pending(out, *off);

    if (n > max)
        n = max;
    memcpy(buf, out->data + *off, n);
    *off += n;
    if (*off == out->len) {
        sl_buf_reset(out);
        *off = 0;
    } else if (*off >= READ_BLOCK && *off * 2 >= out->len) {
        sl_buf_consume(out, *off);
        *off = 0;
    }
    return n;
}

/* --- encoding -------------------------------------------------------------------------- */

/* Appends {"seq":n,"row":{...}} or {"seq":n,"delete":{key}} to obj. */
/* names, when not NULL, are those of plan's columns. */
static void encode_change(sl_buf *obj, const sl_plan *plan, const sl_json_names *names,
                          uint64_t seq, sl_change change, const sl_row *row)
{
    static const char seq_key[] = "{\"seq\":", delete_key[] = ",\"delete\":",
                      row_key[] = ",\"row\":";

    sl_json_raw(obj, seq_key, sizeof(seq_key) - 1);
    sl_json_uint(obj, seq);
    if (change == SL_CHANGE_DELETE) {
        sl_json_raw(obj, delete_key, sizeof(delete_key) - 1);
        sl_json_row_key(obj, row, plan);
    } else {
        sl_json_raw(obj, row_key, sizeof(row_key) - 1);
        if (names)
            sl_json_row_named(obj, row, names);
        else
            sl_json_row(obj, row, plan->ncols, plan->cols);
    }
    sl_json_rawc(obj, '}');
}

static const char *change_event(sl_change change)
{
    return change == SL_CHANGE_DELETE ? "delete" : "row";
}

/* Encodes and frames one change straight into out (no scratch copy). */
static void frame_change(sl_buf *out, sl_framing framing, const sl_plan *plan,
                         const sl_json_names *names, const ref *f)
{
    if (framing == SL_FRAME_NDJSON) {
        encode_change(out, plan, names, f->seq, f->change, f->row);
        sl_json_rawc(out, '\n');
        return;
    }
    sl_buf_puts(out,
                f->change == SL_CHANGE_DELETE ? "event: delete\ndata: " : "event: row\ndata: ");
    encode_change(out, plan, names, f->seq, f->change, f->row);
    sl_buf_puts(out, "\nid: ");
    sl_json_uint(out, f->seq);
    sl_buf_puts(out, "\n\n");
}

/* The source node of plan (borrowed): the layout of late rows. */
static const sl_node *source_node(const sl_plan *plan)
{
    const sl_node *n = plan->root;

    while (n->input)
        n = n->input;
    return n;
}

/* A late row: {"seq":n,"row":{...}} in the source's layout. */
static void encode_late(sl_buf *obj, const sl_plan *plan, uint64_t seq, const sl_row *row)
{
    const sl_node *src = source_node(plan);

    sl_buf_printf(obj, "{\"seq\":%" PRIu64 ",\"row\":", seq);
    sl_json_row(obj, row, src->ncols, src->cols);
    sl_buf_putc(obj, '}');
}

/* --- fan-out ------------------------------------------------------------------------- */

static void detach(subscriber *s)
{
    fanout *fo = s->fo;

    if (!fo)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        fo->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->fo = NULL;
    fo->nsubs--;
}

static void fanout_unlink_free(fanout *fo)
{
    sl_results *r = fo->r;

    if (fo->prev)
        fo->prev->next = fo->next;
    else
        r->fanouts = fo->next;
    if (fo->next)
        fo->next->prev = fo->prev;
    free(fo);
}

/* The query's listener of changes: a reference to the kept change for every
 * subscriber; encoding is left to each subscriber's reader. */
static void on_kept(void *ctx, const sl_kept *k)
{
    fanout *fo = ctx;

    for (subscriber *s = fo->subs, *next; s; s = next) {
        next = s->next;
        push_kept(s, fo->plan, k, k->bytes);
    }
}

/* The listener of late rows: encoded once here, appended to every subscriber. */
static void on_late(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    fanout *fo = ctx;
    sl_buf *obj = &fo->r->obj;

    (void)change;
    sl_buf_reset(obj);
    encode_late(obj, fo->plan, seq, row);
    for (subscriber *s = fo->subs, *next; s; s = next) {
        next = s->next;
        push_bytes(s, "row", obj, seq);
    }
}

/* The query ended: every subscriber gets the reason as its last line. */
static void on_close(void *ctx, const sl_error *why)
{
    fanout *fo = ctx;

    while (fo->subs) {
        subscriber *s = fo->subs;
        detach(s);
        free(s->owned_query);
        s->owned_query = NULL;
        close_with(s, why);
    }
    fanout_unlink_free(fo);
}

static fanout *fanout_find(const sl_results *r, const sl_live *q, bool late)
{
    for (fanout *fo = r->fanouts; fo; fo = fo->next)
        if (fo->q == q && fo->late == late)
            return fo;
    return NULL;
}

static fanout *fanout_get(sl_results *r, sl_live *q, bool late, sl_error *err)
{
    fanout *fo = fanout_find(r, q, late);
    sl_live_listener l = {0};

    if (fo)
        return fo;
    fo = sl_xcalloc(1, sizeof(*fo));
    fo->r = r;
    fo->q = q;
    fo->plan = sl_live_plan(q);
    fo->late = late;
    l.ctx = fo;
    l.on_close = on_close;
    if (late)
        l.on_change = on_late;
    else
        l.on_kept = on_kept;
    fo->handle = late ? sl_live_listen_late(q, &l) : sl_live_listen(q, &l);
    if (fo->handle < 0) {
        free(fo);
        sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "cannot listen to query %s", sl_live_id(q));
        return NULL;
    }
    fo->next = r->fanouts;
    if (fo->next)
        fo->next->prev = fo;
    r->fanouts = fo;
    return fo;
}

static void attach(fanout *fo, subscriber *s)
{
    s->fo = fo;
    s->prev = NULL;
    s->next = fo->subs;
    if (fo->subs)
        fo->subs->prev = s;
    fo->subs = s;
    fo->nsubs++;
}

/* Leaves the fan-out, releasing it (and its listener) with its last subscriber. */
static void leave(subscriber *s)
{
    fanout *fo = s->fo;

    if (!fo)
        return;
    detach(s);
    if (fo->nsubs == 0) {
        sl_live_unlisten(fo->q, fo->handle);
        fanout_unlink_free(fo);
    }
}

/* --- subscriber responses ---------------------------------------------------------- */

/* Replay and snapshot callback: one change to one subscriber. */
typedef struct replay_ctx {
    subscriber *s;
    const sl_plan *plan;
    bool late;
    bool full; /* catch_up: the block is queued, ignore the remaining changes */
} replay_ctx;

/* Queues one change of a replay or snapshot in pend unless a block is queued already
 * (then rc->full is set); false when it was not queued. */
static bool queue_one(replay_ctx *rc, uint64_t seq, sl_change change, const sl_row *row)
{
    subscriber *s = rc->s;
    sl_buf *obj = &s->r->obj;

    if (rc->full || s->closed)
        return false;
    if (unsent(s) >= READ_BLOCK) {
        rc->full = true;
        return false;
    }
    sl_buf_reset(obj);
    if (rc->late)
        encode_late(obj, rc->plan, seq, row);
    else
        encode_change(obj, rc->plan, NULL, seq, change, row);
    if (unsent(s) + obj->len + FRAME_SLACK > s->r->limit) {
        if (unsent(s) == 0)
            overloaded(s); /* One change larger than the bound: it can never be sent. */
        rc->full = true;
        return false;
    }
    frame(&s->pend, s->framing, rc->late ? "row" : change_event(change), obj, seq);
    return true;
}

/* catch_up's callback: queues kept changes after the cursor until a block is queued. */
static void catch_up_one(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    replay_ctx *rc = ctx;

    if (queue_one(rc, seq, change, row))
        rc->s->cursor = seq;
}

/* The snapshot's callback: queues one current row until a block is queued; false when
 * the row is not taken.  The cursor stays at the seq the snapshot is as of. */
static bool snapshot_take(void *ctx, uint64_t seq, const sl_row *row)
{
    return queue_one(ctx, seq, SL_CHANGE_UPSERT, row);
}

/* Queues the next block of a replaying subscriber (borrowed): of the snapshot first when
 * it is snapshotting, then of the kept changes after its cursor; it goes live when it
 * has them all.  Fails (GONE) when the changes after its cursor are no longer kept: the
 * client fell further behind than the kept output. */
static int catch_up(subscriber *s, sl_error *err)
{
    replay_ctx rc = {.s = s, .plan = s->fo->plan, .late = s->fo->late};
    int ret;

    if (s->snapshotting) {
        bool done = sl_live_snapshot_step(s->fo->q, &s->snap_pos, s->cursor, snapshot_take, &rc);

        s->active = true;
        if (!done)
            return 0;
        s->snapshotting = false;
    }
    ret = (rc.late ? sl_live_replay_late : sl_live_replay)(s->fo->q, s->cursor, catch_up_one, &rc,
                                                           err);
    if (ret < 0)
        return ret;
    if (!rc.full)
        s->replaying = false;
    s->active = true;
    return 0;
}

/* Under the lock: moves what is queued for s towards its reader, in order: pend into
 * out, then up to a block of references into s->take (returns how many; the reader
 * encodes them after the lock), then, when everything else is out, the coalesced set
 * into refs, and last once nothing is left ahead of it. */
static size_t take_queued(subscriber *s)
{
    size_t n = 0, bytes = 0;

    if (s->pend.len) {
        sl_buf_append(&s->out, s->pend.data, s->pend.len);
        sl_buf_reset(&s->pend);
    }
    if (s->coalescing && s->ref_len == 0 && pending(&s->out, s->off) == 0)
        coal_flush(s);
    while (s->ref_len && bytes < READ_BLOCK) {
        ref *f = &s->refs[s->ref_head];

        if (n == s->take_cap) {
            s->take_cap = s->take_cap ? s->take_cap * 2 : 64;
            s->take = sl_xrealloc(s->take, s->take_cap * sizeof(ref));
        }
        s->take[n++] = *f;
        bytes += f->bytes;
        s->queued -= f->bytes;
        s->ref_head = (s->ref_head + 1) % s->ref_cap;
        s->ref_len--;
    }
    if (n == 0 && s->closed && !s->ended && s->ref_len == 0) {
        sl_buf_append(&s->out, s->last.data, s->last.len);
        s->ended = true;
    }
    return n;
}

static ssize_t sub_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    subscriber *s = cls;
    sl_error err;
    size_t n = 0;

    (void)pos;
    /* Less than half a block left to send: take more, so that MHD gets full blocks. */
    if (pending(&s->out, s->off) < READ_BLOCK / 2) {
        pthread_mutex_lock(s->r->lock);
        if (s->replaying && s->fo && !s->closed && unsent(s) < READ_BLOCK && catch_up(s, &err) < 0)
            close_with(s, &err);
        n = take_queued(s);
        if (s->r->waiting)
            pthread_cond_broadcast(&s->r->taken);
        if (n == 0 && pending(&s->out, s->off) == 0) {
            ssize_t ret;

            if (s->ended || s->r->closing || peer_closed(s->conn)) {
                /* The stream is over: it stops counting as a subscriber before its
                 * client can see the end (MHD frees it later, on its own time). */
                ret = s->ended || s->r->closing ? MHD_CONTENT_READER_END_OF_STREAM
                                                : MHD_CONTENT_READER_END_WITH_ERROR;
                leave(s);
            } else {
                /* Nothing to send: park the connection until the fan-out or the
                 * heartbeat resumes it (the pattern microhttpd.h prescribes; no
                 * polling). */
                MHD_suspend_connection(s->conn);
                s->suspended = true;
                ret = 0;
            }
            pthread_mutex_unlock(s->r->lock);
            return ret;
        }
        pthread_mutex_unlock(s->r->lock);
    }
    /* Outside the lock: the taken references are immutable rows this subscriber holds,
     * and the plan is its own reference. */
    if (n) {
        const sl_plan *plan = sl_plan_ref_plan(s->plan);

        for (size_t i = 0; i < n; i++) {
            const ref *f = &s->take[i];

            if (f->carries) {
                /* Every change of the held block is encoded: it comes before. */
                sl_kept_release(s->held);
                s->held = f->block;
            }
            frame_change(&s->out, s->framing, plan, &s->names, f);
            if (!f->block)
                sl_row_free((sl_row *)f->row);
        }
    }
    n = drain(&s->out, &s->off, buf, max);
    atomic_store_explicit(&s->unsent_out, pending(&s->out, s->off), memory_order_relaxed);
    return (ssize_t)n;
}

static void sub_free(void *cls)
{
    subscriber *s = cls;
    sl_results *r = s->r;
    sl_error err;

    pthread_mutex_lock(r->lock);
    leave(s);
    if (s->owned_query)
        sl_instance_query_drop(r->in, s->owned_query, &err);
    r->open--;
    pthread_mutex_unlock(r->lock);
    /* Detached: nothing else reaches s any more. */
    refs_clear(s);
    sl_kept_release(s->held);
    coal_clear(&s->coal);
    sl_json_names_free(&s->names);
    sl_plan_ref_release(s->plan);
    free(s->refs);
    free(s->take);
    free(s->owned_query);
    sl_buf_free(&s->out);
    sl_buf_free(&s->pend);
    sl_buf_free(&s->last);
    free(s);
}

static void add_stream_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
}

/* Frees a subscriber that never got a response (under the lock, detached). */
static void sub_discard(subscriber *s)
{
    refs_clear(s);
    coal_clear(&s->coal);
    sl_json_names_free(&s->names);
    sl_plan_ref_release(s->plan);
    free(s->refs);
    free(s->owned_query);
    sl_buf_free(&s->out);
    sl_buf_free(&s->pend);
    sl_buf_free(&s->last);
    free(s);
}

int sl_results_subscribe(sl_results *r, struct MHD_Connection *conn, sl_live *q,
                         const sl_subscribe_opts *opts, struct MHD_Response **out, sl_error *err)
{
    const sl_plan *plan = sl_live_plan(q);
    subscriber *s;
    fanout *fo;
    sl_buf *obj = &r->obj;

    *out = NULL;
    if (r->closing)
        return sl_error_set(err, SL_ERR_SHUTTING_DOWN, 0, 0, "the server is shutting down");
    if (opts->coalesce && (opts->late || plan->nkeys == 0))
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                            "on_slow=coalesce needs a query whose rows have a key (GROUP BY): "
                            "every %s of query '%s' is distinct, so none can replace another",
                            opts->late ? "late row" : "row", sl_live_id(q));
    s = sl_xcalloc(1, sizeof(*s));
    s->r = r;
    s->conn = conn;
    s->framing = opts->framing;
    s->late = opts->late;
    s->coalesce = opts->coalesce;
    s->active = true;
    s->plan = sl_live_plan_hold(q);
    sl_json_names_init(&s->names, plan->ncols, plan->cols);
    atomic_init(&s->unsent_out, 0);

    sl_buf_reset(obj);
    sl_buf_puts(obj, "{\"header\":{\"query\":");
    sl_json_cstr(obj, sl_live_id(q));
    sl_buf_puts(obj, ",\"columns\":");
    if (opts->late) {
        sl_json_out_columns(obj, source_node(plan)->ncols, source_node(plan)->cols);
        sl_buf_puts(obj, ",\"late\":true");
    } else {
        sl_json_out_columns(obj, plan->ncols, plan->cols);
        sl_buf_puts(obj, ",\"key\":");
        sl_json_key_names(obj, plan);
    }
    sl_buf_puts(obj, "}}");
    frame(&s->pend, s->framing, "header", obj, 0);

    fo = fanout_get(r, q, opts->late, err);
    if (!fo)
        goto fail;
    attach(fo, s);
    if (opts->has_from || (opts->snapshot && !opts->late)) {
        /* The first block now, so that a GONE is the answer's status; the rest as the
         * client reads.  A snapshot is the state as of the query's seq now, then the
         * changes after it. */
        sl_live_stats st;

        sl_live_stats_get(q, &st);
        s->replaying = true;
        s->snapshotting = !opts->has_from;
        s->cursor = opts->has_from ? opts->from_seq : st.seq;
        if (catch_up(s, err) < 0) {
            leave(s);
            goto fail;
        }
    }
    if (opts->owns_query)
        s->owned_query = sl_xstrdup(sl_live_id(q));
    *out = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, sub_read, s, sub_free);
    if (!*out) {
        leave(s);
        sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "cannot create a response");
        goto fail;
    }
    add_stream_headers(*out, opts->framing == SL_FRAME_SSE ? "text/event-stream"
                                                           : "application/x-ndjson");
    r->open++;
    return 0;
fail:
    sub_discard(s);
    return -1;
}

size_t sl_results_subscribers(const sl_results *r, const sl_live *q)
{
    const fanout *fo = fanout_find(r, q, false);

    return fo ? fo->nsubs : 0;
}

void sl_results_heartbeat(sl_results *r)
{
    for (fanout *fo = r->fanouts; fo; fo = fo->next) {
        for (subscriber *s = fo->subs; s; s = s->next) {
            if (!s->active && !s->closed && unsent(s) == 0 && !s->coalescing) {
                sl_buf_puts(&s->pend, s->framing == SL_FRAME_SSE ? ": heartbeat\n\n" : "\n");
                wake(s);
            }
            s->active = false;
        }
    }
}

/* True when s is more than half its bound behind although its client reads what it
 * gets: its connection is not parked and its socket would take more bytes, so only a
 * polling thread that has not come round to it yet holds its bytes back (a client
 * that stops reading fills its socket and is not behind in this sense). */
static bool behind(subscriber *s)
{
    return !s->closed && !s->replaying && !s->coalesce && !s->suspended &&
           unsent(s) > s->r->limit / 2 && socket_writable(s);
}

static bool any_behind(const sl_results *r)
{
    for (const fanout *fo = r->fanouts; fo; fo = fo->next)
        for (subscriber *s = fo->subs; s; s = s->next)
            if (behind(s))
                return true;
    return false;
}

/* ts plus ms milliseconds. */
static struct timespec after_ms(struct timespec ts, unsigned ms)
{
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

bool sl_results_wait_behind(sl_results *r, unsigned max_ms)
{
    struct timespec now, deadline, until;

    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = after_ms(now, max_ms);
    for (;;) {
        if (r->closing || !any_behind(r))
            return true;
        if (!before(&now, &deadline))
            return false;
        /* A reader signals when it takes queued bytes; a client that stops reading
         * meanwhile (its socket fills, its reader is not called) or goes signals
         * nothing, so the subscribers are looked at again every BEHIND_RECHECK_MS. */
        until = after_ms(now, BEHIND_RECHECK_MS);
        if (before(&deadline, &until))
            until = deadline;
        r->waiting++;
        pthread_cond_timedwait(&r->taken, r->lock, &until);
        r->waiting--;
        clock_gettime(CLOCK_MONOTONIC, &now);
    }
}

void sl_results_close_all(sl_results *r, const sl_error *why)
{
    r->closing = true;
    while (r->fanouts) {
        fanout *fo = r->fanouts;
        while (fo->subs) {
            subscriber *s = fo->subs;
            detach(s);
            close_with(s, why);
        }
        sl_live_unlisten(fo->q, fo->handle);
        fanout_unlink_free(fo);
    }
}

size_t sl_results_open(const sl_results *r)
{
    return r->open;
}

/* --- batch responses ----------------------------------------------------------------- */

static void batch_row(void *ctx, const sl_row *row)
{
    batch_out *bo = ctx;
    const sl_plan *plan = sl_batch_plan(bo->b);

    if (bo->ndjson) {
        sl_buf_puts(&bo->out, "{\"row\":");
        sl_json_row(&bo->out, row, plan->ncols, plan->cols);
        sl_buf_puts(&bo->out, "}\n");
        return;
    }
    if (bo->any_row)
        sl_buf_putc(&bo->out, ',');
    sl_json_row(&bo->out, row, plan->ncols, plan->cols);
    bo->any_row = true;
}

/* Runs steps until max bytes are ready or the run is over. */
static void batch_fill(batch_out *bo, size_t max)
{
    const sl_plan *plan = sl_batch_plan(bo->b);
    sl_error err;

    if (!bo->started) {
        bo->started = true;
        sl_buf_puts(&bo->out, bo->ndjson ? "{\"header\":{\"columns\":" : "{\"columns\":");
        sl_json_out_columns(&bo->out, plan->ncols, plan->cols);
        sl_buf_puts(&bo->out, bo->ndjson ? "}}\n" : ",\"rows\":[");
    }
    while (!bo->finished && pending(&bo->out, bo->off) < max) {
        sl_error_clear(&err);
        int rc = sl_batch_step(bo->b, batch_row, bo, &err);
        if (rc > 0)
            continue;
        bo->finished = true;
        if (rc == 0) {
            if (!bo->ndjson)
                sl_buf_puts(&bo->out, "]}");
        } else if (bo->ndjson) {
            sl_json_error(&bo->out, &err);
            sl_buf_putc(&bo->out, '\n');
        } else {
            sl_buf_puts(&bo->out, "],\"error\":{");
            sl_json_error_members(&bo->out, &err);
            sl_buf_puts(&bo->out, "}}");
        }
    }
}

static ssize_t batch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    batch_out *bo = cls;
    ssize_t n;

    pthread_mutex_lock(bo->r->lock);
    batch_fill(bo, max);
    if (pending(&bo->out, bo->off) > 0)
        n = (ssize_t)drain(&bo->out, &bo->off, buf, max);
    else
        n = MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_unlock(bo->r->lock);
    return n;
}

static void batch_free(void *cls)
{
    batch_out *bo = cls;

    pthread_mutex_lock(bo->r->lock);
    sl_batch_free(bo->b);
    bo->r->open--;
    pthread_mutex_unlock(bo->r->lock);
    sl_buf_free(&bo->out);
    free(bo);
}

int sl_results_batch(sl_results *r, sl_batch *b, bool ndjson, struct MHD_Response **out,
                     sl_error *err)
{
    batch_out *bo = sl_xcalloc(1, sizeof(*bo));

    bo->r = r;
    bo->b = b;
    bo->ndjson = ndjson;
    *out =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, batch_read, bo, batch_free);
    if (!*out) {
        sl_batch_free(b);
        free(bo);
        return sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "cannot create a response");
    }
    add_stream_headers(*out, ndjson ? "application/x-ndjson" : "application/json");
    r->open++;
    return 0;
}
