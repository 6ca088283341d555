/*
 * The redactor, driven by redact.cases (see its header), plus the secret
 * set's own rules (copies, duplicates, empty strings).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static void run_case(const char *file, int lineno, const char *line)
{
    ls_value c;
    char errbuf[256];
    if (!ls_value_from_json(line, strlen(line), &c, errbuf, sizeof errbuf) || c.kind != LS_MAP) {
        fprintf(stderr, "%s:%d: bad case: %s\n", file, lineno, errbuf);
        failures++;
        return;
    }
    ls_secret_clear();
    ls_value secrets = ls_map_get(c, "secrets");
    for (size_t i = 0; i < ls_list_len(secrets); i++) {
        ls_value s = ls_list_at(secrets, i);
        ls_secret_add(ls_str_ptr(s), ls_str_len(s));
    }
    if (ls_map_has(c, "text")) {
        ls_value t = ls_map_get(c, "text"), e = ls_map_get(c, "expect");
        size_t n = 0;
        char *r = ls_redact(ls_str_ptr(t), ls_str_len(t), &n);
        if (r == NULL || n != ls_str_len(e) || memcmp(r, ls_str_ptr(e), n) != 0 || r[n] != '\0') {
            fprintf(stderr, "%s:%d: FAIL\n  text:   %s\n  expect: %s\n  got:    %s\n", file, lineno,
                    ls_str_ptr(t), ls_str_ptr(e), r ? r : "(null)");
            failures++;
        }
        free(r);
    } else {
        ls_value got = ls_redact_value(ls_map_get(c, "value"));
        ls_value e = ls_map_get(c, "expect_value");
        if (!ls_value_equal(got, e)) {
            char *g = ls_value_to_json(got, NULL), *x = ls_value_to_json(e, NULL);
            fprintf(stderr, "%s:%d: FAIL\n  expect: %s\n  got:    %s\n", file, lineno, x, g);
            free(g);
            free(x);
            failures++;
        }
        ls_value_free(got);
    }
    ls_value_free(c);
}

static void test_set_rules(void)
{
    ls_secret_clear();
    char buf[] = "mutable";
    ls_secret_add(buf, 7);
    memcpy(buf, "changed", 7); /* the set keeps its own copy */
    ls_secret_add("mutable", 7);
    ls_secret_add("", 0);
    ls_secret_add(NULL, 3);
    ls_secret_add("abc", 3); /* shorter than LS_SECRET_MIN: not held */
    CHECK(ls_secret_count() == 1, "count %zu", ls_secret_count());
    size_t n = 0;
    char *r = ls_redact("a mutable b", 11, &n);
    CHECK(r && strcmp(r, "a *** b") == 0 && n == 7, "got %s", r ? r : "(null)");
    free(r);
    /* a text with an embedded NUL is handled by length */
    r = ls_redact("x\0mutable", 9, &n);
    CHECK(r && n == 5 && memcmp(r, "x\0***", 5) == 0, "nul: %zu", n);
    free(r);
    /* a value with nothing to hide comes back shared, not copied */
    ls_value m = ls_map_new(), l = ls_list_new();
    ls_list_push(&l, ls_string("plain"));
    ls_map_set(&m, "k", l);
    ls_map_set(&m, "u", ls_string("https://host/path"));
    ls_value r1 = ls_redact_value(m);
    CHECK(r1.kind == LS_MAP && r1.u.m == m.u.m, "unchanged map was copied");
    ls_value_free(r1);
    ls_value_free(m);

    ls_secret_clear();
    CHECK(ls_secret_count() == 0, "cleared");
    r = ls_redact("a mutable b", 11, NULL);
    CHECK(r && strcmp(r, "a mutable b") == 0, "after clear %s", r ? r : "(null)");
    free(r);
}

/* Deterministic random texts over a small alphabet, so overlaps, repeats
 * and URI fragments are common: no secret survives redaction, and with no
 * secret and no "://" the text comes back unchanged.  (Secrets hold no '*',
 * so the mask itself can never spell one.) */
