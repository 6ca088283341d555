/*
 * Plugins: action families whose code links a heavy library live in their
 * own shared object, loaded the first time a run needs them.
 *
 *   mongo  lockstep-mongo.so  (libmongoc, libbson, zlib)
 *   http   lockstep-http.so   (libcurl)
 *
 * lockstep-ed25519.so (libcrypto) signs and checks release bundles; it is
 * not an action plugin and bundle.c loads it itself (bundle_int.h).
 *
 * Their rows in the action table (inputs, results, load-time checks,
 * `mutates`) stay in the engine, so validate, plan, `lockstep actions` and
 * scenario tests never load them.  Loading libmongoc costs a process about
 * 8 ms before main() (its load-time initialisation and relocating the
 * ~40 libraries it brings): every command used to pay it.
 *
 * A plugin sees the engine only through <lockstep/plugin.h> (the call's
 * accessors, error reporting, redaction, the per-run cache), which the
 * executable exports; that header says what a plugin exports.  It is found
 * beside the lockstep executable, or in ../lib/lockstep/ relative to it (an
 * installed tree); nothing from the environment picks the place.  A plugin
 * built for another plugin API or another version of lockstep is refused,
 * and so is one that lacks the code of any row of its families: loading
 * binds every row at once.  `ls_run` loads every plugin a playbook needs
 * before it starts the run, so a missing one stops it with nothing done.
 */
#ifndef LS_PLUGIN_H
#define LS_PLUGIN_H

#include "registry.h"

/* The run function of `action` in plugin `name`, loading and binding the
 * plugin the first time (once per process); NULL with err set when it
 * cannot be loaded (which files were tried, and why) or lacks an action. */
ls_action_fn ls_plugin_action_fn(const char *name, const char *action, ls_error *err);

/* Plugins that are not action families (lockstep-ed25519.so,
 * lockstep-store.so) export one table that starts with this head. */
typedef struct ls_plugin_head {
    int abi;             /* LS_PLUGIN_API */
    const char *version; /* LOCKSTEP_VERSION */
} ls_plugin_head;

/* lockstep-NAME.so, found as above (and in the test drivers' dir), opened
 * once per call: its handle and *file, or NULL with err saying where it
 * looked or why it does not load; `needs` says who wanted it
 * ("--store needs", "signatures need"). */
void *ls_plugin_dlopen(const char *name, const char *needs, char *file, size_t filelen, char *err, size_t errlen);
/* Its table `sym`, checked against this build's plugin API and version;
 * NULL with err. */
const void *ls_plugin_table(const char *name, const char *sym, const char *needs, char *err, size_t errlen);

/* Test drivers that are not the lockstep executable: look in `dir`
 * first. */
void ls_plugin_set_dir(const char *dir);

#endif
