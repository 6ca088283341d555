/*
 * `lockstep report RUN_ID [--format html|md|junit|json]`: a finished (or
 * halted) run told for people and for machines, from its journal's fold
 * (journal.h) and the copy of the playbook kept in its run directory.
 *
 *   html   one self-contained page: no script, no network; the machine as
 *          an inline SVG with the path taken drawn over it, per-state
 *          timings and attempts, approvals, decisions and what they rested
 *          on, and the hash-chain verdict
 *   md     the same facts as Markdown tables, for tickets and pull requests
 *   junit  one testcase per visited state, failures with the error (CI)
 *   json   everything above as one JSON document
 *
 * Everything shown comes from the journal, which holds no secret (values
 * were redacted before they were written), and passes through the
 * redactor again on its way out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "journal.h"
#include "playbook.h"
#include "run.h"
#include "secret.h"
#include "store.h"

typedef enum { R_HTML, R_MD, R_JUNIT, R_JSON } rformat;

/* What a report says, gathered once. */
typedef struct report {
    const char *id;
    ls_fold f;
    ls_journal_check chain;
    int chain_rc;            /* 0 intact, 1 broken, -1 unreadable */
    ls_playbook *pb;         /* the run's copy of its playbook, or NULL */
    ls_diags d;
    ls_value decisions;      /* list of decision events, in order */
    ls_value taken;          /* "FROM\x1fTO" -> true for every transition the path took */
    int64_t started_ms, ended_ms;
} report;

static const char *str_of(ls_value m, const char *k)
{
    ls_value v = ls_map_get(m, k);
    return v.kind == LS_STRING ? ls_str_ptr(v) : "";
}

static const char *outcome_of(const report *r)
{
    if (r->f.end == LS_EV_RUN_FINISHED)
        return str_of(r->f.end_event, "outcome");
    if (r->f.end == LS_EV_RUN_HALTED)
        return "halted";
    return "interrupted";
}

static const char *final_state(const report *r)
{
    if (r->f.end_event.kind == LS_MAP)
        return str_of(r->f.end_event, "state");
    return r->f.npath ? r->f.states[r->f.path[r->f.npath - 1]].name : "";
}

/* A visited state's verdict as a test: ok, failed, halted, running. */
static const char *verdict(const ls_fold_state *s)
{
    if (s->status == NULL)
        return "running";
    if (strcmp(s->status, "timed_out") == 0 || strcmp(s->status, "error") == 0)
        return "failed";
    return s->status;
}

/* The text, redacted; malloc'd. */
static char *red(const char *s)
{
    char *r = ls_redact(s, strlen(s), NULL);
    return r ? r : strdup("");
}

static void html_text(ls_buf *b, const char *s)
{
    char *t = red(s);
    for (const char *p = t; *p; p++) {
        switch (*p) {
        case '<': ls_buf_adds(b, "&lt;"); break;
        case '>': ls_buf_adds(b, "&gt;"); break;
        case '&': ls_buf_adds(b, "&amp;"); break;
        case '"': ls_buf_adds(b, "&quot;"); break;
        default: ls_buf_addc(b, *p);
        }
    }
    free(t);
}

static void md_text(ls_buf *b, const char *s)
{
    char *t = red(s);
    for (const char *p = t; *p; p++) {
        if (*p == '|' || *p == '\\' || *p == '`' || *p == '*' || *p == '_' || *p == '<' || *p == '[')
            ls_buf_addc(b, '\\');
        ls_buf_addc(b, *p == '\n' ? ' ' : *p);
    }
    free(t);
}

static void xml_text(ls_buf *b, const char *s)
{
    char *t = red(s);
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p == '<')
            ls_buf_adds(b, "&lt;");
        else if (*p == '>')
            ls_buf_adds(b, "&gt;");
        else if (*p == '&')
            ls_buf_adds(b, "&amp;");
        else if (*p == '"')
            ls_buf_adds(b, "&quot;");
        else if (*p < 0x20 && *p != '\n' && *p != '\t')
            ls_buf_addc(b, ' '); /* not allowed in XML 1.0 */
        else
            ls_buf_addc(b, (char)*p);
    }
    free(t);
}

