/*
 * mongo.restore and mongo.verify_backup (SPEC 6), over any backup
 * ls_backup_open reads (mongodump's directory or archive, plain or gzip).
 *
 * Restore: the backup is first read through and every document checked
 * (an archive whole: prelude, CRCs, terminators) before anything is
 * written, so a damaged or hostile backup fails the action with the file
 * and byte offset and the target database is untouched.  Then each picked
 * collection is dropped (when `drop`) and created with its dumped options,
 * the backup is read a second time and its documents inserted in ordered
 * batches (1,000 documents / 16 MiB) per collection (an archive
 * interleaves them), and the indexes are built from the metadata.  With
 * `exact`, the target's collections that are not in the backup are then
 * dropped, so that the database equals the backup.  system.* collections
 * are neither restored nor dropped; a timeseries collection is created
 * with its options and its buckets go to system.buckets.NAME, as
 * mongorestore does.
 *
 * verify_backup: restores one collection into lockstep_verify_<random>,
 * reads it back, and compares counts and an order-independent content hash:
 * the sum modulo 2^256 of the SHA-256 of each document's BSON bytes (a sum,
 * not XOR, so two equal documents do not cancel out).  The scratch database
 * is dropped on every path.
 */
#include "mongo_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define BATCH_DOCS 1000
#define BATCH_BYTES (16u * 1024u * 1024u)

/* acc += digest, big-endian, modulo 2^256. */
static void sum256_add(unsigned char acc[32], const uint8_t *doc, size_t len)
{
    unsigned char d[32];
    ls_plugin_sha256(doc, len, d);
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned v = (unsigned)acc[i] + d[i] + carry;
        acc[i] = (unsigned char)(v & 0xffu);
        carry = v >> 8;
    }
}

/* ---- one collection being restored --------------------------------------------------- */

typedef struct restore_ctx {
    ls_call *call;
    const char *who;
    const char *shown;
    const char *db;
    const ls_backup_coll *bc;
    mongoc_collection_t *coll;     /* bc->data_name in db */
    mongoc_bulk_operation_t *bulk; /* the batch being filled, or NULL */
    size_t nbatch;
    size_t batch_bytes;
    int64_t inserted;
    unsigned char *hash; /* NULL: no hashing */
    ls_error *err;
    ls_act_status *st;
} restore_ctx;

static bool flush_batch(restore_ctx *r)
{
    if (r->nbatch == 0)
        return true;
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_bulk_operation_execute(r->bulk, &reply, &be) != 0;
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(r->bulk);
    r->bulk = NULL;
    if (!ok) {
        ls_mongo_error(r->err, r->who, "inserting into %s.%s on %s (documents %lld..%lld): %s", r->db,
                       r->bc->data_name, r->shown, (long long)r->inserted + 1,
                       (long long)(r->inserted + (int64_t)r->nbatch), be.message);
        *r->st = ls_mongo_fail_status(r->call, &be);
    } else {
        r->inserted += (int64_t)r->nbatch;
    }
    r->nbatch = 0;
    r->batch_bytes = 0;
    if (ok) {
        char what[512];
        snprintf(what, sizeof what, "%s.%s", r->db, r->bc->data_name);
        if (ls_mongo_should_stop(r->call, r->who, what, r->inserted, r->st, r->err))
            return false;
    }
    return ok;
}

/* Queues a document into the current ordered bulk insert (a batch of at
 * most BATCH_DOCS documents or BATCH_BYTES bytes), hashing it when asked. */
