/*
 * `lockstep bundle PLAYBOOK -o FILE.tar.gz [--sign KEY.pem]` (bundle.h):
 * what goes in, the manifest, the signature.
 *
 * In the bundle, every path is relative to the bundle's root: the
 * playbook's directory, or, when it runs sub-playbooks that lie outside
 * it (../lib/backup.yaml), the closest directory that holds them all:
 *   PLAYBOOK                 the playbook itself (DIR/PLAYBOOK below such a root;
 *                            environments/ and tests/ are then DIR/...)
 *   environments/NAME.yaml   the environments beside it (so --env works)
 *   tests/NAME.yaml          the scenario tests whose `playbook:` is it
 *   ...                      every file a string of the playbook or of a
 *                            bundled YAML file names (relative to the
 *                            playbook's directory or to the current one)
 *                            that lies inside the playbook's directory:
 *                            sub-playbooks, .env.example files, ...
 *   lockstep-bundle.json     the manifest
 *   lockstep-bundle.sig      with --sign
 * A named file outside the playbook's directory is not bundled (a note
 * says so): the bundle must not reach into the rest of the machine.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lockstep/value.h>
#include "bundle.h"
#include "bundle_int.h"
#include "cli.h"
#include "playbook.h"
#include "sha256.h"
#include "tar.h"
#include "yaml_doc.h"

#define MAX_FILE (64u * 1024u * 1024u)

typedef struct pick {
    char *rel;   /* path in the bundle */
    char *abs;   /* real path on disk */
    bool scan;   /* a YAML file whose strings may name more files */
} pick;

typedef struct picks {
    pick *v;
    size_t n;
    const char *root; /* realpath of the bundle's root, with no trailing '/' */
    size_t rootlen;
    const char *pbdir; /* realpath of the playbook's directory */
} picks;

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && strcmp(s + n - k, suf) == 0;
}

static bool is_yaml(const char *s)
{
    return has_suffix(s, ".yaml") || has_suffix(s, ".yml");
}

/* Adds the file at `path` when it is a regular file inside the root; its
 * bundle path is its real path below the root.  1 added, 0 already there
 * or not a file, -1 outside the root (`why` set). */
