/*
 * `lockstep plan`, `run`, `resume` and `status` (SPEC 4, 5): option
 * parsing, loading, and the one place their errors are reported.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cli.h"
#include "cli_opts.h"
#include "journal.h"
#include "plan.h"
#include "run.h"
#include "secret.h"

#define MAX_LIST 256

typedef struct strlist {
    const char *v[MAX_LIST];
    size_t n;
} strlist;

typedef struct cli_opts {
    const char *pos[4];
    size_t npos;
    strlist sets, approve, assume;
    bool dry_run, yes, quiet, verify, help;
    const char *state_dir;
    const char *output;
    const char *compare_env; /* plan --compare-env NAME */
} cli_opts;

/* The command's own options (plan and run take the shared ones through
 * cli_opts.h; resume takes --set itself: it has no PLAYBOOK). */
enum { O_SET = 1, O_RUN = 2, O_STATEDIR = 4, O_OUTPUT = 8, O_QUIET = 16, O_ASSUME = 32, O_VERIFY = 64,
       O_APPROVE = 128, O_COMPARE = 256 };

static int push(strlist *l, const char *v, const char *opt)
{
    if (l->n == MAX_LIST) {
        fprintf(stderr, "lockstep: too many %s options (at most %d)\n", opt, MAX_LIST);
        return -1;
    }
    l->v[l->n++] = v;
    return 0;
}

/* Parses argv[1..] (argv[0] is the command).  "--opt value" and
 * "--opt=value" both work.  Returns 0, or -1 after printing why. */
static int parse(int argc, char **argv, unsigned allowed, size_t maxpos, cli_opts *o, ls_cli_opts *shared)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (shared != NULL) {
            /* PLAYBOOK --env --values --set --strict: the loader's shared parser. */
            int j = i;
            int t = ls_cli_opts_take(shared, argv[0], argc, argv, &j);
            if (t < 0)
                return -1;
            if (t > 0) {
                i = j - 1;
                continue;
            }
        }
        char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (o->npos >= maxpos) {
                fprintf(stderr, "lockstep %s: unexpected argument '%s'\n", argv[0], a);
                return -1;
            }
            o->pos[o->npos++] = a;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
            continue;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (eq)
            val = eq + 1;
        struct { const char *n; unsigned bit; bool takes; } table[] = {
            {"--set", O_SET, true}, {"--dry-run", O_RUN, false}, {"--yes", O_APPROVE, false},
            {"--approve", O_APPROVE, true}, {"--state-dir", O_STATEDIR, true}, {"--output", O_OUTPUT, true},
            {"--quiet", O_QUIET, false}, {"--assume", O_ASSUME, true}, {"--verify", O_VERIFY, false},
            {"--compare-env", O_COMPARE, true},
        };
        size_t k = 0;
        for (; k < sizeof table / sizeof table[0]; k++)
            if (strcmp(table[k].n, name) == 0)
                break;
        if (k == sizeof table / sizeof table[0] || !(allowed & table[k].bit)) {
            fprintf(stderr, "lockstep %s: unknown option '%s' (see lockstep %s --help)\n", argv[0], name, argv[0]);
            return -1;
        }
        if (table[k].takes && val == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lockstep %s: %s needs a value\n", argv[0], name);
                return -1;
            }
            val = argv[++i];
        } else if (!table[k].takes && val != NULL) {
            fprintf(stderr, "lockstep %s: %s takes no value\n", argv[0], name);
            return -1;
        }
        int rc = 0;
        if (strcmp(name, "--set") == 0) rc = push(&o->sets, val, name);
        else if (strcmp(name, "--dry-run") == 0) o->dry_run = true;
        else if (strcmp(name, "--yes") == 0) o->yes = true;
        else if (strcmp(name, "--approve") == 0) rc = push(&o->approve, val, name);
        else if (strcmp(name, "--state-dir") == 0) o->state_dir = val;
        else if (strcmp(name, "--output") == 0) o->output = val;
        else if (strcmp(name, "--quiet") == 0) o->quiet = true;
        else if (strcmp(name, "--assume") == 0) rc = push(&o->assume, val, name);
        else if (strcmp(name, "--verify") == 0) o->verify = true;
        else if (strcmp(name, "--compare-env") == 0) o->compare_env = val;
        if (rc != 0)
            return -1;
        if (strcmp(name, "--set") == 0 && strchr(val, '=') == NULL) {
            fprintf(stderr, "lockstep %s: --set needs K=V, got '%s'\n", argv[0], val);
            return -1;
        }
    }
    if (o->output && strcmp(o->output, "text") != 0 && strcmp(o->output, "json") != 0) {
        fprintf(stderr, "lockstep %s: --output is text or json, not '%s'\n", argv[0], o->output);
        return -1;
    }
    return 0;
}

