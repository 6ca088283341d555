/*
 * The value API (value.h), ls_buf caps, and diagnostics printing with
 * exact expected text.  Prints "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "expr.h"
#include "secret.h"
#include <lockstep/value.h>

static int g_pass, g_fail;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            g_pass++;                                                          \
        } else {                                                               \
            g_fail++;                                                          \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                      \
    } while (0)

static void check_str(int line, const char *got, const char *want)
{
    if (strcmp(got, want) == 0) {
        g_pass++;
    } else {
        g_fail++;
        printf("FAIL value_test.c:%d\n--- want\n%s\n--- got\n%s\n", line, want, got);
    }
}

static void check_json(int line, ls_value v, const char *want)
{
    char *j = ls_value_to_json(v, NULL);
    check_str(line, j, want);
    free(j);
}

static void test_maps(void)
{
    ls_value m = ls_map_new();
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ls_map_set(&m, key, ls_int(i));
    }
    CHECK(ls_map_len(m) == 100);
    ls_map_set(&m, "k5", ls_string("five")); /* keeps its position */
    CHECK(strcmp(ls_map_key_at(m, 5), "k5") == 0);
    CHECK(strcmp(ls_str_ptr(ls_map_get(m, "k5")), "five") == 0);
    for (int i = 0; i < 100; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        ls_map_del(&m, key);
    }
    CHECK(ls_map_len(m) == 50);
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ls_value v = ls_map_get(m, key);
        if (i % 2 == 0 ? !ls_is_null(v) : (i != 5 && (v.kind != LS_INT || v.u.i != i)))
            bad++;
    }
    CHECK(bad == 0);
    CHECK(strcmp(ls_map_key_at(m, 0), "k1") == 0 && strcmp(ls_map_key_at(m, 49), "k99") == 0);
    CHECK(ls_map_has(m, "k99") && !ls_map_has(m, "k98") && !ls_map_has(m, "nope"));
    CHECK(ls_map_key_at(m, 50) == NULL && ls_is_null(ls_map_value_at(m, 50)));

    ls_value small = ls_map_new();
    ls_map_set(&small, "z", ls_int(1));
    ls_map_set(&small, "a", ls_null());
    ls_map_set(&small, "m", ls_list_new());
    check_json(__LINE__, small, "{\"z\":1,\"a\":null,\"m\":[]}");
    CHECK(ls_map_has(small, "a"));
    ls_map_del(&small, "z");
    check_json(__LINE__, small, "{\"a\":null,\"m\":[]}");

    /* Sharing: a copy keeps the block alive after the original is freed. */
    ls_value c = ls_value_copy(m);
    ls_value_free(m);
    CHECK(ls_map_len(c) == 50);
    ls_value_free(c);

    /* A clone is a map of its own: changing it leaves the original alone. */
    ls_value shared = ls_value_copy(small);
    ls_value mine = ls_map_clone(shared);
    ls_map_set(&mine, "added", ls_bool(true));
    ls_map_set(&mine, "a", ls_int(2));
    check_json(__LINE__, small, "{\"a\":null,\"m\":[]}");
    check_json(__LINE__, mine, "{\"a\":2,\"m\":[],\"added\":true}");
    ls_value none = ls_map_clone(ls_int(3));
    CHECK(none.kind == LS_MAP && ls_map_len(none) == 0);
    ls_value_free(none);
    ls_value_free(mine);
    ls_value_free(shared);
    ls_value_free(small);
}

