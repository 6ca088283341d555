/*
 * The redactor.  Redaction marks every byte of the text covered by any
 * occurrence of any secret (so overlapping secrets are hidden whole, not
 * just the one that matched first) and the password of every
 * `scheme://user:password@host`, then writes each covered run as `***`.
 *
 * Encoded forms: besides the text as it is, the redactor searches views of
 * it decoded as a JSON string body and as URL encoding (and those decoded
 * once more, for a JSON document quoted inside another or a URL inside
 * JSON).  Each decoded byte remembers where its source began in the
 * original, so a secret found in a view marks the original bytes that
 * encode it, escapes and all.  A view is built only when the text holds
 * a backslash (JSON) or a '%' or '+' (URL).
 *
 * Cost: each secret is searched with Knuth-Morris-Pratt (its failure table
 * built when it is added), skipping with memchr to its first byte, so a
 * search is linear in the text whatever the secret looks like; at most seven
 * views, so redaction is linear in the text for each secret.  With no
 * secrets and no "://" in the text (found with memmem) it is a plain copy.
 */
#include "secret.h"
#include "diag.h"
#include "work.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct secret {
    char *s;
    size_t len;
    size_t *fail; /* fail[k]: length of the longest proper border of s[0..k] */
} secret;

static secret *secrets;
static size_t nsecrets, capsecrets;

#define MASK "***"
#define REDACT_MAX_DEPTH 1000

static void *must(void *p)
{
    if (p == NULL)
        ls_oom(); /* losing a secret would leak it: fail loudly */
    return p;
}

void ls_secret_add(const char *s, size_t len)
{
    if (s == NULL || len < LS_SECRET_MIN)
        return;
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i].len == len && memcmp(secrets[i].s, s, len) == 0)
            return;
    if (nsecrets == capsecrets) {
        size_t ncap = capsecrets ? capsecrets * 2 : 8;
        secrets = must(realloc(secrets, ncap * sizeof *secrets));
        capsecrets = ncap;
    }
    secret *sc = &secrets[nsecrets++];
    sc->s = must(malloc(len + 1));
    memcpy(sc->s, s, len);
    sc->s[len] = '\0';
    sc->len = len;
    sc->fail = must(malloc(len * sizeof *sc->fail));
    sc->fail[0] = 0;
    for (size_t i = 1, k = 0; i < len; i++) {
        while (k > 0 && s[i] != s[k])
            k = sc->fail[k - 1];
        if (s[i] == s[k])
            k++;
        sc->fail[i] = k;
    }
}

void ls_secret_clear(void)
{
    for (size_t i = 0; i < nsecrets; i++) {
        free(secrets[i].s);
        free(secrets[i].fail);
    }
    free(secrets);
    secrets = NULL;
    nsecrets = capsecrets = 0;
}

size_t ls_secret_count(void) { return nsecrets; }

static bool is_scheme_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '.';
}

/* Characters that end a URI's authority part in free text or JSON. */
static bool ends_authority(unsigned char c)
{
    return c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
           c == '`' || c == ',' || c == ';' || c < 0x20;
}

/* Finds, for "://" at text[sep], the password's range [*ps, *pe); false when
 * the URI has no scheme, no userinfo or an empty password. */
static bool uri_password(const char *text, size_t len, size_t sep, size_t *ps, size_t *pe)
{
    if (sep == 0 || !is_scheme_char((unsigned char)text[sep - 1]))
        return false;
    size_t start = sep + 3, end = start, at = SIZE_MAX;
    while (end < len && !ends_authority((unsigned char)text[end])) {
        if (text[end] == '@')
            at = end; /* the last '@' ends the userinfo */
        end++;
    }
    if (at == SIZE_MAX)
        return false;
    const char *colon = memchr(text + start, ':', at - start);
    if (colon == NULL)
        return false;
    size_t p = (size_t)(colon - text) + 1;
    if (p >= at)
        return false;
    *ps = p;
    *pe = at;
    return true;
}

static void mark(uint8_t **mask, size_t len, size_t from, size_t to, bool *oom)
{
    if (*mask == NULL) {
        *mask = calloc(len ? len : 1, 1);
        if (*mask == NULL) {
            *oom = true;
            return;
        }
    }
    LS_WORK(to - from);
    memset(*mask + from, 1, to - from);
}

