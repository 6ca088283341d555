/*
 * YAML reader: libyaml events -> ls_ynode tree (yaml_doc.h).
 *
 * The tree is built with an explicit stack of open containers, never by
 * recursion, so depth is checked as each start event arrives: a file nested
 * 20,000 deep stops at level LS_MAX_DEPTH + 1 with one error.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "arena.h"
#include "expr.h"
#include "work.h"
#include "yaml_doc.h"

static ls_loc ls_ymark(const char *file, yaml_mark_t m)
{
    ls_loc l = {file, (uint32_t)m.line + 1, (uint32_t)m.column + 1};
    return l;
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static ls_loc ls_yoffset(const char *file, const char *text, size_t len, size_t off)
{
    ls_loc l = {file, 1, 1};
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l.line++;
            l.col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            l.col++;
        }
    }
    return l;
}

/* ---- the arena ---------------------------------------------------------
 *
 * Every node, string and child array of one tree comes from an arena
 * (arena.h) owned by the tree and freed at once: a 10,000-state playbook
 * is some 150,000 nodes, and one malloc and free each was an eighth of a
 * `validate`; a large tree continues in 2 MiB huge pages, so a 15 MB tree
 * costs a few page faults instead of 4,000. */

/* The root of a finished tree sits beside its arena (see ls_ynode_free). */
typedef struct ls_ydoc {
    ls_arena *arena;
    ls_ynode root;
} ls_ydoc;

/* `align` is 1 for text, else the alignment of a node or a pointer. */
static void *ls_yalloc(ls_arena *a, size_t size, size_t align)
{
    return ls_arena_alloc_align(a, size, align);
}

static ls_ynode *ls_ynode_new(ls_arena *a, ls_ykind kind, ls_loc loc)
{
    ls_ynode *n = ls_yalloc(a, sizeof *n, _Alignof(ls_ynode)); /* zeroed */
    n->kind = (uint8_t)kind;
    n->loc = loc;
    return n;
}

void ls_ynode_free(ls_ynode *root)
{
    if (!root)
        return;
    ls_ydoc *doc = (ls_ydoc *)(void *)((char *)root - offsetof(ls_ydoc, root));
    ls_arena_free(doc->arena);
    free(doc);
}

/* Children of the open containers, innermost last: a container's items
 * (key, value pairs for a mapping) are copied into one exact array of the
 * arena when it ends, so nothing is grown inside the arena. */
typedef struct ls_ykids {
    ls_ynode **v;
    size_t n, cap;
} ls_ykids;

static void ls_ykids_push(ls_ykids *k, ls_ynode *node)
{
    if (k->n == k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 256;
        ls_ynode **nv = realloc(k->v, ncap * sizeof *nv);
        if (!nv)
            ls_oom();
        k->v = nv;
        k->cap = ncap;
    }
    k->v[k->n++] = node;
}

/* Moves the children from `from` on into container c. */
static void ls_ycontainer_close(ls_arena *a, ls_ynode *c, ls_ykids *k, size_t from)
{
    size_t total = k->n - from;
    if (c->kind == LS_Y_MAP) {
        c->n = (uint32_t)(total / 2); /* fewer than the text's bytes (ls_yaml_parse) */
        if (c->n) {
            c->keys = ls_yalloc(a, 2 * c->n * sizeof *c->keys, _Alignof(ls_ynode *));
            c->items = c->keys + c->n;
            for (size_t i = 0; i < c->n; i++) {
                c->keys[i] = k->v[from + 2 * i];
                c->items[i] = k->v[from + 2 * i + 1];
            }
        }
    } else {
        c->n = (uint32_t)total;
        if (c->n) {
            c->items = ls_yalloc(a, c->n * sizeof *c->items, _Alignof(ls_ynode *));
            memcpy(c->items, k->v + from, c->n * sizeof *c->items);
        }
    }
    k->n = from;
}

