/*
 * The loader, part two: one state at a time (the key table of SPEC 2
 * "states"), then the checks of the machine as a whole: reachability, a
 * terminal reachable from start, traps (cycles with no way out), and
 * mutating states whose missing dry_run result a later expression reads.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "load_int.h"

static void ls_state_branches(ls_loader *L, ls_state *st, const ls_ynode *n)
{
    static const char *const keys[] = {"if", "goto", NULL};
    if (n->n == 0) {
        ls_diag_error(L->d, n->loc, "next: an empty list of branches");
        return;
    }
    st->branches = ls_pb_alloc(L->pb, n->n * sizeof *st->branches);
    for (size_t i = 0; i < n->n; i++) {
        const ls_ynode *b = n->items[i];
        if (b->kind != LS_Y_MAP) {
            ls_diag_error(L->d, b->loc, "next: each branch is a mapping {if: EXPR, goto: STATE}, not a %s",
                          ls_ykind_name(b));
            continue;
        }
        ls_load_check_keys(L, b, "a next branch", keys);
        const ls_ynode *cond = ls_ymap_get(b, "if"), *to = ls_ymap_get(b, "goto");
        ls_branch *br = &st->branches[st->nbranches];
        br->loc = b->loc;
        br->target = -1;
        if (!to)
            ls_diag_error(L->d, b->loc, "next: a branch needs 'goto'");
        else
            br->target = ls_load_state_ref(L, to, "goto");
        if (cond)
            br->cond = ls_load_expr(L, cond, "if", true);
        else if (i + 1 < n->n)
            ls_diag_error(L->d, b->loc, "next: a branch without 'if' must be the last one");
        st->nbranches++;
    }
}

/* ---- scalars templated over params -------------------------------------- */

typedef enum { DF_TIMEOUT, DF_ATTEMPTS, DF_DELAY, DF_MAX_DELAY, DF_BACKOFF } ls_dfkind;

struct ls_deferred {
    ls_dfkind kind;
    size_t state;  /* index in the playbook that declared it */
    ls_tmpl *t;
    ls_loc loc;
    const char *what;
};

/* A scalar that holds `${{ ... }}`: compiled over params alone and set by
 * ls_load_deferred.  True when n was such a template (deferred or not). */
static bool ls_defer(ls_loader *L, ls_state *st, const ls_ynode *n, ls_dfkind kind, const char *what)
{
    if (n->kind != LS_Y_SCALAR || strstr(n->str, "${{") == NULL)
        return false;
    ls_tmpl *t = ls_tmpl_string(n->str, n->len, n->loc, &L->env, L->d);
    if (!t)
        return true;
    if (ls_tmpl_roots(t) & ~(unsigned)LS_ROOT_PARAMS) {
        /* Set before the run starts, from params alone. */
        ls_diag_error(L->d, n->loc, "%s: a template here can only read params (it is set before anything runs)", what);
        ls_tmpl_free(t);
        return true;
    }
    if (L->ndfr == L->capdfr) {
        size_t ncap = L->capdfr ? L->capdfr * 2 : 16;
        struct ls_deferred *d = realloc(L->dfr, ncap * sizeof *d);
        if (!d)
            ls_oom();
        L->dfr = d;
        L->capdfr = ncap;
    }
    L->dfr[L->ndfr++] = (struct ls_deferred){kind, (size_t)(st - L->pb->states), t, n->loc, what};
    return true;
}

/* retry.attempts and retry.backoff, written as constants or templated
 * over params (ls_deferred_set): one rule for both. */
#define LS_ATTEMPTS_MAX 1000000
#define LS_BACKOFF_MAX 100.0
static bool ls_attempts_ok(int64_t a)
{
    return a >= 1 && a <= LS_ATTEMPTS_MAX;
}

static bool ls_backoff_ok(double f)
{
    return f >= 1.0 && f <= LS_BACKOFF_MAX;
}

/* Sets d's scalar in st from params; 0, or -1 with msg. */
static int ls_deferred_set(const struct ls_deferred *d, ls_state *st, ls_eval_ctx *ctx, char *msg, size_t msglen)
{
    ls_value v = ls_null();
    ls_error err;
    ls_error_clear(&err);
    if (ls_tmpl_render(d->t, ctx, &v, &err) != 0) {
        char m[1024];
        ls_error_format(&err, m, sizeof m);
        snprintf(msg, msglen, "%s: %s", d->what, m);
        ls_value_free(v);
        return -1;
    }
    char *text = ls_value_to_text(v, NULL);
    const char *s = text ? text : "";
    char *end = NULL;
    int64_t ms = 0;
    bool ok = true;
    if (d->kind == DF_ATTEMPTS) {
        long long a = v.kind == LS_INT ? v.u.i : strtoll(s, &end, 10);
        ok = (v.kind == LS_INT || (end && *end == '\0' && end != s)) && ls_attempts_ok(a);
        if (ok)
            st->retry.attempts = (int)a;
        else
            snprintf(msg, msglen, "%s is '%s' here: it must be an integer from 1 to 1000000", d->what, s);
    } else if (d->kind == DF_BACKOFF) {
        double f = v.kind == LS_INT ? (double)v.u.i : v.kind == LS_FLOAT ? v.u.f : strtod(s, &end);
        ok = (v.kind == LS_INT || v.kind == LS_FLOAT || (end && *end == '\0' && end != s)) && ls_backoff_ok(f);
        if (ok)
            st->retry.backoff = f;
        else
            snprintf(msg, msglen, "%s is '%s' here: it must be a number from 1 to 100", d->what, s);
    } else {
        if (v.kind == LS_INT && v.u.i >= 0 && v.u.i <= INT64_MAX / 1000)
            ms = v.u.i * 1000;
        else
            ok = ls_duration_parse(s, strlen(s), &ms) == 0;
        if (ok && d->kind == DF_TIMEOUT && ms == 0)
            ok = false;
        if (!ok)
            snprintf(msg, msglen, "%s is '%s' here: write a duration such as 250ms, 30s, 5m, 1h30m%s", d->what, s,
                     d->kind == DF_TIMEOUT ? " (greater than 0)" : "");
        else if (d->kind == DF_TIMEOUT)
            st->timeout_ms = ms;
        else if (d->kind == DF_DELAY)
            st->retry.delay_ms = ms;
        else
            st->retry.max_delay_ms = ms;
    }
    free(text);
    ls_value_free(v);
    return ok ? 0 : -1;
}

