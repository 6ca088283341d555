/*
 * The runner's scenario-test mode (run.h ls_fake_fn): canned results in
 * place of every action, no journal, no lock, no retry sleeps, approvals
 * only from approve_all_silently / approve (else the run halts, exit 3),
 * and the report (outcome, final state, path, error) filled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "playbook.h"
#include "registry.h"
#include "run.h"

static int failures;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            failures++;                                   \
            fprintf(stderr, "FAIL line %d: ", __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                 \
            fputc('\n', stderr);                          \
        }                                                 \
    } while (0)

static const char playbook_text[] =
    "lockstep: 1\n"
    "name: fake\n"
    "start: a\n"
    "defaults: {on_failure: failed}\n"
    "states:\n"
    "  a: {action: exec, with: {argv: ['false']}, expect: 'result.n == 1', next: b}\n"
    "  b: {action: exec, with: {argv: ['false']}, retry: {attempts: 3, delay: 1h}, next: c}\n"
    "  c: {action: exec, with: {argv: ['false']}, confirm: 'ok?', next: d}\n"
    "  d: {action: exec, with: {argv: ['false']}, timeout: 1s, on_timeout: late, next: done}\n"
    "  late: {action: noop, next: done}\n"
    "  done: {terminal: success}\n"
    "  failed: {terminal: failure}\n";

static int calls_b;

static ls_act_status fake(void *ud, const ls_state *st, int attempt, ls_value *result, ls_error *err)
{
    (void)ud;
    *result = ls_map_new();
    if (strcmp(st->name, "a") == 0) {
        ls_map_set(result, "n", ls_int(1));
        return LS_ACT_OK;
    }
    if (strcmp(st->name, "b") == 0) {
        calls_b++;
        if (attempt < 2) {
            ls_loc none = {NULL, 0, 0};
            ls_error_set(err, none, "canned failure %d", attempt);
            return LS_ACT_FAILED;
        }
        return LS_ACT_OK;
    }
    if (strcmp(st->name, "d") == 0)
        return LS_ACT_TIMED_OUT;
    return LS_ACT_OK;
}

static void path_is(const ls_playbook *pb, const ls_run_report *rep, const char *want)
{
    char got[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < rep->npath; i++) {
        int w = snprintf(got + n, sizeof got - n, "%s%s", i ? " " : "", pb->states[rep->path[i]].name);
        if (w < 0 || (size_t)w >= sizeof got - n)
            break;
        n += (size_t)w;
    }
    CHECK(strcmp(got, want) == 0, "path: want [%s], got [%s]", want, got);
}

int main(void)
{
    char dir[] = "/tmp/lsfakeXXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char path[256], state[300];
    snprintf(path, sizeof path, "%s/pb.yaml", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    setenv("LOCKSTEP_STATE_DIR", state, 1);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return 1;
    fputs(playbook_text, f);
    fclose(f);

    ls_diags d;
    ls_diags_init(&d);
    ls_load_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.path = path;
    lo.check_params = true;
    lo.ignore_process_env = true;
    ls_playbook *pb = ls_playbook_load(&lo, &d);
    if (pb == NULL) {
        ls_diags_print(&d, stderr, false, true);
        return 1;
    }

    /* approve: all -> success through the timeout branch, b retried without sleeping */
    ls_run_opts o;
    memset(&o, 0, sizeof o);
    o.fake = fake;
    o.no_journal = true;
    o.quiet = true;
    o.approve_all_silently = true;
    ls_run_report rep;
    calls_b = 0;
    int code = ls_run(pb, &o, &rep);
    CHECK(code == 0 && rep.exit_code == 0, "approve all: exit %d", code);
    CHECK(rep.outcome == LS_TERM_SUCCESS, "approve all: outcome %d", (int)rep.outcome);
    CHECK(rep.final_state == ls_playbook_state_index(pb, "done"), "approve all: final %d", rep.final_state);
    CHECK(calls_b == 2, "b attempts: %d", calls_b);
    path_is(pb, &rep, "a b c d late done");
    ls_run_report_free(&rep);

    /* no approval -> halt (exit 3) at c, saying so */
    o.approve_all_silently = false;
    code = ls_run(pb, &o, &rep);
    CHECK(code == 3, "no approval: exit %d", code);
    CHECK(rep.outcome == LS_TERM_NONE, "no approval: outcome %d", (int)rep.outcome);
    CHECK(rep.final_state == ls_playbook_state_index(pb, "c"), "no approval: final %d", rep.final_state);
    CHECK(strcmp(rep.error, "approval needed for c") == 0, "no approval: error '%s'", rep.error);
    path_is(pb, &rep, "a b c");
    ls_run_report_free(&rep);

    /* approve: [c] */
    const char *approve[] = {"c"};
    o.approve = approve;
    o.napprove = 1;
    code = ls_run(pb, &o, &rep);
    CHECK(code == 0, "approve c: exit %d", code);
    ls_run_report_free(&rep);

    struct stat st;
    CHECK(stat(state, &st) != 0, "fake mode wrote a state dir");

    ls_playbook_free(pb);
    ls_diags_free(&d);
    unlink(path);
    rmdir(dir);
    if (failures)
        return 1;
    puts("ok");
    return 0;
}
