/*
 * The kubectl actions (SPEC 6): kubectl, kubectl.get, kubectl.rollout,
 * kubectl.set_image, kubectl.run, kubectl.logs.
 *
 * Each builds the argv an operator would type -- globals first
 * (`--context`, `--namespace`, `--kubeconfig`, only when given), then the
 * subcommand -- and runs it with ls_proc_run: never a shell, so a value
 * such as an image tag stays ONE argv element whatever it holds.  The
 * program is the `kubectl` input, else `kubectl` on PATH.
 *
 * This file also holds the small program-running helpers shared with
 * act_docker.c (act_prog.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_prog.h"
#include "buf.h"
#include "expr.h"
#include "proc.h"
#include "registry.h"
#include "scan.h"
#include "secret.h"

#define STDERR_TAIL_MAX 300
#define TIMEOUT_MARGIN_MS 1000 /* rollout status: let kubectl report before we kill it */

/* ---- argv and program helpers (act_prog.h) ----------------------------- */

void ls_argv_init(ls_argv *a)
{
    memset(a, 0, sizeof *a);
}

void ls_argv_free(ls_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

static void argv_take(ls_argv *a, char *s)
{
    if (s == NULL) {
        a->oom = true;
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 16;
        char **nv = realloc(a->v, ncap * sizeof *nv);
        if (nv == NULL) {
            free(s);
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void ls_argv_add(ls_argv *a, const char *s)
{
    argv_take(a, strdup(s));
}

void ls_argv_addf(ls_argv *a, const char *fmt, ...)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    va_list ap;
    va_start(ap, fmt);
    int rc = ls_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        ls_buf_free(&b);
        a->oom = true;
        return;
    }
    if (b.len == 0) {
        ls_buf_free(&b);
        ls_argv_add(a, "");
        return;
    }
    argv_take(a, ls_buf_steal(&b));
}

int ls_argv_add_list(ls_argv *a, ls_value list, const char *who, const char *input, ls_error *err)
{
    ls_loc none = {0};
    if (list.kind != LS_LIST) {
        ls_error_set(err, none, "%s: %s must be a list, not %s", who, input, ls_kind_name((ls_kind)list.kind));
        return -1;
    }
    for (size_t i = 0; i < ls_list_len(list); i++) {
        ls_value it = ls_list_at(list, i);
        if (it.kind == LS_LIST || it.kind == LS_MAP || it.kind == LS_NULL) {
            ls_error_set(err, none, "%s: %s[%zu] is %s, not a string", who, input, i,
                         ls_kind_name((ls_kind)it.kind));
            return -1;
        }
        argv_take(a, ls_value_to_text(it, NULL));
    }
    return 0;
}

int ls_input_str(ls_value inputs, const char *name, const char *who, const char **out, ls_error *err)
{
    ls_loc none = {0};
    ls_value v = ls_map_get(inputs, name);
    *out = NULL;
    if (ls_is_null(v))
        return 0;
    if (v.kind != LS_STRING) {
        ls_error_set(err, none, "%s: %s must be a string, not %s", who, name, ls_kind_name((ls_kind)v.kind));
        return -1;
    }
    if (ls_str_len(v) > 0)
        *out = ls_str_ptr(v);
    return 0;
}

void ls_env_entries_free(char **e, size_t n)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i]);
    free(e);
}

