/*
 * The action registry: one sorted table, family inputs, defaults from JSON
 * text, type checks of rendered inputs, mutates decided per call.
 */
#include <stdio.h>
#include <string.h>

#include "registry.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static ls_value json(const char *s)
{
    ls_value v;
    char err[200];
    if (!ls_value_from_json(s, strlen(s), &v, err, sizeof err)) {
        fprintf(stderr, "bad test JSON %s: %s\n", s, err);
        failures++;
        return ls_map_new();
    }
    return v;
}

int main(void)
{
    size_t n = ls_action_count();
    CHECK(n >= 5);
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(ls_action_at(i - 1)->name, ls_action_at(i)->name) < 0); /* sorted, unique */
    CHECK(ls_action_at(n) == NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(ls_action_find(ls_action_at(i)->name) == ls_action_at(i));
    CHECK(ls_action_find("no.such.action") == NULL);
    CHECK(ls_action_find("") == NULL);

    const ls_action *exec = ls_action_find("exec");
    CHECK(exec && ls_action_input(exec, "argv") && ls_action_input(exec, "argv")->required);
    CHECK(exec && ls_action_input(exec, "namespace") == NULL);

    CHECK(ls_family_find("kubectl") && ls_family_find("docker") && ls_family_find("mongo") && ls_family_find("http"));
    CHECK(ls_family_find("exec") == NULL && ls_family_find(NULL) == NULL);
    const ls_action *kget = ls_action_find("kubectl.get");
    if (kget) {
        CHECK(ls_action_input(kget, "context") != NULL); /* a family input */
        CHECK(ls_action_input(kget, "kubectl") != NULL);
        ls_value in = json("{\"kind\":\"deployment\",\"name\":\"x\"}");
        ls_action_apply_defaults(kget, &in);
        CHECK(strcmp(ls_str_ptr(ls_map_get(in, "kubectl")), "kubectl") == 0); /* family default */
        ls_value_free(in);
    }

    if (exec) {
        ls_value in = json("{\"argv\":[\"true\"]}");
        ls_action_apply_defaults(exec, &in);
        ls_value codes = ls_map_get(in, "ok_codes");
        CHECK(codes.kind == LS_LIST && ls_list_len(codes) == 1 && ls_list_at(codes, 0).u.i == 0);
        ls_error err;
        ls_error_clear(&err);
        CHECK(ls_action_check_types(exec, in, &err) == 0);
        CHECK(ls_action_mutates(exec, in));
        ls_value_free(in);

        in = json("{\"argv\":\"ls -l\"}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(exec, in, &err) == -1);
        CHECK(strstr(err.msg, "input 'argv' must be list, got string") != NULL);
        ls_value_free(in);

        in = json("{\"argvs\":[]}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(exec, in, &err) == -1 && strstr(err.msg, "unknown input 'argvs'"));
        ls_value_free(in);

        in = json("{\"cwd\":\"/\"}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(exec, in, &err) == -1 && strstr(err.msg, "input 'argv' is required"));
        ls_value_free(in);
    }
    const ls_action *wait = ls_action_find("wait");
    if (wait) {
        ls_error err;
        ls_value in = json("{\"duration\":\"1h30m\"}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(wait, in, &err) == 0);
        ls_value_free(in);
        in = json("{\"duration\":5}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(wait, in, &err) == 0);
        ls_value_free(in);
        in = json("{\"duration\":\"soon\"}");
        ls_error_clear(&err);
        CHECK(ls_action_check_types(wait, in, &err) == -1);
        ls_value_free(in);
        CHECK(!ls_action_mutates(wait, ls_null()));
    }
    const ls_action *http = ls_action_find("http.request");
    if (http && http->mutates_fn) {
        ls_value get = json("{\"method\":\"GET\",\"url\":\"http://x\"}");
        ls_value post = json("{\"method\":\"POST\",\"url\":\"http://x\"}");
        CHECK(!ls_action_mutates(http, get));
        CHECK(ls_action_mutates(http, post));
        ls_value_free(get);
        ls_value_free(post);
    }
    printf("registry: %zu actions, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