/* ---- decoded views --------------------------------------------------------
 *
 * A view is the text, or a decoding of another view: b[0..n), and for each
 * byte j the offset at[j] in the original text where the bytes that encode
 * it begin (at == NULL: the original itself, at[j] == j).  Decoding keeps
 * order, so at[] never decreases, and byte j of a view stands for the
 * original bytes from at[j] up to the next larger offset. */
typedef struct view {
    const char *b;
    size_t n;
    const size_t *at;
    char *own_b; /* what to free */
    size_t *own_at;
} view;

static size_t view_at(const view *v, size_t j, size_t len)
{
    if (j >= v->n)
        return len;
    return v->at ? v->at[j] : j;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s (n bytes available), or -1. */
static long hex4(const char *s, size_t n)
{
    if (n < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The next decoded sequence of `in` at i: writes its bytes to out (at most
 * 4) and returns how many input bytes it took.  JSON: \" \\ \/ \b \f \n \r
 * \t and \uXXXX (surrogate pairs joined, UTF-8 out); anything else stands
 * for itself. */
static size_t json_step(const char *b, size_t n, size_t i, char *out, size_t *nout)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    *nout = 1;
    out[0] = b[i];
    if (b[i] != '\\' || i + 1 >= n)
        return 1;
    const char *e = memchr(from, b[i + 1], sizeof from - 1);
    if (e != NULL) {
        out[0] = to[e - from];
        return 2;
    }
    if (b[i + 1] != 'u')
        return 1;
    long cp = hex4(b + i + 2, n - i - 2);
    size_t took = 6;
    if (cp < 0)
        return 1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = (i + 7 < n && b[i + 6] == '\\' && b[i + 7] == 'u') ? hex4(b + i + 8, n - i - 8) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 1; /* a lone surrogate encodes nothing a secret holds */
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        took = 12;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return 1;
    }
    unsigned long c = (unsigned long)cp;
    if (c < 0x80) {
        out[0] = (char)c;
    } else if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        *nout = 2;
    } else if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        *nout = 3;
    } else {
        out[0] = (char)(0xF0 | (c >> 18));
        out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[3] = (char)(0x80 | (c & 0x3F));
        *nout = 4;
    }
    return took;
}

/* URL encoding: %XX (either case) and '+' for a space. */
static size_t url_step(const char *b, size_t n, size_t i, char *out, size_t *nout)
{
    *nout = 1;
    out[0] = b[i];
    if (b[i] == '+') {
        out[0] = ' ';
        return 1;
    }
    if (b[i] == '%' && i + 2 < n && hexval((unsigned char)b[i + 1]) >= 0 && hexval((unsigned char)b[i + 2]) >= 0) {
        out[0] = (char)(hexval((unsigned char)b[i + 1]) * 16 + hexval((unsigned char)b[i + 2]));
        return 3;
    }
    return 1;
}

typedef size_t (*step_fn)(const char *b, size_t n, size_t i, char *out, size_t *nout);

/* Decodes `in` into *out.  Returns false on no memory; *changed says
 * whether any escape was decoded. */
static bool view_decode(const view *in, step_fn step, view *out, bool *changed)
{
    *changed = false;
    memset(out, 0, sizeof *out);
    /* A decoded sequence is never longer than the bytes it came from. */
    out->own_b = malloc(in->n ? in->n : 1);
    out->own_at = malloc((in->n ? in->n : 1) * sizeof *out->own_at);
    if (out->own_b == NULL || out->own_at == NULL) {
        free(out->own_b);
        free(out->own_at);
        out->own_b = NULL;
        out->own_at = NULL;
        return false;
    }
    size_t o = 0;
    LS_WORK(in->n);
    for (size_t i = 0; i < in->n;) {
        char seq[4];
        size_t k = 0;
        size_t took = step(in->b, in->n, i, seq, &k);
        size_t src = in->at ? in->at[i] : i;
        if (took != 1 || seq[0] != in->b[i])
            *changed = true;
        for (size_t j = 0; j < k; j++) {
            out->own_b[o] = seq[j];
            out->own_at[o++] = src;
        }
        i += took;
    }
    out->b = out->own_b;
    out->at = out->own_at;
    out->n = o;
    return true;
}

