/*
 * mongo.dump, mongo.restore, mongo.verify_backup (SPEC 6).
 *
 * Layout: the one `mongodump --out OUT` writes.  OUT/DB/COLL.bson holds the
 * documents back to back (COLL.bson.gz: the same bytes, gzip), and
 * COLL.metadata.json is {"options":{...},"indexes":[{"v":2,"key":{...},
 * "name":"..."}...],"uuid":"","collectionName":"COLL","type":"collection"}
 * (relaxed extended JSON).  Reading also accepts mongodump's
 * COLL.metadata.json.gz and canonical extended JSON.
 *
 * Dump: each collection is streamed cursor batch by batch into its file
 * (nothing larger than one document is held), into OUT/.DB.partial-XXXXXX,
 * every file fsynced, then the folder is renamed to OUT/DB and OUT fsynced:
 * a dump that fails half way leaves no folder that looks complete (the
 * partial one is removed).  An existing OUT/DB is never overwritten: the
 * dump fails and says so (a backup must not silently replace another).
 * The folder is created 0700 and files 0600: backups hold the data.
 *
 * Restore: every file is first read through and every document checked
 * (length, then bson_validate) before anything is written, so a corrupt
 * file fails the action with its name and byte offset and nothing is
 * restored.  Then per collection: drop (when `drop`), create with the
 * dumped options, insert in ordered batches (1,000 documents / 16 MiB),
 * createIndexes from the metadata.  system.* collections are skipped.
 *
 * verify_backup: restores one collection into lockstep_verify_<random>,
 * reads it back, and compares counts and an order-independent content hash:
 * the sum modulo 2^256 of the SHA-256 of each document's BSON bytes (a sum,
 * not XOR, so two equal documents do not cancel out).  The scratch database
 * is dropped on every path.
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

#include "sha256.h"

#define DUMP_MAX_DOC (16 * 1024 * 1024 + 16 * 1024) /* BSON max plus the server's headroom */
#define BATCH_DOCS 1000
#define BATCH_BYTES (16u * 1024u * 1024u)
#define META_MAX (16 * 1024 * 1024)

/* ---- files ----------------------------------------------------------------- */

