/* results.h: result streams over HTTP: subscribers of live queries and batch results.
 *
 * A live query is computed once.  The first subscriber of a query registers one
 * listener with it (a fan-out); for every change the fan-out queues, for each
 * subscriber, a reference to the copy the query keeps for ?from=SEQ, without encoding
 * it.  A subscriber is one chunked response (NDJSON, or Server-Sent Events) whose
 * content reader, on the thread polling its connection, takes those references a block
 * at a time and encodes and frames them outside the server lock; when nothing is
 * queued the reader suspends the connection, and the fan-out resumes it when a change
 * arrives, so an idle stream costs no CPU.  A subscriber whose unsent bytes (queued
 * references counted by their rows' size, encoded bytes by their length) would pass its
 * bound gets a final OVERLOADED error line and is closed, or, with ?on_slow=coalesce,
 * from then on keeps only the latest change per key (itself bounded by the same number
 * of bytes) until it has sent the rest, then gets those in seq order.  A ?from=SEQ
 * replay or a snapshot is copied a block at a time as the client reads, so it is not
 * limited by that bound.  When the query ends (dropped, or the server stops) each
 * subscriber gets a final error line and the response ends.  The subscriber is freed
 * with its response (MHD's free callback), and the fan-out when its last subscriber
 * goes.
 *
 * Locking: every function here except sl_results_new/_free must be called with the
 * server lock held; the content readers and free callbacks run on MHD's threads and
 * take the lock themselves (not while encoding). */
#ifndef SL_RESULTS_H
#define SL_RESULTS_H

#include "error.h"
#include "instance.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_results sl_results;

typedef enum sl_framing { SL_FRAME_NDJSON, SL_FRAME_SSE } sl_framing;

typedef struct sl_subscribe_opts {
    sl_framing framing;
    bool snapshot; /* send the current row of every key first */
    bool has_from; /* replay the kept changes after from_seq first (wins over snapshot) */
    uint64_t from_seq;
    bool owns_query; /* a transient push query: dropped when this subscriber goes */
    bool late;       /* the query's late rows (GET .../late) instead of its changes: the
                        header names the source's columns, each line is {"seq","row"} */
    bool coalesce;   /* ?on_slow=coalesce: past the bound keep the latest change per key
                        (BAD_REQUEST for a query without a key, and for late rows) */
} sl_subscribe_opts;

/* A registry for one server.  in and lock are borrowed and must outlive it;
 * subscriber_buffer bounds each subscriber's unsent bytes.  Caller frees with
 * sl_results_free once MHD is stopped (no response refers to it any more). */
sl_results *sl_results_new(sl_instance *in, pthread_mutex_t *lock, size_t subscriber_buffer);
/* Accepts NULL. */
void sl_results_free(sl_results *r);

/* Makes the result-stream response of q for conn: the header, then the replay or the
 * snapshot when asked, then live changes.  GONE when from_seq is older than what is
 * kept, SHUTTING_DOWN once the server is closing, BAD_REQUEST for coalesce without a
 * key; nothing is created then.  On success
 * *out is a new response the caller queues and destroys. */
int sl_results_subscribe(sl_results *r, struct MHD_Connection *conn, sl_live *q,
                         const sl_subscribe_opts *opts, struct MHD_Response **out, sl_error *err);

/* Subscribers currently attached to q's changes (late-row streams not counted). */
size_t sl_results_subscribers(const sl_results *r, const sl_live *q);

/* Sends a heartbeat to every subscriber to which nothing was sent since the previous
 * call, resuming its connection. */
void sl_results_heartbeat(sl_results *r);

/* Waits (releasing the server lock) while a subscriber whose client reads what it gets
 * is more than half its bound behind, because the thread polling its connection has
 * not come round to it yet; at most max_ms.  The ingest committer calls it before
 * storing a group, so that the server's own threads falling behind slows ingest down
 * instead of cutting off clients that keep up (a client that stops reading fills its
 * socket and is cut off at its bound as before: it never holds ingest up).  Returns
 * true when no such subscriber is behind any more, false when max_ms ran out first
 * (with max_ms 0 it only looks). */
bool sl_results_wait_behind(sl_results *r, unsigned max_ms);

/* Ends every result stream with a last {"error":...} line (why), detaches every
 * fan-out, and refuses new subscribers from now on. */
void sl_results_close_all(sl_results *r, const sl_error *why);

/* Result-stream and batch responses not yet freed by MHD. */
size_t sl_results_open(const sl_results *r);

/* Makes the streamed response of a batch run (takes ownership of b): JSON
 * {"columns":[...],"rows":[...]} or, with ndjson, a header line then {"row":...} lines.
 * Rows are produced with sl_batch_step as the client reads; an error after the start
 * ends the body with an "error" member (JSON) or line (NDJSON).  On success *out is a
 * new response the caller queues and destroys; on failure b is freed. */
int sl_results_batch(sl_results *r, sl_batch *b, bool ndjson, struct MHD_Response **out,
                     sl_error *err);

#endif
