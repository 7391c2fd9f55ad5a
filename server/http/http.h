/* http.h: the HTTP API of one sluice server (SPEC section 3), on libmicrohttpd.
 *
 * sl_http_start binds the address and serves from MHD's internal polling threads
 * (epoll where available; a pool of SL_DEFAULT_HTTP_THREADS unless the config says how
 * many); routing, bodies, auth, JSON errors and the dashboard live in http.c, result
 * streams in results.c, codecs in json_in.c / json_out.c, the ingest pipeline
 * (decoding off the lock, group commit) in ingest.c.  One mutex, held around every call
 * into the instance and every subscriber buffer access, serialises everything below
 * HTTP; the heartbeat, upkeep and ingest committer threads take it too. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include "instance.h"

#include <stddef.h>
#include <sys/socket.h>

typedef struct sl_http sl_http;

typedef enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG } sl_log_level;

typedef struct sl_http_config {
    const struct sockaddr *addr; /* where to listen (port 0: any free port) */
    const char *auth_token;      /* required as "Authorization: Bearer <token>"; NULL: none */
    const char *tls_cert;        /* PEM text of the certificate and key; both NULL: plain HTTP */
    const char *tls_key;
    size_t max_body;             /* largest request body, bytes */
    unsigned max_pending_bodies; /* POST bodies received or processed at once; past: 429 */
    size_t max_pending_bytes;    /* bytes those bodies may hold together; past: 429 */
    unsigned max_connections;    /* open connections (result streams included) */
    size_t subscriber_buffer;    /* largest unsent output per subscriber, bytes */
    const char *web_root;        /* serve the dashboard from this directory; NULL: embedded */
    unsigned heartbeat_ms;       /* heartbeat period of idle result streams */
    unsigned threads;            /* threads serving connections; 0: SL_DEFAULT_HTTP_THREADS */
    sl_log_level log_level;
} sl_http_config;

/* Starts serving in (borrowed: it must outlive the server).  The config's strings are
 * copied.  On failure returns -1 with a one-line reason in msg. On success *out is the
 * server; the caller stops it with sl_http_stop before closing the instance. */
int sl_http_start(const sl_http_config *cfg, sl_instance *in, sl_http **out, char *msg,
                  size_t msglen);
/* The port actually bound (useful after port 0). */
unsigned sl_http_port(const sl_http *h);
/* Stops accepting, ends every result stream with a last error line, waits briefly for
 * them to drain, stops MHD and frees the server. Accepts NULL. */
void sl_http_stop(sl_http *h);

/* Writes one log line ("sluice: <level>: ...") to stderr when level is enabled. */
void sl_log(sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the most detailed level sl_log writes (default SL_LOG_INFO). */
void sl_log_set_level(sl_log_level level);

#endif
