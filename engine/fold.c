/*
 * The fold of a journal (journal.h "THE FOLD"): one pass over the events,
 * one hashed lookup per event, so a 100,000-event run folds in linear time.
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

static const char *str_of(ls_value ev, const char *key)
{
    ls_value v = ls_map_get(ev, key);
    return v.kind == LS_STRING ? ls_str_ptr(v) : NULL;
}

static int64_t int_of(ls_value ev, const char *key)
{
    ls_value v = ls_map_get(ev, key);
    return v.kind == LS_INT ? v.u.i : 0;
}

long ls_fold_find(const ls_fold *f, const char *name)
{
    ls_value v = name ? ls_map_get(f->index, name) : ls_null();
    return v.kind == LS_INT ? (long)v.u.i : -1;
}

/* The state named by ev[key], added on first sight; -1 when absent. */
static long state_at(ls_fold *f, ls_value ev, const char *key)
{
    const char *name = str_of(ev, key);
    if (name == NULL)
        return -1;
    long at = ls_fold_find(f, name);
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
    s->name = name;
    s->result = ls_null();
    s->error = ls_null();
    ls_map_set(&f->index, name, ls_int((int64_t)f->nstates));
    return (long)f->nstates++;
}

static void pt_at(ls_fold *f, long at)
{
    memset(&f->pt, 0, sizeof f->pt);
    f->pt.at = at;
    f->pt.result = ls_null();
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

int ls_journal_fold(ls_value events, ls_fold *f, char *msg, size_t msglen)
{
    memset(f, 0, sizeof *f);
    f->index = ls_map_new();
    f->first = ls_null();
    f->end_event = ls_null();
    f->end = LS_EV_UNKNOWN;
    pt_at(f, -1);
    size_t n = ls_list_len(events);
    if (n == 0) {
        snprintf(msg, msglen, "the journal is empty: the run was stopped before its first event, so nothing ran; "
                              "start a new run");
        return -1;
    }
    f->first = ls_list_at(events, 0);
    if (ls_event_of(f->first) != LS_EV_RUN_STARTED) {
        snprintf(msg, msglen, "the journal does not start with run_started");
        return -1;
    }
    f->events = n;
    size_t pathcap = 0;
    for (size_t i = 1; i < n; i++) {
        ls_value ev = ls_list_at(events, i);
        ls_event e = ls_event_of(ev);
        const char *ts = str_of(ev, "ts");
        int64_t now = ls_journal_ms_of(ts);
        if (e == LS_EV_TRANSITION) {
            long from = state_at(f, ev, "from"), to = state_at(f, ev, "to");
            if (from < 0 || to < 0) {
                snprintf(msg, msglen, "journal line %zu: a transition without from and to", i + 1);
                return -1;
            }
            const char *reason = str_of(ev, "reason");
            ls_fold_state *st = &f->states[from];
            st->status = reason && strcmp(reason, "failure") == 0   ? "failed"
                         : reason && strcmp(reason, "timeout") == 0 ? "timed_out"
                                                                    : "ok";
            if (ls_map_get(ev, "error").kind == LS_STRING)
                st->error = ls_map_get(ev, "error");
            else if (strcmp(st->status, "ok") == 0)
                st->error = ls_null();
            st->last_ts = ts;
            leave(f, from, now);
            pt_at(f, to);
            continue;
        }
        if (e == LS_EV_RUN_STARTED || e == LS_EV_RUN_RESUMED || e == LS_EV_UNKNOWN)
            continue;
        long s = state_at(f, ev, "state");
        if (s < 0) {
            snprintf(msg, msglen, "journal line %zu: a %s event without a state", i + 1, ls_event_name(e));
            return -1;
        }
        ls_fold_state *st = &f->states[s];
        st->last_ts = ts;
        switch (e) {
        case LS_EV_STATE_ENTERED:
            pt_at(f, s);
            f->pt.entered = true;
            st->visits = int_of(ev, "visit");
            st->status = "running";
            st->approved = false;
            st->entered_ms = now;
            if (st->first_ts == NULL)
                st->first_ts = ts;
            if (f->npath == pathcap) {
                size_t ncap = pathcap ? pathcap * 2 : 16;
                size_t *np = realloc(f->path, ncap * sizeof *np);
                if (np == NULL) {
                    snprintf(msg, msglen, "out of memory");
                    return -1;
                }
                f->path = np;
                pathcap = ncap;
            }
            f->path[f->npath++] = (size_t)s;
            break;
        case LS_EV_ACTION_STARTED:
            f->pt.at = s;
            f->pt.attempt = int_of(ev, "attempt");
            f->pt.unknown = true;
            f->pt.rerun = f->pt.has_outcome = false;
            st->attempts = f->pt.attempt;
            break;
        case LS_EV_ACTION_FINISHED: {
            const char *status = str_of(ev, "status");
            f->pt.at = s;
            f->pt.unknown = f->pt.rerun = false;
            f->pt.has_outcome = true;
            f->pt.status = status ? status : "ok";
            f->pt.simulated = status && strcmp(status, "simulated") == 0;
            f->pt.result = ls_map_get(ev, "result");
            f->pt.error = str_of(ev, "error") ? str_of(ev, "error") : "";
            f->pt.finished_ms = now;
            st->result = f->pt.result;
            st->error = ls_map_get(ev, "error");
            st->simulated = f->pt.simulated;
            break;
        }
        case LS_EV_APPROVAL:
            st->approved = true;
            st->approved_by_user = str_of(ev, "by");
            st->approved_via = str_of(ev, "via");
            break;
        case LS_EV_ASSUMED:
        case LS_EV_LANDED: {
            const char *o = str_of(ev, "outcome");
            ls_value landed = ls_map_get(ev, "landed");
            bool rerun = (e == LS_EV_ASSUMED && o && strcmp(o, "rerun") == 0) ||
                         (e == LS_EV_LANDED && landed.kind == LS_BOOL && !landed.u.b);
            if (rerun && f->pt.at == s && f->pt.unknown) {
                f->pt.unknown = false;
                f->pt.rerun = true;
            }
            break;
        }
        case LS_EV_RUN_HALTED: {
            const char *reason = str_of(ev, "reason");
            if (f->pt.at == s && f->pt.has_outcome && reason && strncmp(reason, "signal", 6) == 0 &&
                strncmp(f->pt.error, "cancelled by signal", 19) == 0) {
                f->pt.has_outcome = false;
                f->pt.unknown = true;
            }
            st->status = "halted";
            leave(f, s, now);
            f->end = e;
            f->end_event = ev;
            break;
        }
        case LS_EV_RUN_FINISHED:
            st->status = ls_map_get(ev, "error").kind == LS_STRING ? "error" : "ok";
            if (ls_map_get(ev, "error").kind == LS_STRING)
                st->error = ls_map_get(ev, "error");
            leave(f, s, now);
            f->end = e;
            f->end_event = ev;
            break;
        default:
            break;
        }
        if (e != LS_EV_RUN_HALTED && e != LS_EV_RUN_FINISHED && f->end == LS_EV_RUN_HALTED) {
            f->end = LS_EV_UNKNOWN; /* resumed past a halt */
            f->end_event = ls_null();
        }
    }
    return 0;
}

void ls_fold_free(ls_fold *f)
{
    free(f->states);
    free(f->path);
    ls_value_free(f->index);
    memset(f, 0, sizeof *f);
    f->pt.at = -1;
}
