/*
 * `lockstep test [--coverage] SCENARIO.yaml...` -- scenario tests (SPEC 7).
 *
 * A scenario names a playbook, its params (`env`, `set`), canned results
 * for some states (`results`), which approvals are given (`approve`) and
 * what must happen (`expect`).  The playbook runs through the real runner
 * with a fake in place of every action: nothing touches the world, no
 * journal is written.
 *
 *   1. Every scenario file is parsed and checked, and its playbook loaded
 *      with the scenario's params.  Any problem is printed as
 *      FILE:LINE:COL: error: ... and the command exits 2 before anything
 *      runs.
 *   2. Each scenario runs; one line `PASS name` or
 *      `FAIL name: WHAT: expected X got Y` (the first difference).
 *   3. With --coverage, per playbook, every transition and whether some
 *      scenario took it, then `transitions covered: K/N`.
 *   4. The last line is `N passed, N failed`; exit 0, or 1 if any failed.
 *
 * Scenario files are read by the playbook reader (yaml_doc.h), so they
 * follow the same YAML rules: one document, no anchors, aliases or merge
 * keys, no duplicate keys, nesting bounded, and plain scalars resolved as
 * in playbooks (`yes`/`no` stay strings, `0x10` is an int).  Only the
 * file itself is read here, bounded to SC_MAX_FILE.
 *
 * Canned results: `results: {STATE: ATTEMPT}` or `{STATE: [ATTEMPT...]}`,
 * ATTEMPT = {status: ok|failed|timed_out|interrupted, result: {...},
 * error: "..."} (each key optional: status ok, result {}, a generic error
 * message).  A list gives one entry per attempt; when the runner asks for
 * more attempts than the list holds, the LAST entry repeats (so
 * `[{status: failed}]` fails every retry).  For a for_each state the list
 * is consumed one entry per action call, across its elements and their
 * attempts, in order (the last entry repeats the same way).  A state with an action and no
 * canned result gets its `dry_run.result` (or {}) with status ok.
 * `interrupted` stands for a crash inside the action: the runner does what
 * a resume would (`assume: {STATE: ok|failed|rerun}`, else the state's
 * landed: probe, canned under `STATE.landed`, else a re-run when the action
 * is idempotent, else a halt), and an attempt run again takes the next
 * entry.
 *
 * Which transition a run took is derived from its path (the runner reports
 * states entered, not edges): for consecutive entries S -> T, the edges of
 * S that lead to T are candidates.  The status of S's last canned attempt
 * in that visit picks among them: timed_out prefers on_timeout, then the
 * failure edge, then next/branches; failed prefers the failure edge; ok
 * (or no action called: a decision state, a failed `requires`, a refused
 * confirmation) prefers next/branches, then the failure edge.  Among
 * branches the first one leading to T is credited.  Edges only count
 * once per state and kind, as SPEC 7 says.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bundle.h"
#include "cli.h"
#include "diag.h"
#include "file.h"
#include "playbook.h"
#include "run.h"
#include "yaml_doc.h"

#define SC_MAX_FILE (4u << 20)   /* a scenario file larger than 4 MiB is refused */

/* ------------------------------------------------------------ playbooks */

typedef enum sc_edge_kind { SC_NEXT, SC_BRANCH, SC_FAILURE, SC_TIMEOUT } sc_edge_kind;

typedef struct sc_edge {
    int from, to;
    sc_edge_kind kind;
    size_t branch; /* index in the next list, for SC_BRANCH */
    bool covered;
} sc_edge;

/* One playbook file, loaded once without params: its structure serves
 * name checks and coverage; scenarios load their own param-checked copy. */
typedef struct sc_book {
    char *real;      /* realpath: the cache key */
    char *shown;     /* as the first scenario named it */
    ls_diags diags;
    ls_playbook *pb; /* NULL when it did not load */
    sc_edge *edges;
    size_t nedges;
} sc_book;

typedef struct sc_attempt {
    ls_act_status status;
    ls_value result;
    char *error;
} sc_attempt;

typedef struct sc_canned {
    int state;
    bool landed;     /* canned for the state's landed: probe (key STATE.landed) */
    sc_attempt *att;
    size_t n;
} sc_canned;

enum { SC_OUT_UNSET = -1, SC_OUT_HALTED = 3 };

typedef struct sc_call {
    int state;
    int attempt;
    ls_act_status status;
} sc_call;

typedef struct scenario {
    const char *file;  /* interned in diags */
    char *name;
    sc_book *book;
    ls_diags diags;    /* scenario file problems and the param-checked load */
    ls_playbook *pb;   /* param-checked copy */
    char *env;
    char **sets;
    size_t nsets;
    sc_canned *canned;
    size_t ncanned;
    bool approve_all;
    char **approve;
    size_t napprove;
    char **assume;     /* "STATE=ok|failed|rerun", from `assume:` */
    size_t nassume;
    size_t *reruns;    /* per state: interrupted attempts run again so far */
    int exp_outcome;   /* SC_OUT_UNSET, LS_TERM_SUCCESS, LS_TERM_FAILURE, SC_OUT_HALTED */
    int exp_final;     /* -1: unset */
    bool has_path;
    int *path;
    size_t npath;
    int *visit_states;
    int64_t *visit_counts; /* -1: at least once */
    size_t nvisits;
    int *never;
    size_t nnever;
    char *exp_error;
    /* Filled by the run. */
    sc_call *calls;
    size_t ncalls, capcalls;
} scenario;

static char *sc_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = ls_oom_check(malloc(n + 1)); /* diag.h: a lost field would change the verdict */
    memcpy(p, s, n + 1);
    return p;
}

