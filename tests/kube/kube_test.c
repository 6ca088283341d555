/*
 * Data-driven tests of the kubectl, docker and text actions (cases.json):
 * each case runs one action directly (no runner), with `kubectl`/`docker`
 * pointed at a recording stand-in, and checks the argv the stand-in saw,
 * the status, parts of the result and the error message.  A "prepare"
 * case runs the action's load-time hook on a constant `with` instead.
 *
 *   kube_test CASES.json RECORDER
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "expr.h"
#include "registry.h"

static const ls_action *find_action(const char *name)
{
    const ls_action *const tables[] = {ls_actions_kubectl, ls_actions_docker, ls_actions_text};
    for (size_t t = 0; t < 3; t++)
        for (const ls_action *a = tables[t]; a->name; a++)
            if (strcmp(a->name, name) == 0)
                return a;
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ls_buf_add(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.len ? ls_buf_steal(&b) : calloc(1, 1);
}

static void apply_defaults(const ls_input *in, ls_value *inputs)
{
    for (; in && in->name; in++) {
        if (!in->def || ls_map_has(*inputs, in->name))
            continue;
        ls_value v;
        char e[128];
        if (ls_value_from_json(in->def, strlen(in->def), &v, e, sizeof e))
            ls_map_set(inputs, in->name, v);
    }
}

/* A constant template tree of a value (for prepare cases). */
static ls_tmpl *tmpl_of(ls_value v, ls_loc loc)
{
    if (v.kind == LS_MAP) {
        ls_tmpl *m = ls_tmpl_map(loc);
        for (size_t i = 0; i < ls_map_len(v); i++)
            ls_tmpl_map_set(m, ls_map_key_at(v, i), tmpl_of(ls_map_value_at(v, i), loc));
        return m;
    }
    if (v.kind == LS_LIST) {
        ls_tmpl *l = ls_tmpl_list(loc);
        for (size_t i = 0; i < ls_list_len(v); i++)
            ls_tmpl_list_push(l, tmpl_of(ls_list_at(v, i), loc));
        return l;
    }
    return ls_tmpl_literal(ls_value_copy(v), loc);
}

static const char *status_name(ls_act_status s)
{
    return ls_act_status_name(s);
}

static int failures;

static void fail(const char *name, const char *what, const char *want, const char *got)
{
    fprintf(stderr, "FAIL %s: %s\n  want: %s\n  got:  %s\n", name, what, want, got);
    failures++;
}

static void check_json(const char *name, const char *what, ls_value want, ls_value got)
{
    if (ls_value_equal(want, got))
        return;
    char *w = ls_value_to_json(want, NULL), *g = ls_value_to_json(got, NULL);
    fail(name, what, w, g);
    free(w);
    free(g);
}

static int run_prepare_case(const char *name, ls_value c)
{
    const ls_action *a = find_action(ls_str_ptr(ls_map_get(c, "action")));
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {ls_diags_source(&d, "case.yaml", NULL, 0), 1, 1};
    ls_tmpl *with = tmpl_of(ls_map_get(c, "with"), loc);
    void *prep = NULL;
    int rc = a->prepare ? a->prepare(with, loc, &d, &prep) : 0;
    ls_value want = ls_map_get(c, "expect_diag");
    if (ls_is_null(want)) {
        if (rc != 0 || d.errors != 0)
            fail(name, "prepare", "no problem", d.len ? d.items[0].msg : "rc -1");
    } else {
        const char *w = ls_str_ptr(want);
        if (rc == 0 || d.len == 0 || strstr(d.items[0].msg, w) == NULL)
            fail(name, "prepare diagnostic", w, d.len ? d.items[0].msg : "(none)");
    }
    if (prep && a->prep_free)
        a->prep_free(prep);
    ls_tmpl_free(with);
    ls_diags_free(&d);
    return 0;
}