static bool restore_doc(restore_ctx *r, const bson_t *doc)
{
    if (r->hash != NULL)
        sum256_add(r->hash, bson_get_data(doc), doc->len);
    if (r->nbatch == BATCH_DOCS || (r->nbatch > 0 && r->batch_bytes + doc->len > BATCH_BYTES))
        if (!flush_batch(r))
            return false;
    if (r->bulk == NULL) {
        bson_t opts = BSON_INITIALIZER;
        BSON_APPEND_BOOL(&opts, "ordered", true);
        r->bulk = mongoc_collection_create_bulk_operation_with_opts(r->coll, &opts);
        bson_destroy(&opts);
    }
    bson_error_t be;
    if (!mongoc_bulk_operation_insert_with_opts(r->bulk, doc, NULL, &be)) {
        ls_mongo_error(r->err, r->who, "queueing a document for %s.%s: %s", r->db, r->bc->data_name, be.message);
        *r->st = LS_ACT_FAILED;
        return false;
    }
    r->nbatch++;
    r->batch_bytes += doc->len;
    return true;
}

static bool run_write_command(restore_ctx *r, mongoc_database_t *database, const bson_t *cmd, const char *what)
{
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_database_write_command_with_opts(database, cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    if (!ok) {
        ls_mongo_error(r->err, r->who, "%s %s.%s on %s: %s", what, r->db, r->bc->name, r->shown, be.message);
        *r->st = ls_mongo_fail_status(r->call, &be);
    }
    return ok;
}

static bool is_ns_not_found(const bson_error_t *be)
{
    return be->code == 26 || strstr(be->message, "ns not found") != NULL;
}

static bool drop_collection(restore_ctx *r, mongoc_client_t *client, const char *name)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, r->db, name);
    bson_error_t be;
    bool ok = mongoc_collection_drop_with_opts(c, NULL, &be) || is_ns_not_found(&be);
    mongoc_collection_destroy(c);
    if (!ok) {
        ls_mongo_error(r->err, r->who, "dropping %s.%s on %s: %s", r->db, name, r->shown, be.message);
        *r->st = ls_mongo_fail_status(r->call, &be);
    }
    return ok;
}

/* Before the documents: drop (when asked), then create the collection
 * with its dumped options. */
static bool prepare_collection(restore_ctx *r, mongoc_client_t *client, mongoc_database_t *database, bool drop)
{
    if (drop && (!drop_collection(r, client, r->bc->name) ||
                 (r->bc->timeseries && !drop_collection(r, client, r->bc->data_name))))
        return false;
    /* Created even when empty, so that the database equals the backup. */
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cmd, "create", r->bc->name);
    bson_iter_t it;
    if (bson_iter_init_find(&it, r->bc->meta, "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t dl = 0;
        const uint8_t *dd = NULL;
        bson_iter_document(&it, &dl, &dd);
        bson_t options;
        if (bson_init_static(&options, dd, dl))
            bson_concat(&cmd, &options);
    }
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_database_write_command_with_opts(database, &cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (!ok && be.code == 48) /* NamespaceExists: restoring into it without drop */
        ok = true;
    else if (!ok) {
        ls_mongo_error(r->err, r->who, "creating %s.%s on %s: %s", r->db, r->bc->name, r->shown, be.message);
        *r->st = ls_mongo_fail_status(r->call, &be);
    }
    return ok;
}

/* After the documents: the indexes of the metadata (but _id_). */
static bool build_indexes(restore_ctx *r, mongoc_database_t *database)
{
    bson_iter_t it, ix;
    if (!bson_iter_init_find(&it, r->bc->meta, "indexes") || !BSON_ITER_HOLDS_ARRAY(&it))
        return true;
    bson_t cmd = BSON_INITIALIZER, arr;
    BSON_APPEND_UTF8(&cmd, "createIndexes", r->bc->name);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    uint32_t n = 0;
    bson_iter_recurse(&it, &ix);
    while (bson_iter_next(&ix)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&ix))
            continue;
        uint32_t dl = 0;
        const uint8_t *dd = NULL;
        bson_iter_document(&ix, &dl, &dd);
        bson_t spec, clean;
        if (!bson_init_static(&spec, dd, dl))
            continue;
        bson_iter_t nm;
        if (bson_iter_init_find(&nm, &spec, "name") && BSON_ITER_HOLDS_UTF8(&nm) &&
            strcmp(bson_iter_utf8(&nm, NULL), "_id_") == 0)
            continue;
        bson_init(&clean);
        bson_copy_to_excluding_noinit(&spec, &clean, "ns", NULL);
        char key[16];
        const char *k = NULL;
        bson_uint32_to_string(n++, &k, key, sizeof key);
        bson_append_document(&arr, k, -1, &clean);
        bson_destroy(&clean);
    }
    bson_append_array_end(&cmd, &arr);
    bool ok = n == 0 || run_write_command(r, database, &cmd, "creating the indexes of");
    bson_destroy(&cmd);
    return ok;
}

