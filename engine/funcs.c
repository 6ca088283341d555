/*
 * The expression functions of SPEC 3.2, in one table (name, arity, C
 * function), as jq keeps its builtins.  The compiler checks names and
 * arity against this table; the evaluator calls through it.
 *
 * Null in, for the "how many / which" functions (len, keys, lines), reads
 * as empty, so a path into a state that has not run yet stays harmless.
 *
 * Secrets: a function that reshapes a string (lower, upper, trim) could
 * turn a secret into text the redactor no longer recognises, so when its
 * input holds a secret its output is registered as a secret too.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr_int.h"
#include "secret.h"
#include "semver.h"

#define KIND(v) ls_kind_article((ls_kind)(v).kind)

static int ls_need_string(ls_fcall *fc, const char *fn, ls_value v)
{
    if (v.kind == LS_STRING)
        return 0;
    return ls_eval_fail(fc->e, fc->err, "%s() needs a string, got %s", fn, KIND(v));
}

/* Characters: UTF-8 continuation bytes (10xxxxxx) do not count.  Eight
 * bytes at a time: an all-ASCII word is eight characters without looking
 * at each byte, and a word with continuation bytes is counted by one
 * popcount.  (50 MB of log text: a few milliseconds, not a byte loop.) */
static size_t utf8_chars(const char *s, size_t len)
{
    const uint64_t high = UINT64_C(0x8080808080808080);
    size_t count = 0, i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if ((w & high) == 0) {
            count += 8;
            continue;
        }
        uint64_t cont = w & ~(w << 1) & high; /* bit 7 set, bit 6 clear */
        count += 8 - (size_t)__builtin_popcountll(cont);
    }
    for (; i < len; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static int f_len(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    switch ((ls_kind)a[0].kind) {
    case LS_NULL: *out = ls_int(0); return 0;
    case LS_LIST: *out = ls_int((int64_t)ls_list_len(a[0])); return 0;
    case LS_MAP: *out = ls_int((int64_t)ls_map_len(a[0])); return 0;
    case LS_STRING:
        *out = ls_int((int64_t)utf8_chars(ls_str_ptr(a[0]), ls_str_len(a[0])));
        return 0;
    default:
        return ls_eval_fail(fc->e, fc->err, "len() needs a string, list or map, got %s", KIND(a[0]));
    }
}

static int f_exists(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)fc;
    (void)n;
    *out = ls_bool(a[0].kind != LS_NULL);
    return 0;
}

/* [+-]digits, nothing else. */
static bool ls_parse_int_whole(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || strlen(s) != len)
        return false;
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (i == len)
        return false;
    for (size_t j = i; j < len; j++)
        if (!isdigit((unsigned char)s[j]))
            return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = (int64_t)v;
    return true;
}

/* A decimal number: [+-] (digits [. digits] | . digits) [e [+-] digits]. */
static bool ls_parse_float_whole(const char *s, size_t len, double *out)
{
    if (len == 0 || strlen(s) != len)
        return false;
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    size_t digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
            ed++;
        }
        if (ed == 0)
            return false;
    }
    if (i != len)
        return false;
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return false;
    *out = v;
    return true;
}

static int f_int(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    ls_value v = a[0];
    if (v.kind == LS_INT) {
        *out = v;
        return 0;
    }
    if (v.kind == LS_FLOAT) {
        if (!(v.u.f >= -9223372036854775808.0 && v.u.f < 9223372036854775808.0))
            return ls_eval_fail(fc->e, fc->err, "int() cannot convert %g to an int", v.u.f);
        *out = ls_int((int64_t)v.u.f); /* toward zero */
        return 0;
    }
    if (v.kind == LS_STRING) {
        int64_t i;
        if (!ls_parse_int_whole(ls_str_ptr(v), ls_str_len(v), &i))
            return ls_eval_fail(fc->e, fc->err, "int() cannot parse \"%.64s\" as an integer", ls_str_ptr(v));
        *out = ls_int(i);
        return 0;
    }
    return ls_eval_fail(fc->e, fc->err, "int() needs a number or a string, got %s", KIND(v));
}