int ls_env_entries(ls_value env, const char *who, char ***out, size_t *n, ls_error *err)
{
    ls_loc none = {0};
    *out = NULL;
    *n = 0;
    if (ls_is_null(env))
        return 0;
    if (env.kind != LS_MAP) {
        ls_error_set(err, none, "%s: env must be a map, not %s", who, ls_kind_name((ls_kind)env.kind));
        return -1;
    }
    size_t len = ls_map_len(env);
    char **e = calloc(len + 1, sizeof *e);
    if (e == NULL) {
        ls_error_set(err, none, "%s: out of memory", who);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const char *k = ls_map_key_at(env, i);
        ls_value v = ls_map_value_at(env, i);
        if (k[0] == '\0' || strchr(k, '=') != NULL) {
            ls_error_set(err, none, "%s: env key '%s' is not a valid variable name", who, k);
            ls_env_entries_free(e, i);
            return -1;
        }
        if (v.kind == LS_LIST || v.kind == LS_MAP) {
            ls_error_set(err, none, "%s: env.%s is %s, not a string", who, k, ls_kind_name((ls_kind)v.kind));
            ls_env_entries_free(e, i);
            return -1;
        }
        char *txt = ls_value_to_text(v, NULL);
        ls_buf b;
        ls_buf_init(&b, LS_BUF_UNLIMITED);
        ls_buf_printf(&b, "%s=%s", k, txt ? txt : "");
        free(txt);
        e[i] = ls_buf_steal(&b);
        if (e[i] == NULL) {
            ls_error_set(err, none, "%s: out of memory", who);
            ls_env_entries_free(e, i);
            return -1;
        }
    }
    *out = e;
    *n = len;
    return 0;
}

/* The last part of stderr (else stdout), redacted, on one line. */
static void output_tail(const ls_proc_result *r, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *s = r->err;
    size_t end = r->err_len;
    while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
        end--;
    if (end == 0) {
        s = r->out;
        end = r->out_len;
        while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
            end--;
    }
    if (s == NULL || end == 0)
        return;
    size_t start = end > STDERR_TAIL_MAX ? end - STDERR_TAIL_MAX : 0;
    char *red = ls_redact(s + start, end - start, NULL);
    if (red == NULL)
        return;
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    snprintf(out, outlen, ": %s%s", start > 0 ? "..." : "", red);
    free(red);
}

ls_act_status ls_prog_run(const char *who, ls_call *call, const ls_argv *argv, char *const *env_add,
                          bool nonzero_ok, ls_value *result, ls_error *err, ls_proc_result *keep)
{
    return ls_prog_run_scan(who, call, argv, env_add, nonzero_ok, NULL, result, err, keep);
}

int ls_prog_scanner(const char *who, ls_call *call, ls_scan **own, ls_scanner **sc, ls_error *err)
{
    ls_loc none = {0};
    *sc = NULL;
    const ls_scan *scan = ls_scan_for_call(who, "scan", call->inputs, call->prep, own, err);
    if (scan == NULL)
        return ls_is_null(ls_map_get(call->inputs, "scan")) ? 0 : -1;
    *sc = ls_scanner_new(scan, ls_scan_max_matches(call->inputs), true);
    if (*sc == NULL) {
        ls_error_set(err, none, "%s: out of memory", who);
        return -1;
    }
    return 0;
}

ls_act_status ls_prog_run_scan(const char *who, ls_call *call, const ls_argv *argv, char *const *env_add,
                               bool nonzero_ok, ls_scanner *scan, ls_value *result, ls_error *err,
                               ls_proc_result *keep)
{
    ls_loc none = {0};
    if (keep != NULL)
        memset(keep, 0, sizeof *keep);
    if (argv->oom || argv->n == 0) {
        ls_error_set(err, none, "%s: out of memory", who);
        return LS_ACT_FAILED;
    }
    ls_proc_opts o;
    memset(&o, 0, sizeof o);
    o.argv = (const char *const *)argv->v;
    o.env_add = (const char *const *)env_add;
    o.deadline_ms = call->deadline_ms;
    o.cancel = call->cancel;
    if (scan != NULL) {
        o.sink = ls_scanner_sink;
        o.sink_ctx = scan;
    }

    ls_proc_result r;
    if (ls_proc_run(&o, &r) != 0) {
        ls_error_set(err, none, "%s: %s", who, r.start_error);
        ls_proc_result_free(&r);
        return LS_ACT_FAILED;
    }
    ls_value_free(*result);
    *result = ls_proc_result_value(&r);
    if (scan != NULL)
        ls_scanner_finish(scan, result); /* over every byte, whatever the cap */

    char *shown = ls_proc_argv_string((const char *const *)argv->v);
    char tail[STDERR_TAIL_MAX + 8];
    output_tail(&r, tail, sizeof tail);
    ls_act_status st = LS_ACT_OK;
    if (r.cancelled) {
        ls_error_set(err, none, "%s: %s was cancelled", who, shown ? shown : argv->v[0]);
        st = LS_ACT_CANCELLED;
    } else if (r.timed_out) {
        char d[64];
        ls_duration_format(call->timeout_ms > 0 ? call->timeout_ms : r.duration_ms, d, sizeof d);
        ls_error_set(err, none, "%s: %s timed out after %s", who, shown ? shown : argv->v[0], d);
        st = LS_ACT_TIMED_OUT;
    } else if (r.term_signal != 0) {
        ls_error_set(err, none, "%s: %s killed by signal %d%s", who, shown ? shown : argv->v[0],
                     r.term_signal, tail);
        st = LS_ACT_FAILED;
    } else if (r.exit_code != 0 && !nonzero_ok) {
        ls_error_set(err, none, "%s: %s exited with code %d%s", who, shown ? shown : argv->v[0],
                     r.exit_code, tail);
        st = LS_ACT_FAILED;
    }
    free(shown);
    if (keep != NULL)
        *keep = r;
    else
        ls_proc_result_free(&r);
    return st;
}

