/* results.c: fan-out of live query changes to subscribers, NDJSON/SSE framing,
 * suspend/resume of idle streams, and streamed batch results.
 *
 * Invariants (all under the server lock):
 *   - a fan-out exists only while it has at least one subscriber and is registered as
 *     exactly one listener of its query; the registry never holds a query that has
 *     ended (on_close removes its fan-out);
 *   - a subscriber is attached to at most one fan-out; once closed it holds its last
 *     error line, is detached, and only drains;
 *   - sub->suspended is true exactly when the reader suspended the connection and
 *     nobody resumed it yet, so MHD_resume_connection is called once per suspend;
 *   - a closed subscriber is never suspended (its reader ends the response instead);
 *   - a replaying subscriber (?from=SEQ) is attached but skipped by the fan-out: its
 *     reader copies kept changes after sub->cursor into its buffer a block at a time
 *     as the client reads, and it goes live (replaying false) once it has every kept
 *     change, so a resumed client gets each seq once, however far behind it starts;
 *   - a snapshot (?snapshot=true) is streamed the same way: the subscriber replays with
 *     its cursor at the query's seq when it subscribed, and first copies the snapshot's
 *     rows as of that seq a block at a time (snapshotting, from position snap_pos),
 *     then the changes after it, so a snapshot of any size arrives whole.
 * Unsent bytes are out.data[off..len); off moves forward and the buffer is compacted
 * when the sent part dominates, so draining is linear. */
#include "results.h"

#include "json_out.h"
#include "mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Bytes MHD asks for at most per read. */
#define READ_BLOCK (64 * 1024)
/* Room reserved for framing around an encoded object when checking the bound. */
#define FRAME_SLACK 64

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

struct subscriber {
    sl_results *r;
    fanout *fo; /* NULL once detached */
    struct MHD_Connection *conn;
    sl_framing framing;
    sl_buf out;
    size_t off;
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
    sl_buf obj; /* scratch: one encoded change */
};

sl_results *sl_results_new(sl_instance *in, pthread_mutex_t *lock, size_t subscriber_buffer)
{
    sl_results *r = sl_xcalloc(1, sizeof(*r));

    r->in = in;
    r->lock = lock;
    r->limit = subscriber_buffer;
    return r;
}

void sl_results_free(sl_results *r)
{
    if (!r)
        return;
    sl_buf_free(&r->obj);
    free(r);
}

/* --- subscriber buffers -------------------------------------------------------------- */

static size_t pending(const sl_buf *out, size_t off)
{
    return out->len - off;
}