static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static void test_random(void)
{
    static const char alphabet[] = "abc:/@ ";
    for (int round = 0; round < 3000; round++) {
        ls_secret_clear();
        char secrets[3][LS_SECRET_MIN + 2];
        size_t nsec = next_rand() % 4;
        for (size_t k = 0; k < nsec; k++) {
            size_t len = LS_SECRET_MIN + next_rand() % 2;
            for (size_t i = 0; i < len; i++)
                secrets[k][i] = alphabet[next_rand() % 3]; /* a, b or c */
            secrets[k][len] = '\0';
            ls_secret_add(secrets[k], len);
        }
        char text[80];
        size_t tlen = next_rand() % sizeof text;
        for (size_t i = 0; i < tlen; i++)
            text[i] = alphabet[next_rand() % (sizeof alphabet - 1)];
        size_t n = 0;
        char *r = ls_redact(text, tlen, &n);
        CHECK(r != NULL && strlen(r) == n, "round %d", round);
        if (r == NULL)
            continue;
        for (size_t k = 0; k < nsec; k++)
            CHECK(strstr(r, secrets[k]) == NULL, "round %d: '%s' left in '%s'", round, secrets[k], r);
        if (nsec == 0 && memmem(text, tlen, "://", 3) == NULL)
            CHECK(n == tlen && memcmp(r, text, n) == 0, "round %d: changed '%s'", round, r);
        free(r);
    }
    ls_secret_clear();
}

/* One byte of a secret, encoded at random the way a JSON encoder or a
 * URL encoder may write it. */
static void encode_byte(char *out, size_t *o, unsigned char c, bool json)
{
    static const char hex_lo[] = "0123456789abcdef", hex_up[] = "0123456789ABCDEF";
    const char *hex = next_rand() % 2 ? hex_lo : hex_up;
    uint32_t pick = next_rand() % 3;
    if (json) {
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : NULL;
        if (esc && pick != 2) {
            memcpy(out + *o, esc, 2);
            *o += 2;
        } else if (c == '/' && pick == 0) {
            memcpy(out + *o, "\\/", 2);
            *o += 2;
        } else if (c < 0x80 && (pick == 2 || c < 0x20 || c == '"' || c == '\\')) {
            out[(*o)++] = '\\';
            out[(*o)++] = 'u';
            out[(*o)++] = '0';
            out[(*o)++] = '0';
            out[(*o)++] = hex[c >> 4];
            out[(*o)++] = hex[c & 15];
        } else {
            out[(*o)++] = (char)c;
        }
    } else {
        if (c == ' ' && pick == 0) {
            out[(*o)++] = '+';
        } else if (pick != 2 || c == '%' || c == '+' || c == ' ') {
            out[(*o)++] = '%';
            out[(*o)++] = hex[c >> 4];
            out[(*o)++] = hex[c & 15];
        } else {
            out[(*o)++] = (char)c;
        }
    }
}

/* A secret over characters that encoders escape, written JSON-escaped or
 * URL-encoded at random between markers: the whole encoding is masked and
 * nothing around it. */
static void test_encoded(void)
{
    static const char alphabet[] = "ab\"\\/ +%\n&=";
    for (int round = 0; round < 3000; round++) {
        ls_secret_clear();
        char sec[16];
        size_t len = LS_SECRET_MIN + next_rand() % 8;
        for (size_t i = 0; i < len; i++)
            sec[i] = alphabet[next_rand() % (sizeof alphabet - 1)];
        sec[len] = '\0';
        ls_secret_add(sec, len);
        bool json = next_rand() % 2;
        char text[256];
        size_t o = 0;
        memcpy(text, "x<", 2);
        o = 2;
        for (size_t i = 0; i < len; i++)
            encode_byte(text, &o, (unsigned char)sec[i], json);
        memcpy(text + o, ">y", 2);
        o += 2;
        size_t n = 0;
        char *r = ls_redact(text, o, &n);
        CHECK(r != NULL && n == 7 && memcmp(r, "x<***>y", 7) == 0, "round %d (%s): '%.*s' -> '%s'", round,
              json ? "json" : "url", (int)o, text, r ? r : "(null)");
        free(r);
    }
    ls_secret_clear();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s redact.cases\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    char line[8192];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        run_case(argv[1], lineno, line);
        cases++;
    }
    fclose(f);
    test_set_rules();
    test_random();
    test_encoded();
    ls_secret_clear();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("redact: %d cases passed\n", cases);
    return 0;
}
