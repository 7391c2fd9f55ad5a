/* http.c: the HTTP API on libmicrohttpd: daemon, routing, request bodies, auth, JSON
 * answers and errors, the dashboard, metrics, and the heartbeat thread.
 *
 * A request goes through MHD's access handler several times.  The first call routes it
 * (path, method, auth) and answers at once what needs no body: errors, GETs, and a
 * Content-Length beyond --max-body.  Body chunks are then accumulated in the request's
 * sl_buf (bounded by --max-body, also for chunked bodies).  The request is processed as
 * soon as the whole body is there (with a Content-Length, in the call that delivers the
 * last byte, so a client that vanishes right after sending does not lose its events),
 * and the answer is queued in the final call.
 *
 * Invariants: every answer is JSON with the status sl_error_http_status gives its code
 * (except the dashboard, metrics and result streams); every call into the instance and
 * into results.c happens with h->lock held; nothing user-sized is read without a bound. */
#include "http.h"

#include "ingest.h"
#include "json_in.h"
#include "json_out.h"
#include "limits.h"
#include "listener.h"
#include "mem.h"
#include "results.h"
#include "sha256.h"
#include "web_assets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Seconds without progress after which MHD closes a connection. */
#define CONNECTION_TIMEOUT_S 60
/* Largest dashboard file served from --web-root. */
#define MAX_ASSET_BYTES (16 * 1024 * 1024)
/* Largest result a SELECT in POST /v1/statements may collect (POST /v1/query streams). */
#define MAX_STATEMENT_RESULT (64 * 1024 * 1024)
/* Bytes of a chunked body past --max-body read and discarded (to answer 413) before the
 * connection is closed instead. */
#define MAX_DISCARD (16 * 1024 * 1024)
/* Background upkeep (retention, idempotency expiry, sl_instance_maintain): every
 * MAINTAIN_PERIOD_MS, up to MAINTAIN_ROUNDS rounds of at most MAINTAIN_STEP deletions,
 * the lock released between rounds so that ingest is never held up for long. */
#define MAINTAIN_PERIOD_MS 1000
#define MAINTAIN_STEP 64
#define MAINTAIN_ROUNDS 32
/* Longest a group commit waits for result streams the polling threads fell behind on
 * (sl_results_wait_behind). */
#define PACE_MAX_MS 1000
/* How long sl_http_stop lets result streams deliver their last line. */
#define DRAIN_MS 2000

struct sl_http {
    sl_listener *listener; /* the listening socket and the polling threads */
    sl_instance *in;
    sl_results *results;
    pthread_mutex_t lock;
    pthread_cond_t tick;
    pthread_t heartbeat, maintainer;
    bool heartbeat_started, maintainer_started, stopping;
    char *token;
    char *tls_cert, *tls_key;
    char *web_root;
    size_t max_body;
    /* Bounded ingest: POST bodies admitted (being received or processed) and the bytes
     * they hold or have reserved, against their limits; under pending_lock (its own, so
     * that taking a body in never waits for a commit). */
    pthread_mutex_t pending_lock;
    unsigned max_pending_bodies, pending_bodies;
    size_t max_pending_bytes, pending_bytes;
    uint64_t rejected_busy; /* answers 429 since start, for /metrics */
    unsigned max_connections;
    unsigned heartbeat_ms;
    sl_ingest *ingest; /* decoding and group commit of POST .../events */
};

typedef enum route {
    R_NONE,
    R_HEALTH,
    R_ASSET,
    R_METRICS,
    R_STATEMENTS,
    R_QUERY,
    R_QUERIES,
    R_QUERY_ONE,
    R_RESULTS,
    R_LATE,
    R_STREAMS,
    R_STREAM_ONE,
    R_EVENTS
} route;

typedef struct request {
    route route;
    char *arg; /* the {name} or {id} of the path */
    bool has_length;
    uint64_t length; /* Content-Length */
    sl_buf body;
    uint64_t dropped; /* bytes discarded after the body passed --max-body */
    bool too_large;
    bool busy;       /* refused with 429: past the pending-body limits */
    bool admitted;   /* counts against the pending-body limits */
    size_t reserved; /* bytes counted in h->pending_bytes */
    bool processed;
    bool queued; /* an answer went to MHD already */
    unsigned status;
    struct MHD_Response *resp; /* the answer, queued in the final call */
    bool ingesting;            /* job is with the ingest pipeline, not answered yet */
    char *idem_key;            /* a copy of its Idempotency-Key, which job borrows */
    sl_ingest_job job;
} request;

/* --- logging ------------------------------------------------------------------------ */

static sl_log_level log_level = SL_LOG_INFO;

void sl_log_set_level(sl_log_level level)
{
    log_level = level;
}

void sl_log(sl_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "sluice: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

/* MHD's messages (they end with a newline) go to stderr at debug level: once running
 * they mostly report clients that went away, and a failure to start is reported by
 * sl_http_start's caller in one line of its own. */
static void __attribute__((format(printf, 2, 0))) mhd_logger(void *cls, const char *fmt, va_list ap)
{
    if (log_level < SL_LOG_DEBUG)
        return;
    flockfile(stderr);
    fputs("sluice: debug: ", stderr);
    vfprintf(stderr, fmt, ap);
    funlockfile(stderr);
}

/* --- responses ----------------------------------------------------------------------- */

/* A response holding b's bytes (takes them; b is left empty). */
static struct MHD_Response *buf_response(sl_buf *b, const char *type)
{
    size_t len = b->len;
    char *data = sl_buf_steal(b);
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer(len, data ? data : "",
                                           data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(data);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return resp;
}

static void set_json(request *req, unsigned status, sl_buf *b)
{
    if (req->resp)
        MHD_destroy_response(req->resp);
    req->status = status;
    req->resp = buf_response(b, "application/json");
}

static void set_error(request *req, const sl_error *err)
{
    sl_buf b = SL_BUF_INIT;

    sl_json_error(&b, err);
    set_json(req, (unsigned)sl_error_http_status(err->code), &b);
    if (!req->resp)
        return;
    if (err->code == SL_ERR_UNAUTHORIZED)
        MHD_add_response_header(req->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"sluice\"");
    if (err->code == SL_ERR_TOO_MANY_REQUESTS)
        MHD_add_response_header(req->resp, MHD_HTTP_HEADER_RETRY_AFTER, SL_RETRY_AFTER_S);
}

static void __attribute__((format(printf, 3, 4)))
fail_with(request *req, sl_errcode code, const char *fmt, ...)
{
    sl_error err;
    va_list ap;

    va_start(ap, fmt);
    sl_error_setv(&err, code, 0, 0, fmt, ap);
    va_end(ap);
    set_error(req, &err);
}

static void method_not_allowed(request *req, const char *allow)
{
    fail_with(req, SL_ERR_METHOD_NOT_ALLOWED, "method not allowed here; allowed: %s", allow);
    if (req->resp)
        MHD_add_response_header(req->resp, MHD_HTTP_HEADER_ALLOW, allow);
}

/* --- request helpers ---------------------------------------------------------------- */

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* True when the header's value mentions the media type (case-insensitive). */
static bool header_has(struct MHD_Connection *conn, const char *name, const char *type)
{
    const char *v = header(conn, name);

    return v && strcasestr(v, type) != NULL;
}

/* Parses a decimal uint64; false unless s is all digits and fits. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* Compares in constant time for equal lengths, so the token cannot be timed out. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool authorized(const sl_http *h, struct MHD_Connection *conn)
{
    const char *v = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);

    if (!h->token)
        return true;
    if (!v || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    for (v += 7; *v == ' '; v++)
        ;
    return token_equal(v, h->token);
}

/* The SQL of a body: the text itself, or the "sql" member when the body is JSON (it
 * starts with '{' or is sent as application/json).  sql points into the body or into r
 * (which the caller clears). */
static int body_sql(struct MHD_Connection *conn, request *req, sl_sql_request *r, const char **sql,
                    size_t *len, sl_error *err)
{
    const char *p = req->body.data ? req->body.data : "";
    size_t n = req->body.len;
    size_t i = 0;

    memset(r, 0, sizeof(*r));
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    if ((i < n && p[i] == '{') || header_has(conn, MHD_HTTP_HEADER_CONTENT_TYPE, "json")) {
        if (sl_sql_request_parse(p, n, r, err) < 0)
            return -1;
        p = r->sql;
        n = r->sql_len;
    }
    if (n > SL_MAX_SQL)
        return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, 0, 0, "SQL text longer than %d bytes",
                            SL_MAX_SQL);
    *sql = p;
    *len = n;
    return 0;
}

/* Moves a position reported for a statement's own text to the whole request text. */
static void shift_error(sl_error *err, const sl_stmt *stmt)
{
    if (err->line <= 0)
        return;
    if (err->line == 1)
        err->column += stmt->column - 1;
    err->line += stmt->line - 1;
}

/* --- JSON objects -------------------------------------------------------------------- */

static void stream_json(sl_buf *b, const sl_stream_info *info)
{
    const sl_schema *s = info->schema;

    sl_buf_puts(b, "{\"name\":");
    sl_json_cstr(b, s->name);
    sl_buf_puts(b, ",\"columns\":");
    sl_json_schema_columns(b, s);
    sl_buf_puts(b, ",\"timestamp\":");
    if (s->timestamp_col >= 0)
        sl_json_cstr(b, s->cols[s->timestamp_col].name);
    else
        sl_buf_puts(b, "null");
    sl_buf_printf(b, ",\"retention_ms\":%" PRId64 ",\"idle_timeout_ms\":%" PRId64, s->retention_ms,
                  s->idle_timeout_ms);
    sl_buf_printf(b, ",\"events\":%" PRIu64 ",\"watermark\":", info->events);
    sl_json_watermark(b, info->watermark);
    sl_buf_puts(b, ",\"ddl\":");
    sl_json_cstr(b, info->ddl ? info->ddl : "");
    sl_buf_putc(b, '}');
}

static void streams_array(sl_http *h, sl_buf *b)
{
    size_t n = sl_instance_stream_count(h->in);
    sl_stream_info info;

    sl_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (sl_instance_stream_at(h->in, i, &info) < 0)
            continue;
        if (b->data[b->len - 1] != '[')
            sl_buf_putc(b, ',');
        stream_json(b, &info);
    }
    sl_buf_putc(b, ']');
}