static void fmt_secs(ls_buf *b, int64_t ms)
{
    ls_buf_printf(b, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static void edge_key(ls_buf *k, const char *from, const char *to)
{
    ls_buf_reset(k);
    ls_buf_adds(k, from);
    ls_buf_addc(k, '\x1f');
    ls_buf_adds(k, to);
}

static bool taken(const report *r, const char *from, const char *to)
{
    ls_buf k;
    ls_buf_init(&k, 4096);
    edge_key(&k, from, to);
    bool t = ls_map_has(r->taken, ls_buf_str(&k));
    ls_buf_free(&k);
    return t;
}

/* The path, at most PATH_SHOWN states from each end of it. */
#define PATH_SHOWN 100
static void path_text(const report *r, ls_buf *b, void (*text)(ls_buf *, const char *), const char *arrow)
{
    for (size_t i = 0; i < r->f.npath; i++) {
        if (r->f.npath > 2 * PATH_SHOWN && i == PATH_SHOWN) {
            ls_buf_printf(b, "%s(%zu more)", arrow, r->f.npath - 2 * PATH_SHOWN);
            i = r->f.npath - PATH_SHOWN - 1;
            continue;
        }
        if (i)
            ls_buf_adds(b, arrow);
        text(b, r->f.states[r->f.path[i]].name);
    }
}

/* What a decision rested on: real, simulated (of STATE), unchanged (the
 * simulated changes it missed), params, the dry-run flag. */
static void basis_text(ls_value d, ls_buf *b)
{
    const char *basis = str_of(d, "basis");
    ls_buf_adds(b, strcmp(basis, "unchanged") == 0 ? "UNCHANGED data" : basis);
    if (ls_map_get(d, "simulated").kind == LS_STRING)
        ls_buf_printf(b, " (dry_run.result of %s)", str_of(d, "simulated"));
    ls_value by = ls_map_get(d, "unchanged_by");
    for (size_t i = 0; i < ls_list_len(by); i++)
        ls_buf_printf(b, "%s%s", i ? ", " : " (the simulated ", ls_str_ptr(ls_list_at(by, i)));
    if (ls_list_len(by))
        ls_buf_adds(b, " would have changed what it read)");
}

static void approvals_of(const ls_fold_state *s, ls_buf *b)
{
    if (s->approved_by_user)
        ls_buf_printf(b, "%s via %s", s->approved_by_user, s->approved_via ? s->approved_via : "?");
}

/* ---- json ---- */

static ls_value json_doc(const report *r)
{
    ls_value doc = ls_map_new();
    ls_map_set(&doc, "run_id", ls_string(r->id));
    ls_map_set(&doc, "playbook", ls_value_copy(ls_map_get(r->f.first, "playbook")));
    ls_map_set(&doc, "env", ls_value_copy(ls_map_get(r->f.first, "env")));
    ls_map_set(&doc, "dry_run", ls_value_copy(ls_map_get(r->f.first, "dry_run")));
    ls_map_set(&doc, "user", ls_value_copy(ls_map_get(r->f.first, "user")));
    ls_map_set(&doc, "host", ls_value_copy(ls_map_get(r->f.first, "host")));
    ls_map_set(&doc, "started", ls_value_copy(ls_map_get(r->f.first, "ts")));
    ls_map_set(&doc, "ended", r->f.end_event.kind == LS_MAP ? ls_value_copy(ls_map_get(r->f.end_event, "ts"))
                                                             : ls_null());
    ls_map_set(&doc, "outcome", ls_string(outcome_of(r)));
    ls_map_set(&doc, "final_state", ls_string(final_state(r)));
    if (r->f.end_event.kind == LS_MAP && ls_map_get(r->f.end_event, "reason").kind == LS_STRING)
        ls_map_set(&doc, "halt_reason", ls_value_copy(ls_map_get(r->f.end_event, "reason")));
    if (r->f.end_event.kind == LS_MAP && ls_map_get(r->f.end_event, "error").kind == LS_STRING)
        ls_map_set(&doc, "error", ls_value_copy(ls_map_get(r->f.end_event, "error")));
    ls_value chain = ls_map_new();
    ls_map_set(&chain, "intact", ls_bool(r->chain_rc == 0));
    ls_map_set(&chain, "lines", ls_int((int64_t)r->chain.lines));
    ls_map_set(&chain, "why", r->chain_rc == 0 ? ls_null() : ls_string(r->chain.why));
    ls_map_set(&doc, "chain", chain);
    ls_value path = ls_list_new();
    for (size_t i = 0; i < r->f.npath; i++)
        ls_list_push(&path, ls_string(r->f.states[r->f.path[i]].name));
    ls_map_set(&doc, "path", path);
    ls_value states = ls_map_new();
    for (size_t i = 0; i < r->f.nstates; i++) {
        const ls_fold_state *s = &r->f.states[i];
        ls_value e = ls_map_new();
        ls_map_set(&e, "status", s->status ? ls_string(s->status) : ls_null());
        ls_map_set(&e, "attempts", ls_int(s->attempts));
        ls_map_set(&e, "visits", ls_int(s->visits));
        ls_map_set(&e, "duration_ms", ls_int(s->ms));
        ls_map_set(&e, "started", s->first_ts ? ls_string(s->first_ts) : ls_null());
        ls_map_set(&e, "error", ls_value_copy(s->error));
        ls_buf ab;
        ls_buf_init(&ab, 1024);
        approvals_of(s, &ab);
        ls_map_set(&e, "approved_by", ab.len ? ls_string(ls_buf_str(&ab)) : ls_null());
        ls_buf_free(&ab);
        ls_map_set(&states, s->name, e);
    }
    ls_map_set(&doc, "states", states);
    ls_map_set(&doc, "decisions", ls_value_copy(r->decisions));
    return doc;
}

/* ---- junit ---- */

static void junit(const report *r, ls_buf *b)
{
    size_t failures = 0;
    for (size_t i = 0; i < r->f.nstates; i++)
        if (strcmp(verdict(&r->f.states[i]), "failed") == 0)
            failures++;
    const char *name = str_of(r->f.first, "playbook");
    int64_t total = r->ended_ms > r->started_ms ? r->ended_ms - r->started_ms : 0;
    ls_buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lockstep\">\n");
    ls_buf_adds(b, "  <testsuite name=\"");
    xml_text(b, name);
    ls_buf_printf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\" skipped=\"0\" time=\"", r->f.nstates, failures,
                  strcmp(outcome_of(r), "failure") == 0 && failures == 0 ? 1 : 0);
    fmt_secs(b, total);
    ls_buf_adds(b, "\" timestamp=\"");
    xml_text(b, str_of(r->f.first, "ts"));
    ls_buf_adds(b, "\">\n    <properties>\n");
    ls_buf_adds(b, "      <property name=\"run_id\" value=\"");
    xml_text(b, r->id);
    ls_buf_adds(b, "\"/>\n      <property name=\"outcome\" value=\"");
    xml_text(b, outcome_of(r));
    ls_buf_adds(b, "\"/>\n      <property name=\"journal\" value=\"");
    xml_text(b, r->chain_rc == 0 ? "hash chain intact" : r->chain.why);
    ls_buf_adds(b, "\"/>\n    </properties>\n");
    for (size_t i = 0; i < r->f.nstates; i++) {
        const ls_fold_state *s = &r->f.states[i];
        ls_buf_adds(b, "    <testcase classname=\"");
        xml_text(b, name);
        ls_buf_adds(b, "\" name=\"");
        xml_text(b, s->name);
        ls_buf_adds(b, "\" time=\"");
        fmt_secs(b, s->ms);
        const char *v = verdict(s);
        if (strcmp(v, "failed") == 0) {
            ls_buf_adds(b, "\">\n      <failure message=\"");
            xml_text(b, s->error.kind == LS_STRING ? ls_str_ptr(s->error) : "failed");
            ls_buf_printf(b, "\" type=\"%s\">", s->status);
            xml_text(b, s->error.kind == LS_STRING ? ls_str_ptr(s->error) : "failed");
            ls_buf_adds(b, "</failure>\n    </testcase>\n");
        } else if (strcmp(v, "ok") != 0) {
            ls_buf_adds(b, "\">\n      <skipped message=\"");
            xml_text(b, v);
            ls_buf_adds(b, "\"/>\n    </testcase>\n");
        } else {
            ls_buf_adds(b, "\"/>\n");
        }
    }
    ls_buf_adds(b, "  </testsuite>\n</testsuites>\n");
}

