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
#include "store.h"

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
    const char *heartbeat;
    const char *compare_env; /* plan --compare-env NAME */
    const char *store;       /* --store URI */
    const char *lease;       /* --lease DURATION */
} cli_opts;

/* The command's own options (plan and run take the shared ones through
 * cli_opts.h; resume takes --set itself: it has no PLAYBOOK). */
enum { O_SET = 1, O_RUN = 2, O_STATEDIR = 4, O_OUTPUT = 8, O_QUIET = 16, O_ASSUME = 32, O_VERIFY = 64,
       O_APPROVE = 128, O_HEARTBEAT = 256, O_COMPARE = 512, O_STORE = 1024, O_LEASE = 2048 };

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
            {"--heartbeat", O_HEARTBEAT, true},
            {"--compare-env", O_COMPARE, true}, {"--store", O_STORE, true}, {"--lease", O_LEASE, true},
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
        else if (strcmp(name, "--heartbeat") == 0) o->heartbeat = val;
        else if (strcmp(name, "--compare-env") == 0) o->compare_env = val;
        else if (strcmp(name, "--store") == 0) o->store = val;
        else if (strcmp(name, "--lease") == 0) o->lease = val;
        if (rc != 0)
            return -1;
        if (strcmp(name, "--set") == 0 && strchr(val, '=') == NULL) {
            fprintf(stderr, "lockstep %s: --set needs K=V, got '%s'\n", argv[0], val);
            return -1;
        }
    }
    int64_t hb = 0;
    if (o->heartbeat && (ls_duration_parse(o->heartbeat, strlen(o->heartbeat), &hb) != 0 || hb < 0)) {
        fprintf(stderr, "lockstep %s: --heartbeat takes a duration (30s, 2m; 0 turns it off), not '%s'\n", argv[0],
                o->heartbeat);
        return -1;
    }
    int64_t lease = 0;
    if (o->lease && (ls_duration_parse(o->lease, strlen(o->lease), &lease) != 0 || lease < 1000)) {
        fprintf(stderr, "lockstep %s: --lease takes a duration of at least 1s (30s, 2m), not '%s'\n", argv[0],
                o->lease);
        return -1;
    }
    if (o->store && o->store[0] == '\0') {
        fprintf(stderr, "lockstep %s: --store needs a MongoDB URI\n", argv[0]);
        return -1;
    }
    if (o->output && strcmp(o->output, "text") != 0 && strcmp(o->output, "json") != 0) {
        fprintf(stderr, "lockstep %s: --output is text or json, not '%s'\n", argv[0], o->output);
        return -1;
    }
    return 0;
}

/* The run store of --store or $LOCKSTEP_STORE (store.h), made the
 * process's store: 0 (*out NULL when there is none), or -1 after saying
 * why (an unreachable store: nothing runs). */
static int open_store(const cli_opts *o, const char *cmd, ls_store **out)
{
    *out = NULL;
    const char *uri = ls_store_uri(o->store);
    if (uri == NULL)
        return 0;
    int64_t lease = LS_STORE_LEASE_DEFAULT_MS;
    if (o->lease)
        ls_duration_parse(o->lease, strlen(o->lease), &lease);
    ls_error err;
    ls_error_clear(&err);
    *out = ls_store_open(uri, lease, &err);
    if (*out == NULL) {
        fprintf(stderr, "lockstep %s: %s%s\n", cmd, err.msg,
                strcmp(cmd, "run") == 0 || strcmp(cmd, "resume") == 0 ? "; nothing ran" : "");
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
            if (strcmp(v, "=ok") != 0 && strcmp(v, "=failed") != 0 && strcmp(v, "=rerun") != 0) {
                fprintf(stderr, "lockstep: %s %s: say STATE=ok, STATE=failed or STATE=rerun\n", opt, a);
                return -1;
            }
        }
    }
    return 0;
}

