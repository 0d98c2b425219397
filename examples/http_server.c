/*
 * http_server.c — an HTTP/1.1 server on a twill pool: the worker-pool
 * pattern's web-server exercise, with backpressure a client can see.
 *
 * One acceptor thread (this program's main thread) owns an epoll set: the
 * listening socket, a signalfd for SIGTERM/SIGINT, and every connection
 * (EPOLLONESHOT, so a connection belongs to exactly one thread at a time:
 * the acceptor while it reads a request, a worker while it answers).  The
 * acceptor parses requests with http-parser (Debian's libhttp-parser) and
 * hands each complete one to the CPU pool with twill_submit_for(…, 0): when
 * the bounded queue is full it answers 503 with Retry-After itself, at once,
 * and never blocks.  A worker answers, then re-arms the connection
 * (keep-alive) or closes it.  Endpoints:
 *   GET /fib?n=K    fork-join inside the request (twill_join), K <= 40;
 *   GET /sleep?ms=M blocking work on a second pool (the I/O pool, more
 *                   workers, unpinned), which answers when done; M <= 10000;
 *   GET /stats      both pools' twill_stats and the server's counters, JSON;
 *   GET /health     "ok", submitted at TWILL_PRIO_HIGH: it has its own queue
 *                   and overtakes a backlog of requests, so it answers under
 *                   full load.
 * A request that does not parse gets 400, an oversized one (URL over 2 KiB,
 * headers over 8 KiB, a body over 64 KiB) 413; both then close the
 * connection.  Other paths are 404, other methods 405.
 *
 * Shutdown (SIGTERM or SIGINT): stop accepting and reading, drain the CPU
 * pool (every dispatched request is answered; /sleep ones move on to the
 * I/O pool), then drain the I/O pool, close every connection, print the
 * counters and exit 0 when every dispatched request was answered.
 *
 * Usage: http_server [--port N] [--workers W] [--queue Q] [--sched stealing|central]
 * Port 0 (the default) takes any free port; "listening on PORT" is printed
 * on stdout once connections are accepted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "example.h"
#include "twill.h"

enum {
    BUF_SIZE = 16384,
    URL_MAX = 2048,
    HEADERS_MAX = 8192,
    BODY_MAX = 65536,
    FIB_MAX = 40,
    SLEEP_MAX_MS = 10000,
    WRITE_TIMEOUT_MS = 5000,
};

typedef struct conn {
    int fd;
    http_parser parser;
    char buf[BUF_SIZE]; /* received, not yet fed to the parser */
    size_t len;
    char url[URL_MAX + 1];
    size_t url_len, header_bytes, body_bytes;
    bool complete, too_large, keep_alive;
    struct conn *prev, *next; /* the registry, under registry_lock */
} conn;

static twill_pool *cpu_pool, *io_pool;
static int epfd;
static http_parser_settings settings;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static conn *registry;
static _Atomic long dispatched, answered, rejected, bad_requests, connections;

/* ------------------------------------------------------------ parsing -- */

static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    c->url_len = c->header_bytes = c->body_bytes = 0;
    c->complete = c->too_large = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->url_len + n > URL_MAX) {
        c->too_large = true;
        return -1;
    }
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_header_bytes(http_parser *p, const char *at, size_t n)
{
    (void)at;
    conn *c = p->data;
    c->header_bytes += n;
    if (c->header_bytes > HEADERS_MAX) {
        c->too_large = true;
        return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn *c = p->data;
    if (p->content_length != (uint64_t)-1 && p->content_length > BODY_MAX) {
        c->too_large = true;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    (void)at;
    conn *c = p->data;
    c->body_bytes += n;
    if (c->body_bytes > BODY_MAX) {
        c->too_large = true;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    c->complete = true;
    c->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* one request at a time: the rest stays buffered */
    return 0;
}

typedef enum { NEED_MORE, READY, BAD, TOO_LARGE } parse_result;

/* Feed the buffered bytes to the parser, stopping after one request. */
static parse_result feed(conn *c)
{
    size_t n = http_parser_execute(&c->parser, &settings, c->buf, c->len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED)
        http_parser_pause(&c->parser, 0);
    else if (e != HPE_OK)
        return c->too_large ? TOO_LARGE : BAD;
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return c->complete ? READY : NEED_MORE;
}

/* --------------------------------------------------------- connections -- */

static conn *conn_new(int fd)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    pthread_mutex_lock(&registry_lock);
    c->next = registry;
    if (registry != NULL)
        registry->prev = c;
    registry = c;
    pthread_mutex_unlock(&registry_lock);
    atomic_fetch_add(&connections, 1);
    return c;
}

static void conn_close(conn *c)
{
    pthread_mutex_lock(&registry_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        registry = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&registry_lock);
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

/* Give the connection back to the acceptor for its next request. */
static void conn_rearm(conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        conn_close(c);
}

/* Write all of it, waiting at most timeout_ms for room each time. */
static bool write_all(int fd, const char *p, size_t n, int timeout_ms)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (timeout_ms > 0 && poll(&pfd, 1, timeout_ms) == 1)
                continue;
        }
        return false;
    }
    return true;
}

