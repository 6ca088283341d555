/*
 * The YAML reader's scalar resolution, as data (tests/load/yaml_scalars.txt):
 * each case is the YAML text of one value and the value it must become.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_doc.h"

int main(void)
{
    const char *src = getenv("LOCKSTEP_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/load/yaml_scalars.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    char line[4096];
    int n = 0, failures = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (line[0] == '#' || len == 0)
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "%s:%d: no tab\n", path, lineno);
            failures++;
            continue;
        }
        *tab = '\0';
        char doc[4200];
        int dl = snprintf(doc, sizeof doc, "v: %s\n", line);
        ls_diags d;
        ls_diags_init(&d);
        ls_ynode *root = ls_yaml_parse(doc, (size_t)dl, "case", &d);
        char *got = NULL;
        if (root) {
            ls_value v = ls_yaml_value(ls_ymap_get(root, "v"));
            got = ls_value_to_json(v, NULL);
            ls_value_free(v);
        }
        if (!got || strcmp(got, tab + 1) != 0) {
            fprintf(stderr, "FAIL %s:%d: v: %s -> %s, expected %s\n", path, lineno, line, got ? got : "(error)",
                    tab + 1);
            failures++;
        }
        free(got);
        ls_ynode_free(root);
        ls_diags_free(&d);
        n++;
    }
    fclose(f);
    printf("yaml scalars: %d cases, %d failed\n", n, failures);
    return failures || n == 0 ? 1 : 0;
}
