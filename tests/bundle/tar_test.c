/*
 * The bundle archive reader against malformed input (engine/tar.c): a
 * written archive reads back byte for byte; then hand-made hostile
 * archives are each refused with the expected message; then thousands of
 * deterministic mutations of a valid archive (bit flips, truncations,
 * spliced bytes, both before and after gzip) must each be either read or
 * refused, never crash, hang or read out of bounds (run it under ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "tar.h"

static int failures;

#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
                               fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)l + 1);
    if (!b || fread(b, 1, (size_t)l, f) != (size_t)l)
        abort();
    fclose(f);
    *n = (size_t)l;
    return b;
}

/* gzip of raw bytes, for archives built by hand. */
static unsigned char *gz(const unsigned char *raw, size_t n, size_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    unsigned char *b = malloc(cap);
    if (!b)
        abort();
    zs.next_in = (Bytef *)(uintptr_t)raw;
    zs.avail_in = (uInt)n;
    zs.next_out = b;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    *out = cap - zs.avail_out;
    deflateEnd(&zs);
    return b;
}

static void octal(unsigned char *f, size_t w, unsigned long v)
{
    f[w - 1] = 0;
    for (size_t i = w - 1; i-- > 0; v >>= 3)
        f[i] = (unsigned char)('0' + (v & 7));
}

/* One ustar header with a correct checksum. */
static void header(unsigned char *h, const char *name, char type, unsigned long size, const char *magic)
{
    memset(h, 0, 512);
    memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, 0);
    h[156] = (unsigned char)type;
    memcpy(h + 257, magic, 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned s = 0;
    for (int i = 0; i < 512; i++)
        s += h[i];
    octal(h + 148, 7, s);
    h[155] = ' ';
}

/* An archive of one entry (plus data and end blocks), gzipped, parsed:
 * the message must contain `want`. */
