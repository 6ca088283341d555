/*
 * Work that must grow linearly with the input (issues 13 and 14), measured
 * by counting, not by timing: this driver is built with its own copies of
 * yaml.c, template.c and diag.c compiled with -DLS_WORK_COUNT, whose
 * LS_WORK marks (work.h) add up key comparisons and bytes scanned.  Each
 * check does the same job at n and at 4n: linear work (or n log n) grows
 * about 4-5 times, quadratic work 16 times; the bound is 8.
 *
 *   - a mapping with n copies of one key: n - 1 "duplicate key" errors,
 *     each naming the first occurrence;
 *   - a string with n ${{ }} templates;
 *   - n diagnostics with excerpts of an n-line file, printed;
 *   - redacting a secret of n/4 characters from a text of n that holds it
 *     overlapping at every byte, and once JSON-escaped.
 *
 * The counts are deterministic, so this test cannot be slowed into failing
 * (or into passing) by a busy machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "expr.h"
#include "secret.h"
#include "work.h"
#include "yaml_doc.h"

unsigned long long ls_work;

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

#define GROWTH_MAX 8.0

/* ---- duplicate keys ---- */

static unsigned long long dup_keys(size_t n)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    ls_buf_adds(&b, "top:\n");
    for (size_t i = 0; i < n; i++)
        ls_buf_adds(&b, "  same: 1\n");
    ls_diags d;
    ls_diags_init(&d);
    const char *file = ls_diags_source(&d, "dups.yaml", ls_buf_str(&b), b.len);
    ls_work = 0;
    ls_ynode *root = ls_yaml_parse(ls_buf_str(&b), b.len, file, &d);
    unsigned long long work = ls_work;
    CHECK(root == NULL, "a mapping with duplicate keys parsed");
    CHECK(d.errors == n - 1, "n=%zu: %zu errors, expected %zu", n, d.errors, n - 1);
    size_t wrong = 0;
    for (size_t i = 0; i < d.len; i++)
        if (!strstr(d.items[i].msg, "duplicate key 'same' (first at line 2)"))
            wrong++;
    CHECK(wrong == 0, "n=%zu: %zu errors do not name line 2 as the first", n, wrong);
    ls_ynode_free(root);
    ls_diags_free(&d);
    ls_buf_free(&b);
    return work;
}

/* ---- templates ---- */

static unsigned long long templates(size_t n)
{
    static const char *const params[] = {"p"};
    ls_compile_env env = {params, 1, NULL, 0, NULL, 0, false, {0}, false};
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < n; i++)
        ls_buf_adds(&b, i % 2 ? "-${{ params.p }}" : "${{params.p}}\n");
    ls_diags d;
    ls_diags_init(&d);
    ls_loc loc = {"t.yaml", 3, 10};
    ls_work = 0;
    ls_tmpl *t = ls_tmpl_string(ls_buf_str(&b), b.len, loc, &env, &d);
    unsigned long long work = ls_work;
    CHECK(t != NULL && d.errors == 0, "n=%zu: the template did not compile", n);
    /* It renders to n copies of the value, in order. */
    ls_value pv = ls_map_new();
    ls_map_set(&pv, "p", ls_string("v"));
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = pv;
    ctx.states = ls_map_new();
    ctx.run = ls_map_new();
    ls_value out = ls_null();
    ls_error err;
    ls_error_clear(&err);
    CHECK(t && ls_tmpl_render(t, &ctx, &out, &err) == 0, "n=%zu: render failed: %s", n, err.msg);
    size_t want = 2 * n; /* each part renders to "v\n" or "-v" */
    CHECK(out.kind == LS_STRING && ls_str_len(out) == want, "n=%zu: rendered %zu bytes, expected %zu", n,
          out.kind == LS_STRING ? ls_str_len(out) : 0, want);
    ls_value_free(out);
    ls_value_free(pv);
    ls_value_free(ctx.states);
    ls_value_free(ctx.run);
    ls_tmpl_free(t);
    ls_diags_free(&d);
    ls_buf_free(&b);
    return work;
}

