/*
 * Line scans over PCRE2 patterns (scan.h).
 *
 * Each line is one pcre2 match per pattern -- once the scan has seen 64 KiB,
 * JIT-compiled code called through pcre2_jit_match (no per-call option
 * checks) -- and the first pattern
 * that matches decides the line.  Lines are found with memchr.  A line
 * that arrives in pieces is gathered in a per-stream buffer of at most
 * LS_SCAN_LINE_MAX bytes; past that the windowing of scan.h applies, so a
 * scan holds at most two such buffers whatever it reads.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

struct ls_scan {
    size_t n;
    pcre2_code **code;
    bool *jit;  /* pcre2_jit_compile succeeded for code[i] */
    bool jit_tried; /* JIT is compiled on first use on a long subject, once */
    ls_value *src; /* the pattern strings, as listed in matches */
};

typedef struct line_state {
    char *buf;   /* LS_SCAN_LINE_MAX bytes, allocated on first use */
    size_t len;
    bool cont;   /* earlier windows of this line were matched already: NOTBOL */
    bool done;   /* this line has matched: skip to its end */
} line_state;

struct ls_scanner {
    const ls_scan *scan;
    size_t seen;      /* bytes scanned so far (JIT from JIT_AFTER on) */
    pcre2_match_data *md;
    int64_t max, count;
    bool streams;
    ls_value matches;
    line_state st[3]; /* [1] stdout, [2] stderr; [0] log.scan's text */
};

/* ---- patterns ------------------------------------------------------------ */

void ls_scan_free(void *p)
{
    ls_scan *s = p;
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        pcre2_code_free(s->code[i]);
        ls_value_free(s->src[i]);
    }
    free(s->code);
    free(s->jit);
    free(s->src);
    free(s);
}

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

/* Why item i of a pattern list cannot be used; NULL when it can. */
static const char *not_a_pattern(ls_value p)
{
    return p.kind == LS_STRING ? NULL : ls_kind_name((ls_kind)p.kind);
}

ls_scan *ls_scan_compile(ls_value patterns, char *msg, size_t msglen)
{
    size_t n = patterns.kind == LS_LIST ? ls_list_len(patterns) : 0;
    if (patterns.kind != LS_LIST || n == 0 || n > LS_SCAN_MAX_PATTERNS) {
        snprintf(msg, msglen, "must be a list of 1 to %d regexes", LS_SCAN_MAX_PATTERNS);
        return NULL;
    }
    ls_scan *s = calloc(1, sizeof *s);
    if (s == NULL || (s->code = calloc(n, sizeof *s->code)) == NULL || (s->jit = calloc(n, sizeof *s->jit)) == NULL ||
        (s->src = calloc(n, sizeof *s->src)) == NULL) {
        ls_scan_free(s);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        ls_value p = ls_list_at(patterns, i);
        const char *bad = not_a_pattern(p);
        char why[400];
        if (bad != NULL) {
            snprintf(msg, msglen, "patterns[%zu] is %s, not a regex string", i, bad);
            ls_scan_free(s);
            return NULL;
        }
        pcre2_code *c = compile_one(ls_str_ptr(p), ls_str_len(p), why, sizeof why);
        if (c == NULL) {
            snprintf(msg, msglen, "patterns[%zu]: %s", i, why);
            ls_scan_free(s);
            return NULL;
        }
        s->code[i] = c;
        s->src[i] = ls_value_copy(p);
        s->n++;
    }
    return s;
}

int ls_scan_prepare(const char *who, const char *input, const ls_tmpl *with, ls_diags *d, void **prep)
{
    *prep = NULL;
    const ls_tmpl *t = with ? ls_tmpl_map_get(with, input) : NULL;
    if (t == NULL || !ls_tmpl_is_constant(t))
        return 0;
    ls_value v = ls_tmpl_constant(t);
    if (v.kind != LS_LIST || ls_list_len(v) == 0 || ls_list_len(v) > LS_SCAN_MAX_PATTERNS) {
        ls_diag_error(d, ls_tmpl_loc(t), "%s: %s must be a list of 1 to %d regexes", who, input, LS_SCAN_MAX_PATTERNS);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < ls_list_len(v); i++) {
        ls_value p = ls_list_at(v, i);
        const ls_tmpl *pt = ls_tmpl_at(t, i);
        ls_loc ploc = pt ? ls_tmpl_loc(pt) : ls_tmpl_loc(t);
        char msg[512];
        if (p.kind != LS_STRING) {
            ls_diag_error(d, ploc, "%s: %s[%zu] is %s, not a regex string", who, input, i,
                          ls_kind_name((ls_kind)p.kind));
            rc = -1;
            continue;
        }
        pcre2_code *c = compile_one(ls_str_ptr(p), ls_str_len(p), msg, sizeof msg);
        if (c == NULL) {
            ls_diag_error(d, ploc, "%s: %s", who, msg);
            rc = -1;
            continue;
        }
        pcre2_code_free(c);
    }
    if (rc != 0)
        return -1;
    char msg[512];
    *prep = ls_scan_compile(v, msg, sizeof msg);
    if (*prep == NULL) {
        ls_diag_error(d, ls_tmpl_loc(t), "%s: %s", who, msg);
        return -1;
    }
    return 0;
}

