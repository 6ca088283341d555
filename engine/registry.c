/*
 * The action registry: joins every family's table into one list sorted by
 * name (SPEC 6), and answers the questions the validator, the runner and
 * `lockstep actions` ask of it.
 */
#include <stdlib.h>
#include <string.h>

#include "load_int.h"
#include "plugin.h"
#include "registry.h"

/* Every family's table, one line each. */
static const ls_action *const ls_tables[] = {
    ls_actions_core,
    ls_actions_kubectl,
    ls_actions_docker,
    ls_actions_text,
    ls_actions_http,
    ls_actions_mongo,
    NULL,
};

static const ls_input kubectl_family[] = {
    {"context", "string", false, NULL, "kubeconfig context (kubectl --context)"},
    {"namespace", "string", false, NULL, "namespace (kubectl --namespace)"},
    {"kubeconfig", "string", false, NULL, "path of the kubeconfig file (kubectl --kubeconfig)"},
    {"kubectl", "string", false, "\"kubectl\"", "the kubectl program (a path, or a name looked up on PATH)"},
    {NULL, NULL, false, NULL, NULL},
};
static const ls_input docker_family[] = {
    {"docker", "string", false, "\"docker\"", "the docker program (a path, or a name looked up on PATH)"},
    {NULL, NULL, false, NULL, NULL},
};
static const ls_input mongo_family[] = {
    {"uri", "string", false, NULL, "MongoDB connection string (mongodb://...)"},
    {"db", "string", false, NULL, "database name"},
    {NULL, NULL, false, NULL, NULL},
};
static const ls_input http_family[] = {
    {"base_url", "string", false, NULL, "prefix of every request's path (https://host:port)"},
    {"headers", "map", false, NULL, "request headers (name -> value)"},
    {"insecure", "bool", false, "false", "skip TLS certificate verification"},
    {"ca_file", "string", false, NULL, "PEM file of CA certificates to trust"},
    {NULL, NULL, false, NULL, NULL},
};

const ls_family ls_families[] = {
    {"docker", docker_family, NULL},
    {"http", http_family, "http"},
    {"kubectl", kubectl_family, NULL},
    {"mongo", mongo_family, "mongo"},
    {NULL, NULL, NULL},
};

static const ls_action **ls_sorted;
static size_t ls_nsorted;

static int ls_action_cmp(const void *pa, const void *pb)
{
    const ls_action *a = *(const ls_action *const *)pa, *b = *(const ls_action *const *)pb;
    return strcmp(a->name, b->name);
}

static void ls_registry_init(void)
{
    if (ls_sorted)
        return;
    size_t n = 0;
    for (size_t t = 0; ls_tables[t]; t++)
        for (const ls_action *a = ls_tables[t]; a->name; a++)
            n++;
    ls_sorted = malloc((n ? n : 1) * sizeof *ls_sorted);
    if (!ls_sorted)
        ls_oom();
    n = 0;
    for (size_t t = 0; ls_tables[t]; t++)
        for (const ls_action *a = ls_tables[t]; a->name; a++)
            ls_sorted[n++] = a;
    qsort(ls_sorted, n, sizeof *ls_sorted, ls_action_cmp);
    ls_nsorted = n;
}

size_t ls_action_count(void)
{
    ls_registry_init();
    return ls_nsorted;
}

const ls_action *ls_action_at(size_t i)
{
    ls_registry_init();
    return i < ls_nsorted ? ls_sorted[i] : NULL;
}

