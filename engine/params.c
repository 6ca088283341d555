/*
 * Params (SPEC 2 "params"): the declarations, the values files, and the
 * resolution of every value, lowest precedence first:
 *     default -> env variable -> --env file -> --values files -> --set
 * Every problem is reported together, before anything runs.  A secret
 * value is registered with the redactor as soon as it is read and never
 * appears in a message.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "load_int.h"
#include "secret.h"

static const char *const ls_ptype_names[] = {"string", "int", "float", "bool", "list", "map"};

void ls_param_clear(ls_param *p)
{
    free(p->name);
    ls_value_free(p->def);
    free(p->env);
    ls_value_free(p->enum_vals);
    if (p->pattern)
        pcre2_code_free((pcre2_code *)p->pattern);
    free(p->pattern_src);
    free(p->description);
}

/* A value from YAML, as the param's type; false with `why` set. */
static bool ls_param_from_node(const ls_param *p, const ls_ynode *n, ls_value *out, char *why, size_t wl)
{
    ls_value v = ls_yaml_scalar(n);
    bool ok = false;
    *out = ls_null();
    if (n->kind == LS_Y_SCALAR && v.kind == LS_NULL && n->plain) {
        snprintf(why, wl, "no value given (an empty or null value)");
        return false;
    }
    switch (p->type) {
    case LS_PT_STRING:
        /* Any scalar as written: `tag: 2.10` is the string "2.10". */
        if ((ok = n->kind == LS_Y_SCALAR))
            *out = ls_string_n(n->str, n->len);
        break;
    case LS_PT_INT:
        if ((ok = n->kind == LS_Y_SCALAR && v.kind == LS_INT))
            *out = ls_int(v.u.i);
        break;
    case LS_PT_FLOAT:
        if ((ok = n->kind == LS_Y_SCALAR && (v.kind == LS_INT || v.kind == LS_FLOAT)))
            *out = ls_float(v.kind == LS_INT ? (double)v.u.i : v.u.f);
        break;
    case LS_PT_BOOL:
        if ((ok = n->kind == LS_Y_SCALAR && v.kind == LS_BOOL))
            *out = ls_bool(v.u.b);
        break;
    case LS_PT_LIST:
        if ((ok = n->kind == LS_Y_SEQ))
            *out = ls_yaml_value(n);
        break;
    case LS_PT_MAP:
        if ((ok = n->kind == LS_Y_MAP))
            *out = ls_yaml_value(n);
        break;
    }
    if (!ok) {
        if (p->type == LS_PT_BOOL && ls_yaml_is_yaml11_bool(n))
            snprintf(why, wl, "expected a bool ('%s' is read as a string: write true or false)",
                     p->secret ? "(secret)" : n->str);
        else
            snprintf(why, wl, "expected %s %s, got %s", p->type == LS_PT_INT ? "an" : "a",
                     ls_ptype_names[p->type], ls_ykind_name(n));
    }
    ls_value_free(v);
    return ok;
}