/* ---- restoring picked collections -------------------------------------------------------- */

typedef struct restore_set {
    restore_ctx *rs; /* one per backup collection (picked ones set up) */
    size_t n;
    long last; /* the collection of the previous document, or -1 */
} restore_set;

/* An archive interleaves collections: a collection's pending batch is sent
 * when the next document is another's, so that at most one batch is held
 * at a time whatever the number of collections. */
static bool set_doc(void *ctx, size_t coll, const bson_t *doc)
{
    restore_set *s = ctx;
    if (s->last >= 0 && (size_t)s->last != coll && !flush_batch(&s->rs[s->last]))
        return false;
    s->last = (long)coll;
    return restore_doc(&s->rs[coll], doc);
}

/* Restores the picked collections of b into db (b already checked whole):
 * counts[i] gets what went into collection i. */
static bool restore_picked(ls_call *call, const char *who, const char *shown, mongoc_client_t *client,
                           const char *db, ls_backup *b, const bool *pick, bool drop, unsigned char *hash,
                           int64_t *counts, ls_act_status *st, ls_error *err)
{
    restore_set set = {calloc(b->ncolls ? b->ncolls : 1, sizeof(restore_ctx)), b->ncolls, -1};
    if (set.rs == NULL) {
        ls_mongo_error(err, who, "out of memory");
        *st = LS_ACT_FAILED;
        return false;
    }
    ls_act_status mine = LS_ACT_FAILED;
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    bool ok = true;
    for (size_t i = 0; i < b->ncolls; i++) {
        if (!pick[i])
            continue;
        restore_ctx *r = &set.rs[i];
        r->call = call;
        r->who = who;
        r->shown = shown;
        r->db = db;
        r->bc = &b->colls[i];
        r->coll = mongoc_client_get_collection(client, db, b->colls[i].data_name);
        r->hash = hash;
        r->err = err;
        r->st = &mine;
        if (ok)
            ok = prepare_collection(r, client, database, drop);
    }
    ls_act_status scan_st = LS_ACT_OK;
    if (ok && !ls_backup_scan(call, who, b, pick, set_doc, &set, &scan_st, err)) {
        ok = false;
        if (scan_st != LS_ACT_FAILED)
            mine = scan_st;
    }
    for (size_t i = 0; i < b->ncolls; i++) {
        restore_ctx *r = &set.rs[i];
        if (!pick[i])
            continue;
        if (ok)
            ok = flush_batch(r) && build_indexes(r, database);
        counts[i] = r->inserted;
        if (r->bulk != NULL)
            mongoc_bulk_operation_destroy(r->bulk);
        mongoc_collection_destroy(r->coll);
    }
    mongoc_database_destroy(database);
    free(set.rs);
    *st = ok ? LS_ACT_OK : mine;
    return ok;
}

/* Picks the backup's collections named by `want` (a list; null: all). */
static bool select_colls(const char *who, const ls_backup *b, ls_value want, bool *pick, ls_error *err)
{
    if (want.kind != LS_LIST) {
        for (size_t i = 0; i < b->ncolls; i++)
            pick[i] = true;
        return true;
    }
    for (size_t i = 0; i < ls_list_len(want); i++) {
        const char *w = ls_str_ptr(ls_list_at(want, i));
        long j = ls_backup_find(b, w);
        if (j < 0) {
            ls_mongo_error(err, who, "collection '%s' is not in the dump %s", w, b->where);
            return false;
        }
        pick[j] = true;
    }
    return true;
}