static const char plan_help[] =
    "usage: lockstep plan PLAYBOOK [--env NAME] [--values FILE]... [--set K=V]... [--strict]\n"
    "                     [--compare-env OTHER] [--trust KEY.pem]\n"
    "\n"
    "Prints every state with its action and inputs rendered (secrets as ***), guards and\n"
    "transitions; runs nothing and connects to nothing.\n"
    "\n"
    "  --env NAME      read environments/NAME.yaml beside the playbook (params, defaults)\n"
    "  --values FILE   a values file {params: {...}, defaults: {...}}; may repeat, later wins\n"
    "  --set K=V       a param value, parsed as the param's type; may repeat\n"
    "  --strict        warnings count as errors\n"
    "  --compare-env OTHER  the plans of --env NAME and environment OTHER side by side,\n"
    "                  only what differs (params, inputs, confirmations, timeouts)\n"
    "  --trust KEY.pem  PLAYBOOK is a release bundle (lockstep bundle) that must be signed\n"
    "                  with this Ed25519 key\n"
    "\n"
    "exit: 0 printed, 2 invalid playbook or params, or a usage error\n";

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
    "                    [--output text|json] [--quiet] [--heartbeat DURATION]\n"
    "                    [--store URI] [--lease DURATION]\n"
    "\n"
    "Runs the playbook's state machine, journaling every step under\n"
    "STATE_DIR/runs/RUN_ID/ so that a halted or killed run can be resumed.\n"
    "\n"
    "  --env NAME        read environments/NAME.yaml beside the playbook (params, defaults)\n"
    "  --values FILE     a values file {params: {...}, defaults: {...}}; may repeat, later wins\n"
    "  --set K=V         a param value, parsed as the param's type; may repeat\n"
    "  --strict          warnings count as errors\n"
    "  --dry-run         rehearse: probes (mutates: false) run for real, mutating actions\n"
    "                    do not (their result is the state's dry_run.result); approvals\n"
    "                    are given automatically and journaled\n"
    "  --yes             approve every confirm state and manual.confirm without asking\n"
    "  --approve STATE   approve this one state without asking; may repeat.  Without a\n"
    "                    TTY, an approval not given by --yes/--approve halts the run (exit 3)\n"
    "  --state-dir DIR   where runs are kept (default $LOCKSTEP_STATE_DIR, else ./.lockstep)\n"
    "  --output text|json  text: progress lines and a summary (default); json: the\n"
    "                    journal events on stdout, one JSON object per line\n"
    "  --quiet           print only errors and the final line\n"
    "  --heartbeat DURATION  when stderr is not a terminal (CI, a pipe), a progress line\n"
    "                    for the running state this often (default 30s; 0: never)\n"
    "  --store URI       record the run, its journal and the lease in this MongoDB database\n"
    "                    (default $LOCKSTEP_STORE), shared by every machine that names it;\n"
    "                    an unreachable store: exit 2, nothing runs (docs/runs.md)\n"
    "  --lease DURATION  with --store: how long the lease lasts unless renewed (default 30s;\n"
    "                    renewed every third of it)\n"
    "\n"
    "exit: 0 success, 1 failure, 2 invalid input (nothing ran), 3 halted (resumable), 4 locked\n";

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
    ro->heartbeat_ms = 30000;
    if (o->heartbeat)
        ls_duration_parse(o->heartbeat, strlen(o->heartbeat), &ro->heartbeat_ms);
}

int ls_cmd_run(int argc, char **argv)
{
    cli_opts o;
    ls_cli_opts shared;
    ls_cli_opts_init(&shared);
    int code = LS_EXIT_USAGE;
    ls_store *store = NULL;
    if (parse(argc, argv, O_RUN | O_APPROVE | O_STATEDIR | O_OUTPUT | O_QUIET | O_HEARTBEAT | O_STORE | O_LEASE, 0,
              &o, &shared) != 0)
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
    if (pb != NULL && open_store(&o, argv[0], &store) != 0) {
        ls_playbook_free(pb);
        pb = NULL;
    }
    if (pb != NULL && store != NULL) {
        ls_error err;
        ls_error_clear(&err);
        if (ls_store_check_playbook(store, pb, &err) != 0) {
            char buf[1200];
            ls_error_format(&err, buf, sizeof buf);
            fprintf(stderr, "%s\n", buf);
            ls_playbook_free(pb);
            pb = NULL;
        }
    }
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
    ls_store_close(store);
    ls_cli_opts_free(&shared);
    return code;
}