static char *sc_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    char *text = NULL;
    if (ls_file_read(path, SC_MAX_FILE, &text, len, err, errlen) != 0)
        return NULL;
    return text;
}

static void sc_edge_add(sc_book *bk, int from, int to, sc_edge_kind kind, size_t branch)
{
    sc_edge *e = ls_oom_check(realloc(bk->edges, (bk->nedges + 1) * sizeof *e));
    bk->edges = e;
    e[bk->nedges++] = (sc_edge){from, to, kind, branch, false};
}

/* SPEC 7: each plain next, each branch, the failure target of a state that
 * can fail, and a declared on_timeout. */
static void sc_book_edges(sc_book *bk)
{
    const ls_playbook *pb = bk->pb;
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
        int from = (int)i;
        if (st->terminal != LS_TERM_NONE)
            continue;
        if (st->next >= 0)
            sc_edge_add(bk, from, st->next, SC_NEXT, 0);
        for (size_t b = 0; b < st->nbranches; b++)
            sc_edge_add(bk, from, st->branches[b].target, SC_BRANCH, b);
        int fail = ls_state_failure_target(st);
        if (st->can_fail && fail >= 0)
            sc_edge_add(bk, from, fail, SC_FAILURE, 0);
        if (st->on_timeout >= 0)
            sc_edge_add(bk, from, st->on_timeout, SC_TIMEOUT, 0);
    }
}

typedef struct sc_books {
    sc_book **items;
    size_t n;
} sc_books;

/* The book for `path`, loading it on first use; NULL (with a problem at
 * `where`) when the file cannot be found. */
static sc_book *sc_book_get(sc_books *books, const char *path, ls_loc where, ls_diags *d)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        ls_diag_error(d, where, "playbook %s: %s", path, strerror(errno));
        return NULL;
    }
    for (size_t i = 0; i < books->n; i++)
        if (strcmp(books->items[i]->real, real) == 0)
            return books->items[i];
    sc_book *bk = calloc(1, sizeof *bk);
    sc_book **items = realloc(books->items, (books->n + 1) * sizeof *items);
    if (!bk || !items) {
        free(bk);
        if (items)
            books->items = items;
        ls_diag_error(d, where, "out of memory");
        return NULL;
    }
    books->items = items;
    books->items[books->n++] = bk;
    bk->real = sc_strdup(real);
    bk->shown = sc_strdup(path);
    ls_diags_init(&bk->diags);
    ls_load_opts lo = {0};
    lo.path = path;
    lo.check_params = false;
    lo.ignore_process_env = true;
    bk->pb = ls_playbook_load(&lo, &bk->diags);
    if (bk->pb)
        sc_book_edges(bk);
    return bk;
}

static void sc_book_free(sc_book *bk)
{
    if (bk->pb)
        ls_playbook_free(bk->pb);
    ls_diags_free(&bk->diags);
    free(bk->edges);
    free(bk->real);
    free(bk->shown);
    free(bk);
}

/* ------------------------------------------------------------ scenario file */

static bool sc_want(ls_diags *d, const ls_ynode *n, ls_ykind kind, const char *what)
{
    if (n->kind == kind && !(kind == LS_Y_SCALAR && ls_yaml_is_null(n)))
        return true;
    ls_diag_error(d, n->loc, "%s must be %s", what,
                  kind == LS_Y_MAP ? "a map" : kind == LS_Y_SEQ ? "a list" : "a string");
    return false;
}

static int sc_state(scenario *sc, const ls_ynode *n, const char *what)
{
    if (!sc_want(&sc->diags, n, LS_Y_SCALAR, what))
        return -1;
    int i = ls_playbook_state_index(sc->book->pb, n->str);
    if (i < 0)
        ls_diag_error(&sc->diags, n->loc, "%s: unknown state '%s' in playbook %s", what, n->str,
                      sc->book->pb->name);
    return i;
}

static void sc_check_keys(ls_diags *d, const ls_ynode *map, const char *const *allowed, const char *where)
{
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        bool ok = false;
        for (size_t j = 0; allowed[j]; j++)
            if (strcmp(k, allowed[j]) == 0)
                ok = true;
        if (!ok) {
            ls_buf b;
            ls_buf_init(&b, 1024);
            for (size_t j = 0; allowed[j]; j++)
                ls_buf_printf(&b, "%s%s", j ? ", " : "", allowed[j]);
            ls_diag_error(d, map->keys[i]->loc, "unknown key '%s' in %s (expected one of: %s)", k, where,
                          ls_buf_str(&b));
            ls_buf_free(&b);
        }
    }
}

static int *sc_state_list(scenario *sc, const ls_ynode *n, const char *what, size_t *count)
{
    *count = 0;
    if (!sc_want(&sc->diags, n, LS_Y_SEQ, what))
        return NULL;
    int *out = ls_oom_check(calloc(n->n ? n->n : 1, sizeof *out));
    for (size_t i = 0; i < n->n; i++)
        out[i] = sc_state(sc, n->items[i], what);
    *count = n->n;
    return out;
}