void ls_load_deferred(ls_loader *L)
{
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = L->pb->param_values;
    ctx.states = ls_map_new();
    ctx.run = ls_map_new();
    bool params_ok = L->d->errors == 0; /* else the params may not be there to read */
    for (size_t i = 0; i < L->ndfr; i++) {
        struct ls_deferred *d = &L->dfr[i];
        char msg[1200];
        if (L->opts->check_params && params_ok &&
            ls_deferred_set(d, &L->pb->states[d->state], &ctx, msg, sizeof msg) != 0)
            ls_diag_error(L->d, d->loc, "%s", msg);
    }
    /* A for_each that reads params alone (or nothing) must give a list:
     * known now when params are (or when it is a constant). */
    for (size_t i = 0; i < L->pb->nstates; i++) {
        const ls_expr *e = L->pb->states[i].for_each;
        unsigned roots = e ? ls_expr_roots(e) : 0;
        if (!e || (roots & ~(unsigned)LS_ROOT_PARAMS) || (roots && !(L->opts->check_params && params_ok)))
            continue;
        ls_value v = ls_null();
        ls_error err;
        ls_error_clear(&err);
        if (ls_expr_eval(e, &ctx, &v, &err) != 0)
            ls_diag_error(L->d, ls_expr_loc(e), "for_each: %s", err.msg);
        else if (v.kind != LS_LIST) {
            ls_diag_error(L->d, ls_expr_loc(e), "for_each must give a list, not %s: %s",
                          ls_kind_name((ls_kind)v.kind), ls_expr_source(e));
        }
        ls_value_free(v);
    }
    ls_value_free(ctx.states);
    ls_value_free(ctx.run);
    if (L->opts->chain != NULL && !L->opts->check_params) {
        /* A called playbook: its params come with each call (ls_sub_deferred). */
        L->pb->dfr = L->dfr;
        L->pb->ndfr = L->ndfr;
    } else {
        ls_deferred_free(L->dfr, L->ndfr);
    }
    L->dfr = NULL;
    L->ndfr = L->capdfr = 0;
}

void ls_deferred_free(struct ls_deferred *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ls_tmpl_free(d[i].t);
    free(d);
}

int ls_sub_deferred(ls_playbook *pb, int call, ls_value params, char *msg, size_t msglen)
{
    const ls_sub *sub = pb->states[call].sub;
    const ls_playbook *child = sub->child;
    size_t first = pb->frames[sub->frame].first;
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = params;
    ctx.states = ls_map_new();
    ctx.run = ls_map_new();
    int rc = 0;
    for (size_t i = 0; i < child->ndfr && rc == 0; i++)
        rc = ls_deferred_set(&child->dfr[i], &pb->states[first + child->dfr[i].state], &ctx, msg, msglen);
    ls_value_free(ctx.states);
    ls_value_free(ctx.run);
    return rc;
}

static void ls_state_retry(ls_loader *L, ls_state *st, const ls_ynode *n)
{
    static const char *const keys[] = {"attempts", "delay", "backoff", "max_delay", "until", NULL};
    if (n->kind != LS_Y_MAP) {
        ls_diag_error(L->d, n->loc, "retry must be a mapping {attempts, delay, backoff, max_delay, until}");
        return;
    }
    ls_load_check_keys(L, n, "retry", keys);
    const ls_ynode *v;
    if ((v = ls_ymap_get(n, "attempts")) && !ls_defer(L, st, v, DF_ATTEMPTS, "retry.attempts")) {
        ls_value a = ls_yaml_scalar(v);
        if (v->kind != LS_Y_SCALAR || a.kind != LS_INT || !ls_attempts_ok(a.u.i))
            ls_diag_error(L->d, v->loc, "retry.attempts must be an integer from 1 to 1000000");
        else
            st->retry.attempts = (int)a.u.i;
        ls_value_free(a);
    }
    if ((v = ls_ymap_get(n, "delay")) && !ls_defer(L, st, v, DF_DELAY, "retry.delay"))
        ls_load_duration(L, v, "retry.delay", &st->retry.delay_ms);
    if ((v = ls_ymap_get(n, "max_delay")) && !ls_defer(L, st, v, DF_MAX_DELAY, "retry.max_delay"))
        ls_load_duration(L, v, "retry.max_delay", &st->retry.max_delay_ms);
    if ((v = ls_ymap_get(n, "backoff")) && !ls_defer(L, st, v, DF_BACKOFF, "retry.backoff")) {
        ls_value b = ls_yaml_scalar(v);
        double f = b.kind == LS_INT ? (double)b.u.i : b.kind == LS_FLOAT ? b.u.f : 0.0;
        if (v->kind != LS_Y_SCALAR || (b.kind != LS_INT && b.kind != LS_FLOAT) || !ls_backoff_ok(f))
            ls_diag_error(L->d, v->loc, "retry.backoff must be a number from 1 to 100");
        else
            st->retry.backoff = f;
        ls_value_free(b);
    }
    if ((v = ls_ymap_get(n, "until")))
        st->retry.until = ls_load_expr(L, v, "retry.until", true);
}