static int f_float(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    ls_value v = a[0];
    if (v.kind == LS_INT) {
        *out = ls_float((double)v.u.i);
        return 0;
    }
    if (v.kind == LS_FLOAT) {
        *out = v;
        return 0;
    }
    if (v.kind == LS_STRING) {
        double f;
        if (!ls_parse_float_whole(ls_str_ptr(v), ls_str_len(v), &f))
            return ls_eval_fail(fc->e, fc->err, "float() cannot parse \"%.64s\" as a number", ls_str_ptr(v));
        *out = ls_float(f);
        return 0;
    }
    return ls_eval_fail(fc->e, fc->err, "float() needs a number or a string, got %s", KIND(v));
}

static int f_str(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)fc;
    (void)n;
    if (a[0].kind == LS_STRING) {
        *out = ls_value_copy(a[0]);
        return 0;
    }
    size_t len = 0;
    char *t = ls_value_to_text(a[0], &len);
    if (!t)
        ls_oom(); /* diag.h: never steer the playbook */
    *out = ls_string_n(t, len);
    free(t);
    return 0;
}

/* out was derived from in: if in holds a secret, out is one too. */
static void ls_taint(ls_value in, ls_value out)
{
    if (ls_secret_count() == 0 || in.kind != LS_STRING || out.kind != LS_STRING || ls_str_len(out) == 0)
        return;
    size_t rl = 0;
    char *r = ls_redact(ls_str_ptr(in), ls_str_len(in), &rl);
    bool secret = !r || rl != ls_str_len(in) || memcmp(r, ls_str_ptr(in), rl) != 0;
    free(r);
    if (secret)
        ls_secret_add(ls_str_ptr(out), ls_str_len(out));
}

static int ls_case(ls_fcall *fc, const char *fn, ls_value v, bool upper, ls_value *out)
{
    if (ls_need_string(fc, fn, v) != 0)
        return -1;
    size_t len = ls_str_len(v);
    char *t = malloc(len + 1);
    if (!t)
        ls_oom(); /* diag.h: never steer the playbook */
    const char *s = ls_str_ptr(v);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        t[i] = c;
    }
    *out = ls_string_n(t, len);
    free(t);
    ls_taint(v, *out);
    return 0;
}

static int f_lower(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    return ls_case(fc, "lower", a[0], false, out);
}

static int f_upper(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    return ls_case(fc, "upper", a[0], true, out);
}

static bool ls_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int f_trim(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    if (ls_need_string(fc, "trim", a[0]) != 0)
        return -1;
    const char *s = ls_str_ptr(a[0]);
    size_t b = 0, e = ls_str_len(a[0]);
    while (b < e && ls_is_space(s[b]))
        b++;
    while (e > b && ls_is_space(s[e - 1]))
        e--;
    *out = ls_string_n(s + b, e - b);
    ls_taint(a[0], *out);
    return 0;
}

static int f_contains(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    bool r;
    if (ls_eval_in(fc->e, a[1], a[0], &r, fc->err) != 0)
        return -1;
    *out = ls_bool(r);
    return 0;
}

static int ls_affix(ls_fcall *fc, const char *fn, const ls_value *a, bool end, ls_value *out)
{
    if (a[0].kind == LS_NULL) {
        *out = ls_bool(false);
        return 0;
    }
    if (ls_need_string(fc, fn, a[0]) != 0 || ls_need_string(fc, fn, a[1]) != 0)
        return -1;
    size_t ls = ls_str_len(a[0]), lp = ls_str_len(a[1]);
    bool r = lp <= ls && memcmp(ls_str_ptr(a[0]) + (end ? ls - lp : 0), ls_str_ptr(a[1]), lp) == 0;
    *out = ls_bool(r);
    return 0;
}

static int f_starts_with(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    return ls_affix(fc, "starts_with", a, false, out);
}

static int f_ends_with(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    return ls_affix(fc, "ends_with", a, true, out);
}

static int f_matches(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    bool r;
    if (ls_eval_match(fc->e, fc->n->re, a[0], a[1], &r, fc->err) != 0)
        return -1;
    *out = ls_bool(r);
    return 0;
}

static int f_default(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)fc;
    (void)n;
    *out = ls_value_copy(a[0].kind == LS_NULL ? a[1] : a[0]);
    return 0;
}

/* MAJOR[.MINOR[.PATCH]][-PRE][+BUILD], a leading v allowed. */
typedef struct ls_semver {
    uint64_t num[3];
    const char *pre;
    size_t prelen;
} ls_semver;

