/*
 * The loader and validator (SPEC 2): YAML tree -> checked, compiled
 * ls_playbook.  Every problem goes to the ls_diags in one pass; nothing
 * stops at the first error, so an operator fixes a file in one round.
 *
 * Order: file -> YAML -> top-level keys -> names (params, guards, states)
 * -> values files -> defaults -> guards -> states -> graph checks -> param
 * values.  Names are all known before any expression is compiled, so an
 * expression may mention any state, guard or param wherever it is declared.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "file.h"
#include "load_int.h"
#include "semver.h"
#include "sha256.h"

#define LS_MAX_FILE (64u * 1024u * 1024u) /* a 100,000-state playbook is ~18 MB */

char *ls_load_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (!p)
        ls_oom();
    memcpy(p, s, n + 1);
    return p;
}

void *ls_pb_alloc(ls_playbook *pb, size_t size)
{
    return ls_arena_alloc(pb->arena, size);
}

char *ls_pb_strdup(ls_playbook *pb, const char *s)
{
    return ls_arena_strdup(pb->arena, s);
}

bool ls_load_read_file(const char *path, ls_diags *d, const char **file, char **text, size_t *len,
                       ls_arena *a)
{
    *file = ls_diags_source(d, path, NULL, 0);
    ls_loc at = {*file, 0, 0};
    char why[256];
    if (ls_file_read_in(path, LS_MAX_FILE, a, text, len, why, sizeof why) != 0) {
        ls_diag_error(d, at, "%s", why);
        return false;
    }
    *file = a ? ls_diags_source_lend(d, path, *text, *len) : ls_diags_source(d, path, *text, *len);
    return true;
}

/* ---- small checks shared by every section ------------------------------ */

void ls_load_check_keys(ls_loader *L, const ls_ynode *map, const char *where, const char *const *allowed)
{
    if (!map || map->kind != LS_Y_MAP)
        return;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = (*a)[0] == k[0] && strcmp(*a, k) == 0;
        if (ok)
            continue;
        ls_buf b;
        ls_buf_init(&b, 4096);
        for (const char *const *a = allowed; *a; a++)
            ls_buf_printf(&b, "%s%s", a == allowed ? "" : ", ", *a);
        ls_diag_error(L->d, map->keys[i]->loc, "unknown key '%s' in %s (allowed: %s)", k, where, ls_buf_str(&b));
        ls_buf_free(&b);
    }
}

const char *ls_load_text(ls_loader *L, const ls_ynode *n, const char *what)
{
    if (!n)
        return NULL;
    if (n->kind != LS_Y_SCALAR) {
        ls_diag_error(L->d, n->loc, "%s must be a string, not a %s", what, ls_ykind_name(n));
        return NULL;
    }
    if (n->plain && !n->tag && (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0)) {
        ls_diag_error(L->d, n->loc, "%s needs a value", what);
        return NULL;
    }
    return n->str;
}

int ls_load_bool(ls_loader *L, const ls_ynode *n, const char *what)
{
    ls_value v = ls_yaml_scalar(n);
    int r = -1;
    if (n && n->kind == LS_Y_SCALAR && v.kind == LS_BOOL)
        r = v.u.b ? 1 : 0;
    else if (ls_yaml_is_yaml11_bool(n))
        ls_diag_error(L->d, n->loc, "%s must be true or false ('%s' is read as a string: write true or false)",
                      what, n->str);
    else if (n)
        ls_diag_error(L->d, n->loc, "%s must be true or false, not a %s", what, ls_ykind_name(n));
    ls_value_free(v);
    return r;
}

bool ls_load_ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* [a-z0-9][a-z0-9_.-]* */
static bool ls_pb_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("_.-", s[i])))
            return false;
    return true;
}

bool ls_load_duration(ls_loader *L, const ls_ynode *n, const char *what, int64_t *ms)
{
    ls_value v = ls_yaml_scalar(n);
    bool ok = false;
    if (n->kind == LS_Y_SCALAR && v.kind == LS_INT && v.u.i >= 0 && v.u.i <= INT64_MAX / 1000) {
        *ms = v.u.i * 1000;
        ok = true;
    } else if (n->kind == LS_Y_SCALAR && v.kind == LS_STRING &&
               ls_duration_parse(n->str, n->len, ms) == 0) {
        ok = true;
    }
    if (!ok)
        ls_diag_error(L->d, n->loc, "%s: bad duration '%s' (write 250ms, 30s, 5m, 1h30m, or a number of seconds)",
                      what, n->kind == LS_Y_SCALAR ? n->str : ls_ykind_name(n));
    ls_value_free(v);
    return ok;
}

/* Levenshtein distance, bounded: names are at most 128 bytes. */
static size_t ls_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return SIZE_MAX;
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

