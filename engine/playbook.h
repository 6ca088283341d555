/*
 * A loaded, checked playbook: the output of the loader (load.c) and the
 * input of everything after it (graph, plan, run, test).  All names are
 * resolved to indexes at load time; all expressions and templates are
 * compiled; `defaults` are merged into each state.  The playbook owns
 * everything it points to; free it with ls_playbook_free.
 */
#ifndef LS_PLAYBOOK_H
#define LS_PLAYBOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <lockstep/value.h>
#include "diag.h"
#include "expr.h"
#include "registry.h"

typedef enum ls_ptype {
    LS_PT_STRING, LS_PT_INT, LS_PT_FLOAT, LS_PT_BOOL, LS_PT_LIST, LS_PT_MAP
} ls_ptype;

typedef struct ls_param {
    char *name;
    ls_loc loc;
    ls_ptype type;
    bool required;
    bool secret;
    bool has_default;
    ls_value def;
    char *env;            /* environment variable, or NULL */
    ls_value enum_vals;   /* list, or null */
    void *pattern;        /* pcre2_code*, or NULL */
    char *pattern_src;
    bool has_min, has_max;
    double min, max;
    char *description;
} ls_param;

typedef struct ls_guard {
    char *name;
    ls_loc loc;
    ls_expr *expr;
    char *description;
} ls_guard;

typedef struct ls_branch {
    ls_expr *cond; /* NULL: the final unconditional {goto} */
    int target;    /* state index */
    ls_loc loc;
} ls_branch;

typedef enum ls_terminal { LS_TERM_NONE = 0, LS_TERM_SUCCESS, LS_TERM_FAILURE } ls_terminal;

typedef struct ls_retry {
    int attempts;         /* >= 1 */
    int64_t delay_ms;
    double backoff;       /* >= 1; 1: constant */
    int64_t max_delay_ms; /* 0: none */
    ls_expr *until;       /* NULL: none */
} ls_retry;

typedef struct ls_state {
    char *name;
    ls_loc loc;            /* the state's key */
    char *description;
    char *phase;
    const ls_action *action; /* NULL: a decision or terminal state */
    ls_loc action_loc;
    ls_tmpl *with;         /* merged with defaults.with[family]; NULL when no action */
    void *prep;            /* action->prepare's output */
    ls_expr **requires; size_t nrequires;
    ls_expr **expect;   size_t nexpect;
    ls_retry retry;
    ls_expr *for_each;     /* a list: the action runs once per element; NULL: once */
    int64_t timeout_ms;    /* per attempt, defaults applied; 0: none */
    int next;              /* plain next: state index, or -1 */
    ls_branch *branches; size_t nbranches; /* a next list */
    int on_failure;        /* own or defaults.on_failure; -1: none */
    bool on_failure_own;   /* declared on the state itself */
    int on_timeout;        /* own; -1: falls back to on_failure */
    ls_tmpl *confirm;      /* a prompt template, or NULL */
    int mutates;           /* -1: ask the action; 0/1: state override */
    int idempotent;        /* -1: ask the action; 0/1: state override */
    bool has_dry_run;
    ls_value dry_run_result; /* map (or null without dry_run) */
    struct ls_state *landed; /* the `landed:` probe (action, with, expect, timeout), or NULL */
    ls_terminal terminal;
    int frame;             /* the playbook it comes from: pb->frames[frame] */
    struct ls_sub *sub;    /* a `playbook:` state (calls a child), or NULL */
    bool can_fail;         /* SPEC 2: requires, expect, confirm, or an action other than noop */
} ls_state;

/*
 * SUB-PLAYBOOKS (load_sub.c).  A state with `playbook: FILE` runs another
 * playbook as one step.  The loader loads the child (itself, recursively)
 * and splices its states into the caller's state array, named by path
 * ("backup/dump"), with every index moved to the caller's numbering: the
 * runner, the journal, resume, scenarios and the graph see one machine.
 * Each spliced playbook is a FRAME: its own params (bound from the call's
 * `with` when the call is entered), its own `states` namespace (local
 * names) and its own guards.  Frame 0 is the playbook itself.  Reaching a
 * child's terminal ends the call: the calling state is ok (success
 * terminal) or failed (failure terminal), with the result
 * {terminal, outcome, states}, and the caller's next/on_failure follows.
 */
typedef struct ls_sub {
    char *file;             /* as written in `playbook:` */
    char *path;             /* resolved against the caller's directory */
    ls_loc loc;             /* the `playbook:` value */
    struct ls_playbook *child; /* owned; its states moved into the caller's array */
    int start;              /* the child's start state, caller's numbering */
    int frame;              /* the child's frame, caller's numbering */
} ls_sub;

typedef struct ls_frame_def {
    const struct ls_playbook *pb; /* whose params, guards and compiled names apply */
    int call;               /* the calling state, -1 for frame 0 */
    int parent;             /* the caller's frame, -1 for frame 0 */
    size_t first;           /* the index of that playbook's state 0 */
    size_t prefix_len;      /* strlen("call/.../") of its states' names */
} ls_frame_def;

