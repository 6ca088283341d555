/*
 * The action library: ONE table of built-in actions (SPEC 6), read by the
 * validator (inputs), the runner (function, mutates, idempotent),
 * `lockstep actions` and the docs check.  Each action family lives in its
 * own file (act_core.c, act_http.c, act_mongo.c, act_kubectl.c,
 * act_docker.c, act_text.c) and exports its rows; registry.c joins them.
 */
#ifndef LS_REGISTRY_H
#define LS_REGISTRY_H

#include <signal.h>
#include <lockstep/plugin.h> /* ls_act_status, ls_action_fn, the call's accessors */
#include <lockstep/value.h>
#include "diag.h"
#include "expr.h"

/* An input an action takes.  `type` is one of: "string", "int", "bool",
 * "list", "map", "duration" (string or int seconds), "string|list", "any".
 * `def` is the default as JSON text (NULL: none). */
typedef struct ls_input {
    const char *name;
    const char *type;
    bool required;
    const char *def;
    const char *doc;
} ls_input;

/* A field of an action's result document, for docs and `lockstep actions`. */
typedef struct ls_field {
    const char *name;
    const char *type;
    const char *doc;
} ls_field;

struct ls_runner;

/* One attempt of one action. */
typedef struct ls_call {
    const char *state;        /* the state's name */
    ls_value inputs;          /* rendered map: family defaults and input defaults applied (borrowed) */
    int64_t timeout_ms;       /* per attempt; 0: none */
    int64_t deadline_ms;      /* ls_now_ms() value when it times out; 0: none */
    const volatile sig_atomic_t *cancel; /* non-zero: stop now, return LS_ACT_CANCELLED */
    void *prep;               /* what the action's prepare hook made at load time */
    struct ls_runner *runner; /* NULL in unit tests: actions must cope */
    bool dry_run;             /* probes only ever see this set */
    bool interactive;         /* stdin and stderr are a TTY */
    /* Approval happens in the runner BEFORE the action is called (confirm
     * states and manual.confirm alike: --yes, --approve, dry run or TTY);
     * this says who approved ("alice via tty"), NULL when none was needed. */
    const char *approved_by;
} ls_call;

/* An action's function (ls_action_fn, <lockstep/plugin.h>) runs the
 * action.  *result is always set to a map (possibly empty) that the caller
 * owns, also on failure (exec's exit_code, http's status).  On failure
 * err->msg says what was attempted (program and argv, method, URL and
 * status, collection and server error). */

/* Load-time hook: checks constant inputs beyond name/type/required (enum
 * values, one-of groups, regexes) and may prepare data (compiled
 * patterns) handed back as call->prep.  Adds problems to `d`; returns 0 or
 * -1.  `with` is the state's merged input tree; `loc` is the `with` key (or
 * the action) place. */
typedef int (*ls_prepare_fn)(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep);

typedef struct ls_action {
    const char *name;      /* "kubectl.rollout" */
    const char *family;    /* "kubectl": selects defaults.with.FAMILY and family inputs */
    const char *doc;       /* one line */
    const ls_input *inputs;   /* terminated by {NULL} */
    const ls_field *results;  /* terminated by {NULL} */
    const char *fails_when;
    bool mutates;
    bool idempotent;
    /* Optional: decides `mutates` from the rendered inputs (http method,
     * kubectl.rollout verb, mongo.command's `mutates` input). */
    bool (*mutates_fn)(ls_value inputs);
    ls_prepare_fn prepare;          /* optional */
    void (*prep_free)(void *prep);  /* optional */
    ls_action_fn run;               /* NULL in a plugin family: see ls_action_runner */
    /* Optional: decides `idempotent` from the rendered inputs when the
     * flag is false (mongo.restore with drop: running it again gives the
     * same database). */
    bool (*idempotent_fn)(ls_value inputs);
} ls_action;

/* A family's shared inputs (SPEC 6 "Family defaults"), and the plugin
 * its actions' code lives in (plugin.h; NULL: built in, `run` is set). */
typedef struct ls_family {
    const char *name;
    const ls_input *inputs; /* terminated by {NULL} */
    const char *plugin;
} ls_family;

/* Each family file exports a NULL-name-terminated array. */
extern const ls_action ls_actions_core[];    /* exec shell wait noop manual.confirm */
extern const ls_action ls_actions_http[];
extern const ls_action ls_actions_mongo[];
extern const ls_action ls_actions_kubectl[];
extern const ls_action ls_actions_docker[];
extern const ls_action ls_actions_text[];    /* log.scan env.check time.window */
extern const ls_family ls_families[];        /* registry.c */
/* The result of an action that runs one program and reports it as `exec`
 * does (exec, shell, kubectl.rollout/set_image/run, docker.*): exit_code,
 * stdout, stderr, duration_ms, truncated.  Defined in act_core.c. */
extern const ls_field ls_program_results[];

/* "ok", "failed", "timed_out", "cancelled", "interrupted". */
const char *ls_act_status_name(ls_act_status s);
const ls_action *ls_action_find(const char *name);
size_t ls_action_count(void);
const ls_action *ls_action_at(size_t i);      /* sorted by name */
const ls_family *ls_family_find(const char *name);
/* The input spec of `name` for action `a`, own or family; NULL if none. */
const ls_input *ls_action_input(const ls_action *a, const char *name);
/* The function that runs `a`: its own, or its plugin's (loaded on first
 * use); NULL with err set when the plugin cannot be loaded. */
ls_action_fn ls_action_runner(const ls_action *a, ls_error *err);
/* Fills defaults of absent inputs (a rendered map, changed in place). */
void ls_action_apply_defaults(const ls_action *a, ls_value *inputs);
/* Does this call change the world? */
bool ls_action_mutates(const ls_action *a, ls_value inputs);
/* Checks a rendered input map against declared types; 0 or -1 with err. */
int ls_action_check_types(const ls_action *a, ls_value inputs, ls_error *err);

/* Per-run caches for actions (one mongoc client per URI per run:
 * ls_call_cache_get/put in <lockstep/plugin.h>).  Without a runner (unit
 * tests) objects go to a process-wide list freed by
 * ls_call_cache_clear(NULL).  ls_now_ms and ls_call_remaining_ms are
 * there too. */
void ls_call_cache_clear(struct ls_runner *runner);

#endif
