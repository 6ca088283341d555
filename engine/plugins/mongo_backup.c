/*
 * Reading a backup (mongo_int.h): the four forms mongodump writes, told
 * apart by their bytes, never by a file name.
 *
 *   FROM is a directory:  mongodump --out (DB/COLL.bson + COLL.metadata.json,
 *                          each file plain or gzip: zlib reads both)
 *   FROM is a file:       mongodump --archive (plain, or one gzip stream)
 *
 * Every document is checked before it is handed on: its length (5 bytes to
 * 16 MiB + 16 KiB), how deep it nests (walked here without recursion, so a
 * hostile file cannot exhaust the stack of libbson's recursive validator),
 * then bson_validate.  An archive is always read whole: the magic, the
 * prelude, every namespace block, each collection's CRC-64 and its
 * end-of-collection block, and nothing after the last one.  The input is
 * never trusted to end: reading stops at end of file, and the call's
 * deadline and cancel flag are looked at every 256 documents.
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

#define META_MAX (16 * 1024 * 1024)

/* ---- files ----------------------------------------------------------------- */

bool ls_mongo_join_path(char *out, size_t outlen, const char *a, const char *b)
{
    int n = snprintf(out, outlen, "%s/%s", a, b);
    return n > 0 && (size_t)n < outlen;
}

bool ls_mongo_name_is_safe(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

int ls_mongo_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ls_mongo_mkdir_p(const char *path)
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

bool ls_mongo_should_stop(ls_call *call, const char *who, const char *what, int64_t done, ls_act_status *st,
                          ls_error *err)
{
    bool c = ls_mongo_cancelled(call);
    if (!c && !(ls_call_deadline_ms(call) > 0 && ls_call_remaining_ms(call) == 0))
        return false;
    ls_mongo_error(err, who, "%s: stopped after %lld documents (%s)", what, (long long)done,
                   c ? "cancelled" : "timed out");
    *st = c ? LS_ACT_CANCELLED : LS_ACT_TIMED_OUT;
    return true;
}

/* ---- CRC-64/ECMA-182, reflected ------------------------------------------------ */

static uint64_t crc_table[8][256];
static bool crc_ready;

static void crc_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xC96C5795D7870F42ull : c >> 1;
        crc_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    crc_ready = true;
}

