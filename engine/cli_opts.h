/*
 * The options every playbook command shares (SPEC 4):
 *     PLAYBOOK [--env NAME] [--values FILE]... [--set K=V]... [--strict]
 * parsed into an ls_load_opts.  A command loops over argv and offers each
 * argument to ls_cli_opts_take first; what it does not take is the
 * command's own.  Usage errors are printed here as "lockstep CMD: ...".
 */
#ifndef LS_CLI_OPTS_H
#define LS_CLI_OPTS_H

#include <stdbool.h>
#include <stdio.h>
#include "playbook.h"

typedef struct ls_bundle ls_bundle;

typedef struct ls_cli_opts {
    ls_load_opts load;  /* path, env_name, values, sets point into argv */
    bool strict;        /* warnings are errors */
    const char *trust;  /* --trust KEY.pem: a bundle must be signed with it */
    const char *given;  /* the PLAYBOOK argument as given (a bundle's path) */
    ls_bundle *bundle;  /* PLAYBOOK was a bundle: checked and extracted; load.path is inside it */
    const char **values; size_t nvalues;
    const char **sets; size_t nsets;
} ls_cli_opts;

void ls_cli_opts_init(ls_cli_opts *o);
void ls_cli_opts_free(ls_cli_opts *o);
/* Takes argv[*i] (and its argument) when it is one of the shared options or
 * the playbook path; advances *i past what it took.  Returns 1 when taken,
 * 0 when not ours, -1 on a usage error (printed). */
int ls_cli_opts_take(ls_cli_opts *o, const char *cmd, int argc, char **argv, int *i);
/* After the loop: the playbook path is required.  A bundle in its place
 * is opened here (bundle.h: every digest, and the signature when trust is
 * required, checked before anything else); load.path then names the
 * extracted playbook.  0 or -1 (printed). */
int ls_cli_opts_finish(ls_cli_opts *o, const char *cmd);
/* Loads with params checked (unless check_params is false), prints every
 * problem to `err` (sorted, with carets), and returns the playbook, or NULL
 * when there were errors (warnings count under --strict). */
ls_playbook *ls_cli_load(ls_cli_opts *o, bool check_params, ls_diags *d, FILE *err);
/* For a bundle: one line saying which, its manifest digest and signer. */
void ls_cli_bundle_note(const ls_cli_opts *o, FILE *out);

#endif