static void sc_parse_attempt(scenario *sc, const ls_ynode *n, sc_attempt *a)
{
    static const char *const keys[] = {"status", "result", "error", NULL};
    a->status = LS_ACT_OK;
    a->result = ls_null();
    a->error = NULL;
    if (!sc_want(&sc->diags, n, LS_Y_MAP, "a canned result"))
        return;
    sc_check_keys(&sc->diags, n, keys, "a canned result");
    const ls_ynode *s = ls_ymap_get(n, "status");
    if (s && sc_want(&sc->diags, s, LS_Y_SCALAR, "status")) {
        if (strcmp(s->str, "ok") == 0)
            a->status = LS_ACT_OK;
        else if (strcmp(s->str, "failed") == 0)
            a->status = LS_ACT_FAILED;
        else if (strcmp(s->str, "timed_out") == 0)
            a->status = LS_ACT_TIMED_OUT;
        else if (strcmp(s->str, "interrupted") == 0)
            a->status = LS_ACT_INTERRUPTED;
        else
            ls_diag_error(&sc->diags, s->loc, "status must be ok, failed, timed_out or interrupted, not '%s'",
                          s->str);
    }
    const ls_ynode *r = ls_ymap_get(n, "result");
    if (r && sc_want(&sc->diags, r, LS_Y_MAP, "result"))
        a->result = ls_yaml_value(r);
    const ls_ynode *e = ls_ymap_get(n, "error");
    if (e && sc_want(&sc->diags, e, LS_Y_SCALAR, "error"))
        a->error = sc_strdup(e->str);
}

static void sc_parse_results(scenario *sc, const ls_ynode *n)
{
    if (!sc_want(&sc->diags, n, LS_Y_MAP, "results"))
        return;
    sc->canned = ls_oom_check(calloc(n->n + 1, sizeof *sc->canned));
    for (size_t i = 0; i < n->n; i++) {
        /* STATE, or STATE.landed for the state's landed: probe. */
        const ls_ynode *key = n->keys[i];
        size_t kl = strlen(key->str);
        bool landed = kl > 7 && strcmp(key->str + kl - 7, ".landed") == 0;
        int si = -1;
        if (landed) {
            char *base = sc_strdup(key->str);
            if (base) {
                base[kl - 7] = '\0';
                si = ls_playbook_state_index(sc->book->pb, base);
                free(base);
            }
            if (si < 0 || !sc->book->pb->states[si].landed) {
                ls_diag_error(&sc->diags, key->loc, "results: '%s' names no state with a landed: probe", key->str);
                continue;
            }
        } else {
            si = sc_state(sc, key, "results");
        }
        if (si < 0)
            continue;
        const ls_state *st = &sc->book->pb->states[si];
        if (!st->action) {
            ls_diag_error(&sc->diags, n->keys[i]->loc,
                          "results: state '%s' runs no action, so it has no result to can", st->name);
            continue;
        }
        const ls_ynode *v = n->items[i];
        sc_canned *c = &sc->canned[sc->ncanned++];
        c->state = si;
        c->landed = landed;
        if (v->kind == LS_Y_SEQ) {
            if (v->n == 0) {
                ls_diag_error(&sc->diags, v->loc, "results: an empty list of attempts for '%s'", st->name);
                continue;
            }
            c->att = ls_oom_check(calloc(v->n, sizeof *c->att));
            c->n = v->n;
            for (size_t k = 0; k < v->n; k++)
                sc_parse_attempt(sc, v->items[k], &c->att[k]);
        } else {
            c->att = ls_oom_check(calloc(1, sizeof *c->att));
            c->n = 1;
            sc_parse_attempt(sc, v, &c->att[0]);
        }
    }
}

/* `assume: {STATE: ok|failed|rerun}`: the operator's word on an attempt
 * canned `interrupted`, as `lockstep resume --assume STATE=...` says it. */
static void sc_parse_assume(scenario *sc, const ls_ynode *n)
{
    if (!sc_want(&sc->diags, n, LS_Y_MAP, "assume"))
        return;
    sc->assume = calloc(n->n + 1, sizeof *sc->assume);
    if (!sc->assume)
        return;
    for (size_t i = 0; i < n->n; i++) {
        const ls_ynode *v = n->items[i];
        if (sc_state(sc, n->keys[i], "assume") < 0 || !sc_want(&sc->diags, v, LS_Y_SCALAR, "assume"))
            continue;
        if (strcmp(v->str, "ok") != 0 && strcmp(v->str, "failed") != 0 && strcmp(v->str, "rerun") != 0) {
            ls_diag_error(&sc->diags, v->loc, "assume: say ok, failed or rerun, not '%s'", v->str);
            continue;
        }
        ls_buf b;
        ls_buf_init(&b, 4096);
        ls_buf_printf(&b, "%s=%s", n->keys[i]->str, v->str);
        sc->assume[sc->nassume++] = ls_buf_steal(&b);
    }
}

