/*
 * The fold of a journal (journal.h "THE FOLD"): one pass over the events,
 * one hashed lookup per event, references kept only to what the run's end
 * state needs, so a 100,000-event run folds in linear time and in memory
 * that grows with its states.
 */
#include "journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ls_journal_ms_of(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (iso == NULL || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                              &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t * 1000 + ms;
}

/* Keeps a reference to v in *slot (releasing the one there); the string
 * pointer of v, or NULL when v is not a string. */
static const char *keep(ls_value *slot, ls_value v)
{
    ls_value old = *slot;
    *slot = ls_value_copy(v);
    ls_value_free(old);
    return slot->kind == LS_STRING ? ls_str_ptr(*slot) : NULL;
}

static int64_t int_of(ls_value ev, const char *key)
{
    ls_value v = ls_map_get(ev, key);
    return v.kind == LS_INT ? v.u.i : 0;
}

static bool is_str(ls_value ev, const char *key)
{
    return ls_map_get(ev, key).kind == LS_STRING;
}

long ls_fold_find(const ls_fold *f, const char *name)
{
    ls_value v = name ? ls_map_get(f->index, name) : ls_null();
    return v.kind == LS_INT ? (long)v.u.i : -1;
}

/* The state named by ev[key], added on first sight; -1 when absent. */
static long state_at(ls_fold *f, ls_value ev, const char *key)
{
    ls_value nv = ls_map_get(ev, key);
    if (nv.kind != LS_STRING)
        return -1;
    long at = ls_fold_find(f, ls_str_ptr(nv));
    if (at >= 0)
        return at;
    if (f->nstates == f->statecap) {
        size_t ncap = f->statecap ? f->statecap * 2 : 16;
        ls_fold_state *n = realloc(f->states, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        f->states = n;
        f->statecap = ncap;
    }
    ls_fold_state *s = &f->states[f->nstates];
    memset(s, 0, sizeof *s);
    s->name = keep(&s->ref_name, nv);
    s->result = ls_null();
    s->error = ls_null();
    ls_map_set(&f->index, s->name, ls_int((int64_t)f->nstates));
    return (long)f->nstates++;
}

static void pt_at(ls_fold *f, long at)
{
    ls_value_free(f->pt.result);
    ls_value_free(f->pt.ref_error);
    memset(&f->pt, 0, sizeof f->pt);
    f->pt.at = at;
    f->pt.item = -1;
    f->pt.result = ls_null();
    f->pt.ref_error = ls_null();
    f->pt.error = "";
}

/* The wall time of the current visit ends at this event. */
static void leave(ls_fold *f, long s, int64_t now)
{
    ls_fold_state *st = &f->states[s];
    if (st->entered_ms > 0 && now >= st->entered_ms)
        st->ms += now - st->entered_ms;
    st->entered_ms = 0;
}

/* A for_each element's attempt finished: its result replaces the
 * element's place in the state's items, and the state's result is
 * {items: [...]}.  The runner writes elements in order, so a position past
 * the end (a journal never written so) is taken as the next one. */
static void each_result(ls_fold_state *st, int64_t item, ls_value result)
{
    ls_value items = ls_list_new(), res = ls_map_new();
    for (size_t i = 0; i < ls_list_len(st->each) && (int64_t)i < item; i++)
        ls_list_push(&items, ls_value_copy(ls_list_at(st->each, i)));
    ls_list_push(&items, ls_value_copy(result));
    ls_value_free(st->each);
    st->each = items;
    ls_map_set(&res, "items", ls_value_copy(items));
    ls_value_free(st->result);
    st->result = res;
}

static const char *attempt_status(ls_value ev)
{
    static const char *const known[] = {"ok", "failed", "timed_out", "simulated", NULL};
    ls_value v = ls_map_get(ev, "status");
    for (size_t i = 0; v.kind == LS_STRING && known[i]; i++)
        if (strcmp(ls_str_ptr(v), known[i]) == 0)
            return known[i];
    return v.kind == LS_STRING ? "failed" : "ok";
}

void ls_fold_init(ls_fold *f)
{
    memset(f, 0, sizeof *f);
    f->index = ls_map_new();
    f->first = ls_null();
    f->end_event = ls_null();
    f->end = LS_EV_UNKNOWN;
    f->pt.result = ls_null();
    f->pt.ref_error = ls_null();
    pt_at(f, -1);
}

int ls_fold_add(ls_fold *f, ls_value ev, char *msg, size_t msglen)
{
    ls_event e = ls_event_of(ev);
    size_t line = ++f->events;
    if (line == 1) {
        if (e != LS_EV_RUN_STARTED) {
            snprintf(msg, msglen, "the journal does not start with run_started");
            return -1;
        }
        keep(&f->first, ev);
        return 0;
    }
    ls_value tsv = ls_map_get(ev, "ts");
    int64_t now = ls_journal_ms_of(tsv.kind == LS_STRING ? ls_str_ptr(tsv) : NULL);
    if (e == LS_EV_TRANSITION) {
        long from = state_at(f, ev, "from"), to = state_at(f, ev, "to");
        if (from < 0 || to < 0) {
            snprintf(msg, msglen, "journal line %zu: a transition without from and to", line);
            return -1;
        }
        const char *reason = is_str(ev, "reason") ? ls_str_ptr(ls_map_get(ev, "reason")) : "";
        ls_fold_state *st = &f->states[from];
        st->status = strcmp(reason, "failure") == 0   ? "failed"
                     : strcmp(reason, "timeout") == 0 ? "timed_out"
                     : strcmp(reason, "call") == 0    ? "running" /* in its child until it returns */
                                                      : "ok";
        if (is_str(ev, "error"))
            keep(&st->error, ls_map_get(ev, "error"));
        else if (strcmp(st->status, "ok") == 0)
            keep(&st->error, ls_null());
        st->last_ts = keep(&st->ref_last_ts, tsv);
        leave(f, from, now);
        pt_at(f, to);
        return 0;
    }
    if (e == LS_EV_RUN_STARTED || e == LS_EV_RUN_RESUMED || e == LS_EV_UNKNOWN)
        return 0;
    long s = state_at(f, ev, "state");
    if (s < 0) {
        snprintf(msg, msglen, "journal line %zu: a %s event without a state", line, ls_event_name(e));
        return -1;
    }
    ls_fold_state *st = &f->states[s];
    st->last_ts = keep(&st->ref_last_ts, tsv);
    if (f->end == LS_EV_RUN_HALTED && e != LS_EV_RUN_HALTED) {
        f->end = LS_EV_UNKNOWN; /* resumed past a halt */
        keep(&f->end_event, ls_null());
    }
    switch (e) {
    case LS_EV_STATE_ENTERED:
        pt_at(f, s);
        keep(&st->each, ls_null()); /* a new visit runs its elements afresh */
        f->pt.entered = true;
        st->visits = int_of(ev, "visit");
        st->status = "running";
        st->approved = false;
        st->entered_ms = now;
        if (st->first_ts == NULL)
            st->first_ts = keep(&st->ref_first_ts, tsv);
        if (f->npath == f->pathcap) {
            size_t ncap = f->pathcap ? f->pathcap * 2 : 16;
            size_t *np = realloc(f->path, ncap * sizeof *np);
            if (np == NULL) {
                snprintf(msg, msglen, "out of memory");
                return -1;
            }
            f->path = np;
            f->pathcap = ncap;
        }
        f->path[f->npath++] = (size_t)s;
        break;
    case LS_EV_ACTION_STARTED:
        f->pt.at = s;
        f->pt.attempt = int_of(ev, "attempt");
        f->pt.item = ls_map_get(ev, "item").kind == LS_INT ? int_of(ev, "item") : -1;
        f->pt.unknown = true;
        f->pt.rerun = f->pt.has_outcome = false;
        st->attempts = f->pt.attempt;
        break;
    case LS_EV_ACTION_FINISHED:
        if (f->pt.at >= 0 && f->pt.at != s && f->states[f->pt.at].status != NULL &&
            strcmp(f->states[f->pt.at].status, "running") == 0)
            /* A call's end: the child's terminal ended as the call did. */
            f->states[f->pt.at].status = strcmp(attempt_status(ev), "ok") == 0 ? "ok" : "failed";
        f->pt.at = s;
        if (int_of(ev, "attempt") > st->attempts) /* a call's end has no start (playbook.h) */
            st->attempts = int_of(ev, "attempt");
        f->pt.unknown = f->pt.rerun = false;
        f->pt.has_outcome = true;
        f->pt.status = attempt_status(ev);
        f->pt.simulated = strcmp(f->pt.status, "simulated") == 0;
        keep(&f->pt.result, ls_map_get(ev, "result"));
        f->pt.error = keep(&f->pt.ref_error, ls_map_get(ev, "error"));
        if (f->pt.error == NULL)
            f->pt.error = "";
        f->pt.finished_ms = now;
        f->pt.item = ls_map_get(ev, "item").kind == LS_INT ? int_of(ev, "item") : -1;
        if (f->pt.item >= 0)
            each_result(st, f->pt.item, f->pt.result);
        else
            keep(&st->result, f->pt.result);
        keep(&st->error, ls_map_get(ev, "error"));
        st->simulated = f->pt.simulated;
        break;
    case LS_EV_APPROVAL:
        st->approved = true;
        st->approved_by_user = keep(&st->ref_by, ls_map_get(ev, "by"));
        st->approved_via = keep(&st->ref_via, ls_map_get(ev, "via"));
        break;
    case LS_EV_ASSUMED:
    case LS_EV_LANDED: {
        ls_value o = ls_map_get(ev, "outcome"), landed = ls_map_get(ev, "landed");
        bool rerun = (e == LS_EV_ASSUMED && o.kind == LS_STRING && strcmp(ls_str_ptr(o), "rerun") == 0) ||
                     (e == LS_EV_LANDED && landed.kind == LS_BOOL && !landed.u.b);
        if (rerun && f->pt.at == s && f->pt.unknown) {
            f->pt.unknown = false;
            f->pt.rerun = true;
        }
        break;
    }
    case LS_EV_RUN_HALTED: {
        const char *reason = is_str(ev, "reason") ? ls_str_ptr(ls_map_get(ev, "reason")) : "";
        if (f->pt.at == s && f->pt.has_outcome && strncmp(reason, "signal", 6) == 0 &&
            strncmp(f->pt.error, "cancelled by signal", 19) == 0) {
            f->pt.has_outcome = false;
            f->pt.unknown = true;
        }
        st->status = "halted";
        leave(f, s, now);
        f->end = e;
        keep(&f->end_event, ev);
        break;
    }
    case LS_EV_RUN_FINISHED:
        /* A failure terminal reads as failed: the run failed there. */
        st->status = is_str(ev, "error") ? "error"
                     : is_str(ev, "outcome") && strcmp(ls_str_ptr(ls_map_get(ev, "outcome")), "failure") == 0
                         ? "failed"
                         : "ok";
        if (is_str(ev, "error"))
            keep(&st->error, ls_map_get(ev, "error"));
        leave(f, s, now);
        f->end = e;
        keep(&f->end_event, ev);
        break;
    default:
        break;
    }
    return 0;
}

int ls_fold_end(ls_fold *f, char *msg, size_t msglen)
{
    if (f->events > 0)
        return 0;
    snprintf(msg, msglen, "the journal is empty: the run was stopped before its first event, so nothing ran; "
                          "start a new run");
    return -1;
}

int ls_journal_fold(ls_value events, ls_fold *f, char *msg, size_t msglen)
{
    ls_fold_init(f);
    for (size_t i = 0; i < ls_list_len(events); i++)
        if (ls_fold_add(f, ls_list_at(events, i), msg, msglen) != 0)
            return -1;
    return ls_fold_end(f, msg, msglen);
}

void ls_fold_free(ls_fold *f)
{
    for (size_t i = 0; i < f->nstates; i++) {
        ls_fold_state *s = &f->states[i];
        ls_value_free(s->result);
        ls_value_free(s->each);
        ls_value_free(s->error);
        ls_value_free(s->ref_name);
        ls_value_free(s->ref_first_ts);
        ls_value_free(s->ref_last_ts);
        ls_value_free(s->ref_by);
        ls_value_free(s->ref_via);
    }
    free(f->states);
    free(f->path);
    ls_value_free(f->index);
    ls_value_free(f->first);
    ls_value_free(f->end_event);
    ls_value_free(f->pt.result);
    ls_value_free(f->pt.ref_error);
    memset(f, 0, sizeof *f);
    f->pt.at = -1;
}