static bool join_path(char *out, size_t outlen, const char *a, const char *b)
{
    int n = snprintf(out, outlen, "%s/%s", a, b);
    return n > 0 && (size_t)n < outlen;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

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
            if (join_path(p, sizeof p, dir, e->d_name))
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

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

static bool name_is_safe(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

/* ---- hashing ---------------------------------------------------------------- */

/* acc += digest, big-endian, modulo 2^256. */
static void sum256_add(unsigned char acc[32], const uint8_t *doc, size_t len)
{
    ls_sha256 s;
    unsigned char d[32];
    ls_sha256_init(&s);
    ls_sha256_update(&s, doc, len);
    ls_sha256_final(&s, d);
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned v = (unsigned)acc[i] + d[i] + carry;
        acc[i] = (unsigned char)(v & 0xffu);
        carry = v >> 8;
    }
}

/* ---- the dump ----------------------------------------------------------------- */

typedef struct coll_info {
    char *name;
    bson_t *options;
} coll_info;

static void coll_infos_free(coll_info *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        if (c[i].options)
            bson_destroy(c[i].options);
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
    ls_error *err;
    ls_act_status st;
} dump_ctx;

static bool dump_fail(dump_ctx *x, ls_act_status st)
{
    x->st = st;
    return false;
}

static bool write_metadata(dump_ctx *x, mongoc_collection_t *coll, const coll_info *ci, const char *dir)
{
    char path[PATH_MAX], fname[PATH_MAX];
    bson_error_t be;
    snprintf(fname, sizeof fname, "%s.metadata.json", ci->name);
    if (!join_path(path, sizeof path, dir, fname)) {
        ls_mongo_error(x->err, x->who, "path too long for %s", fname);
        return dump_fail(x, LS_ACT_FAILED);
    }
    bson_t meta = BSON_INITIALIZER, arr;
    BSON_APPEND_DOCUMENT(&meta, "options", ci->options);
    BSON_APPEND_ARRAY_BEGIN(&meta, "indexes", &arr);
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
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
    size_t jlen = 0;
    char *json = bson_as_relaxed_extended_json(&meta, &jlen);
    bson_destroy(&meta);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = json != NULL && fd >= 0 && write_all(fd, json, jlen) && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    bson_free(json);
    if (!ok) {
        ls_mongo_error(x->err, x->who, "cannot write %s: %s", path, strerror(e));
        return dump_fail(x, LS_ACT_FAILED);
    }
    return true;
}

/* Streams one collection into DIR/NAME.bson[.gz]; fills *count and *bytes. */
static bool dump_collection(dump_ctx *x, mongoc_client_t *client, const coll_info *ci, const char *dir,
                            bool gz, int64_t *count, int64_t *bytes)
{
    char path[PATH_MAX], fname[PATH_MAX];
    snprintf(fname, sizeof fname, "%s.bson%s", ci->name, gz ? ".gz" : "");
    if (!join_path(path, sizeof path, dir, fname)) {
        ls_mongo_error(x->err, x->who, "path too long for %s", fname);
        return dump_fail(x, LS_ACT_FAILED);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ls_mongo_error(x->err, x->who, "cannot create %s: %s", path, strerror(errno));
        return dump_fail(x, LS_ACT_FAILED);
    }
    gzFile gzf = NULL;
    if (gz) {
        int gfd = dup(fd);
        gzf = gfd >= 0 ? gzdopen(gfd, "wb6") : NULL;
        if (gzf == NULL) {
            if (gfd >= 0)
                close(gfd);
            close(fd);
            ls_mongo_error(x->err, x->who, "cannot start gzip for %s", path);
            return dump_fail(x, LS_ACT_FAILED);
        }
        gzbuffer(gzf, 128 * 1024);
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, x->db, ci->name);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_INT32(&opts, "batchSize", 1000);
    ls_mongo_opts_deadline(x->call, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    const bson_t *doc;
    bool ok = true;
    *count = 0;
    *bytes = 0;
    while (ok && mongoc_cursor_next(cur, &doc)) {
        const uint8_t *data = bson_get_data(doc);
        if (gz)
            ok = gzwrite(gzf, data, doc->len) == (int)doc->len;
        else
            ok = write_all(fd, data, doc->len);
        if (!ok) {
            ls_mongo_error(x->err, x->who, "writing %s: %s", path, strerror(errno));
            x->st = LS_ACT_FAILED;
            break;
        }
        (*count)++;
        *bytes += doc->len;
        if ((*count & 255) == 0 && (ls_mongo_cancelled(x->call) ||
                                    (x->call->deadline_ms > 0 && ls_call_remaining_ms(x->call) == 0))) {
            ls_mongo_error(x->err, x->who, "%s.%s: stopped after %lld documents (%s)", x->db, ci->name,
                           (long long)*count, ls_mongo_cancelled(x->call) ? "cancelled" : "timed out");
            x->st = ls_mongo_cancelled(x->call) ? LS_ACT_CANCELLED : LS_ACT_TIMED_OUT;
            ok = false;
        }
    }
    bson_error_t be;
    if (ok && mongoc_cursor_error(cur, &be)) {
        ls_mongo_error(x->err, x->who, "reading %s.%s on %s: %s", x->db, ci->name, x->shown, be.message);
        x->st = ls_mongo_fail_status(x->call, &be);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (gzf != NULL) {
        int zrc = gzclose(gzf);
        if (ok && zrc != Z_OK) {
            ls_mongo_error(x->err, x->who, "finishing gzip of %s failed (zlib %d)", path, zrc);
            x->st = LS_ACT_FAILED;
            ok = false;
        }
    }
    if (ok && fsync(fd) != 0) {
        ls_mongo_error(x->err, x->who, "fsync %s: %s", path, strerror(errno));
        x->st = LS_ACT_FAILED;
        ok = false;
    }
    if (close(fd) != 0 && ok) {
        ls_mongo_error(x->err, x->who, "closing %s: %s", path, strerror(errno));
        x->st = LS_ACT_FAILED;
        ok = false;
    }
    if (ok)
        ok = write_metadata(x, coll, ci, dir);
    mongoc_collection_destroy(coll);
    return ok;
}

ls_act_status ls_mongo_dump(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "mongo.dump";
    char *shown = NULL;
    *result = ls_map_new();
    mongoc_client_t *client = ls_mongo_client(call, who, &shown, err);
    if (client == NULL) {
        free(shown);
        return LS_ACT_FAILED;
    }
    const char *db = ls_mongo_input_str(call, "db");
    const char *out = ls_mongo_input_str(call, "out");
    ls_value gzv = ls_map_get(call->inputs, "gzip");
    bool gz = gzv.kind == LS_BOOL ? gzv.u.b : true;
    ls_value want = ls_map_get(call->inputs, "collections");
    dump_ctx x = {call, who, shown, db, err, LS_ACT_FAILED};
    coll_info *colls = NULL;
    size_t ncolls = 0;
    char final_dir[PATH_MAX], tmp_dir[PATH_MAX];
    bool tmp_made = false;
    ls_value list = ls_list_new();
    int64_t total = 0;

    if (db == NULL || db[0] == '\0' || !name_is_safe(db)) {
        ls_mongo_error(err, who, "db must name a database (got '%s')", db ? db : "");
        goto fail;
    }
    if (out == NULL || out[0] == '\0') {
        ls_mongo_error(err, who, "no out directory given");
        goto fail;
    }
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    bson_error_t be;
    colls = list_collections(call, database, &ncolls, &be);
    mongoc_database_destroy(database);
    if (colls == NULL) {
        ls_mongo_error(err, who, "listing the collections of %s on %s: %s", db, shown, be.message);
        x.st = ls_mongo_fail_status(call, &be);
        goto fail;
    }
    /* Choose: the named collections (each must exist), or all but system.*. */
    bool *pick = calloc(ncolls ? ncolls : 1, sizeof *pick);
    if (pick == NULL)
        goto fail;
    if (want.kind == LS_LIST) {
        for (size_t i = 0; i < ls_list_len(want); i++) {
            const char *w = ls_str_ptr(ls_list_at(want, i));
            size_t j = 0;
            while (j < ncolls && strcmp(colls[j].name, w) != 0)
                j++;
            if (j == ncolls) {
                ls_mongo_error(err, who, "collection '%s' does not exist in database %s on %s", w, db, shown);
                free(pick);
                goto fail;
            }
            pick[j] = true;
        }
    } else {
        for (size_t j = 0; j < ncolls; j++)
            pick[j] = strncmp(colls[j].name, "system.", 7) != 0;
    }
    for (size_t j = 0; j < ncolls; j++) {
        if (pick[j] && !name_is_safe(colls[j].name)) {
            ls_mongo_error(err, who, "collection name '%s' cannot be a file name", colls[j].name);
            free(pick);
            goto fail;
        }
    }

    if (mkdir_p(out) != 0) {
        ls_mongo_error(err, who, "cannot create %s: %s", out, strerror(errno));
        free(pick);
        goto fail;
    }
    struct stat st;
    if (!join_path(final_dir, sizeof final_dir, out, db) ||
        snprintf(tmp_dir, sizeof tmp_dir, "%s/.%s.partial-XXXXXX", out, db) >= (int)sizeof tmp_dir) {
        ls_mongo_error(err, who, "path too long: %s", out);
        free(pick);
        goto fail;
    }
    if (lstat(final_dir, &st) == 0) {
        ls_mongo_error(err, who, "%s already exists: refusing to overwrite a backup (choose a new `out`)",
                       final_dir);
        free(pick);
        goto fail;
    }
    if (mkdtemp(tmp_dir) == NULL) {
        ls_mongo_error(err, who, "cannot create %s: %s", tmp_dir, strerror(errno));
        free(pick);
        goto fail;
    }
    tmp_made = true;
    for (size_t j = 0; j < ncolls; j++) {
        if (!pick[j])
            continue;
        int64_t count = 0, bytes = 0;
        if (!dump_collection(&x, client, &colls[j], tmp_dir, gz, &count, &bytes)) {
            free(pick);
            goto fail;
        }
        ls_value e = ls_map_new();
        ls_map_set(&e, "name", ls_string(colls[j].name));
        ls_map_set(&e, "count", ls_int(count));
        ls_map_set(&e, "bytes", ls_int(bytes));
        ls_list_push(&list, e);
        total += count;
    }
    free(pick);
    if (fsync_dir(tmp_dir) != 0 || rename(tmp_dir, final_dir) != 0) {
        ls_mongo_error(err, who, "cannot move %s to %s: %s", tmp_dir, final_dir, strerror(errno));
        goto fail;
    }
    tmp_made = false;
    fsync_dir(out);
    ls_map_set(result, "dir", ls_string(final_dir));
    ls_map_set(result, "collections", list);
    ls_map_set(result, "docs", ls_int(total));
    coll_infos_free(colls, ncolls);
    free(shown);
    return LS_ACT_OK;

fail:
    if (tmp_made)
        remove_flat_dir(tmp_dir);
    ls_map_set(result, "collections", list);
    ls_map_set(result, "docs", ls_int(total));
    coll_infos_free(colls, ncolls);
    free(shown);
    return x.st == LS_ACT_OK ? LS_ACT_FAILED : x.st;
}

/* ---- reading a dump ---------------------------------------------------------- */

typedef struct dump_file {
    char *name;      /* collection */
    char *path;      /* .bson or .bson.gz */
    char *meta_path; /* NULL when there is none */
    int64_t size;    /* file size */
} dump_file;

static void dump_files_free(dump_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].path);
        free(f[i].meta_path);
    }
    free(f);
}

