/*
 * The run journal, its hash chain, run ids and the per-playbook lock.  The
 * line format and the hash are defined in journal.h.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "secret.h"
#include "sha256.h"

#define HASH_SUFFIX_LEN 75 /* ,"hash":" + 64 hex + "} */
/* Deeper values are cut so that every line reads back under the JSON
 * parser's nesting bound (256) with room for the event's own levels. */
#define CLIP_MAX_DEPTH 200

static const ls_loc noloc = {NULL, 0, 0};

static const char *const event_names[] = {
    [LS_EV_RUN_STARTED] = "run_started",       [LS_EV_STATE_ENTERED] = "state_entered",
    [LS_EV_ACTION_STARTED] = "action_started", [LS_EV_ACTION_FINISHED] = "action_finished",
    [LS_EV_APPROVAL] = "approval",             [LS_EV_ASSUMED] = "assumed",
    [LS_EV_LANDED] = "landed",                 [LS_EV_TRANSITION] = "transition",
    [LS_EV_RUN_RESUMED] = "run_resumed",       [LS_EV_RUN_HALTED] = "run_halted",
    [LS_EV_RUN_FINISHED] = "run_finished",     [LS_EV_UNKNOWN] = "unknown",
};

const char *ls_event_name(ls_event e)
{
    return (unsigned)e <= LS_EV_UNKNOWN ? event_names[e] : "unknown";
}

ls_event ls_event_of(ls_value line)
{
    ls_value v = ls_map_get(line, "event");
    if (v.kind != LS_STRING)
        return LS_EV_UNKNOWN;
    const char *s = ls_str_ptr(v);
    for (int e = 0; e < LS_EV_UNKNOWN; e++)
        if (strcmp(s, event_names[e]) == 0)
            return (ls_event)e;
    return LS_EV_UNKNOWN;
}

const char *ls_journal_state_dir(const char *opt)
{
    if (opt != NULL && opt[0] != '\0')
        return opt;
    const char *e = getenv("LOCKSTEP_STATE_DIR");
    if (e != NULL && e[0] != '\0')
        return e;
    return ".lockstep";
}

void ls_journal_new_id(char out[LS_RUN_ID_MAX])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    unsigned char rnd[3] = {0, 0, 0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* getrandom cannot fail for 3 bytes once the pool is ready; fall
         * back to pid and clock so the id stays unique in practice. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned v = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 8);
        rnd[0] = (unsigned char)v;
        rnd[1] = (unsigned char)(v >> 8);
        rnd[2] = (unsigned char)(v >> 16);
    }
    char base[24];
    if (strftime(base, sizeof base, "%Y%m%dT%H%M%S", &tm) == 0)
        base[0] = '\0';
    /* Milliseconds keep runs started in the same second in order. */
    snprintf(out, LS_RUN_ID_MAX, "%.15s%03ldZ-%02x%02x%02x", base, now.tv_nsec / 1000000L, rnd[0], rnd[1],
             rnd[2]);
}

void ls_journal_now_iso(char out[32])
{
    /* Every journal line has one: the date and time are formatted once a
     * second, the milliseconds each time. */
    static time_t cached_sec = (time_t)-1;
    static char cached[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
            snprintf(cached, sizeof cached, "1970-01-01T00:00:00");
        cached_sec = ts.tv_sec;
    }
    int ms = (int)(ts.tv_nsec / 1000000) % 1000;
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}

bool ls_journal_id_ok(const char *id)
{
    size_t n = 0;
    if (id == NULL || id[0] == '\0' || id[0] == '-')
        return false;
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return false;
    }
    return n < LS_RUN_ID_MAX;
}

int ls_journal_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        tmp[i] = c;
    }
    return 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void parent_of(const char *path, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash == NULL)
        snprintf(out, outlen, ".");
    else if (slash == out)
        slash[1] = '\0';
    else
        *slash = '\0';
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

#define TIP_LEN 96 /* one slot; the file holds two */