static const char resume_help[] =
    "usage: lockstep resume RUN_ID [--state-dir DIR] [--yes] [--approve STATE]...\n"
    "                       [--assume STATE=ok|failed|rerun]... [--set K=V]... [--output text|json] [--quiet]\n"
    "                       [--heartbeat DURATION] [--store URI] [--lease DURATION]\n"
    "\n"
    "Continues a halted or interrupted run from its journal, without running again\n"
    "what already finished.  The journal is checked whole first: a damaged, cut or empty\n"
    "journal is refused (exit 2) and nothing runs.  Secret params are read again from\n"
    "their env variables or --set; the playbook must be unchanged (same sha256).  An\n"
    "action interrupted with unknown outcome runs again if it is idempotent, else its\n"
    "state's landed: probe decides, else --assume says what happened.\n"
    "\n"
    "  --state-dir DIR   where runs are kept (default $LOCKSTEP_STATE_DIR, else ./.lockstep)\n"
    "  --yes             approve every confirm state and manual.confirm without asking\n"
    "  --approve STATE   approve this one state without asking; may repeat\n"
    "  --assume STATE=ok|failed|rerun  what the interrupted, non-idempotent STATE did: ok\n"
    "                    (it took effect; empty result), failed (it did not: its failure\n"
    "                    transition) or rerun (run it again; you take responsibility, and\n"
    "                    the journal records who said so)\n"
    "  --set K=V         a param value (secret params are not kept in the journal); may repeat\n"
    "  --output text|json  text progress and summary (default), or journal events as JSON lines\n"
    "  --quiet           print only errors and the final line\n"
    "  --heartbeat DURATION  as for run\n"
    "  --store URI       the run store (default $LOCKSTEP_STORE): resume a run started on any\n"
    "                    machine once its lease expired or was released; the store's journal\n"
    "                    is copied into --state-dir first\n"
    "  --lease DURATION  as for run\n"
    "\n"
    "exit: as lockstep run; 2 also when the run finished already, its playbook changed or\n"
    "its journal is damaged\n";

int ls_cmd_resume(int argc, char **argv)
{
    cli_opts o;
    if (parse(argc, argv, O_SET | O_APPROVE | O_STATEDIR | O_OUTPUT | O_QUIET | O_ASSUME | O_HEARTBEAT | O_STORE |
                              O_LEASE, 1, &o, NULL) != 0)
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
    ls_value first = ls_null(), last = ls_null();
    int code = LS_EXIT_USAGE;
    char path[4096] = "", sha[80] = "", env[256] = "", params[4300];
    bool has_env = false;
    ls_bundle *bundle = NULL;
    ls_store *store = NULL;
    if (open_store(&o, argv[0], &store) != 0)
        goto out;
    /* With a store, the local copy is brought up to the store's first (the
     * run takes the lease, then reads the store's journal again); a dry
     * run was never in the store and resumes locally, without it. */
    int fetched = store != NULL ? ls_store_fetch(store, sd, id, false, &err) : 0;
    if (fetched < 0 || fetched == 1) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        goto out;
    }
    if (fetched == 2) {
        ls_store_close(store);
        store = NULL;
    }
    /* The head names the playbook; the run itself checks the journal
     * whole, under the lock, before it decides anything. */
    if (ls_journal_ends(sd, id, &first, &last, &err) != 0) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        goto out;
    }
    if (first.kind == LS_NULL) {
        fprintf(stderr, "lockstep: run %s recorded nothing (it was stopped before its first event): nothing ran, "
                        "so there is nothing to resume; start a new run\n", id);
        goto out;
    }
    if (ls_event_of(first) != LS_EV_RUN_STARTED) {
        fprintf(stderr, "lockstep: the journal of run %s does not start with run_started: refusing it "
                        "(lockstep status --verify %s tells more)\n", id, id);
        goto out;
    }
    if (ls_event_of(last) == LS_EV_RUN_FINISHED) {
        fprintf(stderr, "lockstep: run %s already finished (%s at %s): refusing to resume it\n", id,
                ls_str_ptr(ls_map_get(last, "outcome")), ls_str_ptr(ls_map_get(last, "state")));
        goto out;
    }
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
        } else if (store != NULL && ls_store_check_playbook(store, pb, &err) != 0) {
            char buf[1200];
            ls_error_format(&err, buf, sizeof buf);
            fprintf(stderr, "%s\n", buf);
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
    ls_store_close(store);
    ls_bundle_close(bundle);
    ls_value_free(first);
    ls_value_free(last);
    return code;
}

