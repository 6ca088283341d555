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

/* I/O ERRORS (journal.h): cuts back to what was fsynced; errno kept. */
static void journal_failed(ls_journal *j)
{
    int e = errno;
    if (ftruncate(j->fd, (off_t)j->synced_len) == 0)
        (void)fsync(j->fd);
    j->failed = true;
    j->dirty = false;
    errno = e;
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
    j->fd = -1;
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

/* A string longer than max, cut at a UTF-8 boundary and marked. */
static ls_value clip_string(const char *s, size_t len, size_t max)
{
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* never split a UTF-8 sequence */
    return ls_string_fmt("%.*s…[truncated %zu bytes]", (int)cut, s, len - cut);
}

/* Appends the JSON of v with every string longer than max cut (marked)
 * and anything nested deeper than CLIP_MAX_DEPTH replaced by a marker,
 * without building a clipped copy (every event passes through here). */
static void add_clipped(ls_buf *b, ls_value v, size_t max, int depth)
{
    if (depth > CLIP_MAX_DEPTH) {
        ls_buf_add_json_str(b, "…[too deep]", strlen("…[too deep]"));
    } else if (v.kind == LS_STRING && ls_str_len(v) > max) {
        ls_value cut = clip_string(ls_str_ptr(v), ls_str_len(v), max);
        ls_buf_add_json(b, cut);
        ls_value_free(cut);
    } else if (v.kind == LS_LIST) {
        ls_buf_addc(b, '[');
        for (size_t i = 0; i < ls_list_len(v); i++) {
            if (i)
                ls_buf_addc(b, ',');
            add_clipped(b, ls_list_at(v, i), max, depth + 1);
        }
        ls_buf_addc(b, ']');
    } else if (v.kind == LS_MAP) {
        ls_buf_addc(b, '{');
        for (size_t i = 0; i < ls_map_len(v); i++) {
            const char *k = ls_map_key_at(v, i);
            if (i)
                ls_buf_addc(b, ',');
            ls_buf_add_json_str(b, k, strlen(k));
            ls_buf_addc(b, ':');
            add_clipped(b, ls_map_value_at(v, i), max, depth + 1);
        }
        ls_buf_addc(b, '}');
    } else {
        ls_buf_add_json(b, v);
    }
}

static void chain_hash(const char *prev, const char *body, size_t len, char out[65])
{
    ls_sha256 s;
    unsigned char dg[32];
    ls_sha256_init(&s);
    ls_sha256_update(&s, prev, strlen(prev));
    ls_sha256_update(&s, body, len);
    ls_sha256_final(&s, dg);
    ls_sha256_to_hex(dg, out);
}

/* The line is {"seq":N,"ts":T,"event":E, the fields (redacted, long text
 * cut), "dry_run":true in a dry run} and then the hash, written straight
 * into one buffer: an event costs about as much as hashing it. */
int ls_journal_append(ls_journal *j, const char *event, ls_value fields, char **line_out, ls_error *err)
{
    if (line_out)
        *line_out = NULL;
    if (j->failed)
        return refuse_failed(j, err);
    char ts[32];
    ls_journal_now_iso(ts);
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    ls_buf_adds(&b, "{\"seq\":");
    ls_buf_add_int(&b, j->seq + 1);
    ls_buf_adds(&b, ",\"ts\":");
    ls_buf_add_json_str(&b, ts, strlen(ts));
    ls_buf_adds(&b, ",\"event\":");
    ls_buf_add_json_str(&b, event, strlen(event));
    ls_value red = ls_redact_value(fields);
    bool dry_done = false;
    for (size_t i = 0; i < ls_map_len(red); i++) {
        const char *k = ls_map_key_at(red, i);
        if (strcmp(k, "seq") == 0 || strcmp(k, "ts") == 0 || strcmp(k, "event") == 0)
            continue; /* the envelope's own */
        ls_buf_addc(&b, ',');
        ls_buf_add_json_str(&b, k, strlen(k));
        ls_buf_addc(&b, ':');
        if (j->dry_run && strcmp(k, "dry_run") == 0) {
            ls_buf_adds(&b, "true");
            dry_done = true;
        } else {
            add_clipped(&b, ls_map_value_at(red, i), LS_JOURNAL_TEXT_MAX, 1);
        }
    }
    ls_value_free(red);
    if (j->dry_run && !dry_done)
        ls_buf_adds(&b, ",\"dry_run\":true");
    ls_buf_addc(&b, '}');
    if (b.overflow || b.ptr == NULL) {
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
    if (j->fd >= 0) {
        if (write_all(j->fd, line, llen) != 0 || (!j->group && fsync(j->fd) != 0)) {
            journal_failed(j);
            ls_error_set(err, noloc, "cannot write the journal in %s: %s", j->dir, strerror(errno));
            free(line);
            return -1;
        }
        j->len += (int64_t)llen;
        j->dirty = j->group;
        if (!j->group) {
            j->synced_len = j->len;
            sync_dirs(j);
        }
    }
    j->seq++;
    memcpy(j->hash, h, sizeof h);
    line[llen - 1] = '\0';
    if (line_out)
        *line_out = line;
    else
        free(line);
    return 0;
}

int ls_journal_sync(ls_journal *j, ls_error *err)
{
    if (j->failed)
        return refuse_failed(j, err);
    if (j->fd < 0 || !j->dirty)
        return 0;
    if (fsync(j->fd) != 0) {
        journal_failed(j);
        ls_error_set(err, noloc, "cannot write the journal in %s: %s", j->dir, strerror(errno));
        return -1;
    }
    j->synced_len = j->len;
    sync_dirs(j);
    j->dirty = false;
    return 0;
}

void ls_journal_close(ls_journal *j)
{
    if (j->fd >= 0 && j->dirty)
        (void)fsync(j->fd); /* the runner synced and reported already; this is a backstop */
    if (j->fd >= 0) {
        sync_dirs(j);
        close(j->fd);
    }
    j->fd = -1;
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

static char *journal_text(const char *state_dir, const char *run_id, size_t *len, ls_error *err)
{
    if (!ls_journal_id_ok(run_id)) {
        ls_error_set(err, noloc, "bad run id '%s'", run_id);
        return NULL;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/runs/%s/journal.jsonl", state_dir, run_id);
    if (access(path, F_OK) != 0) {
        ls_error_set(err, noloc, "no run '%s' in %s", run_id, state_dir);
        return NULL;
    }
    return slurp(path, len, err);
}

int ls_journal_read(const char *state_dir, const char *run_id, ls_value *events, ls_error *err)
{
    size_t len = 0;
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    *events = ls_list_new();
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        if (end > pos) {
            ls_value ev;
            char msg[256];
            if (!ls_value_from_json(text + pos, end - pos, &ev, msg, sizeof msg) || ev.kind != LS_MAP) {
                if (ev.kind != LS_MAP)
                    ls_value_free(ev);
                if (nl == NULL)
                    break; /* a torn last line (crash mid-write) is not an event */
                ls_error_set(err, noloc, "journal of run %s, line %zu: not a JSON object", run_id, lineno);
                ls_value_free(*events);
                *events = ls_null();
                free(text);
                return -1;
            }
            ls_list_push(events, ev);
        }
        pos = end + 1;
    }
    free(text);
    return 0;
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

/* Walks the chain over text; returns 0 intact, 1 broken (bad_line, why). */
static int verify_text(const char *text, size_t len, size_t *bad_line, char *why, size_t whylen,
                       int64_t *last_seq, char last_hash[65])
{
    char prev[65] = "";
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        lineno++;
        if (nl == NULL) {
            *bad_line = lineno;
            snprintf(why, whylen, "line %zu is incomplete (no newline): the journal was cut or altered", lineno);
            return 1;
        }
        const char *line = text + pos;
        size_t n = (size_t)(nl - line);
        pos += n + 1;
        if (n < HASH_SUFFIX_LEN + 2 || memcmp(line + n - HASH_SUFFIX_LEN, ",\"hash\":\"", 9) != 0 ||
            !is_hex64(line + n - 66) || memcmp(line + n - 2, "\"}", 2) != 0) {
            *bad_line = lineno;
            snprintf(why, whylen, "line %zu was altered: it does not end with its hash", lineno);
            return 1;
        }
        char *body = malloc(n - HASH_SUFFIX_LEN + 2);
        if (body == NULL) {
            *bad_line = lineno;
            snprintf(why, whylen, "out of memory");
            return 1;
        }
        size_t blen = n - HASH_SUFFIX_LEN;
        memcpy(body, line, blen);
        body[blen] = '}';
        char h[65];
        chain_hash(prev, body, blen + 1, h);
        free(body);
        int64_t seq = line_seq(line, n);
        if (memcmp(h, line + n - 66, 64) != 0) {
            *bad_line = lineno;
            if (seq != (int64_t)lineno)
                snprintf(why, whylen,
                         "line %zu: expected seq %zu, found %lld: a line was removed, inserted or reordered",
                         lineno, lineno, (long long)seq);
            else
                snprintf(why, whylen, "line %zu (seq %lld) was altered: its hash does not match", lineno,
                         (long long)seq);
            return 1;
        }
        if (seq != (int64_t)lineno) {
            *bad_line = lineno;
            snprintf(why, whylen, "line %zu: expected seq %zu, found %lld", lineno, lineno, (long long)seq);
            return 1;
        }
        memcpy(prev, h, sizeof h);
    }
    if (last_seq)
        *last_seq = (int64_t)lineno;
    if (last_hash)
        memcpy(last_hash, prev, sizeof prev);
    return 0;
}

int ls_journal_verify(const char *state_dir, const char *run_id, size_t *bad_line, char *why,
                      size_t whylen, ls_error *err)
{
    size_t len = 0;
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    *bad_line = 0;
    if (whylen)
        why[0] = '\0';
    int rc = verify_text(text, len, bad_line, why, whylen, NULL, NULL);
    free(text);
    return rc;
}

int ls_journal_reopen(ls_journal *j, const char *state_dir, const char *run_id, ls_error *err)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    size_t len = 0;
    char *text = journal_text(state_dir, run_id, &len, err);
    if (text == NULL)
        return -1;
    snprintf(j->dir, sizeof j->dir, "%s/runs/%s", state_dir, run_id);
    char path[4200];
    snprintf(path, sizeof path, "%s/journal.jsonl", j->dir);
    /* A torn last line (the process died inside write()) was never
     * fsynced, so the engine never acted on it: drop it. */
    size_t whole = len;
    while (whole > 0 && text[whole - 1] != '\n')
        whole--;
    if (whole < len && truncate(path, (off_t)whole) != 0) {
        ls_error_set(err, noloc, "cannot drop the torn last line of %s: %s", path, strerror(errno));
        free(text);
        return -1;
    }
    size_t bad = 0;
    char why[512];
    int rc = verify_text(text, whole, &bad, why, sizeof why, &j->seq, j->hash);
    free(text);
    if (rc != 0) {
        ls_error_set(err, noloc, "the journal of run %s is damaged: %s", run_id, why);
        return -1;
    }
    j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (j->fd < 0) {
        ls_error_set(err, noloc, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    j->len = j->synced_len = (int64_t)whole;
    return 0;
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
