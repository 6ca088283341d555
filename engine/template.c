/*
 * Templates (SPEC 3.3): `with` trees whose strings may hold ${{ EXPR }}.
 *
 * A string template is a list of parts, each literal text or a compiled
 * expression; a string that is exactly one ${{ EXPR }} is "whole" and
 * renders to the expression's value with its type.  `$${{` is a literal
 * `${{`.  The closing `}}` is the first one outside a quoted string, so
 * `${{ "}}" }}` works.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "expr_int.h"
#include "work.h"

typedef enum { LS_T_LITERAL, LS_T_STRING, LS_T_LIST, LS_T_MAP } ls_tkind;

typedef struct ls_tpart {
    ls_expr *e;     /* NULL: literal text */
    ls_value text;  /* literal text, or the part's own template text "${{ ... }}" */
} ls_tpart;

typedef struct ls_tcache {
    bool valid;
    ls_value v;
} ls_tcache;

struct ls_tmpl {
    ls_loc loc;
    ls_value lit;     /* LITERAL; STRING without expressions */
    ls_tpart *parts;  /* STRING */
    ls_tmpl **items;  /* LIST, MAP */
    char **keys;      /* MAP */
    ls_tcache *cache; /* constant value of a LIST/MAP, built on demand */
    uint32_t nparts;  /* STRING */
    uint32_t n, cap;  /* LIST, MAP */
    uint8_t kind;     /* ls_tkind */
    bool whole;       /* STRING: exactly one ${{ }} */
    bool in_arena;    /* the node, its arrays and keys are in the loader's arena (arena.h) */
};

static void *ls_tx(void *p)
{
    if (!p) {
        ls_oom();
    }
    return p;
}

static ls_tmpl *ls_tmpl_new(ls_tkind kind, ls_loc loc)
{
    /* A list or map keeps its cache in the same block, after the struct. */
    bool coll = kind == LS_T_LIST || kind == LS_T_MAP;
    size_t size = sizeof(ls_tmpl) + (coll ? sizeof(ls_tcache) : 0);
    ls_tmpl *t = ls_arena_take(size);
    if (t)
        t->in_arena = true;
    else
        t = ls_tx(calloc(1, size));
    t->kind = (uint8_t)kind;
    t->loc = loc;
    t->lit = ls_null();
    if (coll)
        t->cache = (ls_tcache *)(void *)(t + 1);
    return t;
}

/* An array of t's grown from n to cap elements of `size` bytes: realloc,
 * or a new block of the arena for a node that lives there (which keeps
 * its arrays and keys with it, all made while the loader runs). */
static void *ls_tgrow(const ls_tmpl *t, void *old, size_t n, size_t cap, size_t size)
{
    if (!t->in_arena)
        return ls_tx(realloc(old, cap * size));
    void *p = ls_arena_take(cap * size);
    assert(p); /* made outside the loader: a node from the arena grows only inside it */
    if (n)
        memcpy(p, old, n * size);
    return p;
}

/* `cap` starts at 0; the first push allocates `first` parts. */
static void ls_tparts_push(ls_tmpl *t, size_t *cap, size_t first, ls_expr *e, ls_value text)
{
    if (t->nparts == *cap) {
        *cap = *cap ? *cap * 2 : first;
        t->parts = ls_tgrow(t, t->parts, t->nparts, *cap, sizeof *t->parts);
    }
    t->parts[t->nparts].e = e;
    t->parts[t->nparts].text = text;
    t->nparts++;
}

/* Places of bytes of a template that starts at `start`, asked for in
 * increasing order: the cursor moves on from the last place asked, so a
 * string with 20,000 ${{ }} is scanned once, not once per expression. */
typedef struct ls_tcursor {
    ls_loc start;
    const char *s;
    size_t off;          /* bytes counted so far */
    uint32_t lines, chars; /* newlines before off; characters since the last */
} ls_tcursor;

static ls_loc ls_tloc(ls_tcursor *c, size_t off)
{
    if (off < c->off) { /* never asked for today; stay correct if it is */
        c->off = 0;
        c->lines = c->chars = 0;
    }
    LS_WORK(off - c->off);
    for (size_t i = c->off; i < off; i++) {
        if (c->s[i] == '\n') {
            c->lines++;
            c->chars = 0;
        } else if (((unsigned char)c->s[i] & 0xC0) != 0x80) {
            c->chars++; /* columns count characters, as in expr.c */
        }
    }
    c->off = off;
    ls_loc loc = c->start;
    if (c->lines == 0) {
        loc.col += c->chars;
    } else {
        loc.line += c->lines;
        loc.col = c->chars + 1;
    }
    return loc;
}

/* End of the expression that starts at s[from]: the first `}}` outside
 * quotes, or len when there is none. */