/* FNV-1a of a tip record's text: a torn slot does not check. */
static uint64_t tip_check(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The tip (journal.h): two slots of TIP_LEN bytes, "tip 1 SEQ HASH CHECK"
 * padded with spaces and ending in a newline, written in turn, so that a
 * write torn by a crash or a full disk spoils one slot at most and the
 * other still names the last line that was durable before.  0, or -1 with
 * errno. */
static int write_tip_slot(ls_journal *j, int slot)
{
    char rec[TIP_LEN + 1];
    int n = snprintf(rec, sizeof rec, "tip 1 %lld %s", (long long)j->seq, j->hash[0] ? j->hash : "-");
    if (n < 0 || n + 18 >= TIP_LEN)
        return -1;
    n += snprintf(rec + n, sizeof rec - (size_t)n, " %016llx", (unsigned long long)tip_check(rec, (size_t)n));
    memset(rec + n, ' ', (size_t)(TIP_LEN - n));
    rec[TIP_LEN - 1] = '\n';
    for (;;) {
        ssize_t w = pwrite(j->tip_fd, rec, TIP_LEN, (off_t)slot * TIP_LEN);
        if (w == TIP_LEN)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        if (w >= 0)
            errno = EIO;
        return -1;
    }
}

static int write_tip(ls_journal *j)
{
    j->tip_slot ^= 1;
    return write_tip_slot(j, j->tip_slot);
}

/* Writes the held lines (journal.h, DURABILITY).  0, or -1 with errno. */
static int write_held(ls_journal *j)
{
    if (j->held_len == 0 || j->fd < 0)
        return 0;
    int rc = write_all(j->fd, j->held, j->held_len);
    if (rc == 0)
        j->len += (int64_t)j->held_len;
    j->held_len = 0;
    return rc;
}

/* The held lines and then `line`, in one writev() (more only if the
 * kernel takes part of it).  0, or -1 with errno. */
static int write_with_held(ls_journal *j, const char *line, size_t n)
{
    if (j->held_len == 0 || j->fd < 0) {
        if (write_all(j->fd, line, n) != 0)
            return -1;
        j->len += (int64_t)n;
        return 0;
    }
    struct iovec iov[2] = {{j->held, j->held_len}, {(void *)(uintptr_t)line, n}};
    size_t total = j->held_len + n;
    ssize_t w;
    while ((w = writev(j->fd, iov, 2)) < 0 && errno == EINTR)
        ;
    if (w < 0) {
        j->held_len = 0;
        return -1;
    }
    size_t done = (size_t)w;
    int rc = 0;
    if (done < j->held_len)
        rc = write_all(j->fd, j->held + done, j->held_len - done);
    if (rc == 0 && done < total) {
        size_t off = done > j->held_len ? done - j->held_len : 0;
        rc = write_all(j->fd, line + off, n - off);
    }
    if (rc == 0)
        j->len += (int64_t)total;
    j->held_len = 0;
    return rc;
}

/* Adds a line to the held ones; false when out of memory (the caller then
 * writes at once). */
static bool hold_line(ls_journal *j, const char *line, size_t n)
{
    if (j->held_cap - j->held_len < n) {
        size_t cap = j->held_cap ? j->held_cap : 4096;
        while (cap - j->held_len < n)
            cap *= 2;
        char *p = realloc(j->held, cap);
        if (p == NULL)
            return false;
        j->held = p;
        j->held_cap = cap;
    }
    memcpy(j->held + j->held_len, line, n);
    j->held_len += n;
    return true;
}

/* I/O ERRORS (journal.h): cuts back to what was fsynced; errno kept. */
static void journal_failed(ls_journal *j)
{
    int e = errno;
    j->held_len = 0; /* never written: nothing acted on them */
    if (ftruncate(j->fd, (off_t)j->synced_len) == 0)
        (void)fsync(j->fd);
    j->failed = true;
    j->dirty = false;
    errno = e;
}

/* Keeps a written line for the hook (journal.h).  0, or -1 (out of memory). */
static int pend_add(ls_journal *j, const char *line, size_t len)
{
    if (j->pend_len == 0)
        j->pend_first = j->seq + 1;
    if (j->pend_len + len > j->pend_cap) {
        size_t cap = j->pend_cap ? j->pend_cap : 4096;
        while (cap < j->pend_len + len)
            cap *= 2;
        char *p = realloc(j->pend, cap);
        if (p == NULL)
            return -1;
        j->pend = p;
        j->pend_cap = cap;
    }
    memcpy(j->pend + j->pend_len, line, len);
    j->pend_len += len;
    return 0;
}

/* Hands the pending lines to the hook: 0, or -1 with err. */
static int pend_flush(ls_journal *j, ls_error *err)
{
    if (j->hook == NULL)
        return 0;
    int rc = j->hook(j->hook_ud, j, j->pend, j->pend_len, j->pend_first, err);
    if (rc == 0)
        j->pend_len = 0;
    return rc == 0 ? 0 : -1;
}

static int refuse_failed(const ls_journal *j, ls_error *err)
{
    ls_error_set(err, noloc, "cannot write the journal in %s: an earlier write failed", j->dir);
    return -1;
}

int ls_journal_create(ls_journal *j, const char *state_dir, const char *run_id, bool dry_run,
                      ls_error *err)
{
    memset(j, 0, sizeof *j);
    j->fd = j->tip_fd = -1;
    j->dry_run = dry_run;
    if (!ls_journal_id_ok(run_id)) {
        ls_error_set(err, noloc, "bad run id '%s'", run_id);
        return -1;
    }
    int n = snprintf(j->dir, sizeof j->dir, "%s/runs/%s", state_dir, run_id);
    if (n < 0 || (size_t)n >= sizeof j->dir) {
        ls_error_set(err, noloc, "state directory path too long");
        return -1;
    }
    if (ls_journal_mkdirs(j->dir) != 0) {
        ls_error_set(err, noloc, "cannot create %s: %s", j->dir, strerror(errno));
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/journal.jsonl", j->dir);
    j->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        ls_error_set(err, noloc, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/journal.tip", j->dir);
    j->tip_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->tip_fd < 0 || write_tip_slot(j, 0) != 0 || write_tip_slot(j, 1) != 0) {
        ls_error_set(err, noloc, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    j->dirs_dirty = true;
    return 0;
}

/* Makes the run directory's entries durable (see journal.h). */
static void sync_dirs(ls_journal *j)
{
    if (!j->dirs_dirty)
        return;
    char parent[4096];
    parent_of(j->dir, parent, sizeof parent);
    if (j->blobs_made) {
        char blobs[4200];
        snprintf(blobs, sizeof blobs, "%s/blobs", j->dir);
        fsync_dir(blobs);
    }
    fsync_dir(j->dir);
    fsync_dir(parent);
    j->dirs_dirty = false;
}

int ls_journal_write_file(ls_journal *j, const char *name, const void *data, size_t len, ls_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", j->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ls_error_set(err, noloc, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        ls_error_set(err, noloc, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    j->dirs_dirty = true;
    return 0;
}

/* Writes a blob (journal.h) unless it is there already: a temporary file,
 * fsynced, renamed to its digest.  0, or -1 with errno. */
static int write_blob(ls_journal *j, const char *s, size_t len, const char hex[65])
{
    char path[4300], tmp[4300];
    snprintf(path, sizeof path, "%s/blobs", j->dir);
    if (!j->blobs_made) {
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        j->blobs_made = true;
        j->dirs_dirty = true;
    }
    snprintf(path, sizeof path, "%s/blobs/%s", j->dir, hex);
    if (access(path, F_OK) == 0)
        return 0; /* content-addressed: the same bytes */
    snprintf(tmp, sizeof tmp, "%s/blobs/.%s.tmp", j->dir, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, s, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        return -1;
    j->dirs_dirty = true;
    return 0;
}

/* Where the value being written sits in the line: keys and indexes. */
typedef struct line_ctx {
    ls_journal *j;
    ls_buf blobs;          /* ,{"at":[...],"sha256":...,"bytes":N} entries */
    int nblobs;
    int failed;            /* a blob could not be written (errno kept) */
    int err_no;
    struct { const char *key; size_t index; } at[CLIP_MAX_DEPTH + 2];
    int depth;
} line_ctx;

static void blob_out(line_ctx *c, ls_buf *b, ls_value v)
{
    char hex[65];
    unsigned char dg[32];
    ls_sha256 h;
    ls_sha256_init(&h);
    ls_sha256_update(&h, ls_str_ptr(v), ls_str_len(v));
    ls_sha256_final(&h, dg);
    ls_sha256_to_hex(dg, hex);
    if (write_blob(c->j, ls_str_ptr(v), ls_str_len(v), hex) != 0) {
        c->failed = 1;
        c->err_no = errno;
        return;
    }
    ls_buf_adds(b, "null");
    ls_buf_adds(&c->blobs, c->nblobs++ ? ",{\"at\":[" : "{\"at\":[");
    for (int i = 1; i <= c->depth; i++) {
        if (i > 1)
            ls_buf_addc(&c->blobs, ',');
        if (c->at[i].key)
            ls_buf_add_json_str(&c->blobs, c->at[i].key, strlen(c->at[i].key));
        else
            ls_buf_add_int(&c->blobs, (int64_t)c->at[i].index);
    }
    ls_buf_adds(&c->blobs, "],\"sha256\":\"");
    ls_buf_add(&c->blobs, hex, 64);
    ls_buf_adds(&c->blobs, "\",\"bytes\":");
    ls_buf_add_int(&c->blobs, (int64_t)ls_str_len(v));
    ls_buf_addc(&c->blobs, '}');
}

/* Appends the JSON of v, with every string longer than
 * LS_JOURNAL_INLINE_MAX sent to a blob and anything nested deeper than
 * CLIP_MAX_DEPTH replaced by a marker, without building a copy (every
 * event passes through here). */
static void add_value(line_ctx *c, ls_buf *b, ls_value v)
{
    if (c->depth > CLIP_MAX_DEPTH) {
        ls_buf_add_json_str(b, "…[too deep]", strlen("…[too deep]"));
    } else if (v.kind == LS_STRING && ls_str_len(v) > LS_JOURNAL_INLINE_MAX && c->j->fd >= 0) {
        blob_out(c, b, v);
    } else if (v.kind == LS_LIST) {
        ls_buf_addc(b, '[');
        c->depth++;
        for (size_t i = 0; i < ls_list_len(v); i++) {
            if (i)
                ls_buf_addc(b, ',');
            c->at[c->depth].key = NULL;
            c->at[c->depth].index = i;
            add_value(c, b, ls_list_at(v, i));
        }
        c->depth--;
        ls_buf_addc(b, ']');
    } else if (v.kind == LS_MAP) {
        ls_buf_addc(b, '{');
        c->depth++;
        for (size_t i = 0; i < ls_map_len(v); i++) {
            const char *k = ls_map_key_at(v, i);
            if (i)
                ls_buf_addc(b, ',');
            ls_buf_add_json_str(b, k, strlen(k));
            ls_buf_addc(b, ':');
            c->at[c->depth].key = k;
            add_value(c, b, ls_map_value_at(v, i));
        }
        c->depth--;
        ls_buf_addc(b, '}');
    } else {
        ls_buf_add_json(b, v);
    }
}

/* H = SHA-256(prev || body || tail): tail closes a line's body when it is
 * read back without copying it (journal.h). */
static void chain_hash2(const char *prev, const char *body, size_t len, const char *tail, char out[65])
{
    ls_sha256 s;
    unsigned char dg[32];
    ls_sha256_init(&s);
    ls_sha256_update(&s, prev, strlen(prev));
    ls_sha256_update(&s, body, len);
    ls_sha256_update(&s, tail, strlen(tail));
    ls_sha256_final(&s, dg);
    ls_sha256_to_hex(dg, out);
}

static void chain_hash(const char *prev, const char *body, size_t len, char out[65])
{
    chain_hash2(prev, body, len, "", out);
}

/* The line is {"seq":N,"ts":T,"event":E, the fields (redacted, long text
 * cut), "dry_run":true in a dry run} and then the hash, written straight
 * into one buffer: an event costs about as much as hashing it. */
int ls_journal_append(ls_journal *j, ls_event event, ls_value fields, char **line_out, ls_error *err)
{
    if (line_out)
        *line_out = NULL;
    if (j->failed)
        return refuse_failed(j, err);
    char ts[32];
    ls_journal_now_iso(ts);
    const char *ename = ls_event_name(event);
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    ls_buf_adds(&b, "{\"seq\":");
    ls_buf_add_int(&b, j->seq + 1);
    ls_buf_adds(&b, ",\"ts\":");
    ls_buf_add_json_str(&b, ts, strlen(ts));
    ls_buf_adds(&b, ",\"event\":");
    ls_buf_add_json_str(&b, ename, strlen(ename));
    ls_value red = ls_redact_value(fields);
    bool dry_done = false;
    line_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ls_value_free(red);
        ls_buf_free(&b);
        ls_error_set(err, noloc, "out of memory writing the journal");
        return -1;
    }
    c->j = j;
    ls_buf_init(&c->blobs, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < ls_map_len(red); i++) {
        const char *k = ls_map_key_at(red, i);
        if (strcmp(k, "seq") == 0 || strcmp(k, "ts") == 0 || strcmp(k, "event") == 0 ||
            strcmp(k, "blobs") == 0)
            continue; /* the envelope's own */
        ls_buf_addc(&b, ',');
        ls_buf_add_json_str(&b, k, strlen(k));
        ls_buf_addc(&b, ':');
        if (j->dry_run && strcmp(k, "dry_run") == 0) {
            ls_buf_adds(&b, "true");
            dry_done = true;
        } else {
            c->depth = 1;
            c->at[1].key = k;
            add_value(c, &b, ls_map_value_at(red, i));
        }
    }
    ls_value_free(red);
    if (j->dry_run && !dry_done)
        ls_buf_adds(&b, ",\"dry_run\":true");
    if (c->nblobs) {
        ls_buf_adds(&b, ",\"blobs\":[");
        ls_buf_add(&b, c->blobs.ptr, c->blobs.len);
        ls_buf_addc(&b, ']');
    }
    ls_buf_addc(&b, '}');
    int failed = c->failed, err_no = c->err_no, overflow = c->blobs.overflow;
    ls_buf_free(&c->blobs);
    free(c);
    if (failed) {
        ls_buf_free(&b);
        ls_error_set(err, noloc, "cannot write a result file in %s/blobs: %s", j->dir, strerror(err_no));
        return -1;
    }
    if (b.overflow || overflow || b.ptr == NULL) {
        ls_buf_free(&b);
        ls_error_set(err, noloc, "out of memory writing the journal");
        return -1;
    }
    char h[65];
    chain_hash(j->hash, b.ptr, b.len, h);
    b.len--; /* the closing brace goes after the hash */
    ls_buf_adds(&b, ",\"hash\":\"");
    ls_buf_add(&b, h, 64);
    ls_buf_adds(&b, "\"}\n");
    if (b.overflow) {
        ls_buf_free(&b);
        ls_error_set(err, noloc, "out of memory writing the journal");
        return -1;
    }
    size_t llen = b.len;
    char *line = ls_buf_steal(&b);
    if (j->hook && j->fd >= 0 && pend_add(j, line, llen) != 0) {
        ls_error_set(err, noloc, "out of memory writing the journal");
        free(line);
        return -1;
    }
    if (j->fd >= 0) {
        /* A decision waits for the next line (journal.h, DURABILITY); any
         * other line goes out now, with the decisions held before it. */
        bool decision = event == LS_EV_TRANSITION || event == LS_EV_STATE_ENTERED;
        int wrc = 0;
        if (!(decision && j->group && hold_line(j, line, llen)))
            wrc = write_with_held(j, line, llen);
        if (wrc != 0 || (!j->group && fsync(j->fd) != 0)) {
            journal_failed(j);
            ls_error_set(err, noloc, "cannot write the journal in %s: %s", j->dir, strerror(errno));
            free(line);
            return -1;
        }
        j->dirty = j->group;
    }
    j->seq++;
    memcpy(j->hash, h, sizeof h);
    if (j->fd >= 0 && !j->group) {
        sync_dirs(j);
        if (pend_flush(j, err) != 0) {
            errno = EIO;
            journal_failed(j);
            free(line);
            return -1;
        }
        if (write_tip(j) != 0) {
            journal_failed(j); /* the line is dropped: the tip could not say it was durable */
            ls_error_set(err, noloc, "cannot write the journal's tip in %s: %s", j->dir, strerror(errno));
            free(line);
            return -1;
        }
        j->synced_len = j->len;
    }
    line[llen - 1] = '\0';
    if (line_out)
        *line_out = line;
    else
        free(line);
    /* With a store, no action starts before its start is in the store
     * under a lease still held (journal.h). */
    if (j->hook && event == LS_EV_ACTION_STARTED && j->group && ls_journal_sync(j, err) != 0) {
        if (line_out) {
            free(*line_out);
            *line_out = NULL;
        }
        return -1;
    }
    return 0;
}

int ls_journal_sync(ls_journal *j, ls_error *err)
{
    if (j->failed)
        return refuse_failed(j, err);
    if (j->fd < 0 || !j->dirty) {
        if (j->fd >= 0 && j->hook && pend_flush(j, err) != 0) {
            errno = EIO;
            journal_failed(j);
            return -1;
        }
        return 0;
    }
    if (write_held(j) != 0 || fsync(j->fd) != 0) {
        journal_failed(j);
        ls_error_set(err, noloc, "cannot write the journal in %s: %s", j->dir, strerror(errno));
        return -1;
    }
    sync_dirs(j);
    j->dirty = false;
    if (pend_flush(j, err) != 0) {
        /* The store refused or was lost: what it does not hold was never
         * acted on, and is cut back here as after a failed fsync. */
        errno = EIO;
        journal_failed(j);
        return -1;
    }
    if (write_tip(j) != 0) {
        /* What the tip cannot vouch for is cut back, as after a failed
         * fsync: the engine acts only on what the tip names. */
        journal_failed(j);
        ls_error_set(err, noloc, "cannot write the journal's tip in %s: %s", j->dir, strerror(errno));
        return -1;
    }
    j->synced_len = j->len;
    return 0;
}

void ls_journal_close(ls_journal *j)
{
    /* The runner synced and reported already; this is a backstop.  With a
     * hook (the run store) it is a sync like any other, so that the tip
     * never names lines the store was not given. */
    if (j->fd >= 0 && !j->failed && j->hook && (j->dirty || j->held_len > 0)) {
        ls_error e;
        ls_error_clear(&e);
        (void)ls_journal_sync(j, &e);
    }
    if (j->fd >= 0 && !j->failed && write_held(j) != 0)
        journal_failed(j);
    free(j->held);
    j->held = NULL;
    j->held_len = j->held_cap = 0;
    if (j->fd >= 0 && !j->failed && j->dirty && !j->hook && fsync(j->fd) == 0) {
        j->dirty = false;
        (void)write_tip(j);
    }
    if (j->fd >= 0) {
        sync_dirs(j);
        close(j->fd);
    }
    if (j->tip_fd >= 0) {
        (void)fsync(j->tip_fd);
        close(j->tip_fd);
    }
    j->fd = j->tip_fd = -1;
    free(j->pend);
    j->pend = NULL;
    j->pend_len = j->pend_cap = 0;
}

/* Reads a whole file (bounded); malloc'd, NUL-terminated. */
static char *slurp(const char *path, size_t *len, ls_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ls_error_set(err, noloc, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    ls_buf b;
    ls_buf_init(&b, (size_t)1 << 30);
    char tmp[65536];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ls_error_set(err, noloc, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            ls_buf_free(&b);
            return NULL;
        }
        if (r == 0)
            break;
        if (ls_buf_add(&b, tmp, (size_t)r) != 0) {
            ls_error_set(err, noloc, "%s is too large", path);
            close(fd);
            ls_buf_free(&b);
            return NULL;
        }
    }
    close(fd);
    *len = b.len;
    char *s = ls_buf_steal(&b);
    if (s == NULL)
        ls_error_set(err, noloc, "out of memory reading %s", path);
    return s;
}

static int64_t line_seq(const char *line, size_t len)
{
    static const char pre[] = "{\"seq\":";
    size_t pl = sizeof pre - 1;
    if (len < pl || memcmp(line, pre, pl) != 0)
        return -1;
    int64_t v = 0;
    for (size_t i = pl; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        if (v > INT64_MAX / 10 - 10)
            return -1;
        v = v * 10 + (line[i] - '0');
    }
    return v;
}

static bool is_hex64(const char *p)
{
    for (int i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

static int run_dir_of(const char *state_dir, const char *run_id, char *dir, size_t dirlen, ls_error *err)
{
    if (!ls_journal_id_ok(run_id)) {
        ls_error_set(err, noloc, "bad run id '%s'", run_id);
        return -1;
    }
    int n = snprintf(dir, dirlen, "%s/runs/%s", state_dir, run_id);
    if (n < 0 || (size_t)n >= dirlen) {
        ls_error_set(err, noloc, "state directory path too long");
        return -1;
    }
    return 0;
}

static char *journal_text(const char *state_dir, const char *run_id, size_t *len, ls_error *err)
{
    char dir[4096], path[4200];
    if (run_dir_of(state_dir, run_id, dir, sizeof dir, err) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    if (access(path, F_OK) != 0) {
        ls_error_set(err, noloc, "no run '%s' in %s", run_id, state_dir);
        return NULL;
    }
    return slurp(path, len, err);
}

/* Reads blob HEX of the run directory whole, checking its size and digest.
 * A new string, or null with why[]. */
static ls_value read_blob(const char *dir, const char *hex, int64_t bytes, char *why, size_t whylen)
{
    char path[4300];
    if (strlen(hex) != 64 || !is_hex64(hex)) {
        snprintf(why, whylen, "a blob reference is malformed");
        return ls_null();
    }
    snprintf(path, sizeof path, "%s/blobs/%s", dir, hex);
    ls_error e;
    ls_error_clear(&e);
    size_t len = 0;
    char *text = slurp(path, &len, &e);
    if (text == NULL) {
        snprintf(why, whylen, "result file blobs/%.12s... is missing or unreadable", hex);
        return ls_null();
    }
    unsigned char dg[32];
    char got[65];
    ls_sha256 h;
    ls_sha256_init(&h);
    ls_sha256_update(&h, text, len);
    ls_sha256_final(&h, dg);
    ls_sha256_to_hex(dg, got);
    if ((int64_t)len != bytes || strcmp(got, hex) != 0) {
        free(text);
        snprintf(why, whylen, "result file blobs/%.12s... was altered (its SHA-256 does not match)", hex);
        return ls_null();
    }
    ls_value v = ls_string_n(text, len);
    free(text);
    return v;
}

/* v with the value at at[i..] replaced by `put` (taken): containers along
 * the path are copied shallowly (values shared), so v stays as it was. */
static ls_value put_at(ls_value v, ls_value at, size_t i, ls_value put, bool *ok)
{
    if (i == ls_list_len(at))
        return put;
    ls_value k = ls_list_at(at, i);
    if (v.kind == LS_MAP && k.kind == LS_STRING && ls_map_has(v, ls_str_ptr(k))) {
        ls_value m = ls_map_clone(v);
        ls_map_set(&m, ls_str_ptr(k), put_at(ls_map_get(v, ls_str_ptr(k)), at, i + 1, put, ok));
        return m;
    }
    if (v.kind == LS_LIST && k.kind == LS_INT && k.u.i >= 0 && (size_t)k.u.i < ls_list_len(v)) {
        ls_value l = ls_list_new();
        for (size_t x = 0; x < ls_list_len(v); x++)
            ls_list_push(&l, (int64_t)x == k.u.i ? put_at(ls_list_at(v, x), at, i + 1, put, ok)
                                                 : ls_value_copy(ls_list_at(v, x)));
        return l;
    }
    *ok = false;
    ls_value_free(put);
    return ls_value_copy(v);
}

/* Puts an event's blobs back (journal.h).  0, or -1 with why[]. */
static int restore_blobs(const char *dir, ls_value *ev, char *why, size_t whylen)
{
    ls_value blobs = ls_map_get(*ev, "blobs");
    if (blobs.kind == LS_NULL)
        return 0;
    if (blobs.kind != LS_LIST) {
        snprintf(why, whylen, "its blobs field is not a list");
        return -1;
    }
    blobs = ls_value_copy(blobs);
    int rc = 0;
    for (size_t i = 0; i < ls_list_len(blobs) && rc == 0; i++) {
        ls_value b = ls_list_at(blobs, i);
        ls_value at = ls_map_get(b, "at"), sha = ls_map_get(b, "sha256"), n = ls_map_get(b, "bytes");
        if (at.kind != LS_LIST || ls_list_len(at) == 0 || sha.kind != LS_STRING || n.kind != LS_INT) {
            snprintf(why, whylen, "a blob reference is malformed");
            rc = -1;
            break;
        }
        ls_value put = read_blob(dir, ls_str_ptr(sha), n.u.i, why, whylen);
        if (put.kind == LS_NULL) {
            rc = -1;
            break;
        }
        bool ok = true;
        ls_value nv = put_at(*ev, at, 0, put, &ok);
        ls_value_free(*ev);
        *ev = nv;
        if (!ok) {
            snprintf(why, whylen, "a blob reference points nowhere");
            rc = -1;
        }
    }
    ls_value_free(blobs);
    if (rc == 0) {
        ls_value m = ls_map_clone(*ev);
        ls_map_del(&m, "blobs");
        ls_value_free(*ev);
        *ev = m;
    }
    return rc;
}

/* Reads up to `want` bytes at `off` of the file; the count read, or -1. */
static ssize_t read_at(int fd, char *buf, size_t want, off_t off)
{
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The event whose line is text[0..n), or null. */
static ls_value event_of_line(const char *dir, const char *line, size_t n)
{
    ls_value ev;
    char msg[128];
    if (!ls_value_from_json(line, n, &ev, msg, sizeof msg) || ev.kind != LS_MAP) {
        ls_value_free(ev);
        return ls_null();
    }
    if (restore_blobs(dir, &ev, msg, sizeof msg) != 0) {
        ls_value_free(ev);
        return ls_null();
    }
    return ev;
}

int ls_journal_ends(const char *state_dir, const char *run_id, ls_value *first, ls_value *last, ls_error *err)
{
    *first = *last = ls_null();
    char dir[4096], path[4200];
    if (run_dir_of(state_dir, run_id, dir, sizeof dir, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ls_error_set(err, noloc, "cannot open %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* The head: the first line, however long. */
    ls_buf b;
    ls_buf_init(&b, (size_t)1 << 30);
    char chunk[16384];
    off_t off = 0;
    const char *nl = NULL;
    for (;;) {
        ssize_t r = read_at(fd, chunk, sizeof chunk, off);
        if (r <= 0)
            break;
        ls_buf_add(&b, chunk, (size_t)r);
        off += r;
        if ((nl = memchr(b.ptr, '\n', b.len)) != NULL || (size_t)r < sizeof chunk)
            break;
    }
    if (nl != NULL && (*first = event_of_line(dir, b.ptr, (size_t)(nl - b.ptr))).kind == LS_NULL) {
        ls_buf_free(&b);
        close(fd);
        ls_error_set(err, noloc, "journal of run %s, line 1: not a JSON object (lockstep status --verify %s)",
                     run_id, run_id);
        return -1;
    }
    /* The tail: grow a window back from the end until it holds a whole
     * line after the last newline but one. */
    size_t win = sizeof chunk;
    while (nl != NULL) {
        off_t size = sb.st_size;
        off_t at = size > (off_t)win ? size - (off_t)win : 0;
        ls_buf_reset(&b);
        char *tmp = malloc(win);
        ssize_t r = tmp ? read_at(fd, tmp, (size_t)(size - at), at) : -1;
        if (r > 0)
            ls_buf_add(&b, tmp, (size_t)r);
        free(tmp);
        if (r <= 0 || b.ptr == NULL)
            break;
        size_t end = b.len;
        while (end > 0 && b.ptr[end - 1] != '\n')
            end--; /* a torn last line is not an event */
        if (end == 0 && at > 0) {
            win *= 4;
            continue;
        }
        size_t start = end ? end - 1 : 0;
        while (start > 0 && b.ptr[start - 1] != '\n')
            start--;
        if (start == 0 && at > 0) {
            win *= 4; /* the last line is longer than the window */
            continue;
        }
        if (end > start)
            *last = event_of_line(dir, b.ptr + start, end - 1 - start);
        break;
    }
    ls_buf_free(&b);
    close(fd);
    return 0;
}

/* One slot of the tip: true with *seq and hash when it is whole and checks. */
static bool tip_slot(const char *rec, int64_t *seq, char hash[65])
{
    char r[TIP_LEN + 1];
    if (rec[TIP_LEN - 1] != '\n')
        return false;
    memcpy(r, rec, TIP_LEN);
    r[TIP_LEN] = '\0';
    long long s = -1;
    char h[70] = "";
    unsigned long long chk = 0;
    int used = 0;
    if (sscanf(r, "tip 1 %lld %66s %n", &s, h, &used) != 2 || s < 0 || used <= 0)
        return false;
    if (s == 0 ? strcmp(h, "-") != 0 : (strlen(h) != 64 || !is_hex64(h)))
        return false;
    /* the text the check covers ends before " CHECK" */
    char *last = r + used;
    while (*last == ' ')
        last++;
    if (sscanf(last, "%16llx", &chk) != 1)
        return false;
    size_t covered = (size_t)(last - r);
    while (covered > 0 && r[covered - 1] == ' ')
        covered--;
    if (tip_check(r, covered) != chk)
        return false;
    *seq = s;
    if (s == 0)
        hash[0] = '\0';
    else
        memcpy(hash, h, 65); /* 64 hex digits and the NUL, checked above */
    return true;
}

/* The tip (journal.h): 0 and *seq, hash of the slot that names the later
 * line; 1 when there is no tip; -1 when it cannot be read or neither slot
 * is whole. */
static int read_tip(const char *dir, int64_t *seq, char hash[65])
{
    char path[4200], rec[2 * TIP_LEN];
    snprintf(path, sizeof path, "%s/journal.tip", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    ssize_t r = read_at(fd, rec, sizeof rec, 0);
    close(fd);
    if (r != (ssize_t)sizeof rec)
        return -1;
    int64_t s0 = -1, s1 = -1;
    char h0[65], h1[65];
    bool ok0 = tip_slot(rec, &s0, h0), ok1 = tip_slot(rec + TIP_LEN, &s1, h1);
    if (!ok0 && !ok1)
        return -1;
    bool use1 = ok1 && (!ok0 || s1 > s0);
    *seq = use1 ? s1 : s0;
    memcpy(hash, use1 ? h1 : h0, 65);
    return 0;
}

/* A whole line's event with its blobs put back: 0 and *ev (owned), or 1
 * with why (not a JSON object, or a blob missing or altered). */
static int line_event(const char *dir, const char *line, size_t n, size_t lineno, ls_value *ev, char *why,
                      size_t whylen)
{
    char msg[256];
    if (!ls_value_from_json(line, n, ev, msg, sizeof msg) || ev->kind != LS_MAP) {
        ls_value_free(*ev);
        *ev = ls_null();
        snprintf(why, whylen, "line %zu is not a JSON object", lineno);
        return 1;
    }
    if (restore_blobs(dir, ev, msg, sizeof msg) != 0) {
        ls_value_free(*ev);
        *ev = ls_null();
        snprintf(why, whylen, "line %zu: %s", lineno, msg);
        return 1;
    }
    return 0;
}

/* Checks every blob a whole line names (journal.h).  0, or 1 with why. */
static int check_line_blobs(const char *dir, const char *line, size_t n, size_t lineno, char *why, size_t whylen)
{
    if (memmem(line, n, "\"blobs\":[", 9) == NULL)
        return 0;
    ls_value ev;
    int rc = line_event(dir, line, n, lineno, &ev, why, whylen);
    ls_value_free(ev);
    return rc;
}

/* What is done with each whole line once its hash is checked: 0, or 1
 * with why (the line is bad). */
typedef int (*line_fn)(void *ud, const char *dir, const char *line, size_t n, size_t lineno, char *why,
                       size_t whylen);

static int blobs_of_line(void *ud, const char *dir, const char *line, size_t n, size_t lineno, char *why,
                         size_t whylen)
{
    (void)ud;
    return check_line_blobs(dir, line, n, lineno, why, whylen);
}

/* Walks the chain over text; returns 0 intact, 1 broken (c->bad_line,
 * c->why).  Gives the last whole line's seq and hash, and the hash of line
 * `at` (when at > 0 and there is such a line) in at_hash. */
static int verify_text(const char *dir, const char *text, size_t len, ls_journal_check *c, int64_t *last_seq,
                       char last_hash[65], int64_t at, char at_hash[65], line_fn each, void *ud)
{
    char prev[65] = "";
    size_t pos = 0, lineno = 0;
    c->lines = 0;
    c->torn = false;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL) {
            c->torn = true; /* judged against the tip by the caller */
            break;
        }
        lineno++;
        const char *line = text + pos;
        size_t n = (size_t)(nl - line);
        pos += n + 1;
        if (n < HASH_SUFFIX_LEN + 2 || memcmp(line + n - HASH_SUFFIX_LEN, ",\"hash\":\"", 9) != 0 ||
            !is_hex64(line + n - 66) || memcmp(line + n - 2, "\"}", 2) != 0) {
            c->bad_line = lineno;
            snprintf(c->why, sizeof c->why, "line %zu was altered: it does not end with its hash", lineno);
            return 1;
        }
        char h[65];
        chain_hash2(prev, line, n - HASH_SUFFIX_LEN, "}", h);
        int64_t seq = line_seq(line, n);
        if (memcmp(h, line + n - 66, 64) != 0) {
            c->bad_line = lineno;
            if (seq != (int64_t)lineno)
                snprintf(c->why, sizeof c->why,
                         "line %zu: expected seq %zu, found %lld: a line was removed, inserted or reordered",
                         lineno, lineno, (long long)seq);
            else
                snprintf(c->why, sizeof c->why, "line %zu (seq %lld) was altered: its hash does not match", lineno,
                         (long long)seq);
            return 1;
        }
        if (seq != (int64_t)lineno) {
            c->bad_line = lineno;
            snprintf(c->why, sizeof c->why, "line %zu: expected seq %zu, found %lld", lineno, lineno,
                     (long long)seq);
            return 1;
        }
        if (each(ud, dir, line, n, lineno, c->why, sizeof c->why) != 0) {
            c->bad_line = lineno;
            return 1;
        }
        memcpy(prev, h, sizeof h);
        if ((int64_t)lineno == at)
            memcpy(at_hash, h, sizeof h);
    }
    c->lines = lineno;
    if (last_seq)
        *last_seq = (int64_t)lineno;
    if (last_hash)
        memcpy(last_hash, prev, sizeof prev);
    return 0;
}

/* The whole check of journal.h: chain, blobs, tip.  0, 1 (c), -1 (err). */
static int check_journal(const char *dir, const char *text, size_t len, ls_journal_check *c, int64_t *last_seq,
                         char last_hash[65], line_fn each, void *ud)
{
    memset(c, 0, sizeof *c);
    int64_t tip_seq = 0;
    char tip_hash[65] = "", at_hash[65] = "";
    int t = read_tip(dir, &tip_seq, tip_hash);
    if (t != 0) {
        snprintf(c->why, sizeof c->why, "%s",
                 t > 0 ? "its tip record (journal.tip) is missing: the run directory is incomplete"
                       : "its tip record (journal.tip) is unreadable or malformed");
        return 1;
    }
    c->durable = tip_seq;
    if (verify_text(dir, text, len, c, last_seq, last_hash, tip_seq, at_hash, each, ud) != 0)
        return 1;
    if ((int64_t)c->lines < tip_seq) {
        c->bad_line = c->lines + 1;
        snprintf(c->why, sizeof c->why,
                 "it ends after line %zu%s, but %lld lines were made durable: it was cut (a partial copy, a "
                 "restored disk or a full disk)",
                 c->lines, c->torn ? " and a torn line" : "", (long long)tip_seq);
        return 1;
    }
    if (tip_seq > 0 && strcmp(at_hash, tip_hash) != 0) {
        c->bad_line = (size_t)tip_seq;
        snprintf(c->why, sizeof c->why,
                 "line %lld is not the line that was made durable (its hash differs from the tip record): "
                 "the journal was replaced or rewritten",
                 (long long)tip_seq);
        return 1;
    }
    return 0;
}

int ls_journal_verify(const char *state_dir, const char *run_id, ls_journal_check *c, ls_error *err)
{
    size_t len = 0;
    memset(c, 0, sizeof *c);
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/runs/%s", state_dir, run_id);
    int rc = check_journal(dir, text, len, c, NULL, NULL, blobs_of_line, NULL);
    free(text);
    return rc;
}

/* Each line parsed (blobs put back) and added to a fold. */
static int fold_line(void *ud, const char *dir, const char *line, size_t n, size_t lineno, char *why,
                     size_t whylen)
{
    ls_value ev;
    if (line_event(dir, line, n, lineno, &ev, why, whylen) != 0)
        return 1;
    char msg[256];
    int rc = ls_fold_add(ud, ev, msg, sizeof msg);
    ls_value_free(ev);
    if (rc != 0)
        snprintf(why, whylen, "%s", msg);
    return rc != 0;
}

int ls_journal_fold_run(const char *state_dir, const char *run_id, ls_fold *f, ls_error *err)
{
    ls_fold_init(f);
    size_t len = 0;
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    char dir[4096], why[512];
    snprintf(dir, sizeof dir, "%s/runs/%s", state_dir, run_id);
    size_t pos = 0, lineno = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL)
            break; /* a torn last line is not an event */
        size_t end = (size_t)(nl - text);
        if (fold_line(f, dir, text + pos, end - pos, ++lineno, why, sizeof why) != 0) {
            ls_error_set(err, noloc, "journal of run %s: %s", run_id, why);
            rc = -1;
        }
        pos = end + 1;
    }
    free(text);
    if (rc == 0 && ls_fold_end(f, why, sizeof why) != 0) {
        ls_error_set(err, noloc, "run %s: %s", run_id, why);
        rc = -1;
    }
    return rc;
}

int ls_journal_reopen(ls_journal *j, const char *state_dir, const char *run_id, ls_fold *f, ls_error *err)
{
    memset(j, 0, sizeof *j);
    j->fd = j->tip_fd = -1;
    ls_fold_init(f);
    size_t len = 0;
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    snprintf(j->dir, sizeof j->dir, "%s/runs/%s", state_dir, run_id);
    ls_journal_check c;
    int rc = check_journal(j->dir, text, len, &c, &j->seq, j->hash, fold_line, f);
    if (rc != 0) {
        free(text);
        ls_error_set(err, noloc,
                     "the journal of run %s is damaged: %s.  Nothing was resumed and nothing was changed: "
                     "lockstep cannot know what that run did past the damage.  Check the system by hand, "
                     "restore the run directory from a whole copy if there is one (lockstep status --verify "
                     "%s checks it), or start a new run",
                     run_id, c.why, run_id);
        return -1;
    }
    if (c.lines == 0) {
        free(text);
        ls_error_set(err, noloc,
                     "run %s recorded nothing (it was stopped before its first event): nothing ran, so there "
                     "is nothing to resume; start a new run",
                     run_id);
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/journal.jsonl", j->dir);
    /* A torn last line (the process died inside write()) is past the
     * durable tip: the engine never acted on it.  Drop it. */
    size_t whole = len;
    while (whole > 0 && text[whole - 1] != '\n')
        whole--;
    free(text);
    if (whole < len && truncate(path, (off_t)whole) != 0) {
        ls_error_set(err, noloc, "cannot drop the torn last line of %s: %s", path, strerror(errno));
        goto fail;
    }
    j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    snprintf(path, sizeof path, "%s/journal.tip", j->dir);
    j->tip_fd = j->fd >= 0 ? open(path, O_WRONLY | O_CLOEXEC) : -1;
    if (j->fd < 0 || j->tip_fd < 0) {
        ls_error_set(err, noloc, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    j->len = j->synced_len = (int64_t)whole;
    return 0;
fail:
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    return -1;
}

/* ---- the lock ---- */

static int lock_path(const char *state_dir, const char *name, const char *env, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/locks/%s@%s.lock", state_dir, name,
                     env != NULL && env[0] != '\0' ? env : "default");
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

static void read_holder(int fd, char *holder, size_t holderlen)
{
    char buf[512];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    buf[r > 0 ? r : 0] = '\0';
    char id[128] = "?", host[256] = "?";
    long pid = 0;
    if (sscanf(buf, "%127s %ld %255s", id, &pid, host) < 3) {
        snprintf(holder, holderlen, "run ? (pid ? on ?)");
        return;
    }
    snprintf(holder, holderlen, "run %s (pid %ld on %s)", id, pid, host);
}

int ls_lock_take(const char *state_dir, const char *name, const char *env, const char *run_id,
                 char *holder, size_t holderlen, ls_error *err)
{
    char dir[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/locks", state_dir);
    if (ls_journal_mkdirs(dir) != 0) {
        ls_error_set(err, noloc, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (lock_path(state_dir, name, env, path, sizeof path) != 0) {
        ls_error_set(err, noloc, "lock path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ls_error_set(err, noloc, "cannot open the lock %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            read_holder(fd, holder, holderlen);
            close(fd);
            return -2;
        }
        ls_error_set(err, noloc, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char host[256] = "?";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    char line[512];
    int n = snprintf(line, sizeof line, "%s %ld %s\n", run_id, (long)getpid(), host);
    if (ftruncate(fd, 0) != 0 || n < 0 || pwrite(fd, line, (size_t)n, 0) != (ssize_t)n) {
        ls_error_set(err, noloc, "cannot write the lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Not fsynced: the flock is the lock, and the kernel drops it with the
     * process; this line only names the holder for the message. */
    return fd;
}

void ls_lock_release(int fd)
{
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
}

bool ls_lock_held_by(const char *state_dir, const char *name, const char *env, const char *run_id)
{
    char path[4400];
    if (lock_path(state_dir, name, env, path, sizeof path) != 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[512];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    buf[r > 0 ? r : 0] = '\0';
    size_t idlen = strlen(run_id);
    bool named = strncmp(buf, run_id, idlen) == 0 && buf[idlen] == ' ';
    bool held = false;
    if (named) {
        if (flock(fd, LOCK_SH | LOCK_NB) != 0)
            held = errno == EWOULDBLOCK;
        else
            (void)flock(fd, LOCK_UN);
    }
    close(fd);
    return held;
}

bool ls_lock_holder(const char *state_dir, const char *name, const char *env, char *holder, size_t holderlen)
{
    char path[4400];
    holder[0] = '\0';
    if (lock_path(state_dir, name, env, path, sizeof path) != 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    /* A shared probe, dropped at once (as ls_lock_held_by does). */
    bool held = false;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        held = errno == EWOULDBLOCK;
    else
        (void)flock(fd, LOCK_UN);
    if (held)
        read_holder(fd, holder, holderlen);
    close(fd);
    return held;
}

/* ---- the local copy of a store's run (store.h) ---- */

char *ls_journal_text(const char *state_dir, const char *run_id, size_t *len, ls_error *err)
{
    return journal_text(state_dir, run_id, len, err);
}

static int no_line_check(void *ud, const char *dir, const char *line, size_t n, size_t lineno, char *why,
                         size_t whylen)
{
    (void)ud;
    (void)dir;
    (void)line;
    (void)n;
    (void)lineno;
    (void)why;
    (void)whylen;
    return 0;
}

int ls_journal_verify_text(const char *dir, const char *text, size_t len, ls_journal_check *c, char last_hash[65])
{
    memset(c, 0, sizeof *c);
    char h[65] = "";
    int64_t last = 0;
    int rc = verify_text(dir, text, len, c, &last, h, 0, NULL, dir ? blobs_of_line : no_line_check, NULL);
    c->durable = (int64_t)c->lines;
    if (last_hash)
        memcpy(last_hash, h, sizeof h);
    return rc;
}

/* Writes data to DIR/NAME via DIR/.NAME.tmp, fsynced, renamed. */
int ls_journal_replace_file(const char *dir, const char *name, const char *data, size_t len, ls_error *err)
{
    char path[4300], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        ls_error_set(err, noloc, "cannot write %s: %s", tmp, strerror(e));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        ls_error_set(err, noloc, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int ls_journal_adopt(const char *state_dir, const char *run_id, const char *text, size_t len, ls_error *err)
{
    char dir[4096];
    if (run_dir_of(state_dir, run_id, dir, sizeof dir, err) != 0)
        return -1;
    ls_journal_check c;
    ls_journal j;
    memset(&j, 0, sizeof j);
    j.fd = -1;
    if (ls_journal_verify_text(dir, text, len, &c, j.hash) != 0 || c.torn) {
        ls_error_set(err, noloc, "the store's journal of run %s is damaged: %s", run_id,
                     c.torn ? "its last line is cut" : c.why);
        return -1;
    }
    j.seq = (int64_t)c.lines;
    /* The new tip (naming the text's last line) is written beside first
     * and renamed in only after the journal it names (below). */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s/.journal.tip.tmp", dir);
    j.tip_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (j.tip_fd < 0 || write_tip_slot(&j, 0) != 0 || write_tip_slot(&j, 1) != 0 || fsync(j.tip_fd) != 0) {
        ls_error_set(err, noloc, "cannot write %s: %s", tmp, strerror(errno));
        if (j.tip_fd >= 0)
            close(j.tip_fd);
        unlink(tmp);
        return -1;
    }
    close(j.tip_fd);
    char path[4300];
    snprintf(path, sizeof path, "%s/journal.tip", dir);
    char old_tip[4300];
    snprintf(old_tip, sizeof old_tip, "%s/.journal.tip.old", dir);
    /* Old tip aside, new journal in, new tip in: at every step the tip on
     * disk (or its absence, which verify reports) matches the journal. */
    if ((rename(path, old_tip) != 0 && errno != ENOENT) ||
        ls_journal_replace_file(dir, "journal.jsonl", text, len, err) != 0 || rename(tmp, path) != 0) {
        if (err->msg[0] == '\0')
            ls_error_set(err, noloc, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    unlink(old_tip);
    fsync_dir(dir);
    return 0;
}