/* A value from text (--set, an env variable), as the param's type. */
static bool ls_param_from_text(const ls_param *p, const char *s, ls_value *out, char *why, size_t wl)
{
    size_t len = strlen(s);
    char *end = NULL;
    *out = ls_null();
    switch (p->type) {
    case LS_PT_STRING:
        *out = ls_string(s);
        return true;
    case LS_PT_INT: {
        errno = 0;
        long long v = len ? strtoll(s, &end, 10) : 0;
        if (!len || errno || *end || s[0] == ' ' || s[0] == '\t') {
            snprintf(why, wl, "expected an int");
            return false;
        }
        *out = ls_int((int64_t)v);
        return true;
    }
    case LS_PT_FLOAT: {
        errno = 0;
        double v = len ? strtod(s, &end) : 0.0;
        if (!len || errno || *end || !isfinite(v) || s[0] == ' ' || s[0] == '\t') {
            snprintf(why, wl, "expected a float");
            return false;
        }
        *out = ls_float(v);
        return true;
    }
    case LS_PT_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = ls_bool(s[0] == 't');
            return true;
        }
        snprintf(why, wl, "expected a bool (true or false)");
        return false;
    case LS_PT_LIST:
    case LS_PT_MAP: {
        ls_kind want = p->type == LS_PT_LIST ? LS_LIST : LS_MAP;
        char err[256];
        ls_value v;
        if (ls_value_from_json(s, len, &v, err, sizeof err)) {
            if (v.kind == want) {
                *out = v;
                return true;
            }
            ls_value_free(v);
        } else {
            /* YAML flow syntax: [a, b] or {k: v}. */
            ls_diags quiet;
            ls_diags_init(&quiet);
            ls_ynode *n = ls_yaml_parse(s, len, "--set", &quiet);
            ls_diags_free(&quiet);
            if (n && n->kind == (p->type == LS_PT_LIST ? LS_Y_SEQ : LS_Y_MAP)) {
                *out = ls_yaml_value(n);
                ls_ynode_free(n);
                return true;
            }
            ls_ynode_free(n);
        }
        snprintf(why, wl, "expected a %s (JSON or YAML flow: %s)", ls_ptype_names[p->type],
                 p->type == LS_PT_LIST ? "[a, b]" : "{k: v}");
        return false;
    }
    }
    return false;
}

const char *ls_ptype_name(ls_ptype t)
{
    return ls_ptype_names[t];
}

bool ls_param_kind_ok(const ls_param *p, ls_value v)
{
    switch (p->type) {
    case LS_PT_STRING: return v.kind == LS_STRING;
    case LS_PT_INT: return v.kind == LS_INT;
    case LS_PT_FLOAT: return v.kind == LS_INT || v.kind == LS_FLOAT;
    case LS_PT_BOOL: return v.kind == LS_BOOL;
    case LS_PT_LIST: return v.kind == LS_LIST;
    case LS_PT_MAP: return v.kind == LS_MAP;
    }
    return false;
}

/* enum, pattern, min/max.  `src` says where the value came from. */
bool ls_param_check(ls_loader *L, const ls_param *p, ls_value v, ls_loc at, const char *src)
{
    bool ok = true;
    char *shown = p->secret ? NULL : ls_value_to_json(v, NULL);
    const char *sv = shown ? shown : "(secret)";
    if (!ls_is_null(p->enum_vals)) {
        bool found = false;
        for (size_t i = 0; i < ls_list_len(p->enum_vals); i++)
            if (ls_value_equal(ls_list_at(p->enum_vals, i), v))
                found = true;
        if (!found) {
            char *allowed = ls_value_to_json(p->enum_vals, NULL);
            ls_diag_error(L->d, at, "param '%s': %s%s is not one of %s", p->name, src, sv,
                          p->secret ? "the allowed values" : allowed);
            free(allowed);
            ok = false;
        }
    }
    if (p->pattern && v.kind == LS_STRING) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern((pcre2_code *)p->pattern, NULL);
        int rc = pcre2_match((pcre2_code *)p->pattern, (PCRE2_SPTR)ls_str_ptr(v), ls_str_len(v), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0) {
            ls_diag_error(L->d, at, "param '%s': %s%s does not match pattern '%s'", p->name, src, sv,
                          p->pattern_src);
            ok = false;
        }
    }
    if ((p->has_min || p->has_max) && (v.kind == LS_INT || v.kind == LS_FLOAT)) {
        double x = v.kind == LS_INT ? (double)v.u.i : v.u.f;
        if (p->has_min && x < p->min) {
            ls_diag_error(L->d, at, "param '%s': %s%s is less than the minimum %g", p->name, src, sv, p->min);
            ok = false;
        }
        if (p->has_max && x > p->max) {
            ls_diag_error(L->d, at, "param '%s': %s%s is greater than the maximum %g", p->name, src, sv, p->max);
            ok = false;
        }
    }
    free(shown);
    return ok;
}

