/*
 * Sub-playbooks (playbook.h "SUB-PLAYBOOKS"): a state with `playbook:`
 * loads its child here, checks the call's `with` against the child's
 * params, and splices the child's states into the caller's array.
 *
 * The child is loaded by ls_playbook_load itself (so its own children are
 * already spliced into it, and its diagnostics name its own file), with
 * the chain of files above it: a file that is its own ancestor is a cycle,
 * and more than LS_SUB_DEPTH_MAX levels are refused.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "load_int.h"
#include "secret.h"

/* dir + "/" + file with "." and "x/.." folded away lexically, so that
 * diagnostics name "playbooks/lib/backup.yaml", not
 * "playbooks/message-center/../lib/backup.yaml". */
static char *join_path(const char *dir, const char *file)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    if (file[0] != '/' && strcmp(dir, ".") != 0)
        ls_buf_printf(&b, "%s/", dir);
    ls_buf_printf(&b, "%s", file);
    char *s = ls_buf_steal(&b);
    /* Fold component by component into out. */
    size_t n = strlen(s);
    char *out = ls_oom_check(malloc(n + 2));
    size_t o = 0;
    size_t keep = 0; /* components at the front that ".." may not fold (leading ..) */
    const char *p = s;
    bool abs = *p == '/';
    if (abs)
        out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.' && o > (abs ? 1u : 0u) + keep) {
            /* drop the last component */
            size_t q = o;
            if (q > 0 && out[q - 1] == '/')
                q--;
            while (q > (abs ? 1u : 0u) && out[q - 1] != '/')
                q--;
            o = q;
        } else {
            if (o > 0 && out[o - 1] != '/')
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
            if (len == 2 && p[0] == '.' && p[1] == '.')
                keep = o;
        }
        p = e;
    }
    if (o == 0)
        out[o++] = '.';
    if (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    free(s);
    return out;
}

