/*
 * The mongo plugin (lockstep-mongo.so; the table rows are in act_mongo.c,
 * plugin.h says how it is loaded), SPEC 6: mongo.ping, mongo.find_one,
 * mongo.count, mongo.command here; mongo.dump, mongo.restore and
 * mongo.verify_backup in mongo_dump.c.
 *
 * One mongoc client per URI per run, kept in the call cache.  The state's
 * timeout bounds server selection, connecting and socket reads (set in the
 * client's URI, so the cache key holds the timeout too) and each command
 * (maxTimeMS = time left).  Every URI shown anywhere goes through
 * the engine's redaction (ls_plugin_redact), which masks the password of `scheme://user:pass@host`; so do
 * the driver's own log lines.
 */
#include "mongo_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bson_conv.h"

static bool mongo_ready;

/* mongoc logs through this: redacted, warnings and worse only. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level > MONGOC_LOG_LEVEL_WARNING || message == NULL)
        return;
    char *red = ls_plugin_redact(message, strlen(message));
    fprintf(stderr, "lockstep: %s: %s\n", domain ? domain : "mongoc", red ? red : "***");
    free(red);
}

static void mongo_init_once(void)
{
    if (mongo_ready)
        return;
    /* Debian's libmongoc initialises itself (and cleans up) from the
     * library's own constructor and destructor; this call is a no-op then,
     * and keeps the action correct with a build that does not. */
    mongoc_init();
    mongoc_log_set_handler(mongo_log, NULL);
    mongo_ready = true;
}

void ls_mongo_error(ls_error *err, const char *who, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ls_plugin_error(err, "%s: %s", who, msg); /* redacted there */
}

bool ls_mongo_cancelled(ls_call *call)
{
    return ls_call_cancelled(call);
}

const char *ls_mongo_input_str(ls_call *call, const char *name)
{
    ls_value v = ls_call_input(call, name);
    if (v.kind != LS_STRING)
        return NULL;
    return ls_str_ptr(v);
}

void ls_mongo_opts_deadline(ls_call *call, bson_t *opts)
{
    if (ls_call_deadline_ms(call) <= 0)
        return;
    int64_t left = ls_call_remaining_ms(call);
    BSON_APPEND_INT64(opts, "maxTimeMS", left > 0 ? left : 1);
}

ls_act_status ls_mongo_fail_status(ls_call *call, const bson_error_t *e)
{
    if (ls_mongo_cancelled(call))
        return LS_ACT_CANCELLED;
    if (ls_call_deadline_ms(call) > 0) {
        /* The driver's own timeouts are capped at the state's, so a failure
         * within a few ms of the deadline, or one the driver calls a
         * timeout, is the state's timeout firing. */
        int64_t slack = ls_call_timeout_ms(call) / 20 > 50 ? ls_call_timeout_ms(call) / 20 : 50;
        if (ls_call_remaining_ms(call) <= slack)
            return LS_ACT_TIMED_OUT;
        if (e != NULL && (strstr(e->message, "timed out") != NULL || strstr(e->message, "expired") != NULL))
            return LS_ACT_TIMED_OUT;
    }
    if (e != NULL && e->code == 50) /* MaxTimeMSExpired */
        return LS_ACT_TIMED_OUT;
    return LS_ACT_FAILED;
}

static void client_destroy(void *p)
{
    mongoc_client_destroy(p);
}

/* Lowers a URI timeout option to `cap` milliseconds. */
static void cap_timeout(mongoc_uri_t *uri, const char *opt, int32_t fallback, int64_t cap)
{
    int32_t cur = mongoc_uri_get_option_as_int32(uri, opt, fallback);
    if (cur <= 0 || cur > cap)
        mongoc_uri_set_option_as_int32(uri, opt, (int32_t)cap);
}

