/*
 * Rebuilding a run from its journal (SPEC 5 "resume"): the journal's fold
 * (journal.h, fold.c) is applied to the runner: the states map (status,
 * result, attempts, error, visits), the path, which results were
 * simulated, approvals in the current visit, and the point to continue
 * from.  Results come back whole (blobs), so a resumed run decides on
 * exactly what the original run saw.
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

static void rp_clear(ls_resume_point *rp)
{
    ls_value_free(rp->result);
    memset(rp, 0, sizeof *rp);
    rp->state = -1;
    rp->result = ls_null();
}

int ls_resume_apply(ls_runner *r, const ls_fold *fp, char *msg, size_t msglen)
{
    const ls_fold f = *fp;
    int rc = -1;
    int *pos = NULL;
    if (f.end == LS_EV_RUN_FINISHED) {
        const char *o = ls_str_ptr(ls_map_get(f.end_event, "outcome"));
        const char *s = ls_str_ptr(ls_map_get(f.end_event, "state"));
        snprintf(msg, msglen, "run %s already finished (%s at %s): nothing to resume", r->run_id, o[0] ? o : "?",
                 s[0] ? s : "?");
        goto out;
    }
    /* Each journaled state to its index in the playbook, once. */
    pos = malloc((f.nstates + 1) * sizeof *pos);
    if (pos == NULL) {
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < f.nstates; i++) {
        pos[i] = ls_playbook_state_index(r->pb, f.states[i].name);
        if (pos[i] < 0) {
            snprintf(msg, msglen, "the journal names a state '%s' the playbook does not have", f.states[i].name);
            goto out;
        }
    }
    for (size_t i = 0; i < f.nstates; i++) {
        const ls_fold_state *fs = &f.states[i];
        int s = pos[i];
        ls_value e = ls_map_new();
        if (fs->status != NULL && strcmp(fs->status, "running") != 0 && strcmp(fs->status, "halted") != 0)
            ls_map_set(&e, "status", ls_string(fs->status));
        if (fs->attempts)
            ls_map_set(&e, "attempts", ls_int(fs->attempts));
        if (fs->visits)
            ls_map_set(&e, "visits", ls_int(fs->visits));
        if (fs->result.kind != LS_NULL)
            ls_map_set(&e, "result", ls_value_copy(fs->result));
        if (fs->error.kind == LS_STRING)
            ls_map_set(&e, "error", ls_value_copy(fs->error));
        ls_run_state_put(r, s, e);
        r->visits[s] = (int)fs->visits;
        r->simulated[s] = fs->simulated;
        r->approved[s] = fs->approved;
    }
    ls_run_report *rep = r->rep;
    if (f.npath) {
        rep->path = malloc(f.npath * sizeof *rep->path);
        if (rep->path == NULL) {
            snprintf(msg, msglen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < f.npath; i++)
            rep->path[i] = pos[f.path[i]];
        rep->npath = r->npath_cap = f.npath;
    }
    ls_resume_point *rp = &r->rp;
    rp_clear(rp);
    rp->state = f.pt.at >= 0 ? pos[f.pt.at] : r->pb->start;
    rp->entered = f.pt.entered;
    rp->attempt = (int)f.pt.attempt;
    rp->unknown = f.pt.unknown;
    rp->rerun = f.pt.rerun;
    rp->has_outcome = f.pt.has_outcome;
    if (f.pt.has_outcome) {
        const char *st = f.pt.status;
        rp->simulated = f.pt.simulated;
        rp->status = strcmp(st, "ok") == 0 || rp->simulated ? LS_ACT_OK
                     : strcmp(st, "timed_out") == 0        ? LS_ACT_TIMED_OUT
                                                           : LS_ACT_FAILED;
        rp->result = f.pt.result.kind == LS_MAP ? ls_value_copy(f.pt.result) : ls_map_new();
        snprintf(rp->error, sizeof rp->error, "%s", f.pt.error);
        rp->finished_wall_ms = f.pt.finished_ms;
    }
    /* A for_each state continues at the element of that attempt; the
     * results of the elements before it come back, and they do not run
     * again (run.c run_for_each). */
    ls_value_free(r->each.items);
    r->each.items = ls_null();
    if (f.pt.at >= 0 && f.pt.item >= 0) {
        ls_value done = f.states[f.pt.at].each;
        r->each.items = ls_list_new();
        for (size_t i = 0; i < ls_list_len(done) && (int64_t)i < f.pt.item; i++)
            ls_list_push(&r->each.items, ls_value_copy(ls_list_at(done, i)));
    }
    if (f.pt.at >= 0 && f.pt.entered) {
        const ls_fold_state *fs = &f.states[f.pt.at];
        rp->approved = fs->approved;
        if (fs->approved)
            snprintf(rp->approved_by, sizeof rp->approved_by, "%s via %s",
                     fs->approved_by_user ? fs->approved_by_user : "?", fs->approved_via ? fs->approved_via : "?");
    }
    rc = 0;
out:
    free(pos);
    return rc;
}