/* Loads the playbook of a run being resumed: its recorded env, its
 * params.json as a values file, then --set (secrets come from there or
 * from their env variables). */
static ls_playbook *load(const char *path, const char *env, const strlist *values, const strlist *sets,
                         ls_diags *d)
{
    ls_load_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.path = path;
    lo.env_name = env;
    lo.values = values->v;
    lo.nvalues = values->n;
    lo.sets = sets->v;
    lo.nsets = sets->n;
    lo.check_params = true;
    ls_playbook *pb = ls_playbook_load(&lo, d);
    size_t errors = ls_diags_print(d, stderr, false, true);
    if (pb != NULL && errors > 0) {
        ls_playbook_free(pb);
        pb = NULL;
    }
    return pb;
}

static int check_states(const ls_playbook *pb, const strlist *names, const char *opt, bool with_value)
{
    for (size_t i = 0; i < names->n; i++) {
        const char *a = names->v[i];
        char name[256];
        size_t n = with_value && strchr(a, '=') ? (size_t)(strchr(a, '=') - a) : strlen(a);
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, a, n);
        name[n] = '\0';
        if (ls_playbook_state_index(pb, name) < 0) {
            fprintf(stderr, "lockstep: %s %s: the playbook has no state '%s'\n", opt, a, name);
            return -1;
        }
        if (with_value) {
            const char *v = a + n;
            if (strcmp(v, "=ok") != 0 && strcmp(v, "=failed") != 0) {
                fprintf(stderr, "lockstep: %s %s: say STATE=ok or STATE=failed\n", opt, a);
                return -1;
            }
        }
    }
    return 0;
}

static const char plan_help[] =
    "usage: lockstep plan PLAYBOOK [--env NAME] [--values FILE]... [--set K=V]... [--strict]\n"
    "                     [--compare-env OTHER] [--trust KEY.pem]\n"
    "prints every state with its action and inputs rendered (secrets as ***), guards and\n"
    "transitions; runs nothing and connects to nothing.\n"
    "  --compare-env OTHER  the plans of --env NAME and environment OTHER side by side,\n"
    "                       only what differs (params, inputs, confirmations, timeouts)\n"
    "PLAYBOOK may be a release bundle (lockstep bundle); --trust KEY.pem requires its\n"
    "signature.\n";

int ls_cmd_plan(int argc, char **argv)
{
    cli_opts o;
    ls_cli_opts shared;
    ls_cli_opts_init(&shared);
    int code = LS_EXIT_USAGE;
    if (parse(argc, argv, O_COMPARE, 0, &o, &shared) != 0)
        goto out;
    if (o.help) {
        fputs(plan_help, stdout);
        code = 0;
        goto out;
    }
    if (ls_cli_opts_finish(&shared, argv[0]) != 0)
        goto out;
    if (o.compare_env && !shared.load.env_name) {
        fprintf(stderr, "lockstep plan: --compare-env %s compares with --env NAME: give both\n", o.compare_env);
        goto out;
    }
    ls_diags d;
    ls_diags_init(&d);
    ls_playbook *pb = ls_cli_load(&shared, true, &d, stderr);
    if (pb != NULL && o.compare_env) {
        /* The same playbook (and values, --set) in the other environment. */
        ls_cli_opts other = shared;
        other.load.env_name = o.compare_env;
        ls_diags d2;
        ls_diags_init(&d2);
        ls_playbook *pb2 = ls_cli_load(&other, true, &d2, stderr);
        if (pb2 != NULL)
            code = ls_plan_compare(pb, pb2, stdout) == 0 ? 0 : LS_EXIT_USAGE;
        ls_playbook_free(pb2);
        ls_playbook_free(pb);
        ls_diags_free(&d2);
    } else if (pb != NULL) {
        ls_plan_print(pb, stdout);
        ls_playbook_free(pb);
        code = 0;
    }
    ls_diags_free(&d);
out:
    ls_cli_opts_free(&shared);
    return code;
}

