/*
 * `lockstep plan` (SPEC 4): every state in display order, grouped by
 * phase, with its action and inputs rendered (secrets as `***`; parts that
 * read results not yet known, or now(), kept as their template text),
 * whether it mutates, its guards by name and its transitions.  It runs
 * nothing and connects to nothing: only ls_tmpl_render_plan is called.
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secret.h"

static void put_red(FILE *out, const char *s)
{
    char *red = ls_redact(s, strlen(s), NULL);
    fputs(red ? red : "", out);
    free(red);
}

static void put_value(FILE *out, ls_value v)
{
    ls_value red = ls_redact_value(v);
    char *j = ls_value_to_json(red, NULL);
    ls_value_free(red);
    put_red(out, j ? j : "null");
    free(j);
}

/* "guards.X" is shown as X (plans, run summaries, failure messages). */
const char *ls_plan_cond_name(const ls_expr *e)
{
    const char *src = ls_expr_source(e);
    if (src == NULL)
        return "?";
    while (*src == ' ')
        src++;
    if (strncmp(src, "guards.", 7) == 0) {
        const char *p = src + 7;
        while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            p++;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return src + 7;
    }
    return src;
}

static void put_conds(FILE *out, const char *label, ls_expr *const *es, size_t n)
{
    if (n == 0)
        return;
    fprintf(out, "      %-11s", label);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? " and " : "", out);
        put_red(out, ls_plan_cond_name(es[i]));
    }
    fputc('\n', out);
}

static const char *sname(const ls_playbook *pb, int i)
{
    return i >= 0 && (size_t)i < pb->nstates ? pb->states[i].name : "?";
}

const char *ls_plan_release_text(const ls_playbook *pb, char *buf, size_t len)
{
    ls_value rel = pb->release;
    ls_value ver = ls_map_get(rel, "version"), from = ls_map_get(rel, "upgrades_from");
    ls_value sch = ls_map_get(rel, "schema");
    ls_value sf = ls_map_get(sch, "from"), st = ls_map_get(sch, "to");
    ls_buf b;
    ls_buf_init(&b, 4096);
    if (ver.kind == LS_STRING)
        ls_buf_printf(&b, "release %s", ls_str_ptr(ver));
    if (from.kind == LS_STRING)
        ls_buf_printf(&b, "%supgrades from %s", b.len ? "; " : "release: ", ls_str_ptr(from));
    if (sf.kind == LS_INT || st.kind == LS_INT) {
        ls_buf_printf(&b, "%sschema ", b.len ? "; " : "release: ");
        if (sf.kind == LS_INT)
            ls_buf_printf(&b, "%lld", (long long)sf.u.i);
        else
            ls_buf_adds(&b, "?");
        if (st.kind == LS_INT)
            ls_buf_printf(&b, " -> %lld", (long long)st.u.i);
    }
    snprintf(buf, len, "%s", ls_buf_str(&b));
    ls_buf_free(&b);
    return buf;
}

/* The world a plan renders against: params resolved, no state run yet. */
static void plan_ctx(ls_playbook *pb, ls_eval_ctx *ctx, ls_expr ***gx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->params = ls_value_copy(pb->param_values);
    ctx->states = ls_map_new();
    ctx->run = ls_map_new();
    ls_map_set(&ctx->run, "id", ls_string("(plan)"));
    ls_map_set(&ctx->run, "env", pb->env_name ? ls_string(pb->env_name) : ls_null());
    ls_map_set(&ctx->run, "dry_run", ls_bool(false));
    ls_map_set(&ctx->run, "playbook", ls_string(pb->name));
    ls_map_set(&ctx->run, "started_at", ls_null());
    *gx = pb->nguards ? calloc(pb->nguards, sizeof **gx) : NULL;
    for (size_t i = 0; *gx && i < pb->nguards; i++)
        (*gx)[i] = pb->guards[i].expr;
    ctx->guards = (ls_expr *const *)*gx;
    ctx->nguards = *gx ? pb->nguards : 0;
}

/* "for each item of EXPR", and the list itself when params alone give it
 * (states are not known before the run). */