/* The state's `with`, plus its family's defaults where the state is silent. */
static void ls_state_with(ls_loader *L, ls_state *st, const ls_ynode *with, ls_loc with_loc)
{
    const ls_action *a = st->action;
    bool bad = false;
    if (with && with->kind != LS_Y_MAP) {
        ls_diag_error(L->d, with->loc, "with must be a mapping of inputs, not a %s", ls_ykind_name(with));
        return;
    }
    if (with) {
        for (size_t i = 0; i < with->n; i++) {
            const char *k = with->keys[i]->str;
            if (ls_action_input(a, k))
                continue;
            ls_buf b;
            ls_buf_init(&b, 4096);
            for (const ls_input *in = a->inputs; in && in->name; in++)
                ls_buf_printf(&b, "%s%s", b.len ? ", " : "", in->name);
            const ls_family *f = ls_family_find(a->family);
            for (const ls_input *in = f ? f->inputs : NULL; in && in->name; in++)
                ls_buf_printf(&b, "%s%s", b.len ? ", " : "", in->name);
            ls_diag_error(L->d, with->keys[i]->loc, "action '%s' has no input '%s' (inputs: %s)", a->name, k,
                          b.len ? ls_buf_str(&b) : "none");
            ls_buf_free(&b);
            bad = true;
        }
    }
    ls_tmpl *t = with ? ls_load_tmpl(L, with, L->d) : ls_tmpl_map(with_loc);
    if (!t || bad) {
        ls_tmpl_free(t);
        return;
    }
    /* Family defaults were reported once (ls_check_fdefaults); compile a
     * silent copy here: its expression places still point at the default. */
    for (size_t i = 0; i < L->nfd; i++) {
        const ls_fdefault *f = &L->fd[i];
        if (!f->ok || !a->family || strcmp(f->family, a->family) != 0 || ls_tmpl_map_get(t, f->key))
            continue;
        ls_diags quiet;
        ls_diags_init(&quiet);
        ls_tmpl *c = ls_load_tmpl(L, f->node, &quiet);
        ls_diags_free(&quiet);
        if (c)
            ls_tmpl_map_set(t, f->key, c);
    }
    for (size_t i = 0; i < ls_tmpl_len(t); i++) {
        const ls_tmpl *c = ls_tmpl_at(t, i);
        const ls_input *in = ls_action_input(a, ls_tmpl_map_key_at(t, i));
        if (!in || !ls_tmpl_is_constant(c))
            continue;
        ls_value v = ls_tmpl_constant(c);
        if (!ls_input_type_ok(in->type, v))
            ls_diag_error(L->d, ls_tmpl_loc(c), "input '%s' of action '%s' must be %s, not %s", in->name, a->name,
                          in->type, ls_kind_name((ls_kind)v.kind));
    }
    for (const ls_input *in = a->inputs; in && in->name; in++) {
        const ls_tmpl *c = ls_tmpl_map_get(t, in->name);
        if (in->required && !c)
            ls_diag_error(L->d, with_loc, "action '%s' needs input '%s'", a->name, in->name);
        else if (in->required && ls_tmpl_is_constant(c) && ls_is_null(ls_tmpl_constant(c)))
            ls_diag_error(L->d, ls_tmpl_loc(c), "action '%s' needs input '%s' (it is empty here)", a->name,
                          in->name);
    }
    st->with = t;
    if (a->prepare) {
        size_t before = L->d->errors;
        if (a->prepare(t, with_loc, L->d, &st->prep) != 0 && L->d->errors == before)
            ls_diag_error(L->d, with_loc, "action '%s': invalid inputs", a->name);
    }
}

static const char *const ls_state_keys[] = {
    "description", "phase", "action", "with", "requires", "expect", "retry", "timeout", "next",
    "on_failure", "on_timeout", "confirm", "mutates", "idempotent", "dry_run", "landed", "terminal", "for_each",
    "playbook", NULL};

/* `playbook: FILE` with `with: {param: value}`: the call; the child is
 * loaded and spliced once the caller has loaded (load_sub.c). */