/* ---- markdown ---- */

static void markdown(const report *r, ls_buf *b)
{
    ls_buf_adds(b, "## lockstep run ");
    md_text(b, r->id);
    ls_buf_adds(b, "\n\n| | |\n| --- | --- |\n| playbook | ");
    md_text(b, str_of(r->f.first, "playbook"));
    ls_buf_adds(b, " |\n| environment | ");
    md_text(b, str_of(r->f.first, "env")[0] ? str_of(r->f.first, "env") : "-");
    ls_buf_adds(b, " |\n| outcome | **");
    md_text(b, outcome_of(r));
    ls_buf_adds(b, "** at ");
    md_text(b, final_state(r));
    ls_buf_printf(b, "%s |\n| started | ", ls_map_get(r->f.first, "dry_run").kind == LS_BOOL &&
                                                    ls_map_get(r->f.first, "dry_run").u.b
                                                ? " (dry run)"
                                                : "");
    md_text(b, str_of(r->f.first, "ts"));
    ls_buf_adds(b, " by ");
    md_text(b, str_of(r->f.first, "user"));
    ls_buf_adds(b, " on ");
    md_text(b, str_of(r->f.first, "host"));
    ls_buf_adds(b, " |\n| ended | ");
    md_text(b, r->f.end_event.kind == LS_MAP ? str_of(r->f.end_event, "ts") : "-");
    ls_buf_adds(b, " |\n| journal | ");
    md_text(b, r->chain_rc == 0 ? "hash chain intact" : r->chain.why);
    ls_buf_adds(b, " |\n\n**Path:** ");
    path_text(r, b, md_text, " → ");
    ls_buf_adds(b, "\n\n| state | status | attempts | visits | time (s) | approved by | error |\n"
                   "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < r->f.nstates; i++) {
        const ls_fold_state *s = &r->f.states[i];
        ls_buf_adds(b, "| ");
        md_text(b, s->name);
        ls_buf_adds(b, " | ");
        md_text(b, s->status ? s->status : "-");
        ls_buf_printf(b, " | %lld | %lld | ", (long long)s->attempts, (long long)s->visits);
        fmt_secs(b, s->ms);
        ls_buf_adds(b, " | ");
        ls_buf ab;
        ls_buf_init(&ab, 1024);
        approvals_of(s, &ab);
        md_text(b, ab.len ? ls_buf_str(&ab) : "");
        ls_buf_free(&ab);
        ls_buf_adds(b, " | ");
        md_text(b, s->error.kind == LS_STRING ? ls_str_ptr(s->error) : "");
        ls_buf_adds(b, " |\n");
    }
    if (ls_list_len(r->decisions)) {
        ls_buf_adds(b, "\n| state | decision | value | rested on |\n| --- | --- | --- | --- |\n");
        for (size_t i = 0; i < ls_list_len(r->decisions); i++) {
            ls_value d = ls_list_at(r->decisions, i);
            ls_buf_adds(b, "| ");
            md_text(b, str_of(d, "state"));
            ls_buf_adds(b, " | ");
            md_text(b, str_of(d, "kind"));
            ls_buf_adds(b, ": ");
            md_text(b, str_of(d, "condition"));
            ls_buf_printf(b, " | %s | ", ls_map_get(d, "value").kind == LS_BOOL && ls_map_get(d, "value").u.b
                                             ? "true" : "false");
            ls_buf bt;
            ls_buf_init(&bt, 4096);
            basis_text(d, &bt);
            md_text(b, ls_buf_str(&bt));
            ls_buf_free(&bt);
            ls_buf_adds(b, " |\n");
        }
    }
}