static void put_for_each(FILE *out, const ls_expr *e, ls_eval_ctx *ctx)
{
    fputs("      for each:  item of ", out);
    put_red(out, ls_expr_source(e));
    ls_value v = ls_null();
    ls_error err;
    ls_error_clear(&err);
    unsigned later = LS_ROOT_STATES | LS_ROOT_RESULT | LS_ROOT_NOW | LS_ROOT_GUARDS | LS_ROOT_ENV;
    if (!(ls_expr_roots(e) & later) && ls_expr_eval(e, ctx, &v, &err) == 0) {
        if (v.kind == LS_LIST) {
            fprintf(out, " = %zu element%s ", ls_list_len(v), ls_list_len(v) == 1 ? "" : "s");
            put_value(out, v);
        } else {
            fprintf(out, " (a %s, not a list: the state will fail)", ls_kind_name((ls_kind)v.kind));
        }
    }
    ls_value_free(v);
    fputc('\n', out);
}

static void plan_ctx_free(ls_eval_ctx *ctx, ls_expr **gx)
{
    free(gx);
    ls_value_free(ctx->params);
    ls_value_free(ctx->states);
    ls_value_free(ctx->run);
}

/* The contexts of the called playbooks (playbook.h "SUB-PLAYBOOKS"):
 * each child's params as its call would bind them (what is known before
 * the run: a part that reads states stays template text), its defaults
 * filled in; its timeouts templated over params set from them when they
 * can be.  fctx[0] is the playbook's own. */
static ls_eval_ctx *plan_frames(ls_playbook *pb, ls_eval_ctx *root, ls_expr ***fg)
{
    ls_eval_ctx *fctx = ls_oom_check(calloc(pb->nframes, sizeof *fctx));
    *fg = ls_frame_guards(pb, fctx);
    fctx[0] = *root;
    for (size_t f = 1; f < pb->nframes; f++) {
        const ls_frame_def *fr = &pb->frames[f];
        const ls_state *call = &pb->states[fr->call];
        ls_value given = call->with ? ls_tmpl_render_plan(call->with, &fctx[fr->parent]) : ls_map_new();
        ls_value params = ls_map_new();
        for (size_t i = 0; i < fr->pb->nparams; i++) {
            const ls_param *p = &fr->pb->params[i];
            if (ls_map_has(given, p->name))
                ls_map_set(&params, p->name, ls_value_copy(ls_map_get(given, p->name)));
            else if (p->has_default)
                ls_map_set(&params, p->name, ls_value_copy(p->def));
        }
        ls_value_free(given);
        char msg[256];
        (void)ls_sub_deferred(pb, fr->call, params, msg, sizeof msg); /* what cannot be known keeps its default */
        fctx[f].params = params;
        fctx[f].states = ls_map_new();
        fctx[f].run = ls_value_copy(root->run);
    }
    return fctx;
}

static void plan_frames_free(ls_playbook *pb, ls_eval_ctx *fctx, ls_expr **fg)
{
    for (size_t f = 1; f < pb->nframes; f++) {
        ls_value_free(fctx[f].params);
        ls_value_free(fctx[f].states);
        ls_value_free(fctx[f].run);
    }
    free(fg);
    free(fctx);
}