static bool ls_semver_parse_s(const char *s, size_t len, ls_semver *sv)
{
    size_t i = 0;
    memset(sv, 0, sizeof *sv);
    if (i < len && (s[i] == 'v' || s[i] == 'V'))
        i++;
    for (int part = 0; part < 3; part++) {
        if (i >= len || !isdigit((unsigned char)s[i]))
            return false;
        uint64_t x = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (x > (UINT64_MAX - 9) / 10)
                return false;
            x = x * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        sv->num[part] = x;
        if (i < len && s[i] == '.' && part < 2) {
            i++;
            continue;
        }
        break;
    }
    if (i < len && s[i] == '-') {
        i++;
        sv->pre = s + i;
        while (i < len && s[i] != '+')
            i++;
        sv->prelen = (size_t)(s + i - sv->pre);
        if (sv->prelen == 0)
            return false;
    }
    if (i < len && s[i] == '+') {
        if (i + 1 >= len)
            return false;
        i = len; /* build metadata does not order */
    }
    return i == len;
}

static bool ls_semver_parse(ls_value v, ls_semver *sv)
{
    return v.kind == LS_STRING && ls_semver_parse_s(ls_str_ptr(v), ls_str_len(v), sv);
}

static bool ls_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

/* Pre-release precedence per semver.org 11.4. */
static int ls_pre_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        size_t ie = i, je = j;
        while (ie < na && a[ie] != '.')
            ie++;
        while (je < nb && b[je] != '.')
            je++;
        bool da = ls_all_digits(a + i, ie - i), db = ls_all_digits(b + j, je - j);
        int c;
        if (da && db) {
            size_t la = ie - i, lb = je - j;
            while (la > 1 && a[i] == '0') { i++; la--; }
            while (lb > 1 && b[j] == '0') { j++; lb--; }
            c = la != lb ? (la < lb ? -1 : 1) : memcmp(a + i, b + j, la);
        } else if (da != db) {
            c = da ? -1 : 1;
        } else {
            size_t la = ie - i, lb = je - j;
            c = memcmp(a + i, b + j, la < lb ? la : lb);
            if (c == 0)
                c = la < lb ? -1 : la > lb;
        }
        if (c)
            return c < 0 ? -1 : 1;
        i = ie < na ? ie + 1 : ie;
        j = je < nb ? je + 1 : je;
        if ((ie == na) != (je == nb))
            return ie == na ? -1 : 1;
        if (ie == na)
            return 0;
    }
    return 0;
}

static int f_semver_cmp(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    ls_semver x, y;
    for (int k = 0; k < 2; k++) {
        if (!ls_semver_parse(a[k], k ? &y : &x)) {
            if (a[k].kind == LS_STRING)
                return ls_eval_fail(fc->e, fc->err, "semver_cmp(): \"%.64s\" is not a version", ls_str_ptr(a[k]));
            return ls_eval_fail(fc->e, fc->err, "semver_cmp() needs version strings, got %s", KIND(a[k]));
        }
    }
    int c = 0;
    for (int k = 0; k < 3 && c == 0; k++)
        c = x.num[k] < y.num[k] ? -1 : x.num[k] > y.num[k];
    if (c == 0) {
        if (x.pre && !y.pre)
            c = -1;
        else if (!x.pre && y.pre)
            c = 1;
        else if (x.pre && y.pre)
            c = ls_pre_cmp(x.pre, x.prelen, y.pre, y.prelen);
    }
    *out = ls_int(c);
    return 0;
}

static int ls_semver_order(const ls_semver *x, const ls_semver *y)
{
    for (int k = 0; k < 3; k++)
        if (x->num[k] != y->num[k])
            return x->num[k] < y->num[k] ? -1 : 1;
    if (x->pre && !y->pre)
        return -1;
    if (!x->pre && y->pre)
        return 1;
    return x->pre && y->pre ? ls_pre_cmp(x->pre, x->prelen, y->pre, y->prelen) : 0;
}

bool ls_semver_valid(const char *s, size_t len)
{
    ls_semver sv;
    size_t dots = 0;
    for (size_t i = 0; i < len && s[i] != '-' && s[i] != '+'; i++)
        dots += s[i] == '.';
    return dots == 2 && ls_semver_parse_s(s, len, &sv);
}

static size_t ls_sv_errpos;

size_t ls_semver_range_errpos(void)
{
    return ls_sv_errpos;
}

