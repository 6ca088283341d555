/*
 * Rebuilding a run from its journal (SPEC 5 "resume").
 *
 * The journal is replayed event by event into the runner: the states map
 * (status, result, attempts, error, visits), visit counts, the path, which
 * results were simulated, and the point to continue from:
 *
 *   - after a `transition` (or at run_started): the target state, not yet
 *     entered: it is entered as a new visit;
 *   - after `state_entered` with no attempt: the state runs from its start
 *     (requires, approval) within the same visit;
 *   - after `action_started` with no `action_finished`, or an attempt
 *     journaled as "cancelled by signal ..." followed by run_halted: the
 *     outcome is UNKNOWN: run.c re-runs it if idempotent, applies
 *     --assume, or halts;
 *   - after `action_finished`: that attempt is judged again (expect,
 *     until, retries) from its journaled status and result.
 *
 * Results in the journal are redacted and clipped (journal.h); a resumed
 * run sees them that way.  An `approval` in the current visit counts.
 */
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ls_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ls_wall_ms_of(const char *iso)
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

static const char *str_field(ls_value ev, const char *key)
{
    ls_value v = ls_map_get(ev, key);
    return v.kind == LS_STRING ? ls_str_ptr(v) : NULL;
}

static int64_t int_field(ls_value ev, const char *key)
{
    ls_value v = ls_map_get(ev, key);
    return v.kind == LS_INT ? v.u.i : 0;
}

static void rp_reset(ls_resume_point *rp, int state)
{
    ls_value_free(rp->result);
    memset(rp, 0, sizeof *rp);
    rp->state = state;
}

static int state_of(ls_runner *r, ls_value ev, const char *key, char *msg, size_t msglen)
{
    const char *name = str_field(ev, key);
    int idx = name ? ls_playbook_state_index(r->pb, name) : -1;
    if (idx < 0)
        snprintf(msg, msglen, "the journal names a state '%s' the playbook does not have",
                 name ? name : "(none)");
    return idx;
}

static void path_add(ls_runner *r, int idx)
{
    ls_run_report *rep = r->rep;
    if (rep->npath == r->npath_cap) {
        size_t ncap = r->npath_cap ? r->npath_cap * 2 : 16;
        int *n = realloc(rep->path, ncap * sizeof *n);
        if (n == NULL)
            return;
        rep->path = n;
        r->npath_cap = ncap;
    }
    rep->path[rep->npath++] = idx;
}

int ls_resume_replay(ls_runner *r, ls_value events, char *msg, size_t msglen)
{
    ls_resume_point *rp = &r->rp;
    rp_reset(rp, r->pb->start);
    size_t n = ls_list_len(events);
    if (n == 0 || strcmp(str_field(ls_list_at(events, 0), "event") ? str_field(ls_list_at(events, 0), "event") : "",
                         "run_started") != 0) {
        snprintf(msg, msglen, "the journal does not start with run_started");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ls_value ev = ls_list_at(events, i);
        const char *e = str_field(ev, "event");
        if (e == NULL)
            continue;
        if (strcmp(e, "run_finished") == 0) {
            snprintf(msg, msglen, "run %s already finished (%s at %s): nothing to resume", r->run_id,
                     str_field(ev, "outcome") ? str_field(ev, "outcome") : "?",
                     str_field(ev, "state") ? str_field(ev, "state") : "?");
            return -1;
        }
        if (strcmp(e, "run_started") == 0)
            continue;
        if (strcmp(e, "transition") == 0) {
            int from = state_of(r, ev, "from", msg, msglen);
            int to = state_of(r, ev, "to", msg, msglen);
            if (from < 0 || to < 0)
                return -1;
            const char *reason = str_field(ev, "reason");
            const char *status = "ok";
            if (reason && strcmp(reason, "failure") == 0)
                status = "failed";
            else if (reason && strcmp(reason, "timeout") == 0)
                status = "timed_out";
            ls_run_state_set(r, from, "status", ls_string(status));
            rp_reset(rp, to);
            continue;
        }
        if (strcmp(e, "run_halted") == 0) {
            int s = state_of(r, ev, "state", msg, msglen);
            if (s < 0)
                return -1;
            const char *reason = str_field(ev, "reason");
            if (rp->state == s && rp->has_outcome && reason && strncmp(reason, "signal", 6) == 0 &&
                strncmp(rp->error, "cancelled by signal", 19) == 0) {
                rp->has_outcome = false;
                rp->unknown = true;
            }
            continue;
        }
        int s = state_of(r, ev, "state", msg, msglen);
        if (s < 0)
            return -1;
        if (strcmp(e, "state_entered") == 0) {
            rp_reset(rp, s);
            rp->entered = true;
            r->visits[s] = (int)int_field(ev, "visit");
            r->approved[s] = false;
            ls_run_state_set(r, s, "visits", ls_int(r->visits[s]));
            path_add(r, s);
        } else if (strcmp(e, "action_started") == 0) {
            rp->state = s;
            rp->attempt = (int)int_field(ev, "attempt");
            rp->unknown = true;
            rp->has_outcome = false;
            ls_run_state_set(r, s, "attempts", ls_int(rp->attempt));
        } else if (strcmp(e, "action_finished") == 0) {
            const char *st = str_field(ev, "status");
            const char *er = str_field(ev, "error");
            rp->unknown = false;
            rp->has_outcome = true;
            rp->simulated = st && strcmp(st, "simulated") == 0;
            rp->status = !st || strcmp(st, "ok") == 0 || rp->simulated ? LS_ACT_OK
                         : strcmp(st, "timed_out") == 0               ? LS_ACT_TIMED_OUT
                                                                      : LS_ACT_FAILED;
            ls_value_free(rp->result);
            ls_value res = ls_map_get(ev, "result");
            rp->result = res.kind == LS_MAP ? ls_value_copy(res) : ls_map_new();
            snprintf(rp->error, sizeof rp->error, "%s", er ? er : "");
            rp->finished_wall_ms = ls_wall_ms_of(str_field(ev, "ts"));
            ls_run_state_set(r, s, "result", ls_value_copy(rp->result));
            if (er != NULL)
                ls_run_state_set(r, s, "error", ls_string(er));
            r->simulated[s] = rp->simulated;
        } else if (strcmp(e, "approval") == 0) {
            r->approved[s] = true;
            rp->approved = true;
            snprintf(rp->approved_by, sizeof rp->approved_by, "%s via %s",
                     str_field(ev, "by") ? str_field(ev, "by") : "?", str_field(ev, "via") ? str_field(ev, "via") : "?");
        }
    }
    return 0;
}