void ls_plan_print(ls_playbook *pb, FILE *out)
{
    ls_eval_ctx ctx0;
    ls_expr **gx;
    plan_ctx(pb, &ctx0, &gx);
    ls_expr **fg;
    ls_eval_ctx *fctx = plan_frames(pb, &ctx0, &fg);

    fprintf(out, "plan: %s", pb->name);
    if (pb->env_name)
        fprintf(out, " (env %s)", pb->env_name);
    fprintf(out, ", %zu states, start at %s\n", pb->nstates, sname(pb, pb->start));
    if (pb->description) {
        fputs("  ", out);
        put_red(out, pb->description);
        fputc('\n', out);
    }
    char rel[512];
    if (ls_plan_release_text(pb, rel, sizeof rel)[0])
        fprintf(out, "%s\n", rel);
    if (ls_map_len(pb->param_values) > 0) {
        ls_value shown = ls_params_masked(pb);
        fputs("params:\n", out);
        for (size_t i = 0; i < ls_map_len(shown); i++) {
            fprintf(out, "  %s: ", ls_map_key_at(shown, i));
            put_value(out, ls_map_value_at(shown, i));
            fputc('\n', out);
        }
        ls_value_free(shown);
    }
    const char *phase = NULL;
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
        ls_eval_ctx ctx = fctx[st->frame]; /* by value: what is rendered below only reads it */
        const char *ph = st->phase ? st->phase : "";
        if (phase == NULL || strcmp(ph, phase) != 0) {
            fprintf(out, "\nphase %s\n", ph[0] ? ph : "(none)");
            phase = ph;
        }
        fprintf(out, "  %s%s", st->name, (int)i == pb->start ? " (start)" : "");
        if (st->terminal != LS_TERM_NONE) {
            fprintf(out, ": terminal %s\n", st->terminal == LS_TERM_SUCCESS ? "success" : "failure");
            if (st->description) {
                fputs("      ", out);
                put_red(out, st->description);
                fputc('\n', out);
            }
            continue;
        }
        if (st->action)
            fprintf(out, ": %s, mutates: %s\n", st->action->name, ls_state_mutates_static(st) ? "yes" : "no");
        else if (st->sub)
            fprintf(out, ": runs playbook %s (%s), its states shown as %s/...\n", st->sub->file,
                     st->sub->child->name ? st->sub->child->name : "?", st->name);
        else
            fputs(": decision\n", out);
        if (st->description) {
            fputs("      ", out);
            put_red(out, st->description);
            fputc('\n', out);
        }
        if (st->for_each != NULL)
            put_for_each(out, st->for_each, &ctx);
        if (st->with != NULL) {
            ls_value w = ls_tmpl_render_plan(st->with, &ctx);
            for (size_t k = 0; k < ls_map_len(w); k++) {
                fprintf(out, "      with.%s: ", ls_map_key_at(w, k));
                put_value(out, ls_map_value_at(w, k));
                fputc('\n', out);
            }
            ls_value_free(w);
        }
        if (st->confirm != NULL) {
            ls_value c = ls_tmpl_render_plan(st->confirm, &ctx);
            fputs("      confirm:   ", out);
            char *t = ls_value_to_text(c, NULL);
            put_red(out, t ? t : "");
            free(t);
            fputc('\n', out);
            ls_value_free(c);
        }
        put_conds(out, "requires:", st->requires, st->nrequires);
        put_conds(out, "expect:", st->expect, st->nexpect);
        if (st->retry.attempts > 1 || st->retry.until) {
            char d[32];
            fprintf(out, "      retry:     %d attempts, delay %s", st->retry.attempts,
                    ls_duration_format(st->retry.delay_ms, d, sizeof d));
            if (st->retry.backoff > 1.0)
                fprintf(out, ", backoff %g", st->retry.backoff);
            if (st->retry.max_delay_ms > 0)
                fprintf(out, ", max %s", ls_duration_format(st->retry.max_delay_ms, d, sizeof d));
            if (st->retry.until) {
                fputs(", until ", out);
                put_red(out, ls_plan_cond_name(st->retry.until));
            }
            fputc('\n', out);
        }
        if (st->timeout_ms > 0) {
            char d[32];
            fprintf(out, "      timeout:   %s\n", ls_duration_format(st->timeout_ms, d, sizeof d));
        }
        if (st->nbranches > 0) {
            for (size_t b = 0; b < st->nbranches; b++) {
                fputs(b == 0 ? "      next:      " : "                 ", out);
                if (st->branches[b].cond) {
                    fputs("if ", out);
                    put_red(out, ls_plan_cond_name(st->branches[b].cond));
                    fprintf(out, " -> %s\n", sname(pb, st->branches[b].target));
                } else {
                    fprintf(out, "else -> %s\n", sname(pb, st->branches[b].target));
                }
            }
        } else if (st->next >= 0) {
            fprintf(out, "      next:      %s\n", sname(pb, st->next));
        }
        int ft = ls_state_failure_target(st);
        if (st->can_fail && ft >= 0)
            fprintf(out, "      on_failure: %s%s\n", sname(pb, ft), st->on_failure_own ? "" : " (default)");
        if (st->on_timeout >= 0)
            fprintf(out, "      on_timeout: %s\n", sname(pb, st->on_timeout));
    }
    plan_frames_free(pb, fctx, fg);
    plan_ctx_free(&ctx0, gx);
}