static size_t ls_find_close(const char *s, size_t len, size_t from)
{
    char q = 0;
    for (size_t i = from; i < len; i++) {
        char c = s[i];
        if (q) {
            if (c == '\\')
                i++;
            else if (c == q)
                q = 0;
        } else if (c == '"' || c == '\'') {
            q = c;
        } else if (c == '}' && i + 1 < len && s[i + 1] == '}') {
            return i;
        }
    }
    return len;
}

ls_tmpl *ls_tmpl_string(const char *s, size_t len, ls_loc loc, const ls_compile_env *env, ls_diags *d)
{
    ls_tmpl *t = ls_tmpl_new(LS_T_STRING, loc);
    if (len == 0 || memchr(s, '$', len) == NULL) { /* plain text: the value is all there is */
        t->lit = len ? ls_string_n(s, len) : ls_string("");
        return t;
    }
    ls_tcursor cur = {loc, s, 0, 0, 0};
    ls_buf lit;
    ls_buf_init(&lit, LS_BUF_UNLIMITED);
    size_t cap = 0, i = 0;
    bool failed = false, has_lit = false;
    /* At most a literal before each ${{ }}, the expression, and a tail. */
    size_t first = 1;
    for (const char *q = s; (q = memchr(q, '$', len - (size_t)(q - s))) != NULL; q++)
        if ((size_t)(s + len - q) >= 3 && q[1] == '{' && q[2] == '{')
            first += 2;
    while (i < len) {
        if (s[i] == '$' && i + 3 < len && s[i + 1] == '$' && s[i + 2] == '{' && s[i + 3] == '{') {
            ls_buf_add(&lit, "${{", 3);
            has_lit = true;
            i += 4;
            continue;
        }
        if (s[i] == '$' && i + 2 < len && s[i + 1] == '{' && s[i + 2] == '{') {
            size_t close = ls_find_close(s, len, i + 3);
            if (close >= len) {
                if (d)
                    ls_diag_error(d, ls_tloc(&cur, i), "unterminated ${{ in template (missing }})");
                failed = true;
                break;
            }
            size_t eb = i + 3, ee = close; /* the expression without surrounding blanks */
            while (eb < ee && (s[eb] == ' ' || s[eb] == '\t' || s[eb] == '\n' || s[eb] == '\r'))
                eb++;
            while (ee > eb && (s[ee - 1] == ' ' || s[ee - 1] == '\t' || s[ee - 1] == '\n' || s[ee - 1] == '\r'))
                ee--;
            if (ee == eb) {
                if (d)
                    ls_diag_error(d, ls_tloc(&cur, i), "empty ${{ }} in template");
                failed = true;
                i = close + 2;
                continue;
            }
            ls_expr *e = ls_expr_compile(s + eb, ee - eb, ls_tloc(&cur, eb), env, d);
            if (!e) {
                failed = true; /* keep scanning: report every bad part */
                i = close + 2;
                continue;
            }
            if (lit.len) {
                ls_tparts_push(t, &cap, first, NULL, ls_string_n(ls_buf_str(&lit), lit.len));
                ls_buf_reset(&lit);
            }
            ls_tparts_push(t, &cap, first, e, ls_expr_const_string(s + i, close + 2 - i));
            i = close + 2;
            continue;
        }
        size_t run = i + 1; /* literal text up to the next '$', at once */
        while (run < len && s[run] != '$')
            run++;
        ls_buf_add(&lit, s + i, run - i);
        has_lit = true;
        i = run;
    }
    if (failed) {
        ls_buf_free(&lit);
        ls_tmpl_free(t);
        return NULL;
    }
    if (lit.len)
        ls_tparts_push(t, &cap, first, NULL, ls_string_n(ls_buf_str(&lit), lit.len));
    ls_buf_free(&lit);
    t->whole = t->nparts == 1 && t->parts[0].e && !has_lit;
    if (t->nparts == 0) {
        t->lit = ls_string("");
    } else if (t->nparts == 1 && !t->parts[0].e) {
        t->lit = t->parts[0].text; /* plain text: the value is all there is */
        if (!t->in_arena)
            free(t->parts);
        t->parts = NULL;
        t->nparts = 0;
    }
    return t;
}

ls_tmpl *ls_tmpl_literal(ls_value v, ls_loc loc)
{
    ls_tmpl *t = ls_tmpl_new(LS_T_LITERAL, loc);
    t->lit = v;
    return t;
}

ls_tmpl *ls_tmpl_list(ls_loc loc)
{
    return ls_tmpl_new(LS_T_LIST, loc);
}

ls_tmpl *ls_tmpl_map(ls_loc loc)
{
    return ls_tmpl_new(LS_T_MAP, loc);
}