uint64_t ls_crc64_update(uint64_t c, const uint8_t *p, size_t n)
{
    if (!crc_ready)
        crc_init();
    while (n >= 8) {
        uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                     (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        c ^= w;
        c = crc_table[7][c & 0xff] ^ crc_table[6][(c >> 8) & 0xff] ^ crc_table[5][(c >> 16) & 0xff] ^
            crc_table[4][(c >> 24) & 0xff] ^ crc_table[3][(c >> 32) & 0xff] ^ crc_table[2][(c >> 40) & 0xff] ^
            crc_table[1][(c >> 48) & 0xff] ^ crc_table[0][c >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

/* ---- one document ---------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the BSON in p[0..len) without recursion; false when it is not
 * well formed or nests deeper than LS_DUMP_MAX_NEST.  bson_validate then
 * checks the rest (UTF-8 and the like) on a document whose depth is known
 * to be bounded. */
static bool bson_shape_ok(const uint8_t *p, uint32_t len)
{
    uint32_t ends[LS_DUMP_MAX_NEST + 2];
    uint32_t next_index[LS_DUMP_MAX_NEST + 2]; /* arrays: the key the next element must have */
    bool array[LS_DUMP_MAX_NEST + 2];
    int depth = 0;
    uint32_t i = 4;
    if (len < 5 || le32(p) != len || p[len - 1] != 0)
        return false;
    ends[0] = len;
    array[0] = false;
    for (;;) {
        uint32_t end = ends[depth];
        if (i >= end)
            return false;
        uint8_t type = p[i++];
        if (type == 0) {
            if (i != end)
                return false;
            if (depth == 0)
                return true;
            depth--;
            continue;
        }
        const uint8_t *z = memchr(p + i, 0, end - i); /* the key */
        if (z == NULL)
            return false;
        if (array[depth]) { /* "0", "1", ... in order */
            char want[16];
            int kn = snprintf(want, sizeof want, "%u", next_index[depth]++);
            if ((size_t)(z - (p + i)) != (size_t)kn || memcmp(p + i, want, (size_t)kn) != 0)
                return false;
        }
        i = (uint32_t)(z - p) + 1;
        uint32_t left = end - i, n = 0;
        switch (type) {
        case 0x01: case 0x09: case 0x11: case 0x12: n = 8; break;
        case 0x07: n = 12; break;
        case 0x08: n = 1; break;
        case 0x10: n = 4; break;
        case 0x13: n = 16; break;
        case 0x06: case 0x0A: case 0xFF: case 0x7F: n = 0; break;
        case 0x02: case 0x0D: case 0x0E: case 0x0C: /* string (dbpointer: string + 12) */
            if (left < 4)
                return false;
            n = le32(p + i);
            if (n < 1 || n > left - 4 || p[i + 4 + n - 1] != 0)
                return false;
            n += 4;
            if (type == 0x0C)
                n += 12;
            break;
        case 0x05:
            if (left < 5)
                return false;
            n = le32(p + i);
            if (n > left - 5)
                return false;
            n += 5;
            break;
        case 0x0B: { /* two C strings */
            const uint8_t *a = memchr(p + i, 0, left);
            const uint8_t *b = a ? memchr(a + 1, 0, (size_t)(p + end - (a + 1))) : NULL;
            if (b == NULL)
                return false;
            n = (uint32_t)(b - (p + i)) + 1;
            break;
        }
        case 0x03: case 0x04: case 0x0F: {
            uint32_t start = i;
            if (left < 5)
                return false;
            n = le32(p + i);
            if (n < 5 || n > left)
                return false;
            if (type == 0x0F) { /* code with scope: int32, string, document */
                if (n < 14)
                    return false;
                uint32_t sl = le32(p + i + 4);
                if (sl < 1 || sl > n - 13 || p[i + 8 + sl - 1] != 0)
                    return false;
                start = i + 8 + sl;
                if (le32(p + start) != n - 8 - sl)
                    return false;
            }
            if (p[i + n - 1] != 0 || depth == LS_DUMP_MAX_NEST)
                return false;
            ends[++depth] = i + n;
            array[depth] = type == 0x04;
            next_index[depth] = 0;
            i = start + 4;
            continue;
        }
        default:
            return false;
        }
        if (n > left)
            return false;
        i += n;
    }
}

static bool doc_ok(const uint8_t *p, uint32_t len)
{
    if (!bson_shape_ok(p, len))
        return false;
    bson_t doc;
    bson_error_t be;
    return bson_init_static(&doc, p, len) && bson_validate_with_error(&doc, BSON_VALIDATE_NONE, &be);
}

/* ---- a stream of documents (a .bson[.gz] file or an archive) -------------------- */

typedef struct doc_reader {
    gzFile gz;
    const char *path;
    uint8_t *buf;
    size_t cap;
    int64_t off; /* uncompressed offset of the next read */
} doc_reader;

static bool reader_open(doc_reader *r, const char *who, const char *path, ls_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (r->gz = gzdopen(fd, "rb")) == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        ls_mongo_error(err, who, "cannot open %s: %s", path, strerror(e));
        return false;
    }
    gzbuffer(r->gz, 128 * 1024);
    return true;
}

static void reader_close(doc_reader *r)
{
    if (r->gz != NULL)
        gzclose(r->gz);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Reads up to n bytes; the count read, or -1 with err set. */
static int reader_read(doc_reader *r, const char *who, void *dst, unsigned n, ls_error *err)
{
    int got = 0;
    while ((unsigned)got < n) {
        int k = gzread(r->gz, (uint8_t *)dst + got, n - (unsigned)got);
        if (k < 0) {
            int zerr = 0;
            const char *why = gzerror(r->gz, &zerr);
            if (zerr == Z_ERRNO)
                why = strerror(errno);
            else if (strncmp(why, "<fd:", 4) == 0 && strstr(why, ": ") != NULL)
                why = strstr(why, ": ") + 2; /* zlib names the descriptor, not the file */
            ls_mongo_error(err, who, "%s: cannot read at offset %lld: %s", r->path, (long long)r->off, why);
            return -1;
        }
        if (k == 0)
            break;
        got += k;
    }
    r->off += got;
    return got;
}

typedef enum { RD_DOC, RD_END, RD_TERMINATOR, RD_ERROR } rd_kind;

/* The next document (into r->buf, checked), the end of the input, or (when
 * allowed) the terminator 0xFFFFFFFF. */
static rd_kind reader_next(doc_reader *r, const char *who, bool terminator_ok, uint32_t *len, ls_error *err)
{
    uint8_t hdr[4];
    int64_t at = r->off;
    int n = reader_read(r, who, hdr, 4, err);
    if (n < 0)
        return RD_ERROR;
    if (n == 0)
        return RD_END;
    if (n < 4) {
        ls_mongo_error(err, who, "%s: truncated at offset %lld (%d bytes left)", r->path, (long long)at, n);
        return RD_ERROR;
    }
    uint32_t l = le32(hdr);
    if (terminator_ok && l == LS_ARCHIVE_TERMINATOR)
        return RD_TERMINATOR;
    if (l < 5 || l > LS_DUMP_MAX_DOC) {
        ls_mongo_error(err, who, "%s: corrupt BSON at offset %lld: document length %u is impossible", r->path,
                       (long long)at, l);
        return RD_ERROR;
    }
    if (l > r->cap) {
        uint8_t *g = realloc(r->buf, l);
        if (g == NULL) {
            ls_mongo_error(err, who, "%s: out of memory", r->path);
            return RD_ERROR;
        }
        r->buf = g;
        r->cap = l;
    }
    memcpy(r->buf, hdr, 4);
    n = reader_read(r, who, r->buf + 4, l - 4, err);
    if (n < 0)
        return RD_ERROR;
    if ((uint32_t)n != l - 4) {
        ls_mongo_error(err, who, "%s: truncated document at offset %lld (length %u, %d bytes left)", r->path,
                       (long long)at, l, n + 4);
        return RD_ERROR;
    }
    if (!doc_ok(r->buf, l)) {
        ls_mongo_error(err, who, "%s: corrupt BSON document at offset %lld (length %u)", r->path, (long long)at,
                       l);
        return RD_ERROR;
    }
    *len = l;
    return RD_DOC;
}

/* ---- the backup's description ------------------------------------------------------ */

struct ls_backup_ns {
    char *db;
    char *coll;     /* as in the prelude */
    char *data;     /* the namespace its blocks name: coll, or system.buckets.COLL */
    long mine;      /* index in b->colls, or -1 (another database, system.*, the oplog) */
    uint64_t crc;
    int64_t count;
    bool eof;
};

void ls_backup_free(ls_backup *b)
{
    for (size_t i = 0; i < b->ncolls; i++) {
        bson_free(b->colls[i].name);
        bson_free(b->colls[i].data_name);
        bson_free(b->colls[i].path);
        if (b->colls[i].meta)
            bson_destroy(b->colls[i].meta);
    }
    free(b->colls);
    for (size_t i = 0; i < b->nns; i++) {
        bson_free(b->ns[i].db);
        bson_free(b->ns[i].coll);
        bson_free(b->ns[i].data);
    }
    free(b->ns);
    bson_free(b->where);
    bson_free(b->db);
    memset(b, 0, sizeof *b);
}

long ls_backup_find(const ls_backup *b, const char *name)
{
    for (size_t i = 0; i < b->ncolls; i++)
        if (strcmp(b->colls[i].name, name) == 0)
            return (long)i;
    return -1;
}

static ls_backup_coll *add_coll(ls_backup *b, const char *name)
{
    ls_backup_coll *g = realloc(b->colls, (b->ncolls + 1) * sizeof *g);
    if (g == NULL)
        return NULL;
    b->colls = g;
    ls_backup_coll *c = &b->colls[b->ncolls++];
    memset(c, 0, sizeof *c);
    c->name = bson_strdup(name);
    c->data_name = bson_strdup(name);
    c->meta = bson_new();
    return c;
}

/* Parses metadata text (extended JSON, canonical or relaxed) into *meta;
 * "" is {}.  Marks timeseries collections. */
static bool parse_metadata(const char *who, const char *where, const char *text, size_t len, ls_backup_coll *c,
                           ls_error *err)
{
    bson_error_t be;
    if (len > 0) {
        bson_t tmp;
        if (!bson_init_from_json(&tmp, text, (ssize_t)len, &be)) {
            ls_mongo_error(err, who, "%s: the metadata of %s is not valid extended JSON: %s", where, c->name,
                           be.message);
            return false;
        }
        bson_destroy(c->meta);
        c->meta = bson_copy(&tmp);
        bson_destroy(&tmp);
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, c->meta, "type") && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), "timeseries") == 0) {
        c->timeseries = true;
        bson_free(c->data_name);
        c->data_name = bson_strdup_printf("system.buckets.%s", c->name);
    }
    return true;
}

static int cmp_coll(const void *a, const void *b)
{
    return strcmp(((const ls_backup_coll *)a)->name, ((const ls_backup_coll *)b)->name);
}

static bool is_system(const char *coll)
{
    return strncmp(coll, "system.", 7) == 0;
}

/* ---- the directory form ------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool has_suffix(const char *s, const char *suf, size_t *stem)
{
    size_t n = strlen(s), m = strlen(suf);
    if (n <= m || strcmp(s + n - m, suf) != 0)
        return false;
    *stem = n - m;
    return true;
}

/* A collection name from a file name: mongodump escapes names with
 * %XX (PathEscape), e.g. caf%C3%A9s.bson holds cafés. */
static void unescape_name(char *out, size_t outlen, const char *file, size_t stem)
{
    size_t o = 0;
    for (size_t i = 0; i < stem && o + 1 < outlen; i++) {
        int hi, lo;
        if (file[i] == '%' && i + 2 < stem && (hi = hexval(file[i + 1])) >= 0 && (lo = hexval(file[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = file[i];
        }
    }
    out[o] = '\0';
}

/* Reads a whole metadata file (plain or gzip) as text. */
static char *read_small_file(const char *who, const char *path, size_t *len, ls_error *err)
{
    doc_reader r;
    if (!reader_open(&r, who, path, err))
        return NULL;
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    *len = 0;
    while (text != NULL) {
        if (*len == cap) {
            char *g = cap >= META_MAX ? NULL : realloc(text, cap * 2);
            if (g == NULL) {
                ls_mongo_error(err, who, "%s is larger than %d bytes", path, META_MAX);
                free(text);
                text = NULL;
                break;
            }
            text = g;
            cap *= 2;
        }
        int n = reader_read(&r, who, text + *len, (unsigned)(cap - *len), err);
        if (n < 0) {
            free(text);
            text = NULL;
        } else if (n == 0) {
            break;
        } else {
            *len += (size_t)n;
        }
    }
    if (text == NULL && !ls_plugin_has_error(err))
        ls_mongo_error(err, who, "out of memory reading %s", path);
    reader_close(&r);
    return text;
}

/* Does the folder hold a collection that is not system.* (a data or a
 * metadata file)?  mongodump writes admin/system.version beside the
 * database asked for; such a folder is not a candidate. */
static bool holds_collections(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        size_t stem = 0;
        if (e->d_name[0] == '.' || is_system(e->d_name))
            continue;
        found = has_suffix(e->d_name, ".bson", &stem) || has_suffix(e->d_name, ".bson.gz", &stem) ||
                has_suffix(e->d_name, ".metadata.json", &stem) || has_suffix(e->d_name, ".metadata.json.gz", &stem);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* Resolves FROM/SOURCE_DB (default: the only database folder in FROM
 * that holds collections). */
static bool source_dir(const char *who, const char *from, const char *source_db, char *out, size_t outlen,
                       ls_error *err)
{
    struct stat st;
    if (source_db != NULL && source_db[0] != '\0') {
        if (!ls_mongo_name_is_safe(source_db) || !ls_mongo_join_path(out, outlen, from, source_db) ||
            stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
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
        if (e->d_name[0] == '.' || !ls_mongo_join_path(p, sizeof p, from, e->d_name) || stat(p, &st) != 0 ||
            !S_ISDIR(st.st_mode) || !holds_collections(p))
            continue;
        if (found++ == 0)
            snprintf(out, outlen, "%s", p);
        size_t nl = strlen(names);
        snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "", e->d_name);
    }
    closedir(d);
    if (found == 0) {
        ls_mongo_error(err, who, "no database folder with collections in %s", from);
        return false;
    }
    if (found > 1) {
        ls_mongo_error(err, who, "%s holds several databases (%s): set source_db", from, names);
        return false;
    }
    return true;
}

static bool open_directory(const char *who, const char *from, const char *source_db, ls_backup *b, ls_error *err)
{
    char dir[PATH_MAX];
    if (!source_dir(who, from, source_db, dir, sizeof dir, err))
        return false;
    b->form = LS_BACKUP_DIRECTORY;
    b->where = bson_strdup(dir);
    const char *slash = strrchr(dir, '/');
    b->db = bson_strdup(slash ? slash + 1 : dir);
    DIR *d = opendir(dir);
    if (d == NULL) {
        ls_mongo_error(err, who, "cannot read %s: %s", dir, strerror(errno));
        return false;
    }
    struct dirent *e;
    bool ok = true;
    /* Data files first: each names a collection (NAME.bson, NAME.bson.gz). */
    while (ok && (e = readdir(d)) != NULL) {
        size_t stem = 0;
        bool gz = false;
        if (e->d_name[0] == '.')
            continue;
        if (has_suffix(e->d_name, ".bson.gz", &stem))
            gz = true;
        else if (!has_suffix(e->d_name, ".bson", &stem))
            continue;
        char p[PATH_MAX], name[NAME_MAX + 1];
        struct stat st;
        if (!ls_mongo_join_path(p, sizeof p, dir, e->d_name) || stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        unescape_name(name, sizeof name, e->d_name, stem);
        long have = ls_backup_find(b, name);
        if (have >= 0) {
            ls_mongo_error(err, who, "%s holds both %s.bson and %s.bson.gz", dir, name, name);
            ok = false;
            break;
        }
        ls_backup_coll *c = add_coll(b, name);
        if (c == NULL) {
            ls_mongo_error(err, who, "out of memory reading %s", dir);
            ok = false;
            break;
        }
        c->path = bson_strdup(p);
        c->size_hint = (int64_t)st.st_size;
        b->gzip = b->gzip || gz;
    }
    closedir(d);
    /* Metadata: NAME.metadata.json or NAME.metadata.json.gz, its content
     * read whatever the name says.  A timeseries collection's documents
     * are in system.buckets.NAME.bson. */
    for (size_t i = 0; ok && i < b->ncolls; i++) {
        ls_backup_coll *c = &b->colls[i];
        char m[PATH_MAX];
        struct stat st;
        size_t stem = 0;
        if (!has_suffix(c->path, ".bson", &stem) && !has_suffix(c->path, ".bson.gz", &stem))
            continue;
        bool found = false;
        for (int z = 0; z < 2 && !found; z++) {
            int n = snprintf(m, sizeof m, "%.*s.metadata.json%s", (int)stem, c->path, z ? ".gz" : "");
            found = n > 0 && (size_t)n < sizeof m && stat(m, &st) == 0 && S_ISREG(st.st_mode);
        }
        if (!found)
            continue;
        size_t len = 0;
        char *text = read_small_file(who, m, &len, err);
        ok = text != NULL && parse_metadata(who, dir, text, len, c, err);
        free(text);
        /* A long name is cut in the file name; the metadata has it whole. */
        const char *full = NULL;
        bson_iter_t it;
        if (ok && bson_iter_init_find(&it, c->meta, "collectionName") && BSON_ITER_HOLDS_UTF8(&it))
            full = bson_iter_utf8(&it, NULL);
        if (full != NULL && full[0] != '\0' && strcmp(full, c->name) != 0 && !c->timeseries) {
            bson_free(c->name);
            bson_free(c->data_name);
            c->name = bson_strdup(full);
            c->data_name = bson_strdup(full);
        }
    }
    /* Timeseries: NAME.metadata.json with type timeseries and no data file
     * of its own; its buckets are system.buckets.NAME.bson. */
    DIR *d2 = ok ? opendir(dir) : NULL;
    while (d2 != NULL && ok && (e = readdir(d2)) != NULL) {
        size_t stem = 0;
        if (!has_suffix(e->d_name, ".metadata.json", &stem) && !has_suffix(e->d_name, ".metadata.json.gz", &stem))
            continue;
        char name[NAME_MAX + 1], m[PATH_MAX];
        unescape_name(name, sizeof name, e->d_name, stem);
        if (ls_backup_find(b, name) >= 0 || !ls_mongo_join_path(m, sizeof m, dir, e->d_name))
            continue;
        ls_backup_coll probe = {0};
        probe.name = name;
        probe.meta = bson_new();
        size_t len = 0;
        char *text = read_small_file(who, m, &len, err);
        ok = text != NULL && parse_metadata(who, dir, text, len, &probe, err);
        free(text);
        long bucket = probe.timeseries ? ls_backup_find(b, probe.data_name) : -1;
        if (ok && bucket >= 0) {
            ls_backup_coll *c = add_coll(b, name);
            if (c == NULL) {
                ok = false;
            } else {
                bson_destroy(c->meta);
                c->meta = probe.meta;
                probe.meta = NULL;
                bson_free(c->data_name);
                c->data_name = probe.data_name;
                probe.data_name = NULL;
                c->timeseries = true;
                ls_backup_coll *bc = &b->colls[bucket];
                c->path = bc->path;
                c->size_hint = bc->size_hint;
                bc->path = NULL; /* the buckets are restored as NAME's data */
            }
        }
        if (probe.meta)
            bson_destroy(probe.meta);
        bson_free(probe.data_name);
    }
    if (d2 != NULL)
        closedir(d2);
    /* system.* files are not restored (a timeseries collection's buckets
     * now belong to it). */
    size_t w = 0;
    for (size_t i = 0; i < b->ncolls; i++) {
        if (is_system(b->colls[i].name)) {
            bson_free(b->colls[i].path);
            bson_free(b->colls[i].name);
            bson_free(b->colls[i].data_name);
            bson_destroy(b->colls[i].meta);
            continue;
        }
        b->colls[w++] = b->colls[i];
    }
    b->ncolls = w;
    if (b->ncolls > 1)
        qsort(b->colls, b->ncolls, sizeof *b->colls, cmp_coll);
    return ok;
}

/* ---- the archive form ------------------------------------------------------------- */

static const char *doc_str(const bson_t *d, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

/* Opens FROM as an archive and reads its magic; false with err set. */
static bool archive_start(const char *who, const char *from, doc_reader *r, ls_error *err)
{
    if (!reader_open(r, who, from, err))
        return false;
    uint8_t m[4];
    int n = reader_read(r, who, m, 4, err);
    if (n < 0)
        return false;
    if (n < 4 || le32(m) != LS_ARCHIVE_MAGIC) {
        ls_mongo_error(err, who, "%s is neither a dump directory nor a mongodump archive (no archive magic number)",
                       from);
        return false;
    }
    return true;
}

static long find_ns(const ls_backup *b, const char *db, const char *data)
{
    for (size_t i = 0; i < b->nns; i++)
        if (strcmp(b->ns[i].db, db) == 0 && strcmp(b->ns[i].data, data) == 0)
            return (long)i;
    return -1;
}

static bool open_archive(const char *who, const char *from, const char *source_db, ls_backup *b, ls_error *err)
{
    doc_reader r;
    b->form = LS_BACKUP_ARCHIVE;
    b->where = bson_strdup(from);
    if (!archive_start(who, from, &r, err)) {
        reader_close(&r);
        return false;
    }
    b->gzip = gzdirect(r.gz) == 0;
    uint32_t len = 0;
    bool ok = true;
    rd_kind k = reader_next(&r, who, false, &len, err);
    if (k != RD_DOC) {
        if (k == RD_END)
            ls_mongo_error(err, who, "%s: the archive ends before its prelude", from);
        ok = false;
    } else {
        bson_t h;
        bson_init_static(&h, r.buf, len);
        const char *v = doc_str(&h, "version");
        if (v == NULL || strcmp(v, "0.1") != 0) {
            ls_mongo_error(err, who, "%s: the archive's header has version %s%s%s (lockstep reads 0.1)", from,
                           v ? "\"" : "", v ? v : "none", v ? "\"" : "");
            ok = false;
        }
    }
    /* The collections of the prelude, up to its terminator. */
    while (ok) {
        k = reader_next(&r, who, true, &len, err);
        if (k == RD_TERMINATOR)
            break;
        if (k != RD_DOC) {
            if (k == RD_END)
                ls_mongo_error(err, who, "%s: the archive ends inside its prelude", from);
            ok = false;
            break;
        }
        bson_t md;
        bson_init_static(&md, r.buf, len);
        const char *db = doc_str(&md, "db"), *coll = doc_str(&md, "collection");
        bson_iter_t it;
        const char *meta = "";
        uint32_t mlen = 0;
        if (bson_iter_init_find(&it, &md, "metadata") && BSON_ITER_HOLDS_UTF8(&it))
            meta = bson_iter_utf8(&it, &mlen);
        if (db == NULL || coll == NULL || coll[0] == '\0') {
            ls_mongo_error(err, who, "%s: a prelude entry at offset %lld has no db or collection", from,
                           (long long)(r.off - len));
            ok = false;
            break;
        }
        ls_backup_coll c = {0};
        c.name = bson_strdup(coll);
        c.meta = bson_new();
        ok = parse_metadata(who, from, meta, mlen, &c, err);
        const char *type = doc_str(&md, "type");
        if (ok && type != NULL && strcmp(type, "timeseries") == 0 && !c.timeseries) {
            c.timeseries = true;
            bson_free(c.data_name);
            c.data_name = bson_strdup_printf("system.buckets.%s", coll);
        }
        const char *data = c.data_name ? c.data_name : coll;
        if (ok && find_ns(b, db, data) >= 0) {
            ls_mongo_error(err, who, "%s: the prelude names %s.%s twice", from, db, data);
            ok = false;
        }
        ls_backup_ns *g = ok ? realloc(b->ns, (b->nns + 1) * sizeof *g) : NULL;
        if (ok && g == NULL) {
            ls_mongo_error(err, who, "out of memory reading %s", from);
            ok = false;
        }
        if (ok) {
            b->ns = g;
            ls_backup_ns *ns = &b->ns[b->nns++];
            memset(ns, 0, sizeof *ns);
            ns->db = bson_strdup(db);
            ns->coll = bson_strdup(coll);
            ns->data = bson_strdup(data);
            ns->mine = -1;
            ns->crc = LS_CRC64_INIT;
            /* Keep the metadata on the ns until the database is chosen. */
            ls_backup_coll *keep = add_coll(b, coll);
            if (keep == NULL) {
                ok = false;
            } else {
                bson_destroy(keep->meta);
                keep->meta = c.meta;
                c.meta = NULL;
                bson_free(keep->data_name);
                keep->data_name = bson_strdup(data);
                keep->timeseries = c.timeseries;
                keep->ns = b->nns - 1;
            }
        }
        if (c.meta)
            bson_destroy(c.meta);
        bson_free(c.data_name);
        bson_free(c.name);
    }
    reader_close(&r);
    if (!ok)
        return false;
    /* The database: source_db, or the only one holding collections that
     * are not system.* (the oplog, db "", never counts). */
    const char *pick = source_db && source_db[0] ? source_db : NULL;
    if (pick == NULL) {
        char names[512] = "";
        int found = 0;
        for (size_t i = 0; i < b->nns; i++) {
            const ls_backup_ns *ns = &b->ns[i];
            if (ns->db[0] == '\0' || is_system(ns->coll))
                continue;
            bool seen = false;
            for (size_t j = 0; j < i; j++)
                seen = seen || (strcmp(b->ns[j].db, ns->db) == 0 && b->ns[j].db[0] && !is_system(b->ns[j].coll));
            if (seen)
                continue;
            if (found++ == 0)
                pick = ns->db;
            size_t nl = strlen(names);
            snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "", ns->db);
        }
        if (found == 0) {
            ls_mongo_error(err, who, "the archive %s holds no collection to restore", from);
            return false;
        }
        if (found > 1) {
            ls_mongo_error(err, who, "the archive %s holds several databases (%s): set source_db", from, names);
            return false;
        }
    }
    b->db = bson_strdup(pick);
    /* Keep the chosen database's collections (not system.*). */
    size_t w = 0;
    bool any = false;
    for (size_t i = 0; i < b->ncolls; i++) {
        ls_backup_coll *c = &b->colls[i];
        ls_backup_ns *ns = &b->ns[c->ns];
        any = any || strcmp(ns->db, b->db) == 0;
        if (strcmp(ns->db, b->db) != 0 || is_system(c->name)) {
            bson_free(c->name);
            bson_free(c->data_name);
            bson_destroy(c->meta);
            continue;
        }
        b->colls[w++] = *c;
    }
    b->ncolls = w;
    if (!any) {
        ls_mongo_error(err, who, "no database '%s' in the archive %s", b->db, from);
        return false;
    }
    if (b->ncolls > 1)
        qsort(b->colls, b->ncolls, sizeof *b->colls, cmp_coll);
    for (size_t i = 0; i < b->ncolls; i++)
        b->ns[b->colls[i].ns].mine = (long)i;
    return true;
}

bool ls_backup_open(const char *who, const char *from, const char *source_db, ls_backup *b, ls_error *err)
{
    memset(b, 0, sizeof *b);
    struct stat st;
    if (from == NULL || from[0] == '\0') {
        ls_mongo_error(err, who, "no `from` given (a dump directory or an archive file)");
        return false;
    }
    if (stat(from, &st) != 0) {
        ls_mongo_error(err, who, "cannot read %s: %s", from, strerror(errno));
        return false;
    }
    bool ok;
    if (S_ISDIR(st.st_mode))
        ok = open_directory(who, from, source_db, b, err);
    else if (S_ISREG(st.st_mode))
        ok = open_archive(who, from, source_db, b, err);
    else {
        ls_mongo_error(err, who, "%s is neither a directory nor a file", from);
        ok = false;
    }
    if (!ok)
        ls_backup_free(b);
    return ok;
}

/* ---- scanning ---------------------------------------------------------------------- */

typedef struct scan_ctx {
    ls_call *call;
    const char *who;
    ls_backup *b;
    const bool *pick;
    ls_backup_doc_fn fn;
    void *fctx;
    ls_act_status *st;
    ls_error *err;
    int64_t seen;
} scan_ctx;

/* One document of collection `ci`: counted, handed on when picked. */
static bool scan_doc(scan_ctx *s, long ci, const uint8_t *p, uint32_t len)
{
    if (ci >= 0) {
        ls_backup_coll *c = &s->b->colls[ci];
        c->count++;
        c->bytes += len;
        if (s->fn != NULL && (s->pick == NULL || s->pick[ci])) {
            bson_t doc;
            bson_init_static(&doc, p, len);
            if (!s->fn(s->fctx, (size_t)ci, &doc))
                return false;
        }
    }
    if ((++s->seen & 255) == 0 && ls_mongo_should_stop(s->call, s->who, s->b->where, s->seen, s->st, s->err))
        return false;
    return true;
}

static bool scan_directory(scan_ctx *s)
{
    ls_backup *b = s->b;
    for (size_t i = 0; i < b->ncolls; i++) {
        ls_backup_coll *c = &b->colls[i];
        if ((s->pick != NULL && !s->pick[i]) || c->path == NULL)
            continue;
        doc_reader r;
        if (!reader_open(&r, s->who, c->path, s->err))
            return false;
        bool ok = true;
        for (;;) {
            uint32_t len = 0;
            rd_kind k = reader_next(&r, s->who, false, &len, s->err);
            if (k == RD_END)
                break;
            if (k != RD_DOC || !scan_doc(s, (long)i, r.buf, len)) {
                ok = false;
                break;
            }
        }
        reader_close(&r);
        if (!ok)
            return false;
    }
    return true;
}

static bool scan_archive(scan_ctx *s)
{
    ls_backup *b = s->b;
    const char *who = s->who, *from = b->where;
    doc_reader r;
    ls_error *err = s->err;
    bool ok = archive_start(who, from, &r, err);
    uint32_t len = 0;
    for (size_t i = 0; i < b->nns; i++) {
        b->ns[i].crc = LS_CRC64_INIT;
        b->ns[i].count = 0;
        b->ns[i].eof = false;
    }
    /* Skip the prelude: checked by ls_backup_open, read again for its end. */
    if (ok && reader_next(&r, who, false, &len, err) != RD_DOC)
        ok = false;
    while (ok) {
        rd_kind k = reader_next(&r, who, true, &len, err);
        if (k == RD_TERMINATOR)
            break;
        if (k != RD_DOC) {
            if (k == RD_END)
                ls_mongo_error(err, who, "%s: the archive ends inside its prelude", from);
            ok = false;
        }
    }
    while (ok) {
        int64_t at = r.off;
        rd_kind k = reader_next(&r, who, false, &len, err);
        if (k == RD_END)
            break;
        if (k != RD_DOC) {
            ok = false;
            break;
        }
        bson_t h;
        bson_init_static(&h, r.buf, len);
        const char *db = doc_str(&h, "db"), *coll = doc_str(&h, "collection");
        bson_iter_t it;
        bool eof = bson_iter_init_find(&it, &h, "EOF") && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
        int64_t crc = 0;
        if (bson_iter_init_find(&it, &h, "CRC") && (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
            crc = bson_iter_as_int64(&it);
        long ni = db && coll ? find_ns(b, db, coll) : -1;
        if (ni < 0) {
            ls_mongo_error(err, who, "%s: the block at offset %lld names %s%s%s, which the prelude does not list",
                           from, (long long)at, db ? db : "?", ".", coll ? coll : "?");
            ok = false;
            break;
        }
        ls_backup_ns *ns = &b->ns[ni];
        if (ns->eof) {
            ls_mongo_error(err, who, "%s: a block for %s.%s at offset %lld follows its end", from, ns->db, ns->data,
                           (long long)at);
            ok = false;
            break;
        }
        if (eof) {
            uint64_t got = LS_CRC64_FINAL(ns->crc);
            if ((uint64_t)crc != got) {
                ls_mongo_error(err, who,
                               "%s: %s.%s fails its CRC check (the archive says %016llx, its %lld documents give "
                               "%016llx): the archive is damaged",
                               from, ns->db, ns->data, (unsigned long long)(uint64_t)crc, (long long)ns->count,
                               (unsigned long long)got);
                ok = false;
                break;
            }
            ns->eof = true;
        }
        for (;;) {
            k = reader_next(&r, who, true, &len, err);
            if (k == RD_TERMINATOR)
                break;
            if (k != RD_DOC || eof) {
                if (k == RD_END)
                    ls_mongo_error(err, who, "%s: the archive ends inside the block of %s.%s", from, ns->db,
                                   ns->data);
                else if (k == RD_DOC)
                    ls_mongo_error(err, who, "%s: the end of %s.%s is not followed by a terminator", from, ns->db,
                                   ns->data);
                ok = false;
                break;
            }
            ns->crc = ls_crc64_update(ns->crc, r.buf, len);
            ns->count++;
            if (!scan_doc(s, ns->mine, r.buf, len)) {
                ok = false;
                break;
            }
        }
    }
    for (size_t i = 0; ok && i < b->nns; i++) {
        if (!b->ns[i].eof) {
            ls_mongo_error(err, who, "%s: the archive ends before the end of %s.%s: it is incomplete", from,
                           b->ns[i].db, b->ns[i].data);
            ok = false;
        }
    }
    reader_close(&r);
    return ok;
}

bool ls_backup_scan(ls_call *call, const char *who, ls_backup *b, const bool *pick, ls_backup_doc_fn fn, void *ctx,
                    ls_act_status *st, ls_error *err)
{
    scan_ctx s = {call, who, b, pick, fn, ctx, st, err, 0};
    for (size_t i = 0; i < b->ncolls; i++) {
        b->colls[i].count = 0;
        b->colls[i].bytes = 0;
    }
    *st = LS_ACT_FAILED;
    bool ok = b->form == LS_BACKUP_ARCHIVE ? scan_archive(&s) : scan_directory(&s);
    if (ok)
        *st = LS_ACT_OK;
    else if (*st == LS_ACT_OK)
        *st = LS_ACT_FAILED;
    return ok;
}
