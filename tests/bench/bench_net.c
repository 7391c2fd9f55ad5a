/* bench_net.c: the benchmarks' HTTP/1.1 client and null server (see bench_net.h).
 *
 * Responses are parsed only as far as the benchmarks need: the status line, and
 * Content-Length or chunked framing.  Every buffer grows as needed; a malformed response
 * is a connection error (-1), never a crash. */
#include "bench_net.h"

#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int bench_connect(bench_conn *c, int port)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

void bench_close(bench_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into c->buf; returns the count, 0 at EOF, -1 on error. */
static ssize_t fill(bench_conn *c)
{
    ssize_t n;

    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap + 1);
        if (!c->buf)
            abort();
    }
    do
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

/* The index just past "\r\n\r\n" in c->buf, or 0 when the head is not complete. */
static size_t head_end(const bench_conn *c)
{
    for (size_t i = 3; i < c->len; i++)
        if (c->buf[i] == '\n' && c->buf[i - 1] == '\r' && c->buf[i - 2] == '\n' &&
            c->buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

/* The value of header name in head[0..len) (case-insensitive), or NULL. */
static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i + nl + 1 < len; i++)
        if ((i == 0 || head[i - 1] == '\n') && strncasecmp(head + i, name, nl) == 0 &&
            head[i + nl] == ':')
            return head + i + nl + 1;
    return NULL;
}

/* Reads one response with a Content-Length body; consumes it from c->buf. */
static int read_response(bench_conn *c, char **body_out)
{
    size_t he, blen;
    const char *cl;
    int status;

    while ((he = head_end(c)) == 0)
        if (fill(c) <= 0)
            return -1;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    cl = find_header(c->buf, he, "Content-Length");
    blen = cl ? (size_t)strtoull(cl, NULL, 10) : 0;
    while (c->len < he + blen)
        if (fill(c) <= 0)
            return -1;
    if (body_out) {
        *body_out = malloc(blen + 1);
        if (!*body_out)
            abort();
        memcpy(*body_out, c->buf + he, blen);
        (*body_out)[blen] = '\0';
    }
    memmove(c->buf, c->buf + he + blen, c->len - he - blen);
    c->len -= he + blen;
    return status;
}

char *bench_build_post(const char *path, const char *ctype, const char *body, size_t len,
                       size_t *out_len)
{
    char head[512];
    int hl =
        snprintf(head, sizeof(head),
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Length: %zu\r\n\r\n", path,
                 ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", len);
    char *req = malloc((size_t)hl + len + 1);

    if (!req)
        abort();
    memcpy(req, head, (size_t)hl);
    memcpy(req + hl, body, len);
    req[(size_t)hl + len] = '\0';
    *out_len = (size_t)hl + len;
    return req;
}

int bench_send_raw(bench_conn *c, const char *req, size_t len)
{
    if (send_all(c->fd, req, len) < 0)
        return -1;
    return read_response(c, NULL);
}

int bench_request(bench_conn *c, const char *head, const char *ctype, const char *body, size_t len,
                  char **body_out)
{
    char line[512];
    char *req;
    size_t rl;
    int rc;

    if (body_out)
        *body_out = NULL;
    if (strncmp(head, "POST ", 5) == 0) {
        req = bench_build_post(head + 5, ctype, body, len, &rl);
    } else {
        int n = snprintf(line, sizeof(line), "%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", head);
        req = strdup(line);
        rl = (size_t)n;
    }
    rc = send_all(c->fd, req, rl);
    free(req);
    return rc < 0 ? -1 : read_response(c, body_out);
}

int bench_stream(int port, const char *path,
                 int (*line)(void *ctx, const char *text, size_t len, double t), void *ctx)
{
    bench_conn c;
    char req[512];
    size_t pos, he;
    /* The body so far (de-chunked) and where its unfinished line starts. */
    char *body = NULL;
    size_t blen = 0, bcap = 0;
    int rc = -1;

    if (bench_connect(&c, port) < 0)
        return -1;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (send_all(c.fd, req, strlen(req)) < 0)
        goto done;
    while ((he = head_end(&c)) == 0)
        if (fill(&c) <= 0)
            goto done;
    pos = he;
    for (;;) {
        double t;
        char *crlf;
        size_t size, start;

        /* A chunk: hex size, CRLF, data, CRLF. */
        c.buf[c.len] = '\0';
        crlf = strstr(c.buf + pos, "\r\n");
        if (!crlf) {
            if (fill(&c) <= 0)
                goto done;
            continue;
        }
        size = (size_t)strtoull(c.buf + pos, NULL, 16);
        start = (size_t)(crlf - c.buf) + 2;
        if (size == 0)
            goto done;
        while (c.len < start + size + 2)
            if (fill(&c) <= 0)
                goto done;
        t = bench_now();
        if (blen + size > bcap) {
            bcap = (blen + size) * 2;
            body = realloc(body, bcap);
            if (!body)
                abort();
        }
        memcpy(body + blen, c.buf + start, size);
        blen += size;
        pos = start + size + 2;
        memmove(c.buf, c.buf + pos, c.len - pos);
        c.len -= pos;
        pos = 0;
        /* Every complete line goes to the callback. */
        size_t ls = 0;
        for (size_t i = 0; i < blen; i++) {
            if (body[i] != '\n')
                continue;
            if (line(ctx, body + ls, i - ls, t)) {
                rc = 0;
                goto done;
            }
            ls = i + 1;
        }
        memmove(body, body + ls, blen - ls);
        blen -= ls;
    }
done:
    free(body);
    bench_close(&c);
    return rc;
}

/* --- The null server ---------------------------------------------------------------- */

static void *null_conn(void *arg)
{
    bench_conn c = {(int)(intptr_t)arg, NULL, 0, 0};
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 14\r\n\r\n{\"accepted\":1}";

    for (;;) {
        size_t he, blen;
        const char *cl;

        while ((he = head_end(&c)) == 0)
            if (fill(&c) <= 0)
                goto done;
        cl = find_header(c.buf, he, "Content-Length");
        blen = cl ? (size_t)strtoull(cl, NULL, 10) : 0;
        while (c.len < he + blen)
            if (fill(&c) <= 0)
                goto done;
        memmove(c.buf, c.buf + he + blen, c.len - he - blen);
        c.len -= he + blen;
        if (send_all(c.fd, answer, sizeof(answer) - 1) < 0)
            goto done;
    }
done:
    bench_close(&c);
    return NULL;
}

static void *null_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;

    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        int one = 1;
        pthread_t t;

        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&t, NULL, null_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
    return NULL;
}

int bench_null_server_start(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t t;

    if (lfd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        close(lfd);
        return -1;
    }
    if (pthread_create(&t, NULL, null_accept, (void *)(intptr_t)lfd) != 0) {
        close(lfd);
        return -1;
    }
    pthread_detach(t);
    return ntohs(sa.sin_port);
}
