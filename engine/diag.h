/*
 * Places and problems.
 *
 * ls_loc is a 1-based place in a source file (libyaml marks are 0-based:
 * the loader adds one).  `file` points at a name interned in the ls_diags
 * that registered the source, so it lives as long as that ls_diags.
 *
 * ls_diags collects every problem of a load in one pass; ls_diags_print
 * sorts them by file, line and column and prints each as
 *     FILE:LINE:COL: error|warning: message
 * followed by the source line and a caret, as jq and Lua do.  Messages and
 * source lines go through the secret redactor when printed, and the spans
 * registered with ls_diags_mask (a secret's value, valid or not) show as
 * `***` in excerpts.
 *
 * ls_error is the runtime error object (shaped like libbson's bson_error_t:
 * a code, a message, plus a place).  The first error set wins.
 */
#ifndef LS_DIAG_H
#define LS_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ls_loc {
    const char *file; /* NULL: no place */
    uint32_t line;    /* 1-based; 0: unknown */
    uint32_t col;     /* 1-based */
} ls_loc;

typedef enum ls_sev { LS_SEV_ERROR, LS_SEV_WARNING } ls_sev;

typedef struct ls_diag {
    ls_sev sev;
    ls_loc loc;
    char *msg;
    size_t order; /* insertion order: a stable tie-break */
} ls_diag;

/* A stretch of a source shown as `***` in every excerpt (a secret's value
 * as written in a values file): from `from` up to, not including, `to`. */
typedef struct ls_span {
    uint32_t from_line, from_col, to_line, to_col;
} ls_span;

typedef struct ls_source {
    char *name;
    const char *text; /* may be NULL when unreadable or hidden */
    char *own;        /* text when it is our copy; NULL: none, or lent (ls_diags_source_lend) */
    size_t len;
    size_t *lines; /* offset of each line's start, built at the first excerpt */
    size_t nlines;
    ls_span *masks;
    size_t nmasks, capmasks;
    bool hidden;   /* ls_diags_hide: never shown, even if registered again */
} ls_source;

typedef struct ls_diags {
    ls_diag *items;       /* messages in msgs */
    struct ls_arena *msgs;
    size_t len, cap;
    ls_source *sources;
    size_t nsources, capsources;
    size_t errors, warnings;
} ls_diags;

void ls_diags_init(ls_diags *d);
void ls_diags_free(ls_diags *d);
/* Registers a file's text for caret display; returns the interned name to
 * put in ls_loc.file.  `text` is copied (may be NULL). */
const char *ls_diags_source(ls_diags *d, const char *name, const char *text, size_t len);
/* The same without the copy: `text` stays the caller's until the first
 * diagnostic is made against the file, which copies it then.  The caller
 * keeps it alive while diagnostics may still be added against the file,
 * or calls ls_diags_source_keep first.  (A playbook lends its text: a
 * valid 10,000-state file is never copied.) */
const char *ls_diags_source_lend(ls_diags *d, const char *name, const char *text, size_t len);
/* Copies a lent text now: its owner is about to free it. */
void ls_diags_source_keep(ls_diags *d, const char *file);
/* Shows the source between from (inclusive) and to (exclusive; libyaml's
 * end mark of a node) as `***` in every excerpt.  Both in one file. */
void ls_diags_mask(ls_diags *d, ls_loc from, ls_loc to);
/* Shows no excerpt of the file at all: its text holds a secret whose place
 * is unknown (a values file that is not valid YAML). */
void ls_diags_hide(ls_diags *d, const char *file);
void ls_diag_add(ls_diags *d, ls_sev sev, ls_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ls_diag_error(d, loc, ...) ls_diag_add((d), LS_SEV_ERROR, (loc), __VA_ARGS__)
#define ls_diag_warning(d, loc, ...) ls_diag_add((d), LS_SEV_WARNING, (loc), __VA_ARGS__)
/* Sorts and prints; with `strict` warnings print as errors.  Returns the
 * number of errors (counting warnings under strict).  One pass: each
 * source's line table is built once, and the text goes out in large
 * writes (stderr is unbuffered), not a few bytes at a time. */
size_t ls_diags_print(ls_diags *d, FILE *out, bool strict, bool carets);

typedef struct ls_error {
    int code;       /* 0: no error */
    ls_loc loc;     /* where in the playbook, when known */
    char msg[1024];
} ls_error;

void ls_error_clear(ls_error *e);
/* Sets the error unless one is already set (first error wins). */
void ls_error_set(ls_error *e, ls_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "FILE:LINE:COL: msg" or just "msg"; into buf. */
const char *ls_error_format(const ls_error *e, char *buf, size_t buflen);

/* OUT OF MEMORY -- one policy, here.  Code that can return an error does
 * so ("...: out of memory", and the caller's usual exit).  Where it cannot
 * (a value, a loader table, a secret that must not be forgotten), it calls
 * ls_oom(): "lockstep: out of memory" on stderr and the process ends at
 * once with ls_oom_exit_code, without unwinding.  That code is
 * LS_EXIT_USAGE (2: nothing ran) until a run has its journal, and
 * LS_EXIT_HALTED (3) from then on: every journal line is written before
 * the engine acts on it, so the run resumes like an interrupted one.  Once
 * run_finished is in the journal it is the run's own exit code (0 or 1).
 * tests/fault/ fails each allocation in turn to prove both paths. */
extern int ls_oom_exit_code;
_Noreturn void ls_oom(void);
/* p, or ls_oom() when p is NULL: for the allocations that cannot fail. */
void *ls_oom_check(void *p);

#endif
