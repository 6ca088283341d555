/*
 * Release bundles (docs/releases.md): a .tar.gz of a playbook, the files it
 * references, its environments and its scenario tests, with a manifest
 * (lockstep-bundle.json: SHA-256 and size of every file, the playbook's name
 * and release block, the lockstep version) and, when signed, an Ed25519
 * signature over the manifest (lockstep-bundle.sig, OpenSSL's libcrypto).
 *
 * Opening a bundle checks everything before anything runs: the archive
 * (tar.h: hostile input, bounded; no path escapes it), every digest, that
 * the file set is exactly the manifest's, and -- when trust is required by
 * --trust KEY.pem or a `trust:` entry in the values -- the signature.  Then
 * the files are written into a fresh private directory, which closing the
 * bundle removes.  Any failure is reported on stderr as
 * "lockstep CMD: bundle PATH: what failed" and the caller exits 2.
 */
#ifndef LS_BUNDLE_H
#define LS_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#define LS_BUNDLE_MANIFEST "lockstep-bundle.json"
#define LS_BUNDLE_SIGNATURE "lockstep-bundle.sig"

typedef struct ls_bundle ls_bundle;

/* What `run` journals and `status` shows about the bundle a run came from. */
typedef struct ls_bundle_info {
    const char *archive;          /* the path given */
    char manifest_sha256[65];     /* of the manifest's bytes */
    const char *signer;           /* "ed25519:HEX" (the key's SHA-256), or NULL when unsigned */
    bool verified;                /* the signature was checked against a trusted key */
    const char *trusted_by;       /* where the trust came from ("--trust K.pem", a values file), or NULL */
} ls_bundle_info;

/* Whether `path` names a bundle rather than a playbook: a .tar.gz or .tgz
 * name, or a file starting with gzip's magic bytes. */
bool ls_bundle_is(const char *path);

/* Opens, checks and extracts a bundle.  `trust`: a public key (PEM) the
 * signature must verify with, or NULL; `env_name` and `values` are the
 * command's --env and --values, read for `trust:` entries.  NULL after
 * printing what failed. */
ls_bundle *ls_bundle_open(const char *archive, const char *trust, const char *env_name,
                          const char *const *values, size_t nvalues, const char *cmd);
const char *ls_bundle_playbook(const ls_bundle *b);     /* the extracted playbook's path */
const char *ls_bundle_display(const ls_bundle *b);      /* "ARCHIVE!PLAYBOOK", for diagnostics */
/* The extracted scenario tests (tests/ *.yaml), sorted. */
size_t ls_bundle_tests(const ls_bundle *b, const char *const **paths);
const ls_bundle_info *ls_bundle_get_info(const ls_bundle *b);
/* The bundle this process opened last and has not closed (for run_started),
 * or NULL. */
const ls_bundle_info *ls_bundle_current(void);
void ls_bundle_close(ls_bundle *b); /* removes the extracted files; NULL is fine */

/* `lockstep test` arguments: every bundle among files[0..n) is opened
 * (checked as above, with `trust`) and stands for its scenario tests.  The
 * new list (malloc'd; its strings borrowed) with *nout, and the bundles to
 * close in *opened; NULL after printing what failed. */
const char **ls_bundle_expand_tests(const char *const *files, size_t n, const char *trust, size_t *nout,
                                    ls_bundle ***opened, size_t *nopened);

#endif
