/*
 * lockstep-store.so: the run store's reads and writes in MongoDB
 * (store_int.h says what each one does; store.c decides when).  Majority
 * write concern with a bounded wtimeout on every write, majority read
 * concern on every read: what the store acknowledged survives the loss of
 * a minority of the replica set, and what is read was acknowledged so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>
#include <lockstep/plugin.h>

#include "store_int.h"

#define WTIMEOUT_MS 10000

struct ls_store_conn {
    mongoc_client_t *client;
    char db[128];
};

static void set_err(char *err, size_t errlen, const char *what, const bson_error_t *e)
{
    char *red = ls_plugin_redact(e->message, strlen(e->message));
    snprintf(err, errlen, "%s: %s", what, red ? red : "***");
    free(red);
}

/* Set while a client is destroyed: a store already lost makes libmongoc
 * warn that it cannot end its sessions, which says nothing new. */
static bool closing;

/* libmongoc's own messages: redacted, warnings and worse only. */
static void store_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level > MONGOC_LOG_LEVEL_WARNING || message == NULL || closing)
        return;
    char *red = ls_plugin_redact(message, strlen(message));
    fprintf(stderr, "lockstep: store: %s: %s\n", domain ? domain : "mongoc", red ? red : "***");
    free(red);
}

static mongoc_collection_t *coll(ls_store_conn *c, const char *name)
{
    return mongoc_client_get_collection(c->client, c->db, name);
}

static void default_timeout(mongoc_uri_t *uri, const char *opt, int64_t ms)
{
    int32_t cur = mongoc_uri_get_option_as_int32(uri, opt, 0);
    if (cur <= 0)
        mongoc_uri_set_option_as_int32(uri, opt, (int32_t)ms);
}

static void st_close(ls_store_conn *c)
{
    if (c == NULL)
        return;
    if (c->client) {
        closing = true;
        mongoc_client_destroy(c->client);
        closing = false;
    }
    free(c);
}

static ls_store_conn *st_open(const char *uri_s, int64_t timeout_ms, char *err, size_t errlen)
{
    mongoc_init(); /* a no-op after the first call */
    mongoc_log_set_handler(store_log, NULL);
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &e);
    if (uri == NULL) {
        set_err(err, errlen, "not a MongoDB URI", &e);
        return NULL;
    }
    /* Bounded but generous: a store that does not answer stops the run at
     * its next durable point instead of hanging it. */
    default_timeout(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
    default_timeout(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
    default_timeout(uri, MONGOC_URI_SOCKETTIMEOUTMS, 3 * WTIMEOUT_MS);
    ls_store_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mongoc_uri_destroy(uri);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *db = mongoc_uri_get_database(uri);
    snprintf(c->db, sizeof c->db, "%s", db != NULL && db[0] != '\0' ? db : "lockstep");
    c->client = mongoc_client_new_from_uri_with_error(uri, &e);
    mongoc_uri_destroy(uri);
    if (c->client == NULL) {
        set_err(err, errlen, "cannot use the store", &e);
        st_close(c);
        return NULL;
    }
    mongoc_client_set_error_api(c->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(c->client, "lockstep-store");
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
    mongoc_write_concern_set_wtimeout_int64(wc, WTIMEOUT_MS);
    mongoc_client_set_write_concern(c->client, wc);
    mongoc_write_concern_destroy(wc);
    mongoc_read_concern_t *rc = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rc, MONGOC_READ_CONCERN_LEVEL_MAJORITY);
    mongoc_client_set_read_concern(c->client, rc);
    mongoc_read_concern_destroy(rc);
    bson_t ping = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bool ok = mongoc_client_command_simple(c->client, "admin", &ping, NULL, &reply, &e);
    bson_destroy(&ping);
    bson_destroy(&reply);
    if (!ok) {
        set_err(err, errlen, "the store does not answer", &e);
        st_close(c);
        return NULL;
    }
    /* The one index the fencing rests on: a seq is written once. */
    bson_t cmd = BSON_INITIALIZER, idx, one, key;
    BSON_APPEND_UTF8(&cmd, "createIndexes", "events");
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "0", &one);
    BSON_APPEND_DOCUMENT_BEGIN(&one, "key", &key);
    BSON_APPEND_INT32(&key, "run_id", 1);
    BSON_APPEND_INT32(&key, "seq", 1);
    bson_append_document_end(&one, &key);
    BSON_APPEND_UTF8(&one, "name", "run_id_seq");
    BSON_APPEND_BOOL(&one, "unique", true);
    bson_append_document_end(&idx, &one);
    bson_append_array_end(&cmd, &idx);
    ok = mongoc_client_write_command_with_opts(c->client, c->db, &cmd, NULL, &reply, &e);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (!ok) {
        set_err(err, errlen, "cannot make the store's index", &e);
        st_close(c);
        return NULL;
    }
    return c;
}