/* ---- kubectl argv ------------------------------------------------------ */

/* Program and globals: `kubectl [--context C] [--namespace N] [--kubeconfig K]`. */
static int kube_start(ls_argv *a, ls_value in, const char *who, ls_error *err)
{
    const char *prog, *ctx, *ns, *kc;
    if (ls_input_str(in, "kubectl", who, &prog, err) || ls_input_str(in, "context", who, &ctx, err) ||
        ls_input_str(in, "namespace", who, &ns, err) || ls_input_str(in, "kubeconfig", who, &kc, err))
        return -1;
    ls_argv_add(a, prog ? prog : "kubectl");
    if (ctx)
        ls_argv_addf(a, "--context=%s", ctx);
    if (ns)
        ls_argv_addf(a, "--namespace=%s", ns);
    if (kc)
        ls_argv_addf(a, "--kubeconfig=%s", kc);
    return 0;
}

static int need_str(ls_value in, const char *name, const char *who, const char **out, ls_error *err)
{
    ls_loc none = {0};
    if (ls_input_str(in, name, who, out, err))
        return -1;
    if (*out == NULL) {
        ls_error_set(err, none, "%s: %s is required and must not be empty", who, name);
        return -1;
    }
    return 0;
}

/* "core-admin" -> "deployment/core-admin"; "deployment/x" stays. */
static void add_deployment(ls_argv *a, const char *dep)
{
    if (strchr(dep, '/') != NULL)
        ls_argv_add(a, dep);
    else
        ls_argv_addf(a, "deployment/%s", dep);
}

/* Sets result.json to the parsed stdout when it is JSON (else leaves it out
 * unless `always`, then null). */
static void add_json(ls_value *result, const ls_proc_result *r, bool always)
{
    ls_value j = ls_null();
    char ebuf[128];
    bool ok = false;
    if (r->out_len > 0 && !r->truncated) {
        size_t i = 0;
        while (i < r->out_len && (r->out[i] == ' ' || r->out[i] == '\n' || r->out[i] == '\t' || r->out[i] == '\r'))
            i++;
        if (i < r->out_len && (r->out[i] == '{' || r->out[i] == '['))
            ok = ls_value_from_json(r->out, r->out_len, &j, ebuf, sizeof ebuf);
    }
    if (ok)
        ls_map_set(result, "json", j);
    else if (always)
        ls_map_set(result, "json", ls_null());
}

/* ---- the actions --------------------------------------------------------- */

static ls_act_status act_kubectl(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl";
    *result = ls_map_new();
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (kube_start(&a, call->inputs, who, err) == 0 &&
        ls_argv_add_list(&a, ls_map_get(call->inputs, "args"), who, "args", err) == 0) {
        ls_proc_result r;
        st = ls_prog_run(who, call, &a, NULL, false, result, err, &r);
        if (st == LS_ACT_OK || st == LS_ACT_FAILED)
            add_json(result, &r, false);
        ls_proc_result_free(&r);
    }
    ls_argv_free(&a);
    return st;
}

