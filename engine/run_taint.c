/*
 * What a dry run's reads are worth (docs/runs.md "Dry run").
 *
 * A dry run simulates each mutating action, so the world stays as it was.
 * A probe that runs after a simulated change therefore reads the system
 * BEFORE that change: its result is real, but it is not evidence about the
 * changed system the state was written to check.  This file keeps, for the
 * run, the list of simulated mutations with the target each would have
 * changed, and for each probe state the simulated mutations that would
 * have changed what it read (its "taint").  The decision summary (run.c,
 * run_out.c) labels a decision resting on such a read `on UNCHANGED data`.
 *
 * The rule (precise where the target is known, conservative where not):
 *   - a target is a kind and a key: mongo (uri + db), http (scheme://host
 *     of the base URL or url), kubectl (context + kubeconfig + namespace),
 *     compose (file + project), files, the local image store, the clock;
 *   - a simulated mutation taints a later probe of the same target;
 *   - a kubectl or docker mutation (deployment, one-off pod, compose stack)
 *     changes what code runs, and that code reaches services we cannot
 *     see: it also taints every http and mongo probe;
 *   - exec and shell (and any action of an unknown family) have no known
 *     target: such a mutation taints every probe of the outside world, and
 *     such a probe is tainted by every earlier simulated mutation;
 *   - a probe whose inputs (`with`) read a tainted state's result is
 *     tainted by the same mutations (log.scan of unchanged logs); one whose
 *     inputs read a simulated result is itself derived from simulated data.
 * The clock, `wait`, `noop`, `manual.confirm` and `log.scan` read nothing
 * that a mutation changes.
 */
#include "run_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "expr.h"

typedef enum {
    T_NONE,    /* reads nothing a mutation changes */
    T_CLOCK,
    T_FILES,
    T_IMAGES,  /* the local image store (docker pull) */
    T_MONGO,
    T_HTTP,
    T_KUBE,
    T_COMPOSE,
    T_UNKNOWN
} tkind;

typedef struct target {
    tkind kind;
    char *key;     /* malloc'd; "" when the kind has no key */
    bool workload; /* a write that changes what code runs */
} target;

typedef struct mutation {
    int state;
    target t;
} mutation;

typedef struct probe {
    bool ran;     /* a real attempt of this state recorded its taint */
    int *by;      /* simulated mutation states, in the order they ran */
    size_t nby;
    int sim_src;  /* a simulated state its inputs read, or -1 */
} probe;

struct ls_taint {
    mutation *m;
    size_t nm, capm;
    probe *p; /* per state */
};

/* ---- targets ---- */

static const char *in_str(ls_value inputs, const char *k)
{
    ls_value v = ls_map_get(inputs, k);
    return v.kind == LS_STRING ? ls_str_ptr(v) : "";
}

static char *key_of(const char *a, const char *b, const char *c)
{
    ls_buf k;
    ls_buf_init(&k, LS_BUF_UNLIMITED);
    ls_buf_adds(&k, a);
    ls_buf_addc(&k, '\x1f');
    ls_buf_adds(&k, b);
    ls_buf_addc(&k, '\x1f');
    ls_buf_adds(&k, c);
    char *s = ls_buf_steal(&k);
    return s ? s : strdup("");
}

/* "HTTPS://Host:8080/api?x" -> "https://host:8080": the server a request
 * reaches (paths on one server share its state). */