static int param_at(const ls_playbook *child, const char *name)
{
    for (size_t i = 0; i < child->nparams; i++)
        if (strcmp(child->params[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The call's constant `with` against the child's params: unknown names,
 * missing required ones, and the type and checks of constant values.  A
 * templated value is checked when the call is entered. */
static void check_with(ls_loader *L, const ls_state *st, const ls_playbook *child)
{
    const ls_tmpl *w = st->with;
    size_t n = w ? ls_tmpl_len(w) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = ls_tmpl_map_key_at(w, i);
        const ls_tmpl *t = ls_tmpl_at(w, i);
        int p = param_at(child, k);
        if (p < 0) {
            const char *hint = ls_load_suggest(k, child->param_names, child->nparams);
            ls_diag_error(L->d, ls_tmpl_loc(t), "state '%s': the playbook %s has no param '%s'%s%s%s", st->name,
                          st->sub->file, k, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            continue;
        }
        const ls_param *pp = &child->params[p];
        if (!ls_tmpl_is_constant(t))
            continue;
        ls_value v = ls_tmpl_constant(t);
        if (!ls_param_kind_ok(pp, v)) {
            ls_diag_error(L->d, ls_tmpl_loc(t), "state '%s': param '%s' of %s is a %s, not %s", st->name, k,
                          st->sub->file, ls_ptype_name(pp->type), pp->secret ? "this value" : ls_kind_name((ls_kind)v.kind));
            continue;
        }
        char src[300];
        snprintf(src, sizeof src, "state %s's with: ", st->name);
        ls_param_check(L, pp, v, ls_tmpl_loc(t), src);
    }
    for (size_t i = 0; i < child->nparams; i++) {
        const ls_param *pp = &child->params[i];
        bool given = false;
        for (size_t k = 0; k < n && !given; k++)
            given = strcmp(ls_tmpl_map_key_at(w, k), pp->name) == 0;
        if (pp->required && !pp->has_default && !given)
            ls_diag_error(L->d, st->loc, "state '%s': the playbook %s needs param '%s' (give it in with:)", st->name,
                          st->sub->file, pp->name);
    }
}

/* Moves child's states to the end of pb's array, renamed CALL/NAME, with
 * every index in pb's numbering; child keeps its params and guards. */
static void splice(ls_loader *L, int call, ls_playbook *child)
{
    ls_playbook *pb = L->pb;
    size_t off = pb->nstates, n = child->nstates, fbase = pb->nframes;
    /* The states array is arena memory (load.c): a larger one replaces it. */
    ls_state *states = ls_pb_alloc(pb, (off + n + 1) * sizeof *states);
    memcpy(states, pb->states, off * sizeof *states);
    pb->states = states;
    pb->frames = ls_oom_check(realloc(pb->frames, (fbase + child->nframes) * sizeof *pb->frames));
    const char *callname = pb->states[call].name;
    size_t plen = strlen(callname) + 1;
    for (size_t k = 0; k < child->nframes; k++) {
        ls_frame_def f = child->frames[k];
        f.first += off;
        f.prefix_len += plen;
        if (k == 0) {
            f.pb = child;
            f.call = call;
            f.parent = pb->states[call].frame;
        } else {
            f.call += (int)off;
            f.parent += (int)fbase;
        }
        pb->frames[fbase + k] = f;
    }
    pb->nframes += child->nframes;
    for (size_t j = 0; j < n; j++) {
        ls_state *st = &pb->states[off + j];
        *st = child->states[j];
        ls_buf b;
        ls_buf_init(&b, LS_BUF_UNLIMITED);
        ls_buf_printf(&b, "%s/%s", callname, st->name);
        st->name = ls_pb_strdup(pb, ls_buf_str(&b)); /* the old one stays in the child's arena */
        ls_buf_free(&b);
        st->frame += (int)fbase;
#define MOVE(x) ((x) >= 0 ? (x) + (int)off : (x))
        st->next = MOVE(st->next);
        st->on_failure = MOVE(st->on_failure);
        st->on_timeout = MOVE(st->on_timeout);
        for (size_t b2 = 0; b2 < st->nbranches; b2++)
            st->branches[b2].target = MOVE(st->branches[b2].target);
        if (st->sub) {
            st->sub->start = MOVE(st->sub->start);
            st->sub->frame += (int)fbase;
        }
#undef MOVE
    }
    pb->nstates = off + n;
    ls_sub *sub = pb->states[call].sub;
    sub->child = child;
    sub->start = child->start + (int)off;
    sub->frame = (int)fbase;
    /* The child's array held what pb holds now. */
    child->states = NULL;
    child->nstates = 0;
    free(child->name_slots);
    child->name_slots = NULL;
}

void ls_load_subs(ls_loader *L)
{
    ls_playbook *pb = L->pb;
    size_t own = pb->nstates;
    /* Canonical paths in buffers of our own: realpath() would otherwise
     * allocate, and its ENOMEM would read as a missing file. */
    char real[PATH_MAX], creal[PATH_MAX];
    real[0] = '\0';
    for (size_t i = 0; i < own; i++) {
        ls_sub *sub = pb->states[i].sub;
        if (sub == NULL)
            continue;
        if (real[0] == '\0' && realpath(pb->path, real) == NULL)
            snprintf(real, sizeof real, "%s", pb->path);
        sub->path = join_path(pb->dir, sub->file);
        const ls_state *st = &pb->states[i];
        if (realpath(sub->path, creal) == NULL) {
            ls_diag_error(L->d, sub->loc, "state '%s': cannot read the playbook %s (%s)", st->name, sub->path,
                          strerror(errno));
            continue;
        }
        ls_load_chain here = {real, L->opts->chain, L->opts->chain ? L->opts->chain->depth + 1 : 0};
        bool cycle = false;
        for (const ls_load_chain *c = &here; c && !cycle; c = c->up)
            cycle = strcmp(c->real, creal) == 0;
        if (cycle) {
            ls_buf b;
            ls_buf_init(&b, LS_BUF_UNLIMITED);
            ls_buf_printf(&b, "%s", creal);
            for (const ls_load_chain *c = &here; c; c = c->up) {
                ls_buf_printf(&b, " <- %s", c->real);
                if (strcmp(c->real, creal) == 0)
                    break;
            }
            ls_diag_error(L->d, sub->loc, "state '%s': the playbooks call each other in a cycle: %s", st->name,
                          ls_buf_str(&b));
            ls_buf_free(&b);
            continue;
        }
        if (here.depth + 1 > LS_SUB_DEPTH_MAX) {
            ls_diag_error(L->d, sub->loc, "state '%s': playbooks nested more than %d deep", st->name,
                          LS_SUB_DEPTH_MAX);
            continue;
        }
        ls_load_opts co;
        memset(&co, 0, sizeof co);
        co.path = sub->path;
        co.ignore_process_env = L->opts->ignore_process_env;
        co.chain = &here;
        size_t errors = L->d->errors;
        ls_playbook *child = ls_playbook_load(&co, L->d);
        if (child == NULL) {
            if (L->d->errors == errors)
                ls_diag_error(L->d, sub->loc, "state '%s': the playbook %s does not load", st->name, sub->path);
            else
                ls_diag_error(L->d, sub->loc, "state '%s': the playbook %s it runs has the errors above", st->name,
                              sub->path);
            continue;
        }
        check_with(L, st, child);
        splice(L, (int)i, child);
    }
    if (pb->nstates != own) {
        pb->state_names = ls_pb_alloc(pb, (pb->nstates + 1) * sizeof *pb->state_names);
        for (size_t i = 0; i < pb->nstates; i++)
            pb->state_names[i] = pb->states[i].name;
        pb->state_names[pb->nstates] = NULL;
    }
}

/* ---- at run time ------------------------------------------------------- */

int ls_sub_bind(const ls_playbook *pb, int call, ls_value given, ls_value *out, char *msg, size_t msglen)
{
    const ls_state *st = &pb->states[call];
    const ls_playbook *child = st->sub->child;
    *out = ls_map_new();
    msg[0] = '\0';
    ls_diags d;
    ls_diags_init(&d);
    ls_loader L;
    memset(&L, 0, sizeof L);
    L.d = &d;
    for (size_t i = 0; i < child->nparams && msg[0] == '\0'; i++) {
        const ls_param *p = &child->params[i];
        ls_value v = ls_map_get(given, p->name);
        bool has = ls_map_has(given, p->name);
        if (!has && p->has_default) {
            ls_map_set(out, p->name, ls_value_copy(p->def));
            continue;
        }
        if (!has) {
            if (p->required)
                snprintf(msg, msglen, "the playbook %s needs param '%s'", st->sub->file, p->name);
            continue;
        }
        if (p->secret && v.kind == LS_STRING)
            ls_secret_add(ls_str_ptr(v), ls_str_len(v));
        if (!ls_param_kind_ok(p, v)) {
            snprintf(msg, msglen, "param '%s' of %s is a %s, not %s", p->name, st->sub->file, ls_ptype_name(p->type),
                     p->secret ? "this value" : ls_kind_name((ls_kind)v.kind));
            break;
        }
        ls_loc noloc = {0};
        if (!ls_param_check(&L, p, v, noloc, "") && d.len > 0) {
            snprintf(msg, msglen, "%s", d.items[0].msg);
            break;
        }
        ls_map_set(out, p->name,
                   p->type == LS_PT_FLOAT && v.kind == LS_INT ? ls_float((double)v.u.i) : ls_value_copy(v));
    }
    ls_diags_free(&d);
    if (msg[0] != '\0') {
        ls_value_free(*out);
        *out = ls_null();
        return -1;
    }
    return 0;
}
