/*
 * The state machine as a picture.  Nodes are states (terminal ones shaped
 * and coloured by outcome, decision states as diamonds), grouped by phase;
 * edges are the transitions: plain next (labelled with the guards the state
 * checks), branches (labelled with the guard name when the condition is
 * exactly guards.X, else the expression), failure edges dashed red and
 * timeout edges dotted orange.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "graph.h"
#include "plan.h"
#include "diag.h"

#define LS_LABEL_MAX 80

/* A condition's label: "X" for exactly `guards.X`, else the source text,
 * shortened. */
static void ls_cond_label(const ls_expr *e, ls_buf *b)
{
    const char *s = ls_expr_source(e);
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        n--;
    if (n > 7 && strncmp(s, "guards.", 7) == 0) {
        bool ident = true;
        for (size_t i = 7; i < n; i++)
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                  s[i] == '_'))
                ident = false;
        if (ident) {
            ls_buf_add(b, s + 7, n - 7);
            return;
        }
    }
    if (n > LS_LABEL_MAX) {
        ls_buf_add(b, s, LS_LABEL_MAX - 3);
        ls_buf_adds(b, "...");
    } else {
        ls_buf_add(b, s, n);
    }
}

/* The label of a plain next edge: the checks that passed to get there. */
static void ls_next_label(const ls_state *st, ls_buf *b)
{
    for (size_t i = 0; i < st->nrequires; i++) {
        if (b->len)
            ls_buf_adds(b, ", ");
        ls_cond_label(st->requires[i], b);
    }
    for (size_t i = 0; i < st->nexpect; i++) {
        if (b->len)
            ls_buf_adds(b, ", ");
        ls_cond_label(st->expect[i], b);
    }
}

/* DOT double-quoted string body. */
static void ls_dot_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else if ((unsigned char)*s >= 0x20 || *s == '\t')
            fputc(*s, out);
    }
    fputc('"', out);
}

/* Mermaid quoted label: entities for what its parser would read. */
static void ls_mm_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        switch (*s) {
        case '"': fputs("#quot;", out); break;
        case '<': fputs("#lt;", out); break;
        case '>': fputs("#gt;", out); break;
        case '&': fputs("#amp;", out); break;
        case '#': fputs("#35;", out); break;
        case '|': fputs("#124;", out); break;
        case '\n': fputs("<br/>", out); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, out);
        }
    }
    fputc('"', out);
}

typedef struct ls_edge {
    size_t from, to;
    char *label;      /* may be NULL */
    int kind;         /* 0 next/branch, 1 failure, 2 timeout */
} ls_edge;

static void ls_edges_add(ls_edge **v, size_t *n, size_t *cap, size_t from, int to, ls_buf *label, int kind)
{
    if (to < 0)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v)
            ls_oom();
    }
    (*v)[*n].from = from;
    (*v)[*n].to = (size_t)to;
    (*v)[*n].label = label && label->len ? ls_buf_steal(label) : NULL;
    (*v)[*n].kind = kind;
    (*n)++;
    if (label)
        ls_buf_reset(label);
}

static size_t ls_collect_edges(const ls_playbook *pb, ls_edge **out)
{
    ls_edge *v = NULL;
    size_t n = 0, cap = 0;
    ls_buf b;
    ls_buf_init(&b, 4096);
    for (size_t i = 0; i < pb->nstates; i++) {
        const ls_state *st = &pb->states[i];
        if (st->next >= 0) {
            ls_next_label(st, &b);
            ls_edges_add(&v, &n, &cap, i, st->next, &b, 0);
        }
        for (size_t k = 0; k < st->nbranches; k++) {
            if (st->branches[k].cond)
                ls_cond_label(st->branches[k].cond, &b);
            else
                ls_buf_adds(&b, "else");
            ls_edges_add(&v, &n, &cap, i, st->branches[k].target, &b, 0);
        }
        if (st->on_failure >= 0) {
            ls_buf_adds(&b, "failure");
            ls_edges_add(&v, &n, &cap, i, st->on_failure, &b, 1);
        }
        if (st->on_timeout >= 0) {
            ls_buf_adds(&b, "timeout");
            ls_edges_add(&v, &n, &cap, i, st->on_timeout, &b, 2);
        }
    }
    ls_buf_free(&b);
    *out = v;
    return n;
}

