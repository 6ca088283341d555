/*
 * lockstep values (value.h): scalars by value, strings, lists and maps in
 * reference-counted heap blocks.  Counts are plain integers: the engine is
 * single-threaded.
 *
 * Maps keep their entries in insertion order in one array.  Small maps are
 * searched linearly (length first, then bytes); once a map holds more than
 * LS_MAP_INDEX_MIN keys it also carries an open-addressing index of entry
 * positions, rebuilt when it fills past one half or after a delete.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lockstep/value.h>
#include "diag.h"

#define LS_MAP_INDEX_MIN 12

struct ls_str {
    uint32_t refs;
    size_t len;
    char data[]; /* len bytes + NUL */
};

struct ls_list {
    uint32_t refs;
    size_t len, cap;
    ls_value *items;
};

typedef struct ls_map_entry {
    char *key; /* NUL-terminated, malloc'd */
    size_t keylen;
    uint32_t hash;
    ls_value val;
} ls_map_entry;

struct ls_map {
    uint32_t refs;
    size_t len, cap;
    ls_map_entry *items;
    uint32_t *index; /* entry position + 1; 0 = empty slot */
    size_t icap;     /* power of two, or 0 when there is no index */
};

static void *ls_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        ls_oom();
    }
    return p;
}

static void *ls_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        ls_oom();
    }
    return q;
}

/* FNV-1a: short keys, no allocation. */
static uint32_t ls_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- scalars ---- */

ls_value ls_null(void)
{
    ls_value v;
    memset(&v, 0, sizeof v);
    v.kind = LS_NULL;
    return v;
}

ls_value ls_bool(bool b)
{
    ls_value v = ls_null();
    v.kind = LS_BOOL;
    v.u.b = b;
    return v;
}

ls_value ls_int(int64_t i)
{
    ls_value v = ls_null();
    v.kind = LS_INT;
    v.u.i = i;
    return v;
}

ls_value ls_float(double f)
{
    ls_value v = ls_null();
    v.kind = LS_FLOAT;
    v.u.f = f;
    return v;
}

/* ---- strings ---- */

ls_value ls_string_n(const char *s, size_t n)
{
    struct ls_str *str = ls_xmalloc(sizeof *str + n + 1);
    str->refs = 1;
    str->len = n;
    if (n)
        memcpy(str->data, s, n);
    str->data[n] = '\0';
    ls_value v = ls_null();
    v.kind = LS_STRING;
    v.u.s = str;
    return v;
}

ls_value ls_string(const char *s)
{
    return ls_string_n(s ? s : "", s ? strlen(s) : 0);
}

ls_value ls_string_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ls_null();
    struct ls_str *str = malloc(sizeof *str + (size_t)n + 1);
    if (!str)
        return ls_null();
    va_start(ap, fmt);
    vsnprintf(str->data, (size_t)n + 1, fmt, ap);
    va_end(ap);
    str->refs = 1;
    str->len = (size_t)n;
    ls_value v = ls_null();
    v.kind = LS_STRING;
    v.u.s = str;
    return v;
}

const char *ls_str_ptr(ls_value v)
{
    return v.kind == LS_STRING ? v.u.s->data : "";
}

size_t ls_str_len(ls_value v)
{
    return v.kind == LS_STRING ? v.u.s->len : 0;
}

/* ---- lists ---- */

ls_value ls_list_new(void)
{
    struct ls_list *l = ls_xmalloc(sizeof *l);
    l->refs = 1;
    l->len = l->cap = 0;
    l->items = NULL;
    ls_value v = ls_null();
    v.kind = LS_LIST;
    v.u.l = l;
    return v;
}

size_t ls_list_len(ls_value list)
{
    return list.kind == LS_LIST ? list.u.l->len : 0;
}

ls_value ls_list_at(ls_value list, size_t index)
{
    if (list.kind != LS_LIST || index >= list.u.l->len)
        return ls_null();
    return list.u.l->items[index];
}

void ls_list_push(ls_value *list, ls_value item)
{
    assert(list->kind == LS_LIST && list->u.l->refs == 1);
    struct ls_list *l = list->u.l;
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->items = ls_xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len++] = item;
}

/* ---- maps ---- */

ls_value ls_map_new(void)
{
    struct ls_map *m = ls_xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    m->refs = 1;
    ls_value v = ls_null();
    v.kind = LS_MAP;
    v.u.m = m;
    return v;
}