/* ---- ranges (semver.h) ------------------------------------------------- *
 * range  -> set ('||' set)*
 * set    -> partial ' - ' partial | comparator ((' ' | ',') comparator)*
 * comparator -> ('<' | '<=' | '>' | '>=' | '=' | '^' | '~')? partial
 * partial    -> 'v'? part ('.' part ('.' part)?)? ('-' PRE)? ('+' BUILD)?
 * part       -> DIGITS | 'x' | 'X' | '*'
 * Each comparator is lowered to at most two bounds (npm's desugaring:
 * `^1.2.3` is `>=1.2.3 <2.0.0-0`), checked against the version as it is
 * parsed, so a range of any length costs no memory. */

enum { LS_SV_LT, LS_SV_LE, LS_SV_GT, LS_SV_GE, LS_SV_EQ };

typedef struct ls_svpart {
    ls_semver v;  /* concrete parts, the rest 0 */
    int k;        /* how many parts are concrete: 0..3 */
} ls_svpart;

typedef struct ls_svset {
    const ls_semver *ver; /* NULL: only check the syntax */
    bool ok;              /* every bound so far holds */
    bool pre_allowed;     /* a comparator names a pre-release of ver's M.m.p */
} ls_svset;

typedef struct ls_svscan {
    const char *s;
    size_t len, i;
    char *err;
    size_t errlen;
} ls_svscan;

static int ls_sv_fail(ls_svscan *sc, const char *what)
{
    ls_sv_errpos = sc->i;
    snprintf(sc->err, sc->errlen, "bad range \"%.64s\": %s at offset %zu", sc->s, what, sc->i);
    return -1;
}

static bool ls_sv_space(char c)
{
    return c == ' ' || c == '\t';
}

static void ls_sv_skip(ls_svscan *sc)
{
    while (sc->i < sc->len && ls_sv_space(sc->s[sc->i]))
        sc->i++;
}

static bool ls_sv_wild(char c)
{
    return c == 'x' || c == 'X' || c == '*';
}

/* A partial version at sc->i up to the next space, comma or '|'. */
static int ls_sv_partial(ls_svscan *sc, ls_svpart *p)
{
    size_t st = sc->i;
    while (sc->i < sc->len && !ls_sv_space(sc->s[sc->i]) && sc->s[sc->i] != ',' && sc->s[sc->i] != '|')
        sc->i++;
    const char *s = sc->s + st;
    size_t n = sc->i - st, j = 0;
    memset(p, 0, sizeof *p);
    if (n == 0)
        return ls_sv_fail(sc, "expected a version");
    if (s[0] == 'v' || s[0] == 'V')
        j++;
    bool wild = false;
    for (int part = 0; part < 3; part++) {
        if (j < n && ls_sv_wild(s[j])) {
            wild = true;
            j++;
        } else if (j < n && isdigit((unsigned char)s[j])) {
            if (wild) {
                sc->i = st + j;
                return ls_sv_fail(sc, "a number after a wildcard");
            }
            uint64_t x = 0;
            while (j < n && isdigit((unsigned char)s[j])) {
                if (x > (UINT64_MAX / 2 - 9) / 10) {
                    sc->i = st + j;
                    return ls_sv_fail(sc, "number too large");
                }
                x = x * 10 + (uint64_t)(s[j++] - '0');
            }
            p->v.num[part] = x;
            p->k++;
        } else {
            sc->i = st + j;
            return ls_sv_fail(sc, "expected a number, x or *");
        }
        if (j < n && s[j] == '.' && part < 2) {
            j++;
            continue;
        }
        break;
    }
    if (j < n && s[j] == '-') {
        if (p->k < 3) {
            sc->i = st + j;
            return ls_sv_fail(sc, "a pre-release needs MAJOR.MINOR.PATCH");
        }
        size_t ps = ++j;
        while (j < n && s[j] != '+')
            j++;
        if (j == ps) {
            sc->i = st + j;
            return ls_sv_fail(sc, "an empty pre-release");
        }
        p->v.pre = s + ps;
        p->v.prelen = j - ps;
    }
    if (j < n && s[j] == '+')
        j = j + 1 < n ? n : j; /* build metadata does not order */
    if (j != n) {
        sc->i = st + j;
        return ls_sv_fail(sc, "unexpected character");
    }
    return 0;
}