static void sc_parse_expect(scenario *sc, const ls_ynode *n)
{
    static const char *const keys[] = {"outcome", "final", "path", "visits", "never", "error", NULL};
    if (!sc_want(&sc->diags, n, LS_Y_MAP, "expect"))
        return;
    sc_check_keys(&sc->diags, n, keys, "expect");
    const ls_ynode *v;
    if ((v = ls_ymap_get(n, "outcome")) && sc_want(&sc->diags, v, LS_Y_SCALAR, "expect.outcome")) {
        if (strcmp(v->str, "success") == 0)
            sc->exp_outcome = LS_TERM_SUCCESS;
        else if (strcmp(v->str, "failure") == 0)
            sc->exp_outcome = LS_TERM_FAILURE;
        else if (strcmp(v->str, "halted") == 0)
            sc->exp_outcome = SC_OUT_HALTED;
        else
            ls_diag_error(&sc->diags, v->loc, "expect.outcome must be success, failure or halted, not '%s'",
                          v->str);
    }
    if ((v = ls_ymap_get(n, "final")))
        sc->exp_final = sc_state(sc, v, "expect.final");
    if ((v = ls_ymap_get(n, "path"))) {
        sc->path = sc_state_list(sc, v, "expect.path", &sc->npath);
        sc->has_path = sc->path != NULL;
    }
    if ((v = ls_ymap_get(n, "never")))
        sc->never = sc_state_list(sc, v, "expect.never", &sc->nnever);
    if ((v = ls_ymap_get(n, "error")) && sc_want(&sc->diags, v, LS_Y_SCALAR, "expect.error"))
        sc->exp_error = sc_strdup(v->str);
    if ((v = ls_ymap_get(n, "visits"))) {
        /* A list: each state was visited; a map: STATE -> exact count. */
        if (v->kind != LS_Y_SEQ && v->kind != LS_Y_MAP) {
            ls_diag_error(&sc->diags, v->loc, "expect.visits must be a list of states or a map state: count");
            return;
        }
        size_t cnt = v->n;
        sc->visit_states = ls_oom_check(calloc(cnt + 1, sizeof *sc->visit_states));
        sc->visit_counts = ls_oom_check(calloc(cnt + 1, sizeof *sc->visit_counts));
        for (size_t i = 0; i < cnt; i++) {
            const ls_ynode *k = v->kind == LS_Y_SEQ ? v->items[i] : v->keys[i];
            sc->visit_states[i] = sc_state(sc, k, "expect.visits");
            sc->visit_counts[i] = -1;
            if (v->kind == LS_Y_MAP) {
                /* An int as playbooks read one (ls_yaml_scalar): `"3"` is a string. */
                const ls_ynode *c = v->items[i];
                ls_value cv = ls_yaml_scalar(c);
                bool ok = c->kind == LS_Y_SCALAR && cv.kind == LS_INT && cv.u.i >= 0;
                if (!ok)
                    ls_diag_error(&sc->diags, c->loc, "expect.visits: a count must be a non-negative integer");
                sc->visit_counts[i] = ok ? cv.u.i : 0;
                ls_value_free(cv);
            }
        }
        sc->nvisits = cnt;
    }
}

static const char *sc_ptype_name(ls_ptype t)
{
    switch (t) {
    case LS_PT_INT: return "an int";
    case LS_PT_FLOAT: return "a float";
    case LS_PT_BOOL: return "a bool";
    case LS_PT_LIST: return "a list";
    case LS_PT_MAP: return "a map";
    default: return "a string";
    }
}

/* Checks a `set` value against the param's declared type here, so that a
 * wrong one is reported at its place in the scenario file. */
static bool sc_set_type_ok(const ls_param *param, const ls_ynode *v)
{
    if (param->type == LS_PT_LIST)
        return v->kind == LS_Y_SEQ;
    if (param->type == LS_PT_MAP)
        return v->kind == LS_Y_MAP;
    if (v->kind != LS_Y_SCALAR)
        return false;
    if (param->type == LS_PT_STRING)
        return true;
    ls_value val = ls_yaml_scalar(v);
    bool ok = param->type == LS_PT_INT     ? val.kind == LS_INT
              : param->type == LS_PT_FLOAT ? (val.kind == LS_INT || val.kind == LS_FLOAT)
                                           : val.kind == LS_BOOL;
    ls_value_free(val);
    return ok;
}

/* `set: {K: V}` becomes --set K=V: a string param's scalar as written;
 * every other value as the JSON of what the YAML reader resolved, so that
 * `0x10`, `True` or `1e3` mean here what they mean in a playbook. */
static void sc_parse_set(scenario *sc, const ls_ynode *n)
{
    if (!sc_want(&sc->diags, n, LS_Y_MAP, "set"))
        return;
    sc->sets = ls_oom_check(calloc(n->n + 1, sizeof *sc->sets));
    const ls_playbook *pb = sc->book->pb;
    for (size_t i = 0; i < n->n; i++) {
        const ls_ynode *k = n->keys[i], *v = n->items[i];
        const ls_param *param = NULL;
        for (size_t p = 0; p < pb->nparams; p++)
            if (strcmp(pb->params[p].name, k->str) == 0)
                param = &pb->params[p];
        if (!param) {
            ls_diag_error(&sc->diags, k->loc, "set: unknown param '%s' in playbook %s", k->str, pb->name);
            continue;
        }
        if (!sc_set_type_ok(param, v)) {
            if (param->type == LS_PT_BOOL && ls_yaml_is_yaml11_bool(v))
                ls_diag_error(&sc->diags, v->loc,
                              "set: param '%s' is a bool; '%s' is read as a string: write true or false", k->str,
                              v->str);
            else
                ls_diag_error(&sc->diags, v->loc, "set: param '%s' is %s; this value is not", k->str,
                              sc_ptype_name(param->type));
            continue;
        }
        ls_buf b;
        ls_buf_init(&b, LS_BUF_UNLIMITED);
        ls_buf_printf(&b, "%s=", k->str);
        if (v->kind == LS_Y_SCALAR && param->type == LS_PT_STRING) {
            if (!ls_yaml_is_null(v))
                ls_buf_add(&b, v->str, v->len);
        } else {
            ls_value val = ls_yaml_value(v);
            size_t jl = 0;
            char *json = ls_value_to_json(val, &jl);
            if (json)
                ls_buf_add(&b, json, jl);
            free(json);
            ls_value_free(val);
        }
        sc->sets[sc->nsets++] = ls_buf_steal(&b);
    }
}

static void sc_parse_approve(scenario *sc, const ls_ynode *n)
{
    if (n->kind == LS_Y_SCALAR && strcmp(n->str, "all") == 0) {
        sc->approve_all = true;
        return;
    }
    if (n->kind != LS_Y_SEQ) {
        ls_diag_error(&sc->diags, n->loc, "approve must be 'all' or a list of states");
        return;
    }
    sc->approve = ls_oom_check(calloc(n->n + 1, sizeof *sc->approve));
    for (size_t i = 0; i < n->n; i++)
        if (sc_state(sc, n->items[i], "approve") >= 0)
            sc->approve[sc->napprove++] = sc_strdup(n->items[i]->str);
}

