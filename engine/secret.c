/*
 * The redactor.  Secrets are kept longest first; redaction marks every
 * byte covered by any occurrence of any secret (so overlapping secrets are
 * hidden whole, not just the one that matched first) and the password of
 * every `scheme://user:password@host`, then writes each covered run as
 * `***`.  With no secrets and no "://" in the text (found with memmem,
 * which is fast on long texts) it is a plain copy.
 */
#include "diag.h"
#include "secret.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct secret {
    char *s;
    size_t len;
} secret;

static secret *secrets;
static size_t nsecrets, capsecrets;
static uint8_t first_byte[256]; /* non-zero: some secret starts with this byte */

#define MASK "***"
#define REDACT_MAX_DEPTH 1000

void ls_secret_add(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return;
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i].len == len && memcmp(secrets[i].s, s, len) == 0)
            return;
    if (nsecrets == capsecrets) {
        size_t ncap = capsecrets ? capsecrets * 2 : 8;
        secret *n = realloc(secrets, ncap * sizeof *n);
        if (n == NULL)
            ls_oom(); /* losing a secret would leak it: fail loudly */
        secrets = n;
        capsecrets = ncap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        ls_oom();
    memcpy(copy, s, len);
    copy[len] = '\0';
    /* insert keeping the list longest first */
    size_t at = nsecrets;
    while (at > 0 && secrets[at - 1].len < len) {
        secrets[at] = secrets[at - 1];
        at--;
    }
    secrets[at].s = copy;
    secrets[at].len = len;
    nsecrets++;
    first_byte[(unsigned char)s[0]] = 1;
}

void ls_secret_clear(void)
{
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i].s);
    free(secrets);
    secrets = NULL;
    nsecrets = capsecrets = 0;
    memset(first_byte, 0, sizeof first_byte);
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

/* Out of memory ends the process (ls_oom): a redactor that cannot tell
 * what to hide must neither show the text nor pass off "***" for it. */
static void mark(uint8_t **mask, size_t len, size_t from, size_t to)
{
    if (*mask == NULL)
        *mask = ls_oom_check(calloc(len ? len : 1, 1));
    memset(*mask + from, 1, to - from);
}

char *ls_redact(const char *text, size_t len, size_t *len_out)
{
    uint8_t *mask = NULL;

    if (text == NULL)
        len = 0;
    if (nsecrets > 0) {
        for (size_t i = 0; i < len; i++) {
            if (!first_byte[(unsigned char)text[i]])
                continue;
            for (size_t k = 0; k < nsecrets; k++) {
                const secret *s = &secrets[k];
                if (s->len <= len - i && text[i] == s->s[0] && memcmp(text + i, s->s, s->len) == 0)
                    mark(&mask, len, i, i + s->len);
            }
        }
    }
    for (const char *p = len ? memmem(text, len, "://", 3) : NULL; p != NULL;) {
        size_t at = (size_t)(p - text);
        size_t ps, pe;
        if (uri_password(text, len, at, &ps, &pe))
            mark(&mask, len, ps, pe);
        at += 3;
        p = at < len ? memmem(text + at, len - at, "://", 3) : NULL;
    }

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