static bool respond(conn *c, int status, const char *reason, const char *type, const char *body,
                    const char *extra, int timeout_ms)
{
    /* One send for head and body: two would meet Nagle's algorithm and the
       client's delayed ACK (40 ms a response). */
    char msg[2048];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: %s\r\n\r\n%s",
                     status, reason, type, strlen(body), extra,
                     c->keep_alive ? "keep-alive" : "close", body);
    return n > 0 && (size_t)n < sizeof msg && write_all(c->fd, msg, (size_t)n, timeout_ms);
}

/* --------------------------------------------------------- the handlers -- */

static void handle(conn *c);

/* A worker answered c's request: the next one, if buffered, is handled
   here; otherwise the connection goes back to the acceptor, or closes. */
static void finish(conn *c, bool ok)
{
    atomic_fetch_add(&answered, 1);
    while (ok && c->keep_alive) {
        parse_result r = c->len > 0 ? feed(c) : NEED_MORE;
        if (r == NEED_MORE) {
            conn_rearm(c);
            return;
        }
        if (r != READY)
            break; /* a bad pipelined request: just close */
        atomic_fetch_add(&dispatched, 1);
        handle(c);
        return;
    }
    conn_close(c);
}

typedef struct fib_arg {
    int n;
    long r;
} fib_arg;

static int fib_task(void *p)
{
    fib_arg *f = p;
    if (f->n < 20) { /* a serial cutoff: fork only where it pays */
        long a = 0, b = 1;
        for (int i = 0; i < f->n; i++) {
            long t = a + b;
            a = b;
            b = t;
        }
        f->r = a;
        return 0;
    }
    fib_arg x = {f->n - 1, 0}, y = {f->n - 2, 0};
    int rc = twill_join(fib_task, &x, fib_task, &y);
    f->r = x.r + y.r;
    return rc;
}

/* The value of ?name= in c's URL, or -1. */
static long query_value(const conn *c, const char *name)
{
    const char *q = strchr(c->url, '?');
    size_t nl = strlen(name);
    for (q = q != NULL ? q + 1 : NULL; q != NULL; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL)
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            char *end;
            long v = strtol(q + nl + 1, &end, 10);
            return end != q + nl + 1 && (*end == '\0' || *end == '&') ? v : -1;
        }
    return -1;
}

static bool path_is(const conn *c, const char *path)
{
    size_t n = strlen(path);
    return strncmp(c->url, path, n) == 0 && (c->url[n] == '\0' || c->url[n] == '?');
}

static int sleep_task(void *arg)
{
    conn *c = arg;
    long ms = query_value(c, "ms");
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    char body[64];
    snprintf(body, sizeof body, "slept %ld ms\n", ms);
    finish(c, respond(c, 200, "OK", "text/plain", body, "", WRITE_TIMEOUT_MS));
    return 0;
}

