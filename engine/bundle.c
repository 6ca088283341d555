/*
 * Opening release bundles (bundle.h): check, then extract.  The order is
 * the contract: archive -> manifest -> every digest and the exact file set
 * -> the signature when trust is required -> files on disk.  Nothing from
 * the bundle is written, parsed as a playbook or run before all of that
 * passed.  Signing and the Ed25519 helpers shared with `lockstep bundle`
 * (cli_bundle.c) are here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>

#include <lockstep/value.h>
#include "bundle.h"
#include "file.h"
#include "bundle_int.h"
#include "diag.h"
#include "plugin.h"
#include "sha256.h"
#include "tar.h"
#include "yaml_doc.h"

struct ls_bundle {
    ls_bundle_info info;
    char *archive;
    char *dir;              /* the private extraction directory */
    char *playbook;         /* dir/PLAYBOOK */
    char *display;          /* ARCHIVE!PLAYBOOK */
    char **created;         /* files and directories made, in creation order */
    size_t ncreated;
    char **tests;
    size_t ntests;
    char *signer;
    char *trusted_by;
};

static const ls_bundle *current;

const ls_bundle_info *ls_bundle_current(void)
{
    return current ? &current->info : NULL;
}

const ls_bundle_info *ls_bundle_get_info(const ls_bundle *b)
{
    return &b->info;
}

const char *ls_bundle_playbook(const ls_bundle *b)
{
    return b->playbook;
}

const char *ls_bundle_display(const ls_bundle *b)
{
    return b->display;
}

size_t ls_bundle_tests(const ls_bundle *b, const char *const **paths)
{
    *paths = (const char *const *)b->tests;
    return b->ntests;
}