static bool kubectl_mutates(ls_value inputs)
{
    ls_value m = ls_map_get(inputs, "mutates");
    return m.kind == LS_BOOL ? m.u.b : true;
}

/* NotFound, as kubectl words it: `Error from server (NotFound): deployments.apps "x" not found`.
 * Without the server's (NotFound) the message must name the object itself:
 * `error: context "x" not found` must not read as "the object does not exist". */
static bool is_not_found(const ls_proc_result *r, const char *name)
{
    if (r->err == NULL)
        return false;
    if (strstr(r->err, "(NotFound)") != NULL)
        return true;
    char quoted[300];
    int n = snprintf(quoted, sizeof quoted, "\"%s\" not found", name);
    return n > 0 && (size_t)n < sizeof quoted && strstr(r->err, quoted) != NULL;
}

static ls_act_status act_kubectl_get(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl.get";
    *result = ls_map_new();
    const char *kind, *name;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (need_str(call->inputs, "kind", who, &kind, err) == 0 &&
        need_str(call->inputs, "name", who, &name, err) == 0 && kube_start(&a, call->inputs, who, err) == 0) {
        ls_argv_add(&a, "get");
        ls_argv_add(&a, kind);
        ls_argv_add(&a, name);
        ls_argv_add(&a, "-o");
        ls_argv_add(&a, "json");
        ls_proc_result r;
        memset(&r, 0, sizeof r);
        ls_error quiet;
        ls_error_clear(&quiet);
        st = ls_prog_run(who, call, &a, NULL, false, result, &quiet, &r);
        if (st == LS_ACT_FAILED && r.started && r.term_signal == 0 && r.exit_code != 0 && is_not_found(&r, name)) {
            ls_map_set(result, "json", ls_null());
            ls_map_set(result, "exists", ls_bool(false));
            st = LS_ACT_OK;
        } else if (st == LS_ACT_OK) {
            add_json(result, &r, true);
            bool parsed = ls_map_get(*result, "json").kind == LS_MAP;
            ls_map_set(result, "exists", ls_bool(parsed));
            if (!parsed) {
                char *shown = ls_proc_argv_string((const char *const *)a.v);
                ls_error_set(err, quiet.loc, "%s: %s did not print a JSON object%s", who, shown ? shown : "kubectl",
                             r.truncated ? " (output truncated)" : "");
                free(shown);
                st = LS_ACT_FAILED;
            }
        } else {
            ls_error_set(err, quiet.loc, "%s", quiet.msg);
        }
        ls_proc_result_free(&r);
    }
    ls_argv_free(&a);
    return st;
}

static const char *const rollout_verbs[] = {"pause", "resume", "status", "undo", "restart", NULL};

static bool verb_known(const char *v)
{
    for (size_t i = 0; rollout_verbs[i]; i++)
        if (strcmp(v, rollout_verbs[i]) == 0)
            return true;
    return false;
}

/* `status` waits for the rollout: its --timeout is the time left before the
 * state's deadline, less a second so that kubectl's own "timed out" message
 * arrives before the engine kills it (at least 1s). */
static ls_act_status act_kubectl_rollout(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl.rollout";
    ls_loc none = {0};
    *result = ls_map_new();
    const char *verb, *dep;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (need_str(call->inputs, "verb", who, &verb, err) || need_str(call->inputs, "deployment", who, &dep, err))
        goto out;
    if (!verb_known(verb)) {
        ls_error_set(err, none, "%s: verb '%s' is not one of pause, resume, status, undo, restart", who, verb);
        goto out;
    }
    ls_value rev = ls_map_get(call->inputs, "to_revision");
    if (!ls_is_null(rev) && strcmp(verb, "undo") != 0) {
        ls_error_set(err, none, "%s: to_revision applies only to verb undo, not %s", who, verb);
        goto out;
    }
    if (!ls_is_null(rev) && (rev.kind != LS_INT || rev.u.i < 0)) {
        ls_error_set(err, none, "%s: to_revision must be a non-negative int", who);
        goto out;
    }
    if (kube_start(&a, call->inputs, who, err))
        goto out;
    ls_argv_add(&a, "rollout");
    ls_argv_add(&a, verb);
    add_deployment(&a, dep);
    if (strcmp(verb, "status") == 0) {
        int64_t left = ls_call_remaining_ms(call);
        if (left != INT64_MAX) {
            int64_t secs = (left - TIMEOUT_MARGIN_MS) / 1000;
            ls_argv_addf(&a, "--timeout=%llds", (long long)(secs < 1 ? 1 : secs));
        }
    }
    if (!ls_is_null(rev))
        ls_argv_addf(&a, "--to-revision=%lld", (long long)rev.u.i);
    st = ls_prog_run(who, call, &a, NULL, false, result, err, NULL);
out:
    ls_argv_free(&a);
    return st;
}

