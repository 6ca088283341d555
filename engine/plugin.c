/*
 * Loading plugins (plugin.h): dlopen of lockstep-NAME.so from the
 * executable's own directory, checked against this build before use.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

#define MAX_PLUGINS 4

static const ls_plugin *loaded[MAX_PLUGINS]; /* each checked to bear its name */
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

static const ls_plugin *open_plugin(const char *name, ls_error *err)
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
        void *h = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            const char *why = dlerror();
            ls_error_set(err, noloc, "cannot load the %s actions from %s: %s", name, tried[i],
                         why ? why : "unknown error");
            return NULL;
        }
        const ls_plugin *p = dlsym(h, "lockstep_plugin");
        if (p == NULL || p->abi != LS_PLUGIN_ABI || p->version == NULL ||
            strcmp(p->version, LOCKSTEP_VERSION) != 0 || p->name == NULL || strcmp(p->name, name) != 0) {
            ls_error_set(err, noloc, "%s is not the %s plugin of lockstep %s (rebuild and reinstall lockstep)",
                         tried[i], name, LOCKSTEP_VERSION);
            return NULL;
        }
        return p;
    }
    ls_error_set(err, noloc, "the %s actions need lockstep-%s.so, which is not in %s%s%s", name, name,
                 nt > 0 ? tried[0] : "the executable's directory", nt > 1 ? " or " : "", nt > 1 ? tried[nt - 1] : "");
    return NULL;
}

static const ls_plugin *get_plugin(const char *name, ls_error *err)
{
    for (size_t i = 0; i < nloaded; i++)
        if (strcmp(loaded[i]->name, name) == 0)
            return loaded[i];
    if (nloaded == MAX_PLUGINS) {
        ls_error_set(err, noloc, "no such plugin: %s", name);
        return NULL;
    }
    const ls_plugin *p = open_plugin(name, err);
    if (p != NULL)
        loaded[nloaded++] = p;
    return p;
}

ls_action_fn ls_plugin_action_fn(const char *name, const char *action, ls_error *err)
{
    const ls_plugin *p = get_plugin(name, err);
    if (p == NULL)
        return NULL;
    for (const ls_plugin_action *a = p->actions; a && a->name; a++)
        if (strcmp(a->name, action) == 0)
            return a->run;
    ls_error_set(err, noloc, "the %s plugin has no action %s (rebuild and reinstall lockstep)", name, action);
    return NULL;
}