static int ls_ykey_cmp(const void *pa, const void *pb)
{
    const ls_ynode *a = *(ls_ynode *const *)pa, *b = *(ls_ynode *const *)pb;
    LS_WORK(1);
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->str, b->str, n);
    if (c)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    if (a->loc.line != b->loc.line)
        return a->loc.line < b->loc.line ? -1 : 1;
    return a->loc.col < b->loc.col ? -1 : a->loc.col > b->loc.col ? 1 : 0;
}

/* Whether a mapping's keys are all different, by hash (FNV-1a over the
 * bytes, open addressing): each key looked at about once, where sorting
 * 10,000 state names cost a cache miss per comparison.  Keys made to
 * collide give up after 8 probes a key on average; false then means
 * "maybe not", and the caller sorts. */
static bool ls_ymap_all_distinct(const ls_ynode *m)
{
    size_t cap = 64;
    while (cap < 2 * (size_t)m->n)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot); /* key index + 1; 0: free */
    if (!slot)
        ls_oom();
    size_t budget = 8 * (size_t)m->n;
    bool distinct = true;
    for (uint32_t i = 0; i < m->n && distinct; i++) {
        const ls_ynode *k = m->keys[i];
        uint64_t h = 1469598103934665603u;
        for (uint32_t b = 0; b < k->len; b++)
            h = (h ^ (unsigned char)k->str[b]) * 1099511628211u;
        size_t at = (size_t)h & (cap - 1);
        while (slot[at] && distinct) {
            LS_WORK(1);
            const ls_ynode *o = m->keys[slot[at] - 1];
            distinct = --budget > 0 && !(o->len == k->len && memcmp(o->str, k->str, k->len) == 0);
            at = (at + 1) & (cap - 1);
        }
        slot[at] = i + 1;
    }
    free(slot);
    return distinct;
}

/* Duplicate keys, found by sorting (a mapping may have 100,000 keys, all
 * the same one): n log n comparisons, and each repeat names the first
 * occurrence, which sorts first in its run (ties go by place).  A large
 * mapping is first checked by hash, and sorted only when that finds a
 * repeat (or gives up). */
static bool ls_ymap_check_dups(const ls_ynode *m, ls_diags *d)
{
    if (m->n < 2)
        return true;
    if (m->n <= 32) {
        /* Small mappings (nearly all): pairwise, no sort, no allocation. */
        bool dup = false;
        for (size_t i = 1; i < m->n && !dup; i++)
            for (size_t j = 0; j < i && !dup; j++) {
                LS_WORK(1);
                dup = m->keys[i]->len == m->keys[j]->len &&
                      memcmp(m->keys[i]->str, m->keys[j]->str, m->keys[i]->len) == 0;
            }
        if (!dup)
            return true;
    } else if (ls_ymap_all_distinct(m)) {
        return true;
    }
    ls_ynode **k = malloc(m->n * sizeof *k);
    if (!k)
        ls_oom();
    memcpy(k, m->keys, m->n * sizeof *k);
    qsort(k, m->n, sizeof *k, ls_ykey_cmp);
    bool ok = true;
    size_t first = 0; /* the start of the run of equal keys that k[i] is in */
    for (size_t i = 1; i < m->n; i++) {
        LS_WORK(1);
        if (k[i]->len == k[i - 1]->len && memcmp(k[i]->str, k[i - 1]->str, k[i]->len) == 0) {
            ls_diag_error(d, k[i]->loc, "duplicate key '%s' (first at line %u)", k[i]->str,
                          (unsigned)k[first]->loc.line);
            ok = false;
        } else {
            first = i;
        }
    }
    free(k);
    return ok;
}

