/*
 * Runs tests/expr/cases.txt (the file format is described at its top).
 * Prints each failure and then "N passed, N failed"; exits 1 on a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "expr.h"

static const char *const k_params[] = {"n", "s", "f", "list", "map", "flag", "tag", "unset", "big", "pat"};
static const char *const k_states[] = {"a", "b", "c"};
static const char *const k_guards[] = {"ok", "not_ok", "bad", "loop", "nested"};
static const char *const k_guard_src[] = {"params.n == 12", "params.n == 0", "params.s", "guards.loop",
                                          "guards.ok and not guards.not_ok"};
#define NGUARDS 5

typedef struct lines {
    char **v;
    size_t n;
} lines;

static int g_pass, g_fail;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        ls_buf_add(&b, tmp, n);
    fclose(f);
    return ls_buf_steal(&b);
}

static char *canon(const char *json, char *err, size_t errlen)
{
    ls_value v;
    if (!ls_value_from_json(json, strlen(json), &v, err, errlen))
        return NULL;
    char *s = ls_value_to_json(v, NULL);
    ls_value_free(v);
    return s;
}

static void fail(int lineno, const char *what, const char *want, const char *got)
{
    g_fail++;
    printf("FAIL cases.txt:%d: %s\n  want: %s\n  got:  %s\n", lineno, what, want, got);
}

/* All diagnostics as "L:C: msg", joined with " ; ". */
static char *diag_text(ls_diags *d)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < d->len; i++) {
        if (i)
            ls_buf_adds(&b, " ; ");
        ls_buf_printf(&b, "%u:%u: %s", (unsigned)d->items[i].loc.line, (unsigned)d->items[i].loc.col,
                      d->items[i].msg);
    }
    return ls_buf_steal(&b);
}

typedef struct world {
    ls_value ctx_json;
    ls_value result;
    ls_eval_ctx ctx;
    ls_expr *guards[NGUARDS];
} world;

/* The `release` root every case sees (a playbook's release: block). */
static ls_value k_release;

static ls_compile_env make_env(bool allow_result)
{
    ls_compile_env env = {k_params, sizeof k_params / sizeof *k_params, k_states,
                          sizeof k_states / sizeof *k_states, k_guards, NGUARDS, allow_result, k_release, false};
    return env;
}

static int world_init(world *w, const char *json, int lineno)
{
    char err[256];
    memset(w, 0, sizeof *w);
    if (!ls_value_from_json(json, strlen(json), &w->ctx_json, err, sizeof err)) {
        fail(lineno, "context JSON", "valid JSON", err);
        return -1;
    }
    w->ctx.params = ls_map_get(w->ctx_json, "params");
    w->ctx.states = ls_map_get(w->ctx_json, "states");
    w->ctx.run = ls_map_get(w->ctx_json, "run");
    if (ls_map_has(w->ctx_json, "result")) {
        w->result = ls_map_get(w->ctx_json, "result");
        w->ctx.result = &w->result;
    }
    ls_compile_env env = make_env(false);
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {"guard", 1, 1};
    for (int i = 0; i < NGUARDS; i++)
        w->guards[i] = ls_expr_compile(k_guard_src[i], strlen(k_guard_src[i]), loc, &env, &d);
    ls_diags_free(&d);
    w->ctx.guards = w->guards;
    w->ctx.nguards = NGUARDS;
    return 0;
}

static void world_free(world *w)
{
    for (int i = 0; i < NGUARDS; i++)
        ls_expr_free(w->guards[i]);
    ls_value_free(w->ctx_json);
}

/* Builds a template tree from a JSON value: strings are templates. */
static ls_tmpl *tmpl_from(ls_value v, ls_loc loc, const ls_compile_env *env, ls_diags *d, bool *ok)
{
    if (v.kind == LS_STRING) {
        ls_tmpl *t = ls_tmpl_string(ls_str_ptr(v), ls_str_len(v), loc, env, d);
        if (!t)
            *ok = false;
        return t;
    }
    if (v.kind == LS_LIST) {
        ls_tmpl *t = ls_tmpl_list(loc);
        for (size_t i = 0; i < ls_list_len(v); i++) {
            ls_tmpl *c = tmpl_from(ls_list_at(v, i), loc, env, d, ok);
            if (c)
                ls_tmpl_list_push(t, c);
        }
        return t;
    }
    if (v.kind == LS_MAP) {
        ls_tmpl *t = ls_tmpl_map(loc);
        for (size_t i = 0; i < ls_map_len(v); i++) {
            ls_tmpl *c = tmpl_from(ls_map_value_at(v, i), loc, env, d, ok);
            if (c)
                ls_tmpl_map_set(t, ls_map_key_at(v, i), c);
        }
        return t;
    }
    return ls_tmpl_literal(ls_value_copy(v), loc);
}

