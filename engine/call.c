/*
 * What every action call needs besides its inputs: the monotonic clock,
 * the time left before the deadline, and per-run caches of expensive
 * objects (a mongoc client per URI).  The cache is a small list keyed by
 * (runner, key): a run holds a handful of entries, so a linear scan is the
 * simplest thing that is fast enough.  Without a runner (unit tests) the
 * entries belong to the NULL runner and go with ls_call_cache_clear(NULL).
 */
#include "registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ls_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

int64_t ls_call_remaining_ms(const ls_call *call)
{
    if (call == NULL || call->deadline_ms <= 0)
        return INT64_MAX;
    int64_t left = call->deadline_ms - ls_now_ms();
    return left > 0 ? left : 0;
}

typedef struct cache_entry {
    struct ls_runner *runner;
    char *key;
    void *obj;
    void (*destroy)(void *);
    struct cache_entry *next;
} cache_entry;

static cache_entry *cache_head;

void *ls_call_cache_get(ls_call *call, const char *key)
{
    struct ls_runner *runner = call ? call->runner : NULL;
    for (cache_entry *e = cache_head; e != NULL; e = e->next)
        if (e->runner == runner && strcmp(e->key, key) == 0)
            return e->obj;
    return NULL;
}

/* Puts obj under key, replacing (and destroying) a previous object there.
 * On out of memory the object is destroyed at once: the caller must not
 * use it after this call unless ls_call_cache_get returns it. */
void ls_call_cache_put(ls_call *call, const char *key, void *obj, void (*destroy)(void *))
{
    struct ls_runner *runner = call ? call->runner : NULL;
    for (cache_entry *e = cache_head; e != NULL; e = e->next) {
        if (e->runner == runner && strcmp(e->key, key) == 0) {
            if (e->obj != obj && e->destroy != NULL)
                e->destroy(e->obj);
            e->obj = obj;
            e->destroy = destroy;
            return;
        }
    }
    cache_entry *e = malloc(sizeof *e);
    size_t klen = strlen(key);
    char *k = malloc(klen + 1);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        if (destroy != NULL)
            destroy(obj);
        return;
    }
    memcpy(k, key, klen + 1);
    e->runner = runner;
    e->key = k;
    e->obj = obj;
    e->destroy = destroy;
    e->next = cache_head;
    cache_head = e;
}

void ls_call_cache_clear(struct ls_runner *runner)
{
    cache_entry **pp = &cache_head;
    while (*pp != NULL) {
        cache_entry *e = *pp;
        if (e->runner != runner) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        if (e->destroy != NULL)
            e->destroy(e->obj);
        free(e->key);
        free(e);
    }
}
