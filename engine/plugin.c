/*
 * Loading plugins (plugin.h): dlopen of lockstep-NAME.so from the
 * executable's own directory, checked against this build, every row of its
 * families bound to the plugin's exported functions at once; and the
 * engine's side of <lockstep/plugin.h>.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "secret.h"
#include "sha256.h"

#define MAX_PLUGINS 4

typedef struct loaded_plugin {
    const ls_plugin *p;
    ls_action_fn *fns; /* by ls_action_at index; NULL for other families' rows */
} loaded_plugin;

static loaded_plugin loaded[MAX_PLUGINS];
static size_t nloaded;
static char override_dir[PATH_MAX];
static const ls_loc noloc = {NULL, 0, 0};

void ls_plugin_set_dir(const char *dir)
{
    snprintf(override_dir, sizeof override_dir, "%s", dir ? dir : "");
}

/* The directory of the running executable ("" when unknown). */
static void exe_dir(char *out, size_t outlen)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(out, outlen, "%s", path[0] ? path : "/");
}

/* Binds every row whose family lives in plugin `name` to the function the
 * plugin exports as lockstep_action_<name with '.' as '_'>. */
static ls_action_fn *bind_rows(void *h, const char *name, const char *file, ls_error *err)
{
    size_t n = ls_action_count();
    ls_action_fn *fns = calloc(n ? n : 1, sizeof *fns);
    if (fns == NULL) {
        ls_error_set(err, noloc, "out of memory loading %s", file);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const ls_action *a = ls_action_at(i);
        const ls_family *f = ls_family_find(a->family);
        if (a->run != NULL || f == NULL || f->plugin == NULL || strcmp(f->plugin, name) != 0)
            continue;
        char sym[128];
        int k = snprintf(sym, sizeof sym, "lockstep_action_%s", a->name);
        for (char *c = sym; k > 0 && *c; c++)
            if (*c == '.')
                *c = '_';
        void *fn = dlsym(h, sym);
        if (fn == NULL) {
            ls_error_set(err, noloc, "%s has no code for %s (rebuild and reinstall lockstep)", file, a->name);
            free(fns);
            return NULL;
        }
        /* dlsym hands out a data pointer; POSIX guarantees it converts. */
        memcpy(&fns[i], &fn, sizeof fn);
    }
    return fns;
}

void *ls_plugin_dlopen(const char *name, const char *needs, char *file, size_t filelen, char *err, size_t errlen)
{
    char dir[PATH_MAX], tried[3][PATH_MAX + 64];
    size_t nt = 0;
    exe_dir(dir, sizeof dir);
    if (override_dir[0])
        snprintf(tried[nt++], sizeof tried[0], "%s/lockstep-%s.so", override_dir, name);
    if (dir[0]) {
        snprintf(tried[nt++], sizeof tried[0], "%s/lockstep-%s.so", dir, name);
        snprintf(tried[nt++], sizeof tried[0], "%s/../lib/lockstep/lockstep-%s.so", dir, name);
    }
    for (size_t i = 0; i < nt; i++) {
        if (access(tried[i], F_OK) != 0)
            continue;
        snprintf(file, filelen, "%s", tried[i]);
        void *h = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            const char *why = dlerror();
            snprintf(err, errlen, "cannot load %s: %s", tried[i], why ? why : "unknown error");
        }
        return h;
    }
    snprintf(err, errlen, "%s lockstep-%s.so, which is not in %s%s%s", needs, name,
             nt > 0 ? tried[0] : "the executable's directory", nt > 1 ? " or " : "", nt > 1 ? tried[nt - 1] : "");
    return NULL;
}

const void *ls_plugin_table(const char *name, const char *sym, const char *needs, char *err, size_t errlen)
{
    char file[PATH_MAX + 64];
    void *h = ls_plugin_dlopen(name, needs, file, sizeof file, err, errlen);
    if (h == NULL)
        return NULL;
    const ls_plugin_head *p = dlsym(h, sym);
    if (p == NULL || p->abi != LS_PLUGIN_API || p->version == NULL || strcmp(p->version, LOCKSTEP_VERSION) != 0) {
        snprintf(err, errlen, "%s is not the %s plugin of lockstep %s (plugin API %d): rebuild and reinstall lockstep",
                 file, name, LOCKSTEP_VERSION, LS_PLUGIN_API);
        return NULL;
    }
    return p;
}

static loaded_plugin *open_plugin(const char *name, ls_error *err)
{
    char file[PATH_MAX + 64], needs[96], msg[PATH_MAX * 2 + 200];
    snprintf(needs, sizeof needs, "the %s actions need", name);
    void *h = ls_plugin_dlopen(name, needs, file, sizeof file, msg, sizeof msg);
    if (h == NULL) {
        ls_error_set(err, noloc, "%s", msg);
        return NULL;
    }
    const ls_plugin *p = dlsym(h, "lockstep_plugin");
    if (p == NULL || p->api != LS_PLUGIN_API || p->version == NULL || strcmp(p->version, LOCKSTEP_VERSION) != 0 ||
        p->name == NULL || strcmp(p->name, name) != 0) {
        ls_error_set(err, noloc, "%s is not the %s plugin of lockstep %s (plugin API %d): rebuild and reinstall lockstep",
                     file, name, LOCKSTEP_VERSION, LS_PLUGIN_API);
        return NULL;
    }
    ls_action_fn *fns = bind_rows(h, name, file, err);
    if (fns == NULL)
        return NULL;
    loaded[nloaded].p = p;
    loaded[nloaded].fns = fns;
    return &loaded[nloaded++];
}

ls_action_fn ls_plugin_action_fn(const char *name, const char *action, ls_error *err)
{
    loaded_plugin *lp = NULL;
    for (size_t i = 0; i < nloaded && lp == NULL; i++)
        if (strcmp(loaded[i].p->name, name) == 0)
            lp = &loaded[i];
    if (lp == NULL && nloaded == MAX_PLUGINS) {
        ls_error_set(err, noloc, "no such plugin: %s", name);
        return NULL;
    }
    if (lp == NULL && (lp = open_plugin(name, err)) == NULL)
        return NULL;
    for (size_t i = 0; i < ls_action_count(); i++)
        if (lp->fns[i] != NULL && strcmp(ls_action_at(i)->name, action) == 0)
            return lp->fns[i];
    ls_error_set(err, noloc, "the %s plugin has no action %s", name, action);
    return NULL;
}

/* ---- <lockstep/plugin.h>: what plugins call ------------------------------------ */

ls_value ls_call_inputs(const ls_call *call)
{
    return call->inputs;
}

ls_value ls_call_input(const ls_call *call, const char *name)
{
    return ls_map_get(call->inputs, name);
}

int64_t ls_call_timeout_ms(const ls_call *call)
{
    return call->timeout_ms;
}

int64_t ls_call_deadline_ms(const ls_call *call)
{
    return call->deadline_ms;
}

bool ls_call_cancelled(const ls_call *call)
{
    return call->cancel != NULL && *call->cancel != 0;
}

void ls_plugin_error(ls_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *red = ls_redact(msg, strlen(msg), NULL);
    ls_error_set(err, noloc, "%s", red ? red : "***");
    free(red);
}

bool ls_plugin_has_error(const ls_error *err)
{
    return err->code != 0;
}

char *ls_plugin_redact(const char *s, size_t n)
{
    return ls_redact(s, n, NULL);
}

void ls_plugin_sha256(const void *p, size_t n, unsigned char out[32])
{
    ls_sha256 s;
    ls_sha256_init(&s);
    ls_sha256_update(&s, p, n);
    ls_sha256_final(&s, out);
}