static void ls_state_sub(ls_loader *L, ls_state *st, const ls_ynode *n, const ls_ynode *v, bool has_action)
{
    static const char *const not_with[] = {"action", "retry", "timeout", "mutates", "idempotent", "dry_run",
                                           "landed", "confirm", "expect", NULL};
    for (const char *const *k = not_with; *k; k++)
        for (size_t i = 0; i < n->n; i++)
            if (strcmp(n->keys[i]->str, *k) == 0)
                ls_diag_error(L->d, n->keys[i]->loc, "'%s' does not go with 'playbook' (state '%s' runs a playbook)",
                              *k, st->name);
    if (has_action || !ls_load_text(L, v, "playbook"))
        return;
    if (v->len == 0) {
        ls_diag_error(L->d, v->loc, "playbook: give the file of the playbook to run (relative to this file)");
        return;
    }
    st->sub = ls_oom_check(calloc(1, sizeof *st->sub));
    st->sub->file = ls_load_strdup(v->str);
    st->sub->loc = v->loc;
    st->sub->start = st->sub->frame = -1;
    const ls_ynode *with = ls_ymap_get(n, "with");
    if (with && !(with->kind == LS_Y_SCALAR && with->plain && with->len == 0)) {
        if (with->kind != LS_Y_MAP)
            ls_diag_error(L->d, with->loc, "with: the child playbook's params, a mapping of names to values");
        else
            st->with = ls_load_tmpl(L, with, L->d);
    }
}

/* `item` and `index` name the element of a for_each state: allowed only
 * in what runs once per element (with, expect, retry.until, landed). */
static void ls_item_scope(ls_loader *L, bool on)
{
    L->env.allow_item = L->env_result.allow_item = on;
}

/* `landed:` -- the read-only probe resume runs when the state's attempt
 * has an unknown outcome: {action, with, expect, timeout}. */
static void ls_state_landed(ls_loader *L, ls_state *st, const ls_ynode *n, ls_loc key_loc)
{
    static const char *const keys[] = {"action", "with", "expect", "timeout", "mutates", NULL};
    if (n->kind != LS_Y_MAP) {
        ls_diag_error(L->d, n->loc, "landed must be a mapping {action, with, expect, timeout, mutates}, not a %s",
                      ls_ykind_name(n));
        return;
    }
    ls_load_check_keys(L, n, "landed", keys);
    const ls_ynode *a = ls_ymap_get(n, "action"), *ex = ls_ymap_get(n, "expect"), *v;
    if (!a || !ls_load_text(L, a, "landed.action")) {
        if (!a)
            ls_diag_error(L->d, n->loc, "landed needs 'action' (a probe that does not change anything)");
        return;
    }
    if (!ex) {
        ls_diag_error(L->d, n->loc, "landed needs 'expect' (what the probe's result shows when the action took effect)");
        return;
    }
    ls_state *p = ls_pb_alloc(L->pb, sizeof *p);
    size_t nl = strlen(st->name);
    p->name = ls_pb_alloc(L->pb, nl + sizeof ".landed");
    memcpy(p->name, st->name, nl);
    memcpy(p->name + nl, ".landed", sizeof ".landed");
    p->loc = key_loc;
    p->action_loc = a->loc;
    p->next = p->on_failure = p->on_timeout = -1;
    p->mutates = p->idempotent = -1;
    p->retry.attempts = 1;
    p->retry.backoff = 1.0;
    st->landed = p;
    p->action = ls_action_find(a->str);
    if (!p->action) {
        ls_diag_error(L->d, a->loc, "landed: unknown action '%s' (see lockstep actions)", a->str);
        return;
    }
    if ((v = ls_ymap_get(n, "timeout")) && ls_load_duration(L, v, "landed.timeout", &p->timeout_ms) &&
        p->timeout_ms == 0)
        ls_diag_error(L->d, v->loc, "timeout must be greater than 0");
    if (!p->timeout_ms)
        p->timeout_ms = st->timeout_ms;
    p->expect = ls_load_expr_list(L, ex, "landed.expect", true, &p->nexpect);
    if ((v = ls_ymap_get(n, "mutates")))
        p->mutates = ls_load_bool(L, v, "landed.mutates"); /* `false`: a program that only reads */
    const ls_ynode *with = ls_ymap_get(n, "with");
    ls_loc with_loc = a->loc;
    for (size_t i = 0; with && i < n->n; i++)
        if (n->items[i] == with)
            with_loc = n->keys[i]->loc;
    ls_state_with(L, p, with, with_loc);
    if (p->with && ls_state_mutates_static(p))
        ls_diag_error(L->d, a->loc,
                      "landed: '%s' changes the system; the probe must only read (e.g. kubectl.get, "
                      "mongo.find_one, mongo.count, http.request with GET)",
                      p->action->name);
}

static void ls_state_terminal(ls_loader *L, ls_state *st, const ls_ynode *n, const ls_ynode *v)
{
    const char *t = ls_load_text(L, v, "terminal");
    if (t && strcmp(t, "success") == 0)
        st->terminal = LS_TERM_SUCCESS;
    else if (t && strcmp(t, "failure") == 0)
        st->terminal = LS_TERM_FAILURE;
    else if (t)
        ls_diag_error(L->d, v->loc, "terminal must be success or failure, not '%s'", t);
    if (!st->terminal)
        st->terminal = LS_TERM_FAILURE; /* keep checking the rest as an end state */
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->keys[i]->str;
        bool known = false; /* unknown keys are reported once, as unknown */
        for (const char *const *a = ls_state_keys; *a; a++)
            known = known || strcmp(*a, k) == 0;
        if (known && strcmp(k, "terminal") && strcmp(k, "description") && strcmp(k, "phase"))
            ls_diag_error(L->d, n->keys[i]->loc,
                          "terminal state '%s' cannot have '%s' (an end state has no action and no transitions)",
                          st->name, k);
    }
}

