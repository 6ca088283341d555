/*
 * JSON text for lockstep values (value.h): an RFC 8259 parser with line and
 * column in its errors and a nesting bound, the compact emitter, and the
 * template text rendering of SPEC 3.3.
 *
 * Emitter choices: floats print in the shortest form that reads back to the
 * same double, and an integral float keeps ".0" so it stays a float; NaN
 * and infinities print as null.  Each byte that is not part of valid UTF-8
 * prints as U+FFFD (the replacement character, as UTF-8), so the output is
 * always valid UTF-8 JSON and emit -> parse -> emit is stable.  Control
 * characters and DEL are escaped as \u00XX.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lockstep/value.h>
#include "buf.h"

#define LS_JSON_MAX_DEPTH 256

/* ---- emitter ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t ls_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2; min = 0x80; cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3; min = 0x800; cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4; min = 0x10000; cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

static void ls_json_str(ls_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    ls_buf_addc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            ls_buf_add(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        switch (c) {
        case '"': ls_buf_adds(b, "\\\""); i++; continue;
        case '\\': ls_buf_adds(b, "\\\\"); i++; continue;
        case '\n': ls_buf_adds(b, "\\n"); i++; continue;
        case '\r': ls_buf_adds(b, "\\r"); i++; continue;
        case '\t': ls_buf_adds(b, "\\t"); i++; continue;
        case '\b': ls_buf_adds(b, "\\b"); i++; continue;
        case '\f': ls_buf_adds(b, "\\f"); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            ls_buf_add(b, esc, 6);
            i++;
            continue;
        }
        size_t seq = ls_utf8_seq(p + i, n - i);
        if (seq == 0) {
            ls_buf_adds(b, "\xEF\xBF\xBD"); /* U+FFFD REPLACEMENT CHARACTER */
            i++;
        } else {
            ls_buf_add(b, p + i, seq);
            i += seq;
        }
    }
    ls_buf_addc(b, '"');
}

/* Shortest digits that read back to f (tried with %.Ne, N = 0..16), then
 * laid out in plain notation for exponents -5..16 and as d.ddde+X beyond;
 * an integral value keeps ".0". */
static void ls_json_float(ls_buf *b, double f)
{
    if (!isfinite(f)) {
        ls_buf_adds(b, "null");
        return;
    }
    char tmp[48];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp: [-]d[.ddd]e[+-]X */
    const char *p = tmp;
    char digits[24];
    size_t nd = 0;
    bool neg = *p == '-';
    if (neg)
        p++;
    while (*p && *p != 'e') {
        if (*p != '.' && nd < sizeof digits - 1)
            digits[nd++] = *p;
        p++;
    }
    long x = *p == 'e' ? strtol(p + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (neg)
        ls_buf_addc(b, '-');
    if (x >= 0 && x < 17) {
        size_t ip = (size_t)x + 1; /* digits before the point */
        for (size_t i = 0; i < ip; i++)
            ls_buf_addc(b, i < nd ? digits[i] : '0');
        ls_buf_addc(b, '.');
        if (nd > ip)
            ls_buf_add(b, digits + ip, nd - ip);
        else
            ls_buf_addc(b, '0');
    } else if (x < 0 && x >= -5) {
        ls_buf_adds(b, "0.");
        for (long i = 0; i < -x - 1; i++)
            ls_buf_addc(b, '0');
        ls_buf_add(b, digits, nd);
    } else {
        ls_buf_addc(b, digits[0]);
        if (nd > 1) {
            ls_buf_addc(b, '.');
            ls_buf_add(b, digits + 1, nd - 1);
        }
        ls_buf_printf(b, "e%+ld", x);
    }
}

static void ls_json_emit(ls_buf *b, ls_value v, int depth)
{
    if (depth > 4 * LS_JSON_MAX_DEPTH) { /* values built in C may nest deeper */
        ls_buf_adds(b, "null");
        return;
    }
    switch ((ls_kind)v.kind) {
    case LS_NULL: ls_buf_adds(b, "null"); break;
    case LS_BOOL: ls_buf_adds(b, v.u.b ? "true" : "false"); break;
    case LS_INT: ls_buf_add_int(b, v.u.i); break;
    case LS_FLOAT: ls_json_float(b, v.u.f); break;
    case LS_STRING: ls_json_str(b, ls_str_ptr(v), ls_str_len(v)); break;
    case LS_LIST:
        ls_buf_addc(b, '[');
        for (size_t i = 0; i < ls_list_len(v); i++) {
            if (i)
                ls_buf_addc(b, ',');
            ls_json_emit(b, ls_list_at(v, i), depth + 1);
        }
        ls_buf_addc(b, ']');
        break;
    case LS_MAP:
        ls_buf_addc(b, '{');
        for (size_t i = 0; i < ls_map_len(v); i++) {
            if (i)
                ls_buf_addc(b, ',');
            const char *k = ls_map_key_at(v, i);
            ls_json_str(b, k, strlen(k));
            ls_buf_addc(b, ':');
            ls_json_emit(b, ls_map_value_at(v, i), depth + 1);
        }
        ls_buf_addc(b, '}');
        break;
    }
}

void ls_buf_add_json(ls_buf *b, ls_value v)
{
    ls_json_emit(b, v, 0);
}

void ls_buf_add_json_str(ls_buf *b, const char *s, size_t n)
{
    ls_json_str(b, s, n);
}

char *ls_value_to_json(ls_value v, size_t *len_out)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    ls_json_emit(&b, v, 0);
    if (len_out)
        *len_out = b.len;
    return ls_buf_steal(&b);
}