const char *ls_load_suggest(const char *name, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < n; i++) {
        size_t dd = ls_edit_distance(name, names[i]);
        if (dd < bd) {
            bd = dd;
            best = names[i];
        }
    }
    return best;
}

static const ls_playbook *ls_sort_pb; /* qsort has no user pointer */

static int ls_by_name_cmp(const void *a, const void *b)
{
    return strcmp(ls_sort_pb->states[*(const size_t *)a].name, ls_sort_pb->states[*(const size_t *)b].name);
}

static uint64_t ls_name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* State names by hash (open addressing, SIZE_MAX marks a free slot): one
 * string compare per lookup where the sorted array took fourteen, each a
 * cache miss in a 10,000-state playbook.  Names that collide once cut at an
 * embedded NUL fall back to the sorted array, so a lookup answers exactly
 * as it always has. */
static void ls_state_index_build(ls_loader *L)
{
    const ls_playbook *pb = L->pb;
    size_t cap = 16;
    while (cap < 2 * pb->nstates)
        cap *= 2;
    L->name_slots = malloc(cap * sizeof *L->name_slots);
    if (!L->name_slots)
        ls_oom();
    for (size_t i = 0; i < cap; i++)
        L->name_slots[i] = SIZE_MAX;
    L->name_mask = cap - 1;
    for (size_t i = 0; i < pb->nstates; i++) {
        size_t at = (size_t)ls_name_hash(pb->states[i].name) & L->name_mask;
        while (L->name_slots[at] != SIZE_MAX) {
            if (strcmp(pb->states[L->name_slots[at]].name, pb->states[i].name) == 0) {
                free(L->name_slots); /* the same name twice: the sorted array decides */
                L->name_slots = NULL;
                return;
            }
            at = (at + 1) & L->name_mask;
        }
        L->name_slots[at] = i;
    }
}

static int ls_load_state_find(ls_loader *L, const char *s)
{
    if (L->name_slots) {
        for (size_t at = (size_t)ls_name_hash(s) & L->name_mask; L->name_slots[at] != SIZE_MAX;
             at = (at + 1) & L->name_mask)
            if (strcmp(s, L->pb->state_names[L->name_slots[at]]) == 0)
                return (int)L->name_slots[at];
        return -1;
    }
    if (!L->by_name) {
        L->by_name = malloc((L->pb->nstates + 1) * sizeof *L->by_name);
        if (!L->by_name)
            ls_oom();
        for (size_t i = 0; i < L->pb->nstates; i++)
            L->by_name[i] = i;
        ls_sort_pb = L->pb;
        qsort(L->by_name, L->pb->nstates, sizeof *L->by_name, ls_by_name_cmp);
        ls_sort_pb = NULL;
    }
    size_t lo = 0, hi = L->pb->nstates;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s, L->pb->states[L->by_name[mid]].name);
        if (c == 0)
            return (int)L->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

int ls_load_state_ref(ls_loader *L, const ls_ynode *n, const char *what)
{
    const char *s = ls_load_text(L, n, what);
    if (!s) {
        L->broken++;
        return -1;
    }
    int i = ls_load_state_find(L, s);
    if (i < 0) {
        L->broken++;
        const char *hint = ls_load_suggest(s, L->pb->state_names, L->pb->nstates);
        if (hint)
            ls_diag_error(L->d, n->loc, "%s: no state named '%s' (did you mean '%s'?)", what, s, hint);
        else
            ls_diag_error(L->d, n->loc, "%s: no state named '%s'", what, s);
    }
    return i;
}

static ls_loc ls_text_loc(const ls_ynode *n)
{
    ls_loc l = n->loc;
    if (n->quoted)
        l.col++;
    return l;
}

ls_expr *ls_load_expr(ls_loader *L, const ls_ynode *n, const char *what, bool allow_result)
{
    const char *s = ls_load_text(L, n, what);
    if (!s)
        return NULL;
    return ls_expr_compile(n->str, n->len, ls_text_loc(n), allow_result ? &L->env_result : &L->env, L->d);
}

/* `requires`/`expect`: one expression or a list of them. */
ls_expr **ls_load_expr_list(ls_loader *L, const ls_ynode *n, const char *what, bool allow_result,
                                   size_t *count)
{
    size_t k = n->kind == LS_Y_SEQ ? n->n : 1;
    ls_expr **v = ls_pb_alloc(L->pb, (k ? k : 1) * sizeof *v);
    *count = 0;
    if (n->kind == LS_Y_SEQ) {
        if (n->n == 0)
            ls_diag_error(L->d, n->loc, "%s: an empty list", what);
        for (size_t i = 0; i < n->n; i++) {
            ls_expr *e = ls_load_expr(L, n->items[i], what, allow_result);
            if (e)
                v[(*count)++] = e;
        }
    } else {
        ls_expr *e = ls_load_expr(L, n, what, allow_result);
        if (e)
            v[(*count)++] = e;
    }
    return v;
}