/* The playbook's own phases in order of first appearance (a called
 * playbook's states are drawn in their call's cluster, phases and all). */
static size_t ls_phases(const ls_playbook *pb, const char ***out)
{
    const char **ph = calloc(pb->nstates + 1, sizeof *ph);
    if (!ph)
        ls_oom();
    size_t n = 0;
    for (size_t i = 0; i < pb->nstates; i++) {
        const char *p = pb->states[i].phase;
        if (!p || pb->states[i].frame != 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(ph[k], p) == 0;
        if (!seen)
            ph[n++] = p;
    }
    *out = ph;
    return n;
}

static void ls_node_text(const ls_state *st, ls_buf *b)
{
    ls_buf_reset(b);
    ls_buf_adds(b, st->name);
    if (st->action)
        ls_buf_printf(b, "\n%s", st->action->name);
    else if (st->terminal)
        ls_buf_printf(b, "\n(%s)", st->terminal == LS_TERM_SUCCESS ? "success" : "failure");
}

static void ls_dot_node(const ls_state *st, FILE *out, const char *indent)
{
    ls_buf b;
    ls_buf_init(&b, 4096);
    ls_node_text(st, &b);
    fputs(indent, out);
    ls_dot_str(out, st->name);
    fputs(" [label=", out);
    ls_dot_str(out, ls_buf_str(&b));
    if (st->terminal == LS_TERM_SUCCESS)
        fputs(", shape=doublecircle, fillcolor=\"#c8f0c8\"", out);
    else if (st->terminal == LS_TERM_FAILURE)
        fputs(", shape=doubleoctagon, fillcolor=\"#f4c2c2\"", out);
    else if (st->sub)
        fputs(", shape=box3d, fillcolor=\"#dbe7f7\"", out);
    else if (!st->action)
        fputs(", shape=diamond, fillcolor=\"#fff5cc\"", out);
    else if (ls_state_mutates_static(st))
        fputs(", fillcolor=\"#ffe0b3\"", out);
    fputs("];\n", out);
    ls_buf_free(&b);
}

/* A called playbook's states, and the playbooks it calls, in a cluster of
 * their own (sub-playbooks, playbook.h), labelled "CALL: FILE". */
static void ls_dot_frame(const ls_playbook *pb, size_t f, FILE *out, int depth)
{
    const ls_frame_def *fr = &pb->frames[f];
    char ind[40];
    snprintf(ind, sizeof ind, "%*s", 2 * depth, "");
    char label[600];
    snprintf(label, sizeof label, "%s: %s", pb->states[fr->call].name, pb->states[fr->call].sub->file);
    fprintf(out, "%ssubgraph \"cluster_f%zu\" {\n%s  label=", ind, f, ind);
    ls_dot_str(out, label);
    fprintf(out, ";\n%s  style=\"rounded,filled\";\n%s  fillcolor=\"#f2f6fc\";\n", ind, ind);
    char inner[44];
    snprintf(inner, sizeof inner, "%s  ", ind);
    for (size_t i = 0; i < pb->nstates; i++)
        if ((size_t)pb->states[i].frame == f)
            ls_dot_node(&pb->states[i], out, inner);
    for (size_t g = f + 1; g < pb->nframes; g++)
        if ((size_t)pb->frames[g].parent == f && depth < 16)
            ls_dot_frame(pb, g, out, depth + 1);
    fprintf(out, "%s}\n", ind);
}

static void ls_write_dot(const ls_playbook *pb, FILE *out, const ls_edge *e, size_t ne)
{
    const char **ph = NULL;
    size_t nph = ls_phases(pb, &ph);
    fputs("digraph ", out);
    ls_dot_str(out, pb->name ? pb->name : "playbook");
    fputs(" {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
          "fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n"
          "  \"__start\" [shape=point, width=0.2, label=\"\"];\n", out);
    char rel[512];
    if (ls_plan_release_text(pb, rel, sizeof rel)[0]) {
        char title[700];
        snprintf(title, sizeof title, "%s\n%s", pb->name ? pb->name : "playbook", rel);
        fputs("  labelloc=t;\n  label=", out);
        ls_dot_str(out, title);
        fputs(";\n", out);
    }
    for (size_t k = 0; k < nph; k++) {
        fprintf(out, "  subgraph \"cluster_%zu\" {\n    label=", k);
        ls_dot_str(out, ph[k]);
        fputs(";\n    style=\"rounded,dashed\";\n", out);
        for (size_t i = 0; i < pb->nstates; i++)
            if (pb->states[i].frame == 0 && pb->states[i].phase && strcmp(pb->states[i].phase, ph[k]) == 0)
                ls_dot_node(&pb->states[i], out, "    ");
        fputs("  }\n", out);
    }
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].frame == 0 && !pb->states[i].phase)
            ls_dot_node(&pb->states[i], out, "  ");
    for (size_t f = 1; f < pb->nframes; f++)
        if (pb->frames[f].parent == 0)
            ls_dot_frame(pb, f, out, 1);
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].sub) {
            fputs("  ", out);
            ls_dot_str(out, pb->states[i].name);
            fputs(" -> ", out);
            ls_dot_str(out, pb->states[pb->states[i].sub->start].name);
            fputs(" [label=\"runs\", style=bold, color=\"#1f4e9c\"];\n", out);
        }
    if (pb->start >= 0) {
        fputs("  \"__start\" -> ", out);
        ls_dot_str(out, pb->states[pb->start].name);
        fputs(";\n", out);
    }
    for (size_t k = 0; k < ne; k++) {
        fputs("  ", out);
        ls_dot_str(out, pb->states[e[k].from].name);
        fputs(" -> ", out);
        ls_dot_str(out, pb->states[e[k].to].name);
        bool open = false;
        if (e[k].label) {
            fputs(" [label=", out);
            ls_dot_str(out, e[k].label);
            open = true;
        }
        if (e[k].kind) {
            fputs(open ? ", " : " [", out);
            fputs(e[k].kind == 1 ? "style=dashed, color=red, fontcolor=red"
                                 : "style=dotted, color=orange, fontcolor=orange", out);
            open = true;
        }
        fputs(open ? "];\n" : ";\n", out);
    }
    fputs("}\n", out);
    free(ph);
}

