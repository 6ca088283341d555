/*
 * Text actions (SPEC 6): log.scan, env.check, time.window.
 *
 * log.scan compiles constant patterns once, at load time (its prepare
 * hook: a bad regex is a load error at the pattern's place); patterns
 * computed at run time are compiled when the state runs.
 *
 * env.check reads `.env`-style files: `KEY=value`, `export KEY=value`,
 * quotes, comments and blank lines.  In an example file `KEY=` (no value)
 * is required and `KEY=value` is optional with a default.  A key whose
 * value is empty counts as missing wherever it is looked up.
 *
 * time.window computes local time in an IANA zone by switching TZ for the
 * duration of one localtime_r/mktime call and restoring it.  LOCKSTEP_NOW
 * (ISO-8601, e.g. 2026-11-25T03:00:00Z) replaces the clock: a testing and
 * rehearsal aid.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "expr.h"
#include "registry.h"
#include "secret.h"

#define MAX_PATTERNS 256
#define ENV_FILE_MAX (4u << 20)
#define TICK_MS 200

/* ---- log.scan ------------------------------------------------------------- */

typedef struct scan_prep {
    size_t n;
    pcre2_code **code;
    char **src;
} scan_prep;

static void scan_prep_free(void *p)
{
    scan_prep *s = p;
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        pcre2_code_free(s->code[i]);
        free(s->src[i]);
    }
    free(s->code);
    free(s->src);
    free(s);
}

/* Compiles one pattern; NULL with msg on error. */
static pcre2_code *compile_one(const char *pat, size_t len, char *msg, size_t msglen)
{
    int ec = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
    if (c == NULL) {
        PCRE2_UCHAR m[160];
        pcre2_get_error_message(ec, m, sizeof m);
        snprintf(msg, msglen, "bad regex /%.*s/ at offset %zu: %s", (int)(len > 200 ? 200 : len), pat, (size_t)off,
                 (const char *)m);
    }
    return c;
}

static scan_prep *scan_prep_new(size_t n)
{
    scan_prep *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->code = calloc(n ? n : 1, sizeof *s->code);
    s->src = calloc(n ? n : 1, sizeof *s->src);
    if (s->code == NULL || s->src == NULL) {
        scan_prep_free(s);
        return NULL;
    }
    return s;
}