static bool ls_ytag_resolve(const char *tag, ls_ytag *out)
{
    static const struct { const char *name; ls_ytag t; } tags[] = {
        {"tag:yaml.org,2002:str", LS_YT_STR},     {"tag:yaml.org,2002:int", LS_YT_INT},
        {"tag:yaml.org,2002:float", LS_YT_FLOAT}, {"tag:yaml.org,2002:bool", LS_YT_BOOL},
        {"tag:yaml.org,2002:null", LS_YT_NULL},   {"!", LS_YT_STR},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (strcmp(tag, tags[i].name) == 0) {
            *out = tags[i].t;
            return true;
        }
    return false;
}

static bool ls_ycoll_tag_ok(const yaml_char_t *tag, bool map)
{
    if (!tag)
        return true;
    return strcmp((const char *)tag, map ? "tag:yaml.org,2002:map" : "tag:yaml.org,2002:seq") == 0;
}

ls_ynode *ls_yaml_parse(const char *text, size_t len, const char *file, ls_diags *d)
{
    if (len > UINT32_MAX) { /* lengths and counts are uint32_t: none can be longer than the text */
        ls_loc at = {file, 0, 0};
        ls_diag_error(d, at, "the file is too large to read as YAML (%zu bytes; the limit is 4 GiB)", len);
        return NULL;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        ls_oom();
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    ls_arena *arena = ls_arena_new();
    ls_ykids kids = {NULL, 0, 0};
    ls_ynode *stack[LS_MAX_DEPTH + 1];
    size_t first_kid[LS_MAX_DEPTH + 1]; /* where each open container's children start */
    bool pending_key[LS_MAX_DEPTH + 1]; /* a mapping's key awaits its value */
    size_t depth = 0;
    ls_ynode *root = NULL;
    bool failed = false, done = false;
    int docs = 0;

    while (!done && !failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            ls_loc at;
            if (p.error == YAML_READER_ERROR)
                at = ls_yoffset(file, text, len, p.problem_offset);
            else
                at = ls_ymark(file, p.problem_mark);
            const char *problem = p.problem ? p.problem : "invalid YAML";
            if (p.error == YAML_READER_ERROR)
                ls_diag_error(d, at, "not a valid YAML text: %s (byte offset %zu)", problem,
                              p.problem_offset);
            else if (p.context)
                ls_diag_error(d, at, "YAML syntax error: %s %s", p.context, problem);
            else
                ls_diag_error(d, at, "YAML syntax error: %s", problem);
            failed = true;
            break;
        }
        ls_loc at = ls_ymark(file, ev.start_mark);
        ls_ynode *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                ls_diag_error(d, at, "a lockstep file holds one YAML document; found a second one here");
                failed = true;
            }
            break;
        case YAML_ALIAS_EVENT:
            ls_diag_error(d, at, "YAML aliases (*%s) are not supported: write the value out",
                          (const char *)ev.data.alias.anchor);
            failed = true;
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor) {
                ls_diag_error(d, at, "YAML anchors (&%s) are not supported: write the value out",
                              (const char *)ev.data.scalar.anchor);
                failed = true;
                break;
            }
            node = ls_ynode_new(arena, LS_Y_SCALAR, at);
            node->end_line = (uint32_t)ev.end_mark.line + 1;
            node->end_col = (uint32_t)ev.end_mark.column + 1;
            node->len = (uint32_t)ev.data.scalar.length;
            node->str = ls_yalloc(arena, node->len + 1, 1);
            memcpy(node->str, ev.data.scalar.value, node->len);
            node->str[node->len] = '\0';
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            node->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            ls_ytag stag = LS_YT_NONE;
            if (ev.data.scalar.tag && !ls_ytag_resolve((const char *)ev.data.scalar.tag, &stag)) {
                ls_diag_error(d, at, "unsupported YAML tag '%s'", (const char *)ev.data.scalar.tag);
                failed = true;
            }
            node->tag = (uint8_t)stag;
            if (!node->tag && !node->plain)
                node->tag = LS_YT_STR;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            bool map = ev.type == YAML_MAPPING_START_EVENT;
            const yaml_char_t *anchor = map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
            const yaml_char_t *tag = map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag;
            if (anchor) {
                ls_diag_error(d, at, "YAML anchors (&%s) are not supported: write the value out",
                              (const char *)anchor);
                failed = true;
                break;
            }
            if (!ls_ycoll_tag_ok(tag, map)) {
                ls_diag_error(d, at, "unsupported YAML tag '%s'", (const char *)tag);
                failed = true;
                break;
            }
            if (depth >= LS_MAX_DEPTH) {
                ls_diag_error(d, at, "YAML nesting deeper than %d levels", LS_MAX_DEPTH);
                failed = true;
                break;
            }
            node = ls_ynode_new(arena, map ? LS_Y_MAP : LS_Y_SEQ, at);
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            ls_ynode *c = stack[--depth];
            c->end_line = (uint32_t)ev.end_mark.line + 1;
            c->end_col = (uint32_t)ev.end_mark.column + 1;
            ls_ycontainer_close(arena, c, &kids, first_kid[depth]);
            if (c->kind == LS_Y_MAP && !ls_ymap_check_dups(c, d))
                failed = true;
            node = c; /* now complete: attach to its parent below */
            break;
        }
        default:
            break;
        }
        bool is_start = ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT;
        yaml_event_delete(&ev);
        if (!node)
            continue;
        if (failed)
            break;
        if (is_start) {
            /* Remember it; it is attached when it ends. */
            pending_key[depth] = false;
            first_kid[depth] = kids.n;
            stack[depth++] = node;
            continue;
        }
        /* A complete node: the root, a key, a value or an item. */
        if (depth == 0) {
            root = node;
            continue;
        }
        ls_ynode *parent = stack[depth - 1];
        if (parent->kind == LS_Y_SEQ) {
            ls_ykids_push(&kids, node);
        } else if (!pending_key[depth - 1]) {
            if (node->kind != LS_Y_SCALAR) {
                ls_diag_error(d, node->loc, "mapping keys must be plain strings, not a %s",
                              node->kind == LS_Y_MAP ? "mapping" : "list");
                failed = true;
                break;
            }
            if (node->plain && strcmp(node->str, "<<") == 0) {
                ls_diag_error(d, node->loc, "YAML merge keys (<<) are not supported: write the keys out");
                failed = true;
                break;
            }
            ls_ykids_push(&kids, node);
            pending_key[depth - 1] = true;
        } else {
            ls_ykids_push(&kids, node);
            pending_key[depth - 1] = false;
        }
    }
    free(kids.v);
    yaml_parser_delete(&p);
    if (failed || !root) {
        if (!failed) {
            ls_loc at = {file, 1, 1};
            ls_diag_error(d, at, "the file is empty (expected a YAML mapping)");
        }
        ls_arena_free(arena);
        return NULL;
    }
    ls_ydoc *doc = malloc(sizeof *doc);
    if (!doc)
        ls_oom();
    doc->arena = arena;
    doc->root = *root; /* nothing points at the root, so it may move */
    return &doc->root;
}