static void stats_json(char *out, size_t len)
{
    twill_stats cpu, io;
    twill_pool_stats(cpu_pool, -1, &cpu);
    twill_pool_stats(io_pool, -1, &io);
    snprintf(out, len,
             "{\"cpu\":{\"workers\":%u,\"tasks_run\":%llu,\"steals\":%llu,\"queued\":%llu,"
             "\"parks\":%llu},\"io\":{\"workers\":%u,\"tasks_run\":%llu,\"queued\":%llu},"
             "\"server\":{\"connections\":%ld,\"dispatched\":%ld,\"answered\":%ld,"
             "\"rejected_503\":%ld,\"bad_requests\":%ld}}\n",
             twill_pool_size(cpu_pool), (unsigned long long)cpu.tasks_run,
             (unsigned long long)cpu.steals, (unsigned long long)cpu.queued,
             (unsigned long long)cpu.parks, twill_pool_size(io_pool),
             (unsigned long long)io.tasks_run, (unsigned long long)io.queued,
             atomic_load(&connections), atomic_load(&dispatched), atomic_load(&answered),
             atomic_load(&rejected), atomic_load(&bad_requests));
}

/* Answer c's request on a worker of the CPU pool. */
static void handle(conn *c)
{
    char body[1024];
    bool ok;
    if (c->parser.method != HTTP_GET) {
        ok = respond(c, 405, "Method Not Allowed", "text/plain", "GET only\n", "Allow: GET\r\n",
                     WRITE_TIMEOUT_MS);
    } else if (path_is(c, "/health")) {
        ok = respond(c, 200, "OK", "text/plain", "ok\n", "", WRITE_TIMEOUT_MS);
    } else if (path_is(c, "/stats")) {
        stats_json(body, sizeof body);
        ok = respond(c, 200, "OK", "application/json", body, "", WRITE_TIMEOUT_MS);
    } else if (path_is(c, "/fib")) {
        fib_arg f = {(int)query_value(c, "n"), 0};
        if (f.n < 0 || f.n > FIB_MAX) {
            ok = respond(c, 400, "Bad Request", "text/plain", "n must be 0..40\n", "",
                         WRITE_TIMEOUT_MS);
        } else {
            fib_task(&f);
            snprintf(body, sizeof body, "fib(%d) = %ld\n", f.n, f.r);
            ok = respond(c, 200, "OK", "text/plain", body, "", WRITE_TIMEOUT_MS);
        }
    } else if (path_is(c, "/sleep")) {
        long ms = query_value(c, "ms");
        if (ms < 0 || ms > SLEEP_MAX_MS) {
            ok = respond(c, 400, "Bad Request", "text/plain", "ms must be 0..10000\n", "",
                         WRITE_TIMEOUT_MS);
        } else {
            int rc = twill_submit_for(io_pool, sleep_task, c, 0);
            if (rc == 0)
                return; /* the I/O pool answers */
            atomic_fetch_add(&rejected, 1);
            ok = respond(c, 503, "Service Unavailable", "text/plain", "busy, retry\n",
                         "Retry-After: 1\r\n", WRITE_TIMEOUT_MS);
        }
    } else {
        ok = respond(c, 404, "Not Found", "text/plain", "not found\n", "", WRITE_TIMEOUT_MS);
    }
    finish(c, ok);
}

static int request_task(void *arg)
{
    handle(arg);
    return 0;
}

/* ------------------------------------------------------------ acceptor -- */

/* Hand c's complete request to the CPU pool, or answer 503 at once. */
static void dispatch(conn *c)
{
    /* /health at HIGH: its own queue (a full NORMAL queue never refuses
       it) and it starts before every queued request. */
    int rc = twill_submit_prio(cpu_pool, path_is(c, "/health") ? TWILL_PRIO_HIGH : TWILL_PRIO_NORMAL,
                               request_task, c, 0);
    if (rc == 0) {
        atomic_fetch_add(&dispatched, 1);
        return;
    }
    atomic_fetch_add(&rejected, 1);
    /* 0 ms: the acceptor never waits for a slow client's window. */
    if (!respond(c, 503, "Service Unavailable", "text/plain", "busy, retry\n",
                 "Retry-After: 1\r\n", 0) ||
        !c->keep_alive) {
        conn_close(c);
        return;
    }
    /* The next request may already be buffered. */
    parse_result r = c->len > 0 ? feed(c) : NEED_MORE;
    if (r == READY)
        dispatch(c);
    else if (r == NEED_MORE)
        conn_rearm(c);
    else
        conn_close(c);
}