const ls_scan *ls_scan_for_call(const char *who, const char *input, ls_value inputs, void *prep, ls_scan **own,
                                ls_error *err)
{
    ls_loc none = {0};
    *own = NULL;
    if (prep != NULL)
        return prep;
    ls_value pats = ls_map_get(inputs, input);
    if (ls_is_null(pats))
        return NULL;
    char msg[512];
    *own = ls_scan_compile(pats, msg, sizeof msg);
    if (*own == NULL) {
        if (strncmp(msg, "patterns[", 9) == 0 && strcmp(input, "patterns") != 0)
            ls_error_set(err, none, "%s: %s%s", who, input, msg + 8);
        else if (strncmp(msg, "patterns[", 9) == 0)
            ls_error_set(err, none, "%s: %s", who, msg);
        else
            ls_error_set(err, none, "%s: %s %s", who, input, msg);
    }
    return *own;
}

int64_t ls_scan_max_matches(ls_value inputs)
{
    ls_value m = ls_map_get(inputs, "max_matches");
    int64_t max = m.kind == LS_INT ? m.u.i : LS_SCAN_DEFAULT_MAX;
    return max < 0 ? 0 : max;
}

/* ---- matching ------------------------------------------------------------ */

/* JIT pays for itself only on long texts (a validate of many small
 * patterns would only pay for it): the patterns are JIT-compiled when a
 * scan has seen this much, once per compiled set, and stay so. */
#define JIT_AFTER (64u * 1024)

static void want_jit(ls_scanner *sc, size_t more)
{
    sc->seen += more;
    if (sc->seen < JIT_AFTER || sc->scan->jit_tried)
        return;
    ls_scan *s = (ls_scan *)(uintptr_t)sc->scan; /* a cache: matching is unchanged */
    s->jit_tried = true;
    for (size_t k = 0; k < s->n; k++)
        s->jit[k] = pcre2_jit_compile(s->code[k], PCRE2_JIT_COMPLETE) == 0; /* else: the interpreter */
}

ls_scanner *ls_scanner_new(const ls_scan *scan, int64_t max_matches, bool streams)
{
    ls_scanner *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return NULL;
    sc->md = pcre2_match_data_create(1, NULL);
    if (sc->md == NULL) {
        free(sc);
        return NULL;
    }
    sc->scan = scan;
    sc->max = max_matches < 0 ? 0 : max_matches;
    sc->streams = streams;
    sc->matches = ls_list_new();
    return sc;
}

void ls_scanner_free(ls_scanner *sc)
{
    if (sc == NULL)
        return;
    for (size_t i = 0; i < 3; i++)
        free(sc->st[i].buf);
    pcre2_match_data_free(sc->md);
    ls_value_free(sc->matches);
    free(sc);
}