/* ,"checkpoint":{...}|null,"restore":{...}: a query's last checkpoint and how it
 * started (docs/http-api.md). */
static void checkpoint_json(sl_buf *b, const sl_live_stats *st)
{
    sl_buf_puts(b, ",\"checkpoint\":");
    if (st->has_checkpoint)
        sl_buf_printf(b, "{\"offset\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"taken_ms\":%" PRId64 "}",
                      st->checkpoint_offset, st->checkpoint_seq, st->checkpoint_ms);
    else
        sl_buf_puts(b, "null");
    sl_buf_printf(b, ",\"checkpoints\":%" PRIu64 ",\"checkpoint_error\":", st->checkpoints);
    if (st->checkpoint_error)
        sl_json_cstr(b, st->checkpoint_error);
    else
        sl_buf_puts(b, "null");
    sl_buf_printf(b,
                  ",\"restore\":{\"from_checkpoint\":%s,\"replay_from\":%" PRIu64
                  ",\"replayed_events\":%" PRIu64 ",\"error\":",
                  st->restored ? "true" : "false", st->replay_from, st->replayed_events);
    if (st->restore_error)
        sl_json_cstr(b, st->restore_error);
    else
        sl_buf_puts(b, "null");
    sl_buf_putc(b, '}');
}

static void query_json(sl_http *h, sl_buf *b, sl_live *q)
{
    const sl_plan *plan = sl_live_plan(q);
    const char *error = sl_live_error(q);
    sl_live_stats st;

    sl_live_stats_get(q, &st);
    sl_buf_puts(b, "{\"id\":");
    sl_json_cstr(b, sl_live_id(q));
    sl_buf_puts(b, ",\"sql\":");
    sl_json_cstr(b, sl_live_sql(q));
    sl_buf_printf(b, ",\"persistent\":%s,\"state\":\"%s\",\"error\":",
                  sl_live_persistent(q) ? "true" : "false", error ? "failed" : "running");
    if (error)
        sl_json_cstr(b, error);
    else
        sl_buf_puts(b, "null");
    sl_buf_puts(b, ",\"columns\":");
    sl_json_out_columns(b, plan->ncols, plan->cols);
    sl_buf_puts(b, ",\"key\":");
    sl_json_key_names(b, plan);
    sl_buf_printf(b,
                  ",\"rows_in\":%" PRIu64 ",\"rows_out\":%" PRIu64 ",\"late_rows\":%" PRIu64
                  ",\"state_bytes\":%zu,\"state_limit\":%" PRIu64 ",\"watermark\":",
                  st.engine.rows_in, st.engine.rows_out, st.engine.late_rows, st.engine.state_bytes,
                  sl_live_state_limit(q));
    sl_json_watermark(b, st.engine.watermark);
    sl_buf_printf(b, ",\"seq\":%" PRIu64 ",\"late_seq\":%" PRIu64 ",\"subscribers\":%zu", st.seq,
                  st.late_seq, sl_results_subscribers(h->results, q));
    checkpoint_json(b, &st);
    sl_buf_putc(b, '}');
}

static void queries_array(sl_http *h, sl_buf *b)
{
    size_t n = sl_instance_query_count(h->in);

    sl_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(b, ',');
        query_json(h, b, sl_instance_query_at(h->in, i));
    }
    sl_buf_putc(b, ']');
}

/* {"id":...,"sql":...,"columns":[...],"key":[...]} of a query just made (no braces). */
static void created_members(sl_buf *b, sl_live *q)
{
    const sl_plan *plan = sl_live_plan(q);

    sl_buf_puts(b, "\"id\":");
    sl_json_cstr(b, sl_live_id(q));
    sl_buf_puts(b, ",\"sql\":");
    sl_json_cstr(b, sl_live_sql(q));
    sl_buf_puts(b, ",\"columns\":");
    sl_json_out_columns(b, plan->ncols, plan->cols);
    sl_buf_puts(b, ",\"key\":");
    sl_json_key_names(b, plan);
}

/* --- POST /v1/statements ------------------------------------------------------------- */

typedef struct collect {
    sl_buf *b;
    const sl_plan *plan;
    bool any;
} collect;

static void collect_row(void *ctx, const sl_row *row)
{
    collect *c = ctx;

    if (c->any)
        sl_buf_putc(c->b, ',');
    c->any = true;
    sl_json_row(c->b, row, c->plan->ncols, c->plan->cols);
}

