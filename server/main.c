/* main.c: the sluice binary: options (flags, else SLUICE_* environment variables, else
 * defaults), the instance and the HTTP server wired together, and signals.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 when the server cannot start (the data
 * directory cannot be opened, the address is taken), 2 for a bad command line or an
 * unsafe configuration (listening beyond loopback without a token, TLS unavailable).
 * Every failure is one line on stderr; nothing here aborts on user input. */
#include "config.h"

#include "http.h"
#include "instance.h"
#include "limits.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Largest token, certificate or key file read. */
#define MAX_SECRET_FILE (1024 * 1024)
/* Bounds of --max-body and --subscriber-buffer. */
#define MIN_SIZE_OPTION 1024ull
#define MAX_SIZE_OPTION (16ull * 1024 * 1024 * 1024)

typedef struct options {
    const char *listen, *data, *token_file, *tls_cert, *tls_key, *fsync, *max_body;
    const char *subscriber_buffer, *log_level, *web_root;
    const char *max_pending_bodies, *max_pending_bytes, *max_connections, *query_state_limit;
    const char *checkpoint_interval, *http_threads;
} options;

static const char usage[] =
    "usage: sluice [--listen ADDR:PORT] [--data DIR] [--auth-token-file F]\n"
    "              [--tls-cert F --tls-key F] [--fsync normal|always] [--max-body BYTES]\n"
    "              [--subscriber-buffer BYTES] [--log-level error|warn|info|debug]\n"
    "              [--web-root DIR] [--max-pending-bodies N] [--max-pending-bytes BYTES]\n"
    "              [--max-connections N] [--query-state-limit BYTES]\n"
    "              [--checkpoint-interval MS] [--http-threads N] [--help] [--version]\n"
    "\n"
    "A stream query server: POST events, register continuous SQL, stream results.\n"
    "Each option may also be set as an environment variable (SLUICE_LISTEN, SLUICE_DATA,\n"
    "SLUICE_AUTH_TOKEN_FILE, SLUICE_TLS_CERT, SLUICE_TLS_KEY, SLUICE_FSYNC,\n"
    "SLUICE_MAX_BODY, SLUICE_SUBSCRIBER_BUFFER, SLUICE_LOG_LEVEL, SLUICE_WEB_ROOT,\n"
    "SLUICE_MAX_PENDING_BODIES, SLUICE_MAX_PENDING_BYTES, SLUICE_MAX_CONNECTIONS,\n"
    "SLUICE_QUERY_STATE_LIMIT, SLUICE_CHECKPOINT_INTERVAL, SLUICE_HTTP_THREADS);\n"
    "a flag wins over its variable.\n"
    "\n"
    "  --listen ADDR:PORT   address to serve (default 127.0.0.1:8080; port 0 picks one;\n"
    "                       anything beyond loopback needs --auth-token-file)\n"
    "  --data DIR           where the database lives (default ./sluice-data)\n"
    "  --auth-token-file F  require 'Authorization: Bearer <token in F>' on /v1 and /metrics\n"
    "  --tls-cert F, --tls-key F  serve HTTPS with this PEM certificate and key\n"
    "  --fsync MODE         normal (survives a crash) or always (survives power loss)\n"
    "  --max-body BYTES     largest request body (default 64M; K, M, G suffixes)\n"
    "  --subscriber-buffer BYTES  unsent result bytes per client before it is cut off\n"
    "                       (default 8M)\n"
    "  --log-level L        error, warn, info (default) or debug\n"
    "  --web-root DIR       serve the dashboard from DIR instead of the built-in copy\n"
    "  --max-pending-bodies N  POST bodies received or processed at once; more get 429\n"
    "                       with Retry-After (default 64)\n"
    "  --max-pending-bytes BYTES  bytes those bodies may hold together (default 256M)\n"
    "  --max-connections N  open connections, result streams included (default 1024)\n"
    "  --query-state-limit BYTES  state a query may hold before it fails alone\n"
    "                       (default 256M; a query's own \"state_limit\" wins)\n"
    "  --checkpoint-interval MS  longest time a persistent query that changed goes\n"
    "                       without a checkpoint (default 10000; at least 1 s in effect)\n"
    "  --http-threads N     threads serving connections (default 2, at most 64)\n";