static char *sc_default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
        n -= 5;
    else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
        n -= 4;
    char *s = ls_oom_check(malloc(n + 1));
    memcpy(s, base, n);
    s[n] = '\0';
    return s;
}

/* "tests/../upgrade.yaml" -> "upgrade.yaml" for display and loading, but
 * only when both name the same file (a symlinked folder keeps the path as
 * written). */
static void sc_tidy_path(ls_buf *path)
{
    const char *in = ls_buf_str(path);
    size_t n = strlen(in);
    char *out = ls_oom_check(malloc(n + 2));
    size_t *starts = ls_oom_check(malloc((n / 2 + 2) * sizeof *starts));
    size_t len = 0, depth = 0;
    bool abs = in[0] == '/';
    if (abs)
        out[len++] = '/';
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        if (sl == 0)
            break;
        bool dotdot = sl == 2 && p[0] == '.' && p[1] == '.';
        if (sl == 1 && p[0] == '.') {
            /* skip */
        } else if (dotdot && depth > 0) {
            len = starts[--depth];
        } else {
            size_t start = len;
            if (len > (abs ? 1u : 0u))
                out[len++] = '/';
            memcpy(out + len, p, sl);
            len += sl;
            if (!dotdot)
                starts[depth++] = start;
        }
        p += sl;
    }
    out[len] = '\0';
    char a[PATH_MAX], b[PATH_MAX];
    if (len > 0 && realpath(in, a) && realpath(out, b) && strcmp(a, b) == 0) {
        ls_buf_reset(path);
        ls_buf_adds(path, out);
    }
    free(out);
    free(starts);
}

/* Reads and checks one scenario and loads its playbook with its params.
 * Returns 0, or -1 when anything is wrong (problems in sc->diags or the
 * book's diags). */
static int sc_load(scenario *sc, const char *path, sc_books *books)
{
    static const char *const keys[] = {"name", "description", "playbook", "env", "set",
                                       "results", "approve", "assume", "expect", NULL};
    char err[256];
    size_t len = 0;
    int rc = -1;
    sc->exp_outcome = SC_OUT_UNSET;
    sc->exp_final = -1;
    ls_diags_init(&sc->diags);
    char *text = sc_read_file(path, &len, err, sizeof err);
    sc->file = ls_diags_source(&sc->diags, path, text, text ? len : 0);
    sc->name = sc_default_name(path);
    if (!text) {
        ls_loc nowhere = {sc->file, 0, 0};
        ls_diag_error(&sc->diags, nowhere, "%s", err);
        return -1;
    }
    ls_ynode *root = ls_yaml_parse(text, len, sc->file, &sc->diags);
    free(text);
    if (!root)
        return -1;
    if (!sc_want(&sc->diags, root, LS_Y_MAP, "a scenario"))
        goto out;
    sc_check_keys(&sc->diags, root, keys, "a scenario");
    const ls_ynode *v = ls_ymap_get(root, "name");
    if (v && sc_want(&sc->diags, v, LS_Y_SCALAR, "name")) {
        free(sc->name);
        sc->name = sc_strdup(v->str);
    }
    v = ls_ymap_get(root, "playbook");
    if (!v) {
        ls_diag_error(&sc->diags, root->loc, "a scenario needs 'playbook' (a path relative to the scenario file)");
        goto out;
    }
    if (!sc_want(&sc->diags, v, LS_Y_SCALAR, "playbook"))
        goto out;
    ls_buf pbpath;
    ls_buf_init(&pbpath, PATH_MAX);
    const char *slash = strrchr(path, '/');
    if (v->str[0] != '/' && slash)
        ls_buf_add(&pbpath, path, (size_t)(slash - path) + 1);
    ls_buf_adds(&pbpath, v->str);
    sc_tidy_path(&pbpath);
    sc->book = sc_book_get(books, ls_buf_str(&pbpath), v->loc, &sc->diags);
    if (!sc->book || !sc->book->pb) {
        ls_buf_free(&pbpath);
        goto out;
    }
    if ((v = ls_ymap_get(root, "env")) && sc_want(&sc->diags, v, LS_Y_SCALAR, "env"))
        sc->env = sc_strdup(v->str);
    if ((v = ls_ymap_get(root, "set")))
        sc_parse_set(sc, v);
    if ((v = ls_ymap_get(root, "results")))
        sc_parse_results(sc, v);
    if ((v = ls_ymap_get(root, "approve")))
        sc_parse_approve(sc, v);
    if ((v = ls_ymap_get(root, "assume")))
        sc_parse_assume(sc, v);
    if ((v = ls_ymap_get(root, "expect")))
        sc_parse_expect(sc, v);
    else
        ls_diag_error(&sc->diags, root->loc, "a scenario needs 'expect' (outcome, final, path, visits, never)");
    if (sc->diags.errors == 0) {
        ls_load_opts lo = {0};
        lo.path = ls_buf_str(&pbpath);
        lo.env_name = sc->env;
        lo.sets = (const char *const *)sc->sets;
        lo.nsets = sc->nsets;
        lo.check_params = true;
        lo.ignore_process_env = true;
        sc->pb = ls_playbook_load(&lo, &sc->diags);
        if (sc->pb && sc->pb->nstates != sc->book->pb->nstates) {
            ls_loc top = {sc->file, 1, 1};
            ls_diag_error(&sc->diags, top, "playbook %s changed while loading", lo.path);
        }
    }
    ls_buf_free(&pbpath);
    rc = sc->diags.errors == 0 && sc->pb ? 0 : -1;
out:
    ls_ynode_free(root);
    return rc;
}