static const char *st_db_name(const ls_store_conn *c)
{
    return c->db;
}

static void lease_of(const bson_t *doc, ls_store_lease *l)
{
    memset(l, 0, sizeof *l);
    bson_iter_t it, h;
    l->found = true;
    if (bson_iter_init_find(&it, doc, "token") && BSON_ITER_HOLDS_NUMBER(&it))
        l->token = bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_NUMBER(&it))
        l->expires_at = bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, doc, "released") && BSON_ITER_HOLDS_BOOL(&it))
        l->released = bson_iter_bool(&it);
    if (bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &h)) {
        while (bson_iter_next(&h)) {
            const char *k = bson_iter_key(&h);
            if (strcmp(k, "host") == 0 && BSON_ITER_HOLDS_UTF8(&h))
                snprintf(l->host, sizeof l->host, "%s", bson_iter_utf8(&h, NULL));
            else if (strcmp(k, "run_id") == 0 && BSON_ITER_HOLDS_UTF8(&h))
                snprintf(l->run_id, sizeof l->run_id, "%s", bson_iter_utf8(&h, NULL));
            else if (strcmp(k, "pid") == 0 && BSON_ITER_HOLDS_NUMBER(&h))
                l->pid = (long)bson_iter_as_int64(&h);
        }
    }
}

/* Ends a find: a cursor error (unless rc already says -1) makes rc -1
 * with err set; the cursor, query, options and collection are released. */
static int find_end(mongoc_cursor_t *cur, int rc, const char *what, bson_t *q, bson_t *opts,
                    mongoc_collection_t *col, char *err, size_t errlen)
{
    bson_error_t e;
    if (rc >= 0 && mongoc_cursor_error(cur, &e)) {
        set_err(err, errlen, what, &e);
        rc = -1;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    if (opts)
        bson_destroy(opts);
    mongoc_collection_destroy(col);
    return rc;
}

/* find_one by _id: 0 with fn called, 1 none, -1. */
static int find_id(ls_store_conn *c, const char *name, const char *id, void (*fn)(void *, const bson_t *), void *ud,
                   const char *what, char *err, size_t errlen)
{
    mongoc_collection_t *col = coll(c, name);
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "_id", id);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &q, NULL, NULL);
    const bson_t *doc;
    int rc = 1;
    if (mongoc_cursor_next(cur, &doc)) {
        fn(ud, doc);
        rc = 0;
    }
    return find_end(cur, rc, what, &q, NULL, col, err, errlen);
}

static void lease_found(void *ud, const bson_t *doc)
{
    lease_of(doc, ud);
}

static int st_lease_get(ls_store_conn *c, const char *key, ls_store_lease *got, char *err, size_t errlen)
{
    memset(got, 0, sizeof *got);
    return find_id(c, "leases", key, lease_found, got, "cannot read the lease", err, errlen) < 0 ? -1 : 0;
}

static void append_holder(bson_t *b, const char *host, long pid, const char *run_id)
{
    bson_t h;
    BSON_APPEND_DOCUMENT_BEGIN(b, "holder", &h);
    BSON_APPEND_UTF8(&h, "host", host);
    BSON_APPEND_INT64(&h, "pid", (int64_t)pid);
    BSON_APPEND_UTF8(&h, "run_id", run_id);
    bson_append_document_end(b, &h);
}