/* ---- html ---- */

#define NODE_W 176
#define NODE_H 34
#define GAP_X 28
#define GAP_Y 46

/* Layers by breadth-first distance from start over every edge; the
 * states the run visited first in a layer, in path order. */
static void layout(const report *r, int *x, int *y, int *width, int *height)
{
    const ls_playbook *pb = r->pb;
    size_t n = pb->nstates;
    int *level = malloc((n + 1) * sizeof *level);
    size_t *queue = malloc((n + 1) * sizeof *queue);
    int *col = calloc((n + 1), sizeof *col);
    if (!level || !queue || !col) {
        free(level);
        free(queue);
        free(col);
        *width = *height = 0;
        return;
    }
    for (size_t i = 0; i < n; i++)
        level[i] = -1;
    size_t qh = 0, qt = 0;
    level[pb->start] = 0;
    queue[qt++] = (size_t)pb->start;
    int maxlevel = 0;
    while (qh < qt) {
        const ls_state *st = &pb->states[queue[qh]];
        int lv = level[queue[qh++]];
        int succ[4 + 64];
        size_t k = 0;
        if (st->next >= 0)
            succ[k++] = st->next;
        for (size_t b = 0; b < st->nbranches && k < 64; b++)
            succ[k++] = st->branches[b].target;
        if (st->on_failure >= 0)
            succ[k++] = st->on_failure;
        if (st->on_timeout >= 0)
            succ[k++] = st->on_timeout;
        for (size_t j = 0; j < k; j++)
            if (succ[j] >= 0 && level[succ[j]] < 0) {
                level[succ[j]] = lv + 1;
                if (lv + 1 > maxlevel)
                    maxlevel = lv + 1;
                queue[qt++] = (size_t)succ[j];
            }
    }
    for (size_t i = 0; i < n; i++)
        if (level[i] < 0)
            level[i] = ++maxlevel; /* unreachable: a row of its own, at the end */
    int maxcol = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = 16 + col[level[i]]++ * (NODE_W + GAP_X);
        y[i] = 16 + level[i] * (NODE_H + GAP_Y);
        if (col[level[i]] > maxcol)
            maxcol = col[level[i]];
    }
    *width = 32 + maxcol * (NODE_W + GAP_X);
    *height = 32 + (maxlevel + 1) * (NODE_H + GAP_Y);
    free(level);
    free(queue);
    free(col);
}