static void sc_free(scenario *sc)
{
    if (sc->pb)
        ls_playbook_free(sc->pb);
    ls_diags_free(&sc->diags);
    for (size_t i = 0; i < sc->ncanned; i++) {
        for (size_t k = 0; k < sc->canned[i].n; k++) {
            ls_value_free(sc->canned[i].att[k].result);
            free(sc->canned[i].att[k].error);
        }
        free(sc->canned[i].att);
    }
    free(sc->canned);
    for (size_t i = 0; i < sc->nsets; i++)
        free(sc->sets[i]);
    free(sc->sets);
    for (size_t i = 0; i < sc->napprove; i++)
        free(sc->approve[i]);
    free(sc->approve);
    for (size_t i = 0; i < sc->nassume; i++)
        free(sc->assume[i]);
    free(sc->assume);
    free(sc->reruns);
    free(sc->path);
    free(sc->visit_states);
    free(sc->visit_counts);
    free(sc->never);
    free(sc->exp_error);
    free(sc->env);
    free(sc->name);
    free(sc->calls);
}

/* ------------------------------------------------------------ running */

static int sc_state_of(const ls_playbook *pb, const ls_state *st)
{
    if (st >= pb->states && st < pb->states + pb->nstates)
        return (int)(st - pb->states);
    return ls_playbook_state_index(pb, st->name);
}

/* The fake action (run.h ls_fake_fn): the canned attempt, else the state's
 * dry_run.result (or {}) with status ok. */
static ls_act_status sc_fake(void *ud, const ls_state *st, int attempt, ls_value *result, ls_error *err)
{
    scenario *sc = ud;
    int si = sc_state_of(sc->pb, st);
    bool probe = false;
    if (si < 0) {
        /* A landed: probe: its own canned results, under STATE.landed. */
        for (size_t i = 0; i < sc->pb->nstates && si < 0; i++)
            if (sc->pb->states[i].landed == st)
                si = (int)i;
        probe = si >= 0;
    }
    ls_act_status status = LS_ACT_OK;
    const sc_attempt *a = NULL;
    /* An interrupted entry takes its slot: the attempt run again after it
     * gets the next entry (and so does everything after). */
    size_t skip = !probe && si >= 0 && sc->reruns ? sc->reruns[si] : 0;
    /* A for_each state's list is consumed one entry per call: every
     * attempt of every element, in order (attempts restart per element). */
    bool each = !probe && st->for_each != NULL;
    size_t calls = 0;
    for (size_t c = 0; each && c < sc->ncalls; c++)
        calls += sc->calls[c].state == si;
    for (size_t i = 0; i < sc->ncanned && si >= 0; i++)
        if (sc->canned[i].state == si && sc->canned[i].landed == probe) {
            size_t k = each ? calls : (attempt >= 1 ? (size_t)(attempt - 1) : 0) + skip;
            a = &sc->canned[i].att[k < sc->canned[i].n ? k : sc->canned[i].n - 1];
        }

    if (a) {
        ls_loc nowhere = {NULL, 0, 0};
        status = a->status;
        *result = ls_is_null(a->result) ? ls_map_new() : ls_value_copy(a->result);
        if (status == LS_ACT_FAILED)
            ls_error_set(err, nowhere, "%s", a->error ? a->error : "failed (canned by the scenario)");
        else if (status == LS_ACT_TIMED_OUT)
            ls_error_set(err, nowhere, "%s", a->error ? a->error : "timed out (canned by the scenario)");
    } else if (st->has_dry_run && st->dry_run_result.kind == LS_MAP) {
        *result = ls_value_copy(st->dry_run_result);
    } else {
        *result = ls_map_new();
    }
    if (status == LS_ACT_INTERRUPTED && si >= 0 && sc->reruns)
        sc->reruns[si]++;
    if (probe)
        return status; /* the state's own calls decide its edges */
    if (sc->ncalls == sc->capcalls) {
        size_t cap = sc->capcalls ? sc->capcalls * 2 : 32;
        sc->calls = ls_oom_check(realloc(sc->calls, cap * sizeof *sc->calls));
        sc->capcalls = cap;
    }
    sc->calls[sc->ncalls++] = (sc_call){si, attempt, status};
    return status;
}

static const char *sc_outcome_name(int o)
{
    switch (o) {
    case LS_TERM_SUCCESS: return "success";
    case LS_TERM_FAILURE: return "failure";
    case SC_OUT_HALTED: return "halted";
    default: return "none";
    }
}

static void sc_names(ls_buf *b, const ls_playbook *pb, const int *idx, size_t n)
{
    ls_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++)
        ls_buf_printf(b, "%s%s", i ? ", " : "", idx[i] >= 0 ? pb->states[idx[i]].name : "?");
    ls_buf_addc(b, ']');
}

static size_t sc_count(const ls_run_report *r, int state)
{
    size_t c = 0;
    for (size_t i = 0; i < r->npath; i++)
        if (r->path[i] == state)
            c++;
    return c;
}

/* Compares the run with the expectations; writes the first difference
 * into `why` (empty when all hold). */