static int st_lease_take(ls_store_conn *c, const char *key, const char *host, long pid, const char *run_id,
                         int64_t expires_at, int64_t now, ls_store_lease *got, char *err, size_t errlen)
{
    memset(got, 0, sizeof *got);
    mongoc_collection_t *col = coll(c, "leases");
    bson_error_t e;
    int rc = -1;
    /* The first holder ever creates the document with token 1 ... */
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", key);
    BSON_APPEND_INT64(&doc, "token", 1);
    append_holder(&doc, host, pid, run_id);
    BSON_APPEND_INT64(&doc, "expires_at", expires_at);
    BSON_APPEND_BOOL(&doc, "released", false);
    BSON_APPEND_INT64(&doc, "last_seq", 0);
    bool ok = mongoc_collection_insert_one(col, &doc, NULL, NULL, &e);
    bson_destroy(&doc);
    if (ok) {
        got->found = true;
        got->token = 1;
        got->expires_at = expires_at;
        snprintf(got->host, sizeof got->host, "%s", host);
        got->pid = pid;
        snprintf(got->run_id, sizeof got->run_id, "%s", run_id);
        mongoc_collection_destroy(col);
        return 0;
    }
    if (e.code != 11000) {
        set_err(err, errlen, "cannot take the lease", &e);
        mongoc_collection_destroy(col);
        return -1;
    }
    /* ... every later one takes it over only when it has expired or was
     * released, and the token grows by one in the same step. */
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, or, a, b, lt, set, inc, reply;
    BSON_APPEND_UTF8(&q, "_id", key);
    BSON_APPEND_ARRAY_BEGIN(&q, "$or", &or);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&a, "expires_at", &lt);
    BSON_APPEND_INT64(&lt, "$lt", now);
    bson_append_document_end(&a, &lt);
    bson_append_document_end(&or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
    BSON_APPEND_BOOL(&b, "released", true);
    bson_append_document_end(&or, &b);
    bson_append_array_end(&q, &or);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    append_holder(&set, host, pid, run_id);
    BSON_APPEND_INT64(&set, "expires_at", expires_at);
    BSON_APPEND_BOOL(&set, "released", false);
    bson_append_document_end(&upd, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "token", 1);
    bson_append_document_end(&upd, &inc);
    ok = mongoc_collection_find_and_modify(col, &q, NULL, &upd, NULL, false, false, true, &reply, &e);
    bson_iter_t it;
    if (!ok) {
        set_err(err, errlen, "cannot take the lease", &e);
    } else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len = 0;
        const uint8_t *data = NULL;
        bson_iter_document(&it, &len, &data);
        bson_t v;
        if (bson_init_static(&v, data, len)) {
            lease_of(&v, got);
            rc = 0;
        } else {
            snprintf(err, errlen, "the store answered a malformed lease");
        }
    } else {
        rc = st_lease_get(c, key, got, err, errlen) == 0 ? 1 : -1;
    }
    bson_destroy(&reply);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(col);
    return rc;
}

/* updateOne({_id: key, token}, update): the matched count, or -1. */
static int64_t update_fenced(ls_store_conn *c, const char *key, int64_t token, const bson_t *upd, const char *what,
                             char *err, size_t errlen)
{
    mongoc_collection_t *col = coll(c, "leases");
    bson_t q = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&q, "_id", key);
    BSON_APPEND_INT64(&q, "token", token);
    bson_error_t e;
    int64_t matched = -1;
    if (!mongoc_collection_update_one(col, &q, upd, NULL, &reply, &e)) {
        set_err(err, errlen, what, &e);
    } else {
        bson_iter_t it;
        matched = bson_iter_init_find(&it, &reply, "matchedCount") && BSON_ITER_HOLDS_NUMBER(&it)
                      ? bson_iter_as_int64(&it)
                      : 0;
    }
    bson_destroy(&reply);
    bson_destroy(&q);
    mongoc_collection_destroy(col);
    return matched;
}

static int st_lease_renew(ls_store_conn *c, const char *key, int64_t token, int64_t expires_at, int64_t last_seq,
                          ls_store_lease *now_held, char *err, size_t errlen)
{
    bson_t upd = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_INT64(&set, "expires_at", expires_at);
    if (last_seq >= 0)
        BSON_APPEND_INT64(&set, "last_seq", last_seq);
    bson_append_document_end(&upd, &set);
    int64_t m = update_fenced(c, key, token, &upd, "cannot renew the lease", err, errlen);
    bson_destroy(&upd);
    if (m < 0)
        return -1;
    if (m > 0)
        return 0;
    return st_lease_get(c, key, now_held, err, errlen) == 0 ? 1 : -1;
}

