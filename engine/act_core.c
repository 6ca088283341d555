/*
 * The core actions (SPEC 6): exec, shell, wait, noop, manual.confirm.
 *
 * exec and shell run a program through ls_proc_run (argv only; shell is
 * the one place a shell runs, as `/bin/sh -c SCRIPT`).  Every failure
 * message says what was attempted, with the argv quoted and redacted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include "buf.h"
#include "expr.h"
#include "proc.h"
#include "registry.h"
#include "scan.h"
#include "secret.h"

#define WAIT_TICK_MS 50  /* the cancel flag is looked at this often */
#define SHOWN_SCRIPT_MAX 200
#define STDERR_TAIL_MAX 300

/* ---- exec and shell --------------------------------------------------- */

typedef struct prog_spec {
    const char **argv;   /* NULL-terminated; strings borrowed from inputs */
    char **env;          /* "K=V", owned */
    size_t nenv;
    const char *cwd;
    const char *stdin_data;
    size_t stdin_len;
} prog_spec;

static void prog_spec_free(prog_spec *p)
{
    free(p->argv);
    for (size_t i = 0; i < p->nenv; i++)
        free(p->env[i]);
    free(p->env);
    memset(p, 0, sizeof *p);
}

/* env, cwd and stdin, shared by exec and shell.  0 or -1 with err. */
static int read_common(const char *who, ls_value in, prog_spec *p, ls_error *err)
{
    ls_loc none = {0};
    ls_value env = ls_map_get(in, "env");
    if (!ls_is_null(env)) {
        if (env.kind != LS_MAP) {
            ls_error_set(err, none, "%s: env must be a map, not %s", who, ls_kind_name((ls_kind)env.kind));
            return -1;
        }
        size_t n = ls_map_len(env);
        p->env = calloc(n + 1, sizeof *p->env);
        if (p->env == NULL) {
            ls_error_set(err, none, "%s: out of memory", who);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const char *k = ls_map_key_at(env, i);
            if (k[0] == '\0' || strchr(k, '=') != NULL) {
                ls_error_set(err, none, "%s: env key '%s' is not a valid variable name", who, k);
                return -1;
            }
            size_t vlen = 0;
            char *v = ls_value_to_text(ls_map_value_at(env, i), &vlen);
            ls_buf b;
            ls_buf_init(&b, LS_BUF_UNLIMITED);
            ls_buf_printf(&b, "%s=", k);
            if (v != NULL)
                ls_buf_add(&b, v, vlen);
            free(v);
            p->env[p->nenv++] = ls_buf_steal(&b);
            if (p->env[p->nenv - 1] == NULL) {
                p->nenv--;
                ls_error_set(err, none, "%s: out of memory", who);
                return -1;
            }
        }
    }
    ls_value cwd = ls_map_get(in, "cwd");
    if (!ls_is_null(cwd)) {
        if (cwd.kind != LS_STRING) {
            ls_error_set(err, none, "%s: cwd must be a string, not %s", who, ls_kind_name((ls_kind)cwd.kind));
            return -1;
        }
        p->cwd = ls_str_ptr(cwd);
    }
    ls_value sin = ls_map_get(in, "stdin");
    if (!ls_is_null(sin)) {
        if (sin.kind != LS_STRING) {
            ls_error_set(err, none, "%s: stdin must be a string, not %s", who, ls_kind_name((ls_kind)sin.kind));
            return -1;
        }
        p->stdin_data = ls_str_ptr(sin);
        p->stdin_len = ls_str_len(sin);
    }
    return 0;
}

/* ok_codes (default [0]) as a list of ints; -1 with err when malformed. */
static int check_ok_codes(const char *who, ls_value codes, ls_error *err)
{
    ls_loc none = {0};
    if (ls_is_null(codes))
        return 0;
    if (codes.kind != LS_LIST) {
        ls_error_set(err, none, "%s: ok_codes must be a list of ints, not %s", who,
                     ls_kind_name((ls_kind)codes.kind));
        return -1;
    }
    for (size_t i = 0; i < ls_list_len(codes); i++) {
        ls_value c = ls_list_at(codes, i);
        if (c.kind != LS_INT) {
            ls_error_set(err, none, "%s: ok_codes[%zu] is %s, not an int", who, i,
                         ls_kind_name((ls_kind)c.kind));
            return -1;
        }
    }
    return 0;
}

static bool code_ok(ls_value codes, int code)
{
    if (ls_is_null(codes))
        return code == 0;
    for (size_t i = 0; i < ls_list_len(codes); i++)
        if (ls_list_at(codes, i).u.i == code)
            return true;
    return false;
}

