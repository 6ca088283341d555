/*
 * mongo.dump (SPEC 6): a database as mongodump writes it, in one of its two
 * forms.
 *
 * `format: directory` (mongodump --out OUT): OUT/DB/COLL.bson holds the
 * documents back to back and COLL.metadata.json is {"options":{...},
 * "indexes":[...],"uuid":"","collectionName":"COLL","type":"collection"}
 * (relaxed extended JSON).  With `gzip` both files are gzip
 * (COLL.bson.gz, COLL.metadata.json.gz), as mongodump --gzip writes them:
 * mongorestore --gzip reads a directory only when every file is so.  The
 * files go into OUT/.DB.partial-XXXXXX, each fsynced, then the folder is
 * renamed to OUT/DB and OUT fsynced.
 *
 * `format: archive` (mongodump --archive=OUT): the archive format of
 * mongo_int.h, one namespace segment per collection, written to
 * DIR/.NAME.partial-XXXXXX beside OUT, fsynced, then linked to OUT (link
 * refuses an existing OUT, atomically) and the temporary name removed.
 * With `gzip` the whole archive is one gzip stream (--archive --gzip).
 *
 * Both forms stream each collection cursor batch by batch (nothing larger
 * than one document is held), never overwrite an existing backup, and
 * leave nothing that looks complete when they fail half way.  Folders are
 * created 0700 and files 0600: backups hold the data.
 */
#include "mongo_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SINK_BUF (128 * 1024)

/* ---- an output file, plain or gzip ----------------------------------------------- */

typedef struct sink {
    int fd;
    gzFile gz;     /* NULL: plain */
    uint8_t *buf;  /* plain: pending bytes */
    size_t n;
    int errno_;    /* the first failure's errno (0: zlib's) */
    bool failed;
} sink;

static bool write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Takes fd (closed by sink_close, also when this fails). */
static bool sink_open(sink *s, int fd, bool gz)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    if (gz) {
        int gfd = dup(fd);
        s->gz = gfd >= 0 ? gzdopen(gfd, "wb6") : NULL;
        if (s->gz == NULL) {
            if (gfd >= 0)
                close(gfd);
            s->failed = true;
            s->errno_ = errno;
            return false;
        }
        gzbuffer(s->gz, SINK_BUF);
    } else {
        s->buf = malloc(SINK_BUF);
        if (s->buf == NULL) {
            s->failed = true;
            s->errno_ = ENOMEM;
            return false;
        }
    }
    return true;
}

static bool sink_flush(sink *s)
{
    if (s->gz == NULL && s->n > 0 && !s->failed) {
        if (!write_all(s->fd, s->buf, s->n)) {
            s->failed = true;
            s->errno_ = errno;
        }
        s->n = 0;
    }
    return !s->failed;
}

static bool sink_write(sink *s, const void *p, size_t n)
{
    if (s->failed)
        return false;
    if (s->gz != NULL) {
        if (n > 0 && gzwrite(s->gz, p, (unsigned)n) != (int)n) {
            int zerr = 0;
            gzerror(s->gz, &zerr);
            s->failed = true;
            s->errno_ = zerr == Z_ERRNO ? errno : 0;
        }
        return !s->failed;
    }
    if (s->n + n > SINK_BUF && !sink_flush(s))
        return false;
    if (n >= SINK_BUF) {
        if (!write_all(s->fd, p, n)) {
            s->failed = true;
            s->errno_ = errno;
        }
        return !s->failed;
    }
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    return true;
}

static bool sink_u32(sink *s, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return sink_write(s, b, 4);
}

static bool sink_bson(sink *s, const bson_t *doc)
{
    return sink_write(s, bson_get_data(doc), doc->len);
}

/* Flushes, finishes gzip, fsyncs and closes; false with errno_ set when
 * any of it failed (fsync is skipped when keep is false). */
static bool sink_close(sink *s, bool keep)
{
    sink_flush(s);
    if (s->gz != NULL) {
        int zrc = gzclose(s->gz);
        if (zrc != Z_OK && !s->failed) {
            s->failed = true;
            s->errno_ = zrc == Z_ERRNO ? errno : 0;
        }
        s->gz = NULL;
    }
    if (keep && !s->failed && fsync(s->fd) != 0) {
        s->failed = true;
        s->errno_ = errno;
    }
    if (s->fd >= 0 && close(s->fd) != 0 && !s->failed) {
        s->failed = true;
        s->errno_ = errno;
    }
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
    return !s->failed;
}

