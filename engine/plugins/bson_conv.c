/*
 * BSON <-> lockstep values.  The mapping is documented in bson_conv.h.
 */
#include "bson_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool conv_doc(bson_iter_t *it, bool is_array, int depth, ls_value *out, char *errbuf, size_t errlen);

void ls_bson_format_date(int64_t ms, char out[LS_BSON_DATE_MAX])
{
    int64_t secs = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) { /* floor division for dates before 1970 */
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, LS_BSON_DATE_MAX, "%lld", (long long)ms);
        return;
    }
    snprintf(out, LS_BSON_DATE_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}

static ls_value base64_value(const uint8_t *data, uint32_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = ((size_t)len + 2) / 3 * 4;
    char *s = malloc(n + 1);
    if (s == NULL)
        return ls_null();
    size_t o = 0;
    for (uint32_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        s[o++] = tab[(v >> 18) & 63];
        s[o++] = tab[(v >> 12) & 63];
        s[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    ls_value r = ls_string_n(s, o);
    free(s);
    return r;
}

static bool conv_value(bson_iter_t *it, int depth, ls_value *out, char *errbuf, size_t errlen)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_DOUBLE:
        *out = ls_float(bson_iter_double(it));
        return true;
    case BSON_TYPE_UTF8: {
        uint32_t n = 0;
        const char *s = bson_iter_utf8(it, &n);
        *out = ls_string_n(s, n);
        return true;
    }
    case BSON_TYPE_SYMBOL: {
        uint32_t n = 0;
        const char *s = bson_iter_symbol(it, &n);
        *out = ls_string_n(s, n);
        return true;
    }
    case BSON_TYPE_CODE: {
        uint32_t n = 0;
        const char *s = bson_iter_code(it, &n);
        *out = ls_string_n(s, n);
        return true;
    }
    case BSON_TYPE_CODEWSCOPE: {
        uint32_t n = 0, sl = 0;
        const uint8_t *scope = NULL;
        const char *s = bson_iter_codewscope(it, &n, &sl, &scope);
        *out = ls_string_n(s, n);
        return true;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        if (depth >= LS_BSON_MAX_DEPTH) {
            snprintf(errbuf, errlen, "document nested deeper than %d levels", LS_BSON_MAX_DEPTH);
            return false;
        }
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) {
            snprintf(errbuf, errlen, "malformed embedded document at '%s'", bson_iter_key(it));
            return false;
        }
        return conv_doc(&child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1, out, errbuf, errlen);
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t sub;
        uint32_t n = 0;
        const uint8_t *data = NULL;
        bson_iter_binary(it, &sub, &n, &data);
        *out = base64_value(data, n);
        return true;
    }
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_NULL:
        *out = ls_null();
        return true;
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(it), hex);
        *out = ls_string(hex);
        return true;
    }
    case BSON_TYPE_BOOL:
        *out = ls_bool(bson_iter_bool(it));
        return true;
    case BSON_TYPE_DATE_TIME: {
        char buf[LS_BSON_DATE_MAX];
        ls_bson_format_date(bson_iter_date_time(it), buf);
        *out = ls_string(buf);
        return true;
    }
    case BSON_TYPE_REGEX: {
        const char *opts = NULL;
        const char *pat = bson_iter_regex(it, &opts);
        *out = ls_string_fmt("/%s/%s", pat ? pat : "", opts ? opts : "");
        return true;
    }
    case BSON_TYPE_DBPOINTER: {
        uint32_t n = 0;
        const char *coll = NULL;
        const bson_oid_t *oid = NULL;
        char hex[25];
        bson_iter_dbpointer(it, &n, &coll, &oid);
        bson_oid_to_string(oid, hex);
        *out = ls_string_fmt("DBPointer(%.*s, %s)", (int)n, coll ? coll : "", hex);
        return true;
    }
    case BSON_TYPE_INT32:
        *out = ls_int(bson_iter_int32(it));
        return true;
    case BSON_TYPE_INT64:
        *out = ls_int(bson_iter_int64(it));
        return true;
    case BSON_TYPE_TIMESTAMP: {
        uint32_t t = 0, inc = 0;
        bson_iter_timestamp(it, &t, &inc);
        *out = ls_int((int64_t)(((uint64_t)t << 32) | inc));
        return true;
    }
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char buf[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &d);
        bson_decimal128_to_string(&d, buf);
        *out = ls_string(buf);
        return true;
    }
    case BSON_TYPE_MINKEY:
        *out = ls_string("MinKey");
        return true;
    case BSON_TYPE_MAXKEY:
        *out = ls_string("MaxKey");
        return true;
    case BSON_TYPE_EOD:
    default:
        snprintf(errbuf, errlen, "unknown BSON type 0x%02x at '%s'", (unsigned)bson_iter_type(it),
                 bson_iter_key(it));
        return false;
    }
}

static bool conv_doc(bson_iter_t *it, bool is_array, int depth, ls_value *out, char *errbuf, size_t errlen)
{
    ls_value acc = is_array ? ls_list_new() : ls_map_new();
    while (bson_iter_next(it)) {
        ls_value v;
        if (!conv_value(it, depth, &v, errbuf, errlen)) {
            ls_value_free(acc);
            return false;
        }
        if (is_array)
            ls_list_push(&acc, v);
        else
            ls_map_set(&acc, bson_iter_key(it), v);
    }
    *out = acc;
    return true;
}