static bool rollout_mutates(ls_value inputs)
{
    ls_value v = ls_map_get(inputs, "verb");
    return !(v.kind == LS_STRING && strcmp(ls_str_ptr(v), "status") == 0);
}

static int prepare_rollout(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    *prep = NULL;
    const ls_tmpl *t = with ? ls_tmpl_map_get(with, "verb") : NULL;
    if (t == NULL || !ls_tmpl_is_constant(t))
        return 0;
    ls_value v = ls_tmpl_constant(t);
    if (v.kind == LS_STRING && verb_known(ls_str_ptr(v)))
        return 0;
    ls_diag_error(d, ls_tmpl_loc(t), "kubectl.rollout: verb must be one of pause, resume, status, undo, restart");
    return -1;
}

static ls_act_status act_kubectl_set_image(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl.set_image";
    *result = ls_map_new();
    const char *dep, *image, *container;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (need_str(call->inputs, "deployment", who, &dep, err) || need_str(call->inputs, "image", who, &image, err) ||
        ls_input_str(call->inputs, "container", who, &container, err) || kube_start(&a, call->inputs, who, err))
        goto out;
    if (container == NULL) { /* the container is named after the deployment, as kubectl create does */
        const char *slash = strrchr(dep, '/');
        container = slash ? slash + 1 : dep;
    }
    ls_argv_add(&a, "set");
    ls_argv_add(&a, "image");
    add_deployment(&a, dep);
    ls_argv_addf(&a, "%s=%s", container, image);
    st = ls_prog_run(who, call, &a, NULL, false, result, err, NULL);
out:
    ls_argv_free(&a);
    return st;
}

/* env_from: names of Secrets ("secret/NAME" or a bare NAME) and ConfigMaps
 * ("configmap/NAME").  kubectl run has no --env-from flag, so they go in a
 * strategic-merge --overrides patch of the pod's one container (named after
 * the pod) -- the same envFrom a Deployment's pod spec would hold. */