static const char *sink_why(const sink *s)
{
    return s->errno_ ? strerror(s->errno_) : "compression failed";
}

/* ---- the database's collections ----------------------------------------------------- */

typedef struct coll_info {
    char *name;
    bson_t *options;
    char *meta_json; /* the metadata text, once read */
} coll_info;

static void coll_infos_free(coll_info *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bson_free(c[i].name);
        if (c[i].options)
            bson_destroy(c[i].options);
        bson_free(c[i].meta_json);
    }
    free(c);
}

static int cmp_coll_info(const void *a, const void *b)
{
    return strcmp(((const coll_info *)a)->name, ((const coll_info *)b)->name);
}

/* The collections (not views) of a database, sorted by name. */
static coll_info *list_collections(ls_call *call, mongoc_database_t *database, size_t *n, bson_error_t *be)
{
    bson_t opts = BSON_INITIALIZER, filter;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "type", "collection");
    bson_append_document_end(&opts, &filter);
    ls_mongo_opts_deadline(call, &opts);
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(database, &opts);
    bson_destroy(&opts);
    coll_info *out = NULL;
    size_t len = 0, cap = 0;
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "name") || !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            coll_info *grown = realloc(out, cap * sizeof *out);
            if (grown == NULL) {
                bson_set_error(be, MONGOC_ERROR_CLIENT, 1, "out of memory listing collections");
                mongoc_cursor_destroy(cur);
                coll_infos_free(out, len);
                *n = 0;
                return NULL;
            }
            out = grown;
        }
        memset(&out[len], 0, sizeof out[len]);
        out[len].name = bson_strdup(bson_iter_utf8(&it, NULL));
        out[len].options = bson_new();
        bson_iter_t o;
        if (bson_iter_init_find(&o, doc, "options") && BSON_ITER_HOLDS_DOCUMENT(&o)) {
            uint32_t dl = 0;
            const uint8_t *dd = NULL;
            bson_iter_document(&o, &dl, &dd);
            bson_t tmp;
            if (bson_init_static(&tmp, dd, dl)) {
                bson_destroy(out[len].options);
                out[len].options = bson_copy(&tmp);
            }
        }
        len++;
    }
    if (mongoc_cursor_error(cur, be)) {
        mongoc_cursor_destroy(cur);
        coll_infos_free(out, len);
        *n = 0;
        return NULL;
    }
    mongoc_cursor_destroy(cur);
    if (len > 1)
        qsort(out, len, sizeof *out, cmp_coll_info);
    *n = len;
    if (out == NULL)
        out = calloc(1, sizeof *out);
    return out;
}

typedef struct dump_ctx {
    ls_call *call;
    const char *who;
    const char *shown;
    const char *db;
    mongoc_client_t *client;
    ls_error *err;
    ls_act_status st;
} dump_ctx;

static bool dump_fail(dump_ctx *x, ls_act_status st)
{
    x->st = st;
    return false;
}

/* The collection's .metadata.json text (options, indexes, name, type)
 * into ci->meta_json. */
static bool read_metadata(dump_ctx *x, coll_info *ci)
{
    bson_error_t be;
    mongoc_collection_t *coll = mongoc_client_get_collection(x->client, x->db, ci->name);
    bson_t meta = BSON_INITIALIZER, arr, opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&meta, "options", ci->options);
    BSON_APPEND_ARRAY_BEGIN(&meta, "indexes", &arr);
    ls_mongo_opts_deadline(x->call, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, &opts);
    const bson_t *doc;
    uint32_t i = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        char key[16];
        const char *k = NULL;
        bson_uint32_to_string(i++, &k, key, sizeof key);
        bson_append_document(&arr, k, -1, doc);
    }
    bool cur_err = mongoc_cursor_error(cur, &be);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    bson_destroy(&opts);
    bson_append_array_end(&meta, &arr);
    BSON_APPEND_UTF8(&meta, "uuid", "");
    BSON_APPEND_UTF8(&meta, "collectionName", ci->name);
    BSON_APPEND_UTF8(&meta, "type", "collection");
    if (cur_err) {
        bson_destroy(&meta);
        ls_mongo_error(x->err, x->who, "listing the indexes of %s.%s on %s: %s", x->db, ci->name, x->shown,
                       be.message);
        return dump_fail(x, ls_mongo_fail_status(x->call, &be));
    }
    ci->meta_json = bson_as_relaxed_extended_json(&meta, NULL);
    bson_destroy(&meta);
    if (ci->meta_json == NULL) {
        ls_mongo_error(x->err, x->who, "cannot write the metadata of %s.%s as JSON", x->db, ci->name);
        return dump_fail(x, LS_ACT_FAILED);
    }
    return true;
}