static int prepare_scan(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    const ls_tmpl *t = with ? ls_tmpl_map_get(with, "patterns") : NULL;
    if (t == NULL || !ls_tmpl_is_constant(t))
        return 0;
    ls_value v = ls_tmpl_constant(t);
    if (v.kind != LS_LIST) {
        ls_diag_error(d, ls_tmpl_loc(t), "log.scan: patterns must be a list of regexes");
        return -1;
    }
    size_t n = ls_list_len(v);
    if (n == 0 || n > MAX_PATTERNS) {
        ls_diag_error(d, ls_tmpl_loc(t), "log.scan: patterns must hold 1 to %d regexes", MAX_PATTERNS);
        return -1;
    }
    scan_prep *s = scan_prep_new(n);
    if (s == NULL) {
        ls_diag_error(d, loc, "log.scan: out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        ls_value p = ls_list_at(v, i);
        const ls_tmpl *pt = ls_tmpl_at(t, i);
        ls_loc ploc = pt ? ls_tmpl_loc(pt) : ls_tmpl_loc(t);
        if (p.kind != LS_STRING) {
            ls_diag_error(d, ploc, "log.scan: patterns[%zu] is %s, not a regex string", i,
                          ls_kind_name((ls_kind)p.kind));
            rc = -1;
            continue;
        }
        char msg[512];
        pcre2_code *c = compile_one(ls_str_ptr(p), ls_str_len(p), msg, sizeof msg);
        if (c == NULL) {
            ls_diag_error(d, ploc, "log.scan: %s", msg);
            rc = -1;
            continue;
        }
        s->code[s->n] = c;
        s->src[s->n] = strdup(ls_str_ptr(p));
        s->n++;
        if (s->src[s->n - 1] == NULL) {
            ls_diag_error(d, ploc, "log.scan: out of memory");
            rc = -1;
        }
    }
    if (rc != 0) {
        scan_prep_free(s);
        return -1;
    }
    *prep = s;
    return 0;
}

static ls_act_status act_log_scan(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    *result = ls_map_new();
    ls_value text = ls_map_get(call->inputs, "text");
    ls_value pats = ls_map_get(call->inputs, "patterns");
    ls_value maxv = ls_map_get(call->inputs, "max_matches");
    if (!ls_is_null(text) && text.kind != LS_STRING) {
        ls_error_set(err, none, "log.scan: text must be a string, not %s", ls_kind_name((ls_kind)text.kind));
        return LS_ACT_FAILED;
    }
    int64_t max = maxv.kind == LS_INT ? maxv.u.i : 100;
    if (max < 0)
        max = 0;

    scan_prep *own = NULL;
    scan_prep *s = call->prep;
    if (s == NULL) {
        if (pats.kind != LS_LIST || ls_list_len(pats) > MAX_PATTERNS) {
            ls_error_set(err, none, "log.scan: patterns must be a list of at most %d regexes", MAX_PATTERNS);
            return LS_ACT_FAILED;
        }
        own = s = scan_prep_new(ls_list_len(pats));
        if (s == NULL) {
            ls_error_set(err, none, "log.scan: out of memory");
            return LS_ACT_FAILED;
        }
        for (size_t i = 0; i < ls_list_len(pats); i++) {
            ls_value p = ls_list_at(pats, i);
            char msg[512];
            if (p.kind != LS_STRING) {
                ls_error_set(err, none, "log.scan: patterns[%zu] is %s, not a regex string", i,
                             ls_kind_name((ls_kind)p.kind));
                scan_prep_free(own);
                return LS_ACT_FAILED;
            }
            pcre2_code *c = compile_one(ls_str_ptr(p), ls_str_len(p), msg, sizeof msg);
            if (c == NULL) {
                ls_error_set(err, none, "log.scan: patterns[%zu]: %s", i, msg);
                scan_prep_free(own);
                return LS_ACT_FAILED;
            }
            s->code[s->n] = c;
            s->src[s->n] = strdup(ls_str_ptr(p));
            s->n++;
            if (s->src[s->n - 1] == NULL) {
                ls_error_set(err, none, "log.scan: out of memory");
                scan_prep_free(own);
                return LS_ACT_FAILED;
            }
        }
    }

    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (md == NULL) {
        scan_prep_free(own);
        ls_error_set(err, none, "log.scan: out of memory");
        return LS_ACT_FAILED;
    }
    const char *t = ls_str_ptr(text);
    size_t len = ls_str_len(text);
    int64_t count = 0;
    ls_value matches = ls_list_new();
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && t[j] != '\n')
            j++;
        size_t e = j;
        if (e > i && t[e - 1] == '\r')
            e--;
        for (size_t k = 0; k < s->n; k++) {
            int rc = pcre2_match(s->code[k], (PCRE2_SPTR)(t + i), e - i, 0, 0, md, NULL);
            if (rc >= 0) {
                count++;
                if ((int64_t)ls_list_len(matches) < max) {
                    ls_value m = ls_map_new();
                    ls_map_set(&m, "pattern", ls_string(s->src[k]));
                    ls_map_set(&m, "line", ls_string_n(t + i, e - i));
                    ls_list_push(&matches, m);
                }
                break; /* one entry per line: the first pattern that matches */
            }
        }
        i = j + 1;
    }
    pcre2_match_data_free(md);
    scan_prep_free(own);
    ls_map_set(result, "matched", ls_bool(count > 0));
    ls_map_set(result, "count", ls_int(count));
    ls_map_set(result, "matches", matches);
    return LS_ACT_OK;
}

/* ---- env.check ------------------------------------------------------------ */

/* Reads a file whole (bounded).  NULL with err. */
static char *read_file(const char *path, size_t *len, const char *who, ls_error *err)
{
    ls_loc none = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ls_error_set(err, none, "%s: cannot read '%s': %s", who, path, strerror(errno));
        return NULL;
    }
    ls_buf b;
    ls_buf_init(&b, ENV_FILE_MAX);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ls_buf_add(&b, chunk, n) != 0) {
            fclose(f);
            ls_buf_free(&b);
            ls_error_set(err, none, "%s: '%s' is larger than %u bytes", who, path, ENV_FILE_MAX);
            return NULL;
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        ls_buf_free(&b);
        ls_error_set(err, none, "%s: cannot read '%s'", who, path);
        return NULL;
    }
    *len = b.len;
    if (b.len == 0) {
        ls_buf_free(&b);
        return strdup("");
    }
    return ls_buf_steal(&b);
}