static const char run_help[] =
    "usage: lockstep run PLAYBOOK [--env NAME] [--values FILE]... [--set K=V]... [--strict]\n"
    "                    [--dry-run] [--yes] [--approve STATE]... [--state-dir DIR]\n"
    "                    [--output text|json] [--quiet]\n"
    "exit: 0 success, 1 failure, 2 invalid input, 3 halted (resumable), 4 locked\n";

static void fill_run_opts(const cli_opts *o, ls_run_opts *ro)
{
    memset(ro, 0, sizeof *ro);
    ro->state_dir = o->state_dir;
    ro->dry_run = o->dry_run;
    ro->yes = o->yes;
    ro->approve = o->approve.v;
    ro->napprove = o->approve.n;
    ro->output = o->output && strcmp(o->output, "json") == 0 ? LS_OUT_JSON : LS_OUT_TEXT;
    ro->quiet = o->quiet;
    ro->assume = o->assume.v;
    ro->nassume = o->assume.n;
}

int ls_cmd_run(int argc, char **argv)
{
    cli_opts o;
    ls_cli_opts shared;
    ls_cli_opts_init(&shared);
    int code = LS_EXIT_USAGE;
    if (parse(argc, argv, O_RUN | O_APPROVE | O_STATEDIR | O_OUTPUT | O_QUIET, 0, &o, &shared) != 0)
        goto out;
    if (o.help) {
        fputs(run_help, stdout);
        code = 0;
        goto out;
    }
    if (ls_cli_opts_finish(&shared, argv[0]) != 0)
        goto out;
    ls_diags d;
    ls_diags_init(&d);
    ls_playbook *pb = ls_cli_load(&shared, true, &d, stderr);
    if (pb != NULL) {
        if (check_states(pb, &o.approve, "--approve", false) == 0) {
            ls_run_opts ro;
            fill_run_opts(&o, &ro);
            ls_run_report rep;
            code = ls_run(pb, &ro, &rep);
            ls_run_report_free(&rep);
        }
        ls_playbook_free(pb);
    }
    ls_diags_free(&d);
out:
    ls_cli_opts_free(&shared);
    return code;
}

static const char resume_help[] =
    "usage: lockstep resume RUN_ID [--state-dir DIR] [--yes] [--approve STATE]...\n"
    "                       [--assume STATE=ok|failed]... [--set K=V]... [--output text|json] [--quiet]\n"
    "continues a halted or interrupted run from its journal.  Secret params are read again\n"
    "from their env variables or --set; the playbook must be unchanged.\n";