void ls_state_load(ls_loader *L, ls_state *st, const ls_ynode *n, int default_on_failure)
{
    ls_playbook *pb = L->pb;
    if (n->kind != LS_Y_MAP) {
        ls_diag_error(L->d, st->loc, "state '%s' must be a mapping (action, next, ... or terminal), not a %s",
                      st->name, ls_ykind_name(n));
        return;
    }
    char where[200];
    snprintf(where, sizeof where, "state '%s'", st->name);
    ls_load_check_keys(L, n, where, ls_state_keys);
    const ls_ynode *v;
    if ((v = ls_ymap_get(n, "description")) && ls_load_text(L, v, "description"))
        st->description = ls_pb_strdup(L->pb, v->str);
    if ((v = ls_ymap_get(n, "phase")) && ls_load_text(L, v, "phase"))
        st->phase = ls_pb_strdup(L->pb, v->str);
    if ((v = ls_ymap_get(n, "terminal"))) {
        ls_state_terminal(L, st, n, v);
        return;
    }

    if ((v = ls_ymap_get(n, "action")) && ls_load_text(L, v, "action")) {
        st->action_loc = v->loc;
        st->action = ls_action_find(v->str);
        if (!st->action) {
            const char **names = malloc((ls_action_count() + 1) * sizeof *names);
            if (!names)
                ls_oom();
            for (size_t i = 0; i < ls_action_count(); i++)
                names[i] = ls_action_at(i)->name;
            const char *hint = ls_load_suggest(v->str, names, ls_action_count());
            if (hint)
                ls_diag_error(L->d, v->loc, "unknown action '%s' (did you mean '%s'? see lockstep actions)", v->str,
                              hint);
            else
                ls_diag_error(L->d, v->loc, "unknown action '%s' (see lockstep actions)", v->str);
            free(names);
        }
    }
    bool has_action_key = ls_ymap_get(n, "action") != NULL;
    if ((v = ls_ymap_get(n, "playbook")))
        ls_state_sub(L, st, n, v, has_action_key);
    static const char *const need_action[] = {"with", "retry", "timeout", "mutates", "idempotent", "dry_run",
                                              "for_each", NULL};
    if (!has_action_key && !st->sub)
        for (const char *const *k = need_action; *k; k++)
            for (size_t i = 0; i < n->n; i++)
                if (strcmp(n->keys[i]->str, *k) == 0)
                    ls_diag_error(L->d, n->keys[i]->loc, "'%s' needs an action (state '%s' has none)", *k, st->name);

    if ((v = ls_ymap_get(n, "requires")))
        st->requires = ls_load_expr_list(L, v, "requires", false, &st->nrequires);
    /* for_each: one expression, evaluated once per visit after requires;
     * it cannot read item or index itself. */
    bool each = has_action_key && ls_ymap_get(n, "for_each") != NULL;
    if (each)
        st->for_each = ls_load_expr(L, ls_ymap_get(n, "for_each"), "for_each", false);
    ls_item_scope(L, each);
    if ((v = ls_ymap_get(n, "expect")))
        st->expect = ls_load_expr_list(L, v, "expect", true, &st->nexpect);
    if (has_action_key && (v = ls_ymap_get(n, "retry")))
        ls_state_retry(L, st, v);
    ls_item_scope(L, false);
    bool timeout_templated = has_action_key && (v = ls_ymap_get(n, "timeout")) && ls_defer(L, st, v, DF_TIMEOUT, "timeout");
    if (has_action_key && !timeout_templated && (v = ls_ymap_get(n, "timeout")) &&
        ls_load_duration(L, v, "timeout", &st->timeout_ms) && st->timeout_ms == 0)
        ls_diag_error(L->d, v->loc, "timeout must be greater than 0");
    if (st->action && !st->timeout_ms)
        st->timeout_ms = pb->default_timeout_ms; /* a templated timeout replaces it once params are known */
    if ((v = ls_ymap_get(n, "next"))) {
        if (v->kind == LS_Y_SEQ)
            ls_state_branches(L, st, v);
        else if (v->kind == LS_Y_SCALAR)
            st->next = ls_load_state_ref(L, v, "next");
        else
            ls_diag_error(L->d, v->loc, "next must be a state name or a list of {if, goto} branches");
    }
    if ((v = ls_ymap_get(n, "on_failure"))) {
        st->on_failure = ls_load_state_ref(L, v, "on_failure");
        st->on_failure_own = true;
    }
    if ((v = ls_ymap_get(n, "on_timeout"))) {
        st->on_timeout = ls_load_state_ref(L, v, "on_timeout");
        if (st->on_timeout >= 0 && !st->timeout_ms && !timeout_templated && (st->action || !has_action_key))
            ls_diag_warning(L->d, v->loc, "on_timeout can never be taken: state '%s' has no %s", st->name,
                            st->action ? "timeout (and defaults has none)" : "action to time out");
    }
    bool confirms = false; /* even when the prompt has errors: no cascade of failure-target errors */
    if ((v = ls_ymap_get(n, "confirm")) && ls_load_text(L, v, "confirm")) {
        /* A prompt, or `true` for a standard one (`false`: no confirmation). */
        ls_value c = ls_yaml_scalar(v);
        confirms = !(c.kind == LS_BOOL && !c.u.b);
        if (c.kind == LS_BOOL && c.u.b) {
            char prompt[300];
            if (st->action)
                snprintf(prompt, sizeof prompt, "Run state '%s' (%s)?", st->name, st->action->name);
            else
                snprintf(prompt, sizeof prompt, "Go on past state '%s'?", st->name);
            st->confirm = ls_tmpl_literal(ls_string(prompt), v->loc);
        } else if (c.kind == LS_STRING) {
            st->confirm = ls_load_tmpl(L, v, L->d);
        } else if (c.kind != LS_BOOL) {
            ls_diag_error(L->d, v->loc, "confirm must be a prompt (a string) or true, not %s",
                          ls_kind_name((ls_kind)c.kind));
        }
        ls_value_free(c);
    }
    if (has_action_key && (v = ls_ymap_get(n, "mutates")))
        st->mutates = ls_load_bool(L, v, "mutates");
    if (has_action_key && (v = ls_ymap_get(n, "idempotent")))
        st->idempotent = ls_load_bool(L, v, "idempotent");
    if (has_action_key && (v = ls_ymap_get(n, "dry_run"))) {
        static const char *const dkeys[] = {"result", NULL};
        const ls_ynode *r = v->kind == LS_Y_MAP ? ls_ymap_get(v, "result") : NULL;
        if (v->kind != LS_Y_MAP)
            ls_diag_error(L->d, v->loc, "dry_run must be a mapping {result: {...}}");
        ls_load_check_keys(L, v, "dry_run", dkeys);
        if (v->kind == LS_Y_MAP && !r)
            ls_diag_error(L->d, v->loc, "dry_run needs 'result'");
        else if (r && r->kind != LS_Y_MAP)
            ls_diag_error(L->d, r->loc, "dry_run.result must be a mapping (the result document)");
        else if (r) {
            st->has_dry_run = true;
            st->dry_run_result = ls_yaml_value(r);
        }
    }
    ls_item_scope(L, each);
    if (st->action) {
        const ls_ynode *with = ls_ymap_get(n, "with");
        ls_loc with_loc = st->action_loc;
        for (size_t i = 0; with && i < n->n; i++)
            if (n->items[i] == with)
                with_loc = n->keys[i]->loc;
        ls_state_with(L, st, with, with_loc);
    }
    if ((v = ls_ymap_get(n, "landed"))) {
        ls_loc key_loc = v->loc;
        for (size_t i = 0; i < n->n; i++)
            if (n->items[i] == v)
                key_loc = n->keys[i]->loc;
        if (!has_action_key)
            ls_diag_error(L->d, key_loc, "'landed' needs an action (state '%s' has none)", st->name);
        else
            ls_state_landed(L, st, v, key_loc);
    }
    ls_item_scope(L, false);

    st->can_fail = st->sub != NULL || st->nrequires || st->nexpect || ls_ymap_get(n, "requires") || ls_ymap_get(n, "expect") ||
                   confirms || (has_action_key && !st->action) ||
                   (st->action && strcmp(st->action->name, "noop") != 0) ||
                   (pb->confirm_mutating && ls_state_mutates_static(st));
    if (st->can_fail && st->on_failure < 0 && !st->on_failure_own) {
        if (default_on_failure >= 0 && (size_t)default_on_failure == (size_t)(st - pb->states))
            ls_diag_error(L->d, st->loc,
                          "state '%s' can fail and its failure target (defaults.on_failure) is itself: "
                          "give it its own on_failure", st->name);
        else if (default_on_failure >= 0)
            st->on_failure = default_on_failure;
        else if (default_on_failure == -1)
            ls_diag_error(L->d, st->loc,
                          "state '%s' can fail but has no on_failure (and defaults has no on_failure)", st->name);
    }
    if (st->next < 0 && st->nbranches == 0 && ls_ymap_get(n, "next"))
        L->broken++;
    if (st->next < 0 && st->nbranches == 0 && !ls_ymap_get(n, "next") && ++L->broken)
        ls_diag_error(L->d, st->loc, "state '%s' has no way out: give it next, or make it terminal: success|failure",
                      st->name);
}

