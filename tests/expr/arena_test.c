/*
 * What the loader's memory tricks must never cost: a regex whose code
 * lives in a playbook's arena outlives neither the arena nor the cache of
 * shared codes (expr.c), and a source text lent to the diagnostics
 * (diag.h, ls_diags_source_lend) is copied before its owner lets go, and
 * a file read into an arena (file.h) is read whole.
 * Run under ASan+UBSan too: a code read after its arena is gone, or an
 * excerpt read from a freed text, is a failure there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "expr.h"
#include "file.h"

static int failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

static const char k_src[] = "\"x7\" =~ /^x[0-9]$/";

/* Compiles k_src with whatever arena is current and evaluates it. */
static ls_expr *compile_and_match(const char *what)
{
    ls_compile_env env;
    memset(&env, 0, sizeof env);
    env.release = ls_null();
    ls_diags d;
    ls_diags_init(&d);
    ls_loc at = {"t.yaml", 1, 1};
    ls_expr *e = ls_expr_compile(k_src, strlen(k_src), at, &env, &d);
    if (e == NULL || d.errors != 0)
        ls_diags_print(&d, stderr, false, false);
    CHECK(e != NULL && d.errors == 0, "%s: does not compile", what);
    if (e) {
        ls_eval_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.params = ls_map_new();
        ctx.states = ls_map_new();
        ctx.run = ls_map_new();
        bool yes = false;
        ls_error err;
        memset(&err, 0, sizeof err);
        CHECK(ls_expr_eval_cond(e, &ctx, &yes, &err) == 0 && yes, "%s: the pattern does not match", what);
        ls_error_clear(&err);
        ls_value_free(ctx.params);
        ls_value_free(ctx.states);
        ls_value_free(ctx.run);
    }
    ls_diags_free(&d);
    return e;
}

static void regex_in_arena(void)
{
    /* Two compiles in one arena share a code through the cache... */
    ls_arena *a = ls_arena_new();
    ls_arena *outer = ls_arena_use(a);
    ls_expr *e1 = compile_and_match("first in arena a");
    ls_expr *e2 = compile_and_match("second in arena a");
    ls_arena_use(outer);
    ls_expr_free(e1);
    ls_expr_free(e2);
    /* ...and the arena goes with its cache entries: the same pattern
     * compiled next must neither get the code from the unmapped arena nor
     * free it while taking the entry's place. */
    ls_regex_cache_forget(a);
    ls_arena_free(a);
    ls_expr *e3 = compile_and_match("outside, after arena a is gone");
    ls_expr_free(e3);

    /* What is compiled outside while an arena lives does not get the
     * arena's code: it is still matched once the arena is gone. */
    ls_arena *b = ls_arena_new();
    outer = ls_arena_use(b);
    ls_expr *e4 = compile_and_match("in arena b");
    ls_arena_use(outer);
    ls_expr *e5 = compile_and_match("outside, while arena b lives");
    ls_expr_free(e4);
    ls_regex_cache_forget(b);
    ls_arena_free(b);
    ls_expr_free(e5);
    e5 = compile_and_match("outside, after arena b is gone");
    ls_expr_free(e5);
}

/* The excerpt of a diagnostic made against a lent text, printed after the
 * owner overwrote and freed it. */
static void lent_source(void)
{
    static const char body[] = "states:\n  a: {action: nope}\n";
    char *text = strdup(body);
    ls_diags d;
    ls_diags_init(&d);
    const char *file = ls_diags_source_lend(&d, "lent.yaml", text, strlen(text));
    ls_loc at = {file, 2, 14};
    ls_diag_error(&d, at, "unknown action 'nope'");
    memset(text, 'X', strlen(text));
    free(text);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    ls_diags_print(&d, f, false, true);
    fclose(f);
    CHECK(strstr(out, "a: {action: nope}") != NULL, "the excerpt is not the text as lent:\n%s", out);
    free(out);
    ls_diags_free(&d);

    /* Kept before its owner frees it: no diagnostic yet, one after. */
    text = strdup(body);
    ls_diags_init(&d);
    file = ls_diags_source_lend(&d, "kept.yaml", text, strlen(text));
    ls_diags_source_keep(&d, file);
    memset(text, 'X', strlen(text));
    free(text);
    ls_loc at2 = {file, 1, 1};
    ls_diag_warning(&d, at2, "a warning");
    f = open_memstream(&out, &outlen);
    ls_diags_print(&d, f, false, true);
    fclose(f);
    CHECK(strstr(out, "states:") != NULL, "the kept excerpt is lost:\n%s", out);
    free(out);
    ls_diags_free(&d);
}

/* A file read into an arena reads as it does into malloc'd memory, also
 * when fstat's size is not the file's (a /proc file says 0 and grows). */
static void file_in_arena(void)
{
    static const char *const paths[] = {"/proc/version", "/proc/self/environ"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f)
            continue;
        char want[65536];
        size_t wn = fread(want, 1, sizeof want, f);
        fclose(f);
        char why[256], *heap = NULL, *in = NULL;
        size_t hn = 0, an = 0;
        ls_arena *a = ls_arena_new();
        CHECK(ls_file_read(paths[i], 1u << 20, &heap, &hn, why, sizeof why) == 0, "%s: %s", paths[i], why);
        CHECK(ls_file_read_in(paths[i], 1u << 20, a, &in, &an, why, sizeof why) == 0, "%s: %s", paths[i], why);
        CHECK(heap && in && hn == wn && an == wn && memcmp(heap, want, wn) == 0 && memcmp(in, want, wn) == 0 &&
                  in[an] == '\0',
              "%s: %zu and %zu bytes read, %zu wanted", paths[i], hn, an, wn);
        if (wn > 1) {
            CHECK(ls_file_read_in(paths[i], wn - 1, a, &in, &an, why, sizeof why) == -1 &&
                      strstr(why, "too large") != NULL,
                  "%s: one byte over the limit is not refused (%s)", paths[i], why);
        }
        free(heap);
        ls_arena_free(a);
    }
}

int main(void)
{
    regex_in_arena();
    lent_source();
    file_in_arena();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("arena and lent-source checks passed\n");
    return 0;
}