static int __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("sluice: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see sluice --help)\n", stderr);
    va_end(ap);
    return 2;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v && *v ? v : dflt;
}

/* Parses "123", "64K", "8M", "1G" (binary multiples) into *out. */
static bool parse_size(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v, mul = 1;

    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return false;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1024;
            break;
        case 'm':
        case 'M':
            mul = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mul = 1024 * 1024 * 1024;
            break;
        default:
            return false;
        }
        if (end[1] && strcasecmp(end + 1, "B") != 0 && strcasecmp(end + 1, "iB") != 0)
            return false;
    }
    if (v > MAX_SIZE_OPTION / mul)
        return false;
    *out = v * mul;
    return *out >= MIN_SIZE_OPTION && *out <= MAX_SIZE_OPTION;
}

/* Parses a count from 1 to max into *out. */
static bool parse_count(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < 1 || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

/* Reads a whole small file (caller frees); NULL with a message on failure. */
static char *read_file(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0;
    size_t n;

    if (!f) {
        fprintf(stderr, "sluice: cannot read %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    data = sl_xmalloc(MAX_SECRET_FILE + 1);
    while ((n = fread(data + len, 1, MAX_SECRET_FILE + 1 - len, f)) > 0)
        len += n;
    if (ferror(f) || len > MAX_SECRET_FILE) {
        fprintf(stderr, "sluice: cannot read %s %s: %s\n", what, path,
                len > MAX_SECRET_FILE ? "file too large" : strerror(errno));
        free(data);
        fclose(f);
        return NULL;
    }
    data[len] = '\0';
    fclose(f);
    return data;
}

/* The token: the file's text without surrounding white space; must be non-empty. */
static char *read_token(const char *path)
{
    char *t = read_file(path, "auth token file");
    size_t start = 0, end;

    if (!t)
        return NULL;
    end = strlen(t);
    while (start < end && strchr(" \t\r\n", t[start]))
        start++;
    while (end > start && strchr(" \t\r\n", t[end - 1]))
        end--;
    if (end == start) {
        fprintf(stderr, "sluice: the auth token file %s is empty\n", path);
        free(t);
        return NULL;
    }
    memmove(t, t + start, end - start);
    t[end - start] = '\0';
    return t;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Resolves "host:port" or "[v6]:port" into addr; prints why not and returns false. */
static bool resolve_listen(const char *spec, struct sockaddr_storage *addr)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints, *res = NULL;
    size_t hlen;
    int rc;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            goto bad;
        hlen = (size_t)(close - spec - 1);
        memcpy(host, spec + 1, hlen < sizeof(host) ? hlen : 0);
        port = close + 2;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - spec);
        memcpy(host, spec, hlen < sizeof(host) ? hlen : 0);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host) || !*port || strspn(port, "0123456789") != strlen(port) ||
        strlen(port) > 5 || atoi(port) > 65535)
        goto bad;
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sluice: cannot resolve --listen %s: %s\n", spec, gai_strerror(rc));
        return false;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
bad:
    fprintf(stderr, "sluice: --listen wants ADDR:PORT (e.g. 127.0.0.1:8080), not '%s'\n", spec);
    return false;
}

/* The instance's log lines, as warnings. */
static void instance_log(void *ctx, const char *line)
{
    sl_log(SL_LOG_WARN, "%s", line);
}

static int64_t wall_clock_ms(void *ctx)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SLUICE_TEST_CLOCK=FILE, for tests only (no flag, not in --help): the server's clock
 * reads the epoch ms written in FILE at every call instead of the wall clock, so that an
 * end-to-end test drives the time IDLE_TIMEOUT goes by without sleeping.  A read that
 * fails (the file being replaced) keeps the last value read. */