/* The last line(s) of stderr, redacted, for a failure message. */
static void stderr_tail(const ls_proc_result *r, char *out, size_t outlen)
{
    out[0] = '\0';
    if (r->err == NULL || r->err_len == 0)
        return;
    size_t end = r->err_len;
    while (end > 0 && (r->err[end - 1] == '\n' || r->err[end - 1] == '\r' || r->err[end - 1] == ' '))
        end--;
    if (end == 0)
        return;
    size_t start = end > STDERR_TAIL_MAX ? end - STDERR_TAIL_MAX : 0;
    char *red = ls_redact(r->err + start, end - start, NULL);
    if (red == NULL)
        return;
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    snprintf(out, outlen, ": %s%s", start > 0 ? "..." : "", red);
    free(red);
}

/* Runs the program and turns the outcome into a status, result and message.
 * `shown` is the redacted, quoted command line for messages. */
static ls_act_status run_program(const char *who, ls_call *call, prog_spec *p, ls_value ok_codes,
                                 const char *shown, ls_scanner *scan, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    ls_proc_opts o;
    memset(&o, 0, sizeof o);
    o.argv = p->argv;
    o.env_add = (const char *const *)p->env;
    o.cwd = p->cwd;
    o.stdin_data = p->stdin_data;
    o.stdin_len = p->stdin_len;
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

    ls_act_status st = LS_ACT_OK;
    char tail[STDERR_TAIL_MAX + 8];
    stderr_tail(&r, tail, sizeof tail);
    if (r.cancelled) {
        ls_error_set(err, none, "%s: %s was cancelled", who, shown);
        st = LS_ACT_CANCELLED;
    } else if (r.timed_out) {
        char d[64];
        ls_duration_format(call->timeout_ms > 0 ? call->timeout_ms : r.duration_ms, d, sizeof d);
        ls_error_set(err, none, "%s: %s timed out after %s", who, shown, d);
        st = LS_ACT_TIMED_OUT;
    } else if (r.term_signal != 0) {
        ls_error_set(err, none, "%s: %s killed by signal %d%s", who, shown, r.term_signal, tail);
        st = LS_ACT_FAILED;
    } else if (!code_ok(ok_codes, r.exit_code)) {
        char *codes = ls_is_null(ok_codes) ? NULL : ls_value_to_json(ok_codes, NULL);
        ls_error_set(err, none, "%s: %s exited with code %d (ok: %s)%s", who, shown, r.exit_code,
                     codes ? codes : "[0]", tail);
        free(codes);
        st = LS_ACT_FAILED;
    }
    ls_proc_result_free(&r);
    return st;
}

static ls_act_status act_exec(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    ls_value in = call->inputs;
    *result = ls_map_new();

    ls_value argv = ls_map_get(in, "argv");
    if (argv.kind != LS_LIST || ls_list_len(argv) == 0) {
        ls_error_set(err, none, "exec: argv must be a non-empty list of strings");
        return LS_ACT_FAILED;
    }
    /* Numbers and bools are written as text, as a person typing the
     * command would (`argv: [sleep, 5]`, `${{ params.replicas }}`); null,
     * lists and maps have no one obvious spelling and are refused. */
    size_t n = ls_list_len(argv);
    ls_value words = ls_list_new();
    for (size_t i = 0; i < n; i++) {
        ls_value a = ls_list_at(argv, i);
        if (a.kind == LS_NULL || a.kind == LS_LIST || a.kind == LS_MAP) {
            ls_error_set(err, none, "exec: argv[%zu] is %s, not a string or a number", i,
                         ls_kind_name((ls_kind)a.kind));
            ls_value_free(words);
            return LS_ACT_FAILED;
        }
        if (a.kind == LS_STRING && strlen(ls_str_ptr(a)) != ls_str_len(a)) {
            ls_error_set(err, none, "exec: argv[%zu] contains a NUL byte", i);
            ls_value_free(words);
            return LS_ACT_FAILED;
        }
        if (a.kind == LS_STRING) {
            ls_list_push(&words, ls_value_copy(a));
        } else {
            size_t len = 0;
            char *text = ls_value_to_text(a, &len);
            ls_list_push(&words, text ? ls_string_n(text, len) : ls_string(""));
            free(text);
        }
    }
    ls_value ok_codes = ls_map_get(in, "ok_codes");
    if (check_ok_codes("exec", ok_codes, err) != 0) {
        ls_value_free(words);
        return LS_ACT_FAILED;
    }

    prog_spec p;
    memset(&p, 0, sizeof p);
    p.argv = calloc(n + 1, sizeof *p.argv);
    if (p.argv == NULL) {
        ls_error_set(err, none, "exec: out of memory");
        ls_value_free(words);
        return LS_ACT_FAILED;
    }
    for (size_t i = 0; i < n; i++)
        p.argv[i] = ls_str_ptr(ls_list_at(words, i));
    if (read_common("exec", in, &p, err) != 0) {
        prog_spec_free(&p);
        ls_value_free(words);
        return LS_ACT_FAILED;
    }
    ls_scan *own = NULL;
    const ls_scan *scan = ls_scan_for_call("exec", "scan", in, call->prep, &own, err);
    if (scan == NULL && !ls_is_null(ls_map_get(in, "scan"))) {
        prog_spec_free(&p);
        ls_value_free(words);
        return LS_ACT_FAILED;
    }
    ls_scanner *sc = scan ? ls_scanner_new(scan, ls_scan_max_matches(in), true) : NULL;
    char *shown = ls_proc_argv_string(p.argv);
    ls_act_status st;
    if (scan != NULL && sc == NULL) {
        ls_error_set(err, none, "exec: out of memory");
        st = LS_ACT_FAILED;
    } else {
        st = run_program("exec", call, &p, ok_codes, shown ? shown : "?", sc, result, err);
    }
    ls_scanner_free(sc);
    ls_scan_free(own);
    free(shown);
    prog_spec_free(&p);
    ls_value_free(words);
    return st;
}