/* The common start of restore and verify_backup: the client, the database
 * named by `db` (`role` words the error: "target", "live"), and the backup
 * chosen by `from` and `source_db`.  NULL with err set. */
static mongoc_client_t *open_backup(ls_call *call, const char *who, const char *role, char **shown,
                                    const char **db, ls_backup *b, ls_error *err)
{
    mongoc_client_t *client = ls_mongo_client(call, who, shown, err);
    *db = ls_mongo_input_str(call, "db");
    if (client == NULL)
        return NULL;
    if (*db == NULL || (*db)[0] == '\0') {
        ls_mongo_error(err, who, "no %s db given", role);
        return NULL;
    }
    if (!ls_backup_open(who, ls_mongo_input_str(call, "from"), ls_mongo_input_str(call, "source_db"), b, err))
        return NULL;
    return client;
}

static bool in_backup(const ls_backup *b, const char *name)
{
    for (size_t i = 0; i < b->ncolls; i++)
        if (strcmp(b->colls[i].name, name) == 0 || strcmp(b->colls[i].data_name, name) == 0)
            return true;
    return false;
}

/* `exact`: drops the collections of db that the backup does not hold
 * (system.* and views stay: views hold no data, and mongo.dump does not
 * write them), listing them in *dropped. */
static bool drop_extra(ls_call *call, const char *who, const char *shown, mongoc_client_t *client, const char *db,
                       const ls_backup *b, ls_value *dropped, ls_act_status *st, ls_error *err)
{
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    bson_t opts = BSON_INITIALIZER, filter;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "type", "collection");
    bson_append_document_end(&opts, &filter);
    BSON_APPEND_BOOL(&opts, "nameOnly", true);
    ls_mongo_opts_deadline(call, &opts);
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(database, &opts);
    bson_destroy(&opts);
    ls_value names = ls_list_new();
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it))
            ls_list_push(&names, ls_string(bson_iter_utf8(&it, NULL)));
    }
    bson_error_t be;
    bool ok = !mongoc_cursor_error(cur, &be);
    mongoc_cursor_destroy(cur);
    if (!ok) {
        ls_mongo_error(err, who, "listing the collections of %s on %s: %s", db, shown, be.message);
        *st = ls_mongo_fail_status(call, &be);
    }
    for (size_t i = 0; ok && i < ls_list_len(names); i++) {
        const char *name = ls_str_ptr(ls_list_at(names, i));
        if (strncmp(name, "system.", 7) == 0 || in_backup(b, name))
            continue;
        mongoc_collection_t *c = mongoc_database_get_collection(database, name);
        if (!mongoc_collection_drop_with_opts(c, NULL, &be) && !is_ns_not_found(&be)) {
            ls_mongo_error(err, who, "dropping %s.%s (not in the backup) on %s: %s", db, name, shown, be.message);
            *st = ls_mongo_fail_status(call, &be);
            ok = false;
        } else {
            ls_list_push(dropped, ls_string(name));
        }
        mongoc_collection_destroy(c);
    }
    ls_value_free(names);
    mongoc_database_destroy(database);
    return ok;
}

