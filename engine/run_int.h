/*
 * The runner's inside, shared by run.c (the machine), run_out.c (terminal
 * output, approvals, the live counter) and resume.c (rebuilding a run from
 * its journal).  Not part of any other stage's contract.
 */
#ifndef LS_RUN_INT_H
#define LS_RUN_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <lockstep/value.h>

#include "journal.h"
#include "run.h"

/* One guard, expect, until, requires or branch decision, or a probe's
 * outcome, for the dry-run summary: was it decided on real data, on a
 * simulated result, or on a read of the system a simulated change would
 * have changed (run_taint.c)? */
typedef struct ls_decision {
    int state;
    char kind[12];  /* requires, expect, until, branch, outcome */
    char *text;     /* guard name, expression source, or "ACTION succeeded" */
    bool value;
    int basis;      /* LS_BASIS_* */
    char *sim_from; /* a simulated state it read, or NULL */
    int *unchanged_by; size_t nunchanged; /* simulated states that would have changed what it read */
} ls_decision;

enum {
    LS_BASIS_NONE = 0,      /* params and run data only */
    LS_BASIS_REAL = 1,      /* probes that ran, on the system as it is */
    LS_BASIS_SIMULATED = 2, /* a dry_run.result */
    LS_BASIS_FLAG = 3,      /* run.dry_run decided it */
    LS_BASIS_UNCHANGED = 4  /* a read made after a simulated change to what it read */
};

typedef struct ls_taint ls_taint; /* run_taint.c */

/* Where a resumed run continues (resume.c fills it from the journal). */
typedef struct ls_resume_point {
    int state;            /* -1: none */
    bool entered;         /* the state's state_entered is in the journal */
    bool approved;        /* an approval was given in this visit */
    char approved_by[256]; /* "USER via VIA" of that approval */
    int attempt;          /* last attempt started; 0: none */
    bool unknown;         /* that attempt's outcome is unknown (crash or signal) */
    bool rerun;           /* the operator or a landed: probe said to run it again */
    bool has_outcome;     /* that attempt finished: re-evaluate it */
    ls_act_status status;
    bool simulated;
    ls_value result;      /* owned */
    char error[1024];
    int64_t finished_wall_ms; /* when that attempt finished (epoch ms), 0: unknown */
} ls_resume_point;

/* A for_each state's progress (run.c run_for_each). */
typedef struct ls_each {
    bool on;              /* running the elements of a for_each state */
    int64_t index;        /* the element being run */
    ls_value items;       /* the results of elements 0..index-1: owned when
                           * resume.c sets it for the state it continues
                           * (run_for_each takes it), borrowed from
                           * run_for_each while an element runs */
    bool element_ok;      /* succeed() says the element passed */
    char approved_by[256]; /* the approval of the first element, for the rest */
} ls_each;

typedef struct ls_runner {
    ls_playbook *pb;
    const ls_run_opts *opts;
    ls_run_report *rep;
    ls_eval_ctx ctx;        /* params, states, run: frame 0 */
    ls_eval_ctx *fctx;      /* frames 1.. (sub-playbooks, playbook.h): [0] unused, NULL without */
    ls_expr **fguards;      /* their guards, one array */
    ls_journal j;
    bool journaling;
    int lock_fd;
    char run_id[LS_RUN_ID_MAX];
    char started_at[32];
    bool dry_run;
    bool fake;
    bool text;              /* human output on stderr/stdout */
    bool tty;               /* stdin and stderr are a TTY: approvals can ask */
    int *visits;            /* per state */
    bool *simulated;        /* per state: its result came from dry_run.result */
    bool *approved;         /* per state: approved in the current visit */
    ls_decision *dec; size_t ndec, capdec;
    ls_taint *taint;        /* dry run: simulated changes and what they would have changed */
    char lock_holder[512];  /* dry run: the real run holding the lock when it started, or "" */
    int64_t t0;
    int64_t state_t0;
    size_t npath_cap;
    ls_resume_point rp;
    bool resuming;
    ls_each each;
} ls_runner;

/* The cancel flag, set by SIGINT/SIGTERM; the signal's number. */
extern volatile sig_atomic_t ls_run_cancel;
extern volatile sig_atomic_t ls_run_signal;

