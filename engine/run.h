/*
 * The runner: walks a loaded playbook (SPEC 4, 5), writing the journal
 * before it acts.  Used by `run`, `resume` and, with canned results and no
 * journal, by `test` (SPEC 7).
 */
#ifndef LS_RUN_H
#define LS_RUN_H

#include <stdbool.h>
#include <lockstep/value.h>
#include "playbook.h"

typedef enum ls_output { LS_OUT_TEXT, LS_OUT_JSON } ls_output;

/* Exit codes, SPEC 4. */
enum { LS_EXIT_OK = 0, LS_EXIT_FAILURE = 1, LS_EXIT_USAGE = 2, LS_EXIT_HALTED = 3, LS_EXIT_LOCKED = 4 };

/* Supplies an attempt's outcome instead of running the action (scenario
 * tests).  Called for every state with an action; `attempt` counts from 1. */
typedef ls_act_status (*ls_fake_fn)(void *ud, const ls_state *st, int attempt,
                                    ls_value *result, ls_error *err);

typedef struct ls_run_opts {
    const char *state_dir;        /* NULL: $LOCKSTEP_STATE_DIR or ./.lockstep */
    bool dry_run;
    bool yes;                     /* approve everything */
    bool approve_all_silently;    /* scenario tests: approve: all */
    const char *const *approve; size_t napprove; /* --approve STATE */
    ls_output output;
    bool quiet;
    int64_t heartbeat_ms;         /* stderr not a TTY: a progress line this often (0: none) */
    /* Scenario tests: canned results, no journal, no lock, no output. */
    ls_fake_fn fake; void *fake_ud;
    bool no_journal;
    /* resume */
    const char *resume_id;
    const char *const *assume; size_t nassume; /* "STATE=ok|failed" */
} ls_run_opts;

typedef struct ls_run_report {
    int exit_code;
    ls_terminal outcome;      /* NONE when halted or errored before a terminal */
    int final_state;          /* index, or -1 */
    int *path; size_t npath;  /* states entered, in order (malloc'd) */
    char run_id[64];
    char error[1024];
} ls_run_report;

int ls_run(ls_playbook *pb, const ls_run_opts *opts, ls_run_report *report);
void ls_run_report_free(ls_run_report *r);

#endif