int ls_cmd_resume(int argc, char **argv)
{
    cli_opts o;
    if (parse(argc, argv, O_SET | O_APPROVE | O_STATEDIR | O_OUTPUT | O_QUIET | O_ASSUME, 1, &o, NULL) != 0)
        return LS_EXIT_USAGE;
    if (o.help) {
        fputs(resume_help, stdout);
        return 0;
    }
    if (o.npos != 1) {
        fputs(resume_help, stderr);
        return LS_EXIT_USAGE;
    }
    const char *id = o.pos[0];
    const char *sd = ls_journal_state_dir(o.state_dir);
    ls_error err;
    ls_error_clear(&err);
    ls_value events = ls_null();
    if (ls_journal_read(sd, id, &events, &err) != 0) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        return LS_EXIT_USAGE;
    }
    ls_value first = ls_list_at(events, 0);
    size_t n = ls_list_len(events);
    ls_value last = n ? ls_list_at(events, n - 1) : ls_null();
    int code = LS_EXIT_USAGE;
    char path[4096] = "", sha[80] = "", env[256] = "", params[4300];
    bool has_env = false;
    ls_bundle *bundle = NULL;
    if (strcmp(ls_str_ptr(ls_map_get(first, "event")), "run_started") != 0) {
        fprintf(stderr, "lockstep: the journal of run %s does not start with run_started\n", id);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ls_value ev = ls_list_at(events, i);
        if (strcmp(ls_str_ptr(ls_map_get(ev, "event")), "run_finished") == 0) {
            fprintf(stderr, "lockstep: run %s already finished (%s at %s): refusing to resume it\n", id,
                    ls_str_ptr(ls_map_get(ev, "outcome")), ls_str_ptr(ls_map_get(ev, "state")));
            goto out;
        }
    }
    (void)last;
    snprintf(path, sizeof path, "%s", ls_str_ptr(ls_map_get(first, "path")));
    if (ls_map_get(first, "bundle").kind == LS_STRING) {
        /* A run from a release bundle: its extracted files are gone; open
         * the bundle again (checked as before) and insist it is the same. */
        const char *archive = ls_str_ptr(ls_map_get(first, "bundle"));
        bundle = ls_bundle_open(archive, NULL, NULL, NULL, 0, "resume");
        if (bundle == NULL)
            goto out;
        const char *was = ls_str_ptr(ls_map_get(first, "bundle_manifest_sha256"));
        if (strcmp(ls_bundle_get_info(bundle)->manifest_sha256, was) != 0) {
            fprintf(stderr, "lockstep: cannot resume run %s: the bundle %s changed since the run started "
                            "(manifest sha256 %.12s..., now %.12s...)\n", id, archive, was,
                    ls_bundle_get_info(bundle)->manifest_sha256);
            goto out;
        }
        snprintf(path, sizeof path, "%s", ls_bundle_playbook(bundle));
    }
    snprintf(sha, sizeof sha, "%s", ls_str_ptr(ls_map_get(first, "sha256")));
    if (ls_map_get(first, "env").kind == LS_STRING) {
        snprintf(env, sizeof env, "%s", ls_str_ptr(ls_map_get(first, "env")));
        has_env = true;
    }
    snprintf(params, sizeof params, "%s/runs/%s/params.json", sd, id);
    {
        strlist values;
        memset(&values, 0, sizeof values);
        values.v[values.n++] = params;
        ls_diags d;
        ls_diags_init(&d);
        ls_playbook *pb = load(path, has_env ? env : NULL, &values, &o.sets, &d);
        if (pb == NULL) {
            fprintf(stderr, "lockstep: cannot resume run %s: its playbook %s or params do not load "
                            "(secret params must come from their env variable or --set)\n", id, path);
        } else if (strcmp(pb->sha256, sha) != 0) {
            fprintf(stderr, "lockstep: cannot resume run %s: the playbook %s changed since the run started "
                            "(sha256 %.12s..., now %.12s...)\n", id, path, sha, pb->sha256);
        } else if (check_states(pb, &o.approve, "--approve", false) == 0 &&
                   check_states(pb, &o.assume, "--assume", true) == 0) {
            ls_run_opts ro;
            fill_run_opts(&o, &ro);
            ro.resume_id = id;
            ls_run_report rep;
            code = ls_run(pb, &ro, &rep);
            ls_run_report_free(&rep);
        }
        if (pb)
            ls_playbook_free(pb);
        ls_diags_free(&d);
    }
out:
    ls_bundle_close(bundle);
    ls_value_free(events);
    return code;
}

/* ---- status ---- */