static void svg_edge(const report *r, ls_buf *b, const int *x, const int *y, int from, int to, const char *kind)
{
    const char *a = r->pb->states[from].name, *z = r->pb->states[to].name;
    bool on_path = taken(r, a, z);
    int x1 = x[from] + NODE_W / 2, y1 = y[from] + NODE_H, x2 = x[to] + NODE_W / 2, y2 = y[to];
    if (y[to] == y[from]) { /* the same row: across */
        bool right = x[to] > x[from];
        ls_buf_printf(b, "<line class=\"e %s%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", kind,
                      on_path ? " taken" : "", right ? x[from] + NODE_W : x[from], y[from] + NODE_H / 2,
                      right ? x[to] : x[to] + NODE_W, y[to] + NODE_H / 2);
    } else if (y2 <= y1) { /* back: curve out to the right */
        ls_buf_printf(b, "<path class=\"e %s%s\" d=\"M%d %d C %d %d, %d %d, %d %d\"/>\n", kind, on_path ? " taken" : "",
                      x[from] + NODE_W, y[from] + NODE_H / 2, x[from] + NODE_W + 40, y1, x[to] + NODE_W + 40, y2,
                      x[to] + NODE_W, y[to] + NODE_H / 2);
    } else {
        ls_buf_printf(b, "<line class=\"e %s%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", kind,
                      on_path ? " taken" : "", x1, y1, x2, y2);
    }
}

static void svg(const report *r, ls_buf *b)
{
    const ls_playbook *pb = r->pb;
    size_t n = pb->nstates;
    int *x = calloc(n + 1, sizeof *x), *y = calloc(n + 1, sizeof *y);
    int w = 0, h = 0;
    if (x && y)
        layout(r, x, y, &w, &h);
    if (w == 0) {
        free(x);
        free(y);
        return;
    }
    ls_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                     "role=\"img\" aria-label=\"the state machine and the path taken\">\n",
                  w, h, w, h);
    ls_buf_adds(b, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"9\" "
                   "markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M0 0 L10 5 L0 10 z\" "
                   "fill=\"#777\"/></marker></defs>\n");
    for (size_t i = 0; i < n; i++) {
        const ls_state *st = &pb->states[i];
        if (st->next >= 0)
            svg_edge(r, b, x, y, (int)i, st->next, "next");
        for (size_t k = 0; k < st->nbranches; k++)
            if (st->branches[k].target >= 0)
                svg_edge(r, b, x, y, (int)i, st->branches[k].target, "branch");
        if (st->on_failure >= 0)
            svg_edge(r, b, x, y, (int)i, st->on_failure, "failure");
        if (st->on_timeout >= 0)
            svg_edge(r, b, x, y, (int)i, st->on_timeout, "timeout");
    }
    for (size_t i = 0; i < n; i++) {
        const ls_state *st = &pb->states[i];
        long fi = ls_fold_find(&r->f, st->name);
        const char *cls = "unvisited";
        if (fi >= 0) {
            const char *v = verdict(&r->f.states[fi]);
            cls = strcmp(v, "failed") == 0 ? "failed" : strcmp(v, "ok") == 0 ? "visited" : "halted";
        }
        ls_buf_printf(b, "<g class=\"n %s%s\"><title>", cls,
                      st->terminal == LS_TERM_SUCCESS   ? " end-ok"
                      : st->terminal == LS_TERM_FAILURE ? " end-failed"
                                                        : "");
        html_text(b, st->name);
        if (st->action) {
            ls_buf_adds(b, " (");
            html_text(b, st->action->name);
            ls_buf_adds(b, ")");
        }
        ls_buf_printf(b, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"%d\"/>"
                         "<text x=\"%d\" y=\"%d\">",
                      x[i], y[i], NODE_W, NODE_H, st->action ? 4 : 16, x[i] + NODE_W / 2, y[i] + NODE_H / 2 + 5);
        char name[24];
        snprintf(name, sizeof name, "%s", st->name);
        if (strlen(st->name) > 22)
            memcpy(name + 19, "...", 4);
        html_text(b, name);
        ls_buf_adds(b, "</text></g>\n");
    }
    ls_buf_adds(b, "</svg>\n");
    free(x);
    free(y);
}