LS_PLUGIN_ACTION(mongo_restore)
{
    const char *who = "mongo.restore";
    char *shown = NULL;
    *result = ls_map_new();
    ls_value list = ls_list_new(), dropped = ls_list_new();
    int64_t total = 0, *counts = NULL;
    ls_act_status st = LS_ACT_FAILED;
    ls_backup b;
    memset(&b, 0, sizeof b);
    bool *pick = NULL;
    ls_value dropv = ls_call_input(call, "drop"), exactv = ls_call_input(call, "exact");
    bool drop = dropv.kind == LS_BOOL ? dropv.u.b : true;
    bool exact = exactv.kind == LS_BOOL && exactv.u.b;
    const char *db = NULL;
    mongoc_client_t *client = open_backup(call, who, "target", &shown, &db, &b, err);
    if (client == NULL)
        goto out;
    pick = calloc(b.ncolls ? b.ncolls : 1, sizeof *pick);
    counts = calloc(b.ncolls ? b.ncolls : 1, sizeof *counts);
    if (pick == NULL || counts == NULL) {
        ls_mongo_error(err, who, "out of memory");
        goto out;
    }
    if (!select_colls(who, &b, ls_call_input(call, "collections"), pick, err))
        goto out;
    /* Read the backup through and check it before writing anything. */
    if (!ls_backup_scan(call, who, &b, pick, NULL, NULL, &st, err)) {
        if (st == LS_ACT_OK)
            st = LS_ACT_FAILED;
        goto out;
    }
    bool ok = restore_picked(call, who, shown, client, db, &b, pick, drop, NULL, counts, &st, err);
    for (size_t i = 0; i < b.ncolls; i++) {
        if (!pick[i])
            continue;
        ls_value e = ls_map_new();
        ls_map_set(&e, "name", ls_string(b.colls[i].name));
        ls_map_set(&e, "count", ls_int(counts[i]));
        ls_list_push(&list, e);
        total += counts[i];
    }
    if (!ok)
        goto out;
    if (exact && !drop_extra(call, who, shown, client, db, &b, &dropped, &st, err))
        goto out;
    st = LS_ACT_OK;
out:
    if (st == LS_ACT_OK && ls_plugin_has_error(err))
        st = LS_ACT_FAILED;
    ls_map_set(result, "collections", list);
    ls_map_set(result, "docs", ls_int(total));
    ls_map_set(result, "dropped", dropped);
    ls_map_set(result, "format", b.where == NULL ? ls_null()
                                 : ls_string(b.form == LS_BACKUP_ARCHIVE ? "archive" : "directory"));
    ls_backup_free(&b);
    free(pick);
    free(counts);
    free(shown);
    return st;
}

/* ---- verify_backup ------------------------------------------------------------- */

static void scratch_name(char out[64])
{
    unsigned char rnd[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool got = fd >= 0 && read(fd, rnd, sizeof rnd) == (ssize_t)sizeof rnd;
    if (fd >= 0)
        close(fd);
    if (!got) {
        uint64_t v = (uint64_t)ls_now_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &v, sizeof rnd);
    }
    int n = snprintf(out, 64, "lockstep_verify_");
    for (size_t i = 0; i < sizeof rnd && n < 62; i++)
        n += snprintf(out + n, (size_t)(64 - n), "%02x", rnd[i]);
}