/* c is readable: read, parse, dispatch or answer an error. */
static void on_readable(conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            conn_rearm(c);
            return;
        }
        c->len += (size_t)n;
        switch (feed(c)) {
        case READY:
            dispatch(c);
            return;
        case NEED_MORE:
            continue;
        case TOO_LARGE:
            atomic_fetch_add(&bad_requests, 1);
            c->keep_alive = false;
            respond(c, 413, "Payload Too Large", "text/plain", "request too large\n", "", 0);
            conn_close(c);
            return;
        case BAD:
            atomic_fetch_add(&bad_requests, 1);
            c->keep_alive = false;
            respond(c, 400, "Bad Request", "text/plain", "bad request\n", "", 0);
            conn_close(c);
            return;
        }
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
    int port = 0;
    unsigned workers = 0;
    size_t queue = 256;
    twill_sched sched = TWILL_SCHED_STEALING;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--port") == 0 && a + 1 < argc)
            port = atoi(argv[++a]);
        else if (strcmp(argv[a], "--workers") == 0 && a + 1 < argc)
            workers = (unsigned)atoi(argv[++a]);
        else if (strcmp(argv[a], "--queue") == 0 && a + 1 < argc)
            queue = (size_t)atol(argv[++a]);
        else if (strcmp(argv[a], "--sched") == 0 && a + 1 < argc &&
                 (strcmp(argv[a + 1], "stealing") == 0 || strcmp(argv[a + 1], "central") == 0))
            sched = strcmp(argv[++a], "central") == 0 ? TWILL_SCHED_CENTRAL : sched;
        else {
            fprintf(stderr, "usage: %s [--port N] [--workers W] [--queue Q] "
                            "[--sched stealing|central]\n", argv[0]);
            return 2;
        }
    }
    http_parser_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_bytes;
    settings.on_header_value = on_header_bytes;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    /* Blocked before the pools start, so their threads inherit the mask and
       the signals reach only the signalfd. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.queue_capacity = queue;
    cfg.scheduler = sched;
    cfg.name = "cpu";
    example_check(twill_pool_create(&cpu_pool, &cfg), "CPU pool");
    twill_config_init(&cfg);
    cfg.workers = 32; /* blocking work: many more workers than cores */
    cfg.queue_capacity = 1024;
    cfg.scheduler = sched;
    cfg.pin = TWILL_PIN_NONE;
    cfg.name = "io";
    example_check(twill_pool_create(&io_pool, &cfg), "I/O pool");

    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    int lfd = listen_on(port);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &sfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
    printf("listening on %u\n", bound_port(lfd));
    fflush(stdout);

    bool stop = false;
    while (!stop) {
        struct epoll_event evs[64];
        int n = epoll_wait(epfd, evs, 64, -1);
        for (int i = 0; i < n && !stop; i++) {
            if (evs[i].data.ptr == &sfd) {
                stop = true;
            } else if (evs[i].data.ptr == &lfd) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *c = conn_new(fd);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
                                              .data.ptr = c};
                    if (c == NULL || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev) != 0) {
                        if (c != NULL)
                            conn_close(c);
                        else
                            close(fd);
                    }
                }
            } else {
                on_readable(evs[i].data.ptr);
            }
        }
    }

    /* Graceful shutdown: no new connections or requests; every dispatched
       request is answered (the CPU pool first: /sleep moves to the I/O
       pool, which drains second). */
    close(lfd);
    double t0 = example_now_ms();
    twill_pool_shutdown(cpu_pool, TWILL_DRAIN, NULL);
    twill_pool_shutdown(io_pool, TWILL_DRAIN, NULL);
    pthread_mutex_lock(&registry_lock);
    while (registry != NULL) {
        conn *c = registry;
        registry = c->next;
        close(c->fd);
        free(c);
    }
    pthread_mutex_unlock(&registry_lock);
    twill_pool_destroy(cpu_pool);
    twill_pool_destroy(io_pool);
    close(epfd);
    long d = atomic_load(&dispatched), a = atomic_load(&answered);
    printf("shutdown: %ld connections, %ld requests dispatched, %ld answered, %ld answered 503 "
           "by the acceptor or the CPU pool, %ld bad; drained in %.1f ms\n",
           atomic_load(&connections), d, a, atomic_load(&rejected), atomic_load(&bad_requests),
           example_now_ms() - t0);
    return d == a ? 0 : 1;
}