static bool key_char(char c, bool first)
{
    return c == '_' || isalpha((unsigned char)c) || (!first && (isdigit((unsigned char)c) || c == '.' || c == '-'));
}

/* Parses `.env` text into a map KEY -> value (string).  Lines that are not
 * assignments are errors naming the line. */
static int parse_env_text(const char *t, size_t len, const char *path, ls_value *out, ls_error *err)
{
    ls_loc none = {0};
    *out = ls_map_new();
    size_t lineno = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && t[j] != '\n')
            j++;
        lineno++;
        size_t a = i, e = j;
        i = j + 1;
        while (a < e && (t[a] == ' ' || t[a] == '\t'))
            a++;
        while (e > a && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r'))
            e--;
        if (a == e || t[a] == '#')
            continue;
        if (e - a > 7 && strncmp(t + a, "export", 6) == 0 && (t[a + 6] == ' ' || t[a + 6] == '\t')) {
            a += 7;
            while (a < e && (t[a] == ' ' || t[a] == '\t'))
                a++;
        }
        size_t k = a;
        while (k < e && key_char(t[k], k == a))
            k++;
        size_t keyend = k;
        while (k < e && (t[k] == ' ' || t[k] == '\t'))
            k++;
        if (keyend == a || k >= e || t[k] != '=') {
            ls_error_set(err, none, "env.check: %s:%zu: expected KEY=value", path, lineno);
            ls_value_free(*out);
            *out = ls_null();
            return -1;
        }
        char key[256];
        size_t kl = keyend - a < sizeof key - 1 ? keyend - a : sizeof key - 1;
        memcpy(key, t + a, kl);
        key[kl] = '\0';
        size_t v = k + 1;
        while (v < e && (t[v] == ' ' || t[v] == '\t'))
            v++;
        size_t ve = e;
        if (v < ve && (t[v] == '"' || t[v] == '\'')) {
            char q = t[v];
            size_t c = v + 1;
            while (c < ve && t[c] != q)
                c++;
            ls_map_set(out, key, ls_string_n(t + v + 1, c - v - 1));
            continue;
        }
        for (size_t c = v; c < ve; c++) /* an unquoted value ends at " #" */
            if (t[c] == '#' && c > v && (t[c - 1] == ' ' || t[c - 1] == '\t')) {
                ve = c;
                break;
            }
        while (ve > v && (t[ve - 1] == ' ' || t[ve - 1] == '\t'))
            ve--;
        ls_map_set(out, key, ls_string_n(t + v, ve - v));
    }
    return 0;
}

static int load_env_file(const char *path, ls_value *out, ls_error *err)
{
    size_t len = 0;
    char *t = read_file(path, &len, "env.check", err);
    if (t == NULL)
        return -1;
    int rc = parse_env_text(t, len, path, out, err);
    free(t);
    return rc;
}

static bool str_in(ls_value list, const char *s)
{
    for (size_t i = 0; i < ls_list_len(list); i++)
        if (strcmp(ls_str_ptr(ls_list_at(list, i)), s) == 0)
            return true;
    return false;
}