/* Calls each(ctx, doc) for every document of the collection, streamed;
 * *count and *bytes get what was read. */
typedef bool (*dump_doc_fn)(void *ctx, const bson_t *doc);

static bool stream_collection(dump_ctx *x, const coll_info *ci, dump_doc_fn each, void *ctx, int64_t *count,
                              int64_t *bytes)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(x->client, x->db, ci->name);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_INT32(&opts, "batchSize", 1000);
    ls_mongo_opts_deadline(x->call, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    const bson_t *doc;
    bool ok = true;
    char what[PATH_MAX];
    snprintf(what, sizeof what, "%s.%s", x->db, ci->name);
    *count = 0;
    *bytes = 0;
    while (ok && mongoc_cursor_next(cur, &doc)) {
        if (!each(ctx, doc)) {
            x->st = LS_ACT_FAILED;
            ok = false;
            break;
        }
        (*count)++;
        *bytes += doc->len;
        if ((*count & 255) == 0 && ls_mongo_should_stop(x->call, x->who, what, *count, &x->st, x->err))
            ok = false;
    }
    bson_error_t be;
    if (ok && mongoc_cursor_error(cur, &be)) {
        ls_mongo_error(x->err, x->who, "reading %s.%s on %s: %s", x->db, ci->name, x->shown, be.message);
        x->st = ls_mongo_fail_status(x->call, &be);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return ok;
}

/* ---- the directory form -------------------------------------------------------------- */

/* Removes the files of a flat folder, then the folder. */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (ls_mongo_join_path(p, sizeof p, dir, e->d_name))
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static bool sink_doc(void *ctx, const bson_t *doc)
{
    return sink_bson(ctx, doc);
}

/* Creates DIR/FNAME (0600, must not exist) as a sink. */
static bool create_file(dump_ctx *x, const char *dir, const char *fname, bool gz, sink *s, char *path, size_t plen)
{
    if (!ls_mongo_join_path(path, plen, dir, fname)) {
        ls_mongo_error(x->err, x->who, "path too long for %s", fname);
        return dump_fail(x, LS_ACT_FAILED);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", path, strerror(errno));
        return dump_fail(x, LS_ACT_FAILED);
    }
    if (!sink_open(s, fd, gz)) {
        ls_mongo_error(x->err, x->who, "cannot start writing %s: %s", path, sink_why(s));
        sink_close(s, false);
        return dump_fail(x, LS_ACT_FAILED);
    }
    return true;
}

static bool finish_file(dump_ctx *x, sink *s, const char *path, bool ok)
{
    if (!sink_close(s, ok) && ok) {
        ls_mongo_error(x->err, x->who, "writing %s: %s", path, sink_why(s));
        return dump_fail(x, LS_ACT_FAILED);
    }
    return ok;
}

/* DIR/NAME.bson[.gz] and DIR/NAME.metadata.json[.gz]. */
static bool dump_collection_files(dump_ctx *x, const coll_info *ci, const char *dir, bool gz, int64_t *count,
                                  int64_t *bytes)
{
    char path[PATH_MAX], fname[PATH_MAX];
    sink s;
    snprintf(fname, sizeof fname, "%s.bson%s", ci->name, gz ? ".gz" : "");
    if (!create_file(x, dir, fname, gz, &s, path, sizeof path))
        return false;
    bool ok = stream_collection(x, ci, sink_doc, &s, count, bytes);
    if (!ok && s.failed)
        ls_mongo_error(x->err, x->who, "writing %s: %s", path, sink_why(&s));
    if (!finish_file(x, &s, path, ok))
        return false;
    snprintf(fname, sizeof fname, "%s.metadata.json%s", ci->name, gz ? ".gz" : "");
    if (!create_file(x, dir, fname, gz, &s, path, sizeof path))
        return false;
    sink_write(&s, ci->meta_json, strlen(ci->meta_json));
    return finish_file(x, &s, path, true);
}

/* ---- the archive form ----------------------------------------------------------------- */

typedef struct archive_coll {
    dump_ctx *x;
    sink *s;
    const char *name;
    uint64_t crc;
    bool open; /* a namespace segment is open */
} archive_coll;

static bool ns_header(sink *s, const char *db, const char *coll, bool eof, uint64_t crc)
{
    bson_t h = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&h, "db", db);
    BSON_APPEND_UTF8(&h, "collection", coll);
    BSON_APPEND_BOOL(&h, "EOF", eof);
    BSON_APPEND_INT64(&h, "CRC", (int64_t)crc);
    bool ok = sink_bson(s, &h);
    bson_destroy(&h);
    return ok;
}