ls_ynode *ls_ymap_get(const ls_ynode *map, const char *key)
{
    if (!map || map->kind != LS_Y_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->len == kl && memcmp(map->keys[i]->str, key, kl) == 0)
            return map->items[i];
    return NULL;
}

ls_loc ls_ynode_end(const ls_ynode *n)
{
    ls_loc l = {n->loc.file, n->end_line, n->end_col};
    return l;
}

static bool ls_is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int ls_bool_text(const char *s)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return 1;
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return 0;
    return -1;
}

/* [-+]?(0|[1-9][0-9]*) | 0x[0-9a-fA-F]+ | 0o[0-7]+ */
static bool ls_int_text(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || strlen(s) != len)
        return false;
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o') && p[2]) {
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
        for (const char *q = p; *q; q++)
            if (base == 16 ? !strchr("0123456789abcdefABCDEF", *q) : (*q < '0' || *q > '7'))
                return false;
    } else {
        const char *q = p;
        if (*q == '-' || *q == '+')
            q++;
        if (!*q || (q[0] == '0' && q[1]))
            return false;
        for (; *q; q++)
            if (*q < '0' || *q > '9')
                return false;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(p, &end, base);
    if (errno || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

/* [-+]?(digits[.digits?]|.digits)([eE][-+]?digits)? with a '.' or an
 * exponent; .inf/.nan as YAML 1.1 writes them. */
static bool ls_float_text(const char *s, size_t len, double *out)
{
    if (len == 0 || strlen(s) != len)
        return false;
    const char *q = s;
    if (*q == '-' || *q == '+')
        q++;
    if (strcasecmp(q, ".inf") == 0) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (q == s && strcasecmp(q, ".nan") == 0) {
        *out = NAN;
        return true;
    }
    size_t digits = 0;
    bool dot = false, exp = false;
    for (; *q >= '0' && *q <= '9'; q++)
        digits++;
    if (*q == '.') {
        dot = true;
        for (q++; *q >= '0' && *q <= '9'; q++)
            digits++;
    }
    if (!digits)
        return false;
    if (*q == 'e' || *q == 'E') {
        exp = true;
        q++;
        if (*q == '-' || *q == '+')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q || (!dot && !exp))
        return false;
    char *end = NULL;
    *out = strtod(s, &end);
    return end && !*end;
}

ls_value ls_yaml_scalar(const ls_ynode *n)
{
    if (!n || n->kind != LS_Y_SCALAR)
        return ls_null();
    int64_t i;
    double f;
    switch ((ls_ytag)n->tag) {
    case LS_YT_STR:
        return ls_string_n(n->str, n->len);
    case LS_YT_NULL:
        return ls_null();
    case LS_YT_BOOL:
        return ls_bool(ls_bool_text(n->str) == 1);
    case LS_YT_INT:
        return ls_int_text(n->str, n->len, &i) ? ls_int(i) : ls_string_n(n->str, n->len);
    case LS_YT_FLOAT:
        if (ls_int_text(n->str, n->len, &i))
            return ls_float((double)i);
        return ls_float_text(n->str, n->len, &f) ? ls_float(f) : ls_string_n(n->str, n->len);
    case LS_YT_NONE:
        break;
    }
    if (ls_is_null_text(n->str) && strlen(n->str) == n->len)
        return ls_null();
    int b = ls_bool_text(n->str);
    if (b >= 0)
        return ls_bool(b == 1);
    if (ls_int_text(n->str, n->len, &i))
        return ls_int(i);
    if (ls_float_text(n->str, n->len, &f))
        return ls_float(f);
    return ls_string_n(n->str, n->len);
}

bool ls_yaml_is_null(const ls_ynode *n)
{
    ls_value v = ls_yaml_scalar(n);
    bool null = n && n->kind == LS_Y_SCALAR && v.kind == LS_NULL;
    ls_value_free(v);
    return null;
}

ls_value ls_yaml_value(const ls_ynode *n)
{
    if (!n)
        return ls_null();
    if (n->kind == LS_Y_SCALAR)
        return ls_yaml_scalar(n);
    if (n->kind == LS_Y_SEQ) {
        ls_value l = ls_list_new();
        for (size_t i = 0; i < n->n; i++)
            ls_list_push(&l, ls_yaml_value(n->items[i]));
        return l;
    }
    ls_value m = ls_map_new();
    for (size_t i = 0; i < n->n; i++)
        ls_map_set(&m, n->keys[i]->str, ls_yaml_value(n->items[i]));
    return m;
}

bool ls_yaml_is_yaml11_bool(const ls_ynode *n)
{
    static const char *const words[] = {"yes", "no", "on", "off", "y", "n"};
    if (!n || n->kind != LS_Y_SCALAR || !n->plain || n->tag)
        return false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(n->str, words[i]) == 0)
            return true;
    return false;
}

const char *ls_ykind_name(const ls_ynode *n)
{
    if (!n)
        return "nothing";
    if (n->kind == LS_Y_MAP)
        return "mapping";
    if (n->kind == LS_Y_SEQ)
        return "list";
    ls_value v = ls_yaml_scalar(n);
    const char *k = ls_kind_name((ls_kind)v.kind);
    ls_value_free(v);
    return k;
}
