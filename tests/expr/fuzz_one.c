/*
 * Feeds one input to ls_expr_compile (then evaluates what compiles),
 * ls_tmpl_string (then renders), ls_value_from_json (then checks that
 * emit -> parse -> emit is stable) and ls_duration_parse.  Any crash,
 * leak or sanitizer report is the failure; a broken round trip aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fuzz_one.h"

static const char *const f_params[] = {"n", "s", "list", "map"};
static const char *const f_states[] = {"a", "b"};
static const char *const f_guards[] = {"ok"};

static ls_value f_context(void)
{
    static const char ctx[] =
        "{\"params\":{\"n\":12,\"s\":\"hello\",\"list\":[1,2,3],\"map\":{\"a\":1,\"b\":{\"c\":\"d\"}}},"
        "\"states\":{\"a\":{\"status\":\"ok\",\"result\":{\"json\":{\"fileSize\":0},\"stdout\":\"x\\ny\"}}},"
        "\"run\":{\"id\":\"r\"},\"result\":{\"code\":0}}";
    ls_value v;
    if (!ls_value_from_json(ctx, sizeof ctx - 1, &v, NULL, 0))
        abort();
    return v;
}

void ls_fuzz_one(const uint8_t *data, size_t len)
{
    const char *s = (const char *)data;
    ls_compile_env env = {f_params, 4, f_states, 2, f_guards, 1, true, {0}, false};
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {"fuzz", 1, 1};
    ls_value world = f_context();
    ls_value result = ls_map_get(world, "result");
    static const char guard_src[] = "params.n == 12";
    ls_expr *guard = ls_expr_compile(guard_src, sizeof guard_src - 1, loc, &env, &d);
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = ls_map_get(world, "params");
    ctx.states = ls_map_get(world, "states");
    ctx.run = ls_map_get(world, "run");
    ctx.result = &result;
    ctx.guards = &guard;
    ctx.nguards = 1;

    ls_expr *e = ls_expr_compile(s, len, loc, &env, &d);
    if (e) {
        ls_error err;
        ls_error_clear(&err);
        ls_value v;
        if (ls_expr_eval(e, &ctx, &v, &err) == 0)
            ls_value_free(v);
        ls_error_clear(&err);
        bool b;
        (void)ls_expr_eval_cond(e, &ctx, &b, &err);
        ls_expr_free(e);
    }
    ls_tmpl *t = ls_tmpl_string(s, len, loc, &env, &d);
    if (t) {
        ls_error err;
        ls_error_clear(&err);
        ls_value v;
        if (ls_tmpl_render(t, &ctx, &v, &err) == 0)
            ls_value_free(v);
        ls_value_free(ls_tmpl_render_plan(t, &ctx));
        ls_tmpl_free(t);
    }
    char errbuf[128];
    ls_value j;
    if (ls_value_from_json(s, len, &j, errbuf, sizeof errbuf)) {
        size_t n1, n2;
        char *a = ls_value_to_json(j, &n1);
        ls_value j2;
        if (!ls_value_from_json(a, n1, &j2, errbuf, sizeof errbuf)) {
            fprintf(stderr, "emitted JSON does not parse back: %s\n", errbuf);
            abort();
        }
        char *b = ls_value_to_json(j2, &n2);
        if (n1 != n2 || memcmp(a, b, n1) != 0) {
            fprintf(stderr, "JSON round trip differs\n");
            abort();
        }
        free(a);
        free(b);
        ls_value_free(j2);
        ls_value_free(j);
    }
    int64_t ms;
    (void)ls_duration_parse(s, len, &ms);
    ls_expr_free(guard);
    ls_value_free(world);
    ls_diags_free(&d);
}