static int st_lease_release(ls_store_conn *c, const char *key, int64_t token, char *err, size_t errlen)
{
    bson_t upd = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_BOOL(&set, "released", true);
    BSON_APPEND_INT64(&set, "expires_at", 0);
    bson_append_document_end(&upd, &set);
    int64_t m = update_fenced(c, key, token, &upd, "cannot release the lease", err, errlen);
    bson_destroy(&upd);
    return m < 0 ? -1 : 0;
}

static int st_run_put(ls_store_conn *c, const char *run_id, const char *playbook, const char *env, const char *sha256,
                      const char *started_at, const char *text, size_t text_len, const char *params,
                      size_t params_len, char *err, size_t errlen)
{
    mongoc_collection_t *col = coll(c, "runs");
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", run_id);
    BSON_APPEND_UTF8(&doc, "playbook", playbook);
    if (env)
        BSON_APPEND_UTF8(&doc, "env", env);
    else
        BSON_APPEND_NULL(&doc, "env");
    BSON_APPEND_UTF8(&doc, "sha256", sha256);
    BSON_APPEND_UTF8(&doc, "started_at", started_at);
    BSON_APPEND_BINARY(&doc, "playbook_text", BSON_SUBTYPE_BINARY, (const uint8_t *)text, (uint32_t)text_len);
    BSON_APPEND_BINARY(&doc, "params_json", BSON_SUBTYPE_BINARY, (const uint8_t *)params, (uint32_t)params_len);
    bson_error_t e;
    bool ok = mongoc_collection_insert_one(col, &doc, NULL, NULL, &e);
    bson_destroy(&doc);
    mongoc_collection_destroy(col);
    if (!ok && e.code != 11000) {
        set_err(err, errlen, "cannot record the run in the store", &e);
        return -1;
    }
    return 0;
}

static char *bin_copy(const bson_t *doc, const char *key, size_t *len)
{
    bson_iter_t it;
    *len = 0;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_BINARY(&it))
        return NULL;
    uint32_t n = 0;
    const uint8_t *p = NULL;
    bson_subtype_t st;
    bson_iter_binary(&it, &st, &n, &p);
    char *out = malloc((size_t)n + 1);
    if (out == NULL)
        return NULL;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
    *len = n;
    return out;
}

typedef struct two_bins {
    const char *k1, *k2;
    char *v1, *v2;
    size_t n1, n2;
} two_bins;

static void take_bins(void *ud, const bson_t *doc)
{
    two_bins *t = ud;
    t->v1 = bin_copy(doc, t->k1, &t->n1);
    if (t->k2)
        t->v2 = bin_copy(doc, t->k2, &t->n2);
}

static int st_run_get(ls_store_conn *c, const char *run_id, char **text, size_t *text_len, char **params,
                      size_t *params_len, char *err, size_t errlen)
{
    two_bins t = {"playbook_text", "params_json", NULL, NULL, 0, 0};
    int rc = find_id(c, "runs", run_id, take_bins, &t, "cannot read the store", err, errlen);
    if (rc == 0 && (t.v1 == NULL || t.v2 == NULL)) {
        snprintf(err, errlen, "the store's record of run %s lacks its playbook or params", run_id);
        rc = -1;
    }
    if (rc != 0) {
        free(t.v1);
        free(t.v2);
        return rc;
    }
    *text = t.v1;
    *text_len = t.n1;
    *params = t.v2;
    *params_len = t.n2;
    return 0;
}