/* ---- status ---- */

static const char status_help[] =
    "usage: lockstep status [RUN_ID] [--state-dir DIR] [--output text|json] [--verify] [--store URI]\n"
    "\n"
    "Without RUN_ID lists the runs (id, playbook, env, start, outcome); with RUN_ID\n"
    "shows each state's status, attempts, visits and error.\n"
    "\n"
    "  --state-dir DIR   where runs are kept (default $LOCKSTEP_STATE_DIR, else ./.lockstep)\n"
    "  --output text|json  a table (default) or one JSON document\n"
    "  --verify          with RUN_ID: check the journal's hash chain; exit 0 intact,\n"
    "                    1 broken (the first altered, removed or inserted line is named)\n"
    "  --store URI       the run store (default $LOCKSTEP_STORE): list its runs, from every\n"
    "                    machine; one run is copied into --state-dir first; with --verify,\n"
    "                    checks the store's chain and compares the local copy with it\n"
    "\n"
    "exit: 0, 1 (--verify: broken chain), 2 unknown run or usage error\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* {run_id, playbook, env, started, dry_run, outcome, state} for one run,
 * from its first event and its last: where it stands at the end. */
static ls_value run_row(const char *sd, const char *id, ls_value first, ls_value last, const ls_fold *f,
                        ls_store *store)
{
    ls_value row = ls_map_new();
    ls_map_set(&row, "run_id", ls_string(id));
    ls_map_set(&row, "playbook", ls_value_copy(ls_map_get(first, "playbook")));
    ls_map_set(&row, "env", ls_value_copy(ls_map_get(first, "env")));
    ls_map_set(&row, "started", ls_value_copy(ls_map_get(first, "ts")));
    ls_map_set(&row, "ended", ls_null());
    ls_map_set(&row, "dry_run", ls_bool(ls_map_get(first, "dry_run").kind == LS_BOOL && ls_map_get(first, "dry_run").u.b));
    const char *outcome = NULL;
    const char *state = NULL;
    ls_event e = ls_event_of(last);
    if (e == LS_EV_RUN_FINISHED || e == LS_EV_RUN_HALTED) {
        outcome = e == LS_EV_RUN_HALTED ? "halted" : ls_str_ptr(ls_map_get(last, "outcome"));
        state = ls_str_ptr(ls_map_get(last, "state"));
        ls_map_set(&row, "ended", ls_value_copy(ls_map_get(last, "ts")));
    } else if (f != NULL && f->npath > 0) {
        state = f->states[f->path[f->npath - 1]].name;
    } else if (ls_map_get(last, "state").kind == LS_STRING) {
        state = ls_str_ptr(ls_map_get(last, "state"));
    } else if (ls_map_get(last, "to").kind == LS_STRING) {
        state = ls_str_ptr(ls_map_get(last, "to"));
    }
    if (outcome == NULL) {
        ls_value env = ls_map_get(first, "env");
        const char *pbname = ls_str_ptr(ls_map_get(first, "playbook"));
        const char *envname = env.kind == LS_STRING ? ls_str_ptr(env) : NULL;
        /* With a store, running means holding the store's lease, on
         * whichever machine. */
        bool running = store != NULL ? ls_store_running(store, pbname, envname, id)
                                     : ls_lock_held_by(sd, pbname, envname, id);
        outcome = running ? "running" : "interrupted";
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

static int status_list(const char *sd, bool json, ls_store *store)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/runs", sd);
    DIR *dp = store != NULL ? NULL : opendir(dir);
    char **ids = NULL;
    size_t nids = 0, cap = 0;
    if (store != NULL) {
        ls_error err;
        ls_error_clear(&err);
        if (ls_store_list(store, &ids, &nids, &err) != 0) {
            fprintf(stderr, "lockstep: %s\n", err.msg);
            return LS_EXIT_USAGE;
        }
    }
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
        /* Each run's first and last lines only: a listing costs the same
         * whatever the journals' lengths. */
        ls_value first = ls_null(), last = ls_null();
        ls_error err;
        ls_error_clear(&err);
        int got = store != NULL ? ls_store_ends(store, ids[i], &first, &last, &err)
                                : ls_journal_ends(sd, ids[i], &first, &last, &err);
        if (got == 0 && ls_event_of(first) == LS_EV_RUN_STARTED)
            ls_list_push(&rows, run_row(sd, ids[i], first, last, NULL, store));
        ls_value_free(first);
        ls_value_free(last);
        free(ids[i]);
    }
    free(ids);
    if (json) {
        print_json(rows);
    } else if (ls_list_len(rows) == 0) {
        printf("no runs in %s\n", store != NULL ? "the store" : sd);
    } else {
        /* Columns as wide as their widest cell: run ids are 26 characters,
         * playbook names and envs as long as their authors made them. */
        int w[4] = {3, 8, 3, 7};
        for (size_t i = 0; i < ls_list_len(rows); i++) {
            ls_value r = ls_list_at(rows, i);
            ls_value env = ls_map_get(r, "env");
            const char *cell[4] = {ls_str_ptr(ls_map_get(r, "run_id")), ls_str_ptr(ls_map_get(r, "playbook")),
                                   env.kind == LS_STRING ? ls_str_ptr(env) : "-",
                                   ls_str_ptr(ls_map_get(r, "started"))};
            for (int c = 0; c < 4; c++)
                if (strlen(cell[c]) > (size_t)w[c] && strlen(cell[c]) < 200)
                    w[c] = (int)strlen(cell[c]);
        }
        printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], "RUN", w[1], "PLAYBOOK", w[2], "ENV", w[3], "STARTED",
               "OUTCOME");
        for (size_t i = 0; i < ls_list_len(rows); i++) {
            ls_value r = ls_list_at(rows, i);
            ls_value env = ls_map_get(r, "env");
            printf("%-*s  %-*s  %-*s  %-*s  %s%s%s%s\n", w[0], ls_str_ptr(ls_map_get(r, "run_id")), w[1],
                   ls_str_ptr(ls_map_get(r, "playbook")), w[2], env.kind == LS_STRING ? ls_str_ptr(env) : "-",
                   w[3], ls_str_ptr(ls_map_get(r, "started")), ls_str_ptr(ls_map_get(r, "outcome")),
                   ls_map_get(r, "state").kind == LS_STRING ? " at " : "", ls_str_ptr(ls_map_get(r, "state")),
                   ls_map_get(r, "dry_run").u.b ? " (dry run)" : "");
        }
    }
    ls_value_free(rows);
    return 0;
}