static const char status_help[] =
    "usage: lockstep status [RUN_ID] [--state-dir DIR] [--output text|json] [--verify]\n"
    "lists runs, shows one run's states, or (--verify RUN_ID) checks its journal's hash chain:\n"
    "exit 0 intact, 1 broken (the first bad line is named).\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* {run_id, playbook, env, started, dry_run, outcome} for one run. */
static ls_value run_row(const char *sd, const char *id, ls_value events)
{
    ls_value first = ls_list_at(events, 0);
    ls_value row = ls_map_new();
    ls_map_set(&row, "run_id", ls_string(id));
    ls_map_set(&row, "playbook", ls_value_copy(ls_map_get(first, "playbook")));
    ls_map_set(&row, "env", ls_value_copy(ls_map_get(first, "env")));
    ls_map_set(&row, "started", ls_value_copy(ls_map_get(first, "ts")));
    ls_map_set(&row, "dry_run", ls_bool(ls_map_get(first, "dry_run").kind == LS_BOOL && ls_map_get(first, "dry_run").u.b));
    const char *outcome = NULL;
    const char *state = NULL;
    for (size_t i = 0; i < ls_list_len(events); i++) {
        ls_value ev = ls_list_at(events, i);
        const char *e = ls_str_ptr(ls_map_get(ev, "event"));
        if (strcmp(e, "run_finished") == 0) {
            outcome = ls_str_ptr(ls_map_get(ev, "outcome"));
            state = ls_str_ptr(ls_map_get(ev, "state"));
        } else if (strcmp(e, "run_halted") == 0) {
            outcome = "halted";
            state = ls_str_ptr(ls_map_get(ev, "state"));
        } else if (strcmp(e, "state_entered") == 0) {
            outcome = NULL;
            state = ls_str_ptr(ls_map_get(ev, "state"));
        }
    }
    if (outcome == NULL) {
        ls_value env = ls_map_get(first, "env");
        outcome = ls_lock_held_by(sd, ls_str_ptr(ls_map_get(first, "playbook")),
                                  env.kind == LS_STRING ? ls_str_ptr(env) : NULL, id)
                      ? "running"
                      : "interrupted";
    }
    ls_map_set(&row, "outcome", ls_string(outcome));
    ls_map_set(&row, "state", state ? ls_string(state) : ls_null());
    return row;
}

static void print_json(ls_value v)
{
    ls_value red = ls_redact_value(v);
    char *j = ls_value_to_json(red, NULL);
    ls_value_free(red);
    puts(j ? j : "null");
    free(j);
}

static int status_list(const char *sd, bool json)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/runs", sd);
    DIR *dp = opendir(dir);
    char **ids = NULL;
    size_t nids = 0, cap = 0;
    if (dp != NULL) {
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            if (!ls_journal_id_ok(de->d_name))
                continue;
            if (nids == cap) {
                cap = cap ? cap * 2 : 32;
                char **nn = realloc(ids, cap * sizeof *nn);
                if (nn == NULL)
                    break;
                ids = nn;
            }
            ids[nids] = strdup(de->d_name);
            if (ids[nids] != NULL)
                nids++;
        }
        closedir(dp);
    }
    if (nids > 1)
        qsort(ids, nids, sizeof *ids, cmp_str);
    ls_value rows = ls_list_new();
    for (size_t i = 0; i < nids; i++) {
        ls_value events = ls_null();
        ls_error err;
        ls_error_clear(&err);
        if (ls_journal_read(sd, ids[i], &events, &err) == 0 && ls_list_len(events) > 0)
            ls_list_push(&rows, run_row(sd, ids[i], events));
        ls_value_free(events);
        free(ids[i]);
    }
    free(ids);
    if (json) {
        print_json(rows);
    } else if (ls_list_len(rows) == 0) {
        printf("no runs in %s\n", sd);
    } else {
        printf("%-24s %-28s %-12s %-25s %s\n", "RUN", "PLAYBOOK", "ENV", "STARTED", "OUTCOME");
        for (size_t i = 0; i < ls_list_len(rows); i++) {
            ls_value r = ls_list_at(rows, i);
            ls_value env = ls_map_get(r, "env");
            printf("%-24s %-28s %-12s %-25s %s%s%s%s\n", ls_str_ptr(ls_map_get(r, "run_id")),
                   ls_str_ptr(ls_map_get(r, "playbook")), env.kind == LS_STRING ? ls_str_ptr(env) : "-",
                   ls_str_ptr(ls_map_get(r, "started")), ls_str_ptr(ls_map_get(r, "outcome")),
                   ls_map_get(r, "state").kind == LS_STRING ? " at " : "", ls_str_ptr(ls_map_get(r, "state")),
                   ls_map_get(r, "dry_run").u.b ? " (dry run)" : "");
        }
    }
    ls_value_free(rows);
    return 0;
}