static void wake(subscriber *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Appends one framed object: NDJSON "obj\n", or SSE "event: ev\ndata: obj\n[id: seq\n]\n". */
static void frame(subscriber *s, const char *ev, const sl_buf *obj, uint64_t seq)
{
    if (s->framing == SL_FRAME_NDJSON) {
        sl_buf_append(&s->out, obj->data, obj->len);
        sl_buf_putc(&s->out, '\n');
        return;
    }
    sl_buf_printf(&s->out, "event: %s\ndata: ", ev);
    sl_buf_append(&s->out, obj->data, obj->len);
    if (seq)
        sl_buf_printf(&s->out, "\nid: %" PRIu64 "\n\n", seq);
    else
        sl_buf_puts(&s->out, "\n\n");
}

/* Queues the last line, an error, and marks the subscriber closed. */
static void close_with(subscriber *s, const sl_error *why)
{
    sl_buf obj = SL_BUF_INIT;

    if (s->closed)
        return;
    sl_json_error(&obj, why);
    frame(s, "error", &obj, 0);
    sl_buf_free(&obj);
    s->closed = true;
    wake(s);
}

/* Queues one change object, or closes the subscriber when it would pass its bound. */
static void push(subscriber *s, const char *ev, const sl_buf *obj, uint64_t seq)
{
    sl_error err;

    if (s->closed || s->replaying)
        return;
    if (pending(&s->out, s->off) + obj->len + FRAME_SLACK > s->r->limit) {
        sl_error_set(&err, SL_ERR_OVERLOADED, 0, 0, "subscriber too slow");
        close_with(s, &err);
        return;
    }
    frame(s, ev, obj, seq);
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

static void encode_change(sl_buf *obj, const sl_plan *plan, uint64_t seq, sl_change change,
                          const sl_row *row)
{
    sl_buf_reset(obj);
    sl_buf_puts(obj, "{\"seq\":");
    sl_json_uint(obj, seq);
    sl_buf_putc(obj, ',');
    if (change == SL_CHANGE_DELETE) {
        sl_buf_puts(obj, "\"delete\":");
        sl_json_row_key(obj, row, plan);
    } else {
        sl_buf_puts(obj, "\"row\":");
        sl_json_row(obj, row, plan->ncols, plan->cols);
    }
    sl_buf_putc(obj, '}');
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

    sl_buf_reset(obj);
    sl_buf_printf(obj, "{\"seq\":%" PRIu64 ",\"row\":", seq);
    sl_json_row(obj, row, src->ncols, src->cols);
    sl_buf_putc(obj, '}');
}

static const char *change_event(sl_change change)
{
    return change == SL_CHANGE_DELETE ? "delete" : "row";
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

/* The query's listener: encode once, append to every subscriber. */
static void on_change(void *ctx, uint64_t seq, sl_change change, const sl_row *row)
{
    fanout *fo = ctx;
    sl_buf *obj = &fo->r->obj;

    if (fo->late)
        encode_late(obj, fo->plan, seq, row);
    else
        encode_change(obj, fo->plan, seq, change, row);
    for (subscriber *s = fo->subs, *next; s; s = next) {
        next = s->next;
        push(s, change_event(change), obj, seq);
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
    sl_live_listener l;

    if (fo)
        return fo;
    fo = sl_xcalloc(1, sizeof(*fo));
    fo->r = r;
    fo->q = q;
    fo->plan = sl_live_plan(q);
    fo->late = late;
    l.ctx = fo;
    l.on_change = on_change;
    l.on_close = on_close;
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

static void encode_any(const replay_ctx *rc, sl_buf *obj, uint64_t seq, sl_change change,
                       const sl_row *row)
{
    if (rc->late)
        encode_late(obj, rc->plan, seq, row);
    else
        encode_change(obj, rc->plan, seq, change, row);
}

/* Queues one change of a replay or snapshot unless a block is queued already (then
 * rc->full is set); false when it was not queued. */
static bool queue_one(replay_ctx *rc, uint64_t seq, sl_change change, const sl_row *row)
{
    subscriber *s = rc->s;
    sl_buf *obj = &s->r->obj;
    sl_error err;

    if (rc->full || s->closed)
        return false;
    if (pending(&s->out, s->off) >= READ_BLOCK) {
        rc->full = true;
        return false;
    }
    encode_any(rc, obj, seq, change, row);
    if (pending(&s->out, s->off) + obj->len + FRAME_SLACK > s->r->limit) {
        if (pending(&s->out, s->off) == 0) {
            /* One change larger than the bound: it can never be sent. */
            sl_error_set(&err, SL_ERR_OVERLOADED, 0, 0, "subscriber too slow");
            close_with(s, &err);
        }
        rc->full = true;
        return false;
    }
    frame(s, change_event(change), obj, seq);
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

static ssize_t sub_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    subscriber *s = cls;
    sl_error err;
    ssize_t n;

    pthread_mutex_lock(s->r->lock);
    if (s->replaying && s->fo && !s->closed && pending(&s->out, s->off) < READ_BLOCK &&
        catch_up(s, &err) < 0)
        close_with(s, &err);
    if (pending(&s->out, s->off) > 0) {
        n = (ssize_t)drain(&s->out, &s->off, buf, max);
    } else if (s->closed || s->r->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (peer_closed(s->conn)) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        /* Nothing to send: park the connection until the fan-out or the heartbeat
         * resumes it (the pattern microhttpd.h prescribes; no polling). */
        MHD_suspend_connection(s->conn);
        s->suspended = true;
        n = 0;
    }
    pthread_mutex_unlock(s->r->lock);
    return n;
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
    free(s->owned_query);
    sl_buf_free(&s->out);
    free(s);
}

static void add_stream_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
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
    s = sl_xcalloc(1, sizeof(*s));
    s->r = r;
    s->conn = conn;
    s->framing = opts->framing;
    s->active = true;

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
    frame(s, "header", obj, 0);

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
        free(s->owned_query);
        s->owned_query = NULL;
        sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "cannot create a response");
        goto fail;
    }
    add_stream_headers(*out, opts->framing == SL_FRAME_SSE ? "text/event-stream"
                                                           : "application/x-ndjson");
    r->open++;
    return 0;
fail:
    sl_buf_free(&s->out);
    free(s);
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
            if (!s->active && !s->closed && pending(&s->out, s->off) == 0) {
                sl_buf_puts(&s->out, s->framing == SL_FRAME_SSE ? ": heartbeat\n\n" : "\n");
                wake(s);
            }
            s->active = false;
        }
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