static int add(picks *p, const char *path, bool scan)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (strncmp(real, p->root, p->rootlen) != 0 || real[p->rootlen] != '/')
        return -1;
    const char *rel = real + p->rootlen + 1;
    if (!ls_tar_path_ok(rel, NULL, 0) || strcmp(rel, LS_BUNDLE_MANIFEST) == 0 || strcmp(rel, LS_BUNDLE_SIGNATURE) == 0)
        return 0;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].rel, rel) == 0)
            return 0;
    if (p->n >= LS_TAR_MAX_ENTRIES - 2)
        return 0;
    pick *nv = realloc(p->v, (p->n + 1) * sizeof *nv);
    if (!nv)
        ls_oom();
    p->v = nv;
    p->v[p->n].rel = strdup(rel);
    p->v[p->n].abs = strdup(real);
    p->v[p->n].scan = scan && is_yaml(rel);
    if (!p->v[p->n].rel || !p->v[p->n].abs)
        ls_oom();
    p->n++;
    return 1;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (uintmax_t)st.st_size > MAX_FILE) {
        snprintf(err, errlen, "%s: larger than 64 MiB", path);
        fclose(f);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b)
        ls_oom();
    for (;;) {
        if (n == cap) {
            if (cap > MAX_FILE) {
                snprintf(err, errlen, "%s: larger than 64 MiB", path);
                free(b);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb)
                ls_oom();
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read %s", path);
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

/* A string that may name a file: short, one line, no template, no URL. */
static bool maybe_path(const ls_ynode *n)
{
    if (n->kind != LS_Y_SCALAR || n->len == 0 || n->len > 1024 || n->str[0] == '/')
        return false;
    return !strchr(n->str, '\n') && !strstr(n->str, "${{") && !strstr(n->str, "://");
}

static void scan_node(picks *p, const ls_ynode *n, const char *dir, int depth, bool *outside)
{
    if (!n || depth > 64)
        return;
    if (n->kind == LS_Y_SCALAR) {
        if (!maybe_path(n))
            return;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, n->str);
        int r = add(p, path, true);
        if (r == 0)
            r = add(p, n->str, true); /* relative to the current directory */
        if (r < 0 && !*outside) {
            fprintf(stderr, "lockstep bundle: note: '%s' names a file outside the playbook's directory; "
                    "not bundled\n", n->str);
            *outside = true;
        }
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        scan_node(p, n->items[i], dir, depth + 1, outside);
}

/* Every YAML file picked so far (and those it adds) is read for names. */
static void scan_all(picks *p)
{
    bool outside = false;
    for (size_t i = 0; i < p->n; i++) {
        if (!p->v[i].scan)
            continue;
        char err[512];
        size_t len;
        char *text = read_file(p->v[i].abs, &len, err, sizeof err);
        if (!text)
            continue;
        ls_diags d;
        ls_diags_init(&d);
        ls_ynode *root = ls_yaml_parse(text, len, ls_diags_source(&d, p->v[i].abs, text, len), &d);
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", p->v[i].abs);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        scan_node(p, root, dir, 0, &outside);
        ls_ynode_free(root);
        ls_diags_free(&d);
        free(text);
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .yaml / .yml files of root/sub, sorted (tests: only this playbook's). */
static void add_dir(picks *p, const char *sub, const char *playbook_real, bool tests)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", p->pbdir, sub);
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && n < LS_TAR_MAX_ENTRIES) {
        if (de->d_name[0] == '.' || !is_yaml(de->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            ls_oom();
        names = nn;
        names[n] = strdup(de->d_name);
        if (!names[n])
            ls_oom();
        n++;
    }
    closedir(dh);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bool take = true;
        if (tests) {
            /* Only scenarios of this playbook: `playbook:` resolves to it. */
            take = false;
            char err[256];
            size_t len;
            char *text = read_file(path, &len, err, sizeof err);
            if (text) {
                ls_diags d;
                ls_diags_init(&d);
                ls_ynode *root = ls_yaml_parse(text, len, ls_diags_source(&d, path, text, len), &d);
                const ls_ynode *pbn = root && root->kind == LS_Y_MAP ? ls_ymap_get(root, "playbook") : NULL;
                if (pbn && pbn->kind == LS_Y_SCALAR) {
                    char target[PATH_MAX * 2], real[PATH_MAX];
                    if (pbn->str[0] == '/')
                        snprintf(target, sizeof target, "%s", pbn->str);
                    else
                        snprintf(target, sizeof target, "%s/%s", dir, pbn->str);
                    take = realpath(target, real) && strcmp(real, playbook_real) == 0;
                }
                ls_ynode_free(root);
                ls_diags_free(&d);
                free(text);
            }
        }
        if (take)
            add(p, path, !tests);
        free(names[i]);
    }
    free(names);
}

static int cmp_pick(const void *a, const void *b)
{
    return strcmp(((const pick *)a)->rel, ((const pick *)b)->rel);
}

static const char bundle_usage[] =
    "usage: lockstep bundle PLAYBOOK -o FILE.tar.gz [--sign KEY.pem]\n"
    "\n"
    "Packs a release bundle: the playbook, the files it names inside its directory\n"
    "(sub-playbooks, example env files), environments/*.yaml beside it, its scenario\n"
    "tests (tests/*.yaml), and lockstep-bundle.json, the manifest (SHA-256 of every\n"
    "file, the playbook's name and release block, the lockstep version).\n"
    "validate, plan, run and test take the bundle in place of a playbook and check\n"
    "every digest first.\n"
    "\n"
    "  -o FILE        the bundle to write (.tar.gz)\n"
    "  --sign KEY     sign the manifest with this Ed25519 private key (PEM; make one with\n"
    "                 openssl genpkey -algorithm ed25519 -out release.pem)\n"
    "\n"
    "exit: 0 written, 2 invalid playbook, unreadable key or usage error\n";

int ls_cmd_bundle(int argc, char **argv)
{
    const char *playbook = NULL, *out = NULL, *sign = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(bundle_usage, stdout);
            return 0;
        }
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--sign") == 0) && i + 1 < argc) {
            if (strcmp(a, "--sign") == 0)
                sign = argv[++i];
            else
                out = argv[++i];
        } else if (strncmp(a, "--sign=", 7) == 0) {
            sign = a + 7;
        } else if (strncmp(a, "--output=", 9) == 0) {
            out = a + 9;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lockstep bundle: unknown option '%s' (see lockstep bundle --help)\n", a);
            return 2;
        } else if (playbook) {
            fprintf(stderr, "lockstep bundle: one playbook at a time\n");
            return 2;
        } else {
            playbook = a;
        }
    }
    if (!playbook || !out) {
        fprintf(stderr, "lockstep bundle: %s (see lockstep bundle --help)\n",
                !playbook ? "missing PLAYBOOK" : "missing -o FILE.tar.gz");
        return 2;
    }
    char err[1024], fp[LS_BUNDLE_FP_LEN] = "";
    if (sign && ls_bundle_key_fingerprint(sign, true, fp, err, sizeof err) != 0) {
        fprintf(stderr, "lockstep bundle: --sign %s\n", err);
        return 2;
    }

    /* The playbook must be valid (params are the operator's: not checked). */
    ls_load_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.path = playbook;
    ls_diags d;
    ls_diags_init(&d);
    ls_playbook *pb = ls_playbook_load(&lo, &d);
    if (ls_diags_print(&d, stderr, false, true) || !pb) {
        fprintf(stderr, "lockstep bundle: %s is invalid; no bundle written\n", playbook);
        ls_playbook_free(pb);
        ls_diags_free(&d);
        return 2;
    }

    int rc = 2;
    char real[PATH_MAX], root[PATH_MAX], pbdir[PATH_MAX];
    picks p;
    memset(&p, 0, sizeof p);
    ls_tar_entry *ents = NULL;
    size_t nents = 0;
    char *manifest = NULL, *sigtext = NULL;
    ls_value man = ls_map_new();
    if (!realpath(playbook, real)) {
        fprintf(stderr, "lockstep bundle: %s: %s\n", playbook, strerror(errno));
        goto out;
    }
    snprintf(root, sizeof root, "%s", real);
    *strrchr(root, '/') = '\0';
    snprintf(pbdir, sizeof pbdir, "%s", root);
    /* The root holds every sub-playbook too: the common ancestor. */
    for (size_t i = 0; i < pb->nstates; i++) {
        char sr[PATH_MAX];
        if (pb->states[i].sub == NULL || !realpath(pb->states[i].sub->path, sr))
            continue;
        size_t k = 0;
        while (root[k] && root[k] == sr[k])
            k++;
        if (!(root[k] == '\0' && sr[k] == '/')) { /* not below root: cut root back to a common '/' */
            while (k > 0 && root[k] != '/')
                k--;
            root[k] = '\0';
        }
    }
    p.root = root[0] ? root : "";
    p.rootlen = strlen(p.root);
    p.pbdir = pbdir;
    add(&p, real, true);
    add_dir(&p, "environments", real, false);
    scan_all(&p);
    add_dir(&p, "tests", real, true);
    const char *pb_rel = p.v[0].rel;
    qsort(p.v + 1, p.n - 1, sizeof *p.v, cmp_pick);

    /* Read every file; the manifest lists them with their digests. */
    ents = calloc(p.n + 2, sizeof *ents);
    if (!ents)
        ls_oom();
    nents = 1 + (sign ? 1 : 0);
    ls_value files = ls_list_new();
    uint64_t total = 0;
    for (size_t i = 0; i < p.n; i++) {
        size_t len = 0;
        char *data = read_file(p.v[i].abs, &len, err, sizeof err);
        if (!data) {
            fprintf(stderr, "lockstep bundle: %s\n", err);
            ls_value_free(files);
            goto out;
        }
        total += len;
        if (total > LS_TAR_MAX_RAW / 2) {
            fprintf(stderr, "lockstep bundle: the files add up to more than 128 MiB\n");
            free(data);
            ls_value_free(files);
            goto out;
        }
        ls_tar_entry *e = &ents[nents++];
        e->path = p.v[i].rel;
        e->data = (unsigned char *)data;
        e->size = len;
        char h[65];
        ls_sha256_hex(data, len, h);
        ls_value f = ls_map_new();
        ls_map_set(&f, "path", ls_string(e->path));
        ls_map_set(&f, "size", ls_int((int64_t)len));
        ls_map_set(&f, "sha256", ls_string(h));
        ls_list_push(&files, f);
    }
    ls_map_set(&man, "lockstep_bundle", ls_int(1));
    ls_map_set(&man, "name", ls_string(pb->name));
    ls_map_set(&man, "playbook", ls_string(pb_rel));
    ls_map_set(&man, "release", ls_value_copy(pb->release));
    ls_map_set(&man, "lockstep_version", ls_string(LOCKSTEP_VERSION));
    if (sign)
        ls_map_set(&man, "signer", ls_string(fp));
    ls_map_set(&man, "files", files);
    size_t mlen = 0;
    char *mj = ls_value_to_json(man, &mlen);
    manifest = malloc(mlen + 2);
    if (!mj || !manifest)
        ls_oom();
    memcpy(manifest, mj, mlen);
    manifest[mlen++] = '\n';
    free(mj);
    static char manifest_name[] = LS_BUNDLE_MANIFEST, signature_name[] = LS_BUNDLE_SIGNATURE;
    ents[0].path = manifest_name;
    ents[0].data = (unsigned char *)manifest;
    ents[0].size = mlen;
    if (sign) {
        char sig[129];
        if (ls_bundle_sign(sign, (const unsigned char *)manifest, mlen, sig, err, sizeof err) != 0) {
            fprintf(stderr, "lockstep bundle: %s\n", err);
            goto out;
        }
        ls_value s = ls_map_new();
        ls_map_set(&s, "algorithm", ls_string("ed25519"));
        ls_map_set(&s, "signer", ls_string(fp));
        ls_map_set(&s, "signature", ls_string(sig));
        size_t sl = 0;
        char *sj = ls_value_to_json(s, &sl);
        ls_value_free(s);
        sigtext = malloc(sl + 2);
        if (!sj || !sigtext)
            ls_oom();
        memcpy(sigtext, sj, sl);
        sigtext[sl++] = '\n';
        free(sj);
        ents[1].path = signature_name;
        ents[1].data = (unsigned char *)sigtext;
        ents[1].size = sl;
    }
    if (ls_tar_gz_write(out, ents, nents, err, sizeof err) != 0) {
        fprintf(stderr, "lockstep bundle: %s\n", err);
        goto out;
    }
    char mh[65];
    ls_sha256_hex(manifest, mlen, mh);
    char rel[512] = "";
    ls_value ver = ls_map_get(pb->release, "version");
    if (ver.kind == LS_STRING)
        snprintf(rel, sizeof rel, " (release %s)", ls_str_ptr(ver));
    printf("%s: %s%s, %zu files, manifest sha256 %s%s%s\n", out, pb->name, rel, p.n, mh, sign ? ", signed by " : "",
           sign ? fp : "");
    for (size_t i = 0; i < p.n; i++)
        printf("  %s\n", p.v[i].rel);
    rc = fflush(stdout) == 0 ? 0 : 2;
out:
    for (size_t i = (size_t)(sign ? 2 : 1); i < nents; i++)
        free(ents[i].data);
    free(ents);
    free(manifest);
    free(sigtext);
    ls_value_free(man);
    for (size_t i = 0; i < p.n; i++) {
        free(p.v[i].rel);
        free(p.v[i].abs);
    }
    free(p.v);
    ls_playbook_free(pb);
    ls_diags_free(&d);
    return rc;
}
