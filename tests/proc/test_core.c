/*
 * The core actions through their table rows: core.cases (see its header)
 * plus what a case file cannot say -- the table's shape, cancellation, and
 * an injected argv element creating nothing.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "registry.h"
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

static const ls_action *core(const char *name)
{
    for (const ls_action *a = ls_actions_core; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static const char *status_name(ls_act_status s)
{
    return ls_act_status_name(s);
}

static ls_act_status call_action(const ls_action *a, ls_value inputs, int64_t timeout_ms,
                                 const volatile sig_atomic_t *cancel, const char *approved_by,
                                 ls_value *result, ls_error *err)
{
    ls_call c;
    memset(&c, 0, sizeof c);
    c.state = "test";
    c.inputs = inputs;
    c.timeout_ms = timeout_ms;
    c.deadline_ms = timeout_ms > 0 ? ls_now_ms() + timeout_ms : 0;
    c.cancel = cancel;
    c.approved_by = approved_by;
    ls_error_clear(err);
    *result = ls_null();
    if (a == NULL) {
        snprintf(err->msg, sizeof err->msg, "no such core action");
        return LS_ACT_FAILED;
    }
    return a->run(&c, result, err);
}

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
    for (size_t i = 0; i < ls_list_len(secrets); i++)
        ls_secret_add(ls_str_ptr(ls_list_at(secrets, i)), ls_str_len(ls_list_at(secrets, i)));
    const char *name = ls_str_ptr(ls_map_get(c, "action"));
    const ls_action *a = core(name);
    if (a == NULL) {
        fprintf(stderr, "%s:%d: no action %s\n", file, lineno, name);
        failures++;
        ls_value_free(c);
        return;
    }
    ls_value approved = ls_map_get(c, "approved_by");
    ls_value result;
    ls_error err;
    ls_act_status st = call_action(a, ls_map_get(c, "inputs"), ls_map_get(c, "timeout_ms").u.i, NULL,
                                   approved.kind == LS_STRING ? ls_str_ptr(approved) : NULL, &result, &err);
    const char *want_status = ls_str_ptr(ls_map_get(c, "status"));
    const char *want_error = ls_str_ptr(ls_map_get(c, "error"));
    bool ok = strcmp(status_name(st), want_status) == 0 && strcmp(err.msg, want_error) == 0 &&
              result.kind == LS_MAP;
    ls_value want = ls_map_get(c, "result");
    for (size_t i = 0; ok && i < ls_map_len(want); i++)
        ok = ls_value_equal(ls_map_get(result, ls_map_key_at(want, i)), ls_map_value_at(want, i));
    if (ls_map_len(want) == 0 && ls_map_len(result) != 0 && strcmp(name, "exec") != 0 &&
        strcmp(name, "shell") != 0)
        ok = false;
    if (!ok) {
        char *r = ls_value_to_json(result, NULL);
        fprintf(stderr, "%s:%d: FAIL %s\n  status: %s (want %s)\n  error:  %s\n  want:   %s\n  result: %s\n",
                file, lineno, name, status_name(st), want_status, err.msg, want_error, r ? r : "(null)");
        free(r);
        failures++;
    }
    ls_value_free(result);
    ls_value_free(c);
    ls_secret_clear();
}

/* The rows SPEC 6 fixes: names, families, inputs, mutates, idempotent. */
static void test_table(void)
{
    static const struct {
        const char *name, *family, *inputs;
        bool mutates, idempotent;
    } want[] = {
        {"exec", "exec", "argv:list:R env:map cwd:string stdin:string ok_codes:list=[0] scan:list max_matches:int=100", true,
         false},
        {"shell", "exec", "script:string:R env:map cwd:string", true, false},
        {"wait", "wait", "duration:duration", false, true},
        {"noop", "noop", "", false, true},
        {"manual.confirm", "manual", "prompt:string:R url:string", false, true},
    };
    size_t n = 0;
    for (const ls_action *a = ls_actions_core; a->name != NULL; a++)
        n++;
    CHECK(n == 5, "%zu rows", n);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ls_action *a = core(want[i].name);
        CHECK(a != NULL, "%s missing", want[i].name);
        if (a == NULL)
            continue;
        char got[512] = "";
        size_t off = 0;
        for (const ls_input *in = a->inputs; in->name != NULL; in++) {
            int w = snprintf(got + off, sizeof got - off, "%s%s:%s%s%s%s", off ? " " : "", in->name, in->type,
                             in->required ? ":R" : "", in->def ? "=" : "", in->def ? in->def : "");
            off += (size_t)w;
            CHECK(in->doc != NULL && in->doc[0] != '\0', "%s.%s has no doc", a->name, in->name);
        }
        CHECK(strcmp(got, want[i].inputs) == 0, "%s inputs: %s", a->name, got);
        CHECK(strcmp(a->family, want[i].family) == 0, "%s family %s", a->name, a->family);
        CHECK(a->mutates == want[i].mutates && a->idempotent == want[i].idempotent, "%s flags", a->name);
        CHECK(a->run != NULL && a->doc != NULL && a->fails_when != NULL && a->results != NULL, "%s row", a->name);
    }
}

static volatile sig_atomic_t cancel_flag;