static void check_value(int lineno, const char *what, ls_value got, const char *want_json)
{
    char err[256];
    char *want = canon(want_json, err, sizeof err);
    char *g = ls_value_to_json(got, NULL);
    if (!want)
        fail(lineno, what, "(expected value is not valid JSON)", err);
    else if (strcmp(want, g) != 0)
        fail(lineno, what, want, g);
    else
        g_pass++;
    free(want);
    free(g);
}

static void run_block(char **l, size_t n, int lineno)
{
    const char *mode = "";
    if (l[0][0] == '%' && l[0][1] == '%') {
        mode = l[0] + 2;
        l++;
        n--;
        lineno++;
    }
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {"expr", 1, 1};
    if (strncmp(mode, "DURATION", 8) == 0) {
        if (n != 2) {
            fail(lineno, "block", "2 lines", "other");
            goto out;
        }
        int64_t ms = 0;
        char got[128], fmt[64];
        if (ls_duration_parse(l[0], strlen(l[0]), &ms) != 0)
            snprintf(got, sizeof got, "error");
        else
            snprintf(got, sizeof got, "%lld %s", (long long)ms, ls_duration_format(ms, fmt, sizeof fmt));
        if (strcmp(got, l[1]) != 0)
            fail(lineno, l[0], l[1], got);
        else
            g_pass++;
        goto out;
    }
    if (strncmp(mode, "JSON", 4) == 0) {
        if (n != 2) {
            fail(lineno, "block", "2 lines", "other");
            goto out;
        }
        char err[256];
        char *got = canon(l[0], err, sizeof err);
        char msg[300];
        if (!got)
            snprintf(msg, sizeof msg, "error: %s", err);
        if (strcmp(got ? got : msg, l[1]) != 0)
            fail(lineno, l[0], l[1], got ? got : msg);
        else
            g_pass++;
        free(got);
        goto out;
    }
    bool noresult = strstr(mode, "noresult") != NULL;
    ls_compile_env env = make_env(!noresult);
    if (strncmp(mode, "COMPILE", 7) == 0 || strncmp(mode, "TEMPLATE-COMPILE", 16) == 0) {
        if (n != 2) {
            fail(lineno, "block", "2 lines", "other");
            goto out;
        }
        bool ok = true;
        if (mode[0] == 'C' && strstr(mode, "JSON")) {
            /* The expression is a JSON string: for newlines and tabs. */
            char err[256];
            ls_value sv;
            if (!ls_value_from_json(l[0], strlen(l[0]), &sv, err, sizeof err) || sv.kind != LS_STRING) {
                fail(lineno, "expression JSON string", "a JSON string", err);
                ls_value_free(sv);
                goto out;
            }
            ls_loc at = {"expr", 10, 5}; /* as if inside a YAML file */
            ls_expr *e = ls_expr_compile(ls_str_ptr(sv), ls_str_len(sv), at, &env, &d);
            ok = e != NULL;
            ls_expr_free(e);
            ls_value_free(sv);
        } else if (mode[0] == 'C') {
            ls_expr *e = ls_expr_compile(l[0], strlen(l[0]), loc, &env, &d);
            ok = e != NULL;
            ls_expr_free(e);
        } else {
            char err[256];
            ls_value tv;
            if (!ls_value_from_json(l[0], strlen(l[0]), &tv, err, sizeof err)) {
                fail(lineno, "template JSON", "valid JSON", err);
                goto out;
            }
            ls_tmpl *t = tmpl_from(tv, loc, &env, &d, &ok);
            ls_tmpl_free(t);
            ls_value_free(tv);
        }
        char *got = diag_text(&d);
        if (ok || strcmp(got, l[1]) != 0)
            fail(lineno, l[0], l[1], ok ? "(compiled)" : got);
        else
            g_pass++;
        free(got);
        goto out;
    }
    if (n != 3) {
        fail(lineno, "block", "3 lines", "other");
        goto out;
    }
    world w;
    if (world_init(&w, l[1], lineno + 1) != 0)
        goto out;
    ls_error err;
    ls_error_clear(&err);
    if (strncmp(mode, "TEMPLATE", 8) == 0) {
        char perr[256];
        ls_value tv;
        if (!ls_value_from_json(l[0], strlen(l[0]), &tv, perr, sizeof perr)) {
            fail(lineno, "template JSON", "valid JSON", perr);
            world_free(&w);
            goto out;
        }
        bool ok = true;
        ls_tmpl *t = tmpl_from(tv, loc, &env, &d, &ok);
        ls_value_free(tv);
        if (!ok) {
            char *got = diag_text(&d);
            fail(lineno, l[0], l[2], got);
            free(got);
        } else if (strstr(mode, "PLAN")) {
            ls_value v = ls_tmpl_render_plan(t, &w.ctx);
            check_value(lineno, l[0], v, l[2]);
            ls_value_free(v);
        } else {
            ls_value v;
            if (ls_tmpl_render(t, &w.ctx, &v, &err) != 0) {
                if (strstr(mode, "ERROR") && strcmp(err.msg, l[2]) == 0)
                    g_pass++;
                else
                    fail(lineno, l[0], l[2], err.msg);
            } else {
                check_value(lineno, l[0], v, l[2]);
                ls_value_free(v);
            }
        }
        ls_tmpl_free(t);
        world_free(&w);
        goto out;
    }
    ls_expr *e = ls_expr_compile(l[0], strlen(l[0]), loc, &env, &d);
    if (!e) {
        char *got = diag_text(&d);
        fail(lineno, l[0], l[2], got);
        free(got);
        world_free(&w);
        goto out;
    }
    int rc;
    ls_value v = ls_null();
    if (strstr(mode, "COND")) {
        bool b = false;
        rc = ls_expr_eval_cond(e, &w.ctx, &b, &err);
        v = ls_bool(b);
    } else {
        rc = ls_expr_eval(e, &w.ctx, &v, &err);
    }
    if (strncmp(mode, "ERROR", 5) == 0 || strstr(mode, "ERROR")) {
        if (rc == 0) {
            char *g = ls_value_to_json(v, NULL);
            fail(lineno, l[0], l[2], g);
            free(g);
        } else if (strcmp(err.msg, l[2]) != 0 || err.loc.line != 1 || err.loc.col != 1) {
            fail(lineno, l[0], l[2], err.msg);
        } else {
            g_pass++;
        }
    } else if (rc != 0) {
        fail(lineno, l[0], l[2], err.msg);
    } else {
        check_value(lineno, l[0], v, l[2]);
    }
    ls_value_free(v);
    ls_expr_free(e);
    world_free(&w);
out:
    ls_diags_free(&d);
}