static bool archive_doc(void *ctx, const bson_t *doc)
{
    archive_coll *a = ctx;
    if (!a->open) {
        if (!ns_header(a->s, a->x->db, a->name, false, 0))
            return false;
        a->open = true;
    }
    a->crc = ls_crc64_update(a->crc, bson_get_data(doc), doc->len);
    return sink_bson(a->s, doc);
}

/* magic, prelude, then per collection: a segment with its documents (when
 * it has any) and its end-of-collection block. */
static bool write_archive(dump_ctx *x, sink *s, coll_info *colls, const bool *pick, size_t ncolls,
                          const char *server_version, ls_value *list, int64_t *total)
{
    bson_t h = BSON_INITIALIZER;
    BSON_APPEND_INT32(&h, "concurrent_collections", 1);
    BSON_APPEND_UTF8(&h, "version", "0.1");
    BSON_APPEND_UTF8(&h, "server_version", server_version);
    BSON_APPEND_UTF8(&h, "tool_version", "lockstep " LOCKSTEP_VERSION);
    bool ok = sink_u32(s, LS_ARCHIVE_MAGIC) && sink_bson(s, &h);
    bson_destroy(&h);
    for (size_t j = 0; ok && j < ncolls; j++) {
        if (!pick[j])
            continue;
        bson_t m = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&m, "db", x->db);
        BSON_APPEND_UTF8(&m, "collection", colls[j].name);
        BSON_APPEND_UTF8(&m, "metadata", colls[j].meta_json);
        BSON_APPEND_INT64(&m, "size", 0);
        BSON_APPEND_UTF8(&m, "type", "collection");
        ok = sink_bson(s, &m);
        bson_destroy(&m);
    }
    ok = ok && sink_u32(s, LS_ARCHIVE_TERMINATOR);
    if (!ok) {
        ls_mongo_error(x->err, x->who, "writing the archive: %s", sink_why(s));
        return dump_fail(x, LS_ACT_FAILED);
    }
    for (size_t j = 0; j < ncolls; j++) {
        if (!pick[j])
            continue;
        archive_coll a = {x, s, colls[j].name, LS_CRC64_INIT, false};
        int64_t count = 0, bytes = 0;
        if (!stream_collection(x, &colls[j], archive_doc, &a, &count, &bytes)) {
            if (s->failed)
                ls_mongo_error(x->err, x->who, "writing the archive: %s", sink_why(s));
            return false;
        }
        if ((a.open && !sink_u32(s, LS_ARCHIVE_TERMINATOR)) ||
            !ns_header(s, x->db, colls[j].name, true, LS_CRC64_FINAL(a.crc)) || !sink_u32(s, LS_ARCHIVE_TERMINATOR)) {
            ls_mongo_error(x->err, x->who, "writing the archive: %s", sink_why(s));
            return dump_fail(x, LS_ACT_FAILED);
        }
        ls_value e = ls_map_new();
        ls_map_set(&e, "name", ls_string(colls[j].name));
        ls_map_set(&e, "count", ls_int(count));
        ls_map_set(&e, "bytes", ls_int(bytes));
        ls_list_push(list, e);
        *total += count;
    }
    return true;
}