static void on_alarm(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static void test_cancel(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    const char *names[] = {"exec", "wait"};
    const char *inputs[] = {"{\"argv\":[\"sleep\",\"30\"]}", "{\"duration\":\"30s\"}"};
    const char *errors[] = {"exec: sleep 30 was cancelled", "wait: cancelled"};
    for (size_t i = 0; i < 2; i++) {
        ls_value in;
        char eb[128];
        ls_value_from_json(inputs[i], strlen(inputs[i]), &in, eb, sizeof eb);
        cancel_flag = 0;
        struct itimerval it = {{0, 0}, {0, 150000}};
        setitimer(ITIMER_REAL, &it, NULL);
        int64_t t0 = ls_now_ms();
        ls_value result;
        ls_error err;
        ls_act_status st = call_action(core(names[i]), in, 0, &cancel_flag, NULL, &result, &err);
        int64_t took = ls_now_ms() - t0;
        CHECK(st == LS_ACT_CANCELLED, "%s: %s", names[i], status_name(st));
        CHECK(strcmp(err.msg, errors[i]) == 0, "%s: %s", names[i], err.msg);
        /* well under the 30 s it would take uncancelled, with room for a busy machine */
        CHECK(took < 25000, "%s took %lld ms", names[i], (long long)took);
        CHECK(result.kind == LS_MAP, "%s result", names[i]);
        ls_value_free(result);
        ls_value_free(in);
    }
    cancel_flag = 0;
}

static void test_injection(void)
{
    char dir[] = "/tmp/ls-core-test-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        failures++;
        return;
    }
    ls_value in = ls_map_new(), argv = ls_list_new();
    ls_list_push(&argv, ls_string("printf"));
    ls_list_push(&argv, ls_string("<%s>"));
    ls_list_push(&argv, ls_string("; touch PWNED"));
    ls_map_set(&in, "argv", argv);
    ls_map_set(&in, "cwd", ls_string(dir));
    ls_value result;
    ls_error err;
    ls_act_status st = call_action(core("exec"), in, 300000, NULL, NULL, &result, &err);
    CHECK(st == LS_ACT_OK, "%s", err.msg);
    CHECK(strcmp(ls_str_ptr(ls_map_get(result, "stdout")), "<; touch PWNED>") == 0, "stdout %s",
          ls_str_ptr(ls_map_get(result, "stdout")));
    char p[256];
    snprintf(p, sizeof p, "%s/PWNED", dir);
    CHECK(access(p, F_OK) != 0, "PWNED created");
    ls_value_free(result);
    ls_value_free(in);
    rmdir(dir);
}

static int destroyed;

static void count_destroy(void *obj)
{
    destroyed++;
    free(obj);
}

/* call.c: the clock, the time left, and the per-runner cache. */
static void test_call(void)
{
    ls_call c;
    memset(&c, 0, sizeof c);
    CHECK(ls_call_remaining_ms(&c) == INT64_MAX, "no deadline");
    c.deadline_ms = ls_now_ms() + 600000;
    int64_t left = ls_call_remaining_ms(&c);
    CHECK(left > 540000 && left <= 600000, "left %lld", (long long)left); /* a minute for a busy machine */
    c.deadline_ms = ls_now_ms() - 5;
    CHECK(ls_call_remaining_ms(&c) == 0, "past deadline");

    struct ls_runner *r1 = (struct ls_runner *)(uintptr_t)0x1000, *r2 = (struct ls_runner *)(uintptr_t)0x2000;
    ls_call a, b, none;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&none, 0, sizeof none);
    a.runner = r1;
    b.runner = r2;
    destroyed = 0;
    ls_call_cache_put(&a, "mongodb://x", malloc(1), count_destroy);
    ls_call_cache_put(&b, "mongodb://x", malloc(1), count_destroy);
    ls_call_cache_put(&none, "mongodb://x", malloc(1), count_destroy);
    void *pa = ls_call_cache_get(&a, "mongodb://x");
    CHECK(pa != NULL && pa != ls_call_cache_get(&b, "mongodb://x"), "runners share an entry");
    CHECK(ls_call_cache_get(&a, "mongodb://y") == NULL, "unknown key");
    ls_call_cache_put(&a, "mongodb://x", malloc(1), count_destroy); /* replaces */
    CHECK(destroyed == 1 && ls_call_cache_get(&a, "mongodb://x") != NULL, "replace: %d", destroyed);
    ls_call_cache_clear(r1);
    CHECK(destroyed == 2 && ls_call_cache_get(&a, "mongodb://x") == NULL, "clear r1: %d", destroyed);
    CHECK(ls_call_cache_get(&b, "mongodb://x") != NULL, "r2 kept");
    ls_call_cache_clear(NULL);
    CHECK(destroyed == 3 && ls_call_cache_get(&none, "mongodb://x") == NULL, "clear NULL: %d", destroyed);
    ls_call_cache_clear(r2);
    CHECK(destroyed == 4, "clear r2: %d", destroyed);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s core.cases\n", argv[0]);
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
    test_table();
    test_call();
    test_cancel();
    test_injection();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("core actions: %d cases passed\n", cases);
    return 0;
}