static int cmp_dump_file(const void *a, const void *b)
{
    return strcmp(((const dump_file *)a)->name, ((const dump_file *)b)->name);
}

static bool has_suffix(const char *s, const char *suf, size_t *stem)
{
    size_t n = strlen(s), m = strlen(suf);
    if (n <= m || strcmp(s + n - m, suf) != 0)
        return false;
    *stem = n - m;
    return true;
}

/* The uncompressed size a gzip file records in its trailer (ISIZE, modulo
 * 2^32), so that "the largest collection" means the same for plain and
 * gzip dumps; the file size when it cannot be read. */
static int64_t gzip_isize(const char *path, int64_t file_size)
{
    unsigned char t[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return file_size;
    bool ok = file_size >= 18 && pread(fd, t, 4, (off_t)(file_size - 4)) == 4;
    close(fd);
    if (!ok)
        return file_size;
    return (int64_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24);
}

/* Resolves FROM/SOURCE_DB (default: the only database folder in FROM). */
static bool source_dir(const char *who, const char *from, const char *source_db, char *out, size_t outlen,
                       ls_error *err)
{
    struct stat st;
    if (from == NULL || from[0] == '\0') {
        ls_mongo_error(err, who, "no `from` directory given");
        return false;
    }
    if (source_db != NULL && source_db[0] != '\0') {
        if (!name_is_safe(source_db) || !join_path(out, outlen, from, source_db) || stat(out, &st) != 0 ||
            !S_ISDIR(st.st_mode)) {
            ls_mongo_error(err, who, "no database folder '%s' in %s", source_db, from);
            return false;
        }
        return true;
    }
    DIR *d = opendir(from);
    if (d == NULL) {
        ls_mongo_error(err, who, "cannot read %s: %s", from, strerror(errno));
        return false;
    }
    struct dirent *e;
    int found = 0;
    char names[512] = "";
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        if (e->d_name[0] == '.' || !join_path(p, sizeof p, from, e->d_name) || stat(p, &st) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (found++ == 0)
            snprintf(out, outlen, "%s", p);
        size_t nl = strlen(names);
        snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "", e->d_name);
    }
    closedir(d);
    if (found == 0) {
        ls_mongo_error(err, who, "no database folder in %s", from);
        return false;
    }
    if (found > 1) {
        ls_mongo_error(err, who, "%s holds several databases (%s): set source_db", from, names);
        return false;
    }
    return true;
}