/* A `with` tree (or a confirm prompt) as a template; NULL after errors. */
ls_tmpl *ls_load_tmpl(ls_loader *L, const ls_ynode *n, ls_diags *d)
{
    if (n->kind == LS_Y_SCALAR) {
        ls_value v = ls_yaml_scalar(n);
        if (v.kind == LS_STRING) {
            ls_value_free(v);
            return ls_tmpl_string(n->str, n->len, ls_text_loc(n), &L->env, d);
        }
        return ls_tmpl_literal(v, n->loc);
    }
    ls_tmpl *t = n->kind == LS_Y_SEQ ? ls_tmpl_list(n->loc) : ls_tmpl_map(n->loc);
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        ls_tmpl *c = ls_load_tmpl(L, n->items[i], d);
        if (!c) {
            ok = false;
            continue;
        }
        if (n->kind == LS_Y_SEQ)
            ls_tmpl_list_push(t, c);
        else
            ls_tmpl_map_set(t, n->keys[i]->str, c);
    }
    if (!ok) {
        ls_tmpl_free(t);
        return NULL;
    }
    return t;
}

/* ---- defaults ---------------------------------------------------------- */

static void ls_fdefault_put(ls_loader *L, const char *family, const char *key, const ls_ynode *node)
{
    for (size_t i = 0; i < L->nfd; i++)
        if (strcmp(L->fd[i].family, family) == 0 && strcmp(L->fd[i].key, key) == 0) {
            L->fd[i].node = node; /* a later file overrides */
            L->fd[i].ok = false;
            return;
        }
    if (L->nfd == L->capfd) {
        L->capfd = L->capfd ? L->capfd * 2 : 8;
        L->fd = realloc(L->fd, L->capfd * sizeof *L->fd);
        if (!L->fd)
            ls_oom();
    }
    L->fd[L->nfd++] = (ls_fdefault){family, key, node, false};
}

/* One `defaults:` mapping (the playbook's, then each values file's). */
static void ls_load_defaults(ls_loader *L, const ls_ynode *n, const ls_ynode **on_failure)
{
    static const char *const keys[] = {"timeout", "on_failure", "with", "confirm_mutating", NULL};
    if (n->kind != LS_Y_MAP) {
        ls_diag_error(L->d, n->loc, "defaults must be a mapping, not a %s", ls_ykind_name(n));
        return;
    }
    ls_load_check_keys(L, n, "defaults", keys);
    const ls_ynode *v;
    if ((v = ls_ymap_get(n, "timeout"))) {
        int64_t ms;
        if (ls_load_duration(L, v, "defaults.timeout", &ms)) {
            if (ms == 0)
                ls_diag_error(L->d, v->loc, "defaults.timeout must be greater than 0");
            L->pb->default_timeout_ms = ms;
        }
    }
    if ((v = ls_ymap_get(n, "on_failure")))
        *on_failure = v;
    if ((v = ls_ymap_get(n, "confirm_mutating"))) {
        int b = ls_load_bool(L, v, "defaults.confirm_mutating");
        if (b >= 0)
            L->pb->confirm_mutating = b == 1;
    }
    if ((v = ls_ymap_get(n, "with"))) {
        if (v->kind != LS_Y_MAP) {
            ls_diag_error(L->d, v->loc, "defaults.with must be a mapping of action families, not a %s",
                          ls_ykind_name(v));
            return;
        }
        for (size_t i = 0; i < v->n; i++) {
            const char *fam = v->keys[i]->str;
            const ls_family *f = ls_family_find(fam);
            if (!f) {
                ls_buf b;
                ls_buf_init(&b, 1024);
                for (const ls_family *g = ls_families; g->name; g++)
                    ls_buf_printf(&b, "%s%s", g == ls_families ? "" : ", ", g->name);
                ls_diag_error(L->d, v->keys[i]->loc, "defaults.with: unknown action family '%s' (families: %s)",
                              fam, ls_buf_str(&b));
                ls_buf_free(&b);
                continue;
            }
            const ls_ynode *m = v->items[i];
            if (m->kind != LS_Y_MAP) {
                ls_diag_error(L->d, m->loc, "defaults.with.%s must be a mapping, not a %s", fam, ls_ykind_name(m));
                continue;
            }
            for (size_t j = 0; j < m->n; j++) {
                const char *key = m->keys[j]->str;
                bool known = false;
                ls_buf b;
                ls_buf_init(&b, 1024);
                for (const ls_input *in = f->inputs; in->name; in++) {
                    ls_buf_printf(&b, "%s%s", in == f->inputs ? "" : ", ", in->name);
                    if (strcmp(in->name, key) == 0)
                        known = true;
                }
                if (!known)
                    ls_diag_error(L->d, m->keys[j]->loc, "defaults.with.%s: unknown input '%s' (inputs: %s)", fam,
                                  key, ls_buf_str(&b));
                else
                    ls_fdefault_put(L, f->name, key, m->items[j]);
                ls_buf_free(&b);
            }
        }
    }
}