/* A SELECT without EMIT, run to completion into "columns" and "rows". */
static int run_batch(sl_http *h, const sl_stmt *stmt, sl_buf *b, sl_error *err)
{
    sl_plan *plan = NULL;
    sl_batch *batch = NULL;
    collect c = {b, NULL, false};
    int rc;

    if (sl_plan_build(stmt->select, sl_instance_catalog(h->in), &plan, err) < 0)
        return -1;
    if (sl_instance_batch_open(h->in, plan, &batch, err) < 0)
        return -1;
    c.plan = sl_batch_plan(batch);
    sl_buf_puts(b, ",\"type\":\"rows\",\"columns\":");
    sl_json_out_columns(b, c.plan->ncols, c.plan->cols);
    sl_buf_puts(b, ",\"rows\":[");
    while ((rc = sl_batch_step(batch, collect_row, &c, err)) > 0) {
        if (b->len > MAX_STATEMENT_RESULT) {
            rc = sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, stmt->line, stmt->column,
                              "the result is larger than %d bytes; stream it with POST "
                              "/v1/query",
                              MAX_STATEMENT_RESULT);
            break;
        }
    }
    sl_buf_putc(b, ']');
    sl_batch_free(batch);
    return rc < 0 ? -1 : 0;
}

/* Executes one statement, appending its answer object's members after "statement". */
static int exec_stmt(sl_http *h, const sl_stmt *stmt, sl_buf *b, sl_error *err)
{
    sl_stream_info info;
    sl_plan *plan = NULL;
    sl_live *q;
    bool flag;

    switch (stmt->kind) {
    case SL_STMT_CREATE_STREAM:
        if (sl_instance_create_stream(h->in, stmt, &flag, err) < 0)
            return -1;
        sl_buf_puts(b, ",\"type\":\"stream_created\",\"name\":");
        sl_json_cstr(b, stmt->name);
        sl_buf_printf(b, ",\"created\":%s", flag ? "true" : "false");
        return 0;
    case SL_STMT_DROP_STREAM:
        if (sl_instance_drop_stream(h->in, stmt->name, stmt->if_exists, &flag, err) < 0)
            return -1;
        sl_buf_puts(b, ",\"type\":\"stream_dropped\",\"name\":");
        sl_json_cstr(b, stmt->name);
        sl_buf_printf(b, ",\"dropped\":%s", flag ? "true" : "false");
        return 0;
    case SL_STMT_DROP_QUERY:
        q = sl_instance_query_find(h->in, stmt->name);
        if (!q)
            return sl_error_set(err, SL_ERR_UNKNOWN_QUERY, stmt->line, stmt->column,
                                "unknown query '%s'", stmt->name);
        sl_buf_puts(b, ",\"type\":\"query_dropped\",\"id\":");
        sl_json_cstr(b, sl_live_id(q));
        return sl_instance_query_drop(h->in, sl_live_id(q), err);
    case SL_STMT_SHOW_STREAMS:
        sl_buf_puts(b, ",\"type\":\"streams\",\"streams\":");
        streams_array(h, b);
        return 0;
    case SL_STMT_SHOW_QUERIES:
        sl_buf_puts(b, ",\"type\":\"queries\",\"queries\":");
        queries_array(h, b);
        return 0;
    case SL_STMT_DESCRIBE:
        if (sl_instance_stream_get(h->in, stmt->name, &info) < 0)
            return sl_error_set(err, SL_ERR_UNKNOWN_STREAM, stmt->line, stmt->column,
                                "unknown stream '%s'", stmt->name);
        sl_buf_puts(b, ",\"type\":\"description\",");
        /* The stream object's members follow, without its opening brace. */
        {
            sl_buf obj = SL_BUF_INIT;
            stream_json(&obj, &info);
            sl_buf_append(b, obj.data + 1, obj.len - 2);
            sl_buf_free(&obj);
        }
        return 0;
    case SL_STMT_EXPLAIN: {
        if (sl_plan_build(stmt->select, sl_instance_catalog(h->in), &plan, err) < 0)
            return -1;
        char *text = sl_plan_explain(plan);
        sl_buf_puts(b, ",\"type\":\"plan\",\"plan\":");
        sl_json_cstr(b, text);
        sl_buf_puts(b, ",\"columns\":");
        sl_json_out_columns(b, plan->ncols, plan->cols);
        sl_buf_puts(b, ",\"key\":");
        sl_json_key_names(b, plan);
        free(text);
        sl_plan_free(plan);
        return 0;
    }
    case SL_STMT_SELECT:
        if (!stmt->has_emit)
            return run_batch(h, stmt, b, err);
        if (sl_instance_query_create(h->in, NULL, stmt->text, stmt->text_len, true, true, &q, err) <
            0) {
            shift_error(err, stmt);
            return -1;
        }
        sl_buf_puts(b, ",\"type\":\"query_created\",");
        created_members(b, q);
        return 0;
    }
    return sl_error_set(err, SL_ERR_INTERNAL, stmt->line, stmt->column, "unknown statement");
}

static void do_statements(sl_http *h, struct MHD_Connection *conn, request *req)
{
    sl_sql_request r;
    sl_stmt_list *list = NULL;
    sl_buf b = SL_BUF_INIT;
    const char *sql;
    size_t len;
    sl_error err;
    bool executing = false;
    int i = 0;

    sl_error_clear(&err);
    if (body_sql(conn, req, &r, &sql, &len, &err) < 0 || sl_parse(sql, len, &list, &err) < 0)
        goto fail;
    if (list->n > SL_MAX_STATEMENTS) {
        sl_error_set(&err, SL_ERR_LIMIT_EXCEEDED, 0, 0, "more than %d statements",
                     SL_MAX_STATEMENTS);
        goto fail;
    }
    sl_buf_putc(&b, '[');
    executing = true;
    pthread_mutex_lock(&h->lock);
    for (i = 0; i < list->n; i++) {
        const sl_stmt *stmt = &list->stmts[i];
        size_t mark = b.len;
        if (i)
            sl_buf_putc(&b, ',');
        sl_buf_puts(&b, "{\"statement\":");
        sl_json_str(&b, stmt->text, stmt->text_len);
        if (exec_stmt(h, stmt, &b, &err) < 0) {
            b.len = mark;
            break;
        }
        sl_buf_putc(&b, '}');
    }
    pthread_mutex_unlock(&h->lock);
    if (i < list->n)
        goto fail;
    sl_buf_putc(&b, ']');
    set_json(req, MHD_HTTP_OK, &b);
    goto done;
fail:
    sl_buf_reset(&b);
    sl_buf_puts(&b, "{\"error\":{");
    sl_json_error_members(&b, &err);
    if (executing)
        sl_buf_printf(&b, ",\"statement_index\":%d", i);
    sl_buf_puts(&b, "}}");
    set_json(req, (unsigned)sl_error_http_status(err.code), &b);
done:
    sl_buf_free(&b);
    sl_stmt_list_free(list);
    sl_sql_request_clear(&r);
}

/* --- queries ------------------------------------------------------------------------- */

/* Parses a body that must hold exactly one SELECT; *list is the caller's to free. */
static int one_select(const char *sql, size_t len, sl_stmt_list **list, sl_error *err)
{
    if (sl_parse(sql, len, list, err) < 0)
        return -1;
    if ((*list)->n != 1 || (*list)->stmts[0].kind != SL_STMT_SELECT)
        return sl_error_set(err, SL_ERR_BAD_REQUEST, (*list)->stmts[0].line,
                            (*list)->stmts[0].column, "expected exactly one SELECT statement");
    return 0;
}

static sl_framing stream_framing(struct MHD_Connection *conn)
{
    return header_has(conn, MHD_HTTP_HEADER_ACCEPT, "text/event-stream") ? SL_FRAME_SSE
                                                                         : SL_FRAME_NDJSON;
}

