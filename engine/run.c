/*
 * The machine (SPEC 2 states, SPEC 4 running, SPEC 5 durability).
 *
 * One loop walks the playbook from `start` (or from where a resumed run
 * stopped).  Every step is journaled and fsynced BEFORE the engine acts on
 * it: state_entered before a state runs, action_started before the action
 * is called, action_finished before its outcome is judged, transition
 * before the next state is entered.  So after a crash the journal says
 * exactly how far the run got (resume.c).
 *
 * Decisions written down here (the SPEC is silent):
 *   - A cancelled action (SIGINT/SIGTERM) is journaled as action_finished
 *     with status `failed` and error "cancelled by signal SIGTERM", then
 *     run_halted {reason: "signal SIGTERM"}; resume treats that attempt's
 *     outcome as unknown (re-run if idempotent, else --assume).
 *   - `expect` false and `retry.until` false are retried like a failed
 *     attempt while attempts remain; a simulated (dry-run) attempt is never
 *     retried: it would give the same answer.
 *   - `requires` is checked once per visit, before approval; approval is
 *     asked once per visit, before the first attempt.
 *   - In scenario tests (opts->fake) retry delays are not slept, and a
 *     state needing an approval the scenario did not give halts the run
 *     (exit 3) with report->error saying which state.
 */
#include "run_int.h"
#include "orphans.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "plan.h"
#include "secret.h"
#include "store.h"

volatile sig_atomic_t ls_run_cancel;
volatile sig_atomic_t ls_run_signal;

static const ls_loc noloc = {NULL, 0, 0};

/* How one state ended. */
typedef enum { STEP_NEXT, STEP_END, STEP_HALT } step_kind;
typedef struct step {
    step_kind kind;
    int to;                 /* STEP_NEXT */
    const char *reason;     /* transition reason, or halt reason */
    char msg[1024];         /* STEP_END with a runtime error; STEP_HALT reason */
    bool error;             /* STEP_END: a runtime error (outcome failure) */
} step;

static void on_signal(int sig)
{
    ls_run_cancel = 1;
    ls_run_signal = sig;
}

/* ---- bookkeeping ---- */

ls_eval_ctx *ls_run_ctx(ls_runner *r, int idx)
{
    int f = r->pb->states[idx].frame;
    return f == 0 ? &r->ctx : &r->fctx[f];
}

ls_value ls_run_state_rec(ls_runner *r, int idx)
{
    return ls_map_get(ls_run_ctx(r, idx)->states, ls_state_local_name(r->pb, idx));
}

void ls_run_state_put(ls_runner *r, int idx, ls_value rec)
{
    ls_map_set(&ls_run_ctx(r, idx)->states, ls_state_local_name(r->pb, idx), rec);
}

void ls_run_state_set(ls_runner *r, int idx, const char *key, ls_value v)
{
    ls_value old = ls_run_state_rec(r, idx);
    ls_value e = ls_map_new();
    for (size_t i = 0; i < ls_map_len(old); i++)
        ls_map_set(&e, ls_map_key_at(old, i), ls_value_copy(ls_map_value_at(old, i)));
    ls_map_set(&e, key, v);
    ls_run_state_put(r, idx, e);
}