static const char css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1b1b;max-width:1400px}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}.ok{color:#1b5e20}.bad{color:#b71c1c;font-weight:600}.warn{color:#e65100}"
    ".path{font-family:ui-monospace,monospace}"
    "svg .e{stroke:#bbb;stroke-width:1.2;fill:none;marker-end:url(#arrow)}"
    "svg .e.failure{stroke-dasharray:5 3;stroke:#e6a0a0}svg .e.timeout{stroke-dasharray:2 3;stroke:#f0c080}"
    "svg .e.taken{stroke:#1565c0;stroke-width:3.5;stroke-dasharray:none}"
    "svg .n rect{fill:#f5f5f5;stroke:#bbb;stroke-width:1}svg .n text{font:12px ui-monospace,monospace;"
    "text-anchor:middle;fill:#555}"
    "svg .n.visited rect{fill:#c8e6c9;stroke:#2e7d32;stroke-width:2.5}svg .n.visited text{fill:#1b5e20}"
    "svg .n.failed rect{fill:#ffcdd2;stroke:#c62828;stroke-width:2.5}"
    "svg .n.halted rect{fill:#ffe0b2;stroke:#ef6c00;stroke-width:2.5}"
    "svg .n.end-ok rect{rx:16}svg .n.end-failed rect{rx:16}";

static void html(const report *r, ls_buf *b)
{
    ls_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
                   "'unsafe-inline'\"><title>lockstep run ");
    html_text(b, r->id);
    ls_buf_adds(b, "</title><style>");
    ls_buf_adds(b, css);
    ls_buf_adds(b, "</style></head><body>\n<h1>");
    html_text(b, str_of(r->f.first, "playbook"));
    ls_buf_adds(b, ": <span class=\"");
    const char *o = outcome_of(r);
    ls_buf_adds(b, strcmp(o, "success") == 0 ? "ok" : strcmp(o, "failure") == 0 ? "bad" : "warn");
    ls_buf_adds(b, "\" id=\"outcome\">");
    html_text(b, o);
    ls_buf_adds(b, "</span> at ");
    html_text(b, final_state(r));
    if (ls_map_get(r->f.first, "dry_run").kind == LS_BOOL && ls_map_get(r->f.first, "dry_run").u.b)
        ls_buf_adds(b, " (dry run)");
    ls_buf_adds(b, "</h1>\n<table><tr><th>run</th><td>");
    html_text(b, r->id);
    ls_buf_adds(b, "</td></tr><tr><th>environment</th><td>");
    html_text(b, str_of(r->f.first, "env")[0] ? str_of(r->f.first, "env") : "-");
    ls_buf_adds(b, "</td></tr><tr><th>started</th><td>");
    html_text(b, str_of(r->f.first, "ts"));
    ls_buf_adds(b, " by ");
    html_text(b, str_of(r->f.first, "user"));
    ls_buf_adds(b, " on ");
    html_text(b, str_of(r->f.first, "host"));
    ls_buf_adds(b, "</td></tr><tr><th>ended</th><td>");
    html_text(b, r->f.end_event.kind == LS_MAP ? str_of(r->f.end_event, "ts") : "-");
    if (r->f.end_event.kind == LS_MAP && ls_map_get(r->f.end_event, "reason").kind == LS_STRING) {
        ls_buf_adds(b, " (halted: ");
        html_text(b, str_of(r->f.end_event, "reason"));
        ls_buf_adds(b, ")");
    }
    ls_buf_adds(b, "</td></tr><tr><th>journal</th><td id=\"chain\" class=\"");
    ls_buf_adds(b, r->chain_rc == 0 ? "ok\">hash chain intact" : "bad\">BROKEN: ");
    if (r->chain_rc != 0)
        html_text(b, r->chain.why);
    ls_buf_printf(b, " (%zu lines)</td></tr></table>\n<h2>Path taken</h2>\n<p class=\"path\" id=\"path\">",
                  r->chain.lines);
    path_text(r, b, html_text, " &rarr; ");
    ls_buf_adds(b, "</p>\n");
    if (r->pb)
        svg(r, b);
    ls_buf_adds(b, "<h2>States</h2>\n<table id=\"states\"><tr><th>state</th><th>status</th><th>attempts</th>"
                   "<th>visits</th><th>time (s)</th><th>first entered</th><th>approved by</th><th>error</th></tr>\n");
    for (size_t i = 0; i < r->f.nstates; i++) {
        const ls_fold_state *s = &r->f.states[i];
        const char *v = verdict(s);
        ls_buf_adds(b, "<tr><td>");
        html_text(b, s->name);
        ls_buf_printf(b, "</td><td class=\"%s\">", strcmp(v, "failed") == 0 ? "bad" : strcmp(v, "ok") == 0 ? "ok" : "warn");
        html_text(b, s->status ? s->status : "-");
        ls_buf_printf(b, "</td><td>%lld</td><td>%lld</td><td>", (long long)s->attempts, (long long)s->visits);
        fmt_secs(b, s->ms);
        ls_buf_adds(b, "</td><td>");
        html_text(b, s->first_ts ? s->first_ts : "-");
        ls_buf_adds(b, "</td><td>");
        ls_buf ab;
        ls_buf_init(&ab, 1024);
        approvals_of(s, &ab);
        html_text(b, ls_buf_str(&ab));
        ls_buf_free(&ab);
        ls_buf_adds(b, "</td><td>");
        html_text(b, s->error.kind == LS_STRING ? ls_str_ptr(s->error) : "");
        ls_buf_adds(b, "</td></tr>\n");
    }
    ls_buf_adds(b, "</table>\n");
    if (ls_list_len(r->decisions)) {
        ls_buf_adds(b, "<h2>Decisions</h2>\n<table id=\"decisions\"><tr><th>state</th><th>decision</th>"
                       "<th>value</th><th>rested on</th></tr>\n");
        for (size_t i = 0; i < ls_list_len(r->decisions); i++) {
            ls_value d = ls_list_at(r->decisions, i);
            ls_buf_adds(b, "<tr><td>");
            html_text(b, str_of(d, "state"));
            ls_buf_adds(b, "</td><td>");
            html_text(b, str_of(d, "kind"));
            ls_buf_adds(b, ": <code>");
            html_text(b, str_of(d, "condition"));
            ls_buf_printf(b, "</code></td><td>%s</td><td>",
                          ls_map_get(d, "value").kind == LS_BOOL && ls_map_get(d, "value").u.b ? "true" : "false");
            ls_buf bt;
            ls_buf_init(&bt, 4096);
            basis_text(d, &bt);
            html_text(b, ls_buf_str(&bt));
            ls_buf_free(&bt);
            ls_buf_adds(b, "</td></tr>\n");
        }
        ls_buf_adds(b, "</table>\n");
    }
    ls_buf_adds(b, "</body></html>\n");
}