static void do_create_query(sl_http *h, struct MHD_Connection *conn, request *req)
{
    sl_sql_request r;
    sl_stmt_list *list = NULL;
    const char *sql;
    size_t len;
    sl_live *q;
    sl_buf b = SL_BUF_INIT;
    sl_error err;

    if (body_sql(conn, req, &r, &sql, &len, &err) < 0 || one_select(sql, len, &list, &err) < 0)
        goto fail;
    const sl_stmt *stmt = &list->stmts[0];
    pthread_mutex_lock(&h->lock);
    int rc =
        sl_instance_query_create_limited(h->in, r.name, stmt->text, stmt->text_len, true,
                                         !r.has_from || r.from_earliest, r.state_limit, &q, &err);
    if (rc == 0) {
        sl_buf_putc(&b, '{');
        created_members(&b, q);
        sl_buf_putc(&b, '}');
    }
    pthread_mutex_unlock(&h->lock);
    if (rc < 0) {
        shift_error(&err, stmt);
        goto fail;
    }
    set_json(req, MHD_HTTP_CREATED, &b);
    goto done;
fail:
    set_error(req, &err);
done:
    sl_buf_free(&b);
    sl_stmt_list_free(list);
    sl_sql_request_clear(&r);
}

/* POST /v1/query: a batch result, or a transient push query streamed on this answer. */
static void do_query(sl_http *h, struct MHD_Connection *conn, request *req)
{
    sl_sql_request r;
    sl_stmt_list *list = NULL;
    const char *sql;
    size_t len;
    sl_error err;
    sl_live *q;
    sl_plan *plan = NULL;
    sl_batch *batch = NULL;
    struct MHD_Response *resp = NULL;
    int rc;

    if (body_sql(conn, req, &r, &sql, &len, &err) < 0 || one_select(sql, len, &list, &err) < 0)
        goto fail;
    const sl_stmt *stmt = &list->stmts[0];
    pthread_mutex_lock(&h->lock);
    if (stmt->has_emit) {
        sl_subscribe_opts opts = {.framing = stream_framing(conn), .owns_query = true};
        rc = sl_instance_query_create(h->in, NULL, stmt->text, stmt->text_len, false,
                                      r.has_from && r.from_earliest, &q, &err);
        if (rc < 0) {
            shift_error(&err, stmt);
        } else if ((rc = sl_results_subscribe(h->results, conn, q, &opts, &resp, &err)) < 0) {
            sl_error ignored;
            sl_instance_query_drop(h->in, sl_live_id(q), &ignored);
        }
    } else {
        rc = sl_plan_build(stmt->select, sl_instance_catalog(h->in), &plan, &err);
        if (rc == 0)
            rc = sl_instance_batch_open(h->in, plan, &batch, &err);
        if (rc == 0)
            rc = sl_results_batch(h->results, batch,
                                  header_has(conn, MHD_HTTP_HEADER_ACCEPT, "application/x-ndjson"),
                                  &resp, &err);
    }
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        goto fail;
    req->status = MHD_HTTP_OK;
    req->resp = resp;
    goto done;
fail:
    set_error(req, &err);
done:
    sl_stmt_list_free(list);
    sl_sql_request_clear(&r);
}

static void do_query_one(sl_http *h, const char *method, request *req)
{
    sl_buf b = SL_BUF_INIT;
    sl_error err;
    sl_live *q;
    int rc = 0;

    pthread_mutex_lock(&h->lock);
    q = sl_instance_query_find(h->in, req->arg);
    if (!q) {
        rc = sl_error_set(&err, SL_ERR_UNKNOWN_QUERY, 0, 0, "unknown query '%s'", req->arg);
    } else if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
        sl_buf_puts(&b, "{\"id\":");
        sl_json_cstr(&b, sl_live_id(q));
        sl_buf_puts(&b, ",\"dropped\":true}");
        rc = sl_instance_query_drop(h->in, sl_live_id(q), &err);
    } else {
        query_json(h, &b, q);
    }
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        set_error(req, &err);
    else
        set_json(req, MHD_HTTP_OK, &b);
    sl_buf_free(&b);
}

/* GET /v1/queries/{id}/results, and with late GET /v1/queries/{id}/late: a result
 * stream of the query's changes or of its late rows. */
static void do_results(sl_http *h, struct MHD_Connection *conn, request *req, bool late)
{
    const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
    const char *snap = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "snapshot");
    const char *slow = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "on_slow");
    sl_subscribe_opts opts = {.framing = stream_framing(conn)};
    struct MHD_Response *resp = NULL;
    sl_error err;
    sl_live *q;
    int rc;

    if (!from && opts.framing == SL_FRAME_SSE)
        from = header(conn, "Last-Event-ID");
    if (from) {
        if (!parse_u64(from, &opts.from_seq)) {
            fail_with(req, SL_ERR_BAD_REQUEST, "from must be a sequence number, not '%.40s'", from);
            return;
        }
        opts.has_from = true;
    }
    opts.snapshot = snap && (strcmp(snap, "true") == 0 || strcmp(snap, "1") == 0);
    opts.late = late;
    if (slow && strcmp(slow, "coalesce") == 0) {
        opts.coalesce = true;
    } else if (slow && strcmp(slow, "close") != 0) {
        fail_with(req, SL_ERR_BAD_REQUEST, "on_slow must be 'close' or 'coalesce', not '%.40s'",
                  slow);
        return;
    }
    pthread_mutex_lock(&h->lock);
    q = sl_instance_query_find(h->in, req->arg);
    if (!q)
        rc = sl_error_set(&err, SL_ERR_UNKNOWN_QUERY, 0, 0, "unknown query '%s'", req->arg);
    else
        rc = sl_results_subscribe(h->results, conn, q, &opts, &resp, &err);
    pthread_mutex_unlock(&h->lock);
    if (rc < 0) {
        set_error(req, &err);
        return;
    }
    req->status = MHD_HTTP_OK;
    req->resp = resp;
}

/* --- streams ------------------------------------------------------------------------- */

static void do_streams(sl_http *h, request *req)
{
    sl_buf b = SL_BUF_INIT;

    sl_buf_puts(&b, "{\"streams\":");
    pthread_mutex_lock(&h->lock);
    streams_array(h, &b);
    pthread_mutex_unlock(&h->lock);
    sl_buf_putc(&b, '}');
    set_json(req, MHD_HTTP_OK, &b);
    sl_buf_free(&b);
}

static void do_stream_one(sl_http *h, request *req)
{
    sl_buf b = SL_BUF_INIT;
    sl_stream_info info;
    int rc;

    pthread_mutex_lock(&h->lock);
    rc = sl_ingest_stream_lookup(h->in, req->arg, &info);
    if (rc == 0)
        stream_json(&b, &info);
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        fail_with(req, SL_ERR_UNKNOWN_STREAM, "unknown stream '%s'", req->arg);
    else
        set_json(req, MHD_HTTP_OK, &b);
    sl_buf_free(&b);
}

/* Reads the request's Idempotency-Key header into key: the key itself and the hash of
 * the request (its body, and whether it is NDJSON, which changes how the body reads).
 * Returns 0 when there is none, 1 when there is one, -1 with err set when it is empty,
 * longer than SL_MAX_IDEMPOTENCY_KEY or not printable ASCII. */
