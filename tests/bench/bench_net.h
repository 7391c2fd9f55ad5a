/* bench_net.h: a minimal HTTP/1.1 client over plain blocking sockets for the load
 * benchmarks: keep-alive requests with a Content-Length body, responses read by their
 * Content-Length, and a reader for chunked result streams that hands each NDJSON line
 * to a callback with the time its bytes arrived.  Loopback only (127.0.0.1). */
#ifndef SL_BENCH_NET_H
#define SL_BENCH_NET_H

#include <stddef.h>

typedef struct bench_conn {
    int fd;
    char *buf; /* bytes received and not yet consumed */
    size_t len, cap;
} bench_conn;

/* Connects to 127.0.0.1:port (TCP_NODELAY); returns 0 or -1. */
int bench_connect(bench_conn *c, int port);
void bench_close(bench_conn *c);

/* Sends one request and reads its response.  head is "POST /path" style (method and
 * target); ctype may be NULL.  Returns the HTTP status, or -1 on a connection error.
 * When body_out is not NULL the response body (NUL-terminated, caller frees) is
 * stored there. */
int bench_request(bench_conn *c, const char *head, const char *ctype, const char *body, size_t len,
                  char **body_out);

/* Sends a pre-built request (the whole text, headers and body) and reads the answer:
 * the fast path of the load loops.  Returns the status or -1. */
int bench_send_raw(bench_conn *c, const char *req, size_t len);
/* Builds "POST path" with a Content-Length body into a new string (caller frees). */
char *bench_build_post(const char *path, const char *ctype, const char *body, size_t len,
                       size_t *out_len);

/* Opens GET path as a chunked stream and calls line(ctx, text, len, t) for every
 * complete line of its body, t being bench_now() when the bytes arrived, until line
 * returns nonzero or the stream ends.  Returns 0 when line stopped it, -1 otherwise. */
int bench_stream(int port, const char *path,
                 int (*line)(void *ctx, const char *text, size_t len, double t), void *ctx);

/* An HTTP answerer for measuring the client's own ceiling: accepts on an ephemeral
 * loopback port, one thread per connection, reads each request by Content-Length and
 * answers 200 {"accepted":1} at once.  Returns the port, or -1. */
int bench_null_server_start(void);

#endif
