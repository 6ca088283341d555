/*
 * Deterministic fuzz-style smoke test: random token soup, byte mutations
 * of the expressions in cases.txt, random bytes, and the pathological
 * inputs of issue 2 (50,000-deep parentheses, long !!!/--- chains, deep
 * JSON, 1 MB of noise), each of which must fail cleanly and fast.
 * Run under ASan+UBSan in CI.  Prints "N inputs, 0 failures".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "expr.h"
#include "fuzz_one.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static const char *const k_vocab[] = {
    "params", "states", "result", "guards", "env", "run", ".", "n", "s", "list", "map", "a", "b",
    "ok", "status", "json", "fileSize", "(", ")", "[", "]", ",", "'x'", "\"y\"", "'\\n'", "1", "0",
    "-1", "2.5", "1e3", "9223372036854775807", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">",
    ">=", "=~", "!~", "/ab+/i", "/a\\/b/", "!", "not", "and", "or", "&&", "||", "in", "true", "false",
    "null", "len", "exists", "int", "float", "str", "lower", "upper", "trim", "contains",
    "starts_with", "ends_with", "matches", "default", "semver_cmp", "now", "lines", "keys", "json",
    "${{", "}}", "$${{", "\\", "'", "\"", "{", "}", ":", " ", "\n", "\t", "#", "@", "1h30m", "250ms",
};

/* CPU seconds of this process: a bound on the work done, which a busy
 * machine does not stretch as it stretches wall time.  The bounds below
 * are for a sanitizer build; what they catch (quadratic or worse work on
 * deep or huge input) takes minutes. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int g_inputs, g_failures;

static void one(const char *s, size_t n)
{
    ls_fuzz_one((const uint8_t *)s, n);
    g_inputs++;
}

/* An input that must be rejected by the compiler, quickly. */
static void must_reject(const char *what, const char *s, size_t n, bool is_json)
{
    double t0 = now_s();
    bool ok;
    if (is_json) {
        ls_value v;
        char err[128];
        ok = ls_value_from_json(s, n, &v, err, sizeof err);
        if (ok)
            ls_value_free(v);
    } else {
        ls_diags d;
        ls_diags_init(&d);
        ls_loc loc = {"deep", 1, 1};
        ls_compile_env env = {NULL, 0, NULL, 0, NULL, 0, true, {0}, false};
        ls_expr *e = ls_expr_compile(s, n, loc, &env, &d);
        ok = e != NULL;
        ls_expr_free(e);
        ls_diags_free(&d);
    }
    double dt = now_s() - t0;
    g_inputs++;
    if (ok || dt > 10.0) {
        printf("FAIL %s: %s in %.3fs\n", what, ok ? "accepted" : "rejected", dt);
        g_failures++;
    }
}

static void deep(const char *what, const char *prefix, const char *middle, const char *suffix,
                 size_t count, bool is_json)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < count; i++)
        ls_buf_adds(&b, prefix);
    ls_buf_adds(&b, middle);
    for (size_t i = 0; i < count; i++)
        ls_buf_adds(&b, suffix);
    must_reject(what, ls_buf_str(&b), b.len, is_json);
    ls_buf_free(&b);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    const char *src = getenv("LOCKSTEP_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/expr/cases.txt", src ? src : ".");

    /* Seeds: every line of the case file. */
    char **seeds = NULL;
    size_t nseeds = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            size_t l = strcspn(line, "\n");
            line[l] = '\0';
            if (l == 0 || line[0] == '#' || l > 400)
                continue;
            char **ns = realloc(seeds, (nseeds + 1) * sizeof *ns);
            if (!ns)
                return 2;
            seeds = ns;
            seeds[nseeds] = malloc(l + 1);
            if (!seeds[nseeds])
                return 2;
            memcpy(seeds[nseeds], line, l + 1);
            nseeds++;
        }
        fclose(f);
    }

    char buf[1024];
    for (long r = 0; r < rounds; r++) {
        size_t n = 0;
        switch (r % 3) {
        case 0: { /* token soup */
            size_t k = 1 + rndn(12);
            for (size_t i = 0; i < k; i++) {
                const char *w = k_vocab[rndn(sizeof k_vocab / sizeof *k_vocab)];
                size_t wl = strlen(w);
                if (n + wl + 1 >= sizeof buf)
                    break;
                memcpy(buf + n, w, wl);
                n += wl;
                if (rndn(3) == 0)
                    buf[n++] = ' ';
            }
            break;
        }
        case 1: { /* a mutated seed */
            if (!nseeds)
                continue;
            const char *s = seeds[rndn(nseeds)];
            n = strlen(s);
            if (n >= sizeof buf - 8)
                n = sizeof buf - 8;
            memcpy(buf, s, n);
            size_t edits = 1 + rndn(3);
            for (size_t i = 0; i < edits; i++) {
                size_t at = rndn(n + 1);
                switch (rndn(3)) {
                case 0: if (at < n) buf[at] = (char)rndn(256); break;
                case 1:
                    if (n + 1 < sizeof buf) {
                        memmove(buf + at + 1, buf + at, n - at);
                        buf[at] = (char)rndn(128);
                        n++;
                    }
                    break;
                default:
                    if (at < n) {
                        memmove(buf + at, buf + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                }
            }
            break;
        }
        default: /* random bytes */
            n = rndn(64);
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)rndn(256);
            break;
        }
        one(buf, n);
    }

    deep("50,000 nested parentheses", "(", "1", ")", 50000, false);
    deep("50,000 '!'", "!", "true", "", 50000, false);
    deep("50,000 'not '", "not ", "true", "", 50000, false);
    deep("50,000 '-'", "-", "1", "", 50000, false);
    deep("50,000 nested lists", "[", "", "]", 50000, false);
    deep("50,000 nested calls", "len(", "1", ")", 50000, false);
    deep("50,000 nested indexes", "params[", "1", "]", 50000, false);
    deep("100,000 chained '+'", "1+", "1", "", 100000, false);
    deep("100,000 chained 'or'", "true or ", "true", "", 100000, false);
    deep("20,000 deep JSON lists", "[", "", "]", 20000, true);
    deep("20,000 deep JSON maps", "{\"a\":", "1", "}", 20000, true);

    /* 1 MB of noise through every parser. */
    size_t big = 1 << 20;
    char *noise = malloc(big);
    if (!noise)
        return 2;
    for (size_t i = 0; i < big; i++)
        noise[i] = (char)rndn(256);
    double t0 = now_s();
    one(noise, big);
    if (now_s() - t0 > 20.0) {
        printf("FAIL 1 MB of noise took %.3fs\n", now_s() - t0);
        g_failures++;
    }
    free(noise);

    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i]);
    free(seeds);
    printf("%d inputs, %d failures\n", g_inputs, g_failures);
    return g_failures ? 1 : 0;
}
