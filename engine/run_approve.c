/*
 * Approvals (SPEC 5) and the "does it change the world" questions the
 * runner asks of a state.  A state needs an approval when it has
 * `confirm`, its action is `manual.confirm`, or defaults.confirm_mutating
 * is set and it mutates.  Sources, in order: a dry run (auto-approved),
 * a scenario test's approve list, --yes, --approve STATE, the operator on
 * the TTY.  Each approval is journaled before the action runs.
 */
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static bool in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* 1 approved (by_out set), 0 refused, 2 halt (no way to ask). */
int ls_run_approve(ls_runner *r, int idx, const char *prompt, char *by_out, size_t bylen)
{
    const ls_state *st = &r->pb->states[idx];
    const ls_run_opts *o = r->opts;
    const char *user = ls_out_user();
    const char *via = NULL;
    if (r->dry_run)
        via = "dry_run";
    else if (r->fake)
        via = (o->approve_all_silently || in_list(o->approve, o->napprove, st->name)) ? "approve" : NULL;
    else if (o->yes)
        via = "yes";
    else if (in_list(o->approve, o->napprove, st->name))
        via = "approve";
    else if (r->tty) {
        ls_out_live_stop(r);
        /* A person may take minutes to answer: what led here is made
         * durable before asking. */
        if (ls_run_sync(r) != 0)
            return 2;
        int64_t asked = ls_now_ms();
        int a = ls_out_ask(prompt);
        r->state_t0 += ls_now_ms() - asked; /* a person's time is not the state's */
        if (a == 1)
            via = "tty";
        else if (a == 0)
            return 0;
    }
    if (via == NULL)
        return 2;
    snprintf(by_out, bylen, "%s via %s", user, via);
    ls_value f = ls_map_new();
    ls_map_set(&f, "state", ls_string(st->name));
    ls_map_set(&f, "by", ls_string(user));
    ls_map_set(&f, "via", ls_string(via));
    if (ls_run_emit(r, LS_EV_APPROVAL, f) != 0)
        return 2;
    r->approved[idx] = true;
    return 1;
}

bool ls_run_state_mutates(const ls_state *st, ls_value inputs)
{
    if (st->mutates >= 0)
        return st->mutates != 0;
    return ls_action_mutates(st->action, inputs);
}

bool ls_run_state_idempotent(const ls_state *st, ls_value inputs)
{
    if (st->idempotent >= 0)
        return st->idempotent != 0;
    return st->action->idempotent || (st->action->idempotent_fn && st->action->idempotent_fn(inputs)) ||
           !ls_run_state_mutates(st, inputs);
}

bool ls_run_needs_approval(const ls_runner *r, const ls_state *st, ls_value inputs)
{
    if (st->confirm != NULL)
        return true;
    if (st->action != NULL && strcmp(st->action->name, "manual.confirm") == 0)
        return true;
    return r->pb->confirm_mutating && st->action != NULL && ls_run_state_mutates(st, inputs);
}

char *ls_run_approval_prompt(ls_runner *r, const ls_state *st, ls_value inputs, char *msg, size_t msglen)
{
    ls_buf b;
    ls_buf_init(&b, 64 * 1024);
    if (st->confirm != NULL) {
        ls_value p = ls_null();
        ls_error err;
        ls_error_clear(&err);
        if (ls_tmpl_render(st->confirm, ls_run_ctx(r, (int)(st - r->pb->states)), &p, &err) != 0) {
            ls_error_format(&err, msg, msglen);
            ls_buf_free(&b);
            return NULL;
        }
        char *t = ls_value_to_text(p, NULL);
        ls_buf_adds(&b, t ? t : "");
        free(t);
        ls_value_free(p);
    }
    ls_value pr = ls_map_get(inputs, "prompt");
    if (st->action != NULL && strcmp(st->action->name, "manual.confirm") == 0 && pr.kind == LS_STRING) {
        if (b.len)
            ls_buf_adds(&b, "\n");
        ls_buf_adds(&b, ls_str_ptr(pr));
        ls_value url = ls_map_get(inputs, "url");
        if (url.kind == LS_STRING)
            ls_buf_printf(&b, "\n  %s", ls_str_ptr(url));
    }
    if (b.len == 0)
        ls_buf_printf(&b, "Run %s (%s)?", st->name, st->action ? st->action->name : "state");
    /* What exactly is being approved: the action, where it acts, and its
     * rendered inputs (the caller redacts the prompt before showing it). */
    if (st->action != NULL && strcmp(st->action->name, "manual.confirm") != 0) {
        ls_buf_printf(&b, "\n  action: %s", st->action->name);
        if (strcmp(st->action->family, "kubectl") == 0) {
            ls_value ctx = ls_map_get(inputs, "context"), ns = ls_map_get(inputs, "namespace");
            ls_buf_printf(&b, "\n  kubernetes: context %s, namespace %s",
                          ctx.kind == LS_STRING && ls_str_len(ctx) ? ls_str_ptr(ctx) : "(the current one)",
                          ns.kind == LS_STRING && ls_str_len(ns) ? ls_str_ptr(ns) : "(the context's default)");
        }
        for (size_t i = 0; i < ls_map_len(inputs); i++) {
            const char *k = ls_map_key_at(inputs, i);
            if (strcmp(k, "context") == 0 || strcmp(k, "namespace") == 0)
                continue;
            ls_value v = ls_map_value_at(inputs, i);
            if (v.kind == LS_NULL)
                continue;
            char *t = ls_value_to_text(v, NULL);
            ls_buf_printf(&b, "\n  %s: %.300s%s", k, t ? t : "", t && strlen(t) > 300 ? "..." : "");
            free(t);
        }
    }
    char *s = ls_buf_steal(&b);
    return s ? s : strdup("");
}