static void sc_compare(const scenario *sc, const ls_run_report *r, ls_buf *why)
{
    const ls_playbook *pb = sc->pb;
    int outcome = r->outcome != LS_TERM_NONE ? (int)r->outcome
                  : r->exit_code == LS_EXIT_HALTED ? SC_OUT_HALTED : SC_OUT_UNSET;
    if (sc->exp_outcome != SC_OUT_UNSET && sc->exp_outcome != outcome) {
        ls_buf_printf(why, "outcome: expected %s got %s", sc_outcome_name(sc->exp_outcome),
                      sc_outcome_name(outcome));
        return;
    }
    if (sc->exp_final >= 0 && sc->exp_final != r->final_state) {
        ls_buf_printf(why, "final: expected %s got %s", pb->states[sc->exp_final].name,
                      r->final_state >= 0 ? pb->states[r->final_state].name : "(none)");
        return;
    }
    if (sc->has_path) {
        bool same = sc->npath == r->npath;
        for (size_t i = 0; same && i < r->npath; i++)
            same = sc->path[i] == r->path[i];
        if (!same) {
            ls_buf_adds(why, "path: expected ");
            sc_names(why, pb, sc->path, sc->npath);
            ls_buf_adds(why, " got ");
            sc_names(why, pb, r->path, r->npath);
            return;
        }
    }
    for (size_t i = 0; i < sc->nvisits; i++) {
        int s = sc->visit_states[i];
        size_t got = sc_count(r, s);
        if (sc->visit_counts[i] < 0 ? got == 0 : (uint64_t)got != (uint64_t)sc->visit_counts[i]) {
            if (sc->visit_counts[i] < 0)
                ls_buf_printf(why, "visits: expected %s visited got never", pb->states[s].name);
            else
                ls_buf_printf(why, "visits: expected %s %lld times got %zu", pb->states[s].name,
                              (long long)sc->visit_counts[i], got);
            return;
        }
    }
    for (size_t i = 0; i < sc->nnever; i++) {
        size_t got = sc_count(r, sc->never[i]);
        if (got) {
            ls_buf_printf(why, "never: expected %s never visited got %zu visit%s", pb->states[sc->never[i]].name,
                          got, got == 1 ? "" : "s");
            return;
        }
    }
    if (sc->exp_error && !strstr(r->error, sc->exp_error))
        ls_buf_printf(why, "error: expected \"%s\" got \"%s\"", sc->exp_error, r->error);
}

static int sc_edge_rank(sc_edge_kind kind, int status)
{
    /* status: LS_ACT_OK, FAILED, TIMED_OUT, or -1 (no action called). */
    if (status == LS_ACT_TIMED_OUT)
        return kind == SC_TIMEOUT ? 0 : kind == SC_FAILURE ? 1 : 2;
    if (status == LS_ACT_FAILED)
        return kind == SC_FAILURE ? 0 : kind == SC_TIMEOUT ? 2 : 1;
    return kind == SC_NEXT || kind == SC_BRANCH ? 0 : kind == SC_FAILURE ? 1 : 2;
}

/* Marks the edges the run took (see the rule at the top of this file). */
static void sc_cover(const scenario *sc, const ls_run_report *r)
{
    sc_book *bk = sc->book;
    size_t c = 0;
    for (size_t i = 0; i + 1 < r->npath; i++) {
        int s = r->path[i], t = r->path[i + 1];
        int status = -1;
        int caller = ls_state_caller(sc->pb, s);
        while (caller >= 0 && sc->pb->states[t].frame != sc->pb->states[s].frame) {
            s = caller; /* a child's end: the edge taken is its call's */
            caller = ls_state_caller(sc->pb, s);
        }
        /* A for_each state's visit makes one call per element attempt. */
        bool each = sc->pb->states[s].for_each != NULL;
        if (c < sc->ncalls && sc->calls[c].state == s && sc->calls[c].attempt <= 1) {
            status = (int)sc->calls[c++].status;
            while (c < sc->ncalls && sc->calls[c].state == s &&
                   (sc->calls[c].attempt > 1 || status == LS_ACT_INTERRUPTED || each))
                status = (int)sc->calls[c++].status;
        }
        sc_edge *best = NULL;
        int best_rank = 99;
        for (size_t e = 0; e < bk->nedges; e++) {
            sc_edge *ed = &bk->edges[e];
            if (ed->from != s || ed->to != t)
                continue;
            int rank = sc_edge_rank(ed->kind, status);
            if (rank < best_rank) {
                best = ed;
                best_rank = rank;
            }
        }
        if (best)
            best->covered = true;
    }
}

static int sc_run(scenario *sc, FILE *out)
{
    ls_run_opts opts = {0};
    ls_run_report rep;
    memset(&rep, 0, sizeof rep);
    rep.final_state = -1;
    opts.fake = sc_fake;
    opts.fake_ud = sc;
    opts.no_journal = true;
    opts.quiet = true;
    opts.approve_all_silently = sc->approve_all;
    opts.approve = (const char *const *)sc->approve;
    opts.napprove = sc->napprove;
    opts.assume = (const char *const *)sc->assume;
    opts.nassume = sc->nassume;
    free(sc->reruns);
    sc->reruns = calloc(sc->pb->nstates + 1, sizeof *sc->reruns);
    ls_run(sc->pb, &opts, &rep);

    ls_buf why;
    ls_buf_init(&why, 64 * 1024);
    sc_compare(sc, &rep, &why);
    int failed = why.len > 0;
    if (failed) {
        fprintf(out, "FAIL %s: %s", sc->name, ls_buf_str(&why));
        if (strncmp(ls_buf_str(&why), "path:", 5) != 0) {
            ls_buf p;
            ls_buf_init(&p, 64 * 1024);
            sc_names(&p, sc->pb, rep.path, rep.npath);
            fprintf(out, " (path %s)", ls_buf_str(&p));
            ls_buf_free(&p);
        }
        if (rep.error[0] && strncmp(ls_buf_str(&why), "error:", 6) != 0)
            fprintf(out, " (run error: %s)", rep.error);
        fputc('\n', out);
    } else {
        fprintf(out, "PASS %s\n", sc->name);
    }
    ls_buf_free(&why);
    sc_cover(sc, &rep);
    ls_run_report_free(&rep);
    return failed;
}

