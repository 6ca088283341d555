/*
 * The expression language (SPEC 3.2), templates (3.3) and durations (3.4).
 *
 * Expressions are compiled once, at load time, into a tree that keeps its
 * source text and place; constant regexes are compiled with PCRE2 then.
 * Evaluation never fails silently: a runtime error (`<` on a map, division
 * by zero, a non-bool condition) fills an ls_error whose place is the
 * expression's place in the playbook.
 *
 * Ownership: ls_expr and ls_tmpl are owned by whoever compiled them (the
 * playbook) and freed with ls_expr_free / ls_tmpl_free.  Values follow
 * value.h.
 */
#ifndef LS_EXPR_H
#define LS_EXPR_H

#include <lockstep/value.h>
#include "diag.h"

#define LS_MAX_DEPTH 256 /* YAML and expression nesting bound */

typedef struct ls_expr ls_expr;
typedef struct ls_tmpl ls_tmpl;

/* Roots an expression may name. */
enum {
    LS_ROOT_PARAMS = 1u << 0,
    LS_ROOT_STATES = 1u << 1,
    LS_ROOT_RESULT = 1u << 2,
    LS_ROOT_GUARDS = 1u << 3,
    LS_ROOT_ENV = 1u << 4,
    LS_ROOT_RUN = 1u << 5,
    LS_ROOT_NOW = 1u << 6, /* calls now(): not known before run time */
    LS_ROOT_ITEM = 1u << 7,  /* `item`: the element of a for_each state */
    LS_ROOT_INDEX = 1u << 8  /* `index`: its position, from 0 */
};

/* What the compiler may resolve names against.  Names not found are
 * load-time errors ("unknown state 'x'"), so a typo never reads as null. */
typedef struct ls_compile_env {
    const char *const *params; size_t nparams;  /* declared params */
    const char *const *states; size_t nstates;  /* declared states */
    const char *const *guards; size_t nguards;  /* declared guards */
    bool allow_result;                          /* expect, retry.until, next */
    ls_value release;  /* the playbook's `release:` block (borrowed): the
                        * `release` root is this constant; null when unset */
    bool allow_item;   /* item, index: in a for_each state's with, expect,
                        * retry.until and landed */
} ls_compile_env;

/* The run-time world an expression sees. */
typedef struct ls_eval_ctx {
    ls_value params;        /* map */
    ls_value states;        /* map: NAME -> {status, result, attempts, error, visits} */
    ls_value run;           /* map: id, env, dry_run, playbook, started_at */
    const ls_value *result; /* NULL when `result` is not bound */
    const ls_value *item;   /* for_each: the element (NULL: not bound) */
    int64_t index;          /* for_each: its position, from 0 */
    ls_expr *const *guards; /* compiled guards by index (guards.NAME) */
    size_t nguards;
    int depth;              /* guard recursion, bounded */
} ls_eval_ctx;

/* Compiles `src[0..len)`.  `loc` is the place of src[0]; problems are
 * added to `d` at their exact column (when src is on one line) and NULL is
 * returned. */
ls_expr *ls_expr_compile(const char *src, size_t len, ls_loc loc,
                         const ls_compile_env *env, ls_diags *d);
void ls_expr_free(ls_expr *e);
/* Regexes compiled while an arena is current live in it (arena.h), and so
 * may the cache's entries that share them: drop those before freeing the
 * arena. */
struct ls_arena;
void ls_regex_cache_forget(const struct ls_arena *a);
const char *ls_expr_source(const ls_expr *e);
ls_loc ls_expr_loc(const ls_expr *e);
unsigned ls_expr_roots(const ls_expr *e); /* LS_ROOT_* bits, guards followed */
/* States whose data the expression reads (states.NAME...), as indexes
 * into env->states; guards are NOT followed here (see ls_expr_guard_refs). */
size_t ls_expr_state_refs(const ls_expr *e, const int **out);
size_t ls_expr_guard_refs(const ls_expr *e, const int **out);

/* 0 on success; -1 with err set (err->loc = the expression's place). */
int ls_expr_eval(const ls_expr *e, ls_eval_ctx *ctx, ls_value *out, ls_error *err);
/* A condition: a non-bool is a runtime error naming the expression. */
int ls_expr_eval_cond(const ls_expr *e, ls_eval_ctx *ctx, bool *out, ls_error *err);

/*
 * Templates.  A `with` tree (maps, lists, scalars) whose strings may hold
 * ${{ EXPR }}.  A string that is exactly one ${{ EXPR }} keeps the value's
 * type; `$${{` writes a literal `${{`.  The loader builds the tree.
 */
ls_tmpl *ls_tmpl_string(const char *s, size_t len, ls_loc loc,
                        const ls_compile_env *env, ls_diags *d); /* NULL on error */
ls_tmpl *ls_tmpl_literal(ls_value v, ls_loc loc);                 /* takes v */
ls_tmpl *ls_tmpl_list(ls_loc loc);
ls_tmpl *ls_tmpl_map(ls_loc loc);
void ls_tmpl_list_push(ls_tmpl *list, ls_tmpl *item);              /* takes item */
void ls_tmpl_map_set(ls_tmpl *map, const char *key, ls_tmpl *item); /* takes item */
void ls_tmpl_free(ls_tmpl *t);

/* Inspection, for validation of inputs. */
ls_kind ls_tmpl_kind(const ls_tmpl *t); /* LS_STRING for any string template */
bool ls_tmpl_is_constant(const ls_tmpl *t); /* no ${{ }} anywhere below */
/* The constant value (borrowed) when ls_tmpl_is_constant; else LS_NULL. */
ls_value ls_tmpl_constant(const ls_tmpl *t);
ls_loc ls_tmpl_loc(const ls_tmpl *t);
const ls_tmpl *ls_tmpl_map_get(const ls_tmpl *map, const char *key);
size_t ls_tmpl_len(const ls_tmpl *t); /* entries of a map or list */
const char *ls_tmpl_map_key_at(const ls_tmpl *map, size_t i);
const ls_tmpl *ls_tmpl_at(const ls_tmpl *t, size_t i); /* map value or list item */
unsigned ls_tmpl_roots(const ls_tmpl *t); /* LS_ROOT_* of every expression below */
size_t ls_tmpl_state_refs(const ls_tmpl *t, int *out, size_t max); /* state indexes read */

/* Renders the tree into a value.  0, or -1 with err set. */
int ls_tmpl_render(const ls_tmpl *t, ls_eval_ctx *ctx, ls_value *out, ls_error *err);
/* For `plan`: parts that read states, result or now() stay as their
 * template text ("${{ states.x.result.doc }}"); the rest is rendered.
 * Never fails: a part that errs also stays as template text. */
ls_value ls_tmpl_render_plan(const ls_tmpl *t, ls_eval_ctx *ctx);

/* Durations: "250ms", "30s", "5m", "1h", "1h30m"; a bare integer is
 * seconds.  0 and *ms set, or -1 for bad syntax or overflow. */
int ls_duration_parse(const char *s, size_t len, int64_t *ms);
/* "1h30m", "250ms", "0s" into buf. */
const char *ls_duration_format(int64_t ms, char *buf, size_t len);

/* Rendering helper shared by templates and str(): see ls_value_to_text. */

#endif
