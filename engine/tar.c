/*
 * ustar inside gzip (tar.h).  The format, as far as lockstep writes and
 * reads it: 512-byte header blocks (name 100, mode 8, uid 8, gid 8, size
 * 12, mtime 12, chksum 8, typeflag 1, linkname 100, magic "ustar\0",
 * version "00", uname 32, gname 32, devmajor 8, devminor 8, prefix 155),
 * each followed by the file's bytes padded to 512, and two zero blocks at
 * the end.  Numbers are octal text.  gzip framing comes from zlib.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tar.h"
#include "file.h"
#include "diag.h"

#define BLK 512u

static int tar_fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int tar_fail_path(char *err, size_t errlen, const char *path, const char *msg)
{
    snprintf(err, errlen, "cannot archive '%.200s': %s", path, msg);
    return -1;
}

bool ls_tar_path_ok(const char *p, char *why, size_t whylen)
{
    size_t n = strlen(p);
    const char *msg = NULL;
    if (n == 0)
        msg = "an empty path";
    else if (n > LS_TAR_MAX_PATH)
        msg = "a path longer than 255 bytes";
    else if (p[0] == '/')
        msg = "an absolute path";
    for (size_t i = 0; !msg && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            msg = "a control character in the path";
        else if (c == '\\')
            msg = "a backslash in the path";
    }
    for (const char *s = p; !msg && *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0)
            msg = "an empty path component (//)";
        else if (len == 1 && s[0] == '.')
            msg = "a '.' path component";
        else if (len == 2 && s[0] == '.' && s[1] == '.')
            msg = "a '..' path component (it escapes the bundle)";
        s = e ? e + 1 : s + len;
        if (e && !*s)
            msg = "a trailing '/'";
    }
    if (msg && why)
        snprintf(why, whylen, "%s", msg);
    return msg == NULL;
}

/* ---- writing ----------------------------------------------------------- */

static void put_octal(unsigned char *f, size_t width, uint64_t v)
{
    /* width-1 digits, then NUL */
    f[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0;) {
        f[i] = (unsigned char)('0' + (v & 7));
        v >>= 3;
    }
}

static int put_header(unsigned char h[BLK], const ls_tar_entry *e, char *err, size_t errlen)
{
    memset(h, 0, BLK);
    size_t n = strlen(e->path);
    char why[96];
    if (!ls_tar_path_ok(e->path, why, sizeof why)) {
        snprintf(err, errlen, "cannot archive '%.200s': %s", e->path, why);
        return -1;
    }
    if (n <= 100) {
        memcpy(h, e->path, n);
    } else {
        /* Split at a '/' so that prefix <= 155 and name <= 100. */
        size_t cut = 0;
        for (size_t i = n - 1; i > 0; i--)
            if (e->path[i] == '/' && i <= 155 && n - i - 1 <= 100) {
                cut = i;
                break;
            }
        if (!cut)
            return tar_fail_path(err, errlen, e->path, "the path does not fit a ustar header");
        memcpy(h + 345, e->path, cut);
        memcpy(h, e->path + cut + 1, n - cut - 1);
    }
    if ((uint64_t)e->size > 077777777777u)
        return tar_fail_path(err, errlen, e->path, "larger than 8 GiB");
    put_octal(h + 100, 8, 0644);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_octal(h + 124, 12, (uint64_t)e->size);
    put_octal(h + 136, 12, 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLK; i++)
        sum += h[i];
    put_octal(h + 148, 7, sum);
    h[155] = ' ';
    return 0;
}

typedef struct gz_out {
    z_stream zs;
    int fd;
    unsigned char buf[65536];
} gz_out;

static int gz_write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int gz_feed(gz_out *g, const unsigned char *p, size_t n, int flush)
{
    g->zs.next_in = (Bytef *)(uintptr_t)p;
    g->zs.avail_in = (uInt)n;
    for (;;) {
        g->zs.next_out = g->buf;
        g->zs.avail_out = sizeof g->buf;
        int rc = deflate(&g->zs, flush);
        if (rc == Z_STREAM_ERROR)
            return -1;
        size_t have = sizeof g->buf - g->zs.avail_out;
        if (have && gz_write_all(g->fd, g->buf, have) != 0)
            return -1;
        if (flush == Z_FINISH ? rc == Z_STREAM_END : g->zs.avail_in == 0 && g->zs.avail_out != 0)
            return 0;
    }
}