static ls_act_status act_env_check(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    *result = ls_map_new();
    ls_value in = call->inputs;
    ls_value required = ls_map_get(in, "required");
    ls_value example = ls_map_get(in, "example_file");
    ls_value env_file = ls_map_get(in, "env_file");
    ls_value keys = ls_map_get(in, "keys");
    ls_value want = ls_list_new(), have = ls_null();
    ls_act_status st = LS_ACT_FAILED;

    if (ls_is_null(required) && ls_is_null(example)) {
        ls_error_set(err, none, "env.check: give required (a list of keys) or example_file");
        goto out;
    }
    if (!ls_is_null(required)) {
        if (required.kind != LS_LIST) {
            ls_error_set(err, none, "env.check: required must be a list of key names");
            goto out;
        }
        for (size_t i = 0; i < ls_list_len(required); i++) {
            ls_value k = ls_list_at(required, i);
            if (k.kind != LS_STRING || ls_str_len(k) == 0) {
                ls_error_set(err, none, "env.check: required[%zu] must be a non-empty string", i);
                goto out;
            }
            if (!str_in(want, ls_str_ptr(k)))
                ls_list_push(&want, ls_value_copy(k));
        }
    }
    if (!ls_is_null(example)) {
        ls_value ex;
        if (example.kind != LS_STRING) {
            ls_error_set(err, none, "env.check: example_file must be a path");
            goto out;
        }
        if (load_env_file(ls_str_ptr(example), &ex, err))
            goto out;
        for (size_t i = 0; i < ls_map_len(ex); i++)
            if (ls_str_len(ls_map_value_at(ex, i)) == 0 && !str_in(want, ls_map_key_at(ex, i)))
                ls_list_push(&want, ls_string(ls_map_key_at(ex, i)));
        ls_value_free(ex);
    }
    if (!ls_is_null(env_file) && !ls_is_null(keys)) {
        ls_error_set(err, none, "env.check: give at most one of env_file and keys");
        goto out;
    }
    if (!ls_is_null(env_file)) {
        if (env_file.kind != LS_STRING) {
            ls_error_set(err, none, "env.check: env_file must be a path");
            goto out;
        }
        if (load_env_file(ls_str_ptr(env_file), &have, err))
            goto out;
    } else if (!ls_is_null(keys)) {
        if (keys.kind == LS_MAP) {
            have = ls_value_copy(keys);
        } else if (keys.kind == LS_LIST) {
            have = ls_map_new();
            for (size_t i = 0; i < ls_list_len(keys); i++) {
                ls_value k = ls_list_at(keys, i);
                if (k.kind != LS_STRING) {
                    ls_error_set(err, none, "env.check: keys[%zu] must be a string", i);
                    goto out;
                }
                ls_map_set(&have, ls_str_ptr(k), ls_bool(true));
            }
        } else {
            ls_error_set(err, none, "env.check: keys must be a list of names or a map whose keys are the names");
            goto out;
        }
    }

    ls_value missing = ls_list_new(), present = ls_list_new();
    for (size_t i = 0; i < ls_list_len(want); i++) {
        const char *k = ls_str_ptr(ls_list_at(want, i));
        bool ok;
        if (ls_is_null(have)) {
            const char *v = getenv(k);
            ok = v != NULL && v[0] != '\0';
        } else {
            ls_value v = ls_map_get(have, k);
            ok = ls_map_has(have, k) && !(v.kind == LS_STRING && ls_str_len(v) == 0) && !ls_is_null(v);
        }
        ls_list_push(ok ? &present : &missing, ls_string(k));
    }
    size_t nmiss = ls_list_len(missing);
    if (nmiss > 0) {
        ls_buf b;
        ls_buf_init(&b, 900);
        for (size_t i = 0; i < nmiss; i++)
            ls_buf_printf(&b, "%s%s", i ? ", " : "", ls_str_ptr(ls_list_at(missing, i)));
        const char *where = !ls_is_null(env_file) ? ls_str_ptr(env_file) : !ls_is_null(keys) ? "the given keys"
                                                                                              : "the environment";
        ls_error_set(err, none, "env.check: %zu missing from %s: %s%s", nmiss, where, ls_buf_str(&b),
                     b.overflow ? "..." : "");
        ls_buf_free(&b);
    } else {
        st = LS_ACT_OK;
    }
    ls_map_set(result, "missing", missing);
    ls_map_set(result, "present", present);
out:
    ls_value_free(want);
    ls_value_free(have);
    return st;
}

static int prepare_env_check(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    bool r = with && ls_tmpl_map_get(with, "required") != NULL;
    bool x = with && ls_tmpl_map_get(with, "example_file") != NULL;
    bool f = with && ls_tmpl_map_get(with, "env_file") != NULL;
    bool k = with && ls_tmpl_map_get(with, "keys") != NULL;
    if (!r && !x) {
        ls_diag_error(d, loc, "env.check: give required (a list of keys) or example_file");
        return -1;
    }
    if (f && k) {
        ls_diag_error(d, loc, "env.check: give at most one of env_file and keys");
        return -1;
    }
    return 0;
}

/* ---- time.window ---------------------------------------------------------- */

static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* "mon", "Monday", "TUE" -> 0..6 (Sunday 0); -1 when not a day. */
static int day_index(const char *s)
{
    size_t n = strlen(s);
    if (n < 3)
        return -1;
    static const char *const full[] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
    for (int i = 0; i < 7; i++)
        if ((n == 3 && strncasecmp(s, day_names[i], 3) == 0) || strcasecmp(s, full[i]) == 0)
            return i;
    return -1;
}