/* ---- the machine as a whole -------------------------------------------- */

static size_t ls_succ(const ls_state *st, int *out)
{
    size_t n = 0;
    if (st->next >= 0)
        out[n++] = st->next;
    for (size_t b = 0; b < st->nbranches; b++)
        if (st->branches[b].target >= 0)
            out[n++] = st->branches[b].target;
    if (st->on_failure >= 0)
        out[n++] = st->on_failure;
    if (st->on_timeout >= 0)
        out[n++] = st->on_timeout;
    return n;
}

static void ls_note_reads(const ls_playbook *pb, const int *refs, size_t nr, ls_loc at, ls_loc *first)
{
    for (size_t i = 0; i < nr; i++)
        if (refs[i] >= 0 && (size_t)refs[i] < pb->nstates && first[refs[i]].line == 0)
            first[refs[i]] = at;
}

/* n zeroed elements of `size` bytes for the graph checks, all given back
 * at once when they end (L->scratch): a 10,000-state playbook's dozen
 * arrays were a hundred fresh pages of heap, each a page fault. */
static void *ls_scratch(ls_loader *L, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        ls_oom();
    return ls_arena_alloc(L->scratch, n * size);
}

static void ls_note_expr(const ls_playbook *pb, const ls_expr *e, ls_loc *first)
{
    if (!e)
        return;
    const int *refs = NULL;
    size_t nr = ls_expr_state_refs(e, &refs);
    ls_note_reads(pb, refs, nr, ls_expr_loc(e), first);
}