/* The collections of a database folder, sorted by name. */
static dump_file *list_dump(const char *who, const char *dir, size_t *n, ls_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        ls_mongo_error(err, who, "cannot read %s: %s", dir, strerror(errno));
        return NULL;
    }
    dump_file *out = calloc(1, sizeof *out);
    size_t len = 0, cap = 1;
    struct dirent *e;
    if (out == NULL) {
        closedir(d);
        ls_mongo_error(err, who, "out of memory reading %s", dir);
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        size_t stem = 0;
        if (e->d_name[0] == '.' || strncmp(e->d_name, "system.", 7) == 0)
            continue;
        if (!has_suffix(e->d_name, ".bson", &stem) && !has_suffix(e->d_name, ".bson.gz", &stem))
            continue;
        if (len == cap) {
            cap *= 2;
            dump_file *g = realloc(out, cap * sizeof *out);
            if (g == NULL) {
                closedir(d);
                dump_files_free(out, len);
                ls_mongo_error(err, who, "out of memory reading %s", dir);
                return NULL;
            }
            out = g;
        }
        char p[PATH_MAX], m[PATH_MAX], mn[PATH_MAX];
        struct stat st;
        if (!join_path(p, sizeof p, dir, e->d_name) || stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        dump_file *f = &out[len++];
        f->name = bson_strndup(e->d_name, stem);
        f->path = bson_strdup(p);
        size_t ignored = 0;
        f->size = has_suffix(e->d_name, ".gz", &ignored) ? gzip_isize(p, (int64_t)st.st_size) : (int64_t)st.st_size;
        f->meta_path = NULL;
        snprintf(mn, sizeof mn, "%s.metadata.json", f->name);
        if (join_path(m, sizeof m, dir, mn) && stat(m, &st) == 0) {
            f->meta_path = bson_strdup(m);
        } else {
            snprintf(mn, sizeof mn, "%s.metadata.json.gz", f->name);
            if (join_path(m, sizeof m, dir, mn) && stat(m, &st) == 0)
                f->meta_path = bson_strdup(m);
        }
    }
    closedir(d);
    if (len > 1)
        qsort(out, len, sizeof *out, cmp_dump_file);
    *n = len;
    return out;
}