static int idempotency_key(struct MHD_Connection *conn, const request *req, bool ndjson,
                           sl_ingest_key *key, sl_error *err)
{
    const char *k = header(conn, "Idempotency-Key");
    size_t n = k ? strlen(k) : 0;
    sl_sha256 c;

    if (!k)
        return 0;
    if (n == 0 || n > SL_MAX_IDEMPOTENCY_KEY)
        return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                            "Idempotency-Key must be 1 to %d characters", SL_MAX_IDEMPOTENCY_KEY);
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 0x20 || k[i] > 0x7e)
            return sl_error_set(err, SL_ERR_BAD_REQUEST, 0, 0,
                                "Idempotency-Key must be printable ASCII");
    }
    key->key = k;
    sl_sha256_init(&c);
    sl_sha256_update(&c, ndjson ? "N" : "J", 1);
    if (req->body.len)
        sl_sha256_update(&c, req->body.data, req->body.len);
    sl_sha256_final(&c, key->body_hash);
    return 1;
}

/* POST /v1/streams/{name}/events: handed to the ingest pipeline, which decodes the body
 * on this thread without the lock and answers once a group commit stored it: at once
 * when this thread stored it (the leader path), else with the connection suspended
 * until the committer did (see on_request).  Errors found before that (a bad
 * Idempotency-Key, an unknown stream, a bad body) are answered at once. */
static void do_events(sl_http *h, struct MHD_Connection *conn, request *req)
{
    sl_ingest_job *job = &req->job;
    int keyed;

    memset(job, 0, sizeof(*job));
    job->ndjson = header_has(conn, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    keyed = idempotency_key(conn, req, job->ndjson, &job->key, &job->req.err);
    if (keyed < 0) {
        set_error(req, &job->req.err);
        return;
    }
    if (keyed) {
        /* The header lives in MHD's memory for the connection, which may end first. */
        req->idem_key = sl_xstrdup(job->key.key);
        job->key.key = req->idem_key;
        job->keyed = true;
    }
    job->conn = conn;
    job->stream = req->arg;
    job->body = req->body.data;
    job->len = req->body.len;
    job->may_lead = sl_listener_alone(h->listener, conn);
    if (sl_ingest_submit(h->ingest, job) < 0) {
        set_error(req, &job->req.err);
        sl_ingest_job_clear(job);
        return;
    }
    req->ingesting = true;
}

static void release(sl_http *h, request *req);

/* The answer of an ingest job that ended; gives its body and limits back. */
static void answer_events(sl_http *h, request *req)
{
    sl_ingest_job *job = &req->job;
    sl_buf b = SL_BUF_INIT;

    req->ingesting = false;
    if (job->req.rc < 0) {
        set_error(req, &job->req.err);
    } else {
        sl_buf_puts(&b, job->req.rc == 1 ? job->req.replay : job->answer.data);
        set_json(req, MHD_HTTP_OK, &b);
        if (job->req.rc == 1 && req->resp)
            MHD_add_response_header(req->resp, "Idempotent-Replayed", "true");
    }
    sl_buf_free(&b);
    sl_ingest_job_clear(job);
    release(h, req);
}

/* --- metrics ------------------------------------------------------------------------- */

/* A Prometheus label value: '\\', '"' and newlines escaped. */
static void prom_label(sl_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            sl_buf_putc(b, '\\');
        if (*s == '\n')
            sl_buf_puts(b, "\\n");
        else
            sl_buf_putc(b, *s);
    }
}

static void prom_family(sl_buf *b, const char *name, const char *type, const char *help)
{
    sl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Open connections (--max-connections), and each polling thread's share of them. */
static void prom_connections(sl_buf *b, sl_listener *l)
{
    unsigned n = sl_listener_threads(l);
    unsigned *per = sl_xcalloc(n, sizeof(*per));
    unsigned open = sl_listener_open(l, per, n);

    prom_family(b, "sluice_connections", "gauge", "Open connections (--max-connections).");
    sl_buf_printf(b, "sluice_connections %u\n", open);
    prom_family(b, "sluice_thread_connections", "gauge",
                "Open connections a polling thread serves (--http-threads).");
    for (unsigned i = 0; i < n; i++)
        sl_buf_printf(b, "sluice_thread_connections{thread=\"%u\"} %u\n", i, per[i]);
    free(per);
}

static void do_metrics(sl_http *h, request *req)
{
    static const struct {
        const char *name, *type, *help;
    } per_query[] = {
        {"sluice_query_rows_in_total", "counter", "Source rows a query processed."},
        {"sluice_query_rows_out_total", "counter", "Changes a query emitted."},
        {"sluice_query_late_rows_total", "counter", "Rows a query left out as late."},
        {"sluice_query_state_bytes", "gauge", "Memory a query's state holds."},
        {"sluice_query_subscribers", "gauge", "Clients streaming a query's results."},
    };
    sl_buf b = SL_BUF_INIT;
    sl_stream_info info;
    uint64_t commits, led;

    pthread_mutex_lock(&h->lock);
    size_t nstreams = sl_instance_stream_count(h->in);
    size_t nqueries = sl_instance_query_count(h->in);
    prom_family(&b, "sluice_events_ingested_total", "counter",
                "Events accepted by ingest since the server started.");
    sl_buf_printf(&b, "sluice_events_ingested_total %" PRIu64 "\n", sl_ingest_events(h->ingest));
    commits = sl_ingest_commits(h->ingest, &led);
    prom_family(&b, "sluice_ingest_commits_total", "counter",
                "Commits of ingest requests (one per group of requests stored together).");
    sl_buf_printf(&b, "sluice_ingest_commits_total %" PRIu64 "\n", commits);
    prom_family(&b, "sluice_ingest_led_total", "counter",
                "Of those, requests stored by the thread that received them (nothing "
                "else waiting, no other connection on that thread).");
    sl_buf_printf(&b, "sluice_ingest_led_total %" PRIu64 "\n", led);
    pthread_mutex_lock(&h->pending_lock);
    prom_family(&b, "sluice_pending_bodies", "gauge",
                "POST bodies being received or processed (--max-pending-bodies).");
    sl_buf_printf(&b, "sluice_pending_bodies %u\n", h->pending_bodies);
    prom_family(&b, "sluice_pending_body_bytes", "gauge",
                "Bytes those bodies hold or reserve (--max-pending-bytes).");
    sl_buf_printf(&b, "sluice_pending_body_bytes %zu\n", h->pending_bytes);
    prom_family(&b, "sluice_requests_rejected_busy_total", "counter",
                "Requests answered 429 because too many bodies were pending.");
    sl_buf_printf(&b, "sluice_requests_rejected_busy_total %" PRIu64 "\n", h->rejected_busy);
    pthread_mutex_unlock(&h->pending_lock);
    prom_connections(&b, h->listener);
    prom_family(&b, "sluice_streams", "gauge", "Streams in the catalog.");
    sl_buf_printf(&b, "sluice_streams %zu\n", nstreams);
    prom_family(&b, "sluice_stream_events", "gauge", "Events stored in a stream.");
    for (size_t i = 0; i < nstreams; i++) {
        if (sl_instance_stream_at(h->in, i, &info) < 0)
            continue;
        sl_buf_puts(&b, "sluice_stream_events{stream=\"");
        prom_label(&b, info.schema->name);
        sl_buf_printf(&b, "\"} %" PRIu64 "\n", info.events);
    }
    prom_family(&b, "sluice_queries", "gauge", "Running continuous queries.");
    sl_buf_printf(&b, "sluice_queries %zu\n", nqueries);
    for (size_t m = 0; m < sizeof(per_query) / sizeof(per_query[0]); m++) {
        prom_family(&b, per_query[m].name, per_query[m].type, per_query[m].help);
        for (size_t i = 0; i < nqueries; i++) {
            sl_live *q = sl_instance_query_at(h->in, i);
            sl_live_stats st;
            uint64_t v;
            sl_live_stats_get(q, &st);
            switch (m) {
            case 0:
                v = st.engine.rows_in;
                break;
            case 1:
                v = st.engine.rows_out;
                break;
            case 2:
                v = st.engine.late_rows;
                break;
            case 3:
                v = st.engine.state_bytes;
                break;
            default:
                v = sl_results_subscribers(h->results, q);
                break;
            }
            sl_buf_printf(&b, "%s{query=\"", per_query[m].name);
            prom_label(&b, sl_live_id(q));
            sl_buf_printf(&b, "\"} %" PRIu64 "\n", v);
        }
    }
    pthread_mutex_unlock(&h->lock);
    req->status = MHD_HTTP_OK;
    req->resp = buf_response(&b, "text/plain; version=0.0.4; charset=utf-8");
    sl_buf_free(&b);
}

/* --- dashboard ----------------------------------------------------------------------- */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* True for "/a/b.c" paths whose segments are [A-Za-z0-9_-][A-Za-z0-9._-]*: no "..", no
 * hidden files, nothing a file system would interpret. */
static bool safe_path(const char *path)
{
    bool seg_start = true;

    if (path[0] != '/' || strlen(path) > 256)
        return false;
    for (const char *p = path + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/') {
            if (seg_start)
                return false;
            seg_start = true;
            continue;
        }
        if (!(isalnum(c) || c == '_' || c == '-' || (c == '.' && !seg_start)))
            return false;
        seg_start = false;
    }
    return !seg_start;
}

