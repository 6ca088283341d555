/*
 * Shared parsing of the playbook options (cli_opts.h).
 */
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cli_opts.h"
#include "diag.h"

void ls_cli_opts_init(ls_cli_opts *o)
{
    memset(o, 0, sizeof *o);
}

void ls_cli_opts_free(ls_cli_opts *o)
{
    ls_bundle_close(o->bundle);
    free(o->values);
    free(o->sets);
    memset(o, 0, sizeof *o);
}

static void ls_push(const char ***v, size_t *n, const char *s)
{
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        ls_oom();
    nv[(*n)++] = s;
    *v = nv;
}

/* "--opt VALUE" or "--opt=VALUE": the value, or NULL when this is not --opt. */
static const char *ls_opt_value(const char *cmd, const char *opt, int argc, char **argv, int *i, int *bad)
{
    const char *a = argv[*i];
    size_t ol = strlen(opt);
    if (strncmp(a, opt, ol) != 0)
        return NULL;
    if (a[ol] == '=') {
        (*i)++;
        return a + ol + 1;
    }
    if (a[ol] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "lockstep %s: %s needs a value\n", cmd, opt);
        *bad = 1;
        return NULL;
    }
    *i += 2;
    return argv[*i - 1];
}

int ls_cli_opts_take(ls_cli_opts *o, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    int bad = 0;
    const char *v;
    if (strcmp(a, "--strict") == 0) {
        o->strict = true;
        (*i)++;
        return 1;
    }
    if ((v = ls_opt_value(cmd, "--env", argc, argv, i, &bad))) {
        if (o->load.env_name) {
            fprintf(stderr, "lockstep %s: --env given twice\n", cmd);
            return -1;
        }
        o->load.env_name = v;
        return 1;
    }
    if (bad)
        return -1;
    if ((v = ls_opt_value(cmd, "--trust", argc, argv, i, &bad))) {
        o->trust = v;
        return 1;
    }
    if (bad)
        return -1;
    if ((v = ls_opt_value(cmd, "--values", argc, argv, i, &bad))) {
        ls_push(&o->values, &o->nvalues, v);
        o->load.values = o->values;
        o->load.nvalues = o->nvalues;
        return 1;
    }
    if (bad)
        return -1;
    if ((v = ls_opt_value(cmd, "--set", argc, argv, i, &bad))) {
        if (!strchr(v, '=') || v[0] == '=') {
            fprintf(stderr, "lockstep %s: --set '%s': expected NAME=VALUE\n", cmd, v);
            return -1;
        }
        ls_push(&o->sets, &o->nsets, v);
        o->load.sets = o->sets;
        o->load.nsets = o->nsets;
        return 1;
    }
    if (bad)
        return -1;
    if (a[0] == '-' && a[1] != '\0')
        return 0;
    if (o->load.path) {
        fprintf(stderr, "lockstep %s: unexpected argument '%s' (one playbook at a time)\n", cmd, a);
        return -1;
    }
    o->load.path = a;
    (*i)++;
    return 1;
}

int ls_cli_opts_finish(ls_cli_opts *o, const char *cmd)
{
    if (!o->load.path) {
        fprintf(stderr, "lockstep %s: missing PLAYBOOK (see lockstep %s --help)\n", cmd, cmd);
        return -1;
    }
    o->given = o->load.path;
    if (ls_bundle_is(o->load.path)) {
        o->bundle = ls_bundle_open(o->load.path, o->trust, o->load.env_name, o->values, o->nvalues, cmd);
        if (!o->bundle)
            return -1;
        o->load.path = ls_bundle_playbook(o->bundle);
        o->load.display_path = ls_bundle_display(o->bundle);
    } else if (o->trust) {
        fprintf(stderr, "lockstep %s: --trust checks a bundle's signature, and %s is not a bundle\n", cmd,
                o->load.path);
        return -1;
    }
    return 0;
}

ls_playbook *ls_cli_load(ls_cli_opts *o, bool check_params, ls_diags *d, FILE *err)
{
    o->load.check_params = check_params;
    ls_playbook *pb = ls_playbook_load(&o->load, d);
    size_t errors = ls_diags_print(d, err, o->strict, true);
    if (pb && errors) {
        ls_playbook_free(pb);
        pb = NULL;
    }
    return pb;
}

void ls_cli_bundle_note(const ls_cli_opts *o, FILE *out)
{
    if (!o->bundle)
        return;
    const ls_bundle_info *bi = ls_bundle_get_info(o->bundle);
    fprintf(out, "bundle %s: every digest matches the manifest (sha256 %s); ", bi->archive, bi->manifest_sha256);
    if (!bi->signer)
        fputs("not signed\n", out);
    else if (bi->verified)
        fprintf(out, "signed by %s, verified (%s)\n", bi->signer, bi->trusted_by ? bi->trusted_by : "trusted");
    else
        fprintf(out, "signed by %s, NOT verified (give --trust KEY.pem)\n", bi->signer);
}