/* ---- plan --compare-env ------------------------------------------------ */

typedef struct diff_row {
    char *label;  /* "params.namespace", "  with.tz", "  confirm" */
    char *a, *b;  /* shown values, redacted; NULL for a heading row */
} diff_row;

typedef struct diffs {
    diff_row *v;
    size_t n, changes;
} diffs;

/* A value as the plan shows it: JSON, secrets as ***. */
static char *shown(ls_value v)
{
    ls_value red = ls_redact_value(v);
    char *j = ls_value_to_json(red, NULL);
    ls_value_free(red);
    char *r = j ? ls_redact(j, strlen(j), NULL) : NULL;
    free(j);
    return r ? r : strdup("null");
}

static void row(diffs *d, const char *label, char *a, char *b)
{
    diff_row *nv = realloc(d->v, (d->n + 1) * sizeof *nv);
    if (!nv)
        ls_oom();
    d->v = nv;
    d->v[d->n].label = strdup(label);
    d->v[d->n].a = a;
    d->v[d->n].b = b;
    if (!d->v[d->n].label)
        ls_oom();
    d->n++;
    if (a)
        d->changes++;
}

/* Adds a row when the two values differ (compared unredacted). */
static void cmp_values(diffs *d, const char *label, ls_value a, ls_value b, bool have_a, bool have_b)
{
    char *ja = ls_value_to_json(a, NULL), *jb = ls_value_to_json(b, NULL);
    bool same = have_a == have_b && ja && jb && strcmp(ja, jb) == 0;
    free(ja);
    free(jb);
    if (same)
        return;
    char *sa = have_a ? shown(a) : strdup("(unset)"), *sb = have_b ? shown(b) : strdup("(unset)");
    if (sa && sb && strcmp(sa, sb) == 0) { /* both masked: say so */
        free(sa);
        free(sb);
        sa = strdup("*** (secret)");
        sb = strdup("*** (a different secret)");
    }
    row(d, label, sa, sb);
}

/* Whether a state asks before it runs, as the plan can know it. */
static char *confirm_text(ls_playbook *pb, const ls_state *st, ls_eval_ctx *ctx)
{
    if (st->confirm) {
        ls_value c = ls_tmpl_render_plan(st->confirm, ctx);
        char *t = ls_value_to_text(c, NULL);
        ls_value_free(c);
        ls_value s = ls_string(t ? t : "");
        free(t);
        char *r = shown(s);
        ls_value_free(s);
        return r;
    }
    if (pb->confirm_mutating && st->action && ls_state_mutates_static(st))
        return strdup("yes (defaults.confirm_mutating)");
    return strdup("no");
}