/* ---- diagnostics with excerpts ---- */

static unsigned long long excerpts(size_t n)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < n; i++)
        ls_buf_printf(&b, "key%zu: value %zu\n", i, i);
    ls_diags d;
    ls_diags_init(&d);
    const char *file = ls_diags_source(&d, "many.yaml", ls_buf_str(&b), b.len);
    /* One warning per line, added last line first (printing sorts). */
    for (size_t i = n; i > 0; i--) {
        ls_loc at = {file, (uint32_t)i, 3};
        ls_diag_warning(&d, at, "warning number %zu", i);
    }
    FILE *out = tmpfile();
    CHECK(out != NULL, "tmpfile");
    if (!out)
        return 0;
    ls_work = 0;
    size_t errors = ls_diags_print(&d, out, false, true);
    unsigned long long work = ls_work;
    CHECK(errors == 0, "warnings counted as errors");
    /* The last excerpt is the last line of the file, under its diagnostic. */
    long size = ftell(out);
    CHECK(size > 0, "nothing printed");
    char tail[256];
    snprintf(tail, sizeof tail, "many.yaml:%zu:3: warning: warning number %zu\n", n, n);
    char *all = malloc((size_t)size + 1);
    rewind(out);
    size_t got = all ? fread(all, 1, (size_t)size, out) : 0;
    if (all) {
        all[got] = '\0';
        char *at = strstr(all, tail);
        char line[128];
        snprintf(line, sizeof line, "key%zu: value %zu", n - 1, n - 1);
        CHECK(at != NULL && strstr(at, line) != NULL, "n=%zu: the last diagnostic or its excerpt is missing", n);
    }
    free(all);
    fclose(out);
    ls_diags_free(&d);
    ls_buf_free(&b);
    return work;
}

/* ---- the redactor ---- */

static unsigned long long redaction(size_t n)
{
    size_t m = n / 4;
    char *sec = malloc(m), *text = malloc(n + 6 * m + 2);
    if (!sec || !text)
        return 0;
    memset(sec, 'a', m);
    /* "<", n a's (the secret matches at each of n - m + 1 places, each
     * overlapping the next), ">", then the secret with its a's as \u0061:
     * two runs to mask, each marked once. */
    size_t t = 0;
    text[t++] = '<';
    memset(text + t, 'a', n);
    t += n;
    text[t++] = '>';
    for (size_t i = 0; i < m; i++, t += 6)
        memcpy(text + t, "\\u0061", 6);
    ls_secret_clear();
    ls_secret_add(sec, m);
    ls_work = 0;
    size_t rn = 0;
    char *r = ls_redact(text, t, &rn);
    unsigned long long work = ls_work;
    CHECK(r && rn == 8 && memcmp(r, "<***>***", 8) == 0, "n=%zu: redacted to %zu bytes", n, rn);
    free(r);
    ls_secret_clear();
    free(sec);
    free(text);
    return work;
}

static void growth(const char *what, unsigned long long (*f)(size_t), size_t n)
{
    unsigned long long small = f(n), large = f(4 * n);
    double ratio = small ? (double)large / (double)small : 0.0;
    printf("%-34s n=%-6zu work %llu, 4n: %llu (x%.2f)\n", what, n, small, large, ratio);
    CHECK(small > 0 && ratio <= GROWTH_MAX, "%s: work grew x%.2f from n=%zu to 4n (linear is about 4, quadratic 16)",
          what, ratio, n);
}

int main(void)
{
    growth("duplicate keys in one mapping", dup_keys, 5000);
    growth("${{ }} templates in one string", templates, 5000);
    growth("diagnostics with excerpts", excerpts, 5000);
    growth("redacting a long secret", redaction, 20000);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("linear: all passed\n");
    return 0;
}
