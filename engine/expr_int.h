/*
 * Private to the expression modules (expr.c parser/compiler, eval.c,
 * funcs.c, template.c): the compiled tree.
 */
#ifndef LS_EXPR_INT_H
#define LS_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "expr.h"

/* Tree height bound: left-deep operator chains (`a + b + c ...`) grow the
 * tree without growing the parser's recursion, and evaluation recurses. */
#define LS_EXPR_MAX_HEIGHT 1024
/* guards.NAME inside guards: the heights of the guard trees being
 * evaluated add up in ls_eval_ctx.depth, bounded so that evaluation stack
 * stays small even though each tree may be LS_EXPR_MAX_HEIGHT tall (and
 * even for a cycle, which the loader rejects anyway). */
#define LS_GUARD_MAX_DEPTH 4096

typedef enum ls_nop {
    LS_N_CONST,  /* val */
    LS_N_LIST,   /* args */
    LS_N_ROOT,   /* ival = LS_ROOT_PARAMS | STATES | RESULT | RUN */
    LS_N_ENV,    /* val = variable name */
    LS_N_GUARD,  /* ival = guard index; val = name */
    LS_N_FIELD,  /* a . val */
    LS_N_INDEX,  /* a [ b ] */
    LS_N_CALL,   /* ival = function index; args */
    LS_N_NEG,
    LS_N_NOT,
    LS_N_AND,
    LS_N_OR,
    LS_N_EQ,
    LS_N_NE,
    LS_N_LT,
    LS_N_LE,
    LS_N_GT,
    LS_N_GE,
    LS_N_IN,
    LS_N_MATCH,  /* a =~ b; re */
    LS_N_NMATCH, /* a !~ b; re */
    LS_N_ADD,
    LS_N_SUB,
    LS_N_MUL,
    LS_N_DIV,
    LS_N_MOD
} ls_nop;

/* A compiled code shared by the constant regexes with the same pattern
 * and flags (expr.c). */
typedef struct ls_re_shared {
    pcre2_code *code;
    uint32_t refs;
} ls_re_shared;

/* A compiled pattern: fixed at compile time for a constant pattern, else a
 * one-entry cache keyed by the pattern text, filled on first use. */
typedef struct ls_regex {
    pcre2_code *code;       /* shared->code when shared */
    ls_re_shared *shared;   /* constant patterns; NULL: code is owned */
    pcre2_match_data *md; /* created by the first match */
    char *pat; /* cached pattern text (run-time patterns) */
    size_t patlen;
    uint32_t flags; /* PCRE2 options from the literal's flags */
    bool constant;
    bool jit_tried; /* JIT is compiled lazily: see LS_REGEX_JIT_MIN */
    bool in_arena;  /* from the loader's arena (arena.h): not free()d */
} ls_regex;

/* A pattern is JIT-compiled the first time it meets a subject this long.
 * JIT costs far more than interpreting a short match once, and most
 * patterns in a playbook run once on a short string (a load of 10,000
 * patterns spent a quarter of its time in pcre2_jit_compile). */
#define LS_REGEX_JIT_MIN 4096

typedef struct ls_node {
    uint8_t op;       /* ls_nop */
    bool in_arena;    /* from the loader's arena (arena.h): not free()d */
    uint16_t height;  /* 1 + the tallest child (<= LS_EXPR_MAX_HEIGHT + 1) */
    uint32_t pos;     /* byte offset of the node in the source */
    int ival;
    uint32_t nargs;
    ls_value val;
    struct ls_node *a, *b;
    struct ls_node **args;
    ls_regex *re;     /* MATCH, NMATCH, matches() */
} ls_node;

struct ls_expr {
    char *src;
    size_t len;
    bool in_arena;  /* from the loader's arena (arena.h): not free()d */
    ls_loc loc;
    ls_node *root;
    unsigned roots;
    int *state_refs;
    size_t nstate_refs;
    int *guard_refs;
    size_t nguard_refs;
};

/* funcs.c: the one function table. */
typedef struct ls_fcall {
    const ls_expr *e;
    const ls_node *n;
    ls_error *err;
} ls_fcall;

typedef int (*ls_fn)(ls_fcall *fc, const ls_value *args, size_t nargs, ls_value *out);

typedef struct ls_func {
    const char *name;
    int min_args, max_args;
    ls_fn fn;
} ls_func;

extern const ls_func ls_functions[];
int ls_func_lookup(const char *name, size_t len); /* index or -1 */

/* eval.c */
/* Sets err to `expression "SRC": MSG` at the expression's place; returns -1. */
int ls_eval_fail(const ls_expr *e, ls_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ls_kind_article(ls_kind k); /* "a string", "an int", "null" */
int ls_eval_in(const ls_expr *e, ls_value needle, ls_value hay, bool *out, ls_error *err);
int ls_eval_match(const ls_expr *e, ls_regex *re, ls_value subject, ls_value pattern, bool *out,
                  ls_error *err);

/* expr.c: a string value for constant text, shared with earlier equal
 * ones where it is short (a new reference, as ls_string_n). */
ls_value ls_expr_const_string(const char *s, size_t n);

/* expr.c: regex compilation shared with eval.c. */
pcre2_code *ls_regex_compile(const char *pat, size_t len, uint32_t flags, char *msg, size_t msglen,
                             size_t *erroffset);
/* A new reference to the shared code for a constant pattern, or NULL
 * with msg set; released with ls_re_shared_drop. */
ls_re_shared *ls_regex_compile_shared(const char *pat, size_t len, uint32_t flags, char *msg, size_t msglen,
                                      size_t *erroffset);
void ls_re_shared_drop(ls_re_shared *sh);

#endif
