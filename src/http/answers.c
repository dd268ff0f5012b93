/* The answers cache: replies computed from the database, kept while the
 * data they read has not changed, within a fixed number of bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/xalloc.h"

void http_answers_init(struct http_answers *c, size_t max_bytes)
{
    *c = (struct http_answers){ .max_bytes = max_bytes };
    pthread_mutex_init(&c->lock, NULL);
}

static void drop(struct http_answers *c, struct http_answer *e)
{
    c->bytes -= e->len;
    free(e->body);
    *e = (struct http_answer){ 0 };
}

void http_answers_fini(struct http_answers *c)
{
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES; i++) {
        free(c->entries[i].body);
    }
    pthread_mutex_destroy(&c->lock);
}

/* Drops the answers that the changes made since the last look may have
 * changed: those that read data at or after the earliest time changed.
 * Called with the lock held. */
static void forget_changed(struct http_answers *c, struct agent_live *live)
{
    uint64_t now = 0;
    int64_t from = agent_live_changed_from_ms(live, c->seen_version, &now);
    c->seen_version = now;
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES && from != INT64_MAX; i++) {
        struct http_answer *e = &c->entries[i];
        if (e->body && e->to_ms > from) {
            drop(c, e);
        }
    }
}

bool http_answers_get(struct http_answers *c, struct agent_live *live, const char *key,
                      struct http_reply *reply)
{
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    forget_changed(c, live);
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES && !hit; i++) {
        struct http_answer *e = &c->entries[i];
        if (!e->body || strcmp(e->key, key) != 0) {
            continue;
        }
        dynbuf_reset(&reply->body);
        hit = dynbuf_add(&reply->body, e->body, e->len) == 0;
        if (hit) {
            e->used = ++c->clock;
            reply->status = e->status;
            reply->content_type = e->content_type;
            reply->cache_control = e->cache_control;
            memcpy(reply->etag, e->etag, sizeof(reply->etag));
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

/* The slot a new answer of len bytes takes: its key's, else a free one,
 * else the least recently used; older answers go until len fits. Called
 * with the lock held. */
static struct http_answer *make_room(struct http_answers *c, const char *key, size_t len)
{
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES; i++) {
        if (c->entries[i].body && strcmp(c->entries[i].key, key) == 0) {
            drop(c, &c->entries[i]);
        }
    }
    for (;;) {
        struct http_answer *free_slot = NULL;
        struct http_answer *oldest = NULL;
        for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES; i++) {
            struct http_answer *e = &c->entries[i];
            if (!e->body) {
                free_slot = free_slot ? free_slot : e;
            } else if (!oldest || e->used < oldest->used) {
                oldest = e;
            }
        }
        if ((free_slot && c->bytes + len <= c->max_bytes) || !oldest) {
            return free_slot; /* !oldest: all free, and len <= max_bytes */
        }
        drop(c, oldest);
    }
}

void http_answers_put(struct http_answers *c, struct agent_live *live, const char *key,
                      uint64_t version, int64_t to_ms, const struct http_reply *reply)
{
    size_t len = reply->body.len;
    if (reply->status != 200 || strlen(key) >= sizeof(c->entries[0].key) ||
        len > c->max_bytes / HTTP_ANSWERS_MIN_KEPT || len == 0) {
        return;
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, reply->body.data, len);
    copy[len] = '\0';
    pthread_mutex_lock(&c->lock);
    forget_changed(c, live);
    /* Computed at version: a change since then that reached its range
     * made it stale already (checked after forget_changed, so that every
     * later change is seen by the next one). */
    if (agent_live_changed_from_ms(live, version, NULL) < to_ms) {
        pthread_mutex_unlock(&c->lock);
        free(copy);
        return;
    }
    struct http_answer *e = make_room(c, key, len);
    *e = (struct http_answer){
        .to_ms = to_ms,
        .used = ++c->clock,
        .body = copy,
        .len = len,
        .status = reply->status,
        .content_type = reply->content_type,
        .cache_control = reply->cache_control,
    };
    snprintf(e->key, sizeof(e->key), "%s", key);
    memcpy(e->etag, reply->etag, sizeof(e->etag));
    c->bytes += len;
    pthread_mutex_unlock(&c->lock);
}