static _Atomic int64_t test_clock_last;

static int64_t test_clock_ms(void *ctx)
{
    FILE *f = fopen(ctx, "r");
    long long v;

    if (f) {
        if (fscanf(f, "%lld", &v) == 1)
            atomic_store(&test_clock_last, (int64_t)v);
        fclose(f);
    }
    return atomic_load(&test_clock_last);
}

/* Parses flags over the environment's values; returns -1 to exit 0 (help, version),
 * 2 on a bad command line, else 0. */
static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"auth-token-file", required_argument, NULL, 'a'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"fsync", required_argument, NULL, 'f'},
        {"max-body", required_argument, NULL, 'b'},
        {"subscriber-buffer", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'L'},
        {"web-root", required_argument, NULL, 'w'},
        {"max-pending-bodies", required_argument, NULL, 'P'},
        {"max-pending-bytes", required_argument, NULL, 'B'},
        {"max-connections", required_argument, NULL, 'C'},
        {"query-state-limit", required_argument, NULL, 'Q'},
        {"checkpoint-interval", required_argument, NULL, 'I'},
        {"http-threads", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->listen = env_or("SLUICE_LISTEN", "127.0.0.1:8080");
    o->data = env_or("SLUICE_DATA", "./sluice-data");
    o->token_file = env_or("SLUICE_AUTH_TOKEN_FILE", NULL);
    o->tls_cert = env_or("SLUICE_TLS_CERT", NULL);
    o->tls_key = env_or("SLUICE_TLS_KEY", NULL);
    o->fsync = env_or("SLUICE_FSYNC", "normal");
    o->max_body = env_or("SLUICE_MAX_BODY", NULL);
    o->subscriber_buffer = env_or("SLUICE_SUBSCRIBER_BUFFER", NULL);
    o->log_level = env_or("SLUICE_LOG_LEVEL", "info");
    o->web_root = env_or("SLUICE_WEB_ROOT", NULL);
    o->max_pending_bodies = env_or("SLUICE_MAX_PENDING_BODIES", NULL);
    o->max_pending_bytes = env_or("SLUICE_MAX_PENDING_BYTES", NULL);
    o->max_connections = env_or("SLUICE_MAX_CONNECTIONS", NULL);
    o->query_state_limit = env_or("SLUICE_QUERY_STATE_LIMIT", NULL);
    o->checkpoint_interval = env_or("SLUICE_CHECKPOINT_INTERVAL", NULL);
    o->http_threads = env_or("SLUICE_HTTP_THREADS", NULL);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o->listen = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'a':
            o->token_file = optarg;
            break;
        case 'c':
            o->tls_cert = optarg;
            break;
        case 'k':
            o->tls_key = optarg;
            break;
        case 'f':
            o->fsync = optarg;
            break;
        case 'b':
            o->max_body = optarg;
            break;
        case 's':
            o->subscriber_buffer = optarg;
            break;
        case 'L':
            o->log_level = optarg;
            break;
        case 'w':
            o->web_root = optarg;
            break;
        case 'P':
            o->max_pending_bodies = optarg;
            break;
        case 'B':
            o->max_pending_bytes = optarg;
            break;
        case 'C':
            o->max_connections = optarg;
            break;
        case 'Q':
            o->query_state_limit = optarg;
            break;
        case 'I':
            o->checkpoint_interval = optarg;
            break;
        case 'T':
            o->http_threads = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        case 'V':
            printf("sluice %s\n", PACKAGE_VERSION);
            return -1;
        case ':':
            return bad_usage("%s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    return 0;
}

/* glibc hands memory back to the kernel as soon as 128 KiB lie free at the top of a
 * heap, and maps every allocation from 128 KiB up on its own.  A server that allocates
 * and frees request bodies, rows and SQLite's buffers of about that size thousands of
 * times a second then spends much of its time in madvise, munmap and the page faults
 * that follow (and, on a virtual machine, in the TLB shootdowns they cause): keep up to
 * 64 MiB free per heap, and map only allocations from 16 MiB up (the largest bodies). */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 16 << 20);