static char *http_origin(const char *url)
{
    const char *p = strstr(url, "://");
    size_t start = p ? (size_t)(p - url) + 3 : 0;
    size_t end = start + strcspn(url + start, "/?#");
    char *s = strndup(url, end);
    if (s == NULL)
        return strdup("");
    for (char *c = s; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return s;
}

static bool is_compose_read(ls_value inputs)
{
    ls_value args = ls_map_get(inputs, "args");
    ls_value first = ls_list_at(args, 0);
    if (first.kind != LS_STRING)
        return false;
    const char *s = ls_str_ptr(first);
    return strcmp(s, "ps") == 0 || strcmp(s, "logs") == 0 || strcmp(s, "config") == 0 ||
           strcmp(s, "images") == 0 || strcmp(s, "ls") == 0;
}

/* What state st reads (write false) or would change (write true). */
static target target_of(const ls_state *st, ls_value in, bool write)
{
    target t = {T_UNKNOWN, NULL, false};
    const ls_action *a = st->action;
    const char *fam = a->family ? a->family : "";
    const char *name = a->name;
    if (strcmp(fam, "mongo") == 0) {
        if (write && strcmp(name, "mongo.dump") == 0) {
            t.kind = T_FILES; /* it reads the database and writes files */
        } else if (write && strcmp(name, "mongo.verify_backup") == 0) {
            t.kind = T_MONGO; /* its scratch database, which nothing else reads */
            t.key = key_of(in_str(in, "uri"), "\x1e(scratch)", "");
        } else {
            t.kind = T_MONGO;
            t.key = key_of(in_str(in, "uri"), in_str(in, "db"), "");
        }
    } else if (strcmp(fam, "http") == 0) {
        t.kind = T_HTTP;
        const char *url = in_str(in, "url");
        t.key = http_origin(url[0] ? url : in_str(in, "base_url"));
    } else if (strcmp(fam, "kubectl") == 0) {
        t.kind = T_KUBE;
        t.key = key_of(in_str(in, "context"), in_str(in, "kubeconfig"), in_str(in, "namespace"));
        t.workload = write;
    } else if (strcmp(name, "docker.compose") == 0) {
        t.kind = T_COMPOSE;
        t.key = key_of(in_str(in, "file"), in_str(in, "project"), "");
        t.workload = write && !is_compose_read(in);
    } else if (strcmp(name, "docker.pull") == 0) {
        t.kind = T_IMAGES;
    } else if (strcmp(name, "docker.run") == 0) {
        /* A one-off container: what it reads or changes is its code's business. */
        t.kind = write ? T_NONE : T_UNKNOWN;
        t.workload = write;
    } else if (strcmp(fam, "wait") == 0 || strcmp(fam, "noop") == 0 || strcmp(fam, "manual") == 0 ||
               strcmp(fam, "log") == 0) {
        t.kind = T_NONE;
    } else if (strcmp(fam, "time") == 0) {
        t.kind = T_CLOCK;
    } else if (strcmp(fam, "env") == 0) {
        t.kind = T_FILES;
    }
    if (t.key == NULL)
        t.key = strdup("");
    return t;
}

/* Whether simulated mutation m would have changed what a read of r sees. */
static bool touches(const target *m, const target *r)
{
    if (r->kind == T_NONE || r->kind == T_CLOCK)
        return false;
    if (m->kind == T_UNKNOWN || r->kind == T_UNKNOWN)
        return true;
    if (m->workload && (r->kind == T_HTTP || r->kind == T_MONGO))
        return true;
    return m->kind == r->kind && m->key != NULL && r->key != NULL && strcmp(m->key, r->key) == 0;
}

/* ---- the run's record ---- */

static ls_taint *get(ls_runner *r)
{
    if (r->taint == NULL) {
        r->taint = calloc(1, sizeof *r->taint);
        if (r->taint == NULL)
            return NULL;
        r->taint->p = calloc(r->pb->nstates + 1, sizeof *r->taint->p);
        if (r->taint->p == NULL) {
            free(r->taint);
            r->taint = NULL;
            return NULL;
        }
        for (size_t i = 0; i <= r->pb->nstates; i++)
            r->taint->p[i].sim_src = -1;
    }
    return r->taint;
}

static void add_by(probe *p, int s)
{
    for (size_t i = 0; i < p->nby; i++)
        if (p->by[i] == s)
            return;
    int *n = realloc(p->by, (p->nby + 1) * sizeof *n);
    if (n == NULL)
        return; /* a label less; the run goes on */
    p->by = n;
    p->by[p->nby++] = s;
}

static void add_mutation(ls_taint *t, int state, target tg)
{
    if (t->nm == t->capm) {
        size_t ncap = t->capm ? t->capm * 2 : 16;
        mutation *n = realloc(t->m, ncap * sizeof *n);
        if (n == NULL) {
            free(tg.key);
            return;
        }
        t->m = n;
        t->capm = ncap;
    }
    t->m[t->nm].state = state;
    t->m[t->nm].t = tg;
    t->nm++;
}

void ls_taint_note(ls_runner *r, int idx, ls_value inputs, bool simulated)
{
    if (!r->dry_run || r->fake)
        return;
    ls_taint *t = get(r);
    if (t == NULL)
        return;
    const ls_state *st = &r->pb->states[idx];
    probe *p = &t->p[idx];
    p->ran = false;
    p->nby = 0;
    p->sim_src = -1;
    if (simulated) {
        add_mutation(t, idx, target_of(st, inputs, true));
        return;
    }
    target rd = target_of(st, inputs, false);
    for (size_t i = 0; i < t->nm; i++)
        if (touches(&t->m[i].t, &rd))
            add_by(p, t->m[i].state);
    free(rd.key);
    /* What its inputs were rendered from. */
    int refs[64];
    size_t nr = st->with ? ls_tmpl_state_refs(st->with, refs, sizeof refs / sizeof refs[0]) : 0;
    size_t first = r->pb->frames[st->frame].first; /* refs are in its own playbook's numbering */
    for (size_t i = 0; i < nr; i++) {
        int s = refs[i] < 0 ? -1 : refs[i] + (int)first;
        if (s < 0 || (size_t)s >= r->pb->nstates || s == idx)
            continue;
        if (ls_is_null(ls_map_get(ls_run_state_rec(r, s), "result")))
            continue;
        if (r->simulated[s]) {
            if (p->sim_src < 0)
                p->sim_src = s;
            continue;
        }
        for (size_t k = 0; k < t->p[s].nby; k++)
            add_by(p, t->p[s].by[k]);
        if (p->sim_src < 0)
            p->sim_src = t->p[s].sim_src;
    }
    p->ran = true;
}

void ls_taint_resumed(ls_runner *r)
{
    /* The journal keeps no targets, and the states map only each state's
     * last result: every simulated state on the path is taken as a change
     * of unknown target, and every real result read after the first of
     * them as read before it took effect.  Over-cautious, never a lie. */
    if (!r->dry_run || r->fake)
        return;
    ls_taint *t = get(r);
    if (t == NULL)
        return;
    for (size_t i = 0; i < r->rep->npath; i++) {
        int s = r->rep->path[i];
        if (s < 0 || (size_t)s >= r->pb->nstates || r->pb->states[s].action == NULL)
            continue;
        if (ls_is_null(ls_map_get(ls_run_state_rec(r, s), "result")))
            continue;
        if (r->simulated[s]) {
            bool seen = false;
            for (size_t k = 0; k < t->nm; k++)
                seen = seen || t->m[k].state == s;
            if (!seen)
                add_mutation(t, s, (target){T_UNKNOWN, strdup(""), true});
            continue;
        }
        target rd = target_of(&r->pb->states[s], ls_null(), false);
        t->p[s].nby = 0;
        for (size_t k = 0; k < t->nm; k++)
            if (touches(&t->m[k].t, &rd))
                add_by(&t->p[s], t->m[k].state);
        free(rd.key);
        t->p[s].ran = true;
    }
}

size_t ls_taint_of(const ls_runner *r, int idx, const int **by)
{
    *by = NULL;
    if (r->taint == NULL || idx < 0 || (size_t)idx >= r->pb->nstates || !r->taint->p[idx].ran)
        return 0;
    *by = r->taint->p[idx].by;
    return r->taint->p[idx].nby;
}

int ls_taint_sim_source(const ls_runner *r, int idx)
{
    if (r->taint == NULL || idx < 0 || (size_t)idx >= r->pb->nstates || !r->taint->p[idx].ran)
        return -1;
    return r->taint->p[idx].sim_src;
}

bool ls_taint_reads_world(const ls_state *st)
{
    if (st->action == NULL)
        return false;
    target t = target_of(st, ls_null(), false);
    free(t.key);
    return t.kind != T_NONE;
}

void ls_taint_free(ls_runner *r)
{
    ls_taint *t = r->taint;
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nm; i++)
        free(t->m[i].t.key);
    free(t->m);
    for (size_t i = 0; i <= r->pb->nstates; i++)
        free(t->p[i].by);
    free(t->p);
    free(t);
    r->taint = NULL;
}