static ls_act_status act_shell(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    ls_value in = call->inputs;
    *result = ls_map_new();

    ls_value script = ls_map_get(in, "script");
    if (script.kind != LS_STRING) {
        ls_error_set(err, none, "shell: script must be a string");
        return LS_ACT_FAILED;
    }
    if (strlen(ls_str_ptr(script)) != ls_str_len(script)) {
        ls_error_set(err, none, "shell: script contains a NUL byte");
        return LS_ACT_FAILED;
    }
    prog_spec p;
    memset(&p, 0, sizeof p);
    p.argv = calloc(4, sizeof *p.argv);
    if (p.argv == NULL) {
        ls_error_set(err, none, "shell: out of memory");
        return LS_ACT_FAILED;
    }
    p.argv[0] = "/bin/sh";
    p.argv[1] = "-c";
    p.argv[2] = ls_str_ptr(script);
    if (read_common("shell", in, &p, err) != 0) {
        prog_spec_free(&p);
        return LS_ACT_FAILED;
    }
    /* Show a long script shortened: the message is for a person. */
    char *shown = NULL;
    size_t slen = ls_str_len(script);
    if (slen > SHOWN_SCRIPT_MAX) {
        char *cut = malloc(SHOWN_SCRIPT_MAX + 4);
        if (cut != NULL) {
            memcpy(cut, p.argv[2], SHOWN_SCRIPT_MAX);
            memcpy(cut + SHOWN_SCRIPT_MAX, "...", 4);
            const char *disp[] = {"/bin/sh", "-c", cut, NULL};
            shown = ls_proc_argv_string(disp);
            free(cut);
        }
    } else {
        shown = ls_proc_argv_string(p.argv);
    }
    ls_act_status st = run_program("shell", call, &p, ls_null(), shown ? shown : "?", NULL, result, err);
    free(shown);
    prog_spec_free(&p);
    return st;
}

/* ---- wait, noop, manual.confirm -------------------------------------- */