LS_PLUGIN_ACTION(mongo_verify_backup)
{
    const char *who = "mongo.verify_backup";
    char *shown = NULL, scratch[64];
    *result = ls_map_new();
    ls_map_set(result, "ok", ls_bool(false));
    ls_act_status st = LS_ACT_FAILED;
    ls_backup b;
    memset(&b, 0, sizeof b);
    bool scratch_used = false, *pick = NULL;
    int64_t *counts = NULL;
    const char *want = ls_mongo_input_str(call, "collection");
    const char *db = NULL;
    mongoc_client_t *client = open_backup(call, who, "live", &shown, &db, &b, err);
    if (client == NULL)
        goto out;
    /* The whole backup is checked; the scan also weighs each collection. */
    if (!ls_backup_scan(call, who, &b, NULL, NULL, NULL, &st, err)) {
        if (st == LS_ACT_OK)
            st = LS_ACT_FAILED;
        goto out;
    }
    st = LS_ACT_FAILED;
    long f = -1;
    for (size_t i = 0; i < b.ncolls; i++) {
        if (want != NULL ? strcmp(b.colls[i].name, want) == 0 : (f < 0 || b.colls[i].bytes > b.colls[f].bytes))
            f = (long)i;
    }
    if (f < 0) {
        if (want != NULL)
            ls_mongo_error(err, who, "collection '%s' is not in the dump %s", want, b.where);
        else
            ls_mongo_error(err, who, "the dump %s holds no collection", b.where);
        goto out;
    }
    const ls_backup_coll *bc = &b.colls[f];
    ls_map_set(result, "collection", ls_string(bc->name));
    scratch_name(scratch);
    ls_map_set(result, "scratch_db", ls_string(scratch));
    pick = calloc(b.ncolls, sizeof *pick);
    counts = calloc(b.ncolls, sizeof *counts);
    if (pick == NULL || counts == NULL) {
        ls_mongo_error(err, who, "out of memory");
        goto out;
    }
    pick[f] = true;

    /* Dump side: restore (hashing what is read from the backup). */
    unsigned char dump_hash[32] = {0}, live_hash[32] = {0};
    scratch_used = true;
    if (!restore_picked(call, who, shown, client, scratch, &b, pick, false, dump_hash, counts, &st, err))
        goto out;
    st = LS_ACT_FAILED;
    int64_t dump_count = b.colls[f].count;
    ls_map_set(result, "dump_count", ls_int(dump_count));

    /* Read the restored documents back. */
    mongoc_collection_t *coll = mongoc_client_get_collection(client, scratch, bc->data_name);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_INT32(&opts, "batchSize", 1000);
    ls_mongo_opts_deadline(call, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    const bson_t *doc;
    int64_t restored = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        sum256_add(live_hash, bson_get_data(doc), doc->len);
        restored++;
    }
    bson_error_t be;
    bool cur_err = mongoc_cursor_error(cur, &be);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (cur_err) {
        ls_mongo_error(err, who, "reading back %s.%s on %s: %s", scratch, bc->data_name, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
        goto out;
    }
    ls_map_set(result, "restored_count", ls_int(restored));

    /* The live collection, for the operator's comparison. */
    mongoc_collection_t *live = mongoc_client_get_collection(client, db, bc->data_name);
    bson_t empty = BSON_INITIALIZER, copts = BSON_INITIALIZER;
    ls_mongo_opts_deadline(call, &copts);
    int64_t live_count = mongoc_collection_count_documents(live, &empty, &copts, NULL, NULL, &be);
    mongoc_collection_destroy(live);
    bson_destroy(&empty);
    bson_destroy(&copts);
    if (live_count < 0) {
        ls_mongo_error(err, who, "counting %s.%s on %s: %s", db, bc->data_name, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
        goto out;
    }
    ls_map_set(result, "live_count", ls_int(live_count));
    bool hash_match = memcmp(dump_hash, live_hash, sizeof dump_hash) == 0;
    ls_map_set(result, "hash_match", ls_bool(hash_match));
    bool ok = hash_match && restored == dump_count && counts[f] == dump_count;
    ls_map_set(result, "ok", ls_bool(ok));
    if (!ok) {
        ls_mongo_error(err, who,
                       "backup %s of %s does not restore whole: dump has %lld documents, restored %lld, hashes %s",
                       b.where, bc->name, (long long)dump_count, (long long)restored,
                       hash_match ? "match" : "differ");
        goto out;
    }
    st = LS_ACT_OK;
out:
    if (scratch_used) {
        mongoc_database_t *sdb = mongoc_client_get_database(client, scratch);
        bson_error_t dbe;
        if (!mongoc_database_drop_with_opts(sdb, NULL, &dbe)) {
            ls_mongo_error(err, who, "could not drop the scratch database %s on %s: %s", scratch, shown,
                           dbe.message);
            st = LS_ACT_FAILED;
        }
        mongoc_database_destroy(sdb);
    }
    ls_backup_free(&b);
    free(pick);
    free(counts);
    free(shown);
    return st;
}