/* "12.3s", "1m02s", "-" */
static void fmt_ms(char *out, size_t n, int64_t ms, bool known)
{
    if (!known)
        snprintf(out, n, "-");
    else if (ms < 60000)
        snprintf(out, n, "%.1fs", (double)ms / 1000.0);
    else
        snprintf(out, n, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
}

static int status_one(const char *sd, const char *id, bool json, ls_store *store)
{
    ls_error err;
    ls_error_clear(&err);
    /* With a store: the store's run, through the local copy (a local dry
     * run, never in the store, as it is). */
    int fetched = store != NULL ? ls_store_fetch(store, sd, id, false, &err) : 0;
    if (fetched < 0 || fetched == 1) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        return LS_EXIT_USAGE;
    }
    if (fetched == 2)
        store = NULL;
    ls_fold f;
    if (ls_journal_fold_run(sd, id, &f, &err) != 0) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        ls_fold_free(&f);
        return LS_EXIT_USAGE;
    }
    ls_value row = run_row(sd, id, f.first, f.end_event, &f, store);
    ls_value states = ls_map_new();
    for (size_t i = 0; i < f.nstates; i++) {
        const ls_fold_state *fs = &f.states[i];
        ls_value e = ls_map_new();
        ls_map_set(&e, "status", fs->status ? ls_string(fs->status) : ls_null());
        ls_map_set(&e, "attempts", ls_int(fs->attempts));
        ls_map_set(&e, "visits", ls_int(fs->visits));
        ls_map_set(&e, "error", ls_value_copy(fs->error));
        ls_map_set(&e, "started", fs->first_ts ? ls_string(fs->first_ts) : ls_null());
        ls_map_set(&e, "ended", fs->last_ts ? ls_string(fs->last_ts) : ls_null());
        ls_map_set(&e, "duration_ms", ls_int(fs->ms));
        ls_map_set(&states, fs->name, e);
    }
    /* The release and the bundle the run came from (run_started). */
    ls_value first = f.first, bundle = ls_map_get(first, "bundle");
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
        ls_value ended = ls_map_get(row, "ended");
        printf("run %s: %s%s%s, started %s%s%s, %s%s%s%s\n", id, ls_str_ptr(ls_map_get(row, "playbook")),
               env.kind == LS_STRING ? " env " : "", env.kind == LS_STRING ? ls_str_ptr(env) : "",
               ls_str_ptr(ls_map_get(row, "started")), ended.kind == LS_STRING ? ", ended " : "",
               ls_str_ptr(ended), ls_str_ptr(ls_map_get(row, "outcome")),
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
        printf("  %-28s %-10s %-9s %-7s %-9s %-25s %s\n", "STATE", "STATUS", "ATTEMPTS", "VISITS", "TIME",
               "STARTED", "ERROR");
        for (size_t i = 0; i < f.nstates; i++) {
            const ls_fold_state *fs = &f.states[i];
            char *red = fs->error.kind == LS_STRING ? ls_redact(ls_str_ptr(fs->error), ls_str_len(fs->error), NULL)
                                                    : NULL;
            char t[32];
            fmt_ms(t, sizeof t, fs->ms, fs->first_ts != NULL);
            printf("  %-28s %-10s %-9lld %-7lld %-9s %-25s %s\n", fs->name, fs->status ? fs->status : "-",
                   (long long)fs->attempts, (long long)fs->visits, t, fs->first_ts ? fs->first_ts : "-",
                   red ? red : "");
            free(red);
        }
    }
    ls_value_free(states);
    ls_value_free(row);
    ls_fold_free(&f);
    return 0;
}

