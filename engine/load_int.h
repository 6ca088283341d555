/*
 * Internals shared by the loader's files (load.c, params.c, registry.c).
 * Not an API: everything outside the loader uses playbook.h.
 */
#ifndef LS_LOAD_INT_H
#define LS_LOAD_INT_H

#include "playbook.h"
#include "yaml_doc.h"

typedef struct ls_fdefault {
    const char *family;
    const char *key;
    const ls_ynode *node; /* in the playbook or a values file */
    bool ok;              /* compiled cleanly once */
} ls_fdefault;

typedef struct ls_values_file {
    const char *file;     /* interned name */
    ls_ynode *root;       /* the whole document (a mapping), owned */
} ls_values_file;

typedef struct ls_loader {
    const ls_load_opts *opts;
    ls_diags *d;
    ls_playbook *pb;
    const char *file;     /* the playbook's interned name */
    ls_ynode *root;
    ls_values_file *vf; size_t nvf;
    ls_fdefault *fd; size_t nfd, capfd;
    ls_compile_env env, env_result;
    size_t *name_slots;   /* state indexes by name hash (load.c), or NULL: then */
    size_t name_mask;
    size_t *by_name;      /* state indexes sorted by name, made on first need */
    size_t broken;        /* transitions that did not resolve: graph checks would mislead */
    struct ls_deferred *dfr; size_t ndfr, capdfr; /* scalars templated over params (load_state.c) */
    struct ls_arena *scratch; /* the graph checks' arrays, while they run (load_state.c) */
} ls_loader;

/* load.c helpers */
void ls_load_check_keys(ls_loader *L, const ls_ynode *map, const char *where,
                        const char *const *allowed);
const char *ls_load_text(ls_loader *L, const ls_ynode *n, const char *what);
int ls_load_bool(ls_loader *L, const ls_ynode *n, const char *what);
bool ls_load_ident_ok(const char *s);
char *ls_load_strdup(const char *s);
/* Memory that lives exactly as long as the playbook: from its arena
 * (arena.h), zeroed, never NULL; freed by ls_playbook_free at once. */
void *ls_pb_alloc(ls_playbook *pb, size_t size);
char *ls_pb_strdup(ls_playbook *pb, const char *s);
/* The closest name (edit distance <= 2), or NULL: for "did you mean". */
const char *ls_load_suggest(const char *name, const char *const *names, size_t n);
/* Reads a file the loader names, registered with d for excerpts: with an
 * arena, *text is in it and lent to d (diag.h); without one, malloc'd and
 * copied into d. */
bool ls_load_read_file(const char *path, ls_diags *d, const char **file, char **text, size_t *len,
                       struct ls_arena *a);

/* load_state.c: a state's `timeout` and `retry` scalars written as a
 * template over params are set once the params are known (validate with
 * values, plan, run); ls_load_deferred does it, or leaves the defaults
 * when params are not checked (structure-only validate). */
void ls_load_deferred(ls_loader *L);
void ls_deferred_free(struct ls_deferred *d, size_t n);

/* notify.c: the top-level notify: list into pb->notify. */
void ls_load_notify(ls_loader *L, const ls_ynode *n);
void ls_notify_specs_free(ls_notify_spec *s, size_t n);

/* The shared pieces of load.c used by load_state.c. */
ls_expr *ls_load_expr(ls_loader *L, const ls_ynode *n, const char *what, bool allow_result);
ls_expr **ls_load_expr_list(ls_loader *L, const ls_ynode *n, const char *what, bool allow_result,
                            size_t *count);
ls_tmpl *ls_load_tmpl(ls_loader *L, const ls_ynode *n, ls_diags *d);
int ls_load_state_ref(ls_loader *L, const ls_ynode *n, const char *what);
bool ls_load_duration(ls_loader *L, const ls_ynode *n, const char *what, int64_t *ms);

/* load_state.c */
void ls_state_load(ls_loader *L, ls_state *st, const ls_ynode *n, int default_on_failure);
void ls_load_graph_checks(ls_loader *L, const ls_ynode *start_node);

/* params.c */
void ls_params_load_specs(ls_loader *L, const ls_ynode *params);
void ls_params_read_values(ls_loader *L);
void ls_params_resolve(ls_loader *L);
void ls_param_clear(ls_param *p);
/* The type's name as written in a playbook ("string", "int", ...). */
const char *ls_ptype_name(ls_ptype t);
/* Whether a value (from a template or JSON, not YAML) has the param's
 * type; an int stands for a float. */
bool ls_param_kind_ok(const ls_param *p, ls_value v);
/* enum, pattern, min and max of one value (its type is checked apart);
 * problems go to L->d at `at`, `src` says where the value came from. */
bool ls_param_check(ls_loader *L, const ls_param *p, ls_value v, ls_loc at, const char *src);

/* load_sub.c: loads every `playbook:` state's child and splices it in
 * (playbook.h "SUB-PLAYBOOKS"); the caller rebuilds the name index. */
void ls_load_subs(ls_loader *L);

/* registry.c */
bool ls_input_type_ok(const char *type, ls_value v);

#endif