static void ls_tcache_drop(ls_tmpl *t)
{
    if (t->cache && t->cache->valid) {
        ls_value_free(t->cache->v);
        t->cache->valid = false;
    }
}

static void ls_titems_grow(ls_tmpl *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        t->items = ls_tgrow(t, t->items, t->n, cap, sizeof *t->items);
        if (t->kind == LS_T_MAP)
            t->keys = ls_tgrow(t, t->keys, t->n, cap, sizeof *t->keys);
        t->cap = (uint32_t)cap;
    }
}

void ls_tmpl_list_push(ls_tmpl *list, ls_tmpl *item)
{
    if (!list || list->kind != LS_T_LIST) {
        ls_tmpl_free(item);
        return;
    }
    ls_tcache_drop(list);
    ls_titems_grow(list);
    list->items[list->n++] = item;
}

void ls_tmpl_map_set(ls_tmpl *map, const char *key, ls_tmpl *item)
{
    if (!map || map->kind != LS_T_MAP) {
        ls_tmpl_free(item);
        return;
    }
    ls_tcache_drop(map);
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i], key) == 0) { /* a repeated key keeps its place */
            ls_tmpl_free(map->items[i]);
            map->items[i] = item;
            return;
        }
    }
    ls_titems_grow(map);
    size_t kl = strlen(key);
    map->keys[map->n] = ls_tgrow(map, NULL, 0, kl + 1, 1);
    memcpy(map->keys[map->n], key, kl + 1);
    map->items[map->n++] = item;
}

void ls_tmpl_free(ls_tmpl *t)
{
    if (!t)
        return;
    ls_value_free(t->lit);
    for (size_t i = 0; i < t->nparts; i++) {
        ls_expr_free(t->parts[i].e);
        ls_value_free(t->parts[i].text);
    }
    for (size_t i = 0; i < t->n; i++)
        ls_tmpl_free(t->items[i]);
    ls_tcache_drop(t);
    if (t->in_arena)
        return;
    free(t->parts);
    for (size_t i = 0; t->keys && i < t->n; i++)
        free(t->keys[i]);
    free(t->items);
    free(t->keys);
    free(t);
}

/* ---- inspection ---- */

ls_kind ls_tmpl_kind(const ls_tmpl *t)
{
    switch (t->kind) {
    case LS_T_LITERAL: return (ls_kind)t->lit.kind;
    case LS_T_STRING: return LS_STRING;
    case LS_T_LIST: return LS_LIST;
    case LS_T_MAP: return LS_MAP;
    }
    return LS_NULL;
}

bool ls_tmpl_is_constant(const ls_tmpl *t)
{
    switch (t->kind) {
    case LS_T_LITERAL: return true;
    case LS_T_STRING:
        for (size_t i = 0; i < t->nparts; i++)
            if (t->parts[i].e)
                return false;
        return true;
    default:
        for (size_t i = 0; i < t->n; i++)
            if (!ls_tmpl_is_constant(t->items[i]))
                return false;
        return true;
    }
}

static ls_value ls_tmpl_build_constant(const ls_tmpl *t)
{
    if (t->kind == LS_T_LITERAL || t->kind == LS_T_STRING)
        return ls_value_copy(t->lit);
    ls_value v = t->kind == LS_T_LIST ? ls_list_new() : ls_map_new();
    for (size_t i = 0; i < t->n; i++) {
        ls_value item = ls_tmpl_build_constant(t->items[i]);
        if (t->kind == LS_T_LIST)
            ls_list_push(&v, item);
        else
            ls_map_set(&v, t->keys[i], item);
    }
    return v;
}

ls_value ls_tmpl_constant(const ls_tmpl *t)
{
    if (!ls_tmpl_is_constant(t))
        return ls_null();
    if (t->kind == LS_T_LITERAL || t->kind == LS_T_STRING)
        return t->lit;
    if (!t->cache->valid) {
        t->cache->v = ls_tmpl_build_constant(t);
        t->cache->valid = true;
    }
    return t->cache->v;
}

ls_loc ls_tmpl_loc(const ls_tmpl *t)
{
    return t->loc;
}

const ls_tmpl *ls_tmpl_map_get(const ls_tmpl *map, const char *key)
{
    if (!map || map->kind != LS_T_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

size_t ls_tmpl_len(const ls_tmpl *t)
{
    return (t->kind == LS_T_LIST || t->kind == LS_T_MAP) ? t->n : 0;
}

const char *ls_tmpl_map_key_at(const ls_tmpl *map, size_t i)
{
    if (map->kind != LS_T_MAP || i >= map->n)
        return NULL;
    return map->keys[i];
}

const ls_tmpl *ls_tmpl_at(const ls_tmpl *t, size_t i)
{
    if ((t->kind != LS_T_LIST && t->kind != LS_T_MAP) || i >= t->n)
        return NULL;
    return t->items[i];
}

unsigned ls_tmpl_roots(const ls_tmpl *t)
{
    unsigned r = 0;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].e)
            r |= ls_expr_roots(t->parts[i].e);
    for (size_t i = 0; i < t->n; i++)
        r |= ls_tmpl_roots(t->items[i]);
    return r;
}