bool ls_bundle_is(const char *path)
{
    size_t n = strlen(path);
    if ((n > 7 && strcmp(path + n - 7, ".tar.gz") == 0) || (n > 4 && strcmp(path + n - 4, ".tgz") == 0))
        return true;
    /* Never wait on a FIFO or read a device: only a regular file can be a
     * bundle (the reader refuses the rest with its own message, file.h). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return false;
    struct stat sb;
    unsigned char m[2] = {0, 0};
    ssize_t r = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, m, 2) : -1;
    close(fd);
    return r == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* ---- Ed25519, through lockstep-ed25519.so (bundle_int.h) ---------------- */

/* The plugin beside the executable, or in ../lib/lockstep/ (installed), as
 * plugin.c finds the action plugins; loaded once. */
static const ls_ed25519 *ed25519(char *err, size_t errlen)
{
    static const ls_ed25519 *ed;
    if (ed == NULL)
        ed = ls_plugin_table("ed25519", "lockstep_ed25519", "signatures need", err, errlen);
    return ed;
}

int ls_bundle_key_fingerprint(const char *path, bool priv, char out[LS_BUNDLE_FP_LEN], char *err, size_t errlen)
{
    const ls_ed25519 *e = ed25519(err, errlen);
    return e ? e->fingerprint(path, priv, out, err, errlen) : -1;
}

int ls_bundle_sign(const char *key_path, const unsigned char *msg, size_t len, char sig_hex[129], char *err,
                   size_t errlen)
{
    const ls_ed25519 *e = ed25519(err, errlen);
    return e ? e->sign(key_path, msg, len, sig_hex, err, errlen) : -1;
}

int ls_bundle_verify(const char *pub_path, const unsigned char *msg, size_t len, const char *sig_hex, char *err,
                     size_t errlen)
{
    const ls_ed25519 *e = ed25519(err, errlen);
    return e ? e->verify(pub_path, msg, len, sig_hex, err, errlen) : -1;
}

/* ---- checking ----------------------------------------------------------- */

static void fail(const char *cmd, const char *archive, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(const char *cmd, const char *archive, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lockstep %s: bundle %s: %s\n", cmd, archive, msg);
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* The `trust:` entry of a YAML values document, or NULL (borrowed). */
static const char *yaml_trust(const char *text, size_t len, const char *name, ls_diags *d, ls_ynode **root)
{
    *root = ls_yaml_parse(text, len, ls_diags_source(d, name, text, len), d);
    if (!*root || (*root)->kind != LS_Y_MAP)
        return NULL;
    const ls_ynode *t = ls_ymap_get(*root, "trust");
    return t && t->kind == LS_Y_SCALAR && t->len ? t->str : NULL;
}

/* A values file, as every input file is read (file.h): never a FIFO. */
static char *read_small(const char *path, size_t *len)
{
    char *text = NULL, why[256];
    return ls_file_read(path, 16u << 20, &text, len, why, sizeof why) == 0 ? text : NULL;
}

/* Which key must have signed the bundle: --trust, else the first `trust:`
 * of a --values file (relative to that file), else the `trust:` of the
 * bundle's environments/NAME.yaml, which must be an absolute path: a key
 * inside the bundle cannot vouch for the bundle.  0 with *key (malloc'd,
 * or NULL: no trust required), or -1 after printing. */
static int trust_key(const ls_tar *t, const char *pbdir, const char *trust, const char *env_name,
                     const char *const *values, size_t nvalues, const char *cmd, const char *archive, char **key,
                     char **from)
{
    *key = *from = NULL;
    if (trust) {
        *key = strdup(trust);
        size_t n = strlen(trust) + 16;
        *from = malloc(n);
        if (!*key || !*from)
            ls_oom();
        snprintf(*from, n, "--trust %s", trust);
        return 0;
    }
    for (size_t i = 0; i < nvalues; i++) {
        size_t len = 0;
        char *text = read_small(values[i], &len);
        if (!text)
            continue; /* the loader reports an unreadable values file */
        ls_diags d;
        ls_diags_init(&d);
        ls_ynode *root = NULL;
        const char *k = yaml_trust(text, len, values[i], &d, &root);
        if (k) {
            const char *slash = strrchr(values[i], '/');
            size_t n = strlen(k) + strlen(values[i]) + 2;
            *key = malloc(n);
            if (!*key)
                ls_oom();
            if (k[0] != '/' && slash)
                snprintf(*key, n, "%.*s/%s", (int)(slash - values[i]), values[i], k);
            else
                snprintf(*key, n, "%s", k);
            n = strlen(values[i]) + 32;
            *from = malloc(n);
            if (!*from)
                ls_oom();
            snprintf(*from, n, "trust: in %s", values[i]);
        }
        ls_ynode_free(root);
        ls_diags_free(&d);
        free(text);
        if (*key)
            return 0;
    }
    if (env_name) {
        char p[300];
        snprintf(p, sizeof p, "%senvironments/%s.yaml", pbdir, env_name);
        const ls_tar_entry *e = ls_tar_find(t, p);
        if (!e) {
            snprintf(p, sizeof p, "%senvironments/%s.yml", pbdir, env_name);
            e = ls_tar_find(t, p);
        }
        if (e) {
            char *text = malloc(e->size + 1);
            if (!text)
                ls_oom();
            if (e->size)
                memcpy(text, e->data, e->size);
            text[e->size] = '\0';
            ls_diags d;
            ls_diags_init(&d);
            ls_ynode *root = NULL;
            const char *k = yaml_trust(text, e->size, p, &d, &root);
            int rc = 0;
            if (k && k[0] != '/') {
                fail(cmd, archive, "%s: trust: '%s' must be an absolute path (a key inside the bundle cannot "
                     "vouch for the bundle)", p, k);
                rc = -1;
            } else if (k) {
                *key = strdup(k);
                size_t n = strlen(p) + 32;
                *from = malloc(n);
                if (!*key || !*from)
                    ls_oom();
                snprintf(*from, n, "trust: in the bundle's %s", p);
            }
            ls_ynode_free(root);
            ls_diags_free(&d);
            free(text);
            return rc;
        }
    }
    return 0;
}

/* Checks the manifest against the archive; 0, or -1 after printing. */
static int check_files(const ls_tar *t, ls_value man, const char *cmd, const char *archive)
{
    ls_value files = ls_map_get(man, "files");
    size_t n = ls_list_len(files);
    for (size_t i = 0; i < n; i++) {
        ls_value f = ls_list_at(files, i);
        ls_value p = ls_map_get(f, "path"), h = ls_map_get(f, "sha256"), sz = ls_map_get(f, "size");
        char why[96];
        if (p.kind != LS_STRING || h.kind != LS_STRING || !is_hex64(ls_str_ptr(h)) || sz.kind != LS_INT) {
            fail(cmd, archive, "%s: files[%zu] needs path, sha256 (64 hex digits) and size", LS_BUNDLE_MANIFEST, i);
            return -1;
        }
        const char *path = ls_str_ptr(p);
        if (!ls_tar_path_ok(path, why, sizeof why)) {
            fail(cmd, archive, "%s: file '%.200s': %s", LS_BUNDLE_MANIFEST, path, why);
            return -1;
        }
        if (strcmp(path, LS_BUNDLE_MANIFEST) == 0 || strcmp(path, LS_BUNDLE_SIGNATURE) == 0) {
            fail(cmd, archive, "%s lists itself or the signature", LS_BUNDLE_MANIFEST);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(ls_str_ptr(ls_map_get(ls_list_at(files, j), "path")), path) == 0) {
                fail(cmd, archive, "%s lists '%.200s' twice", LS_BUNDLE_MANIFEST, path);
                return -1;
            }
        const ls_tar_entry *e = ls_tar_find(t, path);
        if (!e) {
            fail(cmd, archive, "file '%.200s' is in the manifest but not in the bundle", path);
            return -1;
        }
        char got[65];
        ls_sha256_hex(e->data ? (const void *)e->data : "", e->size, got);
        if (strcmp(got, ls_str_ptr(h)) != 0 || (int64_t)e->size != sz.u.i) {
            fail(cmd, archive, "file '%.200s' does not match the manifest (sha256 %s, %zu bytes; the manifest says "
                 "%s, %lld bytes): it was changed after the bundle was made", path, got, e->size, ls_str_ptr(h),
                 (long long)sz.u.i);
            return -1;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        const char *path = t->e[i].path;
        if (strcmp(path, LS_BUNDLE_MANIFEST) == 0 || strcmp(path, LS_BUNDLE_SIGNATURE) == 0)
            continue;
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++)
            listed = strcmp(ls_str_ptr(ls_map_get(ls_list_at(files, j), "path")), path) == 0;
        if (!listed) {
            fail(cmd, archive, "file '%.200s' is in the bundle but not in the manifest", path);
            return -1;
        }
    }
    return 0;
}

/* The signature against the trusted key.  0, or -1 after printing. */
static int check_signature(const ls_tar *t, const ls_tar_entry *m, ls_value man, const char *key, const char *from,
                           const char *cmd, const char *archive, char **signer)
{
    const ls_tar_entry *s = ls_tar_find(t, LS_BUNDLE_SIGNATURE);
    ls_value sig = ls_null();
    char err[512];
    *signer = NULL;
    if (s) {
        if (!ls_value_from_json(s->data ? (const char *)s->data : "", s->size, &sig, err, sizeof err) ||
            sig.kind != LS_MAP || ls_map_get(sig, "signature").kind != LS_STRING ||
            ls_map_get(sig, "signer").kind != LS_STRING) {
            fail(cmd, archive, "%s is not a signature ({algorithm, signer, signature})", LS_BUNDLE_SIGNATURE);
            ls_value_free(sig);
            return -1;
        }
        const char *claimed = ls_str_ptr(ls_map_get(sig, "signer"));
        if (ls_map_get(man, "signer").kind != LS_STRING || strcmp(ls_str_ptr(ls_map_get(man, "signer")), claimed) != 0) {
            fail(cmd, archive, "the signature's signer (%.100s) is not the manifest's", claimed);
            ls_value_free(sig);
            return -1;
        }
        *signer = strdup(claimed);
        if (!*signer)
            ls_oom();
    }
    if (!key) {
        ls_value_free(sig);
        return 0;
    }
    if (!s) {
        fail(cmd, archive, "the bundle is not signed, but trust is required (%s)", from);
        return -1;
    }
    char fp[LS_BUNDLE_FP_LEN];
    int rc = 0;
    if (ls_bundle_key_fingerprint(key, false, fp, err, sizeof err) != 0) {
        fail(cmd, archive, "the trusted key (%s): %s", from, err);
        rc = -1;
    } else if (strcmp(fp, *signer) != 0) {
        fail(cmd, archive, "signed by %s, but the trusted key (%s) is %s", *signer, from, fp);
        rc = -1;
    } else {
        int v = ls_bundle_verify(key, m->data, m->size, ls_str_ptr(ls_map_get(sig, "signature")), err, sizeof err);
        if (v < 0)
            fail(cmd, archive, "the trusted key (%s): %s", from, err);
        else if (v == 0)
            fail(cmd, archive, "the signature does not verify with %s (%s): the manifest was changed after signing",
                 key, from);
        rc = v == 1 ? 0 : -1;
    }
    ls_value_free(sig);
    return rc;
}

/* ---- extracting -------------------------------------------------------- */

static void remember(ls_bundle *b, const char *path)
{
    char **nc = realloc(b->created, (b->ncreated + 1) * sizeof *nc);
    if (!nc)
        ls_oom();
    b->created = nc;
    b->created[b->ncreated] = strdup(path);
    if (!b->created[b->ncreated])
        ls_oom();
    b->ncreated++;
}

/* Writes one checked entry under b->dir, making its directories (0700).
 * Paths were checked (relative, no '..'), and every directory on the way
 * is one this process made in a fresh mkdtemp directory, so nothing can
 * lead outside it; O_EXCL|O_NOFOLLOW keeps it that way regardless. */
static int extract(ls_bundle *b, const ls_tar_entry *e, char *err, size_t errlen)
{
    size_t n = strlen(b->dir) + strlen(e->path) + 2;
    char *full = malloc(n);
    if (!full)
        ls_oom();
    snprintf(full, n, "%s/%s", b->dir, e->path);
    for (char *s = full + strlen(b->dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(full, 0700) == 0) {
            remember(b, full);
        } else {
            struct stat st;
            if (errno != EEXIST || lstat(full, &st) != 0 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "cannot make %s: %s", full, strerror(errno ? errno : ENOTDIR));
                free(full);
                return -1;
            }
        }
        *s = '/';
    }
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", full, strerror(errno));
        free(full);
        return -1;
    }
    remember(b, full);
    size_t off = 0;
    while (off < e->size) {
        ssize_t w = write(fd, e->data + off, e->size - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", full, strerror(errno));
            close(fd);
            free(full);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd);
    free(full);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ls_bundle_close(ls_bundle *b)
{
    if (!b)
        return;
    for (size_t i = b->ncreated; i-- > 0;) {
        struct stat st;
        if (lstat(b->created[i], &st) == 0 && S_ISDIR(st.st_mode))
            rmdir(b->created[i]);
        else
            unlink(b->created[i]);
        free(b->created[i]);
    }
    if (b->dir)
        rmdir(b->dir);
    for (size_t i = 0; i < b->ntests; i++)
        free(b->tests[i]);
    free(b->tests);
    free(b->created);
    free(b->archive);
    free(b->dir);
    free(b->playbook);
    free(b->display);
    free(b->signer);
    free(b->trusted_by);
    if (current == b)
        current = NULL;
    free(b);
}

ls_bundle *ls_bundle_open(const char *archive, const char *trust, const char *env_name,
                          const char *const *values, size_t nvalues, const char *cmd)
{
    ls_tar t;
    char err[1024];
    if (ls_tar_gz_read(archive, &t, err, sizeof err) != 0) {
        fail(cmd, archive, "%s", err);
        return NULL;
    }
    ls_bundle *b = calloc(1, sizeof *b);
    if (!b)
        ls_oom();
    b->archive = strdup(archive);
    if (!b->archive)
        ls_oom();
    b->info.archive = b->archive;
    ls_value man = ls_null();
    char *key = NULL, *from = NULL;
    const ls_tar_entry *m = ls_tar_find(&t, LS_BUNDLE_MANIFEST);
    if (!m) {
        fail(cmd, archive, "no %s: not a lockstep bundle", LS_BUNDLE_MANIFEST);
        goto bad;
    }
    if (!ls_value_from_json(m->data ? (const char *)m->data : "", m->size, &man, err, sizeof err) ||
        man.kind != LS_MAP) {
        fail(cmd, archive, "%s is not a JSON object%s%s", LS_BUNDLE_MANIFEST, man.kind == LS_MAP ? "" : ": ",
             man.kind == LS_MAP ? "" : err);
        goto bad;
    }
    ls_value fmt = ls_map_get(man, "lockstep_bundle"), pbp = ls_map_get(man, "playbook");
    if (fmt.kind != LS_INT || fmt.u.i != 1) {
        fail(cmd, archive, "%s: unsupported format (this lockstep reads lockstep_bundle: 1)", LS_BUNDLE_MANIFEST);
        goto bad;
    }
    if (ls_map_get(man, "files").kind != LS_LIST || pbp.kind != LS_STRING) {
        fail(cmd, archive, "%s needs playbook and files", LS_BUNDLE_MANIFEST);
        goto bad;
    }
    ls_sha256_hex(m->data ? (const void *)m->data : "", m->size, b->info.manifest_sha256);
    if (check_files(&t, man, cmd, archive) != 0)
        goto bad;
    if (!ls_tar_find(&t, ls_str_ptr(pbp))) {
        fail(cmd, archive, "the manifest's playbook '%.200s' is not in the bundle", ls_str_ptr(pbp));
        goto bad;
    }
    /* The playbook may lie below the bundle's root (when its sub-playbooks
     * lie beside its directory): environments/ and tests/ are beside it. */
    char pbdir[512] = "";
    const char *pslash = strrchr(ls_str_ptr(pbp), '/');
    if (pslash != NULL && (size_t)(pslash - ls_str_ptr(pbp)) + 2 <= sizeof pbdir)
        snprintf(pbdir, sizeof pbdir, "%.*s/", (int)(pslash - ls_str_ptr(pbp)), ls_str_ptr(pbp));
    size_t pbdl = strlen(pbdir);
    if (trust_key(&t, pbdir, trust, env_name, values, nvalues, cmd, archive, &key, &from) != 0)
        goto bad;
    if (check_signature(&t, m, man, key, from, cmd, archive, &b->signer) != 0)
        goto bad;
    b->info.signer = b->signer;
    b->info.verified = key != NULL;
    b->trusted_by = from;
    from = NULL;
    b->info.trusted_by = b->trusted_by;

    /* Everything checked: write the files into a private directory. */
    const char *tmp = getenv("TMPDIR");
    size_t dl = strlen(tmp && *tmp ? tmp : "/tmp") + 32;
    b->dir = malloc(dl);
    if (!b->dir)
        ls_oom();
    snprintf(b->dir, dl, "%s/lockstep-bundle.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(b->dir)) {
        fail(cmd, archive, "cannot make a directory to extract into (%s): %s", b->dir, strerror(errno));
        free(b->dir);
        b->dir = NULL;
        goto bad;
    }
    for (size_t i = 0; i < t.n; i++) {
        if (extract(b, &t.e[i], err, sizeof err) != 0) {
            fail(cmd, archive, "%s", err);
            goto bad;
        }
        if (strncmp(t.e[i].path, pbdir, pbdl) == 0 && strncmp(t.e[i].path + pbdl, "tests/", 6) == 0 &&
            !strchr(t.e[i].path + pbdl + 6, '/')) {
            size_t l = strlen(t.e[i].path);
            if ((l > 5 && strcmp(t.e[i].path + l - 5, ".yaml") == 0) || (l > 4 && strcmp(t.e[i].path + l - 4, ".yml") == 0)) {
                char **nt = realloc(b->tests, (b->ntests + 1) * sizeof *nt);
                if (!nt)
                    ls_oom();
                b->tests = nt;
                size_t n = strlen(b->dir) + l + 2;
                b->tests[b->ntests] = malloc(n);
                if (!b->tests[b->ntests])
                    ls_oom();
                snprintf(b->tests[b->ntests++], n, "%s/%s", b->dir, t.e[i].path);
            }
        }
    }
    if (b->ntests > 1)
        qsort(b->tests, b->ntests, sizeof *b->tests, cmp_str);
    size_t pl = strlen(b->dir) + ls_str_len(pbp) + 2;
    b->playbook = malloc(pl);
    if (!b->playbook)
        ls_oom();
    snprintf(b->playbook, pl, "%s/%s", b->dir, ls_str_ptr(pbp));
    pl = strlen(archive) + ls_str_len(pbp) + 2;
    b->display = malloc(pl);
    if (!b->display)
        ls_oom();
    snprintf(b->display, pl, "%s!%s", archive, ls_str_ptr(pbp));
    ls_value_free(man);
    free(key);
    ls_tar_free(&t);
    current = b;
    return b;
bad:
    ls_value_free(man);
    free(key);
    free(from);
    ls_tar_free(&t);
    ls_bundle_close(b);
    return NULL;
}

const char **ls_bundle_expand_tests(const char *const *files, size_t n, const char *trust, size_t *nout,
                                    ls_bundle ***opened, size_t *nopened)
{
    const char **out = NULL;
    size_t k = 0;
    *opened = NULL;
    *nopened = 0;
    for (size_t i = 0; i < n; i++) {
        const char *const *tests = &files[i];
        size_t nt = 1;
        if (ls_bundle_is(files[i])) {
            ls_bundle *b = ls_bundle_open(files[i], trust, NULL, NULL, 0, "test");
            if (b) {
                ls_bundle **no = realloc(*opened, (*nopened + 1) * sizeof *no);
                if (!no)
                    ls_oom();
                *opened = no;
                no[(*nopened)++] = b;
                nt = ls_bundle_tests(b, &tests);
                if (nt == 0)
                    fprintf(stderr, "lockstep test: bundle %s: no scenario tests in it\n", files[i]);
            }
            if (!b || nt == 0) {
                free(out);
                for (size_t j = 0; j < *nopened; j++)
                    ls_bundle_close((*opened)[j]);
                free(*opened);
                *opened = NULL;
                *nopened = 0;
                return NULL;
            }
        } else if (trust) {
            fprintf(stderr, "lockstep test: --trust checks a bundle's signature, and %s is not a bundle\n", files[i]);
            free(out);
            return NULL;
        }
        const char **no = realloc(out, (k + nt + 1) * sizeof *no);
        if (!no)
            ls_oom();
        out = no;
        for (size_t j = 0; j < nt; j++)
            out[k++] = tests[j];
    }
    *nout = k;
    return out;
}