static int add_env_from(ls_argv *a, const char *pod, ls_value ef, const char *who, ls_error *err)
{
    ls_loc none = {0};
    if (ls_is_null(ef))
        return 0;
    ls_value list = ls_list_new();
    if (ef.kind == LS_STRING) {
        ls_list_push(&list, ls_value_copy(ef));
    } else if (ef.kind == LS_LIST) {
        for (size_t i = 0; i < ls_list_len(ef); i++)
            ls_list_push(&list, ls_value_copy(ls_list_at(ef, i)));
    } else {
        ls_value_free(list);
        ls_error_set(err, none, "%s: env_from must be a string or a list of strings", who);
        return -1;
    }
    if (ls_list_len(list) == 0) {
        ls_value_free(list);
        return 0;
    }
    ls_value refs = ls_list_new();
    for (size_t i = 0; i < ls_list_len(list); i++) {
        ls_value it = ls_list_at(list, i);
        if (it.kind != LS_STRING || ls_str_len(it) == 0) {
            ls_error_set(err, none, "%s: env_from[%zu] must be a non-empty string", who, i);
            ls_value_free(refs);
            ls_value_free(list);
            return -1;
        }
        const char *s = ls_str_ptr(it);
        const char *field = "secretRef";
        if (strncmp(s, "secret/", 7) == 0) {
            s += 7;
        } else if (strncmp(s, "configmap/", 10) == 0) {
            s += 10;
            field = "configMapRef";
        } else if (strchr(s, '/') != NULL) {
            ls_error_set(err, none, "%s: env_from '%s' must be NAME, secret/NAME or configmap/NAME", who, s);
            ls_value_free(refs);
            ls_value_free(list);
            return -1;
        }
        ls_value ref = ls_map_new(), named = ls_map_new();
        ls_map_set(&named, "name", ls_string(s));
        ls_map_set(&ref, field, named);
        ls_list_push(&refs, ref);
    }
    ls_value_free(list);
    ls_value container = ls_map_new();
    ls_map_set(&container, "name", ls_string(pod));
    ls_map_set(&container, "envFrom", refs);
    ls_value containers = ls_list_new();
    ls_list_push(&containers, container);
    ls_value spec = ls_map_new();
    ls_map_set(&spec, "containers", containers);
    ls_value patch = ls_map_new();
    ls_map_set(&patch, "spec", spec);
    char *json = ls_value_to_json(patch, NULL);
    ls_value_free(patch);
    if (json == NULL) {
        ls_error_set(err, none, "%s: out of memory", who);
        return -1;
    }
    ls_argv_addf(a, "--overrides=%s", json);
    ls_argv_add(a, "--override-type=strategic");
    free(json);
    return 0;
}

static ls_act_status act_kubectl_run(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl.run";
    ls_loc none = {0};
    *result = ls_map_new();
    const char *name, *image;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (need_str(call->inputs, "name", who, &name, err) || need_str(call->inputs, "image", who, &image, err))
        goto out;
    ls_value command = ls_map_get(call->inputs, "command");
    ls_value args = ls_map_get(call->inputs, "args");
    if (ls_is_null(command) == ls_is_null(args)) {
        ls_error_set(err, none, "%s: give exactly one of command (the container's command) and args "
                     "(arguments to its entrypoint)", who);
        goto out;
    }
    if (kube_start(&a, call->inputs, who, err))
        goto out;
    ls_argv_add(&a, "run");
    ls_argv_add(&a, name);
    ls_argv_addf(&a, "--image=%s", image);
    ls_argv_add(&a, "--restart=Never");
    ls_argv_add(&a, "--rm");
    ls_argv_add(&a, "--attach");
    char **env = NULL;
    size_t nenv = 0;
    if (ls_env_entries(ls_map_get(call->inputs, "env"), who, &env, &nenv, err))
        goto out;
    for (size_t i = 0; i < nenv; i++)
        ls_argv_addf(&a, "--env=%s", env[i]);
    ls_env_entries_free(env, nenv);
    if (add_env_from(&a, name, ls_map_get(call->inputs, "env_from"), who, err))
        goto out;
    if (!ls_is_null(command))
        ls_argv_add(&a, "--command");
    ls_argv_add(&a, "--");
    if (ls_argv_add_list(&a, ls_is_null(command) ? args : command, who, ls_is_null(command) ? "args" : "command",
                         err))
        goto out;
    st = ls_prog_run(who, call, &a, NULL, false, result, err, NULL);
out:
    ls_argv_free(&a);
    return st;
}

static int prepare_run(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    bool c = with && ls_tmpl_map_get(with, "command") != NULL;
    bool g = with && ls_tmpl_map_get(with, "args") != NULL;
    if (c == g) {
        ls_diag_error(d, loc, "kubectl.run: give exactly one of command (the container's command) and args "
                      "(arguments to its entrypoint)");
        return -1;
    }
    return 0;
}

static int prepare_logs(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    return ls_scan_prepare("kubectl.logs", "scan", with, d, prep);
}