static const char *sc_kind_name(sc_edge_kind k)
{
    switch (k) {
    case SC_NEXT: return "next";
    case SC_BRANCH: return "branch";
    case SC_FAILURE: return "on_failure";
    default: return "on_timeout";
    }
}

static void sc_print_coverage(const sc_book *bk, FILE *out)
{
    const ls_playbook *pb = bk->pb;
    size_t covered = 0;
    fprintf(out, "coverage of %s (%s):\n", pb->name, bk->shown);
    for (size_t e = 0; e < bk->nedges; e++) {
        const sc_edge *ed = &bk->edges[e];
        const ls_state *from = &pb->states[ed->from];
        fprintf(out, "  %s %s -> %s (%s", ed->covered ? "covered    " : "NOT covered", from->name,
                pb->states[ed->to].name, sc_kind_name(ed->kind));
        if (ed->kind == SC_BRANCH) {
            const ls_branch *b = &from->branches[ed->branch];
            fprintf(out, " %zu: %s", ed->branch + 1, b->cond ? ls_expr_source(b->cond) : "else");
        } else if (ed->kind == SC_FAILURE && !from->on_failure_own) {
            fputs(", from defaults", out);
        }
        fputs(")\n", out);
        if (ed->covered)
            covered++;
    }
    fprintf(out, "transitions covered: %zu/%zu\n", covered, bk->nedges);
}

static void sc_usage(FILE *out)
{
    fputs("usage: lockstep test [--coverage] [--trust KEY.pem] SCENARIO.yaml|BUNDLE.tar.gz...\n\n"
          "Runs each scenario's playbook with canned results instead of real actions\n"
          "(nothing is touched, no journal is written) and checks what it expects.\n"
          "Prints PASS/FAIL per scenario and 'N passed, N failed' last.\n\n"
          "  --coverage   also list every transition of each playbook and whether a\n"
          "               scenario took it, then 'transitions covered: K/N'\n"
          "  --trust KEY  a release bundle must be signed with this Ed25519 public key\n\n"
          "A release bundle (lockstep bundle) stands for the scenario tests it holds;\n"
          "every digest (and with --trust the signature) is checked first.\n\n"
          "exit codes: 0 all passed, 1 some failed, 2 a scenario or its playbook is invalid\n",
          out);
}

int ls_cmd_test(int argc, char **argv)
{
    bool coverage = false;
    const char *trust = NULL;
    size_t nfiles = 0;
    const char **files = ls_oom_check(calloc((size_t)(argc > 0 ? argc : 1), sizeof *files));
    bool only_files = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && strcmp(a, "--") == 0) {
            only_files = true;
        } else if (!only_files && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            sc_usage(stdout);
            free(files);
            return LS_EXIT_OK;
        } else if (!only_files && strcmp(a, "--coverage") == 0) {
            coverage = true;
        } else if (!only_files && strcmp(a, "--trust") == 0 && i + 1 < argc) {
            trust = argv[++i];
        } else if (!only_files && a[0] == '-' && a[1]) {
            fprintf(stderr, "lockstep test: unknown option '%s'\n", a);
            sc_usage(stderr);
            free(files);
            return LS_EXIT_USAGE;
        } else {
            files[nfiles++] = a;
        }
    }
    if (nfiles == 0) {
        fputs("lockstep test: no scenario files given\n", stderr);
        sc_usage(stderr);
        free(files);
        return LS_EXIT_USAGE;
    }
    /* Bundles stand for their tests, checked before anything is read. */
    ls_bundle **bundles = NULL;
    size_t nbundles = 0;
    const char **expanded = ls_bundle_expand_tests(files, nfiles, trust, &nfiles, &bundles, &nbundles);
    free(files);
    if (!expanded)
        return LS_EXIT_USAGE;
    files = expanded;

    sc_books books = {0};
    scenario *scs = ls_oom_check(calloc(nfiles, sizeof *scs));
    bool invalid = false;
    for (size_t i = 0; i < nfiles; i++) {
        if (sc_load(&scs[i], files[i], &books) != 0)
            invalid = true;
    }
    int rc;
    if (invalid) {
        /* Playbook problems once per playbook, then each scenario's own. */
        for (size_t b = 0; b < books.n; b++)
            if (books.items[b]->diags.errors)
                ls_diags_print(&books.items[b]->diags, stderr, false, true);
        for (size_t i = 0; i < nfiles; i++)
            if (scs[i].diags.errors)
                ls_diags_print(&scs[i].diags, stderr, false, true);
        fputs("lockstep test: invalid scenario or playbook; nothing was run\n", stderr);
        rc = LS_EXIT_USAGE;
    } else {
        size_t failed = 0;
        for (size_t i = 0; i < nfiles; i++)
            failed += (size_t)sc_run(&scs[i], stdout);
        if (coverage)
            for (size_t b = 0; b < books.n; b++)
                sc_print_coverage(books.items[b], stdout);
        printf("%zu passed, %zu failed\n", nfiles - failed, failed);
        rc = failed ? LS_EXIT_FAILURE : LS_EXIT_OK;
    }
    fflush(stdout);
    for (size_t i = 0; i < nfiles; i++)
        sc_free(&scs[i]);
    free(scs);
    for (size_t b = 0; b < books.n; b++)
        sc_book_free(books.items[b]);
    free(books.items);
    free(files);
    for (size_t b = 0; b < nbundles; b++)
        ls_bundle_close(bundles[b]);
    free(bundles);
    return rc;
}