static void ls_mm_node(const ls_playbook *pb, size_t i, FILE *out, const char *indent)
{
    const ls_state *st = &pb->states[i];
    ls_buf b;
    ls_buf_init(&b, 4096);
    ls_node_text(st, &b);
    fprintf(out, "%ss%zu", indent, i);
    const char *open = "[", *close = "]";
    if (st->terminal == LS_TERM_SUCCESS) {
        open = "([";
        close = "])";
    } else if (st->terminal == LS_TERM_FAILURE) {
        open = "[[";
        close = "]]";
    } else if (!st->action && !st->sub) {
        open = "{";
        close = "}";
    }
    fputs(open, out);
    ls_mm_str(out, ls_buf_str(&b));
    fputs(close, out);
    if (st->terminal)
        fprintf(out, ":::%s", st->terminal == LS_TERM_SUCCESS ? "success" : "failure");
    fputc('\n', out);
    ls_buf_free(&b);
}

static void ls_mm_frame(const ls_playbook *pb, size_t f, FILE *out, int depth)
{
    const ls_frame_def *fr = &pb->frames[f];
    char ind[40], inner[44], label[600];
    snprintf(ind, sizeof ind, "%*s", 2 * depth, "");
    snprintf(inner, sizeof inner, "%s  ", ind);
    snprintf(label, sizeof label, "%s: %s", pb->states[fr->call].name, pb->states[fr->call].sub->file);
    fprintf(out, "%ssubgraph frame%zu[", ind, f);
    ls_mm_str(out, label);
    fputs("]\n", out);
    for (size_t i = 0; i < pb->nstates; i++)
        if ((size_t)pb->states[i].frame == f)
            ls_mm_node(pb, i, out, inner);
    for (size_t g = f + 1; g < pb->nframes; g++)
        if ((size_t)pb->frames[g].parent == f && depth < 16)
            ls_mm_frame(pb, g, out, depth + 1);
    fprintf(out, "%send\n", ind);
}

