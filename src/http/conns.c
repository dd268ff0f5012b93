/* The connections the server holds and their deadlines. libmicrohttpd's
 * timeout counts idle time only, so a client that sends a byte now and
 * then would keep its slot for ever: here each connection has a deadline
 * for what it is doing (its request line and headers, its answer, the
 * next request on a kept-alive connection), and a thread shuts the socket
 * of one past it, which libmicrohttpd then closes as any dropped
 * connection. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "http/http.h"
#include "http/http_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the deadlines are looked at. */
#define SWEEP_PERIOD_MS 250

static int64_t now_ms(void)
{
    return (int64_t)(clock_monotonic_us() / 1000);
}

static unsigned long socket_inode(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* Shuts every connection past its deadline. Called with the lock held:
 * a record leaves the list (http_conns_closed) before libmicrohttpd
 * closes its fd, and the inode check skips an fd already given to
 * another socket. */
static void sweep(struct http_conns *c)
{
    int64_t now = now_ms();
    for (struct http_conn *k = c->head; k; k = k->next) {
        if (k->deadline_ms > now) {
            continue;
        }
        k->deadline_ms = INT64_MAX;
        if (socket_inode(k->fd) == k->inode) {
            log_debug("http", "closing a connection past its deadline");
            shutdown(k->fd, SHUT_RDWR);
        }
    }
}

static void *sweeper(void *arg)
{
    struct http_conns *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_PERIOD_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
        sweep(c);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int http_conns_start(struct http_conns *c)
{
    *c = (struct http_conns){ 0 };
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    c->ready = true;
    int rc = pthread_create(&c->sweeper, NULL, sweeper, c);
    c->running = rc == 0;
    return -rc;
}

void http_conns_stop(struct http_conns *c)
{
    if (!c->ready) {
        return;
    }
    if (c->running) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->sweeper, NULL);
        c->running = false;
    }
    while (c->head) {
        struct http_conn *k = c->head;
        c->head = k->next;
        free(k);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
}

struct http_conn *http_conns_opened(struct http_conns *c, int fd)
{
    struct http_conn *k = xcalloc(1, sizeof(*k));
    k->fd = fd;
    k->inode = socket_inode(fd);
    k->deadline_ms = now_ms() + HTTP_HEADER_DEADLINE_S * 1000LL;
    pthread_mutex_lock(&c->lock);
    k->next = c->head;
    if (c->head) {
        c->head->prev = k;
    }
    c->head = k;
    c->count++;
    pthread_mutex_unlock(&c->lock);
    return k;
}

void http_conns_closed(struct http_conns *c, struct http_conn *k)
{
    if (!k) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (k->prev) {
        k->prev->next = k->next;
    } else {
        c->head = k->next;
    }
    if (k->next) {
        k->next->prev = k->prev;
    }
    c->count--;
    c->in_flight_bytes -= k->answer_bytes;
    pthread_mutex_unlock(&c->lock);
    free(k);
}

void http_conns_deadline(struct http_conns *c, struct http_conn *k, unsigned seconds)
{
    if (!k) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (k->deadline_ms != INT64_MAX) { /* once shut, it stays so */
        k->deadline_ms = now_ms() + (int64_t)seconds * 1000;
    }
    pthread_mutex_unlock(&c->lock);
}

void http_conns_sending(struct http_conns *c, struct http_conn *k, size_t bytes)
{
    if (!k) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->in_flight_bytes += bytes;
    k->answer_bytes += bytes;
    pthread_mutex_unlock(&c->lock);
}

void http_conns_sent(struct http_conns *c, struct http_conn *k)
{
    if (!k) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->in_flight_bytes -= k->answer_bytes;
    k->answer_bytes = 0;
    pthread_mutex_unlock(&c->lock);
}

size_t http_conns_in_flight_bytes(struct http_conns *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->in_flight_bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}