/* The first pattern matching [p, p+len), or -1. */
static int match_any(ls_scanner *sc, const char *p, size_t len, uint32_t opts)
{
    const ls_scan *s = sc->scan;
    for (size_t k = 0; k < s->n; k++) {
        int rc;
        if (s->jit[k]) {
            rc = pcre2_jit_match(s->code[k], (PCRE2_SPTR)p, len, 0, opts, sc->md, NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* a deep pattern: the interpreter has more room */
                rc = pcre2_match(s->code[k], (PCRE2_SPTR)p, len, 0, opts | PCRE2_NO_JIT, sc->md, NULL);
        } else {
            rc = pcre2_match(s->code[k], (PCRE2_SPTR)p, len, 0, opts, sc->md, NULL);
        }
        if (rc >= 0)
            return (int)k;
    }
    return -1;
}

static void record(ls_scanner *sc, int stream, int k, const char *p, size_t len)
{
    sc->count++;
    if ((int64_t)ls_list_len(sc->matches) >= sc->max)
        return;
    ls_value m = ls_map_new();
    ls_map_set(&m, "pattern", ls_value_copy(sc->scan->src[k]));
    ls_map_set(&m, "line", ls_string_n(p, len));
    if (sc->streams)
        ls_map_set(&m, "stream", ls_string(stream == 2 ? "stderr" : "stdout"));
    ls_list_push(&sc->matches, m);
}

/* One window of a line; true when it matched (and was recorded). */
static bool window(ls_scanner *sc, int stream, const char *p, size_t len, bool first, bool last)
{
    if (last && len > 0 && p[len - 1] == '\r')
        len--;
    uint32_t opts = (first ? 0 : PCRE2_NOTBOL) | (last ? 0 : PCRE2_NOTEOL);
    int k = match_any(sc, p, len, opts);
    if (k < 0)
        return false;
    record(sc, stream, k, p, len);
    return true;
}

/* A whole line held in memory, however long: windows over it. */
static void whole_line(ls_scanner *sc, int stream, const char *p, size_t len)
{
    if (len <= LS_SCAN_LINE_MAX) {
        window(sc, stream, p, len, true, true);
        return;
    }
    for (size_t off = 0;; off += LS_SCAN_LINE_MAX - LS_SCAN_OVERLAP) {
        size_t w = len - off < LS_SCAN_LINE_MAX ? len - off : LS_SCAN_LINE_MAX;
        bool last = off + w == len;
        if (window(sc, stream, p + off, w, off == 0, last) || last)
            return;
    }
}

void ls_scanner_text(ls_scanner *sc, const char *text, size_t len)
{
    want_jit(sc, len);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        whole_line(sc, 0, p, (size_t)(e - p));
        p = nl ? nl + 1 : end;
    }
}

/* Appends a piece of the current line.  A full buffer is matched as a
 * window only when the line goes on past it (the next byte is here), so a
 * line that fits is always one window, as in whole_line; then the overlap
 * is kept.  Without memory for the buffer the piece is matched as it is. */
static void gather(ls_scanner *sc, int stream, line_state *st, const char *p, size_t n)
{
    if (st->buf == NULL && (st->buf = malloc(LS_SCAN_LINE_MAX)) == NULL) {
        st->done = window(sc, stream, p, n, !st->cont, false);
        st->cont = true;
        return;
    }
    while (n > 0 && !st->done) {
        if (st->len == LS_SCAN_LINE_MAX) {
            st->done = window(sc, stream, st->buf, st->len, !st->cont, false);
            memmove(st->buf, st->buf + LS_SCAN_LINE_MAX - LS_SCAN_OVERLAP, LS_SCAN_OVERLAP);
            st->len = LS_SCAN_OVERLAP;
            st->cont = true;
            if (st->done)
                break;
        }
        size_t take = LS_SCAN_LINE_MAX - st->len;
        if (take > n)
            take = n;
        memcpy(st->buf + st->len, p, take);
        st->len += take;
        p += take;
        n -= take;
    }
}

static void line_end(ls_scanner *sc, int stream, line_state *st)
{
    if (!st->done && (st->len > 0 || st->cont))
        window(sc, stream, st->buf, st->len, !st->cont, true);
    st->len = 0;
    st->cont = st->done = false;
}

void ls_scanner_feed(ls_scanner *sc, int stream, const char *data, size_t len)
{
    want_jit(sc, len);
    line_state *st = &sc->st[stream == 2 ? 2 : 1];
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (nl != NULL && st->len == 0 && !st->cont && !st->done) {
            whole_line(sc, stream, p, n); /* the common case: no copy */
        } else {
            if (!st->done)
                gather(sc, stream, st, p, n);
            if (nl != NULL)
                line_end(sc, stream, st);
        }
        p = nl ? nl + 1 : end;
    }
}

void ls_scanner_sink(void *sc, int stream, const char *data, size_t len)
{
    ls_scanner_feed(sc, stream, data, len);
}

void ls_scanner_finish(ls_scanner *sc, ls_value *result)
{
    for (int s = 1; s <= 2; s++)
        if (sc->st[s].len > 0 || sc->st[s].cont)
            line_end(sc, s, &sc->st[s]);
    ls_map_set(result, "matched", ls_bool(sc->count > 0));
    ls_map_set(result, "count", ls_int(sc->count));
    ls_map_set(result, "matches", sc->matches);
    sc->matches = ls_list_new();
}