typedef bool (*doc_fn)(void *ctx, const bson_t *doc);

/* Reads every document of a .bson or .bson.gz file (zlib reads plain files
 * as they are), checks each, and hands it to fn (NULL: check only).
 * *count gets the number read.  A bad file sets err with its name and the
 * (uncompressed) byte offset of the bad document. */
static bool read_bson_file(const char *who, const char *path, doc_fn fn, void *ctx, int64_t *count,
                           ls_error *err)
{
    *count = 0;
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL) {
        ls_mongo_error(err, who, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    gzbuffer(gz, 128 * 1024);
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    int64_t off = 0;
    bool ok = true;
    for (;;) {
        uint8_t hdr[4];
        int n = gzread(gz, hdr, 4);
        if (n == 0)
            break;
        if (n < 0) {
            int zerr = 0;
            ls_mongo_error(err, who, "%s: cannot read at offset %lld: %s", path, (long long)off,
                           gzerror(gz, &zerr));
            ok = false;
            break;
        }
        if (n < 4) {
            ls_mongo_error(err, who, "%s: truncated document at offset %lld (%d bytes left)", path,
                           (long long)off, n);
            ok = false;
            break;
        }
        uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
        if (len < 5 || len > DUMP_MAX_DOC) {
            ls_mongo_error(err, who, "%s: corrupt BSON at offset %lld: document length %u is impossible", path,
                           (long long)off, len);
            ok = false;
            break;
        }
        if (len > bufcap) {
            uint8_t *g = realloc(buf, len);
            if (g == NULL) {
                ls_mongo_error(err, who, "%s: out of memory", path);
                ok = false;
                break;
            }
            buf = g;
            bufcap = len;
        }
        memcpy(buf, hdr, 4);
        n = gzread(gz, buf + 4, len - 4);
        if (n < 0 || (uint32_t)n != len - 4) {
            int zerr = 0;
            ls_mongo_error(err, who, "%s: truncated document at offset %lld (length %u, %d bytes left)%s%s",
                           path, (long long)off, len, n < 0 ? 0 : n + 4, n < 0 ? ": " : "",
                           n < 0 ? gzerror(gz, &zerr) : "");
            ok = false;
            break;
        }
        bson_t doc;
        bson_error_t be;
        if (!bson_init_static(&doc, buf, len) || !bson_validate_with_error(&doc, BSON_VALIDATE_NONE, &be)) {
            ls_mongo_error(err, who, "%s: corrupt BSON document at offset %lld (length %u)", path,
                           (long long)off, len);
            ok = false;
            break;
        }
        if (fn != NULL && !fn(ctx, &doc)) {
            ok = false;
            break;
        }
        (*count)++;
        off += len;
    }
    gzclose(gz);
    free(buf);
    return ok;
}

/* ---- restoring ------------------------------------------------------------------ */

typedef struct restore_ctx {
    ls_call *call;
    const char *who;
    const char *shown;
    const char *db;
    const char *coll_name;
    mongoc_collection_t *coll;
    mongoc_bulk_operation_t *bulk; /* the batch being filled, or NULL */
    size_t nbatch;
    size_t batch_bytes;
    int64_t inserted;
    unsigned char *hash; /* NULL: no hashing */
    ls_error *err;
    ls_act_status st;
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
                       r->coll_name, r->shown, (long long)r->inserted + 1,
                       (long long)(r->inserted + (int64_t)r->nbatch), be.message);
        r->st = ls_mongo_fail_status(r->call, &be);
    } else {
        r->inserted += (int64_t)r->nbatch;
    }
    r->nbatch = 0;
    r->batch_bytes = 0;
    if (ok && (ls_mongo_cancelled(r->call) || (r->call->deadline_ms > 0 && ls_call_remaining_ms(r->call) == 0))) {
        bool c = ls_mongo_cancelled(r->call);
        ls_mongo_error(r->err, r->who, "%s.%s: stopped after %lld documents (%s)", r->db, r->coll_name,
                       (long long)r->inserted, c ? "cancelled" : "timed out");
        r->st = c ? LS_ACT_CANCELLED : LS_ACT_TIMED_OUT;
        return false;
    }
    return ok;
}