/* Reads root/path into b (at most MAX_ASSET_BYTES); -1 when it is not a readable file. */
static int read_asset(const char *root, const char *path, sl_buf *b)
{
    char full[4096];
    struct stat st;
    int fd;
    int rc = -1;

    if ((size_t)snprintf(full, sizeof(full), "%s%s", root, path) >= sizeof(full))
        return -1;
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_ASSET_BYTES)
        goto done;
    sl_buf_reserve(b, (size_t)st.st_size);
    for (;;) {
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto done;
        if (n == 0)
            break;
        b->len += (size_t)n;
        if (b->len > MAX_ASSET_BYTES)
            goto done;
        sl_buf_reserve(b, 4096);
    }
    b->data[b->len] = '\0';
    rc = 0;
done:
    close(fd);
    return rc;
}

static void do_asset(sl_http *h, const char *url, request *req)
{
    const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
    sl_buf b = SL_BUF_INIT;

    if (h->web_root) {
        if (safe_path(path) && read_asset(h->web_root, path, &b) == 0) {
            req->status = MHD_HTTP_OK;
            req->resp = buf_response(&b, content_type(path));
        } else {
            fail_with(req, SL_ERR_NOT_FOUND, "no such page: %.200s", url);
        }
        sl_buf_free(&b);
        return;
    }
    for (const sl_web_asset *a = sl_web_assets; a->path; a++) {
        if (strcmp(a->path, path) != 0)
            continue;
        req->status = MHD_HTTP_OK;
        req->resp =
            MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (req->resp)
            MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(path));
        return;
    }
    fail_with(req, SL_ERR_NOT_FOUND, "no such page: %.200s", url);
}

/* --- routing ------------------------------------------------------------------------- */

/* The next path segment of *p (after "/"), copied into seg; false when there is none or
 * it is empty or too long. */
static bool next_segment(const char **p, char *seg, size_t cap)
{
    const char *s = *p, *end;

    if (*s != '/')
        return false;
    s++;
    end = strchr(s, '/');
    if (!end)
        end = s + strlen(s);
    if (end == s || (size_t)(end - s) >= cap)
        return false;
    memcpy(seg, s, (size_t)(end - s));
    seg[end - s] = '\0';
    *p = end;
    return true;
}

/* Maps the path to a route and its argument; R_NONE when nothing matches. */
static route route_of(const char *url, char **arg)
{
    char a[32], b[SL_MAX_IDENT + 2], c[32];
    const char *p = url;

    *arg = NULL;
    if (strcmp(url, "/health") == 0)
        return R_HEALTH;
    if (strcmp(url, "/metrics") == 0)
        return R_METRICS;
    if (strncmp(url, "/v1/", 4) != 0)
        return R_ASSET;
    p += 3;
    if (!next_segment(&p, a, sizeof(a)))
        return R_NONE;
    if (*p == '\0') {
        if (strcmp(a, "statements") == 0)
            return R_STATEMENTS;
        if (strcmp(a, "query") == 0)
            return R_QUERY;
        if (strcmp(a, "queries") == 0)
            return R_QUERIES;
        if (strcmp(a, "streams") == 0)
            return R_STREAMS;
        return R_NONE;
    }
    if (!next_segment(&p, b, sizeof(b)) || strlen(b) > SL_MAX_IDENT)
        return R_NONE;
    if (strcmp(a, "queries") != 0 && strcmp(a, "streams") != 0)
        return R_NONE;
    bool queries = strcmp(a, "queries") == 0;
    route r = R_NONE;
    if (*p == '\0') {
        r = queries ? R_QUERY_ONE : R_STREAM_ONE;
    } else if (next_segment(&p, c, sizeof(c)) && *p == '\0') {
        if (queries && strcmp(c, "results") == 0)
            r = R_RESULTS;
        else if (queries && strcmp(c, "late") == 0)
            r = R_LATE;
        else if (!queries && strcmp(c, "events") == 0)
            r = R_EVENTS;
    }
    if (r != R_NONE)
        *arg = sl_xstrdup(b);
    return r;
}

static bool is_get(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_GET) == 0 || strcmp(m, MHD_HTTP_METHOD_HEAD) == 0;
}

static bool is_post(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_POST) == 0;
}

/* The methods a route takes, for checks and the Allow header. */
static const char *allowed(route r)
{
    switch (r) {
    case R_STATEMENTS:
    case R_QUERY:
    case R_EVENTS:
        return "POST";
    case R_QUERIES:
        return "GET, POST";
    case R_QUERY_ONE:
        return "GET, DELETE";
    default:
        return "GET";
    }
}

static bool method_ok(route r, const char *m)
{
    switch (r) {
    case R_STATEMENTS:
    case R_QUERY:
    case R_EVENTS:
        return is_post(m);
    case R_QUERIES:
        return is_get(m) || is_post(m);
    case R_QUERY_ONE:
        return is_get(m) || strcmp(m, MHD_HTTP_METHOD_DELETE) == 0;
    default:
        return is_get(m);
    }
}

/* Answers a request that needs no body (everything but the POST routes). */
static void handle_get(sl_http *h, struct MHD_Connection *conn, const char *url, const char *method,
                       request *req)
{
    sl_buf b = SL_BUF_INIT;

    switch (req->route) {
    case R_HEALTH:
        sl_buf_puts(&b, "{\"status\":\"ok\"}");
        set_json(req, MHD_HTTP_OK, &b);
        break;
    case R_ASSET:
        do_asset(h, url, req);
        break;
    case R_METRICS:
        do_metrics(h, req);
        break;
    case R_QUERIES:
        sl_buf_puts(&b, "{\"queries\":");
        pthread_mutex_lock(&h->lock);
        queries_array(h, &b);
        pthread_mutex_unlock(&h->lock);
        sl_buf_putc(&b, '}');
        set_json(req, MHD_HTTP_OK, &b);
        break;
    case R_QUERY_ONE:
        do_query_one(h, method, req);
        break;
    case R_RESULTS:
        do_results(h, conn, req, false);
        break;
    case R_LATE:
        do_results(h, conn, req, true);
        break;
    case R_STREAMS:
        do_streams(h, req);
        break;
    case R_STREAM_ONE:
        do_stream_one(h, req);
        break;
    default:
        fail_with(req, SL_ERR_NOT_FOUND, "no such resource: %.200s", url);
        break;
    }
    sl_buf_free(&b);
}

