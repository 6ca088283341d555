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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr_int.h"
#include "secret.h"

#define KIND(v) ls_kind_article((ls_kind)(v).kind)

static int ls_need_string(ls_fcall *fc, const char *fn, ls_value v)
{
    if (v.kind == LS_STRING)
        return 0;
    return ls_eval_fail(fc->e, fc->err, "%s() needs a string, got %s", fn, KIND(v));
}

static int f_len(ls_fcall *fc, const ls_value *a, size_t n, ls_value *out)
{
    (void)n;
    switch ((ls_kind)a[0].kind) {
    case LS_NULL: *out = ls_int(0); return 0;
    case LS_LIST: *out = ls_int((int64_t)ls_list_len(a[0])); return 0;
    case LS_MAP: *out = ls_int((int64_t)ls_map_len(a[0])); return 0;
    case LS_STRING: {
        /* Characters: UTF-8 continuation bytes do not count. */
        const unsigned char *s = (const unsigned char *)ls_str_ptr(a[0]);
        int64_t count = 0;
        for (size_t i = 0; i < ls_str_len(a[0]); i++)
            if ((s[i] & 0xC0) != 0x80)
                count++;
        *out = ls_int(count);
        return 0;
    }
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

static bool ls_semver_parse(ls_value v, ls_semver *sv)
{
    if (v.kind != LS_STRING)
        return false;
    const char *s = ls_str_ptr(v);
    size_t len = ls_str_len(v), i = 0;
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