/* Each family default is compiled once here, where its errors are reported;
 * states compile their own copies silently (see ls_state_with). */
static void ls_check_fdefaults(ls_loader *L)
{
    for (size_t i = 0; i < L->nfd; i++) {
        ls_fdefault *f = &L->fd[i];
        ls_tmpl *t = ls_load_tmpl(L, f->node, L->d);
        if (!t)
            continue;
        const ls_family *fam = ls_family_find(f->family);
        for (const ls_input *in = fam->inputs; in->name; in++)
            if (strcmp(in->name, f->key) == 0 && ls_tmpl_is_constant(t) &&
                !ls_input_type_ok(in->type, ls_tmpl_constant(t)))
                ls_diag_error(L->d, f->node->loc, "defaults.with.%s.%s must be %s, not %s", f->family, f->key,
                              in->type, ls_kind_name((ls_kind)ls_tmpl_constant(t).kind));
        f->ok = true;
        ls_tmpl_free(t);
    }
}

/* ---- guards ------------------------------------------------------------ */

static void ls_load_guards(ls_loader *L, const ls_ynode *g)
{
    static const char *const keys[] = {"expr", "description", NULL};
    ls_playbook *pb = L->pb;
    for (size_t i = 0; i < g->n; i++) {
        const ls_ynode *v = g->items[i];
        ls_guard *gd = &pb->guards[i];
        char what[200];
        snprintf(what, sizeof what, "guard '%s'", gd->name);
        if (v->kind == LS_Y_MAP) {
            ls_load_check_keys(L, v, what, keys);
            const ls_ynode *e = ls_ymap_get(v, "expr");
            const ls_ynode *dsc = ls_ymap_get(v, "description");
            if (dsc && ls_load_text(L, dsc, "description"))
                gd->description = ls_load_strdup(dsc->str);
            if (!e)
                ls_diag_error(L->d, v->loc, "%s needs 'expr'", what);
            else
                gd->expr = ls_load_expr(L, e, what, false);
        } else {
            gd->expr = ls_load_expr(L, v, what, false);
        }
    }
}

/* Guards that evaluate each other in a circle would recurse forever: found
 * with an explicit-stack depth-first search (no recursion on input size). */
static void ls_check_guard_cycles(ls_loader *L)
{
    ls_playbook *pb = L->pb;
    size_t n = pb->nguards;
    if (!n)
        return;
    unsigned char *color = calloc(n, 1);
    size_t *stk = malloc(n * sizeof *stk), *edge = malloc(n * sizeof *edge);
    if (!color || !stk || !edge)
        ls_oom();
    for (size_t s = 0; s < n; s++) {
        if (color[s])
            continue;
        size_t top = 0;
        stk[top] = s;
        edge[top] = 0;
        color[s] = 1;
        top++;
        while (top) {
            size_t u = stk[top - 1];
            const int *refs = NULL;
            size_t nr = pb->guards[u].expr ? ls_expr_guard_refs(pb->guards[u].expr, &refs) : 0;
            if (edge[top - 1] >= nr) {
                color[u] = 2;
                top--;
                continue;
            }
            size_t w = (size_t)refs[edge[top - 1]++];
            if (w >= n)
                continue;
            if (color[w] == 1) {
                ls_buf b;
                ls_buf_init(&b, 4096);
                size_t from = top;
                while (from > 0 && stk[from - 1] != w)
                    from--;
                for (size_t k = from - 1; k < top; k++)
                    ls_buf_printf(&b, "%s -> ", pb->guards[stk[k]].name);
                ls_buf_adds(&b, pb->guards[w].name);
                ls_diag_error(L->d, pb->guards[w].loc, "guards refer to each other in a cycle: %s", ls_buf_str(&b));
                ls_buf_free(&b);
            } else if (color[w] == 0) {
                color[w] = 1;
                stk[top] = w;
                edge[top] = 0;
                top++;
            }
        }
    }
    free(color);
    free(stk);
    free(edge);
}

/* ---- names ------------------------------------------------------------- */