static void ls_register_secret(ls_value v)
{
    if (v.kind == LS_STRING) {
        ls_secret_add(ls_str_ptr(v), ls_str_len(v));
        return;
    }
    size_t n = 0;
    char *t = ls_value_to_text(v, &n);
    if (t)
        ls_secret_add(t, n);
    free(t);
}

/* A secret's value as written in a file shows as *** in every excerpt,
 * whether or not it is a valid value (a wrong-typed one is not registered
 * with the redactor, and one shorter than LS_SECRET_MIN never is). */
static void ls_mask_secret_node(ls_loader *L, const ls_ynode *n)
{
    ls_diags_mask(L->d, n->loc, ls_ynode_end(n));
}

/* A secret's value must be empty (none) or at least LS_SECRET_MIN
 * characters: the redactor would have to mask every occurrence of a
 * shorter one in all output, which garbles every message and gives the
 * secret away.  False (with an error at `at`) when too short. */
static bool ls_secret_long_enough(ls_loader *L, const ls_param *p, ls_value v, ls_loc at, const char *src)
{
    size_t n = 0;
    char *t = v.kind == LS_STRING ? NULL : ls_value_to_text(v, &n);
    if (v.kind == LS_STRING)
        n = ls_str_len(v);
    free(t);
    if (n == 0 || n >= LS_SECRET_MIN)
        return true;
    ls_diag_error(L->d, at, "param '%s': %svalue (secret) is shorter than %d characters: a secret must be "
                  "at least %d characters long (or empty), since the redactor masks every occurrence of it "
                  "in all output", p->name, src, LS_SECRET_MIN, LS_SECRET_MIN);
    return false;
}

static bool ls_param_number(ls_loader *L, const ls_ynode *n, const char *what, double *out)
{
    ls_value v = ls_yaml_scalar(n);
    bool ok = n->kind == LS_Y_SCALAR && (v.kind == LS_INT || v.kind == LS_FLOAT);
    if (ok)
        *out = v.kind == LS_INT ? (double)v.u.i : v.u.f;
    else
        ls_diag_error(L->d, n->loc, "%s must be a number", what);
    ls_value_free(v);
    return ok;
}