static ls_act_status act_kubectl_logs(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "kubectl.logs";
    ls_loc none = {0};
    *result = ls_map_new();
    const char *sel, *pod, *container, *since;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (ls_input_str(call->inputs, "selector", who, &sel, err) || ls_input_str(call->inputs, "pod", who, &pod, err) ||
        ls_input_str(call->inputs, "container", who, &container, err) ||
        ls_input_str(call->inputs, "since", who, &since, err))
        goto out;
    if ((sel == NULL) == (pod == NULL)) {
        ls_error_set(err, none, "%s: give exactly one of selector and pod", who);
        goto out;
    }
    ls_value tail = ls_map_get(call->inputs, "tail");
    if (!ls_is_null(tail) && tail.kind != LS_INT) {
        ls_error_set(err, none, "%s: tail must be an int", who);
        goto out;
    }
    if (kube_start(&a, call->inputs, who, err))
        goto out;
    ls_argv_add(&a, "logs");
    if (sel) {
        ls_argv_add(&a, "-l");
        ls_argv_add(&a, sel);
    } else {
        ls_argv_add(&a, pod);
    }
    if (container)
        ls_argv_addf(&a, "--container=%s", container);
    if (since)
        ls_argv_addf(&a, "--since=%s", since);
    /* With a selector kubectl keeps only 10 lines per pod unless told;
     * a scan for errors wants them all. */
    if (!ls_is_null(tail))
        ls_argv_addf(&a, "--tail=%lld", (long long)tail.u.i);
    else if (sel)
        ls_argv_add(&a, "--tail=-1");
    ls_scan *own = NULL;
    ls_scanner *sc = NULL;
    if (ls_prog_scanner(who, call, &own, &sc, err) != 0)
        goto out;
    ls_proc_result r;
    st = ls_prog_run_scan(who, call, &a, NULL, false, sc, result, err, &r);
    ls_scanner_free(sc);
    ls_scan_free(own);
    ls_map_set(result, "text", ls_string_n(r.out ? r.out : "", r.out ? r.out_len : 0));
    ls_value lines = ls_list_new();
    for (size_t i = 0; r.out != NULL && i < r.out_len;) {
        size_t j = i;
        while (j < r.out_len && r.out[j] != '\n')
            j++;
        size_t e = j;
        if (e > i && r.out[e - 1] == '\r')
            e--;
        ls_list_push(&lines, ls_string_n(r.out + i, e - i));
        i = j + 1;
    }
    ls_map_set(result, "lines", lines);
    ls_proc_result_free(&r);
out:
    ls_argv_free(&a);
    return st;
}

/* ---- the table ------------------------------------------------------------ */