static void view_free(view *v)
{
    free(v->own_b);
    free(v->own_at);
}

static bool has_json_escape(const view *v)
{
    return v->n && memchr(v->b, '\\', v->n) != NULL;
}

static bool has_url_escape(const view *v)
{
    return v->n && (memchr(v->b, '%', v->n) != NULL || memchr(v->b, '+', v->n) != NULL);
}

/* Marks, in the original text of length len, every occurrence of secret sc
 * in view v. */
static void search(const view *v, const secret *sc, size_t len, uint8_t **mask, bool *oom)
{
    const char *b = v->b, *s = sc->s;
    size_t n = v->n, k = 0;
    size_t done = 0; /* the original is marked up to here: matches come in order */
    if (sc->len > n)
        return;
    for (size_t i = 0; i < n && !*oom; i++) {
        LS_WORK(1);
        if (k == 0) {
            const char *p = memchr(b + i, s[0], n - i);
            if (p == NULL)
                return;
            i = (size_t)(p - b);
        }
        while (k > 0 && b[i] != s[k]) {
            LS_WORK(1);
            k = sc->fail[k - 1];
        }
        if (b[i] == s[k])
            k++;
        if (k == sc->len) {
            size_t first = i + 1 - sc->len, last = i;
            size_t from = view_at(v, first, len), to;
            /* The end: the source of the byte after the match, past any
             * byte that came from the same escape as the last one. */
            size_t after = last + 1, last_at = view_at(v, last, len);
            while (after < n && view_at(v, after, len) == last_at)
                after++;
            to = view_at(v, after, len);
            if (to > done) { /* overlapping matches mark each byte once */
                mark(mask, len, from > done ? from : done, to, oom);
                done = to;
            }
            k = sc->fail[k - 1];
        }
    }
}

char *ls_redact(const char *text, size_t len, size_t *len_out)
{
    uint8_t *mask = NULL;
    bool oom = false;

    if (text == NULL)
        len = 0;
    if (nsecrets > 0 && len > 0) {
        view views[7];
        size_t nviews = 0;
        views[nviews++] = (view){text, len, NULL, NULL, NULL};
        /* The decodings, and each decoded once more (JSON quoted in JSON, a
         * URL in JSON, JSON or a URL in a URL), never a third time. */
        size_t level_end = 1; /* views before it are the raw text or once decoded */
        for (size_t from = 0; from < nviews && !oom; from++) {
            if (from == 1)
                level_end = nviews;
            if (from >= level_end)
                break; /* twice decoded: not decoded again */
            step_fn steps[2] = {json_step, url_step};
            bool need[2] = {has_json_escape(&views[from]), has_url_escape(&views[from])};
            for (int s = 0; s < 2 && !oom; s++) {
                if (!need[s] || nviews == sizeof views / sizeof views[0])
                    continue;
                bool changed = false;
                if (!view_decode(&views[from], steps[s], &views[nviews], &changed))
                    oom = true;
                else if (!changed)
                    view_free(&views[nviews]); /* nothing decoded: the same view again */
                else
                    nviews++;
            }
        }
        for (size_t v = 0; v < nviews && !oom; v++)
            for (size_t k = 0; k < nsecrets && !oom; k++)
                search(&views[v], &secrets[k], len, &mask, &oom);
        for (size_t v = 1; v < nviews; v++)
            view_free(&views[v]);
    }
    for (const char *p = len ? memmem(text, len, "://", 3) : NULL; p != NULL && !oom;) {
        size_t at = (size_t)(p - text);
        size_t ps, pe;
        if (uri_password(text, len, at, &ps, &pe))
            mark(&mask, len, ps, pe, &oom);
        at += 3;
        p = at < len ? memmem(text + at, len - at, "://", 3) : NULL;
    }

    if (oom)
        ls_oom(); /* cannot tell what to hide: neither show the text nor pass off *** for it */
    if (mask == NULL) {
        char *r = ls_oom_check(malloc(len + 1));
        if (len)
            memcpy(r, text, len);
        r[len] = '\0';
        if (len_out)
            *len_out = len;
        return r;
    }
    /* A covered run never grows by more than 3 bytes per run, and each run is
     * at least one byte: 3 * len + 1 bounds the output. */
    size_t outcap = 0;
    for (size_t i = 0; i < len; i++)
        outcap += (mask[i] && (i == 0 || !mask[i - 1])) ? sizeof MASK - 1 : (mask[i] ? 0 : 1);
    char *r = ls_oom_check(malloc(outcap + 1));
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (!mask[i])
            r[o++] = text[i];
        else if (i == 0 || !mask[i - 1]) {
            memcpy(r + o, MASK, sizeof MASK - 1);
            o += sizeof MASK - 1;
        }
    }
    r[o] = '\0';
    free(mask);
    if (len_out)
        *len_out = o;
    return r;
}