static void ls_param_spec(ls_loader *L, ls_param *p, const ls_ynode *n)
{
    static const char *const keys[] = {"type", "required", "default", "enum", "pattern", "min",
                                       "max", "env", "secret", "description", NULL};
    char where[200];
    snprintf(where, sizeof where, "param '%s'", p->name);
    if (ls_yaml_is_null(n))
        return; /* `name:` alone: an optional string */
    if (n->kind != LS_Y_MAP) {
        ls_diag_error(L->d, n->loc, "param '%s' must be a mapping {type, required, default, ...}", p->name);
        return;
    }
    ls_load_check_keys(L, n, where, keys);
    const ls_ynode *v;
    if ((v = ls_ymap_get(n, "type")) && ls_load_text(L, v, "type")) {
        size_t i;
        for (i = 0; i < 6; i++)
            if (strcmp(v->str, ls_ptype_names[i]) == 0)
                break;
        if (i == 6)
            ls_diag_error(L->d, v->loc, "param '%s': unknown type '%s' (types: string, int, float, bool, list, map)",
                          p->name, v->str);
        else
            p->type = (ls_ptype)i;
    }
    if ((v = ls_ymap_get(n, "required")))
        p->required = ls_load_bool(L, v, "required") == 1;
    if ((v = ls_ymap_get(n, "secret")))
        p->secret = ls_load_bool(L, v, "secret") == 1;
    if ((v = ls_ymap_get(n, "description")) && ls_load_text(L, v, "description"))
        p->description = ls_load_strdup(v->str);
    if ((v = ls_ymap_get(n, "env")) && ls_load_text(L, v, "env"))
        p->env = ls_load_strdup(v->str);
    if ((v = ls_ymap_get(n, "min")) && ls_param_number(L, v, "min", &p->min))
        p->has_min = true;
    if ((v = ls_ymap_get(n, "max")) && ls_param_number(L, v, "max", &p->max))
        p->has_max = true;
    if ((p->has_min || p->has_max) && p->type != LS_PT_INT && p->type != LS_PT_FLOAT)
        ls_diag_error(L->d, ls_ymap_get(n, p->has_min ? "min" : "max")->loc,
                      "param '%s': min and max apply to int and float params only", p->name);
    if (p->has_min && p->has_max && p->min > p->max)
        ls_diag_error(L->d, ls_ymap_get(n, "min")->loc, "param '%s': min is greater than max", p->name);
    if ((v = ls_ymap_get(n, "pattern")) && ls_load_text(L, v, "pattern")) {
        if (p->type != LS_PT_STRING) {
            ls_diag_error(L->d, v->loc, "param '%s': pattern applies to string params only", p->name);
        } else {
            int code = 0;
            PCRE2_SIZE off = 0;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->str, v->len, PCRE2_UTF, &code, &off, NULL);
            if (!re) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(code, msg, sizeof msg);
                ls_loc at = v->loc; /* at the problem, when the pattern is on one line */
                if (!memchr(v->str, '\n', v->len))
                    at.col += (uint32_t)off + (v->quoted ? 1u : 0u);
                ls_diag_error(L->d, at, "param '%s': bad pattern: %s", p->name, (const char *)msg);
            } else {
                p->pattern = re;
                p->pattern_src = ls_load_strdup(v->str);
            }
        }
    }
    char why[256];
    if ((v = ls_ymap_get(n, "enum"))) {
        if (v->kind != LS_Y_SEQ || v->n == 0) {
            ls_diag_error(L->d, v->loc, "param '%s': enum must be a non-empty list", p->name);
        } else {
            p->enum_vals = ls_list_new();
            for (size_t i = 0; i < v->n; i++) {
                ls_value e;
                if (ls_param_from_node(p, v->items[i], &e, why, sizeof why))
                    ls_list_push(&p->enum_vals, e);
                else
                    ls_diag_error(L->d, v->items[i]->loc, "param '%s': enum value: %s", p->name, why);
            }
        }
    }
    if ((v = ls_ymap_get(n, "default")) && !ls_ymap_get(n, "type") && v->kind == LS_Y_SCALAR) {
        ls_value looks = ls_yaml_scalar(v);
        if (looks.kind == LS_INT || looks.kind == LS_FLOAT || looks.kind == LS_BOOL)
            ls_diag_warning(L->d, v->loc, "param '%s' has no type, so its default is the string \"%s\" (add type: %s)",
                            p->name, v->str, ls_kind_name((ls_kind)looks.kind));
        ls_value_free(looks);
    }
    if ((v = ls_ymap_get(n, "default"))) {
        ls_value dv;
        if (p->secret)
            ls_mask_secret_node(L, v);
        if (p->required)
            ls_diag_error(L->d, v->loc, "param '%s' is required and has a default: a default makes it optional",
                          p->name);
        if (!ls_param_from_node(p, v, &dv, why, sizeof why)) {
            ls_diag_error(L->d, v->loc, "param '%s': default: %s", p->name, why);
        } else {
            if (p->secret && ls_secret_long_enough(L, p, dv, v->loc, "default "))
                ls_register_secret(dv);
            ls_param_check(L, p, dv, v->loc, "default ");
            p->def = dv;
            p->has_default = true;
        }
    }
}