static const ls_input kubectl_inputs[] = {
    {"args", "list", true, NULL, "arguments after the globals, each one element (e.g. [get, pods, -o, json])"},
    {"mutates", "bool", false, "true", "whether this call changes the cluster (false: it also runs in dry runs)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input get_inputs[] = {
    {"kind", "string", true, NULL, "resource kind (deployment, secret, configmap, ...)"},
    {"name", "string", true, NULL, "resource name"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input rollout_inputs[] = {
    {"verb", "string", true, NULL, "pause, resume, status, undo or restart"},
    {"deployment", "string", true, NULL, "deployment name (or deployment/NAME)"},
    {"to_revision", "int", false, NULL, "undo only: the revision to go back to (--to-revision)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input set_image_inputs[] = {
    {"deployment", "string", true, NULL, "deployment name (or deployment/NAME)"},
    {"container", "string", false, NULL, "container name (default: the deployment's name)"},
    {"image", "string", true, NULL, "the new image, e.g. registry/core-admin:v2.5.0"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input run_inputs[] = {
    {"name", "string", true, NULL, "the one-off pod's name"},
    {"image", "string", true, NULL, "the image to run"},
    {"command", "list", false, NULL, "the container's command (with --command); exclusive with args"},
    {"args", "list", false, NULL, "arguments to the image's entrypoint (e.g. [yarn, migrate]); exclusive with command"},
    {"env", "map", false, NULL, "variables set in the pod (--env=K=V)"},
    {"env_from", "string|list", false, NULL,
     "Secrets (NAME or secret/NAME) and ConfigMaps (configmap/NAME) whose keys become variables (envFrom, via --overrides)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input logs_inputs[] = {
    {"selector", "string", false, NULL, "label selector (-l), e.g. app=core-admin; exclusive with pod"},
    {"pod", "string", false, NULL, "a pod name; exclusive with selector"},
    {"container", "string", false, NULL, "container name (--container)"},
    {"since", "string", false, NULL, "only newer lines (--since), e.g. 5m"},
    {"tail", "int", false, NULL, "last N lines per pod (--tail; default with a selector: all)"},
    {"scan", "list", false, NULL,
     "PCRE2 regexes applied to every log line as it streams, past the 1 MiB capture too (adds matched, count, matches)" LS_SCAN_RULES},
    {"max_matches", "int", false, "100", "with scan: at most this many matching lines are listed (count keeps counting)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field kubectl_results[] = {
    {"exit_code", "int", "kubectl's exit code (-1 when killed by a signal)"},
    {"stdout", "string", "standard output, capped at 1 MiB"},
    {"stderr", "string", "standard error, capped at 1 MiB"},
    {"duration_ms", "int", "wall time"},
    {"truncated", "bool", "true when stdout or stderr hit the cap"},
    {"json", "any", "stdout parsed, present only when stdout is a JSON object or array"},
    {NULL, NULL, NULL},
};

static const ls_field get_results[] = {
    {"exists", "bool", "false when kubectl says NotFound (the action still succeeds)"},
    {"json", "map", "the resource as `kubectl get -o json` prints it; null when it does not exist"},
    {"exit_code", "int", "kubectl's exit code"},
    {"stdout", "string", "standard output"},
    {"stderr", "string", "standard error"},
    {"duration_ms", "int", "wall time"},
    {"truncated", "bool", "true when stdout or stderr hit the cap"},
    {NULL, NULL, NULL},
};

static const ls_field logs_results[] = {
    {"text", "string", "the log text (stdout), capped at 1 MiB"},
    {"lines", "list", "the log text split into lines"},
    {"exit_code", "int", "kubectl's exit code"},
    {"stdout", "string", "standard output"},
    {"stderr", "string", "standard error"},
    {"duration_ms", "int", "wall time"},
    {"truncated", "bool", "true when the log hit the 1 MiB cap (scan still saw every line)"},
    {"matched", "bool", "with scan: some line of the whole log matched"},
    {"count", "int", "with scan: matching lines in the whole log"},
    {"matches", "list", "with scan: [{pattern, line, stream}] for the first max_matches matching lines"},
    {NULL, NULL, NULL},
};

const ls_action ls_actions_kubectl[] = {
    {"kubectl", "kubectl", "run kubectl with the given arguments (globals from the family inputs)", kubectl_inputs,
     kubectl_results, "kubectl cannot start or exits non-zero", true, false, kubectl_mutates, NULL, NULL,
     act_kubectl, NULL},
    {"kubectl.get", "kubectl", "read one resource as JSON (`get KIND NAME -o json`)", get_inputs, get_results,
     "kubectl errs other than NotFound", false, true, NULL, NULL, NULL, act_kubectl_get, NULL},
    {"kubectl.rollout", "kubectl",
     "rollout pause|resume|status|undo|restart of a deployment (status waits, --timeout from the state's timeout)",
     rollout_inputs, ls_program_results, "kubectl exits non-zero (status: the rollout did not finish in time)", true,
     false, rollout_mutates, prepare_rollout, NULL, act_kubectl_rollout, NULL},
    {"kubectl.set_image", "kubectl", "set a deployment container's image (`set image deployment/NAME C=IMAGE`)",
     set_image_inputs, ls_program_results, "kubectl exits non-zero", true, true, NULL, NULL, NULL, act_kubectl_set_image, NULL},
    {"kubectl.run", "kubectl",
     "run a one-off pod to completion (`run NAME --image=IMAGE --restart=Never --rm --attach -- ...`), e.g. migrations",
     run_inputs, ls_program_results, "the pod does not exit 0 (its exit code is kubectl's)", true, false, NULL,
     prepare_run, NULL, act_kubectl_run, NULL},
    {"kubectl.logs", "kubectl", "read pod logs by label selector or pod name", logs_inputs, logs_results,
     "kubectl exits non-zero", false, true, NULL, prepare_logs, ls_scan_free, act_kubectl_logs, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL, NULL},
};