/* One bound: the set fails unless `ver OP bound`. */
static void ls_sv_bound(ls_svset *set, int op, const ls_semver *b, bool written)
{
    if (!set->ver)
        return;
    const ls_semver *v = set->ver;
    if (written && b->pre && v->pre && v->num[0] == b->num[0] && v->num[1] == b->num[1] &&
        v->num[2] == b->num[2])
        set->pre_allowed = true;
    int c = ls_semver_order(v, b);
    bool hold = op == LS_SV_LT ? c < 0 : op == LS_SV_LE ? c <= 0 : op == LS_SV_GT ? c > 0
              : op == LS_SV_GE ? c >= 0 : c == 0;
    if (!hold)
        set->ok = false;
}

/* The smallest version above every M.m.p with the first k parts of p:
 * (M+1).0.0-0 for k == 1, M.(m+1).0-0 for k == 2, as a "<" bound. */
static ls_semver ls_sv_next(const ls_semver *p, int k)
{
    static const char zero[] = "0";
    ls_semver n;
    memset(&n, 0, sizeof n);
    for (int i = 0; i < k - 1; i++)
        n.num[i] = p->num[i];
    n.num[k - 1] = p->num[k - 1] + 1; /* parts are < UINT64_MAX / 2 */
    n.pre = zero;
    n.prelen = 1;
    return n;
}

static void ls_sv_lower(ls_svset *set, const ls_svpart *p)
{
    if (p->k > 0)
        ls_sv_bound(set, LS_SV_GE, &p->v, true);
}

/* `<= partial`: a partial upper bound covers all its patch versions. */
static void ls_sv_upper_incl(ls_svset *set, const ls_svpart *p)
{
    if (p->k == 3) {
        ls_sv_bound(set, LS_SV_LE, &p->v, true);
    } else if (p->k > 0) {
        ls_semver n = ls_sv_next(&p->v, p->k);
        ls_sv_bound(set, LS_SV_LT, &n, false);
    }
}

static void ls_sv_never(ls_svset *set)
{
    set->ok = false;
}

static void ls_sv_apply(ls_svset *set, int op, const ls_svpart *p)
{
    static const char zero[] = "0";
    switch (op) {
    case '<':
        if (p->k == 0) {
            ls_sv_never(set);
        } else if (p->k == 3) {
            ls_sv_bound(set, LS_SV_LT, &p->v, true);
        } else {
            ls_semver b = p->v;
            b.pre = zero;
            b.prelen = 1;
            ls_sv_bound(set, LS_SV_LT, &b, false);
        }
        break;
    case 'l': /* <= */
        ls_sv_upper_incl(set, p);
        break;
    case '>':
        if (p->k == 0) {
            ls_sv_never(set);
        } else if (p->k == 3) {
            ls_sv_bound(set, LS_SV_GT, &p->v, true);
        } else {
            ls_semver n = ls_sv_next(&p->v, p->k);
            n.pre = NULL;
            n.prelen = 0;
            ls_sv_bound(set, LS_SV_GE, &n, false);
        }
        break;
    case 'g': /* >= */
        ls_sv_lower(set, p);
        break;
    case '~':
        ls_sv_lower(set, p);
        if (p->k > 0) {
            ls_semver n = ls_sv_next(&p->v, p->k == 1 ? 1 : 2);
            ls_sv_bound(set, LS_SV_LT, &n, false);
        }
        break;
    case '^': {
        ls_sv_lower(set, p);
        if (p->k == 0)
            break;
        /* The upper bound moves at the first non-zero part written
         * (npm: ^0.2.3 is <0.3.0-0, ^0.0.3 is <0.0.4-0, ^0.0 is <0.1.0-0). */
        int at = 1;
        if (p->v.num[0] == 0 && p->k >= 2)
            at = p->v.num[1] == 0 && p->k == 3 ? 3 : 2;
        ls_semver n = ls_sv_next(&p->v, at);
        ls_sv_bound(set, LS_SV_LT, &n, false);
        break;
    }
    default: /* '=' or none: exact, or an x-range */
        if (p->k == 3)
            ls_sv_bound(set, LS_SV_EQ, &p->v, true);
        else if (p->k > 0) {
            ls_sv_lower(set, p);
            ls_sv_upper_incl(set, p);
        }
        break;
    }
}