int main(int argc, char **argv)
{
    const char *src = getenv("LOCKSTEP_SRC");
    char path[4096];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "%s/tests/expr/cases.txt", src ? src : ".");
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "expr_test: cannot read %s\n", path);
        return 2;
    }
    static const char release_json[] =
        "{\"version\":\"2.5.0\",\"upgrades_from\":\">=2.4.0 <2.5.0\",\"schema\":{\"from\":11,\"to\":12}}";
    char rerr[256];
    if (!ls_value_from_json(release_json, strlen(release_json), &k_release, rerr, sizeof rerr)) {
        fprintf(stderr, "expr_test: release JSON: %s\n", rerr);
        return 2;
    }
    setenv("LOCKSTEP_TEST_VAR", "hello", 1);
    unsetenv("LOCKSTEP_TEST_UNSET");
    /* Split into lines, then into blank-line separated blocks. */
    char *blk[16];
    size_t nb = 0;
    int lineno = 0, start = 0;
    char *p = text;
    for (;;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        bool blank = p[0] == '\0';
        if (!blank && p[0] == '#' && nb == 0) {
            /* comment line between blocks */
        } else if (blank) {
            if (nb)
                run_block(blk, nb, start);
            nb = 0;
        } else {
            if (nb == 0)
                start = lineno;
            if (nb < 16)
                blk[nb++] = p;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (nb)
        run_block(blk, nb, start);
    free(text);
    ls_value_free(k_release);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
