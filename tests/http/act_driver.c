/*
 * Runs one action outside the runner, for the http and mongo tests:
 *
 *   act_driver [--timeout MS] [--secret S]... [--cancel] ACTION 'INPUTS-JSON'
 *   act_driver --prepare ACTION 'WITH-JSON'
 *
 * The first form applies the action's input defaults, checks the types,
 * calls the action and prints one JSON line on stdout:
 *   {"status":"ok|failed|timed_out|cancelled","mutates":B,"result":{...},"error":"..."}
 * with the result and error redacted as the runner shows them.  The second
 * runs the action's load-time `prepare` hook on constant inputs and prints
 * its diagnostics.  Exit 0 unless the driver itself could not work.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "expr.h"
#include "plugin.h"
#include "registry.h"
#include "secret.h"

static const char *status_name(ls_act_status st)
{
    return ls_act_status_name(st);
}

static int run_prepare(const ls_action *a, ls_value with)
{
    ls_loc loc = {"case", 1, 1};
    ls_tmpl *t = ls_tmpl_map(loc);
    for (size_t i = 0; i < ls_map_len(with); i++)
        ls_tmpl_map_set(t, ls_map_key_at(with, i), ls_tmpl_literal(ls_value_copy(ls_map_value_at(with, i)), loc));
    ls_diags d;
    ls_diags_init(&d);
    void *prep = NULL;
    int rc = a->prepare ? a->prepare(t, loc, &d, &prep) : 0;
    printf("prepare: %d\n", rc);
    ls_diags_print(&d, stdout, false, false);
    if (prep && a->prep_free)
        a->prep_free(prep);
    ls_diags_free(&d);
    ls_tmpl_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t timeout = 0;
    bool prepare = false;
    static volatile sig_atomic_t cancel_flag;
    ls_plugin_set_dir(LOCKSTEP_PLUGIN_DIR); /* the plugins sit beside lockstep, not beside this driver */
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc) {
            ls_secret_add(argv[i + 1], strlen(argv[i + 1]));
            i++;
        } else if (strcmp(argv[i], "--cancel") == 0) {
            cancel_flag = 1;
        } else if (strcmp(argv[i], "--prepare") == 0) {
            prepare = true;
        } else {
            break;
        }
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: act_driver [--timeout MS] [--secret S]... [--prepare] ACTION INPUTS-JSON\n");
        return 2;
    }
    const ls_action *a = ls_action_find(argv[i]);
    if (a == NULL) {
        fprintf(stderr, "act_driver: no action %s\n", argv[i]);
        return 2;
    }
    ls_value inputs;
    char eb[256];
    if (!ls_value_from_json(argv[i + 1], strlen(argv[i + 1]), &inputs, eb, sizeof eb) || inputs.kind != LS_MAP) {
        fprintf(stderr, "act_driver: inputs: %s\n", inputs.kind != LS_MAP ? "not a map" : eb);
        return 2;
    }
    if (prepare) {
        int rc = run_prepare(a, inputs);
        ls_value_free(inputs);
        return rc;
    }
    ls_action_apply_defaults(a, &inputs);
    ls_error err;
    ls_error_clear(&err);
    if (ls_action_check_types(a, inputs, &err) != 0) {
        char buf[1200];
        printf("{\"status\":\"invalid\",\"error\":\"%s\"}\n", ls_error_format(&err, buf, sizeof buf));
        ls_value_free(inputs);
        return 0;
    }
    ls_call call;
    memset(&call, 0, sizeof call);
    call.state = "test";
    call.inputs = inputs;
    call.timeout_ms = timeout;
    call.deadline_ms = timeout > 0 ? ls_now_ms() + timeout : 0;
    call.cancel = &cancel_flag;
    ls_value result = ls_null();
    ls_action_fn run = ls_action_runner(a, &err);
    if (run == NULL) {
        char buf[1200];
        fprintf(stderr, "act_driver: %s\n", ls_error_format(&err, buf, sizeof buf));
        ls_value_free(inputs);
        return 1;
    }
    ls_act_status st = run(&call, &result, &err);
    ls_value out = ls_map_new();
    ls_map_set(&out, "status", ls_string(status_name(st)));
    ls_map_set(&out, "mutates", ls_bool(ls_action_mutates(a, inputs)));
    ls_map_set(&out, "result", ls_redact_value(result));
    if (err.code != 0 || err.msg[0] != '\0') {
        char buf[1200];
        ls_map_set(&out, "error", ls_string(ls_error_format(&err, buf, sizeof buf)));
    }
    char *json = ls_value_to_json(out, NULL);
    char *red = json ? ls_redact(json, strlen(json), NULL) : NULL;
    printf("%s\n", red ? red : "null");
    free(red);
    free(json);
    ls_value_free(out);
    ls_value_free(result);
    ls_value_free(inputs);
    ls_call_cache_clear(NULL);
    return 0;
}