bool ls_value_from_bson(const bson_t *doc, ls_value *out, char *errbuf, size_t errlen)
{
    bson_iter_t it;
    if (doc == NULL) {
        *out = ls_map_new();
        return true;
    }
    if (!bson_iter_init(&it, doc)) {
        snprintf(errbuf, errlen, "malformed BSON document");
        return false;
    }
    return conv_doc(&it, false, 0, out, errbuf, errlen);
}

/* "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]" -> ms since the epoch. */
static bool parse_iso_date(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return false;
    const char *p = s + n;
    int frac = 0, digits = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits < 3) {
            frac *= 10;
            digits++;
        }
    }
    int offset_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return false;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac;
    return true;
}

static bool append_value(bson_t *doc, const char *key, ls_value v, int depth, char *errbuf, size_t errlen);

static bool append_map(bson_t *doc, ls_value map, int depth, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < ls_map_len(map); i++)
        if (!append_value(doc, ls_map_key_at(map, i), ls_map_value_at(map, i), depth, errbuf, errlen))
            return false;
    return true;
}

static bool append_value(bson_t *doc, const char *key, ls_value v, int depth, char *errbuf, size_t errlen)
{
    int klen = -1;
    bool ok = true;
    if (depth >= LS_BSON_MAX_DEPTH) {
        snprintf(errbuf, errlen, "value nested deeper than %d levels", LS_BSON_MAX_DEPTH);
        return false;
    }
    switch ((ls_kind)v.kind) {
    case LS_NULL:
        ok = bson_append_null(doc, key, klen);
        break;
    case LS_BOOL:
        ok = bson_append_bool(doc, key, klen, v.u.b);
        break;
    case LS_INT:
        if (v.u.i >= INT32_MIN && v.u.i <= INT32_MAX)
            ok = bson_append_int32(doc, key, klen, (int32_t)v.u.i);
        else
            ok = bson_append_int64(doc, key, klen, v.u.i);
        break;
    case LS_FLOAT:
        ok = bson_append_double(doc, key, klen, v.u.f);
        break;
    case LS_STRING:
        ok = bson_append_utf8(doc, key, klen, ls_str_ptr(v), (int)ls_str_len(v));
        break;
    case LS_LIST: {
        bson_t child;
        ok = bson_append_array_begin(doc, key, klen, &child);
        for (size_t i = 0; ok && i < ls_list_len(v); i++) {
            char idx[24];
            const char *ik = NULL;
            bson_uint32_to_string((uint32_t)i, &ik, idx, sizeof idx);
            if (!append_value(&child, ik, ls_list_at(v, i), depth + 1, errbuf, errlen)) {
                bson_append_array_end(doc, &child);
                return false;
            }
        }
        ok = ok && bson_append_array_end(doc, &child);
        break;
    }
    case LS_MAP: {
        if (ls_map_len(v) == 1 && strcmp(ls_map_key_at(v, 0), "$oid") == 0) {
            ls_value hex = ls_map_value_at(v, 0);
            if (hex.kind != LS_STRING || !bson_oid_is_valid(ls_str_ptr(hex), ls_str_len(hex)) ||
                ls_str_len(hex) != 24) {
                snprintf(errbuf, errlen, "'%s': $oid needs a 24-digit hex string", key);
                return false;
            }
            bson_oid_t oid;
            bson_oid_init_from_string(&oid, ls_str_ptr(hex));
            ok = bson_append_oid(doc, key, klen, &oid);
            break;
        }
        if (ls_map_len(v) == 1 && strcmp(ls_map_key_at(v, 0), "$date") == 0) {
            ls_value dv = ls_map_value_at(v, 0);
            int64_t ms = 0;
            if (dv.kind == LS_INT) {
                ms = dv.u.i;
            } else if (dv.kind != LS_STRING || !parse_iso_date(ls_str_ptr(dv), &ms)) {
                snprintf(errbuf, errlen, "'%s': $date needs an ISO-8601 string or int milliseconds", key);
                return false;
            }
            ok = bson_append_date_time(doc, key, klen, ms);
            break;
        }
        bson_t child;
        ok = bson_append_document_begin(doc, key, klen, &child);
        if (ok && !append_map(&child, v, depth + 1, errbuf, errlen)) {
            bson_append_document_end(doc, &child);
            return false;
        }
        ok = ok && bson_append_document_end(doc, &child);
        break;
    }
    default:
        snprintf(errbuf, errlen, "'%s': cannot encode a %s", key, ls_kind_name((ls_kind)v.kind));
        return false;
    }
    if (!ok) {
        snprintf(errbuf, errlen, "'%s': document too large", key);
        return false;
    }
    return true;
}

bool ls_bson_append_value(bson_t *doc, const char *key, ls_value v, char *errbuf, size_t errlen)
{
    return append_value(doc, key, v, 0, errbuf, errlen);
}

bool ls_bson_from_map(ls_value map, bson_t *doc, char *errbuf, size_t errlen)
{
    if (ls_is_null(map))
        return true;
    if (map.kind != LS_MAP) {
        snprintf(errbuf, errlen, "expected a map, got %s", ls_kind_name((ls_kind)map.kind));
        return false;
    }
    return append_map(doc, map, 0, errbuf, errlen);
}