static void ls_write_mermaid(const ls_playbook *pb, FILE *out, const ls_edge *e, size_t ne)
{
    const char **ph = NULL;
    size_t nph = ls_phases(pb, &ph);
    char rel[512];
    if (ls_plan_release_text(pb, rel, sizeof rel)[0]) {
        /* Mermaid's front matter: a title above the chart. */
        fputs("---\ntitle: \"", out);
        for (const char *c = pb->name ? pb->name : "playbook"; *c; c++)
            fputc(*c == '"' ? '\'' : *c, out);
        fputs(" - ", out);
        for (const char *c = rel; *c; c++)
            fputc(*c == '"' ? '\'' : *c, out);
        fputs("\"\n---\n", out);
    }
    fputs("flowchart TD\n", out);
    fputs("  classDef success fill:#c8f0c8,stroke:#2e7d32\n", out);
    fputs("  classDef failure fill:#f4c2c2,stroke:#c62828\n", out);
    fputs("  start((start))\n", out);
    for (size_t k = 0; k < nph; k++) {
        fprintf(out, "  subgraph phase%zu[", k);
        ls_mm_str(out, ph[k]);
        fputs("]\n", out);
        for (size_t i = 0; i < pb->nstates; i++)
            if (pb->states[i].frame == 0 && pb->states[i].phase && strcmp(pb->states[i].phase, ph[k]) == 0)
                ls_mm_node(pb, i, out, "    ");
        fputs("  end\n", out);
    }
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].frame == 0 && !pb->states[i].phase)
            ls_mm_node(pb, i, out, "  ");
    for (size_t f = 1; f < pb->nframes; f++)
        if (pb->frames[f].parent == 0)
            ls_mm_frame(pb, f, out, 1);
    if (pb->start >= 0)
        fprintf(out, "  start --> s%d\n", pb->start);
    for (size_t k = 0; k < ne; k++) {
        fprintf(out, "  s%zu %s", e[k].from, e[k].kind ? "-.->" : "-->");
        if (e[k].label) {
            fputc('|', out);
            ls_mm_str(out, e[k].label);
            fputc('|', out);
        }
        fprintf(out, " s%zu\n", e[k].to);
    }
    for (size_t i = 0; i < pb->nstates; i++)
        if (pb->states[i].sub)
            fprintf(out, "  s%zu ==>|runs| s%d\n", i, pb->states[i].sub->start);
    /* linkStyle counts edges from 0; the start edge is first. */
    size_t base = pb->start >= 0 ? 1 : 0;
    for (size_t k = 0; k < ne; k++)
        if (e[k].kind)
            fprintf(out, "  linkStyle %zu stroke:%s,color:%s\n", base + k, e[k].kind == 1 ? "red" : "orange",
                    e[k].kind == 1 ? "red" : "orange");
    free(ph);
}

void ls_graph_write(const ls_playbook *pb, ls_graph_format fmt, FILE *out)
{
    ls_edge *e = NULL;
    size_t ne = ls_collect_edges(pb, &e);
    if (fmt == LS_GRAPH_DOT)
        ls_write_dot(pb, out, e, ne);
    else
        ls_write_mermaid(pb, out, e, ne);
    for (size_t k = 0; k < ne; k++)
        free(e[k].label);
    free(e);
}