int ls_plan_compare(ls_playbook *a, ls_playbook *b, FILE *out)
{
    diffs d;
    memset(&d, 0, sizeof d);
    ls_eval_ctx ca, cb;
    ls_expr **ga, **gb;
    plan_ctx(a, &ca, &ga);
    plan_ctx(b, &cb, &gb);
    char label[512];

    /* params: a's order, then any only b has */
    for (size_t i = 0; i < ls_map_len(a->param_values); i++) {
        const char *k = ls_map_key_at(a->param_values, i);
        snprintf(label, sizeof label, "params.%s", k);
        cmp_values(&d, label, ls_map_value_at(a->param_values, i), ls_map_get(b->param_values, k), true,
                   ls_map_has(b->param_values, k));
    }
    for (size_t i = 0; i < ls_map_len(b->param_values); i++) {
        const char *k = ls_map_key_at(b->param_values, i);
        if (ls_map_has(a->param_values, k))
            continue;
        snprintf(label, sizeof label, "params.%s", k);
        cmp_values(&d, label, ls_null(), ls_map_value_at(b->param_values, i), false, true);
    }

    /* states: the same playbook, so the same states in the same order */
    for (size_t i = 0; i < a->nstates && i < b->nstates; i++) {
        const ls_state *sa = &a->states[i], *sb = &b->states[i];
        if (sa->terminal != LS_TERM_NONE)
            continue;
        size_t before = d.n;
        row(&d, sa->name, NULL, NULL); /* heading, dropped when nothing differs */
        if (sa->with && sb->with) {
            ls_value wa = ls_tmpl_render_plan(sa->with, &ca), wb = ls_tmpl_render_plan(sb->with, &cb);
            for (size_t k = 0; k < ls_map_len(wa); k++) {
                const char *key = ls_map_key_at(wa, k);
                snprintf(label, sizeof label, "  with.%s", key);
                cmp_values(&d, label, ls_map_value_at(wa, k), ls_map_get(wb, key), true, ls_map_has(wb, key));
            }
            for (size_t k = 0; k < ls_map_len(wb); k++) {
                const char *key = ls_map_key_at(wb, k);
                if (ls_map_has(wa, key))
                    continue;
                snprintf(label, sizeof label, "  with.%s", key);
                cmp_values(&d, label, ls_null(), ls_map_value_at(wb, k), false, true);
            }
            ls_value_free(wa);
            ls_value_free(wb);
        }
        char *ka = confirm_text(a, sa, &ca), *kb = confirm_text(b, sb, &cb);
        if (strcmp(ka, kb) != 0) {
            row(&d, "  confirm", ka, kb);
        } else {
            free(ka);
            free(kb);
        }
        if (sa->timeout_ms != sb->timeout_ms) {
            char ta[32], tb[32];
            row(&d, "  timeout", strdup(sa->timeout_ms ? ls_duration_format(sa->timeout_ms, ta, sizeof ta) : "none"),
                strdup(sb->timeout_ms ? ls_duration_format(sb->timeout_ms, tb, sizeof tb) : "none"));
        }
        if (d.n == before + 1) { /* nothing under the heading */
            free(d.v[before].label);
            d.n = before;
        }
    }

    /* Side by side: the label, then each environment's value in a column. */
    char na[160], nb[160];
    snprintf(na, sizeof na, "env %s", a->env_name ? a->env_name : "(none)");
    snprintf(nb, sizeof nb, "env %s", b->env_name ? b->env_name : "(none)");
    size_t wl = 6, wa = strlen(na);
    for (size_t i = 0; i < d.n; i++) {
        if (!d.v[i].a)
            continue;
        size_t l = strlen(d.v[i].label) + 2, x = strlen(d.v[i].a);
        wl = l > wl ? l : wl;
        wa = x > wa ? x : wa;
    }
    wl = wl > 40 ? 40 : wl;
    wa = wa > 60 ? 60 : wa;
    fprintf(out, "compare: %s, %s | %s\n", a->name, na, nb);
    char rel[512];
    if (ls_plan_release_text(a, rel, sizeof rel)[0])
        fprintf(out, "%s\n", rel);
    fprintf(out, "%-*s %-*s | %s\n", (int)wl, "", (int)wa, na, nb);
    bool in_states = false;
    for (size_t i = 0; i < d.n; i++) {
        diff_row *r = &d.v[i];
        if (!r->a) {
            if (!in_states)
                fputs("states:\n", out);
            in_states = true;
            fprintf(out, "  %s\n", r->label);
        } else {
            char lab[600];
            snprintf(lab, sizeof lab, "%s%s:", in_states ? "  " : "", r->label);
            fprintf(out, "%-*s %-*s | %s\n", (int)wl, lab, (int)wa, r->a, r->b);
        }
        free(r->label);
        free(r->a);
        free(r->b);
    }
    if (d.changes == 0)
        fprintf(out, "no differences\n");
    else
        fprintf(out, "%zu difference%s\n", d.changes, d.changes == 1 ? "" : "s");
    free(d.v);
    plan_ctx_free(&ca, ga);
    plan_ctx_free(&cb, gb);
    return fflush(out) == 0 ? 0 : -1;
}