static void ls_collect_names(ls_loader *L, const ls_ynode *guards, const ls_ynode *states)
{
    ls_playbook *pb = L->pb;
    pb->param_names = ls_oom_check(calloc(pb->nparams + 1, sizeof *pb->param_names));
    for (size_t i = 0; i < pb->nparams; i++)
        pb->param_names[i] = pb->params[i].name;
    if (guards) {
        pb->nguards = guards->n;
        pb->guards = ls_pb_alloc(pb, (guards->n + 1) * sizeof *pb->guards);
        pb->guard_names = ls_pb_alloc(pb, (guards->n + 1) * sizeof *pb->guard_names);
        for (size_t i = 0; i < guards->n; i++) {
            const ls_ynode *k = guards->keys[i];
            if (!ls_load_ident_ok(k->str))
                ls_diag_error(L->d, k->loc, "bad guard name '%s' (letters, digits and _, not starting with a digit)",
                              k->str);
            pb->guards[i].name = ls_pb_strdup(pb, k->str);
            pb->guards[i].loc = k->loc;
            pb->guard_names[i] = pb->guards[i].name;
        }
    } else {
        pb->guard_names = ls_pb_alloc(pb, sizeof *pb->guard_names);
    }
    size_t ns = states ? states->n : 0;
    pb->nstates = ns;
    pb->states = ls_pb_alloc(pb, (ns + 1) * sizeof *pb->states);
    pb->state_names = ls_pb_alloc(pb, (ns + 1) * sizeof *pb->state_names);
    for (size_t i = 0; i < ns; i++) {
        const ls_ynode *k = states->keys[i];
        if (!ls_load_ident_ok(k->str))
            ls_diag_error(L->d, k->loc, "bad state name '%s' (letters, digits and _, not starting with a digit)",
                          k->str);
        ls_state *st = &pb->states[i];
        st->name = ls_pb_strdup(pb, k->str);
        st->loc = k->loc;
        st->next = st->on_failure = st->on_timeout = -1;
        st->mutates = st->idempotent = -1;
        st->retry.attempts = 1;
        st->retry.backoff = 1.0;
        pb->state_names[i] = st->name;
    }
    ls_state_index_build(L);
    L->env.params = pb->param_names;
    L->env.nparams = pb->nparams;
    L->env.states = pb->state_names;
    L->env.nstates = pb->nstates;
    L->env.guards = pb->guard_names;
    L->env.nguards = pb->nguards;
    L->env.allow_result = false;
    L->env_result = L->env;
    L->env_result.allow_result = true;
}

/* ---- release ----------------------------------------------------------- */

/* A `release:` scalar as text, whatever YAML typed it (2.5 is a float to
 * YAML, a version to a release team). */
static const char *ls_release_text(ls_loader *L, const ls_ynode *n, const char *what)
{
    if (n->kind != LS_Y_SCALAR) {
        ls_diag_error(L->d, n->loc, "%s must be a string, not a %s", what, ls_ykind_name(n));
        return NULL;
    }
    return ls_load_text(L, n, what);
}

/* release: {version, upgrades_from, schema: {from, to}}, all optional. */
static void ls_load_release(ls_loader *L, const ls_ynode *r)
{
    static const char *const keys[] = {"version", "upgrades_from", "schema", NULL};
    static const char *const skeys[] = {"from", "to", NULL};
    ls_value *rel = &L->pb->release;
    if (r->kind != LS_Y_MAP) {
        ls_diag_error(L->d, r->loc, "release must be a mapping {version, upgrades_from, schema}, not a %s",
                      ls_ykind_name(r));
        return;
    }
    ls_load_check_keys(L, r, "release", keys);
    const ls_ynode *v;
    const char *t;
    if ((v = ls_ymap_get(r, "version")) && (t = ls_release_text(L, v, "release.version"))) {
        if (!ls_semver_valid(t, v->len))
            ls_diag_error(L->d, ls_text_loc(v), "release.version: '%s' is not a semantic version "
                          "(MAJOR.MINOR.PATCH[-PRE], a leading v allowed)", t);
        else
            ls_map_set(rel, "version", ls_string_n(t, v->len));
    }
    if ((v = ls_ymap_get(r, "upgrades_from")) && (t = ls_release_text(L, v, "release.upgrades_from"))) {
        char msg[256];
        if (ls_semver_range(t, v->len, NULL, 0, NULL, msg, sizeof msg) != 0) {
            ls_loc at = ls_text_loc(v);
            if (!memchr(t, '\n', v->len) && (v->quoted || v->plain)) /* the text is the line's */
                at.col += (uint32_t)ls_semver_range_errpos();
            ls_diag_error(L->d, at, "release.upgrades_from: %s", msg);
        }
        else
            ls_map_set(rel, "upgrades_from", ls_string_n(t, v->len));
    }
    if ((v = ls_ymap_get(r, "schema"))) {
        if (v->kind != LS_Y_MAP) {
            ls_diag_error(L->d, v->loc, "release.schema must be a mapping {from, to}, not a %s", ls_ykind_name(v));
            return;
        }
        ls_load_check_keys(L, v, "release.schema", skeys);
        ls_value sch = ls_map_new();
        int64_t num[2] = {0, 0};
        bool have[2] = {false, false};
        for (int k = 0; k < 2; k++) {
            const ls_ynode *e = ls_ymap_get(v, skeys[k]);
            if (!e)
                continue;
            ls_value x = ls_yaml_scalar(e);
            if (e->kind == LS_Y_SCALAR && x.kind == LS_INT && x.u.i >= 0) {
                num[k] = x.u.i;
                have[k] = true;
                ls_map_set(&sch, skeys[k], x);
            } else {
                ls_diag_error(L->d, e->loc, "release.schema.%s must be a schema version (an int >= 0), not '%s'",
                              skeys[k], e->kind == LS_Y_SCALAR ? e->str : ls_ykind_name(e));
                ls_value_free(x);
            }
        }
        if (have[0] && have[1] && num[0] > num[1])
            ls_diag_error(L->d, ls_ymap_get(v, "to")->loc,
                          "release.schema.to (%lld) is below release.schema.from (%lld): a release does not "
                          "move the schema back", (long long)num[1], (long long)num[0]);
        ls_map_set(rel, "schema", sch);
    }
}