int ls_run_sync(ls_runner *r)
{
    if (!r->journaling)
        return 0;
    ls_error err;
    ls_error_clear(&err);
    if (ls_journal_sync(&r->j, &err) != 0) {
        ls_out_error(r, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* Events after which the engine acts outside itself at once: the journal
 * is made durable right there (group commit, journal.h).  An action's
 * start is made durable by attempts_loop, only when the action is not
 * safe to repeat.  JSON output is synced line by line, since whoever reads
 * it may act on each line.  run_started too: a journal that fails later is
 * cut back to its last fsync (journal.h), and must still name the run it
 * belongs to. */
static bool acts_after(ls_event event)
{
    return event == LS_EV_RUN_STARTED || event == LS_EV_APPROVAL || event == LS_EV_RUN_FINISHED ||
           event == LS_EV_RUN_HALTED;
}

int ls_run_emit(ls_runner *r, ls_event event, ls_value fields)
{
    int rc = 0;
    if (r->journaling) {
        char *line = NULL;
        ls_error err;
        ls_error_clear(&err);
        bool json = r->opts->output == LS_OUT_JSON;
        if (ls_journal_append(&r->j, event, fields, json ? &line : NULL, &err) != 0 ||
            ((json || acts_after(event)) && ls_journal_sync(&r->j, &err) != 0)) {
            ls_out_error(r, "%s", err.msg);
            rc = -1;
        } else if (line != NULL) {
            fputs(line, stdout);
            fputc('\n', stdout);
            fflush(stdout);
        }
        free(line);
    }
    ls_value_free(fields);
    return rc;
}

static void path_push(ls_runner *r, int idx)
{
    ls_run_report *rep = r->rep;
    if (rep->npath == r->npath_cap) {
        size_t ncap = r->npath_cap ? r->npath_cap * 2 : 16;
        /* diag.h: a path cut short would pass a scenario that checks it */
        int *n = ls_oom_check(realloc(rep->path, ncap * sizeof *n));
        rep->path = n;
        r->npath_cap = ncap;
    }
    rep->path[rep->npath++] = idx;
}

static ls_value fields1(const char *k, ls_value v)
{
    ls_value m = ls_map_new();
    ls_map_set(&m, k, v);
    return m;
}

/* ---- decisions and their basis (dry-run summary) ---- */

/* What a decision read: real probes, simulated results, reads of the
 * system as it was before a simulated change (run_taint.c). */
typedef struct basis_acc {
    int basis;     /* LS_BASIS_NONE, _REAL or _SIMULATED so far */
    int sim_from;
    int unch[32];  /* simulated states that would have changed what it read */
    size_t nunch;
} basis_acc;

static void basis_read(ls_runner *r, int s, basis_acc *acc)
{
    if (r->simulated[s]) {
        acc->basis = LS_BASIS_SIMULATED;
        if (acc->sim_from < 0)
            acc->sim_from = s;
        return;
    }
    if (acc->basis == LS_BASIS_NONE)
        acc->basis = LS_BASIS_REAL;
    int src = ls_taint_sim_source(r, s);
    if (src >= 0) {
        acc->basis = LS_BASIS_SIMULATED;
        if (acc->sim_from < 0)
            acc->sim_from = src;
    }
    const int *by = NULL;
    size_t nby = ls_taint_of(r, s, &by);
    for (size_t k = 0; k < nby; k++) {
        bool seen = false;
        for (size_t j = 0; j < acc->nunch; j++)
            seen = seen || acc->unch[j] == by[k];
        if (!seen && acc->nunch < sizeof acc->unch / sizeof acc->unch[0])
            acc->unch[acc->nunch++] = by[k];
    }
}

static void basis_of(ls_runner *r, const ls_expr *e, int self, int depth, basis_acc *acc)
{
    if (e == NULL || depth > 32)
        return;
    /* Names in e are its own playbook's: its frame's numbering. */
    const ls_frame_def *fr = &r->pb->frames[r->pb->states[self].frame];
    const int *refs = NULL;
    size_t n = ls_expr_state_refs(e, &refs);
    for (size_t i = 0; i <= n; i++) {
        int s;
        if (i < n)
            s = refs[i] < 0 ? -1 : refs[i] + (int)fr->first;
        else if (self >= 0 && (ls_expr_roots(e) & LS_ROOT_RESULT))
            s = self;
        else
            break;
        if (s < 0 || (size_t)s >= r->pb->nstates || r->pb->states[s].action == NULL)
            continue;
        /* A state that has not run yet gives no data, real or simulated. */
        if (ls_is_null(ls_map_get(ls_run_state_rec(r, s), "result")))
            continue;
        basis_read(r, s, acc);
    }
    const int *g = NULL;
    size_t ng = ls_expr_guard_refs(e, &g);
    for (size_t i = 0; i < ng; i++)
        if (g[i] >= 0 && (size_t)g[i] < fr->pb->nguards)
            basis_of(r, fr->pb->guards[g[i]].expr, self, depth + 1, acc);
}

/* Whether a dry run's decision was made by the dry-run flag itself: the
 * same condition, evaluated with run.dry_run false, answers otherwise (or
 * cannot be answered).  Such a decision is no check, and the summary must
 * not call it one, whatever data it also read. */
static bool decided_by_dry_run(ls_runner *r, int idx, const ls_expr *e, bool value)
{
    ls_value run = ls_map_clone(r->ctx.run);
    ls_map_set(&run, "dry_run", ls_bool(false));
    ls_eval_ctx real = *ls_run_ctx(r, idx);
    real.run = run;
    ls_error err;
    ls_error_clear(&err);
    bool v = value;
    int rc = ls_expr_eval_cond(e, &real, &v, &err);
    ls_value_free(run);
    return rc != 0 || v != value;
}

static ls_decision *new_decision(ls_runner *r, int idx, const char *kind, const char *text, bool value)
{
    if (!r->dry_run)
        return NULL;
    if (r->ndec == r->capdec) {
        size_t ncap = r->capdec ? r->capdec * 2 : 16;
        ls_decision *n = realloc(r->dec, ncap * sizeof *n);
        if (n == NULL)
            return NULL;
        r->dec = n;
        r->capdec = ncap;
    }
    ls_decision *d = &r->dec[r->ndec];
    memset(d, 0, sizeof *d);
    d->state = idx;
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    d->text = strdup(text);
    d->value = value;
    if (d->text == NULL)
        return NULL;
    r->ndec++;
    return d;
}

static void set_basis(ls_runner *r, ls_decision *d, const basis_acc *acc, bool by_flag)
{
    d->basis = by_flag ? LS_BASIS_FLAG : acc->nunch > 0 ? LS_BASIS_UNCHANGED : acc->basis;
    d->sim_from = acc->sim_from >= 0 ? strdup(r->pb->states[acc->sim_from].name) : NULL;
    d->unchanged_by = acc->nunch ? malloc(acc->nunch * sizeof *d->unchanged_by) : NULL;
    if (d->unchanged_by != NULL) {
        memcpy(d->unchanged_by, acc->unch, acc->nunch * sizeof *d->unchanged_by);
        d->nunchanged = acc->nunch;
    }
}

static void note_decision(ls_runner *r, int idx, const char *kind, const ls_expr *e, bool value)
{
    ls_decision *d = new_decision(r, idx, kind, ls_plan_cond_name(e), value);
    if (d == NULL)
        return;
    basis_acc acc = {LS_BASIS_NONE, -1, {0}, 0};
    basis_of(r, e, idx, 0, &acc);
    set_basis(r, d, &acc, decided_by_dry_run(r, idx, e, value));
}

/* A dry run's probe decides the path by succeeding or failing: that is a
 * decision too, on whatever its read was worth. */
static void note_outcome(ls_runner *r, int idx, bool ok)
{
    const ls_state *st = &r->pb->states[idx];
    if (!r->dry_run || r->simulated[idx] || !ls_taint_reads_world(st))
        return;
    char text[160];
    snprintf(text, sizeof text, "%s succeeded", st->action->name);
    ls_decision *d = new_decision(r, idx, "outcome", text, ok);
    if (d == NULL)
        return;
    basis_acc acc = {LS_BASIS_NONE, -1, {0}, 0};
    basis_read(r, idx, &acc);
    set_basis(r, d, &acc, false);
}

/* Evaluates a condition; records it.  1 true, 0 false, -1 runtime error. */
static int cond(ls_runner *r, int idx, const char *kind, const ls_expr *e, ls_error *err)
{
    bool v = false;
    if (ls_expr_eval_cond(e, ls_run_ctx(r, idx), &v, err) != 0)
        return -1;
    note_decision(r, idx, kind, e, v);
    return v ? 1 : 0;
}

/* ---- time ---- */

/* Sleeps ms, waking early on cancel.  0, or -1 when cancelled. */
static int sleep_cancellable(int64_t ms)
{
    int64_t end = ls_now_ms() + ms;
    while (!ls_run_cancel) {
        int64_t left = end - ls_now_ms();
        if (left <= 0)
            return 0;
        if (left > 200)
            left = 200;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* EINTR from our handler ends it early: fine */
    }
    return -1;
}

static int64_t retry_delay(const ls_retry *rt, int attempt)
{
    double d = (double)rt->delay_ms;
    double b = rt->backoff >= 1.0 ? rt->backoff : 1.0;
    for (int i = 1; i < attempt && d < 1e15; i++)
        d *= b;
    if (rt->max_delay_ms > 0 && d > (double)rt->max_delay_ms)
        d = (double)rt->max_delay_ms;
    if (d > 1e15)
        d = 1e15;
    return (int64_t)d;
}

/* ---- failure and halting ---- */

static const char *status_name(ls_act_status s, bool simulated)
{
    if (simulated)
        return "simulated";
    switch (s) {
    case LS_ACT_OK: return "ok";
    case LS_ACT_TIMED_OUT: return "timed_out";
    default: return "failed";
    }
}

static void fail_state(ls_runner *r, int idx, bool timed_out, const char *msg, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    char *each_msg = NULL;
    if (r->each.on) { /* a for_each element: say which */
        ls_buf b;
        ls_buf_init(&b, 2048);
        ls_buf_printf(&b, "item %lld: %s", (long long)r->each.index, msg);
        msg = each_msg = ls_buf_steal(&b);
    }
    ls_run_state_set(r, idx, "status", ls_string(timed_out ? "timed_out" : "failed"));
    ls_run_state_set(r, idx, "error", ls_string(msg));
    ls_value attempts = ls_map_get(ls_run_state_rec(r, idx), "attempts");
    ls_out_state_end(r, idx, timed_out ? "timed_out" : "failed",
                     attempts.kind == LS_INT ? (int)attempts.u.i : 0, msg);
    int target = -1;
    const char *reason = "failure";
    if (timed_out && st->on_timeout >= 0) {
        target = st->on_timeout;
        reason = "timeout";
    } else {
        target = ls_state_failure_target(st);
    }
    if (target < 0) {
        out->kind = STEP_END;
        out->error = true;
        snprintf(out->msg, sizeof out->msg, "state %s failed (%s) and has no on_failure", st->name, msg);
        free(each_msg);
        return;
    }
    out->kind = STEP_NEXT;
    out->to = target;
    out->reason = reason;
    snprintf(out->msg, sizeof out->msg, "%s", msg); /* journaled with the transition */
    free(each_msg);
}

static void halt(step *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void halt(step *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out->kind = STEP_HALT;
    vsnprintf(out->msg, sizeof out->msg, fmt, ap);
    va_end(ap);
}

static void halt_signal(step *out)
{
    halt(out, "signal %s", ls_signal_name((int)ls_run_signal));
}

/* ---- one attempt ---- */

typedef struct attempt_out {
    ls_act_status status;
    bool simulated;
    ls_value result;
    ls_error err;
    int64_t ms;
} attempt_out;

/* Runs st's action once: st is state idx itself, or its landed: probe. */
static void call_action(ls_runner *r, int idx, const ls_state *st, int attempt, ls_value inputs,
                        const char *approved_by, attempt_out *a)
{
    int64_t t = ls_now_ms();
    a->result = ls_null();
    a->simulated = false;
    ls_error_clear(&a->err);
    if (r->fake) {
        a->status = r->opts->fake(r->opts->fake_ud, st, attempt, &a->result, &a->err);
    } else if (r->dry_run && ls_run_state_mutates(st, inputs)) {
        a->status = LS_ACT_OK;
        a->simulated = true;
        a->result = st->dry_run_result.kind == LS_MAP ? ls_value_copy(st->dry_run_result) : ls_map_new();
    } else {
        ls_call call;
        memset(&call, 0, sizeof call);
        call.state = st->name;
        call.inputs = inputs;
        call.timeout_ms = st->timeout_ms;
        call.deadline_ms = st->timeout_ms > 0 ? t + st->timeout_ms : 0;
        call.cancel = &ls_run_cancel;
        call.prep = st->prep;
        call.runner = r;
        call.dry_run = r->dry_run;
        call.interactive = r->tty;
        call.approved_by = approved_by;
        ls_action_fn run = ls_action_runner(st->action, &a->err); /* loaded by load_plugins */
        ls_out_live_start(r, idx, attempt);
        a->status = run ? run(&call, &a->result, &a->err) : LS_ACT_FAILED;
        ls_out_live_stop(r);
        if (ls_run_cancel && a->status != LS_ACT_OK)
            a->status = LS_ACT_CANCELLED;
    }
    if (a->result.kind != LS_MAP) {
        ls_value_free(a->result);
        a->result = ls_map_new();
    }
    if (a->status != LS_ACT_OK && a->err.msg[0] == '\0')
        snprintf(a->err.msg, sizeof a->err.msg, "%s %s",
                 st->action->name, a->status == LS_ACT_TIMED_OUT ? "timed out" : "failed");
    if (a->status == LS_ACT_OK)
        ls_error_clear(&a->err);
    a->ms = ls_now_ms() - t;
    ls_taint_note(r, idx, inputs, a->simulated);
}

/* Journals action_finished; binds the result. 0 or -1 (journal). */
static int finish_attempt(ls_runner *r, int idx, int attempt, attempt_out *a, const char *error_override)
{
    const ls_state *st = &r->pb->states[idx];
    ls_value f = ls_map_new();
    ls_map_set(&f, "state", ls_string(st->name));
    ls_map_set(&f, "attempt", ls_int(attempt));
    if (r->each.on)
        ls_map_set(&f, "item", ls_int(r->each.index));
    ls_map_set(&f, "status", ls_string(status_name(a->status, a->simulated)));
    ls_map_set(&f, "result", ls_value_copy(a->result));
    const char *e = error_override ? error_override : a->err.msg;
    ls_map_set(&f, "error", e[0] ? ls_string(e) : ls_null());
    ls_map_set(&f, "duration_ms", ls_int(a->ms));
    int rc = ls_run_emit(r, LS_EV_ACTION_FINISHED, f);
    if (r->each.on) {
        /* A for_each state's result: {items: [...]}, this element last. */
        ls_value items = ls_list_new(), res = ls_map_new();
        for (size_t i = 0; i < ls_list_len(r->each.items); i++)
            ls_list_push(&items, ls_value_copy(ls_list_at(r->each.items, i)));
        ls_list_push(&items, ls_value_copy(a->result));
        ls_map_set(&res, "items", items);
        ls_run_state_set(r, idx, "result", res);
    } else {
        ls_run_state_set(r, idx, "result", ls_value_copy(a->result));
    }
    r->simulated[idx] = a->simulated;
    return rc;
}

/* Judges a finished attempt: expect, then until.  Returns 1 success,
 * 0 failed (msg), 2 keep polling (until false), -1 runtime error (msg). */
static int judge(ls_runner *r, int idx, attempt_out *a, char *msg, size_t msglen)
{
    const ls_state *st = &r->pb->states[idx];
    if (a->status != LS_ACT_OK) {
        snprintf(msg, msglen, "%s", a->err.msg);
        return 0;
    }
    ls_eval_ctx *ctx = ls_run_ctx(r, idx);
    ctx->result = &a->result;
    int ret = 1;
    for (size_t i = 0; i < st->nexpect && ret == 1; i++) {
        ls_error err;
        ls_error_clear(&err);
        int c = cond(r, idx, "expect", st->expect[i], &err);
        if (c < 0) {
            ls_error_format(&err, msg, msglen);
            ret = 0;
        } else if (c == 0) {
            snprintf(msg, msglen, "expect not met: %s", ls_plan_cond_name(st->expect[i]));
            ret = 0;
        }
    }
    if (ret == 1 && st->retry.until != NULL) {
        ls_error err;
        ls_error_clear(&err);
        int c = cond(r, idx, "until", st->retry.until, &err);
        if (c < 0) {
            ls_error_format(&err, msg, msglen);
            ret = 0;
        } else if (c == 0) {
            snprintf(msg, msglen, "until not met: %s", ls_plan_cond_name(st->retry.until));
            ret = 2;
        }
    }
    ctx->result = NULL;
    return ret;
}

/* ---- one state ---- */

static void choose_next(ls_runner *r, int idx, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    ls_value res = ls_map_get(ls_run_state_rec(r, idx), "result");
    ls_value bound = ls_value_copy(res);
    ls_eval_ctx *ctx = ls_run_ctx(r, idx);
    ctx->result = &bound;
    out->kind = STEP_END;
    out->error = true;
    snprintf(out->msg, sizeof out->msg, "state %s: no branch of next matched", st->name);
    if (st->nbranches > 0) {
        for (size_t i = 0; i < st->nbranches; i++) {
            const ls_branch *b = &st->branches[i];
            int c = 1;
            if (b->cond != NULL) {
                ls_error err;
                ls_error_clear(&err);
                c = cond(r, idx, "branch", b->cond, &err);
                if (c < 0) {
                    ls_error_format(&err, out->msg, sizeof out->msg);
                    break;
                }
            }
            if (c == 1) {
                out->kind = STEP_NEXT;
                out->error = false;
                out->to = b->target;
                out->reason = "branch";
                break;
            }
        }
    } else if (st->next >= 0) {
        out->kind = STEP_NEXT;
        out->error = false;
        out->to = st->next;
        out->reason = "next";
    } else {
        snprintf(out->msg, sizeof out->msg, "state %s has no next state", st->name);
    }
    ctx->result = NULL;
    ls_value_free(bound);
}

static void succeed(ls_runner *r, int idx, int attempts, step *out)
{
    if (r->each.on) { /* one element passed: run_for_each goes on */
        r->each.element_ok = true;
        return;
    }
    ls_run_state_set(r, idx, "status", ls_string("ok"));
    ls_run_state_set(r, idx, "error", ls_null());
    ls_out_state_end(r, idx, "ok", attempts, NULL);
    choose_next(r, idx, out);
}

/* Renders `with` and applies the action's defaults and types. */
static int render_inputs(ls_runner *r, int idx, const ls_state *st, ls_value *inputs, char *msg, size_t msglen)
{
    ls_error err;
    ls_error_clear(&err);
    *inputs = ls_null();
    if (st->with != NULL && ls_tmpl_render(st->with, ls_run_ctx(r, idx), inputs, &err) != 0) {
        ls_error_format(&err, msg, msglen);
        return -1;
    }
    if (inputs->kind != LS_MAP) {
        ls_value_free(*inputs);
        *inputs = ls_map_new();
    }
    ls_action_apply_defaults(st->action, inputs);
    if (ls_action_check_types(st->action, *inputs, &err) != 0) {
        ls_error_format(&err, msg, msglen);
        return -1;
    }
    return 0;
}

static void decide_unknown(ls_runner *r, int idx, ls_value inputs, int attempt, const char *by, step *out);

/* The attempt loop from `attempt`; `pre` is an already-finished attempt to
 * judge first (resume), or NULL. */
static void attempts_loop(ls_runner *r, int idx, ls_value inputs, const char *approved_by, int attempt,
                          attempt_out *pre, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    int max = st->retry.attempts > 0 ? st->retry.attempts : 1;
    /* A journaled attempt's delay already ran partly before the halt. */
    int64_t pre_wall = pre != NULL ? r->rp.finished_wall_ms : 0;
    for (;; attempt++) {
        attempt_out a;
        if (pre != NULL) {
            a = *pre;
            pre = NULL;
        } else {
            ls_value f = ls_map_new();
            ls_map_set(&f, "state", ls_string(st->name));
            ls_map_set(&f, "attempt", ls_int(attempt));
            if (r->each.on)
                ls_map_set(&f, "item", ls_int(r->each.index));
            ls_map_set(&f, "action", ls_string(st->action->name));
            ls_map_set(&f, "inputs", ls_value_copy(inputs));
            ls_run_state_set(r, idx, "attempts", ls_int(attempt));
            /* A start is made durable before the action only when running it
             * twice would do harm: a probe, a simulated change or an
             * idempotent action is simply run again if the engine dies
             * before the record reaches the disk (docs/runs.md). */
            bool durable = !r->dry_run && ls_run_state_mutates(st, inputs) && !ls_run_state_idempotent(st, inputs);
            if (ls_run_emit(r, LS_EV_ACTION_STARTED, f) != 0 || (durable && ls_run_sync(r) != 0)) {
                halt(out, "cannot write the journal");
                return;
            }
            call_action(r, idx, st, attempt, inputs, approved_by, &a);
            if (a.status == LS_ACT_INTERRUPTED) {
                /* A scenario's stand-in for a crash inside the action: what
                 * a resume would do next, without the journal. */
                ls_value_free(a.result);
                decide_unknown(r, idx, inputs, attempt, approved_by, out);
                return;
            }
            if (a.status == LS_ACT_CANCELLED) {
                char e[128];
                snprintf(e, sizeof e, "cancelled by signal %s", ls_signal_name((int)ls_run_signal));
                a.status = LS_ACT_FAILED;
                finish_attempt(r, idx, attempt, &a, e);
                ls_value_free(a.result);
                halt_signal(out);
                return;
            }
            if (finish_attempt(r, idx, attempt, &a, NULL) != 0) {
                ls_value_free(a.result);
                halt(out, "cannot write the journal");
                return;
            }
        }
        char msg[1024] = "";
        int j = judge(r, idx, &a, msg, sizeof msg);
        bool timed_out = a.status == LS_ACT_TIMED_OUT;
        bool simulated = a.simulated;
        ls_value_free(a.result);
        if (!simulated && (j == 1 || attempt >= max))
            note_outcome(r, idx, a.status == LS_ACT_OK);
        if (j == 1) {
            succeed(r, idx, attempt, out);
            return;
        }
        if (attempt >= max || simulated) {
            if (j == 2)
                snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " after %d attempts", attempt);
            fail_state(r, idx, timed_out, msg, out);
            return;
        }
        if (ls_run_cancel) {
            halt_signal(out);
            return;
        }
        int64_t delay = retry_delay(&st->retry, attempt);
        if (pre_wall > 0) {
            int64_t gone = ls_wall_ms() - pre_wall;
            delay = gone >= delay ? 0 : (gone > 0 ? delay - gone : delay);
            pre_wall = 0;
        }
        ls_out_retry(r, idx, attempt, max, msg, delay);
        if (!r->fake && ls_run_sync(r) != 0) {
            halt_signal(out);
            return;
        }
        if (!r->fake) {
            ls_out_wait_start(r, idx, attempt + 1, delay);
            int slept = sleep_cancellable(delay);
            ls_out_live_stop(r);
            if (slept != 0) {
                halt_signal(out);
                return;
            }
        }
    }
}

/* The operator's --assume for this state: "ok", "failed", "rerun", or NULL. */
static const char *assumed_for(ls_runner *r, const char *name)
{
    const char *found = NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < r->opts->nassume; i++) {
        const char *a = r->opts->assume[i];
        if (strncmp(a, name, n) == 0 && a[n] == '=')
            found = a + n + 1;
    }
    return found;
}

/* Resume of an attempt with unknown outcome: runs the state's landed:
 * probe and journals what it found.  1: it landed (the state is ok with
 * the probe's result as its own, and *out says where next); 0: it did not
 * (run the action again); -1: cannot tell (ask the operator); -2: the
 * journal could not be written (*out halts). */
static int check_landed(ls_runner *r, int idx, int attempt, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    const ls_state *p = st->landed;
    char msg[1024] = "";
    ls_value pin = ls_null();
    attempt_out a;
    memset(&a, 0, sizeof a);
    a.result = ls_map_new();
    int landed = -1;
    if (render_inputs(r, idx, p, &pin, msg, sizeof msg) == 0) {
        ls_value_free(a.result);
        call_action(r, idx, p, attempt, pin, NULL, &a);
        if (a.status != LS_ACT_OK) {
            snprintf(msg, sizeof msg, "%s", a.err.msg);
        } else {
            landed = 1;
            ls_run_ctx(r, idx)->result = &a.result;
            for (size_t i = 0; i < p->nexpect && landed == 1; i++) {
                ls_error err;
                ls_error_clear(&err);
                int c = cond(r, idx, "landed", p->expect[i], &err);
                if (c < 0) {
                    ls_error_format(&err, msg, sizeof msg);
                    landed = -1;
                } else if (c == 0) {
                    snprintf(msg, sizeof msg, "not landed: %s", ls_plan_cond_name(p->expect[i]));
                    landed = 0;
                }
            }
            ls_run_ctx(r, idx)->result = NULL;
        }
    }
    ls_value_free(pin);
    ls_value f = ls_map_new();
    ls_map_set(&f, "state", ls_string(st->name));
    ls_map_set(&f, "attempt", ls_int(attempt));
    ls_map_set(&f, "action", ls_string(p->action->name));
    ls_map_set(&f, "landed", landed < 0 ? ls_null() : ls_bool(landed == 1));
    ls_map_set(&f, "result", ls_value_copy(a.result));
    ls_map_set(&f, "error", landed == 1 || msg[0] == '\0' ? ls_null() : ls_string(msg));
    if (ls_run_emit(r, LS_EV_LANDED, f) != 0) {
        ls_value_free(a.result);
        halt(out, "cannot write the journal");
        return -2;
    }
    if (r->text)
        ls_out_error(r, "%s: attempt %d %s (landed: %s)", st->name, attempt,
                     landed == 1 ? "took effect" : landed == 0 ? "did not take effect: running it again"
                                                               : "cannot be judged",
                     landed < 0 ? msg : p->action->name);
    if (landed == 1) {
        a.status = LS_ACT_OK;
        a.simulated = false;
        ls_error_clear(&a.err);
        if (finish_attempt(r, idx, attempt, &a, NULL) != 0) {
            ls_value_free(a.result);
            halt(out, "cannot write the journal");
            return -2;
        }
        ls_value_free(a.result);
        succeed(r, idx, attempt, out);
        return 1;
    }
    ls_value_free(a.result);
    return landed;
}

/* An attempt whose outcome is unknown (the engine died in it, or a
 * scenario canned it `interrupted`): the operator's --assume decides, else
 * the state's landed: probe, else an idempotent action simply runs again,
 * else the run halts and asks. */
static void decide_unknown(ls_runner *r, int idx, ls_value inputs, int attempt, const char *by, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    const char *assume = assumed_for(r, st->name);
    if (assume == NULL && st->landed != NULL) {
        int l = check_landed(r, idx, attempt, out);
        if (l == 1 || l == -2)
            return; /* landed (the state is ok), or the journal failed */
        if (l == 0) {
            attempts_loop(r, idx, inputs, by, attempt, NULL, out);
            return;
        }
    }
    if (assume != NULL) {
        ls_value f = ls_map_new();
        ls_map_set(&f, "state", ls_string(st->name));
        ls_map_set(&f, "attempt", ls_int(attempt));
        ls_map_set(&f, "outcome", ls_string(assume));
        ls_map_set(&f, "by", ls_string(ls_out_user()));
        if (ls_run_emit(r, LS_EV_ASSUMED, f) != 0) {
            halt(out, "cannot write the journal");
            return;
        }
    }
    if (assume != NULL && strcmp(assume, "rerun") == 0) {
        /* The operator takes responsibility: the interrupted attempt runs
         * again, as that attempt (not a retry). */
        attempts_loop(r, idx, inputs, by, attempt, NULL, out);
    } else if (assume != NULL) {
        attempt_out a;
        memset(&a, 0, sizeof a);
        a.result = ls_map_new();
        a.status = strcmp(assume, "ok") == 0 ? LS_ACT_OK : LS_ACT_FAILED;
        char e[256];
        snprintf(e, sizeof e, "outcome assumed %s by %s (--assume)", assume, ls_out_user());
        if (finish_attempt(r, idx, attempt, &a, e) != 0) {
            ls_value_free(a.result);
            halt(out, "cannot write the journal");
            return;
        }
        ls_value_free(a.result);
        if (a.status == LS_ACT_OK)
            succeed(r, idx, attempt, out);
        else
            fail_state(r, idx, false, e, out);
    } else if (ls_run_state_idempotent(st, inputs) || (r->dry_run && ls_run_state_mutates(st, inputs))) {
        /* A simulated attempt changed nothing: it is always safe again. */
        attempts_loop(r, idx, inputs, by, attempt, NULL, out);
    } else {
        halt(out, "unknown outcome of %s (attempt %d was interrupted): check what it did, then "
             "resume with --assume %s=ok (it took effect), --assume %s=failed (it did not: take the "
             "failure path) or --assume %s=rerun (run it again)",
             st->name, attempt, st->name, st->name, st->name);
    }
}

static void run_action_state(ls_runner *r, int idx, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    ls_resume_point *rp = r->resuming ? &r->rp : NULL;
    char msg[1024] = "";
    ls_value inputs = ls_null();
    if (render_inputs(r, idx, st, &inputs, msg, sizeof msg) != 0) {
        ls_value_free(inputs);
        fail_state(r, idx, false, msg, out);
        return;
    }
    if (rp != NULL && (rp->unknown || rp->has_outcome || rp->rerun)) {
        /* Continuing an attempt the journal shows started. */
        int attempt = rp->attempt;
        char by[256];
        if (rp->approved_by[0] != '\0')
            snprintf(by, sizeof by, "%s", rp->approved_by);
        else
            snprintf(by, sizeof by, "%s via resume", ls_out_user());
        if (rp->unknown) {
            decide_unknown(r, idx, inputs, attempt, by, out);
        } else if (rp->rerun) {
            /* A landed: probe or the operator said so before a halt. */
            attempts_loop(r, idx, inputs, by, attempt > 0 ? attempt : 1, NULL, out);
        } else {
            attempt_out a;
            memset(&a, 0, sizeof a);
            a.status = rp->status;
            a.simulated = rp->simulated;
            a.result = ls_value_copy(rp->result);
            snprintf(a.err.msg, sizeof a.err.msg, "%s", rp->error);
            attempts_loop(r, idx, inputs, by, attempt, &a, out);
        }
        ls_value_free(inputs);
        return;
    }
    char by[256] = "";
    const char *approved_by = NULL;
    if (ls_run_needs_approval(r, st, inputs)) {
        if (r->approved[idx]) {
            /* Approved before a halt, in this same visit, or for an
             * earlier element of a for_each state. */
            if (r->each.on && r->each.approved_by[0] != '\0')
                snprintf(by, sizeof by, "%s", r->each.approved_by);
            else if (r->resuming && r->rp.approved_by[0] != '\0')
                snprintf(by, sizeof by, "%s", r->rp.approved_by);
            else
                snprintf(by, sizeof by, "%s via resume", ls_out_user());
            approved_by = by;
        } else {
            char *prompt = ls_run_approval_prompt(r, st, inputs, msg, sizeof msg);
            if (prompt == NULL) {
                ls_value_free(inputs);
                fail_state(r, idx, false, msg, out);
                return;
            }
            int ap = ls_run_approve(r, idx, prompt, by, sizeof by);
            free(prompt);
            if (ls_run_cancel) {
                ls_value_free(inputs);
                halt_signal(out);
                return;
            }
            if (ap == 0) {
                ls_value_free(inputs);
                fail_state(r, idx, false, "not approved", out);
                return;
            }
            if (ap == 2) {
                ls_value_free(inputs);
                halt(out, "approval needed for %s", st->name);
                return;
            }
            approved_by = by;
            if (r->each.on)
                snprintf(r->each.approved_by, sizeof r->each.approved_by, "%s", by);
        }
    }
    attempts_loop(r, idx, inputs, approved_by, 1, NULL, out);
    ls_value_free(inputs);
}

/* Binds a called playbook's params from the call's `with`, in the
 * caller's frame (run_call then empties its states).  0, or -1 with msg. */
static int bind_frame(ls_runner *r, int call, char *msg, size_t msglen)
{
    const ls_state *st = &r->pb->states[call];
    ls_value given = ls_null(), params = ls_null();
    ls_error err;
    ls_error_clear(&err);
    if (st->with != NULL && ls_tmpl_render(st->with, ls_run_ctx(r, call), &given, &err) != 0) {
        ls_error_format(&err, msg, msglen);
        return -1;
    }
    if (given.kind != LS_MAP) {
        ls_value_free(given);
        given = ls_map_new();
    }
    int rc = ls_sub_bind(r->pb, call, given, &params, msg, msglen);
    ls_value_free(given);
    if (rc == 0)
        rc = ls_sub_deferred(r->pb, call, params, msg, msglen);
    if (rc != 0) {
        ls_value_free(params);
        return -1;
    }
    ls_eval_ctx *c = &r->fctx[st->sub->frame];
    ls_value_free(c->params);
    c->params = params;
    return 0;
}

/* A `playbook:` state: enters the child at its start (the child's
 * terminal ends the call, end_call); on resume after the child ended, its
 * recorded outcome decides. */
static void run_call(ls_runner *r, int idx, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    if (r->resuming && r->rp.has_outcome) {
        if (r->rp.status == LS_ACT_OK)
            succeed(r, idx, 1, out);
        else
            fail_state(r, idx, false, r->rp.error, out);
        return;
    }
    char msg[1024];
    if (bind_frame(r, idx, msg, sizeof msg) != 0) {
        fail_state(r, idx, false, msg, out);
        return;
    }
    ls_eval_ctx *c = &r->fctx[st->sub->frame];
    ls_value_free(c->states);
    c->states = ls_map_new();
    out->kind = STEP_NEXT;
    out->to = st->sub->start;
    out->reason = "call";
}

/* A child's terminal `term` ends the call `call`: journals the call's
 * outcome and result {terminal, outcome, states} and goes on from the
 * call as from any finished state. */
static void end_call(ls_runner *r, int term, int call, step *out)
{
    const ls_state *t = &r->pb->states[term];
    const ls_state *st = &r->pb->states[call];
    bool ok = t->terminal == LS_TERM_SUCCESS;
    memset(out, 0, sizeof *out);
    attempt_out a;
    memset(&a, 0, sizeof a);
    a.status = ok ? LS_ACT_OK : LS_ACT_FAILED;
    a.result = ls_map_new();
    ls_map_set(&a.result, "terminal", ls_string(ls_state_local_name(r->pb, term)));
    ls_map_set(&a.result, "outcome", ls_string(ok ? "success" : "failure"));
    ls_map_set(&a.result, "states", ls_value_copy(ls_run_ctx(r, term)->states));
    if (!ok)
        snprintf(a.err.msg, sizeof a.err.msg, "the playbook %s ended in %s", st->sub->file,
                 ls_state_local_name(r->pb, term));
    ls_run_state_set(r, call, "attempts", ls_int(1)); /* the child ran once */
    if (finish_attempt(r, call, 1, &a, NULL) != 0) {
        ls_value_free(a.result);
        halt(out, "cannot write the journal");
        return;
    }
    ls_value_free(a.result);
    if (ok)
        succeed(r, call, 1, out);
    else
        fail_state(r, call, false, a.err.msg, out);
}

/* A state with for_each: its action once per element of the list, in
 * order, each element with its own attempts (retry applies per element)
 * and with item and index bound (with, expect, retry.until, landed).  The
 * first element that fails fails the state; the state's result is
 * {items: [...]}, the result of each element that ran.  Approval, when
 * needed, is asked once, for the first element.  A resumed run continues
 * at the element whose attempt the journal shows unfinished or unjudged
 * (resume.c puts the earlier elements' results in r->each.items): the
 * elements before it are not run again. */
static void run_for_each(ls_runner *r, int idx, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    ls_eval_ctx *ctx = ls_run_ctx(r, idx);
    ls_value list = ls_null(), items = r->each.items;
    r->each.items = ls_null();
    if (items.kind != LS_LIST || !r->resuming) {
        ls_value_free(items);
        items = ls_list_new();
    }
    ls_error err;
    ls_error_clear(&err);
    char msg[1024];
    if (ls_expr_eval(st->for_each, ctx, &list, &err) != 0) {
        ls_error_format(&err, msg, sizeof msg);
        goto fail;
    }
    if (list.kind != LS_LIST) {
        ls_error_set(&err, ls_expr_loc(st->for_each), "for_each must give a list, not %s: %s",
                     ls_kind_name((ls_kind)list.kind), ls_expr_source(st->for_each));
        ls_error_format(&err, msg, sizeof msg);
        goto fail;
    }
    size_t n = ls_list_len(list), from = ls_list_len(items);
    if (from > n) {
        snprintf(msg, sizeof msg, "for_each gives %zu elements now, but the journal shows %zu done", n, from);
        goto fail;
    }
    r->each.on = true;
    r->each.approved_by[0] = '\0';
    for (size_t i = from; i < n; i++) {
        ls_value item = ls_list_at(list, i);
        ctx->item = &item;
        ctx->index = (int64_t)i;
        r->each.index = (int64_t)i;
        r->each.items = items;
        r->each.element_ok = false;
        run_action_state(r, idx, out);
        r->each.items = ls_null();
        ctx->item = NULL;
        if (!r->each.element_ok)
            break; /* failed or halted: *out says so */
        ls_value res = ls_map_get(ls_run_state_rec(r, idx), "result");
        ls_value done = ls_map_get(res, "items");
        ls_value_free(items);
        items = ls_value_copy(done);
        /* The resumed element is done: the next one starts afresh. */
        r->rp.unknown = r->rp.has_outcome = r->rp.rerun = false;
    }
    bool all = n == from || r->each.element_ok;
    r->each.on = false;
    r->each.element_ok = false;
    if (all) {
        ls_value res = ls_map_new();
        ls_map_set(&res, "items", items);
        ls_run_state_set(r, idx, "result", res);
        ls_value a = ls_map_get(ls_run_state_rec(r, idx), "attempts");
        succeed(r, idx, a.kind == LS_INT ? (int)a.u.i : 0, out);
    } else {
        ls_value_free(items);
    }
    ls_value_free(list);
    return;
fail:
    ls_value_free(items);
    ls_value_free(list);
    fail_state(r, idx, false, msg, out);
}

static void run_state(ls_runner *r, int idx, step *out)
{
    const ls_state *st = &r->pb->states[idx];
    memset(out, 0, sizeof *out);
    bool continuing = r->resuming && r->rp.entered && (r->rp.unknown || r->rp.has_outcome || r->rp.rerun);
    if (!continuing) {
        for (size_t i = 0; i < st->nrequires; i++) {
            ls_error err;
            ls_error_clear(&err);
            int c = cond(r, idx, "requires", st->requires[i], &err);
            if (c != 1) {
                char msg[1024];
                if (c < 0)
                    ls_error_format(&err, msg, sizeof msg);
                else
                    snprintf(msg, sizeof msg, "requires not met: %s", ls_plan_cond_name(st->requires[i]));
                fail_state(r, idx, false, msg, out);
                return;
            }
        }
    }
    if (st->action != NULL) {
        if (st->for_each != NULL)
            run_for_each(r, idx, out);
        else
            run_action_state(r, idx, out);
        return;
    }
    if (st->sub != NULL) {
        run_call(r, idx, out);
        return;
    }
    /* A decision state (perhaps with a confirm). */
    if (st->confirm != NULL && !r->approved[idx]) {
        char msg[1024] = "", by[256];
        char *prompt = ls_run_approval_prompt(r, st, ls_null(), msg, sizeof msg);
        if (prompt == NULL) {
            fail_state(r, idx, false, msg, out);
            return;
        }
        int ap = ls_run_approve(r, idx, prompt, by, sizeof by);
        free(prompt);
        if (ls_run_cancel) {
            halt_signal(out);
            return;
        }
        if (ap == 0) {
            fail_state(r, idx, false, "not approved", out);
            return;
        }
        if (ap == 2) {
            halt(out, "approval needed for %s", st->name);
            return;
        }
    }
    ls_run_state_set(r, idx, "status", ls_string("ok"));
    choose_next(r, idx, out);
}

/* ---- the run ---- */

/* A holder fenced by the run store (store.h) stops where it is: the run
 * belongs to the holder that took it over, so nothing more is journaled,
 * reported or notified here (the journal said why). */
static bool fenced_stop(ls_runner *r, int idx)
{
    if (!ls_store_fenced(ls_store_current()))
        return false;
    r->rep->outcome = LS_TERM_NONE;
    r->rep->final_state = idx;
    snprintf(r->rep->error, sizeof r->rep->error, "lease lost: the run was taken over");
    return true;
}

static int finish_run(ls_runner *r, int idx, ls_terminal outcome, const char *error)
{
    ls_value f = ls_map_new();
    ls_map_set(&f, "outcome", ls_string(outcome == LS_TERM_SUCCESS ? "success" : "failure"));
    ls_map_set(&f, "state", ls_string(r->pb->states[idx].name));
    if (error != NULL)
        ls_map_set(&f, "error", ls_string(error));
    if (r->dry_run)
        ls_map_set(&f, "decisions", ls_out_decisions(r));
    int emitted = ls_run_emit(r, LS_EV_RUN_FINISHED, f);
    if (emitted == 0 && r->journaling) /* diag.h: the end is on record */
        ls_oom_exit_code = outcome == LS_TERM_SUCCESS ? LS_EXIT_OK : LS_EXIT_FAILURE;
    if (emitted != 0 && fenced_stop(r, idx))
        return LS_EXIT_LOCKED;
    r->rep->outcome = outcome;
    r->rep->final_state = idx;
    if (error != NULL)
        snprintf(r->rep->error, sizeof r->rep->error, "%s", error);
    ls_out_final(r, outcome == LS_TERM_SUCCESS ? "success" : "failure", idx, error);
    ls_notify(r, outcome == LS_TERM_SUCCESS ? "succeeded" : "failed", idx,
              outcome == LS_TERM_SUCCESS ? "success" : "failure", error);
    return outcome == LS_TERM_SUCCESS ? LS_EXIT_OK : LS_EXIT_FAILURE;
}

static int do_halt(ls_runner *r, int idx, const char *reason)
{
    if (fenced_stop(r, idx))
        return LS_EXIT_LOCKED;
    ls_value f = ls_map_new();
    ls_map_set(&f, "state", ls_string(r->pb->states[idx].name));
    ls_map_set(&f, "reason", ls_string(reason));
    if (r->dry_run)
        ls_map_set(&f, "decisions", ls_out_decisions(r));
    ls_run_emit(r, LS_EV_RUN_HALTED, f);
    r->rep->outcome = LS_TERM_NONE;
    r->rep->final_state = idx;
    snprintf(r->rep->error, sizeof r->rep->error, "%s", reason);
    ls_out_final(r, "halted", idx, reason);
    ls_notify(r, strncmp(reason, "approval needed", 15) == 0 ? "approval_needed" : "halted", idx, "halted", reason);
    return LS_EXIT_HALTED;
}

static int machine(ls_runner *r, int cur)
{
    for (;;) {
        const ls_state *st = &r->pb->states[cur];
        bool entered = r->resuming && r->rp.entered;
        if (!entered) {
            r->visits[cur]++;
            r->approved[cur] = false;
            ls_run_state_set(r, cur, "visits", ls_int(r->visits[cur]));
            ls_value f = ls_map_new();
            ls_map_set(&f, "state", ls_string(st->name));
            ls_map_set(&f, "visit", ls_int(r->visits[cur]));
            if (ls_run_emit(r, LS_EV_STATE_ENTERED, f) != 0)
                return do_halt(r, cur, "cannot write the journal");
            path_push(r, cur);
        }
        r->state_t0 = ls_now_ms();
        int from = cur;
        step s;
        if (st->terminal != LS_TERM_NONE) {
            /* A failure terminal reads as failed: the run failed there. */
            ls_run_state_set(r, cur, "status", ls_string(st->terminal == LS_TERM_FAILURE ? "failed" : "ok"));
            from = ls_state_caller(r->pb, cur);
            if (from < 0)
                return finish_run(r, cur, st->terminal, NULL);
            end_call(r, cur, from, &s); /* the end of a child: its call goes on */
        } else {
            ls_out_state_start(r, cur);
            run_state(r, cur, &s);
        }
        if (r->resuming) {
            ls_value_free(r->rp.result);
            memset(&r->rp, 0, sizeof r->rp);
            r->rp.state = -1;
            r->resuming = false;
        }
        if (s.kind == STEP_HALT)
            return do_halt(r, cur, s.msg);
        if (s.kind == STEP_END)
            return finish_run(r, cur, LS_TERM_FAILURE, s.msg);
        ls_value f = ls_map_new();
        ls_map_set(&f, "from", ls_string(r->pb->states[from].name));
        ls_map_set(&f, "to", ls_string(r->pb->states[s.to].name));
        ls_map_set(&f, "reason", ls_string(s.reason));
        if (strcmp(s.reason, "failure") == 0 || strcmp(s.reason, "timeout") == 0)
            ls_map_set(&f, "error", ls_string(s.msg));
        if (ls_run_emit(r, LS_EV_TRANSITION, f) != 0)
            return do_halt(r, cur, "cannot write the journal");
        ls_out_transition(r, from, s.to, s.reason);
        if (ls_run_cancel) {
            char why[64];
            snprintf(why, sizeof why, "signal %s", ls_signal_name((int)ls_run_signal));
            return do_halt(r, s.to, why);
        }
        cur = s.to;
    }
}

static ls_value params_without_secrets(const ls_playbook *pb)
{
    ls_value m = ls_map_new();
    for (size_t i = 0; i < ls_map_len(pb->param_values); i++) {
        const char *k = ls_map_key_at(pb->param_values, i);
        bool secret = false;
        for (size_t p = 0; p < pb->nparams; p++)
            if (strcmp(pb->params[p].name, k) == 0)
                secret = pb->params[p].secret;
        if (!secret)
            ls_map_set(&m, k, ls_value_copy(ls_map_value_at(pb->param_values, i)));
    }
    return m;
}

static int start_journal(ls_runner *r, ls_error *err)
{
    ls_playbook *pb = r->pb;
    const char *sd = ls_journal_state_dir(r->opts->state_dir);
    if (ls_journal_create(&r->j, sd, r->run_id, r->dry_run, err) != 0)
        return -1;
    r->journaling = true;
    r->j.group = true;
    if (ls_journal_write_file(&r->j, "playbook.yaml", pb->text ? pb->text : "", pb->text_len, err) != 0)
        return -1;
    ls_value pv = fields1("params", params_without_secrets(pb));
    size_t plen = 0;
    char *pj = ls_value_to_json(pv, &plen);
    ls_value_free(pv);
    if (pj == NULL) {
        ls_error_set(err, noloc, "out of memory");
        return -1;
    }
    int rc = ls_journal_write_file(&r->j, "params.json", pj, plen, err);
    /* With a store (store.h), the run is recorded there and every durable
     * point from run_started on writes there too; dry runs stay local. */
    if (rc == 0 && !r->dry_run && ls_store_current() != NULL)
        rc = ls_store_attach(ls_store_current(), &r->j, r->run_id, pb, r->started_at, pj, plen, err);
    free(pj);
    if (rc != 0)
        return -1;
    char abspath[PATH_MAX];
    const char *path = realpath(pb->path, abspath) ? abspath : pb->path;
    char host[256] = "?";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    ls_value f = ls_map_new();
    ls_map_set(&f, "run_id", ls_string(r->run_id));
    ls_map_set(&f, "playbook", ls_string(pb->name));
    ls_map_set(&f, "path", ls_string(path));
    ls_map_set(&f, "sha256", ls_string(pb->sha256));
    ls_map_set(&f, "env", pb->env_name ? ls_string(pb->env_name) : ls_null());
    ls_map_set(&f, "params", ls_params_masked(pb));
    ls_map_set(&f, "dry_run", ls_bool(r->dry_run));
    ls_map_set(&f, "user", ls_string(ls_out_user()));
    ls_map_set(&f, "host", ls_string(host));
    if (ls_map_len(pb->release) > 0)
        ls_map_set(&f, "release", ls_value_copy(pb->release));
    const ls_bundle_info *bi = ls_bundle_current(); /* run from a release bundle (bundle.h) */
    if (bi) {
        char absb[PATH_MAX];
        ls_map_set(&f, "bundle", ls_string(realpath(bi->archive, absb) ? absb : bi->archive));
        ls_map_set(&f, "bundle_manifest_sha256", ls_string(bi->manifest_sha256));
        ls_map_set(&f, "bundle_signer", bi->signer ? ls_string(bi->signer) : ls_null());
        ls_map_set(&f, "bundle_verified", ls_bool(bi->verified));
    }
    if (ls_run_emit(r, LS_EV_RUN_STARTED, f) != 0)
        return -1;
    ls_oom_exit_code = LS_EXIT_HALTED; /* diag.h: from now on a run to resume */
    return 0;
}

/* One run per (playbook, env) per state dir.  0, LS_EXIT_LOCKED (said
 * why on stderr), or LS_EXIT_USAGE with err (an I/O error). */
static int take_lock(ls_runner *r, ls_error *err)
{
    char holder[512] = "";
    r->lock_fd = ls_lock_take(ls_journal_state_dir(r->opts->state_dir), r->pb->name, r->pb->env_name, r->run_id,
                              holder, sizeof holder, err);
    if (r->lock_fd == -2) {
        r->lock_fd = -1;
        fprintf(stderr, "lockstep: another run holds the lock: %s\n", holder);
        snprintf(r->rep->error, sizeof r->rep->error, "another run holds the lock: %s", holder);
        return LS_EXIT_LOCKED;
    }
    if (r->lock_fd < 0)
        return LS_EXIT_USAGE; /* nothing ran: like a usage error */
    /* With a store, the lease keeps other machines out (store.h). */
    ls_store *st = ls_store_current();
    if (st != NULL && !r->dry_run) {
        int t = ls_store_lease_take(st, r->pb->name, r->pb->env_name, r->run_id, holder, sizeof holder, err);
        if (t == 1) {
            fprintf(stderr, "lockstep: another run holds the lock: %s\n", holder);
            snprintf(r->rep->error, sizeof r->rep->error, "another run holds the lock: %s", holder);
            return LS_EXIT_LOCKED;
        }
        if (t < 0)
            return LS_EXIT_USAGE;
        /* A resumed run continues from the store's journal, read after
         * the lease was taken: the local copy is brought up to it. */
        if (r->resuming && ls_store_fetch(st, ls_journal_state_dir(r->opts->state_dir), r->run_id, true, err) != 0)
            return LS_EXIT_USAGE;
    }
    return 0;
}

static void runner_free(ls_runner *r)
{
    ls_value_free(r->ctx.states);
    ls_value_free(r->ctx.run);
    ls_value_free(r->ctx.params);
    for (size_t f = 1; r->fctx != NULL && f < r->pb->nframes; f++) {
        ls_value_free(r->fctx[f].states);
        ls_value_free(r->fctx[f].run);
        ls_value_free(r->fctx[f].params);
    }
    free(r->fctx);
    free(r->fguards);
    ls_value_free(r->rp.result);
    ls_value_free(r->each.items);
    free(r->visits);
    free(r->simulated);
    free(r->approved);
    for (size_t i = 0; i < r->ndec; i++) {
        free(r->dec[i].text);
        free(r->dec[i].sim_from);
        free(r->dec[i].unchanged_by);
    }
    free(r->dec);
    ls_taint_free(r);
    if (r->journaling) {
        ls_orphans_unwatch();
        ls_journal_close(&r->j);
    }
    ls_store_lease_release(ls_store_current());
    ls_lock_release(r->lock_fd);
    ls_call_cache_clear(r);
}

/* A run resumed inside a child: the params of every call around state
 * idx are bound again, outermost first, from the journaled states. */
static int rebind_frames(ls_runner *r, int idx, ls_error *err)
{
    int calls[LS_SUB_DEPTH_MAX + 2];
    size_t n = 0;
    for (int f = r->pb->states[idx].frame; f > 0 && n < sizeof calls / sizeof *calls; f = r->pb->frames[f].parent)
        calls[n++] = r->pb->frames[f].call;
    while (n-- > 0) {
        char msg[1024];
        if (bind_frame(r, calls[n], msg, sizeof msg) != 0) {
            ls_error_set(err, noloc, "cannot resume run %s inside %s: %s", r->run_id, r->pb->states[calls[n]].name,
                         msg);
            return -1;
        }
    }
    return 0;
}

static int resume_setup(ls_runner *r, ls_error *err, int *cur)
{
    const char *sd = ls_journal_state_dir(r->opts->state_dir);
    ls_fold f;
    /* Verified whole (chain, tip, blobs) under the lock: a damaged journal
     * is refused before anything is decided from it. */
    if (ls_journal_reopen(&r->j, sd, r->opts->resume_id, &f, err) != 0) {
        ls_fold_free(&f);
        return LS_EXIT_USAGE;
    }
    r->journaling = true;
    if (ls_store_current() != NULL &&
        ls_store_attach(ls_store_current(), &r->j, r->run_id, NULL, NULL, NULL, 0, err) != 0) {
        ls_fold_free(&f);
        return LS_EXIT_USAGE;
    }
    ls_value first = f.first;
    r->dry_run = ls_map_get(first, "dry_run").kind == LS_BOOL && ls_map_get(first, "dry_run").u.b;
    ls_value sa = ls_map_get(first, "started_at");
    snprintf(r->started_at, sizeof r->started_at, "%s",
             sa.kind == LS_STRING ? ls_str_ptr(sa) : ls_str_ptr(ls_map_get(first, "ts")));
    char msg[1024] = "";
    int rc = ls_resume_apply(r, &f, msg, sizeof msg);
    ls_fold_free(&f);
    if (rc != 0) {
        ls_error_set(err, noloc, "%s", msg);
        return LS_EXIT_USAGE;
    }
    r->j.dry_run = r->dry_run;
    ls_oom_exit_code = LS_EXIT_HALTED; /* diag.h */
    r->j.group = true;
    *cur = r->rp.state;
    for (size_t i = 0; i < r->opts->nassume; i++) {
        const char *a = r->opts->assume[i];
        const char *name = r->rp.state >= 0 ? r->pb->states[r->rp.state].name : "";
        size_t n = strlen(name);
        if (!r->rp.unknown || strncmp(a, name, n) != 0 || a[n] != '=')
            ls_out_error(r, "--assume %s ignored: that state has no action of unknown outcome", a);
    }
    char host[256] = "?";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    ls_value ev = ls_map_new();
    ls_map_set(&ev, "by", ls_string(ls_out_user()));
    ls_map_set(&ev, "host", ls_string(host));
    ls_map_set(&ev, "pid", ls_int((int64_t)getpid()));
    return ls_run_emit(r, LS_EV_RUN_RESUMED, ev) == 0 ? 0 : LS_EXIT_USAGE;
}

/* Loads the plugin of every action the playbook uses, before anything
 * runs: a missing or stale one stops the run with nothing done. */
static int load_plugins(const ls_playbook *pb, ls_error *err)
{
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].action != NULL && ls_action_runner(pb->states[i].action, err) == NULL)
            return -1;
    if (pb->nnotify > 0 && ls_action_runner(ls_action_find("http.request"), err) == NULL)
        return -1; /* notify: posts through http.request */
    return 0;
}

