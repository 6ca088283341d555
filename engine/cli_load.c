/*
 * `lockstep validate`, `lockstep graph` and `lockstep actions` (SPEC 4).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cli.h"
#include "cli_opts.h"
#include "cli_schema.h"
#include "graph.h"
#include "load_int.h"
#include "registry.h"
#include "secret.h"

static bool ls_is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static const char ls_validate_usage[] =
    "usage: lockstep validate PLAYBOOK [--env NAME] [--values FILE]... [--set K=V]... [--strict]\n"
    "                         [--output text|json]\n"
    "\n"
    "Checks a playbook and the param values it would run with; nothing runs.\n"
    "Every problem is printed as FILE:LINE:COL: error|warning: message, sorted.\n"
    "Without --env, --values or --set only the playbook itself is checked (its\n"
    "structure, names, expressions, templates, constant action inputs): a note\n"
    "names the required params whose values were not checked.\n"
    "\n"
    "  --env NAME      read environments/NAME.yaml beside the playbook (params, defaults)\n"
    "  --values FILE   a values file {params: {...}, defaults: {...}}; may repeat\n"
    "  --set K=V       a param value, parsed as the param's type; may repeat\n"
    "  --strict        warnings count as errors\n"
    "  --output text|json  text: the problems on stderr (default); json: one document on\n"
    "                  stdout {path, valid, errors, warnings, diagnostics: [{file, line,\n"
    "                  column, severity, message, suggestion}], values_checked,\n"
    "                  unchecked_params: [NAME...]}\n"
    "\n"
    "exit: 0 valid (warnings may be printed), 2 invalid or usage error\n";

/* What a message proposes instead: the name in "did you mean 'X'", or for
 * an unknown key or input the closest name of its "(allowed: a, b)" or
 * "(inputs: a, b)" list; NULL if none. */
static char *ls_diag_suggestion(const char *msg)
{
    const char *p = strstr(msg, "did you mean '");
    if (p) {
        p += strlen("did you mean '");
        const char *q = strchr(p, '\'');
        return q ? strndup(p, (size_t)(q - p)) : NULL;
    }
    static const struct { const char *name, *list; } forms[] = {
        {"unknown key '", "(allowed: "}, {"has no input '", "(inputs: "}};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        const char *k = strstr(msg, forms[f].name), *al = strstr(msg, forms[f].list);
        const char *ke = k ? strchr(k + strlen(forms[f].name), '\'') : NULL;
        if (!ke || !al)
            continue;
        k += strlen(forms[f].name);
        char *key = strndup(k, (size_t)(ke - k));
        char *list = strdup(al + strlen(forms[f].list));
        const char *names[64];
        size_t n = 0;
        char *save = NULL;
        for (char *t = list ? strtok_r(list, ",) ", &save) : NULL; t && n < 64; t = strtok_r(NULL, ",) ", &save))
            names[n++] = t;
        const char *best = key ? ls_load_suggest(key, names, n) : NULL;
        char *out = best ? strdup(best) : NULL;
        free(key);
        free(list);
        return out;
    }
    return NULL;
}

static int ls_diag_order(const void *pa, const void *pb)
{
    const ls_diag *a = pa, *b = pb;
    int c = strcmp(a->loc.file ? a->loc.file : "", b->loc.file ? b->loc.file : "");
    if (c)
        return c;
    if (a->loc.line != b->loc.line)
        return a->loc.line < b->loc.line ? -1 : 1;
    if (a->loc.col != b->loc.col)
        return a->loc.col < b->loc.col ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order ? 1 : 0;
}

/* Whether any values were given: without them validate checks the
 * playbook alone (structure only) and says what it left unchecked. */
static bool ls_values_given(const ls_cli_opts *o)
{
    return o->load.env_name || o->load.nvalues || o->load.nsets;
}

/* The required params a structure-only validate did not check, as a list
 * of names (all of them: a required param has no default by rule). */
static ls_value ls_unchecked_params(const ls_playbook *pb)
{
    ls_value names = ls_list_new();
    for (size_t i = 0; pb && i < pb->nparams; i++)
        if (pb->params[i].required)
            ls_list_push(&names, ls_string(pb->params[i].name));
    return names;
}

/* The note line of a structure-only validate, or nothing when every param
 * has a default or is optional. */