#endif
}

int main(int argc, char **argv)
{
    options o;
    sl_http_config cfg;
    sl_instance_opts iopts;
    struct sockaddr_storage addr;
    unsigned long long max_body = SL_DEFAULT_MAX_BODY, sub_buf = SL_DEFAULT_SUBSCRIBER_BUFFER;
    unsigned long long pending_bytes = SL_DEFAULT_MAX_PENDING_BYTES;
    unsigned long long state_limit = SL_DEFAULT_QUERY_STATE_LIMIT;
    unsigned pending_bodies = SL_DEFAULT_MAX_PENDING_BODIES;
    unsigned max_connections = SL_DEFAULT_MAX_CONNECTIONS;
    unsigned checkpoint_ms = SL_DEFAULT_CHECKPOINT_INTERVAL_MS;
    unsigned http_threads = SL_DEFAULT_HTTP_THREADS;
    char *token = NULL, *cert = NULL, *key = NULL;
    sl_instance *in = NULL;
    sl_http *http = NULL;
    sl_error err;
    sigset_t stop_signals;
    char msg[512], host[INET6_ADDRSTRLEN];
    struct stat st;
    int sig, rc;

    rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    tune_malloc();
    memset(&cfg, 0, sizeof(cfg));
    memset(&iopts, 0, sizeof(iopts));
    rc = 2;
    if (strcmp(o.log_level, "error") == 0)
        cfg.log_level = SL_LOG_ERROR;
    else if (strcmp(o.log_level, "warn") == 0 || strcmp(o.log_level, "warning") == 0)
        cfg.log_level = SL_LOG_WARN;
    else if (strcmp(o.log_level, "info") == 0)
        cfg.log_level = SL_LOG_INFO;
    else if (strcmp(o.log_level, "debug") == 0)
        cfg.log_level = SL_LOG_DEBUG;
    else
        return bad_usage("--log-level must be error, warn, info or debug, not '%s'", o.log_level);
    sl_log_set_level(cfg.log_level);
    if (strcmp(o.fsync, "normal") == 0)
        iopts.fsync = SL_FSYNC_NORMAL;
    else if (strcmp(o.fsync, "always") == 0)
        iopts.fsync = SL_FSYNC_ALWAYS;
    else
        return bad_usage("--fsync must be normal or always, not '%s'", o.fsync);
    if (o.max_body && !parse_size(o.max_body, &max_body))
        return bad_usage("--max-body must be a size from 1K to 16G, not '%s'", o.max_body);
    if (o.subscriber_buffer && !parse_size(o.subscriber_buffer, &sub_buf))
        return bad_usage("--subscriber-buffer must be a size from 1K to 16G, not '%s'",
                         o.subscriber_buffer);
    if (o.max_pending_bodies && !parse_count(o.max_pending_bodies, 1000000, &pending_bodies))
        return bad_usage("--max-pending-bodies must be a count from 1 to 1000000, not '%s'",
                         o.max_pending_bodies);
    if (o.max_pending_bytes && !parse_size(o.max_pending_bytes, &pending_bytes))
        return bad_usage("--max-pending-bytes must be a size from 1K to 16G, not '%s'",
                         o.max_pending_bytes);
    if (o.max_connections && !parse_count(o.max_connections, 1000000, &max_connections))
        return bad_usage("--max-connections must be a count from 1 to 1000000, not '%s'",
                         o.max_connections);
    if (o.query_state_limit && !parse_size(o.query_state_limit, &state_limit))
        return bad_usage("--query-state-limit must be a size from 1K to 16G, not '%s'",
                         o.query_state_limit);
    if (o.checkpoint_interval && !parse_count(o.checkpoint_interval, 86400000, &checkpoint_ms))
        return bad_usage("--checkpoint-interval must be milliseconds from 1 to 86400000, not '%s'",
                         o.checkpoint_interval);
    if (o.http_threads && !parse_count(o.http_threads, SL_MAX_HTTP_THREADS, &http_threads))
        return bad_usage("--http-threads must be a count from 1 to %d, not '%s'",
                         SL_MAX_HTTP_THREADS, o.http_threads);
    if (!!o.tls_cert != !!o.tls_key)
        return bad_usage("%s", "--tls-cert and --tls-key go together");
    if (o.web_root && (stat(o.web_root, &st) < 0 || !S_ISDIR(st.st_mode)))
        return bad_usage("--web-root %s is not a directory", o.web_root);
    if (!resolve_listen(o.listen, &addr))
        return 2;
    if (o.token_file && !(token = read_token(o.token_file)))
        goto done;
    if (!token && !is_loopback((struct sockaddr *)&addr)) {
        fprintf(stderr,
                "sluice: refusing to listen on %s without --auth-token-file (only loopback "
                "addresses may go without a token)\n",
                o.listen);
        goto done;
    }
    if (o.tls_cert && (!(cert = read_file(o.tls_cert, "TLS certificate")) ||
                       !(key = read_file(o.tls_key, "TLS key"))))
        goto done;

    /* Every thread started from here on inherits the blocked stop signals, so that only
     * sigwait below sees them. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    rc = 1;
    iopts.data_dir = o.data;
    iopts.clock_ms = wall_clock_ms;
    if (getenv("SLUICE_TEST_CLOCK")) {
        iopts.clock_ms = test_clock_ms;
        iopts.clock_ctx = getenv("SLUICE_TEST_CLOCK");
        if (test_clock_ms(iopts.clock_ctx) == 0) {
            fprintf(stderr, "sluice: SLUICE_TEST_CLOCK: no epoch ms in %s\n",
                    (const char *)iopts.clock_ctx);
            goto done;
        }
    }
    iopts.query_state_limit = state_limit;
    iopts.checkpoint_interval_ms = checkpoint_ms;
    iopts.log = instance_log;
    if (sl_instance_open(&iopts, &in, &err) < 0) {
        fprintf(stderr, "sluice: cannot open the data directory %s: %s\n", o.data, err.message);
        goto done;
    }
    cfg.addr = (struct sockaddr *)&addr;
    cfg.auth_token = token;
    cfg.tls_cert = cert;
    cfg.tls_key = key;
    cfg.max_body = (size_t)max_body;
    cfg.subscriber_buffer = (size_t)sub_buf;
    cfg.max_pending_bodies = pending_bodies;
    cfg.max_pending_bytes = (size_t)pending_bytes;
    cfg.max_connections = max_connections;
    cfg.web_root = o.web_root;
    cfg.heartbeat_ms = 15000;
    cfg.threads = http_threads;
    if (sl_http_start(&cfg, in, &http, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "sluice: %s: %s\n", o.listen, msg);
        rc = strstr(msg, "TLS") ? 2 : 1;
        goto done;
    }
    if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
    printf(addr.ss_family == AF_INET6 ? "sluice listening on %s://[%s]:%u\n"
                                      : "sluice listening on %s://%s:%u\n",
           cert ? "https" : "http", host, sl_http_port(http));
    fflush(stdout);

    while (sigwait(&stop_signals, &sig) != 0)
        ;
    sl_log(SL_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
done:
    sl_http_stop(http);
    /* Requests are answered and streams ended: the queries' state is final. */
    if (rc == 0 && sl_instance_checkpoint_all(in, &err) < 0)
        sl_log(SL_LOG_WARN, "checkpoint at shutdown: %s", err.message);
    sl_instance_close(in);
    free(token);
    free(cert);
    free(key);
    return rc;
}