/* run.c */
/* Makes the journal durable now (group commit: journal.h).  0 or -1. */
int ls_run_sync(ls_runner *r);
int ls_run_emit(ls_runner *r, ls_event event, ls_value fields); /* takes fields; 0 or -1 */
void ls_run_state_set(ls_runner *r, int idx, const char *key, ls_value v); /* takes v */
/* State idx's evaluation context (its playbook's frame), its record in
 * that frame's `states` (borrowed), and a record put there (taken). */
ls_eval_ctx *ls_run_ctx(ls_runner *r, int idx);
ls_value ls_run_state_rec(ls_runner *r, int idx);
void ls_run_state_put(ls_runner *r, int idx, ls_value rec);

/* run_approve.c */
bool ls_run_state_mutates(const ls_state *st, ls_value inputs);
bool ls_run_state_idempotent(const ls_state *st, ls_value inputs);
bool ls_run_needs_approval(const ls_runner *r, const ls_state *st, ls_value inputs);
/* The prompt (malloc'd), or NULL with msg when `confirm` fails to render. */
char *ls_run_approval_prompt(ls_runner *r, const ls_state *st, ls_value inputs, char *msg, size_t msglen);
/* 1 approved (by_out = "USER via VIA", journaled), 0 refused on the TTY,
 * 2 no way to approve: the run halts. */
int ls_run_approve(ls_runner *r, int idx, const char *prompt, char *by_out, size_t bylen);

/* run_out.c */
void ls_out_begin(ls_runner *r);
void ls_out_state_start(ls_runner *r, int idx);
void ls_out_state_end(ls_runner *r, int idx, const char *status, int attempts, const char *error);
void ls_out_retry(ls_runner *r, int idx, int attempt, int max, const char *why, int64_t delay_ms);
void ls_out_transition(ls_runner *r, int from, int to, const char *reason);
void ls_out_final(ls_runner *r, const char *what, int state, const char *detail);
/* A dry run's decisions as a list of maps, for run_finished/run_halted. */
ls_value ls_out_decisions(const ls_runner *r);
void ls_out_error(ls_runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* While an action runs: on a TTY a live line (what is awaited, elapsed
 * and remaining time, the program's last output line); else a heartbeat
 * line every opts->heartbeat_ms.  A retry delay counts down the same way
 * (ls_out_wait_start).  ls_out_live_stop ends either. */
void ls_out_live_start(ls_runner *r, int idx, int attempt);
void ls_out_wait_start(ls_runner *r, int idx, int next_attempt, int64_t delay_ms);
void ls_out_live_stop(ls_runner *r);
const char *ls_out_user(void);
/* Asks PROMPT [y/N] on /dev/tty: 1 yes, 0 no, -1 no terminal. */
int ls_out_ask(const char *prompt);
const char *ls_signal_name(int sig);

/* notify.c: tells the playbook's notify: entries that listen for `event`
 * (started, approval_needed, halted, succeeded, failed); never fails. */
void ls_notify(ls_runner *r, const char *event, int state, const char *outcome, const char *message);

/* Epoch milliseconds now. */
int64_t ls_wall_ms(void);

/* run_taint.c (dry runs only; no-ops otherwise).  After each attempt: a
 * simulated one records a change, a real one what changes it missed. */
void ls_taint_note(ls_runner *r, int idx, ls_value inputs, bool simulated);
void ls_taint_resumed(ls_runner *r); /* after a resumed dry run's replay */
/* The simulated states whose change state idx's current result missed. */
size_t ls_taint_of(const ls_runner *r, int idx, const int **by);
int ls_taint_sim_source(const ls_runner *r, int idx); /* a simulated state its inputs read, or -1 */
bool ls_taint_reads_world(const ls_state *st);        /* its action reads something outside lockstep */
void ls_taint_free(ls_runner *r);

/* resume.c: applies the journal's fold to r (states map, visits, path,
 * rp).  0, or -1 with msg (refusal: exit 2). */
int ls_resume_apply(ls_runner *r, const ls_fold *f, char *msg, size_t msglen);

#endif