static void ls_note_tmpl(const ls_playbook *pb, const ls_tmpl *t, ls_loc *first)
{
    if (!t)
        return;
    int refs[256];
    size_t nr = ls_tmpl_state_refs(t, refs, 256);
    ls_note_reads(pb, refs, nr < 256 ? nr : 256, ls_tmpl_loc(t), first);
}

/* A mutating action in a dry run returns its dry_run.result or {}: warn
 * when an expression reads that result, since the rehearsal would decide
 * on an empty document. */
static void ls_check_dry_run_reads(ls_loader *L)
{
    ls_playbook *pb = L->pb;
    ls_loc *first = ls_scratch(L, pb->nstates + 1, sizeof *first);
    for (size_t g = 0; g < pb->nguards; g++)
        ls_note_expr(pb, pb->guards[g].expr, first);
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
        for (size_t k = 0; k < st->nrequires; k++)
            ls_note_expr(pb, st->requires[k], first);
        for (size_t k = 0; k < st->nexpect; k++) {
            ls_note_expr(pb, st->expect[k], first);
            if (st->expect[k] && (ls_expr_roots(st->expect[k]) & LS_ROOT_RESULT) && first[i].line == 0)
                first[i] = ls_expr_loc(st->expect[k]);
        }
        ls_note_expr(pb, st->retry.until, first);
        if (st->retry.until && (ls_expr_roots(st->retry.until) & LS_ROOT_RESULT) && first[i].line == 0)
            first[i] = ls_expr_loc(st->retry.until);
        for (size_t b = 0; b < st->nbranches; b++) {
            ls_note_expr(pb, st->branches[b].cond, first);
            if (st->branches[b].cond && (ls_expr_roots(st->branches[b].cond) & LS_ROOT_RESULT) &&
                first[i].line == 0)
                first[i] = ls_expr_loc(st->branches[b].cond);
        }
        ls_note_tmpl(pb, st->with, first);
        ls_note_tmpl(pb, st->confirm, first);
    }
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
        if (!st->action || st->has_dry_run || first[i].line == 0 || !ls_state_mutates_static(st))
            continue;
        ls_diag_warning(L->d, st->loc,
                        "state '%s' mutates and has no dry_run result, but its result is read at line %u: "
                        "a dry run would decide on {} (add dry_run: {result: {...}})",
                        st->name, (unsigned)first[i].line);
    }
}

/* The success edges of a state: plain next and branches. */
static size_t ls_succ_ok(const ls_state *st, int *out)
{
    size_t n = 0;
    if (st->next >= 0)
        out[n++] = st->next;
    for (size_t b = 0; b < st->nbranches; b++)
        if (st->branches[b].target >= 0)
            out[n++] = st->branches[b].target;
    return n;
}

/* A cycle of success edges that no success edge leaves: once the machine is
 * in it, only a failure (or nothing) gets it out.  Strongly connected
 * components by Tarjan's algorithm with an explicit stack (no recursion on
 * input size); one warning per trap, at its first state in display order. */
static void ls_check_traps(ls_loader *L, const bool *reach, const bool *live)
{
    ls_playbook *pb = L->pb;
    size_t n = pb->nstates, maxdeg = 2, counter = 0, top = 0, ctop = 0;
    for (size_t u = 0; u < n; u++)
        if (pb->states[u].nbranches + 1 > maxdeg)
            maxdeg = pb->states[u].nbranches + 1;
    size_t *index = ls_scratch(L, n, sizeof *index), *low = ls_scratch(L, n, sizeof *low);
    size_t *comp = ls_scratch(L, n, sizeof *comp), *stk = ls_scratch(L, n, sizeof *stk);
    size_t *cstk = ls_scratch(L, n, sizeof *cstk), *edge = ls_scratch(L, n, sizeof *edge);
    bool *on = ls_scratch(L, n, sizeof *on);
    int *out = ls_scratch(L, maxdeg, sizeof *out);
    size_t ncomp = 0;
    for (size_t s = 0; s < n; s++) {
        if (index[s] || !reach[s])
            continue;
        cstk[ctop] = s;
        edge[ctop++] = 0;
        index[s] = low[s] = ++counter;
        stk[top++] = s;
        on[s] = true;
        while (ctop) {
            size_t u = cstk[ctop - 1];
            size_t k = ls_succ_ok(&pb->states[u], out);
            if (edge[ctop - 1] < k) {
                size_t w = (size_t)out[edge[ctop - 1]++];
                if (!index[w]) {
                    index[w] = low[w] = ++counter;
                    stk[top++] = w;
                    on[w] = true;
                    cstk[ctop] = w;
                    edge[ctop++] = 0;
                } else if (on[w] && index[w] < low[u]) {
                    low[u] = index[w];
                }
                continue;
            }
            ctop--;
            if (ctop && low[u] < low[cstk[ctop - 1]])
                low[cstk[ctop - 1]] = low[u];
            if (low[u] == index[u]) {
                ncomp++;
                size_t w;
                do {
                    w = stk[--top];
                    on[w] = false;
                    comp[w] = ncomp;
                } while (w != u);
            }
        }
    }
    /* A component is a trap when it has a cycle and no success edge out. */
    bool *done = ls_scratch(L, ncomp + 1, sizeof *done);
    /* Members of each component, in state order: first[c], then member[v]
     * chains to the next one (SIZE_MAX ends), so each is visited once. */
    size_t *first = ls_scratch(L, ncomp + 1, sizeof *first);
    size_t *member = ls_scratch(L, n ? n : 1, sizeof *member);
    for (size_t c = 0; c <= ncomp; c++)
        first[c] = SIZE_MAX;
    for (size_t v = n; v-- > 0;) {
        member[v] = first[comp[v]];
        first[comp[v]] = v;
    }
    for (size_t u = 0; u < n; u++) {
        size_t c = comp[u];
        if (!c || done[c])
            continue;
        done[c] = true;
        bool cycle = false, exits = false, escapes = false;
        ls_buf names;
        ls_buf_init(&names, 2048);
        for (size_t v = first[c]; v != SIZE_MAX; v = member[v]) {
            escapes = escapes || live[v];
            if (names.len < 1500)
                ls_buf_printf(&names, "%s%s", names.len ? " -> " : "", pb->states[v].name);
            size_t k = ls_succ_ok(&pb->states[v], out);
            for (size_t j = 0; j < k; j++) {
                if (comp[out[j]] != c)
                    exits = true;
                else
                    cycle = true; /* an edge inside: a self-loop or part of a longer cycle */
            }
        }
        if (cycle && !exits) {
            const char *why = escapes ? "only a failure leaves it" : "no terminal state can be reached from it";
            if (strstr(ls_buf_str(&names), " -> "))
                ls_diag_warning(L->d, pb->states[u].loc, "states %s form a cycle with no conditional way out (%s)",
                                ls_buf_str(&names), why);
            else
                ls_diag_warning(L->d, pb->states[u].loc,
                                "state '%s' leads back to itself with no conditional way out (%s)",
                                pb->states[u].name, why);
        }
        ls_buf_free(&names);
    }
}