/* An operator at sc->i ('<', 'l' for <=, '>', 'g' for >=, '=', '^', '~', or 0). */
static int ls_sv_op(ls_svscan *sc)
{
    const char *s = sc->s + sc->i;
    size_t left = sc->len - sc->i;
    int op = 0;
    if (left >= 2 && s[0] == '<' && s[1] == '=') {
        op = 'l';
        sc->i += 2;
    } else if (left >= 2 && s[0] == '>' && s[1] == '=') {
        op = 'g';
        sc->i += 2;
    } else if (left >= 1 && strchr("<>=^~", s[0]) && s[0]) {
        op = s[0];
        sc->i++;
        if (op == '~' && sc->i < sc->len && sc->s[sc->i] == '>') /* ~> as Ruby writes it */
            sc->i++;
    }
    if (op) {
        ls_sv_skip(sc);
        if (sc->i < sc->len && sc->s[sc->i] == '=' && (op == '<' || op == '>'))
            return ls_sv_fail(sc, "write <= or >= without a space");
    }
    return op;
}

/* One set, up to '||' or the end.  0, or -1 with sc->err set. */
static int ls_sv_set(ls_svscan *sc, ls_svset *set)
{
    size_t nitems = 0;
    for (;;) {
        ls_sv_skip(sc);
        if (sc->i >= sc->len || sc->s[sc->i] == '|') {
            if (nitems == 0)
                return ls_sv_fail(sc, sc->len == 0 ? "an empty range (write * for any version)"
                                                   : "an empty alternative");
            break;
        }
        if (sc->s[sc->i] == ',') {
            if (nitems == 0)
                return ls_sv_fail(sc, "a comma with no comparator before it");
            sc->i++;
            ls_sv_skip(sc);
            if (sc->i >= sc->len || sc->s[sc->i] == '|' || sc->s[sc->i] == ',')
                return ls_sv_fail(sc, "a comma with no comparator after it");
        }
        int op = ls_sv_op(sc);
        if (op < 0)
            return -1;
        ls_svpart p;
        if (ls_sv_partial(sc, &p) != 0)
            return -1;
        /* A hyphen range: `A - B`, alone in its set. */
        size_t save = sc->i;
        ls_sv_skip(sc);
        if (sc->i + 1 < sc->len && sc->s[sc->i] == '-' && ls_sv_space(sc->s[sc->i + 1])) {
            if (op || nitems)
                return ls_sv_fail(sc, "a hyphen range stands alone in its set");
            sc->i++;
            ls_sv_skip(sc);
            ls_svpart q;
            if (ls_sv_partial(sc, &q) != 0)
                return -1;
            ls_sv_lower(set, &p);
            ls_sv_upper_incl(set, &q);
            ls_sv_skip(sc);
            if (sc->i < sc->len && sc->s[sc->i] != '|')
                return ls_sv_fail(sc, "a hyphen range stands alone in its set");
            return 0;
        }
        sc->i = save;
        ls_sv_apply(set, op, &p);
        nitems++;
    }
    return 0;
}

int ls_semver_range(const char *range, size_t rlen, const char *version, size_t vlen, bool *match, char *err,
                    size_t errlen)
{
    ls_semver v;
    ls_sv_errpos = 0;
    if (version && !ls_semver_parse_s(version, vlen, &v)) {
        snprintf(err, errlen, "\"%.64s\" is not a version", version);
        return -1;
    }
    ls_svscan sc = {range, rlen, 0, err, errlen};
    bool any = false;
    for (;;) {
        ls_svset set = {version ? &v : NULL, true, false};
        if (ls_sv_set(&sc, &set) != 0)
            return -1;
        if (version && set.ok && (!v.pre || set.pre_allowed))
            any = true;
        if (sc.i >= sc.len)
            break;
        /* at '|': exactly "||" */
        if (sc.i + 1 >= sc.len || sc.s[sc.i + 1] != '|')
            return ls_sv_fail(&sc, "expected '||'");
        sc.i += 2;
    }
    if (match)
        *match = any;
    return 0;
}

static int f_semver_match(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    if (a[0].kind != LS_STRING)
        return ls_eval_fail(fc->e, fc->err, "semver_match() needs a version string, got %s", KIND(a[0]));
    if (a[1].kind != LS_STRING)
        return ls_eval_fail(fc->e, fc->err, "semver_match() needs a range string, got %s", KIND(a[1]));
    char msg[256];
    bool m = false;
    if (ls_semver_range(ls_str_ptr(a[1]), ls_str_len(a[1]), ls_str_ptr(a[0]), ls_str_len(a[0]), &m, msg,
                        sizeof msg) != 0)
        return ls_eval_fail(fc->e, fc->err, "semver_match(): %s", msg);
    *out = ls_bool(m);
    return 0;
}