const ls_action *ls_action_find(const char *name)
{
    ls_registry_init();
    size_t lo = 0, hi = ls_nsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, ls_sorted[mid]->name);
        if (c == 0)
            return ls_sorted[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const ls_family *ls_family_find(const char *name)
{
    if (!name)
        return NULL;
    for (const ls_family *f = ls_families; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

const ls_input *ls_action_input(const ls_action *a, const char *name)
{
    for (const ls_input *in = a->inputs; in && in->name; in++)
        if (strcmp(in->name, name) == 0)
            return in;
    const ls_family *f = ls_family_find(a->family);
    for (const ls_input *in = f ? f->inputs : NULL; in && in->name; in++)
        if (strcmp(in->name, name) == 0)
            return in;
    return NULL;
}

ls_action_fn ls_action_runner(const ls_action *a, ls_error *err)
{
    if (a->run != NULL)
        return a->run;
    const ls_family *f = ls_family_find(a->family);
    if (f == NULL || f->plugin == NULL) {
        static const ls_loc none = {NULL, 0, 0};
        ls_error_set(err, none, "%s has no code in this build", a->name);
        return NULL;
    }
    return ls_plugin_action_fn(f->plugin, a->name, err);
}

static void ls_apply_list(const ls_input *in, ls_value *inputs)
{
    for (; in && in->name; in++) {
        if (!in->def || ls_map_has(*inputs, in->name))
            continue;
        ls_value v;
        char err[128];
        if (ls_value_from_json(in->def, strlen(in->def), &v, err, sizeof err))
            ls_map_set(inputs, in->name, v);
    }
}

void ls_action_apply_defaults(const ls_action *a, ls_value *inputs)
{
    ls_apply_list(a->inputs, inputs);
    const ls_family *f = ls_family_find(a->family);
    if (f)
        ls_apply_list(f->inputs, inputs);
}

bool ls_action_mutates(const ls_action *a, ls_value inputs)
{
    return a->mutates_fn ? a->mutates_fn(inputs) : a->mutates;
}

static bool ls_one_type_ok(const char *t, size_t n, ls_value v)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(t, s, n) == 0)
    if (IS("any"))
        return true;
    if (IS("string"))
        return v.kind == LS_STRING;
    if (IS("int"))
        return v.kind == LS_INT;
    if (IS("float") || IS("number"))
        return v.kind == LS_INT || v.kind == LS_FLOAT;
    if (IS("bool"))
        return v.kind == LS_BOOL;
    if (IS("list"))
        return v.kind == LS_LIST;
    if (IS("map"))
        return v.kind == LS_MAP;
    if (IS("duration")) {
        int64_t ms;
        if (v.kind == LS_INT)
            return v.u.i >= 0;
        return v.kind == LS_STRING && ls_duration_parse(ls_str_ptr(v), ls_str_len(v), &ms) == 0;
    }
    return false;
#undef IS
}

bool ls_input_type_ok(const char *type, ls_value v)
{
    /* A null input is as good as an absent one. */
    if (v.kind == LS_NULL)
        return true;
    const char *p = type;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (ls_one_type_ok(p, n, v))
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}

int ls_action_check_types(const ls_action *a, ls_value inputs, ls_error *err)
{
    ls_loc none = {NULL, 0, 0};
    if (inputs.kind != LS_MAP) {
        ls_error_set(err, none, "%s: inputs must be a map", a->name);
        return -1;
    }
    for (size_t i = 0; i < ls_map_len(inputs); i++) {
        const char *k = ls_map_key_at(inputs, i);
        const ls_input *in = ls_action_input(a, k);
        ls_value v = ls_map_value_at(inputs, i);
        if (!in) {
            ls_error_set(err, none, "%s: unknown input '%s'", a->name, k);
            return -1;
        }
        if (!ls_input_type_ok(in->type, v)) {
            ls_error_set(err, none, "%s: input '%s' must be %s, got %s", a->name, k, in->type,
                         ls_kind_name((ls_kind)v.kind));
            return -1;
        }
    }
    for (const ls_input *in = a->inputs; in && in->name; in++) {
        if (in->required && ls_is_null(ls_map_get(inputs, in->name))) {
            ls_error_set(err, none, "%s: input '%s' is required", a->name, in->name);
            return -1;
        }
    }
    return 0;
}

const char *ls_act_status_name(ls_act_status s)
{
    switch (s) {
    case LS_ACT_OK: return "ok";
    case LS_ACT_FAILED: return "failed";
    case LS_ACT_TIMED_OUT: return "timed_out";
    case LS_ACT_CANCELLED: return "cancelled";
    case LS_ACT_INTERRUPTED: return "interrupted";
    }
    return "?";
}