void ls_params_load_specs(ls_loader *L, const ls_ynode *params)
{
    ls_playbook *pb = L->pb;
    pb->params = calloc(params->n + 1, sizeof *pb->params);
    if (!pb->params)
        ls_oom();
    pb->nparams = params->n;
    for (size_t i = 0; i < params->n; i++) {
        ls_param *p = &pb->params[i];
        const ls_ynode *k = params->keys[i];
        if (!ls_load_ident_ok(k->str))
            ls_diag_error(L->d, k->loc, "bad param name '%s' (letters, digits and _, not starting with a digit)",
                          k->str);
        p->name = ls_load_strdup(k->str);
        p->loc = k->loc;
        p->type = LS_PT_STRING;
        p->def = ls_null();
        p->enum_vals = ls_null();
        ls_param_spec(L, p, params->items[i]);
    }
}

static int ls_param_index(const ls_playbook *pb, const char *name, size_t len)
{
    for (size_t i = 0; i < pb->nparams; i++)
        if (strlen(pb->params[i].name) == len && memcmp(pb->params[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static void ls_param_names_list(const ls_playbook *pb, ls_buf *b)
{
    for (size_t i = 0; i < pb->nparams; i++)
        ls_buf_printf(b, "%s%s", i ? ", " : "", pb->params[i].name);
    if (!pb->nparams)
        ls_buf_adds(b, "none declared");
}

static void ls_read_values_file(ls_loader *L, const char *path, const char *why)
{
    const char *file = NULL;
    char *text = NULL;
    size_t len = 0;
    ls_diags *d = L->d;
    if (why && access(path, R_OK) != 0) {
        ls_loc none = {NULL, 0, 0};
        ls_diag_error(d, none, "%s: cannot read %s: %s", why, path, strerror(errno));
        return;
    }
    if (!ls_load_read_file(path, d, &file, &text, &len, NULL))
        return;
    ls_ynode *root = ls_yaml_parse(text, len, file, d);
    free(text);
    if (!root) {
        /* Where a secret's value sits in a file that is not YAML is not
         * known: with any secret param declared, show no line of it. */
        for (size_t i = 0; i < L->pb->nparams; i++)
            if (L->pb->params[i].secret) {
                ls_diags_hide(d, file);
                break;
            }
        return;
    }
    if (root->kind != LS_Y_MAP) {
        ls_diag_error(d, root->loc, "a values file is a mapping {params: {...}, defaults: {...}}, not a %s",
                      ls_ykind_name(root));
        ls_ynode_free(root);
        return;
    }
    /* trust: the key bundles must be signed with (read by bundle.c) */
    static const char *const keys[] = {"params", "defaults", "trust", NULL};
    ls_load_check_keys(L, root, "a values file", keys);
    const ls_ynode *pm = ls_ymap_get(root, "params");
    if (pm && pm->kind != LS_Y_MAP && !(pm->kind == LS_Y_SCALAR && pm->plain && pm->len == 0)) {
        ls_diag_error(d, pm->loc, "params must be a mapping of param names to values");
    } else if (pm && pm->kind == LS_Y_MAP) {
        for (size_t i = 0; i < pm->n; i++) {
            if (ls_param_index(L->pb, pm->keys[i]->str, pm->keys[i]->len) >= 0)
                continue;
            ls_buf b;
            ls_buf_init(&b, 4096);
            ls_param_names_list(L->pb, &b);
            ls_diag_error(d, pm->keys[i]->loc, "unknown param '%s' (params: %s)", pm->keys[i]->str, ls_buf_str(&b));
            ls_buf_free(&b);
        }
    }
    L->vf = realloc(L->vf, (L->nvf + 1) * sizeof *L->vf);
    if (!L->vf)
        ls_oom();
    L->vf[L->nvf].file = file;
    L->vf[L->nvf].root = root;
    L->nvf++;
}

static bool ls_env_name_ok(const char *s)
{
    if (!*s || s[0] == '.' || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_.-", *p)))
            return false;
    return true;
}

void ls_params_read_values(ls_loader *L)
{
    const ls_load_opts *o = L->opts;
    if (o->env_name) {
        ls_loc none = {NULL, 0, 0};
        if (!ls_env_name_ok(o->env_name)) {
            ls_diag_error(L->d, none, "--env '%s': an environment name is letters, digits, _ . - (no /)", o->env_name);
        } else {
            ls_buf b;
            ls_buf_init(&b, 8192);
            if (strcmp(L->pb->dir, ".") == 0)
                ls_buf_printf(&b, "environments/%s.yaml", o->env_name);
            else
                ls_buf_printf(&b, "%s/environments/%s.yaml", L->pb->dir, o->env_name);
            char why[200];
            snprintf(why, sizeof why, "--env %s", o->env_name);
            ls_read_values_file(L, ls_buf_str(&b), why);
            ls_buf_free(&b);
        }
    }
    for (size_t i = 0; i < o->nvalues; i++)
        ls_read_values_file(L, o->values[i], NULL);
}

void ls_params_resolve(ls_loader *L)
{
    ls_playbook *pb = L->pb;
    const ls_load_opts *o = L->opts;
    size_t n = pb->nparams;
    ls_value *vals = calloc(n + 1, sizeof *vals);
    bool *given = calloc(n + 1, sizeof *given), *bad = calloc(n + 1, sizeof *bad);
    bool *dflt = calloc(n + 1, sizeof *dflt);
    ls_loc *where = calloc(n + 1, sizeof *where);
    char **src = calloc(n + 1, sizeof *src);
    if (!vals || !given || !bad || !where || !src || !dflt)
        ls_oom();
    char why[256];
    for (size_t i = 0; i < n; i++) {
        ls_param *p = &pb->params[i];
        where[i] = p->loc;
        if (p->has_default) {
            vals[i] = ls_value_copy(p->def);
            given[i] = dflt[i] = true;
        }
        const char *ev = (!o->ignore_process_env && p->env) ? getenv(p->env) : NULL;
        if (ev) {
            if (p->secret)
                ls_secret_add(ev, strlen(ev));
            ls_value v;
            char envsrc[300];
            snprintf(envsrc, sizeof envsrc, "env %s ", p->env);
            bool ok = ls_param_from_text(p, ev, &v, why, sizeof why);
            if (ok && p->secret && !ls_secret_long_enough(L, p, v, p->loc, envsrc)) {
                ls_value_free(v);
                bad[i] = true;
            } else if (ok) {
                ls_value_free(vals[i]);
                vals[i] = v;
                given[i] = true;
                dflt[i] = false;
                ls_buf b;
                ls_buf_init(&b, 512);
                ls_buf_printf(&b, "env %s value ", p->env);
                src[i] = ls_buf_steal(&b);
            } else {
                if (p->secret)
                    ls_diag_error(L->d, p->loc, "param '%s': env %s value (secret) is not valid: %s", p->name,
                                  p->env, why);
                else
                    ls_diag_error(L->d, p->loc, "param '%s': env %s value '%s' is not valid: %s", p->name, p->env,
                                  ev, why);
                bad[i] = true;
            }
        }
    }
    for (size_t f = 0; f < L->nvf; f++) {
        const ls_ynode *pm = ls_ymap_get(L->vf[f].root, "params");
        for (size_t k = 0; pm && pm->kind == LS_Y_MAP && k < pm->n; k++) {
            int i = ls_param_index(pb, pm->keys[k]->str, pm->keys[k]->len);
            if (i < 0)
                continue;
            ls_param *p = &pb->params[i];
            ls_value v;
            if (p->secret)
                ls_mask_secret_node(L, pm->items[k]);
            if (!ls_param_from_node(p, pm->items[k], &v, why, sizeof why)) {
                ls_diag_error(L->d, pm->items[k]->loc, "param '%s': %s", p->name, why);
                bad[i] = true;
                continue;
            }
            if (p->secret && !ls_secret_long_enough(L, p, v, pm->items[k]->loc, "")) {
                ls_value_free(v);
                bad[i] = true;
                continue;
            }
            if (p->secret)
                ls_register_secret(v);
            ls_value_free(vals[i]);
            vals[i] = v;
            given[i] = true;
            dflt[i] = false;
            where[i] = pm->items[k]->loc;
            free(src[i]);
            src[i] = NULL;
        }
    }
    for (size_t s = 0; s < o->nsets; s++) {
        const char *kv = o->sets[s];
        const char *eq = strchr(kv, '=');
        ls_loc none = {NULL, 0, 0};
        if (!eq) {
            ls_diag_error(L->d, none, "--set '%s': expected NAME=VALUE", kv);
            continue;
        }
        int i = ls_param_index(pb, kv, (size_t)(eq - kv));
        if (i < 0) {
            ls_buf b;
            ls_buf_init(&b, 4096);
            ls_param_names_list(pb, &b);
            char *name = malloc((size_t)(eq - kv) + 1);
            if (!name)
                ls_oom();
            memcpy(name, kv, (size_t)(eq - kv));
            name[eq - kv] = '\0';
            const char *hint = ls_load_suggest(name, pb->param_names, pb->nparams);
            if (hint)
                ls_diag_error(L->d, none, "--set: unknown param '%s' (did you mean '%s'?)", name, hint);
            else
                ls_diag_error(L->d, none, "--set: unknown param '%s' (params: %s)", name, ls_buf_str(&b));
            free(name);
            ls_buf_free(&b);
            continue;
        }
        ls_param *p = &pb->params[i];
        if (p->secret)
            ls_secret_add(eq + 1, strlen(eq + 1));
        ls_value v;
        if (!ls_param_from_text(p, eq + 1, &v, why, sizeof why)) {
            if (p->secret)
                ls_diag_error(L->d, none, "param '%s': --set value (secret) is not valid: %s", p->name, why);
            else
                ls_diag_error(L->d, none, "param '%s': --set value '%s' is not valid: %s", p->name, eq + 1, why);
            bad[i] = true;
            continue;
        }
        if (p->secret && !ls_secret_long_enough(L, p, v, none, "--set ")) {
            ls_value_free(v);
            bad[i] = true;
            continue;
        }
        if (p->secret)
            ls_register_secret(v);
        ls_value_free(vals[i]);
        vals[i] = v;
        given[i] = true;
        dflt[i] = false;
        where[i] = none;
        free(src[i]);
        ls_buf b;
        ls_buf_init(&b, 512);
        ls_buf_adds(&b, "--set value ");
        src[i] = ls_buf_steal(&b);
    }
    for (size_t i = 0; i < n; i++) {
        ls_param *p = &pb->params[i];
        if (bad[i]) {
            ls_value_free(vals[i]);
            continue;
        }
        if (!given[i]) {
            if (p->required)
                ls_diag_error(L->d, p->loc, "param '%s' is required and has no value (give --set %s=..., a values "
                              "file%s%s)", p->name, p->name, p->env ? ", or env " : "", p->env ? p->env : "");
            ls_map_set(&pb->param_values, p->name, ls_null());
            continue;
        }
        if (!dflt[i]) /* a default was checked with its declaration */
            ls_param_check(L, p, vals[i], where[i], src[i] ? src[i] : "");
        ls_map_set(&pb->param_values, p->name, vals[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(src[i]);
    free(src);
    free(vals);
    free(given);
    free(bad);
    free(dflt);
    free(where);
}

ls_value ls_params_masked(const ls_playbook *pb)
{
    ls_value m = ls_map_new();
    for (size_t i = 0; i < ls_map_len(pb->param_values); i++) {
        const char *k = ls_map_key_at(pb->param_values, i);
        bool secret = false;
        for (size_t p = 0; p < pb->nparams && !secret; p++)
            secret = pb->params[p].secret && strcmp(pb->params[p].name, k) == 0;
        /* Every secret shows as ***, an empty one too: "" would say what it is. */
        ls_map_set(&m, k, secret ? ls_string("***") : ls_value_copy(ls_map_value_at(pb->param_values, i)));
    }
    return m;
}