/* The tag of an image reference: "registry:5000/team/app:v2.4.0" -> "v2.4.0".
 * Null when the reference has none (a bare name, or only a digest), and
 * for null, so a path into a state that has not run stays harmless. */
static int f_image_tag(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    if (a[0].kind == LS_NULL) {
        *out = ls_null();
        return 0;
    }
    if (ls_need_string(fc, "image_tag", a[0]) != 0)
        return -1;
    const char *s = ls_str_ptr(a[0]);
    size_t len = ls_str_len(a[0]);
    const char *at = memchr(s, '@', len);
    if (at)
        len = (size_t)(at - s);
    size_t name_from = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/')
            name_from = i + 1;
    const char *colon = memchr(s + name_from, ':', len - name_from);
    if (!colon || colon + 1 == s + len) {
        *out = ls_null();
        return 0;
    }
    *out = ls_string_n(colon + 1, (size_t)(s + len - colon - 1));
    return 0;
}

/* fail(message): a runtime error carrying the message, so an `expect` can
 * say why it refuses (`ok or fail('why: ' + detail)`); a non-string message
 * is rendered as templates render it. */
static int f_fail(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    (void)out;
    char *text = ls_value_to_text(a[0], NULL);
    int rc = ls_eval_fail(fc->e, fc->err, "%s", text ? text : "fail()");
    free(text);
    return rc;
}

static int f_now(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)fc;
    (void)a;
    (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = ls_float((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 0;
}

static int f_lines(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    ls_value l = ls_list_new();
    if (a[0].kind == LS_NULL) {
        *out = l;
        return 0;
    }
    if (ls_need_string(fc, "lines", a[0]) != 0) {
        ls_value_free(l);
        return -1;
    }
    const char *s = ls_str_ptr(a[0]);
    size_t len = ls_str_len(a[0]), i = 0;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - s) : len;
        size_t le = e;
        if (le > i && s[le - 1] == '\r')
            le--;
        ls_list_push(&l, ls_string_n(s + i, le - i));
        i = e + 1;
    }
    *out = l;
    return 0;
}

static int f_keys(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    if (a[0].kind != LS_MAP && a[0].kind != LS_NULL)
        return ls_eval_fail(fc->e, fc->err, "keys() needs a map, got %s", KIND(a[0]));
    ls_value l = ls_list_new();
    for (size_t i = 0; i < ls_map_len(a[0]); i++)
        ls_list_push(&l, ls_string(ls_map_key_at(a[0], i)));
    *out = l;
    return 0;
}

static int f_json(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)fc;
    (void)n;
    *out = ls_null();
    if (a[0].kind != LS_STRING)
        return 0;
    ls_value v;
    if (ls_value_from_json(ls_str_ptr(a[0]), ls_str_len(a[0]), &v, NULL, 0))
        *out = v;
    return 0;
}

const ls_func ls_functions[] = {
    {"len", 1, 1, f_len},
    {"exists", 1, 1, f_exists},
    {"int", 1, 1, f_int},
    {"float", 1, 1, f_float},
    {"str", 1, 1, f_str},
    {"lower", 1, 1, f_lower},
    {"upper", 1, 1, f_upper},
    {"trim", 1, 1, f_trim},
    {"contains", 2, 2, f_contains},
    {"starts_with", 2, 2, f_starts_with},
    {"ends_with", 2, 2, f_ends_with},
    {"matches", 2, 2, f_matches},
    {"default", 2, 2, f_default},
    {"semver_cmp", 2, 2, f_semver_cmp},
    {"semver_match", 2, 2, f_semver_match},
    {"image_tag", 1, 1, f_image_tag},
    {"fail", 1, 1, f_fail},
    {"now", 0, 0, f_now},
    {"lines", 1, 1, f_lines},
    {"keys", 1, 1, f_keys},
    {"json", 1, 1, f_json},
    {NULL, 0, 0, NULL},
};

int ls_func_lookup(const char *name, size_t len)
{
    for (int i = 0; ls_functions[i].name; i++)
        if (strlen(ls_functions[i].name) == len && memcmp(ls_functions[i].name, name, len) == 0)
            return i;
    return -1;
}