/* "HH:MM" -> minutes of the day; -1 when malformed. */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* The zone exists: UTC always, else a readable file under TZDIR or
 * /usr/share/zoneinfo (the tzdata package).  Relative names only. */
static bool zone_exists(const char *tz)
{
    if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0)
        return true;
    if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL || tz[0] == ':')
        return false;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Runs localtime_r (or mktime when `from_tm`) in zone `tz`, restoring TZ. */
static void in_zone(const char *tz, time_t *t, struct tm *tm, bool from_tm)
{
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZ", strcmp(tz, "UTC") == 0 ? "UTC0" : tz, 1);
    tzset();
    if (from_tm)
        *t = mktime(tm);
    else
        localtime_r(t, tm);
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

/* ISO-8601 with offset, e.g. 2026-11-25T04:00:00+01:00. */
static ls_value iso_local(const struct tm *tm)
{
    long off = tm->tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    return ls_string_fmt("%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm->tm_year + 1900, tm->tm_mon + 1,
                         tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, sign, off / 3600, (off % 3600) / 60);
}

/* LOCKSTEP_NOW: "YYYY-MM-DDTHH:MM[:SS](Z|+HH:MM|-HH:MM)".  0 or -1. */
static int parse_now(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5)
        return -1;
    const char *p = s + n;
    if (*p == ':') {
        int m2 = 0;
        if (sscanf(p, ":%2d%n", &sec, &m2) != 1)
            return -1;
        p += m2;
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m3 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m3) != 2)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 1 + m3;
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - off;
    return 0;
}

typedef struct window {
    int start, end;     /* minutes of the day */
    unsigned days;      /* bit per day (Sunday bit 0); 0x7f: every day */
    const char *tz;
} window;

/* Is local time `tm` inside?  A window that crosses midnight belongs to the
 * day it opened on: 22:00-02:00 on [mon] holds Tuesday 01:00. */
static bool inside_window(const window *w, const struct tm *tm)
{
    int m = tm->tm_hour * 60 + tm->tm_min;
    int today = tm->tm_wday, yesterday = (tm->tm_wday + 6) % 7;
    if (w->start <= w->end)
        return m >= w->start && m <= w->end && (w->days >> today & 1u);
    if (m >= w->start)
        return (w->days >> today & 1u) != 0;
    return m <= w->end && (w->days >> yesterday & 1u);
}

/* The next opening after `now` (within 8 days); -1 when none. */
static time_t next_opening(const window *w, time_t now)
{
    struct tm base;
    in_zone(w->tz, &now, &base, false);
    for (int d = 0; d <= 8; d++) {
        struct tm c = base;
        c.tm_mday += d;
        c.tm_hour = w->start / 60;
        c.tm_min = w->start % 60;
        c.tm_sec = 0;
        c.tm_isdst = -1;
        time_t t;
        in_zone(w->tz, &t, &c, true);
        if (t <= now)
            continue;
        struct tm chk;
        in_zone(w->tz, &t, &chk, false);
        if (w->days >> chk.tm_wday & 1u)
            return t;
    }
    return (time_t)-1;
}

static int read_window(ls_value in, window *w, ls_error *err)
{
    ls_loc none = {0};
    ls_value s = ls_map_get(in, "start"), e = ls_map_get(in, "end"), tz = ls_map_get(in, "tz");
    ls_value days = ls_map_get(in, "days");
    w->start = s.kind == LS_STRING ? parse_hhmm(ls_str_ptr(s)) : -1;
    w->end = e.kind == LS_STRING ? parse_hhmm(ls_str_ptr(e)) : -1;
    if (w->start < 0 || w->end < 0) {
        ls_error_set(err, none, "time.window: start and end must be HH:MM (00:00 to 23:59)");
        return -1;
    }
    w->tz = tz.kind == LS_STRING && ls_str_len(tz) > 0 ? ls_str_ptr(tz) : "UTC";
    if (!zone_exists(w->tz)) {
        ls_error_set(err, none, "time.window: unknown time zone '%s' (an IANA name such as Europe/Berlin; is tzdata installed?)",
                     w->tz);
        return -1;
    }
    w->days = 0x7f;
    if (!ls_is_null(days)) {
        if (days.kind != LS_LIST || ls_list_len(days) == 0) {
            ls_error_set(err, none, "time.window: days must be a non-empty list such as [mon, tue]");
            return -1;
        }
        w->days = 0;
        for (size_t i = 0; i < ls_list_len(days); i++) {
            ls_value dv = ls_list_at(days, i);
            int di = dv.kind == LS_STRING ? day_index(ls_str_ptr(dv)) : -1;
            if (di < 0) {
                ls_error_set(err, none, "time.window: days[%zu] is not a day (mon, tue, wed, thu, fri, sat, sun)", i);
                return -1;
            }
            w->days |= 1u << di;
        }
    }
    return 0;
}