/* ---- the playbook ------------------------------------------------------ */

static void ls_load_root(ls_loader *L)
{
    static const char *const keys[] = {"lockstep", "name", "description", "release", "params", "guards",
                                       "defaults", "start", "states", "notify", NULL};
    ls_playbook *pb = L->pb;
    const ls_ynode *r = L->root;
    ls_loc top = {L->file, 1, 1};
    if (r->kind != LS_Y_MAP) {
        ls_diag_error(L->d, r->loc, "a playbook is a YAML mapping (lockstep: 1, name, states, ...), not a %s",
                      ls_ykind_name(r));
        return;
    }
    ls_load_check_keys(L, r, "the playbook", keys);
    const ls_ynode *v = ls_ymap_get(r, "lockstep");
    if (!v) {
        ls_diag_error(L->d, top, "missing required key 'lockstep' (the format version: lockstep: 1)");
    } else {
        ls_value lv = ls_yaml_scalar(v);
        if (v->kind != LS_Y_SCALAR || lv.kind != LS_INT || lv.u.i != 1)
            ls_diag_error(L->d, v->loc, "unsupported format version '%s' (this lockstep reads lockstep: 1)",
                          v->kind == LS_Y_SCALAR ? v->str : ls_ykind_name(v));
        ls_value_free(lv);
    }
    v = ls_ymap_get(r, "name");
    if (!v) {
        ls_diag_error(L->d, top, "missing required key 'name'");
    } else if (ls_load_text(L, v, "name")) {
        if (!ls_pb_name_ok(v->str))
            ls_diag_error(L->d, v->loc, "bad playbook name '%s' (lower-case letters, digits, _ . -; "
                          "starting with a letter or digit)", v->str);
        pb->name = ls_pb_strdup(pb, v->str);
    }
    if ((v = ls_ymap_get(r, "description")) && ls_load_text(L, v, "description"))
        pb->description = ls_pb_strdup(pb, v->str);

    const ls_ynode *params = ls_ymap_get(r, "params");
    if (params && params->kind != LS_Y_MAP && !(ls_yaml_is_null(params))) {
        ls_diag_error(L->d, params->loc, "params must be a mapping, not a %s", ls_ykind_name(params));
        params = NULL;
    }
    if (params && params->kind == LS_Y_MAP)
        ls_params_load_specs(L, params);

    const ls_ynode *guards = ls_ymap_get(r, "guards");
    if (guards && guards->kind == LS_Y_SCALAR && guards->plain && guards->len == 0)
        guards = NULL; /* `guards:` with nothing under it */
    if (guards && guards->kind != LS_Y_MAP) {
        ls_diag_error(L->d, guards->loc, "guards must be a mapping of names to expressions, not a %s",
                      ls_ykind_name(guards));
        guards = NULL;
    }
    const ls_ynode *states = ls_ymap_get(r, "states");
    if (!states) {
        ls_diag_error(L->d, top, "missing required key 'states'");
    } else if (states->kind != LS_Y_MAP || states->n == 0) {
        ls_diag_error(L->d, states->loc, "states must be a non-empty mapping of state names");
        states = NULL;
    }
    ls_collect_names(L, guards, states);
    if ((v = ls_ymap_get(r, "release")) && !(v->kind == LS_Y_SCALAR && v->plain && v->len == 0))
        ls_load_release(L, v);
    L->env.release = L->env_result.release = pb->release;

    ls_params_read_values(L);

    const ls_ynode *on_failure = NULL;
    if ((v = ls_ymap_get(r, "defaults")) && !(v->kind == LS_Y_SCALAR && v->plain && v->len == 0))
        ls_load_defaults(L, v, &on_failure);
    for (size_t i = 0; i < L->nvf; i++)
        if ((v = ls_ymap_get(L->vf[i].root, "defaults")) && !(v->kind == LS_Y_SCALAR && v->plain && v->len == 0))
            ls_load_defaults(L, v, &on_failure);
    ls_check_fdefaults(L);
    /* -2: declared but unresolved (already reported; states are not blamed). */
    int default_on_failure = on_failure ? ls_load_state_ref(L, on_failure, "defaults.on_failure") : -1;
    if (on_failure && default_on_failure < 0)
        default_on_failure = -2;

    if (guards)
        ls_load_guards(L, guards);
    ls_check_guard_cycles(L);
    if ((v = ls_ymap_get(r, "notify")))
        ls_load_notify(L, v);

    const ls_ynode *start = ls_ymap_get(r, "start");
    if (!start)
        ls_diag_error(L->d, top, "missing required key 'start'");
    else
        pb->start = ls_load_state_ref(L, start, "start");

    for (size_t i = 0; states && i < states->n; i++)
        ls_state_load(L, &pb->states[i], states->items[i], default_on_failure);

    /* Reachability over a machine with broken transitions would only
     * repeat those errors in other words: it waits for them to be fixed. */
    if (states && start && pb->start >= 0 && !L->broken)
        ls_load_graph_checks(L, start);
    if (L->opts->check_params)
        ls_params_resolve(L);
}