/* Takes a POST body into the pending-body limits: one more body, and its Content-Length
 * (a chunked body reserves as it arrives).  False when that would pass
 * --max-pending-bodies or --max-pending-bytes; a body is always admitted when no other
 * bytes are pending, so that one of up to --max-body always gets through. */
static bool admit(sl_http *h, request *req)
{
    size_t want = req->has_length ? (size_t)req->length : 0;
    bool ok;

    pthread_mutex_lock(&h->pending_lock);
    ok = h->pending_bodies < h->max_pending_bodies &&
         (h->pending_bytes == 0 || want <= h->max_pending_bytes - h->pending_bytes);
    if (ok) {
        h->pending_bodies++;
        h->pending_bytes += want;
        req->admitted = true;
        req->reserved = want;
    } else {
        h->rejected_busy++;
    }
    pthread_mutex_unlock(&h->pending_lock);
    return ok;
}

/* Reserves n more bytes of a chunked body; false past --max-pending-bytes. */
static bool reserve(sl_http *h, request *req, size_t n)
{
    bool ok;

    pthread_mutex_lock(&h->pending_lock);
    ok = n <= h->max_pending_bytes - h->pending_bytes;
    if (ok) {
        h->pending_bytes += n;
        req->reserved += n;
    } else {
        h->rejected_busy++;
    }
    pthread_mutex_unlock(&h->pending_lock);
    return ok;
}

/* Gives a request's share of the pending-body limits back and frees its body. */
static void release(sl_http *h, request *req)
{
    sl_buf_free(&req->body);
    if (!req->admitted)
        return;
    pthread_mutex_lock(&h->pending_lock);
    h->pending_bodies--;
    h->pending_bytes -= req->reserved;
    pthread_mutex_unlock(&h->pending_lock);
    req->admitted = false;
    req->reserved = 0;
}

static void busy(sl_http *h, request *req)
{
    fail_with(req, SL_ERR_TOO_MANY_REQUESTS,
              "too many request bodies pending (at most %u, %zu bytes): retry after %s s",
              h->max_pending_bodies, h->max_pending_bytes, SL_RETRY_AFTER_S);
}

/* Runs a POST route once its body is complete, then releases the body (a push query
 * streams its answer long after), unless the ingest pipeline still reads it. */
static void process_body(sl_http *h, struct MHD_Connection *conn, request *req)
{
    req->processed = true;
    switch (req->route) {
    case R_STATEMENTS:
        do_statements(h, conn, req);
        break;
    case R_QUERY:
        do_query(h, conn, req);
        break;
    case R_QUERIES:
        do_create_query(h, conn, req);
        break;
    case R_EVENTS:
        do_events(h, conn, req);
        break;
    default:
        fail_with(req, SL_ERR_NOT_FOUND, "no such resource");
        break;
    }
    if (!req->ingesting)
        release(h, req);
}

static enum MHD_Result queue(struct MHD_Connection *conn, request *req)
{
    enum MHD_Result ret;

    if (req->queued)
        return MHD_YES;
    if (!req->resp)
        return MHD_NO; /* out of memory inside MHD: drop the connection */
    req->queued = true;
    ret = MHD_queue_response(conn, req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return ret;
}

static void too_large(sl_http *h, request *req)
{
    fail_with(req, SL_ERR_TOO_LARGE, "request body larger than %zu bytes (--max-body)",
              h->max_body);
}

/* The first call: route, method, auth, Content-Length.  An error is answered at once
 * when a body follows (MHD then closes the connection without reading it); otherwise it
 * waits for the final call, which keeps the connection alive. */
static enum MHD_Result first_call(sl_http *h, struct MHD_Connection *conn, const char *url,
                                  const char *method, request *req)
{
    const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool body = header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;

    if (cl) {
        req->has_length = parse_u64(cl, &req->length);
        body = body || !req->has_length || req->length > 0;
    }
    req->route = route_of(url, &req->arg);
    sl_log(SL_LOG_DEBUG, "%s %s", method, url);
    if (req->route == R_NONE)
        fail_with(req, SL_ERR_NOT_FOUND, "no such resource: %.200s", url);
    else if (req->route != R_HEALTH && req->route != R_ASSET && !authorized(h, conn))
        fail_with(req, SL_ERR_UNAUTHORIZED, "missing or wrong bearer token");
    else if (!method_ok(req->route, method))
        method_not_allowed(req, allowed(req->route));
    else if (req->has_length && req->length > h->max_body)
        too_large(h, req);
    else if (body && is_post(method) && !admit(h, req))
        busy(h, req);
    else
        return MHD_YES;
    req->processed = true;
    return body ? queue(conn, req) : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sl_http *h = cls;
    request *req = *con_cls;

    if (!req) {
        req = sl_xcalloc(1, sizeof(*req));
        *con_cls = req;
        return first_call(h, conn, url, method, req);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->processed && is_post(method) && !req->too_large && !req->busy &&
            req->body.len + n <= h->max_body && !req->has_length && !reserve(h, req, n)) {
            req->busy = true;
            release(h, req);
        }
        if (req->processed || !is_post(method) || req->too_large || req->busy ||
            req->body.len + n > h->max_body) {
            /* A body nobody reads, one past --max-body (chunked), or one past the
             * pending-body limits: discard it, answer (413 or 429) at the end, and give
             * up on the connection if much more comes. */
            if (!req->processed && is_post(method) && !req->busy) {
                req->too_large = true;
                release(h, req);
            }
            req->dropped += n;
            return req->dropped > MAX_DISCARD ? MHD_NO : MHD_YES;
        }
        /* A body with a Content-Length gets its whole buffer at once (it is admitted:
         * its bytes are counted already), not a series of copies as it grows. */
        if (req->has_length && req->body.cap == 0)
            sl_buf_reserve(&req->body, (size_t)req->length);
        sl_buf_append(&req->body, upload_data, n);
        if (req->has_length && req->body.len == req->length)
            process_body(h, conn, req);
        return MHD_YES;
    }
    if (!req->processed) {
        if (!is_post(method))
            handle_get(h, conn, url, method, req);
        else if (req->busy)
            busy(h, req);
        else if (req->too_large)
            too_large(h, req);
        else
            process_body(h, conn, req);
    }
    if (req->ingesting) {
        /* Until the group commit of its events, the connection sleeps. */
        if (!sl_ingest_wait(h->ingest, &req->job))
            return MHD_YES;
        answer_events(h, req);
    }
    return queue(conn, req);
}

static void request_free(sl_http *h, request *req)
{
    if (req->resp)
        MHD_destroy_response(req->resp);
    sl_ingest_job_clear(&req->job);
    release(h, req);
    free(req->idem_key);
    free(req->arg);
    free(req);
}

/* The ingest pipeline answered a job whose connection had ended (it was stored all the
 * same: its body had arrived whole). */
static void ingest_finished(void *ctx, sl_ingest_job *job)
{
    request *req = (request *)((char *)job - offsetof(request, job));

    request_free(ctx, req);
}

/* Before each group commit: result streams that the polling threads fell behind on
 * catch up first (see sl_results_wait_behind); without wait, only whether none is. */