/* ---- the command ---- */

static const char report_help[] =
    "usage: lockstep report RUN_ID [--format html|md|junit|json] [--state-dir DIR] [-o FILE]\n"
    "                       [--store URI]\n"
    "\n"
    "Tells a run from its journal.  The report says when the journal is damaged.\n"
    "\n"
    "  --format html|md|junit|json  html (default): one self-contained page, the machine\n"
    "                    with the path taken, per-state timings and attempts, approvals,\n"
    "                    decisions and what they rested on, the hash-chain verdict; md:\n"
    "                    Markdown tables for tickets and pull requests; junit: one testcase\n"
    "                    per visited state, for CI; json: all of it as one document\n"
    "  --state-dir DIR   where runs are kept (default $LOCKSTEP_STATE_DIR, else ./.lockstep)\n"
    "  -o FILE           write the report to FILE instead of stdout\n"
    "  --store URI       the run store (default $LOCKSTEP_STORE): the run is copied from\n"
    "                    there into --state-dir first, from whichever machine ran it\n"
    "\n"
    "exit: 0; 2 when the run cannot be read\n";

static int gather(report *r, const char *sd, const char *id)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->decisions = ls_list_new();
    r->taken = ls_map_new();
    ls_diags_init(&r->d);
    ls_error err;
    ls_error_clear(&err);
    if (ls_journal_fold_run(sd, id, &r->f, &err) != 0) {
        fprintf(stderr, "lockstep: %s\n", err.msg);
        return -1;
    }
    ls_error_clear(&err);
    r->chain_rc = ls_journal_verify(sd, id, &r->chain, &err);
    if (r->chain_rc < 0)
        snprintf(r->chain.why, sizeof r->chain.why, "%.500s", err.msg);
    ls_buf k;
    ls_buf_init(&k, 4096);
    for (size_t i = 0; i + 1 < r->f.npath; i++) {
        edge_key(&k, r->f.states[r->f.path[i]].name, r->f.states[r->f.path[i + 1]].name);
        ls_map_set(&r->taken, ls_buf_str(&k), ls_bool(true));
    }
    ls_buf_free(&k);
    /* A dry run's decisions and what each rested on: its last event. */
    ls_value dec = ls_map_get(r->f.end_event, "decisions");
    if (dec.kind == LS_LIST) {
        ls_value_free(r->decisions);
        r->decisions = ls_value_copy(dec);
    }
    r->started_ms = ls_journal_ms_of(str_of(r->f.first, "ts"));
    r->ended_ms = r->f.end_event.kind == LS_MAP ? ls_journal_ms_of(str_of(r->f.end_event, "ts")) : 0;
    for (size_t i = 0; i < r->f.nstates; i++) {
        const char *t = r->f.states[i].last_ts;
        int64_t ms = t ? ls_journal_ms_of(t) : 0;
        if (ms > r->ended_ms && r->f.end_event.kind != LS_MAP)
            r->ended_ms = ms;
    }
    /* The run's own copy of its playbook draws the machine. */
    char path[4300];
    snprintf(path, sizeof path, "%s/runs/%s/playbook.yaml", sd, id);
    ls_load_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.path = path;
    lo.check_params = false;
    lo.ignore_process_env = true;
    r->pb = ls_playbook_load(&lo, &r->d);
    return 0;
}