static int gz_feed_big(gz_out *g, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        if (gz_feed(g, p, k, Z_NO_FLUSH) != 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

int ls_tar_gz_write(const char *path, const ls_tar_entry *e, size_t n, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return tar_fail(err, errlen, "the output path is too long");
    gz_out *g = calloc(1, sizeof *g);
    if (!g)
        ls_oom();
    g->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (g->fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        free(g);
        return -1;
    }
    if (deflateInit2(&g->zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        ls_oom();
    int rc = 0;
    unsigned char h[BLK], zero[BLK];
    memset(zero, 0, sizeof zero);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (put_header(h, &e[i], err, errlen) != 0) {
            rc = -2;
            break;
        }
        if (gz_feed(g, h, BLK, Z_NO_FLUSH) != 0 || gz_feed_big(g, e[i].data, e[i].size) != 0 ||
            (e[i].size % BLK && gz_feed(g, zero, BLK - e[i].size % BLK, Z_NO_FLUSH) != 0))
            rc = -1;
    }
    if (rc == 0 && (gz_feed(g, zero, BLK, Z_NO_FLUSH) != 0 || gz_feed(g, zero, BLK, Z_FINISH) != 0))
        rc = -1;
    deflateEnd(&g->zs);
    if (rc == 0 && fsync(g->fd) != 0)
        rc = -1;
    if (close(g->fd) != 0 && rc == 0)
        rc = -1;
    free(g);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        if (rc == -1)
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

void ls_tar_free(ls_tar *t)
{
    for (size_t i = 0; t && i < t->n; i++) {
        free(t->e[i].path);
        free(t->e[i].data);
    }
    if (t) {
        free(t->e);
        t->e = NULL;
        t->n = 0;
    }
}

const ls_tar_entry *ls_tar_find(const ls_tar *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].path, path) == 0)
            return &t->e[i];
    return NULL;
}

/* Inflates one gzip member, at most LS_TAR_MAX_RAW bytes; nothing may
 * follow it. */
static int gunzip(const unsigned char *gz, size_t len, unsigned char **out, size_t *outlen, char *err,
                  size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        ls_oom();
    size_t cap = len < 65536 ? 65536 : (len > LS_TAR_MAX_RAW / 4 ? LS_TAR_MAX_RAW : len * 4), n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        ls_oom();
    zs.next_in = (Bytef *)(uintptr_t)gz;
    zs.avail_in = (uInt)len; /* len <= LS_TAR_MAX_GZ < 4 GiB */
    int rc;
    for (;;) {
        if (n == cap) {
            if (cap >= LS_TAR_MAX_RAW) {
                inflateEnd(&zs);
                free(buf);
                return tar_fail(err, errlen, "inflates to more than 256 MiB");
            }
            cap = cap * 2 > LS_TAR_MAX_RAW ? LS_TAR_MAX_RAW : cap * 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb)
                ls_oom();
            buf = nb;
        }
        zs.next_out = buf + n;
        zs.avail_out = (uInt)(cap - n);
        rc = inflate(&zs, Z_NO_FLUSH);
        n = cap - zs.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc == Z_OK)
            continue;
        if (rc == Z_BUF_ERROR && zs.avail_out == 0)
            continue;
        inflateEnd(&zs);
        free(buf);
        if (rc == Z_BUF_ERROR)
            return tar_fail(err, errlen, "not a complete gzip stream (truncated)");
        snprintf(err, errlen, "not a gzip stream (%s)", zs.msg ? zs.msg : "corrupt data");
        return -1;
    }
    size_t rest = zs.avail_in;
    inflateEnd(&zs);
    if (rest) {
        free(buf);
        return tar_fail(err, errlen, "bytes after the end of the gzip stream");
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* An octal header field: optional leading spaces, digits, then NUL or
 * spaces to the end.  -1 when it is anything else (base-256 included). */
static int octal_field(const unsigned char *f, size_t width, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    while (i < width && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (*v > (UINT64_MAX >> 3))
            return -1;
        *v = (*v << 3) | (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != '\0' && f[i] != ' ')
            return -1;
    return digits ? 0 : -1;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static const char *type_name(unsigned char t)
{
    switch (t) {
    case '1': return "a hard link";
    case '2': return "a symbolic link";
    case '3': return "a character device";
    case '4': return "a block device";
    case '6': return "a FIFO";
    case '7': return "a contiguous file";
    case 'x': case 'g': return "a pax extended header";
    case 'L': case 'K': return "a GNU long-name header";
    default: return "an unknown entry type";
    }
}

static int parse_tar(const unsigned char *raw, size_t len, ls_tar *out, char *err, size_t errlen)
{
    size_t off = 0, cap = 0;
    if (len % BLK)
        return tar_fail(err, errlen, "not a tar archive (its size is not a multiple of 512)");
    for (;;) {
        if (off + BLK > len)
            return tar_fail(err, errlen, "the archive ends without its two zero blocks");
        const unsigned char *h = raw + off;
        if (all_zero(h, BLK)) {
            if (!all_zero(raw + off, len - off))
                return tar_fail(err, errlen, "data after the archive's end marker");
            if (len - off < 2 * BLK)
                return tar_fail(err, errlen, "the archive ends without its two zero blocks");
            return 0;
        }
        char name[LS_TAR_MAX_PATH + 2];
        size_t pl = strnlen((const char *)h + 345, 155), nl = strnlen((const char *)h, 100);
        if (pl)
            snprintf(name, sizeof name, "%.*s/%.*s", (int)pl, (const char *)h + 345, (int)nl, (const char *)h);
        else
            snprintf(name, sizeof name, "%.*s", (int)nl, (const char *)h);
        uint64_t stored, size;
        unsigned sum = 0;
        for (size_t i = 0; i < BLK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (octal_field(h + 148, 8, &stored) != 0 || stored != sum) {
            snprintf(err, errlen, "entry %zu ('%.100s'): bad header checksum", out->n + 1, name);
            return -1;
        }
        if (memcmp(h + 257, "ustar", 5) != 0 || (h[262] != '\0' && h[262] != ' ')) {
            snprintf(err, errlen, "entry '%.200s': not a ustar header", name);
            return -1;
        }
        unsigned char type = h[156];
        bool dir = type == '5';
        if (type != '0' && type != '\0' && !dir) {
            snprintf(err, errlen, "entry '%.200s' is %s: a bundle holds only regular files", name, type_name(type));
            return -1;
        }
        if (octal_field(h + 124, 12, &size) != 0) {
            snprintf(err, errlen, "entry '%.200s': bad size field", name);
            return -1;
        }
        if (dir) {
            size_t l = strlen(name);
            if (l > 1 && name[l - 1] == '/')
                name[l - 1] = '\0';
        }
        char why[96];
        if (!ls_tar_path_ok(name, why, sizeof why)) {
            snprintf(err, errlen, "entry '%.200s': %s", name, why);
            return -1;
        }
        off += BLK;
        if (size > len - off) {
            snprintf(err, errlen, "entry '%.200s': truncated (%llu bytes announced, %zu left)", name,
                     (unsigned long long)size, len - off);
            return -1;
        }
        if (dir) {
            if (size != 0) {
                snprintf(err, errlen, "entry '%.200s': a directory with data", name);
                return -1;
            }
            continue;
        }
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->e[i].path, name) == 0) {
                snprintf(err, errlen, "entry '%.200s' appears twice", name);
                return -1;
            }
        if (out->n >= LS_TAR_MAX_ENTRIES)
            return tar_fail(err, errlen, "more than 4096 entries");
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            ls_tar_entry *ne = realloc(out->e, cap * sizeof *ne);
            if (!ne)
                ls_oom();
            out->e = ne;
        }
        ls_tar_entry *e = &out->e[out->n++];
        e->path = strdup(name);
        e->size = (size_t)size;
        e->data = size ? malloc((size_t)size) : NULL;
        if (!e->path || (size && !e->data))
            ls_oom();
        if (size)
            memcpy(e->data, raw + off, (size_t)size);
        size_t padded = (size_t)size + (BLK - (size_t)size % BLK) % BLK;
        off += padded;
    }
}

int ls_tar_gz_parse(const unsigned char *gz, size_t len, ls_tar *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > LS_TAR_MAX_GZ)
        return tar_fail(err, errlen, "larger than 64 MiB");
    if (len < 2 || gz[0] != 0x1f || gz[1] != 0x8b)
        return tar_fail(err, errlen, "not a gzip file (a bundle is a .tar.gz)");
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (gunzip(gz, len, &raw, &rawlen, err, errlen) != 0)
        return -1;
    int rc = parse_tar(raw, rawlen, out, err, errlen);
    free(raw);
    if (rc != 0)
        ls_tar_free(out);
    return rc;
}

int ls_tar_gz_read(const char *path, ls_tar *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *buf = NULL;
    size_t n = 0;
    /* As every input file is read (file.h): a FIFO never blocks, a device
     * is refused, the size is bounded. */
    if (ls_file_read(path, LS_TAR_MAX_GZ, &buf, &n, err, errlen) != 0)
        return -1;
    int rc = ls_tar_gz_parse((const unsigned char *)buf, n, out, err, errlen);
    free(buf);
    return rc;
}