ls_playbook *ls_playbook_load(const ls_load_opts *opts, ls_diags *d)
{
    ls_playbook *pb = calloc(1, sizeof *pb);
    if (!pb)
        ls_oom();
    pb->start = -1;
    pb->arena = ls_arena_new();
    /* Expressions and templates compiled from here on take their nodes
     * from the playbook's arena (arena.h). */
    ls_arena *outer = ls_arena_use(pb->arena);
    pb->diags_owner = d;
    pb->env_name = opts->env_name;
    pb->param_values = ls_map_new();
    pb->release = ls_map_new();
    pb->path = ls_pb_strdup(pb, opts->path);
    pb->frames = ls_oom_check(calloc(1, sizeof *pb->frames));
    pb->frames[0] = (ls_frame_def){pb, -1, -1, 0, 0};
    pb->nframes = 1;
    const char *slash = strrchr(opts->path, '/');
    if (!slash)
        pb->dir = ls_pb_strdup(pb, ".");
    else if (slash == opts->path)
        pb->dir = ls_pb_strdup(pb, "/");
    else {
        pb->dir = ls_pb_alloc(pb, (size_t)(slash - opts->path) + 1);
        memcpy(pb->dir, opts->path, (size_t)(slash - opts->path));
        pb->dir[slash - opts->path] = '\0';
    }
    size_t errors_before = d->errors;
    ls_loader L;
    memset(&L, 0, sizeof L);
    L.opts = opts;
    L.d = d;
    L.pb = pb;
    /* The playbook lends its text to d (diag.h): it lives as long as pb,
     * and pb is freed here only after the sources are kept. */
    if (ls_load_read_file(opts->path, d, &L.file, &pb->text, &pb->text_len, pb->arena)) {
        if (opts->display_path)
            L.file = ls_diags_source_lend(d, opts->display_path, pb->text, pb->text_len);
        ls_sha256_hex(pb->text, pb->text_len, pb->sha256);
        L.root = ls_yaml_parse(pb->text, pb->text_len, L.file, d);
        if (L.root)
            ls_load_root(&L);
        ls_load_deferred(&L);
        size_t own = pb->nstates;
        if (d->errors == errors_before)
            ls_load_subs(&L);
        if (pb->nstates != own) {
            free(L.name_slots);
            free(L.by_name);
            L.by_name = NULL;
            ls_state_index_build(&L);
        }
    }
    ls_ynode_free(L.root);
    for (size_t i = 0; i < L.nvf; i++)
        ls_ynode_free(L.vf[i].root);
    free(L.vf);
    free(L.fd);
    free(L.by_name);
    pb->name_slots = L.name_slots; /* kept: every later lookup by name is hashed */
    pb->name_mask = L.name_mask;
    ls_arena_use(outer);
    if (d->errors > errors_before) {
        ls_diags_source_keep(d, opts->path);
        ls_diags_source_keep(d, L.file);
        ls_playbook_free(pb);
        return NULL;
    }
    return pb;
}

/* ---- queries ----------------------------------------------------------- */

