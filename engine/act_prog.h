/*
 * Shared by the program-running action families kubectl and docker
 * (act_kubectl.c, act_docker.c): an argv under construction and one
 * helper that runs it through ls_proc_run and turns the outcome into a
 * status, an exec-shaped result and a message naming program and argv
 * (quoted and redacted).  Internal to those two files.
 */
#ifndef LS_ACT_PROG_H
#define LS_ACT_PROG_H

#include <stdbool.h>
#include <stddef.h>
#include <lockstep/value.h>
#include "proc.h"
#include "registry.h"
#include "scan.h"

/* Owned strings; `oom` remembers an allocation failure so callers check once. */
typedef struct ls_argv {
    char **v; /* NULL-terminated when n > 0 */
    size_t n, cap;
    bool oom;
} ls_argv;

void ls_argv_init(ls_argv *a);
void ls_argv_free(ls_argv *a);
void ls_argv_add(ls_argv *a, const char *s);
void ls_argv_addf(ls_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds every item of `list` (strings, numbers, bools rendered as text);
 * -1 with err naming `who` and `input` when an item is a list, map or null. */
int ls_argv_add_list(ls_argv *a, ls_value list, const char *who, const char *input, ls_error *err);

/* A string input, or NULL when absent or empty; -1 with err when present
 * but not a string. */
int ls_input_str(ls_value inputs, const char *name, const char *who, const char **out, ls_error *err);

/* "K=V" entries of a map input (NULL-terminated array, owned) */
int ls_env_entries(ls_value env, const char *who, char ***out, size_t *n, ls_error *err);
void ls_env_entries_free(char **e, size_t n);

/* Runs argv (with env_add, may be NULL) for action `who`, honouring the
 * call's deadline and cancel flag.  *result becomes the exec-shaped map
 * {exit_code, stdout, stderr, duration_ms, truncated}.  A non-zero exit is
 * a failure unless `nonzero_ok`; the caller can then inspect `keep` (may be
 * NULL; freed by the caller with ls_proc_result_free). */
ls_act_status ls_prog_run(const char *who, ls_call *call, const ls_argv *argv, char *const *env_add,
                          bool nonzero_ok, ls_value *result, ls_error *err, ls_proc_result *keep);
/* The same, with every byte of output fed to `scan` (may be NULL), whose
 * matched/count/matches then join the result. */
ls_act_status ls_prog_run_scan(const char *who, ls_call *call, const ls_argv *argv, char *const *env_add,
                               bool nonzero_ok, ls_scanner *scan, ls_value *result, ls_error *err,
                               ls_proc_result *keep);
/* The call's `scan` input as a scanner (*sc NULL when absent; *own the
 * patterns compiled at run time, to free).  0, or -1 with err. */
int ls_prog_scanner(const char *who, ls_call *call, ls_scan **own, ls_scanner **sc, ls_error *err);

#endif