static ls_act_status act_wait(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    *result = ls_map_new();
    ls_value d = ls_map_get(call->inputs, "duration");
    int64_t ms = 0;
    if (d.kind == LS_INT) {
        if (d.u.i < 0 || d.u.i > INT64_MAX / 1000) {
            ls_error_set(err, none, "wait: duration %lld is out of range", (long long)d.u.i);
            return LS_ACT_FAILED;
        }
        ms = d.u.i * 1000;
    } else if (d.kind == LS_STRING) {
        if (ls_duration_parse(ls_str_ptr(d), ls_str_len(d), &ms) != 0) {
            char *red = ls_redact(ls_str_ptr(d), ls_str_len(d), NULL);
            ls_error_set(err, none, "wait: '%s' is not a duration (e.g. 30s, 5m, 1h30m)", red ? red : "***");
            free(red);
            return LS_ACT_FAILED;
        }
    } else if (!ls_is_null(d)) {
        ls_error_set(err, none, "wait: duration must be a string or int seconds, not %s",
                     ls_kind_name((ls_kind)d.kind));
        return LS_ACT_FAILED;
    }

    int64_t start = ls_now_ms();
    int64_t until = start + ms;
    for (;;) {
        if (call->cancel != NULL && *call->cancel) {
            ls_error_set(err, none, "wait: cancelled");
            return LS_ACT_CANCELLED;
        }
        int64_t now = ls_now_ms();
        if (now >= until)
            return LS_ACT_OK;
        if (call->deadline_ms > 0 && now >= call->deadline_ms) {
            char a[64], b[64];
            ls_duration_format(call->timeout_ms > 0 ? call->timeout_ms : now - start, a, sizeof a);
            ls_duration_format(ms, b, sizeof b);
            ls_error_set(err, none, "wait: timed out after %s of %s", a, b);
            return LS_ACT_TIMED_OUT;
        }
        int64_t step = until - now;
        if (call->deadline_ms > 0 && call->deadline_ms - now < step)
            step = call->deadline_ms - now;
        if (step > WAIT_TICK_MS)
            step = WAIT_TICK_MS;
        (void)poll(NULL, 0, (int)step); /* EINTR just loops */
    }
}

static ls_act_status act_noop(ls_call *call, ls_value *result, ls_error *err)
{
    (void)call;
    (void)err;
    *result = ls_map_new();
    return LS_ACT_OK;
}

static ls_act_status act_manual_confirm(ls_call *call, ls_value *result, ls_error *err)
{
    ls_loc none = {0};
    *result = ls_map_new();
    if (call->approved_by == NULL) {
        ls_value prompt = ls_map_get(call->inputs, "prompt");
        char *red = ls_redact(ls_str_ptr(prompt), ls_str_len(prompt), NULL);
        ls_error_set(err, none, "manual.confirm: not approved: %s", red ? red : "***");
        free(red);
        return LS_ACT_FAILED;
    }
    ls_map_set(result, "approved_by", ls_string(call->approved_by));
    return LS_ACT_OK;
}

/* ---- load-time checks ------------------------------------------------ */

/* What can be known before the run: constant argv elements with no one
 * spelling as a word (null, lists, maps; numbers and bools are written as
 * text), an empty argv,
 * ok_codes that are not ints, env names that cannot be variables.  Values
 * that come from expressions are checked again when the state runs. */
static int check_env_tmpl(const char *who, const ls_tmpl *with, ls_diags *d)
{
    int rc = 0;
    const ls_tmpl *env = ls_tmpl_map_get(with, "env");
    if (env == NULL || ls_tmpl_kind(env) != LS_MAP)
        return 0;
    for (size_t i = 0; i < ls_tmpl_len(env); i++) {
        const char *k = ls_tmpl_map_key_at(env, i);
        if (k[0] == '\0' || strchr(k, '=') != NULL) {
            ls_diag_error(d, ls_tmpl_loc(ls_tmpl_at(env, i)), "%s: env key '%s' is not a valid variable name", who, k);
            rc = -1;
        }
    }
    return rc;
}

static int prepare_exec(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    *prep = NULL;
    int rc = check_env_tmpl("exec", with, d);
    const ls_tmpl *argv = ls_tmpl_map_get(with, "argv");
    if (argv != NULL && ls_tmpl_kind(argv) == LS_LIST) {
        if (ls_tmpl_len(argv) == 0) {
            ls_diag_error(d, ls_tmpl_loc(argv), "exec: argv is empty: it needs at least the program");
            rc = -1;
        }
        for (size_t i = 0; i < ls_tmpl_len(argv); i++) {
            const ls_tmpl *a = ls_tmpl_at(argv, i);
            ls_kind k = ls_tmpl_kind(a);
            if (ls_tmpl_is_constant(a) && (k == LS_NULL || k == LS_LIST || k == LS_MAP)) {
                ls_diag_error(d, ls_tmpl_loc(a), "exec: argv[%zu] must be a string or a number, not %s", i,
                              ls_kind_name(k));
                rc = -1;
            }
        }
    }
    const ls_tmpl *codes = ls_tmpl_map_get(with, "ok_codes");
    if (codes != NULL && ls_tmpl_kind(codes) == LS_LIST) {
        for (size_t i = 0; i < ls_tmpl_len(codes); i++) {
            const ls_tmpl *c = ls_tmpl_at(codes, i);
            if (ls_tmpl_is_constant(c) && ls_tmpl_kind(c) != LS_INT) {
                ls_diag_error(d, ls_tmpl_loc(c), "exec: ok_codes[%zu] must be an int, not %s", i,
                              ls_kind_name(ls_tmpl_kind(c)));
                rc = -1;
            }
        }
    }
    if (ls_scan_prepare("exec", "scan", with, d, prep) != 0)
        rc = -1;
    if (rc != 0) {
        ls_scan_free(*prep);
        *prep = NULL;
    }
    return rc;
}