mongoc_client_t *ls_mongo_client(ls_call *call, const char *who, char **shown_uri, ls_error *err)
{
    const char *uri_s = ls_mongo_input_str(call, "uri");
    *shown_uri = NULL;
    if (uri_s == NULL || uri_s[0] == '\0') {
        ls_mongo_error(err, who, "no uri given (set `uri`, or defaults.with.mongo.uri)");
        return NULL;
    }
    *shown_uri = ls_plugin_redact(uri_s, strlen(uri_s));
    if (*shown_uri == NULL) {
        ls_mongo_error(err, who, "out of memory");
        return NULL;
    }
    mongo_init_once();

    char key[64];
    snprintf(key, sizeof key, "mongo|%lld|", (long long)ls_call_timeout_ms(call));
    size_t klen = strlen(key), ulen = strlen(uri_s);
    char *fullkey = malloc(klen + ulen + 1);
    if (fullkey == NULL) {
        ls_mongo_error(err, who, "out of memory");
        return NULL;
    }
    memcpy(fullkey, key, klen);
    memcpy(fullkey + klen, uri_s, ulen + 1);
    mongoc_client_t *client = ls_call_cache_get(call, fullkey);
    if (client != NULL) {
        free(fullkey);
        return client;
    }

    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &be);
    if (uri == NULL) {
        ls_mongo_error(err, who, "bad uri %s: %s", *shown_uri, be.message);
        free(fullkey);
        return NULL;
    }
    if (ls_call_timeout_ms(call) > 0 && ls_call_timeout_ms(call) < INT32_MAX) {
        cap_timeout(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 30000, ls_call_timeout_ms(call));
        cap_timeout(uri, MONGOC_URI_CONNECTTIMEOUTMS, 10000, ls_call_timeout_ms(call));
        cap_timeout(uri, MONGOC_URI_SOCKETTIMEOUTMS, 300000, ls_call_timeout_ms(call));
    }
    client = mongoc_client_new_from_uri_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (client == NULL) {
        ls_mongo_error(err, who, "cannot create a client for %s: %s", *shown_uri, be.message);
        free(fullkey);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    ls_call_cache_put(call, fullkey, client, client_destroy);
    client = ls_call_cache_get(call, fullkey);
    free(fullkey);
    if (client == NULL)
        ls_mongo_error(err, who, "out of memory");
    return client;
}

/* Converts a reply into *out; on a malformed reply sets err. */
static bool reply_value(const bson_t *doc, ls_value *out, const char *who, ls_error *err)
{
    char eb[256];
    if (!ls_value_from_bson(doc, out, eb, sizeof eb)) {
        ls_mongo_error(err, who, "cannot read the server's reply: %s", eb);
        *out = ls_null();
        return false;
    }
    return true;
}

/* Fills an initialised, empty doc from a map input; false with err set. */
static bool input_doc(ls_call *call, const char *who, const char *name, bson_t *doc, ls_error *err)
{
    char eb[256];
    ls_value v = ls_call_input(call, name);
    if (!ls_is_null(v) && v.kind != LS_MAP) {
        ls_mongo_error(err, who, "%s must be a map, not %s", name, ls_kind_name((ls_kind)v.kind));
        return false;
    }
    if (!ls_bson_from_map(v, doc, eb, sizeof eb)) {
        ls_mongo_error(err, who, "%s: %s", name, eb);
        return false;
    }
    return true;
}

/* ---- mongo.ping ------------------------------------------------------- */