static void fold_set(ls_value *states, const char *name, const char *key, ls_value v)
{
    ls_value old = ls_map_get(*states, name);
    ls_value e = ls_map_new();
    if (old.kind != LS_MAP) {
        ls_map_set(&e, "status", ls_null());
        ls_map_set(&e, "attempts", ls_int(0));
        ls_map_set(&e, "visits", ls_int(0));
        ls_map_set(&e, "error", ls_null());
    }
    for (size_t i = 0; i < ls_map_len(old); i++)
        ls_map_set(&e, ls_map_key_at(old, i), ls_value_copy(ls_map_value_at(old, i)));
    ls_map_set(&e, key, v);
    ls_map_set(states, name, e);
}

static int status_one(const char *sd, const char *id, bool json)
{
    ls_value events = ls_null();
    ls_error err;
    ls_error_clear(&err);
    if (ls_journal_read(sd, id, &events, &err) != 0 || ls_list_len(events) == 0) {
        fprintf(stderr, "lockstep: %s\n", err.msg[0] ? err.msg : "empty journal");
        ls_value_free(events);
        return LS_EXIT_USAGE;
    }
    ls_value row = run_row(sd, id, events);
    ls_value states = ls_map_new();
    for (size_t i = 0; i < ls_list_len(events); i++) {
        ls_value ev = ls_list_at(events, i);
        const char *e = ls_str_ptr(ls_map_get(ev, "event"));
        const char *st = ls_str_ptr(ls_map_get(ev, "state"));
        if (strcmp(e, "state_entered") == 0) {
            fold_set(&states, st, "visits", ls_value_copy(ls_map_get(ev, "visit")));
            fold_set(&states, st, "status", ls_string("running"));
        } else if (strcmp(e, "action_started") == 0) {
            fold_set(&states, st, "attempts", ls_value_copy(ls_map_get(ev, "attempt")));
        } else if (strcmp(e, "action_finished") == 0) {
            fold_set(&states, st, "error", ls_value_copy(ls_map_get(ev, "error")));
        } else if (strcmp(e, "transition") == 0) {
            const char *reason = ls_str_ptr(ls_map_get(ev, "reason"));
            const char *s = strcmp(reason, "failure") == 0   ? "failed"
                            : strcmp(reason, "timeout") == 0 ? "timed_out"
                                                             : "ok";
            fold_set(&states, ls_str_ptr(ls_map_get(ev, "from")), "status", ls_string(s));
        } else if (strcmp(e, "run_finished") == 0) {
            fold_set(&states, st, "status", ls_string(ls_map_get(ev, "error").kind == LS_STRING ? "error" : "ok"));
        } else if (strcmp(e, "run_halted") == 0) {
            fold_set(&states, st, "status", ls_string("halted"));
        }
    }
    /* The release and the bundle the run came from (run_started). */
    ls_value first = ls_list_at(events, 0), bundle = ls_map_get(first, "bundle");
    if (json) {
        ls_map_set(&row, "release", ls_value_copy(ls_map_get(first, "release")));
        for (const char *const *k = (const char *const[]){"bundle", "bundle_manifest_sha256", "bundle_signer",
                                                          "bundle_verified", NULL}; *k; k++)
            if (bundle.kind == LS_STRING)
                ls_map_set(&row, *k, ls_value_copy(ls_map_get(first, *k)));
        ls_map_set(&row, "states", ls_value_copy(states));
        print_json(row);
    } else {
        ls_value env = ls_map_get(row, "env");
        printf("run %s: %s%s%s, started %s, %s%s%s%s\n", id, ls_str_ptr(ls_map_get(row, "playbook")),
               env.kind == LS_STRING ? " env " : "", env.kind == LS_STRING ? ls_str_ptr(env) : "",
               ls_str_ptr(ls_map_get(row, "started")), ls_str_ptr(ls_map_get(row, "outcome")),
               ls_map_get(row, "state").kind == LS_STRING ? " at " : "", ls_str_ptr(ls_map_get(row, "state")),
               ls_map_get(row, "dry_run").u.b ? " (dry run)" : "");
        ls_value rel = ls_map_get(first, "release");
        if (ls_map_get(rel, "version").kind == LS_STRING)
            printf("  release %s\n", ls_str_ptr(ls_map_get(rel, "version")));
        if (bundle.kind == LS_STRING) {
            ls_value signer = ls_map_get(first, "bundle_signer");
            bool verified = ls_map_get(first, "bundle_verified").kind == LS_BOOL && ls_map_get(first, "bundle_verified").u.b;
            printf("  bundle %s (manifest sha256 %s; %s%s%s)\n", ls_str_ptr(bundle),
                   ls_str_ptr(ls_map_get(first, "bundle_manifest_sha256")),
                   signer.kind == LS_STRING ? "signed by " : "unsigned", ls_str_ptr(signer),
                   signer.kind != LS_STRING ? "" : verified ? ", verified" : ", not verified");
        }
        printf("  %-28s %-10s %-9s %-7s %s\n", "STATE", "STATUS", "ATTEMPTS", "VISITS", "ERROR");
        for (size_t i = 0; i < ls_map_len(states); i++) {
            ls_value s = ls_map_value_at(states, i);
            ls_value er = ls_map_get(s, "error");
            char *red = er.kind == LS_STRING ? ls_redact(ls_str_ptr(er), ls_str_len(er), NULL) : NULL;
            printf("  %-28s %-10s %-9lld %-7lld %s\n", ls_map_key_at(states, i), ls_str_ptr(ls_map_get(s, "status")),
                   (long long)ls_map_get(s, "attempts").u.i, (long long)ls_map_get(s, "visits").u.i,
                   red ? red : "");
            free(red);
        }
    }
    ls_value_free(states);
    ls_value_free(row);
    ls_value_free(events);
    return 0;
}