static int status_cmd(const cli_opts *o, const char *sd, ls_store *store);

int ls_cmd_status(int argc, char **argv)
{
    cli_opts o;
    if (parse(argc, argv, O_STATEDIR | O_OUTPUT | O_VERIFY | O_STORE, 1, &o, NULL) != 0)
        return LS_EXIT_USAGE;
    if (o.help) {
        fputs(status_help, stdout);
        return 0;
    }
    if (o.verify && o.npos != 1) {
        fputs(status_help, stderr);
        return LS_EXIT_USAGE;
    }
    ls_store *store = NULL;
    if (open_store(&o, argv[0], &store) != 0)
        return LS_EXIT_USAGE;
    int code = status_cmd(&o, ls_journal_state_dir(o.state_dir), store);
    ls_store_close(store);
    return code;
}

static int status_cmd(const cli_opts *o, const char *sd, ls_store *store)
{
    bool json = o->output && strcmp(o->output, "json") == 0;
    if (o->verify && store != NULL) {
        ls_error err;
        ls_error_clear(&err);
        int rc = ls_store_verify(store, sd, o->pos[0], stdout, &err);
        if (rc == 2)
            fprintf(stderr, "lockstep: %s\n", err.msg);
        return rc == 2 ? LS_EXIT_USAGE : rc;
    }
    if (o->verify) {
        ls_journal_check c;
        ls_error err;
        ls_error_clear(&err);
        int rc = ls_journal_verify(sd, o->pos[0], &c, &err);
        if (rc < 0) {
            fprintf(stderr, "lockstep: %s\n", err.msg);
            return LS_EXIT_USAGE;
        }
        if (rc == 0 && c.lines == 0) {
            printf("journal of run %s: empty: the run was stopped before its first event, nothing ran\n", o->pos[0]);
            return 0;
        }
        if (rc == 0) {
            printf("journal of run %s: hash chain intact (%zu lines, %lld made durable)%s\n", o->pos[0], c.lines,
                   (long long)c.durable,
                   c.torn ? "; the last line is torn (the engine died writing it and never acted on it: "
                            "resume drops it)"
                          : "");
            return 0;
        }
        if (c.bad_line)
            printf("journal of run %s: BROKEN at line %zu: %s\n", o->pos[0], c.bad_line, c.why);
        else
            printf("journal of run %s: BROKEN: %s\n", o->pos[0], c.why);
        return 1;
    }
    if (o->npos == 0)
        return status_list(sd, json, store);
    return status_one(sd, o->pos[0], json, store);
}