LS_PLUGIN_ACTION(mongo_ping)
{
    const char *who = "mongo.ping";
    char *shown = NULL;
    *result = ls_map_new();
    ls_map_set(result, "ok", ls_bool(false));
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    if (client == NULL) {
        free(shown);
        return LS_ACT_FAILED;
    }
    bson_t cmd = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
    bson_error_t be;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    ls_mongo_opts_deadline(call, &opts);
    bool ok = mongoc_client_command_with_opts(client, "admin", &cmd, NULL, &opts, &reply, &be);
    bson_destroy(&reply);
    ls_act_status st = LS_ACT_OK;
    if (!ok) {
        ls_mongo_error(err, who, "%s: %s", shown, be.message);
        st = ls_mongo_fail_status(call, &be);
    } else {
        bson_t bi = BSON_INITIALIZER;
        BSON_APPEND_INT32(&bi, "buildInfo", 1);
        if (mongoc_client_command_with_opts(client, "admin", &bi, NULL, &opts, &reply, &be)) {
            bson_iter_t it;
            if (bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
                ls_map_set(result, "server_version", ls_string(bson_iter_utf8(&it, NULL)));
        }
        bson_destroy(&reply);
        bson_destroy(&bi);
        if (!ls_map_has(*result, "server_version"))
            ls_map_set(result, "server_version", ls_null());
        ls_map_set(result, "ok", ls_bool(true));
    }
    bson_destroy(&cmd);
    bson_destroy(&opts);
    free(shown);
    return st;
}

/* ---- mongo.find_one / mongo.count --------------------------------------- */

/* The collection handle named by the inputs, or NULL with err set. */
static mongoc_collection_t *input_collection(ls_call *call, mongoc_client_t *client, const char *who,
                                             const char **dbname, const char **collname, ls_error *err)
{
    *dbname = ls_mongo_input_str(call, "db");
    *collname = ls_mongo_input_str(call, "collection");
    if (*dbname == NULL || (*dbname)[0] == '\0') {
        ls_mongo_error(err, who, "no db given (set `db`, or defaults.with.mongo.db)");
        return NULL;
    }
    if (*collname == NULL || (*collname)[0] == '\0') {
        ls_mongo_error(err, who, "no collection given");
        return NULL;
    }
    return mongoc_client_get_collection(client, *dbname, *collname);
}

LS_PLUGIN_ACTION(mongo_find_one)
{
    const char *who = "mongo.find_one";
    const char *dbn, *colln;
    char *shown = NULL;
    *result = ls_map_new();
    ls_map_set(result, "found", ls_bool(false));
    ls_map_set(result, "doc", ls_null());
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    mongoc_collection_t *coll = client ? input_collection(call, client, who, &dbn, &colln, err) : NULL;
    bson_t filter, proj, opts = BSON_INITIALIZER;
    bson_init(&filter);
    bson_init(&proj);
    ls_act_status st = LS_ACT_FAILED;
    if (coll == NULL)
        goto out;
    if (!input_doc(call, who, "filter", &filter, err) || !input_doc(call, who, "projection", &proj, err))
        goto out;
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    if (!bson_empty(&proj))
        BSON_APPEND_DOCUMENT(&opts, "projection", &proj);
    ls_mongo_opts_deadline(call, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    const bson_t *doc = NULL;
    bson_error_t be;
    if (mongoc_cursor_next(cur, &doc)) {
        ls_value v;
        if (reply_value(doc, &v, who, err)) {
            ls_map_set(result, "found", ls_bool(true));
            ls_map_set(result, "doc", v);
            st = LS_ACT_OK;
        }
    } else if (mongoc_cursor_error(cur, &be)) {
        ls_mongo_error(err, who, "%s.%s at %s: %s", dbn, colln, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
    } else {
        st = LS_ACT_OK;
    }
    mongoc_cursor_destroy(cur);
out:
    if (coll)
        mongoc_collection_destroy(coll);
    bson_destroy(&filter);
    bson_destroy(&proj);
    bson_destroy(&opts);
    free(shown);
    return st;
}

LS_PLUGIN_ACTION(mongo_count)
{
    const char *who = "mongo.count";
    const char *dbn, *colln;
    char *shown = NULL;
    *result = ls_map_new();
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    mongoc_collection_t *coll = client ? input_collection(call, client, who, &dbn, &colln, err) : NULL;
    bson_t filter, opts = BSON_INITIALIZER;
    bson_init(&filter);
    ls_act_status st = LS_ACT_FAILED;
    if (coll == NULL)
        goto out;
    if (!input_doc(call, who, "filter", &filter, err))
        goto out;
    ls_mongo_opts_deadline(call, &opts);
    bson_error_t be;
    /* NOTES: a NULL filter aborts in 1.23; `filter` is always a document here. */
    int64_t n = mongoc_collection_count_documents(coll, &filter, &opts, NULL, NULL, &be);
    if (n < 0) {
        ls_mongo_error(err, who, "%s.%s at %s: %s", dbn, colln, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
    } else {
        ls_map_set(result, "count", ls_int(n));
        st = LS_ACT_OK;
    }
out:
    if (coll)
        mongoc_collection_destroy(coll);
    bson_destroy(&filter);
    bson_destroy(&opts);
    free(shown);
    return st;
}

/* ---- mongo.command ------------------------------------------------------ */

LS_PLUGIN_ACTION(mongo_command)
{
    const char *who = "mongo.command";
    char *shown = NULL;
    *result = ls_map_new();
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    bson_t cmd, opts = BSON_INITIALIZER, reply;
    bson_init(&cmd);
    bson_init(&reply);
    ls_act_status st = LS_ACT_FAILED;
    const char *dbn = ls_mongo_input_str(call, "db");
    if (client == NULL)
        goto out;
    if (dbn == NULL || dbn[0] == '\0')
        dbn = "admin";
    if (!input_doc(call, who, "command", &cmd, err))
        goto out;
    if (bson_empty(&cmd)) {
        ls_mongo_error(err, who, "command is empty");
        goto out;
    }
    bson_iter_t it;
    const char *name = bson_iter_init(&it, &cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "?";
    if (!bson_has_field(&cmd, "maxTimeMS"))
        ls_mongo_opts_deadline(call, &opts);
    bson_error_t be;
    bson_destroy(&reply);
    bool ok = mongoc_client_command_with_opts(client, dbn, &cmd, NULL, &opts, &reply, &be);
    ls_value rv;
    if (reply_value(&reply, &rv, who, err))
        ls_map_set(result, "reply", rv);
    if (!ok) {
        ls_mongo_error(err, who, "%s on db %s at %s: %s", name, dbn, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
    } else if (ls_map_has(*result, "reply")) {
        st = LS_ACT_OK;
    }
out:
    bson_destroy(&cmd);
    bson_destroy(&opts);
    bson_destroy(&reply);
    free(shown);
    return st;
}

LS_PLUGIN("mongo");
