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

void ls_plan_print(ls_playbook *pb, FILE *out)
{
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = ls_value_copy(pb->param_values);
    ctx.states = ls_map_new();
    ctx.run = ls_map_new();
    ls_map_set(&ctx.run, "id", ls_string("(plan)"));
    ls_map_set(&ctx.run, "env", pb->env_name ? ls_string(pb->env_name) : ls_null());
    ls_map_set(&ctx.run, "dry_run", ls_bool(false));
    ls_map_set(&ctx.run, "playbook", ls_string(pb->name));
    ls_map_set(&ctx.run, "started_at", ls_null());
    ls_expr **gx = pb->nguards ? calloc(pb->nguards, sizeof *gx) : NULL;
    for (size_t i = 0; gx && i < pb->nguards; i++)
        gx[i] = pb->guards[i].expr;
    ctx.guards = (ls_expr *const *)gx;
    ctx.nguards = gx ? pb->nguards : 0;

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
        fputs("params:\n", out);
        for (size_t i = 0; i < ls_map_len(pb->param_values); i++) {
            fprintf(out, "  %s: ", ls_map_key_at(pb->param_values, i));
            put_value(out, ls_map_value_at(pb->param_values, i));
            fputc('\n', out);
        }
    }
    const char *phase = NULL;
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
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
        else
            fputs(": decision\n", out);
        if (st->description) {
            fputs("      ", out);
            put_red(out, st->description);
            fputc('\n', out);
        }
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
    free(gx);
    ls_value_free(ctx.params);
    ls_value_free(ctx.states);
    ls_value_free(ctx.run);
}