static void run_case(ls_value c, const char *recorder, const char *recfile)
{
    const char *name = ls_str_ptr(ls_map_get(c, "name"));
    const char *aname = ls_str_ptr(ls_map_get(c, "action"));
    const ls_action *a = find_action(aname);
    if (a == NULL) {
        fail(name, "action", aname, "not in the tables");
        return;
    }
    if (ls_map_get(c, "prepare").kind == LS_BOOL) {
        run_prepare_case(name, c);
        return;
    }
    ls_value setenvs = ls_map_get(c, "setenv");
    for (size_t i = 0; i < ls_map_len(setenvs); i++)
        setenv(ls_map_key_at(setenvs, i), ls_str_ptr(ls_map_value_at(setenvs, i)), 1);
    setenv("REC_STDOUT", ls_str_ptr(ls_map_get(c, "stdout")), 1);
    setenv("REC_STDERR", ls_str_ptr(ls_map_get(c, "stderr")), 1);
    ls_value ex = ls_map_get(c, "exit");
    char code[32];
    snprintf(code, sizeof code, "%lld", ex.kind == LS_INT ? (long long)ex.u.i : 0LL);
    setenv("REC_EXIT", code, 1);
    unlink(recfile);

    ls_value inputs = ls_map_clone(ls_map_get(c, "inputs")); /* changed below */
    if (strcmp(a->family, "kubectl") == 0 && !ls_map_has(inputs, "kubectl"))
        ls_map_set(&inputs, "kubectl", ls_string(recorder));
    if (strcmp(a->family, "docker") == 0 && !ls_map_has(inputs, "docker"))
        ls_map_set(&inputs, "docker", ls_string(recorder));
    apply_defaults(a->inputs, &inputs);

    ls_call call;
    memset(&call, 0, sizeof call);
    call.state = name;
    call.inputs = inputs;
    ls_value tmo = ls_map_get(c, "timeout_ms");
    if (tmo.kind == LS_INT) {
        call.timeout_ms = tmo.u.i;
        call.deadline_ms = ls_now_ms() + tmo.u.i;
    }
    static volatile sig_atomic_t cancelled;
    cancelled = ls_map_get(c, "cancel").kind == LS_BOOL;
    call.cancel = &cancelled;
    ls_value result = ls_null();
    ls_error err;
    ls_error_clear(&err);
    ls_act_status st = a->run(&call, &result, &err);

    const char *want_st = ls_map_has(c, "status") ? ls_str_ptr(ls_map_get(c, "status")) : "ok";
    if (strcmp(want_st, status_name(st)) != 0)
        fail(name, "status", want_st, err.msg[0] ? err.msg : status_name(st));
    ls_value want_err = ls_map_get(c, "error");
    for (size_t i = 0; i < ls_list_len(want_err); i++)
        if (strstr(err.msg, ls_str_ptr(ls_list_at(want_err, i))) == NULL)
            fail(name, "error message", ls_str_ptr(ls_list_at(want_err, i)), err.msg);
    if (result.kind != LS_MAP)
        fail(name, "result", "a map", ls_kind_name((ls_kind)result.kind));

    ls_value want_result = ls_map_get(c, "result");
    for (size_t i = 0; i < ls_map_len(want_result); i++) {
        char what[128];
        snprintf(what, sizeof what, "result.%s", ls_map_key_at(want_result, i));
        check_json(name, what, ls_map_value_at(want_result, i), ls_map_get(result, ls_map_key_at(want_result, i)));
    }
    if (ls_map_has(c, "mutates")) {
        ls_value m = ls_map_get(c, "mutates");
        check_json(name, "mutates", m, ls_bool(a->mutates_fn ? a->mutates_fn(inputs) : a->mutates));
    }

    /* What the stand-in saw: one JSON line per call. */
    ls_value calls = ls_list_new();
    size_t len = 0;
    char *rec = slurp(recfile, &len);
    for (size_t i = 0; rec && i < len;) {
        size_t j = i;
        while (j < len && rec[j] != '\n')
            j++;
        ls_value line;
        char e[128];
        if (j > i && ls_value_from_json(rec + i, j - i, &line, e, sizeof e))
            ls_list_push(&calls, line);
        i = j + 1;
    }
    free(rec);
    if (ls_map_has(c, "argv")) {
        ls_value want = ls_map_get(c, "argv");
        if (ls_is_null(want)) {
            if (ls_list_len(calls) != 0)
                fail(name, "argv", "no call", "a call");
        } else {
            check_json(name, "argv", want, ls_map_get(ls_list_at(calls, 0), "argv"));
        }
    }
    if (ls_map_has(c, "env"))
        check_json(name, "child env", ls_map_get(c, "env"), ls_map_get(ls_list_at(calls, 0), "env"));

    ls_value_free(calls);
    ls_value_free(result);
    ls_value_free(inputs);
    for (size_t i = 0; i < ls_map_len(setenvs); i++)
        unsetenv(ls_map_key_at(setenvs, i));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kube_test CASES.json RECORDER\n");
        return 2;
    }
    size_t len = 0;
    char *text = slurp(argv[1], &len);
    ls_value cases;
    char e[256];
    if (text == NULL || !ls_value_from_json(text, len, &cases, e, sizeof e)) {
        fprintf(stderr, "kube_test: cannot read %s: %s\n", argv[1], text ? e : "unreadable");
        return 2;
    }
    free(text);
    /* Case files name data files relative to themselves. */
    char *slash = strrchr(argv[1], '/');
    if (slash != NULL) {
        *slash = '\0';
        if (chdir(argv[1]) != 0)
            return 2;
    }
    char dir[] = "/tmp/kube_test.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 2;
    char recfile[256];
    snprintf(recfile, sizeof recfile, "%s/calls.jsonl", dir);
    setenv("REC_FILE", recfile, 1);
    size_t n = ls_list_len(cases);
    for (size_t i = 0; i < n; i++)
        run_case(ls_list_at(cases, i), argv[2], recfile);
    unlink(recfile);
    rmdir(dir);
    ls_value_free(cases);
    ls_call_cache_clear(NULL);
    printf("kube_test: %zu cases, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