/* The server's version (buildInfo), "" when it does not say. */
static char *server_version(dump_ctx *x)
{
    bson_t cmd = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
    bson_error_t be;
    char *v = NULL;
    BSON_APPEND_INT32(&cmd, "buildInfo", 1);
    ls_mongo_opts_deadline(x->call, &opts);
    if (mongoc_client_command_with_opts(x->client, "admin", &cmd, NULL, &opts, &reply, &be)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
            v = bson_strdup(bson_iter_utf8(&it, NULL));
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    bson_destroy(&opts);
    return v ? v : bson_strdup("");
}

/* ---- mongo.dump --------------------------------------------------------------------- */

/* Picks the named collections (each must exist), or all but system.*. */
static bool pick_collections(dump_ctx *x, coll_info *colls, size_t ncolls, ls_value want, bool *pick)
{
    if (want.kind == LS_LIST) {
        for (size_t i = 0; i < ls_list_len(want); i++) {
            const char *w = ls_str_ptr(ls_list_at(want, i));
            size_t j = 0;
            while (j < ncolls && strcmp(colls[j].name, w) != 0)
                j++;
            if (j == ncolls) {
                ls_mongo_error(x->err, x->who, "collection '%s' does not exist in database %s on %s", w, x->db,
                               x->shown);
                return false;
            }
            pick[j] = true;
        }
    } else {
        for (size_t j = 0; j < ncolls; j++)
            pick[j] = strncmp(colls[j].name, "system.", 7) != 0;
    }
    for (size_t j = 0; j < ncolls; j++) {
        if (pick[j] && !ls_mongo_name_is_safe(colls[j].name)) {
            ls_mongo_error(x->err, x->who, "collection name '%s' cannot be a file name", colls[j].name);
            return false;
        }
    }
    return true;
}

static bool dump_directory(dump_ctx *x, const char *out, coll_info *colls, const bool *pick, size_t ncolls, bool gz,
                           ls_value *result, ls_value *list, int64_t *total)
{
    char final_dir[PATH_MAX], tmp_dir[PATH_MAX];
    struct stat st;
    if (ls_mongo_mkdir_p(out) != 0) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", out, strerror(errno));
        return false;
    }
    if (!ls_mongo_join_path(final_dir, sizeof final_dir, out, x->db) ||
        snprintf(tmp_dir, sizeof tmp_dir, "%s/.%s.partial-XXXXXX", out, x->db) >= (int)sizeof tmp_dir) {
        ls_mongo_error(x->err, x->who, "path too long: %s", out);
        return false;
    }
    if (lstat(final_dir, &st) == 0) {
        ls_mongo_error(x->err, x->who, "%s already exists: refusing to overwrite a backup (choose a new `out`)",
                       final_dir);
        return false;
    }
    if (mkdtemp(tmp_dir) == NULL) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", tmp_dir, strerror(errno));
        return false;
    }
    for (size_t j = 0; j < ncolls; j++) {
        if (!pick[j])
            continue;
        int64_t count = 0, bytes = 0;
        if (!dump_collection_files(x, &colls[j], tmp_dir, gz, &count, &bytes)) {
            remove_flat_dir(tmp_dir);
            return false;
        }
        ls_value e = ls_map_new();
        ls_map_set(&e, "name", ls_string(colls[j].name));
        ls_map_set(&e, "count", ls_int(count));
        ls_map_set(&e, "bytes", ls_int(bytes));
        ls_list_push(list, e);
        *total += count;
    }
    if (ls_mongo_fsync_dir(tmp_dir) != 0 || rename(tmp_dir, final_dir) != 0) {
        ls_mongo_error(x->err, x->who, "cannot move %s to %s: %s", tmp_dir, final_dir, strerror(errno));
        remove_flat_dir(tmp_dir);
        return false;
    }
    ls_mongo_fsync_dir(out);
    ls_map_set(result, "dir", ls_string(final_dir));
    ls_map_set(result, "path", ls_string(final_dir));
    return true;
}