void ls_load_graph_checks(ls_loader *L, const ls_ynode *start_node)
{
    ls_playbook *pb = L->pb;
    size_t n = pb->nstates;
    size_t maxdeg = 3;
    for (size_t u = 0; u < n; u++)
        if (pb->states[u].nbranches + 3 > maxdeg)
            maxdeg = pb->states[u].nbranches + 3;
    L->scratch = ls_arena_new();
    int *succ = ls_scratch(L, maxdeg, sizeof *succ);
    bool *reach = ls_scratch(L, n, sizeof *reach), *live = ls_scratch(L, n, sizeof *live);
    size_t *queue = ls_scratch(L, n + 1, sizeof *queue);
    size_t *rstart = ls_scratch(L, n + 1, sizeof *rstart);
    /* Forward: what start can reach. */
    size_t qh = 0, qt = 0;
    reach[pb->start] = true;
    queue[qt++] = (size_t)pb->start;
    size_t nedges = 0;
    while (qh < qt) {
        size_t u = queue[qh++];
        size_t k = ls_succ(&pb->states[u], succ);
        for (size_t j = 0; j < k; j++)
            if (!reach[succ[j]]) {
                reach[succ[j]] = true;
                queue[qt++] = (size_t)succ[j];
            }
    }
    /* Backward: what can reach a terminal (reverse edges in CSR form). */
    for (size_t u = 0; u < n; u++) {
        size_t k = ls_succ(&pb->states[u], succ);
        for (size_t j = 0; j < k; j++)
            rstart[succ[j] + 1]++;
        nedges += k;
    }
    for (size_t u = 0; u < n; u++)
        rstart[u + 1] += rstart[u];
    size_t *rfill = ls_scratch(L, n + 1, sizeof *rfill), *redge = ls_scratch(L, nedges + 1, sizeof *redge);
    memcpy(rfill, rstart, (n + 1) * sizeof *rfill);
    for (size_t u = 0; u < n; u++) {
        size_t k = ls_succ(&pb->states[u], succ);
        for (size_t j = 0; j < k; j++)
            redge[rfill[succ[j]]++] = u;
    }
    qh = qt = 0;
    for (size_t u = 0; u < n; u++)
        if (pb->states[u].terminal) {
            live[u] = true;
            queue[qt++] = u;
        }
    while (qh < qt) {
        size_t u = queue[qh++];
        for (size_t e = rstart[u]; e < rstart[u + 1]; e++)
            if (!live[redge[e]]) {
                live[redge[e]] = true;
                queue[qt++] = redge[e];
            }
    }
    bool any_terminal = false;
    for (size_t u = 0; u < n; u++)
        if (reach[u] && pb->states[u].terminal)
            any_terminal = true;
    if (!any_terminal)
        ls_diag_error(L->d, start_node->loc, "no terminal state can be reached from start '%s'",
                      pb->states[pb->start].name);
    for (size_t u = 0; u < n; u++) {
        const ls_state *st = &pb->states[u];
        if (!reach[u])
            ls_diag_warning(L->d, st->loc, "state '%s' is unreachable from start '%s'", st->name,
                            pb->states[pb->start].name);
    }
    if (any_terminal)
        ls_check_traps(L, reach, live);
    ls_check_dry_run_reads(L);
    ls_arena_free(L->scratch);
    L->scratch = NULL;
}
