/*
 * BSON <-> value mapping, as data: tests/mongo/bson.cases (see its header).
 * Also: nesting deeper than LS_BSON_MAX_DEPTH is an error both ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bson_conv.h"

static int failures;

static void fail(int line, const char *what, const char *want, const char *got)
{
    failures++;
    printf("FAIL bson.cases:%d: %s\n  want: %s\n  got:  %s\n", line, what, want, got);
}

static void from_bson(int line, const char *in, const char *want)
{
    bson_t doc;
    bson_error_t be;
    if (!bson_init_from_json(&doc, in, -1, &be)) {
        fail(line, "input is not extended JSON", in, be.message);
        return;
    }
    ls_value v;
    char eb[256] = "";
    if (!ls_value_from_bson(&doc, &v, eb, sizeof eb)) {
        fail(line, "from_bson", want, eb);
    } else {
        char *got = ls_value_to_json(v, NULL);
        if (strcmp(got, want) != 0)
            fail(line, "from_bson", want, got);
        free(got);
        ls_value_free(v);
    }
    bson_destroy(&doc);
}

static void to_bson(int line, const char *in, const char *want)
{
    ls_value v;
    char eb[256] = "";
    if (!ls_value_from_json(in, strlen(in), &v, eb, sizeof eb)) {
        fail(line, "input is not JSON", in, eb);
        return;
    }
    bson_t doc = BSON_INITIALIZER;
    if (!ls_bson_from_map(v, &doc, eb, sizeof eb)) {
        char got[300];
        snprintf(got, sizeof got, "error: %s", eb);
        if (strcmp(got, want) != 0)
            fail(line, "to_bson", want, got);
    } else {
        char *got = bson_as_canonical_extended_json(&doc, NULL);
        if (strcmp(got, want) != 0)
            fail(line, "to_bson", want, got);
        bson_free(got);
    }
    bson_destroy(&doc);
    ls_value_free(v);
}

static void depth_limits(void)
{
    /* A document nested 300 deep: libbson builds it, we refuse it. */
    bson_t *docs[301];
    docs[300] = bson_new();
    for (int i = 299; i >= 0; i--) {
        docs[i] = bson_new();
        BSON_APPEND_DOCUMENT(docs[i], "d", docs[i + 1]);
    }
    ls_value v;
    char eb[256] = "";
    if (ls_value_from_bson(docs[0], &v, eb, sizeof eb)) {
        ls_value_free(v);
        fail(0, "deep BSON accepted", "an error", "a value");
    } else if (strstr(eb, "deeper than") == NULL) {
        fail(0, "deep BSON message", "... deeper than ...", eb);
    }
    for (int i = 0; i <= 300; i++)
        bson_destroy(docs[i]);

    ls_value deep = ls_map_new();
    for (int i = 0; i < 300; i++) {
        ls_value outer = ls_map_new();
        ls_map_set(&outer, "d", deep);
        deep = outer;
    }
    bson_t doc = BSON_INITIALIZER;
    if (ls_bson_from_map(deep, &doc, eb, sizeof eb))
        fail(0, "deep value accepted", "an error", "a document");
    bson_destroy(&doc);
    ls_value_free(deep);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_bson_conv bson.cases\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    char line[4096];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (t2 == NULL) {
            fail(lineno, "malformed case line", "KIND<TAB>IN<TAB>WANT", line);
            continue;
        }
        *t1 = *t2 = '\0';
        cases++;
        if (strcmp(line, "from_bson") == 0)
            from_bson(lineno, t1 + 1, t2 + 1);
        else if (strcmp(line, "to_bson") == 0)
            to_bson(lineno, t1 + 1, t2 + 1);
        else
            fail(lineno, "unknown kind", "from_bson|to_bson", line);
    }
    fclose(f);
    depth_limits();
    printf("%d cases, %d failed\n", cases, failures);
    return failures ? 1 : 0;
}