/* True when redacting `s` could change it (cheap pre-check). */
static bool may_need(const char *s, size_t len)
{
    if (nsecrets > 0)
        return true;
    return len >= 3 && memmem(s, len, "://", 3) != NULL;
}

/* Returns v itself (a new reference) when nothing in it needed hiding. */
static ls_value redact_string(ls_value v)
{
    const char *s = ls_str_ptr(v);
    size_t len = ls_str_len(v), n = 0;
    if (!may_need(s, len))
        return ls_value_copy(v);
    char *r = ls_redact(s, len, &n);
    if (r == NULL)
        return ls_string(MASK);
    ls_value out = (n == len && memcmp(r, s, n) == 0) ? ls_value_copy(v) : ls_string_n(r, n);
    free(r);
    return out;
}

/* The same value, not merely an equal one: shared blocks are compared by
 * address, so a subtree that needed no change is shared, not copied. */
static bool same(ls_value a, ls_value b)
{
    if (a.kind != b.kind)
        return false;
    switch ((ls_kind)a.kind) {
    case LS_STRING: return a.u.s == b.u.s;
    case LS_LIST: return a.u.l == b.u.l;
    case LS_MAP: return a.u.m == b.u.m;
    default: return true;
    }
}

static ls_value redact_value(ls_value v, int depth);

/* Containers are rebuilt only from the first child that changed; until
 * then `out` stays null and the original is returned shared. */
static ls_value redact_list(ls_value v, int depth)
{
    ls_value out = ls_null();
    size_t n = ls_list_len(v);
    for (size_t i = 0; i < n; i++) {
        ls_value item = ls_list_at(v, i);
        ls_value r = redact_value(item, depth + 1);
        if (ls_is_null(out) && same(r, item)) {
            ls_value_free(r);
            continue;
        }
        if (ls_is_null(out)) {
            out = ls_list_new();
            for (size_t k = 0; k < i; k++)
                ls_list_push(&out, ls_value_copy(ls_list_at(v, k)));
        }
        ls_list_push(&out, r);
    }
    return ls_is_null(out) ? ls_value_copy(v) : out;
}

static ls_value redact_map(ls_value v, int depth)
{
    ls_value out = ls_null();
    size_t n = ls_map_len(v);
    for (size_t i = 0; i < n; i++) {
        const char *k = ls_map_key_at(v, i);
        ls_value item = ls_map_value_at(v, i);
        ls_value r = redact_value(item, depth + 1);
        size_t klen = strlen(k);
        char *rk = NULL;
        bool key_same = true;
        if (may_need(k, klen)) {
            rk = ls_redact(k, klen, NULL);
            key_same = rk != NULL && strcmp(rk, k) == 0;
        }
        if (ls_is_null(out) && key_same && same(r, item)) {
            free(rk);
            ls_value_free(r);
            continue;
        }
        if (ls_is_null(out)) {
            out = ls_map_new();
            for (size_t j = 0; j < i; j++)
                ls_map_set(&out, ls_map_key_at(v, j), ls_value_copy(ls_map_value_at(v, j)));
        }
        ls_map_set(&out, rk ? rk : (key_same ? k : MASK), r);
        free(rk);
    }
    return ls_is_null(out) ? ls_value_copy(v) : out;
}

static ls_value redact_value(ls_value v, int depth)
{
    if (depth > REDACT_MAX_DEPTH)
        return ls_string(MASK);
    switch ((ls_kind)v.kind) {
    case LS_STRING: return redact_string(v);
    case LS_LIST: return redact_list(v, depth);
    case LS_MAP: return redact_map(v, depth);
    default: return ls_value_copy(v);
    }
}

ls_value ls_redact_value(ls_value v) { return redact_value(v, 0); }