int ls_run(ls_playbook *pb, const ls_run_opts *opts, ls_run_report *report)
{
    memset(report, 0, sizeof *report);
    report->final_state = -1;
    ls_runner r;
    memset(&r, 0, sizeof r);
    r.pb = pb;
    r.opts = opts;
    r.rep = report;
    r.lock_fd = -1;
    r.rp.state = -1;
    r.fake = opts->fake != NULL;
    r.dry_run = opts->dry_run && !r.fake;
    r.text = !r.fake && opts->output == LS_OUT_TEXT;
    r.tty = !r.fake && isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
    r.t0 = ls_now_ms();
    r.visits = calloc(pb->nstates + 1, sizeof *r.visits);
    r.simulated = calloc(pb->nstates + 1, sizeof *r.simulated);
    r.approved = calloc(pb->nstates + 1, sizeof *r.approved);
    r.ctx.params = ls_value_copy(pb->param_values);
    r.ctx.states = ls_map_new();
    r.ctx.guards = NULL;
    ls_expr **gx = pb->nguards ? calloc(pb->nguards, sizeof *gx) : NULL;
    for (size_t i = 0; gx && i < pb->nguards; i++)
        gx[i] = pb->guards[i].expr;
    r.ctx.guards = (ls_expr *const *)gx;
    r.ctx.nguards = gx ? pb->nguards : 0;
    if (pb->nframes > 1) {
        r.fctx = ls_oom_check(calloc(pb->nframes, sizeof *r.fctx));
        r.fguards = ls_frame_guards(pb, r.fctx);
    }
    for (size_t f = 1; f < pb->nframes; f++) {
        r.fctx[f].params = ls_map_new();
        r.fctx[f].states = ls_map_new();
        r.fctx[f].run = ls_null();
    }
    ls_run_cancel = 0;
    ls_run_signal = 0;
    int code = LS_EXIT_OK;
    ls_error err;
    ls_error_clear(&err);
    struct sigaction sa, old_int, old_term, old_hup, old_pipe;
    bool handlers = false;
    if (r.visits == NULL || r.simulated == NULL || r.approved == NULL || (pb->nguards && gx == NULL)) {
        ls_error_set(&err, noloc, "out of memory");
        code = LS_EXIT_USAGE;
        goto fail;
    }
    if (!r.fake && load_plugins(pb, &err) != 0) {
        code = LS_EXIT_USAGE; /* nothing ran */
        goto fail;
    }
    int cur = pb->start;
    bool want_journal = !r.fake && !opts->no_journal;
    if (opts->resume_id != NULL) {
        snprintf(r.run_id, sizeof r.run_id, "%s", opts->resume_id);
        r.resuming = true;
        /* Lock first, so the journal cannot grow while it is replayed. */
        code = take_lock(&r, &err);
        if (code == LS_EXIT_LOCKED)
            goto out;
        if (code != 0)
            goto fail;
        /* Before anything is decided: no program of the interrupted run
         * may still be running (orphans.h). */
        if (ls_orphans_reap(ls_journal_state_dir(opts->state_dir), r.run_id, stderr, 60000, &err) < 0) {
            code = LS_EXIT_USAGE;
            goto fail;
        }
        code = resume_setup(&r, &err, &cur);
        if (code != 0)
            goto fail;
        ls_taint_resumed(&r);
        if (cur < 0 || (size_t)cur >= pb->nstates) {
            ls_error_set(&err, noloc, "run %s has no state to continue from", r.run_id);
            code = LS_EXIT_USAGE;
            goto fail;
        }
    } else {
        if (!r.fake)
            ls_journal_new_id(r.run_id);
        else
            snprintf(r.run_id, sizeof r.run_id, "test");
        ls_journal_now_iso(r.started_at);
    }
    snprintf(report->run_id, sizeof report->run_id, "%s", r.run_id);
    r.ctx.run = ls_map_new();
    ls_map_set(&r.ctx.run, "id", ls_string(r.run_id));
    ls_map_set(&r.ctx.run, "env", pb->env_name ? ls_string(pb->env_name) : ls_null());
    ls_map_set(&r.ctx.run, "dry_run", ls_bool(r.dry_run));
    ls_map_set(&r.ctx.run, "playbook", ls_string(pb->name));
    ls_map_set(&r.ctx.run, "started_at", ls_string(r.started_at));
    for (size_t f = 1; f < pb->nframes; f++) {
        ls_value_free(r.fctx[f].run);
        r.fctx[f].run = ls_value_copy(r.ctx.run);
    }
    if (r.resuming && rebind_frames(&r, cur, &err) != 0) {
        code = LS_EXIT_USAGE;
        goto fail;
    }
    if (!r.fake && !r.dry_run && !r.resuming) {
        code = take_lock(&r, &err);
        if (code == LS_EXIT_LOCKED)
            goto out;
        if (code != 0)
            goto fail;
    }
    /* A dry run takes no lock (it only reads), but what it reads while a
     * real run holds the lock may be half way through a change. */
    if (!r.fake && r.dry_run && !r.resuming)
        ls_lock_holder(ls_journal_state_dir(opts->state_dir), pb->name, pb->env_name, r.lock_holder,
                       sizeof r.lock_holder);
    if (want_journal && !r.resuming && start_journal(&r, &err) != 0) {
        code = LS_EXIT_USAGE; /* no journal, so nothing ran and nothing can be resumed */
        goto fail;
    }
    if (!r.fake) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; /* no SA_RESTART: waits wake up */
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        /* A dropped SSH session halts the run cleanly (journaled,
         * resumable) instead of killing it inside an action. */
        sigaction(SIGHUP, &sa, &old_hup);
        /* A closed output pipe (`| head`) must not kill a run half way:
         * writes fail with EPIPE instead.  Children get SIGPIPE back
         * (proc.c resets every signal to its default). */
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, &old_pipe);
        handlers = true;
    }
    if (r.journaling && ls_orphans_watch(r.j.dir, &err) != 0) {
        code = LS_EXIT_USAGE; /* nothing ran yet */
        goto fail;
    }
    ls_out_begin(&r);
    if (!r.resuming)
        ls_notify(&r, "started", cur, NULL, NULL);
    code = machine(&r, cur);
    goto out;
fail:
    if (err.msg[0] != '\0') {
        char buf[1200];
        ls_error_format(&err, buf, sizeof buf);
        snprintf(report->error, sizeof report->error, "%.1000s", buf);
        if (!r.fake) {
            char *red = ls_redact(buf, strlen(buf), NULL);
            fprintf(stderr, "lockstep: %s\n", red ? red : "error");
            free(red);
        }
    }
out:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        sigaction(SIGPIPE, &old_pipe, NULL);
    }
    report->exit_code = code;
    free(gx);
    runner_free(&r);
    return code;
}

void ls_run_report_free(ls_run_report *r)
{
    free(r->path);
    r->path = NULL;
    r->npath = 0;
}