int ls_playbook_state_index(const ls_playbook *pb, const char *name)
{
    if (pb->name_slots) {
        for (size_t at = (size_t)ls_name_hash(name) & pb->name_mask; pb->name_slots[at] != SIZE_MAX;
             at = (at + 1) & pb->name_mask)
            if (strcmp(name, pb->state_names[pb->name_slots[at]]) == 0)
                return (int)pb->name_slots[at];
        return -1;
    }
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].name && strcmp(pb->states[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *ls_state_local_name(const ls_playbook *pb, int idx)
{
    const ls_state *st = &pb->states[idx];
    return st->name + pb->frames[st->frame].prefix_len;
}

int ls_state_caller(const ls_playbook *pb, int idx)
{
    const ls_state *st = &pb->states[idx];
    return st->terminal != LS_TERM_NONE && st->frame > 0 ? pb->frames[st->frame].call : -1;
}

ls_expr **ls_frame_guards(const ls_playbook *pb, ls_eval_ctx *fctx)
{
    size_t n = 1;
    for (size_t f = 1; f < pb->nframes; f++)
        n += pb->frames[f].pb->nguards;
    ls_expr **all = ls_oom_check(calloc(n, sizeof *all));
    for (size_t f = 1, at = 0; f < pb->nframes; f++) {
        const ls_playbook *fp = pb->frames[f].pb;
        for (size_t i = 0; i < fp->nguards; i++)
            all[at + i] = fp->guards[i].expr;
        fctx[f].guards = (ls_expr *const *)(all + at);
        fctx[f].nguards = fp->nguards;
        at += fp->nguards;
    }
    return all;
}

int ls_state_failure_target(const ls_state *st)
{
    return st->on_failure;
}

bool ls_state_mutates_static(const ls_state *st)
{
    if (st->mutates >= 0)
        return st->mutates == 1;
    if (!st->action)
        return false;
    if (!st->action->mutates_fn)
        return st->action->mutates;
    /* Decide from the constant inputs; a templated one is stood in for by a
     * placeholder that no action reads as "harmless", so it counts as yes. */
    ls_value in = ls_map_new();
    for (size_t i = 0; st->with && i < ls_tmpl_len(st->with); i++) {
        const ls_tmpl *t = ls_tmpl_at(st->with, i);
        ls_map_set(&in, ls_tmpl_map_key_at(st->with, i),
                   ls_tmpl_is_constant(t) ? ls_value_copy(ls_tmpl_constant(t)) : ls_string("${{ }}"));
    }
    ls_action_apply_defaults(st->action, &in);
    bool m = ls_action_mutates(st->action, in);
    ls_value_free(in);
    return m;
}

static void ls_free_exprs(ls_expr **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ls_expr_free(v[i]);
}

static void ls_state_clear(ls_state *st);

void ls_playbook_free(ls_playbook *pb)
{
    if (!pb)
        return;
    /* What lives in the arena (names, states, expression and template
     * nodes) goes at once at the end; what it holds that is not (values,
     * compiled regexes) is released first. */
    free(pb->param_names);
    for (size_t i = 0; i < pb->nparams; i++)
        ls_param_clear(&pb->params[i]);
    free(pb->params);
    for (size_t i = 0; i < pb->nguards; i++) {
        ls_expr_free(pb->guards[i].expr);
        free(pb->guards[i].description);
    }
    free(pb->name_slots);
    ls_notify_specs_free(pb->notify, pb->nnotify);
    for (size_t i = 0; i < pb->nstates; i++) {
        ls_state *st = &pb->states[i];
        ls_state_clear(st->landed);
        ls_state_clear(st);
    }
    /* Called playbooks last: the states moved out of them (load_sub.c)
     * live in their arenas, and were cleared above. */
    for (size_t i = 0; i < pb->nstates; i++) {
        ls_sub *sub = pb->states[i].sub;
        if (sub) {
            free(sub->file);
            free(sub->path);
            ls_playbook_free(sub->child);
            free(sub);
        }
    }
    free(pb->frames);
    ls_deferred_free(pb->dfr, pb->ndfr);
    ls_value_free(pb->param_values);
    ls_value_free(pb->release);
    ls_regex_cache_forget(pb->arena);
    ls_arena_free(pb->arena);
    free(pb);
}

static void ls_state_clear(ls_state *st)
{
    if (st == NULL)
        return;
    {
        if (st->prep && st->action && st->action->prep_free)
            st->action->prep_free(st->prep);
        ls_tmpl_free(st->with);
        ls_free_exprs(st->requires, st->nrequires);
        ls_free_exprs(st->expect, st->nexpect);
        ls_expr_free(st->retry.until);
        ls_expr_free(st->for_each);
        for (size_t b = 0; b < st->nbranches; b++)
            ls_expr_free(st->branches[b].cond);
        ls_tmpl_free(st->confirm);
        ls_value_free(st->dry_run_result);
    }
}