static bool ingest_pace(void *ctx, bool wait)
{
    sl_http *h = ctx;

    return sl_results_wait_behind(h->results, wait ? PACE_MAX_MS : 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sl_http *h = cls;
    request *req = *con_cls;

    if (!req)
        return;
    *con_cls = NULL;
    /* A job still queued is the pipeline's until its group is stored. */
    if (req->ingesting && !sl_ingest_abandon(h->ingest, &req->job))
        return;
    request_free(h, req);
}

/* --- heartbeat ----------------------------------------------------------------------- */

static void *heartbeat_main(void *arg)
{
    sl_http *h = arg;
    struct timespec deadline;

    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += h->heartbeat_ms / 1000;
        deadline.tv_nsec += (long)(h->heartbeat_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        /* Waits out the whole period (spurious wake-ups included) unless stopped. */
        while (!h->stopping && pthread_cond_timedwait(&h->tick, &h->lock, &deadline) != ETIMEDOUT)
            ;
        if (!h->stopping)
            sl_results_heartbeat(h->results);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* --- upkeep ------------------------------------------------------------------------ */

/* Waits on h->tick until ms have passed or the server stops (h->lock held). */
static void wait_ms(sl_http *h, unsigned ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    while (!h->stopping && pthread_cond_timedwait(&h->tick, &h->lock, &deadline) != ETIMEDOUT)
        ;
}

static void *maintainer_main(void *arg)
{
    sl_http *h = arg;
    sl_error err;

    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        wait_ms(h, MAINTAIN_PERIOD_MS);
        if (!h->stopping)
            sl_instance_tick(h->in);
        /* Checkpoints: one query at a time, ingest let in between. */
        for (int round = 0; round < MAINTAIN_ROUNDS && !h->stopping; round++) {
            int n = sl_instance_checkpoint_step(h->in, &err);
            if (n < 0)
                sl_log(SL_LOG_WARN, "checkpoint: %s", err.message);
            if (n == 0)
                break;
            pthread_mutex_unlock(&h->lock);
            sched_yield();
            pthread_mutex_lock(&h->lock);
        }
        for (int round = 0; round < MAINTAIN_ROUNDS && !h->stopping; round++) {
            int n = sl_instance_maintain(h->in, MAINTAIN_STEP, &err);
            if (n < 0)
                sl_log(SL_LOG_WARN, "retention and expiry: %s", err.message);
            if (n < MAINTAIN_STEP)
                break;
            /* Let ingest in between two rounds. */
            pthread_mutex_unlock(&h->lock);
            sched_yield();
            pthread_mutex_lock(&h->lock);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* --- start and stop ------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

static void http_free(sl_http *h)
{
    sl_ingest_stop(h->ingest);
    sl_ingest_free(h->ingest);
    sl_results_free(h->results);
    pthread_cond_destroy(&h->tick);
    pthread_mutex_destroy(&h->pending_lock);
    pthread_mutex_destroy(&h->lock);
    free(h->token);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->web_root);
    free(h);
}

/* sl_listener_start_fn: one polling thread, a daemon without a listening socket of its
 * own (the listener accepts and hands connections over). */
static struct MHD_Daemon *start_daemon(void *ctx, MHD_NotifyConnectionCallback notify,
                                       void *notify_cls, char *msg, size_t msglen)
{
    sl_http *h = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;

    if (h->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(msg, msglen, "this libmicrohttpd was built without TLS support");
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify, notify_cls},
        /* The listener keeps to --max-connections over all the threads. */
        {MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, NULL},
        /* The TLS options come last so that plain HTTP ends the array before them. */
        {h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    /* libmicrohttpd wants its logger as the very first option. */
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                         mhd_logger, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d)
        snprintf(msg, msglen, "cannot start the HTTP server%s: %s", h->tls_cert ? " with TLS" : "",
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
    return d;
}

int sl_http_start(const sl_http_config *cfg, sl_instance *in, sl_http **out, char *msg,
                  size_t msglen)
{
    sl_http *h = sl_xcalloc(1, sizeof(*h));
    pthread_condattr_t ca;
    pthread_mutexattr_t ma;
    /* Polling threads (--http-threads); a result stream that one of them is behind on is
     * not its client's fault (sl_results_wait_behind). */
    unsigned threads = cfg->threads ? cfg->threads : SL_DEFAULT_HTTP_THREADS;

    *out = NULL;
    if (threads > SL_MAX_HTTP_THREADS)
        threads = SL_MAX_HTTP_THREADS;
    if (threads > cfg->max_connections)
        threads = cfg->max_connections > 0 ? cfg->max_connections : 1;
    h->in = in;
    h->token = dup_or_null(cfg->auth_token);
    h->tls_cert = dup_or_null(cfg->tls_cert);
    h->tls_key = dup_or_null(cfg->tls_key);
    h->web_root = dup_or_null(cfg->web_root);
    h->max_body = cfg->max_body;
    h->max_pending_bodies = cfg->max_pending_bodies;
    h->max_pending_bytes = cfg->max_pending_bytes;
    h->max_connections = cfg->max_connections;
    h->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 15000;
    /* The server lock is held briefly by many threads: a waiter spins a little before
     * it sleeps, as a sleep and a wake-up cost more than most holds here. */
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&h->lock, &ma);
    pthread_mutex_init(&h->pending_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->tick, &ca);
    pthread_condattr_destroy(&ca);
    h->results = sl_results_new(in, &h->lock, cfg->subscriber_buffer);
    h->ingest = sl_ingest_new(in, &h->lock, ingest_finished, ingest_pace, h);
    if (sl_listener_start(cfg->addr, threads, h->max_connections, start_daemon, h, &h->listener,
                          msg, msglen) < 0)
        goto fail;
    if (pthread_create(&h->heartbeat, NULL, heartbeat_main, h) != 0) {
        snprintf(msg, msglen, "cannot start the heartbeat thread");
        goto fail;
    }
    h->heartbeat_started = true;
    if (pthread_create(&h->maintainer, NULL, maintainer_main, h) != 0) {
        snprintf(msg, msglen, "cannot start the maintenance thread");
        goto fail;
    }
    h->maintainer_started = true;
    *out = h;
    return 0;
fail:
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->tick);
    pthread_mutex_unlock(&h->lock);
    if (h->heartbeat_started)
        pthread_join(h->heartbeat, NULL);
    sl_listener_free(h->listener);
    http_free(h);
    return -1;
}

unsigned sl_http_port(const sl_http *h)
{
    return sl_listener_port(h->listener);
}

void sl_http_stop(sl_http *h)
{
    sl_error why;

    if (!h)
        return;
    sl_listener_quiesce(h->listener);
    sl_error_set(&why, SL_ERR_SHUTTING_DOWN, 0, 0, "the server is shutting down");
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    sl_results_close_all(h->results, &why);
    pthread_cond_broadcast(&h->tick);
    pthread_mutex_unlock(&h->lock);
    if (h->heartbeat_started)
        pthread_join(h->heartbeat, NULL);
    if (h->maintainer_started)
        pthread_join(h->maintainer, NULL);
    /* Let the streams deliver their last line and the request bodies being received
     * arrive and be processed (bounded: a client that does not read or send is cut off
     * when MHD stops). */
    for (int waited = 0; waited < DRAIN_MS; waited += 20) {
        pthread_mutex_lock(&h->lock);
        size_t open = sl_results_open(h->results);
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_lock(&h->pending_lock);
        unsigned pending = h->pending_bodies;
        pthread_mutex_unlock(&h->pending_lock);
        if (open == 0 && pending == 0)
            break;
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
    /* Every queued ingest request is stored and its connection resumed: MHD must not
     * stop with suspended connections. */
    sl_ingest_stop(h->ingest);
    sl_listener_free(h->listener);
    http_free(h);
}