static void refused(const char *what, const char *name, char type, unsigned long size, size_t datalen,
                    const char *magic, int tweak, const char *want)
{
    size_t n = 512 + (datalen + 511) / 512 * 512 + 1024;
    unsigned char *raw = calloc(1, n + 512);
    header(raw, name, type, size, magic);
    if (tweak == 1)
        raw[0] ^= 1; /* checksum no longer matches */
    if (tweak == 2)
        memcpy(raw + n, "junk", 4), n += 512; /* data after the end marker */
    size_t gl;
    unsigned char *g = gz(raw, tweak == 3 ? n - 512 : n, &gl); /* 3: one end block missing */
    ls_tar t;
    char err[512] = "";
    int rc = ls_tar_gz_parse(g, gl, &t, err, sizeof err);
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
    CHECK(t.n == 0 && t.e == NULL, "%s: entries left after a refusal", what);
    free(g);
    free(raw);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    /* Round trip. */
    char dir[] = "/tmp/lockstep-tar-test.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char path[256];
    snprintf(path, sizeof path, "%s/a.tar.gz", dir);
    static unsigned char big[9000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(next() & 0xff);
    char longname[220];
    snprintf(longname, sizeof longname, "%0120d/%s", 0, "a-file-whose-directory-name-needs-the-ustar-prefix.yaml");
    ls_tar_entry in[4] = {
        {(char *)(uintptr_t)"lockstep-bundle.json", (unsigned char *)(uintptr_t)"{}\n", 3},
        {(char *)(uintptr_t)"environments/staging.yaml", big, sizeof big},
        {(char *)(uintptr_t)"empty", NULL, 0},
        {longname, (unsigned char *)(uintptr_t)"x", 1},
    };
    char err[512];
    CHECK(ls_tar_gz_write(path, in, 4, err, sizeof err) == 0, "write: %s", err);
    ls_tar t;
    CHECK(ls_tar_gz_read(path, &t, err, sizeof err) == 0, "read back: %s", err);
    CHECK(t.n == 4, "4 entries, got %zu", t.n);
    for (size_t i = 0; i < 4 && i < t.n; i++) {
        CHECK(strcmp(t.e[i].path, in[i].path) == 0, "entry %zu path %s", i, t.e[i].path);
        CHECK(t.e[i].size == in[i].size && (!in[i].size || memcmp(t.e[i].data, in[i].data, in[i].size) == 0),
              "entry %zu content", i);
    }
    ls_tar_free(&t);
    ls_tar_entry bad = {(char *)(uintptr_t)"../escape", (unsigned char *)(uintptr_t)"x", 1};
    CHECK(ls_tar_gz_write(path, &bad, 1, err, sizeof err) != 0 && strstr(err, "'..'"), "writer refuses ..: %s", err);

    /* Hostile archives, one rule each. */
    refused("parent", "../evil", '0', 1, 1, "ustar", 0, "a '..' path component");
    refused("inner parent", "a/../../evil", '0', 1, 1, "ustar", 0, "a '..' path component");
    refused("absolute", "/etc/cron.d/evil", '0', 1, 1, "ustar", 0, "an absolute path");
    refused("dot", "./x", '0', 1, 1, "ustar", 0, "a '.' path component");
    refused("empty component", "a//b", '0', 1, 1, "ustar", 0, "an empty path component");
    refused("backslash", "a\\..\\b", '0', 1, 1, "ustar", 0, "a backslash");
    refused("control", "a\x1b[31m", '0', 1, 1, "ustar", 0, "a control character");
    refused("symlink", "link", '2', 0, 0, "ustar", 0, "is a symbolic link");
    refused("hard link", "link", '1', 0, 0, "ustar", 0, "is a hard link");
    refused("device", "dev", '3', 0, 0, "ustar", 0, "is a character device");
    refused("fifo", "fifo", '6', 0, 0, "ustar", 0, "is a FIFO");
    refused("pax", "pax", 'x', 0, 0, "ustar", 0, "pax extended header");
    refused("gnu long name", "././@LongLink", 'L', 0, 0, "ustar", 0, "GNU long-name header");
    refused("checksum", "a", '0', 1, 1, "ustar", 1, "bad header checksum");
    refused("magic", "a", '0', 1, 1, "nope!", 0, "not a ustar header");
    refused("truncated data", "a", '0', 100000, 1, "ustar", 0, "truncated");
    refused("huge size", "a", '0', 077777777777ul, 1, "ustar", 0, "truncated");
    refused("trailing data", "a", '0', 1, 1, "ustar", 2, "data after the archive's end marker");
    refused("one end block", "a", '0', 1, 1, "ustar", 3, "two zero blocks");
    refused("dir with data", "d/", '5', 1, 1, "ustar", 0, "a directory with data");

    /* Not gzip, truncated gzip, junk after the gzip stream, a gzip bomb. */
    size_t vn;
    unsigned char *valid = slurp(path, &vn);
    CHECK(ls_tar_gz_write(path, in, 4, err, sizeof err) == 0, "rewrite: %s", err);
    free(valid);
    valid = slurp(path, &vn);
    CHECK(ls_tar_gz_parse((const unsigned char *)"PK\3\4", 4, &t, err, sizeof err) != 0 &&
          strstr(err, "not a gzip file"), "zip refused: %s", err);
    CHECK(ls_tar_gz_parse(valid, vn / 2, &t, err, sizeof err) != 0 && strstr(err, "truncated"),
          "truncated gzip: %s", err);
    unsigned char *more = malloc(vn + 3);
    memcpy(more, valid, vn);
    memcpy(more + vn, "abc", 3);
    CHECK(ls_tar_gz_parse(more, vn + 3, &t, err, sizeof err) != 0 && strstr(err, "after the end of the gzip"),
          "junk after gzip: %s", err);
    free(more);
    size_t zn = 257u * 1024u * 1024u, gl;
    unsigned char *zeros = calloc(1, zn);
    unsigned char *bomb = gz(zeros, zn, &gl);
    free(zeros);
    CHECK(ls_tar_gz_parse(bomb, gl, &t, err, sizeof err) != 0 && strstr(err, "more than 256 MiB"),
          "gzip bomb (%zu bytes): %s", gl, err);
    free(bomb);

    /* Mutations: read or refused, never worse.  Compressed bytes first. */
    size_t accepted = 0, tried = 0;
    unsigned char *m = malloc(vn);
    for (int round = 0; round < 3000; round++) {
        memcpy(m, valid, vn);
        size_t len = vn;
        int kind = (int)(next() % 3);
        if (kind == 0)
            for (int k = 0; k < 1 + (int)(next() % 4); k++)
                m[10 + next() % (vn - 10)] ^= (unsigned char)(1u << (next() % 8));
        else if (kind == 1)
            len = 10 + next() % (vn - 10);
        else
            m[next() % vn] = (unsigned char)next();
        tried++;
        if (ls_tar_gz_parse(m, len, &t, err, sizeof err) == 0) {
            accepted++;
            ls_tar_free(&t);
        }
    }
    free(m);
    /* ...then the tar bytes themselves, re-gzipped, so headers are hit. */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    inflateInit2(&zs, 15 + 16);
    size_t rawcap = 1u << 20;
    unsigned char *raw = malloc(rawcap);
    zs.next_in = valid;
    zs.avail_in = (uInt)vn;
    zs.next_out = raw;
    zs.avail_out = (uInt)rawcap;
    CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END, "inflate the valid archive");
    size_t rawn = rawcap - zs.avail_out;
    inflateEnd(&zs);
    unsigned char *rm = malloc(rawn);
    for (int round = 0; round < 1500; round++) {
        memcpy(rm, raw, rawn);
        size_t blk = (next() % (rawn / 512)) * 512; /* aim at a block start: headers */
        for (int k = 0; k < 1 + (int)(next() % 3); k++)
            rm[blk + next() % 512] = (unsigned char)next();
        size_t g2n;
        unsigned char *g2 = gz(rm, rawn, &g2n);
        tried++;
        if (ls_tar_gz_parse(g2, g2n, &t, err, sizeof err) == 0) {
            accepted++;
            for (size_t i = 0; i < t.n; i++)
                CHECK(ls_tar_path_ok(t.e[i].path, NULL, 0), "an accepted path is unsafe: %s", t.e[i].path);
            ls_tar_free(&t);
        }
        free(g2);
    }
    free(rm);
    free(raw);
    free(valid);
    unlink(path);
    rmdir(dir);
    printf("tar: %d failure(s); %zu mutations, %zu still readable\n", failures, tried, accepted);
    return failures ? 1 : 0;
}