static bool dump_archive(dump_ctx *x, const char *out, coll_info *colls, const bool *pick, size_t ncolls, bool gz,
                         const char *version, ls_value *result, ls_value *list, int64_t *total)
{
    char parent[PATH_MAX], tmp[PATH_MAX];
    struct stat st;
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    if (base[0] == '\0') {
        ls_mongo_error(x->err, x->who, "out must name the archive file, not a directory (got %s)", out);
        return false;
    }
    if (slash == NULL)
        snprintf(parent, sizeof parent, ".");
    else if (slash == out)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - out), out);
    if (snprintf(tmp, sizeof tmp, "%s/.%s.partial-XXXXXX", parent, base) >= (int)sizeof tmp) {
        ls_mongo_error(x->err, x->who, "path too long: %s", out);
        return false;
    }
    if (lstat(out, &st) == 0) {
        ls_mongo_error(x->err, x->who, "%s already exists: refusing to overwrite a backup (choose a new `out`)", out);
        return false;
    }
    if (ls_mongo_mkdir_p(parent) != 0) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", parent, strerror(errno));
        return false;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", tmp, strerror(errno));
        return false;
    }
    sink s;
    bool ok = sink_open(&s, fd, gz);
    if (!ok)
        ls_mongo_error(x->err, x->who, "cannot start writing %s: %s", tmp, sink_why(&s));
    ok = ok && write_archive(x, &s, colls, pick, ncolls, version, list, total);
    if (!sink_close(&s, ok) && ok) {
        ls_mongo_error(x->err, x->who, "writing %s: %s", tmp, sink_why(&s));
        ok = false;
    }
    if (ok && link(tmp, out) != 0) {
        int e = errno;
        /* A file system without hard links: rename, after one more look
         * (link is the atomic no-clobber; this is the best it can do). */
        if ((e == EPERM || e == ENOTSUP || e == ENOSYS) && lstat(out, &st) != 0 &&
            rename(tmp, out) == 0) {
            e = 0;
        }
        if (e == EEXIST)
            ls_mongo_error(x->err, x->who, "%s appeared while dumping: refusing to overwrite it", out);
        else if (e != 0)
            ls_mongo_error(x->err, x->who, "cannot create %s: %s", out, strerror(e));
        ok = e == 0;
    }
    unlink(tmp);
    if (!ok)
        return false;
    ls_mongo_fsync_dir(parent);
    ls_map_set(result, "dir", ls_null());
    ls_map_set(result, "path", ls_string(out));
    return true;
}

LS_PLUGIN_ACTION(mongo_dump)
{
    const char *who = "mongo.dump";
    char *shown = NULL, *version = NULL;
    *result = ls_map_new();
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    if (client == NULL) {
        free(shown);
        return LS_ACT_FAILED;
    }
    const char *db = ls_mongo_input_str(call, "db");
    const char *out = ls_mongo_input_str(call, "out");
    const char *format = ls_mongo_input_str(call, "format");
    ls_value gzv = ls_call_input(call, "gzip");
    bool gz = gzv.kind == LS_BOOL ? gzv.u.b : true;
    dump_ctx x = {call, who, shown, db, client, err, LS_ACT_FAILED};
    coll_info *colls = NULL;
    size_t ncolls = 0;
    bool *pick = NULL, archive = false, ok = false;
    ls_value list = ls_list_new();
    int64_t total = 0;

    if (format != NULL && strcmp(format, "archive") == 0)
        archive = true;
    else if (format != NULL && strcmp(format, "directory") != 0) {
        ls_mongo_error(err, who, "format must be directory or archive (got '%s')", format);
        goto done;
    }
    if (db == NULL || db[0] == '\0' || !ls_mongo_name_is_safe(db)) {
        ls_mongo_error(err, who, "db must name a database (got '%s')", db ? db : "");
        goto done;
    }
    if (out == NULL || out[0] == '\0') {
        ls_mongo_error(err, who, "no out %s given", archive ? "file" : "directory");
        goto done;
    }
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    bson_error_t be;
    colls = list_collections(call, database, &ncolls, &be);
    mongoc_database_destroy(database);
    if (colls == NULL) {
        ls_mongo_error(err, who, "listing the collections of %s on %s: %s", db, shown, be.message);
        x.st = ls_mongo_fail_status(call, &be);
        goto done;
    }
    pick = calloc(ncolls ? ncolls : 1, sizeof *pick);
    if (pick == NULL || !pick_collections(&x, colls, ncolls, ls_call_input(call, "collections"), pick))
        goto done;
    for (size_t j = 0; j < ncolls; j++)
        if (pick[j] && !read_metadata(&x, &colls[j]))
            goto done;
    if (archive) {
        version = server_version(&x);
        ok = dump_archive(&x, out, colls, pick, ncolls, gz, version, result, &list, &total);
    } else {
        ok = dump_directory(&x, out, colls, pick, ncolls, gz, result, &list, &total);
    }
done:
    ls_map_set(result, "collections", list);
    ls_map_set(result, "docs", ls_int(total));
    coll_infos_free(colls, ncolls);
    free(pick);
    bson_free(version);
    free(shown);
    if (ok)
        return LS_ACT_OK;
    return x.st == LS_ACT_OK ? LS_ACT_FAILED : x.st;
}