int ls_cmd_status(int argc, char **argv)
{
    cli_opts o;
    if (parse(argc, argv, O_STATEDIR | O_OUTPUT | O_VERIFY, 1, &o, NULL) != 0)
        return LS_EXIT_USAGE;
    if (o.help) {
        fputs(status_help, stdout);
        return 0;
    }
    const char *sd = ls_journal_state_dir(o.state_dir);
    bool json = o.output && strcmp(o.output, "json") == 0;
    if (o.verify) {
        if (o.npos != 1) {
            fputs(status_help, stderr);
            return LS_EXIT_USAGE;
        }
        size_t bad = 0;
        char why[512];
        ls_error err;
        ls_error_clear(&err);
        int rc = ls_journal_verify(sd, o.pos[0], &bad, why, sizeof why, &err);
        if (rc < 0) {
            fprintf(stderr, "lockstep: %s\n", err.msg);
            return LS_EXIT_USAGE;
        }
        if (rc == 0) {
            printf("journal of run %s: hash chain intact\n", o.pos[0]);
            return 0;
        }
        printf("journal of run %s: BROKEN at line %zu: %s\n", o.pos[0], bad, why);
        return 1;
    }
    if (o.npos == 0)
        return status_list(sd, json);
    return status_one(sd, o.pos[0], json);
}