static int st_run_list(ls_store_conn *c, char ***ids, size_t *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    mongoc_collection_t *col = coll(c, "runs");
    bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &q, &opts, NULL);
    const bson_t *doc;
    size_t cap = 0;
    int rc = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(*ids, cap * sizeof *nn);
            if (nn == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            *ids = nn;
        }
        char *s = strdup(bson_iter_utf8(&it, NULL));
        if (s == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        (*ids)[(*n)++] = s;
    }
    rc = find_end(cur, rc, "cannot list the store's runs", &q, &opts, col, err, errlen);
    if (rc != 0) { /* a partial list is no list */
        for (size_t i = 0; i < *n; i++)
            free((*ids)[i]);
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

static int st_events_put(ls_store_conn *c, const char *run_id, int64_t first_seq, const char *const *lines,
                         const size_t *lens, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    bson_t *docs = calloc(n, sizeof *docs);
    const bson_t **ptrs = calloc(n, sizeof *ptrs);
    if (docs == NULL || ptrs == NULL) {
        free(docs);
        free(ptrs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bson_init(&docs[i]);
        BSON_APPEND_UTF8(&docs[i], "run_id", run_id);
        BSON_APPEND_INT64(&docs[i], "seq", first_seq + (int64_t)i);
        BSON_APPEND_BINARY(&docs[i], "line", BSON_SUBTYPE_BINARY, (const uint8_t *)lines[i], (uint32_t)lens[i]);
        ptrs[i] = &docs[i];
    }
    mongoc_collection_t *col = coll(c, "events");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_insert_many(col, ptrs, n, NULL, &reply, &e);
    bson_destroy(&reply);
    mongoc_collection_destroy(col);
    for (size_t i = 0; i < n; i++)
        bson_destroy(&docs[i]);
    free(docs);
    free(ptrs);
    if (ok)
        return 0;
    if (e.code == 11000) {
        snprintf(err, errlen, "another writer recorded seq %lld of run %s first", (long long)first_seq, run_id);
        return 1;
    }
    set_err(err, errlen, "cannot write the journal to the store", &e);
    return -1;
}

static int st_events_get(ls_store_conn *c, const char *run_id, int64_t from_seq, bool last_only,
                         ls_store_line_fn fn, void *ud, char *err, size_t errlen)
{
    mongoc_collection_t *col = coll(c, "events");
    bson_t q = BSON_INITIALIZER, ge, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&q, "run_id", run_id);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "seq", &ge);
    BSON_APPEND_INT64(&ge, "$gte", from_seq);
    bson_append_document_end(&q, &ge);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", last_only ? -1 : 1);
    bson_append_document_end(&opts, &sort);
    if (last_only)
        BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &q, &opts, NULL);
    const bson_t *doc;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        int64_t seq = 0;
        if (bson_iter_init_find(&it, doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
            seq = bson_iter_as_int64(&it);
        if (!bson_iter_init_find(&it, doc, "line") || !BSON_ITER_HOLDS_BINARY(&it)) {
            snprintf(err, errlen, "the store's event %lld of run %s has no line", (long long)seq, run_id);
            rc = -1;
            break;
        }
        uint32_t len = 0;
        const uint8_t *p = NULL;
        bson_subtype_t st;
        bson_iter_binary(&it, &st, &len, &p);
        rc = fn(ud, seq, (const char *)p, len);
    }
    return find_end(cur, rc, "cannot read the journal from the store", &q, &opts, col, err, errlen);
}

static int st_blob_put(ls_store_conn *c, const char *run_id, const char *hex, const char *data, size_t len,
                       char *err, size_t errlen)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", run_id, hex);
    mongoc_collection_t *col = coll(c, "blobs");
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "run_id", run_id);
    BSON_APPEND_BINARY(&doc, "data", BSON_SUBTYPE_BINARY, (const uint8_t *)data, (uint32_t)len);
    bson_error_t e;
    bool ok = mongoc_collection_insert_one(col, &doc, NULL, NULL, &e);
    bson_destroy(&doc);
    mongoc_collection_destroy(col);
    if (!ok && e.code != 11000) { /* content-addressed: there already is the same */
        set_err(err, errlen, "cannot write a result file to the store", &e);
        return -1;
    }
    return 0;
}

static int st_blob_get(ls_store_conn *c, const char *run_id, const char *hex, char **data, size_t *len, char *err,
                       size_t errlen)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", run_id, hex);
    two_bins t = {"data", NULL, NULL, NULL, 0, 0};
    int rc = find_id(c, "blobs", id, take_bins, &t, "cannot read the store", err, errlen);
    if (rc == 0 && t.v1 == NULL) {
        snprintf(err, errlen, "the store's result file %.12s... of run %s has no data", hex, run_id);
        rc = -1;
    }
    if (rc != 0)
        return rc;
    *data = t.v1;
    *len = t.n1;
    return 0;
}

LS_PLUGIN_EXPORT const ls_store_api lockstep_store = {
    LS_PLUGIN_API,  LOCKSTEP_VERSION, st_open,       st_close,      st_db_name,    st_lease_take,
    st_lease_renew, st_lease_release, st_lease_get,  st_run_put,    st_run_get,    st_run_list,
    st_events_put,  st_events_get,    st_blob_put,   st_blob_get,
};
