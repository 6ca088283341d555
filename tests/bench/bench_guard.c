/*
 * B5: compiled guard evaluations per second.  Compiles one guard the way
 * the loader does and evaluates it N times against a small run context.
 * Prints "evals_per_sec N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000000;
    const char *src = argc > 2 ? argv[2]
                               : "states.a.result.json.fileSize == 0 && params.n + 1 == 13";
    static const char *const params[] = {"n"};
    static const char *const states[] = {"a", "b"};
    ls_compile_env env = {params, 1, states, 2, NULL, 0, false, {0}, false};
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {"bench", 1, 1};
    ls_expr *e = ls_expr_compile(src, strlen(src), loc, &env, &d);
    if (!e) {
        ls_diags_print(&d, stderr, false, false);
        return 2;
    }

    ls_value json = ls_map_new();
    ls_map_set(&json, "fileSize", ls_int(0));
    ls_value result = ls_map_new();
    ls_map_set(&result, "json", json);
    ls_value a = ls_map_new();
    ls_map_set(&a, "status", ls_string("ok"));
    ls_map_set(&a, "result", result);
    ls_value st = ls_map_new();
    ls_map_set(&st, "a", a);
    ls_value pv = ls_map_new();
    ls_map_set(&pv, "n", ls_int(12));
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = pv;
    ctx.states = st;
    ctx.run = ls_map_new();

    ls_error err;
    ls_error_clear(&err);
    long trues = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        bool ok = false;
        if (ls_expr_eval_cond(e, &ctx, &ok, &err) != 0) {
            fprintf(stderr, "eval error: %s\n", err.msg);
            return 1;
        }
        trues += ok;
    }
    double dt = now_s() - t0;
    if (trues != n) {
        fprintf(stderr, "guard was false %ld times\n", n - trues);
        return 1;
    }
    printf("evals_per_sec %.0f\n", dt > 0 ? (double)n / dt : 0.0);
    ls_expr_free(e);
    ls_value_free(pv);
    ls_value_free(st);
    ls_value_free(ctx.run);
    ls_diags_free(&d);
    return 0;
}