static ls_act_status act_time_window(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    *result = ls_map_new();
    window w;
    if (read_window(call->inputs, &w, err))
        return LS_ACT_FAILED;
    ls_value waitv = ls_map_get(call->inputs, "wait");
    bool wait = waitv.kind == LS_BOOL && waitv.u.b;

    time_t now = time(NULL);
    const char *inj = getenv("LOCKSTEP_NOW");
    if (inj != NULL && inj[0] != '\0' && parse_now(inj, &now) != 0) {
        ls_error_set(err, none, "time.window: LOCKSTEP_NOW '%s' is not ISO-8601 like 2026-11-25T03:00:00Z", inj);
        return LS_ACT_FAILED;
    }
    struct tm tm;
    in_zone(w.tz, &now, &tm, false);
    bool inside = inside_window(&w, &tm);
    if (!inside && wait) {
        time_t open = next_opening(&w, now);
        if (open == (time_t)-1) {
            ls_error_set(err, none, "time.window: the window never opens");
            return LS_ACT_FAILED;
        }
        struct tm otm;
        in_zone(w.tz, &open, &otm, false);
        ls_value opens = iso_local(&otm);
        int64_t wait_ms = ((int64_t)open - (int64_t)now) * 1000;
        int64_t until = ls_now_ms() + wait_ms;
        if (call->deadline_ms > 0 && until > call->deadline_ms) {
            /* It cannot open in time: say so now rather than sleep to the deadline. */
            ls_map_set(result, "inside", ls_bool(false));
            ls_map_set(result, "now", iso_local(&tm));
            ls_error_set(err, none, "time.window: the window opens at %s, after the state's timeout", ls_str_ptr(opens));
            ls_map_set(result, "opens_at", opens);
            return LS_ACT_TIMED_OUT;
        }
        for (;;) {
            if (call->cancel != NULL && *call->cancel) {
                ls_value_free(opens);
                ls_error_set(err, none, "time.window: cancelled while waiting for the window");
                return LS_ACT_CANCELLED;
            }
            int64_t left = until - ls_now_ms();
            if (left <= 0)
                break;
            (void)poll(NULL, 0, (int)(left > TICK_MS ? TICK_MS : left));
        }
        ls_map_set(result, "opens_at", opens);
        now = open;
        tm = otm;
        inside = true;
    }
    ls_map_set(result, "inside", ls_bool(inside));
    ls_map_set(result, "now", iso_local(&tm));
    if (!inside) {
        ls_value n = ls_map_get(*result, "now");
        ls_error_set(err, none, "time.window: %s is outside %02d:%02d-%02d:%02d %s", ls_str_ptr(n), w.start / 60,
                     w.start % 60, w.end / 60, w.end % 60, w.tz);
        return LS_ACT_FAILED;
    }
    return LS_ACT_OK;
}