/* One entry of the top-level `notify:` list (notify.c). */
typedef struct ls_notify_spec {
    ls_tmpl *url;          /* a string template */
    ls_tmpl *headers;      /* a map template, or NULL */
    unsigned on;           /* event bits (notify.c) */
    bool insecure;
    ls_loc loc;
} ls_notify_spec;

typedef struct ls_playbook {
    char *path;            /* as given */
    char *dir;             /* its directory: environments/ lives there */
    char *name;
    char *description;
    char sha256[65];       /* of the file's bytes, hex */
    char *text; size_t text_len; /* the file's bytes, in the arena (copied into the run directory) */
    ls_param *params;  size_t nparams;
    ls_guard *guards;  size_t nguards;
    ls_state *states;  size_t nstates;  /* display order */
    int start;
    int64_t default_timeout_ms;  /* 0: none */
    bool confirm_mutating;       /* defaults.confirm_mutating (extension): confirm every mutating state */
    ls_notify_spec *notify; size_t nnotify; /* the top-level notify: list */
    /* The `release:` block, checked: a map with any of version (string),
     * upgrades_from (a range), schema {from, to}; empty without the block.
     * The `release` root of expressions reads it. */
    ls_value release;
    /* Resolved param values (when loaded with params checked). */
    ls_value param_values;       /* map */
    const char *env_name;        /* --env NAME, or NULL */
    /* Names, for compile envs and lookups. */
    const char **state_names;
    const char **param_names;
    const char **guard_names;
    size_t *name_slots;          /* state indexes by name hash, or NULL: a linear search */
    size_t name_mask;
    ls_diags *diags_owner;       /* keeps ls_loc.file strings alive */
    ls_frame_def *frames; size_t nframes; /* >= 1: frame 0 is this playbook */
    struct ls_deferred *dfr; size_t ndfr; /* a called playbook's scalars templated over params */
    struct ls_arena *arena;      /* the states, names, expressions and templates (arena.h) */
} ls_playbook;

/* Which playbooks are being loaded around this one: cycles and depth. */
typedef struct ls_load_chain {
    const char *real;               /* realpath of the file */
    const struct ls_load_chain *up; /* the caller, or NULL */
    int depth;                      /* 0 for the top playbook */
} ls_load_chain;
#define LS_SUB_DEPTH_MAX 16

typedef struct ls_load_opts {
    const char *path;
    const char *env_name;           /* --env NAME: environments/NAME.yaml beside the playbook */
    const char *const *values; size_t nvalues; /* --values FILE... */
    const char *const *sets; size_t nsets;     /* --set K=V... */
    bool check_params;              /* resolve and check param values (validate, plan, run) */
    bool ignore_process_env;        /* do not read params' `env:` variables (scenario tests) */
    const char *display_path;       /* the playbook's name in diagnostics, or NULL: path
                                     * (a bundle's "ARCHIVE!upgrade.yaml") */
    const ls_load_chain *chain;     /* set for a child playbook (load_sub.c) */
} ls_load_opts;

/* Loads, checks and compiles.  Every problem (errors and warnings) goes to
 * `d`, whose lifetime must cover the playbook's.  Returns NULL when there
 * was any error; warnings alone still return the playbook.  `d` borrows
 * the playbook's text for its excerpts (ls_diags_source_lend) until a
 * diagnostic is made against the file: add none after ls_playbook_free. */
ls_playbook *ls_playbook_load(const ls_load_opts *opts, ls_diags *d);
void ls_playbook_free(ls_playbook *pb);
/* A state's index by name (hashed), or -1. */
int ls_playbook_state_index(const ls_playbook *pb, const char *name);
/* The child's params for call state `call` from its rendered `with`:
 * defaults filled in, types and checks applied, secret values registered
 * with the redactor.  0, or -1 with msg (no secret value in it). */
int ls_sub_bind(const ls_playbook *pb, int call, ls_value given, ls_value *out, char *msg, size_t msglen);
/* Sets the called playbook's timeout and retry scalars written as
 * templates over its params (load_state.c), for this call's params.
 * 0, or -1 with msg. */
int ls_sub_deferred(ls_playbook *pb, int call, ls_value params, char *msg, size_t msglen);
/* A state's name inside its own playbook ("dump" for "backup/dump"). */
const char *ls_state_local_name(const ls_playbook *pb, int idx);
/* For the terminal of a child: the state that called the child, else -1. */
int ls_state_caller(const ls_playbook *pb, int idx);
/* Points fctx[1..nframes-1], the contexts of the called playbooks, at
 * their guards; returns the one array that holds them all (the caller
 * frees it once the contexts are done). */
ls_expr **ls_frame_guards(const ls_playbook *pb, ls_eval_ctx *fctx);
/* The failure target for a state (own on_failure, else defaults), or -1. */
int ls_state_failure_target(const ls_state *st);
/* Whether running this state changes the world, from the state override,
 * else the action (with constant inputs; templated inputs count as yes). */
bool ls_state_mutates_static(const ls_state *st);

/* The resolved params as they are shown (plan, the journal's run_started):
 * every secret param as "***", whatever its value, empty included. */
ls_value ls_params_masked(const ls_playbook *pb);

/* Secret param values are registered with the redactor (secret.h) by
 * ls_playbook_load as soon as they are resolved. */

#endif