char *ls_value_to_text(ls_value v, size_t *len_out)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    switch ((ls_kind)v.kind) {
    case LS_NULL: break;
    case LS_STRING: ls_buf_add(&b, ls_str_ptr(v), ls_str_len(v)); break;
    default: ls_json_emit(&b, v, 0); break;
    }
    if (len_out)
        *len_out = b.len;
    return ls_buf_steal(&b);
}

/* ---- parser ---- */

typedef struct ls_jp {
    const char *s;
    size_t n, pos;
    char *err;
    size_t errlen;
    bool failed;
} ls_jp;

static void ls_jp_fail(ls_jp *p, size_t at, const char *what)
{
    if (p->failed)
        return;
    p->failed = true;
    unsigned long line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->n; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "line %lu, column %lu: %s", line, col, what);
}

static void ls_jp_ws(ls_jp *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int ls_jp_hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static void ls_utf8_put(ls_buf *b, unsigned cp)
{
    char o[4];
    size_t k;
    if (cp < 0x80) {
        o[0] = (char)cp; k = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); k = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); k = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); k = 4;
    }
    ls_buf_add(b, o, k);
}

/* At the opening quote; fills b with the decoded bytes. */
static bool ls_jp_string(ls_jp *p, ls_buf *b)
{
    size_t start = p->pos;
    p->pos++;
    while (p->pos < p->n) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return true;
        }
        if (c < 0x20) {
            ls_jp_fail(p, p->pos, "control character in string");
            return false;
        }
        if (c != '\\') {
            size_t run = p->pos;
            while (run < p->n && p->s[run] != '"' && p->s[run] != '\\' &&
                   (unsigned char)p->s[run] >= 0x20)
                run++;
            ls_buf_add(b, p->s + p->pos, run - p->pos);
            p->pos = run;
            continue;
        }
        if (p->pos + 1 >= p->n)
            break;
        char e = p->s[p->pos + 1];
        switch (e) {
        case '"': ls_buf_addc(b, '"'); break;
        case '\\': ls_buf_addc(b, '\\'); break;
        case '/': ls_buf_addc(b, '/'); break;
        case 'b': ls_buf_addc(b, '\b'); break;
        case 'f': ls_buf_addc(b, '\f'); break;
        case 'n': ls_buf_addc(b, '\n'); break;
        case 'r': ls_buf_addc(b, '\r'); break;
        case 't': ls_buf_addc(b, '\t'); break;
        case 'u': {
            unsigned cp;
            if (p->pos + 6 > p->n || ls_jp_hex4(p->s + p->pos + 2, &cp) != 0) {
                ls_jp_fail(p, p->pos, "bad \\u escape");
                return false;
            }
            p->pos += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 6 <= p->n && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u' &&
                    ls_jp_hex4(p->s + p->pos + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p->pos += 6;
                } else {
                    cp = 0xFFFD; /* lone surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            ls_utf8_put(b, cp);
            continue;
        }
        default:
            ls_jp_fail(p, p->pos, "bad escape in string");
            return false;
        }
        p->pos += 2;
    }
    ls_jp_fail(p, start, "unterminated string");
    return false;
}

static bool ls_jp_number(ls_jp *p, ls_value *out)
{
    size_t start = p->pos, i = p->pos;
    bool isfloat = false;
    if (i < p->n && p->s[i] == '-')
        i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') {
        ls_jp_fail(p, start, "expected a value");
        return false;
    }
    if (p->s[i] == '0') {
        i++;
    } else {
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->n && p->s[i] == '.') {
        isfloat = true;
        i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') {
            ls_jp_fail(p, i, "expected a digit after '.'");
            return false;
        }
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        isfloat = true;
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') {
            ls_jp_fail(p, i, "expected a digit in exponent");
            return false;
        }
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    char tmp[64];
    char *heap = NULL;
    char *num = tmp;
    size_t len = i - start;
    if (len >= sizeof tmp) {
        heap = malloc(len + 1);
        if (!heap) {
            ls_jp_fail(p, start, "out of memory");
            return false;
        }
        num = heap;
    }
    memcpy(num, p->s + start, len);
    num[len] = '\0';
    p->pos = i;
    if (!isfloat) {
        char *end;
        errno = 0;
        long long v = strtoll(num, &end, 10);
        if (errno == 0) {
            *out = ls_int((int64_t)v);
            free(heap);
            return true;
        }
    }
    *out = ls_float(strtod(num, NULL)); /* too large an int becomes a float */
    free(heap);
    return true;
}

static bool ls_jp_value(ls_jp *p, ls_value *out, int depth);

static bool ls_jp_literal(ls_jp *p, const char *word, ls_value v, ls_value *out)
{
    size_t n = strlen(word);
    if (p->n - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        *out = v;
        return true;
    }
    ls_jp_fail(p, p->pos, "expected a value");
    return false;
}

static bool ls_jp_value(ls_jp *p, ls_value *out, int depth)
{
    ls_jp_ws(p);
    if (p->pos >= p->n) {
        ls_jp_fail(p, p->pos, "unexpected end of input");
        return false;
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth >= LS_JSON_MAX_DEPTH) {
            ls_jp_fail(p, p->pos, "nesting deeper than 256");
            return false;
        }
    }
    if (c == '"') {
        ls_buf b;
        ls_buf_init(&b, LS_BUF_UNLIMITED);
        bool ok = ls_jp_string(p, &b);
        if (ok)
            *out = ls_string_n(ls_buf_str(&b), b.len);
        ls_buf_free(&b);
        return ok;
    }
    if (c == '[') {
        p->pos++;
        ls_value list = ls_list_new();
        ls_jp_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ']') {
            p->pos++;
            *out = list;
            return true;
        }
        for (;;) {
            ls_value item;
            if (!ls_jp_value(p, &item, depth + 1)) {
                ls_value_free(list);
                return false;
            }
            ls_list_push(&list, item);
            ls_jp_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == ']') {
                p->pos++;
                *out = list;
                return true;
            }
            ls_jp_fail(p, p->pos, "expected ',' or ']'");
            ls_value_free(list);
            return false;
        }
    }
    if (c == '{') {
        p->pos++;
        ls_value map = ls_map_new();
        ls_jp_ws(p);
        if (p->pos < p->n && p->s[p->pos] == '}') {
            p->pos++;
            *out = map;
            return true;
        }
        for (;;) {
            ls_jp_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') {
                ls_jp_fail(p, p->pos, "expected a string key");
                ls_value_free(map);
                return false;
            }
            ls_buf key;
            ls_buf_init(&key, LS_BUF_UNLIMITED);
            if (!ls_jp_string(p, &key)) {
                ls_buf_free(&key);
                ls_value_free(map);
                return false;
            }
            if (memchr(ls_buf_str(&key), '\0', key.len)) {
                ls_jp_fail(p, p->pos, "NUL character in key");
                ls_buf_free(&key);
                ls_value_free(map);
                return false;
            }
            ls_jp_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') {
                ls_jp_fail(p, p->pos, "expected ':'");
                ls_buf_free(&key);
                ls_value_free(map);
                return false;
            }
            p->pos++;
            ls_value item;
            if (!ls_jp_value(p, &item, depth + 1)) {
                ls_buf_free(&key);
                ls_value_free(map);
                return false;
            }
            ls_map_set(&map, ls_buf_str(&key), item); /* a repeated key: last wins */
            ls_buf_free(&key);
            ls_jp_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == '}') {
                p->pos++;
                *out = map;
                return true;
            }
            ls_jp_fail(p, p->pos, "expected ',' or '}'");
            ls_value_free(map);
            return false;
        }
    }
    if (c == 't')
        return ls_jp_literal(p, "true", ls_bool(true), out);
    if (c == 'f')
        return ls_jp_literal(p, "false", ls_bool(false), out);
    if (c == 'n')
        return ls_jp_literal(p, "null", ls_null(), out);
    return ls_jp_number(p, out);
}

bool ls_value_from_json(const char *text, size_t len, ls_value *out, char *errbuf, size_t errlen)
{
    ls_jp p = {text, len, 0, errbuf, errlen, false};
    ls_value v;
    *out = ls_null();
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!ls_jp_value(&p, &v, 0))
        return false;
    ls_jp_ws(&p);
    if (p.pos != p.n) {
        ls_jp_fail(&p, p.pos, "unexpected text after the value");
        ls_value_free(v);
        return false;
    }
    *out = v;
    return true;
}