/* Constant start, end, tz and days are checked at load time. */
static int prepare_window(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    *prep = NULL;
    int rc = 0;
    static const char *const hhmm[] = {"start", "end"};
    for (size_t i = 0; i < 2; i++) {
        const ls_tmpl *t = with ? ls_tmpl_map_get(with, hhmm[i]) : NULL;
        if (t != NULL && ls_tmpl_is_constant(t)) { /* absence is the loader's (required input) */
            ls_value v = ls_tmpl_constant(t);
            if (v.kind != LS_STRING || parse_hhmm(ls_str_ptr(v)) < 0) {
                ls_diag_error(d, ls_tmpl_loc(t), "time.window: %s must be HH:MM (00:00 to 23:59)", hhmm[i]);
                rc = -1;
            }
        }
    }
    const ls_tmpl *tz = with ? ls_tmpl_map_get(with, "tz") : NULL;
    if (tz != NULL && ls_tmpl_is_constant(tz)) {
        ls_value v = ls_tmpl_constant(tz);
        if (v.kind != LS_STRING || !zone_exists(ls_str_ptr(v))) {
            ls_diag_error(d, ls_tmpl_loc(tz), "time.window: unknown time zone '%s' (an IANA name; is tzdata installed?)",
                          ls_str_ptr(v));
            rc = -1;
        }
    }
    const ls_tmpl *days = with ? ls_tmpl_map_get(with, "days") : NULL;
    if (days != NULL && ls_tmpl_is_constant(days)) {
        ls_value v = ls_tmpl_constant(days);
        for (size_t i = 0; v.kind == LS_LIST && i < ls_list_len(v); i++) {
            ls_value dv = ls_list_at(v, i);
            if (dv.kind != LS_STRING || day_index(ls_str_ptr(dv)) < 0) {
                const ls_tmpl *it = ls_tmpl_at(days, i);
                ls_diag_error(d, it ? ls_tmpl_loc(it) : ls_tmpl_loc(days),
                              "time.window: days[%zu] is not a day (mon, tue, wed, thu, fri, sat, sun)", i);
                rc = -1;
            }
        }
        if (v.kind != LS_LIST || ls_list_len(v) == 0) {
            ls_diag_error(d, ls_tmpl_loc(days), "time.window: days must be a non-empty list such as [mon, tue]");
            rc = -1;
        }
    }
    return rc;
}

/* ---- the table ------------------------------------------------------------ */

static const ls_input scan_inputs[] = {
    {"text", "string", true, NULL, "the text to scan, line by line (e.g. a kubectl.logs result's text)"},
    {"patterns", "list", true, NULL, "PCRE2 regexes; a line matches when any does"},
    {"max_matches", "int", false, "100", "at most this many matches are listed (count keeps counting)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field scan_results[] = {
    {"matched", "bool", "some line matched"},
    {"count", "int", "matching lines"},
    {"matches", "list", "[{pattern, line}]: each matching line with the first pattern that matched it"},
    {NULL, NULL, NULL},
};

static const ls_input env_inputs[] = {
    {"required", "list", false, NULL, "keys that must be set (non-empty)"},
    {"example_file", "string", false, NULL, "a .env.example: its keys without a default (KEY=) are required"},
    {"env_file", "string", false, NULL, "look in this env file (KEY=value lines)"},
    {"keys", "any", false, NULL, "look in these names: a list, or a map whose keys are the names (a Secret's data)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field env_results[] = {
    {"missing", "list", "required keys not found (or empty)"},
    {"present", "list", "required keys found"},
    {NULL, NULL, NULL},
};

static const ls_input window_inputs[] = {
    {"start", "string", true, NULL, "HH:MM, when the window opens"},
    {"end", "string", true, NULL, "HH:MM, included; start > end crosses midnight"},
    {"tz", "string", false, "\"UTC\"", "IANA time zone, e.g. Europe/Berlin"},
    {"days", "list", false, NULL, "days the window opens on, e.g. [mon, tue, wed, thu, fri] (default: every day)"},
    {"wait", "bool", false, "false", "sleep until the window opens (bounded by the state's timeout)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field window_results[] = {
    {"inside", "bool", "now is inside the window"},
    {"now", "string", "the local time looked at, ISO-8601 with offset"},
    {"opens_at", "string", "when it waited (or could not wait long enough): the opening"},
    {NULL, NULL, NULL},
};

const ls_action ls_actions_text[] = {
    {"log.scan", "log", "scan text for lines matching regexes (branch on matched)", scan_inputs, scan_results,
     "never (a bad pattern computed at run time is an input error)", false, true, NULL, prepare_scan,
     scan_prep_free, act_log_scan},
    {"env.check", "env", "check that required variables are set (env file, key list or the process environment)",
     env_inputs, env_results, "any required key is missing (the message names them all)", false, true, NULL,
     prepare_env_check, NULL, act_env_check},
    {"time.window", "time", "are we inside a maintenance window? optionally wait for it", window_inputs,
     window_results, "outside the window (after waiting, if wait)", false, true, NULL, prepare_window, NULL,
     act_time_window},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL},
};