static void ls_unchecked_note(const ls_playbook *pb, FILE *out)
{
    ls_value names = ls_unchecked_params(pb);
    size_t n = ls_list_len(names);
    if (n) {
        fprintf(out, "not checked without values: required param%s ", n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            fprintf(out, "%s%s", i ? ", " : "", ls_str_ptr(ls_list_at(names, i)));
        fputs(" (give --env/--values/--set to check them)\n", out);
    }
    ls_value_free(names);
}

/* validate --output json: the diagnostics as one JSON document, redacted. */
static void ls_validate_json(const ls_cli_opts *o, const ls_playbook *pb, ls_diags *d, bool valid, FILE *out)
{
    if (d->len > 1)
        qsort(d->items, d->len, sizeof *d->items, ls_diag_order);
    ls_value doc = ls_map_new(), list = ls_list_new();
    ls_map_set(&doc, "path", ls_string(o->load.path));
    ls_map_set(&doc, "valid", ls_bool(valid));
    ls_map_set(&doc, "errors", ls_int((int64_t)(d->errors + (o->strict ? d->warnings : 0))));
    ls_map_set(&doc, "warnings", ls_int((int64_t)(o->strict ? 0 : d->warnings)));
    for (size_t i = 0; i < d->len; i++) {
        const ls_diag *g = &d->items[i];
        ls_value e = ls_map_new();
        ls_map_set(&e, "file", g->loc.file ? ls_string(g->loc.file) : ls_null());
        ls_map_set(&e, "line", g->loc.line ? ls_int(g->loc.line) : ls_null());
        ls_map_set(&e, "column", g->loc.line ? ls_int(g->loc.col ? g->loc.col : 1) : ls_null());
        ls_map_set(&e, "severity", ls_string(g->sev == LS_SEV_ERROR || o->strict ? "error" : "warning"));
        ls_map_set(&e, "message", ls_string(g->msg));
        char *hint = ls_diag_suggestion(g->msg);
        if (hint)
            ls_map_set(&e, "suggestion", ls_string(hint));
        free(hint);
        ls_list_push(&list, e);
    }
    ls_map_set(&doc, "diagnostics", list);
    ls_map_set(&doc, "values_checked", ls_bool(ls_values_given(o)));
    ls_map_set(&doc, "unchecked_params", ls_values_given(o) ? ls_list_new() : ls_unchecked_params(pb));
    ls_value red = ls_redact_value(doc);
    char *j = ls_value_to_json(red, NULL);
    fprintf(out, "%s\n", j ? j : "null");
    free(j);
    ls_value_free(red);
    ls_value_free(doc);
}

int ls_cmd_validate(int argc, char **argv)
{
    ls_cli_opts o;
    ls_cli_opts_init(&o);
    bool json = false;
    for (int i = 1; i < argc;) {
        if (ls_is_help(argv[i])) {
            fputs(ls_validate_usage, stdout);
            ls_cli_opts_free(&o);
            return 0;
        }
        const char *a = argv[i];
        if (strcmp(a, "--output") == 0 || strncmp(a, "--output=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[i + 1] : NULL);
            i += a[8] == '=' ? 1 : 2;
            if (!v || (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)) {
                fprintf(stderr, "lockstep validate: --output is text or json\n");
                ls_cli_opts_free(&o);
                return 2;
            }
            json = strcmp(v, "json") == 0;
            continue;
        }
        int r = ls_cli_opts_take(&o, "validate", argc, argv, &i);
        if (r == 0) {
            fprintf(stderr, "lockstep validate: unknown option '%s' (see lockstep validate --help)\n", argv[i]);
            r = -1;
        }
        if (r < 0) {
            ls_cli_opts_free(&o);
            return 2;
        }
    }
    if (ls_cli_opts_finish(&o, "validate") != 0) {
        ls_cli_opts_free(&o);
        return 2;
    }
    ls_diags d;
    ls_diags_init(&d);
    if (json) {
        o.load.check_params = ls_values_given(&o);
        ls_playbook *jp = ls_playbook_load(&o.load, &d);
        bool valid = jp && d.errors == 0 && !(o.strict && d.warnings);
        ls_validate_json(&o, jp, &d, valid, stdout);
        ls_playbook_free(jp);
        ls_diags_free(&d);
        ls_cli_opts_free(&o);
        return fflush(stdout) == 0 && valid ? 0 : 2;
    }
    ls_playbook *pb = ls_cli_load(&o, ls_values_given(&o), &d, stderr);
    int rc = 2;
    if (pb) {
        printf("%s: ok (%zu states, %zu params, %zu guards%s)\n", o.given, pb->nstates, pb->nparams,
               pb->nguards, d.warnings ? ", with warnings" : "");
        if (!ls_values_given(&o))
            ls_unchecked_note(pb, stdout);
        ls_cli_bundle_note(&o, stdout);
        rc = 0;
    } else {
        fprintf(stderr, "%s: invalid (%zu error%s%s)\n", o.given, d.errors + (o.strict ? d.warnings : 0),
                d.errors + (o.strict ? d.warnings : 0) == 1 ? "" : "s",
                (!o.strict && d.warnings) ? ", and warnings" : "");
    }
    /* The process ends here: a release build leaves the playbook to the
     * kernel (arena.h, LS_FREE_AT_EXIT). */
    if (LS_FREE_AT_EXIT)
        ls_playbook_free(pb);
    ls_diags_free(&d);
    ls_cli_opts_free(&o);
    return rc;
}

static const char ls_graph_usage[] =
    "usage: lockstep graph PLAYBOOK [--format dot|mermaid]\n"
    "\n"
    "Writes the state machine to stdout: Graphviz DOT (default) or Mermaid.\n"
    "States are nodes grouped by phase; terminal states are drawn apart\n"
    "(success: double circle, green; failure: double octagon, red), decision\n"
    "states as diamonds.  Edges carry guard names or conditions; failure edges\n"
    "are dashed red, timeout edges dotted orange.\n"
    "\n"
    "  --format dot|mermaid  dot: Graphviz (default); mermaid: a flowchart for Markdown pages\n"
    "\n"
    "  lockstep graph upgrade.yaml | dot -Tsvg > upgrade.svg\n"
    "\n"
    "exit: 0 written, 2 invalid playbook or usage error\n";

int ls_cmd_graph(int argc, char **argv)
{
    ls_cli_opts o;
    ls_cli_opts_init(&o);
    ls_graph_format fmt = LS_GRAPH_DOT;
    int rc = 2;
    for (int i = 1; i < argc;) {
        const char *a = argv[i];
        if (ls_is_help(a)) {
            fputs(ls_graph_usage, stdout);
            rc = 0;
            goto out;
        }
        if (strcmp(a, "--format") == 0 || strncmp(a, "--format=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[i + 1] : NULL);
            i += a[8] == '=' ? 1 : 2;
            if (v && strcmp(v, "dot") == 0)
                fmt = LS_GRAPH_DOT;
            else if (v && strcmp(v, "mermaid") == 0)
                fmt = LS_GRAPH_MERMAID;
            else {
                fprintf(stderr, "lockstep graph: --format is dot or mermaid\n");
                goto out;
            }
            continue;
        }
        /* Only the playbook path: values do not change the machine's shape. */
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lockstep graph: unknown option '%s' (see lockstep graph --help)\n", a);
            goto out;
        }
        if (ls_cli_opts_take(&o, "graph", argc, argv, &i) < 0)
            goto out;
    }
    if (ls_cli_opts_finish(&o, "graph") != 0)
        goto out;
    ls_diags d;
    ls_diags_init(&d);
    ls_playbook *pb = ls_cli_load(&o, false, &d, stderr);
    if (pb) {
        ls_graph_write(pb, fmt, stdout);
        rc = fflush(stdout) == 0 ? 0 : 2;
    }
    ls_playbook_free(pb);
    ls_diags_free(&d);
out:
    ls_cli_opts_free(&o);
    return rc;
}

/* ---- actions ------------------------------------------------------------ */

static const char *ls_mutates_text(const ls_action *a)
{
    if (a->mutates_fn)
        return a->mutates ? "depends on inputs (default yes)" : "depends on inputs (default no)";
    return a->mutates ? "yes" : "no";
}

static const char *ls_idempotent_text(const ls_action *a)
{
    if (a->idempotent_fn && !a->idempotent)
        return "depends on inputs (see their docs)";
    return a->idempotent ? "yes" : "no";
}

static void ls_json_str(FILE *out, const char *s)
{
    ls_value v = ls_string(s ? s : "");
    char *j = ls_value_to_json(v, NULL);
    fputs(j ? j : "\"\"", out);
    free(j);
    ls_value_free(v);
}

static void ls_md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

static void ls_action_text(const ls_action *a, FILE *out)
{
    fprintf(out, "%s\n  %s\n  mutates: %s; idempotent: %s\n", a->name, a->doc, ls_mutates_text(a),
            ls_idempotent_text(a));
    fputs("  inputs:\n", out);
    size_t n = 0;
    for (const ls_input *in = a->inputs; in && in->name; in++, n++)
        fprintf(out, "    %-12s %-11s %s%s%s%s\n", in->name, in->type, in->required ? "required. " : "",
                in->doc ? in->doc : "", in->def ? "; default " : "", in->def ? in->def : "");
    const ls_family *f = ls_family_find(a->family);
    for (const ls_input *in = f ? f->inputs : NULL; in && in->name; in++, n++)
        fprintf(out, "    %-12s %-11s %s (%s family default)%s%s\n", in->name, in->type, in->doc ? in->doc : "",
                f->name, in->def ? "; default " : "", in->def ? in->def : "");
    if (!n)
        fputs("    (none)\n", out);
    fputs("  result:\n", out);
    n = 0;
    for (const ls_field *r = a->results; r && r->name; r++, n++)
        fprintf(out, "    %-12s %-11s %s\n", r->name, r->type, r->doc ? r->doc : "");
    if (!n)
        fputs("    {} (empty)\n", out);
    fprintf(out, "  fails when: %s\n", a->fails_when ? a->fails_when : "never");
}

static void ls_action_markdown(const ls_action *a, FILE *out)
{
    fprintf(out, "## `%s`\n\n%s\n\n", a->name, a->doc);
    fprintf(out, "- mutates: %s\n- idempotent: %s\n- fails when: %s\n\n", ls_mutates_text(a),
            ls_idempotent_text(a), a->fails_when ? a->fails_when : "never");
    const ls_family *f = ls_family_find(a->family);
    if ((a->inputs && a->inputs[0].name) || f) {
        fputs("| input | type | required | default | description |\n| --- | --- | --- | --- | --- |\n", out);
        for (const ls_input *in = a->inputs; in && in->name; in++) {
            fprintf(out, "| `%s` | %s | %s | ", in->name, in->type, in->required ? "yes" : "no");
            if (in->def) {
                fputc('`', out);
                ls_md_cell(out, in->def);
                fputc('`', out);
            }
            fputs(" | ", out);
            ls_md_cell(out, in->doc);
            fputs(" |\n", out);
        }
        for (const ls_input *in = f ? f->inputs : NULL; in && in->name; in++) {
            fprintf(out, "| `%s` | %s | no | ", in->name, in->type);
            if (in->def) {
                fputc('`', out);
                ls_md_cell(out, in->def);
                fputc('`', out);
            }
            fputs(" | ", out);
            ls_md_cell(out, in->doc);
            fprintf(out, " (`%s` family default) |\n", f->name);
        }
        fputc('\n', out);
    } else {
        fputs("No inputs.\n\n", out);
    }
    if (a->results && a->results[0].name) {
        fputs("| result | type | description |\n| --- | --- | --- |\n", out);
        for (const ls_field *r = a->results; r->name; r++) {
            fprintf(out, "| `%s` | %s | ", r->name, r->type);
            ls_md_cell(out, r->doc);
            fputs(" |\n", out);
        }
        fputc('\n', out);
    } else {
        fputs("Result: `{}`.\n\n", out);
    }
}

static void ls_input_json(const ls_input *in, const char *family, FILE *out)
{
    fputs("{\"name\":", out);
    ls_json_str(out, in->name);
    fputs(",\"type\":", out);
    ls_json_str(out, in->type);
    fprintf(out, ",\"required\":%s,\"default\":", in->required ? "true" : "false");
    if (in->def)
        fputs(in->def, out);
    else
        fputs("null", out);
    fputs(",\"description\":", out);
    ls_json_str(out, in->doc);
    fputs(",\"family\":", out);
    if (family)
        ls_json_str(out, family);
    else
        fputs("null", out);
    fputc('}', out);
}

static void ls_action_json(const ls_action *a, FILE *out)
{
    fputs("{\"name\":", out);
    ls_json_str(out, a->name);
    fputs(",\"family\":", out);
    ls_json_str(out, a->family);
    fputs(",\"description\":", out);
    ls_json_str(out, a->doc);
    fprintf(out, ",\"mutates\":%s,\"mutates_by_inputs\":%s,\"idempotent\":%s,\"inputs\":[",
            a->mutates ? "true" : "false", a->mutates_fn ? "true" : "false", a->idempotent ? "true" : "false");
    bool first = true;
    for (const ls_input *in = a->inputs; in && in->name; in++, first = false) {
        if (!first)
            fputc(',', out);
        ls_input_json(in, NULL, out);
    }
    const ls_family *f = ls_family_find(a->family);
    for (const ls_input *in = f ? f->inputs : NULL; in && in->name; in++, first = false) {
        if (!first)
            fputc(',', out);
        ls_input_json(in, f->name, out);
    }
    fputs("],\"results\":[", out);
    for (const ls_field *r = a->results; r && r->name; r++) {
        if (r != a->results)
            fputc(',', out);
        fputs("{\"name\":", out);
        ls_json_str(out, r->name);
        fputs(",\"type\":", out);
        ls_json_str(out, r->type);
        fputs(",\"description\":", out);
        ls_json_str(out, r->doc);
        fputc('}', out);
    }
    fputs("],\"fails_when\":", out);
    ls_json_str(out, a->fails_when ? a->fails_when : "never");
    fputc('}', out);
}

static const char ls_actions_usage[] =
    "usage: lockstep actions [NAME] [--format text|markdown|json|schema]\n"
    "\n"
    "Describes the built-in actions from the registry the engine runs: inputs\n"
    "(type, required, default; family inputs such as kubectl's context too),\n"
    "result fields, when the action fails, whether it mutates and whether it is\n"
    "idempotent.  docs/actions.md is `lockstep actions --format markdown`.\n"
    "\n"
    "  --format FORMAT   text: a list, or one action in full (default); markdown: the\n"
    "                    reference page; json: the table as JSON; schema: the playbook\n"
    "                    JSON Schema with each action's inputs (schemas/playbook.schema.json)\n"
    "\n"
    "exit: 0, or 2 for an unknown action or a usage error\n";

int ls_cmd_actions(int argc, char **argv)
{
    const char *name = NULL, *format = "text";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (ls_is_help(a)) {
            fputs(ls_actions_usage, stdout);
            return 0;
        }
        if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            format = a + 9;
        } else if (a[0] == '-') {
            fprintf(stderr, "lockstep actions: unknown option '%s' (see lockstep actions --help)\n", a);
            return 2;
        } else if (name) {
            fprintf(stderr, "lockstep actions: one action name at a time\n");
            return 2;
        } else {
            name = a;
        }
    }
    int kind = strcmp(format, "text") == 0 ? 0 : strcmp(format, "markdown") == 0 ? 1
             : strcmp(format, "json") == 0 ? 2 : strcmp(format, "schema") == 0 ? 3 : -1;
    if (kind < 0) {
        fprintf(stderr, "lockstep actions: --format is text, markdown, json or schema\n");
        return 2;
    }
    if (kind == 3) {
        if (name) {
            fprintf(stderr, "lockstep actions: --format schema describes every action: give no NAME\n");
            return 2;
        }
        return ls_schema_write(stdout) == 0 && fflush(stdout) == 0 ? 0 : 2;
    }
    const ls_action *only = NULL;
    if (name && !(only = ls_action_find(name))) {
        fprintf(stderr, "lockstep actions: unknown action '%s'\n", name);
        return 2;
    }
    size_t n = only ? 1 : ls_action_count();
    if (kind == 1 && !only)
        fputs("# Built-in actions\n\n"
              "Generated by `lockstep actions --format markdown` from the registry the engine\n"
              "runs; do not edit by hand.  Family inputs (`kubectl`, `docker`, `mongo`,\n"
              "`http`) can be set once for all states in `defaults.with.FAMILY`.\n\n", stdout);
    if (kind == 2)
        fputs(only ? "" : "[", stdout);
    if (kind == 0 && !only) {
        for (size_t i = 0; i < n; i++) {
            const ls_action *a = ls_action_at(i);
            fprintf(stdout, "%-22s %-8s %s\n", a->name,
                    a->mutates_fn ? "varies" : a->mutates ? "mutates" : "probe", a->doc);
        }
        fputs("\nlockstep actions NAME describes one action.\n", stdout);
        return fflush(stdout) == 0 ? 0 : 2;
    }
    for (size_t i = 0; i < n; i++) {
        const ls_action *a = only ? only : ls_action_at(i);
        if (kind == 0)
            ls_action_text(a, stdout);
        else if (kind == 1)
            ls_action_markdown(a, stdout);
        else {
            if (i)
                fputc(',', stdout);
            ls_action_json(a, stdout);
        }
    }
    if (kind == 2)
        fputs(only ? "\n" : "]\n", stdout);
    return fflush(stdout) == 0 ? 0 : 2;
}