static void report_free(report *r)
{
    if (r->pb)
        ls_playbook_free(r->pb);
    ls_diags_free(&r->d);
    ls_fold_free(&r->f);
    ls_value_free(r->decisions);
    ls_value_free(r->taken);
}

int ls_cmd_report(int argc, char **argv)
{
    const char *id = NULL, *format = "html", *sd_opt = NULL, *out_path = NULL, *store_opt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(report_help, stdout);
            return 0;
        }
        if (strncmp(a, "--format=", 9) == 0)
            format = a + 9;
        else if (strncmp(a, "--state-dir=", 12) == 0)
            sd_opt = a + 12;
        else if (strncmp(a, "--store=", 8) == 0)
            store_opt = a + 8;
        else if ((strcmp(a, "--format") == 0 || strcmp(a, "--state-dir") == 0 || strcmp(a, "-o") == 0 ||
                  strcmp(a, "--store") == 0) &&
                 (v = i + 1 < argc ? argv[i + 1] : NULL) != NULL) {
            if (a[2] == 'f')
                format = v;
            else if (strcmp(a, "--store") == 0)
                store_opt = v;
            else if (a[2] == 's')
                sd_opt = v;
            else
                out_path = v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "lockstep report: unknown option '%s' (or it needs a value)\n%s", a, report_help);
            return LS_EXIT_USAGE;
        } else if (id == NULL) {
            id = a;
        } else {
            fprintf(stderr, "lockstep report: one RUN_ID only\n%s", report_help);
            return LS_EXIT_USAGE;
        }
    }
    rformat fmt;
    if (strcmp(format, "html") == 0)
        fmt = R_HTML;
    else if (strcmp(format, "md") == 0 || strcmp(format, "markdown") == 0)
        fmt = R_MD;
    else if (strcmp(format, "junit") == 0)
        fmt = R_JUNIT;
    else if (strcmp(format, "json") == 0)
        fmt = R_JSON;
    else {
        fprintf(stderr, "lockstep report: --format must be html, md, junit or json, not '%s'\n", format);
        return LS_EXIT_USAGE;
    }
    if (id == NULL) {
        fputs(report_help, stderr);
        return LS_EXIT_USAGE;
    }
    const char *store_uri = ls_store_uri(store_opt);
    if (store_uri != NULL) {
        /* The store's run, through the local copy (store.h). */
        ls_error err;
        ls_error_clear(&err);
        ls_store *st = ls_store_open(store_uri, 0, &err);
        int rc = st ? ls_store_fetch(st, ls_journal_state_dir(sd_opt), id, false, &err) : -1;
        ls_store_close(st);
        if (rc < 0 || rc == 1) { /* 2: a local dry run, never in the store */
            fprintf(stderr, "lockstep report: %s\n", err.msg);
            return LS_EXIT_USAGE;
        }
    }
    report r;
    if (gather(&r, ls_journal_state_dir(sd_opt), id) != 0) {
        report_free(&r);
        return LS_EXIT_USAGE;
    }
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    if (fmt == R_JSON) {
        ls_value doc = json_doc(&r);
        ls_value rd = ls_redact_value(doc);
        ls_buf_add_json(&b, rd);
        ls_buf_addc(&b, '\n');
        ls_value_free(rd);
        ls_value_free(doc);
    } else if (fmt == R_JUNIT) {
        junit(&r, &b);
    } else if (fmt == R_MD) {
        markdown(&r, &b);
    } else {
        html(&r, &b);
    }
    int code = 0;
    FILE *out = stdout;
    if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
        fprintf(stderr, "lockstep report: cannot write %s\n", out_path);
        code = LS_EXIT_USAGE;
    } else if (fwrite(b.ptr ? b.ptr : "", 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(stderr, "lockstep report: cannot write the report\n");
        code = LS_EXIT_USAGE;
    }
    if (out != NULL && out != stdout)
        fclose(out);
    ls_buf_free(&b);
    report_free(&r);
    return code;
}