ls_value ls_map_clone(ls_value map)
{
    ls_value out = ls_map_new();
    size_t n = ls_map_len(map);
    for (size_t i = 0; i < n; i++)
        ls_map_set(&out, ls_map_key_at(map, i), ls_value_copy(ls_map_value_at(map, i)));
    return out;
}

size_t ls_map_len(ls_value map)
{
    return map.kind == LS_MAP ? map.u.m->len : 0;
}

static void ls_map_reindex(struct ls_map *m)
{
    if (m->len <= LS_MAP_INDEX_MIN) {
        free(m->index);
        m->index = NULL;
        m->icap = 0;
        return;
    }
    size_t icap = 32;
    while (icap < m->len * 2)
        icap *= 2;
    if (icap != m->icap) {
        free(m->index);
        m->index = ls_xmalloc(icap * sizeof *m->index);
        m->icap = icap;
    }
    memset(m->index, 0, icap * sizeof *m->index);
    for (size_t i = 0; i < m->len; i++) {
        size_t slot = m->items[i].hash & (icap - 1);
        while (m->index[slot])
            slot = (slot + 1) & (icap - 1);
        m->index[slot] = (uint32_t)(i + 1);
    }
}

/* Position of key, or -1. */
static long ls_map_find(const struct ls_map *m, const char *key, size_t keylen, uint32_t *hash_out)
{
    if (m->icap) {
        uint32_t h = ls_hash(key, keylen);
        if (hash_out)
            *hash_out = h;
        size_t slot = h & (m->icap - 1);
        while (m->index[slot]) {
            const ls_map_entry *e = &m->items[m->index[slot] - 1];
            if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
                return (long)(m->index[slot] - 1);
            slot = (slot + 1) & (m->icap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < m->len; i++) {
        const ls_map_entry *e = &m->items[i];
        if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
            return (long)i;
    }
    if (hash_out)
        *hash_out = ls_hash(key, keylen);
    return -1;
}

ls_value ls_map_get_n(ls_value map, const char *key, size_t keylen)
{
    if (map.kind != LS_MAP)
        return ls_null();
    long i = ls_map_find(map.u.m, key, keylen, NULL);
    return i < 0 ? ls_null() : map.u.m->items[i].val;
}

ls_value ls_map_get(ls_value map, const char *key)
{
    return ls_map_get_n(map, key, strlen(key));
}

bool ls_map_has(ls_value map, const char *key)
{
    return map.kind == LS_MAP && ls_map_find(map.u.m, key, strlen(key), NULL) >= 0;
}

const char *ls_map_key_at(ls_value map, size_t index)
{
    if (map.kind != LS_MAP || index >= map.u.m->len)
        return NULL;
    return map.u.m->items[index].key;
}

ls_value ls_map_value_at(ls_value map, size_t index)
{
    if (map.kind != LS_MAP || index >= map.u.m->len)
        return ls_null();
    return map.u.m->items[index].val;
}

void ls_map_set(ls_value *map, const char *key, ls_value item)
{
    assert(map->kind == LS_MAP && map->u.m->refs == 1);
    struct ls_map *m = map->u.m;
    size_t keylen = strlen(key);
    uint32_t h = 0;
    long i = ls_map_find(m, key, keylen, &h);
    if (i >= 0) {
        ls_value_free(m->items[i].val);
        m->items[i].val = item;
        return;
    }
    if (m->len == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->items = ls_xrealloc(m->items, m->cap * sizeof *m->items);
    }
    ls_map_entry *e = &m->items[m->len++];
    e->key = ls_xmalloc(keylen + 1);
    memcpy(e->key, key, keylen + 1);
    e->keylen = keylen;
    e->hash = h;
    e->val = item;
    if (m->len > LS_MAP_INDEX_MIN) {
        if (m->len * 2 > m->icap) {
            ls_map_reindex(m);
        } else {
            size_t slot = h & (m->icap - 1);
            while (m->index[slot])
                slot = (slot + 1) & (m->icap - 1);
            m->index[slot] = (uint32_t)m->len;
        }
    }
}

void ls_map_del(ls_value *map, const char *key)
{
    assert(map->kind == LS_MAP && map->u.m->refs == 1);
    struct ls_map *m = map->u.m;
    long i = ls_map_find(m, key, strlen(key), NULL);
    if (i < 0)
        return;
    free(m->items[i].key);
    ls_value_free(m->items[i].val);
    memmove(&m->items[i], &m->items[i + 1], (m->len - (size_t)i - 1) * sizeof *m->items);
    m->len--;
    ls_map_reindex(m);
}

/* ---- references ---- */

ls_value ls_value_copy(ls_value v)
{
    switch ((ls_kind)v.kind) {
    case LS_STRING: v.u.s->refs++; break;
    case LS_LIST: v.u.l->refs++; break;
    case LS_MAP: v.u.m->refs++; break;
    default: break;
    }
    return v;
}

void ls_value_free(ls_value v)
{
    switch ((ls_kind)v.kind) {
    case LS_STRING:
        if (--v.u.s->refs == 0)
            free(v.u.s);
        break;
    case LS_LIST:
        if (--v.u.l->refs == 0) {
            for (size_t i = 0; i < v.u.l->len; i++)
                ls_value_free(v.u.l->items[i]);
            free(v.u.l->items);
            free(v.u.l);
        }
        break;
    case LS_MAP:
        if (--v.u.m->refs == 0) {
            for (size_t i = 0; i < v.u.m->len; i++) {
                free(v.u.m->items[i].key);
                ls_value_free(v.u.m->items[i].val);
            }
            free(v.u.m->items);
            free(v.u.m->index);
            free(v.u.m);
        }
        break;
    default:
        break;
    }
}

/* ---- questions ---- */

const char *ls_kind_name(ls_kind k)
{
    switch (k) {
    case LS_NULL: return "null";
    case LS_BOOL: return "bool";
    case LS_INT: return "int";
    case LS_FLOAT: return "float";
    case LS_STRING: return "string";
    case LS_LIST: return "list";
    case LS_MAP: return "map";
    }
    return "unknown";
}

static bool ls_value_equal_depth(ls_value a, ls_value b, int depth);

static bool ls_num_equal(ls_value a, ls_value b)
{
    if (a.kind == LS_INT && b.kind == LS_INT)
        return a.u.i == b.u.i;
    if (a.kind == LS_FLOAT && b.kind == LS_FLOAT)
        return a.u.f == b.u.f;
    /* int vs float: exact comparison, no rounding of large ints. */
    int64_t i = a.kind == LS_INT ? a.u.i : b.u.i;
    double f = a.kind == LS_FLOAT ? a.u.f : b.u.f;
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
        return false;
    int64_t fi = (int64_t)f;
    return (double)fi == f && fi == i;
}

static bool ls_value_equal_depth(ls_value a, ls_value b, int depth)
{
    bool an = a.kind == LS_INT || a.kind == LS_FLOAT;
    bool bn = b.kind == LS_INT || b.kind == LS_FLOAT;
    if (an && bn)
        return ls_num_equal(a, b);
    if (a.kind != b.kind)
        return false;
    if (depth > 1024)
        return false;
    switch ((ls_kind)a.kind) {
    case LS_NULL: return true;
    case LS_BOOL: return a.u.b == b.u.b;
    case LS_STRING:
        return a.u.s == b.u.s ||
               (a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0);
    case LS_LIST:
        if (a.u.l == b.u.l)
            return true;
        if (a.u.l->len != b.u.l->len)
            return false;
        for (size_t i = 0; i < a.u.l->len; i++)
            if (!ls_value_equal_depth(a.u.l->items[i], b.u.l->items[i], depth + 1))
                return false;
        return true;
    case LS_MAP:
        if (a.u.m == b.u.m)
            return true;
        if (a.u.m->len != b.u.m->len)
            return false;
        /* Key order does not matter for equality. */
        for (size_t i = 0; i < a.u.m->len; i++) {
            const ls_map_entry *e = &a.u.m->items[i];
            long j = ls_map_find(b.u.m, e->key, e->keylen, NULL);
            if (j < 0 || !ls_value_equal_depth(e->val, b.u.m->items[j].val, depth + 1))
                return false;
        }
        return true;
    default:
        return false;
    }
}

bool ls_value_equal(ls_value a, ls_value b)
{
    return ls_value_equal_depth(a, b, 0);
}

bool ls_value_truthy_bool(ls_value v, bool *out)
{
    if (v.kind != LS_BOOL)
        return false;
    *out = v.u.b;
    return true;
}