/* Queues a document into the current ordered bulk insert (a batch of at
 * most BATCH_DOCS documents or BATCH_BYTES bytes), hashing it when asked. */
static bool restore_doc(void *ctx, const bson_t *doc)
{
    restore_ctx *r = ctx;
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
        ls_mongo_error(r->err, r->who, "queueing a document for %s.%s: %s", r->db, r->coll_name, be.message);
        r->st = LS_ACT_FAILED;
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
        ls_mongo_error(r->err, r->who, "%s %s.%s on %s: %s", what, r->db, r->coll_name, r->shown, be.message);
        r->st = ls_mongo_fail_status(r->call, &be);
    }
    return ok;
}

/* Reads a metadata file (plain or gzip) into *meta; false with err set. */
static bool read_metadata(const char *who, const char *path, bson_t *meta, ls_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL) {
        ls_mongo_error(err, who, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 64 * 1024, len = 0;
    char *text = malloc(cap);
    bool ok = text != NULL;
    while (ok) {
        if (len == cap) {
            if (cap >= META_MAX) {
                ls_mongo_error(err, who, "%s is larger than %d bytes", path, META_MAX);
                ok = false;
                break;
            }
            char *g = realloc(text, cap * 2);
            if (g == NULL) {
                ok = false;
                break;
            }
            text = g;
            cap *= 2;
        }
        int n = gzread(gz, text + len, (unsigned)(cap - len));
        if (n < 0) {
            int zerr = 0;
            ls_mongo_error(err, who, "cannot read %s: %s", path, gzerror(gz, &zerr));
            ok = false;
        } else if (n == 0) {
            break;
        } else {
            len += (size_t)n;
        }
    }
    gzclose(gz);
    bson_error_t be;
    if (ok && !bson_init_from_json(meta, text, (ssize_t)len, &be)) {
        ls_mongo_error(err, who, "%s is not valid metadata JSON: %s", path, be.message);
        ok = false;
    }
    if (!ok && err->code == 0)
        ls_mongo_error(err, who, "cannot read %s", path);
    free(text);
    return ok;
}

/* Creates the collection with its options (when any) and its indexes. */
static bool apply_metadata(restore_ctx *r, mongoc_database_t *database, const bson_t *meta, bool before_docs)
{
    bson_iter_t it;
    if (before_docs) {
        if (bson_iter_init_find(&it, meta, "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            uint32_t dl = 0;
            const uint8_t *dd = NULL;
            bson_iter_document(&it, &dl, &dd);
            bson_t options;
            if (bson_init_static(&options, dd, dl) && !bson_empty(&options)) {
                bson_t cmd = BSON_INITIALIZER;
                BSON_APPEND_UTF8(&cmd, "create", r->coll_name);
                bson_concat(&cmd, &options);
                bson_t reply;
                bson_error_t be;
                bool ok = mongoc_database_write_command_with_opts(database, &cmd, NULL, &reply, &be);
                bson_destroy(&reply);
                if (!ok && be.code == 48) /* NamespaceExists: restoring into it without drop */
                    ok = true;
                else if (!ok) {
                    ls_mongo_error(r->err, r->who, "creating %s.%s on %s: %s", r->db, r->coll_name, r->shown,
                                   be.message);
                    r->st = ls_mongo_fail_status(r->call, &be);
                }
                bson_destroy(&cmd);
                return ok;
            }
        }
        return true;
    }
    if (!bson_iter_init_find(&it, meta, "indexes") || !BSON_ITER_HOLDS_ARRAY(&it))
        return true;
    bson_iter_t ix;
    bson_t cmd = BSON_INITIALIZER, arr;
    BSON_APPEND_UTF8(&cmd, "createIndexes", r->coll_name);
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

static bool is_ns_not_found(const bson_error_t *be)
{
    return be->code == 26 || strstr(be->message, "ns not found") != NULL;
}

/* Restores one dump file into DB.NAME; *count gets the documents inserted. */
static bool restore_file(ls_call *call, const char *who, const char *shown, mongoc_client_t *client,
                         const char *db, const dump_file *f, bool drop, unsigned char *hash, int64_t *count,
                         ls_act_status *st, ls_error *err)
{
    restore_ctx *r = calloc(1, sizeof *r);
    if (r == NULL) {
        ls_mongo_error(err, who, "out of memory");
        *st = LS_ACT_FAILED;
        return false;
    }
    r->call = call;
    r->who = who;
    r->shown = shown;
    r->db = db;
    r->coll_name = f->name;
    r->hash = hash;
    r->err = err;
    r->st = LS_ACT_FAILED;
    bson_t meta;
    bool have_meta = false, ok = true;
    if (f->meta_path != NULL) {
        ok = read_metadata(who, f->meta_path, &meta, err);
        have_meta = ok;
    }
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    r->coll = mongoc_client_get_collection(client, db, f->name);
    if (ok && drop) {
        bson_error_t be;
        if (!mongoc_collection_drop_with_opts(r->coll, NULL, &be) && !is_ns_not_found(&be)) {
            ls_mongo_error(err, who, "dropping %s.%s on %s: %s", db, f->name, shown, be.message);
            r->st = ls_mongo_fail_status(call, &be);
            ok = false;
        }
    }
    if (ok && have_meta)
        ok = apply_metadata(r, database, &meta, true);
    int64_t read = 0;
    if (ok)
        ok = read_bson_file(who, f->path, restore_doc, r, &read, err) && flush_batch(r);
    if (ok && have_meta)
        ok = apply_metadata(r, database, &meta, false);
    if (r->bulk != NULL)
        mongoc_bulk_operation_destroy(r->bulk);
    if (have_meta)
        bson_destroy(&meta);
    *count = r->inserted;
    *st = r->st;
    mongoc_collection_destroy(r->coll);
    mongoc_database_destroy(database);
    free(r);
    return ok;
}

/* Picks the dump files named by `want` (a list; null: all). */
static bool select_files(const char *who, dump_file *files, size_t n, ls_value want, const char *dir, bool *pick,
                         ls_error *err)
{
    if (want.kind != LS_LIST) {
        for (size_t i = 0; i < n; i++)
            pick[i] = true;
        return true;
    }
    for (size_t i = 0; i < ls_list_len(want); i++) {
        const char *w = ls_str_ptr(ls_list_at(want, i));
        size_t j = 0;
        while (j < n && strcmp(files[j].name, w) != 0)
            j++;
        if (j == n) {
            ls_mongo_error(err, who, "collection '%s' is not in the dump %s", w, dir);
            return false;
        }
        pick[j] = true;
    }
    return true;
}

/* The common start of restore and verify_backup: the client, the database
 * named by `db` (`role` words the error: "target", "live"), and the files of
 * the dump folder chosen by `from` and `source_db`.  NULL with err set. */
static mongoc_client_t *open_dump(ls_call *call, const char *who, const char *role, char **shown,
                                  const char **db, char *dir, size_t dirlen, dump_file **files, size_t *nfiles,
                                  ls_error *err)
{
    mongoc_client_t *client = ls_mongo_client(call, who, shown, err);
    *db = ls_mongo_input_str(call, "db");
    if (client == NULL)
        return NULL;
    if (*db == NULL || (*db)[0] == '\0') {
        ls_mongo_error(err, who, "no %s db given", role);
        return NULL;
    }
    if (!source_dir(who, ls_mongo_input_str(call, "from"), ls_mongo_input_str(call, "source_db"), dir, dirlen,
                    err))
        return NULL;
    *files = list_dump(who, dir, nfiles, err);
    return *files != NULL ? client : NULL;
}

ls_act_status ls_mongo_restore(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "mongo.restore";
    char *shown = NULL, dir[PATH_MAX];
    *result = ls_map_new();
    ls_value list = ls_list_new();
    int64_t total = 0;
    ls_act_status st = LS_ACT_FAILED;
    dump_file *files = NULL;
    size_t nfiles = 0;
    bool *pick = NULL;
    ls_value dropv = ls_map_get(call->inputs, "drop");
    bool drop = dropv.kind == LS_BOOL ? dropv.u.b : true;
    const char *db = NULL;
    mongoc_client_t *client = open_dump(call, who, "target", &shown, &db, dir, sizeof dir, &files, &nfiles, err);
    if (client == NULL)
        goto out;
    pick = calloc(nfiles ? nfiles : 1, sizeof *pick);
    if (pick == NULL || !select_files(who, files, nfiles, ls_map_get(call->inputs, "collections"), dir, pick, err))
        goto out;
    /* Check every file whole before writing anything. */
    for (size_t i = 0; i < nfiles; i++) {
        int64_t n = 0;
        if (pick[i] && !read_bson_file(who, files[i].path, NULL, NULL, &n, err))
            goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!pick[i])
            continue;
        int64_t n = 0;
        bool ok = restore_file(call, who, shown, client, db, &files[i], drop, NULL, &n, &st, err);
        ls_value e = ls_map_new();
        ls_map_set(&e, "name", ls_string(files[i].name));
        ls_map_set(&e, "count", ls_int(n));
        ls_list_push(&list, e);
        total += n;
        if (!ok) {
            if (st == LS_ACT_OK)
                st = LS_ACT_FAILED;
            goto out;
        }
    }
    st = LS_ACT_OK;
out:
    if (st == LS_ACT_OK && err->code != 0)
        st = LS_ACT_FAILED;
    ls_map_set(result, "collections", list);
    ls_map_set(result, "docs", ls_int(total));
    dump_files_free(files, nfiles);
    free(pick);
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

ls_act_status ls_mongo_verify_backup(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "mongo.verify_backup";
    char *shown = NULL, dir[PATH_MAX], scratch[64];
    *result = ls_map_new();
    ls_map_set(result, "ok", ls_bool(false));
    ls_act_status st = LS_ACT_FAILED;
    dump_file *files = NULL;
    size_t nfiles = 0;
    bool scratch_used = false;
    const char *want = ls_mongo_input_str(call, "collection");
    const char *db = NULL;
    mongoc_client_t *client = open_dump(call, who, "live", &shown, &db, dir, sizeof dir, &files, &nfiles, err);
    if (client == NULL)
        goto out;
    const dump_file *f = NULL;
    for (size_t i = 0; i < nfiles; i++) {
        if (want != NULL ? strcmp(files[i].name, want) == 0 : (f == NULL || files[i].size > f->size))
            f = &files[i];
    }
    if (f == NULL) {
        if (want != NULL)
            ls_mongo_error(err, who, "collection '%s' is not in the dump %s", want, dir);
        else
            ls_mongo_error(err, who, "the dump %s holds no collection", dir);
        goto out;
    }
    ls_map_set(result, "collection", ls_string(f->name));
    scratch_name(scratch);
    ls_map_set(result, "scratch_db", ls_string(scratch));

    /* Dump side: restore (hashing what is read from the file). */
    unsigned char dump_hash[32] = {0}, live_hash[32] = {0};
    int64_t dump_count = 0;
    scratch_used = true;
    if (!restore_file(call, who, shown, client, scratch, f, false, dump_hash, &dump_count, &st, err)) {
        if (st == LS_ACT_OK)
            st = LS_ACT_FAILED;
        goto out;
    }
    ls_map_set(result, "dump_count", ls_int(dump_count));

    /* Read the restored documents back. */
    mongoc_collection_t *coll = mongoc_client_get_collection(client, scratch, f->name);
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
        ls_mongo_error(err, who, "reading back %s.%s on %s: %s", scratch, f->name, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
        goto out;
    }
    ls_map_set(result, "restored_count", ls_int(restored));

    /* The live collection, for the operator's comparison. */
    mongoc_collection_t *live = mongoc_client_get_collection(client, db, f->name);
    bson_t empty = BSON_INITIALIZER, copts = BSON_INITIALIZER;
    ls_mongo_opts_deadline(call, &copts);
    int64_t live_count = mongoc_collection_count_documents(live, &empty, &copts, NULL, NULL, &be);
    mongoc_collection_destroy(live);
    bson_destroy(&empty);
    bson_destroy(&copts);
    if (live_count < 0) {
        ls_mongo_error(err, who, "counting %s.%s on %s: %s", db, f->name, shown, be.message);
        st = ls_mongo_fail_status(call, &be);
        goto out;
    }
    ls_map_set(result, "live_count", ls_int(live_count));
    bool hash_match = memcmp(dump_hash, live_hash, sizeof dump_hash) == 0;
    ls_map_set(result, "hash_match", ls_bool(hash_match));
    bool ok = hash_match && restored == dump_count;
    ls_map_set(result, "ok", ls_bool(ok));
    if (!ok) {
        ls_mongo_error(err, who, "backup %s of %s does not restore whole: dump has %lld documents, restored %lld, hashes %s",
                       dir, f->name, (long long)dump_count, (long long)restored, hash_match ? "match" : "differ");
        goto out;
    }
    st = LS_ACT_OK;
out:
    if (scratch_used) {
        mongoc_database_t *sdb = mongoc_client_get_database(client, scratch);
        bson_error_t dbe;
        if (!mongoc_database_drop_with_opts(sdb, NULL, &dbe)) {
            ls_mongo_error(err, who, "could not drop the scratch database %s on %s: %s", scratch, shown, dbe.message);
            st = LS_ACT_FAILED;
        }
        mongoc_database_destroy(sdb);
    }
    dump_files_free(files, nfiles);
    free(shown);
    return st;
}