static int prepare_shell(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    *prep = NULL;
    return check_env_tmpl("shell", with, d);
}

/* ---- the table -------------------------------------------------------- */

static const ls_input exec_inputs[] = {
    {"argv", "list", true, NULL, "the program and its arguments, each one element (never split by a shell)"},
    {"env", "map", false, NULL, "variables added to the inherited environment (values rendered as text)"},
    {"cwd", "string", false, NULL, "working directory of the program"},
    {"stdin", "string", false, NULL, "text written to the program's standard input (absent: it reads /dev/null)"},
    {"ok_codes", "list", false, "[0]", "exit codes that count as success"},
    {"scan", "list", false, NULL,
     "PCRE2 regexes applied to every line of stdout and stderr as they stream, whatever the capture cap "
     "(adds matched, count, matches)" LS_SCAN_RULES},
    {"max_matches", "int", false, "100", "with scan: at most this many matching lines are listed (count keeps counting)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input shell_inputs[] = {
    {"script", "string", true, NULL, "the script, run as /bin/sh -c SCRIPT"},
    {"env", "map", false, NULL, "variables added to the inherited environment (values rendered as text)"},
    {"cwd", "string", false, NULL, "working directory of the shell"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input wait_inputs[] = {
    {"duration", "duration", false, NULL, "how long to wait (\"30s\", \"5m\", or int seconds; absent: no wait)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input no_inputs[] = {
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input confirm_inputs[] = {
    {"prompt", "string", true, NULL, "the question put to the operator"},
    {"url", "string", false, NULL, "a link shown with the prompt (runbook, dashboard)"},
    {NULL, NULL, false, NULL, NULL},
};

const ls_field ls_program_results[] = {
    {"exit_code", "int", "the program's exit code (-1 when killed by a signal)"},
    {"stdout", "string", "standard output, capped at 1 MiB"},
    {"stderr", "string", "standard error, capped at 1 MiB"},
    {"duration_ms", "int", "wall time of the program"},
    {"truncated", "bool", "true when stdout or stderr hit the cap"},
    {NULL, NULL, NULL},
};

/* exec: the program's result, and the scan's when `scan` is given. */
static const ls_field exec_results[] = {
    {"exit_code", "int", "the program's exit code (-1 when killed by a signal)"},
    {"stdout", "string", "standard output, capped at 1 MiB"},
    {"stderr", "string", "standard error, capped at 1 MiB"},
    {"duration_ms", "int", "wall time of the program"},
    {"truncated", "bool", "true when stdout or stderr hit the cap (scan still saw every byte)"},
    {"matched", "bool", "with scan: some line of the output matched"},
    {"count", "int", "with scan: matching lines in the whole output"},
    {"matches", "list", "with scan: [{pattern, line, stream}] for the first max_matches matching lines"},
    {NULL, NULL, NULL},
};

static const ls_field no_results[] = {
    {NULL, NULL, NULL},
};

static const ls_field confirm_results[] = {
    {"approved_by", "string", "who approved, and how (\"alice via tty\")"},
    {NULL, NULL, NULL},
};

const ls_action ls_actions_core[] = {
    {"exec", "exec", "run a program from an argv list (no shell)", exec_inputs, exec_results,
     "it cannot start, or the exit code is not in ok_codes", true, false, NULL, prepare_exec, ls_scan_free, act_exec, NULL},
    {"shell", "exec", "run a script with /bin/sh -c (the only action that runs a shell)", shell_inputs,
     ls_program_results, "it cannot start, or the exit code is not 0", true, false, NULL, prepare_shell, NULL, act_shell, NULL},
    {"wait", "wait", "wait for a duration", wait_inputs, no_results,
     "never (a shorter timeout still times it out)", false, true, NULL, NULL, NULL, act_wait, NULL},
    {"noop", "noop", "do nothing (a state that only branches or checks)", no_inputs, no_results, "never",
     false, true, NULL, NULL, NULL, act_noop, NULL},
    {"manual.confirm", "manual", "ask the operator to confirm a manual step before going on",
     confirm_inputs, confirm_results, "the person says no", false, true, NULL, NULL, NULL,
     act_manual_confirm, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL, NULL},
};