static void test_scalars_and_text(void)
{
    CHECK(ls_value_equal(ls_int(1), ls_float(1.0)));
    ls_value one = ls_string("1");
    CHECK(!ls_value_equal(ls_int(1), one));
    ls_value_free(one);
    CHECK(!ls_value_equal(ls_int(9007199254740993), ls_float(9007199254740992.0)));
    bool b = false;
    CHECK(ls_value_truthy_bool(ls_bool(true), &b) && b);
    CHECK(!ls_value_truthy_bool(ls_int(1), &b));
    CHECK(strcmp(ls_kind_name(LS_MAP), "map") == 0);
    ls_value s = ls_string_fmt("%s-%d", "x", 7);
    CHECK(strcmp(ls_str_ptr(s), "x-7") == 0 && ls_str_len(s) == 3);
    ls_value nul = ls_string_n("a\0b", 3);
    CHECK(ls_str_len(nul) == 3);
    check_json(__LINE__, nul, "\"a\\u0000b\"");
    ls_value l = ls_list_new();
    ls_list_push(&l, s);
    ls_list_push(&l, ls_float(3.0));
    ls_list_push(&l, ls_string("\xff" "ok"));
    check_json(__LINE__, l, "[\"x-7\",3.0,\"\xEF\xBF\xBDok\"]");
    CHECK(ls_is_null(ls_list_at(l, 3)));
    const struct { ls_value v; const char *text; } cases[] = {
        {ls_null(), ""}, {ls_bool(true), "true"}, {ls_int(-5), "-5"},
        {ls_float(0.5), "0.5"}, {ls_float(2.0), "2.0"}, {ls_float(1.0 / 0.0), "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = ls_value_to_text(cases[i].v, NULL);
        check_str(__LINE__, t, cases[i].text);
        free(t);
    }
    char *t = ls_value_to_text(l, NULL);
    check_str(__LINE__, t, "[\"x-7\",3.0,\"\xEF\xBF\xBDok\"]");
    free(t);
    ls_value_free(l);
    ls_value_free(nul);
    ls_value_free(ls_null()); /* no-op */
    ls_value_free(ls_int(3));
}

static void test_buf(void)
{
    ls_buf b;
    ls_buf_init(&b, 8);
    CHECK(ls_buf_adds(&b, "abcde") == 0);
    CHECK(ls_buf_printf(&b, "%d", 12345) == -1);
    CHECK(b.overflow && b.len == 8 && strcmp(ls_buf_str(&b), "abcde123") == 0);
    ls_buf_reset(&b);
    CHECK(b.len == 0 && !b.overflow && strcmp(ls_buf_str(&b), "") == 0);
    ls_buf_free(&b);
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (int i = 0; i < 1000; i++)
        ls_buf_printf(&b, "%04d", i);
    CHECK(b.len == 4000 && memcmp(b.ptr + 3996, "0999", 4) == 0);
    char *s = ls_buf_steal(&b);
    CHECK(s && strlen(s) == 4000 && b.len == 0 && b.ptr == NULL);
    free(s);
    s = ls_buf_steal(&b);
    CHECK(s && s[0] == '\0');
    free(s);
}

static void test_diags(void)
{
    ls_diags d;
    ls_diags_init(&d);
    static const char text[] = "name: x\nstates:\n  backup:\n    nxt: done\n\tkey: \"tab\"\n";
    const char *f = ls_diags_source(&d, "upgrade.yaml", text, sizeof text - 1);
    CHECK(ls_diags_source(&d, "upgrade.yaml", NULL, 0) == f);
    ls_loc l4 = {f, 4, 5}, l1 = {f, 1, 7}, l5 = {f, 5, 2}, none = {NULL, 0, 0};
    ls_loc other = {"b.yaml", 2, 1};
    ls_diag_error(&d, l4, "unknown key '%s' in state '%s'", "nxt", "backup");
    ls_diag_warning(&d, l1, "first");
    ls_diag_error(&d, l4, "second at the same place");
    ls_diag_error(&d, l5, "after a tab");
    ls_diag_error(&d, none, "no place");
    ls_diag_error(&d, other, "unregistered source");
    CHECK(d.errors == 5 && d.warnings == 1);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mf = open_memstream(&out, &outlen);
    size_t n = ls_diags_print(&d, mf, false, true);
    fclose(mf);
    CHECK(n == 5);
    check_str(__LINE__, out,
              "lockstep: error: no place\n"
              "b.yaml:2:1: error: unregistered source\n"
              "upgrade.yaml:1:7: warning: first\n"
              "   1 | name: x\n"
              "     |       ^\n"
              "upgrade.yaml:4:5: error: unknown key 'nxt' in state 'backup'\n"
              "   4 |     nxt: done\n"
              "     |     ^\n"
              "upgrade.yaml:4:5: error: second at the same place\n"
              "   4 |     nxt: done\n"
              "     |     ^\n"
              "upgrade.yaml:5:2: error: after a tab\n"
              "   5 |         key: \"tab\"\n"
              "     |         ^\n");
    free(out);
    mf = open_memstream(&out, &outlen);
    n = ls_diags_print(&d, mf, true, false);
    fclose(mf);
    CHECK(n == 6);
    CHECK(strstr(out, "upgrade.yaml:1:7: error: first\n") != NULL && strstr(out, "   1 |") == NULL);
    free(out);
    ls_diags_free(&d);

    /* A caret after non-ASCII text lines up by characters. */
    ls_diags_init(&d);
    static const char utf[] = "név: \"x\"\n";
    const char *fu = ls_diags_source(&d, "u.yaml", utf, sizeof utf - 1);
    ls_loc lu = {fu, 1, 6};
    ls_diag_error(&d, lu, "bad value");
    mf = open_memstream(&out, &outlen);
    ls_diags_print(&d, mf, false, true);
    fclose(mf);
    check_str(__LINE__, out, "u.yaml:1:6: error: bad value\n   1 | név: \"x\"\n     |      ^\n");
    free(out);
    ls_diags_free(&d);

    /* Bytes from a hostile file never reach the terminal as controls: C0,
     * DEL and C1 (U+009B is CSI) show as '?', and so does every non-ASCII
     * byte of a line that is not UTF-8; in messages too. */
    ls_diags_init(&d);
    static const char ctl[] = "a: \"\033[31m\x7f\xc2\x9bz\"\nb: \xff\xfeok \xc3\xa9\n";
    const char *fc = ls_diags_source(&d, "c.yaml", ctl, sizeof ctl - 1);
    ls_loc lc1 = {fc, 1, 9}, lc2 = {fc, 2, 6};
    ls_diag_error(&d, lc1, "key '\033[2J' \xc2\x9b");
    ls_diag_error(&d, lc2, "after bad bytes");
    mf = open_memstream(&out, &outlen);
    ls_diags_print(&d, mf, false, true);
    fclose(mf);
    check_str(__LINE__, out,
              "c.yaml:1:9: error: key '?[2J' ?\n"
              "   1 | a: \"?[31m??z\"\n"
              "     |         ^\n"
              "c.yaml:2:6: error: after bad bytes\n"
              "   2 | b: ??ok ?\n"
              "     |      ^\n");
    free(out);
    ls_diags_free(&d);

    ls_error e;
    ls_error_clear(&e);
    ls_loc at = {"p.yaml", 3, 9};
    ls_error_set(&e, at, "first %d", 1);
    ls_error_set(&e, none, "second");
    char buf[256];
    check_str(__LINE__, ls_error_format(&e, buf, sizeof buf), "p.yaml:3:9: first 1");
    ls_error_clear(&e);
    ls_error_set(&e, none, "bare");
    check_str(__LINE__, ls_error_format(&e, buf, sizeof buf), "bare");
}

/* upper/lower/trim of a secret make a new secret, so redaction still hides it. */
static void test_secret_taint(void)
{
    static const char *const params[] = {"pw", "user"};
    ls_compile_env env = {params, 2, NULL, 0, NULL, 0, false, {0}, false};
    ls_value pv = ls_map_new();
    ls_map_set(&pv, "pw", ls_string(" Hunter2 "));
    ls_map_set(&pv, "user", ls_string("Alice"));
    ls_secret_add(" Hunter2 ", 9);
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = pv;
    const char *srcs[] = {"upper(params.pw)", "trim(lower(params.pw))", "upper(params.user)"};
    const char *want[] = {"***", "***", "ALICE"};
    for (int i = 0; i < 3; i++) {
        ls_diags d;
        ls_diags_init(&d);
        ls_loc loc = {"t", 1, 1};
        ls_expr *e = ls_expr_compile(srcs[i], strlen(srcs[i]), loc, &env, &d);
        ls_value v = ls_null();
        ls_error err;
        ls_error_clear(&err);
        CHECK(e && ls_expr_eval(e, &ctx, &v, &err) == 0);
        size_t rl;
        char *r = ls_redact(ls_str_ptr(v), ls_str_len(v), &rl);
        check_str(__LINE__, r, want[i]);
        free(r);
        ls_value_free(v);
        ls_expr_free(e);
        ls_diags_free(&d);
    }
    ls_secret_clear();
    ls_value_free(pv);
}

int main(void)
{
    test_maps();
    test_scalars_and_text();
    test_buf();
    test_diags();
    test_secret_taint();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