static void ls_tmpl_refs(const ls_tmpl *t, int *out, size_t max, size_t *n)
{
    for (size_t i = 0; i < t->nparts; i++) {
        if (!t->parts[i].e)
            continue;
        const int *refs;
        size_t nr = ls_expr_state_refs(t->parts[i].e, &refs);
        for (size_t k = 0; k < nr; k++) {
            bool seen = false;
            for (size_t j = 0; j < *n; j++)
                seen = seen || out[j] == refs[k];
            if (!seen && *n < max)
                out[(*n)++] = refs[k];
        }
    }
    for (size_t i = 0; i < t->n; i++)
        ls_tmpl_refs(t->items[i], out, max, n);
}

size_t ls_tmpl_state_refs(const ls_tmpl *t, int *out, size_t max)
{
    size_t n = 0;
    ls_tmpl_refs(t, out, max, &n);
    return n;
}

/* ---- rendering ---- */

#define LS_PLAN_DEFER (LS_ROOT_STATES | LS_ROOT_RESULT | LS_ROOT_NOW | LS_ROOT_GUARDS | LS_ROOT_ITEM | LS_ROOT_INDEX)

/* plan: NULL for a real render; else parts reading run-time data stay text. */
static int ls_render(const ls_tmpl *t, ls_eval_ctx *ctx, ls_value *out, ls_error *err, bool plan)
{
    switch (t->kind) {
    case LS_T_LITERAL:
        *out = ls_value_copy(t->lit);
        return 0;
    case LS_T_STRING: {
        if (t->nparts <= 1 && !t->whole) {
            *out = ls_value_copy(t->lit);
            return 0;
        }
        if (t->whole) {
            const ls_tpart *p = &t->parts[0];
            if (plan && (ls_expr_roots(p->e) & LS_PLAN_DEFER)) {
                *out = ls_value_copy(p->text);
                return 0;
            }
            if (ls_expr_eval(p->e, ctx, out, err) == 0)
                return 0;
            if (!plan)
                return -1;
            *out = ls_value_copy(p->text);
            return 0;
        }
        ls_buf b;
        ls_buf_init(&b, LS_BUF_UNLIMITED);
        for (size_t i = 0; i < t->nparts; i++) {
            const ls_tpart *p = &t->parts[i];
            if (!p->e || (plan && (ls_expr_roots(p->e) & LS_PLAN_DEFER))) {
                ls_buf_add(&b, ls_str_ptr(p->text), ls_str_len(p->text));
                continue;
            }
            ls_value v;
            if (ls_expr_eval(p->e, ctx, &v, err) != 0) {
                if (!plan) {
                    ls_buf_free(&b);
                    return -1;
                }
                ls_buf_add(&b, ls_str_ptr(p->text), ls_str_len(p->text));
                continue;
            }
            size_t len = 0;
            char *txt = ls_value_to_text(v, &len);
            ls_value_free(v);
            if (txt)
                ls_buf_add(&b, txt, len);
            free(txt);
        }
        *out = ls_string_n(ls_buf_str(&b), b.len);
        ls_buf_free(&b);
        return 0;
    }
    case LS_T_LIST:
    case LS_T_MAP: {
        ls_value v = t->kind == LS_T_LIST ? ls_list_new() : ls_map_new();
        for (size_t i = 0; i < t->n; i++) {
            ls_value item;
            if (ls_render(t->items[i], ctx, &item, err, plan) != 0) {
                ls_value_free(v);
                return -1;
            }
            if (t->kind == LS_T_LIST)
                ls_list_push(&v, item);
            else
                ls_map_set(&v, t->keys[i], item);
        }
        *out = v;
        return 0;
    }
    }
    *out = ls_null();
    return 0;
}

int ls_tmpl_render(const ls_tmpl *t, ls_eval_ctx *ctx, ls_value *out, ls_error *err)
{
    *out = ls_null();
    return ls_render(t, ctx, out, err, false);
}

ls_value ls_tmpl_render_plan(const ls_tmpl *t, ls_eval_ctx *ctx)
{
    ls_value out = ls_null();
    ls_error err;
    ls_error_clear(&err);
    ls_render(t, ctx, &out, &err, true);
    return out;
}
